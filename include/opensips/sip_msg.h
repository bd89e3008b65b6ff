/* SIP message handle as seen by modules: opaque, with accessors. */
#ifndef OPENSIPS_SIP_MSG_H
#define OPENSIPS_SIP_MSG_H

#include "str.h"

#ifdef __cplusplus
extern "C" {
#endif

struct sip_msg;

/* A per-thread counter identifying the message (OpenSIPS msg->id). */
unsigned int sip_msg_id(const struct sip_msg *msg);
/* Method, R-URI, Call-ID; empty str when absent. */
str sip_msg_method(const struct sip_msg *msg);
str sip_msg_ruri(const struct sip_msg *msg);
str sip_msg_callid(const struct sip_msg *msg);
/* Sends a stateless reply to the request's source. 1 on success, -1 on
 * failure (not a request, ACK, already unreachable...). */
int sip_msg_send_reply(struct sip_msg *msg, int code, const char *reason,
                       int reason_len);

/* Called, on the receiving worker, for an ACK that answers one of the
 * host's stateless replies (its To tag is one the host made); such ACKs
 * are counted in core:drop_requests and do not run the script. One owner
 * (sl): 0, or -1 when another callback is set. */
typedef void (*sip_local_ack_f)(const struct sip_msg *msg);
int sip_set_local_ack_cb(sip_local_ack_f f);

#ifdef __cplusplus
}
#endif
#endif
