// The host's own MI commands, namespace `core` (spec §5.3).
#include "util/host_mi.h"
#include "mi/mi_core.h"

#include <cerrno>
#include <climits>
#include <cstring>
#include <ctime>
#include <mutex>
#include <string>
#include <unistd.h>
#include <vector>

#include "api/registry.h"
#include "settings/globals.h"
#include "log/log.h"
#include "mi/mi_table.h"
#include "opensips/host.h"
#include "opensips/mi.h"
#include "proc/roster.h"

#ifndef SHIM_GIT_REVISION
#define SHIM_GIT_REVISION "unknown"
#endif

namespace shim {

namespace {

std::mutex g_argv_lock;
std::vector<std::string> g_argv;

#define S(x) x, (int)(sizeof(x) - 1)

mi_response_t *err404(const char *msg)
{
	return init_mi_error(404, msg, (int)strlen(msg));
}

mi_response_t *add_failed(mi_response_t *resp)
{
	free_mi_response(resp);
	return nullptr;
}

std::string ctime_text(time_t t)
{
	char buf[64];
	if (!ctime_r(&t, buf))
		return "";
	std::string s(buf);
	while (!s.empty() && (s.back() == '\n' || s.back() == '\r'))
		s.pop_back();
	return s;
}

// ---- which ----
mi_response_t *mi_which(const mi_params_t *, struct mi_handler *)
{
	mi_item_t *arr;
	mi_response_t *resp = init_mi_result_array(&arr);
	if (!resp)
		return nullptr;
	for (auto &n : mi::all_names(g_globals.mi_list_aliases))
		if (add_mi_string(arr, nullptr, 0, n.data(), (int)n.size()) < 0)
			return add_failed(resp);
	return resp;
}

mi_response_t *mi_which_cmd(const mi_params_t *params, struct mi_handler *)
{
	char *name;
	int len;
	if (get_mi_string_param(params, "command", &name, &len) < 0)
		return init_mi_param_error();
	std::string cmd(name, (size_t)len);
	mi_item_t *arr;
	if (!cmd.empty() && cmd.back() == ':') {
		auto names = mi::names_with_prefix(cmd);
		if (names.empty())
			return err404("unknown MI command");
		mi_response_t *resp = init_mi_result_array(&arr);
		if (!resp)
			return nullptr;
		for (auto &n : names)
			if (add_mi_string(arr, nullptr, 0, n.data(), (int)n.size()) < 0)
				return add_failed(resp);
		return resp;
	}
	mi::lookup_result lr = mi::lookup(cmd);
	if (!lr.cmd)
		return err404("unknown MI command");
	mi_response_t *resp = init_mi_result_array(&arr);
	if (!resp)
		return nullptr;
	for (int r = 0; r < MAX_MI_RECIPES && lr.cmd->exp.recipes[r].cmd; r++) {
		mi_item_t *rec = add_mi_array(arr, nullptr, 0);
		if (!rec)
			return add_failed(resp);
		for (int i = 0; i < MAX_MI_PARAMS && lr.cmd->exp.recipes[r].params[i]; i++) {
			const char *p = lr.cmd->exp.recipes[r].params[i];
			if (add_mi_string(rec, nullptr, 0, p, (int)strlen(p)) < 0)
				return add_failed(resp);
		}
	}
	return resp;
}

// ---- help ----
mi_response_t *mi_help(const mi_params_t *, struct mi_handler *)
{
	return init_mi_result_string(
		S("Usage: help mi_cmd - returns information about 'mi_cmd'"));
}

mi_response_t *mi_help_cmd(const mi_params_t *params, struct mi_handler *)
{
	char *name;
	int len;
	if (get_mi_string_param(params, "mi_cmd", &name, &len) < 0)
		return init_mi_param_error();
	mi::lookup_result lr = mi::lookup(std::string(name, (size_t)len));
	if (!lr.cmd)
		return err404("unknown MI command");
	mi_item_t *obj;
	mi_response_t *resp = init_mi_result_object(&obj);
	if (!resp)
		return nullptr;
	const char *help = lr.cmd->exp.help && *lr.cmd->exp.help
	                       ? lr.cmd->exp.help
	                       : "not available for this command";
	if (add_mi_string(obj, S("Help"), help, (int)strlen(help)) < 0 ||
	    add_mi_string(obj, S("Exported by"), lr.cmd->ns.data(),
	                  (int)lr.cmd->ns.size()) < 0)
		return add_failed(resp);
	return resp;
}

// ---- version ----
mi_response_t *version_reply(bool revision)
{
	mi_item_t *obj;
	mi_response_t *resp = init_mi_result_object(&obj);
	if (!resp)
		return nullptr;
	const char *server = shim_server_version();
	if (!server)
		server = "";
	if (add_mi_string(obj, S("Server"), server, (int)strlen(server)) < 0)
		return add_failed(resp);
	if (revision && add_mi_string(obj, S("git"), S(SHIM_GIT_REVISION)) < 0)
		return add_failed(resp);
	return resp;
}

mi_response_t *mi_version(const mi_params_t *, struct mi_handler *)
{
	return version_reply(false);
}

mi_response_t *mi_version_rev(const mi_params_t *, struct mi_handler *)
{
	return version_reply(true);
}

// ---- uptime ----
mi_response_t *mi_uptime(const mi_params_t *, struct mi_handler *)
{
	time_t now = time(nullptr);
	time_t up = (time_t)shim_startup_time();
	mi_item_t *obj;
	mi_response_t *resp = init_mi_result_object(&obj);
	if (!resp)
		return nullptr;
	std::string n = ctime_text(now), u = ctime_text(up);
	long secs = (long)difftime(now, up);
	if (secs < 0)
		secs = 0;
	if (add_mi_string(obj, S("Now"), n.data(), (int)n.size()) < 0 ||
	    add_mi_string(obj, S("Up since"), u.data(), (int)u.size()) < 0 ||
	    add_mi_string_fmt(obj, S("Up time"), "%ld [sec]", secs) < 0)
		return add_failed(resp);
	return resp;
}

// ---- pwd ----
mi_response_t *mi_pwd(const mi_params_t *, struct mi_handler *)
{
	std::vector<char> buf(PATH_MAX);
	while (!getcwd(buf.data(), buf.size())) {
		if (errno != ERANGE || buf.size() > (1u << 20))
			{
			static const char m[] = "Failed to get the working directory";
			return init_mi_error(500, m, (int)sizeof(m) - 1);
		}
		buf.resize(buf.size() * 2);
	}
	mi_item_t *obj;
	mi_response_t *resp = init_mi_result_object(&obj);
	if (!resp)
		return nullptr;
	if (add_mi_string(obj, S("WD"), buf.data(), (int)strlen(buf.data())) < 0)
		return add_failed(resp);
	return resp;
}

// ---- arg ----
mi_response_t *mi_arg(const mi_params_t *, struct mi_handler *)
{
	mi_item_t *arr;
	mi_response_t *resp = init_mi_result_array(&arr);
	if (!resp)
		return nullptr;
	std::lock_guard lk(g_argv_lock);
	for (auto &a : g_argv)
		if (add_mi_string(arr, nullptr, 0, a.data(), (int)a.size()) < 0)
			return add_failed(resp);
	return resp;
}

} // namespace

mi_response_t *mi_process_list(
    bool running_only,
    const std::function<int(mi_item_t *, const proc_entry *)> &row)
{
	mi_item_t *obj;
	mi_response_t *resp = init_mi_result_object(&obj);
	if (!resp)
		return nullptr;
	mi_item_t *arr = add_mi_array(obj, S("Processes"));
	if (!arr)
		return add_failed(resp);
	int n = roster_size();
	for (int i = 0; i < n; i++) {
		proc_entry *e = roster_get(i);
		if (!e || (running_only && !e->running.load()))
			continue;
		mi_item_t *p = add_mi_object(arr, nullptr, 0);
		if (!p || row(p, e) < 0)
			return add_failed(resp);
	}
	return resp;
}

namespace {

// ---- ps ----
mi_response_t *mi_ps(const mi_params_t *, struct mi_handler *)
{
	return mi_process_list(true, [](mi_item_t *p, const proc_entry *e) {
		return add_mi_int(p, S("ID"), e->id) < 0 ||
		               add_mi_int(p, S("PID"), e->pid.load()) < 0 ||
		               add_mi_string(p, S("Type"), e->type.data(),
		                             (int)e->type.size()) < 0
		           ? -1
		           : 0;
	});
}

// ---- kill ----
mi_response_t *mi_kill(const mi_params_t *, struct mi_handler *)
{
	mi_response_t *resp = init_mi_result_ok();
	// Shutdown is asynchronous: the transport still sends this reply.
	shim_request_stop();
	return resp;
}

// ---- log_level ----
mi_response_t *mi_log_level_list(const mi_params_t *, struct mi_handler *)
{
	return mi_process_list(true, [](mi_item_t *p, const proc_entry *e) {
		return add_mi_int(p, S("PID"), e->pid.load()) < 0 ||
		               add_mi_int(p, S("Log level"), e->log_level.load()) < 0 ||
		               add_mi_string(p, S("Type"), e->type.data(),
		                             (int)e->type.size()) < 0
		           ? -1
		           : 0;
	});
}

mi_response_t *mi_log_level_set(const mi_params_t *params, struct mi_handler *)
{
	int level;
	if (get_mi_int_param(params, "level", &level) < 0)
		return init_mi_param_error();
	log_set_global_level(level);
	mi_item_t *obj;
	mi_response_t *resp = init_mi_result_object(&obj);
	if (!resp)
		return nullptr;
	if (add_mi_int(obj, S("New global log level"), level) < 0)
		return add_failed(resp);
	return resp;
}

mi_response_t *mi_log_level_pid(const mi_params_t *params, struct mi_handler *)
{
	int level, pid;
	if (get_mi_int_param(params, "level", &level) < 0 ||
	    get_mi_int_param(params, "pid", &pid) < 0)
		return init_mi_param_error();
	proc_entry *found = nullptr;
	int n = roster_size();
	for (int i = 0; i < n && !found; i++) {
		proc_entry *e = roster_get(i);
		if (e && e->running.load() && e->pid.load() == pid)
			found = e;
	}
	if (!found)
		return init_mi_error_extra(JSONRPC_INVAL_PARAMS_CODE, S("Invalid params"),
		                           S("Bad PID"));
	found->log_level.store(level);
	mi_item_t *obj;
	mi_response_t *resp = init_mi_result_object(&obj);
	if (!resp)
		return nullptr;
	if (add_mi_int(obj, S("Log level"), level) < 0)
		return add_failed(resp);
	return resp;
}

// ---- xlog_level ----
mi_response_t *mi_xlog_level_get(const mi_params_t *, struct mi_handler *)
{
	mi_item_t *obj;
	mi_response_t *resp = init_mi_result_object(&obj);
	if (!resp)
		return nullptr;
	if (add_mi_int(obj, S("xLog Level"), __atomic_load_n(&xlog_level, __ATOMIC_RELAXED)) < 0)
		return add_failed(resp);
	return resp;
}

mi_response_t *mi_xlog_level_set(const mi_params_t *params, struct mi_handler *)
{
	int level;
	if (get_mi_int_param(params, "level", &level) < 0)
		return init_mi_param_error();
	__atomic_store_n(&xlog_level, level, __ATOMIC_RELAXED);
	mi_item_t *obj;
	mi_response_t *resp = init_mi_result_object(&obj);
	if (!resp)
		return nullptr;
	if (add_mi_int(obj, S("New xLog level"), level) < 0)
		return add_failed(resp);
	return resp;
}

// Order follows the reference's `which` for the commands we have.
const shim::mi::host_mi_cmd core_cmds[] = {
	{"uptime", "Reports when the server started and how long it has been running.",
	 0, nullptr, {{mi_uptime, {nullptr}}, {nullptr, {nullptr}}}, {nullptr}},
	{"version", "Reports the server name and version; with `revision`, also the "
	            "source revision it was built from.",
	 0, nullptr,
	 {{mi_version, {nullptr}}, {mi_version_rev, {"revision", nullptr}},
	  {nullptr, {nullptr}}},
	 {nullptr}},
	{"pwd", "Reports the server's working directory.", 0, nullptr,
	 {{mi_pwd, {nullptr}}, {nullptr, {nullptr}}}, {nullptr}},
	{"arg", "Lists the command line the server was started with.", 0, nullptr,
	 {{mi_arg, {nullptr}}, {nullptr, {nullptr}}}, {nullptr}},
	{"which", "Lists the MI commands; with `command`, the parameter sets that "
	          "command accepts (or, for a name ending in ':', the commands of that "
	          "namespace).",
	 0, nullptr,
	 {{mi_which, {nullptr}}, {mi_which_cmd, {"command", nullptr}},
	  {nullptr, {nullptr}}},
	 {"which", nullptr}},
	{"ps", "Lists the server's threads with their ID, thread id and role.", 0,
	 nullptr, {{mi_ps, {nullptr}}, {nullptr, {nullptr}}}, {nullptr}},
	{"kill", "Shuts the server down.", 0, nullptr,
	 {{mi_kill, {nullptr}}, {nullptr, {nullptr}}}, {nullptr}},
	{"log_level", "Lists each thread's log level; with `level`, sets it for all "
	              "threads; with `level` and `pid`, for one thread.",
	 0, nullptr,
	 {{mi_log_level_list, {nullptr}},
	  {mi_log_level_set, {"level", nullptr}},
	  {mi_log_level_pid, {"level", "pid", nullptr}},
	  {nullptr, {nullptr}}},
	 {nullptr}},
	{"xlog_level", "Reports the xlog level; with `level`, sets it.", 0, nullptr,
	 {{mi_xlog_level_get, {nullptr}}, {mi_xlog_level_set, {"level", nullptr}},
	  {nullptr, {nullptr}}},
	 {nullptr}},
	{"help", "Describes an MI command: `help mi_cmd`.", 0, nullptr,
	 {{mi_help, {nullptr}}, {mi_help_cmd, {"mi_cmd", nullptr}},
	  {nullptr, {nullptr}}},
	 {"help", nullptr}},
	{nullptr, nullptr, 0, nullptr, {{nullptr, {nullptr}}}, {nullptr}},
};

#undef S

} // namespace

void mi_register_core_commands()
{
	shim::mi::register_host_mi("core", core_cmds);
}

void mi_set_argv(int argc, char **argv)
{
	std::lock_guard lk(g_argv_lock);
	g_argv.clear();
	for (int i = 0; i < argc && argv && argv[i]; i++)
		g_argv.emplace_back(argv[i]);
}

} // namespace shim
