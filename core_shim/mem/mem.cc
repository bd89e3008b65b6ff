// Accounted pools (include/opensips/mem.h). Each block carries a 16-byte
// header holding its size, so frees and reallocs are accounted exactly.
// shm: one atomic counter; pkg: a per-thread counter (the thread's private
// pool), sized by -M for every thread.
#include "mem/pools.h"

#include <stdlib.h>
#include <string.h>

#include <atomic>

#include "opensips/mem.h"

namespace shim {
namespace {
std::atomic<size_t> g_shm_used{0};
size_t g_shm_size = 32u << 20;
size_t g_pkg_size = 4u << 20;
thread_local size_t t_pkg_used = 0;

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

bool shm_reserve(size_t size)
{
	size_t cur = g_shm_used.load(std::memory_order_relaxed);
	do {
		if (cur + size > g_shm_size)
			return false;
	} while (!g_shm_used.compare_exchange_weak(cur, cur + size,
	                                           std::memory_order_relaxed));
	return true;
}
} // namespace

void pools_configure(size_t shm_bytes, size_t pkg_bytes)
{
	g_shm_size = shm_bytes;
	g_pkg_size = pkg_bytes;
}

} // namespace shim

using namespace shim;

extern "C" {

void *shm_malloc(size_t size)
{
	if (!shm_reserve(size))
		return nullptr;
	void *p = block_alloc(size);
	if (!p)
		g_shm_used.fetch_sub(size, std::memory_order_relaxed);
	return p;
}

void shm_free(void *p)
{
	if (!p)
		return;
	g_shm_used.fetch_sub(block_size(p), std::memory_order_relaxed);
	free(block_base(p));
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
	return (char *)np + kHeader;
}

void *pkg_malloc(size_t size)
{
	if (t_pkg_used + size > g_pkg_size)
		return nullptr;
	void *p = block_alloc(size);
	if (p)
		t_pkg_used += size;
	return p;
}

void pkg_free(void *p)
{
	if (!p)
		return;
	size_t s = block_size(p);
	t_pkg_used = t_pkg_used >= s ? t_pkg_used - s : 0;
	free(block_base(p));
}

void *pkg_realloc(void *p, size_t size)
{
	if (!p)
		return pkg_malloc(size);
	size_t old = block_size(p);
	if (size > old && t_pkg_used + (size - old) > g_pkg_size)
		return nullptr;
	void *np = realloc(block_base(p), size + kHeader);
	if (!np)
		return nullptr;
	t_pkg_used = t_pkg_used - old + size;
	*(size_t *)np = size;
	return (char *)np + kHeader;
}

size_t shm_used(void) { return g_shm_used.load(std::memory_order_relaxed); }
size_t shm_size(void) { return g_shm_size; }
size_t pkg_used(void) { return t_pkg_used; }
size_t pkg_size(void) { return g_pkg_size; }

} // extern "C"
