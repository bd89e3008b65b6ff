// event_profiling: E_PROFILING_SCRIPT and E_PROFILING_PROC (spec §4,
// decisions.md §1, §3, §7, §19, §21, §29). The host loads it third, after
// status_report and core_events.
//
// init_f publishes E_PROFILING_SCRIPT then E_PROFILING_PROC (ids 6, 7 in the
// host's usual load), registers core:profiling_proc (namespace "core", as
// OpenSIPS has it in its core) and installs the sink the host's `profiling
// sender` thread hands records to. Hook sites never build events: they
// write binary records into per-thread rings (include/opensips/profiling.h);
// this module turns each record into the ten parameters and raises it,
// which only queues it for the EVI sender.
//
// Drops: a full ring drops whole sessions (host side); every 10 s, when
// sessions were dropped, a warning is logged and, when the modparam
// `sr_group` names a group, a report is added to that group (ours: no SR
// group unless asked, decisions.md §5).
#include <string.h>

#include <atomic>

#include "opensips/evi.h"
#include "opensips/host.h"
#include "opensips/mi.h"
#include "opensips/profiling.h"
#include "opensips/sr_module.h"
#include "opensips/status_report.h"
#include "prof_params.h"

namespace {

using event_profiling::build_params;
using event_profiling::param_buf;

// ---- modparams ----
char *sr_group = nullptr; // SR group for drop reports; unset = none
// Records per second the sender hands over (0 = no cap). It bounds what
// profiling costs the host under overload (decisions.md §29): beyond it,
// rings fill and whole sessions are dropped and counted.
int max_rate = 40000;

event_id_t ev_script = EVI_ERROR;
event_id_t ev_proc = EVI_ERROR;

std::atomic<unsigned long long> g_raise_failed{0};
unsigned long long g_reported_drops = 0;
struct sr_api g_sr;
void *g_sr_grp = nullptr;

// ---- the sink (profiling sender thread) ----
int deliver(const shim_prof_record *r, void *)
{
	param_buf b;
	build_params(r, &b);
	event_id_t id = r->event == SHIM_PROF_EV_SCRIPT ? ev_script : ev_proc;
	if (evi_raise_event(id, &b.list) < 0) {
		g_raise_failed.fetch_add(1, std::memory_order_relaxed);
		return -1;
	}
	return 0;
}

// ---- periodic drop report (timer thread) ----
void drop_report(unsigned int, void *)
{
	shim_prof_totals t;
	shim_prof_get_totals(&t);
	if (t.sessions_dropped == g_reported_drops)
		return;
	unsigned long long n = t.sessions_dropped - g_reported_drops;
	g_reported_drops = t.sessions_dropped;
	LM_WARN("profiling dropped %llu sessions in the last 10 s (%llu in total): "
	        "the sender cannot keep up\n", n, t.sessions_dropped);
	if (g_sr_grp)
		g_sr.add_report_fmt(g_sr_grp, nullptr, 0, 0,
		                    "profiling dropped %llu sessions in 10 s (%llu in total)",
		                    n, t.sessions_dropped);
}

// ---- MI: core:profiling_proc (spec §4.2) ----
#define S(x) x, (int)(sizeof(x) - 1)

mi_response_t *bad(const char *what, int len)
{
	return init_mi_error_extra(JSONRPC_INVAL_PARAMS_CODE, S("Invalid params"),
	                           what, len);
}

// The target of {id} / {pid}: roster id, or an error response.
int target(const mi_params_t *params, bool by_pid, mi_response_t **err)
{
	int v;
	if (get_mi_int_param(params, by_pid ? "pid" : "id", &v) < 0) {
		*err = init_mi_param_error();
		return -1;
	}
	if (by_pid) {
		int id = shim_prof_proc_find_pid(v);
		if (id < 0) *err = bad(S("Bad PID"));
		return id;
	}
	if (v < 0 || v >= shim_prof_proc_count()) {
		*err = bad(S("Bad process ID"));
		return -1;
	}
	return v;
}

mi_response_t *list_all(const mi_params_t *, struct mi_handler *)
{
	return shim_prof_proc_list(-1);
}

mi_response_t *list_one(const mi_params_t *params, bool by_pid)
{
	mi_response_t *err = nullptr;
	int id = target(params, by_pid, &err);
	return id < 0 ? err : shim_prof_proc_list(id);
}
mi_response_t *list_id(const mi_params_t *p, struct mi_handler *) { return list_one(p, false); }
mi_response_t *list_pid(const mi_params_t *p, struct mi_handler *) { return list_one(p, true); }

mi_response_t *set_level(const mi_params_t *params, int kind /* 0 all, 1 id, 2 pid */)
{
	int level;
	if (get_mi_int_param(params, "level", &level) < 0)
		return init_mi_param_error();
	int id = -1;
	if (kind) {
		mi_response_t *err = nullptr;
		id = target(params, kind == 2, &err);
		if (id < 0) return err;
	}
	if (shim_prof_set_level(id, level) < 0)
		return bad(S("Bad process ID"));
	return init_mi_result_ok();
}
mi_response_t *set_all(const mi_params_t *p, struct mi_handler *) { return set_level(p, 0); }
mi_response_t *set_id(const mi_params_t *p, struct mi_handler *) { return set_level(p, 1); }
mi_response_t *set_pid(const mi_params_t *p, struct mi_handler *) { return set_level(p, 2); }

const mi_export_t core_cmds[] = {
	{"profiling_proc", "lists or sets the PROC profiling level of processes", 0,
	 nullptr,
	 {{list_all, {nullptr}},
	  {list_id, {"id", nullptr}},
	  {list_pid, {"pid", nullptr}},
	  {set_all, {"level", nullptr}},
	  {set_id, {"id", "level", nullptr}},
	  {set_pid, {"pid", "level", nullptr}},
	  {nullptr, {nullptr}}},
	 {nullptr}},
	{nullptr, nullptr, 0, nullptr, {{nullptr, {nullptr}}}, {nullptr}},
};

// ---- MI: event_profiling:stats (ours, decisions.md §7) ----
struct walk_ctx {
	mi_item_t *arr;
	int failed;
};

void add_thread(int id, int pid, const char *type, unsigned long long records,
                unsigned long long dropped, void *param)
{
	auto *w = static_cast<walk_ctx *>(param);
	mi_item_t *o = add_mi_object(w->arr, nullptr, 0);
	if (!o || add_mi_int(o, S("ID"), id) < 0 || add_mi_int(o, S("PID"), pid) < 0 ||
	    add_mi_string(o, S("Type"), type, (int)strlen(type)) < 0 ||
	    add_mi_int(o, S("Records"), (long long)records) < 0 ||
	    add_mi_int(o, S("Sessions dropped"), (long long)dropped) < 0)
		w->failed = 1;
}

mi_response_t *mi_stats(const mi_params_t *, struct mi_handler *)
{
	shim_prof_totals t;
	shim_prof_get_totals(&t);
	mi_item_t *obj;
	mi_response_t *resp = init_mi_result_object(&obj);
	if (!resp) return nullptr;
	walk_ctx w{nullptr, 0};
	if (add_mi_int(obj, S("Records"), (long long)t.records) < 0 ||
	    add_mi_int(obj, S("Records emitted"), (long long)t.delivered) < 0 ||
	    add_mi_int(obj, S("Records pending"), (long long)t.pending) < 0 ||
	    add_mi_int(obj, S("Events not queued"),
	               (long long)g_raise_failed.load(std::memory_order_relaxed)) < 0 ||
	    add_mi_int(obj, S("Sessions dropped"), (long long)t.sessions_dropped) < 0 ||
	    !(w.arr = add_mi_array(obj, S("Threads")))) {
		free_mi_response(resp);
		return nullptr;
	}
	shim_prof_walk_threads(add_thread, &w);
	if (w.failed) {
		free_mi_response(resp);
		return nullptr;
	}
	return resp;
}

const mi_export_t mi_cmds[] = {
	{"stats", "profiling records emitted and sessions dropped, per thread", 0,
	 nullptr, {{mi_stats, {nullptr}}, {nullptr, {nullptr}}}, {nullptr}},
	{nullptr, nullptr, 0, nullptr, {{nullptr, {nullptr}}}, {nullptr}},
};

const param_export_t params[] = {
	{"sr_group", STR_PARAM, &sr_group},
	{"max_rate", INT_PARAM, &max_rate},
	{nullptr, 0, nullptr},
};

event_id_t publish(const char *name)
{
	str s{(char *)name, (int)strlen(name)};
	event_id_t id = evi_publish_event(s);
	if (id == EVI_ERROR) LM_ERR("cannot publish %s\n", name);
	return id;
}

// profiling:records, profiling:records_sent, profiling:sessions_dropped
// (counters computed from the host's totals; decisions §38).
unsigned long st_total(void *which)
{
	shim_prof_totals t;
	shim_prof_get_totals(&t);
	switch ((int)(intptr_t)which) {
	case 0: return (unsigned long)t.records;
	case 1: return (unsigned long)t.delivered;
	default: return (unsigned long)t.sessions_dropped;
	}
}

int register_stats()
{
	const char *names[] = {"records", "records_sent", "sessions_dropped"};
	for (int i = 0; i < 3; i++)
		if (register_stat2("profiling", names[i], (stat_var **)(void *)st_total,
		                   STAT_IS_FUNC | STAT_COUNTER, (void *)(intptr_t)i, 0) < 0)
			return -1;
	return 0;
}

int mod_init()
{
	if (register_stats() < 0)
		return -1;
	if ((ev_script = publish("E_PROFILING_SCRIPT")) == EVI_ERROR ||
	    (ev_proc = publish("E_PROFILING_PROC")) == EVI_ERROR)
		return -1;
	if (register_mi_mod("core", core_cmds) < 0) {
		LM_ERR("cannot register core:profiling_proc\n");
		return -1;
	}
	if (max_rate < 0) {
		LM_ERR("max_rate must be >= 0\n");
		return -1;
	}
	if (sr_group && *sr_group) {
		if (load_sr_api(&g_sr) < 0) {
			LM_ERR("sr_group '%s' needs status_report\n", sr_group);
			return -1;
		}
		g_sr_grp = g_sr.register_group_with_identifier(
		    sr_group, (int)strlen(sr_group), 0, nullptr, 0, SR_STATUS_READY,
		    S("profiling"), 20);
		if (!g_sr_grp) {
			LM_ERR("cannot register the SR group '%s'\n", sr_group);
			return -1;
		}
	}
	if (register_timer("event_profiling drops", drop_report, nullptr, 10) < 0)
		return -1;
	shim_prof_sink sink{sizeof(shim_prof_sink), ev_proc, ev_script, deliver, nullptr,
	                    (unsigned int)max_rate};
	if (shim_prof_set_sink(&sink) < 0)
		return -1;
	return 0;
}

void mod_destroy() { shim_prof_set_sink(nullptr); }

} // namespace

extern "C" {

__attribute__((visibility("default"))) struct module_exports exports = {
	"event_profiling", /* name */
	MOD_TYPE_DEFAULT,  /* type */
	MODULE_VERSION,    /* ver_info */
	DEFAULT_DLFLAGS,   /* dlflags */
	nullptr,           /* load_f */
	nullptr,           /* deps */
	nullptr,           /* cmds: no script functions */
	nullptr,           /* acmds */
	params,            /* params: sr_group, max_rate */
	nullptr,           /* stats */
	mi_cmds,           /* mi_cmds: event_profiling:stats */
	nullptr,           /* items */
	nullptr,           /* trans */
	nullptr,           /* procs: the sender thread is the host's */
	nullptr,           /* preinit_f */
	mod_init,          /* init_f: publish, core:profiling_proc, install the sink */
	nullptr,           /* response_f */
	mod_destroy,       /* destroy_f: remove the sink */
	nullptr,           /* init_child_f */
	nullptr,           /* reload_ack_f */
};

} // extern "C"
