#include "http_parser.h"

#include <cstring>

namespace httpd {
namespace {

bool is_tchar(unsigned char c)
{
	if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))
		return true;
	return c != 0 && strchr("!#$%&'*+-.^_`|~", c) != nullptr;
}

unsigned char lower(unsigned char c) { return (c >= 'A' && c <= 'Z') ? c + 32 : c; }

std::string_view trim(std::string_view s)
{
	while (!s.empty() && (s.front() == ' ' || s.front() == '\t'))
		s.remove_prefix(1);
	while (!s.empty() && (s.back() == ' ' || s.back() == '\t'))
		s.remove_suffix(1);
	return s;
}

parse_result fail(int status, const char *why)
{
	parse_result r;
	r.state = parse_state::error;
	r.status = status;
	r.why = why;
	return r;
}

// Does the comma-separated list `v` contain token `tok`?
bool has_token(std::string_view v, std::string_view tok)
{
	while (!v.empty()) {
		size_t c = v.find(',');
		std::string_view item = trim(v.substr(0, c));
		if (iequals(item, tok))
			return true;
		if (c == std::string_view::npos)
			break;
		v.remove_prefix(c + 1);
	}
	return false;
}

int b64_value(unsigned char c)
{
	if (c >= 'A' && c <= 'Z') return c - 'A';
	if (c >= 'a' && c <= 'z') return c - 'a' + 26;
	if (c >= '0' && c <= '9') return c - '0' + 52;
	if (c == '+') return 62;
	if (c == '/') return 63;
	return -1;
}

} // namespace

bool iequals(std::string_view a, std::string_view b)
{
	if (a.size() != b.size())
		return false;
	for (size_t i = 0; i < a.size(); i++)
		if (lower((unsigned char)a[i]) != lower((unsigned char)b[i]))
			return false;
	return true;
}

const std::string_view *request::find(std::string_view name) const
{
	for (const header &h : headers)
		if (iequals(h.name, name))
			return &h.value;
	return nullptr;
}

parse_result parse_request(const char *buf, size_t len, const limits &lim,
                           request &req)
{
	req = request{};
	size_t pos = 0;
	// RFC 9112 §2.2: ignore empty lines before the request line (a client
	// may send CRLF after a POST body).
	while (pos < len && (buf[pos] == '\r' || buf[pos] == '\n'))
		pos++;
	if (pos > 64)
		return fail(400, "too many empty lines");
	size_t start = pos;

	// Find the end of the head: the first empty line. Lines end with LF,
	// optionally preceded by CR.
	size_t scan_end = len < start + lim.max_head ? len : start + lim.max_head;
	size_t head_end = 0; // index after the blank line
	size_t line_start = start;
	bool found = false;
	for (size_t i = start; i < scan_end; i++) {
		unsigned char c = (unsigned char)buf[i];
		if (c == '\n') {
			size_t line_len = i - line_start;
			if (line_len > 0 && buf[i - 1] == '\r')
				line_len--;
			if (line_len == 0 && line_start != start) {
				head_end = i + 1;
				found = true;
				break;
			}
			line_start = i + 1;
		} else if (c == 0) {
			return fail(400, "NUL byte in the head");
		}
	}
	if (!found) {
		if (len - start >= lim.max_head)
			return fail(431, "request head too large");
		// A request line that cannot be HTTP is refused early, so garbage
		// is answered at once instead of waiting for the timeout.
		for (size_t i = start; i < len && i < start + 32; i++) {
			unsigned char c = (unsigned char)buf[i];
			if (c == ' ')
				break;
			if (!is_tchar(c))
				return fail(400, "bad method");
		}
		return parse_result{};
	}

	// ---- lines ----
	std::vector<std::string_view> lines;
	{
		size_t ls = start;
		for (size_t i = start; i < head_end; i++) {
			if (buf[i] != '\n')
				continue;
			size_t l = i - ls;
			if (l > 0 && buf[i - 1] == '\r')
				l--;
			if (l == 0)
				break;
			lines.emplace_back(buf + ls, l);
			ls = i + 1;
		}
	}
	if (lines.empty())
		return fail(400, "no request line");
	if (lines.size() - 1 > lim.max_headers)
		return fail(431, "too many headers");

	// ---- request line: METHOD SP target SP HTTP/1.x ----
	std::string_view rl = lines[0];
	size_t sp1 = rl.find(' ');
	if (sp1 == std::string_view::npos || sp1 == 0)
		return fail(400, "bad request line");
	size_t sp2 = rl.find(' ', sp1 + 1);
	if (sp2 == std::string_view::npos || sp2 == sp1 + 1)
		return fail(400, "bad request line");
	req.method = rl.substr(0, sp1);
	req.target = rl.substr(sp1 + 1, sp2 - sp1 - 1);
	std::string_view ver = rl.substr(sp2 + 1);
	for (unsigned char c : req.method)
		if (!is_tchar(c))
			return fail(400, "bad method");
	for (unsigned char c : req.target)
		if (c <= 0x20 || c >= 0x7f)
			return fail(400, "bad request target");
	if (ver.size() != 8 || ver.substr(0, 5) != "HTTP/")
		return fail(400, "bad version");
	if (ver[5] != '1' || ver[6] != '.' || (ver[7] != '0' && ver[7] != '1'))
		return fail(505, "unsupported HTTP version");
	req.minor = ver[7] - '0';
	if (req.target.empty() || req.target[0] != '/')
		return fail(400, "only origin-form targets are served");
	size_t q = req.target.find('?');
	req.path = req.target.substr(0, q);
	if (q != std::string_view::npos)
		req.query = req.target.substr(q + 1);
	size_t hash = req.query.find('#');
	if (hash != std::string_view::npos)
		req.query = req.query.substr(0, hash);

	// ---- headers ----
	req.headers.reserve(lines.size() - 1);
	bool have_cl = false;
	for (size_t i = 1; i < lines.size(); i++) {
		std::string_view l = lines[i];
		if (l[0] == ' ' || l[0] == '\t')
			return fail(400, "obsolete line folding");
		size_t colon = l.find(':');
		if (colon == std::string_view::npos || colon == 0)
			return fail(400, "bad header line");
		std::string_view name = l.substr(0, colon);
		for (unsigned char c : name)
			if (!is_tchar(c))
				return fail(400, "bad header name");
		std::string_view value = trim(l.substr(colon + 1));
		for (unsigned char c : value)
			if ((c < 0x20 && c != '\t') || c == 0x7f)
				return fail(400, "control character in a header value");
		req.headers.push_back({name, value});
		if (iequals(name, "Content-Length")) {
			if (value.empty() || value.size() > 18)
				return fail(value.empty() ? 400 : 413, "bad Content-Length");
			size_t n = 0;
			for (unsigned char c : value) {
				if (c < '0' || c > '9')
					return fail(400, "bad Content-Length");
				n = n * 10 + (c - '0');
			}
			if (have_cl && n != req.content_length)
				return fail(400, "conflicting Content-Length");
			have_cl = true;
			req.content_length = n;
		} else if (iequals(name, "Transfer-Encoding")) {
			// Bodies must come with Content-Length (chunked is refused).
			return fail(411, "Transfer-Encoding is not accepted");
		} else if (iequals(name, "Connection")) {
			if (has_token(value, "close"))
				req.keep_alive = false;
		} else if (iequals(name, "Expect")) {
			if (iequals(value, "100-continue"))
				req.expect_continue = true;
		}
	}
	if (req.minor == 0) {
		const std::string_view *c = req.find("Connection");
		req.keep_alive = c && has_token(*c, "keep-alive") && !has_token(*c, "close");
	}
	if (req.content_length > lim.max_body)
		return fail(413, "body too large");

	req.head_len = head_end;
	parse_result r;
	r.headers_done = true;
	if (len - head_end < req.content_length)
		return r; // incomplete
	req.body = std::string_view(buf + head_end, req.content_length);
	req.consumed = head_end + req.content_length;
	r.state = parse_state::complete;
	return r;
}

bool parse_basic_auth(std::string_view value, std::string &user,
                      std::string &pass)
{
	value = trim(value);
	if (value.size() < 6 || !iequals(value.substr(0, 5), "Basic") ||
	    (value[5] != ' ' && value[5] != '\t'))
		return false;
	std::string_view b = trim(value.substr(6));
	std::string out;
	out.reserve(b.size() * 3 / 4);
	unsigned int acc = 0;
	int bits = 0;
	size_t pad = 0;
	for (unsigned char c : b) {
		if (c == '=') {
			pad++;
			continue;
		}
		if (pad)
			return false; // data after padding
		int v = b64_value(c);
		if (v < 0)
			return false;
		acc = (acc << 6) | (unsigned)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			out.push_back((char)((acc >> bits) & 0xff));
		}
	}
	if (pad > 2 || b.empty())
		return false;
	size_t colon = out.find(':');
	if (colon == std::string::npos)
		return false;
	user = out.substr(0, colon);
	pass = out.substr(colon + 1);
	return true;
}

const char *reason_phrase(int status)
{
	switch (status) {
	case 100: return "Continue";
	case 200: return "OK";
	case 201: return "Created";
	case 202: return "Accepted";
	case 204: return "No Content";
	case 400: return "Bad Request";
	case 401: return "Unauthorized";
	case 403: return "Forbidden";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 408: return "Request Timeout";
	case 411: return "Length Required";
	case 413: return "Content Too Large";
	case 415: return "Unsupported Media Type";
	case 417: return "Expectation Failed";
	case 431: return "Request Header Fields Too Large";
	case 500: return "Internal Server Error";
	case 501: return "Not Implemented";
	case 503: return "Service Unavailable";
	case 505: return "HTTP Version Not Supported";
	default: return "Unknown";
	}
}

} // namespace httpd
