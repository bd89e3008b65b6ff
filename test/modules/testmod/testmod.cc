// testmod: a module for tests only (decisions.md §23); never installed.
// Script functions: usleep(us) plus small probes used by the cfg unit tests
// (t_ret, t_echo, t_fix, t_reqonly, t_var). MI: testmod:get (makes `get`
// ambiguous), shm_alloc/shm_free/pkg_alloc/pkg_free (drive memory
// thresholds), raise_burst (event storms for tests and bench).
// exec_dns_threshold: script t_resolve(name) and MI testmod:resolve {name}
// run shim_resolve_host(); modparam resolve_delay_us makes every lookup of
// the host that long (through the host's test-only knob).
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <string>
#include <vector>

#include "opensips/core_hooks.h"
#include "opensips/evi.h"
#include "opensips/mem.h"
#include "opensips/pvar.h"
#include "opensips/sr_module.h"

// Test-only knob of the host (core_shim/net/resolve.cc), not in include/.
extern "C" void shim_set_resolve_delay_for_tests(int us);

namespace {

int resolve_delay_us = 0;
int some_int = 0;
char *some_str = nullptr;
int dual_int = 0;
char *dual_str = nullptr;
int func_param_calls = 0;

std::mutex g_lock;
std::string g_last; // last text recorded by t_echo / t_var
int g_calls = 0;    // calls of t_echo / t_var / t_ret
std::vector<void *> g_shm, g_pkg;

int w_usleep(sip_msg *, void *us, void *, void *, void *, void *, void *,
             void *, void *)
{
	int v = *(int *)us;
	if (v > 0) usleep((useconds_t)v);
	return 1;
}

// t_ret(n): returns n.
int w_ret(sip_msg *, void *n, void *, void *, void *, void *, void *, void *,
          void *)
{
	std::lock_guard<std::mutex> g(g_lock);
	g_calls++;
	return *(int *)n;
}

// t_echo(s [, s2 [, n]]): records "s|s2|n" (omitted ones as "-"); returns 1.
int w_echo(sip_msg *, void *a, void *b, void *c, void *, void *, void *,
           void *, void *)
{
	std::string out(((str *)a)->s, ((str *)a)->len);
	out += "|";
	out += b ? std::string(((str *)b)->s, ((str *)b)->len) : "-";
	out += "|";
	out += c ? std::to_string(*(int *)c) : "-";
	std::lock_guard<std::mutex> g(g_lock);
	g_last = out;
	g_calls++;
	return 1;
}

// t_fix(s): the fixup rejects "bad" (as status_report rejects unknown groups).
int fix_reject_bad(void **p)
{
	str *s = (str *)*p;
	return s && s->len == 3 && !memcmp(s->s, "bad", 3) ? -1 : 0;
}
int w_fix(sip_msg *, void *, void *, void *, void *, void *, void *, void *,
          void *)
{
	return 1;
}

// t_var($var): records the variable's value as text, then sets it to "set".
int w_var(sip_msg *msg, void *spec, void *, void *, void *, void *, void *,
          void *, void *)
{
	str v;
	std::string text = pv_get_strval(msg, (pv_spec_t *)spec, &v) == 0
	                       ? std::string(v.s, v.len)
	                       : "<null>";
	str set = str_init("set");
	pv_set_strval(msg, (pv_spec_t *)spec, &set);
	std::lock_guard<std::mutex> g(g_lock);
	g_last = text;
	g_calls++;
	return 1;
}

int set_func_param(modparam_t type, void *val)
{
	if (type != INT_PARAM || (long)val < 0) return -1;
	func_param_calls++;
	return 0;
}

// t_resolve(name): shim_resolve_host(name); 1 resolved, -1 not.
int w_resolve(sip_msg *, void *name, void *, void *, void *, void *, void *,
              void *, void *)
{
	std::string n(((str *)name)->s, ((str *)name)->len);
	char ip[64];
	return shim_resolve_host(n.c_str(), ip, sizeof(ip)) == 0 ? 1 : -1;
}

int mod_init()
{
	if (resolve_delay_us > 0)
		shim_set_resolve_delay_for_tests(resolve_delay_us);
	return 0;
}

const cmd_export_t cmds[] = {
    {"usleep", w_usleep, {{CMD_PARAM_INT, nullptr, nullptr}, {0, nullptr, nullptr}},
     ALL_ROUTES},
    {"t_ret", w_ret, {{CMD_PARAM_INT, nullptr, nullptr}, {0, nullptr, nullptr}},
     ALL_ROUTES},
    {"t_echo", w_echo,
     {{CMD_PARAM_STR, nullptr, nullptr},
      {CMD_PARAM_STR | CMD_PARAM_OPT, nullptr, nullptr},
      {CMD_PARAM_INT | CMD_PARAM_OPT, nullptr, nullptr},
      {0, nullptr, nullptr}},
     ALL_ROUTES},
    {"t_fix", w_fix,
     {{CMD_PARAM_STR, fix_reject_bad, nullptr}, {0, nullptr, nullptr}},
     ALL_ROUTES},
    {"t_reqonly", w_fix, {{0, nullptr, nullptr}}, REQUEST_ROUTE},
    {"t_var", w_var, {{CMD_PARAM_VAR, nullptr, nullptr}, {0, nullptr, nullptr}},
     ALL_ROUTES},
    {"t_resolve", w_resolve,
     {{CMD_PARAM_STR, nullptr, nullptr}, {0, nullptr, nullptr}}, ALL_ROUTES},
    {nullptr, nullptr, {{0, nullptr, nullptr}}, 0},
};

const param_export_t params[] = {
    {"some_int", INT_PARAM, &some_int},
    {"some_str", STR_PARAM, &some_str},
    {"dual", STR_PARAM, &dual_str},
    {"dual", INT_PARAM, &dual_int},
    {"func_int", INT_PARAM | USE_FUNC_PARAM, (void *)set_func_param},
    {"resolve_delay_us", INT_PARAM, &resolve_delay_us},
    {nullptr, 0, nullptr},
};

mi_response_t *mi_get(const mi_params_t *, struct mi_handler *)
{
	return init_mi_result_ok();
}

mi_response_t *do_alloc(const mi_params_t *params, bool shm)
{
	int bytes;
	if (get_mi_int_param(params, "bytes", &bytes) < 0)
		return init_mi_param_error();
	void *p = bytes > 0 ? (shm ? shm_malloc((size_t)bytes)
	                           : pkg_malloc((size_t)bytes))
	                    : nullptr;
	if (!p) return init_mi_error(500, "alloc failed", 12);
	std::lock_guard<std::mutex> g(g_lock);
	(shm ? g_shm : g_pkg).push_back(p);
	return init_mi_result_ok();
}

mi_response_t *mi_shm_alloc(const mi_params_t *p, struct mi_handler *)
{
	return do_alloc(p, true);
}

mi_response_t *mi_pkg_alloc(const mi_params_t *p, struct mi_handler *)
{
	// pkg memory belongs to the calling thread; the blocks are kept for
	// the life of the process (the MI thread never frees them).
	return do_alloc(p, false);
}

mi_response_t *mi_shm_free(const mi_params_t *, struct mi_handler *)
{
	std::lock_guard<std::mutex> g(g_lock);
	for (void *p : g_shm) shm_free(p);
	g_shm.clear();
	return init_mi_result_ok();
}

// testmod:pkg_free: frees every pkg_alloc block. pkg memory belongs to the
// thread that allocated it, so call it over the same MI transport (one
// thread) as pkg_alloc.
mi_response_t *mi_pkg_free(const mi_params_t *, struct mi_handler *)
{
	std::lock_guard<std::mutex> g(g_lock);
	for (void *p : g_pkg) pkg_free(p);
	g_pkg.clear();
	return init_mi_result_ok();
}

// testmod:raise_burst {event, count} (bench and tests): raises `event`
// `count` times from the MI thread, back to back, each with the parameters
// {"seq":<n>,"pad":"<150 x's>"} (a 200-byte JSON-RPC notification for a
// short event name). Result {"raised":n,"failed":n,"usec":n}: failed counts
// raises that returned < 0 (some subscriber queue full).
mi_response_t *mi_raise_burst(const mi_params_t *params, struct mi_handler *)
{
	char *name;
	int len, count;
	if (get_mi_string_param(params, "event", &name, &len) < 0 ||
	    get_mi_int_param(params, "count", &count) < 0 || count < 0)
		return init_mi_param_error();
	str ev{name, len};
	event_id_t id = evi_get_id(&ev);
	if (id == EVI_ERROR) return init_mi_error(404, "Event not registered", 20);
	static char pad_buf[150];
	memset(pad_buf, 'x', sizeof(pad_buf));
	str n_seq = str_init("seq"), n_pad = str_init("pad");
	str pad{pad_buf, (int)sizeof(pad_buf)};
	int failed = 0;
	auto t0 = std::chrono::steady_clock::now();
	for (int i = 0; i < count; i++) {
		evi_params_p p = evi_get_params();
		if (!p) { failed++; continue; }
		evi_param_add_int(p, &n_seq, &i);
		evi_param_add_str(p, &n_pad, &pad);
		if (evi_raise_event(id, p) < 0) failed++;
	}
	long us = (long)std::chrono::duration_cast<std::chrono::microseconds>(
	              std::chrono::steady_clock::now() - t0).count();
	mi_item_t *obj;
	mi_response_t *resp = init_mi_result_object(&obj);
	if (resp && (add_mi_number(obj, "raised", 6, count) < 0 ||
	             add_mi_number(obj, "failed", 6, failed) < 0 ||
	             add_mi_number(obj, "usec", 4, (double)us) < 0)) {
		free_mi_response(resp);
		return nullptr;
	}
	return resp;
}

// testmod:resolve {name}: {"ip":"..."}, or 500 "resolve failed".
mi_response_t *mi_resolve(const mi_params_t *params, struct mi_handler *)
{
	char *name;
	int len;
	if (get_mi_string_param(params, "name", &name, &len) < 0)
		return init_mi_param_error();
	std::string n(name, (size_t)len);
	char ip[64];
	if (shim_resolve_host(n.c_str(), ip, sizeof(ip)) < 0)
		return init_mi_error(500, "resolve failed", 14);
	mi_item_t *obj;
	mi_response_t *resp = init_mi_result_object(&obj);
	if (resp && add_mi_string(obj, "ip", 2, ip, (int)strlen(ip)) < 0) {
		free_mi_response(resp);
		return nullptr;
	}
	return resp;
}

const mi_export_t mi_cmds[] = {
    {"get", "answers OK (makes 'get' ambiguous)", 0, nullptr,
     {{mi_get, {nullptr}}, {nullptr, {nullptr}}}, {nullptr}},
    {"shm_alloc", "allocates {bytes} of shm and keeps it", 0, nullptr,
     {{mi_shm_alloc, {"bytes", nullptr}}, {nullptr, {nullptr}}}, {nullptr}},
    {"shm_free", "frees every shm_alloc block", 0, nullptr,
     {{mi_shm_free, {nullptr}}, {nullptr, {nullptr}}}, {nullptr}},
    {"pkg_alloc", "allocates {bytes} of the MI thread's pkg and keeps it", 0,
     nullptr, {{mi_pkg_alloc, {"bytes", nullptr}}, {nullptr, {nullptr}}},
     {nullptr}},
    {"pkg_free", "frees every pkg_alloc block (same MI transport)", 0,
     nullptr, {{mi_pkg_free, {nullptr}}, {nullptr, {nullptr}}}, {nullptr}},
    {"raise_burst", "raises {event} {count} times with a 200-byte payload",
     0, nullptr, {{mi_raise_burst, {"event", "count", nullptr}},
                  {nullptr, {nullptr}}}, {nullptr}},
    {"resolve", "resolves {name} as the host does (exec_dns_threshold)", 0,
     nullptr, {{mi_resolve, {"name", nullptr}}, {nullptr, {nullptr}}},
     {nullptr}},
    {nullptr, nullptr, 0, nullptr, {{nullptr, {nullptr}}}, {nullptr}},
};

} // namespace

// Probes for unit tests (found with dlsym on the module handle).
extern "C" const char *testmod_last(void) { return g_last.c_str(); }
extern "C" int testmod_calls(void) { return g_calls; }
extern "C" int testmod_some_int(void) { return some_int; }
extern "C" const char *testmod_some_str(void) { return some_str ? some_str : ""; }
extern "C" int testmod_dual_int(void) { return dual_int; }
extern "C" const char *testmod_dual_str(void) { return dual_str ? dual_str : ""; }
extern "C" int testmod_func_param_calls(void) { return func_param_calls; }
// STR modparams are strdup'ed by the loader, which frees them when the
// modules are unloaded (modules_reset); the module only forgets them.
extern "C" void testmod_free_params(void)
{
	some_str = dual_str = nullptr;
}

extern "C" {
struct module_exports exports = {
    "testmod",          /* name */
    MOD_TYPE_DEFAULT,   /* type */
    MODULE_VERSION,     /* ver_info */
    DEFAULT_DLFLAGS,    /* dlflags */
    nullptr,            /* load_f */
    nullptr,            /* deps */
    cmds,               /* cmds */
    nullptr,            /* acmds */
    params,             /* params */
    nullptr,            /* stats */
    mi_cmds,            /* mi_cmds */
    nullptr,            /* items */
    nullptr,            /* trans */
    nullptr,            /* procs */
    nullptr,            /* preinit_f */
    mod_init,           /* init_f: applies resolve_delay_us */
    nullptr,            /* response_f */
    nullptr,            /* destroy_f */
    nullptr,            /* init_child_f */
    nullptr,            /* reload_ack_f */
};
}
