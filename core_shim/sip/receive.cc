#include "sip/receive.h"

#include <time.h>

#include <mutex>
#include <string>
#include <vector>

#include "api/hooks.h"
#include "cfg/globals.h"
#include "cfg/script.h"
#include "opensips/dprint.h"
#include "opensips/profiling.h"
#include "proc/roster.h"
#include "sip/sip_parser.h"
#include "sip/udp_receiver.h"

namespace shim {
namespace {
struct registered_counters {
	std::string worker;
	const sip_counters *c;
};
std::mutex g_reg_mu;
std::vector<registered_counters> g_registered;
thread_local const sip_counters *t_registered = nullptr;

// First message of a receiver: remember its counters for the exporter.
void register_counters(const sip_counters *c)
{
	t_registered = c;
	proc_entry *self = roster_self();
	std::lock_guard<std::mutex> lk(g_reg_mu);
	g_registered.push_back({std::to_string(self ? self->id : -1), c});
}

inline long long now_us()
{
	timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}
} // namespace

int receive_msg(sip_msg *msg, sip_counters *c)
{
	if (t_registered != c)
		register_counters(c);
	c->received.fetch_add(1, std::memory_order_relaxed);
	SHIM_PROF_ENTER(SHIM_PROF_SIP, "receive_msg", 0);
	if (sip_parse(msg) < 0) {
		c->malformed.fetch_add(1, std::memory_order_relaxed);
		SHIM_PROF_EXIT(SHIM_PROF_SIP, "receive_msg", -1);
		return -1;
	}
	if (!msg->is_request) {
		c->dropped_replies.fetch_add(1, std::memory_order_relaxed);
		SHIM_PROF_EXIT(SHIM_PROF_SIP, "receive_msg", -1);
		return -1;
	}
	int threshold = g_globals.exec_msg_threshold;
	long long start = threshold > 0 ? now_us() : 0;
	SHIM_PROF_ENTER(SHIM_PROF_SIP, "request_script", 0);
	script_run_request(msg);
	SHIM_PROF_EXIT(SHIM_PROF_SIP, "request_script", script_last_action_flags());
	if (msg->replied)
		c->replied.fetch_add(1, std::memory_order_relaxed);
	if (threshold > 0) {
		long long took = now_us() - start;
		if (took > threshold) {
			LM_WARN("message processing took too long: %lld us (limit %d us)",
			        took, threshold);
			if (auto f = g_core_hooks.threshold)
				f("msg processing", (int)took, msg->buf, msg->len);
		}
	}
	SHIM_PROF_EXIT(SHIM_PROF_SIP, "receive_msg", 0);
	return 0;
}

void sip_collect_samples(shim_sample_f visit, void *param)
{
	static const char *const names[] = {"worker"};
	struct family {
		const char *name, *help;
		const std::atomic<unsigned long> sip_counters::*field;
	};
	static const family families[] = {
		{"opensips_sip_received_total", "SIP datagrams and stream messages received, per worker",
		 &sip_counters::received},
		{"opensips_sip_replied_total", "SIP requests answered by the script, per worker",
		 &sip_counters::replied},
		{"opensips_sip_malformed_total", "SIP messages dropped as malformed, per worker",
		 &sip_counters::malformed},
	};
	std::vector<registered_counters> regs;
	{
		std::lock_guard<std::mutex> lk(g_reg_mu);
		regs = g_registered;
	}
	for (const family &f : families) {
		if (regs.empty())
			visit(param, f.name, f.help, "counter", -1, nullptr, nullptr, 0);
		for (auto &r : regs) {
			const char *values[] = {r.worker.c_str()};
			visit(param, f.name, f.help, "counter", 1, names, values,
			      (double)(r.c->*f.field).load(std::memory_order_relaxed));
		}
	}
}

} // namespace shim
