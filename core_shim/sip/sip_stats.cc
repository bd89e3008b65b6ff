#include "sip/sip_stats.h"

#include <linux/sockios.h>
#include <sys/ioctl.h>
#include <time.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <string>

#include "settings/globals.h"
#include "opensips/host.h"
#include "proc/roster.h"
#include "sip/sip_parser.h"

namespace shim {

core_stats g_core_stats;

namespace {

unsigned long since_start(void *)
{
	return (unsigned long)(time(nullptr) - shim_startup_time());
}

// Bytes queued on the UDP SIP sockets, not yet read by a worker.
unsigned long waiting_udp(void *)
{
	unsigned long total = 0;
	for (const sip_socket &s : g_globals.sockets) {
		int n = 0;
		if (s.proto == 1 && s.fd >= 0 && ioctl(s.fd, SIOCINQ, &n) == 0 && n > 0)
			total += (unsigned long)n;
	}
	return total;
}

// Bytes received on TCP connections to our SIP ports, not yet read: the
// kernel's rx_queue of each such connection (/proc/net/tcp{,6}).
unsigned long waiting_tcp(void *)
{
	bool any = false;
	for (const sip_socket &s : g_globals.sockets)
		any |= s.proto == 2;
	if (!any)
		return 0;
	unsigned long total = 0;
	for (const char *path : {"/proc/net/tcp", "/proc/net/tcp6"}) {
		FILE *f = fopen(path, "r");
		if (!f)
			continue;
		char line[512];
		if (!fgets(line, sizeof line, f)) { // header
			fclose(f);
			continue;
		}
		while (fgets(line, sizeof line, f)) {
			char local[128], remote[128];
			unsigned st = 0, txq = 0, rxq = 0;
			if (sscanf(line, "%*d: %127s %127s %x %x:%x", local, remote, &st, &txq, &rxq) != 5)
				continue;
			const char *colon = strrchr(local, ':');
			if (!colon || st == 0x0A) // skip listening sockets
				continue;
			int port = (int)strtol(colon + 1, nullptr, 16);
			for (const sip_socket &s : g_globals.sockets)
				if (s.proto == 2 && s.port == port) {
					total += rxq;
					break;
				}
		}
		fclose(f);
	}
	return total;
}

// registered on the first drop of each reason; the mutex only guards that
// registration, so a flood of garbage costs each worker one acquire load
std::mutex g_drop_mu;
std::atomic<stat_var *> g_drops[8];

} // namespace

int sip_stats_register()
{
	core_stats &c = g_core_stats;
	struct {
		const char *name;
		stat_var **v;
	} core[] = {
		{"rcv_requests", &c.rcv_requests}, {"rcv_replies", &c.rcv_replies},
		{"fwd_requests", &c.fwd_requests}, {"fwd_replies", &c.fwd_replies},
		{"drop_requests", &c.drop_requests}, {"drop_replies", &c.drop_replies},
		{"err_requests", &c.err_requests}, {"err_replies", &c.err_replies},
		{"bad_URIs_rcvd", &c.bad_URIs_rcvd}, {"bad_msg_hdr", &c.bad_msg_hdr},
		{"slow_messages", &c.slow_messages},
	};
	for (auto &e : core)
		if (register_stat("core", e.name, e.v, 0) < 0)
			return -1;
	if (register_stat2("core", "timestamp", (stat_var **)(void *)since_start,
	                   STAT_IS_FUNC, nullptr, 0) < 0 ||
	    register_stat2("net", "waiting_udp", (stat_var **)(void *)waiting_udp,
	                   STAT_IS_FUNC, nullptr, 0) < 0 ||
	    register_stat2("net", "waiting_tcp", (stat_var **)(void *)waiting_tcp,
	                   STAT_IS_FUNC, nullptr, 0) < 0)
		return -1;
	return 0;
}

worker_stats *sip_worker_stats()
{
	thread_local worker_stats ws{};
	if (!ws.received) {
		proc_entry *self = roster_self();
		std::string id = std::to_string(self ? self->id : -1);
		const char *names[] = {"worker"};
		const char *values[] = {id.c_str()};
		ws.received = register_item_stat(
		    "sip", "received", "SIP datagrams and stream messages received, per worker",
		    0, 1, names, values);
		ws.replied = register_item_stat(
		    "sip", "replied", "SIP requests answered by the script, per worker", 0, 1,
		    names, values);
		ws.malformed = register_item_stat(
		    "sip", "malformed", "SIP messages dropped as malformed, per worker", 0, 1,
		    names, values);
	}
	return &ws;
}

stat_var *sip_drop_stat(int reason)
{
	if (reason <= 0 || reason >= 8)
		return nullptr;
	if (stat_var *v = g_drops[reason].load(std::memory_order_acquire))
		return v;
	std::lock_guard<std::mutex> lk(g_drop_mu);
	stat_var *v = g_drops[reason].load(std::memory_order_relaxed);
	if (!v) {
		const char *names[] = {"reason"};
		const char *values[] = {sip_parse_error_name(reason)};
		v = register_item_stat("sip", "dropped", "SIP messages dropped unparsed, per reason",
		                       0, 1, names, values);
		g_drops[reason].store(v, std::memory_order_release);
	}
	return v;
}

} // namespace shim
