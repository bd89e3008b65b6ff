// Per-thread statistics, OpenSIPS's per-process ones mapped to our threads
// (roster ids): load:load-proc-<id>, load1m-proc-<id>, load10m-proc-<id>
// and pkmem:<id>-total_size ... <id>-fragments, plus the load: totals.
//
// Load is busy time / wall time in percent, as the auto-scaler measures it
// (proc_entry::busy_ns, added by the SIP receivers around their work):
// sampled once a second on the timer thread into a 600-slot ring per
// thread; load1m and load10m are the means of the last 60 and 600 samples.
// Threads that do not measure their busy time read 0 (as most of the
// reference's non-SIP processes do).
#include <time.h>

#include <string>

#include "mem/pools.h"
#include "opensips/host.h"
#include "opensips/mem.h"
#include "proc/roster.h"
#include "stats/stats.h"

namespace shim {
namespace {

constexpr int kMaxIds = 1024;
constexpr int kRing = 600;

struct load_state {
	unsigned long long last_busy = 0;
	long long last_ns = 0;
	unsigned char ring[kRing] = {};
	int pos = 0, filled = 0;
	std::atomic<int> now{0}, m1{0}, m10{0};
};
load_state g_load[kMaxIds];

long long mono_ns()
{
	timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

int mean(const load_state &l, int n)
{
	if (n > l.filled)
		n = l.filled;
	if (n <= 0)
		return 0;
	int sum = 0;
	for (int i = 1; i <= n; i++)
		sum += l.ring[(l.pos - i + kRing) % kRing];
	return sum / n;
}

void sample(unsigned int, void *)
{
	long long t = mono_ns();
	int n = roster_size();
	for (int id = 1; id < n && id < kMaxIds; id++) {
		proc_entry *e = roster_get(id);
		load_state &l = g_load[id];
		unsigned long long busy = e->busy_ns.load(std::memory_order_relaxed);
		if (l.last_ns && t > l.last_ns && busy >= l.last_busy) {
			long long pct = (long long)(busy - l.last_busy) * 100 / (t - l.last_ns);
			int v = pct > 100 ? 100 : (int)pct;
			l.ring[l.pos] = (unsigned char)v;
			l.pos = (l.pos + 1) % kRing;
			if (l.filled < kRing)
				l.filled++;
			l.now.store(v, std::memory_order_relaxed);
			l.m1.store(mean(l, 60), std::memory_order_relaxed);
			l.m10.store(mean(l, kRing), std::memory_order_relaxed);
		}
		l.last_busy = busy;
		l.last_ns = t;
	}
}

// param: (id << 3) | which
unsigned long proc_value(void *param)
{
	uintptr_t p = (uintptr_t)param;
	int id = (int)(p >> 3), which = (int)(p & 7);
	proc_entry *e = roster_get(id);
	if (!e || id >= kMaxIds)
		return 0;
	const load_state &l = g_load[id];
	size_t used = e->pkg.used.load(std::memory_order_relaxed);
	size_t real = used + e->pkg.blocks.load(std::memory_order_relaxed) * pool_header_bytes();
	switch (which) {
	case 0: return (unsigned long)l.now.load(std::memory_order_relaxed);
	case 1: return (unsigned long)l.m1.load(std::memory_order_relaxed);
	case 2: return (unsigned long)l.m10.load(std::memory_order_relaxed);
	case 3: return pkg_size();
	case 4: return used;
	case 5: return real;
	case 6: {
		size_t m = e->pkg.max_used.load(std::memory_order_relaxed);
		return m + e->pkg.blocks.load(std::memory_order_relaxed) * pool_header_bytes();
	}
	default: return pkg_size() > real ? pkg_size() - real : 0;
	}
}

unsigned long proc_fragments(void *param)
{
	proc_entry *e = roster_get((int)(uintptr_t)param);
	return e ? e->pkg.blocks.load(std::memory_order_relaxed) : 0;
}

// which: 0 now, 1 1m, 2 10m; all: every thread, else SIP workers
unsigned long avg_load(int which, bool all)
{
	int n = roster_size(), count = 0, sum = 0;
	for (int id = 1; id < n && id < kMaxIds; id++) {
		proc_entry *e = roster_get(id);
		if (!e->running.load(std::memory_order_relaxed))
			continue;
		if (!all && e->ptype != PROC_TYPE_UDP && e->ptype != PROC_TYPE_TCP)
			continue;
		const load_state &l = g_load[id];
		sum += which == 0 ? l.now.load() : which == 1 ? l.m1.load() : l.m10.load();
		count++;
	}
	return count ? (unsigned long)(sum / count) : 0;
}

unsigned long processes(void *)
{
	int n = roster_size(), count = 0;
	for (int id = 0; id < n; id++)
		count += roster_get(id)->running.load(std::memory_order_relaxed);
	return (unsigned long)count;
}

void describe(int id, int *pid, const char **desc)
{
	proc_entry *e = roster_get(id);
	*pid = e ? e->pid.load(std::memory_order_relaxed) : 0;
	*desc = e ? e->type.c_str() : "";
}

} // namespace

void proc_stats_register(int id)
{
	if (id <= 0 || id >= kMaxIds)
		return;
	static bool described = [] {
		stats_set_proc_describer(describe);
		return true;
	}();
	(void)described;
	std::string n = std::to_string(id);
	auto arg = [&](int which) { return (void *)(((uintptr_t)id << 3) | (uintptr_t)which); };
	const unsigned short g = STAT_NO_RESET;
	register_proc_stat("load", ("load-proc-" + n).c_str(), "load", id, g, proc_value, arg(0));
	register_proc_stat("load", ("load1m-proc-" + n).c_str(), "load1m", id, g, proc_value, arg(1));
	register_proc_stat("load", ("load10m-proc-" + n).c_str(), "load10m", id, g, proc_value, arg(2));
	register_proc_stat("pkmem", (n + "-total_size").c_str(), "total_size", id, g, proc_value, arg(3));
	register_proc_stat("pkmem", (n + "-used_size").c_str(), "used_size", id, g, proc_value, arg(4));
	register_proc_stat("pkmem", (n + "-real_used_size").c_str(), "real_used_size", id, g,
	                   proc_value, arg(5));
	register_proc_stat("pkmem", (n + "-max_used_size").c_str(), "max_used_size", id, g,
	                   proc_value, arg(6));
	register_proc_stat("pkmem", (n + "-free_size").c_str(), "free_size", id, g, proc_value,
	                   arg(7));
	register_proc_stat("pkmem", (n + "-fragments").c_str(), "fragments", id, g,
	                   proc_fragments, (void *)(uintptr_t)id);
}

int proc_stats_register_globals()
{
	const struct {
		const char *name;
		stat_function f;
	} all[] = {
		{"load", [](void *) { return avg_load(0, false); }},
		{"load1m", [](void *) { return avg_load(1, false); }},
		{"load10m", [](void *) { return avg_load(2, false); }},
		{"load-all", [](void *) { return avg_load(0, true); }},
		{"load1m-all", [](void *) { return avg_load(1, true); }},
		{"load10m-all", [](void *) { return avg_load(2, true); }},
		{"processes_number", processes},
	};
	for (auto &e : all)
		if (register_stat2("load", e.name, (stat_var **)(void *)e.f,
		                   STAT_IS_FUNC | STAT_NO_RESET, nullptr, 0) < 0)
			return -1;
	return 0;
}

int proc_stats_start_sampler() { return register_timer("load sampler", sample, nullptr, 1); }

} // namespace shim
