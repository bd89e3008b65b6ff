// The prometheus renderers against statistics of our own: OpenSIPS's
// naming and group modes, the order of the `statistics` entries, labels
// templates, per-thread families, sanitising and escaping, and the native
// per-item families.
#include <cstring>
#include <string>
#include <vector>

#include "../../../../modules/prometheus/render.h"

#include "../../cmocka_cxx.h" // last

using namespace prom;

namespace {

stat_info plain(const char *group, const char *name, bool inc, unsigned long v)
{
	stat_info s{};
	s.group = group;
	s.name = name;
	s.family = name;
	s.incremental = inc ? 1 : 0;
	s.proc_id = -1;
	s.value = v;
	return s;
}

stat_info per_thread(const char *group, const char *name, const char *family,
                     int id, int pid, const char *desc, unsigned long v)
{
	stat_info s = plain(group, name, false, v);
	s.family = family;
	s.proc_id = id;
	s.proc_pid = pid;
	s.proc_desc = desc;
	return s;
}

const char *const ev_tr[] = {"event", "transport"};
const char *const sr_gi[] = {"group", "identifier"};

stat_info item(const char *group, const char *name, const char *family,
               const char *help, bool inc, int n, const char *const *names,
               const char *const *values, unsigned long v)
{
	stat_info s = plain(group, name, inc, v);
	s.family = family;
	s.help = help;
	s.nlabels = n;
	s.label_names = names;
	s.label_values = values;
	return s;
}

const char *const v_e1_udp[] = {"E_ONE", "udp"};
const char *const v_e2_udp[] = {"E_TWO", "udp"};
const char *const v_app[] = {"app", "main"};
const char *const v_odd[] = {"a\"b\\c\nd", "x"};

// shmem, core, a per-item family between them, sl, load with per-thread
// members interleaved, pkmem per thread
std::vector<stat_info> rows()
{
	return {
		plain("shmem", "used_size", false, 100),
		plain("core", "rcv_requests", true, 7),
		item("evi", "delivered/E_ONE/udp", "delivered", "Events delivered", true,
		     2, ev_tr, v_e1_udp, 3),
		plain("core", "timestamp", false, 42),
		plain("sl", "1xx_replies", true, 0),
		plain("sl", "2xx_replies", true, 7),
		plain("sl", "sent_replies", true, 7),
		item("evi", "dropped/E_ONE/udp", "dropped", nullptr, true, 2, ev_tr,
		     v_e1_udp, 0),
		item("evi", "delivered/E_TWO/udp", "delivered", "Events delivered", true,
		     2, ev_tr, v_e2_udp, 5),
		per_thread("load", "load-proc-1", "load", 1, 101, "HTTPD 127.0.0.1:8888", 1),
		per_thread("load", "load1m-proc-1", "load1m", 1, 101, "HTTPD 127.0.0.1:8888", 2),
		per_thread("load", "load-proc-2", "load", 2, 102, "MI FIFO", 3),
		per_thread("load", "load1m-proc-2", "load1m", 2, 102, "MI FIFO", 4),
		plain("load", "load-all", false, 5),
		per_thread("pkmem", "1-used_size", "used_size", 1, 101, "HTTPD 127.0.0.1:8888", 10),
		per_thread("pkmem", "2-used_size", "used_size", 2, 102, "MI FIFO", 20),
		item("sr", "status/app/main", "status", "SR status", false, 2, sr_gi,
		     v_app, (unsigned long)-3L),
	};
}

std::string compat(const config &c, const std::vector<stat_info> &r = rows())
{
	scratch sc;
	std::string out;
	render_compat(c, r, sc, out);
	return out;
}

config with_stats(const char *stats, int mode = GROUP_MODE_NONE)
{
	config c;
	add_statistics(c, stats);
	c.group_mode = mode;
	return c;
}

void test_default_is_empty(void **)
{
	assert_string_equal(compat(config()).c_str(), "");
}

const char all_mode0[] =
	"# TYPE opensips_used_size gauge\nopensips_used_size 100\n"
	"# TYPE opensips_rcv_requests counter\nopensips_rcv_requests 7\n"
	"# TYPE opensips_timestamp gauge\nopensips_timestamp 42\n"
	"# TYPE opensips_1xx_replies counter\nopensips_1xx_replies 0\n"
	"# TYPE opensips_2xx_replies counter\nopensips_2xx_replies 7\n"
	"# TYPE opensips_sent_replies counter\nopensips_sent_replies 7\n"
	"# TYPE opensips_proc_load gauge\n"
	"opensips_proc_load{id=\"1\",pid=\"101\",desc=\"HTTPD 127.0.0.1:8888\"} 1\n"
	"opensips_proc_load{id=\"2\",pid=\"102\",desc=\"MI FIFO\"} 3\n"
	"# TYPE opensips_proc_load1m gauge\n"
	"opensips_proc_load1m{id=\"1\",pid=\"101\",desc=\"HTTPD 127.0.0.1:8888\"} 2\n"
	"opensips_proc_load1m{id=\"2\",pid=\"102\",desc=\"MI FIFO\"} 4\n"
	"# TYPE opensips_load_all gauge\nopensips_load_all 5\n"
	"# TYPE opensips_proc_used_size gauge\n"
	"opensips_proc_used_size{id=\"1\",pid=\"101\",desc=\"HTTPD 127.0.0.1:8888\"} 10\n"
	"opensips_proc_used_size{id=\"2\",pid=\"102\",desc=\"MI FIFO\"} 20\n";

void test_all_mode0(void **)
{
	// per-item statistics are not in this section; per-thread ones print
	// as one family where the first member is
	assert_string_equal(compat(with_stats("all")).c_str(), all_mode0);
	// "all" anywhere wins, later values are ignored
	config c;
	add_statistics(c, "core: all sl:");
	add_statistics(c, "load:");
	assert_true(c.all);
	assert_int_equal(c.groups.size(), 1);
	assert_string_equal(compat(c).c_str(), all_mode0);
}

void test_group_modes(void **)
{
	config c = with_stats("sl: pkmem:", GROUP_MODE_NAME);
	c.group_prefix = "grp_";
	assert_string_equal(
		compat(c).c_str(),
		"# TYPE opensips_grp_pkmem_proc_used_size gauge\n"
		"opensips_grp_pkmem_proc_used_size{id=\"1\",pid=\"101\",desc=\"HTTPD 127.0.0.1:8888\"} 10\n"
		"opensips_grp_pkmem_proc_used_size{id=\"2\",pid=\"102\",desc=\"MI FIFO\"} 20\n"
		"# TYPE opensips_grp_sl_1xx_replies counter\nopensips_grp_sl_1xx_replies 0\n"
		"# TYPE opensips_grp_sl_2xx_replies counter\nopensips_grp_sl_2xx_replies 7\n"
		"# TYPE opensips_grp_sl_sent_replies counter\nopensips_grp_sl_sent_replies 7\n");
	c.group_mode = GROUP_MODE_LABEL;
	c.group_label = "grp";
	c.group_prefix = "g_";
	assert_string_equal(
		compat(c).c_str(),
		"# TYPE opensips_proc_used_size gauge\n"
		"opensips_proc_used_size{grp=\"g_pkmem\",id=\"1\",pid=\"101\",desc=\"HTTPD 127.0.0.1:8888\"} 10\n"
		"opensips_proc_used_size{grp=\"g_pkmem\",id=\"2\",pid=\"102\",desc=\"MI FIFO\"} 20\n"
		"# TYPE opensips_1xx_replies counter\nopensips_1xx_replies{grp=\"g_sl\"} 0\n"
		"# TYPE opensips_2xx_replies counter\nopensips_2xx_replies{grp=\"g_sl\"} 7\n"
		"# TYPE opensips_sent_replies counter\nopensips_sent_replies{grp=\"g_sl\"} 7\n");
	// mode 0 ignores group_prefix
	c.group_mode = GROUP_MODE_NONE;
	assert_string_equal(compat(c).substr(0, 33).c_str(),
	                    "# TYPE opensips_proc_used_size ga");
}

void test_selection_order(void **)
{
	// groups newest first, then names newest first; group names match in
	// any case, names exactly; "group:name" is a name and matches nothing
	config c;
	add_statistics(c, "SL: rcv_requests used_size");
	add_statistics(c, "  load: shmem:used_size nosuch 2-used_size\t");
	assert_int_equal(c.groups.size(), 2);
	assert_int_equal(c.names.size(), 5);
	assert_string_equal(
		compat(c).c_str(),
		"# TYPE opensips_proc_load gauge\n"
		"opensips_proc_load{id=\"1\",pid=\"101\",desc=\"HTTPD 127.0.0.1:8888\"} 1\n"
		"opensips_proc_load{id=\"2\",pid=\"102\",desc=\"MI FIFO\"} 3\n"
		"# TYPE opensips_proc_load1m gauge\n"
		"opensips_proc_load1m{id=\"1\",pid=\"101\",desc=\"HTTPD 127.0.0.1:8888\"} 2\n"
		"opensips_proc_load1m{id=\"2\",pid=\"102\",desc=\"MI FIFO\"} 4\n"
		"# TYPE opensips_load_all gauge\nopensips_load_all 5\n"
		"# TYPE opensips_1xx_replies counter\nopensips_1xx_replies 0\n"
		"# TYPE opensips_2xx_replies counter\nopensips_2xx_replies 7\n"
		"# TYPE opensips_sent_replies counter\nopensips_sent_replies 7\n"
		// 2-used_size: the whole per-thread family, from its first member
		"# TYPE opensips_proc_used_size gauge\n"
		"opensips_proc_used_size{id=\"1\",pid=\"101\",desc=\"HTTPD 127.0.0.1:8888\"} 10\n"
		"opensips_proc_used_size{id=\"2\",pid=\"102\",desc=\"MI FIFO\"} 20\n"
		// used_size: the first statistic with that name (shmem's)
		"# TYPE opensips_used_size gauge\nopensips_used_size 100\n"
		"# TYPE opensips_rcv_requests counter\nopensips_rcv_requests 7\n");
	// a statistic asked for twice prints twice, as OpenSIPS does
	config d = with_stats("sl: 2xx_replies");
	std::string out = compat(d);
	assert_non_null(strstr(strstr(out.c_str(), "opensips_2xx_replies 7") + 1,
	                       "opensips_2xx_replies 7"));
	// per-item statistics cannot be picked by name
	assert_string_equal(compat(with_stats("delivered/E_ONE/udp evi:")).c_str(), "");
}

void test_labels(void **)
{
	config c = with_stats("sl: core:", GROUP_MODE_LABEL);
	std::string err;
	assert_true(add_label_rule(c, "sl: /^([0-9])xx_replies$/replies:class=\"\\1xx\"/", err));
	assert_true(add_label_rule(c, "core: /^(rcv)_(requests)$/\\2:op=\"\\1\"/", err));
	assert_true(add_label_rule(c, "sl: /^sent_(.*)$/replies:kind=\"\\1\"/", err));
	// no ':' in the result: printed as usual
	assert_true(add_label_rule(c, "core: /^timestamp$/nocolon/", err));
	// a rule of another group never applies
	assert_true(add_label_rule(c, "shmem: /^(.*)$/x:y=\"\\1\"/", err));
	assert_string_equal(
		compat(c).c_str(),
		"# TYPE opensips_timestamp gauge\nopensips_timestamp{group=\"core\"} 42\n"
		// newest label group first, its newest statistic first
		"# TYPE opensips_replies counter\n"
		"opensips_replies{kind=\"replies\",group=\"sl\"} 7\n"
		"opensips_replies{class=\"2xx\",group=\"sl\"} 7\n"
		"opensips_replies{class=\"1xx\",group=\"sl\"} 0\n"
		"# TYPE opensips_requests counter\n"
		"opensips_requests{op=\"rcv\",group=\"core\"} 7\n");
	// mode 0: the labels alone; rendering twice gives the same bytes
	c.group_mode = GROUP_MODE_NONE;
	scratch sc;
	std::string a, b;
	render_compat(c, rows(), sc, a);
	render_compat(c, rows(), sc, b);
	assert_string_equal(a.c_str(), b.c_str());
	assert_non_null(strstr(a.c_str(), "opensips_replies{class=\"2xx\"} 7\n"));
	// per-thread statistics are never templated
	config p = with_stats("pkmem:");
	assert_true(add_label_rule(p, "pkmem: /^(.*)$/x:n=\"\\1\"/", err));
	assert_null(strstr(compat(p).c_str(), "n=\""));
}

void test_label_rule_errors(void **)
{
	config c;
	std::string err;
	assert_false(add_label_rule(c, "sl:", err));
	assert_non_null(strstr(err.c_str(), "no /regex/replacement/flags after 'sl:'"));
	assert_false(add_label_rule(c, "sl:   ", err));
	assert_false(add_label_rule(c, "/^x$/y/", err));
	assert_non_null(strstr(err.c_str(), "no ':'"));
	assert_false(add_label_rule(c, ": /a/b/", err));
	assert_non_null(strstr(err.c_str(), "no statistics group"));
	// the group is what comes before the first ':', as in OpenSIPS
	assert_false(add_label_rule(c, "/^(.*)$/\\1:a=\"b\"/", err));
	assert_non_null(strstr(err.c_str(), "no closing 'a'"));
	assert_false(add_label_rule(c, "sl: /^([0-9]xx$/r:c=\"\\1\"/", err));
	assert_non_null(strstr(err.c_str(), "bad regular expression"));
	assert_int_equal(c.labels.size(), 0);
}

void test_names_and_sanitising(void **)
{
	// no prefix, no delimiter, mode 0: a leading digit gets a '_'
	config c = with_stats("sl: load:");
	c.prefix = "";
	c.delimiter = "";
	std::string out = compat(c);
	assert_non_null(strstr(out.c_str(), "# TYPE _1xx_replies counter\n_1xx_replies 0\n"));
	assert_non_null(strstr(out.c_str(), "\nsent_replies 7\n"));
	assert_non_null(strstr(out.c_str(), "\nload_all 5\n")); // '-' -> '_'
	// the delimiter and prefix are used as given (OpenSIPS does not check)
	config d = with_stats("load:", GROUP_MODE_NAME);
	d.delimiter = "-";
	d.prefix = "osips1";
	assert_non_null(strstr(compat(d).c_str(), "\nosips1-load-load_all 5\n"));
	// ':' is kept in the statistic part, anything else outside
	// [A-Za-z0-9_:] becomes '_'
	std::string s;
	append_sanitized(s, "a:b-c.d/e f_G9");
	assert_string_equal(s.c_str(), "a:b_c_d_e_f_G9");
	// thread names are escaped as label values
	std::vector<stat_info> r = {per_thread("pkmem", "1-x", "x", 1, 5, "a\"b", 1)};
	assert_string_equal(compat(with_stats("pkmem:"), r).c_str(),
	                    "# TYPE opensips_proc_x gauge\n"
	                    "opensips_proc_x{id=\"1\",pid=\"5\",desc=\"a\\\"b\"} 1\n");
}

void test_escaping_and_values(void **)
{
	std::string s;
	append_label_value(s, "a\\b\"c\nd");
	assert_string_equal(s.c_str(), "a\\\\b\\\"c\\nd");
	s.clear();
	append_help(s, "x\\y\nz\"");
	assert_string_equal(s.c_str(), "x\\\\y\\nz\"");
	s.clear();
	append_value(s, (unsigned long)-3L, false);
	s += ' ';
	append_value(s, 18446744073709551615UL, true);
	assert_string_equal(s.c_str(), "-3 18446744073709551615");
}

void test_native(void **)
{
	scratch sc;
	std::string out;
	render_native(rows(), 99, sc, out);
	assert_string_equal(
		out.c_str(),
		"# HELP opensips_evi_delivered_total Events delivered\n"
		"# TYPE opensips_evi_delivered_total counter\n"
		"opensips_evi_delivered_total{event=\"E_ONE\",transport=\"udp\"} 3\n"
		"opensips_evi_delivered_total{event=\"E_TWO\",transport=\"udp\"} 5\n"
		"# HELP opensips_evi_dropped_total statistic evi:dropped\n"
		"# TYPE opensips_evi_dropped_total counter\n"
		"opensips_evi_dropped_total{event=\"E_ONE\",transport=\"udp\"} 0\n"
		"# HELP opensips_sr_status SR status\n"
		"# TYPE opensips_sr_status gauge\n"
		"opensips_sr_status{group=\"app\",identifier=\"main\"} -3\n"
		"# HELP opensips_uptime_seconds Seconds since the host started\n"
		"# TYPE opensips_uptime_seconds gauge\n"
		"opensips_uptime_seconds 42\n");
	// no core:timestamp: the fallback; odd names and values escaped; a
	// family already ending in _total keeps one suffix
	const char *const odd_names[] = {"9lbl", "a-b"};
	std::vector<stat_info> r = {
		item("my-grp", "x", "req_total", "h\\1\nh2", true, 2, odd_names, v_odd, 1),
		item("g", "y", "gauge", nullptr, false, 1, odd_names, v_odd, 2),
	};
	out.clear();
	render_native(r, 7, sc, out);
	assert_string_equal(
		out.c_str(),
		"# HELP opensips_my_grp_req_total h\\\\1\\nh2\n"
		"# TYPE opensips_my_grp_req_total counter\n"
		"opensips_my_grp_req_total{_9lbl=\"a\\\"b\\\\c\\nd\",a_b=\"x\"} 1\n"
		"# HELP opensips_g_gauge statistic g:gauge\n"
		"# TYPE opensips_g_gauge gauge\n"
		"opensips_g_gauge{_9lbl=\"a\\\"b\\\\c\\nd\"} 2\n"
		"# HELP opensips_uptime_seconds Seconds since the host started\n"
		"# TYPE opensips_uptime_seconds gauge\n"
		"opensips_uptime_seconds 7\n");
	// nothing at all: still the uptime
	out.clear();
	render_native({}, 3, sc, out);
	assert_non_null(strstr(out.c_str(), "\nopensips_uptime_seconds 3\n"));
}

// a walk that hands out rows with a thread name that changes afterwards
std::vector<stat_info> g_walk_rows;
char g_desc[16];

void fake_walk(stat_visit_f f, void *param)
{
	for (const stat_info &s : g_walk_rows)
		if (f(&s, param))
			return;
}

void test_snapshot(void **)
{
	strcpy(g_desc, "Timer");
	g_walk_rows = {plain("core", "rcv_requests", true, 1),
	               per_thread("pkmem", "1-x", "x", 1, 5, g_desc, 2)};
	snapshot s;
	s.take(fake_walk);
	strcpy(g_desc, "changed");
	assert_int_equal(s.rows().size(), 2);
	assert_null(s.rows()[0].proc_desc);
	assert_string_equal(s.rows()[1].proc_desc, "Timer");
	// a second scrape starts afresh
	g_walk_rows.resize(1);
	s.take(fake_walk);
	assert_int_equal(s.rows().size(), 1);
}

} // namespace

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_default_is_empty),
		cmocka_unit_test(test_all_mode0),
		cmocka_unit_test(test_group_modes),
		cmocka_unit_test(test_selection_order),
		cmocka_unit_test(test_labels),
		cmocka_unit_test(test_label_rule_errors),
		cmocka_unit_test(test_names_and_sanitising),
		cmocka_unit_test(test_escaping_and_values),
		cmocka_unit_test(test_native),
		cmocka_unit_test(test_snapshot),
	};
	return cmocka_run_group_tests(tests, nullptr, nullptr);
}
