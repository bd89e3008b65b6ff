// Host logging: log consumers (stderror, syslog, event), their MI commands,
// and E_CORE_LOG suppression. docs/internals/logging.md explains the rules.
//
// Threads: the consumer table is fixed; mute state and level filter are
// atomics (MI writes them from the MI thread, every thread reads them). The
// event recursion guard and the suppression depth are per thread. Stderr
// lines go out with a single write(2) so lines from different threads never
// interleave.
#include "util/host_mi.h"
#include "log/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include <atomic>
#include <mutex>
#include <string>

#include "api/hooks.h"
#include "settings/globals.h"
#include "opensips/core_hooks.h"
#include "opensips/dprint.h"
#include "opensips/host.h"
#include "opensips/mi.h"
#include "proc/roster.h"

namespace shim {

int xlog_level = L_NOTICE;
int xlog_print_level = L_NOTICE;

namespace {

struct log_consumer {
	const char *name;
	std::atomic<int> muted;
	std::atomic<int> level_filter;
	log_consumer(const char *n, int m) : name(n), muted(m), level_filter(0) {}
};

enum { CONS_STDERROR = 0, CONS_SYSLOG = 1, CONS_EVENT = 2, CONS_NO = 3 };

// Defaults before the cfg is applied: stderr on, syslog and event muted
// (stderror_enabled = yes, syslog_enabled = no, log_event_enabled = no).
log_consumer g_cons[CONS_NO] = {
    {"stderror", 0},
    {"syslog", 1},
    {"event", 1},
};

std::atomic<int> g_level{L_NOTICE};
std::atomic<int> g_msg_buf_size{4096};
std::mutex g_prefix_mu;
std::string g_prefix; // written at startup only; guarded for MI readers
std::string g_syslog_ident;

// Per thread: inside the event hook (no E_CORE_LOG from logs it makes),
// and the shim_log_event_suppress() depth.
thread_local bool t_in_event_hook = false;
thread_local int t_event_suppress = 0;

log_consumer *find_consumer(const std::string &name)
{
	for (auto &c : g_cons)
		if (name == c.name)
			return &c;
	return nullptr;
}

// Mute state off, and the filter passes (0 = no filter, else filter >= level).
inline bool consumer_takes(const log_consumer &c, int level)
{
	if (c.muted.load(std::memory_order_relaxed))
		return false;
	int f = c.level_filter.load(std::memory_order_relaxed);
	return f == 0 || f >= level;
}

int syslog_facility(const std::string &name)
{
	static const struct {
		const char *n;
		int v;
	} tab[] = {
	    {"LOG_DAEMON", LOG_DAEMON}, {"LOG_USER", LOG_USER},
	    {"LOG_LOCAL0", LOG_LOCAL0}, {"LOG_LOCAL1", LOG_LOCAL1},
	    {"LOG_LOCAL2", LOG_LOCAL2}, {"LOG_LOCAL3", LOG_LOCAL3},
	    {"LOG_LOCAL4", LOG_LOCAL4}, {"LOG_LOCAL5", LOG_LOCAL5},
	    {"LOG_LOCAL6", LOG_LOCAL6}, {"LOG_LOCAL7", LOG_LOCAL7},
	};
	for (auto &t : tab)
		if (name == t.n)
			return t.v;
	return LOG_DAEMON;
}

int syslog_priority(int level)
{
	switch (level) {
	case L_ALERT: return LOG_ALERT;
	case L_CRIT: return LOG_CRIT;
	case L_ERR: return LOG_ERR;
	case L_WARN: return LOG_WARNING;
	case L_NOTICE: return LOG_NOTICE;
	case L_INFO: return LOG_INFO;
	default: return level > L_INFO ? LOG_DEBUG : LOG_ALERT;
	}
}

} // namespace

void log_set_global_level(int level)
{
	g_level.store(level, std::memory_order_relaxed);
	roster_set_default_log_level(level);
	for (int i = 0; i < roster_size(); i++)
		roster_get(i)->log_level.store(level, std::memory_order_relaxed);
}

int log_global_level() { return g_level.load(std::memory_order_relaxed); }

void log_set_stderr(bool enabled)
{
	g_cons[CONS_STDERROR].muted.store(enabled ? 0 : 1);
}

void log_set_prefix(const std::string &prefix)
{
	std::lock_guard<std::mutex> lk(g_prefix_mu);
	g_prefix = prefix.empty() ? std::string() : prefix + ":";
}

const char *log_level_name(int level)
{
	switch (level) {
	case L_ALERT: return "ALERT";
	case L_CRIT: return "CRITICAL";
	case L_ERR: return "ERROR";
	case L_WARN: return "WARNING";
	case L_NOTICE: return "NOTICE";
	case L_INFO: return "INFO";
	default: return level >= L_DBG ? "DBG" : "ALERT";
	}
}

void log_apply_cfg()
{
	const core_globals &g = g_globals;
	g_cons[CONS_STDERROR].muted.store(g.stderror_enabled ? 0 : 1);
	g_cons[CONS_STDERROR].level_filter.store(g.stderror_level_filter);
	g_cons[CONS_SYSLOG].muted.store(g.syslog_enabled ? 0 : 1);
	g_cons[CONS_SYSLOG].level_filter.store(g.syslog_level_filter);
	g_cons[CONS_EVENT].muted.store(g.log_event_enabled ? 0 : 1);
	g_cons[CONS_EVENT].level_filter.store(g.log_event_level_filter);
	g_msg_buf_size.store(g.log_msg_buf_size > 0 ? g.log_msg_buf_size : 4096);
	{
		std::lock_guard<std::mutex> lk(g_prefix_mu);
		g_prefix = g.log_prefix.empty() ? std::string() : g.log_prefix + ":";
	}
	if (g.syslog_enabled) {
		// openlog keeps the ident pointer: it lives in g_syslog_ident.
		g_syslog_ident = g.syslog_name;
		openlog(g_syslog_ident.empty() ? nullptr : g_syslog_ident.c_str(),
		        LOG_PID | LOG_NDELAY, syslog_facility(g.syslog_facility));
	}
}

int log_consumer_get(const std::string &name, int *muted, int *level_filter)
{
	log_consumer *c = find_consumer(name);
	if (!c)
		return -1;
	if (muted)
		*muted = c->muted.load();
	if (level_filter)
		*level_filter = c->level_filter.load();
	return 0;
}

int log_consumer_set_filter(const std::string &name, int level_filter)
{
	log_consumer *c = find_consumer(name);
	if (!c)
		return -1;
	c->level_filter.store(level_filter);
	return 0;
}

int log_consumer_set_muted(const std::string &name, int muted)
{
	log_consumer *c = find_consumer(name);
	if (!c)
		return -1;
	c->muted.store(muted);
	return 0;
}

// ---- MI: core:log_level_filter, core:log_mute_state (spec §5.3) ----
namespace {

#define S(x) x, (int)(sizeof(x) - 1)

mi_response_t *unknown_consumer()
{
	return init_mi_error_extra(404, S("Unknown log consumer"), nullptr, 0);
}

// Reads `consumer`; NULL with *err set when it is missing or unknown.
log_consumer *mi_consumer(const mi_params_t *params, mi_response_t **err)
{
	char *name;
	int len;
	if (get_mi_string_param(params, "consumer", &name, &len) < 0) {
		*err = init_mi_param_error();
		return nullptr;
	}
	log_consumer *c = find_consumer(std::string(name, (size_t)len));
	if (!c)
		*err = unknown_consumer();
	return c;
}

// The two per-consumer settings share one shape: read it as {"<key>":N},
// or set it from the int param `param`.
mi_response_t *consumer_get(const mi_params_t *params, const char *key,
                            int key_len, std::atomic<int> log_consumer::*field)
{
	mi_response_t *err = nullptr;
	log_consumer *c = mi_consumer(params, &err);
	if (!c)
		return err;
	mi_item_t *obj;
	mi_response_t *resp = init_mi_result_object(&obj);
	if (resp && add_mi_int(obj, key, key_len, (c->*field).load()) < 0) {
		free_mi_response(resp);
		return nullptr;
	}
	return resp;
}

mi_response_t *consumer_set(const mi_params_t *params, const char *param,
                            std::atomic<int> log_consumer::*field)
{
	mi_response_t *err = nullptr;
	log_consumer *c = mi_consumer(params, &err);
	if (!c)
		return err;
	int v;
	if (get_mi_int_param(params, param, &v) < 0)
		return init_mi_param_error();
	(c->*field).store(v);
	return init_mi_result_ok();
}

mi_response_t *mi_filter_get(const mi_params_t *params, struct mi_handler *)
{
	return consumer_get(params, S("Log level filter"), &log_consumer::level_filter);
}

mi_response_t *mi_filter_set(const mi_params_t *params, struct mi_handler *)
{
	return consumer_set(params, "level_filter", &log_consumer::level_filter);
}

mi_response_t *mi_mute_get(const mi_params_t *params, struct mi_handler *)
{
	return consumer_get(params, S("mute state"), &log_consumer::muted);
}

mi_response_t *mi_mute_set(const mi_params_t *params, struct mi_handler *)
{
	return consumer_set(params, "mute_state", &log_consumer::muted);
}

const shim::mi::host_mi_cmd log_mi_cmds[] = {
	{
		"log_level_filter",                                  /* name */
		"Reports a log consumer's level filter (stderror, syslog, event); "
		"with `level_filter`, sets it (0 = no filter).",     /* help */
		0,                                                   /* flags */
		nullptr,                                             /* init_f */
		{
			{mi_filter_get, {"consumer", nullptr}},
			{mi_filter_set, {"consumer", "level_filter", nullptr}},
			{nullptr, {nullptr}},
		},                                                   /* recipes */
		{nullptr},                                           /* aliases */
	},
	{
		"log_mute_state",                                    /* name */
		"Reports whether a log consumer is muted; with `mute_state`, sets "
		"it.",                                               /* help */
		0,                                                   /* flags */
		nullptr,                                             /* init_f */
		{
			{mi_mute_get, {"consumer", nullptr}},
			{mi_mute_set, {"consumer", "mute_state", nullptr}},
			{nullptr, {nullptr}},
		},                                                   /* recipes */
		{nullptr},                                           /* aliases */
	},
	{nullptr, nullptr, 0, nullptr, {{nullptr, {nullptr}}}, {nullptr}},
};

#undef S

} // namespace

void log_register_mi() { shim::mi::register_host_mi("core", log_mi_cmds); }

} // namespace shim

using namespace shim;

extern "C" int shim_log_level(void)
{
	proc_entry *self = roster_self();
	if (self)
		return self->log_level.load(std::memory_order_relaxed);
	return g_level.load(std::memory_order_relaxed);
}

extern "C" int shim_log_event_suppress(int on)
{
	int prev = t_event_suppress;
	if (on)
		t_event_suppress++;
	else if (t_event_suppress > 0)
		t_event_suppress--;
	return prev;
}

extern "C" void shim_log(int level, const char *module, const char *func,
                         const char *fmt, ...)
{
	if (level > shim_log_level())
		return;
	const bool to_stderr = consumer_takes(g_cons[CONS_STDERROR], level);
	const bool to_syslog = consumer_takes(g_cons[CONS_SYSLOG], level);
	auto hook = g_core_hooks.log;
	const bool to_event = hook && !t_in_event_hook && t_event_suppress == 0 &&
	                      consumer_takes(g_cons[CONS_EVENT], level);
	if (!to_stderr && !to_syslog && !to_event)
		return;

	// The message, formatted once. A stack buffer holds the usual line; a
	// longer one is formatted again on the heap when the event consumer
	// may carry it (up to log_msg_buf_size - 1 bytes, as vsnprintf into a
	// log_msg_buf_size buffer). Local buffers keep re-entry (a log made by
	// a hook) from clobbering the outer line.
	char small[4096];
	std::string big;
	char *msg = small;
	size_t len = 0;
	{
		va_list ap;
		va_start(ap, fmt);
		va_list ap2;
		va_copy(ap2, ap);
		int m = vsnprintf(small, sizeof(small), fmt, ap);
		va_end(ap);
		if (m < 0) {
			small[0] = 0;
			m = 0;
		}
		len = (size_t)m < sizeof(small) ? (size_t)m : sizeof(small) - 1;
		int cap = g_msg_buf_size.load(std::memory_order_relaxed);
		if (to_event && (size_t)m >= sizeof(small) && cap > (int)sizeof(small)) {
			big.resize((size_t)cap);
			int m2 = vsnprintf(big.data(), (size_t)cap, fmt, ap2);
			if (m2 >= 0) {
				len = (size_t)m2 < (size_t)cap ? (size_t)m2 : (size_t)cap - 1;
				msg = big.data();
			}
		}
		va_end(ap2);
	}

	char when[32];
	time_t now = time(nullptr);
	struct tm tm;
	localtime_r(&now, &tm);
	// ctime's "Mmm dd hh:mm:ss" (day padded with a space)
	size_t wl = strftime(when, sizeof(when), "%b %e %H:%M:%S", &tm);
	when[wl] = 0;
	std::string prefix;
	{
		std::lock_guard<std::mutex> lk(g_prefix_mu);
		prefix = g_prefix;
	}
	const int pid = shim_my_pid();

	if (to_stderr) {
		char line[4096];
		size_t n = (size_t)snprintf(line, sizeof(line), "%s [%d] %s%s:", when,
		                            pid, prefix.c_str(), log_level_name(level));
		if (module && func)
			n += (size_t)snprintf(line + n, sizeof(line) - n, "%s:%s: ",
			                      module, func);
		else
			n += (size_t)snprintf(line + n, sizeof(line) - n, " ");
		if (n < sizeof(line))
			n += (size_t)snprintf(line + n, sizeof(line) - n, "%.*s",
			                      (int)len, msg);
		if (n >= sizeof(line) - 1)
			n = sizeof(line) - 2;
		// One newline at the end, whether or not the message had one.
		while (n > 0 && line[n - 1] == '\n')
			n--;
		line[n++] = '\n';
		ssize_t w = write(STDERR_FILENO, line, n);
		(void)w;
	}

	if (to_syslog) {
		size_t sl = len;
		while (sl > 0 && msg[sl - 1] == '\n')
			sl--;
		if (module && func)
			syslog(syslog_priority(level), "%s%s:%s:%s: %.*s", prefix.c_str(),
			       log_level_name(level), module, func, (int)sl, msg);
		else
			syslog(syslog_priority(level), "%s%s: %.*s", prefix.c_str(),
			       log_level_name(level), (int)sl, msg);
	}

	if (to_event) {
		// Spec §3 E_CORE_LOG: the message with one trailing '\n' removed;
		// module/function only for C-code logs; prefix only when set.
		size_t el = len;
		int cap = g_msg_buf_size.load(std::memory_order_relaxed);
		if (cap > 0 && el > (size_t)cap - 1)
			el = (size_t)cap - 1;
		if (el > 0 && msg[el - 1] == '\n')
			el--;
		msg[el] = 0;
		t_in_event_hook = true;
		hook(when, pid, log_level_name(level), module,
		     module ? func : nullptr, prefix.empty() ? nullptr : prefix.c_str(),
		     msg, (int)el);
		t_in_event_hook = false;
	}
}
