// sr_http: health endpoints on httpd (decisions §31). /metrics belongs to
// the prometheus module (decisions §34).
//
//   GET /livez     200 "ok" until the host announces TERMINATING, then 503
//   GET /readyz    200 when core is RUNNING, every identifier of the
//                  `ready_groups` is ready and the node is not drained
//                  (?verbose, ?exclude=<group>, /readyz/<group>[/<id>])
//   MI sr_http:drain / sr_http:undrain
//
// Handlers run on the HTTPD thread. SR answers come from a snapshot taken
// with sr_api.walk (a short registry read lock, never a wait on a worker),
// refreshed when a status callback marked it dirty or when it is older
// than `refresh_interval` ms (details can change without a callback).
// Drain and shutdown flags are atomics, written from MI threads and the
// main thread.
#include <atomic>
#include <chrono>
#include <cstring>
#include <ctime>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "opensips/host.h"
#include "opensips/httpd.h"
#include "opensips/mi.h"
#include "opensips/sr_module.h"
#include "opensips/status_report.h"

#include "render.h"

namespace {

// ---- modparams ----
char *ready_groups = nullptr;    // "a,b,c"; unset = every group
int refresh_interval = 1000;     // ms

// ---- state ----
struct sr_api g_sr;
const struct httpd_api *g_httpd = nullptr;
void *g_own_group = nullptr;
std::vector<std::string> g_ready_groups;

std::atomic<bool> g_dirty{true};
std::atomic<bool> g_draining{false};
std::atomic<long> g_drain_since{0};
std::atomic<bool> g_terminating{false};

// HTTPD thread only
std::vector<srh::sr_entry> g_snap;
std::chrono::steady_clock::time_point g_snap_at;

const char text_type[] = "text/plain; charset=utf-8";

void walk_cb(const str *group, const str *identifier, int status,
             const str *details, void *param)
{
	auto *v = (std::vector<srh::sr_entry> *)param;
	srh::sr_entry e;
	e.group.assign(group->s, (size_t)group->len);
	e.identifier.assign(identifier->s, (size_t)identifier->len);
	e.status = status;
	if (details && details->s) {
		e.has_details = true;
		e.details.assign(details->s, (size_t)details->len);
	}
	v->push_back(std::move(e));
}

const std::vector<srh::sr_entry> &snapshot()
{
	auto now = std::chrono::steady_clock::now();
	if (g_dirty.exchange(false) ||
	    now - g_snap_at >= std::chrono::milliseconds(refresh_interval)) {
		std::vector<srh::sr_entry> v;
		v.reserve(g_snap.size() + 4);
		g_sr.walk(walk_cb, &v);
		g_snap.swap(v);
		g_snap_at = now;
	}
	return g_snap;
}

srh::host_state host_state()
{
	srh::host_state st;
	st.draining = g_draining.load();
	st.drain_since = (time_t)g_drain_since.load();
	st.terminating = g_terminating.load();
	return st;
}

void on_status(const str *, const str *, int, const str *, int, void *)
{
	g_dirty = true;
}

void on_lifecycle(int state, void *)
{
	if (state != SHIM_STATE_TERMINATING)
		return;
	g_terminating = true;
	g_dirty = true;
	// The lame-duck window (listeners answering 503 before they close) is
	// the host's `shutdown_grace`; a listener must not block here.
}

// ---- handlers ----
int reply_text(struct httpd_reply *rpl, int status, const char *type,
               const std::string &body)
{
	rpl->status = status;
	rpl->content_type = type;
	return g_httpd->set_body(rpl, body.data(), (int)body.size());
}

// Only GET (and HEAD, which httpd maps to GET) at exactly "/<root>".
int check_get(const struct httpd_request *req, struct httpd_reply *rpl,
              std::string_view root, bool *done)
{
	*done = true;
	std::string_view m(req->method, (size_t)req->method_len);
	if (m != "GET") {
		rpl->status = 405;
		rpl->content_type = text_type;
		if (g_httpd->add_header(rpl, "Allow", "GET, HEAD") < 0)
			return -1;
		return g_httpd->set_body(rpl, "Method Not Allowed\n", 19);
	}
	std::string_view path(req->path, (size_t)req->path_len);
	std::string_view rest = path.substr(1 + root.size());
	if (!(rest.empty() || rest == "/"))
		return reply_text(rpl, 404, text_type, "Not Found\n");
	*done = false;
	return 0;
}

int h_livez(const struct httpd_request *req, struct httpd_reply *rpl, void *)
{
	bool done;
	int rc = check_get(req, rpl, "livez", &done);
	if (done)
		return rc;
	if (g_terminating.load() || shim_get_state() == SHIM_STATE_TERMINATING)
		return reply_text(rpl, 503, text_type, "shutting down\n");
	return reply_text(rpl, 200, text_type, "ok\n");
}

int h_readyz(const struct httpd_request *req, struct httpd_reply *rpl, void *)
{
	std::string_view m(req->method, (size_t)req->method_len);
	if (m != "GET") {
		rpl->status = 405;
		rpl->content_type = text_type;
		if (g_httpd->add_header(rpl, "Allow", "GET, HEAD") < 0)
			return -1;
		return g_httpd->set_body(rpl, "Method Not Allowed\n", 19);
	}
	srh::readyz_opts o;
	std::string_view path(req->path, (size_t)req->path_len);
	std::string_view rest = path.substr(sizeof "/readyz" - 1);
	if (!rest.empty() && rest != "/") {
		if (!srh::parse_readyz_subpath(rest.substr(1), o))
			return reply_text(rpl, 400, text_type, "bad path\n");
	}
	if (!srh::parse_readyz_query(std::string_view(req->query, (size_t)req->query_len), o))
		return reply_text(rpl, 400, text_type, "bad query\n");
	srh::http_text t = srh::render_readyz(snapshot(), g_ready_groups, host_state(), o);
	return reply_text(rpl, t.status, text_type, t.body);
}

// ---- MI ----
void *core_group()
{
	return g_sr.get_group_by_name("core", 4);
}

mi_response_t *mi_drain(const mi_params_t *, struct mi_handler *)
{
	if (!g_draining.exchange(true)) {
		time_t now = time(nullptr);
		g_drain_since = (long)now;
		char when[64];
		struct tm tm;
		gmtime_r(&now, &tm);
		strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", &tm);
		std::string d = std::string("draining since ") + when;
		if (g_own_group)
			g_sr.set_status(g_own_group, nullptr, 0, SR_STATUS_NOT_READY, d.data(),
			                (int)d.size(), 0);
		if (void *core = core_group())
			g_sr.add_report_fmt(core, nullptr, 0, 0,
			                    "drain requested (sr_http:drain): /readyz answers 503, "
			                    "SIP is still served");
		g_dirty = true;
		LM_NOTICE("drained: /readyz answers 503 until sr_http:undrain\n");
	}
	return init_mi_result_ok();
}

mi_response_t *mi_undrain(const mi_params_t *, struct mi_handler *)
{
	if (g_draining.exchange(false)) {
		if (g_own_group)
			g_sr.set_status(g_own_group, nullptr, 0, SR_STATUS_READY, "serving", 7, 0);
		if (void *core = core_group())
			g_sr.add_report_fmt(core, nullptr, 0, 0,
			                    "drain ended (sr_http:undrain): /readyz follows the "
			                    "status report again");
		g_dirty = true;
		LM_NOTICE("undrained\n");
	}
	return init_mi_result_ok();
}

int parse_ready_groups()
{
	g_ready_groups.clear();
	if (!ready_groups || !*ready_groups)
		return 0;
	std::string_view s = ready_groups;
	while (!s.empty()) {
		size_t c = s.find(',');
		std::string_view g = s.substr(0, c);
		while (!g.empty() && (g.front() == ' ' || g.front() == '\t'))
			g.remove_prefix(1);
		while (!g.empty() && (g.back() == ' ' || g.back() == '\t'))
			g.remove_suffix(1);
		if (!g.empty())
			g_ready_groups.emplace_back(g);
		if (c == std::string_view::npos)
			break;
		s.remove_prefix(c + 1);
	}
	return 0;
}

int mod_init(void)
{
	if (refresh_interval < 0) {
		LM_ERR("refresh_interval must be >= 0 (ms)\n");
		return -1;
	}
	if (load_sr_api(&g_sr) < 0) {
		LM_ERR("the status_report API is not available\n");
		return -1;
	}
	g_httpd = (const struct httpd_api *)shim_find_api(HTTPD_API_NAME);
	if (!g_httpd || g_httpd->version != HTTPD_API_VERSION) {
		LM_ERR("the httpd module is not loaded (or has another API version)\n");
		return -1;
	}
	parse_ready_groups();
	g_own_group = g_sr.register_group_with_identifier(
	    srh::own_group, (int)strlen(srh::own_group), 0, nullptr, 0,
	    SR_STATUS_READY, "serving", 7, 20);
	if (!g_own_group) {
		LM_ERR("cannot register the SR group '%s'\n", srh::own_group);
		return -1;
	}
	if (g_sr.register_status_cb(on_status, nullptr) < 0 ||
	    shim_add_lifecycle_cb(on_lifecycle, nullptr) < 0)
		return -1;
	if (g_httpd->register_root("livez", "sr_http", h_livez, nullptr) < 0 ||
	    g_httpd->register_root("readyz", "sr_http", h_readyz, nullptr) < 0)
		return -1;
	return 0;
}

void mod_destroy(void)
{
	g_snap.clear();
	g_snap.shrink_to_fit();
	g_ready_groups.clear();
}

const mi_export_t mi_cmds[] = {
	{"drain", "makes /readyz answer 503 (SIP is still served)", 0, nullptr,
	 {{mi_drain, {nullptr}}, {nullptr, {nullptr}}}, {nullptr}},
	{"undrain", "ends a drain: /readyz follows the status report again", 0,
	 nullptr, {{mi_undrain, {nullptr}}, {nullptr, {nullptr}}}, {nullptr}},
	{nullptr, nullptr, 0, nullptr, {{nullptr, {nullptr}}}, {nullptr}},
};

const param_export_t params[] = {
	{"ready_groups", STR_PARAM, &ready_groups},
	{"refresh_interval", INT_PARAM, &refresh_interval},
	{nullptr, 0, nullptr},
};

const dep_export_t deps = {
	{
		{MOD_TYPE_DEFAULT, "httpd", DEP_ABORT},
		{MOD_TYPE_DEFAULT, "status_report", DEP_ABORT},
		{MOD_TYPE_NULL, nullptr, 0},
	},
	{
		{nullptr, nullptr},
	},
};

} // namespace

extern "C" {

struct module_exports exports = {
	"sr_http",        /* module name */
	MOD_TYPE_DEFAULT, /* class of this module */
	MODULE_VERSION,   /* version and ABI */
	DEFAULT_DLFLAGS,  /* dlopen flags */
	nullptr,          /* load function */
	&deps,            /* dependencies: httpd, status_report */
	nullptr,          /* script functions */
	nullptr,          /* async script functions */
	params,           /* modparams */
	nullptr,          /* statistics */
	mi_cmds,          /* MI commands: sr_http:drain, sr_http:undrain */
	nullptr,          /* pseudo-variables */
	nullptr,          /* transformations */
	nullptr,          /* threads: runs on httpd's */
	nullptr,          /* pre-init */
	mod_init,         /* module init */
	nullptr,          /* reply handler */
	mod_destroy,      /* destroy */
	nullptr,          /* per-thread init */
	nullptr,          /* reload ack */
};

} // extern "C"
