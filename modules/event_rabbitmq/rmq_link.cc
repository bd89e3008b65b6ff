// A link: one AMQP connection and the thread that owns it (rmq.h).
//
// The thread's loop: drop what has grown too old, (re)connect when due
// (non-blocking connect in short slices, login with the handshake bound,
// a channel in confirm mode), publish what is queued (at most `window`
// awaiting a confirm), then wait for the socket or the eventfd and read
// every frame the broker sent: acks and nacks settle messages, a return
// marks one unroutable, a channel close fails what was awaiting a confirm
// (e.g. a nonexistent exchange) and reopens the channel a second later, a
// connection close or a socket error reconnects and republishes what was
// unconfirmed (at least once: the broker may see a message twice, never
// zero times while it is within the backlog's bounds).
#include <amqp.h>
#include <amqp_framing.h>
#include <amqp_tcp_socket.h>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <ctime>

#include "opensips/core_hooks.h"
#include "opensips/dprint.h"
#include "opensips/net.h"

#include "rmq.h"

#pragma weak shim_log_event_suppress

namespace rmq {

namespace {

constexpr size_t window = 1024;        // published, awaiting a confirm
constexpr double backoff_first = 0.05; // seconds
constexpr double backoff_max = 2.0;
constexpr double channel_retry = 1.0;  // after the broker closed our channel

amqp_connection_state_t C(void *p)
{
	return static_cast<amqp_connection_state_t>(p);
}

std::string bytes_text(const amqp_bytes_t &b)
{
	return b.bytes ? std::string(static_cast<const char *>(b.bytes), b.len) : std::string();
}

// What an RPC reply says, for logs.
std::string reply_text(const amqp_rpc_reply_t &r)
{
	switch (r.reply_type) {
	case AMQP_RESPONSE_NORMAL:
		return "ok";
	case AMQP_RESPONSE_NONE:
		return "no reply";
	case AMQP_RESPONSE_LIBRARY_EXCEPTION:
		return amqp_error_string2(r.library_error);
	case AMQP_RESPONSE_SERVER_EXCEPTION:
		if (r.reply.id == AMQP_CONNECTION_CLOSE_METHOD) {
			auto *m = static_cast<amqp_connection_close_t *>(r.reply.decoded);
			return "the broker closed the connection: " + std::to_string(m->reply_code) +
			       " " + bytes_text(m->reply_text);
		}
		if (r.reply.id == AMQP_CHANNEL_CLOSE_METHOD) {
			auto *m = static_cast<amqp_channel_close_t *>(r.reply.decoded);
			return "the broker closed the channel: " + std::to_string(m->reply_code) + " " +
			       bytes_text(m->reply_text);
		}
		return "the broker answered with method " + std::to_string(r.reply.id);
	}
	return "unknown reply";
}

bool login_refused(const amqp_rpc_reply_t &r)
{
	if (r.reply_type == AMQP_RESPONSE_SERVER_EXCEPTION &&
	    r.reply.id == AMQP_CONNECTION_CLOSE_METHOD) {
		auto *m = static_cast<amqp_connection_close_t *>(r.reply.decoded);
		return m->reply_code == AMQP_ACCESS_REFUSED || m->reply_code == AMQP_NOT_ALLOWED;
	}
	return false;
}

std::mutex g_links_mu;
std::vector<std::shared_ptr<link>> g_links; // guarded by g_links_mu

} // namespace

double mono_now()
{
	timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

link::link(std::string name, target t) : name_(std::move(name)), t_(std::move(t))
{
	efd_ = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
}

link::~link()
{
	stop(0);
	join();
	if (efd_ >= 0)
		close(efd_);
}

int link::start()
{
	std::lock_guard<std::mutex> lk(mu_);
	if (th_.joinable() || stopping_)
		return 0;
	if (efd_ < 0) {
		LM_ERR("rabbitmq %s: cannot create an eventfd: %s\n", name_.c_str(), strerror(errno));
		return -1;
	}
	try {
		th_ = std::thread([this] { run(); });
	} catch (...) {
		LM_ERR("rabbitmq %s: cannot start its sender thread\n", name_.c_str());
		return -1;
	}
	return 0;
}

void link::wake()
{
	uint64_t one = 1;
	if (efd_ >= 0 && write(efd_, &one, sizeof one) < 0 && errno != EAGAIN)
		LM_DBG("rabbitmq %s: eventfd write: %s\n", name_.c_str(), strerror(errno));
}

void link::settle(message &m, int outcome)
{
	if (m.ticket) {
		evi_ticket *t = m.ticket;
		m.ticket = nullptr;
		t->settle(t, outcome);
	} else {
		stat_var *v = outcome == EVI_OUTCOME_DELIVERED ? stats.delivered
		              : outcome == EVI_OUTCOME_DROPPED ? stats.dropped
		                                               : stats.failed;
		if (v)
			update_stat(v, 1);
	}
	(outcome == EVI_OUTCOME_DELIVERED ? n_delivered
	 : outcome == EVI_OUTCOME_DROPPED ? n_dropped
	                                  : n_failed)
		.fetch_add(1, std::memory_order_relaxed);
	if (stats.backlog)
		update_stat(stats.backlog, -1);
}

int link::submit(message &&m)
{
	m.queued_at = mono_now();
	std::vector<message> old;
	int rc;
	bool was_empty = false;
	{
		std::lock_guard<std::mutex> lk(mu_);
		if (stopping_ || refused_)
			return EVI_OUTCOME_FAILED;
		double limit = m.queued_at - g_set.backlog_max_age;
		while (!pending_.empty() && pending_.front().queued_at < limit) {
			pending_bytes_ -= pending_.front().size();
			old.push_back(std::move(pending_.front()));
			pending_.pop_front();
		}
		size_t n = pending_.size() + inflight_n_.load(std::memory_order_relaxed);
		size_t b = pending_bytes_ + inflight_b_.load(std::memory_order_relaxed);
		if (n >= (size_t)g_set.backlog_events || b + m.size() > (size_t)g_set.backlog_bytes) {
			rc = EVI_OUTCOME_DROPPED;
		} else {
			was_empty = pending_.empty();
			pending_bytes_ += m.size();
			pending_.push_back(std::move(m));
			rc = EVI_OUTCOME_LATER;
		}
	}
	for (auto &o : old)
		settle(o, EVI_OUTCOME_DROPPED);
	if (rc == EVI_OUTCOME_LATER) {
		if (stats.backlog)
			update_stat(stats.backlog, 1);
		if (stats.published)
			update_stat(stats.published, 1);
		// The sender looks at the backlog after every publish run and every
		// wake-up: only a backlog that was empty may have it asleep.
		if (was_empty)
			wake();
	}
	return rc;
}

void link::stop(int grace_ms)
{
	std::lock_guard<std::mutex> lk(mu_);
	double dl = mono_now() + grace_ms / 1000.0;
	if (!stopping_ || dl < stop_deadline_)
		stop_deadline_ = dl;
	stopping_ = true;
	if (grace_ms <= 0 && fd_ >= 0)
		shutdown(fd_, SHUT_RDWR); // a send the broker does not read returns
	uint64_t one = 1;
	if (efd_ >= 0 && write(efd_, &one, sizeof one) < 0)
		(void)0;
}

void link::join()
{
	if (!th_.joinable()) {
		// never started: nothing will send what was queued
		settle_pending(EVI_OUTCOME_DROPPED);
		return;
	}
	if (th_.get_id() == std::this_thread::get_id())
		return;
	// The thread ends by its deadline; past it (blocked in a send to a
	// broker that stopped reading), the socket is shut down under it.
	double until;
	{
		std::lock_guard<std::mutex> lk(mu_);
		until = stop_deadline_ + 0.1;
	}
	std::unique_lock<std::mutex> lk(mu_);
	while (!done_) {
		double now = mono_now();
		if (now >= until) {
			if (fd_ >= 0)
				shutdown(fd_, SHUT_RDWR);
			until = now + 0.1;
		}
		done_cv_.wait_for(lk, std::chrono::milliseconds(20));
	}
	lk.unlock();
	th_.join();
}

void link::note_down(const std::string &why)
{
	last_error_ = why;
	if (down_logged_)
		return;
	down_logged_ = true;
	bool refused;
	{
		std::lock_guard<std::mutex> lk(mu_);
		refused = refused_;
	}
	LM_WARN("rabbitmq %s: broker unavailable: %s (%s; logged once until it recovers)\n",
	        name_.c_str(), why.c_str(),
	        refused ? "messages fail until a login succeeds"
	                : "messages queue up to the backlog's bounds");
}

void link::note_up()
{
	if (down_logged_)
		LM_NOTICE("rabbitmq %s: connected again to %s:%d\n", name_.c_str(), t_.host.c_str(),
		          t_.port);
	else
		LM_INFO("rabbitmq %s: connected to %s:%d\n", name_.c_str(), t_.host.c_str(), t_.port);
	down_logged_ = false;
	if (stats.connected)
		update_stat(stats.connected, 1);
}

void link::note_publish_error(const std::string &what)
{
	double now = mono_now();
	pub_err_count_++;
	if (what == pub_err_last_ && now - pub_err_at_ < 60.0)
		return;
	LM_WARN("rabbitmq %s: %s (%lu message(s) failed so far; logged again after a "
	        "minute or when the error changes)\n",
	        name_.c_str(), what.c_str(), pub_err_count_);
	pub_err_last_ = what;
	pub_err_at_ = now;
}

// Non-blocking connect in 50 ms slices, so a stop is seen at once.
int link::tcp_connect(std::string &err)
{
	struct shim_sockspec spec {};
	spec.size = sizeof spec;
	std::string hp = (t_.host.find(':') != std::string::npos ? "[" + t_.host + "]" : t_.host) +
	                 ":" + std::to_string(t_.port);
	char e[256];
	struct sockaddr_storage addr;
	socklen_t alen = 0;
	if (shim_sockspec_parse(hp.c_str(), (int)hp.size(), 0, SHIM_PROTO_TCP, 5672, &spec, e,
	                        sizeof e) < 0 ||
	    shim_sockspec_resolve(&spec, 0, &addr, &alen, e, sizeof e) < 0) {
		err = e;
		return -1;
	}
	int fd = socket(addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		err = std::string("socket: ") + strerror(errno);
		return -1;
	}
	if (::connect(fd, (struct sockaddr *)&addr, alen) < 0 && errno != EINPROGRESS) {
		err = std::string("connect: ") + strerror(errno);
		close(fd);
		return -1;
	}
	double until = mono_now() + std::max(1, g_set.connect_timeout) / 1000.0;
	for (;;) {
		{
			std::lock_guard<std::mutex> lk(mu_);
			if (stopping_) {
				close(fd);
				err = "stopping";
				return -1;
			}
		}
		double left = until - mono_now();
		if (left <= 0) {
			close(fd);
			err = "connect: timed out after " + std::to_string(g_set.connect_timeout) + " ms";
			return -1;
		}
		struct pollfd p = {fd, POLLOUT, 0};
		int ms = (int)std::min(50.0, left * 1000.0 + 1);
		int n = poll(&p, 1, ms);
		if (n < 0 && errno != EINTR) {
			err = std::string("poll: ") + strerror(errno);
			close(fd);
			return -1;
		}
		if (n > 0)
			break;
	}
	int soerr = 0;
	socklen_t sl = sizeof soerr;
	getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl);
	if (soerr) {
		err = std::string("connect: ") + strerror(soerr);
		close(fd);
		return -1;
	}
	int one = 1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	return fd;
}

bool link::connect_once()
{
	std::string err;
	int fd = tcp_connect(err);
	if (fd < 0) {
		note_down(err);
		return false;
	}
	amqp_connection_state_t c = amqp_new_connection();
	amqp_socket_t *s = c ? amqp_tcp_socket_new(c) : nullptr;
	if (!s) {
		if (c)
			amqp_destroy_connection(c);
		close(fd);
		note_down("out of memory");
		return false;
	}
	amqp_tcp_socket_set_sockfd(s, fd); // the connection owns fd from here
	{
		std::lock_guard<std::mutex> lk(mu_);
		fd_ = fd;
	}
	struct timeval hs = {g_set.connect_timeout / 1000, (g_set.connect_timeout % 1000) * 1000};
	amqp_set_handshake_timeout(c, &hs);
	int rpc_ms = g_set.timeout > 0 ? g_set.timeout : 1000;
	struct timeval rpc = {rpc_ms / 1000, (rpc_ms % 1000) * 1000};
	amqp_set_rpc_timeout(c, &rpc);
	amqp_rpc_reply_t r = amqp_login(c, t_.vhost.c_str(), 0, t_.frame_max, t_.heartbeat,
	                                AMQP_SASL_METHOD_PLAIN, t_.user.c_str(),
	                                t_.password.c_str());
	conn_ = c;
	if (r.reply_type != AMQP_RESPONSE_NORMAL) {
		bool refused = login_refused(r);
		std::string why = "login as '" + t_.user + "': " + reply_text(r);
		disconnect(true);
		if (refused) {
			// Wrong credentials do not heal by waiting: what is queued
			// fails now, and so does what comes until a login succeeds.
			{
				std::lock_guard<std::mutex> lk(mu_);
				refused_ = true;
			}
			settle_pending(EVI_OUTCOME_FAILED);
		}
		note_down(why);
		return false;
	}
	{
		std::lock_guard<std::mutex> lk(mu_);
		refused_ = false;
	}
	if (!open_channel()) {
		disconnect(true);
		return false;
	}
	return true;
}

bool link::open_channel()
{
	amqp_connection_state_t c = C(conn_);
	int ch = channel_next_++;
	if (channel_next_ > 65000)
		channel_next_ = 1;
	amqp_channel_open(c, (amqp_channel_t)ch);
	amqp_rpc_reply_t r = amqp_get_rpc_reply(c);
	if (r.reply_type != AMQP_RESPONSE_NORMAL) {
		note_down("channel.open: " + reply_text(r));
		return false;
	}
	amqp_confirm_select(c, (amqp_channel_t)ch);
	r = amqp_get_rpc_reply(c);
	if (r.reply_type != AMQP_RESPONSE_NORMAL) {
		note_down("confirm.select: " + reply_text(r));
		return false;
	}
	channel_ = ch;
	next_tag_ = 1; // delivery tags count per channel
	return true;
}

void link::disconnect(bool requeue)
{
	if (!conn_)
		return;
	bool was_up = channel_ != 0 || !inflight_.empty();
	{
		std::lock_guard<std::mutex> lk(mu_);
		fd_ = -1;
	}
	amqp_destroy_connection(C(conn_)); // closes the socket
	conn_ = nullptr;
	if (channel_ && stats.connected)
		update_stat(stats.connected, -1);
	channel_ = 0;
	blocked_ = false;
	(void)was_up;
	if (requeue) {
		std::lock_guard<std::mutex> lk(mu_);
		for (auto it = inflight_.rbegin(); it != inflight_.rend(); ++it) {
			it->returned = false;
			pending_bytes_ += it->size();
			pending_.push_front(std::move(*it));
		}
		inflight_.clear();
	} else {
		for (auto &m : inflight_)
			settle(m, EVI_OUTCOME_FAILED);
		inflight_.clear();
	}
	inflight_n_.store(0, std::memory_order_relaxed);
	inflight_b_.store(0, std::memory_order_relaxed);
}

void link::settle_pending(int outcome)
{
	std::deque<message> q;
	{
		std::lock_guard<std::mutex> lk(mu_);
		q.swap(pending_);
		pending_bytes_ = 0;
	}
	for (auto &m : q)
		settle(m, outcome);
}

void link::expire_old(double now)
{
	std::vector<message> old;
	{
		std::lock_guard<std::mutex> lk(mu_);
		double limit = now - g_set.backlog_max_age;
		while (!pending_.empty() && pending_.front().queued_at < limit) {
			pending_bytes_ -= pending_.front().size();
			old.push_back(std::move(pending_.front()));
			pending_.pop_front();
		}
	}
	for (auto &m : old)
		settle(m, EVI_OUTCOME_DROPPED);
}

void link::publish_ready()
{
	if (!conn_ || !channel_ || blocked_)
		return;
	amqp_connection_state_t c = C(conn_);
	while (inflight_.size() < window) {
		message m;
		{
			std::lock_guard<std::mutex> lk(mu_);
			if (pending_.empty())
				return;
			m = std::move(pending_.front());
			pending_.pop_front();
			pending_bytes_ -= m.size();
		}
		m.tag = next_tag_++;
		amqp_basic_properties_t props;
		memset(&props, 0, sizeof props);
		props._flags = AMQP_BASIC_DELIVERY_MODE_FLAG;
		props.delivery_mode = t_.persistent ? 2 : 1;
		if (!m.content_type.empty()) {
			props._flags |= AMQP_BASIC_CONTENT_TYPE_FLAG;
			props.content_type = amqp_bytes_t{m.content_type.size(), m.content_type.data()};
		}
		std::vector<amqp_table_entry_t> hdrs;
		if (!m.headers.empty()) {
			hdrs.resize(m.headers.size());
			for (size_t i = 0; i < m.headers.size(); i++) {
				auto &h = m.headers[i];
				hdrs[i].key = amqp_bytes_t{h.first.size(), h.first.data()};
				hdrs[i].value.kind = AMQP_FIELD_KIND_UTF8;
				hdrs[i].value.value.bytes = amqp_bytes_t{h.second.size(), h.second.data()};
			}
			props._flags |= AMQP_BASIC_HEADERS_FLAG;
			props.headers.num_entries = (int)hdrs.size();
			props.headers.entries = hdrs.data();
		}
		// With `mandatory`, a return names its message by this id.
		std::string mid = std::to_string(m.tag);
		if (t_.mandatory) {
			props._flags |= AMQP_BASIC_MESSAGE_ID_FLAG;
			props.message_id = amqp_bytes_t{mid.size(), mid.data()};
		}
		const std::string &key = m.routing_key.empty() ? t_.routing_key : m.routing_key;
		int rc = amqp_basic_publish(c, (amqp_channel_t)channel_,
		                            amqp_bytes_t{t_.exchange.size(), (void *)t_.exchange.data()},
		                            amqp_bytes_t{key.size(), (void *)key.data()},
		                            t_.mandatory, t_.immediate, &props,
		                            amqp_bytes_t{m.body.size(), m.body.data()});
		if (rc != AMQP_STATUS_OK) {
			{
				std::lock_guard<std::mutex> lk(mu_);
				pending_bytes_ += m.size();
				pending_.push_front(std::move(m));
			}
			note_down(std::string("publish: ") + amqp_error_string2(rc));
			disconnect(true);
			return;
		}
		inflight_n_.fetch_add(1, std::memory_order_relaxed);
		inflight_b_.fetch_add(m.size(), std::memory_order_relaxed);
		inflight_.push_back(std::move(m));
	}
}

void link::pop_inflight(std::deque<message>::iterator it, int outcome)
{
	inflight_n_.fetch_sub(1, std::memory_order_relaxed);
	inflight_b_.fetch_sub(it->size(), std::memory_order_relaxed);
	settle(*it, outcome);
	inflight_.erase(it);
}

void link::settle_acked(uint64_t tag, bool multiple, bool ok)
{
	auto outcome = [&](const message &m) {
		if (ok && !m.returned)
			return EVI_OUTCOME_DELIVERED;
		note_publish_error(ok ? "the broker returned a message as unroutable (no queue "
		                        "bound for its routing key)"
		                      : "the broker refused a message (basic.nack)");
		return EVI_OUTCOME_FAILED;
	};
	if (multiple) {
		while (!inflight_.empty() && inflight_.front().tag <= tag)
			pop_inflight(inflight_.begin(), outcome(inflight_.front()));
		return;
	}
	auto it = std::lower_bound(inflight_.begin(), inflight_.end(), tag,
	                           [](const message &m, uint64_t t) { return m.tag < t; });
	if (it != inflight_.end() && it->tag == tag)
		pop_inflight(it, outcome(*it));
}

// Reads what the broker sent, waiting up to wait_ms for the first byte.
// false when the connection was lost (and has been torn down).
bool link::read_frames(int wait_ms)
{
	amqp_connection_state_t c = C(conn_);
	if (!amqp_frames_enqueued(c) && !amqp_data_in_buffer(c)) {
		if (t_.heartbeat > 0)
			wait_ms = std::min(wait_ms, t_.heartbeat * 500);
		struct pollfd p[2] = {{amqp_get_sockfd(c), POLLIN, 0}, {efd_, POLLIN, 0}};
		poll(p, 2, wait_ms);
		if (p[1].revents & POLLIN) {
			uint64_t v;
			while (read(efd_, &v, sizeof v) > 0) {
			}
		}
	}
	for (int k = 0; k < 4096; k++) {
		amqp_frame_t f;
		struct timeval zero = {0, 0};
		int rc = amqp_simple_wait_frame_noblock(c, &f, &zero);
		if (rc == AMQP_STATUS_TIMEOUT)
			break;
		if (rc != AMQP_STATUS_OK) {
			note_down(amqp_error_string2(rc));
			disconnect(true);
			return false;
		}
		if (f.frame_type != AMQP_FRAME_METHOD)
			continue;
		switch (f.payload.method.id) {
		case AMQP_BASIC_ACK_METHOD: {
			auto *a = static_cast<amqp_basic_ack_t *>(f.payload.method.decoded);
			settle_acked(a->delivery_tag, a->multiple, true);
			break;
		}
		case AMQP_BASIC_NACK_METHOD: {
			auto *a = static_cast<amqp_basic_nack_t *>(f.payload.method.decoded);
			settle_acked(a->delivery_tag, a->multiple, false);
			break;
		}
		case AMQP_BASIC_RETURN_METHOD: {
			amqp_message_t msg;
			amqp_rpc_reply_t r = amqp_read_message(c, f.channel, &msg, 0);
			if (r.reply_type != AMQP_RESPONSE_NORMAL) {
				note_down("reading a returned message: " + reply_text(r));
				disconnect(true);
				return false;
			}
			if (msg.properties._flags & AMQP_BASIC_MESSAGE_ID_FLAG) {
				uint64_t tag = strtoull(bytes_text(msg.properties.message_id).c_str(), nullptr, 10);
				for (auto &m : inflight_)
					if (m.tag == tag)
						m.returned = true;
			}
			amqp_destroy_message(&msg);
			break;
		}
		case AMQP_CHANNEL_CLOSE_METHOD: {
			auto *m = static_cast<amqp_channel_close_t *>(f.payload.method.decoded);
			std::string why = "the broker closed the channel: " + std::to_string(m->reply_code) +
			                  " " + bytes_text(m->reply_text);
			amqp_channel_close_ok_t ok = {0};
			amqp_send_method(c, f.channel, AMQP_CHANNEL_CLOSE_OK_METHOD, &ok);
			// What awaited a confirm on that channel is lost: failed.
			while (!inflight_.empty()) {
				note_publish_error(why);
				pop_inflight(inflight_.begin(), EVI_OUTCOME_FAILED);
			}
			channel_ = 0;
			channel_retry_at_ = mono_now() + channel_retry;
			if (stats.connected)
				update_stat(stats.connected, -1);
			break;
		}
		case AMQP_CONNECTION_CLOSE_METHOD: {
			auto *m = static_cast<amqp_connection_close_t *>(f.payload.method.decoded);
			std::string why = "the broker closed the connection: " +
			                  std::to_string(m->reply_code) + " " + bytes_text(m->reply_text);
			amqp_connection_close_ok_t ok = {0};
			amqp_send_method(c, 0, AMQP_CONNECTION_CLOSE_OK_METHOD, &ok);
			note_down(why);
			disconnect(true);
			return false;
		}
		case AMQP_CONNECTION_BLOCKED_METHOD:
			if (!blocked_)
				LM_WARN("rabbitmq %s: the broker blocks publishing (a resource alarm); "
				        "events queue up to the backlog's bounds\n",
				        name_.c_str());
			blocked_ = true;
			break;
		case AMQP_CONNECTION_UNBLOCKED_METHOD:
			if (blocked_)
				LM_NOTICE("rabbitmq %s: the broker accepts publishing again\n", name_.c_str());
			blocked_ = false;
			break;
		default:
			break;
		}
	}
	amqp_maybe_release_buffers(c);
	return true;
}

void link::run()
{
	if (shim_log_event_suppress)
		shim_log_event_suppress(1); // our log lines never become E_CORE_LOG
	for (;;) {
		double now = mono_now();
		bool stopping;
		double deadline;
		bool empty;
		{
			std::lock_guard<std::mutex> lk(mu_);
			stopping = stopping_;
			deadline = stop_deadline_;
			empty = pending_.empty();
		}
		if (stopping && (!conn_ || !channel_ || now >= deadline ||
		                 (empty && inflight_.empty())))
			break;
		expire_old(now);
		if (!conn_) {
			if (now < next_attempt_) {
				struct pollfd p = {efd_, POLLIN, 0};
				poll(&p, 1, (int)std::min(200.0, (next_attempt_ - now) * 1000.0 + 1));
				uint64_t v;
				while (read(efd_, &v, sizeof v) > 0) {
				}
				continue;
			}
			if (!connect_once()) {
				backoff_ = backoff_ > 0 ? std::min(backoff_ * 2, backoff_max) : backoff_first;
				next_attempt_ = mono_now() + backoff_;
				continue;
			}
			backoff_ = 0;
			note_up();
		}
		if (!channel_) {
			if (mono_now() < channel_retry_at_) {
				// The broker closed our channel (a nonexistent exchange):
				// until we try again, what is queued fails.
				settle_pending(EVI_OUTCOME_FAILED);
				read_frames(100);
				continue;
			}
			if (!open_channel()) {
				disconnect(true);
				next_attempt_ = mono_now() + backoff_max;
				continue;
			}
			if (stats.connected)
				update_stat(stats.connected, 1);
		}
		publish_ready();
		if (!conn_)
			continue;
		bool more;
		{
			std::lock_guard<std::mutex> lk(mu_);
			more = !pending_.empty() && inflight_.size() < window && !blocked_;
		}
		read_frames(more ? 0 : 200);
	}
	// Leaving: a polite close when the connection is healthy, then every
	// message left is settled.
	if (conn_ && channel_) {
		struct timeval t = {0, 200000};
		amqp_set_rpc_timeout(C(conn_), &t);
		amqp_connection_close(C(conn_), AMQP_REPLY_SUCCESS);
	}
	disconnect(false);
	settle_pending(EVI_OUTCOME_DROPPED);
	std::lock_guard<std::mutex> lk(mu_);
	done_ = true;
	done_cv_.notify_all();
}

void links_add(const std::shared_ptr<link> &l)
{
	std::lock_guard<std::mutex> lk(g_links_mu);
	g_links.push_back(l);
}

void links_remove(const std::shared_ptr<link> &l)
{
	std::lock_guard<std::mutex> lk(g_links_mu);
	g_links.erase(std::remove(g_links.begin(), g_links.end(), l), g_links.end());
}

void links_stop_all(int grace_ms)
{
	std::vector<std::shared_ptr<link>> all;
	{
		std::lock_guard<std::mutex> lk(g_links_mu);
		all = g_links;
	}
	for (auto &l : all)
		l->stop(grace_ms);
}

void links_join_all()
{
	std::vector<std::shared_ptr<link>> all;
	{
		std::lock_guard<std::mutex> lk(g_links_mu);
		all.swap(g_links);
	}
	for (auto &l : all)
		l->join();
}

} // namespace rmq
