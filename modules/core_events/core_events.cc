// core_events: OpenSIPS's core events as a module (design decision 2,
// decisions §1, §3; spec §3). The host loads it second, after
// status_report.
//
// init_f publishes, in this order (ids 0-5 when nothing was published
// before): E_CORE_SR_STATUS_CHANGED, E_CORE_THRESHOLD, E_CORE_SHM_THRESHOLD,
// E_CORE_PKG_THRESHOLD, E_CORE_PROC_AUTO_SCALE, E_CORE_TCP_DISCONNECT.
// E_CORE_LOG is published from a post-fixup callback, so it comes after
// every module's events and the script's own names.
//
// The events are fed by the host's core-event hooks (core_hooks.h) and by
// the SR API's status callback. Every hook runs on the thread where the
// thing happened, probes the event first (one flag read when nobody
// listens) and builds the parameters exactly as spec §3 lists them. The
// strings are not copied here: evi_raise_event copies what it queues
// before it returns.
#include <string.h>

#include "opensips/core_hooks.h"
#include "opensips/evi.h"
#include "opensips/host.h"
#include "opensips/sr_module.h"
#include "opensips/status_report.h"

namespace {

event_id_t ev_sr_status = EVI_ERROR;
event_id_t ev_threshold = EVI_ERROR;
event_id_t ev_shm_threshold = EVI_ERROR;
event_id_t ev_pkg_threshold = EVI_ERROR;
event_id_t ev_proc_auto_scale = EVI_ERROR;
event_id_t ev_tcp_disconnect = EVI_ERROR;
event_id_t ev_log = EVI_ERROR;

str s_group = str_init("group");
str s_identifier = str_init("identifier");
str s_status = str_init("status");
str s_details = str_init("details");
str s_old_status = str_init("old_status");
str s_source = str_init("source");
str s_time = str_init("time");
str s_extra = str_init("extra");
str s_usage = str_init("usage");
str s_threshold = str_init("threshold");
str s_used = str_init("used");
str s_size = str_init("size");
str s_pid = str_init("pid");
str s_group_type = str_init("group_type");
str s_group_filter = str_init("group_filter");
str s_group_load = str_init("group_load");
str s_scale = str_init("scale");
str s_process_id = str_init("process_id");
str s_src_ip = str_init("src_ip");
str s_src_port = str_init("src_port");
str s_dst_ip = str_init("dst_ip");
str s_dst_port = str_init("dst_port");
str s_proto = str_init("proto");
str s_level = str_init("level");
str s_module = str_init("module");
str s_function = str_init("function");
str s_prefix = str_init("prefix");
str s_message = str_init("message");

// A parameter list under construction: the first failed add frees it and
// every later call is a no-op, so the builders read as straight lists.
class param_list {
public:
	param_list() : p_(evi_get_params()) {}
	~param_list()
	{
		if (p_)
			evi_free_params(p_);
	}
	param_list(const param_list &) = delete;
	param_list &operator=(const param_list &) = delete;

	param_list &add(str *name, int v)
	{
		if (p_ && evi_param_add_int(p_, name, &v) < 0)
			drop();
		return *this;
	}
	param_list &add(str *name, const char *s, int len)
	{
		str v{(char *)s, len};
		if (p_ && evi_param_add_str(p_, name, &v) < 0)
			drop();
		return *this;
	}
	param_list &add(str *name, const char *s)
	{
		return add(name, s, s ? (int)strlen(s) : 0);
	}
	param_list &add(str *name, const str *s)
	{
		return add(name, s ? s->s : nullptr, s ? s->len : 0);
	}
	// Hands the list to the EVI core (which owns it from here on).
	void raise(event_id_t id, const char *what)
	{
		if (!p_) {
			LM_ERR("cannot build the %s parameters\n", what);
			return;
		}
		evi_params_p p = p_;
		p_ = nullptr;
		if (evi_raise_event(id, p) < 0)
			LM_DBG("raising %s failed\n", what);
	}

private:
	void drop()
	{
		evi_free_params(p_);
		p_ = nullptr;
	}
	evi_params_p p_;
};

inline bool listened(event_id_t id) { return evi_probe_event(id) > 0; }

// ---- hooks ----

// E_CORE_THRESHOLD: source, time (µs), extra.
void on_threshold(const char *source, int time_us, const char *extra,
                  int extra_len)
{
	if (!listened(ev_threshold))
		return;
	param_list()
	    .add(&s_source, source)
	    .add(&s_time, time_us)
	    .add(&s_extra, extra, extra ? extra_len : 0)
	    .raise(ev_threshold, "E_CORE_THRESHOLD");
}

// E_CORE_PKG_THRESHOLD: usage, threshold, used, size, pid.
void on_pkg_threshold(int usage, int threshold, int used, int size, int pid)
{
	if (!listened(ev_pkg_threshold))
		return;
	param_list()
	    .add(&s_usage, usage)
	    .add(&s_threshold, threshold)
	    .add(&s_used, used)
	    .add(&s_size, size)
	    .add(&s_pid, pid)
	    .raise(ev_pkg_threshold, "E_CORE_PKG_THRESHOLD");
}

// E_CORE_SHM_THRESHOLD: usage, threshold, used, size (no pid).
void on_shm_threshold(int usage, int threshold, int used, int size)
{
	if (!listened(ev_shm_threshold))
		return;
	param_list()
	    .add(&s_usage, usage)
	    .add(&s_threshold, threshold)
	    .add(&s_used, used)
	    .add(&s_size, size)
	    .raise(ev_shm_threshold, "E_CORE_SHM_THRESHOLD");
}

// E_CORE_PROC_AUTO_SCALE: group_type, group_filter, group_load, scale,
// process_id, pid.
void on_proc_auto_scale(const char *group_type, const char *group_filter,
                        int group_load, const char *scale, int process_id,
                        int pid)
{
	if (!listened(ev_proc_auto_scale))
		return;
	param_list()
	    .add(&s_group_type, group_type)
	    .add(&s_group_filter, group_filter ? group_filter : "none")
	    .add(&s_group_load, group_load)
	    .add(&s_scale, scale)
	    .add(&s_process_id, process_id)
	    .add(&s_pid, pid)
	    .raise(ev_proc_auto_scale, "E_CORE_PROC_AUTO_SCALE");
}

// E_CORE_TCP_DISCONNECT: src_ip, src_port, dst_ip, dst_port, proto.
void on_tcp_disconnect(const char *src_ip, int src_port, const char *dst_ip,
                       int dst_port, const char *proto)
{
	if (!listened(ev_tcp_disconnect))
		return;
	param_list()
	    .add(&s_src_ip, src_ip)
	    .add(&s_src_port, src_port)
	    .add(&s_dst_ip, dst_ip)
	    .add(&s_dst_port, dst_port)
	    .add(&s_proto, proto)
	    .raise(ev_tcp_disconnect, "E_CORE_TCP_DISCONNECT");
}

// E_CORE_LOG: time, pid, level, [module, function], [prefix], message.
// The host calls this with its per-thread guard set: logs made while
// raising do not come back here.
void on_log(const char *time, int pid, const char *level, const char *module,
            const char *function, const char *prefix, const char *message,
            int message_len)
{
	if (!listened(ev_log))
		return;
	param_list l;
	l.add(&s_time, time).add(&s_pid, pid).add(&s_level, level);
	if (module)
		l.add(&s_module, module).add(&s_function, function);
	if (prefix)
		l.add(&s_prefix, prefix);
	l.add(&s_message, message, message_len).raise(ev_log, "E_CORE_LOG");
}

// E_CORE_SR_STATUS_CHANGED: group, identifier, status, [details],
// old_status. The SR registry calls this only when the numeric status
// changed, and never for the shutdown transition (decisions §4).
void on_sr_status(const str *group, const str *identifier, int status,
                  const str *details, int old_status, void *)
{
	if (!listened(ev_sr_status))
		return;
	param_list l;
	l.add(&s_group, group).add(&s_identifier, identifier).add(&s_status, status);
	if (details && details->s)
		l.add(&s_details, details);
	l.add(&s_old_status, old_status).raise(ev_sr_status,
	                                       "E_CORE_SR_STATUS_CHANGED");
}

const struct core_event_hooks hooks = {
	sizeof(struct core_event_hooks),
	on_threshold,       /* threshold */
	on_pkg_threshold,   /* pkg_threshold */
	on_shm_threshold,   /* shm_threshold */
	on_proc_auto_scale, /* proc_auto_scale */
	on_tcp_disconnect,  /* tcp_disconnect */
	on_log,             /* log */
};

event_id_t publish(const char *name)
{
	str s{(char *)name, (int)strlen(name)};
	event_id_t id = evi_publish_event(s);
	if (id == EVI_ERROR)
		LM_ERR("cannot publish %s\n", name);
	return id;
}

// After every module init and the script fixups: E_CORE_LOG comes last.
// An event_route[E_CORE_LOG] block has published it already (spec §2.1
// step 3): reuse that id quietly.
void publish_log_event()
{
	str s{(char *)"E_CORE_LOG", 10};
	ev_log = evi_get_id(&s);
	if (ev_log == EVI_ERROR)
		ev_log = publish("E_CORE_LOG");
}

int mod_init()
{
	if ((ev_sr_status = publish("E_CORE_SR_STATUS_CHANGED")) == EVI_ERROR ||
	    (ev_threshold = publish("E_CORE_THRESHOLD")) == EVI_ERROR ||
	    (ev_shm_threshold = publish("E_CORE_SHM_THRESHOLD")) == EVI_ERROR ||
	    (ev_pkg_threshold = publish("E_CORE_PKG_THRESHOLD")) == EVI_ERROR ||
	    (ev_proc_auto_scale = publish("E_CORE_PROC_AUTO_SCALE")) == EVI_ERROR ||
	    (ev_tcp_disconnect = publish("E_CORE_TCP_DISCONNECT")) == EVI_ERROR)
		return -1;
	if (shim_add_post_fixup_cb(publish_log_event) < 0) {
		LM_ERR("cannot schedule the E_CORE_LOG publication\n");
		return -1;
	}

	// SR status changes come through status_report's API (loaded first).
	struct sr_api sr;
	if (load_sr_api(&sr) < 0) {
		LM_WARN("status_report is not loaded: no E_CORE_SR_STATUS_CHANGED\n");
	} else if (sr.register_status_cb(on_sr_status, nullptr) < 0) {
		LM_ERR("cannot follow SR status changes\n");
		return -1;
	}

	if (shim_set_core_event_hooks(&hooks) < 0)
		return -1;
	return 0;
}

// Nothing of ours may run once the module is unloaded.
void mod_destroy()
{
	shim_set_core_event_hooks(nullptr);
}

} // namespace

extern "C" {

__attribute__((visibility("default"))) struct module_exports exports = {
	"core_events",    /* name */
	MOD_TYPE_DEFAULT, /* type */
	MODULE_VERSION,   /* ver_info */
	DEFAULT_DLFLAGS,  /* dlflags */
	nullptr,          /* load_f */
	nullptr,          /* deps: status_report is loaded before us by the host */
	nullptr,          /* cmds: no script functions */
	nullptr,          /* acmds */
	nullptr,          /* params: the thresholds are core parameters */
	nullptr,          /* stats */
	nullptr,          /* mi_cmds: core:log_* live in the host */
	nullptr,          /* items */
	nullptr,          /* trans */
	nullptr,          /* procs */
	nullptr,          /* preinit_f */
	mod_init,         /* init_f: publish the events, bind SR, install hooks */
	nullptr,          /* response_f */
	mod_destroy,      /* destroy_f: uninstall the hooks */
	nullptr,          /* init_child_f */
	nullptr,          /* reload_ack_f */
};

} // extern "C"
