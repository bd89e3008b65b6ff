// JSON-RPC request handling (spec §5.1, decisions.md §11-12).
//
// mi_run_jsonrpc() is re-entrant: everything it touches is local to the
// call except the command table (read-only after startup, see mi_table.h)
// and the per-transport counters (atomics behind a mutex-guarded map).
#include <atomic>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <mutex>
#include <new>
#include <string>

#include "mi/mi_core.h"
#include "stats/stats.h"
#include "mi/mi_item.h"
#include "mi/mi_table.h"
#include "opensips/dprint.h"

namespace shim::mi {

namespace {

void count_request(const char *transport)
{
	// mi:requests/<transport>: a transport thread asks the registry once
	thread_local std::map<std::string, stat_var *, std::less<>> mine;
	// a transport thread passes the same name every time
	thread_local const std::string *last_name = nullptr;
	thread_local stat_var *last_stat = nullptr;
	if (transport && last_name && strcmp(transport, last_name->c_str()) == 0) {
		stat_add(last_stat, 1);
		return;
	}
	std::string_view t = transport ? transport : "unknown";
	auto it = mine.find(t);
	if (it == mine.end())
		it = mine.emplace(std::string(t), nullptr).first;
	stat_var *&sv = it->second;
	if (!sv) {
		const char *ln[] = {"transport"};
		const char *lv[] = {it->first.c_str()};
		sv = register_item_stat("mi", "requests", "MI requests received, per transport", 0,
		                        1, ln, lv);
	}
	last_name = &it->first; // map nodes do not move
	last_stat = sv;
	stat_add(sv, 1);
}

struct item_deleter {
	void operator()(mi_item *i) const { item_free(i); }
};
using item_ptr = std::unique_ptr<mi_item, item_deleter>;

mi_response_t *error_response(int code, const char *msg, const char *data = nullptr)
{
	return init_mi_error_extra(code, msg, (int)strlen(msg), data,
	                           data ? (int)strlen(data) : 0);
}

// The id to echo: absent (notification), or an item to append last.
struct request_id {
	bool present = false;
	bool valid = true;
	const mi_item *item = nullptr;
};

request_id read_id(const mi_item *req)
{
	request_id id;
	id.item = object_get(req, "id");
	id.present = id.item != nullptr;
	if (id.present)
		id.valid = id.item->kind == mi_item::NUL ||
		           id.item->kind == mi_item::NUMBER ||
		           id.item->kind == mi_item::STRING;
	return id;
}

// Appends "id" last: a string stays a string, a number becomes an int, null
// (and an id we could not use) becomes null.
void append_id(mi_response_t *resp, const mi_item *id)
{
	mi_item *v;
	if (id && id->kind == mi_item::STRING)
		v = make_string(id->text);
	else if (id && id->kind == mi_item::NUMBER)
		v = make_number(number_to_int(id->number));
	else
		v = item_new(mi_item::NUL);
	if (!v)
		throw std::bad_alloc();
	item_append(resp, v, "id");
}

bool params_empty(const mi_item *params)
{
	return !params || params->count == 0;
}

// Picks the recipe for `params` (already validated as array/object/absent).
// Returns nullptr and sets *err on failure.
const mi_recipe_t *pick_recipe(const cmd_entry &cmd, const mi_item *params,
                               const char **err)
{
	int nparams = params_empty(params) ? 0 : params->count;
	bool named = !params_empty(params) && params->kind == mi_item::OBJECT;
	const mi_recipe_t *match = nullptr;
	bool count_seen = false;

	for (int r = 0; r < MAX_MI_RECIPES && cmd.exp.recipes[r].cmd; r++) {
		const mi_recipe_t *rec = &cmd.exp.recipes[r];
		int n = 0;
		while (n < MAX_MI_PARAMS && rec->params[n])
			n++;
		if (n != nparams)
			continue;
		count_seen = true;
		if (nparams == 0)
			return rec;
		if (!named) {
			if (match) {
				*err = "Ambiguous call, use named parameters instead";
				return nullptr;
			}
			match = rec;
			continue;
		}
		bool all = true;
		for (int i = 0; i < n && all; i++) {
			bool found = false;
			for (const mi_item *c = params->first; c && !found; c = c->next)
				found = c->name == rec->params[i];
			all = found;
		}
		if (all)
			return rec;
	}
	if (match)
		return match;
	*err = count_seen && named ? "Named parameters do not match"
	                           : "Too few or too many parameters";
	return nullptr;
}

// Runs one command. Never returns nullptr.
mi_response_t *run_command(const cmd_entry &cmd, mi_item *params)
{
	if (params_empty(params))
		params = nullptr;
	if (params && params->kind == mi_item::ARRAY &&
	    (cmd.exp.flags & MI_NAMED_PARAMS_ONLY))
		return error_response(JSONRPC_INVAL_PARAMS_CODE, "Invalid params",
		                      "Command only supports named parameters");
	const char *err = nullptr;
	const mi_recipe_t *rec = pick_recipe(cmd, params, &err);
	if (!rec)
		return error_response(JSONRPC_INVAL_PARAMS_CODE, "Invalid params", err);

	mi_params_t mp;
	mp.item = params;
	mp.list = const_cast<char **>(rec->params);
	param_error_reset();
	mi_response_t *resp = rec->cmd(&mp, nullptr);
	if (!resp)
		return error_response(JSONRPC_SERVER_ERR_CODE, "Server error",
		                      "Command handler returned null");
	if (resp == MI_ASYNC_RPL) {
		LM_ERR("MI command %s answered asynchronously; not supported\n",
		       cmd.full.c_str());
		return error_response(JSONRPC_SERVER_ERR_CODE, "Server error",
		                      "Asynchronous replies are not supported");
	}
	return resp;
}

// One request object (or any value found inside a batch). Returns the
// response to send, or nullptr when nothing is to be sent.
mi_response_t *handle_one(mi_item *req)
{
	if (req->kind != mi_item::OBJECT) {
		mi_response_t *r = error_response(JSONRPC_INVAL_REQ_CODE, "Invalid Request");
		if (!r)
			throw std::bad_alloc();
		append_id(r, nullptr);
		return r;
	}
	request_id id = read_id(req);
	const mi_item *ver = object_get(req, "jsonrpc");
	const mi_item *method = object_get(req, "method");
	mi_item *params = object_get(req, "params");

	bool valid = id.valid && ver && ver->kind == mi_item::STRING &&
	             ver->text == "2.0" && method && method->kind == mi_item::STRING &&
	             (!params || params->kind == mi_item::ARRAY ||
	              params->kind == mi_item::OBJECT);
	if (!valid) {
		mi_response_t *r = error_response(JSONRPC_INVAL_REQ_CODE, "Invalid Request");
		if (!r)
			throw std::bad_alloc();
		append_id(r, id.present && id.valid ? id.item : nullptr);
		return r;
	}

	mi_response_t *resp;
	lookup_result lr = lookup(method->text);
	if (lr.cmd) {
		resp = run_command(*lr.cmd, params);
	} else if (!lr.ambiguous.empty()) {
		std::string data = "supported names: ";
		for (size_t i = 0; i < lr.ambiguous.size(); i++) {
			if (i)
				data += ", ";
			data += lr.ambiguous[i];
		}
		resp = error_response(JSONRPC_AMBIGUOUS_CODE, "Method ambiguous", data.c_str());
	} else {
		resp = error_response(JSONRPC_NOT_FOUND_CODE, "Method not found");
	}
	if (!resp)
		throw std::bad_alloc();
	if (!id.present) {
		free_mi_response(resp);
		return nullptr;
	}
	append_id(resp, id.item);
	return resp;
}

int finish(mi_item *out, bool pretty, char **reply, int *reply_len)
{
	size_t len = 0;
	char *buf = json_print_reply(out, pretty, &len);
	if (!buf)
		return MI_RUN_INTERNAL_ERROR;
	*reply = buf;
	if (reply_len)
		*reply_len = (int)len;
	return MI_RUN_REPLY;
}

int run(const char *request, int len, bool pretty, char **reply, int *reply_len)
{
	parse_result pr = json_parse(request ? request : "", request && len > 0 ? (size_t)len : 0);
	if (pr.status != parse_status::ok) {
		item_ptr err(error_response(JSONRPC_PARSE_ERR_CODE, "Parse error"));
		if (!err)
			return MI_RUN_INTERNAL_ERROR;
		append_id(err.get(), nullptr);
		int rc = finish(err.get(), pretty, reply, reply_len);
		return rc == MI_RUN_REPLY ? MI_RUN_PARSE_ERROR : rc;
	}
	item_ptr root(pr.root);

	if (root->kind == mi_item::ARRAY && root->count > 0) {
		item_ptr out(item_new(mi_item::ARRAY));
		if (!out)
			return MI_RUN_INTERNAL_ERROR;
		for (mi_item *c = root->first; c; c = c->next) {
			mi_response_t *r = handle_one(c);
			if (r)
				item_append(out.get(), r, {});
		}
		if (out->count == 0)
			return MI_RUN_NO_REPLY;
		return finish(out.get(), pretty, reply, reply_len);
	}
	// `[]` and scalars reach handle_one as non-objects: -32600, id null.
	item_ptr resp(handle_one(root.get()));
	if (!resp)
		return MI_RUN_NO_REPLY;
	return finish(resp.get(), pretty, reply, reply_len);
}

} // namespace

} // namespace shim::mi

namespace shim {



} // namespace shim

extern "C" {

int mi_run_jsonrpc(const char *request, int len, int pretty,
                   const char *transport, char **reply, int *reply_len)
{
	char *dummy;
	if (!reply)
		reply = &dummy;
	*reply = nullptr;
	if (reply_len)
		*reply_len = 0;
	try {
		shim::mi::count_request(transport);
		return shim::mi::run(request, len, pretty != 0, reply, reply_len);
	} catch (...) {
		if (*reply) {
			free(*reply);
			*reply = nullptr;
		}
		LM_ERR("internal error while running an MI request\n");
		return MI_RUN_INTERNAL_ERROR;
	}
}

void mi_free_reply(char *reply)
{
	free(reply);
}

} // extern "C"
