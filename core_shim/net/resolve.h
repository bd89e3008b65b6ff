// The host's measured resolver (shim_resolve_host, include/opensips/
// core_hooks.h) and its dns: statistics.
#pragma once

namespace shim {

// dns:dns_total_queries, dns:dns_slow_queries (over exec_dns_threshold).
int dns_stats_register();

} // namespace shim
