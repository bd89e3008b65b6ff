// The SIP front's statistics: OpenSIPS's `core:` and `net:` groups, and
// ours under `sip:` (per worker, per drop reason). Registered once from
// main before the modules load, so the groups come in the reference's
// order (shmem, core, net, dns, then the modules').
#pragma once

#include "stats/stats.h"

namespace shim {

struct core_stats {
	stat_var *rcv_requests, *rcv_replies, *fwd_requests, *fwd_replies,
	    *drop_requests, *drop_replies, *err_requests, *err_replies,
	    *bad_URIs_rcvd, *bad_msg_hdr, *slow_messages;
};
extern core_stats g_core_stats;

// core: and net: (reference names and order). 0 / -1.
int sip_stats_register();

// Per-worker statistics of the calling receiver thread, registered on its
// first message (sip:received/<id>, sip:replied/<id>, sip:malformed/<id>).
struct worker_stats {
	stat_var *received, *replied, *malformed;
};
worker_stats *sip_worker_stats();
// sip:dropped/<reason>, one per sip_parse_error reason.
stat_var *sip_drop_stat(int reason);

} // namespace shim
