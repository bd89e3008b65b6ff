// Log consumers (core_shim/log/log.cc): level filters, mute states, the
// core:log_level_filter / core:log_mute_state MI commands, the E_CORE_LOG
// hook's parameter values, its recursion guard and suppression (spec §3
// E_CORE_LOG, §5.3).
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <string>
#include <thread>
#include <vector>

#include "api/hooks.h"
#include "settings/globals.h"
#include "log/log.h"
#include "opensips/core_hooks.h"
#include "opensips/dprint.h"
#include "opensips/host.h"
#include "opensips/mi.h"

#include "../cmocka_cxx.h" // last

using namespace shim;

namespace {

struct log_rec {
	std::string time;
	int pid;
	std::string level;
	bool has_module, has_function, has_prefix;
	std::string module, function, prefix, message;
	int message_len;
};
std::vector<log_rec> g_recs;
bool g_log_inside_hook = false;

void fake_log(const char *time, int pid, const char *level, const char *module,
              const char *function, const char *prefix, const char *message,
              int message_len)
{
	log_rec r;
	r.time = time;
	r.pid = pid;
	r.level = level;
	r.has_module = module != nullptr;
	r.has_function = function != nullptr;
	r.has_prefix = prefix != nullptr;
	r.module = module ? module : "";
	r.function = function ? function : "";
	r.prefix = prefix ? prefix : "";
	r.message.assign(message, (size_t)message_len);
	r.message_len = message_len;
	g_recs.push_back(r);
	if (g_log_inside_hook)
		LM_ERR("logged from inside the hook\n");
}

// The cfg defaults, with the event consumer on and stderr muted (quiet
// test output); every test starts from here.
int setup(void **)
{
	g_recs.clear();
	g_log_inside_hook = false;
	g_globals = core_globals{};
	g_globals.log_event_enabled = true;
	g_globals.stderror_enabled = false;
	log_apply_cfg();
	log_set_global_level(L_DBG);
	core_event_hooks h{};
	h.size = sizeof h;
	h.log = fake_log;
	shim_set_core_event_hooks(&h);
	return 0;
}

int teardown(void **)
{
	shim_set_core_event_hooks(nullptr);
	g_globals = core_globals{};
	log_apply_cfg();
	log_set_global_level(L_NOTICE);
	return 0;
}

void test_event_params(void **)
{
	LM_INFO("hello %d\n", 42);
	assert_int_equal(g_recs.size(), 1);
	const log_rec &r = g_recs[0];
	// "Mmm dd hh:mm:ss"
	assert_int_equal(r.time.size(), 15);
	assert_true(r.time[3] == ' ' && r.time[6] == ' ' && r.time[9] == ':' &&
	            r.time[12] == ':');
	assert_int_equal(r.pid, shim_my_pid());
	assert_string_equal(r.level.c_str(), "INFO");
	assert_true(r.has_module && r.has_function);
	assert_string_equal(r.module.c_str(), "unit");
	assert_string_equal(r.function.c_str(), "test_event_params");
	assert_false(r.has_prefix);
	assert_string_equal(r.message.c_str(), "hello 42"); // newline stripped
	assert_int_equal(r.message_len, 8);
}

void test_level_names(void **)
{
	shim_log(L_ALERT, "m", "f", "a");
	shim_log(L_CRIT, "m", "f", "c");
	shim_log(L_ERR, "m", "f", "e");
	shim_log(L_WARN, "m", "f", "w");
	shim_log(L_NOTICE, "m", "f", "n");
	shim_log(L_INFO, "m", "f", "i");
	shim_log(L_DBG, "m", "f", "d");
	const char *want[] = {"ALERT", "CRITICAL", "ERROR", "WARNING",
	                      "NOTICE", "INFO", "DBG"};
	assert_int_equal(g_recs.size(), 7);
	for (int i = 0; i < 7; i++)
		assert_string_equal(g_recs[i].level.c_str(), want[i]);
}

// xlog lines come with module == NULL: no module, no function.
void test_xlog_has_no_module(void **)
{
	shim_log(L_NOTICE, nullptr, nullptr, "REFLOG notice line ci=%s\n", "x");
	assert_int_equal(g_recs.size(), 1);
	assert_false(g_recs[0].has_module);
	assert_false(g_recs[0].has_function);
	assert_string_equal(g_recs[0].message.c_str(), "REFLOG notice line ci=x");
}

void test_prefix_has_colon(void **)
{
	g_globals.log_prefix = "edge";
	log_apply_cfg();
	LM_NOTICE("x");
	assert_int_equal(g_recs.size(), 1);
	assert_true(g_recs[0].has_prefix);
	assert_string_equal(g_recs[0].prefix.c_str(), "edge:");
}

void test_one_newline_stripped_and_truncation(void **)
{
	LM_NOTICE("two\n\n");
	assert_string_equal(g_recs[0].message.c_str(), "two\n");
	g_globals.log_msg_buf_size = 10;
	log_apply_cfg();
	LM_NOTICE("0123456789abcdef");
	assert_string_equal(g_recs[1].message.c_str(), "012345678");
	// Longer than the stack buffer: formatted again, up to the cfg size.
	g_globals.log_msg_buf_size = 8192;
	log_apply_cfg();
	std::string big(6000, 'x');
	LM_NOTICE("%s\n", big.c_str());
	assert_int_equal(g_recs[2].message_len, 6000);
	assert_string_equal(g_recs[2].message.c_str(), big.c_str());
}

void test_event_muted_by_default(void **)
{
	g_globals.log_event_enabled = false;
	log_apply_cfg();
	LM_ERR("nobody hears this");
	assert_int_equal(g_recs.size(), 0);
	int muted = -1, filter = -1;
	assert_int_equal(log_consumer_get("event", &muted, &filter), 0);
	assert_int_equal(muted, 1);
	assert_int_equal(filter, 0);
}

// The filter passes when it is 0 or >= the line's level.
void test_event_level_filter(void **)
{
	g_globals.log_event_level_filter = L_WARN;
	log_apply_cfg();
	LM_INFO("info");
	LM_NOTICE("notice");
	LM_WARN("warn");
	LM_ERR("err");
	assert_int_equal(g_recs.size(), 2);
	assert_string_equal(g_recs[0].level.c_str(), "WARNING");
	assert_string_equal(g_recs[1].level.c_str(), "ERROR");
}

// A line must pass the thread's log level before any consumer sees it.
void test_thread_log_level_first(void **)
{
	log_set_global_level(L_WARN);
	LM_NOTICE("dropped");
	shim_log(L_INFO, "m", "f", "dropped too");
	LM_WARN("kept");
	assert_int_equal(g_recs.size(), 1);
	assert_string_equal(g_recs[0].message.c_str(), "kept");
}

// Logs made while the hook runs (the EVI core logging while it raises)
// never come back to the hook.
void test_recursion_guard(void **)
{
	g_log_inside_hook = true;
	LM_NOTICE("outer");
	assert_int_equal(g_recs.size(), 1);
	assert_string_equal(g_recs[0].message.c_str(), "outer");
	g_log_inside_hook = false;
	LM_NOTICE("again"); // the guard was released
	assert_int_equal(g_recs.size(), 2);
}

void test_suppression_depth(void **)
{
	assert_int_equal(shim_log_event_suppress(1), 0);
	LM_ERR("suppressed");
	assert_int_equal(shim_log_event_suppress(1), 1);
	LM_ERR("suppressed");
	assert_int_equal(g_recs.size(), 0);
	// Per thread: another thread still reaches the consumer.
	std::thread t([] { LM_ERR("from another thread"); });
	t.join();
	assert_int_equal(g_recs.size(), 1);
	assert_int_equal(shim_log_event_suppress(0), 2);
	LM_ERR("still suppressed");
	assert_int_equal(g_recs.size(), 1);
	assert_int_equal(shim_log_event_suppress(0), 1);
	assert_int_equal(shim_log_event_suppress(0), 0); // never below 0
	LM_ERR("back");
	assert_int_equal(g_recs.size(), 2);
	assert_string_equal(g_recs[1].message.c_str(), "back");
}

// Runs `fn` with fd 2 sent to a file; returns what was written.
template <class F> std::string capture_stderr(F fn)
{
	char path[] = "/tmp/test_consumers.XXXXXX";
	int fd = mkstemp(path);
	if (fd < 0)
		return "<mkstemp failed>";
	int saved = dup(2);
	dup2(fd, 2);
	fn();
	dup2(saved, 2);
	close(saved);
	std::string out;
	char buf[4096];
	lseek(fd, 0, SEEK_SET);
	ssize_t n;
	while ((n = read(fd, buf, sizeof(buf))) > 0)
		out.append(buf, (size_t)n);
	close(fd);
	unlink(path);
	return out;
}

void emit_lines()
{
	LM_WARN("warn line");
	LM_ERR("err line %d\n", 7);
	shim_log(L_CRIT, nullptr, nullptr, "xlog line");
}

void test_stderror_consumer(void **)
{
	g_globals.stderror_enabled = true;
	g_globals.stderror_level_filter = L_ERR;
	g_globals.log_prefix = "pfx";
	log_apply_cfg();
	std::string out = capture_stderr(emit_lines);
	assert_null(strstr(out.c_str(), "warn line"));
	assert_non_null(strstr(out.c_str(), "pfx:ERROR:unit:emit_lines: err line 7\n"));
	assert_non_null(strstr(out.c_str(), "pfx:CRITICAL: xlog line\n"));
	// The event consumer has its own filter (0): it got all three.
	assert_int_equal(g_recs.size(), 3);
	// Muted: nothing on stderr, the event consumer still gets it.
	log_set_stderr(false);
	out = capture_stderr([] { LM_ERR("muted line"); });
	assert_true(out.empty());
	assert_int_equal(g_recs.size(), 4);
}

std::string mi(const std::string &method, const std::string &params)
{
	std::string req = "{\"jsonrpc\":\"2.0\",\"method\":\"" + method +
	                  "\",\"params\":" + params + ",\"id\":1}";
	char *reply = nullptr;
	int len = 0;
	int rc = mi_run_jsonrpc(req.data(), (int)req.size(), 0, "test", &reply, &len);
	std::string out = rc == MI_RUN_REPLY && reply ? std::string(reply, (size_t)len)
	                                              : "<rc " + std::to_string(rc) + ">";
	mi_free_reply(reply);
	return out;
}

std::string result(const std::string &r)
{
	return "{\"jsonrpc\":\"2.0\",\"result\":" + r + ",\"id\":1}";
}

const std::string k_unknown =
    "{\"jsonrpc\":\"2.0\",\"error\":{\"code\":404,\"message\":\"Unknown log "
    "consumer\"},\"id\":1}";

void test_mi_log_level_filter(void **)
{
	assert_string_equal(mi("core:log_level_filter", "{\"consumer\":\"event\"}").c_str(),
	                    result("{\"Log level filter\":0}").c_str());
	assert_string_equal(
	    mi("core:log_level_filter", "{\"consumer\":\"event\",\"level_filter\":1}").c_str(),
	    result("\"OK\"").c_str());
	assert_string_equal(mi("core:log_level_filter", "[\"event\"]").c_str(),
	                    result("{\"Log level filter\":1}").c_str());
	LM_NOTICE("filtered out");
	LM_WARN("passes");
	assert_int_equal(g_recs.size(), 1);
	// positional set, another consumer
	assert_string_equal(mi("core:log_level_filter", "[\"stderror\",-1]").c_str(),
	                    result("\"OK\"").c_str());
	int filter = 0;
	log_consumer_get("stderror", nullptr, &filter);
	assert_int_equal(filter, -1);
	assert_string_equal(mi("core:log_level_filter", "{\"consumer\":\"syslog\"}").c_str(),
	                    result("{\"Log level filter\":0}").c_str());
	assert_string_equal(mi("core:log_level_filter", "{\"consumer\":\"nope\"}").c_str(),
	                    k_unknown.c_str());
	assert_string_equal(
	    mi("core:log_level_filter", "{\"consumer\":\"nope\",\"level_filter\":1}").c_str(),
	    k_unknown.c_str());
}

void test_mi_log_mute_state(void **)
{
	assert_string_equal(mi("core:log_mute_state", "{\"consumer\":\"event\"}").c_str(),
	                    result("{\"mute state\":0}").c_str());
	assert_string_equal(mi("core:log_mute_state", "{\"consumer\":\"stderror\"}").c_str(),
	                    result("{\"mute state\":1}").c_str());
	assert_string_equal(
	    mi("core:log_mute_state", "{\"consumer\":\"event\",\"mute_state\":1}").c_str(),
	    result("\"OK\"").c_str());
	LM_ERR("muted");
	assert_int_equal(g_recs.size(), 0);
	assert_string_equal(mi("core:log_mute_state", "[\"event\"]").c_str(),
	                    result("{\"mute state\":1}").c_str());
	assert_string_equal(mi("core:log_mute_state", "[\"event\",0]").c_str(),
	                    result("\"OK\"").c_str());
	LM_ERR("heard");
	assert_int_equal(g_recs.size(), 1);
	assert_string_equal(mi("core:log_mute_state", "{\"consumer\":\"Event\"}").c_str(),
	                    k_unknown.c_str());
	assert_string_equal(mi("core:log_mute_state", "[\"x\",1]").c_str(), k_unknown.c_str());
}

} // namespace

int main(void)
{
	log_register_mi();
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_event_params, setup, teardown),
		cmocka_unit_test_setup_teardown(test_level_names, setup, teardown),
		cmocka_unit_test_setup_teardown(test_xlog_has_no_module, setup, teardown),
		cmocka_unit_test_setup_teardown(test_prefix_has_colon, setup, teardown),
		cmocka_unit_test_setup_teardown(test_one_newline_stripped_and_truncation, setup, teardown),
		cmocka_unit_test_setup_teardown(test_event_muted_by_default, setup, teardown),
		cmocka_unit_test_setup_teardown(test_event_level_filter, setup, teardown),
		cmocka_unit_test_setup_teardown(test_thread_log_level_first, setup, teardown),
		cmocka_unit_test_setup_teardown(test_recursion_guard, setup, teardown),
		cmocka_unit_test_setup_teardown(test_suppression_depth, setup, teardown),
		cmocka_unit_test_setup_teardown(test_stderror_consumer, setup, teardown),
		cmocka_unit_test_setup_teardown(test_mi_log_level_filter, setup, teardown),
		cmocka_unit_test_setup_teardown(test_mi_log_mute_state, setup, teardown),
	};
	return cmocka_run_group_tests(tests, nullptr, nullptr);
}
