// E_PROFILING_SCRIPT records from the cfg interpreter (spec §4.3): a
// top-level run gives start/enter/exit/end at depth 1 with the action-flags
// bitmask as status; each route() call gives enter/exit at the caller's
// depth + 1 with the sub-route's return code. Uses testmod.so.
#include <cstring>

#include "../cfg/cfg_util.h"
#include "cfg/script.h"
#include "prof_util.h"
#include "sip/sip_msg_impl.h"

#include "../cmocka_cxx.h" // last

using namespace proftest;

namespace {

int setup(void **)
{
	cfgtest::reset_host();
	shim::prof_test_force_subscribed(0, 1);
	shim::prof_test_reset_thread();
	install_sink();
	drained();
	return 0;
}

struct run {
	sip_msg msg;
	std::vector<shim_prof_record> v;
	explicit run(const std::string &routes)
	{
		std::string err;
		if (cfgtest::load(routes, err) < 0) fail_msg("load failed: %s", err.c_str());
		msg.is_request = 1;
		msg.id = 42;
		msg.method = str_init("OPTIONS");
		shim::script_run_request(&msg);
		v = drained();
	}
};

void route_calls(void **)
{
	// lines: the text starts at line 4 of t.cfg
	run r("route[two] {\n"          // 4
	      " return(-3);\n"          // 5
	      "}\n"                     // 6
	      "route[one] {\n"          // 7
	      " route(two);\n"          // 8
	      " return(5);\n"           // 9
	      "}\n"                     // 10
	      "route {\n"               // 11
	      " t_echo(\"x\");\n"       // 12
	      " route(one);\n"          // 13
	      " exit;\n"                // 14
	      "}\n");
	assert_string_equal(lines(r.v).c_str(),
	                    "start <root> 1\nenter <root> 1\n"
	                    "enter one 2\nenter two 3\nexit two 3\nexit one 2\n"
	                    "exit <root> 1\nend <root> 1\n");
	for (auto &x : r.v) {
		assert_int_equal(x.event, SHIM_PROF_EV_SCRIPT);
		assert_int_equal(x.session, 42);
		assert_int_equal(x.type, REQUEST_ROUTE);
	}
	// top route: file/line of its first statement
	assert_string_equal(r.v[1].file, "t.cfg");
	assert_int_equal(r.v[1].line, 12);
	assert_int_equal(r.v[6].line, 12);
	// calls: where route() is written; status = the sub-route's return code
	assert_int_equal(r.v[2].line, 13);
	assert_int_equal(r.v[3].line, 8);
	assert_int_equal(r.v[4].status, -3);
	assert_int_equal(r.v[5].status, 5);
	// top route: action flags (exit), not a return code
	assert_int_equal(r.v[6].status, SHIM_ACT_FL_EXIT);
	assert_int_equal(r.v[7].status, SHIM_ACT_FL_EXIT);
}

void status_bitmask(void **)
{
	{
		run r("route {\n t_echo(\"a\");\n drop;\n}\n");
		assert_int_equal(r.v.back().status, SHIM_ACT_FL_EXIT | SHIM_ACT_FL_DROP);
	}
	setup(nullptr);
	{
		run r("route {\n return(7);\n}\n");
		assert_int_equal(r.v.back().status, SHIM_ACT_FL_RETURN);
	}
	setup(nullptr);
	{
		// a sub-route's return does not mark the top route
		run r("route[s] {\n return(2);\n}\nroute {\n route(s);\n}\n");
		assert_int_equal(r.v.size(), 6);
		assert_int_equal(r.v.back().status, 0);
		assert_int_equal(r.v[3].status, 2);
	}
	setup(nullptr);
	{
		// exit inside a sub-route: the sub-route's exit carries its rc,
		// the top route the exit flag
		run r("route[s] {\n exit;\n}\nroute {\n route(s);\n t_echo(\"no\");\n}\n");
		assert_int_equal(r.v.back().status, SHIM_ACT_FL_EXIT);
	}
}

void other_top_routes(void **)
{
	std::string err;
	assert_int_equal(cfgtest::load("startup_route {\n t_echo(\"s\");\n}\n"
	                               "timer_route[tick, 5] {\n t_echo(\"t\");\n}\n"
	                               "route {\n exit;\n}\n",
	                               err),
	                 0);
	shim::script_run_startup();
	auto v = drained();
	assert_int_equal(v.size(), 4);
	assert_null(v[0].name); // <root>
	assert_int_equal(v[0].type, STARTUP_ROUTE);
	assert_int_equal(v[0].session, 0);
	shim::script_run_timer(0);
	v = drained();
	assert_int_equal(v.size(), 4);
	assert_string_equal(v[0].name, "tick");
	assert_int_equal(v[0].type, TIMER_ROUTE);
	assert_int_equal(v[1].line, 8);
}

void off_without_subscribers(void **)
{
	shim::prof_test_force_subscribed(0, 0);
	run r("route {\n route(s);\n}\nroute[s] {\n return(1);\n}\n");
	assert_int_equal(r.v.size(), 0);
}

} // namespace

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup(route_calls, setup),
	    cmocka_unit_test_setup(status_bitmask, setup),
	    cmocka_unit_test_setup(other_top_routes, setup),
	    cmocka_unit_test_setup(off_without_subscribers, setup),
	};
	return cmocka_run_group_tests_name("profiling_script", tests, nullptr, nullptr);
}
