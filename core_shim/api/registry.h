// Host lifecycle changes (main thread only).
#pragma once

namespace shim {

// Sets the state and calls the listeners registered with
// shim_add_lifecycle_cb(), in order.
void lifecycle_set(int state);
// Asks the host to stop (signal handlers, core:kill): safe from any thread.
void shim_request_stop();

} // namespace shim
