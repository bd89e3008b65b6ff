// The host side of shim_send_datagrams (include/opensips/net.h): its
// statistics.
#pragma once

namespace shim {

// net:udp_gso_sends (segmented sends the kernel took) and
// net:udp_gso_datagrams (the datagrams they carried); registered only when
// udp_gso is on.
int udp_gso_stats_register();

} // namespace shim
