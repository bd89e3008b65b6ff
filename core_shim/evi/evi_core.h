// The Event Interface core (spec §2, design.md decision 5, decisions.md §3,
// §7, §26, §29). Module-facing API: include/opensips/evi.h and
// include/opensips/evi_transport.h; this is the host-facing side.
// See docs/internals/evi.md for queues, locking and threads.
#pragma once

#include <ctime>
#include <string>
#include <vector>

#include "opensips/evi.h"
#include "opensips/evi_transport.h"
#include "opensips/sr_module.h"

namespace shim {

// ---- startup (main thread) ----
// Registers the `evi:*` MI commands, the built-in `route` transport and the
// periodic purge timer (every 5 s). Call before modules init. 0 / -1.
int evi_init();
// evi: statistics (evi_stats.cc): the per-item refresher. Main thread.
void evi_stats_register();
// Adds `EVI sender` to the roster and starts it; when the script has
// event_route blocks, also `event_route worker`. Call after the SIP
// receivers are started (our threads come last, decisions.md §14). 0 / -1.
int evi_start_sender_thread();

// ---- subscriptions ----
// evi_event_subscribe() of OpenSIPS: `socket` is "<proto>:<rest>";
// `unsubscribe` is the MI path (expire 0 keeps EVI_EXPIRE with lifetime 0).
// 0 ok, -1 unknown event / transport / bad socket, -2 internal error.
int evi_subscribe(const str &event, const str &socket, unsigned int expire,
                  bool unsubscribe);
// Removes every expired subscriber now (what the timer runs).
void evi_purge_expired();

// cfg_fixup (main thread): publishes `name` unless known (no warning);
// returns its id or EVI_ERROR.
event_id_t evi_publish_script_name(const std::string &name);

// ---- delivery ----
constexpr unsigned int EVI_QUEUE_SIZE = 4096; // jobs per subscriber
// The fewest free queue slots among the event's subscribers (SIZE_MAX with
// no subscriber): lets a producer hand over a batch only when it fits.
size_t evi_min_queue_room(event_id_t id);
constexpr int EVI_MAX_REC_LEV = 100;          // nested raises
// Delivers queued jobs on the calling thread (the sender's work; tests
// call it directly). At most `budget` jobs; returns how many were handled.
// Also frees subscribers that were removed and whose queue is empty.
size_t evi_dispatch_pending(size_t budget);
// The same for the `route` transport's jobs (the event_route worker's work).
size_t evi_route_dispatch_pending(size_t budget);

// ---- counters (metrics: opensips_evi_*_total{event,transport}) ----
struct evi_counter {
	std::string event;
	std::string transport; // proto: "udp", "tcp", "route", ...
	unsigned long long delivered = 0, dropped = 0, failed = 0;
};
// Sums per (event, transport) over live and removed subscribers (monotonic).
std::vector<evi_counter> evi_counters();

struct evi_subscriber_stat {
	std::string event;
	std::string socket; // "<proto>:<printed>"
	unsigned long long delivered = 0, dropped = 0, failed = 0, queued = 0;
	unsigned long long inflight = 0;
	// members of a composite subscriber (event_virtual), in order
	struct member {
		std::string socket;
		unsigned long long delivered = 0, failed = 0, dropped = 0;
		bool skipped = false;
	};
	std::vector<member> members;
};
// Live subscribers of `id` (every event when id < 0), newest first.
std::vector<evi_subscriber_stat> evi_subscriber_stats(event_id_t id);

// ---- script (core functions raise_event / subscribe_event) ----
// The host's own script functions, found by the cfg parser before modules'.
const cmd_export_t *evi_find_script_cmd(const std::string &name);

// ---- tests ----
// Replaces the clock used for expiry (NULL restores time()).
void evi_set_time_source(time_t (*now)(void));
time_t evi_now();
// Drops every event, subscriber, queued job and transport (except `route`).
// Only when no other thread uses the EVI.
void evi_reset();

} // namespace shim
