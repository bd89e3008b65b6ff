// shmem: statistics over the accounted shared pool, with OpenSIPS's names
// and order. "real" figures include the per-block header; "fragments" are
// the live blocks (our pool has no free-list fragments: each block is a
// malloc() chunk of its own).
#include "mem/pools.h"
#include "opensips/mem.h"
#include "opensips/statistics.h"

namespace shim {
namespace {

unsigned long real_used() { return shm_used() + shm_blocks() * pool_header_bytes(); }
unsigned long st_total(void *) { return shm_size(); }
unsigned long st_max_used(void *) { return shm_max_used(); }
unsigned long st_free(void *)
{
	unsigned long r = real_used();
	return shm_size() > r ? shm_size() - r : 0;
}
unsigned long st_used(void *) { return shm_used(); }
unsigned long st_real_used(void *) { return real_used(); }
unsigned long st_fragments(void *) { return shm_blocks(); }

} // namespace

int mem_stats_register()
{
	const struct {
		const char *name;
		stat_function f;
	} all[] = {
		{"total_size", st_total}, {"max_used_size", st_max_used},
		{"free_size", st_free},   {"used_size", st_used},
		{"real_used_size", st_real_used}, {"fragments", st_fragments},
	};
	for (auto &e : all)
		if (register_stat2("shmem", e.name, (stat_var **)(void *)e.f,
		                   STAT_IS_FUNC | STAT_NO_RESET, nullptr, 0) < 0)
			return -1;
	return 0;
}

} // namespace shim
