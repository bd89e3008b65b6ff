// mi_http: JSON-RPC over HTTP POST on httpd (spec §5.5, decisions §22).
//
//   POST /<root>  application/json body  -> 200 application/json reply
//                 notification           -> 202, Content-Length: 0
//   other methods                        -> 405, Allow: POST
//   a non-JSON Content-Type              -> 415
//   empty body                           -> 400
//   /<root>/anything                     -> 400 "Unable to parse URL!"
//   MI internal failure                  -> 500
//
// The handler runs on the HTTPD thread and calls the MI core directly.
#include <cstdlib>
#include <cstring>
#include <string_view>
#include <strings.h>

#include "opensips/host.h"
#include "opensips/httpd.h"
#include "opensips/mi.h"
#include "opensips/sr_module.h"

namespace {

char *root = (char *)"mi";
int pretty_printing = 0;
char *trace_destination = nullptr;
char *trace_bwlist = nullptr;

const struct httpd_api *g_httpd = nullptr;
const char json_type[] = "application/json";

bool json_content_type(std::string_view v)
{
	size_t semi = v.find(';');
	std::string_view t = v.substr(0, semi);
	while (!t.empty() && (t.back() == ' ' || t.back() == '\t'))
		t.remove_suffix(1);
	static const char *const ok[] = {"application/json", "application/json-rpc",
	                                 "application/jsonrequest"};
	for (const char *o : ok)
		if (t.size() == strlen(o) && strncasecmp(t.data(), o, t.size()) == 0)
			return true;
	return false;
}

int handle(const struct httpd_request *req, struct httpd_reply *rpl, void *)
{
	static thread_local bool mi_ready = false;
	if (!mi_ready) {
		if (init_mi_child() < 0)
			LM_WARN("an MI command's per-thread init failed\n");
		mi_ready = true;
	}
	std::string_view path(req->path, (size_t)req->path_len);
	std::string_view want = root;
	// exactly "/<root>" (a trailing "/" tolerated)
	std::string_view rest = path.substr(1 + want.size());
	if (!(rest.empty() || rest == "/")) {
		static const char body[] = "<html><body>Unable to parse URL!</body></html>";
		rpl->status = 400;
		rpl->content_type = "text/html";
		return g_httpd->set_body(rpl, body, sizeof body - 1);
	}
	std::string_view method(req->method, (size_t)req->method_len);
	if (method != "POST") {
		rpl->status = 405;
		rpl->content_type = json_type;
		return g_httpd->add_header(rpl, "Allow", "POST");
	}
	int ctlen = 0;
	const char *ct = req->header(req, "Content-Type", &ctlen);
	if (ct && !json_content_type(std::string_view(ct, (size_t)ctlen))) {
		rpl->status = 415;
		rpl->content_type = "text/plain; charset=utf-8";
		static const char body[] = "Content-Type must be application/json\n";
		if (g_httpd->add_header(rpl, "Accept-Post", json_type) < 0)
			return -1;
		return g_httpd->set_body(rpl, body, sizeof body - 1);
	}
	if (req->body_len == 0) {
		rpl->status = 400;
		rpl->content_type = "text/plain; charset=utf-8";
		static const char body[] = "Empty request body\n";
		return g_httpd->set_body(rpl, body, sizeof body - 1);
	}
	char *out = nullptr;
	int out_len = 0;
	int rc = mi_run_jsonrpc(req->body, req->body_len, pretty_printing, "http",
	                        &out, &out_len);
	int ret = 0;
	switch (rc) {
	case MI_RUN_REPLY:
	case MI_RUN_PARSE_ERROR: // the -32700 response, as the reference
		rpl->status = 200;
		rpl->content_type = json_type;
		// the MI reply is malloc()ed (opensips/mi.h), as httpd wants a
		// body: handed over, not copied
		free(rpl->body);
		rpl->body = out;
		rpl->body_len = out_len;
		out = nullptr;
		break;
	case MI_RUN_NO_REPLY:
		rpl->status = 202;
		rpl->content_type = json_type;
		break;
	default:
		ret = -1; // 500
		break;
	}
	mi_free_reply(out);
	return ret;
}

int mod_init(void)
{
	if (!root || !*root || strpbrk(root, "/?# ")) {
		LM_ERR("bad root '%s': one path segment without '/'\n", root ? root : "");
		return -1;
	}
	g_httpd = (const struct httpd_api *)shim_find_api(HTTPD_API_NAME);
	if (!g_httpd || g_httpd->version != HTTPD_API_VERSION) {
		LM_ERR("the httpd module is not loaded (or has another API version)\n");
		return -1;
	}
	if (g_httpd->register_root(root, "mi_http", handle, nullptr) < 0)
		return -1;
	if (trace_destination || trace_bwlist)
		LM_DBG("trace_destination/trace_bwlist are accepted and ignored\n");
	return 0;
}

const param_export_t params[] = {
	{"root", STR_PARAM, &root},
	{"pretty_printing", INT_PARAM, &pretty_printing},
	{"trace_destination", STR_PARAM, &trace_destination},
	{"trace_bwlist", STR_PARAM, &trace_bwlist},
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
	"mi_http",        /* module name */
	MOD_TYPE_DEFAULT, /* class of this module */
	MODULE_VERSION,   /* version and ABI */
	DEFAULT_DLFLAGS,  /* dlopen flags */
	nullptr,          /* load function */
	&deps,            /* dependencies: httpd */
	nullptr,          /* script functions */
	nullptr,          /* async script functions */
	params,           /* modparams */
	nullptr,          /* statistics */
	nullptr,          /* MI commands */
	nullptr,          /* pseudo-variables */
	nullptr,          /* transformations */
	nullptr,          /* threads: runs on httpd's */
	nullptr,          /* pre-init */
	mod_init,         /* module init: registers the root */
	nullptr,          /* reply handler */
	nullptr,          /* destroy */
	nullptr,          /* per-thread init */
	nullptr,          /* reload ack */
};

} // extern "C"
