// SIP parsing and stateless reply building (decisions.md §18).
#pragma once

#include <string>

#include "sip/sip_msg_impl.h"

namespace shim {

// Why a message was refused, in msg->parse_error (counted per reason:
// core:bad_msg_hdr, core:err_requests, sip:dropped/<reason>).
enum sip_parse_error {
	SIP_PARSE_OK = 0,
	SIP_PARSE_EMPTY,          // nothing, or no line break after the first line
	SIP_PARSE_FIRST_LINE,     // neither a request line nor a status line
	SIP_PARSE_HEADER,         // a header that does not parse
	SIP_PARSE_BODY,           // the body is shorter than Content-Length says
	SIP_PARSE_MISSING,        // a request without Via, From, To, Call-ID or CSeq
};
// The reason's name ("bad_header", ...).
const char *sip_parse_error_name(int e);

// Parses msg->buf/len into msg's fields. 0 on success; -1 when the message
// is malformed (bad first line, missing Via/From/To/Call-ID/CSeq, bad
// Content-Length, truncated body) and must be dropped and counted; the
// reason is in msg->parse_error. A header block that ends with the
// datagram (no empty line after the last header, or no line break after
// it) is complete when nothing more is announced (Content-Length absent or
// 0), as the reference takes it.
int sip_parse(sip_msg *msg);

// An ACK whose To tag this host made (the ACK of one of its stateless
// replies).
bool sip_is_local_ack(const sip_msg *msg);

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
