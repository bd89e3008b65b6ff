// The status_report:* MI commands through the real MI core (JSON-RPC in,
// bytes out), compared with the reference transcripts (spec §1.7).
#include <string.h>
#include <time.h>

#include <string>

#include "api/registry.h"
#include "opensips/host.h"
#include "opensips/mi.h"
#include "opensips/sr_module.h"
#include "opensips/status_report.h"

#include "../../../../modules/status_report/sr_registry.h"
#include "../../../../modules/status_report/sr_script.h"

#include "../../cmocka_cxx.h" // last

extern "C" struct module_exports exports;

namespace {

std::string run(const std::string &req)
{
	char *reply = nullptr;
	int len = 0;
	int rc = mi_run_jsonrpc(req.data(), (int)req.size(), 0, "test", &reply,
	                        &len);
	std::string out = rc == MI_RUN_REPLY && reply ? std::string(reply, len)
	                                              : std::string("<none>");
	mi_free_reply(reply);
	return out;
}

std::string call(const std::string &method, const std::string &params,
                 int id = 1)
{
	std::string req = "{\"jsonrpc\":\"2.0\",\"method\":\"" + method + "\"";
	if (!params.empty())
		req += ",\"params\":" + params;
	req += ",\"id\":" + std::to_string(id) + "}";
	return run(req);
}

std::string ok(const std::string &result, int id = 1)
{
	return "{\"jsonrpc\":\"2.0\",\"result\":" + result +
	       ",\"id\":" + std::to_string(id) + "}";
}

std::string err(int code, const std::string &msg, int id = 1)
{
	return "{\"jsonrpc\":\"2.0\",\"error\":{\"code\":" + std::to_string(code) +
	       ",\"message\":\"" + msg + "\"},\"id\":" + std::to_string(id) + "}";
}

// {"Timestamp":..,"Date":..,"Log":..} for each report of group/id.
std::string reports_json(const char *grp, const char *id)
{
	sr::id_snapshot s;
	sr::snapshot(sr::find_group(grp, (int)strlen(grp)), id, (int)strlen(id),
	             true, s);
	std::string out = "[";
	for (size_t i = 0; i < s.reports.size(); i++) {
		char date[64];
		time_t ts = s.reports[i].ts;
		ctime_r(&ts, date);
		date[strlen(date) - 1] = '\0'; // no newline
		if (i)
			out += ",";
		out += "{\"Timestamp\":" + std::to_string((long long)ts) +
		       ",\"Date\":\"" + date + "\",\"Log\":\"" + s.reports[i].log +
		       "\"}";
	}
	return out + "]";
}

// The reference instance: core running, script groups ref_app then
// security.
int setup(void **)
{
	sr::reset_for_tests();
	if (sr::core_init() < 0)
		return -1;
	shim::lifecycle_set(SHIM_STATE_INITIALIZING);
	shim::lifecycle_set(SHIM_STATE_RUNNING);
	if (sr_script_group_param(STR_PARAM, (void *)"ref_app") < 0 ||
	    sr_script_group_param(STR_PARAM, (void *)"security") < 0)
		return -1;
	return 0;
}

int group_setup(void **)
{
	if (exports.load_f() < 0)
		return -1;
	return register_mi_mod("status_report", exports.mi_cmds);
}

void test_get(void **)
{
	const std::string running =
	    "{\"Readiness\":true,\"Status\":1,\"Details\":\"running\"}";
	assert_string_equal(call("sr_get_status", "[\"core\"]", 10).c_str(),
	                    ok(running, 10).c_str());
	assert_string_equal(
	    call("sr_get_status", "{\"group\":\"core\",\"identifier\":\"main\"}",
	         11)
	        .c_str(),
	    ok(running, 11).c_str());
	assert_string_equal(call("sr_get_status", "[\"core\",\"main\"]").c_str(),
	                    ok(running).c_str());
	assert_string_equal(
	    call("status_report:get", "{\"group\":\"core\"}", 21).c_str(),
	    ok(running, 21).c_str());
	assert_string_equal(call("sr_get_status", "[\"CORE\",\"MAIN\"]").c_str(),
	                    ok(running).c_str());
	assert_string_equal(
	    call("sr_get_status", "[\"no_such_group\"]", 13).c_str(),
	    err(404, "Group not found", 13).c_str());
	assert_string_equal(
	    call("sr_get_status", "[\"core\",\"no_such_id\"]", 14).c_str(),
	    err(404, "Identity not found", 14).c_str());
	assert_string_equal(call("sr_get_status", "[123]", 95).c_str(),
	                    err(404, "Group not found", 95).c_str());
	assert_string_equal(call("sr_get_status", "[\"ref_app\"]", 15).c_str(),
	                    ok("{\"Readiness\":true,\"Status\":1}", 15).c_str());
	assert_string_equal(
	    call("sr_get_status", "[\"core\",\"All\"]").c_str(),
	    ok("{\"Readiness\":true,\"Status\":1,\"Details\":\"aggregated\"}")
	        .c_str());

	int st = -3;
	str det = str_init("app degraded");
	w_sr_set_status(nullptr, sr::find_group("ref_app", 7), &st, &det, 0, 0,
	                0, 0, 0);
	assert_string_equal(
	    call("sr_get_status", "[\"ref_app\"]", 41).c_str(),
	    ok("{\"Readiness\":false,\"Status\":-3,\"Details\":\"app degraded\"}",
	       41)
	        .c_str());
	assert_string_equal(
	    call("sr_get_status", "[\"ref_app\",\"all\"]").c_str(),
	    ok("{\"Readiness\":false,\"Status\":-1,\"Details\":\"aggregated\"}")
	        .c_str());
	// empty group: the aggregate is ready, main is unknown
	sr::register_group("empty", 5, 1);
	assert_string_equal(
	    call("sr_get_status", "[\"empty\",\"all\"]").c_str(),
	    ok("{\"Readiness\":true,\"Status\":1,\"Details\":\"aggregated\"}")
	        .c_str());
	assert_string_equal(call("sr_get_status", "[\"empty\"]").c_str(),
	                    err(404, "Identity not found").c_str());
	// recipe errors come from the MI core
	assert_string_equal(
	    call("sr_get_status", "{\"grp\":\"core\"}", 91).c_str(),
	    "{\"jsonrpc\":\"2.0\",\"error\":{\"code\":-32602,\"message\":"
	    "\"Invalid params\",\"data\":\"Named parameters do not match\"},"
	    "\"id\":91}");
}

void test_status(void **)
{
	assert_string_equal(
	    call("sr_list_status", "", 16).c_str(),
	    "{\"jsonrpc\":\"2.0\",\"result\":[{\"Name\":\"security\","
	    "\"Identifiers\":[{\"Name\":\"main\",\"Readiness\":true,\"Status\":1}]"
	    "},{\"Name\":\"ref_app\",\"Identifiers\":[{\"Name\":\"main\","
	    "\"Readiness\":true,\"Status\":1}]},{\"Name\":\"core\","
	    "\"Identifiers\":[{\"Name\":\"main\",\"Readiness\":true,\"Status\":1,"
	    "\"Details\":\"running\"}]}],\"id\":16}");
	assert_string_equal(
	    call("sr_list_status", "[\"core\"]", 17).c_str(),
	    "{\"jsonrpc\":\"2.0\",\"result\":[{\"Name\":\"main\",\"Readiness\":"
	    "true,\"Status\":1,\"Details\":\"running\"}],\"id\":17}");
	assert_string_equal(call("status_report:status", "{}").c_str(),
	                    call("sr_list_status", "").c_str());
	assert_string_equal(call("sr_list_status", "[\"nope\"]").c_str(),
	                    err(404, "Group not found").c_str());
	void *g = sr::register_group("multi", 5, 0);
	sr::register_identifier((sr::group *)g, "a", 1, -1, "down", 4, 1);
	sr::register_identifier((sr::group *)g, "b", 1, 2, nullptr, 0, 1);
	assert_string_equal(
	    call("status_report:status", "{\"group\":\"multi\"}").c_str(),
	    ok("[{\"Name\":\"b\",\"Readiness\":true,\"Status\":2},{\"Name\":\"a\","
	       "\"Readiness\":false,\"Status\":-1,\"Details\":\"down\"}]")
	        .c_str());
	sr::register_group("empty", 5, 1);
	assert_string_equal(call("sr_list_status", "[\"empty\"]").c_str(),
	                    ok("[]").c_str());
	std::string all = call("sr_list_status", "");
	assert_true(all.find("{\"Name\":\"empty\",\"Identifiers\":[]},") !=
	            std::string::npos);
}

void test_identifiers(void **)
{
	assert_string_equal(
	    call("sr_list_identifiers", "", 20).c_str(),
	    "{\"jsonrpc\":\"2.0\",\"result\":[{\"Group\":\"security\","
	    "\"Identifiers\":[\"main\"]},{\"Group\":\"ref_app\",\"Identifiers\":"
	    "[\"main\"]},{\"Group\":\"core\",\"Identifiers\":[\"main\"]}],"
	    "\"id\":20}");
	assert_string_equal(
	    call("sr_list_identifiers", "[\"ref_app\"]", 45).c_str(),
	    "{\"jsonrpc\":\"2.0\",\"result\":{\"Group\":\"ref_app\","
	    "\"Identifiers\":[\"main\"]},\"id\":45}");
	assert_string_equal(call("status_report:identifiers", "[\"x\"]").c_str(),
	                    err(404, "Group not found").c_str());
	sr::register_group("Empty", 5, 1);
	assert_string_equal(
	    call("sr_list_identifiers", "{\"group\":\"EMPTY\"}").c_str(),
	    ok("{\"Group\":\"Empty\",\"Identifiers\":[]}").c_str());
}

void test_reports(void **)
{
	std::string core = reports_json("core", "main");
	// two reports, oldest first
	assert_true(core.find("\"Log\":\"initializing\"},{") != std::string::npos);
	assert_true(core.find("\"Log\":\"initialization completed, ready now\"}]") !=
	            std::string::npos);
	assert_string_equal(call("sr_list_reports", "[\"core\"]", 18).c_str(),
	                    ok("[{\"Name\":\"main\",\"Reports\":" + core + "}]", 18)
	                        .c_str());
	assert_string_equal(
	    call("sr_list_reports", "{\"group\":\"core\",\"identifier\":\"main\"}",
	         19)
	        .c_str(),
	    ok(core, 19).c_str());

	str rep = str_init("report from 127.0.0.1:54234 cid=x");
	w_sr_add_report(nullptr, sr::find_group("ref_app", 7), &rep, 0, 0, 0, 0,
	                0, 0);
	std::string app = reports_json("ref_app", "main");
	assert_string_equal(call("sr_list_reports", "[\"ref_app\"]", 43).c_str(),
	                    ok("[{\"Name\":\"main\",\"Reports\":" + app + "}]", 43)
	                        .c_str());
	assert_string_equal(
	    call("sr_list_reports", "", 7).c_str(),
	    ok("[{\"Name\":\"security\",\"Identifiers\":[{\"Name\":\"main\","
	       "\"Reports\":[]}]},{\"Name\":\"ref_app\",\"Identifiers\":[{\"Name\":"
	       "\"main\",\"Reports\":" +
	           app +
	           "}]},{\"Name\":\"core\",\"Identifiers\":[{\"Name\":\"main\","
	           "\"Reports\":" +
	           core + "}]}]",
	       7)
	        .c_str());
	assert_string_equal(
	    call("sr_list_reports", "[\"core\",\"nope\"]").c_str(),
	    err(404, "Identifier not found").c_str());
	assert_string_equal(call("sr_list_reports", "[\"nope\",\"main\"]").c_str(),
	                    err(404, "Group not found").c_str());
	assert_string_equal(call("status_report:reports", "[\"nope\"]").c_str(),
	                    err(404, "Group not found").c_str());
	// Date: ctime form, e.g. "Sun Nov 22 12:37:13 2026"
	size_t d = core.find("\"Date\":\"");
	assert_true(d != std::string::npos);
	std::string date = core.substr(d + 8, 24);
	assert_int_equal(date.size(), 24);
	assert_true(date[3] == ' ' && date[7] == ' ' && date[10] == ' ' &&
	            date[13] == ':' && date[16] == ':' && date[19] == ' ');
	assert_true(core[d + 8 + 24] == '"');
}

void test_json_escaping(void **)
{
	sr::group *g = sr::register_group("esc", 3, 1);
	sr::register_identifier(g, nullptr, -1, 1, nullptr, 0, 2);
	sr::set_status(g, nullptr, -1, 2, "a\"b\\c\n", 6, 1);
	assert_string_equal(
	    call("sr_get_status", "[\"esc\"]").c_str(),
	    ok("{\"Readiness\":true,\"Status\":2,\"Details\":\"a\\\"b\\\\c\\n\"}")
	        .c_str());
}

} // namespace

int main()
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup(test_get, setup),
	    cmocka_unit_test_setup(test_status, setup),
	    cmocka_unit_test_setup(test_identifiers, setup),
	    cmocka_unit_test_setup(test_reports, setup),
	    cmocka_unit_test_setup(test_json_escaping, setup),
	};
	return cmocka_run_group_tests_name("status_report_mi", tests, group_setup,
	                                   nullptr);
}
