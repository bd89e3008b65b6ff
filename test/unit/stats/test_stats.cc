// The statistics registry (core_shim/stats/): per-thread shards summed by
// readers, reset by base, gauges and computed statistics, per-item and
// per-thread statistics, lookup rules, walk order, and the MI commands'
// replies (statistics:get/list/reset/reset_all) through the JSON-RPC core.
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "mi/mi_core.h"
#include "opensips/mi.h"
#include "stats/stats.h"

#include "../cmocka_cxx.h" // last

namespace {

int setup(void **)
{
	shim::stats_destroy();
	return 0;
}

unsigned long forty_two(void *p) { return p ? *(unsigned long *)p : 42; }

void test_counters_across_threads(void **)
{
	stat_var *v = nullptr;
	assert_int_equal(register_stat("t", "hits", &v, 0), 0);
	assert_non_null(v);
	std::vector<std::thread> ths;
	for (int t = 0; t < 4; t++)
		ths.emplace_back([v] {
			for (int i = 0; i < 100000; i++)
				update_stat(v, 1);
		});
	for (auto &t : ths)
		t.join();
	update_stat(v, 5);
	assert_int_equal(get_stat_val(v), 400005);
	// the same name again hands back the same statistic
	stat_var *again = nullptr;
	assert_int_equal(register_stat("T", "hits", &again, 0), 0);
	assert_ptr_equal(again, v);
	reset_stat(v);
	assert_int_equal(get_stat_val(v), 0);
	update_stat(v, 3);
	assert_int_equal(get_stat_val(v), 3);
}

void test_gauges_and_functions(void **)
{
	stat_var *g = nullptr;
	assert_int_equal(register_stat("t", "level", &g, STAT_NO_RESET), 0);
	update_stat(g, 10);
	update_stat(g, -4);
	reset_stat(g); // a gauge is left alone
	assert_int_equal(get_stat_val(g), 6);
	set_stat(g, 100);
	assert_int_equal(get_stat_val(g), 100);
	unsigned long src = 7;
	assert_int_equal(register_stat2("t", "computed", (stat_var **)(void *)forty_two,
	                                STAT_IS_FUNC, &src, 0), 0);
	stat_var *f = get_stat("t:computed");
	assert_non_null(f);
	assert_int_equal(get_stat_val(f), 7);
	reset_stat(f);
	assert_int_equal(get_stat_val(f), 7);
	// a computed counter resets by base
	unsigned long total = 50;
	assert_int_equal(register_stat2("t", "grows", (stat_var **)(void *)forty_two,
	                                STAT_IS_FUNC | STAT_COUNTER, &total, 0), 0);
	stat_var *c = get_stat("grows");
	reset_stat(c);
	total = 58;
	assert_int_equal(get_stat_val(c), 8);
	assert_true(shim::stat_incremental(c));
	assert_false(shim::stat_incremental(f));
	assert_false(shim::stat_incremental(g));
	// the kind of an existing name cannot change
	stat_var *x = nullptr;
	assert_int_equal(register_stat("t", "computed", &x, 0), -1);
}

void test_items_and_lookup(void **)
{
	const char *ln[] = {"event", "transport"};
	const char *lv[] = {"E_X", "udp"};
	stat_var *a = register_item_stat("evi", "delivered", "help text", 0, 2, ln, lv);
	assert_non_null(a);
	assert_ptr_equal(register_item_stat("evi", "delivered", nullptr, 0, 2, ln, lv), a);
	assert_ptr_equal(get_stat("evi:delivered/E_X/udp"), a);
	assert_ptr_equal(get_stat("delivered/E_X/udp"), a);
	assert_null(get_stat("delivered")); // the family is no statistic
	assert_ptr_equal(get_stat("EVI:delivered/E_X/udp"), a); // group: any case
	assert_null(get_stat("evi:DELIVERED/E_X/udp"));          // name: exact
	struct stat_info si;
	shim::stats_fill_info(a, &si);
	assert_string_equal(si.family, "delivered");
	assert_string_equal(si.help, "help text");
	assert_int_equal(si.nlabels, 2);
	assert_string_equal(si.label_names[1], "transport");
	assert_string_equal(si.label_values[0], "E_X");
	assert_int_equal(si.proc_id, -1);
	stat_var *p = register_proc_stat("pkmem", "3-used_size", "used_size", 3, STAT_NO_RESET,
	                                 forty_two, nullptr);
	assert_non_null(p);
	shim::stats_fill_info(p, &si);
	assert_int_equal(si.proc_id, 3);
	assert_string_equal(si.family, "used_size");
	assert_int_equal(si.value, 42);
}

int count_visit(const struct stat_info *s, void *param)
{
	auto *names = (std::vector<std::string> *)param;
	names->push_back(std::string(s->group) + ":" + s->name);
	return 0;
}

void test_walk_order(void **)
{
	stat_var *v;
	register_stat("b", "one", &v, 0);
	register_stat("a", "one", &v, 0);
	register_stat("b", "two", &v, 0); // joins its group, not the end
	std::vector<std::string> names;
	stats_walk(count_visit, &names);
	assert_int_equal(names.size(), 3);
	assert_string_equal(names[0].c_str(), "b:one");
	assert_string_equal(names[1].c_str(), "b:two");
	assert_string_equal(names[2].c_str(), "a:one");
	// bare names: the first registered wins
	assert_ptr_equal(get_stat("one"), get_stat("b:one"));
}

std::string run(const char *req)
{
	char *out = nullptr;
	int len = 0;
	int rc = mi_run_jsonrpc(req, (int)strlen(req), 0, "unit", &out, &len);
	std::string r = rc == MI_RUN_REPLY && out ? std::string(out, (size_t)len) : "";
	mi_free_reply(out);
	return r;
}

void test_mi_commands(void **)
{
	static bool registered = false;
	if (!registered) {
		assert_int_equal(shim::stats_mi_register(), 0);
		registered = true;
	}
	stat_var *rq, *lvl;
	register_stat("core", "rcv_requests", &rq, 0);
	register_stat("shmem", "used_size", &lvl, STAT_NO_RESET);
	update_stat(rq, 7);
	update_stat(lvl, 900);
	assert_string_equal(run(R"({"jsonrpc":"2.0","method":"statistics:get","params":{"statistics":["rcv_requests","used_size","nosuch"]},"id":1})").c_str(),
	                    R"({"jsonrpc":"2.0","result":{"core:rcv_requests":7,"shmem:used_size":900},"id":1})");
	assert_string_equal(run(R"({"jsonrpc":"2.0","method":"get_statistics","params":[["CORE:","core:rcv_requests"]],"id":2})").c_str(),
	                    R"({"jsonrpc":"2.0","result":{"core:rcv_requests":7,"core:rcv_requests":7},"id":2})");
	assert_string_equal(run(R"({"jsonrpc":"2.0","method":"statistics:list","params":{"statistics":["rcv_requests","shmem:"]},"id":3})").c_str(),
	                    R"({"jsonrpc":"2.0","result":{"rcv_requests":"incremental","shmem:used_size":"non-incremental"},"id":3})");
	assert_string_equal(run(R"({"jsonrpc":"2.0","method":"statistics:list","params":{"statistics":["all"]},"id":4})").c_str(),
	                    R"({"jsonrpc":"2.0","result":{},"id":4})");
	assert_string_equal(run(R"({"jsonrpc":"2.0","method":"statistics:reset","params":{"statistics":["core:"]},"id":5})").c_str(),
	                    R"({"jsonrpc":"2.0","error":{"code":404,"message":"Statistics Not Found"},"id":5})");
	assert_string_equal(run(R"({"jsonrpc":"2.0","method":"statistics:reset","params":{"statistics":["used_size","rcv_requests"]},"id":6})").c_str(),
	                    R"({"jsonrpc":"2.0","result":"OK","id":6})");
	assert_int_equal(get_stat_val(rq), 0);
	assert_int_equal(get_stat_val(lvl), 900);
	assert_string_equal(run(R"({"jsonrpc":"2.0","method":"statistics:get","params":{"statistics":[]},"id":7})").c_str(),
	                    R"({"jsonrpc":"2.0","error":{"code":-32602,"message":"Invalid params","data":"Empty array in parameter 'statistics'"},"id":7})");
	// a string: blank-separated names (ours; the reference refuses it)
	assert_string_equal(run(R"({"jsonrpc":"2.0","method":"statistics:get","params":["core: used_size"],"id":8})").c_str(),
	                    R"({"jsonrpc":"2.0","result":{"core:rcv_requests":0,"shmem:used_size":900},"id":8})");
	assert_string_equal(run(R"({"jsonrpc":"2.0","method":"statistics:get","params":{"statistics":{"a":1}},"id":8})").c_str(),
	                    R"({"jsonrpc":"2.0","error":{"code":-32602,"message":"Invalid params","data":"Bad type for parameter 'statistics'"},"id":8})");
	update_stat(rq, 2);
	assert_string_equal(run(R"({"jsonrpc":"2.0","method":"statistics:reset_all","id":9})").c_str(),
	                    R"({"jsonrpc":"2.0","result":"OK","id":9})");
	assert_int_equal(get_stat_val(rq), 0);
}

} // namespace

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(test_counters_across_threads, setup),
		cmocka_unit_test_setup(test_gauges_and_functions, setup),
		cmocka_unit_test_setup(test_items_and_lookup, setup),
		cmocka_unit_test_setup(test_walk_order, setup),
		cmocka_unit_test_setup(test_mi_commands, setup),
	};
	return cmocka_run_group_tests(tests, nullptr, nullptr);
}
