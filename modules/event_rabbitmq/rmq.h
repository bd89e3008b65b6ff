// event_rabbitmq internals: the `rabbitmq` EVI transport and
// rabbitmq_publish(), over rabbitmq-c.
//
// Threads and ownership:
//   * A `link` is one AMQP connection with a thread of its own (its
//     "sender"): it connects, logs in, publishes with publisher confirms,
//     reads acks, reconnects with backoff. Nothing else touches the
//     connection, so no SIP worker, MI thread or the host's event sender
//     ever waits on a broker.
//   * submit() is the only way in, from any thread: it appends to the
//     link's bounded backlog (count, bytes, maximum age) under the link's
//     mutex and wakes the sender through an eventfd. It never blocks on I/O.
//   * Every message is settled exactly once: delivered on the broker's ack,
//     failed on nack / return / channel or login error, dropped when the
//     backlog overflows or the message grows too old before it is sent.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "opensips/evi_transport.h"
#include "opensips/statistics.h"

// Internal to the module: only `exports` leaves the .so.
#pragma GCC visibility push(hidden)

namespace rmq {

// ---- modparams ----
struct settings {
	int heartbeat = 0;            // seconds, 0: off
	int connect_timeout = 500;    // ms
	int use_tls = 0;
	int timeout = 0;              // ms, RPC timeout (0: the default bound)
	int backlog_events = 10000;
	int backlog_bytes = 16 << 20;
	int backlog_max_age = 30;     // seconds
};
extern settings g_set;

// Where a link connects and how it publishes.
struct target {
	std::string user = "guest", password = "guest";
	std::string host;
	int port = 5672;
	std::string vhost = "/";
	std::string exchange;
	std::string routing_key;      // the socket's; empty for server_id links
	bool persistent = false;      // delivery_mode 2
	bool mandatory = false;       // unroutable messages come back: failed
	bool immediate = false;
	int heartbeat = 0;            // seconds
	int frame_max = 131072;
};

// The end of a message: a host ticket (events) or the link's own counters
// (rabbitmq_publish). Settled once, from whichever thread knows.
struct message {
	std::string body;
	std::string routing_key;      // empty: the target's
	std::string content_type;
	std::vector<std::pair<std::string, std::string>> headers;
	evi_ticket *ticket = nullptr;
	double queued_at = 0;         // monotonic seconds
	uint64_t tag = 0;             // delivery tag once published
	bool returned = false;        // came back unroutable (basic.return)
	size_t size() const { return body.size() + routing_key.size() + 64; }
};

struct link_stats {
	stat_var *published = nullptr, *delivered = nullptr, *failed = nullptr,
		 *dropped = nullptr;      // rabbitmq_publish only (no tickets)
	stat_var *backlog = nullptr;  // gauge: queued + awaiting a confirm
	stat_var *connected = nullptr; // gauge: 1 while logged in
};

class link {
public:
	// `name` is for logs and statistics ("ID1", "127.0.0.1:5672/q").
	link(std::string name, target t);
	~link();
	link(const link &) = delete;
	link &operator=(const link &) = delete;

	// Starts the sender thread (once). 0 / -1.
	int start();
	// Queues a message. Returns EVI_OUTCOME_LATER (the link settles it),
	// or the outcome to apply now (DROPPED: the backlog is full; FAILED:
	// the link is stopping or the broker refused our login) without having
	// settled it.
	int submit(message &&m);
	// Asks the sender to finish: with `grace_ms` it keeps publishing and
	// waiting for confirms while connected, up to that long; then every
	// message left is settled (unsent: dropped; awaiting a confirm:
	// failed). Returns at once; join() waits.
	void stop(int grace_ms);
	void join();

	const std::string &name() const { return name_; }
	const target &tgt() const { return t_; }
	link_stats stats;
	std::atomic<unsigned long long> n_delivered{0}, n_failed{0}, n_dropped{0};

private:
	void run();
	int tcp_connect(std::string &err);
	bool connect_once();
	void disconnect(bool requeue);
	bool open_channel();
	void publish_ready();
	bool read_frames(int wait_ms);
	void settle_acked(uint64_t tag, bool multiple, bool ok);
	void pop_inflight(std::deque<message>::iterator it, int outcome);
	void note_publish_error(const std::string &what);
	void expire_old(double now);
	// Settles everything not yet published with `outcome`.
	void settle_pending(int outcome);
	void settle(message &m, int outcome);
	void note_down(const std::string &why);
	void note_up();
	void wake();

	std::string name_;
	target t_;
	std::thread th_;
	int efd_ = -1;

	std::mutex mu_;                // pending_, pending_bytes_, stop state, fd_
	std::deque<message> pending_;  // not yet published, oldest first
	size_t pending_bytes_ = 0;
	bool stopping_ = false;
	double stop_deadline_ = 0;
	bool refused_ = false;         // the broker refused our login
	int fd_ = -1;                  // the connection's socket (for stop)
	bool done_ = false;            // the sender thread has finished
	std::condition_variable done_cv_;
	// what awaits a confirm, for submit()'s bounds (written by the sender)
	std::atomic<size_t> inflight_n_{0}, inflight_b_{0};

	// sender thread only
	void *conn_ = nullptr;         // amqp_connection_state_t
	int channel_ = 0;
	int channel_next_ = 1;
	bool blocked_ = false;         // connection.blocked by the broker
	std::deque<message> inflight_; // published, awaiting a confirm, tag order
	size_t inflight_bytes_ = 0;
	uint64_t next_tag_ = 1;
	double next_attempt_ = 0;
	double backoff_ = 0;
	double channel_retry_at_ = 0;  // after a channel error (e.g. no exchange)
	bool down_logged_ = false;     // a failure was logged; log the recovery
	std::string last_error_;
	std::string pub_err_last_;     // publish errors: logged once a minute
	double pub_err_at_ = -1e9;
	unsigned long pub_err_count_ = 0;
};

// ---- the EVI transport ----
struct rmq_sock {
	evi_reply_sock rs{};          // what the host holds (rs.priv == this)
	target t;
	std::string printed;          // the socket as written, after "rabbitmq:"
	std::mutex mu;                // link creation (first raise)
	std::shared_ptr<link> l;
};

// Parses `[user[:password]@]host[:port]/[params?]routing_key`. NULL, with
// the reason in `err`, when it is bad.
bool parse_socket(const char *s, int len, target &t, std::string &err);
// Parses a server_id modparam value: `[ID] uri = amqp://...; key = value;
// flag; ...`. false, with the reason in `err`.
bool parse_server_id(const char *s, std::string &id, target &t, std::string &err);

extern const evi_export_t rabbitmq_export;

// Every link, for destroy (stop all, then join all).
void links_add(const std::shared_ptr<link> &l);
void links_remove(const std::shared_ptr<link> &l);
void links_stop_all(int grace_ms);
void links_join_all();

double mono_now();

} // namespace rmq

#pragma GCC visibility pop
