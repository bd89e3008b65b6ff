// Host-side pool configuration (module API in include/opensips/mem.h).
#pragma once

#include <stddef.h>

#include <atomic>

namespace shim {

// One thread's private (pkg) pool figures. Written only by the owning
// thread, read by statistics (pkmem:<id>-*) from any thread.
struct pkg_account {
	std::atomic<size_t> used{0};
	std::atomic<size_t> max_used{0};
	std::atomic<size_t> blocks{0};
};
// The calling thread accounts its pkg allocations in `a` from now on (its
// roster entry's, which outlives the thread).
void pools_bind_pkg_account(pkg_account *a);
// Shared pool peak and live block count; per-block header bytes.
size_t shm_max_used();
size_t shm_blocks();
size_t pool_header_bytes();
// shmem: statistics (OpenSIPS's names). 0 / -1.
int mem_stats_register();

// Sizes from -m / -M, before any thread starts.
void pools_configure(size_t shm_bytes, size_t pkg_bytes);

// event_shm_threshold / event_pkg_threshold (percent, 0 = off), from the
// cfg once it is parsed (main), before threads start. Checked on every
// shm / pkg allocator operation (spec §3, decisions §30); a threshold of 0
// costs one predictable branch.
void pools_set_thresholds(int shm_percent, int pkg_percent);

// Returns to the kernel the pages glibc's malloc keeps free after a burst
// (malloc_trim(0)) every `interval` seconds, on the timer thread
// (docs/internals/threads.md, "Memory pools"). Main thread, before the
// timer thread starts. 0 or -1.
int pools_start_trim_timer(unsigned int interval);

// Unit tests: forget the shared `last` percentage and the calling thread's
// pkg `last` (both back to 0).
void pools_reset_threshold_state();

} // namespace shim
