// Thread roster. Entries are created on the main thread before any worker
// starts and live until exit, so readers on other threads (core:ps,
// core:log_level) may walk the table without locks; fields that change at
// run time are atomics.
#include "proc/roster.h"

#include <sys/syscall.h>
#include <unistd.h>

#include <mutex>
#include <new>

#include "opensips/dprint.h"
#include "opensips/host.h"

namespace shim {
namespace {
// A fixed table of entries made as threads are added: entries never move,
// and threads added at run time (auto scaling) never race with readers
// walking the table by index (an entry is stored before the count that
// publishes it). Only the pointers are static: the 1024 entries themselves
// would be ~100 KB resident from startup.
constexpr int kMaxEntries = 1024;
proc_entry *g_roster[kMaxEntries];
std::mutex g_add_mu;
std::atomic<int> g_count{0};
thread_local proc_entry *t_self = nullptr;
// The level a new entry starts with (log_set_global_level keeps it).
std::atomic<int> g_default_log_level{L_NOTICE};
thread_local int t_tid = 0;
} // namespace

int roster_add(const std::string &type, int ptype)
{
	std::lock_guard<std::mutex> lk(g_add_mu);
	int id = g_count.load(std::memory_order_relaxed);
	if (id >= kMaxEntries)
		return -1;
	if (!g_roster[id]) {
		g_roster[id] = new (std::nothrow) proc_entry;
		if (!g_roster[id])
			return -1;
	}
	proc_entry &e = *g_roster[id];
	e.id = id;
	e.type = type;
	e.ptype = ptype;
	e.pid.store(0);
	e.running.store(false);
	e.profiling_level.store(0);
	e.loop = nullptr;
	e.busy_ns.store(0);
	e.log_level.store(g_default_log_level.load(std::memory_order_relaxed));
	g_count.store(id + 1, std::memory_order_release);
	proc_stats_register(id);
	return id;
}

void roster_set_default_log_level(int level)
{
	g_default_log_level.store(level, std::memory_order_relaxed);
}

int roster_size() { return g_count.load(std::memory_order_acquire); }

proc_entry *roster_get(int id)
{
	if (id < 0 || id >= roster_size())
		return nullptr;
	return g_roster[id];
}

proc_entry *roster_self() { return t_self; }

void roster_bind_self(int id)
{
	t_self = roster_get(id);
	if (t_self) {
		t_self->pid.store(shim_my_pid());
		pools_bind_pkg_account(&t_self->pkg);
	}
}

void roster_reuse(int id)
{
	proc_entry *e = roster_get(id);
	if (!e)
		return;
	e->pid.store(0);
	e->running.store(false);
	e->busy_ns.store(0);
	e->loop = nullptr;
	e->pkg.used.store(0);
	e->pkg.max_used.store(0);
	e->pkg.blocks.store(0);
}

void roster_add_busy(unsigned long long ns)
{
	if (t_self)
		t_self->busy_ns.fetch_add(ns, std::memory_order_relaxed);
}

void roster_reset()
{
	std::lock_guard<std::mutex> lk(g_add_mu);
	g_count.store(0);
	t_self = nullptr;
}

} // namespace shim

using namespace shim;

extern "C" {

struct ev_loop *shim_thread_loop(void)
{
	return t_self ? t_self->loop : nullptr;
}

int shim_process_no(void) { return t_self ? t_self->id : -1; }

int shim_my_pid(void)
{
	if (!t_tid)
		t_tid = (int)syscall(SYS_gettid);
	return t_tid;
}

} // extern "C"
