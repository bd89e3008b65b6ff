// event_rabbitmq: the `rabbitmq:` EVI transport and rabbitmq_publish(),
// over rabbitmq-c. The module table, modparams, the transport's entry
// points and the script function; the connections live in rmq_link.cc.
#include <cstring>
#include <map>
#include <new>
#include <vector>

#include "opensips/host.h"
#include "opensips/pvar.h"
#include "opensips/sr_module.h"

#include "rmq.h"

namespace rmq {

settings g_set;

namespace {

std::vector<std::string> g_server_texts;                  // modparam values
std::map<std::string, std::shared_ptr<link>> g_servers;   // id -> link, after init
constexpr int stop_grace_ms = 500; // at shutdown: time to flush and confirm

rmq_sock *from_rs(evi_reply_sock *rs)
{
	return rs ? static_cast<rmq_sock *>(rs->priv) : nullptr;
}

void register_link_stats(link &l, bool publishes)
{
	const char *names[] = {"link"};
	const char *vals[] = {l.name().c_str()};
	l.stats.backlog = register_item_stat(
		"rabbitmq", "backlog", "messages queued or awaiting the broker's confirm",
		STAT_NO_RESET, 1, names, vals);
	l.stats.connected = register_item_stat("rabbitmq", "connected",
	                                       "1 while the link is logged in with a channel",
	                                       STAT_NO_RESET, 1, names, vals);
	if (!publishes)
		return;
	l.stats.published = register_item_stat("rabbitmq", "published",
	                                       "rabbitmq_publish messages queued", 0, 1, names, vals);
	l.stats.delivered = register_item_stat("rabbitmq", "delivered",
	                                       "rabbitmq_publish messages the broker confirmed", 0, 1,
	                                       names, vals);
	l.stats.failed = register_item_stat(
		"rabbitmq", "failed", "rabbitmq_publish messages nacked, returned or lost", 0, 1, names,
		vals);
	l.stats.dropped = register_item_stat(
		"rabbitmq", "dropped", "rabbitmq_publish messages over the backlog's bounds", 0, 1,
		names, vals);
}

} // namespace

// ---- the transport ----

evi_reply_sock *parse(str socket)
{
	target t;
	t.heartbeat = g_set.heartbeat;
	std::string err;
	if (!parse_socket(socket.s, socket.len, t, err)) {
		LM_ERR("bad rabbitmq socket '%.*s': %s\n", socket.len > 0 ? socket.len : 0,
		       socket.s ? socket.s : "", err.c_str());
		return nullptr;
	}
	if (g_set.use_tls) {
		LM_ERR("bad rabbitmq socket '%.*s': use_tls is set, and TLS to the broker is not "
		       "supported by this host\n",
		       socket.len, socket.s);
		return nullptr;
	}
	auto *rs = new (std::nothrow) rmq_sock;
	if (!rs)
		return nullptr;
	rs->rs.flags = EVI_EXPIRE;
	rs->rs.priv = rs;
	rs->t = std::move(t);
	rs->printed.assign(socket.s, (size_t)socket.len);
	return &rs->rs;
}

int match(evi_reply_sock *a, evi_reply_sock *b)
{
	rmq_sock *x = from_rs(a), *y = from_rs(b);
	if (!x || !y)
		return 0;
	const target &p = x->t, &q = y->t;
	return p.host == q.host && p.port == q.port && p.user == q.user &&
	       p.password == q.password && p.exchange == q.exchange &&
	       p.routing_key == q.routing_key && p.persistent == q.persistent;
}

void free_sock(evi_reply_sock *sock)
{
	rmq_sock *rs = from_rs(sock);
	if (!rs)
		return;
	std::shared_ptr<link> l;
	{
		std::lock_guard<std::mutex> lk(rs->mu);
		l.swap(rs->l);
	}
	if (l) {
		// Unsubscribed (or the host is ending): what was not sent yet is
		// dropped; during shutdown the lifecycle callback gave it a grace.
		links_remove(l);
		l->stop(0);
		l->join();
	}
	delete rs;
}

str print(evi_reply_sock *sock)
{
	rmq_sock *rs = from_rs(sock);
	if (!rs)
		return str{nullptr, 0};
	return str{rs->printed.data(), (int)rs->printed.size()};
}

namespace {

// The link of a subscriber, started on its first event (parse also runs
// for lookups that never deliver).
link *link_of(rmq_sock *rs)
{
	std::lock_guard<std::mutex> lk(rs->mu);
	if (!rs->l) {
		auto l = std::make_shared<link>(rs->printed, rs->t);
		register_link_stats(*l, false);
		if (l->start() < 0)
			return nullptr;
		links_add(l);
		rs->l = std::move(l);
	}
	return rs->l.get();
}

int raise_one(rmq_sock *rs, link *l, const evi_delivery *d, int i)
{
	const str *name = d->events[i].name;
	if (!name)
		return EVI_OUTCOME_FAILED;
	constexpr size_t buf_keep = 16384;
	constexpr size_t max_payload = 16u << 20;
	static thread_local std::vector<char> buf(buf_keep);
	int len;
	for (;;) {
		len = evi_build_payload(d->events[i].params, name, 0, nullptr, nullptr, buf.data(),
		                        (int)buf.size());
		if (len >= 0 || buf.size() >= max_payload)
			break;
		buf.resize(buf.size() * 2);
	}
	if (len < 0) {
		LM_ERR("event %.*s is larger than %zu bytes: not sent to rabbitmq:%s\n", name->len,
		       name->s, max_payload, rs->printed.c_str());
		std::vector<char>(buf_keep).swap(buf);
		return EVI_OUTCOME_FAILED;
	}
	evi_ticket *t = d->ticket ? d->ticket(d, i) : nullptr;
	if (!t)
		return EVI_OUTCOME_FAILED; // an outcome we could not report later
	message m;
	m.body.assign(buf.data(), (size_t)len);
	if (buf.size() > buf_keep)
		std::vector<char>(buf_keep).swap(buf);
	m.ticket = t;
	int rc = l->submit(std::move(m));
	if (rc != EVI_OUTCOME_LATER)
		t->settle(t, rc); // refused: its outcome is known now
	return EVI_OUTCOME_LATER;
}

int raise(evi_delivery *d)
{
	rmq_sock *rs = from_rs(d->sock);
	link *l = rs ? link_of(rs) : nullptr;
	if (!l) {
		evi_delivery_set_all(d, EVI_OUTCOME_FAILED);
		return -1;
	}
	for (int i = 0; i < d->count; i++)
		d->outcomes[i] = raise_one(rs, l, d, i);
	return 0;
}

} // namespace

const evi_export_t rabbitmq_export = {
	sizeof(evi_export_t), /* size */
	str_init("rabbitmq"), /* proto */
	raise,                /* raise: queued on the subscriber's link */
	parse,                /* parse */
	match,                /* match */
	free_sock,            /* free */
	print,                /* print */
	0,                    /* flags */
	nullptr,              /* members */
};

} // namespace rmq

namespace {

using namespace rmq;

int set_server_id(modparam_t, void *val)
{
	const char *s = static_cast<const char *>(val);
	std::string id, err;
	target t;
	if (!parse_server_id(s, id, t, err)) {
		LM_ERR("bad server_id '%s': %s\n", s ? s : "", err.c_str());
		return -1;
	}
	for (auto &prev : g_server_texts) {
		std::string pid, perr;
		target pt;
		if (parse_server_id(prev.c_str(), pid, pt, perr) && pid == id) {
			LM_ERR("server_id '%s' is defined twice\n", id.c_str());
			return -1;
		}
	}
	g_server_texts.emplace_back(s);
	return 0;
}

void on_lifecycle(int state, void *)
{
	if (state == SHIM_STATE_RUNNING) {
		for (auto &kv : g_servers)
			kv.second->start();
	} else if (state == SHIM_STATE_TERMINATING) {
		links_stop_all(stop_grace_ms); // flush for a moment, never longer
	}
}

int mod_init(void)
{
	if (g_set.use_tls) {
		LM_ERR("use_tls: TLS to the broker is not supported by this host (it needs "
		       "tls_mgm's client domains)\n");
		return -1;
	}
	if (g_set.connect_timeout <= 0 || g_set.timeout < 0 || g_set.heartbeat < 0 ||
	    g_set.heartbeat > 65535) {
		LM_ERR("connect_timeout must be > 0 ms, timeout >= 0 ms, heartbeat 0..65535 s\n");
		return -1;
	}
	if (g_set.backlog_events <= 0 || g_set.backlog_bytes <= 0 || g_set.backlog_max_age <= 0) {
		LM_ERR("backlog_events, backlog_bytes and backlog_max_age must be positive\n");
		return -1;
	}
	for (auto &text : g_server_texts) {
		std::string id, err;
		target t;
		t.heartbeat = g_set.heartbeat;
		if (!parse_server_id(text.c_str(), id, t, err))
			return -1; // checked when set
		auto l = std::make_shared<rmq::link>(id, std::move(t));
		register_link_stats(*l, true);
		links_add(l);
		g_servers[id] = std::move(l);
	}
	if (register_event_mod(&rabbitmq_export) < 0) {
		LM_ERR("cannot register the rabbitmq event transport\n");
		return -1;
	}
	shim_add_lifecycle_cb(on_lifecycle, nullptr);
	return 0;
}

void mod_destroy(void)
{
	links_stop_all(stop_grace_ms);
	links_join_all();
	g_servers.clear();
}

// ---- rabbitmq_publish(server_id, routing_key, message [, content_type
//      [, headers, headers_vals]]) ----

int fixup_server(void **param)
{
	str *s = static_cast<str *>(*param);
	std::string id(s->s, (size_t)s->len);
	if (!g_server_texts.empty() || !g_servers.empty()) {
		bool known = g_servers.count(id) > 0;
		if (!known)
			for (auto &text : g_server_texts) {
				std::string pid, err;
				target t;
				if (parse_server_id(text.c_str(), pid, t, err) && pid == id)
					known = true;
			}
		if (known)
			return 0;
	}
	LM_ERR("rabbitmq_publish: unknown server_id '%s' (define it with modparam "
	       "\"server_id\")\n",
	       id.c_str());
	return -1;
}

int w_publish(struct sip_msg *msg, void *p_id, void *p_key, void *p_body, void *p_ctype,
              void *p_hnames, void *p_hvals, void *, void *)
{
	str *id = static_cast<str *>(p_id);
	str *key = static_cast<str *>(p_key);
	str *body = static_cast<str *>(p_body);
	auto it = g_servers.find(std::string(id->s, (size_t)id->len));
	if (it == g_servers.end()) {
		LM_ERR("rabbitmq_publish: unknown server_id '%.*s'\n", id->len, id->s);
		return -1;
	}
	if (!key->len) {
		LM_ERR("rabbitmq_publish: empty routing key\n");
		return -1;
	}
	if ((p_hnames == nullptr) != (p_hvals == nullptr)) {
		LM_ERR("rabbitmq_publish: headers and headers_vals go together\n");
		return -1;
	}
	message m;
	m.routing_key.assign(key->s, (size_t)key->len);
	m.body.assign(body->s ? body->s : "", body->s ? (size_t)body->len : 0);
	if (p_ctype) {
		str *ct = static_cast<str *>(p_ctype);
		m.content_type.assign(ct->s, (size_t)ct->len);
	}
	if (p_hnames) {
		constexpr int max_headers = 64;
		str names[max_headers], vals[max_headers];
		int nn = pv_get_strvals(msg, static_cast<pv_spec_t *>(p_hnames), names, max_headers);
		int nv = pv_get_strvals(msg, static_cast<pv_spec_t *>(p_hvals), vals, max_headers);
		if (nn != nv) {
			LM_ERR("rabbitmq_publish: %d header names but %d values\n", nn, nv);
			return -1;
		}
		// newest first in the AVP: the first one set is the last here
		for (int i = nn - 1; i >= 0; i--)
			m.headers.emplace_back(std::string(names[i].s, (size_t)names[i].len),
			                       std::string(vals[i].s, (size_t)vals[i].len));
	}
	rmq::link &l = *it->second;
	int rc = l.submit(std::move(m));
	if (rc == EVI_OUTCOME_LATER)
		return 1;
	if (rc == EVI_OUTCOME_DROPPED && l.stats.dropped)
		update_stat(l.stats.dropped, 1);
	else if (l.stats.failed)
		update_stat(l.stats.failed, 1);
	return -1;
}

const cmd_export_t cmds[] = {
	{"rabbitmq_publish",
	 w_publish,
	 {
		 {CMD_PARAM_STR, fixup_server, nullptr},         /* server_id */
		 {CMD_PARAM_STR, nullptr, nullptr},              /* routing_key */
		 {CMD_PARAM_STR, nullptr, nullptr},              /* message */
		 {CMD_PARAM_STR | CMD_PARAM_OPT, nullptr, nullptr}, /* content_type */
		 {CMD_PARAM_VAR | CMD_PARAM_OPT, nullptr, nullptr}, /* headers */
		 {CMD_PARAM_VAR | CMD_PARAM_OPT, nullptr, nullptr}, /* headers_vals */
		 {0, nullptr, nullptr},
	 },
	 ALL_ROUTES},
	{nullptr, nullptr, {{0, nullptr, nullptr}}, 0},
};

const param_export_t params[] = {
	{"heartbeat", INT_PARAM, &g_set.heartbeat},
	{"connect_timeout", INT_PARAM, &g_set.connect_timeout},
	{"use_tls", INT_PARAM, &g_set.use_tls},
	{"timeout", INT_PARAM, &g_set.timeout},
	{"server_id", STR_PARAM | USE_FUNC_PARAM, (void *)set_server_id},
	{"backlog_events", INT_PARAM, &g_set.backlog_events},
	{"backlog_bytes", INT_PARAM, &g_set.backlog_bytes},
	{"backlog_max_age", INT_PARAM, &g_set.backlog_max_age},
	{nullptr, 0, nullptr},
};

} // namespace

extern "C" {

struct module_exports exports = {
	"event_rabbitmq", /* module name */
	MOD_TYPE_DEFAULT, /* class of this module */
	MODULE_VERSION,   /* version and ABI */
	DEFAULT_DLFLAGS,  /* dlopen flags */
	nullptr,          /* load function */
	nullptr,          /* dependencies */
	cmds,             /* script functions */
	nullptr,          /* async script functions */
	params,           /* modparams */
	nullptr,          /* statistics */
	nullptr,          /* MI commands */
	nullptr,          /* pseudo-variables */
	nullptr,          /* transformations */
	nullptr,          /* threads: each link starts its own */
	nullptr,          /* pre-init */
	mod_init,         /* module init */
	nullptr,          /* reply handler */
	mod_destroy,      /* destroy */
	nullptr,          /* per-thread init */
	nullptr,          /* reload ack */
};

} // extern "C"
