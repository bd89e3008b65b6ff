// Ownership: a connection belongs to one receiver thread, which alone
// touches it (watchers, buffers); TCP main only accepts and queues the fd to
// a receiver under that receiver's mutex. When the auto-scaler retires a
// receiver, its connections (with their unread and unsent bytes) move to the
// remaining receivers; at host shutdown they are closed without events.
#include "sip/sip_socket.h"
#include "sip/tcp_receiver.h"
#include "sip/sip_parser.h"
#include "sip/sip_stats.h"

#include <arpa/inet.h>
#include <errno.h>
#include <ev.h>
#include <netdb.h>
#include <netinet/tcp.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <atomic>
#include <deque>
#include <memory>
#include <mutex>
#include <vector>

#include "api/hooks.h"
#include "settings/globals.h"
#include "opensips/dprint.h"
#include "opensips/host.h"
#include "opensips/profiling.h"
#include "opensips/sr_module.h"
#include "proc/autoscale.h"
#include "proc/roster.h"
#include "proc/threads.h"
#include "sip/receive.h"
#include "sip/tcp_framing.h"
#include "sip/udp_receiver.h"

namespace shim {
namespace {

long long mono_ns()
{
	timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

// Adds the time from construction to destruction to the thread's busy time
// (auto-scaler load).
struct busy_meter {
	long long t0 = mono_ns();
	~busy_meter()
	{
		long long ns = mono_ns() - t0;
		if (ns > 0)
			roster_add_busy((unsigned long long)ns);
	}
};

// A connection on its way to a receiver: freshly accepted, or moved from a
// retired receiver with what it had buffered.
struct pending_conn {
	int fd = -1;
	const sip_socket *sock = nullptr;
	sockaddr_storage peer{};
	socklen_t peer_len = 0;
	std::string in, out;
};

struct tcp_worker;

struct tcp_conn {
	ev_io rio, wio;
	ev_timer timer;
	int fd = -1;
	tcp_worker *w = nullptr;
	const sip_socket *sock = nullptr;
	sockaddr_storage peer{};
	socklen_t peer_len = 0;
	char peer_ip[64] = {0};
	int peer_port = 0;
	char local_ip[64] = {0};
	int local_port = 0;
	std::unique_ptr<char[]> in;   // kTcpMaxMessage bytes
	size_t in_len = 0;
	std::string out;              // unsent reply bytes from out_off on
	size_t out_off = 0;
	bool closing = false;         // close once the current read is done
	tcp_conn *prev = nullptr, *next = nullptr;
};

struct tcp_worker {
	int roster_id = -1;
	sip_counters counters;
	std::atomic<int> nconns{0};
	// q_mu guards queue, accepting and loop (as seen by TCP main).
	std::mutex q_mu;
	std::vector<pending_conn> queue;
	bool accepting = false;
	struct ev_loop *loop = nullptr;
	ev_async wake;
	// Owned by the receiver thread.
	tcp_conn *conns = nullptr;
	unsigned int next_id = 0;
	std::unique_ptr<char[]> scratch; // one message + NUL for the parser
	bool retiring = false;
};

std::deque<tcp_worker> g_workers; // elements never move
std::mutex g_workers_mu;          // guards the container
std::vector<ev_io> g_listen;      // TCP main's watchers, one per socket

void addr_text(const sockaddr_storage *a, char *ip, size_t ip_len, int *port)
{
	if (a->ss_family == AF_INET) {
		auto *s = (const sockaddr_in *)a;
		inet_ntop(AF_INET, &s->sin_addr, ip, (socklen_t)ip_len);
		*port = ntohs(s->sin_port);
	} else if (a->ss_family == AF_INET6) {
		auto *s = (const sockaddr_in6 *)a;
		inet_ntop(AF_INET6, &s->sin6_addr, ip, (socklen_t)ip_len);
		*port = ntohs(s->sin6_port);
	}
}

void raise_disconnect(const char *src_ip, int src_port, const char *dst_ip,
                      int dst_port)
{
	if (shim_should_stop())
		return;
	if (auto f = g_core_hooks.tcp_disconnect)
		f(src_ip, src_port, dst_ip, dst_port, "tcp");
}

// Closes a queued fd that never became a connection here.
void drop_pending(pending_conn &p)
{
	char pip[64] = {0}, lip[64] = {0};
	int pport = 0, lport = 0;
	sockaddr_storage local{};
	socklen_t ll = sizeof(local);
	addr_text(&p.peer, pip, sizeof(pip), &pport);
	if (getsockname(p.fd, (sockaddr *)&local, &ll) == 0)
		addr_text(&local, lip, sizeof(lip), &lport);
	close(p.fd);
	raise_disconnect(pip, pport, lip, lport);
}

void conn_close(tcp_conn *c, bool event)
{
	tcp_worker *w = c->w;
	struct ev_loop *loop = shim_thread_loop();
	ev_io_stop(loop, &c->rio);
	ev_io_stop(loop, &c->wio);
	ev_timer_stop(loop, &c->timer);
	close(c->fd);
	if (c->prev)
		c->prev->next = c->next;
	else
		w->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	w->nconns.fetch_sub(1, std::memory_order_relaxed);
	if (event)
		raise_disconnect(c->peer_ip, c->peer_port, c->local_ip, c->local_port);
	delete c;
}

// Re-arms the inactivity timer for the connection's state.
void conn_touch(tcp_conn *c)
{
	c->timer.repeat = c->in_len ? kTcpPartialTimeout : kTcpIdleLifetime;
	ev_timer_again(shim_thread_loop(), &c->timer);
}

// Writes what is queued. 0, or -1 on a fatal error.
int conn_flush(tcp_conn *c)
{
	while (c->out_off < c->out.size()) {
		ssize_t n = send(c->fd, c->out.data() + c->out_off,
		                 c->out.size() - c->out_off, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n > 0) {
			c->out_off += (size_t)n;
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			break;
		return -1;
	}
	struct ev_loop *loop = shim_thread_loop();
	if (c->out_off >= c->out.size()) {
		c->out.clear();
		c->out_off = 0;
		ev_io_stop(loop, &c->wio);
	} else {
		ev_io_start(loop, &c->wio);
	}
	return 0;
}

// msg->send for TCP: the reply goes on the connection the request came on.
int tcp_send(struct sip_msg *msg, const char *buf, int len)
{
	tcp_conn *c = (tcp_conn *)msg->send_ctx;
	if (!c || c->closing || len < 0)
		return -1;
	int threshold = g_globals.tcp_threshold;
	long long t0 = threshold > 0 ? mono_ns() : 0;
	int rc = 0;
	if (c->out.size() - c->out_off + (size_t)len > kTcpMaxOutput) {
		LM_ERR("tcp: output buffer to %s:%d full, closing", c->peer_ip,
		       c->peer_port);
		c->closing = true;
		rc = -1;
	} else {
		c->out.append(buf, (size_t)len);
		if (conn_flush(c) < 0) {
			c->closing = true;
			rc = -1;
		}
	}
	if (threshold > 0) {
		long long us = (mono_ns() - t0) / 1000;
		if (us > threshold) {
			LM_WARN("tcp ops took too long: %lld us (limit %d us)", us, threshold);
			if (auto f = g_core_hooks.threshold)
				f("tcp ops", (int)us, buf, len);
		}
	}
	return rc;
}

void dispatch(tcp_conn *c, const char *p, size_t len)
{
	tcp_worker *w = c->w;
	memcpy(w->scratch.get(), p, len);
	w->scratch[len] = '\0';
	sip_msg msg;
	msg.id = ++w->next_id;
	msg.buf = w->scratch.get();
	msg.len = (int)len;
	msg.rcv = c->sock;
	msg.send = tcp_send;
	msg.send_ctx = c;
	memcpy(&msg.src, &c->peer, c->peer_len);
	msg.src_len = c->peer_len;
	snprintf(msg.src_ip, sizeof(msg.src_ip), "%s", c->peer_ip);
	msg.src_port = c->peer_port;
	// one PROC session per framed message (decisions.md §19)
	SHIM_PROF_START(SHIM_PROF_SIP, nullptr, 1);
	SHIM_PROF_ENTER(SHIM_PROF_SIP, "tcp proto reading", 1);
	SHIM_PROF_ENTER(SHIM_PROF_SIP, "tcp proto handling", 0);
	receive_msg(&msg, &w->counters);
	SHIM_PROF_EXIT(SHIM_PROF_SIP, "handling done", 0);
	SHIM_PROF_EXIT(SHIM_PROF_SIP, "reading done", 0);
	SHIM_PROF_END(SHIM_PROF_SIP, 0);
}

// Frames and runs every complete message in the input buffer. -1 when the
// stream is unusable (too big, bad Content-Length) and must be closed.
int conn_process(tcp_conn *c)
{
	size_t off = 0;
	int rc = 0;
	while (!c->closing) {
		tcp_frame f = tcp_frame_next(c->in.get() + off, c->in_len - off,
		                             kTcpMaxMessage);
		if (f.status == tcp_frame_status::complete) {
			dispatch(c, c->in.get() + off + f.skip, f.length);
			off += f.skip + f.length;
			continue;
		}
		if (f.status == tcp_frame_status::partial) {
			off += f.skip;
			break;
		}
		c->w->counters.received.fetch_add(1, std::memory_order_relaxed);
		c->w->counters.malformed.fetch_add(1, std::memory_order_relaxed);
		{
			worker_stats *ws = sip_worker_stats();
			stat_add(ws->received, 1);
			stat_add(ws->malformed, 1);
			stat_add(g_core_stats.bad_msg_hdr, 1);
			if (stat_var *d = sip_drop_stat(SIP_PARSE_HEADER))
				stat_add(d, 1);
		}
		LM_DBG("tcp: %s message from %s:%d, closing",
		       f.status == tcp_frame_status::oversized ? "oversized" : "malformed",
		       c->peer_ip, c->peer_port);
		rc = -1;
		break;
	}
	if (off) {
		memmove(c->in.get(), c->in.get() + off, c->in_len - off);
		c->in_len -= off;
	}
	return rc;
}

void on_conn_read(struct ev_loop *, ev_io *io, int)
{
	tcp_conn *c = (tcp_conn *)io->data;
	busy_meter meter;
	// Bounded: a fast sender does not starve the loop's other watchers.
	for (int round = 0; round < 16; round++) {
		if (c->in_len >= kTcpMaxMessage) { // cannot happen: framing says oversized
			conn_close(c, true);
			return;
		}
		ssize_t n = read(c->fd, c->in.get() + c->in_len, kTcpMaxMessage - c->in_len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			break;
		if (n <= 0) { // peer closed, or reset
			conn_close(c, true);
			return;
		}
		c->in_len += (size_t)n;
		if (conn_process(c) < 0 || c->closing) {
			conn_close(c, true);
			return;
		}
		if (c->in_len < kTcpMaxMessage && (size_t)n < kTcpMaxMessage / 2)
			break; // probably drained; the next wake-up reads the rest
	}
	conn_touch(c);
}

void on_conn_write(struct ev_loop *, ev_io *io, int)
{
	tcp_conn *c = (tcp_conn *)io->data;
	if (conn_flush(c) < 0)
		conn_close(c, true);
}

void on_conn_timer(struct ev_loop *, ev_timer *t, int)
{
	tcp_conn *c = (tcp_conn *)t->data;
	LM_DBG("tcp: connection from %s:%d %s, closing", c->peer_ip, c->peer_port,
	       c->in_len ? "stalled in the middle of a message" : "idle");
	conn_close(c, true);
}

void adopt(tcp_worker *w, pending_conn &p)
{
	tcp_conn *c = new tcp_conn;
	c->fd = p.fd;
	c->w = w;
	c->sock = p.sock;
	c->peer = p.peer;
	c->peer_len = p.peer_len;
	addr_text(&c->peer, c->peer_ip, sizeof(c->peer_ip), &c->peer_port);
	sockaddr_storage local{};
	socklen_t ll = sizeof(local);
	if (getsockname(c->fd, (sockaddr *)&local, &ll) == 0)
		addr_text(&local, c->local_ip, sizeof(c->local_ip), &c->local_port);
	c->in.reset(new char[kTcpMaxMessage]);
	c->in_len = std::min(p.in.size(), kTcpMaxMessage);
	memcpy(c->in.get(), p.in.data(), c->in_len);
	c->out = std::move(p.out);
	c->next = w->conns;
	if (w->conns)
		w->conns->prev = c;
	w->conns = c;
	w->nconns.fetch_add(1, std::memory_order_relaxed);

	struct ev_loop *loop = shim_thread_loop();
	ev_io_init(&c->rio, on_conn_read, c->fd, EV_READ);
	c->rio.data = c;
	ev_io_init(&c->wio, on_conn_write, c->fd, EV_WRITE);
	c->wio.data = c;
	ev_init(&c->timer, on_conn_timer);
	c->timer.data = c;
	ev_io_start(loop, &c->rio);
	if (!c->out.empty())
		ev_io_start(loop, &c->wio);
	conn_touch(c);
	// Bytes carried over from a retired receiver may hold whole messages.
	if (c->in_len && (conn_process(c) < 0 || c->closing))
		conn_close(c, true);
}

void on_wake(struct ev_loop *, ev_async *a, int)
{
	tcp_worker *w = (tcp_worker *)a->data;
	busy_meter meter;
	std::vector<pending_conn> got;
	{
		std::lock_guard<std::mutex> lk(w->q_mu);
		got.swap(w->queue);
	}
	for (auto &p : got)
		adopt(w, p);
}

// Hands a connection to the accepting receiver with the fewest connections
// (`except` excluded). false when there is none (the caller closes it).
bool hand_over(pending_conn &p, const tcp_worker *except)
{
	std::lock_guard<std::mutex> lk(g_workers_mu);
	tcp_worker *best = nullptr;
	for (auto &w : g_workers) {
		if (&w == except)
			continue;
		std::lock_guard<std::mutex> q(w.q_mu);
		if (!w.accepting)
			continue;
		if (!best || w.nconns.load(std::memory_order_relaxed) +
		                     (int)w.queue.size() <
		                 best->nconns.load(std::memory_order_relaxed))
			best = &w;
	}
	if (!best)
		return false;
	std::lock_guard<std::mutex> q(best->q_mu);
	if (!best->accepting)
		return false;
	best->queue.push_back(std::move(p));
	ev_async_send(best->loop, &best->wake);
	return true;
}

int receiver_setup(tcp_worker *w)
{
	struct ev_loop *loop = shim_thread_loop();
	ev_async_init(&w->wake, on_wake);
	w->wake.data = w;
	ev_async_start(loop, &w->wake);
	std::lock_guard<std::mutex> lk(w->q_mu);
	w->loop = loop;
	w->accepting = true;
	w->retiring = false;
	return 0;
}

// After the receiver's loop returned: at shutdown, close everything without
// events; when retired, move the connections to the other receivers.
void receiver_teardown(tcp_worker *w)
{
	std::vector<pending_conn> queued;
	{
		std::lock_guard<std::mutex> lk(w->q_mu);
		w->accepting = false;
		w->loop = nullptr;
		queued.swap(w->queue);
	}
	bool stopping = shim_should_stop();
	struct ev_loop *loop = shim_thread_loop();
	while (tcp_conn *c = w->conns) {
		if (stopping) {
			conn_close(c, false);
			continue;
		}
		pending_conn p;
		p.fd = dup(c->fd); // conn_close closes the original
		p.sock = c->sock;
		p.peer = c->peer;
		p.peer_len = c->peer_len;
		p.in.assign(c->in.get(), c->in_len);
		p.out = c->out.substr(c->out_off);
		conn_close(c, false);
		if (p.fd >= 0)
			queued.push_back(std::move(p));
	}
	for (auto &p : queued) {
		if (stopping || !hand_over(p, w)) {
			if (stopping)
				close(p.fd);
			else
				drop_pending(p);
		}
	}
	ev_async_stop(loop, &w->wake);
}

// Starts one receiver thread. `reuse_id`: a retired, joined receiver's
// roster entry, or -1. Returns the roster id, or -1.
int start_receiver(int reuse_id)
{
	tcp_worker *w = nullptr;
	int id = -1;
	{
		std::lock_guard<std::mutex> lk(g_workers_mu);
		if (reuse_id >= 0)
			for (auto &x : g_workers)
				if (x.roster_id == reuse_id)
					w = &x;
		if (w) {
			roster_reuse(reuse_id);
			id = reuse_id;
		} else {
			id = roster_add("TCP receiver", PROC_TYPE_TCP);
			if (id < 0)
				return -1;
			w = &g_workers.emplace_back();
			w->roster_id = id;
			w->scratch.reset(new char[kTcpMaxMessage + 1]);
		}
	}
	if (thread_spawn(id, proc_next_worker_rank(), true,
	                 [w]() { return receiver_setup(w); },
	                 [w]() { receiver_teardown(w); }) < 0)
		return -1;
	return id;
}

int retire_receiver(int id)
{
	{
		std::lock_guard<std::mutex> lk(g_workers_mu);
		for (auto &w : g_workers) {
			if (w.roster_id != id)
				continue;
			std::lock_guard<std::mutex> q(w.q_mu);
			w.accepting = false; // TCP main stops picking it
		}
	}
	return thread_retire(id);
}

void on_accept(struct ev_loop *, ev_io *io, int)
{
	const sip_socket *s = (const sip_socket *)io->data;
	for (int i = 0; i < 64; i++) {
		pending_conn p;
		p.peer_len = sizeof(p.peer);
		p.fd = accept4(io->fd, (sockaddr *)&p.peer, &p.peer_len,
		               SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (p.fd < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			if (errno != EAGAIN && errno != EWOULDBLOCK)
				LM_ERR("tcp: accept on %s: %s", s->text.c_str(), strerror(errno));
			return;
		}
		int one = 1;
		setsockopt(p.fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		p.sock = s;
		if (!hand_over(p, nullptr)) {
			LM_ERR("tcp: no receiver takes connections, closing");
			drop_pending(p);
		}
	}
}

int tcp_main_setup()
{
	struct ev_loop *loop = shim_thread_loop();
	size_t n = 0;
	for (auto &s : g_globals.sockets)
		if (s.proto == 2 && s.fd >= 0)
			n++;
	g_listen.assign(n, ev_io{});
	size_t k = 0;
	for (auto &s : g_globals.sockets) {
		if (s.proto != 2 || s.fd < 0)
			continue;
		ev_io_init(&g_listen[k], on_accept, s.fd, EV_READ);
		g_listen[k].data = &s;
		ev_io_start(loop, &g_listen[k]);
		k++;
	}
	return 0;
}

int bind_tcp(sip_socket &s, std::string &err)
{
	if (sip_socket_bind(s, SOCK_STREAM, 0, err) < 0)
		return -1;
	int fd = s.fd;
	if (listen(fd, 1024) < 0) {
		err = "cannot listen on " + s.text + ": " + strerror(errno);
		close(fd);
		s.fd = -1;
		return -1;
	}
	return 0;
}

} // namespace

int tcp_sockets_open(std::string &err)
{
	for (auto &s : g_globals.sockets)
		if (s.proto == 2 && bind_tcp(s, err) < 0)
			return -1;
	return 0;
}

void tcp_threads_start()
{
	bool any = false;
	for (auto &s : g_globals.sockets)
		if (s.proto == 2 && s.fd >= 0)
			any = true;
	if (!any)
		return;
	int workers = g_globals.tcp_workers > 0 ? g_globals.tcp_workers : 1;
	std::vector<int> ids;
	for (int i = 0; i < workers; i++) {
		int id = start_receiver(-1);
		if (id >= 0)
			ids.push_back(id);
	}
	if (!g_globals.tcp_workers_profile.empty())
		autoscale_add_group("TCP", "none", g_globals.tcp_workers_profile, ids,
		                    start_receiver, retire_receiver);
	thread_spawn(roster_add("TCP main", PROC_TYPE_NONE), PROC_TCP_MAIN, true,
	             tcp_main_setup);
}

void tcp_sockets_close()
{
	for (auto &s : g_globals.sockets)
		if (s.proto == 2 && s.fd >= 0) {
			close(s.fd);
			s.fd = -1;
		}
	g_listen.clear();
}

void tcp_counters_total(unsigned long *received, unsigned long *replied,
                        unsigned long *malformed)
{
	unsigned long a = 0, b = 0, c = 0;
	std::lock_guard<std::mutex> lk(g_workers_mu);
	for (auto &w : g_workers) {
		a += w.counters.received.load(std::memory_order_relaxed);
		b += w.counters.replied.load(std::memory_order_relaxed);
		c += w.counters.malformed.load(std::memory_order_relaxed);
	}
	if (received) *received = a;
	if (replied) *replied = b;
	if (malformed) *malformed = c;
}

int tcp_connections_open()
{
	int n = 0;
	std::lock_guard<std::mutex> lk(g_workers_mu);
	for (auto &w : g_workers)
		n += w.nconns.load(std::memory_order_relaxed);
	return n;
}

} // namespace shim
