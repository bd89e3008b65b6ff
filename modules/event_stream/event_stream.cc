// event_stream: the `tcp:host:port[/method]` EVI transport (spec §2.6).
// Socket parsing, payload building (on the host's event sender thread) and
// the module table; the TCP side lives in stream_sender.cc.
#include <arpa/inet.h>
#include <cerrno>
#include <climits>
#include <cstdlib>
#include <cstring>
#include <sys/socket.h>
#include <unistd.h>

#include <new>
#include <vector>

#include "opensips/core_hooks.h"
#include "opensips/host.h"
#include "opensips/net.h"
#include "opensips/sr_module.h"

#include "stream.h"

// Resolved from the host when it provides it: the Sender then keeps its own
// log lines out of E_CORE_LOG (core_hooks.h).
#pragma weak shim_log_event_suppress

namespace evstream {

int reliable_mode = 0;
char *event_param = nullptr;
int timeout_ms = 1000; // STREAM_DEFAULT_TIMEOUT

namespace {

std::atomic<int> g_next_id{1};

stream_sock *from_rs(evi_reply_sock *rs)
{
	return rs ? static_cast<stream_sock *>(rs->priv) : nullptr;
}

} // namespace

void seed_ids()
{
	unsigned int seed = (unsigned int)getpid() * 2654435761u ^ (unsigned int)rand();
	g_next_id.store((int)(seed & 0x3fffffff) + 1);
}

int next_id()
{
	int cur = g_next_id.load(std::memory_order_relaxed);
	int nxt;
	do {
		nxt = cur >= INT_MAX - 1 ? 1 : cur + 1;
	} while (!g_next_id.compare_exchange_weak(cur, nxt, std::memory_order_relaxed));
	return cur > 0 ? cur : 1;
}

// `host:port[/method]`, parsed and resolved by the host (opensips/net.h):
// IPv4 only, as the reference; a name is resolved once, here, through the
// host's measured resolver.
evi_reply_sock *parse(str socket)
{
	if (!socket.s || socket.len <= 0)
		return nullptr;
	struct shim_sockspec spec {};
	spec.size = sizeof spec;
	char err[256];
	struct sockaddr_storage addr;
	socklen_t addr_len = 0;
	if (shim_sockspec_parse(socket.s, socket.len, SHIM_SOCK_TAIL, SHIM_PROTO_TCP, 0, &spec,
	                        err, sizeof err) < 0) {
		LM_ERR("bad tcp socket '%.*s': %s\n", socket.len, socket.s, err);
		return nullptr;
	}
	if (spec.tail_off >= 0 && spec.tail_len == 0) {
		LM_ERR("bad tcp socket '%.*s': empty method after '/'\n", socket.len, socket.s);
		return nullptr;
	}
	if (shim_sockspec_resolve(&spec, SHIM_RESOLVE_IPV4, &addr, &addr_len, err,
	                          sizeof err) < 0) {
		LM_ERR("bad tcp socket '%.*s': %s\n", socket.len, socket.s, err);
		return nullptr;
	}
	auto *ss = new (std::nothrow) stream_sock;
	if (!ss)
		return nullptr;
	ss->rs.flags = EVI_EXPIRE;
	ss->rs.priv = ss;
	ss->host = spec.host;
	memcpy(&ss->addr, &addr, sizeof ss->addr); // AF_INET: SHIM_RESOLVE_IPV4
	if (spec.tail_off >= 0)
		ss->method.assign(socket.s + spec.tail_off, (size_t)spec.tail_len);
	char printed[SHIM_SOCK_HOST_MAX + 16];
	shim_sockspec_print(&spec, 0, printed, sizeof printed);
	ss->printed = printed;
	if (!ss->method.empty())
		ss->printed += "/" + ss->method;
	return &ss->rs;
}

// Host (resolved address), port and method (spec §2.6).
int match(evi_reply_sock *a, evi_reply_sock *b)
{
	stream_sock *x = from_rs(a), *y = from_rs(b);
	if (!x || !y)
		return 0;
	return x->addr.sin_addr.s_addr == y->addr.sin_addr.s_addr &&
	       x->addr.sin_port == y->addr.sin_port && x->method == y->method;
}

void free_sock(evi_reply_sock *sock)
{
	delete from_rs(sock);
}

str print(evi_reply_sock *sock)
{
	stream_sock *ss = from_rs(sock);
	if (!ss)
		return str{nullptr, 0};
	return str{ss->printed.data(), (int)ss->printed.size()};
}

// One event handed to the Sender: its outcome comes later, through the
// ticket (EVI_OUTCOME_LATER), or now when it cannot be sent at all.
int raise_one(stream_sock *ss, const evi_delivery *d, int i)
{
	str *ev_name = (str *)d->events[i].name;
	evi_params_t *params = d->events[i].params;
	if (!ev_name)
		return EVI_OUTCOME_FAILED;
	// Grown on demand (E_CORE_THRESHOLD carries a whole SIP message), kept
	// per sender thread; back to its usual size after a large event, so one
	// 4 MB event does not pin 4 MB for the life of the host.
	constexpr size_t buf_keep = 16384;
	static thread_local std::vector<char> buf(buf_keep);
	str method = ss->method.empty() ? *ev_name
	                                : str{ss->method.data(), (int)ss->method.size()};
	str extra{event_param, event_param ? (int)strlen(event_param) : 0};
	int id = reliable_mode ? next_id() : 0;
	int len;
	for (;;) {
		len = evi_build_payload(params, &method, id, event_param ? &extra : nullptr,
		                        ev_name, buf.data(), (int)buf.size());
		if (len >= 0 || buf.size() >= max_payload)
			break;
		buf.resize(buf.size() * 2);
	}
	if (len < 0) {
		LM_ERR("event %.*s is larger than %zu bytes: not sent to tcp:%s\n",
		       ev_name->len, ev_name->s, max_payload, ss->printed.c_str());
		std::vector<char>(buf_keep).swap(buf);
		return EVI_OUTCOME_FAILED;
	}
	job j;
	j.dest = ss->addr;
	j.payload.assign(buf.data(), (size_t)len);
	if (buf.size() > buf_keep)
		std::vector<char>(buf_keep).swap(buf);
	j.id = id;
	evi_ticket *t = d->ticket ? d->ticket(d, i) : nullptr;
	j.ref = stat_ref(t);
	int rc = sender_enqueue(std::move(j)); // a refused job settles as failed
	if (t)
		return EVI_OUTCOME_LATER;
	return rc < 0 ? EVI_OUTCOME_FAILED : EVI_OUTCOME_DELIVERED;
}

int raise(evi_delivery *d)
{
	stream_sock *ss = from_rs(d->sock);
	if (!ss) {
		evi_delivery_set_all(d, EVI_OUTCOME_FAILED);
		return -1;
	}
	for (int i = 0; i < d->count; i++)
		d->outcomes[i] = raise_one(ss, d, i);
	return 0;
}


const evi_export_t tcp_export = {
	sizeof(evi_export_t), /* size */
	str_init("tcp"), /* proto */
	raise,           /* raise: hands the payload to the Sender */
	parse,           /* parse */
	match,           /* match */
	free_sock,       /* free */
	print,           /* print */
	0,               /* flags */
	nullptr,         /* members */
};

} // namespace evstream

namespace {

void on_lifecycle(int state, void *)
{
	if (state == SHIM_STATE_TERMINATING)
		evstream::sender_close_queue();
}

int mod_init(void)
{
	if (evstream::timeout_ms <= 0) {
		LM_ERR("timeout must be a positive number of milliseconds\n");
		return -1;
	}
	if (evstream::event_param && !*evstream::event_param)
		evstream::event_param = nullptr;
	evstream::seed_ids();
	if (register_event_mod(&evstream::tcp_export) < 0) {
		LM_ERR("cannot register the tcp event transport\n");
		return -1;
	}
	shim_add_lifecycle_cb(on_lifecycle, nullptr);
	return 0;
}

void sender_proc(int)
{
	// Nothing the Sender logs may turn into E_CORE_LOG events that it would
	// then have to send itself.
	if (shim_log_event_suppress)
		shim_log_event_suppress(1);
	struct ev_loop *loop = shim_thread_loop();
	if (!loop) {
		LM_CRIT("the event_stream Sender has no loop\n");
		return;
	}
	evstream::sender_start(loop);
}

void mod_destroy(void)
{
	// The Sender thread and its loop are gone by now.
	evstream::sender_close_queue();
	evstream::sender_shutdown(false);
}

const param_export_t params[] = {
	{"reliable_mode", INT_PARAM, &evstream::reliable_mode},
	{"event_param", STR_PARAM, &evstream::event_param},
	{"timeout", INT_PARAM, &evstream::timeout_ms},
	{nullptr, 0, nullptr},
};

const proc_export_t procs[] = {
	{"event_stream Sender", nullptr, nullptr, sender_proc, 1, PROC_FLAG_INITCHILD},
	{nullptr, nullptr, nullptr, nullptr, 0, 0},
};

} // namespace

extern "C" {

struct module_exports exports = {
	"event_stream",   /* module name */
	MOD_TYPE_DEFAULT, /* class of this module */
	MODULE_VERSION,   /* version and ABI */
	DEFAULT_DLFLAGS,  /* dlopen flags */
	nullptr,          /* load function */
	nullptr,          /* dependencies */
	nullptr,          /* script functions */
	nullptr,          /* async script functions */
	params,           /* modparams */
	nullptr,          /* statistics */
	nullptr,          /* MI commands */
	nullptr,          /* pseudo-variables */
	nullptr,          /* transformations */
	procs,            /* the "event_stream Sender" thread */
	nullptr,          /* pre-init */
	mod_init,         /* module init */
	nullptr,          /* reply handler */
	mod_destroy,      /* destroy */
	nullptr,          /* per-thread init */
	nullptr,          /* reload ack */
};

} // extern "C"
