// The statistics registry (include/opensips/statistics.h) and its fast
// path for the host's own hot code.
//
// Counters and gauges live in per-thread shards: a shard is a table of
// chunks of 512 slots; slot `stat_var_::slot` of the calling thread's shard
// is only ever written by that thread (relaxed load + store, no lock
// prefix), and readers add the slot up over every shard (relaxed loads).
// A chunk is allocated by its owner on first use and published with a
// release store. Shards outlive their threads (their counts must not
// vanish when auto-scaling retires a worker) and are freed at exit.
//
// Resetting a counter never touches the shards: the registry remembers the
// sum at the reset (`reset_base`) and readers subtract it.
#pragma once

#include <atomic>
#include <cstdint>
#include <string>
#include <vector>

#include "opensips/statistics.h"

struct stat_var_ {
	uint32_t slot = 0;
	unsigned short flags = 0;
	std::string group, name, family, help;
	std::vector<std::string> label_names, label_values;
	std::vector<const char *> label_name_ptrs, label_value_ptrs;
	int proc_id = -1;
	stat_function fn = nullptr;
	void *fn_param = nullptr;
	std::atomic<long long> reset_base{0};
	std::atomic<long long> absolute{0}; // set_stat() gauges
};

namespace shim {

constexpr unsigned kStatChunkBits = 9;
constexpr unsigned kStatChunk = 1u << kStatChunkBits;
constexpr unsigned kStatMaxChunks = 128; // 65,536 counters and gauges

struct stat_shard {
	std::atomic<std::atomic<long long> *> chunks[kStatMaxChunks];
};

extern thread_local stat_shard *t_stat_shard;
stat_shard *stat_shard_create();
std::atomic<long long> *stat_chunk_create(stat_shard *s, unsigned chunk);

// The fast path: what update_stat() does, inlined for host code.
inline void stat_add(stat_var_ *v, long n)
{
#ifdef SHIM_STATS_OFF
	// the bench's "without statistics" build (make STATS_OFF=1)
	(void)v;
	(void)n;
	return;
#endif
	stat_shard *s = t_stat_shard;
	if (__builtin_expect(!s, 0))
		s = stat_shard_create();
	unsigned ci = v->slot >> kStatChunkBits;
	std::atomic<long long> *c = s->chunks[ci].load(std::memory_order_relaxed);
	if (__builtin_expect(!c, 0))
		c = stat_chunk_create(s, ci);
	std::atomic<long long> &x = c[v->slot & (kStatChunk - 1)];
	x.store(x.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
}

inline bool stat_incremental(const stat_var_ *v)
{
	if (v->flags & STAT_NO_RESET)
		return false;
	return !(v->flags & STAT_IS_FUNC) || (v->flags & STAT_COUNTER);
}

// Every statistic in walk order (groups in order of first registration,
// registration order inside a group). Pointers stay valid until exit.
std::vector<stat_var_ *> stats_snapshot();
// Case-insensitive group lookup: the group's statistics, in order.
std::vector<stat_var_ *> stats_group(const std::string &group);
// Exact "group:name" (group case-insensitive) or the first statistic with
// that bare name (case-sensitive), or nullptr.
stat_var_ *stats_find(const std::string &name, bool qualified);
// Runs f before every read of the registry (MI, exporters), on the
// reader's thread: owners of per-item statistics register new items there.
void stats_add_refresher(void (*f)());
// Fills pid / desc of per-thread statistics (set by the thread roster).
using stat_proc_describer = void (*)(int proc_id, int *pid, const char **desc);
void stats_set_proc_describer(stat_proc_describer f);
void stats_fill_info(stat_var_ *v, struct stat_info *out);
// Registers the exports table of a module under its name (loader). 0 / -1.
int stats_register_exports(const char *module, const stat_export_t *exports);
// Frees everything (exit, after the threads stopped; unit tests).
void stats_destroy();

// MI statistics:get/list/reset/reset_all (host commands).
int stats_mi_register();

} // namespace shim
