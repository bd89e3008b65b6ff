// Host lifecycle changes (main thread only).
#pragma once

namespace shim {

// Sets the state and calls the listeners registered with
// shim_add_lifecycle_cb(), in order.
void lifecycle_set(int state);
// Asks the host to stop (signal handlers, core:kill): safe from any thread.
void shim_request_stop();

} // namespace shim

namespace shim {
// Marks shutdown as begun (shim_should_stop() turns true) without a signal.
void lifecycle_mark_stopping();
void lifecycle_set_startup_time(long t);
} // namespace shim
