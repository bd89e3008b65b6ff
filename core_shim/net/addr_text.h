// Addresses as text, on paths that run per datagram.
#pragma once

#include <netinet/in.h>

namespace shim {

// The dotted quad of `a` ("127.0.0.1"), NUL-terminated, into `out` (at
// least 16 bytes): what inet_ntop(AF_INET) writes, without the sprintf
// glibc's inet_ntop uses.
void ipv4_text(in_addr a, char *out);

} // namespace shim
