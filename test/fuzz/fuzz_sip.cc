// Fuzz target: the SIP parser (sip_parse) and, for requests it accepts, the
// stateless reply builder (sip_build_reply); also the TCP stream framing
// (tcp_frame_next) over the same bytes.
//
// Checks: every str the parser keeps points inside the message; a reply
// starts with the status line and ends with the empty line; a complete TCP
// frame lies inside the buffer.
#include <string.h>

#include <string>

#include "fuzz.h"
#include "sip/sip_parser.h"
#include "sip/tcp_framing.h"

namespace {

void inside(const sip_msg &m, const str &s, const char *what)
{
	if (!s.s) {
		FUZZ_CHECK(s.len == 0, "%s: NULL with length %d", what, s.len);
		return;
	}
	FUZZ_CHECK(s.len >= 0 && s.s >= m.buf && s.s + s.len <= m.buf + m.len,
	           "%s points outside the message (offset %td, len %d, msg %d)", what,
	           s.s - m.buf, s.len, m.len);
}

} // namespace

FUZZ_TARGET(sip)
{
	// exact-size copy: a read past the end is an ASan report
	char *buf = (char *)malloc(size ? size : 1);
	if (size) memcpy(buf, data, size);

	sip_msg msg;
	msg.buf = buf;
	msg.len = (int)size;
	if (shim::sip_parse(&msg) == 0) {
		inside(msg, msg.method, "method");
		inside(msg, msg.ruri, "ruri");
		inside(msg, msg.ruri_user, "ruri_user");
		inside(msg, msg.version, "version");
		for (const str &v : msg.vias) inside(msg, v, "via");
		inside(msg, msg.from_line, "from_line");
		inside(msg, msg.to_line, "to_line");
		inside(msg, msg.callid_line, "callid_line");
		inside(msg, msg.cseq_line, "cseq_line");
		inside(msg, msg.from, "from");
		inside(msg, msg.to, "to");
		inside(msg, msg.callid, "callid");
		inside(msg, msg.cseq, "cseq");
		inside(msg, msg.from_tag, "from_tag");
		inside(msg, msg.to_tag, "to_tag");
		inside(msg, msg.cseq_method, "cseq_method");
		inside(msg, msg.body, "body");
		if (msg.is_request) {
			// (replies are accepted with any headers: the worker drops them)
			FUZZ_CHECK(!msg.vias.empty() && msg.from_line.s && msg.to_line.s &&
			               msg.callid_line.s && msg.cseq_line.s,
			           "request accepted without Via/From/To/Call-ID/CSeq");
			std::string out;
			int rc = shim::sip_build_reply(&msg, 200, "OK", 2, "fuzz", out);
			FUZZ_CHECK(rc == 0, "reply to a parsed request failed");
			FUZZ_CHECK(out.rfind("SIP/2.0 200 OK\r\n", 0) == 0, "status line");
			FUZZ_CHECK(out.size() >= 4 && out.compare(out.size() - 4, 4, "\r\n\r\n") == 0,
			           "reply does not end with an empty line");
			out.clear();
			rc = shim::sip_build_reply(&msg, 503, "Service Unavailable", 19,
			                           std::string(), out);
			FUZZ_CHECK(rc == 0, "second reply failed");
		} else {
			std::string out;
			FUZZ_CHECK(shim::sip_build_reply(&msg, 200, "OK", 2, "fuzz", out) < 0,
			           "reply to a reply");
		}
	}

	for (size_t max : {(size_t)65535, (size_t)512}) {
		shim::tcp_frame f = shim::tcp_frame_next(buf, size, max);
		FUZZ_CHECK(f.skip <= size, "skip %zu > %zu", f.skip, size);
		if (f.status == shim::tcp_frame_status::complete) {
			FUZZ_CHECK(f.length > 0 && f.skip + f.length <= size && f.length <= max,
			           "frame %zu+%zu of %zu (max %zu)", f.skip, f.length, size, max);
		}
	}
	free(buf);
	return 0;
}
