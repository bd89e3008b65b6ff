// JSON-RPC handling of the MI core (core_shim/mi/mi_jsonrpc.cc,
// mi_table.cc, mi_params.cc): spec §5.1-5.2, decisions.md §6, §11-12.
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "settings/globals.h"
#include "mi/mi_core.h"
#include "opensips/mi.h"
#include "opensips/statistics.h"

#include "../cmocka_cxx.h" // last

namespace {

struct run_out {
	int rc;
	std::string reply;
};

run_out run(const std::string &req)
{
	char *reply = nullptr;
	int len = -1;
	int rc = mi_run_jsonrpc(req.data(), (int)req.size(), 0, "test", &reply, &len);
	run_out o{rc, reply ? std::string(reply, (size_t)len) : std::string()};
	if (reply)
		assert_int_equal((int)strlen(reply), len);
	mi_free_reply(reply);
	return o;
}

// Expects a reply with exactly these bytes.
#define EXPECT(req, bytes)                                                    \
	do {                                                                      \
		run_out _o = run(req);                                                \
		if (_o.rc != MI_RUN_REPLY || _o.reply != (bytes))                     \
			fail_msg("request %s\n  got rc=%d %s\n want %s", (req), _o.rc,     \
			         _o.reply.c_str(), (bytes));                              \
	} while (0)

#define EXPECT_NONE(req)                                                      \
	do {                                                                      \
		run_out _o = run(req);                                                \
		if (_o.rc != MI_RUN_NO_REPLY)                                         \
			fail_msg("request %s: expected no reply, got rc=%d %s", (req),     \
			         _o.rc, _o.reply.c_str());                                \
	} while (0)

std::string err(int code, const char *msg, const char *data, const char *id)
{
	std::string s = "{\"jsonrpc\":\"2.0\",\"error\":{\"code\":" + std::to_string(code) +
	                ",\"message\":\"" + msg + "\"";
	if (data)
		s += std::string(",\"data\":\"") + data + "\"";
	return s + "},\"id\":" + id + "}";
}

std::string ok(const char *result, const char *id)
{
	return std::string("{\"jsonrpc\":\"2.0\",\"result\":") + result + ",\"id\":" + id + "}";
}

// ---- test commands ----

mi_response_t *h_ok(const mi_params_t *, struct mi_handler *)
{
	return init_mi_result_ok();
}

// Echoes string param `a`.
mi_response_t *h_str_a(const mi_params_t *p, struct mi_handler *)
{
	char *s;
	int len;
	if (get_mi_string_param(p, "a", &s, &len) < 0)
		return init_mi_param_error();
	return init_mi_result_string(s, len);
}

// {"a":<string a>,"b":<int b>}
mi_response_t *h_a_b(const mi_params_t *p, struct mi_handler *)
{
	char *s;
	int len, b;
	if (get_mi_string_param(p, "a", &s, &len) < 0 || get_mi_int_param(p, "b", &b) < 0)
		return init_mi_param_error();
	mi_item_t *o;
	mi_response_t *r = init_mi_result_object(&o);
	add_mi_string(o, "a", 1, s, len);
	add_mi_int(o, "b", 1, b);
	return r;
}

mi_response_t *h_int_i(const mi_params_t *p, struct mi_handler *)
{
	int v;
	if (get_mi_int_param(p, "i", &v) < 0)
		return init_mi_param_error();
	return init_mi_result_number(v);
}

mi_response_t *h_which_x(const mi_params_t *, struct mi_handler *)
{
	return init_mi_result_string("x", 1);
}

mi_response_t *h_which_y(const mi_params_t *, struct mi_handler *)
{
	return init_mi_result_string("y", 1);
}

mi_response_t *h_null(const mi_params_t *, struct mi_handler *)
{
	return nullptr;
}

// Asks for a parameter its recipe does not have (a handler bug).
mi_response_t *h_missing(const mi_params_t *p, struct mi_handler *)
{
	char *s;
	int len;
	if (get_mi_string_param(p, "nope", &s, &len) < 0)
		return init_mi_param_error();
	return init_mi_result_ok();
}

// Sums an array of ints, and checks the strings of an array.
mi_response_t *h_list(const mi_params_t *p, struct mi_handler *)
{
	mi_item_t *arr;
	int n;
	if (get_mi_array_param(p, "list", &arr, &n) < 0)
		return init_mi_param_error();
	int sum = 0;
	for (int i = 0; i < n; i++) {
		int v;
		if (get_mi_arr_param_int(arr, i, &v) < 0)
			return init_mi_param_error();
		sum += v;
	}
	return init_mi_result_number(sum);
}

mi_response_t *h_dup(const mi_params_t *, struct mi_handler *)
{
	mi_item_t *o;
	mi_response_t *r = init_mi_result_object(&o);
	add_mi_int(o, "k", 1, 1);
	add_mi_string(o, "k", 1, "two", 3);
	mi_item_t *a = add_mi_array(o, "arr", 3);
	add_mi_null(a, "ignored", 7);
	add_mi_bool(a, nullptr, 0, 1);
	add_mi_number(a, nullptr, 0, 2.5);
	add_mi_string_fmt(a, nullptr, 0, "%d-%s", 7, "x");
	mi_item_t *e = add_mi_object(o, "empty", 5);
	(void)e;
	return r;
}

// Echoes the raw params item.
mi_response_t *h_raw(const mi_params_t *p, struct mi_handler *)
{
	mi_item_t *it = get_mi_param_item(p, "v");
	int len = 0;
	char *txt = mi_item_print(it, &len);
	if (!txt)
		return init_mi_error(500, "no item", 7);
	mi_response_t *r = init_mi_result_string(txt, len);
	free(txt);
	return r;
}

mi_response_t *h_try(const mi_params_t *p, struct mi_handler *)
{
	char *s;
	int len, v;
	int a = try_get_mi_string_param(p, "s", &s, &len);
	int b = try_get_mi_int_param(p, "s", &v);
	int c = try_get_mi_int_param(p, "zz", &v);
	mi_item_t *o;
	mi_response_t *r = init_mi_result_object(&o);
	add_mi_int(o, "str", 3, a);
	add_mi_int(o, "int", 3, b);
	add_mi_int(o, "absent", 6, c);
	return r;
}

const mi_export_t t_cmds[] = {
	{"echo", "echo help", 0, nullptr,
	 {{h_ok, {nullptr}}, {h_str_a, {"a", nullptr}}, {h_a_b, {"a", "b", nullptr}},
	  {nullptr, {nullptr}}},
	 {nullptr}},
	{"amb", nullptr, 0, nullptr,
	 {{h_which_x, {"x", nullptr}}, {h_which_y, {"y", nullptr}}, {nullptr, {nullptr}}},
	 {nullptr}},
	{"named", nullptr, MI_NAMED_PARAMS_ONLY, nullptr,
	 {{h_str_a, {"a", nullptr}}, {nullptr, {nullptr}}},
	 {nullptr}},
	{"int", nullptr, 0, nullptr, {{h_int_i, {"i", nullptr}}, {nullptr, {nullptr}}}, {nullptr}},
	{"null", nullptr, 0, nullptr, {{h_null, {nullptr}}, {nullptr, {nullptr}}}, {nullptr}},
	{"missing", nullptr, 0, nullptr,
	 {{h_missing, {"p", nullptr}}, {nullptr, {nullptr}}}, {nullptr}},
	{"list", nullptr, 0, nullptr, {{h_list, {"list", nullptr}}, {nullptr, {nullptr}}}, {nullptr}},
	{"dup", nullptr, 0, nullptr, {{h_dup, {nullptr}}, {nullptr, {nullptr}}}, {nullptr}},
	{"raw", nullptr, 0, nullptr, {{h_raw, {"v", nullptr}}, {nullptr, {nullptr}}}, {nullptr}},
	{"try", nullptr, 0, nullptr, {{h_try, {"s", nullptr}}, {nullptr, {nullptr}}}, {nullptr}},
	{"get", "t get", 0, nullptr, {{h_ok, {nullptr}}, {nullptr, {nullptr}}},
	 {"t_get_old", "shared_alias", nullptr}},
	{nullptr, nullptr, 0, nullptr, {{nullptr, {nullptr}}}, {nullptr}},
};

const mi_export_t u_cmds[] = {
	{"get", nullptr, 0, nullptr, {{h_which_x, {nullptr}}, {nullptr, {nullptr}}},
	 {"shared_alias", nullptr}},
	{"only_u", nullptr, 0, nullptr, {{h_which_y, {nullptr}}, {nullptr, {nullptr}}},
	 {"u_alias", nullptr}},
	{nullptr, nullptr, 0, nullptr, {{nullptr, {nullptr}}}, {nullptr}},
};

int setup(void **)
{
	shim::mi_reset();
	shim::g_globals.mi_list_aliases = false;
	shim::mi_register_core_commands();
	if (register_mi_mod("t", t_cmds) < 0 || register_mi_mod("proto_u", u_cmds) < 0)
		return -1;
	return 0;
}

// ---- the error table ----

void test_parse_error(void **)
{
	const char *bad[] = {"{\"jsonrpc\":\"2.0\",\"method\":\"version\",\"id\":96", "hello", "",
	                     "{\"a\":}", "\"unterminated"};
	for (const char *b : bad) {
		run_out o = run(b);
		assert_int_equal(o.rc, MI_RUN_PARSE_ERROR);
		assert_string_equal(o.reply.c_str(),
		                    "{\"jsonrpc\":\"2.0\",\"error\":{\"code\":-32700,\"message\":"
		                    "\"Parse error\"},\"id\":null}");
	}
}

void test_invalid_request(void **)
{
	std::string inv96 = err(-32600, "Invalid Request", nullptr, "96");
	std::string invnull = err(-32600, "Invalid Request", nullptr, "null");
	// jsonrpc missing / wrong
	EXPECT("{\"method\":\"version\",\"id\":96}", inv96.c_str());
	EXPECT("{\"jsonrpc\":\"1.0\",\"method\":\"version\",\"id\":96}", inv96.c_str());
	EXPECT("{\"jsonrpc\":2.0,\"method\":\"version\",\"id\":96}", inv96.c_str());
	EXPECT("{\"jsonrpc\":\"2.0 \",\"method\":\"version\",\"id\":96}", inv96.c_str());
	// method missing / not a string
	EXPECT("{\"jsonrpc\":\"2.0\",\"id\":96}", inv96.c_str());
	EXPECT("{\"jsonrpc\":\"2.0\",\"method\":5,\"id\":96}", inv96.c_str());
	EXPECT("{\"jsonrpc\":\"2.0\",\"method\":null,\"id\":96}", inv96.c_str());
	// params neither array nor object
	EXPECT("{\"jsonrpc\":\"2.0\",\"method\":\"version\",\"params\":\"x\",\"id\":96}", inv96.c_str());
	EXPECT("{\"jsonrpc\":\"2.0\",\"method\":\"version\",\"params\":1,\"id\":96}", inv96.c_str());
	EXPECT("{\"jsonrpc\":\"2.0\",\"method\":\"version\",\"params\":null,\"id\":96}", inv96.c_str());
	// id of a bad type: answered with id null
	EXPECT("{\"jsonrpc\":\"2.0\",\"method\":\"version\",\"id\":true}", invnull.c_str());
	EXPECT("{\"jsonrpc\":\"2.0\",\"method\":\"version\",\"id\":[1]}", invnull.c_str());
	EXPECT("{\"jsonrpc\":\"2.0\",\"method\":\"version\",\"id\":{}}", invnull.c_str());
	// notifications still get -32600, with id null
	EXPECT("{\"jsonrpc\":\"1.0\",\"method\":\"version\"}", invnull.c_str());
	EXPECT("{}", invnull.c_str());
	// string id is echoed as a string
	EXPECT("{\"method\":\"version\",\"id\":\"abc\"}",
	       err(-32600, "Invalid Request", nullptr, "\"abc\"").c_str());
}

void test_method_errors(void **)
{
	EXPECT("{\"jsonrpc\":\"2.0\",\"method\":\"no_such_command\",\"id\":90}",
	       err(-32601, "Method not found", nullptr, "90").c_str());
	EXPECT("{\"jsonrpc\":\"2.0\",\"method\":\"t:nope\",\"id\":90}",
	       err(-32601, "Method not found", nullptr, "90").c_str());
	EXPECT("{\"jsonrpc\":\"2.0\",\"method\":\"get\",\"id\":1}",
	       err(-32001, "Method ambiguous", "supported names: t:get, u:get", "1").c_str());
	// case matters for method names
	EXPECT("{\"jsonrpc\":\"2.0\",\"method\":\"VERSION\",\"id\":1}",
	       err(-32601, "Method not found", nullptr, "1").c_str());
	// unknown methods in notifications: nothing
	EXPECT_NONE("{\"jsonrpc\":\"2.0\",\"method\":\"no_such_command\"}");
	EXPECT_NONE("{\"jsonrpc\":\"2.0\",\"method\":\"get\"}");
}

void test_param_errors(void **)
{
	const char *ip = "Invalid params";
	EXPECT("{\"jsonrpc\":\"2.0\",\"method\":\"t:named\",\"params\":[\"v\"],\"id\":1}",
	       err(-32602, ip, "Command only supports named parameters", "1").c_str());
	EXPECT("{\"jsonrpc\":\"2.0\",\"method\":\"t:named\",\"params\":{\"a\":\"v\"},\"id\":1}",
	       ok("\"v\"", "1").c_str());
	EXPECT("{\"jsonrpc\":\"2.0\",\"method\":\"t:echo\",\"params\":[1,2,3],\"id\":1}",
	       err(-32602, ip, "Too few or too many parameters", "1").c_str());
	EXPECT("{\"jsonrpc\":\"2.0\",\"method\":\"t:int\",\"id\":1}",
	       err(-32602, ip, "Too few or too many parameters", "1").c_str());
	EXPECT("{\"jsonrpc\":\"2.0\",\"method\":\"t:int\",\"params\":{\"i\":1,\"j\":2},\"id\":1}",
	       err(-32602, ip, "Too few or too many parameters", "1").c_str());
	EXPECT("{\"jsonrpc\":\"2.0\",\"method\":\"t:amb\",\"params\":[\"v\"],\"id\":1}",
	       err(-32602, ip, "Ambiguous call, use named parameters instead", "1").c_str());
	EXPECT("{\"jsonrpc\":\"2.0\",\"method\":\"t:amb\",\"params\":{\"z\":1},\"id\":1}",
	       err(-32602, ip, "Named parameters do not match", "1").c_str());
	EXPECT("{\"jsonrpc\":\"2.0\",\"method\":\"t:echo\",\"params\":{\"A\":\"x\"},\"id\":1}",
	       err(-32602, ip, "Named parameters do not match", "1").c_str());
	// handler-side type errors
	EXPECT("{\"jsonrpc\":\"2.0\",\"method\":\"t:int\",\"params\":[\"4x\"],\"id\":1}",
	       err(-32602, ip, "Bad type for parameter 'i'", "1").c_str());
	EXPECT("{\"jsonrpc\":\"2.0\",\"method\":\"t:echo\",\"params\":{\"a\":{}},\"id\":1}",
	       err(-32602, ip, "Bad type for parameter 'a'", "1").c_str());
	EXPECT("{\"jsonrpc\":\"2.0\",\"method\":\"t:echo\",\"params\":[true],\"id\":1}",
	       err(-32602, ip, "Bad type for parameter 'a'", "1").c_str());
	EXPECT("{\"jsonrpc\":\"2.0\",\"method\":\"t:list\",\"params\":[[1,\"x\"]],\"id\":1}",
	       err(-32602, ip, "Bad type for array item in parameter 'list'", "1").c_str());
	EXPECT("{\"jsonrpc\":\"2.0\",\"method\":\"t:list\",\"params\":[[]],\"id\":1}",
	       err(-32602, ip, "Empty array in parameter 'list'", "1").c_str());
	EXPECT("{\"jsonrpc\":\"2.0\",\"method\":\"t:list\",\"params\":[\"s\"],\"id\":1}",
	       err(-32602, ip, "Bad type for parameter 'list'", "1").c_str());
	// server errors
	EXPECT("{\"jsonrpc\":\"2.0\",\"method\":\"t:missing\",\"params\":[1],\"id\":1}",
	       err(-32000, "Server error", "Failed to handle parameter", "1").c_str());
	EXPECT("{\"jsonrpc\":\"2.0\",\"method\":\"t:null\",\"id\":1}",
	       err(-32000, "Server error", "Command handler returned null", "1").c_str());
}

// ---- recipes and coercion ----

void test_recipes(void **)
{
	EXPECT("{\"jsonrpc\":\"2.0\",\"method\":\"t:echo\",\"id\":1}", ok("\"OK\"", "1").c_str());
	// empty params count as none
	EXPECT("{\"jsonrpc\":\"2.0\",\"method\":\"t:echo\",\"params\":[],\"id\":1}", ok("\"OK\"", "1").c_str());
	EXPECT("{\"jsonrpc\":\"2.0\",\"method\":\"t:echo\",\"params\":{},\"id\":1}", ok("\"OK\"", "1").c_str());
	EXPECT("{\"jsonrpc\":\"2.0\",\"method\":\"t:echo\",\"params\":[\"v\"],\"id\":1}", ok("\"v\"", "1").c_str());
	EXPECT("{\"jsonrpc\":\"2.0\",\"method\":\"t:echo\",\"params\":[\"v\",\"7\"],\"id\":1}",
	       ok("{\"a\":\"v\",\"b\":7}", "1").c_str());
	// named: order does not matter
	EXPECT("{\"jsonrpc\":\"2.0\",\"method\":\"t:echo\",\"params\":{\"b\":-3,\"a\":\"w\"},\"id\":1}",
	       ok("{\"a\":\"w\",\"b\":-3}", "1").c_str());
	// named resolves the same-count ambiguity
	EXPECT("{\"jsonrpc\":\"2.0\",\"method\":\"t:amb\",\"params\":{\"y\":1},\"id\":1}", ok("\"y\"", "1").c_str());
	EXPECT("{\"jsonrpc\":\"2.0\",\"method\":\"t:amb\",\"params\":{\"x\":1},\"id\":1}", ok("\"x\"", "1").c_str());
}

void test_coercion(void **)
{
	// string params take numbers, rendered as decimal ints
	EXPECT("{\"jsonrpc\":\"2.0\",\"method\":\"t:echo\",\"params\":[123],\"id\":1}", ok("\"123\"", "1").c_str());
	EXPECT("{\"jsonrpc\":\"2.0\",\"method\":\"t:echo\",\"params\":[-1.9],\"id\":1}", ok("\"-1\"", "1").c_str());
	// int params take numbers (truncated, saturated) and integer strings
	EXPECT("{\"jsonrpc\":\"2.0\",\"method\":\"t:int\",\"params\":[3.9],\"id\":1}", ok("3", "1").c_str());
	EXPECT("{\"jsonrpc\":\"2.0\",\"method\":\"t:int\",\"params\":[-3.9],\"id\":1}", ok("-3", "1").c_str());
	EXPECT("{\"jsonrpc\":\"2.0\",\"method\":\"t:int\",\"params\":[1e12],\"id\":1}", ok("2147483647", "1").c_str());
	EXPECT("{\"jsonrpc\":\"2.0\",\"method\":\"t:int\",\"params\":[\"42\"],\"id\":1}", ok("42", "1").c_str());
	EXPECT("{\"jsonrpc\":\"2.0\",\"method\":\"t:int\",\"params\":[\"-42\"],\"id\":1}", ok("-42", "1").c_str());
	EXPECT("{\"jsonrpc\":\"2.0\",\"method\":\"t:int\",\"params\":[\"+5\"],\"id\":1}", ok("5", "1").c_str());
	const char *bad_int[] = {"\"\"", "\"-\"", "\" 1\"", "\"1.5\"", "\"99999999999\"", "null",
	                         "true", "[1]", "{}"};
	for (const char *b : bad_int) {
		std::string req = std::string("{\"jsonrpc\":\"2.0\",\"method\":\"t:int\",\"params\":[") +
		                  b + "],\"id\":1}";
		EXPECT(req.c_str(), err(-32602, "Invalid params", "Bad type for parameter 'i'", "1").c_str());
	}
	EXPECT("{\"jsonrpc\":\"2.0\",\"method\":\"t:list\",\"params\":[[1,\"2\",3.5]],\"id\":1}", ok("6", "1").c_str());
	// try_get: 0 found, -1 absent, -2 wrong type
	EXPECT("{\"jsonrpc\":\"2.0\",\"method\":\"t:try\",\"params\":[\"abc\"],\"id\":1}",
	       ok("{\"str\":0,\"int\":-2,\"absent\":-1}", "1").c_str());
	// raw item access
	EXPECT("{\"jsonrpc\":\"2.0\",\"method\":\"t:raw\",\"params\":{\"v\":{\"a\":[1,\"x\"]}},\"id\":1}",
	       ok("\"{\\\"a\\\":[1,\\\"x\\\"]}\"", "1").c_str());
}

// ---- ids, notifications, batches ----

void test_id_echo(void **)
{
	EXPECT("{\"jsonrpc\":\"2.0\",\"method\":\"t:echo\",\"id\":\"18358\"}", ok("\"OK\"", "\"18358\"").c_str());
	EXPECT("{\"jsonrpc\":\"2.0\",\"method\":\"t:echo\",\"id\":7.9}", ok("\"OK\"", "7").c_str());
	EXPECT("{\"jsonrpc\":\"2.0\",\"method\":\"t:echo\",\"id\":-7.9}", ok("\"OK\"", "-7").c_str());
	EXPECT("{\"jsonrpc\":\"2.0\",\"method\":\"t:echo\",\"id\":1e12}", ok("\"OK\"", "2147483647").c_str());
	EXPECT("{\"jsonrpc\":\"2.0\",\"method\":\"t:echo\",\"id\":null}", ok("\"OK\"", "null").c_str());
	EXPECT("{\"jsonrpc\":\"2.0\",\"method\":\"t:echo\",\"id\":\"a\\\"b\"}", ok("\"OK\"", "\"a\\\"b\"").c_str());
	// the id is appended last whatever its position in the request
	EXPECT("{\"id\":5,\"method\":\"t:echo\",\"jsonrpc\":\"2.0\"}", ok("\"OK\"", "5").c_str());
}

void test_notifications(void **)
{
	EXPECT_NONE("{\"jsonrpc\":\"2.0\",\"method\":\"t:echo\"}");
	EXPECT_NONE("{\"jsonrpc\":\"2.0\",\"method\":\"t:null\"}");
	EXPECT_NONE("{\"jsonrpc\":\"2.0\",\"method\":\"t:int\",\"params\":[1,2]}");
	// parse errors and invalid requests are answered with id null
	assert_int_equal(run("{\"jsonrpc\":\"2.0\",\"method\":").rc, MI_RUN_PARSE_ERROR);
	EXPECT("{\"jsonrpc\":\"2.0\"}", err(-32600, "Invalid Request", nullptr, "null").c_str());
}

void test_batches(void **)
{
	EXPECT("[{\"jsonrpc\":\"2.0\",\"method\":\"t:echo\",\"id\":10},"
	       "{\"jsonrpc\":\"2.0\",\"method\":\"t:echo\"},"
	       "{\"jsonrpc\":\"2.0\",\"method\":\"nope\",\"id\":\"x\"}]",
	       ("[" + ok("\"OK\"", "10") + "," + err(-32601, "Method not found", nullptr, "\"x\"") + "]").c_str());
	EXPECT_NONE("[{\"jsonrpc\":\"2.0\",\"method\":\"t:echo\"},{\"jsonrpc\":\"2.0\",\"method\":\"t:echo\"}]");
	std::string inv = err(-32600, "Invalid Request", nullptr, "null");
	EXPECT("[1,2]", ("[" + inv + "," + inv + "]").c_str());
	EXPECT("[[]]", ("[" + inv + "]").c_str());
	EXPECT("[{\"jsonrpc\":\"2.0\",\"id\":99}]",
	       ("[" + err(-32600, "Invalid Request", nullptr, "99") + "]").c_str());
	// `[]` and scalars: one -32600 with id null
	EXPECT("[]", inv.c_str());
	EXPECT("5", inv.c_str());
	EXPECT("\"str\"", inv.c_str());
	EXPECT("null", inv.c_str());
	EXPECT("  [ ] trailing", inv.c_str());
}

void test_members(void **)
{
	// member names are case-insensitive
	EXPECT("{\"JSONRPC\":\"2.0\",\"Method\":\"t:echo\",\"PARAMS\":[\"v\"],\"Id\":3}", ok("\"v\"", "3").c_str());
	// the first of duplicate members wins, exact or case-folded
	EXPECT("{\"jsonrpc\":\"2.0\",\"method\":\"t:echo\",\"method\":\"nope\",\"id\":1,\"id\":2}",
	       ok("\"OK\"", "1").c_str());
	EXPECT("{\"jsonrpc\":\"2.0\",\"method\":\"nope\",\"Method\":\"t:echo\",\"id\":1}",
	       err(-32601, "Method not found", nullptr, "1").c_str());
	EXPECT("{\"jsonrpc\":\"1.0\",\"jsonrpc\":\"2.0\",\"method\":\"t:echo\",\"id\":1}",
	       err(-32600, "Invalid Request", nullptr, "1").c_str());
	// named-parameter retrieval: the first duplicate wins too
	EXPECT("{\"jsonrpc\":\"2.0\",\"method\":\"t:echo\",\"params\":{\"a\":\"first\",\"b\":1,\"a\":\"second\"},\"id\":1}",
	       err(-32602, "Invalid params", "Too few or too many parameters", "1").c_str());
	EXPECT("{\"jsonrpc\":\"2.0\",\"method\":\"t:echo\",\"params\":{\"a\":\"first\",\"a\":\"second\"},\"id\":1}",
	       err(-32602, "Invalid params", "Named parameters do not match", "1").c_str());
	// trailing bytes after the request are ignored
	EXPECT("{\"jsonrpc\":\"2.0\",\"method\":\"t:echo\",\"id\":64} trailing", ok("\"OK\"", "64").c_str());
}

void test_output(void **)
{
	EXPECT("{\"jsonrpc\":\"2.0\",\"method\":\"t:dup\",\"id\":1}",
	       ok("{\"k\":1,\"k\":\"two\",\"arr\":[null,true,2.500000,\"7-x\"],\"empty\":{}}", "1").c_str());
	char *reply = nullptr;
	int len = 0;
	const char req[] = "{\"jsonrpc\":\"2.0\",\"method\":\"t:echo\",\"params\":[\"v\",1],\"id\":1}";
	assert_int_equal(mi_run_jsonrpc(req, (int)sizeof req - 1, 1, "test", &reply, &len), MI_RUN_REPLY);
	assert_string_equal(reply, "{\n\t\"jsonrpc\":\t\"2.0\",\n\t\"result\":\t{\n\t\t\"a\":\t\"v\",\n"
	                           "\t\t\"b\":\t1\n\t},\n\t\"id\":\t1\n}");
	mi_free_reply(reply);
	// request bytes with embedded NUL and no terminator are handled by length
	const char nul[] = "{\"jsonrpc\":\"2.0\",\"method\":\"t:echo\",\"id\":1}\0garbage";
	run_out o = run(std::string(nul, sizeof nul - 1));
	assert_int_equal(o.rc, MI_RUN_REPLY);
	// replies past the printer's first buffer, escapes across its growth
	for (size_t n : {200u, 255u, 256u, 300u, 5000u, 70000u}) {
		std::string v;
		for (size_t i = 0; i < n; i++)
			v += (i % 97 == 0) ? '"' : (char)('a' + i % 26);
		std::string esc;
		for (char c : v)
			esc += c == '"' ? std::string("\\\"") : std::string(1, c);
		std::string rq = "{\"jsonrpc\":\"2.0\",\"method\":\"t:echo\",\"params\":[\"" + esc +
		                 "\"],\"id\":3}";
		EXPECT(rq.c_str(), ok(("\"" + esc + "\"").c_str(), "3"));
	}
}

// ---- naming ----

void test_naming(void **)
{
	// bare names resolve when unique, aliases otherwise
	EXPECT("{\"jsonrpc\":\"2.0\",\"method\":\"only_u\",\"id\":1}", ok("\"y\"", "1").c_str());
	EXPECT("{\"jsonrpc\":\"2.0\",\"method\":\"u:only_u\",\"id\":1}", ok("\"y\"", "1").c_str());
	EXPECT("{\"jsonrpc\":\"2.0\",\"method\":\"u_alias\",\"id\":1}", ok("\"y\"", "1").c_str());
	EXPECT("{\"jsonrpc\":\"2.0\",\"method\":\"t_get_old\",\"id\":1}", ok("\"OK\"", "1").c_str());
	EXPECT("{\"jsonrpc\":\"2.0\",\"method\":\"u:get\",\"id\":1}", ok("\"x\"", "1").c_str());
	// an alias shared by two commands is ambiguous
	EXPECT("{\"jsonrpc\":\"2.0\",\"method\":\"shared_alias\",\"id\":1}",
	       err(-32001, "Method ambiguous", "supported names: t:get, u:get", "1").c_str());
	// proto_ is stripped from the namespace
	EXPECT("{\"jsonrpc\":\"2.0\",\"method\":\"proto_u:get\",\"id\":1}",
	       err(-32601, "Method not found", nullptr, "1").c_str());
	// core commands by bare name and full name
	run_out o = run("{\"jsonrpc\":\"2.0\",\"method\":\"core:pwd\",\"id\":1}");
	assert_int_equal(o.rc, MI_RUN_REPLY);
	assert_non_null(strstr(o.reply.c_str(), "\"WD\":"));
	// registration errors
	const mi_export_t bad_colon[] = {
		{"a:b", nullptr, 0, nullptr, {{h_ok, {nullptr}}, {nullptr, {nullptr}}}, {nullptr}},
		{nullptr, nullptr, 0, nullptr, {{nullptr, {nullptr}}}, {nullptr}},
	};
	assert_int_equal(register_mi_mod("x", bad_colon), -1);
	assert_int_equal(register_mi_mod("t", t_cmds), -1); // duplicates
	// nothing of a failed registration is kept
	EXPECT("{\"jsonrpc\":\"2.0\",\"method\":\"x:a:b\",\"id\":1}",
	       err(-32601, "Method not found", nullptr, "1").c_str());
}

void test_which(void **)
{
	std::vector<std::string> names = shim::mi_command_names();
	std::vector<std::string> want = {"core:uptime", "core:version", "core:pwd", "core:arg",
	                                 "core:which", "core:ps", "core:kill", "core:log_level",
	                                 "core:xlog_level", "core:help", "t:echo"};
	for (size_t i = 0; i < want.size(); i++)
		assert_string_equal(names.at(i).c_str(), want[i].c_str());
	run_out o = run("{\"jsonrpc\":\"2.0\",\"method\":\"which\",\"id\":1}");
	assert_true(o.reply.compare(0, 55, "{\"jsonrpc\":\"2.0\",\"result\":[\"core:uptime\",\"core:version\"") == 0);
	assert_null(strstr(o.reply.c_str(), "\"t_get_old\""));
	assert_non_null(strstr(o.reply.c_str(), "\"u:only_u\"],\"id\":1}"));
	shim::g_globals.mi_list_aliases = true;
	o = run("{\"jsonrpc\":\"2.0\",\"method\":\"which\",\"id\":1}");
	shim::g_globals.mi_list_aliases = false;
	assert_non_null(strstr(o.reply.c_str(), "\"u:only_u\",\"which\",\"help\",\"t_get_old\",\"shared_alias\",\"u_alias\"],\"id\":1}"));

	EXPECT("{\"jsonrpc\":\"2.0\",\"method\":\"which\",\"params\":{\"command\":\"t:echo\"},\"id\":2}",
	       ok("[[],[\"a\"],[\"a\",\"b\"]]", "2").c_str());
	EXPECT("{\"jsonrpc\":\"2.0\",\"method\":\"which\",\"params\":[\"log_level\"],\"id\":2}",
	       ok("[[],[\"level\"],[\"level\",\"pid\"]]", "2").c_str());
	EXPECT("{\"jsonrpc\":\"2.0\",\"method\":\"which\",\"params\":[\"u_alias\"],\"id\":2}", ok("[[]]", "2").c_str());
	EXPECT("{\"jsonrpc\":\"2.0\",\"method\":\"which\",\"params\":[\"u:\"],\"id\":2}",
	       ok("[\"u:get\",\"u:only_u\"]", "2").c_str());
	EXPECT("{\"jsonrpc\":\"2.0\",\"method\":\"which\",\"params\":[\"zz:\"],\"id\":2}",
	       err(404, "unknown MI command", nullptr, "2").c_str());
	EXPECT("{\"jsonrpc\":\"2.0\",\"method\":\"which\",\"params\":[\"zz\"],\"id\":2}",
	       err(404, "unknown MI command", nullptr, "2").c_str());
}

void test_help(void **)
{
	EXPECT("{\"jsonrpc\":\"2.0\",\"method\":\"help\",\"id\":1}",
	       ok("\"Usage: help mi_cmd - returns information about 'mi_cmd'\"", "1").c_str());
	EXPECT("{\"jsonrpc\":\"2.0\",\"method\":\"help\",\"params\":[\"t:echo\"],\"id\":1}",
	       ok("{\"Help\":\"echo help\",\"Exported by\":\"t\"}", "1").c_str());
	EXPECT("{\"jsonrpc\":\"2.0\",\"method\":\"core:help\",\"params\":{\"mi_cmd\":\"only_u\"},\"id\":1}",
	       ok("{\"Help\":\"not available for this command\",\"Exported by\":\"u\"}", "1").c_str());
	EXPECT("{\"jsonrpc\":\"2.0\",\"method\":\"help\",\"params\":[\"nope\"],\"id\":1}",
	       err(404, "unknown MI command", nullptr, "1").c_str());
}

// Many threads at once: replies must never mix.
void test_concurrency(void **)
{
	std::atomic<int> bad{0};
	std::vector<std::thread> th;
	for (int t = 0; t < 8; t++)
		th.emplace_back([t, &bad] {
			for (int i = 0; i < 2000; i++) {
				std::string v = std::to_string(t * 100000 + i);
				std::string req = "{\"jsonrpc\":\"2.0\",\"method\":\"t:echo\",\"params\":[\"" + v +
				                  "\"],\"id\":" + v + "}";
				char *reply = nullptr;
				int len;
				int rc = mi_run_jsonrpc(req.data(), (int)req.size(), 0, "test", &reply, &len);
				std::string want = "{\"jsonrpc\":\"2.0\",\"result\":\"" + v + "\",\"id\":" + v + "}";
				if (rc != MI_RUN_REPLY || want != reply)
					bad++;
				mi_free_reply(reply);
				// a param error in one thread must not leak into another
				std::string breq = "{\"jsonrpc\":\"2.0\",\"method\":\"t:int\",\"params\":[\"x" + v + "\"],\"id\":1}";
				rc = mi_run_jsonrpc(breq.data(), (int)breq.size(), 0, "test", &reply, &len);
				if (rc != MI_RUN_REPLY || !strstr(reply, "Bad type for parameter 'i'"))
					bad++;
				mi_free_reply(reply);
			}
		});
	for (auto &t : th)
		t.join();
	assert_int_equal(bad.load(), 0);
	// every request counted, from every thread (mi:requests/<transport>)
	stat_var *counted = get_stat("mi:requests/test");
	assert_non_null(counted);
	assert_true(get_stat_val(counted) >= 32000);
}

// A thread remembers the last command it resolved; any change to the table
// (a registration, a reset) makes it ask the table again.
const mi_export_t v_cmds[] = {
	{"only_u", nullptr, 0, nullptr, {{h_which_x, {nullptr}}, {nullptr, {nullptr}}}, {nullptr}},
	{nullptr, nullptr, 0, nullptr, {{nullptr, {nullptr}}}, {nullptr}},
};

void test_lookup_cache(void **)
{
	const char *req = "{\"jsonrpc\":\"2.0\",\"method\":\"only_u\",\"id\":1}";
	EXPECT(req, ok("\"y\"", "1"));
	EXPECT(req, ok("\"y\"", "1")); // from the thread's cache
	// a second module with the same name: now ambiguous
	assert_int_equal(register_mi_mod("v", v_cmds), 0);
	EXPECT(req, err(-32001, "Method ambiguous", "supported names: u:only_u, v:only_u", "1").c_str());
	EXPECT("{\"jsonrpc\":\"2.0\",\"method\":\"v:only_u\",\"id\":1}", ok("\"x\"", "1"));
	// table emptied and rebuilt: the old entry is gone, the new one answers
	shim::mi_reset();
	assert_int_equal(register_mi_mod("v", v_cmds), 0);
	EXPECT(req, ok("\"x\"", "1"));
	shim::mi_reset();
	EXPECT(req, err(-32601, "Method not found", nullptr, "1").c_str());
}

// Garbage never crashes: a cheap mutation pass over valid requests.
void test_mutations(void **)
{
	const std::string base = "[{\"jsonrpc\":\"2.0\",\"method\":\"t:echo\",\"params\":{\"a\":\"x\",\"b\":\"2\"},\"id\":\"q\"},"
	                         "{\"jsonrpc\":\"2.0\",\"method\":\"which\",\"params\":[\"t:\"],\"id\":1.5}]";
	const char subst[] = "{}[]\":,0a\\ \x01\xff-e.";
	unsigned seed = 12345;
	for (int i = 0; i < 20000; i++) {
		std::string s = base;
		int edits = 1 + (int)(seed % 4);
		for (int e = 0; e < edits; e++) {
			seed = seed * 1103515245u + 12345u;
			size_t pos = (seed >> 8) % s.size();
			char c = subst[(seed >> 20) % (sizeof subst - 1)];
			switch ((seed >> 4) % 3) {
			case 0: s[pos] = c; break;
			case 1: s.insert(pos, 1, c); break;
			default: s.erase(pos, 1); break;
			}
		}
		char *reply = nullptr;
		int len = 0;
		int rc = mi_run_jsonrpc(s.data(), (int)s.size(), i & 1, "test", &reply, &len);
		assert_true(rc >= MI_RUN_REPLY && rc <= MI_RUN_INTERNAL_ERROR);
		if (rc == MI_RUN_REPLY || rc == MI_RUN_PARSE_ERROR)
			assert_non_null(reply);
		mi_free_reply(reply);
	}
}

} // namespace

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(test_parse_error, setup),
		cmocka_unit_test_setup(test_invalid_request, setup),
		cmocka_unit_test_setup(test_method_errors, setup),
		cmocka_unit_test_setup(test_param_errors, setup),
		cmocka_unit_test_setup(test_recipes, setup),
		cmocka_unit_test_setup(test_coercion, setup),
		cmocka_unit_test_setup(test_id_echo, setup),
		cmocka_unit_test_setup(test_notifications, setup),
		cmocka_unit_test_setup(test_batches, setup),
		cmocka_unit_test_setup(test_members, setup),
		cmocka_unit_test_setup(test_output, setup),
		cmocka_unit_test_setup(test_naming, setup),
		cmocka_unit_test_setup(test_which, setup),
		cmocka_unit_test_setup(test_help, setup),
		cmocka_unit_test_setup(test_concurrency, setup),
		cmocka_unit_test_setup(test_mutations, setup),
		cmocka_unit_test_setup(test_lookup_cache, setup),
	};
	return cmocka_run_group_tests(tests, nullptr, nullptr);
}
