// The host's measured resolver (shim_resolve_host, include/opensips/
// core_hooks.h; shim_sockspec_resolve, include/opensips/net.h) and its dns:
// statistics.
#pragma once

#include <sys/socket.h>

namespace shim {

// dns:dns_total_queries, dns:dns_slow_queries (over exec_dns_threshold).
int dns_stats_register();

// One measured name lookup: counted in dns:dns_total_queries, timed against
// exec_dns_threshold (WARNING, dns:dns_slow_queries and the threshold hook
// when slower). `family` is AF_UNSPEC, AF_INET or AF_INET6; the first
// address found goes to `out` (port 0). Returns 0 or the getaddrinfo error
// (EAI_*, for gai_strerror); EAI_FAMILY when the answer has no address of a
// usable family.
int resolve_measured(const char *name, int family, struct sockaddr_storage *out,
                     socklen_t *out_len);

} // namespace shim
