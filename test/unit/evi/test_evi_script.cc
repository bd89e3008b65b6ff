// Script side: raise_event / subscribe_event, event_route auto-subscription
// through the `route` transport, $param, publication order at cfg_fixup.
#include "../cfg/cfg_util.h"
#include "evi_util.h"

#include "../cmocka_cxx.h"

using namespace evitest;

namespace {

int setup(void **)
{
	cfgtest::reset_host();
	reset();
	return 0;
}

int run_request()
{
	return shim::script_run_request(nullptr);
}

void order_and_route(void **)
{
	publish("E_MODULE"); // what a module published in its init
	std::string err;
	int rc = cfgtest::load(
	    "route {\n"
	    "  $avp(n) = \"a\"; $avp(n) = \"b\";\n"
	    "  $avp(v) = \"1\"; $avp(v) = 2;\n"
	    "  if (!raise_event(\"E_LIT\", $avp(n), $avp(v))) t_echo(\"raise failed\");\n"
	    "  raise_event(\"E_R\", $avp(n), $avp(v));\n"
	    "  raise_event(\"E_R\", , $avp(v));\n"
	    "  raise_event(\"E_R\", $avp(n));\n"
	    "}\n"
	    "event_route[E_R] { t_echo(\"a=$param(a) b=$param(b) 1=$param(1) 2=$param(2)\"); }\n",
	    err);
	if (rc < 0) fprintf(stderr, "%s\n", err.c_str());
	assert_int_equal(rc, 0);
	str r{(char *)"E_R", 3}, l{(char *)"E_LIT", 5};
	// event_route names first, then raise_event/subscribe_event names
	assert_int_equal(evi_get_id(&r), 1);
	assert_int_equal(evi_get_id(&l), 2);
	auto st = shim::evi_subscriber_stats(1);
	assert_int_equal(st.size(), 1);
	assert_string_equal(st[0].socket.c_str(), "route:E_R");
	assert_int_equal(subscribe("E_R", "t:cap", 60, true), 0);
	g_now += 100000; // route subscriptions never expire
	assert_int_equal(subscribe("E_R", "t:cap", 0, false), 0);
	shim::evi_purge_expired();
	assert_int_equal(shim::evi_subscriber_stats(1).size(), 2);
	// E_LIT has no subscriber: raise_event returns 1
	run_request();
	assert_true(cfgtest::last().find("raise failed") == std::string::npos);
	drain();
	auto g = got();
	assert_int_equal(g.size(), 3);
	// reverse insertion order (LIFO avps), int avp -> int param
	assert_string_equal(g[0].payload.c_str(), "{\"jsonrpc\":\"2.0\",\"method\":\"E_R\",\"params\":{\"b\":2,\"a\":\"1\"}}");
	assert_string_equal(g[1].payload.c_str(), "{\"jsonrpc\":\"2.0\",\"method\":\"E_R\",\"params\":[2,\"1\"]}");
	assert_string_equal(g[2].payload.c_str(), "{\"jsonrpc\":\"2.0\",\"method\":\"E_R\"}");
	// the route transport queued three runs for the event_route worker
	assert_int_equal(shim::evi_route_dispatch_pending(1), 1);
	assert_string_equal(cfgtest::last().c_str(), "a=1 b=2 1=2 2=1|-|-");
	assert_int_equal(shim::evi_route_dispatch_pending(10), 2);
	assert_string_equal(cfgtest::last().c_str(), "a=<null> b=<null> 1=<null> 2=<null>|-|-");
	for (auto &s : shim::evi_subscriber_stats(1)) assert_int_equal(s.delivered, 3);
}

void subscribe_event_fn(void **)
{
	std::string err;
	int rc = cfgtest::load(
	    "route {\n"
	    "  if (subscribe_event(\"E_S\", \"t:never\")) t_echo(\"ok1\");\n"
	    "  if (subscribe_event(\"E_S\", \"t:ten\", 10)) t_echo(\"ok2\");\n"
	    "  if (!subscribe_event(\"E_S\", \"bogus:x\")) t_echo(\"bad socket\");\n"
	    "  if (!subscribe_event(\"$rU\", \"t:x\")) t_echo(\"bad event\");\n"
	    "}\n",
	    err);
	if (rc < 0) fprintf(stderr, "%s\n", err.c_str());
	assert_int_equal(rc, 0);
	str s{(char *)"E_S", 3};
	event_id_t id = evi_get_id(&s); // published by the fixup
	assert_true(id >= 0);
	run_request();
	assert_string_equal(cfgtest::last().c_str(), "bad event|-|-");
	auto st = shim::evi_subscriber_stats(id);
	assert_int_equal(st.size(), 2);
	assert_string_equal(st[0].socket.c_str(), "t:ten");
	g_now += 11;
	shim::evi_purge_expired();
	st = shim::evi_subscriber_stats(id);
	assert_int_equal(st.size(), 1);
	assert_string_equal(st[0].socket.c_str(), "t:never");
}

void route_socket_via_mi(void **)
{
	std::string err;
	int rc = cfgtest::load("event_route[E_B] { t_echo(\"in B $param(x)\"); }\n"
	                       "route { exit; }\n", err);
	assert_int_equal(rc, 0);
	publish("E_A");
	// another event bound to event_route[E_B]; MI expiry does not apply
	assert_int_equal(subscribe("E_A", "route:E_B", 5, true), 0);
	assert_int_equal(subscribe("E_A", "route:E_NONE", 5, true), -1);
	g_now += 100;
	str a{(char *)"E_A", 3};
	evi_params_p p = evi_get_params();
	str x{(char *)"x", 1};
	int v = 5;
	evi_param_add_int(p, &x, &v);
	assert_int_equal(evi_raise_event(evi_get_id(&a), p), 0);
	drain();
	assert_int_equal(shim::evi_route_dispatch_pending(10), 1);
	assert_string_equal(cfgtest::last().c_str(), "in B 5|-|-");
}

} // namespace

int main()
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup(order_and_route, setup),
	    cmocka_unit_test_setup(subscribe_event_fn, setup),
	    cmocka_unit_test_setup(route_socket_via_mi, setup),
	};
	int rc = cmocka_run_group_tests(tests, nullptr, nullptr);
	cfgtest::reset_host();
	shim::evi_reset();
	return rc;
}
