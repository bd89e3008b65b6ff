// core_events (modules/core_events): publication order and the parameters
// of every core event (spec §3), through the real EVI core and a test
// transport `cetest` registered with register_event_mod. Jobs are delivered
// on the test's thread with evi_dispatch_pending().
//
// The module's objects are linked into this binary (Makefile unit_mod), so
// `exports` is core_events'. status_report is not linked: a fake SR API
// catches the status callback the module registers.
#include <string.h>

#include <string>
#include <vector>

#include "api/hooks.h"
#include "settings/globals.h"
#include "evi/evi_core.h"
#include "log/log.h"
#include "opensips/core_hooks.h"
#include "opensips/evi.h"
#include "opensips/evi_transport.h"
#include "opensips/host.h"
#include "opensips/sr_module.h"
#include "opensips/status_report.h"

#include "../../cmocka_cxx.h" // last

extern "C" struct module_exports exports;
extern "C" void shim_set_resolve_delay_for_tests(int us);

using namespace shim;

namespace {

// ---- what the test transport received ----
struct param {
	std::string name; // "" for unnamed
	int type;         // EVI_INT_VAL, EVI_STR_VAL, 0
	int n;
	std::string s;
	bool null_str;
};
struct raised {
	std::string event;
	std::vector<param> params;
};
std::vector<raised> g_raised;

int tp_raise_one(evi_reply_sock *, const str *ev_name, evi_params_t *params)
{
	raised r;
	r.event.assign(ev_name->s, (size_t)ev_name->len);
	for (evi_param_p p = params ? params->first : nullptr; p; p = p->next) {
		param x{};
		if (p->name.s)
			x.name.assign(p->name.s, (size_t)p->name.len);
		x.type = p->flags & (EVI_INT_VAL | EVI_STR_VAL);
		if (x.type == EVI_INT_VAL)
			x.n = p->val.n;
		else if (x.type == EVI_STR_VAL) {
			x.null_str = p->val.s.s == nullptr;
			if (p->val.s.s)
				x.s.assign(p->val.s.s, (size_t)p->val.s.len);
		}
		r.params.push_back(x);
	}
	g_raised.push_back(r);
	return 0;
}

evi_reply_sock *tp_parse(str)
{
	return static_cast<evi_reply_sock *>(calloc(1, sizeof(evi_reply_sock)));
}
int tp_match(evi_reply_sock *, evi_reply_sock *) { return 1; }
void tp_free(evi_reply_sock *s) { free(s); }
str tp_print(evi_reply_sock *)
{
	static char text[] = "x";
	return str{text, 1};
}

int tp_raise(evi_delivery *d) { return evi_deliver_each(d, tp_raise_one); }
const evi_export_t test_transport = {
	sizeof(evi_export_t), str_init("cetest"), tp_raise, tp_parse, tp_match, tp_free, tp_print, 0, nullptr,
};

// ---- fake SR API: keeps the status callback core_events registers ----
sr_status_cb g_sr_cb = nullptr;
void *g_sr_cb_param = nullptr;
int fake_register_status_cb(sr_status_cb cb, void *param)
{
	g_sr_cb = cb;
	g_sr_cb_param = param;
	return 0;
}
struct sr_api g_fake_sr = {};

// ---- helpers ----
void subscribe(const char *event)
{
	str ev{(char *)event, (int)strlen(event)};
	str sock = str_init("cetest:x");
	assert_int_equal(evi_subscribe(ev, sock, 0, false), 0);
}

// Delivers what is queued; returns the records of `event` only (logs made
// on the way may have raised E_CORE_LOG too).
std::vector<raised> delivered(const char *event)
{
	evi_dispatch_pending(10000);
	std::vector<raised> out;
	for (auto &r : g_raised)
		if (r.event == event)
			out.push_back(r);
	g_raised.clear();
	return out;
}

void expect_int(const param &p, const char *name, int v)
{
	assert_string_equal(p.name.c_str(), name);
	assert_int_equal(p.type, EVI_INT_VAL);
	assert_int_equal(p.n, v);
}

void expect_str(const param &p, const char *name, const char *v)
{
	assert_string_equal(p.name.c_str(), name);
	assert_int_equal(p.type, EVI_STR_VAL);
	assert_false(p.null_str);
	assert_string_equal(p.s.c_str(), v);
}

int id_of(const char *name)
{
	str s{(char *)name, (int)strlen(name)};
	return evi_get_id(&s);
}

// ---- tests ----

void test_publication_order(void **)
{
	assert_int_equal(id_of("E_CORE_SR_STATUS_CHANGED"), 0);
	assert_int_equal(id_of("E_CORE_THRESHOLD"), 1);
	assert_int_equal(id_of("E_CORE_SHM_THRESHOLD"), 2);
	assert_int_equal(id_of("E_CORE_PKG_THRESHOLD"), 3);
	assert_int_equal(id_of("E_CORE_PROC_AUTO_SCALE"), 4);
	assert_int_equal(id_of("E_CORE_TCP_DISCONNECT"), 5);
	// E_CORE_LOG waits for the post-fixup callbacks: after everything else.
	assert_int_equal(id_of("E_CORE_LOG"), EVI_ERROR);
	str mod_ev = str_init("E_SOME_MODULE_EVENT");
	assert_int_equal(evi_publish_event(mod_ev), 6);
	run_post_fixup_cbs();
	assert_int_equal(id_of("E_CORE_LOG"), 7);
}

void test_hooks_installed(void **)
{
	assert_non_null(g_core_hooks.threshold);
	assert_non_null(g_core_hooks.pkg_threshold);
	assert_non_null(g_core_hooks.shm_threshold);
	assert_non_null(g_core_hooks.proc_auto_scale);
	assert_non_null(g_core_hooks.tcp_disconnect);
	assert_non_null(g_core_hooks.log);
	assert_non_null(g_sr_cb);
}

void test_threshold(void **)
{
	// No subscriber: nothing is built or raised.
	g_core_hooks.threshold("msg processing", 5, "x", 1);
	assert_int_equal(delivered("E_CORE_THRESHOLD").size(), 0);

	subscribe("E_CORE_THRESHOLD");
	const char buf[] = "OPTIONS sip:slow@127.0.0.1 SIP/2.0\r\n\r\nJUNK";
	g_core_hooks.threshold("msg processing", 121013, buf, (int)strlen(buf) - 4);
	auto v = delivered("E_CORE_THRESHOLD");
	assert_int_equal(v.size(), 1);
	assert_int_equal(v[0].params.size(), 3);
	expect_str(v[0].params[0], "source", "msg processing");
	expect_int(v[0].params[1], "time", 121013);
	expect_str(v[0].params[2], "extra", "OPTIONS sip:slow@127.0.0.1 SIP/2.0\r\n\r\n");
}

void test_dns_threshold(void **)
{
	// subscribed by test_threshold
	g_globals.exec_dns_threshold = 1000;
	shim_set_resolve_delay_for_tests(5000);
	char ip[64] = "";
	shim_resolve_host("localhost", ip, sizeof(ip));
	shim_set_resolve_delay_for_tests(0);
	g_globals.exec_dns_threshold = 0;
	auto v = delivered("E_CORE_THRESHOLD");
	assert_int_equal(v.size(), 1);
	expect_str(v[0].params[0], "source", "dns");
	assert_int_equal(v[0].params[1].type, EVI_INT_VAL);
	assert_true(v[0].params[1].n >= 5000);
	expect_str(v[0].params[2], "extra", "localhost");
	// Under the threshold: nothing.
	g_globals.exec_dns_threshold = 10000000;
	shim_resolve_host("localhost", ip, sizeof(ip));
	g_globals.exec_dns_threshold = 0;
	assert_int_equal(delivered("E_CORE_THRESHOLD").size(), 0);
}

void test_shm_threshold(void **)
{
	subscribe("E_CORE_SHM_THRESHOLD");
	g_core_hooks.shm_threshold(7, 1, 4713416, 67108864);
	auto v = delivered("E_CORE_SHM_THRESHOLD");
	assert_int_equal(v.size(), 1);
	assert_int_equal(v[0].params.size(), 4);
	expect_int(v[0].params[0], "usage", 7);
	expect_int(v[0].params[1], "threshold", 1);
	expect_int(v[0].params[2], "used", 4713416);
	expect_int(v[0].params[3], "size", 67108864);
}

void test_pkg_threshold(void **)
{
	subscribe("E_CORE_PKG_THRESHOLD");
	g_core_hooks.pkg_threshold(18, 1, 1510040, 8388608, 25534);
	auto v = delivered("E_CORE_PKG_THRESHOLD");
	assert_int_equal(v.size(), 1);
	assert_int_equal(v[0].params.size(), 5);
	expect_int(v[0].params[0], "usage", 18);
	expect_int(v[0].params[1], "threshold", 1);
	expect_int(v[0].params[2], "used", 1510040);
	expect_int(v[0].params[3], "size", 8388608);
	expect_int(v[0].params[4], "pid", 25534);
}

void test_proc_auto_scale(void **)
{
	subscribe("E_CORE_PROC_AUTO_SCALE");
	g_core_hooks.proc_auto_scale("UDP", "udp:127.0.0.1:5060", 99, "up", 13, 23002);
	g_core_hooks.proc_auto_scale("TIMER", nullptr, 5, "down", 4, 1);
	auto v = delivered("E_CORE_PROC_AUTO_SCALE");
	assert_int_equal(v.size(), 2);
	assert_int_equal(v[0].params.size(), 6);
	expect_str(v[0].params[0], "group_type", "UDP");
	expect_str(v[0].params[1], "group_filter", "udp:127.0.0.1:5060");
	expect_int(v[0].params[2], "group_load", 99);
	expect_str(v[0].params[3], "scale", "up");
	expect_int(v[0].params[4], "process_id", 13);
	expect_int(v[0].params[5], "pid", 23002);
	expect_str(v[1].params[1], "group_filter", "none");
}

void test_tcp_disconnect(void **)
{
	subscribe("E_CORE_TCP_DISCONNECT");
	g_core_hooks.tcp_disconnect("127.0.0.1", 53802, "127.0.0.1", 5060, "tcp");
	auto v = delivered("E_CORE_TCP_DISCONNECT");
	assert_int_equal(v.size(), 1);
	assert_int_equal(v[0].params.size(), 5);
	expect_str(v[0].params[0], "src_ip", "127.0.0.1");
	expect_int(v[0].params[1], "src_port", 53802);
	expect_str(v[0].params[2], "dst_ip", "127.0.0.1");
	expect_int(v[0].params[3], "dst_port", 5060);
	expect_str(v[0].params[4], "proto", "tcp");
}

void test_sr_status_changed(void **)
{
	subscribe("E_CORE_SR_STATUS_CHANGED");
	str group = str_init("ref_app");
	str id = str_init("main");
	str det = str_init("app degraded");
	g_sr_cb(&group, &id, -3, &det, 1, g_sr_cb_param);
	g_sr_cb(&group, &id, 2, nullptr, -3, g_sr_cb_param);
	auto v = delivered("E_CORE_SR_STATUS_CHANGED");
	assert_int_equal(v.size(), 2);
	assert_int_equal(v[0].params.size(), 5);
	expect_str(v[0].params[0], "group", "ref_app");
	expect_str(v[0].params[1], "identifier", "main");
	expect_int(v[0].params[2], "status", -3);
	expect_str(v[0].params[3], "details", "app degraded");
	expect_int(v[0].params[4], "old_status", 1);
	// No text: no `details` member at all.
	assert_int_equal(v[1].params.size(), 4);
	expect_int(v[1].params[2], "status", 2);
	expect_int(v[1].params[3], "old_status", -3);
}

void log_from_c_code() { LM_NOTICE("REFLOG c-code line %d\n", 5); }

void test_core_log(void **)
{
	subscribe("E_CORE_LOG");
	g_globals.log_event_enabled = true;
	g_globals.stderror_enabled = false;
	g_globals.log_prefix = "";
	log_apply_cfg();
	log_set_global_level(L_NOTICE);

	log_from_c_code();
	shim_log(L_NOTICE, nullptr, nullptr, "REFLOG notice line ci=%s\n", "abc");
	LM_DBG("below the log level\n");
	g_globals.log_event_enabled = false;
	log_apply_cfg();
	LM_ERR("event consumer muted\n");

	auto v = delivered("E_CORE_LOG");
	assert_int_equal(v.size(), 2);
	// C code: time, pid, level, module, function, message
	assert_int_equal(v[0].params.size(), 6);
	assert_string_equal(v[0].params[0].name.c_str(), "time");
	assert_int_equal(v[0].params[0].type, EVI_STR_VAL);
	assert_int_equal(v[0].params[0].s.size(), 15);
	expect_int(v[0].params[1], "pid", shim_my_pid());
	expect_str(v[0].params[2], "level", "NOTICE");
	expect_str(v[0].params[3], "module", "unit");
	expect_str(v[0].params[4], "function", "log_from_c_code");
	expect_str(v[0].params[5], "message", "REFLOG c-code line 5");
	// xlog: no module, no function
	assert_int_equal(v[1].params.size(), 4);
	expect_str(v[1].params[2], "level", "NOTICE");
	expect_str(v[1].params[3], "message", "REFLOG notice line ci=abc");

	// prefix, with its ':'
	g_globals.log_event_enabled = true;
	g_globals.log_prefix = "edge";
	log_apply_cfg();
	shim_log(L_WARN, nullptr, nullptr, "with prefix");
	g_globals = core_globals{};
	log_apply_cfg();
	v = delivered("E_CORE_LOG");
	assert_int_equal(v.size(), 1);
	assert_int_equal(v[0].params.size(), 5);
	expect_str(v[0].params[2], "level", "WARNING");
	expect_str(v[0].params[3], "prefix", "edge:");
	expect_str(v[0].params[4], "message", "with prefix");
}

void test_destroy_uninstalls_hooks(void **)
{
	exports.destroy_f();
	assert_null(g_core_hooks.threshold);
	assert_null(g_core_hooks.log);
}

int group_setup(void **)
{
	evi_reset();
	if (register_event_mod(&test_transport) < 0)
		return -1;
	g_fake_sr.size = sizeof g_fake_sr;
	g_fake_sr.register_status_cb = fake_register_status_cb;
	if (shim_register_api(SR_API_NAME, &g_fake_sr) < 0)
		return -1;
	return exports.init_f();
}

} // namespace

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_publication_order),
		cmocka_unit_test(test_hooks_installed),
		cmocka_unit_test(test_threshold),
		cmocka_unit_test(test_dns_threshold),
		cmocka_unit_test(test_shm_threshold),
		cmocka_unit_test(test_pkg_threshold),
		cmocka_unit_test(test_proc_auto_scale),
		cmocka_unit_test(test_tcp_disconnect),
		cmocka_unit_test(test_sr_status_changed),
		cmocka_unit_test(test_core_log),
		cmocka_unit_test(test_destroy_uninstalls_hooks),
	};
	return cmocka_run_group_tests(tests, group_setup, nullptr);
}
