// The thread roster: every thread the host runs, in `ps` order
// (decisions.md §14). Entries are added before their thread starts (at
// startup, or later by auto-scaling) and never removed while the host runs,
// so pointers stay valid; a retired thread keeps its entry with
// running == false. At most 1024 entries.
#pragma once

#include <atomic>
#include <string>
#include <vector>

#include "mem/pools.h"

struct ev_loop;

namespace shim {

enum proc_type { PROC_TYPE_NONE = 0, PROC_TYPE_UDP = 1, PROC_TYPE_TCP = 2,
                 PROC_TYPE_TIMER = 3 };

struct proc_entry {
	int id = 0;                        // roster index (`ID`)
	std::atomic<int> pid{0};           // OS thread id, set by the thread
	std::string type;                  // "SIP receiver udp:127.0.0.1:5060"
	int ptype = PROC_TYPE_NONE;
	std::atomic<int> log_level{2};
	std::atomic<int> profiling_level{0};
	std::atomic<bool> running{false};
	struct ev_loop *loop = nullptr;    // owned by the thread
	// Time spent handling work (not waiting in the loop), in ns, added by
	// the thread itself; the auto-scaler samples it once per cycle.
	std::atomic<unsigned long long> busy_ns{0};
	// The thread's private pool figures (pkmem: statistics).
	pkg_account pkg;
};

// Adds an entry (any thread). Returns its id, or -1 when the table is full.
int roster_add(const std::string &type, int ptype);
// The log level new entries start with (the logger keeps it current).
void roster_set_default_log_level(int level);
// Number of entries and access by id (stable pointers).
int roster_size();
proc_entry *roster_get(int id);
// The calling thread's entry, or nullptr for unmanaged threads.
proc_entry *roster_self();
// Binds the calling thread to entry `id` (sets pid, thread-locals).
void roster_bind_self(int id);
// Prepares the entry of a retired (joined) thread for a new thread of the
// same type (auto-scaling): pid 0, not running, counters cleared. The type
// string is unchanged, so concurrent readers stay safe.
void roster_reuse(int id);
// Adds `ns` of busy time to the calling thread's entry (no-op when the
// thread is unmanaged).
void roster_add_busy(unsigned long long ns);

// Statistics of the threads (proc_stats.cc): load:load-proc-<id>,
// load1m-..., load10m-... and pkmem:<id>-* per entry (the attendant, id 0,
// has none, as OpenSIPS's attendant), registered by roster_add.
void proc_stats_register(int id);
// load:load, load1m, load10m (SIP workers), load-all... (every thread) and
// processes_number. Main thread, after the startup threads were added (the
// reference lists the per-process entries first). 0 / -1.
int proc_stats_register_globals();
// The 1 s load sampler on the timer thread; before the timer starts. 0 / -1.
int proc_stats_start_sampler();

} // namespace shim

namespace shim {
// Drops every entry (unit tests only).
void roster_reset();
} // namespace shim
