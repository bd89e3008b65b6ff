// Unit tests of the cfg parser and cfg_fixup (core_shim/cfg/parser.cc,
// interp.cc cfg_fixup): route kinds, statements, and every error with its
// exact "file:line: message". Uses testmod.so.
#include <cstring>

#include "cfg/script.h"
#include "sip/sip_msg_impl.h"
#include "cfg_util.h"

#include "../cmocka_cxx.h" // last

using namespace cfgtest;

namespace {

int setup(void **)
{
	reset_host();
	return 0;
}

void route_kinds(void **)
{
	std::string err;
	int rc = load("route[0] { exit; }\n"
	              "route[name] { return; }\n"
	              "route[42] { return(1); }\n"
	              "route[\"quoted name\"] { route(name); route(42); }\n"
	              "startup_route { route(\"quoted name\"); }\n"
	              "timer_route[t1, 10] { t_echo(\"x\"); }\n"
	              "timer_route[t2, 0x3] { ; }\n"
	              "event_route[E_CORE_LOG] { xlog(\"$param(message)\"); }\n"
	              "event_route[E_OTHER, async] { }\n"
	              "error_route { drop; }\n",
	              err);
	if (rc < 0) fail_msg("%s", err.c_str());
	auto &t = shim::script_timer_routes();
	assert_int_equal(t.size(), 2);
	assert_int_equal(t[1].interval, 3);
	assert_int_equal(shim::script_find_event_route("E_OTHER"), 1);
	assert_int_equal(shim::script_event_route_names().size(), 2);
}

void statements(void **)
{
	std::string err;
	int rc = load("route {\n"
	              "  if ($rU == \"a\") t_echo(\"one\");\n"
	              "  else if (!t_ret(1) || ($var(x) != 2 && $rm =~ \"^INV\"))\n"
	              "    { t_echo(\"two\", , 3); }\n"
	              "  else { while ($var(n) < 3) { $var(n) = $var(n) + 1; } }\n"
	              "  t_reqonly;\n"
	              "  t_reqonly();\n"
	              "  $avp(x) = \"v\" + $ci;\n"
	              "  t_fix(\"$rU\");\n" // a format: the fixup runs per call
	              "  usleep(0);\n"
	              "  exit();\n"
	              "}\n",
	              err);
	if (rc < 0) fail_msg("%s", err.c_str());
}

void reference_route_block(void **)
{
	// the request route of the reference cfg, with the functions of modules
	// we do not load here replaced by testmod's
	std::string err;
	int rc = load(
	    "route {\n"
	    "	if ($rU == \"slow\") {\n"
	    "		usleep(120000);\n"
	    "	} else if ($rU == \"sr-report\") {\n"
	    "		t_echo(\"report from $si:$sp cid=$ci\");\n"
	    "	} else if ($rU == \"log\") {\n"
	    "		xlog(\"L_NOTICE\", \"REFLOG notice line ci=$ci\\n\");\n"
	    "	} else if ($rU == \"raise\") {\n"
	    "		$avp(ev_names) = \"a\";\n"
	    "		$avp(ev_vals) = \"1\";\n"
	    "	}\n"
	    "	if (!t_ret(1)) {\n"
	    "		t_echo(503, \"Not Ready\");\n"
	    "		exit;\n"
	    "	}\n"
	    "	t_echo(200, \"OK\");\n"
	    "	exit;\n"
	    "}\n",
	    err);
	if (rc < 0) fail_msg("%s", err.c_str());
	sip_msg m;
	assert_int_equal(shim::script_run_request(&m), SCRIPT_EXIT_FLAG);
	assert_string_equal(last().c_str(), "200|OK|-");
}

// Errors found while parsing: line 4 is the first line of `text`.
void parse_errors(void **)
{
	struct {
		const char *cfg, *err;
	} cases[] = {
	    {"route {\n t_echo(\"x\")\n t_echo(\"y\");\n}\n",
	     "t.cfg:5: expected ';' after the statement, found 't_echo'"},
	    {"route {\n if ($rU == \"a\" { exit; }\n}\n",
	     "t.cfg:5: expected ')' to close the if condition, found '{'"},
	    {"route {\n exit;\n", "t.cfg:4: unterminated block: '{' opened here has no '}'"},
	    {"route {\n xlog(\"open);\n}\n", "t.cfg:5: unterminated string"},
	    {"\nroute { nosuch(1); }\n", "t.cfg:5: unknown function 'nosuch'"},
	    {"route { route(missing); }\n",
	     "t.cfg:4: unknown route 'missing' in route(missing)"},
	    {"route { t_ret(1, 2); }\n",
	     "t.cfg:4: function 't_ret' takes at most 1 argument, 2 given"},
	    {"route { t_echo(); }\n", "t.cfg:4: argument 1 of 't_echo' is mandatory"},
	    {"route { t_ret(\"abc\"); }\n",
	     "t.cfg:4: argument 1 of 't_ret' must be an integer"},
	    {"route { t_var(\"abc\"); }\n",
	     "t.cfg:4: argument 1 of 't_var' must be a variable"},
	    {"route { xlog(\"$nosuch\"); }\n", "t.cfg:4: unknown variable $nosuch"},
	    {"route { xlog(\"L_LOUD\", \"x\"); }\n",
	     "t.cfg:4: xlog: unknown log level (L_ALERT .. L_DBG)"},
	    {"route { $rU = \"x\"; }\n",
	     "t.cfg:4: cannot assign to read-only variable $rU"},
	    {"route { if ($rU =~ \"(\") exit; }\n",
	     "t.cfg:4: bad regular expression '('"},
	    {"route { exit; }\nroute[0] { exit; }\n",
	     "t.cfg:5: route 'route[0]' is already defined at line 4"},
	    {"route[a] { exit; }\nroute[a] { exit; }\n",
	     "t.cfg:5: route 'route[a]' is already defined at line 4"},
	    {"failure_route[1] { exit; }\n",
	     "t.cfg:4: 'failure_route' is not supported: this host has no "
	     "transactions"},
	    {"onreply_route { exit; }\n",
	     "t.cfg:4: 'onreply_route' is not supported: this host has no "
	     "transactions"},
	    {"branch_route[1] { exit; }\n",
	     "t.cfg:4: 'branch_route' is not supported: this host has no "
	     "transactions"},
	    {"timer_route[t, 0] { exit; }\n",
	     "t.cfg:4: timer_route interval must be a positive number"},
	    {"route { exit; }\nlog_level = 2\n}\n",
	     "t.cfg:6: unexpected '}' at top level"},
	    {"loadmodule \"nosuch.so\"\n", "t.cfg:4: module 'nosuch' not found"},
	    {"modparam(\"testmod\", \"some_int\", \"str\")\n",
	     "t.cfg:4: modparam: type mismatch for parameter 'some_int' of module "
	     "'testmod' (a string was given)"},
	};
	for (auto &c : cases) {
		reset_host();
		std::string err;
		int rc = parse(std::string("loadmodule \"testmod.so\"\n") + c.cfg, err);
		if (rc != -1) fail_msg("accepted: %s", c.cfg);
		// "not found" lists the directories searched after the message
		if (err.compare(0, strlen(c.err), c.err) != 0)
			fail_msg("case %s\n got: %s\nwant: %s", c.cfg, err.c_str(), c.err);
	}
}

// Errors found by cfg_fixup, after modules_init.
void fixup_errors(void **)
{
	struct {
		const char *cfg, *err;
	} cases[] = {
	    {"route { exit; }\nstartup_route {\n t_reqonly();\n}\n",
	     "t.cfg:6: function 't_reqonly' cannot be used in startup_route"},
	    // a sub-route takes its callers' route types
	    {"timer_route[x, 1] { route(s); }\nroute[s] {\n t_reqonly();\n}\n",
	     "t.cfg:6: function 't_reqonly' cannot be used in timer_route"},
	    {"route {\n\n t_fix(\"bad\");\n}\n",
	     "t.cfg:6: argument 1 of 't_fix' was rejected: \"bad\""},
	};
	for (auto &c : cases) {
		reset_host();
		std::string err;
		int rc = load(c.cfg, err);
		assert_int_equal(rc, -1);
		assert_string_equal(err.c_str(), c.err);
	}
	// reachable only from the request route: accepted
	reset_host();
	std::string err;
	assert_int_equal(load("route { route(s); }\nroute[s] { t_reqonly(); }\n"
	                      "route[unused] { t_reqonly(); }\n",
	                      err),
	                 0);
	// a format string: the fixup runs per call, "bad" makes the call fail
	reset_host();
	assert_int_equal(load("route { $var(g) = \"bad\";\n"
	                      " if (t_fix(\"$var(g)\")) t_echo(\"called\");\n"
	                      " else t_echo(\"refused\"); }\n",
	                      err),
	                 0);
	sip_msg m;
	shim::script_run_request(&m);
	assert_string_equal(last().c_str(), "refused|-|-");
}

} // namespace

int main()
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup(route_kinds, setup),
	    cmocka_unit_test_setup(statements, setup),
	    cmocka_unit_test_setup(reference_route_block, setup),
	    cmocka_unit_test_setup(parse_errors, setup),
	    cmocka_unit_test_setup(fixup_errors, setup),
	};
	return cmocka_run_group_tests(tests, nullptr, nullptr);
}
