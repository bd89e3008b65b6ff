// The UDP SIP front: sockets bound at startup, one receiver thread per
// udp_workers per socket, each draining the shared socket from its own
// loop (decisions.md §18-19).
#pragma once

#include <atomic>
#include <string>

namespace shim {

struct sip_counters {
	std::atomic<unsigned long> received{0};
	std::atomic<unsigned long> replied{0};
	std::atomic<unsigned long> malformed{0};
	std::atomic<unsigned long> dropped_replies{0}; // SIP replies received
};

// Binds every udp socket of g_globals.sockets. -1 with *err on failure.
int udp_sockets_open(std::string &err);
// Registers the receiver threads in the roster and starts them.
void udp_receivers_start();
void udp_sockets_close();
// Totals over all receivers.
void udp_counters_total(unsigned long *received, unsigned long *replied,
                        unsigned long *malformed);

} // namespace shim
