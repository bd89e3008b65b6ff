// prometheus: the statistics as Prometheus text format 0.0.4 under httpd
// (decisions §34), OpenSIPS's module with its modparams and script
// functions, plus the host's own per-item families (decisions §31).
//
//   GET|HEAD /<root>[/...][?...]   200 text/plain; version=0.0.4
//   any other method               405, Allow: GET, HEAD
//
// The handler runs on the HTTPD thread and builds the whole reply there:
// one stats_walk (relaxed reads of the statistics' shards, no lock held
// against a writer), two renderers into one std::string, and the optional
// script_route run on the same thread. Nothing here blocks, and after the
// first scrapes nothing allocates but the reply body httpd takes.
#include <cctype>
#include <cstring>
#include <ctime>
#include <string>
#include <string_view>
#include <vector>

#include "opensips/host.h"
#include "opensips/httpd.h"
#include "opensips/sr_module.h"
#include "opensips/statistics.h"

#include "render.h"

namespace {

// ---- modparams ----
char *p_root = (char *)"metrics";
char *p_prefix = (char *)"opensips";
char *p_delimiter = (char *)"_";
char *p_group_prefix = (char *)"";
char *p_group_label = (char *)"group";
int p_group_mode = prom::GROUP_MODE_NONE;
char *p_script_route = nullptr;

prom::config g_cfg; // statistics and labels fill it while the cfg parses
const struct httpd_api *g_httpd = nullptr;
int g_route = -1;

const char prom_type[] = "text/plain; version=0.0.4";
const char text_type[] = "text/plain; charset=utf-8";

std::string at(const char *param)
{
	const char *w = shim_modparam_where("prometheus", param);
	return w ? std::string(w) + ": " : std::string();
}

int param_statistics(modparam_t, void *val)
{
	std::vector<std::string> added;
	prom::add_statistics(g_cfg, (const char *)val, &added);
	for (const std::string &a : added)
		LM_INFO("exporting %s\n", a.c_str());
	return 0;
}

int param_labels(modparam_t, void *val)
{
	std::string err;
	if (!prom::add_label_rule(g_cfg, (const char *)val, err)) {
		LM_ERR("%slabels: %s\n", at("labels").c_str(), err.c_str());
		return -1;
	}
	return 0;
}

// ---- the script route's output ----
// Set only while the HTTPD thread runs script_route for a scrape.
thread_local std::string *t_page = nullptr;
thread_local std::string t_stat_name; // the last declared statistic
thread_local bool t_declared = false;

int w_declare_stat(struct sip_msg *, void *p_name, void *p_type, void *p_help,
                   void *, void *, void *, void *, void *)
{
	if (!t_page) {
		LM_ERR("prometheus_declare_stat() works only in the script_route "
		       "(%s), while /%s is served\n",
		       p_script_route && *p_script_route ? p_script_route : "not set",
		       p_root);
		return -2;
	}
	const str *name = (const str *)p_name;
	const str *type = (const str *)p_type;
	const str *help = (const str *)p_help;
	std::string &out = *t_page;
	if (help && help->len > 0) {
		out += "# HELP ";
		out.append(name->s, (size_t)name->len);
		out += ' ';
		prom::append_help(out, std::string_view(help->s, (size_t)help->len));
		out += '\n';
	}
	out += "# TYPE ";
	t_stat_name.assign(name->s, (size_t)name->len);
	t_declared = true;
	out += t_stat_name;
	out += ' ';
	if (type)
		out.append(type->s, (size_t)type->len);
	else
		out += "gauge";
	out += '\n';
	return 1;
}

int w_push_stat(struct sip_msg *, void *p_value, void *p_lname, void *p_lvalue,
                void *, void *, void *, void *, void *)
{
	if (!t_page || !t_declared) {
		LM_ERR("prometheus_push_stat() needs a prometheus_declare_stat() "
		       "before it, in the script_route\n");
		return -2;
	}
	int value = *(const int *)p_value;
	const str *lname = (const str *)p_lname;
	const str *lvalue = (const str *)p_lvalue;
	std::string &out = *t_page;
	out += t_stat_name;
	if (lname && lvalue) {
		out += '{';
		out.append(lname->s, (size_t)lname->len);
		out += "=\"";
		prom::append_label_value(out, std::string_view(lvalue->s, (size_t)lvalue->len));
		out += "\"}";
	} else if (lname) {
		out.append(lname->s, (size_t)lname->len); // "{a=\"b\",...}" as given
	}
	out += ' ';
	out += std::to_string(value);
	out += '\n';
	return 1;
}

// ---- the HTTP handler ----
struct scrape_state {
	prom::snapshot snap;
	prom::scratch sc;
	std::string body;
};

int h_metrics(const struct httpd_request *req, struct httpd_reply *rpl, void *)
{
	std::string_view method(req->method, (size_t)req->method_len);
	if (method != "GET") { // HEAD arrives as GET (is_head)
		rpl->status = 405;
		rpl->content_type = text_type;
		if (g_httpd->add_header(rpl, "Allow", "GET, HEAD") < 0)
			return -1;
		return g_httpd->set_body(rpl, "Method Not Allowed\n", 19);
	}
	thread_local scrape_state st;
	std::string &body = st.body;
	body.clear();
	st.snap.take(stats_walk);
	prom::render_compat(g_cfg, st.snap.rows(), st.sc, body);
	if (g_route >= 0) {
		t_page = &body;
		t_declared = false;
		shim_script_route_run(g_route);
		t_page = nullptr;
		t_declared = false;
	}
	body += '\n'; // OpenSIPS ends its output with an empty line
	long up = (long)(time(nullptr) - shim_startup_time());
	prom::render_native(st.snap.rows(), up, st.sc, body);
	rpl->status = 200;
	rpl->content_type = prom_type;
	return g_httpd->set_body(rpl, body.data(), (int)body.size());
}

// ---- module ----
// Once every startup thread exists (their load:/pkmem: statistics with
// them), a `statistics` value naming no statistic is an error in the log,
// with the modparam's file:line. The reference skips such names without a
// word; refusing to start is not possible here, as groups register while
// the host starts.
struct known_names {
	std::vector<std::string> groups, names;
};

int collect_known(const struct stat_info *s, void *param)
{
	auto *k = (known_names *)param;
	std::string g = s->group;
	for (char &c : g)
		c = (char)tolower((unsigned char)c);
	if (k->groups.empty() || k->groups.back() != g)
		k->groups.push_back(g);
	if (s->nlabels == 0)
		k->names.emplace_back(s->name);
	return 0;
}

void check_selection(int state, void *)
{
	if (state != SHIM_STATE_RUNNING || g_cfg.all)
		return;
	known_names k;
	stats_walk(collect_known, &k);
	auto has = [](const std::vector<std::string> &v, const std::string &x) {
		for (const std::string &e : v)
			if (e == x)
				return true;
		return false;
	};
	// our groups whose statistics appear with their first item
	static const char *const lazy[] = {"sip", "mi", "evi", "sr"};
	for (const std::string &gt : g_cfg.groups) {
		std::string g = gt;
		if (!g.empty() && g.back() == ':')
			g.pop_back();
		for (char &c : g)
			c = (char)tolower((unsigned char)c);
		bool later = false;
		for (const char *l : lazy)
			later |= g == l;
		if (!later && !has(k.groups, g))
			LM_ERR("%sstatistics: no statistics group '%s:': nothing is exported "
			       "for it\n", at("statistics").c_str(), g.c_str());
	}
	for (const std::string &n : g_cfg.names)
		if (!has(k.names, n))
			LM_ERR("%sstatistics: no statistic '%s'%s: nothing is exported for it\n",
			       at("statistics").c_str(), n.c_str(),
			       n.find(':') != std::string::npos ? " (give a bare name or a group:)"
			                                        : "");
}

int mod_init(void)
{
	shim_add_lifecycle_cb(check_selection, nullptr);
	if (p_group_mode < prom::GROUP_MODE_NONE ||
	    p_group_mode > prom::GROUP_MODE_LABEL) {
		LM_ERR("%sgroup_mode %d: must be 0 (no group), 1 (group in the "
		       "name) or 2 (group as a label)\n",
		       at("group_mode").c_str(), p_group_mode);
		return -1;
	}
	g_cfg.prefix = p_prefix ? p_prefix : "";
	g_cfg.delimiter = p_delimiter ? p_delimiter : "";
	g_cfg.group_prefix = p_group_prefix ? p_group_prefix : "";
	g_cfg.group_label = p_group_label ? p_group_label : "";
	g_cfg.group_mode = p_group_mode;

	if (p_script_route && *p_script_route) {
		g_route = shim_script_route_find(p_script_route);
		if (g_route < 0) {
			LM_ERR("%sscript_route '%s': the script has no route[%s]\n",
			       at("script_route").c_str(), p_script_route, p_script_route);
			return -1;
		}
	}

	g_httpd = (const struct httpd_api *)shim_find_api(HTTPD_API_NAME);
	if (!g_httpd || g_httpd->version != HTTPD_API_VERSION) {
		LM_ERR("the httpd module is not loaded (or has another API version)\n");
		return -1;
	}
	if (!p_root || !*p_root ||
	    g_httpd->register_root(p_root, "prometheus", h_metrics, nullptr) < 0) {
		LM_ERR("%sroot '%s': cannot serve it (one path segment, not taken "
		       "by another module)\n",
		       at("root").c_str(), p_root ? p_root : "");
		return -1;
	}
	return 0;
}

void mod_destroy(void)
{
	g_cfg = prom::config();
}

const cmd_export_t cmds[] = {
	{"prometheus_declare_stat", (cmd_function)w_declare_stat,
	 {{CMD_PARAM_STR, nullptr, nullptr},
	  {CMD_PARAM_STR | CMD_PARAM_OPT, nullptr, nullptr},
	  {CMD_PARAM_STR | CMD_PARAM_OPT, nullptr, nullptr},
	  {0, nullptr, nullptr}},
	 REQUEST_ROUTE},
	{"prometheus_push_stat", (cmd_function)w_push_stat,
	 {{CMD_PARAM_INT, nullptr, nullptr},
	  {CMD_PARAM_STR | CMD_PARAM_OPT, nullptr, nullptr},
	  {CMD_PARAM_STR | CMD_PARAM_OPT, nullptr, nullptr},
	  {0, nullptr, nullptr}},
	 REQUEST_ROUTE},
	{nullptr, nullptr, {{0, nullptr, nullptr}}, 0},
};

const param_export_t params[] = {
	{"root", STR_PARAM, &p_root},
	{"prefix", STR_PARAM, &p_prefix},
	{"delimiter", STR_PARAM, &p_delimiter},
	{"group_prefix", STR_PARAM, &p_group_prefix},
	{"group_label", STR_PARAM, &p_group_label},
	{"group_mode", INT_PARAM, &p_group_mode},
	{"statistics", STR_PARAM | USE_FUNC_PARAM, (void *)param_statistics},
	{"labels", STR_PARAM | USE_FUNC_PARAM, (void *)param_labels},
	{"script_route", STR_PARAM, &p_script_route},
	{nullptr, 0, nullptr},
};

const dep_export_t deps = {
	{
		{MOD_TYPE_DEFAULT, "httpd", DEP_ABORT},
		{MOD_TYPE_NULL, nullptr, 0},
	},
	{
		{nullptr, nullptr},
	},
};

} // namespace

extern "C" {

struct module_exports exports = {
	"prometheus",     /* module name */
	MOD_TYPE_DEFAULT, /* class of this module */
	MODULE_VERSION,   /* version and ABI */
	DEFAULT_DLFLAGS,  /* dlopen flags */
	nullptr,          /* load function */
	&deps,            /* dependencies: httpd */
	cmds,             /* script functions: prometheus_declare/push_stat */
	nullptr,          /* async script functions */
	params,           /* modparams */
	nullptr,          /* statistics */
	nullptr,          /* MI commands */
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
