#include "api/metrics.h"

#include <time.h>

#include <mutex>
#include <string>
#include <vector>

#include "evi/evi_core.h"
#include "mi/mi_core.h"
#include "opensips/host.h"
#include "proc/roster.h"
#include "sip/receive.h"

namespace shim {
namespace {
std::mutex g_mu;
std::vector<sample_collector> g_collectors;

void collect_mi(shim_sample_f visit, void *param)
{
	static const char *const names[] = {"transport"};
	auto counts = mi_request_counts();
	const char *fam = "opensips_mi_requests_total";
	const char *help = "MI requests received, per transport";
	if (counts.empty())
		visit(param, fam, help, "counter", -1, nullptr, nullptr, 0);
	for (auto &c : counts) {
		const char *values[] = {c.first.c_str()};
		visit(param, fam, help, "counter", 1, names, values, (double)c.second);
	}
}

void collect_evi(shim_sample_f visit, void *param)
{
	static const char *const names[] = {"event", "transport"};
	struct family {
		const char *name, *help;
		unsigned long long evi_counter::*field;
	};
	static const family families[] = {
		{"opensips_evi_delivered_total",
		 "Events handed to a subscriber's transport, per event and transport",
		 &evi_counter::delivered},
		{"opensips_evi_dropped_total",
		 "Events dropped because a subscriber's queue was full",
		 &evi_counter::dropped},
		{"opensips_evi_failed_total",
		 "Events a transport failed to deliver", &evi_counter::failed},
	};
	std::vector<evi_counter> counters = evi_counters();
	for (const family &f : families) {
		if (counters.empty())
			visit(param, f.name, f.help, "counter", -1, nullptr, nullptr, 0);
		for (const evi_counter &c : counters) {
			const char *values[] = {c.event.c_str(), c.transport.c_str()};
			visit(param, f.name, f.help, "counter", 2, names, values,
			      (double)(c.*f.field));
		}
	}
}

void collect_uptime(shim_sample_f visit, void *param)
{
	visit(param, "opensips_uptime_seconds", "Seconds since the host started",
	      "gauge", 0, nullptr, nullptr,
	      (double)(time(nullptr) - shim_startup_time()));
}
} // namespace

void metrics_add_collector(sample_collector c)
{
	std::lock_guard<std::mutex> lk(g_mu);
	g_collectors.push_back(c);
}

} // namespace shim

extern "C" int shim_add_sample_collector(shim_sample_collector collect)
{
	if (!collect)
		return -1;
	shim::metrics_add_collector(collect);
	return 0;
}

extern "C" void shim_collect_samples(shim_sample_f visit, void *param)
{
	using namespace shim;
	if (!visit)
		return;

	collect_mi(visit, param);
	collect_evi(visit, param);
	std::vector<sample_collector> extra;
	{
		std::lock_guard<std::mutex> lk(g_mu);
		extra = g_collectors;
	}
	for (auto c : extra)
		c(visit, param);
	collect_uptime(visit, param);
}
