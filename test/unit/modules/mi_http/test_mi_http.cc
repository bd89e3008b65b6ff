// mi_http through the httpd API it registers with (a stand-in httpd that
// keeps the handler): POST of JSON-RPC -> 200 application/json, a
// notification -> 202 and no body, other methods -> 405 with Allow: POST,
// a non-JSON content type -> 415, an empty body -> 400, a path below the
// root -> the reference's 400, parse errors -> 200 with -32700.
#include <cstdlib>
#include <cstring>
#include <string>

#include "mi/mi_core.h"
#include "opensips/host.h"
#include "opensips/httpd.h"
#include "opensips/mi.h"
#include "opensips/sr_module.h"

#include "../../cmocka_cxx.h" // last

extern "C" struct module_exports exports;

namespace {

httpd_handler_f g_handler = nullptr;
void *g_param = nullptr;
std::string g_root;

int fake_register_root(const char *root, const char *, httpd_handler_f h, void *param)
{
	g_root = root;
	g_handler = h;
	g_param = param;
	return 0;
}

int fake_set_body(struct httpd_reply *rpl, const char *data, int len)
{
	free(rpl->body);
	rpl->body = (char *)malloc((size_t)len + 1);
	memcpy(rpl->body, data, (size_t)len);
	rpl->body[len] = 0;
	rpl->body_len = len;
	return 0;
}

int fake_add_header(struct httpd_reply *rpl, const char *name, const char *value)
{
	std::string h = std::string(rpl->extra_headers ? rpl->extra_headers : "") + name + ": " +
	                value + "\r\n";
	free(rpl->extra_headers);
	rpl->extra_headers = strdup(h.c_str());
	rpl->extra_headers_len = (int)h.size();
	return 0;
}

const struct httpd_api g_api = {HTTPD_API_VERSION, fake_register_root, fake_set_body,
                                fake_add_header};

std::string g_ctype = "application/json";

const char *header(const struct httpd_request *, const char *name, int *len)
{
	if (strcasecmp(name, "Content-Type") != 0 || g_ctype.empty())
		return nullptr;
	*len = (int)g_ctype.size();
	return g_ctype.c_str();
}

struct result {
	int status;
	std::string ctype, body, headers;
};

result call(const char *method, const char *path, const std::string &body)
{
	httpd_request req{};
	req.method = method;
	req.method_len = (int)strlen(method);
	req.path = path;
	req.path_len = (int)strlen(path);
	req.body = body.data();
	req.body_len = (int)body.size();
	req.remote_ip = "127.0.0.1";
	req.header = header;
	httpd_reply rpl{};
	rpl.status = 200;
	assert_int_equal(g_handler(&req, &rpl, g_param), 0);
	result r{rpl.status, rpl.content_type ? rpl.content_type : "",
	         rpl.body ? std::string(rpl.body, (size_t)rpl.body_len) : "",
	         rpl.extra_headers ? rpl.extra_headers : ""};
	free(rpl.body);
	free(rpl.extra_headers);
	return r;
}

int setup(void **)
{
	static bool once = [] {
		shim::mi_register_core_commands();
		assert_int_equal(shim_register_api(HTTPD_API_NAME, &g_api), 0);
		assert_int_equal(exports.init_f(), 0);
		return true;
	}();
	(void)once;
	g_ctype = "application/json";
	return 0;
}

void test_jsonrpc(void **)
{
	assert_string_equal(g_root.c_str(), "mi");
	result r = call("POST", "/mi", R"({"jsonrpc":"2.0","method":"version","id":3})");
	assert_int_equal(r.status, 200);
	assert_string_equal(r.ctype.c_str(), "application/json");
	assert_true(r.body.find("\"result\":{\"Server\":") != std::string::npos);
	assert_true(r.body.find("\"id\":3}") != std::string::npos);
	r = call("POST", "/mi/", R"({"jsonrpc":"2.0","method":"nosuch","id":4})");
	assert_int_equal(r.status, 200);
	assert_string_equal(r.body.c_str(),
	                    R"({"jsonrpc":"2.0","error":{"code":-32601,"message":"Method not found"},"id":4})");
	r = call("POST", "/mi", R"({"jsonrpc":"2.0","method":)");
	assert_int_equal(r.status, 200);
	assert_string_equal(r.body.c_str(),
	                    R"({"jsonrpc":"2.0","error":{"code":-32700,"message":"Parse error"},"id":null})");
	// a notification: 202, no body
	r = call("POST", "/mi", R"({"jsonrpc":"2.0","method":"version"})");
	assert_int_equal(r.status, 202);
	assert_true(r.body.empty());
}

void test_refusals(void **)
{
	result r = call("GET", "/mi", "");
	assert_int_equal(r.status, 405);
	assert_true(r.headers.find("Allow: POST\r\n") != std::string::npos);
	r = call("POST", "/mi/below", "{}");
	assert_int_equal(r.status, 400);
	assert_string_equal(r.body.c_str(), "<html><body>Unable to parse URL!</body></html>");
	r = call("POST", "/mi", "");
	assert_int_equal(r.status, 400);
	g_ctype = "text/plain";
	r = call("POST", "/mi", R"({"jsonrpc":"2.0","method":"version","id":1})");
	assert_int_equal(r.status, 415);
	assert_true(r.headers.find("Accept-Post: application/json") != std::string::npos);
	// no Content-Type at all is taken as JSON (curl -d sends one, not all do)
	g_ctype.clear();
	r = call("POST", "/mi", R"({"jsonrpc":"2.0","method":"version","id":1})");
	assert_int_equal(r.status, 200);
}

} // namespace

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(test_jsonrpc, setup),
		cmocka_unit_test_setup(test_refusals, setup),
	};
	return cmocka_run_group_tests(tests, nullptr, nullptr);
}
