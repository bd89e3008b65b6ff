// Profiling, host side: per-thread rings, the PROC session state machine,
// SCRIPT records, the `profiling sender` thread. Module-facing API:
// include/opensips/profiling.h. Ownership and locking:
// docs/internals/profiling.md.
#pragma once

#include <cstddef>

#include "opensips/profiling.h"

namespace shim {

// ---- SCRIPT hooks (cfg interpreter) ----
// True when E_PROFILING_SCRIPT has subscribers (one flag read), checked
// once per top-level route run.
bool prof_script_enabled();
// One SCRIPT record. verb START opens a script session on this thread,
// END closes it (records of a session are dropped together).
void prof_script_record(int verb, const char *name, int type, int depth,
                        const char *file, int line, int status,
                        unsigned int session);

// ---- sender ----
// Adds `profiling sender` to the roster and starts it; call after
// evi_start_sender_thread() (our threads come last, decisions.md §14).
int prof_start_sender_thread();
// Hands at most `budget` committed records of every ring to the sink (or
// discards them without one). Returns how many were taken. The sender's
// work; tests call it directly. One caller at a time.
size_t prof_drain(size_t budget);

// ---- tests ----
constexpr unsigned int PROF_RING_SIZE = 8192; // records per thread
// Forces the subscriber checks (1 = subscribed, 0 = not, -1 = ask the EVI).
void prof_test_force_subscribed(int proc, int script);
// Capacity of rings created from now on (power of two; 0 = default).
void prof_test_ring_size(unsigned int records);
// Forgets the calling thread's ring and session state (next record makes
// a new ring).
void prof_test_reset_thread();

} // namespace shim
