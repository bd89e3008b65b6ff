// event_kafka: the `kafka:brokers/topic[?props]` EVI transport, the
// broker_id modparam and kafka_publish(). Socket syntax and the module
// table live here; the producers in kafka_producer.cc.
#include <cctype>
#include <cstdint>
#include <cstdlib>
#include <cstring>

#include <new>
#include <string>
#include <vector>

#include "opensips/host.h"
#include "opensips/sr_module.h"

#include "kafka.h"

namespace evkafka {

int backlog_events = 10000;
int backlog_bytes = 16777216;
int backlog_max_age = 30;

namespace {

bool host_char(char c)
{
	return isalnum((unsigned char)c) || c == '.' || c == '-' || c == '_';
}

bool topic_char(char c)
{
	return isalnum((unsigned char)c) || c == '.' || c == '-' || c == '_';
}

// "host:port" or "[v6]:port".
bool check_broker(const std::string &b, std::string &err)
{
	size_t colon;
	if (!b.empty() && b[0] == '[') {
		size_t close = b.find(']');
		if (close == std::string::npos || close == 1 || close + 1 >= b.size() ||
		    b[close + 1] != ':') {
			err = "bad broker address '" + b + "' (expected host:port or [ipv6]:port)";
			return false;
		}
		for (size_t i = 1; i < close; i++)
			if (!isxdigit((unsigned char)b[i]) && b[i] != ':' && b[i] != '.') {
				err = "bad broker address '" + b + "' (bad IPv6 address)";
				return false;
			}
		colon = close + 1;
	} else {
		colon = b.rfind(':');
		if (colon == std::string::npos || colon == 0) {
			err = "bad broker address '" + b + "' (expected host:port)";
			return false;
		}
		if (colon > 253) {
			err = "bad broker address '" + b.substr(0, 32) + "...' (host name too long)";
			return false;
		}
		for (size_t i = 0; i < colon; i++)
			if (!host_char(b[i])) {
				err = "bad broker address '" + b + "' (bad host name)";
				return false;
			}
	}
	std::string port = b.substr(colon + 1);
	if (port.empty() || port.size() > 5) {
		err = "bad broker address '" + b + "' (bad port)";
		return false;
	}
	long n = 0;
	for (char c : port) {
		if (!isdigit((unsigned char)c)) {
			err = "bad broker address '" + b + "' (bad port)";
			return false;
		}
		n = n * 10 + (c - '0');
	}
	if (n < 1 || n > 65535) {
		err = "bad broker address '" + b + "' (port out of range)";
		return false;
	}
	return true;
}

} // namespace

int parse_spec(const char *s, int len, spec &out, std::string &err)
{
	if (!s || len <= 0) {
		err = "empty socket";
		return -1;
	}
	std::string text(s, (size_t)len);
	for (char c : text)
		if ((unsigned char)c < 0x20 || c == 0x7f || c == ' ') {
			err = "blanks or control characters in the socket";
			return -1;
		}
	out = spec();
	out.text = text;
	size_t slash = text.find('/');
	if (slash == std::string::npos) {
		err = "no topic (expected brokers/topic)";
		return -1;
	}
	std::string brokers = text.substr(0, slash);
	if (brokers.empty()) {
		err = "empty broker list";
		return -1;
	}
	size_t start = 0;
	for (;;) {
		size_t comma = brokers.find(',', start);
		std::string b = brokers.substr(start, comma == std::string::npos ? std::string::npos
		                                                                 : comma - start);
		if (b.empty()) {
			err = "empty entry in the broker list";
			return -1;
		}
		if (!check_broker(b, err))
			return -1;
		if (comma == std::string::npos)
			break;
		start = comma + 1;
	}
	out.brokers = brokers;
	size_t q = text.find('?', slash + 1);
	out.topic = text.substr(slash + 1, q == std::string::npos ? std::string::npos
	                                                          : q - slash - 1);
	if (out.topic.empty()) {
		err = "empty topic";
		return -1;
	}
	if (out.topic.size() > 249 || out.topic == "." || out.topic == "..") {
		err = "bad topic name '" + out.topic + "'";
		return -1;
	}
	for (char c : out.topic)
		if (!topic_char(c)) {
			err = "bad topic name '" + out.topic + "' (allowed: letters, digits, '.', '_', '-')";
			return -1;
		}
	if (q == std::string::npos)
		return 0;
	std::string props = text.substr(q + 1);
	if (props.empty()) {
		err = "empty property list after '?'";
		return -1;
	}
	start = 0;
	for (;;) {
		size_t amp = props.find('&', start);
		std::string p = props.substr(start, amp == std::string::npos ? std::string::npos
		                                                             : amp - start);
		size_t eq = p.find('=');
		if (p.empty() || eq == std::string::npos || eq == 0) {
			err = "bad property '" + p + "' (expected g.name=value, t.name=value or key=callid)";
			return -1;
		}
		std::string name = p.substr(0, eq), value = p.substr(eq + 1);
		if (name == "key") {
			if (value != "callid") {
				err = "bad property '" + p + "' (the only key is key=callid)";
				return -1;
			}
			out.key_callid = true;
		} else if (name.size() > 2 && (name.compare(0, 2, "g.") == 0 ||
		                               name.compare(0, 2, "t.") == 0)) {
			std::string prop = name.substr(2);
			if (prop == "partitioner" || prop == "partitioner_cb")
				out.user_partitioner = true;
			(name[0] == 'g' ? out.gprops : out.tprops).emplace_back(prop, value);
		} else {
			err = "unknown property '" + name +
			      "' (library properties need a g. (global) or t. (topic) prefix)";
			return -1;
		}
		if (amp == std::string::npos)
			break;
		start = amp + 1;
	}
	return 0;
}

namespace {

// ---- the EVI transport ----

struct ksock {
	evi_reply_sock rs{};              // rs.priv == this
	std::shared_ptr<producer> p;
};

ksock *from_rs(evi_reply_sock *rs)
{
	return rs ? static_cast<ksock *>(rs->priv) : nullptr;
}

evi_reply_sock *parse(str socket)
{
	spec sp;
	std::string err;
	if (parse_spec(socket.s, socket.len, sp, err) < 0) {
		LM_ERR("bad kafka socket 'kafka:%.*s': %s\n", socket.s ? socket.len : 0,
		       socket.s ? socket.s : "", err.c_str());
		return nullptr;
	}
	auto *ks = new (std::nothrow) ksock;
	if (!ks)
		return nullptr;
	try {
		ks->p = producer::create(sp, producer::EVI, std::string(), err);
	} catch (...) {
		err = "out of memory";
	}
	if (!ks->p) {
		LM_ERR("bad kafka socket 'kafka:%.*s': %s\n", socket.len, socket.s, err.c_str());
		delete ks;
		return nullptr;
	}
	ks->rs.flags = EVI_EXPIRE;
	ks->rs.priv = ks;
	return &ks->rs;
}

int match(evi_reply_sock *a, evi_reply_sock *b)
{
	ksock *x = from_rs(a), *y = from_rs(b);
	if (!x || !y || !x->p || !y->p)
		return 0;
	return x->p->sp().text == y->p->sp().text;
}

// Never blocks: the producer closes on its own thread (joined at module
// destroy, or reaped when it has ended).
void free_sock(evi_reply_sock *sock)
{
	ksock *ks = from_rs(sock);
	if (!ks)
		return;
	if (ks->p)
		ks->p->release();
	delete ks;
	registry_reap();
}

str print(evi_reply_sock *sock)
{
	ksock *ks = from_rs(sock);
	if (!ks || !ks->p)
		return str{nullptr, 0};
	const std::string &t = ks->p->sp().text;
	return str{const_cast<char *>(t.data()), (int)t.size()};
}

int raise_one(ksock *ks, const evi_delivery *d, int i)
{
	const evi_event &ev = d->events[i];
	if (!ev.name)
		return EVI_OUTCOME_FAILED;
	constexpr size_t buf_keep = 16384;
	static thread_local std::vector<char> buf(buf_keep);
	int len;
	for (;;) {
		len = evi_build_payload(ev.params, ev.name, 0, nullptr, nullptr, buf.data(),
		                        (int)buf.size());
		if (len >= 0 || buf.size() >= max_payload)
			break;
		buf.resize(buf.size() * 2);
	}
	if (len < 0) {
		LM_ERR("event %.*s is larger than %zu bytes: not sent to kafka:%s\n", ev.name->len,
		       ev.name->s, max_payload, ks->p->sp().text.c_str());
		std::vector<char>(buf_keep).swap(buf);
		return EVI_OUTCOME_FAILED;
	}
	evi_ticket *t = d->ticket ? d->ticket(d, i) : nullptr;
	if (!t)
		return EVI_OUTCOME_FAILED;
	int oc = ks->p->produce_event(t, buf.data(), (size_t)len, ev.callid);
	if (buf.size() > buf_keep)
		std::vector<char>(buf_keep).swap(buf);
	return oc;
}

int raise(evi_delivery *d)
{
	ksock *ks = from_rs(d->sock);
	if (!ks || !ks->p) {
		evi_delivery_set_all(d, EVI_OUTCOME_FAILED);
		return -1;
	}
	for (int i = 0; i < d->count; i++)
		d->outcomes[i] = raise_one(ks, d, i);
	return 0;
}

const evi_export_t kafka_export = {
	sizeof(evi_export_t), /* size */
	str_init("kafka"),    /* proto */
	raise,                /* raise: rd_kafka_produce, outcomes LATER */
	parse,                /* parse: creates the producer */
	match,                /* match: the same socket text */
	free_sock,            /* free: the producer closes on its thread */
	print,                /* print */
	0,                    /* flags */
	nullptr,              /* members */
};

// ---- broker_id and kafka_publish ----

struct broker {
	std::string id;
	std::string def;              // the modparam's value
	std::string where;            // "file:line" of the modparam, or ""
	std::shared_ptr<producer> p;
};

std::vector<std::string> g_broker_defs;
std::vector<broker *> g_brokers; // created at init, freed at destroy

int broker_id_param(modparam_t, void *val)
{
	const char *s = static_cast<const char *>(val);
	if (!s || !*s) {
		LM_ERR("empty broker_id\n");
		return -1;
	}
	try {
		g_broker_defs.emplace_back(s);
	} catch (...) {
		return -1;
	}
	return 0;
}

broker *find_broker(const char *s, int len)
{
	for (broker *b : g_brokers)
		if ((int)b->id.size() == len && !memcmp(b->id.data(), s, (size_t)len))
			return b;
	return nullptr;
}

int init_brokers()
{
	int n = 0;
	for (const std::string &def : g_broker_defs) {
		n++;
		if (def.size() < 3 || def[0] != '[') {
			LM_ERR("broker_id #%d '%s': expected [ID]host:port/topic[?properties]\n", n,
			       def.c_str());
			return -1;
		}
		size_t close = def.find(']');
		if (close == std::string::npos || close == 1) {
			LM_ERR("broker_id #%d '%s': missing or empty [ID]\n", n, def.c_str());
			return -1;
		}
		std::string id = def.substr(1, close - 1);
		if (find_broker(id.data(), (int)id.size())) {
			LM_ERR("broker_id #%d: id [%s] defined twice\n", n, id.c_str());
			return -1;
		}
		std::string rest = def.substr(close + 1);
		spec sp;
		std::string err;
		if (parse_spec(rest.data(), (int)rest.size(), sp, err) < 0) {
			LM_ERR("broker_id [%s] '%s': %s\n", id.c_str(), rest.c_str(), err.c_str());
			return -1;
		}
		if (sp.key_callid)
			LM_WARN("broker_id [%s]: key=callid has no effect here (kafka_publish takes "
			        "the key as its third argument)\n",
			        id.c_str());
		auto *b = new broker;
		b->id = id;
		b->def = def;
		b->p = producer::create(sp, producer::PUBLISH, id, err);
		if (!b->p) {
			LM_ERR("broker_id [%s] '%s': %s\n", id.c_str(), rest.c_str(), err.c_str());
			delete b;
			return -1;
		}
		g_brokers.push_back(b);
		const char *ln[1] = {"broker_id"};
		const char *lv[1] = {b->id.c_str()};
		pub_stats &st = b->p->stats;
		st.published = register_item_stat("kafka", "published",
		                                  "kafka_publish() messages queued", 0, 1, ln, lv);
		st.delivered = register_item_stat("kafka", "delivered",
		                                  "kafka_publish() messages acknowledged by Kafka", 0,
		                                  1, ln, lv);
		st.failed = register_item_stat("kafka", "failed",
		                               "kafka_publish() messages refused or failed", 0, 1, ln,
		                               lv);
		st.dropped = register_item_stat(
			"kafka", "dropped",
			"kafka_publish() messages dropped (backlog full or older than backlog_max_age)",
			0, 1, ln, lv);
	}
	return 0;
}

int fixup_broker(void **param)
{
	const str *s = static_cast<const str *>(*param);
	if (!s || !s->s) {
		LM_ERR("kafka_publish: missing broker id\n");
		return -1;
	}
	broker *b = find_broker(s->s, s->len);
	if (!b) {
		LM_ERR("kafka_publish: unknown broker id '%.*s' (define it with "
		       "modparam(\"event_kafka\", \"broker_id\", \"[%.*s]host:port/topic\"))\n",
		       s->len, s->s, s->len, s->s);
		return -1;
	}
	*param = b;
	return 0;
}

int fixup_route(void **param)
{
	const str *s = static_cast<const str *>(*param);
	if (!s || !s->s || s->len <= 0) {
		LM_ERR("kafka_publish: empty report route name\n");
		return -1;
	}
	std::string name(s->s, (size_t)s->len);
	int idx = shim_script_route_find(name.c_str());
	if (idx < 0) {
		LM_ERR("kafka_publish: report route '%s' is not defined in the script\n",
		       name.c_str());
		return -1;
	}
	// The index itself, not a pointer to it (nothing to free): idx + 1, so
	// that route 0 is not NULL (NULL: no report route).
	*param = (void *)(intptr_t)(idx + 1);
	return 0;
}

int w_kafka_publish(struct sip_msg *, void *b, void *msg, void *key, void *route, void *,
                    void *, void *, void *)
{
	auto *br = static_cast<broker *>(b);
	const str *m = static_cast<const str *>(msg);
	if (!br || !br->p || !m || !m->s)
		return -1;
	int r = route ? (int)(intptr_t)route - 1 : -1;
	return br->p->publish(*m, static_cast<const str *>(key), r);
}

int mod_init(void)
{
	if (backlog_events <= 0) {
		LM_ERR("backlog_events must be a positive number of events\n");
		return -1;
	}
	if (backlog_bytes < 1024) {
		LM_ERR("backlog_bytes must be at least 1024\n");
		return -1;
	}
	if (backlog_max_age <= 0) {
		LM_ERR("backlog_max_age must be a positive number of seconds\n");
		return -1;
	}
	if (register_event_mod(&kafka_export) < 0) {
		LM_ERR("cannot register the kafka event transport\n");
		return -1;
	}
	if (init_brokers() < 0)
		return -1;
	return 0;
}

void mod_destroy(void)
{
	// Every producer (sockets and broker ids) purges and closes on its own
	// thread, all at once; joined here, so nothing outlives the module.
	registry_shutdown();
	for (broker *b : g_brokers)
		delete b;
	g_brokers.clear();
}

const cmd_export_t cmds[] = {
	{
		"kafka_publish", /* name */
		w_kafka_publish, /* function */
		{
			{CMD_PARAM_STR, fixup_broker, nullptr},                       /* broker_id */
			{CMD_PARAM_STR, nullptr, nullptr},                            /* message */
			{CMD_PARAM_STR | CMD_PARAM_OPT, nullptr, nullptr},            /* key */
			{CMD_PARAM_STR | CMD_PARAM_OPT | CMD_PARAM_STATIC, fixup_route,
			 nullptr},                                                    /* report_route */
			{0, nullptr, nullptr},
		},
		ALL_ROUTES, /* route types */
	},
	{nullptr, nullptr, {{0, nullptr, nullptr}}, 0},
};

const param_export_t params[] = {
	{"broker_id", USE_FUNC_PARAM | STR_PARAM, (void *)broker_id_param},
	{"backlog_events", INT_PARAM, &backlog_events},
	{"backlog_bytes", INT_PARAM, &backlog_bytes},
	{"backlog_max_age", INT_PARAM, &backlog_max_age},
	{nullptr, 0, nullptr},
};

} // namespace
} // namespace evkafka

extern "C" {

struct module_exports exports = {
	"event_kafka",        /* module name */
	MOD_TYPE_DEFAULT,     /* class of this module */
	MODULE_VERSION,       /* version and ABI */
	DEFAULT_DLFLAGS,      /* dlopen flags */
	nullptr,              /* load function */
	nullptr,              /* dependencies */
	evkafka::cmds,        /* script functions */
	nullptr,              /* async script functions */
	evkafka::params,      /* modparams */
	nullptr,              /* statistics (per broker id, registered at init) */
	nullptr,              /* MI commands */
	nullptr,              /* pseudo-variables */
	nullptr,              /* transformations */
	nullptr,              /* threads: each producer has its own */
	nullptr,              /* pre-init */
	evkafka::mod_init,    /* module init */
	nullptr,              /* reply handler */
	evkafka::mod_destroy, /* destroy */
	nullptr,              /* per-thread init */
	nullptr,              /* reload ack */
};

} // extern "C"
