// shim_resolve_host (include/opensips/core_hooks.h) and the lookups of
// shim_sockspec_resolve (include/opensips/net.h, net/sockspec.cc): a name
// lookup measured against exec_dns_threshold (spec §3 E_CORE_THRESHOLD,
// source "dns"), all through resolve_measured.
//
// Over the threshold (strictly longer, µs) it logs a WARNING and calls
// g_core_hooks.threshold("dns", took, name) on the calling thread, every
// time (no suppression, as OpenSIPS).
//
// Test-only: shim_set_resolve_delay_for_tests(us) makes every lookup sleep
// `us` microseconds inside the measured section, so tests (testmod's
// `resolve_delay_us` modparam) can cross the threshold on purpose. It is
// not part of the module API and is not declared in include/.
#include <arpa/inet.h>
#include <netdb.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <atomic>

#include "api/hooks.h"
#include "settings/globals.h"
#include "opensips/core_hooks.h"
#include "net/resolve.h"
#include "opensips/dprint.h"
#include "stats/stats.h"

namespace {

std::atomic<int> g_test_delay_us{0};
stat_var *g_dns_total, *g_dns_slow;

long long now_us()
{
	timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

} // namespace

int shim::dns_stats_register()
{
	if (register_stat("dns", "dns_total_queries", &g_dns_total, 0) < 0 ||
	    register_stat("dns", "dns_slow_queries", &g_dns_slow, 0) < 0)
		return -1;
	return 0;
}

extern "C" __attribute__((visibility("default"))) void
shim_set_resolve_delay_for_tests(int us)
{
	g_test_delay_us.store(us > 0 ? us : 0);
}

int shim::resolve_measured(const char *name, int family, struct sockaddr_storage *out,
                           socklen_t *out_len)
{
	if (!name || !*name)
		return EAI_NONAME;
	const int threshold = shim::g_globals.exec_dns_threshold;
	const long long start = threshold > 0 ? now_us() : 0;

	struct addrinfo hints;
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = family;
	hints.ai_socktype = SOCK_DGRAM;
	struct addrinfo *res = nullptr;
	update_stat(g_dns_total, 1);
	int rc = getaddrinfo(name, nullptr, &hints, &res);
	if (int d = g_test_delay_us.load(std::memory_order_relaxed))
		usleep((useconds_t)d);

	if (rc == 0) {
		rc = EAI_FAMILY;
		for (struct addrinfo *ai = res; ai; ai = ai->ai_next) {
			if ((ai->ai_family != AF_INET && ai->ai_family != AF_INET6) ||
			    ai->ai_addrlen > sizeof(struct sockaddr_storage))
				continue;
			if (out) {
				memset(out, 0, sizeof(*out));
				memcpy(out, ai->ai_addr, ai->ai_addrlen);
			}
			if (out_len)
				*out_len = ai->ai_addrlen;
			rc = 0;
			break;
		}
	}
	if (res)
		freeaddrinfo(res);
	if (rc != 0)
		LM_DBG("cannot resolve '%s': %s\n", name, gai_strerror(rc));

	if (threshold > 0) {
		long long took = now_us() - start;
		if (took > threshold) {
			update_stat(g_dns_slow, 1);
			LM_WARN("threshold exceeded: dns lookup of '%s' took %lld us "
			        "(limit %d us)\n", name, took, threshold);
			if (auto f = shim::g_core_hooks.threshold)
				f("dns", (int)took, name, (int)strlen(name));
		}
	}
	return rc;
}

extern "C" int shim_resolve_host(const char *name, char *ip_out, int ip_len)
{
	if (!name || !*name)
		return -1;
	struct sockaddr_storage ss;
	socklen_t len = 0;
	if (shim::resolve_measured(name, AF_UNSPEC, &ss, &len) != 0)
		return -1;
	char buf[INET6_ADDRSTRLEN] = "";
	const void *addr = ss.ss_family == AF_INET
	                       ? (const void *)&((struct sockaddr_in *)&ss)->sin_addr
	                       : (const void *)&((struct sockaddr_in6 *)&ss)->sin6_addr;
	if (!inet_ntop(ss.ss_family, addr, buf, sizeof(buf)))
		return -1;
	if (ip_out && ip_len > 0)
		snprintf(ip_out, (size_t)ip_len, "%s", buf);
	return 0;
}
