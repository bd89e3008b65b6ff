// Unit tests of the SR registry, its C API, the core group, the script
// functions and the modparam (modules/status_report; spec §1).
#include <limits.h>
#include <string.h>

#include <string>
#include <thread>
#include <vector>

#include "api/registry.h"
#include "opensips/host.h"
#include "opensips/sr_module.h"
#include "opensips/status_report.h"

#include "../../../../modules/status_report/sr_registry.h"
#include "../../../../modules/status_report/sr_script.h"

#include "../../cmocka_cxx.h" // last

extern "C" struct module_exports exports;

namespace {

struct sr_api g_api;

// Every test starts from an empty registry with only `core` (as load_f
// leaves it).
int setup(void **)
{
	sr::reset_for_tests();
	return sr::core_init();
}

int group_setup(void **)
{
	// load_f: core group, API published, lifecycle listener.
	if (exports.load_f() < 0)
		return -1;
	return load_sr_api(&g_api);
}

std::vector<std::string> report_logs(sr::group *g, const char *id)
{
	sr::id_snapshot s;
	std::vector<std::string> v;
	if (!sr::snapshot(g, id, id ? (int)strlen(id) : -1, true, s))
		return v;
	for (auto &r : s.reports)
		v.push_back(r.log);
	return v;
}

sr::id_snapshot snap(void *g, const char *id)
{
	sr::id_snapshot s;
	sr::snapshot((sr::group *)g, id, id ? (int)strlen(id) : -1, false, s);
	return s;
}

void test_exports(void **)
{
	assert_string_equal(exports.name, "status_report");
	assert_non_null(exports.cmds);
	assert_string_equal(exports.cmds[0].name, "sr_check_status");
	assert_int_equal(exports.cmds[0].flags, ALL_ROUTES);
	assert_string_equal(exports.cmds[1].name, "sr_set_status");
	assert_string_equal(exports.cmds[2].name, "sr_add_report");
	assert_null(exports.cmds[3].name);
	assert_string_equal(exports.params[0].name, "script_sr_group");
	assert_int_equal(exports.params[0].type, USE_FUNC_PARAM | STR_PARAM);
	const char *names[] = {"get", "status", "reports", "identifiers"};
	const char *aliases[] = {"sr_get_status", "sr_list_status",
	                         "sr_list_reports", "sr_list_identifiers"};
	for (int i = 0; i < 4; i++) {
		assert_string_equal(exports.mi_cmds[i].name, names[i]);
		assert_string_equal(exports.mi_cmds[i].aliases[0], aliases[i]);
		assert_null(exports.mi_cmds[i].aliases[1]);
	}
	assert_null(exports.mi_cmds[4].name);
	assert_ptr_equal(shim_find_api(SR_API_NAME), &sr::api_table);
}

void test_core_group(void **)
{
	void *core = g_api.get_group_by_name("core", 4);
	assert_non_null(core);
	assert_int_equal(g_api.get_status(core, nullptr, 0), -100);
	sr::id_snapshot s = snap(core, nullptr);
	assert_string_equal(s.name.c_str(), "main");
	assert_false(s.has_details);
	// private: script writes are refused, internal ones accepted
	assert_int_equal(g_api.set_status(core, nullptr, 0, 5, "x", 1, 1), -1);
	assert_int_equal(g_api.add_report(core, nullptr, 0, "x", 1, 1), -1);
	// 10 report slots
	for (int i = 0; i < 12; i++)
		g_api.add_report_fmt(core, nullptr, 0, 0, "r%d", i);
	auto logs = report_logs((sr::group *)core, nullptr);
	assert_int_equal(logs.size(), 10);
	assert_string_equal(logs.front().c_str(), "r2");
	assert_string_equal(logs.back().c_str(), "r11");
}

std::vector<std::string> g_cb_log;
void record_cb(const str *grp, const str *id, int status, const str *details,
               int old_status, void *param)
{
	char buf[256];
	snprintf(buf, sizeof buf, "%.*s/%.*s %d->%d %s %s", grp->len, grp->s,
	         id->len, id->s, old_status, status,
	         details ? std::string(details->s, details->len).c_str() : "-",
	         (const char *)param);
	g_cb_log.push_back(buf);
}

void test_core_lifecycle(void **)
{
	g_cb_log.clear();
	assert_int_equal(g_api.register_status_cb(record_cb, (void *)"p"), 0);
	void *core = g_api.get_group_by_name("core", 4);

	shim::lifecycle_set(SHIM_STATE_INITIALIZING);
	sr::id_snapshot s = snap(core, nullptr);
	assert_int_equal(s.status, -1);
	assert_string_equal(s.details.c_str(), "initializing");
	shim::lifecycle_set(SHIM_STATE_RUNNING);
	s = snap(core, "MAIN");
	assert_int_equal(s.status, 1);
	assert_string_equal(s.details.c_str(), "running");
	auto logs = report_logs((sr::group *)core, nullptr);
	assert_int_equal(logs.size(), 2);
	assert_string_equal(logs[0].c_str(), "initializing");
	assert_string_equal(logs[1].c_str(),
	                    "initialization completed, ready now");

	shim::lifecycle_set(SHIM_STATE_TERMINATING);
	s = snap(core, nullptr);
	assert_int_equal(s.status, -2);
	assert_string_equal(s.details.c_str(), "shutting down");
	// The shutdown transition adds no report and calls no callback.
	assert_int_equal(report_logs((sr::group *)core, nullptr).size(), 2);
	assert_int_equal(g_cb_log.size(), 2);
	assert_string_equal(g_cb_log[0].c_str(),
	                    "core/main -100->-1 initializing p");
	assert_string_equal(g_cb_log[1].c_str(), "core/main -1->1 running p");
	// A later write replaces the static shutdown text without freeing it.
	sr::core_set_state(SHIM_STATE_RUNNING);
	assert_string_equal(snap(core, nullptr).details.c_str(), "running");
	shim::lifecycle_set(SHIM_STATE_NONE);
}

void test_ring_overflow(void **)
{
	void *g = g_api.register_group_with_identifier("ring", 4, 1, "id", 2, 1,
	                                               nullptr, 0, 3);
	assert_non_null(g);
	for (const char *r : {"one", "two"})
		assert_int_equal(g_api.add_report(g, "id", 2, r, (int)strlen(r), 1),
		                 0);
	auto logs = report_logs((sr::group *)g, "id");
	assert_int_equal(logs.size(), 2);
	assert_string_equal(logs[0].c_str(), "one");
	for (const char *r : {"three", "four", "five"})
		assert_int_equal(g_api.add_report(g, "ID", 2, r, (int)strlen(r), 1),
		                 0);
	logs = report_logs((sr::group *)g, "id");
	assert_int_equal(logs.size(), 3);
	assert_string_equal(logs[0].c_str(), "three");
	assert_string_equal(logs[1].c_str(), "four");
	assert_string_equal(logs[2].c_str(), "five");
	// timestamps are epoch seconds of now
	sr::id_snapshot s;
	sr::snapshot((sr::group *)g, "id", 2, true, s);
	time_t now = time(nullptr);
	assert_true(s.reports[0].ts <= now && s.reports[0].ts >= now - 5);
	// one slot
	void *g1 = g_api.register_group_with_identifier("one", 3, 1, nullptr, 0,
	                                                1, nullptr, 0, 1);
	g_api.add_report(g1, nullptr, 0, "a", 1, 1);
	g_api.add_report(g1, nullptr, 0, "b", 1, 1);
	logs = report_logs((sr::group *)g1, nullptr);
	assert_int_equal(logs.size(), 1);
	assert_string_equal(logs[0].c_str(), "b");
	// printf variant, long text
	std::string big(1000, 'x');
	assert_int_equal(
	    g_api.add_report_fmt(g1, nullptr, 0, 1, "%s-%d", big.c_str(), 7), 0);
	assert_string_equal(report_logs((sr::group *)g1, nullptr)[0].c_str(),
	                    (big + "-7").c_str());
}

void test_max_reports_zero(void **)
{
	void *g = g_api.register_group_with_identifier("zero", 4, 1, nullptr, 0,
	                                               1, nullptr, 0, 0);
	assert_non_null(g);
	assert_int_equal(g_api.add_report(g, nullptr, 0, "x", 1, 1), -1);
	assert_int_equal(report_logs((sr::group *)g, nullptr).size(), 0);
	// unknown identifier
	assert_int_equal(g_api.add_report(g, "nope", 4, "x", 1, 1), -1);
	// max_reports is a short
	assert_int_equal(g_api.register_identifier(g, "s", 1, 1, nullptr, 0, 70000),
	                 0);
	auto id = sr::find_identifier((sr::group *)g, "s", 1);
	assert_int_equal(id->max_reports, (short)70000);
}

void test_xor_rule(void **)
{
	void *pub = g_api.register_group_with_identifier("pub", 3, 1, nullptr, 0,
	                                                 1, nullptr, 0, 5);
	void *priv = g_api.register_group_with_identifier("priv", 4, 0, nullptr,
	                                                  0, 1, nullptr, 0, 5);
	// public group: only public callers
	assert_int_equal(g_api.set_status(pub, nullptr, 0, 2, nullptr, 0, 1), 0);
	assert_int_equal(g_api.set_status(pub, nullptr, 0, 3, nullptr, 0, 0), -1);
	assert_int_equal(g_api.get_status(pub, nullptr, 0), 2);
	assert_int_equal(g_api.add_report(pub, nullptr, 0, "a", 1, 1), 0);
	assert_int_equal(g_api.add_report(pub, nullptr, 0, "b", 1, 0), -1);
	// private group: only internal callers
	assert_int_equal(g_api.set_status(priv, nullptr, 0, 2, nullptr, 0, 0), 0);
	assert_int_equal(g_api.set_status(priv, nullptr, 0, 3, nullptr, 0, 1),
	                 -1);
	assert_int_equal(g_api.get_status(priv, nullptr, 0), 2);
	assert_int_equal(g_api.add_report(priv, nullptr, 0, "a", 1, 0), 0);
	assert_int_equal(g_api.add_report(priv, nullptr, 0, "b", 1, 1), -1);
	// any non-zero is_public counts as public
	assert_int_equal(g_api.set_status(pub, nullptr, 0, 4, nullptr, 0, 7), 0);
	// reads are never restricted
	assert_int_equal(report_logs((sr::group *)priv, nullptr).size(), 1);
}

void test_all_aggregate(void **)
{
	void *empty = g_api.register_group("empty", 5, 1);
	assert_non_null(empty);
	assert_int_equal(g_api.get_status(empty, "all", 3), 1);
	assert_int_equal(g_api.get_status(empty, nullptr, 0), SR_STATUS_NOT_FOUND);

	void *g = g_api.register_group("agg", 3, 1);
	g_api.register_identifier(g, "a", 1, 1, nullptr, 0, 1);
	g_api.register_identifier(g, "b", 1, 2, nullptr, 0, 1);
	assert_int_equal(g_api.get_status(g, "all", 3), 1);
	assert_int_equal(g_api.get_status(g, "ALL", 3), 1);
	assert_int_equal(g_api.get_status(g, "aLl", 3), 1);
	g_api.register_identifier(g, "c", 1, -5, nullptr, 0, 1);
	assert_int_equal(g_api.get_status(g, "All", 3), -1);
	// "*" and "" are ordinary names; "alll" is not "all"
	assert_int_equal(g_api.get_status(g, "*", 1), SR_STATUS_NOT_FOUND);
	assert_int_equal(g_api.get_status(g, "", 0), SR_STATUS_NOT_FOUND);
	assert_int_equal(g_api.get_status(g, "alll", 4), SR_STATUS_NOT_FOUND);
	assert_int_equal(g_api.register_identifier(g, "*", 1, 9, nullptr, 0, 1),
	                 0);
	assert_int_equal(g_api.get_status(g, "*", 1), 9);
	assert_int_equal(g_api.unregister_identifier(g, "c", 1), 0);
	assert_int_equal(g_api.unregister_identifier(g, "c", 1), -1);
	assert_int_equal(g_api.get_status(g, "all", 3), 1);
}

void test_not_found(void **)
{
	void *core = g_api.get_group_by_name("core", 4);
	assert_int_equal(g_api.get_status(core, "nope", 4), INT_MIN);
	assert_int_equal(g_api.set_status(core, "nope", 4, 1, nullptr, 0, 0), -1);
	assert_null(g_api.get_group_by_name("nope", 4));
	assert_null(g_api.get_group_by_name("cor", 3));
	assert_null(g_api.get_group_by_name("core2", 5));
}

void test_case_insensitive(void **)
{
	void *core = g_api.get_group_by_name("CoRe", 4);
	assert_non_null(core);
	assert_ptr_equal(core, g_api.get_group_by_name("core", 4));
	assert_null(g_api.register_group("CORE", 4, 1));
	void *g = g_api.register_group("MyGroup", 7, 1);
	assert_non_null(g);
	assert_ptr_equal(g_api.get_group_by_name("mygroup", 7), g);
	assert_int_equal(g_api.register_identifier(g, "Id", 2, 3, nullptr, 0, 1),
	                 0);
	assert_int_equal(g_api.register_identifier(g, "iD", 2, 3, nullptr, 0, 1),
	                 -1);
	assert_int_equal(g_api.get_status(g, "ID", 2), 3);
	// the registered spelling is kept
	assert_string_equal(sr::identifier_names((sr::group *)g)[0].c_str(),
	                    "Id");
	assert_null(g_api.register_group_with_identifier("mygroup", 7, 1, nullptr,
	                                                 0, 1, nullptr, 0, 1));
}

void test_newest_first(void **)
{
	g_api.register_group("a", 1, 1);
	g_api.register_group("b", 1, 0);
	void *c = g_api.register_group("c", 1, 1);
	auto gs = sr::groups();
	assert_int_equal(gs.size(), 4);
	assert_string_equal(gs[0]->name.c_str(), "c");
	assert_string_equal(gs[1]->name.c_str(), "b");
	assert_string_equal(gs[2]->name.c_str(), "a");
	assert_string_equal(gs[3]->name.c_str(), "core");
	for (const char *i : {"x", "y", "z"})
		g_api.register_identifier(c, i, 1, 1, nullptr, 0, 1);
	auto ids = sr::identifier_names((sr::group *)c);
	assert_int_equal(ids.size(), 3);
	assert_string_equal(ids[0].c_str(), "z");
	assert_string_equal(ids[2].c_str(), "x");
}

void test_zero_becomes_one(void **)
{
	void *g = g_api.register_group_with_identifier("z", 1, 1, nullptr, 0, 0,
	                                               nullptr, 0, 1);
	assert_int_equal(g_api.get_status(g, nullptr, 0), 1);
	g_api.set_status(g, nullptr, 0, -4, nullptr, 0, 1);
	assert_int_equal(g_api.set_status(g, nullptr, 0, 0, nullptr, 0, 1), 0);
	assert_int_equal(g_api.get_status(g, nullptr, 0), 1);
}

void test_details(void **)
{
	void *g = g_api.register_group_with_identifier("d", 1, 1, "main", 4, 1,
	                                               "init", 4, 1);
	sr::id_snapshot s = snap(g, nullptr);
	assert_true(s.has_details);
	assert_string_equal(s.details.c_str(), "init");
	g_api.set_status(g, nullptr, 0, 2, "busy", 4, 1);
	assert_string_equal(snap(g, nullptr).details.c_str(), "busy");
	// same status, new text
	g_api.set_status(g, nullptr, 0, 2, "busier", 6, 1);
	assert_string_equal(snap(g, nullptr).details.c_str(), "busier");
	// no text: details cleared
	g_api.set_status(g, nullptr, 0, 2, nullptr, 0, 1);
	assert_false(snap(g, nullptr).has_details);
}

void test_callbacks(void **)
{
	g_cb_log.clear();
	assert_int_equal(sr::register_status_cb(record_cb, (void *)"q"), 0);
	void *g = g_api.register_group_with_identifier("cb", 2, 1, "Main", 4, 1,
	                                               nullptr, 0, 1);
	g_api.set_status(g, nullptr, 0, 1, "same", 4, 1); // text only
	assert_int_equal(g_cb_log.size(), 0);
	g_api.set_status(g, nullptr, 0, -3, "bad", 3, 1);
	g_api.set_status(g, "MAIN", 4, 2, nullptr, 0, 1);
	g_api.set_status(g, nullptr, 0, 2, "x", 1, 1); // no change
	g_api.set_status(g, nullptr, 0, 2, "x", 1, 0); // forbidden
	g_api.add_report(g, nullptr, 0, "r", 1, 1);    // reports: no callback
	std::vector<std::string> mine;
	for (auto &l : g_cb_log)
		if (l.size() > 1 && l.compare(l.size() - 2, 2, " q") == 0)
			mine.push_back(l);
	assert_int_equal(mine.size(), 2);
	// the registered identifier name, even when called with NULL
	assert_string_equal(mine[0].c_str(), "cb/Main 1->-3 bad q");
	assert_string_equal(mine[1].c_str(), "cb/Main -3->2 - q");
	assert_int_equal(g_api.register_status_cb(nullptr, nullptr), -1);
}

// ---- script side ----

void test_fixup(void **)
{
	str name = str_init("Core");
	void *p = &name;
	assert_int_equal(fixup_sr_group(&p), 0);
	assert_ptr_equal(p, sr::core_group());
	str bad = str_init("nope");
	p = &bad;
	assert_int_equal(fixup_sr_group(&p), -1);
}

void test_script_functions(void **)
{
	assert_int_equal(sr_script_group_param(STR_PARAM, (void *)"  app \t"), 0);
	assert_int_equal(sr_script_group_param(STR_PARAM, (void *)"APP"), -1);
	assert_int_equal(sr_script_group_param(STR_PARAM, (void *)"   "), -1);
	sr::group *app = sr::find_group("app", 3);
	assert_non_null(app);
	assert_string_equal(app->name.c_str(), "app");
	assert_int_equal(app->is_public, 1);
	sr::id_snapshot s = snap(app, nullptr);
	assert_string_equal(s.name.c_str(), "main");
	assert_int_equal(s.status, 1);
	assert_false(s.has_details);
	assert_int_equal(sr::find_identifier(app, nullptr, -1)->max_reports, 50);

	sr::group *core = sr::core_group();
	str main_id = str_init("main");
	str all = str_init("ALL");
	str nope = str_init("nope");
	str star = str_init("*");
	assert_int_equal(w_sr_check_status(nullptr, core, nullptr, 0, 0, 0, 0, 0,
	                                   0),
	                 -100);
	assert_int_equal(w_sr_check_status(nullptr, core, &main_id, 0, 0, 0, 0, 0,
	                                   0),
	                 -100);
	assert_int_equal(w_sr_check_status(nullptr, core, &all, 0, 0, 0, 0, 0, 0),
	                 -1);
	assert_int_equal(w_sr_check_status(nullptr, core, &nope, 0, 0, 0, 0, 0,
	                                   0),
	                 INT_MIN);
	assert_int_equal(w_sr_check_status(nullptr, core, &star, 0, 0, 0, 0, 0,
	                                   0),
	                 INT_MIN);

	int st = -3;
	str det = str_init("app degraded");
	// core is private: refused from the script
	assert_int_equal(w_sr_set_status(nullptr, core, &st, &det, 0, 0, 0, 0, 0),
	                 -1);
	assert_int_equal(w_sr_set_status(nullptr, app, &st, &det, 0, 0, 0, 0, 0),
	                 1);
	assert_int_equal(w_sr_check_status(nullptr, app, nullptr, 0, 0, 0, 0, 0,
	                                   0),
	                 -3);
	assert_string_equal(snap(app, nullptr).details.c_str(), "app degraded");
	int zero = 0;
	assert_int_equal(
	    w_sr_set_status(nullptr, app, &zero, nullptr, 0, 0, 0, 0, 0), 1);
	assert_int_equal(w_sr_check_status(nullptr, app, nullptr, 0, 0, 0, 0, 0,
	                                   0),
	                 1);
	assert_false(snap(app, nullptr).has_details); // details omitted: cleared

	str rep = str_init("report from script");
	assert_int_equal(w_sr_add_report(nullptr, app, &rep, 0, 0, 0, 0, 0, 0), 1);
	assert_int_equal(w_sr_add_report(nullptr, core, &rep, 0, 0, 0, 0, 0, 0),
	                 -1);
	auto logs = report_logs(app, nullptr);
	assert_int_equal(logs.size(), 1);
	assert_string_equal(logs[0].c_str(), "report from script");
	for (int i = 0; i < 60; i++)
		w_sr_add_report(nullptr, app, &rep, 0, 0, 0, 0, 0, 0);
	assert_int_equal(report_logs(app, nullptr).size(), 50);
	// without main
	sr::unregister_identifier(app, nullptr, -1);
	assert_int_equal(w_sr_set_status(nullptr, app, &st, &det, 0, 0, 0, 0, 0),
	                 -1);
	assert_int_equal(w_sr_add_report(nullptr, app, &rep, 0, 0, 0, 0, 0, 0),
	                 -1);
	assert_int_equal(w_sr_check_status(nullptr, app, nullptr, 0, 0, 0, 0, 0,
	                                   0),
	                 INT_MIN);
}

void test_concurrency(void **)
{
	// SIP workers write and check while MI-like readers snapshot.
	void *g = g_api.register_group_with_identifier("conc", 4, 1, nullptr, 0,
	                                               1, nullptr, 0, 20);
	std::atomic<bool> stop{false};
	std::vector<std::thread> ts;
	for (int w = 0; w < 3; w++)
		ts.emplace_back([&, w] {
			for (int i = 0; i < 20000; i++) {
				char txt[32];
				int n = snprintf(txt, sizeof txt, "w%d-%d", w, i);
				g_api.set_status(g, nullptr, 0, (i % 3) - 1, txt, n, 1);
				g_api.add_report(g, nullptr, 0, txt, n, 1);
				int st = g_api.get_status(g, nullptr, 0);
				if (st == 0 || st == INT_MIN)
					abort();
			}
		});
	ts.emplace_back([&] {
		while (!stop.load()) {
			for (auto &s : sr::snapshot_all((sr::group *)g, true))
				if (s.reports.size() > 20)
					abort();
			(void)g_api.get_status(g, "all", 3);
		}
	});
	for (int w = 0; w < 3; w++)
		ts[w].join();
	stop.store(true);
	ts[3].join();
	assert_int_equal(report_logs((sr::group *)g, nullptr).size(), 20);
}

} // namespace

int main()
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup(test_exports, setup),
	    cmocka_unit_test_setup(test_core_group, setup),
	    cmocka_unit_test_setup(test_core_lifecycle, setup),
	    cmocka_unit_test_setup(test_ring_overflow, setup),
	    cmocka_unit_test_setup(test_max_reports_zero, setup),
	    cmocka_unit_test_setup(test_xor_rule, setup),
	    cmocka_unit_test_setup(test_all_aggregate, setup),
	    cmocka_unit_test_setup(test_not_found, setup),
	    cmocka_unit_test_setup(test_case_insensitive, setup),
	    cmocka_unit_test_setup(test_newest_first, setup),
	    cmocka_unit_test_setup(test_zero_becomes_one, setup),
	    cmocka_unit_test_setup(test_details, setup),
	    cmocka_unit_test_setup(test_callbacks, setup),
	    cmocka_unit_test_setup(test_fixup, setup),
	    cmocka_unit_test_setup(test_script_functions, setup),
	    cmocka_unit_test_setup(test_concurrency, setup),
	};
	return cmocka_run_group_tests_name("status_report_registry", tests,
	                                   group_setup, nullptr);
}
