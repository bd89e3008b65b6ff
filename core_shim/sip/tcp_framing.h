// Framing of SIP messages on a byte stream (RFC 3261 §18.3): a message is
// its headers up to the first empty line, then Content-Length bytes of body.
// A pure function so it can be tested without sockets.
#pragma once

#include <stddef.h>

namespace shim {

enum class tcp_frame_status {
	complete,  // a whole message: `skip` bytes of CRLF keep-alive, then `length`
	partial,   // need more bytes (`skip` bytes of CRLF may be dropped already)
	oversized, // the message would not fit in `max_msg` bytes
	malformed, // unparsable Content-Length
};

struct tcp_frame {
	tcp_frame_status status = tcp_frame_status::partial;
	size_t skip = 0;   // leading CR/LF bytes (keep-alives) before the message
	size_t length = 0; // message length after `skip` (complete only)
};

// Looks for the first message in buf[0..len). Content-Length (or the compact
// form `l`) is looked up among the headers; when absent, the body is empty.
// A message (headers + body) longer than max_msg is `oversized`, detected
// as soon as the headers are complete or max_msg bytes arrived without an
// empty line.
tcp_frame tcp_frame_next(const char *buf, size_t len, size_t max_msg);

} // namespace shim
