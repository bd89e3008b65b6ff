// event_kafka: one librdkafka producer and its poll thread (kafka.h).
#include <climits>
#include <cstdint>
#include <cstring>
#include <ctime>

#include <chrono>
#include <new>

#include "opensips/core_hooks.h"
#include "opensips/dprint.h"
#include "opensips/host.h"

#include "kafka.h"

namespace evkafka {

namespace {

// Losses and librdkafka errors are summed and logged at most this often.
constexpr double log_interval = 30.0;
// Shutdown: how long queued messages may still be delivered when the
// brokers are reachable, then how long purged reports may take to come
// back. librdkafka's own destroy comes on top (measured: docs).
constexpr int flush_ms = 500;
constexpr int purge_wait_ms = 300;

std::mutex g_reg_mu;
std::vector<std::shared_ptr<producer>> g_reg; // guarded by g_reg_mu
bool g_closed = false;                        // guarded by g_reg_mu

bool is_connection_error(int err)
{
	switch (err) {
	case RD_KAFKA_RESP_ERR__TRANSPORT:
	case RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN:
	case RD_KAFKA_RESP_ERR__RESOLVE:
	case RD_KAFKA_RESP_ERR__TIMED_OUT:
	case RD_KAFKA_RESP_ERR__AUTHENTICATION:
	case RD_KAFKA_RESP_ERR__SSL:
		return true;
	default:
		return false;
	}
}

std::string conf_set(rd_kafka_conf_t *conf, const char *name, const std::string &value)
{
	char errstr[512] = "";
	if (rd_kafka_conf_set(conf, name, value.c_str(), errstr, sizeof errstr) != RD_KAFKA_CONF_OK)
		return errstr[0] ? errstr : "refused";
	return std::string();
}

std::string topic_conf_set(rd_kafka_topic_conf_t *conf, const char *name,
                           const std::string &value)
{
	char errstr[512] = "";
	if (rd_kafka_topic_conf_set(conf, name, value.c_str(), errstr, sizeof errstr) !=
	    RD_KAFKA_CONF_OK)
		return errstr[0] ? errstr : "refused";
	return std::string();
}

// Log lines of the calling thread (librdkafka's own threads included)
// never become E_CORE_LOG events: the transport would have to carry them.
struct log_quiet {
	log_quiet() { shim_log_event_suppress(1); }
	~log_quiet() { shim_log_event_suppress(0); }
};

} // namespace

double now_mono()
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

std::shared_ptr<producer> producer::create(const spec &sp, kind k, const std::string &id,
                                           std::string &err)
{
	registry_reap();
	if (registry_closed()) {
		err = "the module is shutting down";
		return nullptr;
	}
	std::shared_ptr<producer> p(new (std::nothrow) producer);
	if (!p) {
		err = "out of memory";
		return nullptr;
	}
	p->spec_ = sp;
	p->kind_ = k;
	p->id_ = id;
	p->label_ = k == EVI ? "kafka:" + sp.text : "broker [" + id + "]";
	p->partition_ = sp.user_partitioner ? RD_KAFKA_PARTITION_UA : 0;

	rd_kafka_conf_t *conf = rd_kafka_conf_new();
	rd_kafka_topic_conf_t *tconf = rd_kafka_topic_conf_new();
	std::string e;
	auto fail = [&](const std::string &what) {
		err = what;
		if (tconf)
			rd_kafka_topic_conf_destroy(tconf);
		if (conf)
			rd_kafka_conf_destroy(conf);
		return nullptr;
	};
	// Our defaults first: every one of them may be overridden by a g./t.
	// property of the socket.
	long kbytes = backlog_bytes / 1024;
	if (kbytes < 1)
		kbytes = 1;
	const std::pair<const char *, std::string> defaults[] = {
		{"bootstrap.servers", sp.brokers},
		{"client.id", "opensips-shim"},
		{"enable.idempotence", "true"},
		{"queue.buffering.max.messages", std::to_string(backlog_events)},
		{"queue.buffering.max.kbytes", std::to_string(kbytes)},
		{"log.connection.close", "false"},
		// librdkafka's broker threads scan for timed-out messages between
		// reconnect attempts: a 10 s backoff (its default maximum) would let
		// queued events outlive backlog_max_age by as much, and delay the
		// recovery after an outage by as much too.
		{"reconnect.backoff.max.ms", "1000"},
	};
	for (auto &d : defaults)
		if (!(e = conf_set(conf, d.first, d.second)).empty())
			return fail(std::string("cannot set ") + d.first + ": " + e);
	long age_ms = (long)backlog_max_age * 1000L;
	if (age_ms > INT_MAX)
		age_ms = INT_MAX;
	if (!(e = topic_conf_set(tconf, "message.timeout.ms", std::to_string(age_ms))).empty())
		return fail("cannot set message.timeout.ms: " + e);
	for (auto &kv : sp.tprops)
		if (!(e = topic_conf_set(tconf, kv.first.c_str(), kv.second)).empty())
			return fail("property 't." + kv.first + "' refused by librdkafka: " + e);
	rd_kafka_conf_set_default_topic_conf(conf, tconf); // owns it now
	tconf = nullptr;
	for (auto &kv : sp.gprops)
		if (!(e = conf_set(conf, kv.first.c_str(), kv.second)).empty())
			return fail("property 'g." + kv.first + "' refused by librdkafka: " + e);
	rd_kafka_conf_set_opaque(conf, p.get());
	rd_kafka_conf_set_dr_msg_cb(conf, dr_cb);
	rd_kafka_conf_set_error_cb(conf, error_cb);
	rd_kafka_conf_set_log_cb(conf, log_cb);

	char errstr[512] = "";
	rd_kafka_t *rk;
	{
		log_quiet q;
		rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof errstr);
	}
	if (!rk)
		return fail(std::string("librdkafka refused the configuration: ") +
		            (errstr[0] ? errstr : "unknown error"));
	conf = nullptr; // rd_kafka_new owns it on success
	p->rk_ = rk;
	p->rkt_ = rd_kafka_topic_new(rk, sp.topic.c_str(), nullptr);
	if (!p->rkt_) {
		err = std::string("cannot use topic '") + sp.topic +
		      "': " + rd_kafka_err2str(rd_kafka_last_error());
		rd_kafka_destroy(rk);
		p->rk_ = nullptr;
		return nullptr;
	}
	try {
		p->th_ = std::thread([raw = p.get()] { raw->run(); });
	} catch (...) {
		err = "cannot start the producer's thread";
		rd_kafka_topic_destroy(p->rkt_);
		rd_kafka_destroy(rk);
		p->rkt_ = nullptr;
		p->rk_ = nullptr;
		return nullptr;
	}
	registry_add(p);
	return p;
}

producer::~producer()
{
	// Normally joined by registry_shutdown(); a producer dropped without it
	// (a failed startup) still must not leave its thread running.
	if (th_.joinable()) {
		release();
		th_.join();
	}
}

void producer::release()
{
	stop_.store(true, std::memory_order_release);
}

void producer::join()
{
	std::lock_guard<std::mutex> lk(joined_mu_);
	if (!joined_ && th_.joinable())
		th_.join();
	joined_ = true;
}

int producer::produce_event(evi_ticket *t, const char *payload, size_t len, const str &callid)
{
	if (closing_.load(std::memory_order_acquire) || stop_.load(std::memory_order_acquire)) {
		refused_other_.fetch_add(1, std::memory_order_relaxed);
		t->settle(t, EVI_OUTCOME_FAILED);
		return EVI_OUTCOME_LATER;
	}
	const void *key = nullptr;
	size_t klen = 0;
	if (spec_.key_callid && callid.s && callid.len > 0) {
		key = callid.s;
		klen = (size_t)callid.len;
	}
	{
		std::lock_guard<std::mutex> lk(pend_mu_);
		try {
			pending_.insert(t);
		} catch (...) {
			t->settle(t, EVI_OUTCOME_FAILED);
			return EVI_OUTCOME_LATER;
		}
	}
	// F_COPY, never F_BLOCK: a full queue refuses the message now.
	if (rd_kafka_produce(rkt_, partition_, RD_KAFKA_MSG_F_COPY, const_cast<char *>(payload),
	                     len, key, klen, t) == -1) {
		rd_kafka_resp_err_t err = rd_kafka_last_error();
		bool mine;
		{
			std::lock_guard<std::mutex> lk(pend_mu_);
			mine = pending_.erase(t) > 0;
		}
		int oc = err == RD_KAFKA_RESP_ERR__QUEUE_FULL ? EVI_OUTCOME_DROPPED : EVI_OUTCOME_FAILED;
		(oc == EVI_OUTCOME_DROPPED ? refused_full_ : refused_other_)
			.fetch_add(1, std::memory_order_relaxed);
		if (mine)
			t->settle(t, oc);
	}
	return EVI_OUTCOME_LATER;
}

int producer::publish(const str &msg, const str *key, int route)
{
	if (closing_.load(std::memory_order_acquire) || stop_.load(std::memory_order_acquire)) {
		refused_other_.fetch_add(1, std::memory_order_relaxed);
		if (stats.failed)
			inc_stat(stats.failed);
		return -1;
	}
	const void *k = key && key->s && key->len > 0 ? key->s : nullptr;
	size_t klen = k ? (size_t)key->len : 0;
	void *opaque = (void *)(intptr_t)(route + 1); // 0: no report route
	if (rd_kafka_produce(rkt_, partition_, RD_KAFKA_MSG_F_COPY, msg.s, (size_t)msg.len, k,
	                     klen, opaque) == -1) {
		rd_kafka_resp_err_t err = rd_kafka_last_error();
		if (err == RD_KAFKA_RESP_ERR__QUEUE_FULL) {
			refused_full_.fetch_add(1, std::memory_order_relaxed);
			if (stats.dropped)
				inc_stat(stats.dropped);
		} else {
			refused_other_.fetch_add(1, std::memory_order_relaxed);
			if (stats.failed)
				inc_stat(stats.failed);
		}
		return -1;
	}
	if (stats.published)
		inc_stat(stats.published);
	return 1;
}

void producer::run()
{
	// Nothing this thread logs (delivery reports, report routes) may turn
	// into E_CORE_LOG events.
	shim_log_event_suppress(1);
	while (!stop_.load(std::memory_order_acquire)) {
		rd_kafka_poll(rk_, 100);
		// Refusals happen on other threads; they are reported from here.
		unsigned long full = refused_full_.load(std::memory_order_relaxed);
		unsigned long other = refused_other_.load(std::memory_order_relaxed);
		if ((full || other) && now_mono() - last_loss_log_ >= log_interval) {
			refused_full_.fetch_sub(full, std::memory_order_relaxed);
			refused_other_.fetch_sub(other, std::memory_order_relaxed);
			last_loss_log_ = now_mono();
			LM_WARN("%s: %lu message(s) refused: local queue full (backlog limit), "
			        "%lu refused for other reasons, since the last report\n",
			        label_.c_str(), full, other);
		}
		if ((lost_timeout_ || lost_failed_) && now_mono() - last_loss_log_ >= log_interval) {
			last_loss_log_ = now_mono();
			LM_WARN("%s: %lu message(s) dropped (older than message.timeout.ms), %lu "
			        "failed, since the last report\n",
			        label_.c_str(), lost_timeout_, lost_failed_);
			lost_timeout_ = lost_failed_ = 0;
		}
	}
	shutdown();
	done_.store(true, std::memory_order_release);
}

void producer::shutdown()
{
	double t0 = now_mono();
	closing_.store(true, std::memory_order_release);
	// Reachable brokers get a short chance to take what is queued; a broken
	// connection gets none.
	if (!broken_.load() && rd_kafka_outq_len(rk_) > 0)
		rd_kafka_flush(rk_, flush_ms);
	rd_kafka_purge(rk_, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
	double until = now_mono() + purge_wait_ms / 1000.0;
	while (rd_kafka_outq_len(rk_) > 0 && now_mono() < until)
		rd_kafka_poll(rk_, 10);
	rd_kafka_poll(rk_, 0);
	rd_kafka_topic_destroy(rkt_);
	rkt_ = nullptr;
	rd_kafka_destroy_flags(rk_, RD_KAFKA_DESTROY_F_NO_CONSUMER_CLOSE);
	rk_ = nullptr;
	// Whatever librdkafka never reported fails now, exactly once.
	std::unordered_set<evi_ticket *> left;
	{
		std::lock_guard<std::mutex> lk(pend_mu_);
		left.swap(pending_);
	}
	for (evi_ticket *t : left)
		t->settle(t, EVI_OUTCOME_FAILED);
	if (lost_failed_ || left.size())
		LM_INFO("%s: %lu queued message(s) not delivered at shutdown\n", label_.c_str(),
		        lost_failed_ + (unsigned long)left.size());
	LM_DBG("%s: producer closed in %.0f ms\n", label_.c_str(), (now_mono() - t0) * 1000);
}

void producer::note_loss(int outcome, rd_kafka_resp_err_t err, bool immediate)
{
	(void)immediate;
	if (closing_.load(std::memory_order_relaxed)) {
		lost_failed_++;
		return;
	}
	if (outcome == EVI_OUTCOME_DROPPED)
		lost_timeout_++;
	else
		lost_failed_++;
	if (!broken_.exchange(true))
		LM_WARN("%s: delivery failing: %s (reported once until messages are "
		        "delivered again)\n",
		        label_.c_str(), rd_kafka_err2str(err));
}

void producer::on_delivery(const rd_kafka_message_t *m)
{
	rd_kafka_resp_err_t err = m->err;
	int oc = err == RD_KAFKA_RESP_ERR_NO_ERROR          ? EVI_OUTCOME_DELIVERED
	         : err == RD_KAFKA_RESP_ERR__MSG_TIMED_OUT ? EVI_OUTCOME_DROPPED
	                                                   : EVI_OUTCOME_FAILED;
	if (oc == EVI_OUTCOME_DELIVERED) {
		if (broken_.exchange(false))
			LM_INFO("%s: messages are delivered again\n", label_.c_str());
	} else {
		note_loss(oc, err, false);
	}
	if (kind_ == EVI) {
		auto *t = static_cast<evi_ticket *>(m->_private);
		bool mine;
		{
			std::lock_guard<std::mutex> lk(pend_mu_);
			mine = t && pending_.erase(t) > 0;
		}
		if (mine)
			t->settle(t, oc);
		return;
	}
	stat_var *sv = oc == EVI_OUTCOME_DELIVERED ? stats.delivered
	               : oc == EVI_OUTCOME_DROPPED ? stats.dropped
	                                           : stats.failed;
	if (sv)
		inc_stat(sv);
	int route = (int)(intptr_t)m->_private - 1;
	if (route < 0 || closing_.load(std::memory_order_relaxed))
		return;
	static const char *const names[4] = {"kafka_id", "kafka_status", "kafka_key", "kafka_msg"};
	static char empty[] = "";
	str values[4];
	int ints[4] = {0, oc == EVI_OUTCOME_DELIVERED ? 0 : -1, 0, 0};
	values[0] = str{const_cast<char *>(id_.data()), (int)id_.size()};
	values[1] = str{nullptr, 0};
	if (m->key && m->key_len > 0)
		values[2] = str{static_cast<char *>(m->key), (int)m->key_len};
	else
		values[2] = str{empty, 0};
	if (m->payload && m->len > 0)
		values[3] = str{static_cast<char *>(m->payload), (int)m->len};
	else
		values[3] = str{empty, 0};
	if (shim_script_route_run_avps(route, 4, names, values, ints) < 0)
		LM_ERR("%s: cannot run the report route\n", label_.c_str());
}

void producer::on_error(int err, const char *reason)
{
	if (err == RD_KAFKA_RESP_ERR__FATAL) {
		char buf[512] = "";
		rd_kafka_resp_err_t orig = rd_kafka_fatal_error(rk_, buf, sizeof buf);
		LM_ERR("%s: fatal producer error, nothing more can be sent: %s: %s\n",
		       label_.c_str(), rd_kafka_err2str(orig), buf[0] ? buf : reason);
		return;
	}
	if (is_connection_error(err)) {
		if (!broken_.exchange(true))
			LM_WARN("%s: connection to the Kafka brokers broken: %s (reported once "
			        "until messages are delivered again)\n",
			        label_.c_str(), reason ? reason : rd_kafka_err2str((rd_kafka_resp_err_t)err));
		else
			LM_DBG("%s: %s\n", label_.c_str(), reason ? reason : "");
		return;
	}
	errs_unlogged_++;
	double now = now_mono();
	if (now - last_err_log_ < log_interval) {
		LM_DBG("%s: %s\n", label_.c_str(), reason ? reason : "");
		return;
	}
	last_err_log_ = now;
	LM_ERR("%s: %s: %s (%lu error(s) since the last report)\n", label_.c_str(),
	       rd_kafka_err2str((rd_kafka_resp_err_t)err), reason ? reason : "", errs_unlogged_);
	errs_unlogged_ = 0;
}

void producer::dr_cb(rd_kafka_t *, const rd_kafka_message_t *m, void *opaque)
{
	if (opaque && m)
		static_cast<producer *>(opaque)->on_delivery(m);
}

void producer::error_cb(rd_kafka_t *, int err, const char *reason, void *opaque)
{
	if (opaque)
		static_cast<producer *>(opaque)->on_error(err, reason);
}

// librdkafka's own log lines (any of its threads). Connection failures
// come through error_cb too, where they are reported once: here they are
// debug lines, as is everything while the connection is known broken.
void producer::log_cb(const rd_kafka_t *rk, int level, const char *fac, const char *buf)
{
	log_quiet q;
	auto *p = rk ? static_cast<producer *>(rd_kafka_opaque(rk)) : nullptr;
	const char *label = p ? p->label_.c_str() : "kafka";
	bool quiet = (fac && (!strcmp(fac, "FAIL") || !strcmp(fac, "ERROR"))) ||
	             (p && p->broken_.load(std::memory_order_relaxed));
	if (quiet || level >= 6)
		LM_DBG("%s: librdkafka %s: %s\n", label, fac ? fac : "", buf ? buf : "");
	else if (level <= 3)
		LM_ERR("%s: librdkafka %s: %s\n", label, fac ? fac : "", buf ? buf : "");
	else if (level == 4)
		LM_WARN("%s: librdkafka %s: %s\n", label, fac ? fac : "", buf ? buf : "");
	else
		LM_NOTICE("%s: librdkafka %s: %s\n", label, fac ? fac : "", buf ? buf : "");
}

// ---- registry ----

void registry_add(const std::shared_ptr<producer> &p)
{
	std::lock_guard<std::mutex> lk(g_reg_mu);
	g_reg.push_back(p);
}

void registry_reap()
{
	std::vector<std::shared_ptr<producer>> gone;
	{
		std::lock_guard<std::mutex> lk(g_reg_mu);
		for (size_t i = 0; i < g_reg.size();) {
			if (g_reg[i]->finished()) {
				gone.push_back(std::move(g_reg[i]));
				g_reg.erase(g_reg.begin() + (long)i);
			} else {
				i++;
			}
		}
	}
	for (auto &p : gone)
		p->join(); // its thread has ended: returns at once
}

void registry_shutdown()
{
	std::vector<std::shared_ptr<producer>> all;
	{
		std::lock_guard<std::mutex> lk(g_reg_mu);
		g_closed = true;
		all.swap(g_reg);
	}
	double t0 = now_mono();
	for (auto &p : all)
		p->release();
	for (auto &p : all)
		p->join();
	if (!all.empty())
		LM_DBG("%zu Kafka producer(s) closed in %.0f ms\n", all.size(),
		       (now_mono() - t0) * 1000);
}

bool registry_closed()
{
	std::lock_guard<std::mutex> lk(g_reg_mu);
	return g_closed;
}

} // namespace evkafka
