#include "sip/udp_receiver.h"

#include <arpa/inet.h>
#include <errno.h>
#include <ev.h>
#include <fcntl.h>
#include <netdb.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <atomic>
#include <deque>
#include <memory>
#include <mutex>
#include <vector>

#include "net/addr_text.h"
#include "settings/globals.h"
#include "opensips/dprint.h"
#include "opensips/host.h"
#include "opensips/net.h"
#include "opensips/profiling.h"
#include "proc/autoscale.h"
#include "proc/roster.h"
#include "proc/threads.h"
#include "sip/receive.h"
#include "sip/sip_parser.h"
#include "sip/sip_socket.h"

namespace shim {
namespace {

constexpr int kBatch = 32;
constexpr int kMaxDatagram = 65536;
// The 2 MB of receive slots (and the reply slots) are mmapped by malloc and
// left untouched: a slot gets its pages the first time a batch is deep
// enough to use it, so an idle or lightly loaded receiver stays small, and
// a receiver that once took a full batch keeps about one page per slot (a
// SIP message of up to 4 KB) from then on.

// Replies of one batch go out together through sendmmsg (each request still
// gets its own datagram, same bytes, same socket, in order), except the
// last few of a batch, sent one by one so a client with few requests in
// flight refills while the rest are processed. A reply larger than a slot
// is sent at once, after what was queued before it. With udp_gso on, every
// reply of a batch waits for its end: a client's replies then leave as one
// segmented send (shim_send_datagrams).
constexpr int kFlushTail = 4;
constexpr int kSmallBatch = 8; // a batch this small is answered reply by reply
constexpr size_t kOutSlot = 2048;   // an OPTIONS reply is ~400 bytes

// One per UDP socket: whether one of its receivers is busy polling it (one
// at a time, so the others sleep and leave the cores to the clients).
struct socket_poll {
	const sip_socket *sock;
	std::atomic<bool> polling{false};
	explicit socket_poll(const sip_socket *s) : sock(s) {}
};

struct receiver {
	ev_io io;                   // first member: the callback casts back
	const sip_socket *sock = nullptr;
	socket_poll *poll = nullptr;
	int roster_id = -1;
	sip_counters counters;
	unsigned int next_id = 0;
	// Receive buffers for one recvmmsg batch.
	std::unique_ptr<char[]> bufs;
	mmsghdr hdrs[kBatch];
	iovec iovs[kBatch];
	sockaddr_storage addrs[kBatch];
	// Replies waiting for the end of the batch.
	std::unique_ptr<char[]> out_bufs; // kBatch slots of kOutSlot bytes
	mmsghdr out_hdrs[kBatch];
	iovec out_iovs[kBatch];
	sockaddr_storage out_addrs[kBatch];
	int nout = 0;
};

// The receiver whose batch the calling thread is processing, or NULL.
thread_local receiver *t_batch = nullptr;

void flush_replies(receiver *r)
{
	int err = 0;
	int lost = shim_send_datagrams(r->io.fd, r->out_hdrs, (unsigned)r->nout, 0, &err);
	if (lost)
		LM_ERR("cannot send %d SIP repl%s: %s", lost, lost == 1 ? "y" : "ies",
		       strerror(err));
	r->nout = 0;
}

// Grows at startup and when the auto-scaler adds a worker (timer thread);
// elements never move. g_receivers_mu guards the container, not the
// receivers (each is used by its own thread; counters are atomics).
std::deque<receiver> g_receivers;
std::deque<socket_poll> g_polls; // one per UDP socket, made before the receivers
std::mutex g_receivers_mu;

int udp_send(struct sip_msg *msg, const char *buf, int len)
{
	receiver *r = t_batch;
	if (r && len >= 0 && (size_t)len <= kOutSlot && r->io.fd == msg->rcv->fd &&
	    msg->src_len <= (socklen_t)sizeof(sockaddr_storage)) {
		if (r->nout == kBatch)
			flush_replies(r);
		int i = r->nout++;
		char *slot = r->out_bufs.get() + (size_t)i * kOutSlot;
		memcpy(slot, buf, (size_t)len);
		memcpy(&r->out_addrs[i], &msg->src, msg->src_len);
		r->out_iovs[i].iov_base = slot;
		r->out_iovs[i].iov_len = (size_t)len;
		memset(&r->out_hdrs[i].msg_hdr, 0, sizeof(r->out_hdrs[i].msg_hdr));
		r->out_hdrs[i].msg_hdr.msg_iov = &r->out_iovs[i];
		r->out_hdrs[i].msg_hdr.msg_iovlen = 1;
		r->out_hdrs[i].msg_hdr.msg_name = &r->out_addrs[i];
		r->out_hdrs[i].msg_hdr.msg_namelen = msg->src_len;
		return 0;
	}
	if (r && r->nout)
		flush_replies(r); // keep the order of the replies
	ssize_t n = sendto(msg->rcv->fd, buf, (size_t)len, 0,
	                   (const sockaddr *)&msg->src, msg->src_len);
	return n == len ? 0 : -1;
}

void handle_datagram(receiver *r, char *buf, int len, const sockaddr_storage *from,
                     socklen_t from_len)
{
	sip_msg msg;
	msg.id = ++r->next_id;
	msg.buf = buf;
	msg.len = len;
	msg.rcv = r->sock;
	msg.send = udp_send;
	memcpy(&msg.src, from, from_len);
	msg.src_len = from_len;
	if (from->ss_family == AF_INET) {
		auto *a = (const sockaddr_in *)from;
		ipv4_text(a->sin_addr, msg.src_ip);
		msg.src_port = ntohs(a->sin_port);
	} else if (from->ss_family == AF_INET6) {
		auto *a = (const sockaddr_in6 *)from;
		inet_ntop(AF_INET6, &a->sin6_addr, msg.src_ip, sizeof(msg.src_ip));
		msg.src_port = ntohs(a->sin6_port);
	}
	receive_msg(&msg, &r->counters);
}

// Adds the time from construction to destruction, less the time spent
// busy polling, to the thread's busy time.
struct busy_meter {
	timespec t0;
	long long polled_ns = 0;
	busy_meter() { clock_gettime(CLOCK_MONOTONIC, &t0); }
	~busy_meter()
	{
		timespec t1;
		clock_gettime(CLOCK_MONOTONIC, &t1);
		long long ns = (long long)(t1.tv_sec - t0.tv_sec) * 1000000000LL +
		               (t1.tv_nsec - t0.tv_nsec) - polled_ns;
		if (ns > 0)
			roster_add_busy((unsigned long long)ns);
	}
};

void on_readable(struct ev_loop *, ev_io *w, int)
{
	receiver *r = reinterpret_cast<receiver *>(w);
	busy_meter meter; // load accounting for the auto-scaler
	// Bounded drain: at most so many batches per wake-up that the loop's
	// other watchers (stop, timers) keep running under load.
	const long long poll_ns = (long long)g_globals.busy_poll_usec * 1000;
	for (int round = 0; round < (poll_ns ? 64 : 8); round++) {
		for (int i = 0; i < kBatch; i++) {
			r->iovs[i].iov_base = r->bufs.get() + (size_t)i * kMaxDatagram;
			r->iovs[i].iov_len = kMaxDatagram - 1;
			memset(&r->hdrs[i].msg_hdr, 0, sizeof(r->hdrs[i].msg_hdr));
			r->hdrs[i].msg_hdr.msg_iov = &r->iovs[i];
			r->hdrs[i].msg_hdr.msg_iovlen = 1;
			r->hdrs[i].msg_hdr.msg_name = &r->addrs[i];
			r->hdrs[i].msg_hdr.msg_namelen = sizeof(r->addrs[i]);
		}
		int n = recvmmsg(r->io.fd, r->hdrs, kBatch, MSG_DONTWAIT, nullptr);
		// after a batch, one receiver of the socket at a time polls for
		// the next datagram before it sleeps (busy_poll_usec)
		if (n < 0 && round > 0 && poll_ns > 0 && r->poll && !r->poll->polling.exchange(true)) {
			long long spent = 0;
			n = shim_recvmmsg_poll(r->io.fd, r->hdrs, kBatch, poll_ns, &spent);
			r->poll->polling.store(false);
			meter.polled_ns += spent;
		}
		if (n <= 0)
			return; // EAGAIN (another receiver took it) or a transient error
		t_batch = r;
		const bool gso = shim_udp_gso();
		for (int i = 0; i < n; i++) {
			char *buf = (char *)r->iovs[i].iov_base;
			int len = (int)r->hdrs[i].msg_len;
			buf[len] = '\0';
			// one PROC session per datagram (decisions.md §19)
			SHIM_PROF_START(SHIM_PROF_SIP, nullptr, 1);
			SHIM_PROF_ENTER(SHIM_PROF_SIP, "udp proto reading", 1);
			handle_datagram(r, buf, len, &r->addrs[i],
			                r->hdrs[i].msg_hdr.msg_namelen);
			SHIM_PROF_EXIT(SHIM_PROF_SIP, "reading done", 0);
			SHIM_PROF_END(SHIM_PROF_SIP, 0);
			if (!gso && (n <= kSmallBatch || n - i <= kFlushTail))
				flush_replies(r);
		}
		flush_replies(r);
		t_batch = nullptr;
		if (n < kBatch && poll_ns == 0)
			return;
	}
}

int bind_udp(sip_socket &s, std::string &err)
{
	return sip_socket_bind(s, SOCK_DGRAM, 4 << 20, err);
}

} // namespace

int udp_sockets_open(std::string &err)
{
	for (auto &s : g_globals.sockets)
		if (s.proto == 1 && bind_udp(s, err) < 0)
			return -1;
	return 0;
}

namespace {

// Starts one receiver thread on socket `s`. `reuse_id`: the roster entry of
// a retired, joined receiver of the same socket, or -1. Returns the roster
// id, or -1.
int start_receiver(const sip_socket *s, int reuse_id)
{
	receiver *rp = nullptr;
	int id = -1;
	{
		std::lock_guard<std::mutex> lk(g_receivers_mu);
		if (reuse_id >= 0) {
			for (auto &r : g_receivers)
				if (r.roster_id == reuse_id && r.sock == s)
					rp = &r;
		}
		if (rp) {
			roster_reuse(reuse_id);
			id = reuse_id;
		} else {
			id = roster_add("SIP receiver " + s->text, PROC_TYPE_UDP);
			if (id < 0)
				return -1;
			rp = &g_receivers.emplace_back();
			rp->sock = s;
			for (auto &p : g_polls)
				if (p.sock == s)
					rp->poll = &p;
			rp->roster_id = id;
			rp->bufs.reset(new char[(size_t)kBatch * kMaxDatagram]);
			rp->out_bufs.reset(new char[(size_t)kBatch * kOutSlot]);
		}
	}
	int rank = proc_next_worker_rank();
	if (thread_spawn(id, rank, true, [rp]() {
		    ev_io_init(&rp->io, on_readable, rp->sock->fd, EV_READ);
		    ev_io_start(shim_thread_loop(), &rp->io);
		    return 0;
	    }) < 0)
		return -1;
	return id;
}

} // namespace

void udp_receivers_start()
{
	{
		std::lock_guard<std::mutex> lk(g_receivers_mu);
		for (auto &s : g_globals.sockets)
			if (s.proto == 1)
				g_polls.emplace_back(&s);
	}
	for (auto &s : g_globals.sockets) {
		if (s.proto != 1)
			continue;
		int workers = g_globals.udp_workers > 0 ? g_globals.udp_workers : 1;
		std::vector<int> ids;
		for (int i = 0; i < workers; i++) {
			int id = start_receiver(&s, -1);
			if (id >= 0)
				ids.push_back(id);
		}
		if (g_globals.udp_workers_profile.empty())
			continue;
		const sip_socket *sp = &s;
		autoscale_add_group(
		    "UDP", s.text, g_globals.udp_workers_profile, ids,
		    [sp](int reuse) { return start_receiver(sp, reuse); },
		    [](int id) { return thread_retire(id); });
	}
}

void udp_sockets_close()
{
	for (auto &s : g_globals.sockets)
		if (s.fd >= 0) {
			close(s.fd);
			s.fd = -1;
		}
}

void udp_counters_total(unsigned long *received, unsigned long *replied,
                        unsigned long *malformed)
{
	unsigned long a = 0, b = 0, c = 0;
	std::lock_guard<std::mutex> lk(g_receivers_mu);
	for (auto &r : g_receivers) {
		a += r.counters.received.load(std::memory_order_relaxed);
		b += r.counters.replied.load(std::memory_order_relaxed);
		c += r.counters.malformed.load(std::memory_order_relaxed);
	}
	if (received) *received = a;
	if (replied) *replied = b;
	if (malformed) *malformed = c;
}

} // namespace shim
