// Fuzz target: JSON-RPC request handling (mi_run_jsonrpc): parsing,
// validation, batches, method lookup (namespaces, aliases, ambiguity),
// recipe binding, parameter getters and coercion, reply printing.
//
// A fixed set of fake commands is registered once (the table is read-only
// afterwards, as in the host). Their names mirror real ones so the requests
// of the reference transcripts bind to recipes. The generic handler fetches
// every parameter of the chosen recipe with the getter its name calls for
// and echoes what it got, so the printer sees the request's values.
//
// Every reply must be one JSON document: our own parser and jansson's must
// both accept it (jansson's integer range and its refusal of NUL in keys
// excepted).
#include <jansson.h>
#include <string.h>

#include <string>

#include "fuzz.h"
#include "log/log.h"
#include "mi/mi_core.h"
#include "mi/mi_item.h"
#include "opensips/dprint.h"
#include "opensips/mi.h"

namespace {

enum pkind { P_STR, P_INT, P_STR_ARRAY, P_INT_ARRAY, P_ANY };

pkind kind_of(const char *name)
{
	static const struct {
		const char *n;
		pkind k;
	} tab[] = {{"level", P_INT},       {"pid", P_INT},         {"expire", P_INT},
	           {"status", P_INT},      {"i", P_INT},           {"names", P_STR_ARRAY},
	           {"ints", P_INT_ARRAY},  {"params", P_ANY},      {"value", P_ANY},
	           {"a", P_ANY},           {"b", P_ANY}};
	for (auto &e : tab)
		if (!strcmp(e.n, name)) return e.k;
	return P_STR;
}

// Appends a copy of `it` to `to` (an object or array of the response).
int copy_item(mi_item_t *to, const char *name, int nlen, const mi_item *it)
{
	switch (it->kind) {
	case mi_item::NUL: return add_mi_null(to, name, nlen);
	case mi_item::BOOL: return add_mi_bool(to, name, nlen, it->boolean);
	case mi_item::NUMBER: return add_mi_number(to, name, nlen, it->number);
	case mi_item::STRING:
		return add_mi_string(to, name, nlen, it->text.data(), (int)it->text.size());
	case mi_item::ARRAY:
	case mi_item::OBJECT: {
		mi_item_t *c = it->kind == mi_item::ARRAY ? add_mi_array(to, name, nlen)
		                                         : add_mi_object(to, name, nlen);
		if (!c) return -1;
		for (const mi_item *k = it->first; k; k = k->next)
			if (copy_item(c, k->name.data(), (int)k->name.size(), k) < 0) return -1;
		return 0;
	}
	}
	return -1;
}

mi_response_t *generic(const mi_params_t *params, struct mi_handler *)
{
	mi_item_t *obj;
	mi_response_t *resp = init_mi_result_object(&obj);
	if (!resp) return nullptr;
	for (int i = 0; params->list && params->list[i]; i++) {
		const char *n = params->list[i];
		int nl = (int)strlen(n);
		char *s;
		int sl, v, cnt;
		mi_item_t *arr;
		// the typed getter this name calls for; a failure is the reply
		switch (kind_of(n)) {
		case P_STR:
			if (get_mi_string_param(params, n, &s, &sl) < 0) goto bad;
			add_mi_string(obj, n, nl, s, sl);
			break;
		case P_INT:
			if (get_mi_int_param(params, n, &v) < 0) goto bad;
			add_mi_int(obj, n, nl, v);
			break;
		case P_STR_ARRAY:
		case P_INT_ARRAY: {
			if (get_mi_array_param(params, n, &arr, &cnt) < 0) goto bad;
			mi_item_t *out = add_mi_array(obj, n, nl);
			for (int k = 0; k < cnt; k++) {
				if (kind_of(n) == P_STR_ARRAY) {
					if (get_mi_arr_param_string(arr, k, &s, &sl) < 0) goto bad;
					add_mi_string(out, nullptr, 0, s, sl);
				} else {
					if (get_mi_arr_param_int(arr, k, &v) < 0) goto bad;
					add_mi_int(out, nullptr, 0, v);
				}
			}
			// one past the end must fail
			FUZZ_CHECK(get_mi_arr_param_int(arr, cnt, &v) < 0, "item %d of %d", cnt, cnt);
			break;
		}
		case P_ANY: {
			mi_item *it = get_mi_param_item(params, n);
			if (it && copy_item(obj, n, nl, it) < 0) goto bad;
			if (it) {
				int plen = 0;
				char *p = mi_item_print(it, &plen);
				FUZZ_CHECK(p && (int)strlen(p) == plen, "mi_item_print");
				free(p);
			}
			break;
		}
		}
		// the soft getters must agree with the hard ones on presence
		int t1 = try_get_mi_string_param(params, n, &s, &sl);
		int t2 = try_get_mi_int_param(params, n, &v);
		FUZZ_CHECK(t1 >= -2 && t1 <= 0 && t2 >= -2 && t2 <= 0, "try_get");
		FUZZ_CHECK((t1 == -1) == (t2 == -1), "try_get presence %d %d", t1, t2);
	}
	{
		char *s;
		int v;
		FUZZ_CHECK(try_get_mi_string_param(params, "no-such-param", &s, nullptr) == -1,
		           "absent string");
		FUZZ_CHECK(try_get_mi_int_param(params, "no-such-param", &v) == -1,
		           "absent int");
	}
	return resp;
bad:
	free_mi_response(resp);
	return init_mi_param_error();
}

// Asks for a parameter its recipe does not have (-32000).
mi_response_t *stray(const mi_params_t *params, struct mi_handler *)
{
	char *s;
	int l;
	if (get_mi_string_param(params, "not_in_recipe", &s, &l) < 0)
		return init_mi_param_error();
	return init_mi_result_ok();
}

mi_response_t *ret_null(const mi_params_t *, struct mi_handler *) { return nullptr; }
mi_response_t *ret_async(const mi_params_t *, struct mi_handler *) { return MI_ASYNC_RPL; }

// Lists the table (what core:which does).
mi_response_t *which(const mi_params_t *, struct mi_handler *)
{
	mi_item_t *arr;
	mi_response_t *r = init_mi_result_array(&arr);
	for (auto &n : shim::mi_command_names())
		add_mi_string(arr, nullptr, 0, n.data(), (int)n.size());
	return r;
}

mi_response_t *error_extra(const mi_params_t *params, struct mi_handler *)
{
	char *s = nullptr;
	int l = 0;
	if (try_get_mi_string_param(params, "details", &s, &l) != 0) s = nullptr;
	return init_mi_error_extra(-32000, "Failed", 6, s, s ? l : 0);
}

const mi_export_t sr_cmds[] = {
    {"get", "", 0, nullptr,
     {{generic, {"group", nullptr}}, {generic, {"group", "identifier", nullptr}},
      {nullptr, {nullptr}}},
     {"sr_get_status", nullptr}},
    {"reports", "", 0, nullptr,
     {{generic, {"group", nullptr}}, {generic, {"group", "identifier", nullptr}},
      {nullptr, {nullptr}}},
     {"sr_list_reports", nullptr}},
    {"status", "", 0, nullptr, {{generic, {nullptr}}, {nullptr, {nullptr}}},
     {"sr_list_status", nullptr}},
    {nullptr, nullptr, 0, nullptr, {{nullptr, {nullptr}}}, {nullptr}},
};

const mi_export_t evi_cmds[] = {
    {"raise", "", 0, nullptr,
     {{generic, {"event", nullptr}}, {generic, {"event", "params", nullptr}},
      {nullptr, {nullptr}}},
     {"event_raise", nullptr}},
    {"subscribe", "", 0, nullptr,
     {{generic, {"event", "socket", nullptr}},
      {generic, {"event", "socket", "expire", nullptr}},
      {nullptr, {nullptr}}},
     {"event_subscribe", nullptr}},
    {"list", "", 0, nullptr, {{generic, {nullptr}}, {nullptr, {nullptr}}},
     {"events_list", nullptr}},
    {nullptr, nullptr, 0, nullptr, {{nullptr, {nullptr}}}, {nullptr}},
};

const mi_export_t core_cmds[] = {
    {"which", "", 0, nullptr,
     {{which, {nullptr}}, {generic, {"command", nullptr}}, {nullptr, {nullptr}}},
     {"which", nullptr}},
    {"log_level", "", 0, nullptr,
     {{generic, {nullptr}}, {generic, {"level", nullptr}},
      {generic, {"level", "pid", nullptr}}, {nullptr, {nullptr}}},
     {nullptr}},
    {"version", "", 0, nullptr,
     {{generic, {nullptr}}, {generic, {"revision", nullptr}}, {nullptr, {nullptr}}},
     {nullptr}},
    {nullptr, nullptr, 0, nullptr, {{nullptr, {nullptr}}}, {nullptr}},
};

// `list` and `get` also exist above: their local names are ambiguous.
const mi_export_t fz_cmds[] = {
    {"list", "", 0, nullptr, {{generic, {nullptr}}, {nullptr, {nullptr}}}, {nullptr}},
    {"get", "", 0, nullptr, {{generic, {"value", nullptr}}, {nullptr, {nullptr}}},
     {"sr_get_status", nullptr}},
    {"named", "", MI_NAMED_PARAMS_ONLY, nullptr,
     {{generic, {"a", nullptr}}, {generic, {"a", "b", nullptr}},
      {generic, {"b", "names", nullptr}}, {generic, {"ints", "i", nullptr}},
      {nullptr, {nullptr}}},
     {nullptr}},
    {"positional", "", 0, nullptr,
     {{generic, {"a", "b", nullptr}}, {generic, {"names", "ints", nullptr}},
      {generic, {"status", nullptr}}, {nullptr, {nullptr}}},
     {nullptr}},
    {"wide", "", 0, nullptr,
     {{generic,
       {"p1", "p2", "p3", "p4", "p5", "p6", "p7", "p8", "p9", "p10", "p11", "p12",
        "p13", "p14", "p15", "p16", "p17", "p18", "p19", "level", nullptr}},
      {nullptr, {nullptr}}},
     {nullptr}},
    {"stray", "", 0, nullptr, {{stray, {nullptr}}, {stray, {"x", nullptr}}, {nullptr, {nullptr}}},
     {nullptr}},
    {"null", "", 0, nullptr, {{ret_null, {nullptr}}, {nullptr, {nullptr}}}, {nullptr}},
    {"async", "", 0, nullptr, {{ret_async, {nullptr}}, {nullptr, {nullptr}}}, {nullptr}},
    {"error", "", 0, nullptr,
     {{error_extra, {nullptr}}, {error_extra, {"details", nullptr}}, {nullptr, {nullptr}}},
     {nullptr}},
    {nullptr, nullptr, 0, nullptr, {{nullptr, {nullptr}}}, {nullptr}},
};

void setup()
{
	shim::log_set_global_level(L_ALERT - 1);
	shim::log_set_stderr(false);
	shim::mi_reset();
	if (register_mi_mod("status_report", sr_cmds) < 0 ||
	    register_mi_mod("evi", evi_cmds) < 0 || register_mi_mod("core", core_cmds) < 0 ||
	    register_mi_mod("proto_fz", fz_cmds) < 0) {
		fprintf(stderr, "fuzz_jsonrpc: cannot register the commands\n");
		abort();
	}
	if (init_mi_child() < 0) abort();
}

void check_reply(const char *reply, int len)
{
	FUZZ_CHECK(reply && len > 0, "no reply text");
	FUZZ_CHECK((int)strlen(reply) == len, "reply length %d vs %zu", len, strlen(reply));
	shim::mi::parse_result ours = shim::mi::json_parse(reply, (size_t)len);
	FUZZ_CHECK(ours.status == shim::mi::parse_status::ok && ours.end == (size_t)len,
	           "our parser refuses the reply at %zu: %s", ours.end, reply);
	shim::mi::item_free(ours.root);
	json_error_t err;
	json_t *j = json_loadb(reply, (size_t)len, JSON_DECODE_ANY | JSON_ALLOW_NUL, &err);
	if (!j) {
		enum json_error_code c = json_error_code(&err);
		FUZZ_CHECK(c == json_error_numeric_overflow || c == json_error_null_byte_in_key,
		           "jansson refuses the reply (%s at %d): %s", err.text, err.position,
		           reply);
		return;
	}
	json_decref(j);
}

} // namespace

FUZZ_TARGET(jsonrpc)
{
	static bool once = [] {
		setup();
		return true;
	}();
	(void)once;
	// exact-size copy: a read past the end is an ASan report
	char *req = (char *)malloc(size ? size : 1);
	if (size) memcpy(req, data, size);
	for (int pretty = 0; pretty < 2; pretty++) {
		char *reply = nullptr;
		int rlen = -1;
		int st = mi_run_jsonrpc(req, (int)size, pretty, "fuzz", &reply, &rlen);
		switch (st) {
		case MI_RUN_REPLY:
		case MI_RUN_PARSE_ERROR: check_reply(reply, rlen); break;
		case MI_RUN_NO_REPLY: break;
		default:
			FUZZ_CHECK(false, "mi_run_jsonrpc status %d", st);
		}
		if (reply) mi_free_reply(reply);
		if (st == MI_RUN_PARSE_ERROR) break; // same answer either way
	}
	free(req);
	return 0;
}
