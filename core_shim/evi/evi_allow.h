// The subscriber allow-list (host parameter `event_subscriber_allow`): which
// networks a network event socket (udp:, tcp:) may point at, so MI cannot
// be used to aim event floods at third parties. Unset = any (as OpenSIPS).
#pragma once

#include <string>

namespace shim {

// Parses "10.0.0.0/8, 127.0.0.1, ::1/128". Returns 0, or -1 with *err.
// An empty string clears the list (anything allowed).
int evi_allow_set(const std::string &spec, std::string &err);
// Is the socket "<proto>:<rest>" allowed? Local transports (unix,
// flatstore, route) always are; for udp/tcp every address the host part
// resolves to must be inside the list.
bool evi_allow_socket(const std::string &proto, const std::string &rest);

} // namespace shim
