// Auto-scaling of worker groups (spec §3 E_CORE_PROC_AUTO_SCALE, §1.4).
//
// A profile (`auto_scaling_profile = NAME scale up to N on X% for C cycles
// [within W] [scale down to M on Y% for D cycles]`) is attached to a group
// of workers (`udp_workers = N use_auto_scaling_profile NAME`: one group per
// UDP socket; the same for tcp_workers, one group for all TCP receivers).
// Every auto_scaling_cycle seconds, on the timer thread, each group's load
// (0-100: busy time / wall time, averaged over its workers, sampled from
// proc_entry::busy_ns) goes through scale_decide(); a decision starts or
// retires one worker, raises the proc_auto_scale hook and adds a report to
// the private SR group `auto-scaling`.
//
// Locking: the group table is guarded by one mutex; groups are added on the
// main thread at startup, the cycle runs on the timer thread.
#pragma once

#include <deque>
#include <functional>
#include <string>
#include <vector>

namespace shim {

struct scale_profile {
	std::string name;
	int max_procs = 0;     // N
	int up_pct = 0;        // X
	int up_cycles = 0;     // C
	int up_within = 0;     // W (= C when omitted)
	bool has_down = false;
	int min_procs = 0;     // M
	int down_pct = 0;      // Y
	int down_cycles = 0;   // D
};

// Parses the text of one auto_scaling_profile (white space folded or not;
// `70%` or `70 %`). 0, or -1 with *err naming the profile and the problem.
int scale_profile_parse(const std::string &text, scale_profile &out,
                        std::string &err);

// The decision state of one group.
struct scale_state {
	std::deque<int> loads; // most recent last, at most max(W, D) entries
	int hold_off = 0;      // cycles left before a scale-down is allowed
};

enum class scale_action { none, up, down };

// Starts the state: down-scaling held off for 10×D cycles.
void scale_state_init(const scale_profile &p, scale_state &st);
// One cycle: records `load` (0-100) for a group that has `procs` workers
// and decides. Up: more than X% in at least C of the last W cycles, below N
// workers. Down: less than Y% in each of the last D cycles, above M workers,
// not held off. An up-scale holds down-scaling off for 10×D cycles again;
// any action clears the load history.
scale_action scale_decide(const scale_profile &p, scale_state &st, int load,
                          int procs);

// ---- run time (host) ----

// Parses every auto_scaling_profile of g_globals and checks that the
// profiles named by udp/tcp/timer_workers exist. Main thread, after the cfg
// is parsed. 0, or -1 with *err.
int autoscale_validate(std::string &err);
// When a profile is in use: binds the SR API, registers the `auto-scaling`
// group (private) and the cycle timer. Main thread, after modules_init and
// before the timer thread starts. 0 / -1 with *err.
int autoscale_setup(std::string &err);
// The profile of that name (after autoscale_validate), or nullptr.
const scale_profile *autoscale_profile(const std::string &name);

// Starts one more worker of the group; `reuse_id` is the roster id of a
// retired, joined worker of this group to reuse, or -1 for a new entry.
// Returns the roster id, or -1.
using scale_spawn_f = std::function<int(int reuse_id)>;
// Asks worker `roster_id` to stop (must not wait for it). 0 / -1.
using scale_retire_f = std::function<int(int roster_id)>;

// Adds a scaled group (main thread, before the host is RUNNING): `type`
// "UDP" | "TCP" | "TIMER", `filter` the socket text or "none", its initial
// workers' roster ids. Registers the SR identifier `TYPE[/filter]`.
// 0 / -1 (unknown profile).
int autoscale_add_group(const std::string &type, const std::string &filter,
                        const std::string &profile,
                        const std::vector<int> &roster_ids,
                        scale_spawn_f spawn, scale_retire_f retire);
// One cycle over every group (the timer calls it; tests may too).
void autoscale_cycle();
// Forgets every group and profile (unit tests, exit).
void autoscale_reset();

} // namespace shim
