// The HTTP/1.1 request parser of httpd: a pure function over a byte buffer,
// no allocation beyond the header list, no I/O (unit-tested on its own).
//
// The connection code keeps at most limits.max_head + limits.max_body bytes
// of input and calls parse_request() again whenever more arrive; a complete
// request reports how many bytes it used, so pipelined requests are parsed
// one after the other from the same buffer.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace httpd {

struct limits {
	size_t max_head = 8192;     // request line + headers + blank line (431)
	size_t max_body = 65536;    // Content-Length (413)
	size_t max_headers = 64;    // header lines (431)
};

struct header {
	std::string_view name, value; // value without surrounding spaces
};

struct request {
	std::string_view method, target, path, query;
	int minor = 1;                 // HTTP/1.<minor>
	std::vector<header> headers;
	std::string_view body;
	size_t head_len = 0;           // bytes up to and including the blank line
	size_t content_length = 0;
	size_t consumed = 0;           // head_len + content_length when complete
	bool keep_alive = true;
	bool expect_continue = false;

	// First header called `name` (case-insensitive), or nullptr.
	const std::string_view *find(std::string_view name) const;
};

enum class parse_state {
	incomplete, // need more bytes (see headers_done)
	complete,   // `req` holds a request of req.consumed bytes
	error,      // answer `status` and close the connection
};

struct parse_result {
	parse_state state = parse_state::incomplete;
	int status = 0;           // for errors: 400, 411, 413, 431, 501, 505
	const char *why = "";     // for logs
	bool headers_done = false; // incomplete, but the head parsed (body due)
};

// Parses the first request in buf[0..len). Views in `req` point into buf.
parse_result parse_request(const char *buf, size_t len, const limits &lim,
                           request &req);

// "Basic <base64(user:pass)>" -> user, pass. false if not Basic or bad.
bool parse_basic_auth(std::string_view value, std::string &user,
                      std::string &pass);

// Standard reason phrase ("Not Found"), "Unknown" for others.
const char *reason_phrase(int status);

bool iequals(std::string_view a, std::string_view b);

} // namespace httpd
