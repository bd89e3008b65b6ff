#include "proc/autoscale.h"

#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <memory>
#include <mutex>

#include "api/hooks.h"
#include "settings/globals.h"
#include "opensips/dprint.h"
#include "opensips/host.h"
#include "opensips/status_report.h"
#include "proc/roster.h"
#include "proc/threads.h"
#include "util/text.h"

namespace shim {

// ---- profile text ----

namespace {

std::vector<std::string> split_words(const std::string &text)
{
	std::vector<std::string> out;
	for (std::string w : split_blank(text)) {
		// "70%" -> "70" "%"
		size_t pct;
		while ((pct = w.find('%')) != std::string::npos) {
			if (pct > 0)
				out.push_back(w.substr(0, pct));
			out.push_back("%");
			w = w.substr(pct + 1);
		}
		if (!w.empty())
			out.push_back(w);
	}
	return out;
}

bool to_int(const std::string &s, int &v)
{
	if (s.empty() || s.size() > 6)
		return false;
	int n = 0;
	for (char c : s) {
		if (c < '0' || c > '9')
			return false;
		n = n * 10 + (c - '0');
	}
	v = n;
	return true;
}

struct word_reader {
	const std::vector<std::string> &w;
	size_t i = 0;
	std::string problem;
	bool kw(const char *k)
	{
		if (i < w.size() && w[i] == k) {
			i++;
			return true;
		}
		if (problem.empty())
			problem = std::string("expected '") + k + "'" +
			          (i < w.size() ? " instead of '" + w[i] + "'" : " at the end");
		return false;
	}
	bool num(int &v, const char *what)
	{
		if (i < w.size() && to_int(w[i], v)) {
			i++;
			return true;
		}
		if (problem.empty())
			problem = std::string("expected ") + what +
			          (i < w.size() ? " instead of '" + w[i] + "'" : " at the end");
		return false;
	}
	bool at_end() const { return i >= w.size(); }
	bool peek(const char *k) const { return i < w.size() && w[i] == k; }
};

} // namespace

int scale_profile_parse(const std::string &text, scale_profile &out,
                        std::string &err)
{
	std::vector<std::string> w = split_words(text);
	scale_profile p;
	if (w.empty()) {
		err = "auto_scaling_profile: empty definition";
		return -1;
	}
	p.name = w[0];
	auto fail = [&](const std::string &why) {
		err = "auto_scaling_profile '" + p.name + "': " + why +
		      " (expected 'NAME scale up to N on X% for C cycles [within W] "
		      "[scale down to M on Y% for D cycles]')";
		return -1;
	};
	word_reader r{w, 1, {}};
	if (!(r.kw("scale") && r.kw("up") && r.kw("to") &&
	      r.num(p.max_procs, "a number of processes") && r.kw("on") &&
	      r.num(p.up_pct, "a percentage") && r.kw("%") && r.kw("for") &&
	      r.num(p.up_cycles, "a number of cycles") && r.kw("cycles")))
		return fail(r.problem);
	p.up_within = p.up_cycles;
	if (r.peek("within")) {
		r.i++;
		if (!r.num(p.up_within, "a number of cycles"))
			return fail(r.problem);
	}
	if (!r.at_end()) {
		if (!(r.kw("scale") && r.kw("down") && r.kw("to") &&
		      r.num(p.min_procs, "a number of processes") && r.kw("on") &&
		      r.num(p.down_pct, "a percentage") && r.kw("%") && r.kw("for") &&
		      r.num(p.down_cycles, "a number of cycles") && r.kw("cycles")))
			return fail(r.problem);
		p.has_down = true;
		if (!r.at_end())
			return fail("unexpected '" + w[r.i] + "'");
	}
	if (p.max_procs < 1 || p.max_procs > 512)
		return fail("the maximum number of processes must be 1..512");
	if (p.up_pct > 100)
		return fail("the scale-up percentage must be 0..100");
	if (p.up_cycles < 1)
		return fail("the scale-up cycles must be at least 1");
	if (p.up_within < p.up_cycles)
		return fail("'within' must be at least the number of cycles");
	if (p.has_down) {
		if (p.min_procs < 1 || p.min_procs > p.max_procs)
			return fail("the minimum number of processes must be 1.." +
			            std::to_string(p.max_procs));
		if (p.down_pct >= p.up_pct)
			return fail("the scale-down percentage must be below the scale-up one");
		if (p.down_cycles < 1)
			return fail("the scale-down cycles must be at least 1");
	}
	out = p;
	return 0;
}

// ---- decision ----

void scale_state_init(const scale_profile &p, scale_state &st)
{
	st.loads.clear();
	st.hold_off = p.has_down ? 10 * p.down_cycles : 0;
}

scale_action scale_decide(const scale_profile &p, scale_state &st, int load,
                          int procs)
{
	size_t keep = (size_t)std::max(p.up_within, p.has_down ? p.down_cycles : 0);
	st.loads.push_back(load);
	while (st.loads.size() > keep)
		st.loads.pop_front();

	bool held = st.hold_off > 0;
	if (held)
		st.hold_off--;

	if (procs < p.max_procs) {
		int over = 0;
		size_t n = std::min(st.loads.size(), (size_t)p.up_within);
		for (size_t k = st.loads.size() - n; k < st.loads.size(); k++)
			if (st.loads[k] > p.up_pct)
				over++;
		if (over >= p.up_cycles) {
			st.loads.clear();
			st.hold_off = p.has_down ? 10 * p.down_cycles : 0;
			return scale_action::up;
		}
	}
	if (p.has_down && !held && procs > p.min_procs &&
	    st.loads.size() >= (size_t)p.down_cycles) {
		bool all_low = true;
		for (size_t k = st.loads.size() - (size_t)p.down_cycles;
		     k < st.loads.size(); k++)
			if (st.loads[k] >= p.down_pct)
				all_low = false;
		if (all_low) {
			st.loads.clear();
			return scale_action::down;
		}
	}
	return scale_action::none;
}

// ---- run time ----

namespace {

constexpr int kSrReports = 100;
const char kSrGroup[] = "auto-scaling";

struct worker_sample {
	int id;
	unsigned long long busy; // busy_ns at the last sample
	long long at;            // when (ns, monotonic)
};

struct scale_group {
	std::string type, filter, identifier;
	const scale_profile *prof = nullptr;
	scale_state st;
	std::vector<worker_sample> workers; // oldest first
	std::vector<int> retired;           // roster ids, for reuse
	scale_spawn_f spawn;
	scale_retire_f retire;
};

std::mutex g_mu; // guards everything below
std::vector<scale_profile> g_profiles;
std::vector<std::unique_ptr<scale_group>> g_groups;
sr_api g_sr{};
void *g_sr_group = nullptr;

long long mono_ns()
{
	timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

worker_sample sample_now(int id)
{
	proc_entry *e = roster_get(id);
	return {id, e ? e->busy_ns.load(std::memory_order_relaxed) : 0ULL, mono_ns()};
}

// Load of a group since the last cycle, 0-100; resets the samples.
int group_load(scale_group &g)
{
	if (g.workers.empty())
		return 0;
	double sum = 0;
	for (auto &w : g.workers) {
		worker_sample now = sample_now(w.id);
		double wall = (double)(now.at - w.at);
		double busy = (double)(now.busy - w.busy);
		double l = wall > 0 ? busy * 100.0 / wall : 0;
		sum += std::clamp(l, 0.0, 100.0);
		w = now;
	}
	int load = (int)(sum / (double)g.workers.size() + 0.5);
	return std::clamp(load, 0, 100);
}

void sr_report(scale_group &g, const char *fmt, int id, int load, int procs)
{
	if (!g_sr_group || !g_sr.add_report_fmt)
		return;
	g_sr.add_report_fmt(g_sr_group, g.identifier.data(), (int)g.identifier.size(),
	                    0, fmt, id, load, procs);
}

void scale_up(scale_group &g, int load)
{
	int reuse = -1;
	for (auto it = g.retired.begin(); it != g.retired.end(); ++it) {
		if (thread_joined(*it)) {
			reuse = *it;
			g.retired.erase(it);
			break;
		}
	}
	int procs = (int)g.workers.size();
	int id = g.spawn(reuse);
	if (id < 0) {
		LM_ERR("auto-scaling: cannot start a worker in group %s",
		       g.identifier.c_str());
		if (reuse >= 0)
			g.retired.push_back(reuse);
		return;
	}
	// The pid is known once the thread has bound its entry (its first act).
	proc_entry *e = roster_get(id);
	for (int i = 0; i < 1000 && e && !e->pid.load(); i++)
		usleep(1000);
	g.workers.push_back(sample_now(id));
	int pid = e ? e->pid.load() : 0;
	LM_DBG("auto-scaling: group %s at load %d: new worker %d (pid %d)",
	       g.identifier.c_str(), load, id, pid);
	if (auto f = g_core_hooks.proc_auto_scale)
		f(g.type.c_str(), g.filter.c_str(), load, "up", id, pid);
	sr_report(g, "Forking new process id %d at load %d in group with %d processes",
	          id, load, procs);
}

void scale_down(scale_group &g, int load)
{
	int procs = (int)g.workers.size();
	int id = g.workers.back().id;
	if (g.retire(id) < 0) {
		LM_ERR("auto-scaling: cannot retire worker %d of group %s", id,
		       g.identifier.c_str());
		return;
	}
	g.workers.pop_back();
	g.retired.push_back(id);
	proc_entry *e = roster_get(id);
	int pid = e ? e->pid.load() : 0;
	LM_DBG("auto-scaling: group %s at load %d: retiring worker %d (pid %d)",
	       g.identifier.c_str(), load, id, pid);
	if (auto f = g_core_hooks.proc_auto_scale)
		f(g.type.c_str(), g.filter.c_str(), load, "down", id, pid);
	sr_report(g, "Ripping process id %d at load %d in group with %d processes",
	          id, load, procs);
}

void on_cycle(unsigned int, void *) { autoscale_cycle(); }

bool profile_in_use()
{
	return !g_globals.udp_workers_profile.empty() ||
	       !g_globals.tcp_workers_profile.empty() ||
	       !g_globals.timer_workers_profile.empty();
}

} // namespace

int autoscale_validate(std::string &err)
{
	std::lock_guard<std::mutex> lk(g_mu);
	g_profiles.clear();
	for (const auto &text : g_globals.auto_scaling_profiles) {
		scale_profile p;
		if (scale_profile_parse(text, p, err) < 0)
			return -1;
		for (const auto &q : g_profiles)
			if (q.name == p.name) {
				err = "auto_scaling_profile '" + p.name + "' is defined twice";
				return -1;
			}
		g_profiles.push_back(p);
	}
	const std::pair<const char *, const std::string *> uses[] = {
	    {"udp_workers", &g_globals.udp_workers_profile},
	    {"tcp_workers", &g_globals.tcp_workers_profile},
	    {"timer_workers", &g_globals.timer_workers_profile}};
	for (const auto &use : uses) {
		const char *param = use.first;
		const std::string *name = use.second;
		if (name->empty())
			continue;
		// (a plain pointer, not a structured binding: clang < 16 cannot
		// capture those in a lambda)
		bool found = std::any_of(g_profiles.begin(), g_profiles.end(),
		                         [name](const scale_profile &p) { return p.name == *name; });
		if (!found) {
			err = std::string(param) + " uses auto_scaling_profile '" + *name +
			      "', which is not defined";
			return -1;
		}
	}
	if (g_globals.auto_scaling_cycle < 1) {
		err = "auto_scaling_cycle must be at least 1 second";
		return -1;
	}
	return 0;
}

int autoscale_setup(std::string &err)
{
	if (!profile_in_use())
		return 0;
	if (!g_globals.timer_workers_profile.empty())
		LM_NOTICE("timer_workers: the timer is a single thread here; "
		          "auto-scaling profile '%s' is accepted and not applied",
		          g_globals.timer_workers_profile.c_str());
	std::lock_guard<std::mutex> lk(g_mu);
	if (load_sr_api(&g_sr) == 0) {
		g_sr_group = g_sr.register_group(kSrGroup, (int)sizeof(kSrGroup) - 1, 0);
		if (!g_sr_group)
			g_sr_group = g_sr.get_group_by_name(kSrGroup, (int)sizeof(kSrGroup) - 1);
	} else {
		LM_WARN("status_report is not loaded; auto-scaling reports go nowhere");
	}
	if (register_timer("auto-scaling", on_cycle, nullptr,
	                   (unsigned int)g_globals.auto_scaling_cycle) < 0) {
		err = "cannot register the auto-scaling timer";
		return -1;
	}
	return 0;
}

const scale_profile *autoscale_profile(const std::string &name)
{
	std::lock_guard<std::mutex> lk(g_mu);
	for (const auto &p : g_profiles)
		if (p.name == name)
			return &p;
	return nullptr;
}

int autoscale_add_group(const std::string &type, const std::string &filter,
                        const std::string &profile,
                        const std::vector<int> &roster_ids, scale_spawn_f spawn,
                        scale_retire_f retire)
{
	const scale_profile *prof = autoscale_profile(profile);
	if (!prof) {
		LM_ERR("auto-scaling: unknown profile '%s'", profile.c_str());
		return -1;
	}
	auto g = std::make_unique<scale_group>();
	g->type = type;
	g->filter = filter;
	g->identifier = filter == "none" ? type : type + "/" + filter;
	g->prof = prof;
	scale_state_init(*prof, g->st);
	for (int id : roster_ids)
		g->workers.push_back(sample_now(id));
	g->spawn = std::move(spawn);
	g->retire = std::move(retire);
	std::lock_guard<std::mutex> lk(g_mu);
	if (g_sr_group && g_sr.register_identifier)
		g_sr.register_identifier(g_sr_group, g->identifier.data(),
		                         (int)g->identifier.size(), 1, "active", 6,
		                         kSrReports);
	g_groups.push_back(std::move(g));
	return 0;
}

void autoscale_cycle()
{
	threads_reap();
	std::lock_guard<std::mutex> lk(g_mu);
	for (auto &gp : g_groups) {
		scale_group &g = *gp;
		if (shim_should_stop())
			return;
		int load = group_load(g);
		switch (scale_decide(*g.prof, g.st, load, (int)g.workers.size())) {
		case scale_action::up: scale_up(g, load); break;
		case scale_action::down: scale_down(g, load); break;
		case scale_action::none: break;
		}
	}
}

void autoscale_reset()
{
	std::lock_guard<std::mutex> lk(g_mu);
	g_groups.clear();
	g_profiles.clear();
	g_sr_group = nullptr;
	g_sr = sr_api{};
}

} // namespace shim
