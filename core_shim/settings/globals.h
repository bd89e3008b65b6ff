// The settings layer, at the bottom of the host: the core (global)
// parameters set by `name = value` lines (spec §7.1, decisions.md §16) and
// the socket descriptions, as types and values only. Read by every
// subsystem after the cfg is parsed; written only by the cfg parser
// (cfg/globals.cc) on the main thread before threads start (log levels are
// later changed through MI with atomics elsewhere). Includes nothing of the
// host's.
#pragma once

#include <string>
#include <vector>

#include "settings/socket-t.h"

namespace shim {

struct core_globals {
	// logging
	int log_level = 2;
	bool stderror_enabled = true;
	bool syslog_enabled = false;
	int stderror_level_filter = 0, syslog_level_filter = 0;
	int log_event_level_filter = 0;
	std::string stderror_log_format = "plain_text", syslog_log_format = "plain_text";
	bool log_stdout = false;
	std::string log_prefix;
	bool log_event_enabled = false;
	int log_msg_buf_size = 4096, log_json_buf_size = 6144;
	std::string syslog_facility = "LOG_DAEMON", syslog_name;
	bool debug_mode = false;
	int xlog_level = 2, xlog_print_level = 2;

	// workers and sockets
	int udp_workers = 8, tcp_workers = 8, timer_workers = 1;
	std::string udp_workers_profile, tcp_workers_profile, timer_workers_profile;
	std::vector<sip_socket> sockets;
	std::vector<std::string> mpath;

	// thresholds and auto-scaling (accepted; used by later issues)
	int exec_msg_threshold = 0, exec_dns_threshold = 0, tcp_threshold = 0;
	int event_pkg_threshold = 0, event_shm_threshold = 0;
	std::vector<std::string> auto_scaling_profiles; // raw text of each
	int auto_scaling_cycle = 1;

	// ours
	std::string server_header;           // SIP Server header override
	bool auto_load_core_modules = true;  // decisions.md §1
	bool mi_list_aliases = false;        // decisions.md §6
	// ms between announcing TERMINATING and stopping the threads, so
	// health probes can see "shutting down" (/livez 503) before the
	// listeners close. 0 = stop at once.
	int shutdown_grace = 0;
	// microseconds a receiver keeps polling its socket after a batch
	// before it sleeps (include/opensips/net.h); 0 = off
	int busy_poll_usec = 0;
	// datagram batches may leave as UDP_SEGMENT sends (net/send_datagrams.cc)
	bool udp_gso = false;
};

extern core_globals g_globals;

} // namespace shim
