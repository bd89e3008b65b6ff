// Unit tests of the route interpreter (core_shim/cfg/interp.cc): return
// convention, $rc, if/else/while, $avp LIFO, $param, format strings, module
// parameters and fixups, thread safety. Uses testmod.so.
#include <cstring>

#include "cfg/script.h"
#include "cfg_util.h"
#include "sip/sip_msg_impl.h"

#include "../cmocka_cxx.h" // last

using namespace cfgtest;

namespace {

int setup(void **)
{
	reset_host();
	return 0;
}

// Loads `routes` and runs the request route on a message whose R-URI user
// is `user`; returns the action flags.
struct fixture {
	sip_msg msg;
	std::string err;
	explicit fixture(const std::string &routes, const char *user = "alice")
	{
		if (load(routes, err) < 0) fail_msg("load failed: %s", err.c_str());
		static const char ruri[] = "sip:alice@127.0.0.1";
		msg.is_request = 1;
		msg.method = str_init("OPTIONS");
		msg.ruri = {(char *)ruri, (int)strlen(ruri)};
		msg.ruri_user = {(char *)user, (int)strlen(user)};
		msg.callid = str_init("cid-1");
		msg.from = str_init("\"A\" <sip:a@x.org>;tag=1");
		msg.to = str_init("sip:b@y.org;tag=2");
		strcpy(msg.src_ip, "10.1.2.3");
		msg.src_port = 5099;
	}
	int run() { return shim::script_run_request(&msg); }
};

void return_convention(void **)
{
	fixture f("route {\n"
	          " if (t_ret(-2)) { t_echo(\"true\"); } else { t_echo(\"false $rc\"); }\n"
	          " if (t_ret(3)) { t_echo(\"rc=$rc\"); }\n"
	          " t_ret(0);\n"
	          " t_echo(\"not reached\");\n"
	          "}\n");
	assert_int_equal(f.run(), SCRIPT_EXIT_FLAG);
	assert_string_equal(last().c_str(), "rc=3|-|-");
}

void zero_in_condition_ends(void **)
{
	fixture f("route {\n"
	          " t_echo(\"start\");\n"
	          " if (t_ret(0)) { t_echo(\"then\"); } else { t_echo(\"else\"); }\n"
	          " t_echo(\"after\");\n"
	          "}\n");
	assert_int_equal(f.run(), SCRIPT_EXIT_FLAG);
	assert_string_equal(last().c_str(), "start|-|-");
}

void exit_drop_and_flags(void **)
{
	fixture f("route {\n"
	          " if ($rU == \"d\") { drop; }\n"
	          " if ($rU == \"e\") { exit; }\n"
	          " t_echo(\"fell off\");\n"
	          "}\n", "d");
	assert_int_equal(f.run(), SCRIPT_EXIT_FLAG | SCRIPT_DROP_FLAG);
	f.msg.ruri_user = str_init("e");
	assert_int_equal(f.run(), SCRIPT_EXIT_FLAG);
	f.msg.ruri_user = str_init("x");
	assert_int_equal(f.run(), 0);
	assert_string_equal(last().c_str(), "fell off|-|-");
}

void else_if_chain_and_pvars(void **)
{
	fixture f("route {\n"
	          " if ($rU == \"slow\") { t_echo(\"slow\"); }\n"
	          " else if ($rU == \"bob\") { t_echo(\"bob\"); }\n"
	          " else t_echo(\"$rm $ru $rU $si:$sp $ci $fu $tu\");\n"
	          "}\n", "bob");
	f.run();
	assert_string_equal(last().c_str(), "bob|-|-");
	f.msg.ruri_user = str_init("zed");
	f.run();
	assert_string_equal(last().c_str(),
	                    "OPTIONS sip:alice@127.0.0.1 zed 10.1.2.3:5099 cid-1 "
	                    "sip:a@x.org sip:b@y.org|-|-");
}

// Comparisons whose right side is a plain literal take a path that does not
// copy it; each case here also holds (or fails) on the general path.
void compare_against_literals(void **)
{
	fixture f("route {\n"
	          " $var(r) = \"\";\n"
	          " if ($rU == \"bob\") $var(r) = $var(r) + \"a\";\n"
	          " if ($rU != \"bo\") $var(r) = $var(r) + \"b\";\n"
	          " if ($rU < \"boc\" && $rU > \"boa\") $var(r) = $var(r) + \"c\";\n"
	          " if ($rU <= \"bob\" && $rU >= \"bob\") $var(r) = $var(r) + \"d\";\n"
	          " if ($rU == \"\") $var(r) = $var(r) + \"X\";\n"
	          " if ($rU == \"$rU\") $var(r) = $var(r) + \"e\";\n"
	          " $var(n) = 5;\n"
	          " if ($var(n) == \"5\" && $var(n) < \"10\") $var(r) = $var(r) + \"f\";\n"
	          " if ($var(unset) == \"bob\") $var(r) = $var(r) + \"Y\";\n"
	          " if ($var(unset) != \"bob\") $var(r) = $var(r) + \"g\";\n"
	          " t_echo(\"$var(r)\");\n"
	          "}\n", "bob");
	f.run();
	assert_string_equal(last().c_str(), "abcdefg|-|-");
	f.msg.ruri_user = str_init("bo");
	f.run();
	assert_string_equal(last().c_str(), "efg|-|-");
}

void while_and_arith(void **)
{
	fixture f("route {\n"
	          " $var(i) = 0;\n"
	          " $var(s) = \"\";\n"
	          " while ($var(i) < 5) {\n"
	          "  $var(s) = $var(s) + \"x\";\n"
	          "  $var(i) = $var(i) + 1;\n"
	          " }\n"
	          " if ($var(i) >= 5 && !($var(i) != 5) || 0) t_echo(\"$var(s)\", , $var(i) - 2);\n"
	          "}\n");
	f.run();
	assert_string_equal(last().c_str(), "xxxxx|-|3");
}

void avp_is_lifo(void **)
{
	fixture f("route {\n"
	          " $avp(a) = \"one\";\n"
	          " $avp(a) = \"two\";\n"
	          " t_echo(\"$avp(a)\");\n"
	          " $avp(a) = NULL;\n"
	          " t_echo(\"[$avp(a)]\");\n"
	          "}\n");
	f.run();
	assert_string_equal(last().c_str(), "[<null>]|-|-");
	reset_host();
	fixture g("route { $avp(a) = \"one\"; $avp(a) = \"two\"; t_echo($avp(a)); }");
	g.run();
	assert_string_equal(last().c_str(), "two|-|-");
	// avps do not survive the run
	reset_host();
	fixture h("route { if ($rU == \"set\") { $avp(k) = 1; } t_echo(\"$avp(k)\"); }",
	          "set");
	h.run();
	assert_string_equal(last().c_str(), "1|-|-");
	h.msg.ruri_user = str_init("no");
	h.run();
	assert_string_equal(last().c_str(), "<null>|-|-");
}

void subroutes_params_return(void **)
{
	fixture f("route {\n"
	          " route(sub, \"p1\", 22);\n"
	          " t_echo(\"rc=$rc\");\n"
	          " if (route(\"neg\")) t_echo(\"bad\"); else t_echo(\"neg rc=$retcode\");\n"
	          "}\n"
	          "route[sub] {\n"
	          " t_echo(\"$param(1)/$param(2)/$param(3)\");\n"
	          " return(7);\n"
	          " t_echo(\"not reached\");\n"
	          "}\n"
	          "route[\"neg\"] { return(-4); }\n");
	f.run();
	assert_string_equal(last().c_str(), "neg rc=-4|-|-");
	assert_int_equal(calls(), 3); // the echo after return(7) did not run
	reset_host();
	fixture g("route { route(1, \"a\"); t_echo(\"after $rc\"); }\n"
	          "route[1] { t_echo(\"in $param(1)\"); }\n");
	g.run();
	assert_string_equal(last().c_str(), "after 1|-|-");
	reset_host();
	fixture h("route { route(z); t_echo(\"after\"); }\nroute[z] { return(0); }\n");
	assert_int_equal(h.run(), SCRIPT_EXIT_FLAG);
	assert_int_equal(calls(), 0); // testmod was reloaded: nothing echoed
	reset_host();
	fixture k("route { route(sub, \"p1\", 22); }\n"
	          "route[sub] { t_echo(\"$param(1)/$param(2)/$param(3)\"); }\n");
	k.run();
	assert_string_equal(last().c_str(), "p1/22/<null>|-|-");
}

void exit_in_subroute_ends_script(void **)
{
	fixture f("route { t_echo(\"a\"); route(s); t_echo(\"b\"); }\n"
	          "route[s] { exit; }\n");
	assert_int_equal(f.run(), SCRIPT_EXIT_FLAG);
	assert_string_equal(last().c_str(), "a|-|-");
}

void format_strings(void **)
{
	fixture f("route {\n"
	          " $var(x) = 5;\n"
	          " t_echo(\"cost $$10 x=$var(x) $ ok\", \"$ci$var(x)\", \"42\");\n"
	          "}\n");
	f.run();
	assert_string_equal(last().c_str(), "cost $10 x=5 $ ok|cid-15|42");
}

void regex_compare(void **)
{
	fixture f("route {\n"
	          " $var(re) = \"^al\";\n"
	          " if ($rU =~ \"^ali(ce)?$\" && $rU !~ \"bob\" && $ru =~ $var(re) + \"|sip:\")\n"
	          "  t_echo(\"match\");\n"
	          " else t_echo(\"no\");\n"
	          "}\n");
	f.run();
	assert_string_equal(last().c_str(), "match|-|-");
}

void dynamic_int_param(void **)
{
	fixture f("route {\n"
	          " $var(n) = \"12\";\n"
	          " t_echo(\"a\", \"b\", $var(n));\n"
	          " $var(n) = \"abc\";\n"
	          " if (t_echo(\"c\", \"d\", $var(n))) { t_echo(\"called\"); }\n"
	          " else { t_echo(\"refused $rc\"); }\n"
	          " if (t_ret($var(unset))) {} else { t_echo(\"null $rc\", $var(unset)); }\n"
	          "}\n");
	f.run();
	// t_echo with a NULL second argument is not called either
	assert_string_equal(last().c_str(), "refused -1|-|-");
}

void var_param(void **)
{
	fixture f("route { $var(v) = \"hello\"; t_var($var(v)); t_echo(\"$var(v)\"); }");
	f.run();
	assert_string_equal(last().c_str(), "set|-|-");
	reset_host();
	fixture g("route { t_var($avp(none)); }");
	g.run();
	assert_string_equal(last().c_str(), "<null>");
}

void var_is_per_thread(void **)
{
	fixture f("route {\n"
	          " if ($var(seen) == NULL) { $var(seen) = 0; }\n"
	          " $var(seen) = $var(seen) + 1;\n"
	          " t_echo(\"$var(seen)\");\n"
	          "}\n");
	f.run();
	f.run();
	assert_string_equal(last().c_str(), "2|-|-");
	std::thread t([&] { f.run(); });
	t.join();
	assert_string_equal(last().c_str(), "1|-|-");
}

void concurrent_runs(void **)
{
	fixture f("route {\n"
	          " $var(i) = 0;\n"
	          " while ($var(i) < 50) { $avp(l) = $var(i); $var(i) = $var(i) + 1; }\n"
	          " if ($avp(l) != 49) { t_ret(-1); drop; }\n"
	          "}\n");
	std::atomic<int> bad{0};
	std::vector<std::thread> th;
	for (int i = 0; i < 8; i++)
		th.emplace_back([&] {
			sip_msg m = f.msg;
			for (int k = 0; k < 200; k++)
				if (shim::script_run_request(&m) & SCRIPT_DROP_FLAG) bad++;
		});
	for (auto &t : th) t.join();
	assert_int_equal(bad.load(), 0);
}

void startup_timer_event_routes(void **)
{
	fixture f("startup_route { t_echo(\"startup $rU\"); }\n"
	          "timer_route[tick, 5] { t_echo(\"tick\"); }\n"
	          "event_route[E_X] { t_echo(\"ev $param(a) $param(2)\"); }\n"
	          "route { exit; }\n");
	shim::script_run_startup();
	assert_string_equal(last().c_str(), "startup <null>|-|-");
	auto &tr = shim::script_timer_routes();
	assert_int_equal(tr.size(), 1);
	assert_string_equal(tr[0].name.c_str(), "tick");
	assert_int_equal(tr[0].interval, 5);
	shim::script_run_timer(0);
	assert_string_equal(last().c_str(), "tick|-|-");
	assert_int_equal(shim::script_find_event_route("E_NONE"), -1);
	int idx = shim::script_find_event_route("E_X");
	assert_int_equal(idx, 0);
	std::vector<shim::script_param> p(2);
	p[0].name = "a";
	p[0].s = "va";
	p[1].name = "b";
	p[1].is_int = true;
	p[1].i = 9;
	shim::script_run_event_route(idx, p);
	assert_string_equal(last().c_str(), "ev va 9|-|-");
}

void xlog_runs(void **)
{
	fixture f("route { xlog(\"L_ERR\", \"xlog test $rU\\n\"); xlog(\"plain\"); "
	          "if (xlog(L_DBG, \"dbg\")) t_echo(\"xlog ok\"); }");
	f.run();
	assert_string_equal(last().c_str(), "xlog ok|-|-");
}

} // namespace

int main()
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup(return_convention, setup),
	    cmocka_unit_test_setup(zero_in_condition_ends, setup),
	    cmocka_unit_test_setup(exit_drop_and_flags, setup),
	    cmocka_unit_test_setup(else_if_chain_and_pvars, setup),
	    cmocka_unit_test_setup(compare_against_literals, setup),
	    cmocka_unit_test_setup(while_and_arith, setup),
	    cmocka_unit_test_setup(avp_is_lifo, setup),
	    cmocka_unit_test_setup(subroutes_params_return, setup),
	    cmocka_unit_test_setup(exit_in_subroute_ends_script, setup),
	    cmocka_unit_test_setup(format_strings, setup),
	    cmocka_unit_test_setup(regex_compare, setup),
	    cmocka_unit_test_setup(dynamic_int_param, setup),
	    cmocka_unit_test_setup(var_param, setup),
	    cmocka_unit_test_setup(var_is_per_thread, setup),
	    cmocka_unit_test_setup(concurrent_runs, setup),
	    cmocka_unit_test_setup(startup_timer_event_routes, setup),
	    cmocka_unit_test_setup(xlog_runs, setup),
	};
	return cmocka_run_group_tests(tests, nullptr, nullptr);
}
