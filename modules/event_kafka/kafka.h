// event_kafka internals: the `kafka` EVI transport and kafka_publish().
//
// Threads and ownership:
//   * parse (MI or script thread) validates the socket, builds the
//     librdkafka configuration and creates one producer (rd_kafka_t) with a
//     poll thread of its own (std::thread): the producer exists, and never
//     needs a broker, from then on.
//   * raise (the host's EVI sender thread) and kafka_publish (SIP workers,
//     timer, ...) only call rd_kafka_produce() with RD_KAFKA_MSG_F_COPY:
//     it never blocks; a full local queue refuses the message at once.
//   * The poll thread serves librdkafka's delivery reports: it settles the
//     EVI tickets, counts kafka_publish outcomes and runs report routes.
//     When the producer is released (free_sock, module destroy) the same
//     thread purges, destroys the handle and settles what is left.
#pragma once

#include <atomic>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_set>
#include <utility>
#include <vector>

#include <librdkafka/rdkafka.h>

#include "opensips/evi_transport.h"
#include "opensips/statistics.h"

// Internal to the module: only `exports` leaves the .so.
#pragma GCC visibility push(hidden)

namespace evkafka {

// ---- modparams (names shared with event_rabbitmq) ----
extern int backlog_events;   // queue.buffering.max.messages
extern int backlog_bytes;    // queue.buffering.max.kbytes (bytes / 1024)
extern int backlog_max_age;  // message.timeout.ms (seconds * 1000)

constexpr size_t max_payload = 4u << 20;

// A parsed `brokers/topic[?props]` specification.
struct spec {
	std::string brokers;                                     // "h:p,h:p"
	std::string topic;
	std::vector<std::pair<std::string, std::string>> gprops; // without "g."
	std::vector<std::pair<std::string, std::string>> tprops; // without "t."
	bool key_callid = false;
	bool user_partitioner = false; // t.partitioner given: do not pin
	std::string text;              // as written (print/match)
};

// 0, or -1 with `err` saying what is wrong.
int parse_spec(const char *s, int len, spec &out, std::string &err);

// Per-producer counters of kafka_publish (broker_id producers).
struct pub_stats {
	stat_var *published = nullptr, *delivered = nullptr, *failed = nullptr,
	         *dropped = nullptr;
};

class producer {
public:
	enum kind { EVI, PUBLISH };

	// Creates the handle and starts its poll thread; nullptr with `err`
	// (librdkafka's own text) when the configuration is refused.
	static std::shared_ptr<producer> create(const spec &sp, kind k, const std::string &id,
	                                        std::string &err);
	~producer();

	// EVI: hands one payload over; returns the outcome the delivery slot
	// gets (EVI_OUTCOME_LATER once the ticket is ours: it is settled
	// exactly once, now for a refused message, later otherwise).
	int produce_event(evi_ticket *t, const char *payload, size_t len, const str &callid);

	// kafka_publish: 1 queued, -1 refused. `route` < 0: no report route.
	int publish(const str &msg, const str *key, int route);

	// Asks the poll thread to purge, destroy and exit (never blocks).
	void release();
	bool finished() const { return done_.load(std::memory_order_acquire); }
	void join();

	const spec &sp() const { return spec_; }
	const std::string &label() const { return label_; }
	pub_stats stats;

private:
	producer() = default;
	void run();
	void shutdown();
	void on_delivery(const rd_kafka_message_t *m);
	void on_error(int err, const char *reason);
	void note_loss(int outcome, rd_kafka_resp_err_t err, bool immediate);
	static void dr_cb(rd_kafka_t *, const rd_kafka_message_t *m, void *opaque);
	static void error_cb(rd_kafka_t *, int err, const char *reason, void *opaque);
	static void log_cb(const rd_kafka_t *rk, int level, const char *fac, const char *buf);

	spec spec_;
	kind kind_ = EVI;
	std::string id_;              // broker_id (PUBLISH)
	std::string label_;           // "kafka:<text>" or "[id]" for logs
	rd_kafka_t *rk_ = nullptr;
	rd_kafka_topic_t *rkt_ = nullptr;
	int32_t partition_ = 0;
	std::thread th_;
	std::atomic<bool> stop_{false}, done_{false}, closing_{false};

	// EVI tickets handed to librdkafka and not yet settled.
	std::mutex pend_mu_;
	std::unordered_set<evi_ticket *> pending_;

	// Logging state: a broken connection is reported once, and its
	// recovery once; losses are summed and reported at most every
	// log_interval seconds (poll thread, except `refused_*`).
	std::atomic<bool> broken_{false};
	std::atomic<unsigned long> refused_full_{0}, refused_other_{0};
	unsigned long lost_timeout_ = 0, lost_failed_ = 0;
	double last_loss_log_ = -1e9;
	double last_err_log_ = -1e9;
	unsigned long errs_unlogged_ = 0;
	std::mutex joined_mu_;
	bool joined_ = false;
};

// Every producer ever created until it is joined.
void registry_add(const std::shared_ptr<producer> &p);
// Joins the producers whose thread has ended (cheap; any thread).
void registry_reap();
// Module destroy: releases every producer, then joins them all (the
// releases run in parallel, so the bound is per producer, not a sum).
void registry_shutdown();
bool registry_closed();

double now_mono();

} // namespace evkafka

#pragma GCC visibility pop
