#include "sip/receive.h"

#include <time.h>

#include "api/hooks.h"
#include "cfg/globals.h"
#include "cfg/script.h"
#include "opensips/dprint.h"
#include "sip/sip_parser.h"
#include "sip/udp_receiver.h"

namespace shim {
namespace {
inline long long now_us()
{
	timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}
} // namespace

int receive_msg(sip_msg *msg, sip_counters *c)
{
	c->received.fetch_add(1, std::memory_order_relaxed);
	if (sip_parse(msg) < 0) {
		c->malformed.fetch_add(1, std::memory_order_relaxed);
		return -1;
	}
	if (!msg->is_request) {
		c->dropped_replies.fetch_add(1, std::memory_order_relaxed);
		return -1;
	}
	int threshold = g_globals.exec_msg_threshold;
	long long start = threshold > 0 ? now_us() : 0;
	script_run_request(msg);
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
	return 0;
}

} // namespace shim
