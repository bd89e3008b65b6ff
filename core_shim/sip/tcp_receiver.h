// The TCP SIP front (docs/internals/tcp.md): listening sockets bound at
// startup; a `TCP main` thread accepts and hands each connection to one of
// the `TCP receiver` threads (the least loaded); the receiver frames SIP
// messages (sip/tcp_framing.h), runs them through receive_msg and writes
// replies back on the same connection.
#pragma once

#include <stddef.h>

#include <string>

namespace shim {

struct sip_counters;

// A message (headers + body) larger than this closes its connection.
constexpr size_t kTcpMaxMessage = 65536;
// A connection holding part of a message is closed after this long without
// new bytes (seconds).
constexpr double kTcpPartialTimeout = 30.0;
// A connection with nothing buffered is closed after this long without
// traffic (seconds; OpenSIPS's tcp_connection_lifetime default).
constexpr double kTcpIdleLifetime = 120.0;
// Replies not yet accepted by the kernel, per connection; beyond this the
// send fails and the connection is closed.
constexpr size_t kTcpMaxOutput = 262144;

// Binds and listens on every tcp socket of g_globals.sockets. -1 with *err.
int tcp_sockets_open(std::string &err);
// Registers and starts `tcp_workers` TCP receivers, then TCP main (roster
// order of decisions.md §14). Nothing when there is no tcp socket.
void tcp_threads_start();
// Closes the listening sockets (after the threads are stopped).
void tcp_sockets_close();
// Totals over all TCP receivers.
void tcp_counters_total(unsigned long *received, unsigned long *replied,
                        unsigned long *malformed);
// Open connections over all receivers.
int tcp_connections_open();

} // namespace shim
