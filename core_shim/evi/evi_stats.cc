// EVI statistics (decisions §38): evi:raised/<event> (registered with the
// event, counted in evi_raise_event) and, computed from the subscribers'
// own counters, evi:delivered|dropped|failed/<event>/<transport> (sums over
// live and removed subscribers: the §31 families) and
// evi:sub_delivered|sub_dropped|sub_failed|sub_queued/<event>/<socket>
// per subscriber. The per-item ones are registered by a refresher when a
// reader walks the statistics; a removed subscriber's statistics keep the
// last value read. Members of a virtual subscriber (event_virtual) get
// evi:member_delivered|member_failed|member_dropped/<event>/<socket>/<member>.
#include <mutex>
#include <set>
#include <string>

#include "evi/evi_core.h"
#include "stats/stats.h"

namespace shim {
namespace {

struct pair_key {
	std::string event, transport;
	int field; // 0 delivered, 1 dropped, 2 failed
};

struct sub_key {
	std::string event, socket;
	int field; // 0 delivered, 1 dropped, 2 failed, 3 queued
	std::atomic<unsigned long> last{0};
};

unsigned long pair_value(void *p)
{
	auto *k = (pair_key *)p;
	for (const evi_counter &c : evi_counters())
		if (c.event == k->event && c.transport == k->transport)
			return (unsigned long)(k->field == 0 ? c.delivered
			                       : k->field == 1 ? c.dropped
			                                       : c.failed);
	return 0;
}

unsigned long sub_value(void *p)
{
	auto *k = (sub_key *)p;
	for (const evi_subscriber_stat &s : evi_subscriber_stats(-1))
		if (s.event == k->event && s.socket == k->socket) {
			unsigned long long v = k->field == 0   ? s.delivered
			                       : k->field == 1 ? s.dropped
			                       : k->field == 2 ? s.failed
			                                       : s.queued;
			k->last.store((unsigned long)v, std::memory_order_relaxed);
			break;
		}
	// gone: the last value read (counters never go back)
	return k->last.load(std::memory_order_relaxed);
}

struct member_key {
	std::string event, socket, member;
	int field; // 0 delivered, 1 failed, 2 dropped
	std::atomic<unsigned long> last{0};
};

unsigned long member_value(void *p)
{
	auto *k = (member_key *)p;
	for (const evi_subscriber_stat &s : evi_subscriber_stats(-1))
		if (s.event == k->event && s.socket == k->socket)
			for (const auto &m : s.members)
				if (m.socket == k->member) {
					unsigned long long v = k->field == 0   ? m.delivered
					                       : k->field == 1 ? m.failed
					                                       : m.dropped;
					k->last.store((unsigned long)v, std::memory_order_relaxed);
				}
	return k->last.load(std::memory_order_relaxed);
}

std::mutex g_mu;
std::set<std::string> g_known; // items already registered

void refresh()
{
	static const char *const pair_fam[] = {"delivered", "dropped", "failed"};
	static const char *const pair_help[] = {
	    "Events handed to a subscriber's transport, per event and transport",
	    "Events dropped because a subscriber's queue was full",
	    "Events a transport failed to deliver"};
	static const char *const sub_fam[] = {"sub_delivered", "sub_dropped", "sub_failed",
	                                      "sub_queued"};
	static const char *const sub_help[] = {
	    "Events delivered, per subscriber", "Events dropped, per subscriber",
	    "Events that failed, per subscriber", "Events waiting in a subscriber's queue"};
	std::lock_guard<std::mutex> lk(g_mu);
	for (const evi_counter &c : evi_counters()) {
		if (!g_known.insert("p\n" + c.event + "\n" + c.transport).second)
			continue;
		const char *ln[] = {"event", "transport"};
		const char *lv[] = {c.event.c_str(), c.transport.c_str()};
		for (int f = 0; f < 3; f++)
			register_item_func_stat("evi", pair_fam[f], pair_help[f], STAT_COUNTER, 2, ln, lv,
			                        pair_value, new pair_key{c.event, c.transport, f});
	}
	static const char *const mem_fam[] = {"member_delivered", "member_failed",
	                                      "member_dropped"};
	static const char *const mem_help[] = {
	    "Events delivered, per member of a virtual subscriber",
	    "Events that failed, per member of a virtual subscriber",
	    "Events dropped, per member of a virtual subscriber"};
	for (const evi_subscriber_stat &s : evi_subscriber_stats(-1)) {
		for (const auto &m : s.members) {
			if (!g_known.insert("m\n" + s.event + "\n" + s.socket + "\n" + m.socket).second)
				continue;
			const char *ln[] = {"event", "subscriber", "member"};
			const char *lv[] = {s.event.c_str(), s.socket.c_str(), m.socket.c_str()};
			for (int f = 0; f < 3; f++)
				register_item_func_stat("evi", mem_fam[f], mem_help[f], STAT_COUNTER, 3, ln,
				                        lv, member_value,
				                        new member_key{s.event, s.socket, m.socket, f, {0}});
		}
		if (!g_known.insert("s\n" + s.event + "\n" + s.socket).second)
			continue;
		const char *ln[] = {"event", "subscriber"};
		const char *lv[] = {s.event.c_str(), s.socket.c_str()};
		for (int f = 0; f < 4; f++) {
			auto *k = new sub_key{s.event, s.socket, f, {0}};
			register_item_func_stat("evi", sub_fam[f], sub_help[f],
			                        f == 3 ? STAT_NO_RESET : STAT_COUNTER, 2, ln, lv,
			                        sub_value, k);
		}
	}
}

} // namespace

void evi_stats_register() { stats_add_refresher(refresh); }

} // namespace shim
