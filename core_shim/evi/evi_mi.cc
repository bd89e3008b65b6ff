// MI commands under `evi` (spec §2.5, decisions.md §7): subscribe, list,
// subscribers, raise (3.x aliases event_subscribe, events_list,
// subscribers_list, raise_event) and our subscriber_stats.
#include <string.h>

#include <deque>

#include "util/host_mi.h"
#include "evi/evi_internal.h"
#include "mi/mi_item.h"
#include "opensips/dprint.h"
#include "opensips/mi.h"

namespace shim::evi {
namespace {

constexpr unsigned int DEFAULT_EXPIRE = 3600;

#define MI_SSTR(s) s, (int)(sizeof(s) - 1)

mi_response_t *mi_err(int code, const char *msg)
{
	return init_mi_error_extra(code, msg, (int)strlen(msg), nullptr, 0);
}

mi_response_t *invalid_params(const char *data)
{
	return init_mi_error_extra(JSONRPC_INVAL_PARAMS_CODE, MI_SSTR("Invalid params"),
	                           data, (int)strlen(data));
}

mi_response_t *mi_subscribe(const mi_params_t *params, struct mi_handler *)
{
	char *ev, *sock;
	int ev_len, sock_len;
	if (get_mi_string_param(params, "event", &ev, &ev_len) < 0)
		return init_mi_param_error();
	if (ev_len <= 0) return invalid_params("Bad type for parameter 'event'");
	if (get_mi_string_param(params, "socket", &sock, &sock_len) < 0)
		return init_mi_param_error();
	if (sock_len <= 0) return invalid_params("Bad type for parameter 'socket'");
	int expire = (int)DEFAULT_EXPIRE;
	if (try_get_mi_int_param(params, "expire", &expire) != -1) {
		if (get_mi_int_param(params, "expire", &expire) < 0)
			return init_mi_param_error();
		if (expire < 0) return invalid_params("Negative expire value");
	}
	int rc = evi_subscribe(str{ev, ev_len}, str{sock, sock_len},
	                       (unsigned int)expire, true);
	if (rc == -1) return mi_err(400, "Bad parameter value");
	if (rc < 0) return nullptr; // -32000 Command handler returned null
	return init_mi_result_ok();
}

mi_response_t *mi_list(const mi_params_t *, struct mi_handler *)
{
	mi_item_t *obj, *arr;
	mi_response_t *r = init_mi_result_object(&obj);
	if (!r) return nullptr;
	arr = add_mi_array(obj, MI_SSTR("Events"));
	if (!arr) goto err;
	for (int i = 0, n = event_count(); i < n; i++) {
		event_entry *e = event_get(i);
		if (!e) continue;
		mi_item_t *o = add_mi_object(arr, nullptr, 0);
		if (!o || add_mi_string(o, MI_SSTR("name"), e->name.s, e->name.len) < 0 ||
		    add_mi_int(o, MI_SSTR("id"), i) < 0)
			goto err;
	}
	return r;
err:
	free_mi_response(r);
	return nullptr;
}

// {"socket":..,"expire":N,"ttl":N|"expired"} or {"socket":..,"expire":"never"}
int add_subscriber(mi_item_t *to, const char *name, int name_len,
                   const subscriber &s, time_t now)
{
	mi_item_t *o = add_mi_object(to, name, name_len);
	if (!o) return -1;
	std::string sock = socket_text(s);
	if (add_mi_string(o, MI_SSTR("socket"), sock.data(), (int)sock.size()) < 0)
		return -1;
	if (!s.expires) return add_mi_string(o, MI_SSTR("expire"), MI_SSTR("never"));
	if (add_mi_int(o, MI_SSTR("expire"), s.expire) < 0) return -1;
	long long ttl = (long long)s.expire - (long long)(now - s.since);
	if (ttl <= 0) return add_mi_string(o, MI_SSTR("ttl"), MI_SSTR("expired"));
	return add_mi_int(o, MI_SSTR("ttl"), ttl);
}

// name, id, Subscribers of one event (e->mu held)
int add_event_subs(mi_item_t *o, event_id_t id, event_entry *e, time_t now)
{
	if (add_mi_string(o, MI_SSTR("name"), e->name.s, e->name.len) < 0 ||
	    add_mi_int(o, MI_SSTR("id"), id) < 0)
		return -1;
	mi_item_t *subs = add_mi_array(o, MI_SSTR("Subscribers"));
	if (!subs) return -1;
	for (auto &s : e->subs)
		if (add_subscriber(subs, nullptr, 0, *s, now) < 0) return -1;
	return 0;
}

mi_response_t *mi_subscribers(const mi_params_t *params, struct mi_handler *)
{
	char *ev = nullptr, *sock = nullptr;
	int ev_len = 0, sock_len = 0;
	mi_item_t *obj;
	time_t now = evi_now();
	if (try_get_mi_string_param(params, "event", &ev, &ev_len) != -1 &&
	    get_mi_string_param(params, "event", &ev, &ev_len) < 0)
		return init_mi_param_error();
	if (try_get_mi_string_param(params, "socket", &sock, &sock_len) != -1 &&
	    get_mi_string_param(params, "socket", &sock, &sock_len) < 0)
		return init_mi_param_error();

	if (!ev) { // every event that has subscribers
		mi_response_t *r = init_mi_result_object(&obj);
		if (!r) return nullptr;
		mi_item_t *arr = add_mi_array(obj, MI_SSTR("Events"));
		if (!arr) goto err_all;
		for (int i = 0, n = event_count(); i < n; i++) {
			event_entry *e = event_get(i);
			if (!e || e->nsubs.load() == 0) continue;
			std::lock_guard<std::mutex> lk(e->mu);
			purge_locked(e, now);
			if (e->subs.empty()) continue;
			mi_item_t *o = add_mi_object(arr, nullptr, 0);
			if (!o || add_event_subs(o, i, e, now) < 0) goto err_all;
		}
		return r;
	err_all:
		free_mi_response(r);
		return nullptr;
	}

	str evs{ev, ev_len};
	event_id_t id = evi_get_id(&evs);
	event_entry *e = event_get(id);
	if (!e) return mi_err(404, "Event not published");

	if (!sock) {
		mi_response_t *r = init_mi_result_object(&obj);
		if (!r) return nullptr;
		mi_item_t *o = add_mi_object(obj, MI_SSTR("Event"));
		if (!o) {
			free_mi_response(r);
			return nullptr;
		}
		std::lock_guard<std::mutex> lk(e->mu);
		purge_locked(e, now);
		if (!e->subs.empty() && add_event_subs(o, id, e, now) < 0) {
			free_mi_response(r);
			return nullptr;
		}
		return r;
	}

	// {event, socket}: the subscriber the transport matches
	const char *colon = (const char *)memchr(sock, ':', (size_t)sock_len);
	str proto{sock, colon ? (int)(colon - sock) : sock_len};
	const transport *tp = transport_find(proto);
	evi_reply_sock *probe = nullptr;
	if (tp && colon) {
		str rest{const_cast<char *>(colon + 1), sock_len - (int)(colon - sock) - 1};
		probe = tp->exp.parse(rest);
	}
	if (!probe) return mi_err(404, "Subscriber does not exist");
	mi_response_t *r = nullptr;
	{
		std::lock_guard<std::mutex> lk(e->mu);
		purge_locked(e, now);
		for (auto &s : e->subs) {
			if (s->tp != tp || !tp->exp.match || tp->exp.match(s->sock, probe) != 1)
				continue;
			r = init_mi_result_object(&obj);
			mi_item_t *o = r ? add_mi_object(obj, MI_SSTR("Event")) : nullptr;
			if (!o || add_mi_string(o, MI_SSTR("name"), e->name.s, e->name.len) < 0 ||
			    add_mi_int(o, MI_SSTR("id"), id) < 0 ||
			    add_subscriber(o, MI_SSTR("Subscriber"), *s, now) < 0) {
				if (r) free_mi_response(r);
				r = nullptr;
				if (tp->exp.free) tp->exp.free(probe);
				return nullptr;
			}
			break;
		}
	}
	if (tp->exp.free) tp->exp.free(probe);
	if (!r) return mi_err(404, "Subscriber does not exist");
	return r;
}

// params: a JSON array (unnamed-in-effect string params named ""), or a
// string holding a JSON object (named params). NULL + *err on bad input.
mi_response_t *build_params(mi_item *item, evi_params_p *out,
                            std::deque<std::string> &store)
{
	static char empty[] = "";
	*out = nullptr;
	if (!item) return nullptr;
	if (item->kind == mi_item::ARRAY) {
		if (item->count == 0) return nullptr; // no params
		evi_params_p list = evi_get_params();
		if (!list) return mi_err(500, "Cannot Raise Event");
		str noname{empty, 0};
		for (int i = 0; i < item->count; i++) {
			char *v;
			int vlen;
			if (get_mi_arr_param_string(item, i, &v, &vlen) < 0) {
				evi_free_params(list);
				return mi_err(400, "Bad Params");
			}
			str val{v, vlen};
			if (evi_param_add_str(list, &noname, &val) < 0) {
				evi_free_params(list);
				return mi_err(500, "Cannot Raise Event");
			}
		}
		*out = list;
		return nullptr;
	}
	if (item->kind != mi_item::STRING && item->kind != mi_item::NUMBER)
		return mi_err(400, "No Params");
	std::string text = item->kind == mi_item::STRING
	                       ? item->text
	                       : std::to_string(mi::number_to_int(item->number));
	mi::parse_result pr = mi::json_parse(text.data(), text.size());
	if (pr.status != mi::parse_status::ok || !pr.root ||
	    pr.root->kind != mi_item::OBJECT) {
		if (pr.root) mi::item_free(pr.root);
		return mi_err(400, "Bad Params");
	}
	evi_params_p list = evi_get_params();
	if (!list) {
		mi::item_free(pr.root);
		return mi_err(500, "Cannot Raise Event");
	}
	int rc = 0;
	for (mi_item *m = pr.root->first; m && rc == 0; m = m->next) {
		store.push_back(m->name);
		str name{store.back().data(), (int)store.back().size()};
		if (m->kind == mi_item::NUMBER) {
			int n = mi::number_to_int(m->number);
			rc = evi_param_add_int(list, &name, &n);
			continue;
		}
		if (m->kind == mi_item::STRING) {
			store.push_back(m->text);
		} else if (m->kind == mi_item::BOOL || m->kind == mi_item::NUL) {
			store.push_back("null"); // as the reference (README item 9)
		} else {
			std::string js;
			mi::json_print(m, false, js);
			store.push_back(std::move(js));
		}
		str val{store.back().data(), (int)store.back().size()};
		rc = evi_param_add_str(list, &name, &val);
	}
	mi::item_free(pr.root);
	if (rc < 0) {
		evi_free_params(list);
		return mi_err(500, "Cannot Raise Event");
	}
	*out = list;
	return nullptr;
}

mi_response_t *mi_raise(const mi_params_t *params, struct mi_handler *)
{
	char *ev;
	int ev_len;
	if (get_mi_string_param(params, "event", &ev, &ev_len) < 0)
		return init_mi_param_error();
	str evs{ev, ev_len};
	event_id_t id = evi_get_id(&evs);
	if (id == EVI_ERROR) return mi_err(404, "Event not registered");
	if (evi_probe_event(id) <= 0)
		return mi_err(480, "Temporarily Unavailable");
	std::deque<std::string> store;
	evi_params_p list = nullptr;
	mi_response_t *err = build_params(get_mi_param_item(params, "params"), &list,
	                                  store);
	if (err) return err;
	// queued for the EVI sender: the raise is asynchronous already
	evi_raise_event(id, list);
	return init_mi_result_ok();
}

// A composite subscriber's members (event_virtual): "members": [...]
int add_members(mi_item_t *o, const evi_subscriber_stat &st)
{
	if (st.members.empty())
		return 0;
	mi_item_t *arr = add_mi_array(o, MI_SSTR("members"));
	if (!arr)
		return -1;
	for (auto &m : st.members) {
		mi_item_t *mo = add_mi_object(arr, nullptr, 0);
		if (!mo ||
		    add_mi_string(mo, MI_SSTR("socket"), m.socket.data(), (int)m.socket.size()) < 0 ||
		    add_mi_int(mo, MI_SSTR("delivered"), (long long)m.delivered) < 0 ||
		    add_mi_int(mo, MI_SSTR("failed"), (long long)m.failed) < 0 ||
		    add_mi_int(mo, MI_SSTR("dropped"), (long long)m.dropped) < 0 ||
		    add_mi_bool(mo, MI_SSTR("skipped"), m.skipped) < 0)
			return -1;
	}
	return 0;
}

mi_response_t *mi_subscriber_stats(const mi_params_t *params, struct mi_handler *)
{
	char *ev = nullptr;
	int ev_len = 0;
	event_id_t id = -1;
	if (try_get_mi_string_param(params, "event", &ev, &ev_len) != -1) {
		if (get_mi_string_param(params, "event", &ev, &ev_len) < 0)
			return init_mi_param_error();
		str evs{ev, ev_len};
		id = evi_get_id(&evs);
		if (id == EVI_ERROR) return mi_err(404, "Event not published");
	}
	evi_purge_expired();
	mi_item_t *obj;
	mi_response_t *r = init_mi_result_object(&obj);
	if (!r) return nullptr;
	mi_item_t *arr = add_mi_array(obj, MI_SSTR("Subscribers"));
	if (!arr) goto err;
	for (auto &st : evi_subscriber_stats(id)) {
		mi_item_t *o = add_mi_object(arr, nullptr, 0);
		if (!o ||
		    add_mi_string(o, MI_SSTR("event"), st.event.data(), (int)st.event.size()) < 0 ||
		    add_mi_string(o, MI_SSTR("socket"), st.socket.data(), (int)st.socket.size()) < 0 ||
		    add_mi_int(o, MI_SSTR("delivered"), (long long)st.delivered) < 0 ||
		    add_mi_int(o, MI_SSTR("dropped"), (long long)st.dropped) < 0 ||
		    add_mi_int(o, MI_SSTR("failed"), (long long)st.failed) < 0 ||
		    add_mi_int(o, MI_SSTR("queued"), (long long)st.queued) < 0 ||
		    add_mi_int(o, MI_SSTR("inflight"), (long long)st.inflight) < 0 ||
		    add_members(o, st) < 0)
			goto err;
	}
	return r;
err:
	free_mi_response(r);
	return nullptr;
}

const shim::mi::host_mi_cmd g_cmds[] = {
    {"subscribe", "subscribes a socket to an event", 0, nullptr,
     {{mi_subscribe, {"event", "socket", nullptr}},
      {mi_subscribe, {"event", "socket", "expire", nullptr}},
      {nullptr, {nullptr}}},
     {"event_subscribe", nullptr}},
    {"list", "lists the published events", 0, nullptr,
     {{mi_list, {nullptr}}, {nullptr, {nullptr}}},
     {"events_list", nullptr}},
    {"subscribers", "lists the subscribers of the events", 0, nullptr,
     {{mi_subscribers, {nullptr}},
      {mi_subscribers, {"event", nullptr}},
      {mi_subscribers, {"event", "socket", nullptr}},
      {nullptr, {nullptr}}},
     {"subscribers_list", nullptr}},
    {"raise", "raises an event", 0, nullptr,
     {{mi_raise, {"event", nullptr}},
      {mi_raise, {"event", "params", nullptr}},
      {nullptr, {nullptr}}},
     {"raise_event", nullptr}},
    {"subscriber_stats", "delivery counters per subscriber", 0, nullptr,
     {{mi_subscriber_stats, {nullptr}},
      {mi_subscriber_stats, {"event", nullptr}},
      {nullptr, {nullptr}}},
     {nullptr}},
    {nullptr, nullptr, 0, nullptr, {{nullptr, {nullptr}}}, {nullptr}},
};

} // namespace

int mi_register() { return shim::mi::register_host_mi("evi", g_cmds); }

} // namespace shim::evi
