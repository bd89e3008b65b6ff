// The common receive path of every SIP transport (UDP, TCP): parse, count,
// run the request route, measure against exec_msg_threshold.
#pragma once

#include "sip/sip_msg_impl.h"

namespace shim {

struct sip_counters;

// msg has buf/len, source, rcv and send set. Returns 0 when the message was
// routed, -1 when it was dropped (malformed, or a reply).
int receive_msg(sip_msg *msg, sip_counters *counters);

// The request the calling thread is routing (inside receive_msg's script
// run), or NULL: what raised events take their Call-ID from.
const sip_msg *sip_current_msg();

} // namespace shim
