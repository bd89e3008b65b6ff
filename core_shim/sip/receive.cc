#include "sip/receive.h"

#include <time.h>

#include <atomic>

#include "api/hooks.h"
#include "settings/globals.h"
#include "api/script-t.h"
#include "opensips/dprint.h"
#include "opensips/profiling.h"
#include "proc/roster.h"
#include "sip/sip_parser.h"
#include "sip/sip_stats.h"
#include "sip/udp_receiver.h"

namespace shim {
namespace {
inline long long now_us()
{
	timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

std::atomic<sip_local_ack_f> g_local_ack_cb{nullptr};
thread_local const sip_msg *t_current = nullptr;
} // namespace

const sip_msg *sip_current_msg()
{
	return t_current;
}

int receive_msg(sip_msg *msg, sip_counters *c)
{
	worker_stats *ws = sip_worker_stats();
	core_stats &cs = g_core_stats;
	c->received.fetch_add(1, std::memory_order_relaxed);
	stat_add(ws->received, 1);
	SHIM_PROF_ENTER(SHIM_PROF_SIP, "receive_msg", 0);
	if (sip_parse(msg) < 0) {
		c->malformed.fetch_add(1, std::memory_order_relaxed);
		stat_add(ws->malformed, 1);
		// as the reference counts them: a request without a mandatory
		// header was received and is in error; anything else that does not
		// parse is a bad header block
		if (msg->parse_error == SIP_PARSE_MISSING) {
			stat_add(cs.rcv_requests, 1);
			stat_add(cs.err_requests, 1);
		} else {
			stat_add(cs.bad_msg_hdr, 1);
		}
		if (stat_var *d = sip_drop_stat(msg->parse_error))
			stat_add(d, 1);
		SHIM_PROF_EXIT(SHIM_PROF_SIP, "receive_msg", -1);
		return -1;
	}
	if (!msg->is_request) {
		// no transactions and no stateless forwarding: replies end here
		stat_add(cs.rcv_replies, 1);
		stat_add(cs.drop_replies, 1);
		c->dropped_replies.fetch_add(1, std::memory_order_relaxed);
		SHIM_PROF_EXIT(SHIM_PROF_SIP, "receive_msg", -1);
		return -1;
	}
	stat_add(cs.rcv_requests, 1);
	if (sip_is_local_ack(msg)) {
		// the ACK of one of our stateless replies: absorbed before the
		// script, as OpenSIPS's sl does
		stat_add(cs.drop_requests, 1);
		if (sip_local_ack_f f = g_local_ack_cb.load(std::memory_order_acquire))
			f(msg);
		SHIM_PROF_EXIT(SHIM_PROF_SIP, "receive_msg", 0);
		return 0;
	}
	int threshold = g_globals.exec_msg_threshold;
	long long start = threshold > 0 ? now_us() : 0;
	SHIM_PROF_ENTER(SHIM_PROF_SIP, "request_script", 0);
	// The request stays current through the threshold report below: the
	// events it raises carry its Call-ID (event_kafka's key=callid).
	t_current = msg;
	if (g_script_runner.run_request)
		g_script_runner.run_request(msg);
	SHIM_PROF_EXIT(SHIM_PROF_SIP, "request_script",
	               g_script_runner.last_action_flags ? g_script_runner.last_action_flags() : 0);
	if (msg->replied) {
		c->replied.fetch_add(1, std::memory_order_relaxed);
		stat_add(ws->replied, 1);
	}
	if (threshold > 0) {
		long long took = now_us() - start;
		if (took > threshold) {
			stat_add(cs.slow_messages, 1);
			LM_WARN("message processing took too long: %lld us (limit %d us)",
			        took, threshold);
			if (auto f = g_core_hooks.threshold)
				f("msg processing", (int)took, msg->buf, msg->len);
		}
	}
	t_current = nullptr;
	SHIM_PROF_EXIT(SHIM_PROF_SIP, "receive_msg", 0);
	return 0;
}

} // namespace shim

extern "C" int sip_set_local_ack_cb(sip_local_ack_f f)
{
	sip_local_ack_f none = nullptr;
	if (!f)
		return -1;
	return shim::g_local_ack_cb.compare_exchange_strong(none, f) ? 0 : -1;
}
