// Fuzz target: httpd's HTTP/1.1 request parser (modules/httpd/http_parser.h),
// driven as the connection code drives it: requests parsed one after the
// other from the same buffer (pipelining), with the default limits and with
// tiny ones; Basic credentials of any Authorization header decoded.
//
// Checks: every view points inside the buffer; a complete request consumes
// head + Content-Length bytes; the same request cut short anywhere before
// its end is `incomplete` (never an error, never complete), and with more
// bytes after it gives the same request; errors carry a known status.
#include <string.h>

#include <string>

#include "fuzz.h"
#include "modules/httpd/http_parser.h"

using httpd::parse_state;

namespace {

void inside(const char *buf, size_t len, std::string_view v, const char *what)
{
	if (v.empty()) return;
	FUZZ_CHECK(v.data() >= buf && v.data() + v.size() <= buf + len,
	           "%s outside the buffer", what);
}

void check_cut(const char *buf, size_t cut, const httpd::limits &lim)
{
	httpd::request r;
	httpd::parse_result p = httpd::parse_request(buf, cut, lim, r);
	FUZZ_CHECK(p.state == parse_state::incomplete,
	           "cut at %zu gives state %d status %d (%s)", cut, (int)p.state, p.status,
	           p.why);
}

void one_pass(const char *buf, size_t len, const httpd::limits &lim)
{
	size_t off = 0;
	for (int n = 0; off < len; n++) {
		FUZZ_CHECK(n <= (int)len, "no progress");
		httpd::request req;
		const char *b = buf + off;
		size_t l = len - off;
		httpd::parse_result p = httpd::parse_request(b, l, lim, req);
		if (p.state == parse_state::error) {
			static const int ok[] = {400, 411, 413, 431, 501, 505};
			bool known = false;
			for (int s : ok) known |= p.status == s;
			FUZZ_CHECK(known, "error status %d (%s)", p.status, p.why);
			FUZZ_CHECK(strcmp(httpd::reason_phrase(p.status), "Unknown") != 0,
			           "no reason phrase for %d", p.status);
			return;
		}
		if (p.state == parse_state::incomplete) {
			if (p.headers_done) FUZZ_CHECK(req.head_len <= l, "head_len");
			return;
		}
		FUZZ_CHECK(p.headers_done, "complete without headers_done");
		FUZZ_CHECK(req.consumed == req.head_len + req.content_length &&
		               req.consumed <= l && req.consumed > 0,
		           "consumed %zu head %zu cl %zu len %zu", req.consumed, req.head_len,
		           req.content_length, l);
		FUZZ_CHECK(req.head_len <= lim.max_head + 64 + 2 &&
		               req.content_length <= lim.max_body &&
		               req.headers.size() <= lim.max_headers,
		           "limits exceeded");
		FUZZ_CHECK(req.body.size() == req.content_length &&
		               req.body.data() == b + req.head_len,
		           "body");
		FUZZ_CHECK(req.minor == 0 || req.minor == 1, "minor %d", req.minor);
		FUZZ_CHECK(!req.target.empty() && req.target[0] == '/', "target");
		inside(b, l, req.method, "method");
		inside(b, l, req.target, "target");
		inside(b, l, req.path, "path");
		inside(b, l, req.query, "query");
		for (auto &h : req.headers) {
			inside(b, l, h.name, "header name");
			inside(b, l, h.value, "header value");
			FUZZ_CHECK(!h.name.empty(), "empty header name");
			FUZZ_CHECK(req.find(h.name) != nullptr, "find");
			if (httpd::iequals(h.name, "Authorization")) {
				std::string user, pass;
				if (httpd::parse_basic_auth(h.value, user, pass))
					FUZZ_CHECK(user.find(':') == std::string::npos, "user with ':'");
			}
		}
		// cut short: incomplete; the request alone: the same request
		size_t c = req.consumed;
		check_cut(b, c - 1, lim);
		if (req.head_len > 1) check_cut(b, req.head_len - 1, lim);
		check_cut(b, c / 2, lim);
		httpd::request again;
		httpd::parse_result p2 = httpd::parse_request(b, c, lim, again);
		FUZZ_CHECK(p2.state == parse_state::complete && again.consumed == c &&
		               again.headers.size() == req.headers.size(),
		           "the request alone parses differently");
		off += c;
	}
}

} // namespace

FUZZ_TARGET(http)
{
	// exact-size copy: a read past the end is an ASan report
	char *buf = (char *)malloc(size ? size : 1);
	if (size) memcpy(buf, data, size);
	one_pass(buf, size, httpd::limits{});
	httpd::limits tiny;
	tiny.max_head = 64;
	tiny.max_body = 16;
	tiny.max_headers = 2;
	one_pass(buf, size, tiny);
	// the decoder on the raw bytes too
	std::string user, pass;
	httpd::parse_basic_auth(std::string_view(buf, size), user, pass);
	free(buf);
	return 0;
}
