// event_profiling (modules/event_profiling): publication, record -> event
// parameters (spec §4.1: ten parameters in order, reset ones present
// without a value), core:profiling_proc recipes, results and errors (spec
// §4.2), event_profiling:stats, and records travelling through the real
// EVI core to a test transport.
//
// The module's objects are linked into this binary (Makefile unit_mod).
#include <string.h>

#include <string>
#include <vector>

#include "evi/evi_core.h"
#include "opensips/evi.h"
#include "opensips/evi_transport.h"
#include "opensips/host.h"
#include "opensips/mi.h"
#include "opensips/profiling.h"
#include "opensips/sr_module.h"
#include "proc/roster.h"
#include "profiling/prof_core.h"
#include "../../../../modules/event_profiling/prof_params.h"

#include "../../cmocka_cxx.h" // last

extern "C" struct module_exports exports;

namespace {

// ---- a test transport keeping what it is given ----
struct param {
	std::string name;
	int type; // EVI_INT_VAL, EVI_STR_VAL, 0 = reset
	int n;
	std::string s;
};
struct raised {
	std::string event;
	std::vector<param> params;
};
std::vector<raised> g_raised;

std::vector<param> copy_params(const evi_params_t *params)
{
	std::vector<param> out;
	for (evi_param_p p = params ? params->first : nullptr; p; p = p->next) {
		param x{};
		if (p->name.s) x.name.assign(p->name.s, (size_t)p->name.len);
		x.type = p->flags & (EVI_INT_VAL | EVI_STR_VAL);
		if (x.type == EVI_INT_VAL) x.n = p->val.n;
		if (x.type == EVI_STR_VAL) x.s.assign(p->val.s.s, (size_t)p->val.s.len);
		out.push_back(x);
	}
	return out;
}

int tp_raise_one(evi_reply_sock *, const str *ev, evi_params_t *params)
{
	g_raised.push_back({std::string(ev->s, (size_t)ev->len), copy_params(params)});
	return 0;
}
evi_reply_sock *tp_parse(str) { return (evi_reply_sock *)calloc(1, sizeof(evi_reply_sock)); }
int tp_match(evi_reply_sock *, evi_reply_sock *) { return 1; }
void tp_free(evi_reply_sock *s) { free(s); }
str tp_print(evi_reply_sock *)
{
	static char t[] = "x";
	return str{t, 1};
}
int tp_raise(evi_delivery *d) { return evi_deliver_each(d, tp_raise_one); }
const evi_export_t test_transport = {sizeof(evi_export_t), str_init("eptest"), tp_raise, tp_parse,
                                     tp_match, tp_free, tp_print, 0, nullptr};

std::string call(const std::string &method, const std::string &params)
{
	std::string req = "{\"jsonrpc\":\"2.0\",\"method\":\"" + method + "\"" +
	                  (params.empty() ? "" : ",\"params\":" + params) + ",\"id\":1}";
	char *reply = nullptr;
	int len = 0;
	int rc = mi_run_jsonrpc(req.data(), (int)req.size(), 0, "test", &reply, &len);
	std::string out = rc == MI_RUN_REPLY && reply ? std::string(reply, len) : "<none>";
	mi_free_reply(reply);
	return out;
}

std::string ok(const std::string &result)
{
	return "{\"jsonrpc\":\"2.0\",\"result\":" + result + ",\"id\":1}";
}

std::string err_data(const char *data)
{
	return std::string("{\"jsonrpc\":\"2.0\",\"error\":{\"code\":-32602,"
	                   "\"message\":\"Invalid params\",\"data\":\"") +
	       data + "\"},\"id\":1}";
}

int id_of(const char *name)
{
	str s{(char *)name, (int)strlen(name)};
	return evi_get_id(&s);
}

// ---- tests ----

void publication(void **)
{
	assert_int_equal(id_of("E_PROFILING_SCRIPT"), 0);
	assert_int_equal(id_of("E_PROFILING_PROC"), 1);
}

std::vector<param> params_of(const shim_prof_record &r)
{
	event_profiling::param_buf b;
	event_profiling::build_params(&r, &b);
	assert_int_equal(b.list.flags & EVI_FREE_LIST, 0);
	return copy_params(&b.list);
}

void record_to_params(void **)
{
	static const char *const names[] = {"sec", "usec", "session", "verb", "name",
	                                    "type", "depth", "file", "line", "status"};
	shim_prof_record r{};
	r.sec = 1795351066;
	r.usec = 681524;
	r.session = 25535;
	r.name = "SIP receiver udp:127.0.0.1:5060";
	r.file = "handle_io";
	r.line = 323;
	r.status = 5;
	r.type = 1;
	r.depth = 2;
	r.event = SHIM_PROF_EV_PROC;
	// which verbs carry file/line (enter, exit) and status (exit, end)
	const struct {
		int verb;
		const char *text;
		bool file_line, status;
	} cases[] = {{SHIM_PROF_VERB_START, "start", false, false},
	             {SHIM_PROF_VERB_ENTER, "enter", true, false},
	             {SHIM_PROF_VERB_EXIT, "exit", true, true},
	             {SHIM_PROF_VERB_END, "end", false, true}};
	for (auto &c : cases) {
		r.verb = (unsigned char)c.verb;
		auto p = params_of(r);
		assert_int_equal(p.size(), 10);
		for (int i = 0; i < 10; i++) assert_string_equal(p[i].name.c_str(), names[i]);
		assert_int_equal(p[0].type, EVI_INT_VAL);
		assert_int_equal(p[0].n, 1795351066);
		assert_int_equal(p[1].n, 681524);
		assert_int_equal(p[2].n, 25535);
		assert_int_equal(p[3].type, EVI_STR_VAL);
		assert_string_equal(p[3].s.c_str(), c.text);
		assert_string_equal(p[4].s.c_str(), "SIP receiver udp:127.0.0.1:5060");
		assert_int_equal(p[5].n, 1);
		assert_int_equal(p[6].n, 2);
		assert_int_equal(p[7].type, c.file_line ? EVI_STR_VAL : 0);
		assert_int_equal(p[8].type, c.file_line ? EVI_INT_VAL : 0);
		if (c.file_line) {
			assert_string_equal(p[7].s.c_str(), "handle_io");
			assert_int_equal(p[8].n, 323);
		}
		assert_int_equal(p[9].type, c.status ? EVI_INT_VAL : 0);
		if (c.status) assert_int_equal(p[9].n, 5);
	}
	r.name = nullptr; // the main route
	r.verb = SHIM_PROF_VERB_START;
	assert_string_equal(params_of(r)[4].s.c_str(), "<root>");
}

void profiling_proc_recipes(void **)
{
	shim::roster_reset();
	int a = shim::roster_add("attendant", shim::PROC_TYPE_NONE);
	shim::roster_bind_self(a);
	int u = shim::roster_add("SIP receiver udp:127.0.0.1:5060", shim::PROC_TYPE_UDP);
	shim::roster_get(u)->pid.store(4242);
	std::string me = std::to_string(shim_my_pid());
	const std::string all0 =
	    "{\"Processes\":[{\"ID\":0,\"PID\":" + me +
	    ",\"Profiling level\":0,\"Type\":\"attendant\"},{\"ID\":1,\"PID\":4242,"
	    "\"Profiling level\":0,\"Type\":\"SIP receiver udp:127.0.0.1:5060\"}]}";
	assert_string_equal(call("core:profiling_proc", "").c_str(), ok(all0).c_str());
	// the unique local name works too
	assert_string_equal(call("profiling_proc", "{}").c_str(), ok(all0).c_str());
	const std::string one0 =
	    "{\"Processes\":[{\"ID\":1,\"PID\":4242,\"Profiling level\":0,"
	    "\"Type\":\"SIP receiver udp:127.0.0.1:5060\"}]}";
	assert_string_equal(call("profiling_proc", "{\"id\":1}").c_str(), ok(one0).c_str());
	assert_string_equal(call("profiling_proc", "{\"pid\":4242}").c_str(), ok(one0).c_str());
	// errors
	assert_string_equal(call("profiling_proc", "{\"id\":2}").c_str(),
	                    err_data("Bad process ID").c_str());
	assert_string_equal(call("profiling_proc", "{\"id\":-1}").c_str(),
	                    err_data("Bad process ID").c_str());
	assert_string_equal(call("profiling_proc", "{\"pid\":1}").c_str(),
	                    err_data("Bad PID").c_str());
	assert_string_equal(call("profiling_proc", "{\"id\":7,\"level\":1}").c_str(),
	                    err_data("Bad process ID").c_str());
	assert_string_equal(call("profiling_proc", "{\"pid\":7,\"level\":1}").c_str(),
	                    err_data("Bad PID").c_str());
	// setting: one by id, one by pid, all; clamped to 0..3
	assert_string_equal(call("profiling_proc", "{\"id\":1,\"level\":2}").c_str(),
	                    ok("\"OK\"").c_str());
	assert_int_equal(shim::roster_get(1)->profiling_level.load(), 2);
	assert_int_equal(shim::roster_get(0)->profiling_level.load(), 0);
	assert_int_equal(shim_prof_proc_armed, 1);
	assert_string_equal(call("profiling_proc", "{\"pid\":4242,\"level\":99}").c_str(),
	                    ok("\"OK\"").c_str());
	assert_int_equal(shim::roster_get(1)->profiling_level.load(), 3);
	assert_string_equal(call("profiling_proc", "{\"level\":1}").c_str(), ok("\"OK\"").c_str());
	assert_int_equal(shim::roster_get(0)->profiling_level.load(), 1);
	assert_int_equal(shim::roster_get(1)->profiling_level.load(), 1);
	assert_string_equal(call("profiling_proc", "{\"id\":0}").c_str(),
	                    ok("{\"Processes\":[{\"ID\":0,\"PID\":" + me +
	                       ",\"Profiling level\":1,\"Type\":\"attendant\"}]}")
	                        .c_str());
	assert_string_equal(call("profiling_proc", "{\"level\":-5}").c_str(), ok("\"OK\"").c_str());
	assert_int_equal(shim::roster_get(1)->profiling_level.load(), 0);
	assert_int_equal(shim_prof_proc_armed, 0);
	// a slot that is not running is still listed (all slots)
	assert_true(call("profiling_proc", "").find("\"ID\":1") != std::string::npos);
}

void events_end_to_end(void **)
{
	// roster from the previous test: this thread is `attendant`, level 1
	shim_prof_set_level(0, 1);
	shim::prof_test_reset_thread();
	str sock = str_init("eptest:x");
	str proc = str_init("E_PROFILING_PROC");
	str script = str_init("E_PROFILING_SCRIPT");
	// no subscriber yet: nothing recorded
	SHIM_PROF_START(SHIM_PROF_SIP, nullptr, 0);
	SHIM_PROF_END(SHIM_PROF_SIP, 0);
	shim::prof_drain((size_t)-1);
	shim::evi_dispatch_pending(1000);
	assert_int_equal(g_raised.size(), 0);

	assert_int_equal(shim::evi_subscribe(proc, sock, 0, false), 0);
	assert_int_equal(shim::evi_subscribe(script, sock, 0, false), 0);
	SHIM_PROF_START(SHIM_PROF_SIP, nullptr, 1);
	SHIM_PROF_ENTER(SHIM_PROF_SIP, "receive_msg", 0);
	shim::prof_script_record(SHIM_PROF_VERB_START, nullptr, REQUEST_ROUTE, 1,
	                         nullptr, 0, 0, 17);
	shim::prof_script_record(SHIM_PROF_VERB_END, nullptr, REQUEST_ROUTE, 1,
	                         nullptr, 0, 1, 17);
	SHIM_PROF_EXIT(SHIM_PROF_SIP, "receive_msg", -1);
	SHIM_PROF_END(SHIM_PROF_SIP, 0);
	assert_int_equal(shim::prof_drain((size_t)-1), 6);
	shim::evi_dispatch_pending(1000);
	assert_int_equal(g_raised.size(), 6);
	// each event keeps its own order (one queue per subscriber)
	std::vector<raised> pv, sv;
	for (auto &r : g_raised) (r.event == "E_PROFILING_PROC" ? pv : sv).push_back(r);
	g_raised.clear();
	assert_int_equal(pv.size(), 4);
	assert_int_equal(sv.size(), 2);
	assert_string_equal(pv[0].params[3].s.c_str(), "start");
	assert_string_equal(pv[0].params[4].s.c_str(), "attendant");
	assert_int_equal(pv[0].params[2].n, shim_my_pid());
	assert_int_equal(pv[0].params[7].type, 0);
	assert_string_equal(sv[0].event.c_str(), "E_PROFILING_SCRIPT");
	assert_string_equal(sv[0].params[4].s.c_str(), "<root>");
	assert_int_equal(sv[0].params[2].n, 17);
	assert_int_equal(sv[1].params[9].n, 1);
	assert_string_equal(pv[2].params[3].s.c_str(), "exit");
	assert_string_equal(pv[2].params[4].s.c_str(), "receive_msg");
	assert_int_equal(pv[2].params[9].n, -1);
	assert_string_equal(pv[2].params[7].s.c_str(), "events_end_to_end");

	// stats count what went out
	std::string st = call("event_profiling:stats", "");
	assert_true(st.find("\"Records emitted\":6") != std::string::npos);
	assert_true(st.find("\"Sessions dropped\":0") != std::string::npos);
	assert_true(st.find("\"Type\":\"attendant\"") != std::string::npos);
	shim_prof_set_level(-1, 0);
}

int group_setup(void **)
{
	if (register_event_mod(&test_transport) < 0) return -1;
	if (exports.init_f() < 0) return -1;
	// what the loader does after init_f
	return register_mi_mod("event_profiling", exports.mi_cmds);
}

int group_teardown(void **)
{
	exports.destroy_f();
	return 0;
}

} // namespace

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(publication),
	    cmocka_unit_test(record_to_params),
	    cmocka_unit_test(profiling_proc_recipes),
	    cmocka_unit_test(events_end_to_end),
	};
	return cmocka_run_group_tests_name("event_profiling", tests, group_setup,
	                                   group_teardown);
}
