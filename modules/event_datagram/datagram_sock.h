// event_datagram internals: the `udp` and `unix` EVI transports (spec §2.6).
//
// A subscriber socket is a dgram_sock; the host only sees its embedded
// evi_reply_sock (`rs`, whose priv points back at the dgram_sock). Sockets
// are immutable after parse except for the failure counters, so `raise` may
// run on any thread without a lock (its batch is the calling thread's).
#pragma once

#include <atomic>
#include <string>

#include <netinet/in.h>
#include <sys/socket.h>
#include <time.h>

#include "opensips/evi_transport.h"

// Internal to the module: only `exports` leaves the .so.
#pragma GCC visibility push(hidden)

namespace evdgram {

// The README's maximum event length: the payload buffer's size.
constexpr int max_event_len = 65457;

enum class kind { udp, unix_path };

struct dgram_sock {
	evi_reply_sock rs{};            // what the host holds (rs.priv == this)
	kind k = kind::udp;
	struct sockaddr_storage addr{}; // sockaddr_in or sockaddr_un
	socklen_t addr_len = 0;
	std::string printed;            // "host:port" or "/path"
	std::atomic<unsigned long> failed{0};
	std::atomic<unsigned long> failed_unlogged{0};
	std::atomic<time_t> last_log{0};
};

// The transport callbacks (also reachable by the unit tests).
evi_reply_sock *parse_udp(str socket);
evi_reply_sock *parse_unix(str socket);
int match(evi_reply_sock *a, evi_reply_sock *b);
void free_sock(evi_reply_sock *sock);
str print(evi_reply_sock *sock);
// A run of events to one socket, one sendmmsg (ABI v2).
int raise(evi_delivery *d);

// Opens the two sending sockets (idempotent). 0 / -1.
int open_senders();
void close_senders();

extern const evi_export_t udp_export;
extern const evi_export_t unix_export;

} // namespace evdgram

#pragma GCC visibility pop
