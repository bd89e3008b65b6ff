// The C ABI accessors of include/opensips/sip_msg.h over the host's
// struct sip_msg (sip/sip_msg_impl.h).
#include "opensips/sip_msg.h"

#include <string.h>

#include <new>
#include <string>

#include "opensips/dprint.h"
#include "sip/sip_msg_impl.h"
#include "sip/sip_parser.h"

namespace {

str or_empty(const str &s)
{
	if (!s.s)
		return str{(char *)"", 0};
	return s;
}

} // namespace

extern "C" {

unsigned int sip_msg_id(const struct sip_msg *msg)
{
	return msg ? msg->id : 0;
}

str sip_msg_method(const struct sip_msg *msg)
{
	return msg ? or_empty(msg->method) : str{(char *)"", 0};
}

str sip_msg_ruri(const struct sip_msg *msg)
{
	return msg ? or_empty(msg->ruri) : str{(char *)"", 0};
}

str sip_msg_callid(const struct sip_msg *msg)
{
	return msg ? or_empty(msg->callid) : str{(char *)"", 0};
}

int sip_msg_send_reply(struct sip_msg *msg, int code, const char *reason,
                       int reason_len)
{
	if (!msg || !msg->is_request)
		return -1;
	// ACK gets no reply (decisions §18).
	if (msg->method.len == 3 && memcmp(msg->method.s, "ACK", 3) == 0)
		return -1;
	if (!msg->send) {
		LM_ERR("no way back to the sender of this request\n");
		return -1;
	}
	thread_local std::string out; // capacity kept: no allocation per reply
	try {
		if (shim::sip_build_reply(msg, code, reason, reason_len,
		                          shim::sip_server_header(), out) < 0) {
			LM_ERR("cannot build a %d reply\n", code);
			return -1;
		}
	} catch (const std::bad_alloc &) {
		LM_ERR("out of memory building a %d reply\n", code);
		return -1;
	}
	if (msg->send(msg, out.data(), (int)out.size()) < 0)
		return -1;
	msg->replied = 1;
	return 1;
}

} // extern "C"
