// A `socket = proto:ip:port` line of the cfg, as parsed (types only). The
// SIP fronts open it (sip/sip_socket.h) and keep its descriptor here.
#pragma once

#include <string>

namespace shim {

struct sip_socket {
	int proto = 1;          // 1 udp, 2 tcp
	std::string ip;         // "127.0.0.1"
	int port = 0;           // 5060
	std::string text;       // "udp:127.0.0.1:5060"
	int fd = -1;
};

} // namespace shim
