// Accounted pools (include/opensips/mem.h). Each block carries a 16-byte
// header holding its size, so frees and reallocs are accounted exactly.
// shm: one atomic counter; pkg: a per-thread counter (the thread's private
// pool), sized by -M for every thread.
//
// Memory thresholds (spec §3 E_CORE_SHM/PKG_THRESHOLD, decisions §30):
// after every successful allocator operation, perc = used*100/size and
// `last` = the percentage of the previous raise;
//   raise when perc >= threshold && perc != last,
//   or once more (recovery) when perc < threshold && last > threshold;
// `last` is updated whether or not anyone listens (the hook decides about
// subscribers). SHM: `last` and the "pending" re-entrancy flag are shared;
// a thread that finds the flag taken skips its check (as OpenSIPS, where
// both live in shm). PKG: both are per thread. A threshold of 0 costs one
// predictable branch.
#include "mem/pools.h"

#include <malloc.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <atomic>

#include "api/hooks.h"
#include "opensips/dprint.h"
#include "opensips/host.h"
#include "opensips/mem.h"

namespace shim {
namespace {
std::atomic<size_t> g_shm_used{0};
std::atomic<size_t> g_shm_max{0};     // peak of g_shm_used
std::atomic<size_t> g_shm_blocks{0};  // live shm blocks
size_t g_shm_size = 32u << 20;
size_t g_pkg_size = 4u << 20;
// The calling thread's pkg account: its roster entry's once bound
// (pools_bind_pkg_account), else a thread-local one. Only the owner
// writes it (relaxed load + store); statistics read it from elsewhere.
thread_local pkg_account t_own_acct;
thread_local pkg_account *t_acct = nullptr;
inline pkg_account &acct() { return t_acct ? *t_acct : t_own_acct; }
inline void acct_add(std::atomic<size_t> &a, size_t n)
{
	a.store(a.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
}
inline void acct_sub(std::atomic<size_t> &a, size_t n)
{
	size_t v = a.load(std::memory_order_relaxed);
	a.store(v >= n ? v - n : 0, std::memory_order_relaxed);
}
inline void acct_peak(pkg_account &a)
{
	size_t u = a.used.load(std::memory_order_relaxed);
	if (u > a.max_used.load(std::memory_order_relaxed))
		a.max_used.store(u, std::memory_order_relaxed);
}

constexpr size_t kHeader = 16;

void *block_alloc(size_t size)
{
	void *p = malloc(size + kHeader);
	if (!p)
		return nullptr;
	*(size_t *)p = size;
	return (char *)p + kHeader;
}

size_t block_size(void *user) { return *(size_t *)((char *)user - kHeader); }
void *block_base(void *user) { return (char *)user - kHeader; }

// ---- thresholds ----
std::atomic<int> g_shm_threshold{0};
std::atomic<int> g_pkg_threshold{0};
std::atomic<int> g_shm_last{0};
std::atomic<bool> g_shm_pending{false};
thread_local int t_pkg_last = 0;
thread_local bool t_pkg_pending = false;

inline bool threshold_crossed(int perc, int threshold, int last)
{
	return perc >= threshold ? perc != last : last > threshold;
}

// OpenSIPS reads these C longs through an int*: only the low 32 bits.
inline int low32(size_t v) { return (int)(uint32_t)(v & 0xffffffffu); }

__attribute__((noinline)) void shm_threshold_check_slow(int threshold)
{
	size_t size = g_shm_size;
	if (!size)
		return;
	size_t used = g_shm_used.load(std::memory_order_relaxed);
	int perc = (int)(used * 100 / size);
	if (!threshold_crossed(perc, threshold,
	                       g_shm_last.load(std::memory_order_relaxed)))
		return;
	bool idle = false;
	if (!g_shm_pending.compare_exchange_strong(idle, true,
	                                           std::memory_order_acquire))
		return; // a raise is in progress (maybe ours, re-entered)
	// Checked again under the flag: another thread may have raised it.
	if (threshold_crossed(perc, threshold,
	                      g_shm_last.load(std::memory_order_relaxed))) {
		g_shm_last.store(perc, std::memory_order_relaxed);
		if (auto f = g_core_hooks.shm_threshold)
			f(perc, threshold, low32(used), low32(size));
	}
	g_shm_pending.store(false, std::memory_order_release);
}

inline void shm_threshold_check()
{
	int t = g_shm_threshold.load(std::memory_order_relaxed);
	if (__builtin_expect(t != 0, 0))
		shm_threshold_check_slow(t);
}

__attribute__((noinline)) void pkg_threshold_check_slow(int threshold)
{
	if (t_pkg_pending || !g_pkg_size)
		return;
	size_t used = acct().used.load(std::memory_order_relaxed), size = g_pkg_size;
	int perc = (int)(used * 100 / size);
	if (!threshold_crossed(perc, threshold, t_pkg_last))
		return;
	t_pkg_pending = true;
	t_pkg_last = perc;
	if (auto f = g_core_hooks.pkg_threshold)
		f(perc, threshold, low32(used), low32(size), shim_my_pid());
	t_pkg_pending = false;
}

inline void pkg_threshold_check()
{
	int t = g_pkg_threshold.load(std::memory_order_relaxed);
	if (__builtin_expect(t != 0, 0))
		pkg_threshold_check_slow(t);
}

bool shm_reserve(size_t size)
{
	size_t cur = g_shm_used.load(std::memory_order_relaxed);
	do {
		if (cur + size > g_shm_size)
			return false;
	} while (!g_shm_used.compare_exchange_weak(cur, cur + size,
	                                           std::memory_order_relaxed));
	size_t now = cur + size, peak = g_shm_max.load(std::memory_order_relaxed);
	while (now > peak &&
	       !g_shm_max.compare_exchange_weak(peak, now, std::memory_order_relaxed)) {
	}
	return true;
}
} // namespace

void pools_configure(size_t shm_bytes, size_t pkg_bytes)
{
	g_shm_size = shm_bytes;
	g_pkg_size = pkg_bytes;
}

void pools_set_thresholds(int shm_percent, int pkg_percent)
{
	g_shm_threshold.store(shm_percent < 0 ? 0 : shm_percent);
	g_pkg_threshold.store(pkg_percent < 0 ? 0 : pkg_percent);
}

namespace {
// Threads allocate in their own glibc arenas, and a backlog (EVI queues,
// event_stream output while a peer is slow) is allocated on one thread and
// freed on another. Once it drains, the free space sits in the middle of
// an arena behind chunks still in use, where free() never gives it back
// (only a free top chunk over the trim threshold is). malloc_trim(0)
// releases every free page of every arena (MADV_DONTNEED). It locks one
// arena at a time while it walks its bins; with the host's few-MB heaps it
// took 15-350 us under soak load (logged at debug).
void trim_timer(unsigned int, void *)
{
	timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	int released = malloc_trim(0);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	LM_DBG("malloc_trim: %s, %ld us\n", released ? "memory released" : "nothing to release",
	       (long)((t1.tv_sec - t0.tv_sec) * 1000000L + (t1.tv_nsec - t0.tv_nsec) / 1000));
}
} // namespace

int pools_start_trim_timer(unsigned int interval)
{
	return register_timer("malloc trim", trim_timer, nullptr, interval);
}

void pools_bind_pkg_account(pkg_account *a) { t_acct = a; }

size_t shm_max_used() { return g_shm_max.load(std::memory_order_relaxed); }
size_t shm_blocks() { return g_shm_blocks.load(std::memory_order_relaxed); }
size_t pool_header_bytes() { return kHeader; }

void pools_reset_threshold_state()
{
	g_shm_last.store(0);
	t_pkg_last = 0;
}

} // namespace shim

using namespace shim;

extern "C" {

void *shm_malloc(size_t size)
{
	if (!shm_reserve(size))
		return nullptr;
	void *p = block_alloc(size);
	if (!p) {
		g_shm_used.fetch_sub(size, std::memory_order_relaxed);
	} else {
		g_shm_blocks.fetch_add(1, std::memory_order_relaxed);
		shm_threshold_check();
	}
	return p;
}

void shm_free(void *p)
{
	if (!p)
		return;
	g_shm_used.fetch_sub(block_size(p), std::memory_order_relaxed);
	g_shm_blocks.fetch_sub(1, std::memory_order_relaxed);
	free(block_base(p));
	shm_threshold_check();
}

void *shm_realloc(void *p, size_t size)
{
	if (!p)
		return shm_malloc(size);
	size_t old = block_size(p);
	if (size > old && !shm_reserve(size - old))
		return nullptr;
	void *np = realloc(block_base(p), size + kHeader);
	if (!np) {
		if (size > old)
			g_shm_used.fetch_sub(size - old, std::memory_order_relaxed);
		return nullptr;
	}
	if (size < old)
		g_shm_used.fetch_sub(old - size, std::memory_order_relaxed);
	*(size_t *)np = size;
	shm_threshold_check();
	return (char *)np + kHeader;
}

void *pkg_malloc(size_t size)
{
	pkg_account &a = acct();
	if (a.used.load(std::memory_order_relaxed) + size > g_pkg_size)
		return nullptr;
	void *p = block_alloc(size);
	if (p) {
		acct_add(a.used, size);
		acct_add(a.blocks, 1);
		acct_peak(a);
		pkg_threshold_check();
	}
	return p;
}

void pkg_free(void *p)
{
	if (!p)
		return;
	pkg_account &a = acct();
	acct_sub(a.used, block_size(p));
	acct_sub(a.blocks, 1);
	free(block_base(p));
	pkg_threshold_check();
}

void *pkg_realloc(void *p, size_t size)
{
	if (!p)
		return pkg_malloc(size);
	size_t old = block_size(p);
	pkg_account &a = acct();
	if (size > old && a.used.load(std::memory_order_relaxed) + (size - old) > g_pkg_size)
		return nullptr;
	void *np = realloc(block_base(p), size + kHeader);
	if (!np)
		return nullptr;
	acct_sub(a.used, old);
	acct_add(a.used, size);
	acct_peak(a);
	*(size_t *)np = size;
	pkg_threshold_check();
	return (char *)np + kHeader;
}

size_t shm_used(void) { return g_shm_used.load(std::memory_order_relaxed); }
size_t shm_size(void) { return g_shm_size; }
size_t pkg_used(void) { return acct().used.load(std::memory_order_relaxed); }
size_t pkg_size(void) { return g_pkg_size; }

} // extern "C"
