// Unit tests of auto-scaling (core_shim/proc/autoscale.cc): profile text,
// the scale decision over load sequences, the down-scale hold-off, and one
// group driven through autoscale_cycle() with fake workers.
#include <string.h>

#include <string>
#include <vector>

#include "api/hooks.h"
#include "settings/globals.h"
#include "proc/autoscale.h"
#include "proc/roster.h"

#include "../cmocka_cxx.h" // last

using namespace shim;

namespace {

scale_profile parse_ok(const std::string &text)
{
	scale_profile p;
	std::string err;
	int rc = scale_profile_parse(text, p, err);
	if (rc != 0)
		fprintf(stderr, "unexpected error: %s\n", err.c_str());
	assert_int_equal(rc, 0);
	return p;
}

std::string parse_err(const std::string &text)
{
	scale_profile p;
	std::string err;
	assert_int_equal(scale_profile_parse(text, p, err), -1);
	return err;
}

void test_parse_full(void **)
{
	scale_profile p = parse_ok("PROFILE_REF scale up to 4 on 70% for 2 cycles "
	                           "within 3 scale down to 1 on 10% for 2 cycles");
	assert_string_equal(p.name.c_str(), "PROFILE_REF");
	assert_int_equal(p.max_procs, 4);
	assert_int_equal(p.up_pct, 70);
	assert_int_equal(p.up_cycles, 2);
	assert_int_equal(p.up_within, 3);
	assert_true(p.has_down);
	assert_int_equal(p.min_procs, 1);
	assert_int_equal(p.down_pct, 10);
	assert_int_equal(p.down_cycles, 2);
}

void test_parse_forms(void **)
{
	// within omitted: W = C; no down part; "%" apart; line breaks
	scale_profile p = parse_ok("P scale up to 6 on 80 % for 4 cycles");
	assert_int_equal(p.up_within, 4);
	assert_false(p.has_down);
	p = parse_ok("P\n   scale up to 6 on 80% for 4 cycles\n  scale down to 2 on 20% "
	             "for 5 cycles");
	assert_int_equal(p.up_within, 4);
	assert_true(p.has_down);
	assert_int_equal(p.down_cycles, 5);
}

void test_parse_errors(void **)
{
	std::string e = parse_err("BAD scale up to four on 70% for 2 cycles");
	assert_non_null(strstr(e.c_str(), "'BAD'"));
	assert_non_null(strstr(e.c_str(), "four"));
	parse_err("");
	parse_err("P");
	parse_err("P scale up to 4 on 70 for 2 cycles");           // no %
	parse_err("P scale up to 4 on 70% for 2");                 // no cycles
	parse_err("P scale up to 4 on 170% for 2 cycles");         // > 100
	parse_err("P scale up to 0 on 70% for 2 cycles");          // N = 0
	parse_err("P scale up to 4 on 70% for 0 cycles");          // C = 0
	parse_err("P scale up to 4 on 70% for 3 cycles within 2"); // W < C
	parse_err("P scale up to 4 on 70% for 2 cycles scale down to 5 on 10% for 2 cycles");
	parse_err("P scale up to 4 on 70% for 2 cycles scale down to 0 on 10% for 2 cycles");
	parse_err("P scale up to 4 on 70% for 2 cycles scale down to 1 on 80% for 2 cycles");
	parse_err("P scale up to 4 on 70% for 2 cycles scale down to 1 on 10% for 2");
	parse_err("P scale up to 4 on 70% for 2 cycles trailing");
	e = parse_err("Q scale up to 4 on 70% for 2 cycles scale down to 1 on 10% for 2 "
	              "cycles extra");
	assert_non_null(strstr(e.c_str(), "'Q'"));
	assert_non_null(strstr(e.c_str(), "extra"));
}

void test_up_within(void **)
{
	scale_profile p = parse_ok("P scale up to 4 on 70% for 2 cycles within 3");
	scale_state st;
	scale_state_init(p, st);
	assert_int_equal(st.hold_off, 0); // no down part
	// 2 of the last 3 cycles over 70%, not consecutive
	assert_true(scale_decide(p, st, 90, 2) == scale_action::none);
	assert_true(scale_decide(p, st, 10, 2) == scale_action::none);
	assert_true(scale_decide(p, st, 99, 2) == scale_action::up);
	// history cleared: it takes 2 more high cycles
	assert_true(scale_decide(p, st, 99, 3) == scale_action::none);
	assert_true(scale_decide(p, st, 99, 3) == scale_action::up);
	// at the maximum: never more
	for (int i = 0; i < 10; i++)
		assert_true(scale_decide(p, st, 100, 4) == scale_action::none);
	// exactly X% is not over
	scale_state_init(p, st);
	for (int i = 0; i < 5; i++)
		assert_true(scale_decide(p, st, 70, 2) == scale_action::none);
	// high cycles too far apart (outside W = 3)
	scale_state_init(p, st);
	assert_true(scale_decide(p, st, 90, 2) == scale_action::none);
	assert_true(scale_decide(p, st, 0, 2) == scale_action::none);
	assert_true(scale_decide(p, st, 0, 2) == scale_action::none);
	assert_true(scale_decide(p, st, 90, 2) == scale_action::none);
}

void test_down_hold_off(void **)
{
	scale_profile p = parse_ok("P scale up to 4 on 70% for 2 cycles within 3 "
	                           "scale down to 1 on 10% for 2 cycles");
	scale_state st;
	scale_state_init(p, st);
	assert_int_equal(st.hold_off, 20);
	// idle from startup: held off for 10*D = 20 cycles, down on the 21st
	for (int i = 0; i < 20; i++)
		assert_true(scale_decide(p, st, 0, 2) == scale_action::none);
	assert_true(scale_decide(p, st, 0, 2) == scale_action::down);
	// at the minimum: nothing more
	for (int i = 0; i < 10; i++)
		assert_true(scale_decide(p, st, 0, 1) == scale_action::none);
	// after an up-scale, the hold-off starts again
	assert_true(scale_decide(p, st, 95, 1) == scale_action::none);
	assert_true(scale_decide(p, st, 95, 1) == scale_action::up);
	for (int i = 0; i < 20; i++)
		assert_true(scale_decide(p, st, 0, 2) == scale_action::none);
	assert_true(scale_decide(p, st, 0, 2) == scale_action::down);
	// after a down-scale: D more low cycles, no hold-off
	scale_state_init(p, st);
	st.hold_off = 0;
	assert_true(scale_decide(p, st, 5, 3) == scale_action::none);
	assert_true(scale_decide(p, st, 5, 3) == scale_action::down);
	assert_true(scale_decide(p, st, 5, 2) == scale_action::none);
	assert_true(scale_decide(p, st, 5, 2) == scale_action::down);
	// one cycle at or above Y% restarts the count
	assert_true(scale_decide(p, st, 5, 2) == scale_action::none);
	assert_true(scale_decide(p, st, 10, 2) == scale_action::none);
	assert_true(scale_decide(p, st, 5, 2) == scale_action::none);
	assert_true(scale_decide(p, st, 5, 2) == scale_action::down);
}

// ---- one group through autoscale_cycle() ----

struct scale_event {
	std::string type, filter, scale;
	int load, id, pid;
};
std::vector<scale_event> g_events;

void on_scale(const char *type, const char *filter, int load, const char *scale,
              int id, int pid)
{
	g_events.push_back({type, filter, scale, load, id, pid});
}

void test_group_cycle(void **)
{
	roster_reset();
	autoscale_reset();
	g_globals.auto_scaling_profiles = {
	    "P scale up to 4 on 70% for 1 cycles scale down to 2 on 10% for 1 cycles"};
	g_globals.udp_workers_profile = "P";
	std::string err;
	assert_int_equal(autoscale_validate(err), 0);
	core_event_hooks hooks{};
	hooks.size = sizeof hooks;
	hooks.proc_auto_scale = on_scale;
	shim_set_core_event_hooks(nullptr);
	assert_int_equal(shim_set_core_event_hooks(&hooks), 0);
	// one owner: a second module's hooks are refused
	assert_int_equal(shim_set_core_event_hooks(&hooks), -1);

	std::vector<int> ids = {roster_add("SIP receiver udp:127.0.0.1:5060", 1),
	                        roster_add("SIP receiver udp:127.0.0.1:5060", 1)};
	for (int id : ids)
		roster_get(id)->pid.store(1000 + id);
	std::vector<int> retired;
	int spawned = 0;
	assert_int_equal(
	    autoscale_add_group(
	        "UDP", "udp:127.0.0.1:5060", "P", ids,
	        [&](int reuse) {
		        spawned++;
		        int id = reuse >= 0 ? reuse
		                            : roster_add("SIP receiver udp:127.0.0.1:5060", 1);
		        roster_get(id)->pid.store(1000 + id);
		        return id;
	        },
	        [&](int id) {
		        retired.push_back(id);
		        return 0;
	        }),
	    0);
	// fully busy workers: every cycle adds far more busy time than wall time
	auto busy_all = [] {
		for (int i = 0; i < roster_size(); i++)
			roster_get(i)->busy_ns.fetch_add(1000000000000ULL);
	};
	busy_all();
	autoscale_cycle();
	assert_int_equal(g_events.size(), 1);
	assert_string_equal(g_events[0].type.c_str(), "UDP");
	assert_string_equal(g_events[0].filter.c_str(), "udp:127.0.0.1:5060");
	assert_string_equal(g_events[0].scale.c_str(), "up");
	assert_int_equal(g_events[0].load, 100);
	assert_int_equal(g_events[0].id, 2);
	assert_int_equal(g_events[0].pid, 1002);
	busy_all();
	autoscale_cycle(); // to 4 = max
	busy_all();
	autoscale_cycle(); // no more
	assert_int_equal(g_events.size(), 2);
	assert_int_equal(spawned, 2);
	// idle: down-scaling held off for the 10 cycles after the last up-scale
	// (one of them was the cycle at the maximum), then down to 1, newest
	// first, one per cycle (D = 1), down to M = 2
	for (int i = 0; i < 9; i++)
		autoscale_cycle();
	assert_int_equal(g_events.size(), 2);
	autoscale_cycle();
	assert_int_equal(g_events.size(), 3);
	autoscale_cycle();
	autoscale_cycle();
	assert_int_equal(g_events.size(), 4);
	assert_string_equal(g_events[2].scale.c_str(), "down");
	assert_int_equal(g_events[2].load, 0);
	assert_int_equal(g_events[2].id, 3);
	assert_int_equal(g_events[3].id, 2);
	assert_int_equal(retired.size(), 2);

	shim_set_core_event_hooks(nullptr);
	autoscale_reset();
	g_globals.auto_scaling_profiles.clear();
	g_globals.udp_workers_profile.clear();
	roster_reset();
}

void test_validate_unknown_profile(void **)
{
	autoscale_reset();
	g_globals.auto_scaling_profiles = {"A scale up to 3 on 70% for 1 cycles"};
	g_globals.tcp_workers_profile = "B";
	std::string err;
	assert_int_equal(autoscale_validate(err), -1);
	assert_non_null(strstr(err.c_str(), "'B'"));
	g_globals.tcp_workers_profile = "A";
	assert_int_equal(autoscale_validate(err), 0);
	g_globals.auto_scaling_profiles.push_back("A scale up to 2 on 70% for 1 cycles");
	assert_int_equal(autoscale_validate(err), -1);
	g_globals.auto_scaling_profiles.clear();
	g_globals.tcp_workers_profile.clear();
	autoscale_reset();
}

} // namespace

int main()
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_parse_full),
	    cmocka_unit_test(test_parse_forms),
	    cmocka_unit_test(test_parse_errors),
	    cmocka_unit_test(test_up_within),
	    cmocka_unit_test(test_down_hold_off),
	    cmocka_unit_test(test_group_cycle),
	    cmocka_unit_test(test_validate_unknown_profile),
	};
	return cmocka_run_group_tests(tests, nullptr, nullptr);
}
