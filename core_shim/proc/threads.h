// Host-managed threads: each has a roster entry, its own libev loop, runs
// child_init of every module, then a setup function, then its loop until
// shutdown or until it is retired (design.md decision 3).
//
// Locking: the thread list is guarded by one mutex, so any thread may spawn
// (the auto-scaler does so from the timer thread) or retire a thread while
// the main thread waits for readiness; once shutdown begins
// (threads_stop_all), spawning is refused.
#pragma once

#include <functional>

namespace shim {

// Starts a thread bound to roster entry `roster_id`. In the thread:
// bind the roster entry, create the loop, run modules_child_init(rank) when
// `child_init` is set, run `setup` (which installs watchers on
// shim_thread_loop(); < 0 fails startup), then run the loop. `teardown`
// (optional) runs in the thread after its loop returned, with the loop still
// alive. Returns 0, or -1 when shutdown has begun (nothing started).
int thread_spawn(int roster_id, int rank, bool child_init,
                 std::function<int()> setup,
                 std::function<void()> teardown = nullptr);
// Blocks until every spawned thread finished its setup. -1 if one failed.
int threads_wait_ready();
// Asks the thread of roster entry `roster_id` to leave its loop (any
// thread; does not wait). Its entry turns running == false when it is done;
// threads_reap() joins it. -1 when no such live thread.
int thread_retire(int roster_id);
// Joins the threads that have finished (retired), destroys their loops.
// Never blocks on a thread still running. Returns how many were joined.
int threads_reap();
// True when the thread of `roster_id` was retired and has been joined (its
// roster entry may be reused).
bool thread_joined(int roster_id);
// Wakes every loop, makes it return, joins every thread.
void threads_stop_all();
// The next child_init rank for a SIP worker (UDP, then TCP, then those the
// auto-scaler adds): 1, 2, 3, ...
int proc_next_worker_rank();

// Timers registered with register_timer() and the cfg's timer routes run
// on the timer thread; this is its setup function.
int timer_thread_setup();

} // namespace shim
