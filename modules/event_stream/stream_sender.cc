// The `event_stream Sender`: every TCP connection of the tcp transport,
// owned by one thread and driven by its libev loop.
//
// Jobs arrive through a bounded queue (g_q, guarded by g_q_lock) and an
// ev_async. One persistent non-blocking connection per destination
// (ip:port), opened on demand and reopened on the next job after a
// failure. Payloads are written back to back with no framing. Each
// connection's unsent output is capped (conn_max_pending): a peer that stops
// reading loses events (counted as dropped) instead of growing memory.
//
// Reliable mode: every written request with id > 0 awaits a reply; replies
// are concatenated JSON objects carrying the integer id; `error` marks a
// failure; requests still unanswered `timeout` ms after they were queued
// fail on the next 1 s tick.
#include <arpa/inet.h>
#include <cerrno>
#include <cstring>
#include <ev.h>
#include <fcntl.h>
#include <jansson.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <unordered_map>

#include "opensips/dprint.h"

#include "stream.h"

namespace evstream {

namespace {

// ---- the queue (any thread -> Sender) ----
std::mutex g_q_lock;
std::deque<job> g_q;           // guarded by g_q_lock
size_t g_q_bytes = 0;          // guarded by g_q_lock
struct ev_loop *g_loop = nullptr; // guarded by g_q_lock; null: not started
bool g_q_closed = false;       // guarded by g_q_lock
ev_async g_async;
ev_timer g_tick;
struct ev_loop *g_sloop = nullptr; // the Sender's loop, Sender thread only

std::atomic<unsigned long> st_delivered{0}, st_failed{0}, st_dropped{0},
	st_timeouts{0}, st_connects{0};

// Failures are logged once per connection every log_interval seconds, with
// how many happened since the previous line.
constexpr ev_tstamp log_interval = 30.0;

struct out_msg {
	std::string data;
	int id = 0;
	ev_tstamp deadline = 0;
	stat_ref ref;
};

struct awaited {
	ev_tstamp deadline = 0;
	stat_ref ref;
};

struct conn {
	struct sockaddr_in dest{};
	std::string name;              // "ip:port" for logs
	int fd = -1;
	bool connecting = false;
	ev_io rio{}, wio{};
	std::deque<out_msg> out;       // unsent, head partially sent by `head_off`
	size_t head_off = 0;
	size_t out_bytes = 0;          // unsent bytes (minus head_off)
	std::map<int, awaited> awaiting; // reliable: id -> deadline, counters
	std::string in;                // reliable: unparsed reply bytes
	unsigned long unlogged = 0;
	ev_tstamp last_log = -1e9;
	ev_tstamp last_used = 0;       // last job for this destination
};

// A closed connection keeps no buffer: the output queue and the reply
// buffer may have grown to their caps (1 MB each) while the peer was slow.
constexpr size_t in_keep = 64u << 10; // reply buffer capacity kept when empty

// Sender thread only.
std::unordered_map<uint64_t, std::unique_ptr<conn>> g_conns;

uint64_t key_of(const struct sockaddr_in &a)
{
	return ((uint64_t)a.sin_addr.s_addr << 16) | a.sin_port;
}

std::string name_of(const struct sockaddr_in &a)
{
	char ip[INET_ADDRSTRLEN] = "?";
	inet_ntop(AF_INET, &a.sin_addr, ip, sizeof ip);
	return std::string(ip) + ":" + std::to_string(ntohs(a.sin_port));
}

void note_failure(conn *c, unsigned long n, const char *what, int err,
                  bool count_failed = true)
{
	if (n == 0)
		return;
	if (count_failed)
		st_failed.fetch_add(n, std::memory_order_relaxed);
	c->unlogged += n;
	ev_tstamp now = g_sloop ? ev_now(g_sloop) : 0;
	if (now - c->last_log < log_interval)
		return;
	c->last_log = now;
	if (err)
		LM_WARN("tcp:%s: %s: %s (%lu event(s) lost since the last report)\n",
		        c->name.c_str(), what, strerror(err), c->unlogged);
	else
		LM_WARN("tcp:%s: %s (%lu event(s) lost since the last report)\n",
		        c->name.c_str(), what, c->unlogged);
	c->unlogged = 0;
}

// Closes the connection; whatever was still unsent or unanswered fails.
// The conn object stays, so the next job reconnects.
void close_conn(conn *c, const char *why, int err)
{
	if (c->fd >= 0) {
		if (g_sloop) {
			ev_io_stop(g_sloop, &c->rio);
			ev_io_stop(g_sloop, &c->wio);
		}
		close(c->fd);
		c->fd = -1;
	}
	c->connecting = false;
	unsigned long lost = c->out.size() + c->awaiting.size();
	for (auto &m : c->out)
		m.ref.fail();
	for (auto &kv : c->awaiting)
		kv.second.ref.fail();
	std::deque<out_msg>().swap(c->out);
	c->head_off = 0;
	c->out_bytes = 0;
	c->awaiting.clear();
	std::string().swap(c->in);
	note_failure(c, lost, why, err);
	if (!lost)
		LM_DBG("tcp:%s: %s\n", c->name.c_str(), why);
}

void flush(conn *c);

// One reply of a reliable peer.
void handle_reply(conn *c, const char *p, size_t n)
{
	json_error_t jerr;
	json_t *v = json_loadb(p, n, 0, &jerr);
	if (!v || !json_is_object(v)) {
		json_decref(v);
		LM_DBG("tcp:%s: unparsable reply ignored\n", c->name.c_str());
		return;
	}
	json_t *id = json_object_get(v, "id");
	if (!json_is_integer(id)) {
		LM_DBG("tcp:%s: reply without an integer id ignored\n", c->name.c_str());
		json_decref(v);
		return;
	}
	auto it = c->awaiting.find((int)json_integer_value(id));
	if (it == c->awaiting.end()) {
		LM_DBG("tcp:%s: reply to unknown or expired id %lld\n", c->name.c_str(),
		       (long long)json_integer_value(id));
	} else {
		if (json_object_get(v, "error")) {
			it->second.ref.fail();
			note_failure(c, 1, "the peer answered with an error", 0);
		} else {
			st_delivered.fetch_add(1, std::memory_order_relaxed);
			it->second.ref.ok();
		}
		c->awaiting.erase(it);
	}
	json_decref(v);
}

void parse_replies(conn *c)
{
	size_t pos = 0;
	while (pos < c->in.size()) {
		char ch = c->in[pos];
		if (ch == ' ' || ch == '\t' || ch == '\r' || ch == '\n') {
			pos++;
			continue;
		}
		if (ch != '{') {
			c->in.clear();
			close_conn(c, "the peer sent something that is not a JSON object", 0);
			return;
		}
		size_t end = json_object_end(c->in.data() + pos, c->in.size() - pos);
		if (end == 0)
			break;
		handle_reply(c, c->in.data() + pos, end);
		pos += end;
	}
	c->in.erase(0, pos);
	if (c->in.size() > conn_max_input)
		close_conn(c, "reply larger than 1 MB", 0);
	else if (c->in.empty() && c->in.capacity() > in_keep)
		std::string().swap(c->in);
}

void on_read(struct ev_loop *, ev_io *w, int)
{
	conn *c = static_cast<conn *>(w->data);
	char buf[16384];
	for (int i = 0; i < 16 && c->fd >= 0; i++) {
		ssize_t n = recv(c->fd, buf, sizeof buf, MSG_DONTWAIT);
		if (n == 0) {
			close_conn(c, "connection closed by the peer", 0);
			return;
		}
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno != EAGAIN && errno != EWOULDBLOCK)
				close_conn(c, "read error", errno);
			return;
		}
		if (reliable_mode) {
			c->in.append(buf, (size_t)n);
			parse_replies(c);
		} // else: input is ignored
	}
}

void on_connected(conn *c)
{
	c->connecting = false;
	int one = 1;
	setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	st_connects.fetch_add(1, std::memory_order_relaxed);
	ev_io_start(g_sloop, &c->rio);
	flush(c);
}

void on_write(struct ev_loop *, ev_io *w, int)
{
	conn *c = static_cast<conn *>(w->data);
	if (c->connecting) {
		int err = 0;
		socklen_t len = sizeof err;
		if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
			err = errno;
		if (err) {
			close_conn(c, "cannot connect", err);
			return;
		}
		on_connected(c);
		return;
	}
	flush(c);
}

void start_connect(conn *c)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		close_conn(c, "socket()", errno);
		return;
	}
	c->fd = fd;
	ev_io_init(&c->rio, on_read, fd, EV_READ);
	ev_io_init(&c->wio, on_write, fd, EV_WRITE);
	c->rio.data = c->wio.data = c;
	int rc;
	do {
		rc = connect(fd, (const struct sockaddr *)&c->dest, sizeof c->dest);
	} while (rc < 0 && errno == EINTR);
	if (rc == 0) {
		on_connected(c);
	} else if (errno == EINPROGRESS) {
		c->connecting = true;
		ev_io_start(g_sloop, &c->wio);
	} else {
		close_conn(c, "cannot connect", errno);
	}
}

// Writes as much as the socket takes, without blocking.
void flush(conn *c)
{
	while (c->fd >= 0 && !c->connecting && !c->out.empty()) {
		struct iovec iov[64];
		int cnt = 0;
		for (auto it = c->out.begin(); it != c->out.end() && cnt < 64; ++it, ++cnt) {
			size_t off = cnt == 0 ? c->head_off : 0;
			iov[cnt].iov_base = it->data.data() + off;
			iov[cnt].iov_len = it->data.size() - off;
		}
		struct msghdr mh {};
		mh.msg_iov = iov;
		mh.msg_iovlen = (size_t)cnt;
		ssize_t n = sendmsg(c->fd, &mh, MSG_DONTWAIT | MSG_NOSIGNAL);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				break;
			close_conn(c, "write error", errno);
			return;
		}
		size_t left = (size_t)n;
		c->out_bytes -= left;
		while (left > 0) {
			out_msg &m = c->out.front();
			size_t rest = m.data.size() - c->head_off;
			if (left < rest) {
				c->head_off += left;
				break;
			}
			left -= rest;
			c->head_off = 0;
			if (m.id > 0) {
				c->awaiting[m.id] = awaited{m.deadline, std::move(m.ref)};
			} else {
				st_delivered.fetch_add(1, std::memory_order_relaxed);
				m.ref.ok();
			}
			c->out.pop_front();
		}
	}
	if (c->fd < 0)
		return;
	if (!c->out.empty() || c->connecting)
		ev_io_start(g_sloop, &c->wio);
	else
		ev_io_stop(g_sloop, &c->wio);
}

void dispatch(job &j)
{
	uint64_t k = key_of(j.dest);
	auto it = g_conns.find(k);
	if (it == g_conns.end()) {
		auto c = std::make_unique<conn>();
		c->dest = j.dest;
		c->name = name_of(j.dest);
		it = g_conns.emplace(k, std::move(c)).first;
	}
	conn *c = it->second.get();
	c->last_used = ev_now(g_sloop);
	if (c->out_bytes + j.payload.size() > conn_max_pending) {
		st_dropped.fetch_add(1, std::memory_order_relaxed);
		j.ref.fail();
		note_failure(c, 1, "the peer does not read: pending output over 1 MB, event dropped", 0,
		             false);
		return;
	}
	out_msg m;
	m.id = j.id;
	m.deadline = ev_now(g_sloop) + timeout_ms / 1000.0;
	m.ref = std::move(j.ref);
	c->out_bytes += j.payload.size();
	m.data = std::move(j.payload);
	c->out.push_back(std::move(m));
	if (c->fd < 0)
		start_connect(c);
	else if (!c->connecting)
		flush(c);
}

void on_async(struct ev_loop *, ev_async *, int)
{
	for (;;) {
		std::deque<job> batch;
		{
			std::lock_guard lk(g_q_lock);
			batch.swap(g_q);
			g_q_bytes = 0;
		}
		if (batch.empty())
			return;
		for (job &j : batch)
			dispatch(j);
	}
}

// A destination no subscriber has sent to for a while, with nothing open,
// queued, awaited or left to log, is forgotten (the next job makes it
// again): destinations come and go with subscriptions, and each kept one
// would hold its conn for the life of the host. The wait covers the log
// interval, so forgetting never makes a failure be logged sooner.
constexpr ev_tstamp idle_forget = 2 * log_interval;

void on_tick(struct ev_loop *loop, ev_timer *, int)
{
	ev_tstamp now = ev_now(loop);
	for (auto it = g_conns.begin(); it != g_conns.end();) {
		conn *c = it->second.get();
		if (c->fd < 0 && c->out.empty() && c->awaiting.empty() && c->unlogged == 0 &&
		    now - c->last_used > idle_forget && now - c->last_log > idle_forget)
			it = g_conns.erase(it);
		else
			++it;
	}
	if (!reliable_mode)
		return;
	for (auto &[k, c] : g_conns) {
		unsigned long late = 0;
		for (auto it = c->awaiting.begin(); it != c->awaiting.end();) {
			if (it->second.deadline < now) {
				it->second.ref.fail();
				it = c->awaiting.erase(it);
				late++;
			} else {
				++it;
			}
		}
		if (late) {
			st_timeouts.fetch_add(late, std::memory_order_relaxed);
			note_failure(c.get(), late, "no reply within the timeout", 0);
		}
	}
}

} // namespace

size_t json_object_end(const char *p, size_t n)
{
	int depth = 0;
	bool in_str = false, esc = false;
	for (size_t i = 0; i < n; i++) {
		char ch = p[i];
		if (in_str) {
			if (esc)
				esc = false;
			else if (ch == '\\')
				esc = true;
			else if (ch == '"')
				in_str = false;
			continue;
		}
		if (ch == '"') {
			in_str = true;
		} else if (ch == '{' || ch == '[') {
			depth++;
		} else if (ch == '}' || ch == ']') {
			if (--depth == 0)
				return i + 1;
			if (depth < 0)
				return i + 1; // unbalanced: let the JSON parser reject it
		}
	}
	return 0;
}

int sender_enqueue(job &&j)
{
	std::lock_guard lk(g_q_lock);
	if (g_q_closed || g_q.size() >= queue_max_jobs ||
	    g_q_bytes + j.payload.size() > queue_max_bytes)
		return -1;
	g_q_bytes += j.payload.size();
	g_q.push_back(std::move(j));
	// Under the lock: the loop cannot be destroyed meanwhile (the host
	// announces shutdown, which closes the queue, before it stops threads).
	if (g_loop)
		ev_async_send(g_loop, &g_async);
	return 0;
}

void sender_start(struct ev_loop *loop)
{
	g_sloop = loop;
	ev_async_init(&g_async, on_async);
	ev_async_start(loop, &g_async);
	ev_timer_init(&g_tick, on_tick, 1.0, 1.0);
	ev_timer_start(loop, &g_tick);
	{
		std::lock_guard lk(g_q_lock);
		g_loop = loop;
		g_q_closed = false;
		if (!g_q.empty()) // queued before the Sender was up
			ev_async_send(loop, &g_async);
	}
}

void sender_close_queue()
{
	std::lock_guard lk(g_q_lock);
	g_q_closed = true;
}

void sender_shutdown(bool loop_alive)
{
	struct ev_loop *loop;
	{
		std::lock_guard lk(g_q_lock);
		loop = g_loop;
		g_loop = nullptr;
		g_q.clear();
		g_q_bytes = 0;
	}
	if (loop && loop_alive) {
		ev_async_stop(loop, &g_async);
		ev_timer_stop(loop, &g_tick);
		for (auto &[k, c] : g_conns)
			if (c->fd >= 0) {
				ev_io_stop(loop, &c->rio);
				ev_io_stop(loop, &c->wio);
			}
	}
	for (auto &[k, c] : g_conns)
		if (c->fd >= 0)
			close(c->fd);
	g_conns.clear();
	g_sloop = nullptr;
}

stats get_stats()
{
	return stats{st_delivered.load(), st_failed.load(), st_dropped.load(),
	             st_timeouts.load(), st_connects.load()};
}

size_t pending_bytes(const struct sockaddr_in &dest)
{
	auto it = g_conns.find(key_of(dest));
	return it == g_conns.end() ? 0 : it->second->out_bytes;
}

size_t awaiting_replies(const struct sockaddr_in &dest)
{
	auto it = g_conns.find(key_of(dest));
	return it == g_conns.end() ? 0 : it->second->awaiting.size();
}

} // namespace evstream
