// event_datagram: EVI transports `udp:host:port` and `unix:/path`
// (spec §2.6). One JSON-RPC notification per event, one datagram per
// notification, fire-and-forget: MSG_DONTWAIT on a shared unconnected
// socket, so a slow or absent reader costs a failed send and never blocks
// the host's event sender thread. `raise` gets a run of up to 64 events of
// one subscriber (ABI v2) and sends them with one sendmmsg, setting each
// event's outcome from what the kernel took.
#include <arpa/inet.h>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <sys/un.h>
#include <unistd.h>

#include <memory>
#include <new>
#include <string>

#include "opensips/evi_transport.h"
#include "opensips/net.h"
#include "opensips/sr_module.h"

#include "datagram_sock.h"

namespace evdgram {

namespace {

// Created in mod_init, shared by every sender thread (sendto on one socket
// from several threads is safe); closed in destroy after the threads stop.
std::atomic<int> g_udp_fd{-1};
std::atomic<int> g_unix_fd{-1};

// Failures are logged at most once per socket every log_interval seconds,
// with the number of failures since the last line: a subscriber whose
// reader went away must not flood the log (nor E_CORE_LOG subscribers).
constexpr time_t log_interval = 30;

dgram_sock *from_rs(evi_reply_sock *rs)
{
	return rs ? static_cast<dgram_sock *>(rs->priv) : nullptr;
}

dgram_sock *new_sock(kind k)
{
	auto *ds = new (std::nothrow) dgram_sock;
	if (!ds)
		return nullptr;
	ds->k = k;
	ds->rs.flags = EVI_EXPIRE;
	ds->rs.priv = ds;
	return ds;
}

void note_failure(dgram_sock *ds, const char *why, int err)
{
	ds->failed.fetch_add(1, std::memory_order_relaxed);
	unsigned long pending = ds->failed_unlogged.fetch_add(1, std::memory_order_relaxed) + 1;
	time_t now = time(nullptr);
	time_t last = ds->last_log.load(std::memory_order_relaxed);
	if (now - last < log_interval)
		return;
	if (!ds->last_log.compare_exchange_strong(last, now))
		return; // another thread logs this round
	ds->failed_unlogged.fetch_sub(pending, std::memory_order_relaxed);
	if (err)
		LM_WARN("cannot send event to %s:%s: %s: %s (%lu failure(s) since the "
		        "last report)\n",
		        ds->k == kind::udp ? "udp" : "unix", ds->printed.c_str(), why,
		        strerror(err), pending);
	else
		LM_WARN("cannot send event to %s:%s: %s (%lu failure(s) since the last "
		        "report)\n",
		        ds->k == kind::udp ? "udp" : "unix", ds->printed.c_str(), why,
		        pending);
}

} // namespace

namespace {

// A run's datagrams, encoded back to back into one arena and sent with
// sendmmsg: scratch space of the calling thread, empty between calls.
struct batch {
	static constexpr int max_msgs = 64;
	static constexpr size_t arena_size = 256 * 1024; // >= max_event_len
	int n = 0;
	size_t used = 0;
	int event[max_msgs]; // the delivery's index of each message
	struct mmsghdr msgs[max_msgs];
	struct iovec iov[max_msgs];
	char arena[arena_size];
};
// One per calling thread, kept for the thread's life and freed when it
// ends (a bare pointer here leaked 256 KB per sender thread: LSan).
thread_local std::unique_ptr<batch> t_batch;

batch *my_batch()
{
	if (!t_batch)
		t_batch.reset(new (std::nothrow) batch);
	return t_batch.get();
}

// Sends what the batch holds (shim_send_datagrams: a udp subscriber's run
// leaves as one segmented send when udp_gso is on) and sets the outcome of
// each of its events. A datagram the kernel refuses (a full reader queue,
// nobody on a unix path) is lost and counted, as one failed sendto; the
// rest still go.
void send_batch(batch *b, dgram_sock *ds, int fd, int *outcomes)
{
	int err = EAGAIN;
	shim_send_datagrams(fd, b->msgs, (unsigned)b->n, MSG_DONTWAIT | MSG_NOSIGNAL, &err);
	for (int k = 0; k < b->n; k++) {
		bool sent = b->msgs[k].msg_len > 0;
		outcomes[b->event[k]] = sent ? EVI_OUTCOME_DELIVERED : EVI_OUTCOME_FAILED;
		if (!sent)
			note_failure(ds, "sendto", err);
	}
	b->n = 0;
	b->used = 0;
}

} // namespace

// Both socket kinds are parsed and resolved by the host (opensips/net.h):
// udp is IPv4 only, as the reference, and a name is resolved now, once,
// through the host's measured resolver (spec: at parse time).
evi_reply_sock *parse_udp(str socket)
{
	if (!socket.s || socket.len <= 0)
		return nullptr;
	struct shim_sockspec spec {};
	spec.size = sizeof spec;
	char err[256];
	struct sockaddr_storage addr;
	socklen_t addr_len = 0;
	if (shim_sockspec_parse(socket.s, socket.len, 0, SHIM_PROTO_UDP, 0, &spec, err,
	                        sizeof err) < 0 ||
	    shim_sockspec_resolve(&spec, SHIM_RESOLVE_IPV4, &addr, &addr_len, err,
	                          sizeof err) < 0) {
		LM_ERR("bad udp socket '%.*s': %s\n", socket.len, socket.s, err);
		return nullptr;
	}
	char printed[SHIM_SOCK_HOST_MAX + 16];
	shim_sockspec_print(&spec, 0, printed, sizeof printed);
	dgram_sock *ds = new_sock(kind::udp);
	if (!ds)
		return nullptr;
	memcpy(&ds->addr, &addr, addr_len);
	ds->addr_len = addr_len;
	ds->printed = printed;
	return &ds->rs;
}

evi_reply_sock *parse_unix(str socket)
{
	if (!socket.s || socket.len <= 0)
		return nullptr;
	struct shim_sockspec spec {};
	spec.size = sizeof spec;
	char err[256];
	struct sockaddr_storage addr;
	socklen_t addr_len = 0;
	// A path that does not exist (yet) is accepted, as by the reference:
	// sends fail and are counted until a reader binds it.
	if (shim_sockspec_parse(socket.s, socket.len, 0, SHIM_PROTO_UNIX, 0, &spec, err,
	                        sizeof err) < 0 ||
	    shim_sockspec_resolve(&spec, 0, &addr, &addr_len, err, sizeof err) < 0) {
		LM_ERR("bad unix socket '%.*s': %s\n", socket.len, socket.s, err);
		return nullptr;
	}
	dgram_sock *ds = new_sock(kind::unix_path);
	if (!ds)
		return nullptr;
	memcpy(&ds->addr, &addr, addr_len);
	ds->addr_len = addr_len;
	ds->printed = spec.path;
	return &ds->rs;
}

// Same type, same port, and an address equal over the first socket's
// length (spec §2.6).
int match(evi_reply_sock *a, evi_reply_sock *b)
{
	dgram_sock *x = from_rs(a), *y = from_rs(b);
	if (!x || !y || x->k != y->k)
		return 0;
	if (x->k == kind::udp) {
		auto *p = (const struct sockaddr_in *)&x->addr;
		auto *q = (const struct sockaddr_in *)&y->addr;
		return p->sin_port == q->sin_port &&
		       p->sin_addr.s_addr == q->sin_addr.s_addr;
	}
	return x->printed == y->printed;
}

void free_sock(evi_reply_sock *sock)
{
	delete from_rs(sock);
}

str print(evi_reply_sock *sock)
{
	dgram_sock *ds = from_rs(sock);
	if (!ds)
		return str{nullptr, 0};
	return str{ds->printed.data(), (int)ds->printed.size()};
}


int raise(evi_delivery *d)
{
	dgram_sock *ds = from_rs(d->sock);
	if (!ds) {
		evi_delivery_set_all(d, EVI_OUTCOME_FAILED);
		return -1;
	}
	int fd = (ds->k == kind::udp ? g_udp_fd : g_unix_fd).load(std::memory_order_acquire);
	batch *b = fd >= 0 ? my_batch() : nullptr;
	if (!b) {
		note_failure(ds, fd < 0 ? "no sending socket" : "out of memory", 0);
		evi_delivery_set_all(d, EVI_OUTCOME_FAILED);
		return -1;
	}
	for (int i = 0; i < d->count; i++) {
		const evi_event &ev = d->events[i];
		size_t room = batch::arena_size - b->used;
		if (room > (size_t)max_event_len)
			room = max_event_len; // the limit of one datagram
		int len = evi_build_payload(ev.params, ev.name, 0, nullptr, nullptr,
		                            b->arena + b->used, (int)room);
		if (len < 0 && b->n && room < (size_t)max_event_len) {
			send_batch(b, ds, fd, d->outcomes); // full arena: make room
			len = evi_build_payload(ev.params, ev.name, 0, nullptr, nullptr, b->arena,
			                        max_event_len);
		}
		if (len < 0) {
			note_failure(ds, "event larger than 65457 bytes", 0);
			d->outcomes[i] = EVI_OUTCOME_FAILED;
			continue;
		}
		int m = b->n++;
		b->event[m] = i;
		b->iov[m].iov_base = b->arena + b->used;
		b->iov[m].iov_len = (size_t)len;
		memset(&b->msgs[m], 0, sizeof b->msgs[m]);
		b->msgs[m].msg_hdr.msg_name = &ds->addr;
		b->msgs[m].msg_hdr.msg_namelen = ds->addr_len;
		b->msgs[m].msg_hdr.msg_iov = &b->iov[m];
		b->msgs[m].msg_hdr.msg_iovlen = 1;
		b->used += (size_t)len;
		if (b->n == batch::max_msgs)
			send_batch(b, ds, fd, d->outcomes);
	}
	if (b->n)
		send_batch(b, ds, fd, d->outcomes);
	return 0;
}

int open_senders()
{
	if (g_udp_fd.load() < 0) {
		int fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		if (fd < 0) {
			LM_ERR("cannot create the UDP sending socket: %s\n", strerror(errno));
			return -1;
		}
		g_udp_fd.store(fd, std::memory_order_release);
	}
	if (g_unix_fd.load() < 0) {
		int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		if (fd < 0) {
			LM_ERR("cannot create the unix sending socket: %s\n", strerror(errno));
			return -1;
		}
		g_unix_fd.store(fd, std::memory_order_release);
	}
	return 0;
}

void close_senders()
{
	int fd = g_udp_fd.exchange(-1);
	if (fd >= 0)
		close(fd);
	fd = g_unix_fd.exchange(-1);
	if (fd >= 0)
		close(fd);
}

const evi_export_t udp_export = {
	sizeof(evi_export_t), /* size */
	str_init("udp"), /* proto */
	raise,           /* raise */
	parse_udp,       /* parse */
	match,           /* match */
	free_sock,       /* free */
	print,           /* print */
	0,               /* flags */
	nullptr,         /* members */
};

const evi_export_t unix_export = {
	sizeof(evi_export_t), /* size */
	str_init("unix"), /* proto */
	raise,            /* raise */
	parse_unix,       /* parse */
	match,            /* match */
	free_sock,        /* free */
	print,            /* print */
	0,                /* flags */
	nullptr,          /* members */
};

} // namespace evdgram

namespace {

int mod_init(void)
{
	if (evdgram::open_senders() < 0)
		return -1;
	if (register_event_mod(&evdgram::udp_export) < 0) {
		LM_ERR("cannot register the udp event transport\n");
		return -1;
	}
	if (register_event_mod(&evdgram::unix_export) < 0) {
		LM_ERR("cannot register the unix event transport\n");
		return -1;
	}
	return 0;
}

void mod_destroy(void)
{
	evdgram::close_senders();
}

} // namespace

extern "C" {

struct module_exports exports = {
	"event_datagram", /* module name */
	MOD_TYPE_DEFAULT, /* class of this module */
	MODULE_VERSION,   /* version and ABI */
	DEFAULT_DLFLAGS,  /* dlopen flags */
	nullptr,          /* load function */
	nullptr,          /* dependencies */
	nullptr,          /* script functions */
	nullptr,          /* async script functions */
	nullptr,          /* modparams: none (spec §2.6) */
	nullptr,          /* statistics */
	nullptr,          /* MI commands */
	nullptr,          /* pseudo-variables */
	nullptr,          /* transformations */
	nullptr,          /* extra threads: none, sends are non-blocking */
	nullptr,          /* pre-init */
	mod_init,         /* module init: sockets, transports */
	nullptr,          /* reply handler */
	mod_destroy,      /* destroy */
	nullptr,          /* per-thread init */
	nullptr,          /* reload ack */
};

} // extern "C"
