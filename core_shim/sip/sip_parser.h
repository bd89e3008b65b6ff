// SIP parsing and stateless reply building (decisions.md §18).
#pragma once

#include <string>

#include "sip/sip_msg_impl.h"

namespace shim {

// Parses msg->buf/len into msg's fields. 0 on success; -1 when the message
// is malformed (bad first line, missing Via/From/To/Call-ID/CSeq, bad
// Content-Length, truncated body) and must be dropped and counted.
int sip_parse(sip_msg *msg);

// Builds a stateless reply to a parsed request: status line, every Via, From,
// To (adding ";tag=<tag>" when it had none), Call-ID, CSeq, then
// "Server: <server>" and "Content-Length: 0". Returns 0, or -1 when the
// message is not a request.
int sip_build_reply(const sip_msg *msg, int code, const char *reason,
                    int reason_len, const std::string &server,
                    std::string &out);

// The value of the Server header on replies: the core param `server_header`
// when set, else "opensips-shim (<version>)".
const std::string &sip_server_header();
void sip_set_server_header(const std::string &value);

} // namespace shim
