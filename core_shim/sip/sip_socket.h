// Opening the listening socket of a `socket = proto:ip:port` line.
#pragma once

#include <string>

#include "sip/sip_msg_impl.h"

namespace shim {

// Resolves s.ip (numeric), creates a non-blocking socket of `type`
// (SOCK_DGRAM / SOCK_STREAM) with SO_REUSEADDR, applies `rcvbuf` when > 0
// and binds it. Sets s.fd. -1 with *err ("cannot bind udp:...: ...").
int sip_socket_bind(sip_socket &s, int type, int rcvbuf, std::string &err);

} // namespace shim
