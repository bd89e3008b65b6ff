// Host-managed threads: each has a roster entry, its own libev loop, runs
// child_init of every module, then a setup function, then its loop until
// shutdown (design.md decision 3).
#pragma once

#include <functional>

namespace shim {

// Starts a thread bound to roster entry `roster_id`. In the thread:
// bind the roster entry, create the loop, run modules_child_init(rank) when
// `child_init` is set, run `setup` (which installs watchers on
// shim_thread_loop(); < 0 fails startup), then run the loop.
void thread_spawn(int roster_id, int rank, bool child_init,
                  std::function<int()> setup);
// Blocks until every spawned thread finished its setup. -1 if one failed.
int threads_wait_ready();
// Wakes every loop, makes it return, joins every thread.
void threads_stop_all();

// Timers registered with register_timer() and the cfg's timer routes run
// on the timer thread; this is its setup function.
int timer_thread_setup();

} // namespace shim
