// The timer thread: module timers (register_timer) and cfg timer routes,
// each an ev_timer on the timer thread's loop. The first run is one
// interval after startup.
#include <ev.h>

#include <memory>
#include <string>
#include <vector>

#include "api/script-t.h"
#include "opensips/dprint.h"
#include "opensips/host.h"
#include "opensips/profiling.h"
#include "proc/threads.h"

namespace shim {
namespace {

struct timer_entry {
	ev_timer w;                 // first member: the callback casts back
	std::string label;
	shim_timer_f f = nullptr;
	void *param = nullptr;
	long route = -1;            // timer route index, or -1
	unsigned int interval = 1;
	unsigned int ticks = 0;
};

std::vector<std::unique_ptr<timer_entry>> g_timers;

void on_timer(struct ev_loop *, ev_timer *w, int)
{
	timer_entry *t = reinterpret_cast<timer_entry *>(w);
	t->ticks += t->interval;
	// PROC session per timer run (spec §4.3): start held, then timer_job
	// and the handler named after the timer's label, both at FULL. Timer
	// jobs are level 3 ("timer at level 3", and "a timer job at level SIP
	// produces no events"): at level 1-2 the held start is dropped at end
	// and the timer thread stays silent.
	SHIM_PROF_START(SHIM_PROF_SIP, nullptr, 1);
	SHIM_PROF_ENTER(SHIM_PROF_FULL, "timer_job", 1);
	SHIM_PROF_ENTER(SHIM_PROF_FULL, t->label.c_str(), 0);
	if (t->route >= 0) {
		if (g_script_runner.run_timer)
			g_script_runner.run_timer((size_t)t->route);
	}
	else
		t->f(t->ticks, t->param);
	SHIM_PROF_EXIT(SHIM_PROF_FULL, t->label.c_str(), 0);
	SHIM_PROF_EXIT(SHIM_PROF_FULL, "timer_job", 0);
	SHIM_PROF_END(SHIM_PROF_SIP, 0);
}

} // namespace

int timer_thread_setup()
{
	struct ev_loop *loop = shim_thread_loop();
	static const std::vector<timer_route_info> none;
	const auto &routes = g_script_runner.timer_routes ? g_script_runner.timer_routes() : none;
	for (size_t i = 0; i < routes.size(); i++) {
		auto t = std::make_unique<timer_entry>();
		t->label = "timer_route " + routes[i].name;
		t->route = (long)i;
		t->interval = routes[i].interval ? routes[i].interval : 1;
		g_timers.push_back(std::move(t));
	}
	for (auto &t : g_timers) {
		ev_timer_init(&t->w, on_timer, (double)t->interval, (double)t->interval);
		ev_timer_start(loop, &t->w);
	}
	return 0;
}

} // namespace shim

extern "C" int register_timer(const char *label, shim_timer_f f, void *param,
                              unsigned int interval)
{
	if (!f || interval == 0) {
		LM_ERR("bad timer '%s'", label ? label : "");
		return -1;
	}
	auto t = std::make_unique<shim::timer_entry>();
	t->label = label ? label : "";
	t->f = f;
	t->param = param;
	t->interval = interval;
	shim::g_timers.push_back(std::move(t));
	return 0;
}
