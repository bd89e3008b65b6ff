// evi:* MI commands through mi_run_jsonrpc: reference records
// (events_list, event_subscribe, subscribers_list, raise_event and their
// errors) and the shapes of spec §2.5.
#include "evi_util.h"
#include "mi/mi_core.h"
#include "opensips/mi.h"

#include "../cmocka_cxx.h"

using namespace evitest;

namespace {

std::string mi(const std::string &req)
{
	char *reply = nullptr;
	int len = 0;
	int st = mi_run_jsonrpc(req.data(), (int)req.size(), 0, "test", &reply, &len);
	assert_int_equal(st, MI_RUN_REPLY);
	std::string r(reply, (size_t)len);
	mi_free_reply(reply);
	return r;
}

void check(const std::string &req, const std::string &want)
{
	std::string got = mi(req);
	if (got != want) fprintf(stderr, "req  %s\ngot  %s\nwant %s\n", req.c_str(), got.c_str(), want.c_str());
	assert_string_equal(got.c_str(), want.c_str());
}

void publish_reference()
{
	for (const char *n : {"E_CORE_SR_STATUS_CHANGED", "E_CORE_THRESHOLD",
	                      "E_CORE_SHM_THRESHOLD", "E_CORE_PKG_THRESHOLD",
	                      "E_CORE_PROC_AUTO_SCALE", "E_CORE_TCP_DISCONNECT",
	                      "E_PROFILING_SCRIPT", "E_PROFILING_PROC",
	                      "E_FLATSTORE_ROTATION", "E_REF_SCRIPT", "E_CORE_LOG"})
		publish(n);
}

int setup(void **)
{
	reset();
	register_proto("udp");
	register_proto("tcp");
	publish_reference();
	return 0;
}

void events_list(void **)
{
	check("{\"jsonrpc\":\"2.0\",\"method\":\"events_list\",\"id\":32}",
	      "{\"jsonrpc\":\"2.0\",\"result\":{\"Events\":[{\"name\":\"E_CORE_SR_STATUS_CHANGED\",\"id\":0},{\"name\":\"E_CORE_THRESHOLD\",\"id\":1},{\"name\":\"E_CORE_SHM_THRESHOLD\",\"id\":2},{\"name\":\"E_CORE_PKG_THRESHOLD\",\"id\":3},{\"name\":\"E_CORE_PROC_AUTO_SCALE\",\"id\":4},{\"name\":\"E_CORE_TCP_DISCONNECT\",\"id\":5},{\"name\":\"E_PROFILING_SCRIPT\",\"id\":6},{\"name\":\"E_PROFILING_PROC\",\"id\":7},{\"name\":\"E_FLATSTORE_ROTATION\",\"id\":8},{\"name\":\"E_REF_SCRIPT\",\"id\":9},{\"name\":\"E_CORE_LOG\",\"id\":10}]},\"id\":32}");
	check("{\"jsonrpc\":\"2.0\",\"method\":\"evi:list\",\"id\":1}",
	      mi("{\"jsonrpc\":\"2.0\",\"method\":\"events_list\",\"id\":1}"));
}

void subscribe_and_list(void **)
{
	check("{\"jsonrpc\":\"2.0\",\"method\":\"event_subscribe\",\"params\":[\"E_CORE_SR_STATUS_CHANGED\",\"udp:127.0.0.1:9901\"],\"id\":30}",
	      "{\"jsonrpc\":\"2.0\",\"result\":\"OK\",\"id\":30}");
	check("{\"jsonrpc\":\"2.0\",\"method\":\"event_subscribe\",\"params\":{\"event\":\"E_CORE_SR_STATUS_CHANGED\",\"socket\":\"tcp:127.0.0.1:9902\",\"expire\":600},\"id\":31}",
	      "{\"jsonrpc\":\"2.0\",\"result\":\"OK\",\"id\":31}");
	check("{\"jsonrpc\":\"2.0\",\"method\":\"subscribers_list\",\"id\":33}",
	      "{\"jsonrpc\":\"2.0\",\"result\":{\"Events\":[{\"name\":\"E_CORE_SR_STATUS_CHANGED\",\"id\":0,\"Subscribers\":[{\"socket\":\"tcp:127.0.0.1:9902\",\"expire\":600,\"ttl\":600},{\"socket\":\"udp:127.0.0.1:9901\",\"expire\":3600,\"ttl\":3600}]}]},\"id\":33}");
	check("{\"jsonrpc\":\"2.0\",\"method\":\"subscribers_list\",\"params\":[\"E_CORE_SR_STATUS_CHANGED\"],\"id\":34}",
	      "{\"jsonrpc\":\"2.0\",\"result\":{\"Event\":{\"name\":\"E_CORE_SR_STATUS_CHANGED\",\"id\":0,\"Subscribers\":[{\"socket\":\"tcp:127.0.0.1:9902\",\"expire\":600,\"ttl\":600},{\"socket\":\"udp:127.0.0.1:9901\",\"expire\":3600,\"ttl\":3600}]}},\"id\":34}");
	g_now += 100;
	check("{\"jsonrpc\":\"2.0\",\"method\":\"evi:subscribers\",\"params\":{\"event\":\"E_CORE_SR_STATUS_CHANGED\",\"socket\":\"udp:127.0.0.1:9901\"},\"id\":1}",
	      "{\"jsonrpc\":\"2.0\",\"result\":{\"Event\":{\"name\":\"E_CORE_SR_STATUS_CHANGED\",\"id\":0,\"Subscriber\":{\"socket\":\"udp:127.0.0.1:9901\",\"expire\":3600,\"ttl\":3500}}},\"id\":1}");
	check("{\"jsonrpc\":\"2.0\",\"method\":\"evi:subscribers\",\"params\":[\"E_CORE_SR_STATUS_CHANGED\",\"udp:127.0.0.1:1\"],\"id\":1}",
	      "{\"jsonrpc\":\"2.0\",\"error\":{\"code\":404,\"message\":\"Subscriber does not exist\"},\"id\":1}");
	check("{\"jsonrpc\":\"2.0\",\"method\":\"evi:subscribers\",\"params\":[\"E_NOPE\"],\"id\":1}",
	      "{\"jsonrpc\":\"2.0\",\"error\":{\"code\":404,\"message\":\"Event not published\"},\"id\":1}");
	check("{\"jsonrpc\":\"2.0\",\"method\":\"evi:subscribers\",\"params\":[\"E_CORE_LOG\"],\"id\":1}",
	      "{\"jsonrpc\":\"2.0\",\"result\":{\"Event\":{}},\"id\":1}");
	// unsubscribe: expire 0 lingers as "expired" for the current second
	check("{\"jsonrpc\":\"2.0\",\"method\":\"event_subscribe\",\"params\":[\"E_CORE_SR_STATUS_CHANGED\",\"udp:127.0.0.1:9901\",0],\"id\":65}",
	      "{\"jsonrpc\":\"2.0\",\"result\":\"OK\",\"id\":65}");
	check("{\"jsonrpc\":\"2.0\",\"method\":\"subscribers_list\",\"id\":2}",
	      "{\"jsonrpc\":\"2.0\",\"result\":{\"Events\":[{\"name\":\"E_CORE_SR_STATUS_CHANGED\",\"id\":0,\"Subscribers\":[{\"socket\":\"tcp:127.0.0.1:9902\",\"expire\":600,\"ttl\":500},{\"socket\":\"udp:127.0.0.1:9901\",\"expire\":0,\"ttl\":\"expired\"}]}]},\"id\":2}");
	g_now += 1;
	check("{\"jsonrpc\":\"2.0\",\"method\":\"subscribers_list\",\"id\":3}",
	      "{\"jsonrpc\":\"2.0\",\"result\":{\"Events\":[{\"name\":\"E_CORE_SR_STATUS_CHANGED\",\"id\":0,\"Subscribers\":[{\"socket\":\"tcp:127.0.0.1:9902\",\"expire\":600,\"ttl\":499}]}]},\"id\":3}");
	g_now += 600;
	check("{\"jsonrpc\":\"2.0\",\"method\":\"subscribers_list\",\"id\":4}",
	      "{\"jsonrpc\":\"2.0\",\"result\":{\"Events\":[]},\"id\":4}");
	// never-expiring subscriptions print "never"
	assert_int_equal(subscribe("E_CORE_LOG", "udp:1.2.3.4:5", 0, false), 0);
	check("{\"jsonrpc\":\"2.0\",\"method\":\"subscribers_list\",\"params\":[\"E_CORE_LOG\"],\"id\":5}",
	      "{\"jsonrpc\":\"2.0\",\"result\":{\"Event\":{\"name\":\"E_CORE_LOG\",\"id\":10,\"Subscribers\":[{\"socket\":\"udp:1.2.3.4:5\",\"expire\":\"never\"}]}},\"id\":5}");
}

void subscribe_errors(void **)
{
	check("{\"jsonrpc\":\"2.0\",\"method\":\"event_subscribe\",\"params\":[\"E_CORE_LOG\"],\"id\":93}",
	      "{\"jsonrpc\":\"2.0\",\"error\":{\"code\":-32602,\"message\":\"Invalid params\",\"data\":\"Too few or too many parameters\"},\"id\":93}");
	check("{\"jsonrpc\":\"2.0\",\"method\":\"event_subscribe\",\"params\":{\"socket\":\"udp:127.0.0.1:9901\"},\"id\":94}",
	      "{\"jsonrpc\":\"2.0\",\"error\":{\"code\":-32602,\"message\":\"Invalid params\",\"data\":\"Too few or too many parameters\"},\"id\":94}");
	check("{\"jsonrpc\":\"2.0\",\"method\":\"event_subscribe\",\"params\":[\"E_NO_SUCH_EVENT\",\"udp:127.0.0.1:9901\"],\"id\":100}",
	      "{\"jsonrpc\":\"2.0\",\"error\":{\"code\":400,\"message\":\"Bad parameter value\"},\"id\":100}");
	check("{\"jsonrpc\":\"2.0\",\"method\":\"event_subscribe\",\"params\":[\"E_CORE_LOG\",\"bogus:127.0.0.1:1\"],\"id\":101}",
	      "{\"jsonrpc\":\"2.0\",\"error\":{\"code\":400,\"message\":\"Bad parameter value\"},\"id\":101}");
	check("{\"jsonrpc\":\"2.0\",\"method\":\"evi:subscribe\",\"params\":[\"E_CORE_LOG\",\"udp:1.1.1.1:1\",-1],\"id\":1}",
	      "{\"jsonrpc\":\"2.0\",\"error\":{\"code\":-32602,\"message\":\"Invalid params\",\"data\":\"Negative expire value\"},\"id\":1}");
	check("{\"jsonrpc\":\"2.0\",\"method\":\"evi:subscribe\",\"params\":[\"\",\"udp:1.1.1.1:1\"],\"id\":1}",
	      "{\"jsonrpc\":\"2.0\",\"error\":{\"code\":-32602,\"message\":\"Invalid params\",\"data\":\"Bad type for parameter 'event'\"},\"id\":1}");
	check("{\"jsonrpc\":\"2.0\",\"method\":\"evi:subscribe\",\"params\":[\"E_CORE_LOG\",\"\"],\"id\":1}",
	      "{\"jsonrpc\":\"2.0\",\"error\":{\"code\":-32602,\"message\":\"Invalid params\",\"data\":\"Bad type for parameter 'socket'\"},\"id\":1}");
	check("{\"jsonrpc\":\"2.0\",\"method\":\"evi:subscribe\",\"params\":[\"E_CORE_LOG\",\"udp:1.1.1.1:1\",\"x\"],\"id\":1}",
	      "{\"jsonrpc\":\"2.0\",\"error\":{\"code\":-32602,\"message\":\"Invalid params\",\"data\":\"Bad type for parameter 'expire'\"},\"id\":1}");
	assert_int_equal(shim::evi_subscriber_stats(-1).size(), 0);
}

void raise(void **)
{
	check("{\"jsonrpc\":\"2.0\",\"method\":\"raise_event\",\"params\":[\"E_REF_SCRIPT\"],\"id\":50}",
	      "{\"jsonrpc\":\"2.0\",\"error\":{\"code\":480,\"message\":\"Temporarily Unavailable\"},\"id\":50}");
	check("{\"jsonrpc\":\"2.0\",\"method\":\"raise_event\",\"params\":[\"E_NOPE\"],\"id\":1}",
	      "{\"jsonrpc\":\"2.0\",\"error\":{\"code\":404,\"message\":\"Event not registered\"},\"id\":1}");
	check("{\"jsonrpc\":\"2.0\",\"method\":\"event_subscribe\",\"params\":[\"E_REF_SCRIPT\",\"udp:127.0.0.1:9901\"],\"id\":51}",
	      "{\"jsonrpc\":\"2.0\",\"result\":\"OK\",\"id\":51}");
	const std::string ok = "{\"jsonrpc\":\"2.0\",\"result\":\"OK\",\"id\":";
	check("{\"jsonrpc\":\"2.0\",\"method\":\"raise_event\",\"params\":[\"E_REF_SCRIPT\"],\"id\":52}", ok + "52}");
	check("{\"jsonrpc\":\"2.0\",\"method\":\"raise_event\",\"params\":{\"event\":\"E_REF_SCRIPT\",\"params\":\"{\\\"a\\\": 1, \\\"b\\\": \\\"x\\\"}\"},\"id\":53}", ok + "53}");
	check("{\"jsonrpc\":\"2.0\",\"method\":\"raise_event\",\"params\":{\"event\":\"E_REF_SCRIPT\",\"params\":[\"one\",2,\"3\"]},\"id\":54}", ok + "54}");
	check("{\"jsonrpc\":\"2.0\",\"method\":\"evi:raise\",\"params\":{\"event\":\"E_REF_SCRIPT\",\"params\":\"{\\\"t\\\":true,\\\"n\\\":null,\\\"o\\\":{\\\"x\\\":[1,\\\"y\\\"]},\\\"f\\\":2.9}\"},\"id\":55}", ok + "55}");
	check("{\"jsonrpc\":\"2.0\",\"method\":\"evi:raise\",\"params\":{\"event\":\"E_REF_SCRIPT\",\"params\":[]},\"id\":56}", ok + "56}");
	drain();
	auto g = got();
	assert_int_equal(g.size(), 5);
	assert_string_equal(g[0].payload.c_str(), "{\"jsonrpc\":\"2.0\",\"method\":\"E_REF_SCRIPT\"}");
	assert_string_equal(g[1].payload.c_str(), "{\"jsonrpc\":\"2.0\",\"method\":\"E_REF_SCRIPT\",\"params\":{\"a\":1,\"b\":\"x\"}}");
	assert_string_equal(g[2].payload.c_str(), "{\"jsonrpc\":\"2.0\",\"method\":\"E_REF_SCRIPT\",\"params\":{\"\":\"one\",\"\":\"2\",\"\":\"3\"}}");
	assert_string_equal(g[3].payload.c_str(), "{\"jsonrpc\":\"2.0\",\"method\":\"E_REF_SCRIPT\",\"params\":{\"t\":\"null\",\"n\":\"null\",\"o\":\"{\\\"x\\\":[1,\\\"y\\\"]}\",\"f\":2}}");
	assert_string_equal(g[4].payload.c_str(), "{\"jsonrpc\":\"2.0\",\"method\":\"E_REF_SCRIPT\"}");
	// wrong shapes
	check("{\"jsonrpc\":\"2.0\",\"method\":\"raise_event\",\"params\":{\"event\":\"E_REF_SCRIPT\",\"params\":{\"a\":1}},\"id\":2}",
	      "{\"jsonrpc\":\"2.0\",\"error\":{\"code\":400,\"message\":\"No Params\"},\"id\":2}");
	check("{\"jsonrpc\":\"2.0\",\"method\":\"raise_event\",\"params\":{\"event\":\"E_REF_SCRIPT\",\"params\":\"{bad\"},\"id\":3}",
	      "{\"jsonrpc\":\"2.0\",\"error\":{\"code\":400,\"message\":\"Bad Params\"},\"id\":3}");
	check("{\"jsonrpc\":\"2.0\",\"method\":\"raise_event\",\"params\":{\"event\":\"E_REF_SCRIPT\",\"params\":\"[1,2]\"},\"id\":4}",
	      "{\"jsonrpc\":\"2.0\",\"error\":{\"code\":400,\"message\":\"Bad Params\"},\"id\":4}");
	drain();
	assert_int_equal(got().size(), 5);
	// reference record 53: a core event with named params from a string
	assert_int_equal(subscribe("E_CORE_THRESHOLD", "udp:127.0.0.1:9901", 600, true), 0);
	check("{\"jsonrpc\":\"2.0\",\"method\":\"raise_event\",\"params\":{\"event\":\"E_CORE_THRESHOLD\",\"params\":\"{\\\"source\\\": \\\"manual\\\", \\\"time\\\": 1, \\\"extra\\\": \\\"via MI\\\"}\"},\"id\":57}", ok + "57}");
	drain();
	assert_string_equal(got()[5].payload.c_str(), "{\"jsonrpc\":\"2.0\",\"method\":\"E_CORE_THRESHOLD\",\"params\":{\"source\":\"manual\",\"time\":1,\"extra\":\"via MI\"}}");
}

void subscriber_stats(void **)
{
	assert_int_equal(subscribe("E_REF_SCRIPT", "udp:127.0.0.1:9901", 60, true), 0);
	evi_raise_event(9, nullptr);
	check("{\"jsonrpc\":\"2.0\",\"method\":\"evi:subscriber_stats\",\"id\":1}",
	      "{\"jsonrpc\":\"2.0\",\"result\":{\"Subscribers\":[{\"event\":\"E_REF_SCRIPT\",\"socket\":\"udp:127.0.0.1:9901\",\"delivered\":0,\"dropped\":0,\"failed\":0,\"queued\":1,\"inflight\":0}]},\"id\":1}");
	drain();
	check("{\"jsonrpc\":\"2.0\",\"method\":\"evi:subscriber_stats\",\"params\":[\"E_REF_SCRIPT\"],\"id\":1}",
	      "{\"jsonrpc\":\"2.0\",\"result\":{\"Subscribers\":[{\"event\":\"E_REF_SCRIPT\",\"socket\":\"udp:127.0.0.1:9901\",\"delivered\":1,\"dropped\":0,\"failed\":0,\"queued\":0,\"inflight\":0}]},\"id\":1}");
	check("{\"jsonrpc\":\"2.0\",\"method\":\"evi:subscriber_stats\",\"params\":[\"E_CORE_LOG\"],\"id\":1}",
	      "{\"jsonrpc\":\"2.0\",\"result\":{\"Subscribers\":[]},\"id\":1}");
	check("{\"jsonrpc\":\"2.0\",\"method\":\"evi:subscriber_stats\",\"params\":[\"E_X\"],\"id\":1}",
	      "{\"jsonrpc\":\"2.0\",\"error\":{\"code\":404,\"message\":\"Event not published\"},\"id\":1}");
}

void which_lists(void **)
{
	check("{\"jsonrpc\":\"2.0\",\"method\":\"which\",\"params\":[\"evi:\"],\"id\":1}",
	      "{\"jsonrpc\":\"2.0\",\"result\":[\"evi:subscribe\",\"evi:list\",\"evi:subscribers\",\"evi:raise\",\"evi:subscriber_stats\"],\"id\":1}");
}

} // namespace

int main()
{
	shim::mi_register_core_commands();
	shim::evi_init();
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup(events_list, setup),
	    cmocka_unit_test_setup(subscribe_and_list, setup),
	    cmocka_unit_test_setup(subscribe_errors, setup),
	    cmocka_unit_test_setup(raise, setup),
	    cmocka_unit_test_setup(subscriber_stats, setup),
	    cmocka_unit_test_setup(which_lists, setup),
	};
	return cmocka_run_group_tests(tests, nullptr, nullptr);
}
