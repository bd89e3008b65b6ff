// SIP parsing and stateless replies (decisions §18).
//
// The parser is a single forward pass over msg->buf that never reads past
// msg->len. It keeps only what the host needs (first line, Via, From, To,
// Call-ID, CSeq, Content-Length, Max-Forwards, body); every str points into
// the received buffer.
#include "sip/sip_parser.h"

#include <ctype.h>

#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <string_view>

#include "opensips/version.h"

namespace shim {

namespace {

// A message with more header lines than this is malformed (it is either
// garbage or an attack; real requests carry a few dozen).
constexpr int k_max_headers = 256;

inline bool is_ws(char c) { return c == ' ' || c == '\t'; }

inline bool is_token_char(unsigned char c)
{
	if (c >= 'a' && c <= 'z')
		return true;
	if (c >= 'A' && c <= 'Z')
		return true;
	if (c >= '0' && c <= '9')
		return true;
	switch (c) {
	case '-': case '.': case '!': case '%': case '*': case '_':
	case '+': case '`': case '\'': case '~':
		return true;
	default:
		return false;
	}
}

// s[0..len) equals the lower-case literal `lit`, ASCII letters compared
// without case; inline, as it runs for every header of every message.
template <size_t N>
inline bool ieq(const char *s, int len, const char (&lit)[N])
{
	if (len != (int)N - 1)
		return false;
	for (int i = 0; i < len; i++) {
		char c = s[i];
		if (c >= 'A' && c <= 'Z')
			c = (char)(c + ('a' - 'A'));
		if (c != lit[i])
			return false;
	}
	return true;
}

void trim(const char *&b, const char *&e)
{
	while (b < e && is_ws(*b))
		b++;
	while (e > b && (is_ws(e[-1]) || e[-1] == '\r' || e[-1] == '\n'))
		e--;
}

// Parses a non-negative decimal made of digits only (no sign), at most
// `max`. -1 on anything else.
long parse_uint(const char *b, const char *e, long max)
{
	if (b >= e)
		return -1;
	long v = 0;
	for (const char *p = b; p < e; p++) {
		if (*p < '0' || *p > '9')
			return -1;
		v = v * 10 + (*p - '0');
		if (v > max)
			return -1;
	}
	return v;
}

// End of the line starting at p: the position of its LF, or `end`.
const char *line_end(const char *p, const char *end)
{
	const char *lf = (const char *)memchr(p, '\n', (size_t)(end - p));
	return lf ? lf : end;
}

// The value of the `tag` header parameter of a From/To value, or empty.
str find_tag(const char *b, const char *e)
{
	// Parameters follow the URI; inside <...> a ';' belongs to the URI.
	const char *p = b;
	const char *lt = (const char *)memchr(b, '<', (size_t)(e - b));
	if (lt) {
		const char *gt = (const char *)memchr(lt, '>', (size_t)(e - lt));
		if (!gt)
			return str{nullptr, 0};
		p = gt + 1;
	}
	while (p < e) {
		const char *semi = (const char *)memchr(p, ';', (size_t)(e - p));
		if (!semi)
			break;
		const char *nb = semi + 1;
		const char *ne = nb;
		while (ne < e && *ne != '=' && *ne != ';')
			ne++;
		const char *tb = nb, *te = ne;
		trim(tb, te);
		if (ne < e && *ne == '=' && ieq(tb, (int)(te - tb), "tag")) {
			const char *vb = ne + 1;
			const char *ve = vb;
			while (ve < e && *ve != ';' && *ve != ',')
				ve++;
			trim(vb, ve);
			return str{(char *)vb, (int)(ve - vb)};
		}
		p = ne;
	}
	return str{nullptr, 0};
}

// The user part of a sip:/sips: URI, or empty.
str uri_user(const char *b, const char *e)
{
	const char *p;
	if (e - b >= 4 && strncasecmp(b, "sip:", 4) == 0)
		p = b + 4;
	else if (e - b >= 5 && strncasecmp(b, "sips:", 5) == 0)
		p = b + 5;
	else
		return str{nullptr, 0};
	const char *at = (const char *)memchr(p, '@', (size_t)(e - p));
	if (!at)
		return str{nullptr, 0};
	const char *ue = p;
	while (ue < at && *ue != ':')
		ue++;
	return str{(char *)p, (int)(ue - p)};
}

void reset(sip_msg *m)
{
	m->is_request = 0;
	m->method = m->ruri = m->ruri_user = m->version = str{nullptr, 0};
	m->vias.clear();
	m->from_line = m->to_line = m->callid_line = m->cseq_line =
	    str{nullptr, 0};
	m->from = m->to = m->callid = m->cseq = str{nullptr, 0};
	m->from_tag = m->to_tag = m->cseq_method = str{nullptr, 0};
	m->cseq_num = 0;
	m->content_length = -1;
	m->max_forwards = -1;
	m->body = str{nullptr, 0};
}

bool is_sip_version(const char *b, const char *e)
{
	// SIP/<digits>.<digits>
	if (e - b < 7 || strncasecmp(b, "SIP/", 4) != 0)
		return false;
	const char *p = b + 4;
	const char *d1 = p;
	while (p < e && *p >= '0' && *p <= '9')
		p++;
	if (p == d1 || p >= e || *p != '.')
		return false;
	const char *d2 = ++p;
	while (p < e && *p >= '0' && *p <= '9')
		p++;
	return p > d2 && p == e;
}

// First line. 0 or -1.
int parse_first_line(sip_msg *m, const char *b, const char *e)
{
	while (e > b && e[-1] == '\r')
		e--;
	if (b >= e)
		return -1;
	if (e - b >= 4 && strncasecmp(b, "SIP/", 4) == 0) {
		// Status line: SIP/2.0 SP code SP reason
		const char *sp = (const char *)memchr(b, ' ', (size_t)(e - b));
		if (!sp || !is_sip_version(b, sp))
			return -1;
		const char *cb = sp + 1;
		const char *ce = cb;
		while (ce < e && *ce != ' ')
			ce++;
		long code = parse_uint(cb, ce, 999);
		if (ce - cb != 3 || code < 100)
			return -1;
		m->is_request = 0;
		m->version = str{(char *)b, (int)(sp - b)};
		return 0;
	}
	// Request line: Method SP Request-URI SP SIP-Version
	const char *p = b;
	while (p < e && is_token_char((unsigned char)*p))
		p++;
	if (p == b || p >= e || *p != ' ')
		return -1;
	m->method = str{(char *)b, (int)(p - b)};
	const char *ub = p + 1;
	const char *ue = ub;
	while (ue < e && *ue != ' ' && *ue != '\t')
		ue++;
	if (ue == ub || ue >= e || *ue != ' ')
		return -1;
	for (const char *q = ub; q < ue; q++)
		if ((unsigned char)*q <= 0x20 || *q == 0x7f)
			return -1;
	m->ruri = str{(char *)ub, (int)(ue - ub)};
	const char *vb = ue + 1;
	if (!is_sip_version(vb, e))
		return -1;
	m->version = str{(char *)vb, (int)(e - vb)};
	m->ruri_user = uri_user(ub, ue);
	m->is_request = 1;
	return 0;
}

enum class hdr { other, via, from, to, callid, cseq, clen, maxfwd };

hdr header_type(const char *n, int len)
{
	if (len == 1) {
		switch (*n | 0x20) {
		case 'v': return hdr::via;
		case 'f': return hdr::from;
		case 't': return hdr::to;
		case 'i': return hdr::callid;
		case 'l': return hdr::clen;
		default: return hdr::other;
		}
	}
	if (ieq(n, len, "via")) return hdr::via;
	if (ieq(n, len, "from")) return hdr::from;
	if (ieq(n, len, "to")) return hdr::to;
	if (ieq(n, len, "call-id")) return hdr::callid;
	if (ieq(n, len, "cseq")) return hdr::cseq;
	if (ieq(n, len, "content-length")) return hdr::clen;
	if (ieq(n, len, "max-forwards")) return hdr::maxfwd;
	return hdr::other;
}

// The start of a Via value: "SIP/2.0/<transport>" then a host.
bool via_value_ok(const char *b, const char *e)
{
	const char *p = b;
	if (e - p < 8 || strncasecmp(p, "SIP", 3) != 0)
		return false;
	p += 3;
	auto skip_ws = [&] {
		while (p < e && is_ws(*p))
			p++;
	};
	for (int part = 0; part < 2; part++) { // "/2.0", "/UDP"
		skip_ws();
		if (p >= e || *p != '/')
			return false;
		p++;
		skip_ws();
		const char *t = p;
		while (p < e && (is_token_char((unsigned char)*p)))
			p++;
		if (p == t)
			return false;
	}
	if (p >= e || !is_ws(*p))
		return false;
	skip_ws();
	// the host: a name, an IPv4 address or a bracketed IPv6 one
	const char *h = p;
	while (p < e && (isalnum((unsigned char)*p) || *p == '.' || *p == '-' || *p == '_' ||
	                 *p == '[' || *p == ']' || *p == ':'))
		p++;
	if (p == h)
		return false;
	return p == e || *p == ';' || *p == ',' || is_ws(*p) || *p == '\r';
}

// One header (possibly folded over several lines): [lb, le) is the whole
// header without its final line break. 0 or -1.
int parse_header(sip_msg *m, const char *lb, const char *le)
{
	const char *colon = (const char *)memchr(lb, ':', (size_t)(le - lb));
	if (!colon)
		return -1;
	const char *nb = lb, *ne = colon;
	while (ne > nb && is_ws(ne[-1]))
		ne--;
	if (ne == nb)
		return -1;
	for (const char *q = nb; q < ne; q++)
		if (!is_token_char((unsigned char)*q))
			return -1;
	const char *vb = colon + 1, *ve = le;
	trim(vb, ve);
	const char *line_e = le;
	while (line_e > lb && (is_ws(line_e[-1]) || line_e[-1] == '\r'))
		line_e--;
	str line{(char *)lb, (int)(line_e - lb)};
	str val{(char *)vb, (int)(ve - vb)};

	switch (header_type(nb, (int)(ne - nb))) {
	case hdr::via:
		if (!via_value_ok(vb, ve))
			return -1;
		m->vias.push_back(line);
		break;
	case hdr::from:
		if (m->from_line.s)
			break; // the first one counts
		if (val.len == 0)
			return -1;
		m->from_line = line;
		m->from = val;
		m->from_tag = find_tag(vb, ve);
		break;
	case hdr::to:
		if (m->to_line.s)
			break;
		if (val.len == 0)
			return -1;
		m->to_line = line;
		m->to = val;
		m->to_tag = find_tag(vb, ve);
		break;
	case hdr::callid:
		if (m->callid_line.s)
			break;
		if (val.len == 0)
			return -1;
		m->callid_line = line;
		m->callid = val;
		break;
	case hdr::cseq: {
		if (m->cseq_line.s)
			break;
		const char *p = vb;
		while (p < ve && *p >= '0' && *p <= '9')
			p++;
		long num = parse_uint(vb, p, 0xffffffffL);
		if (num < 0 || p >= ve || !is_ws(*p))
			return -1;
		while (p < ve && is_ws(*p))
			p++;
		const char *mb = p;
		while (p < ve && is_token_char((unsigned char)*p))
			p++;
		if (p == mb || p != ve)
			return -1;
		m->cseq_line = line;
		m->cseq = val;
		m->cseq_num = (int)(unsigned int)num;
		m->cseq_method = str{(char *)mb, (int)(p - mb)};
		break;
	}
	case hdr::clen: {
		long n = parse_uint(vb, ve, 0x7fffffffL);
		if (n < 0)
			return -1;
		m->content_length = (int)n;
		break;
	}
	case hdr::maxfwd: {
		long n = parse_uint(vb, ve, 0x7fffffffL);
		if (n < 0)
			return -1;
		m->max_forwards = (int)n;
		break;
	}
	case hdr::other:
		break;
	}
	return 0;
}

// A tag for a To header that has none: "<4 hex>.<32 hex>", unique enough
// per thread (a counter mixed with time, thread id and a per-thread seed).
// Writes "pppp.<32 hex digits>" (kTagLen bytes) into out.
constexpr size_t kTagLen = 4 + 1 + 32;

void make_tag(char *out)
{
	thread_local uint64_t state = [] {
		timespec ts{};
		clock_gettime(CLOCK_MONOTONIC, &ts);
		uint64_t s = (uint64_t)ts.tv_nsec ^ ((uint64_t)ts.tv_sec << 32) ^
		             ((uint64_t)syscall(SYS_gettid) << 16) ^
		             (uint64_t)(uintptr_t)&ts;
		return s ? s : 0x9e3779b97f4a7c15ULL;
	}();
	auto next = [] {
		// splitmix64
		uint64_t z = (state += 0x9e3779b97f4a7c15ULL);
		z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
		z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
		return z ^ (z >> 31);
	};
	// "pppp.<32 hex digits>", written by hand: this runs for every reply
	// to a request without a To tag, so no getpid() syscall, no printf.
	static const unsigned pid16 = (unsigned)getpid() & 0xffff;
	static const char hex[] = "0123456789abcdef";
	char *buf = out;
	for (int i = 0; i < 4; i++)
		buf[i] = hex[(pid16 >> (12 - 4 * i)) & 0xf];
	buf[4] = '.';
	uint64_t words[2] = {next(), next()};
	for (int w = 0; w < 2; w++)
		for (int i = 0; i < 16; i++)
			buf[5 + 16 * w + i] = hex[(words[w] >> (60 - 4 * i)) & 0xf];
}

std::string &server_header_storage()
{
	static std::string s = "opensips-shim (" SHIM_VERSION ")";
	return s;
}

} // namespace

const char *sip_parse_error_name(int e)
{
	switch (e) {
	case SIP_PARSE_EMPTY: return "empty";
	case SIP_PARSE_FIRST_LINE: return "bad_first_line";
	case SIP_PARSE_HEADER: return "bad_header";
	case SIP_PARSE_BODY: return "short_body";
	case SIP_PARSE_MISSING: return "missing_header";
	default: return "ok";
	}
}

static int refuse(sip_msg *msg, int why)
{
	msg->parse_error = why;
	return -1;
}

int sip_parse(sip_msg *msg)
{
	if (!msg)
		return -1;
	reset(msg);
	msg->parse_error = SIP_PARSE_OK;
	if (!msg->buf || msg->len <= 0)
		return refuse(msg, SIP_PARSE_EMPTY);
	const char *p = msg->buf;
	const char *end = msg->buf + msg->len;

	const char *fe = line_end(p, end);
	if (fe >= end)
		return refuse(msg, SIP_PARSE_EMPTY); // no line break after the first line
	if (parse_first_line(msg, p, fe) < 0)
		return refuse(msg, SIP_PARSE_FIRST_LINE);
	p = fe + 1;

	int headers = 0;
	bool blank_seen = false;
	while (p < end) {
		const char *le = line_end(p, end);
		// the last header ends with the datagram, without a line break
		bool last = le >= end;
		if (!last && (le == p || (le == p + 1 && *p == '\r'))) {
			p = le + 1; // the empty line: the body follows
			blank_seen = true;
			break;
		}
		if (is_ws(*p))
			return refuse(msg, SIP_PARSE_HEADER); // a continuation with nothing to continue
		// Folded header: continuation lines start with SP/HT.
		while (!last && le + 1 < end && is_ws(le[1])) {
			const char *nle = line_end(le + 1, end);
			last = nle >= end;
			le = nle;
		}
		if (++headers > k_max_headers)
			return refuse(msg, SIP_PARSE_HEADER);
		const char *he = last ? end : le;
		if (he > p && he[-1] == '\r')
			he--;
		if (parse_header(msg, p, he) < 0)
			return refuse(msg, SIP_PARSE_HEADER);
		p = last ? end : le + 1;
	}
	// No empty line: the headers ran to the end of the datagram. Complete
	// only when no body is announced.
	if (!blank_seen && msg->content_length > 0)
		return refuse(msg, SIP_PARSE_BODY);

	size_t avail = (size_t)(end - p);
	if (msg->content_length >= 0) {
		if ((size_t)msg->content_length > avail)
			return refuse(msg, SIP_PARSE_BODY); // the body is shorter than announced
		msg->body = str{(char *)p, msg->content_length};
	} else {
		msg->body = str{(char *)p, (int)avail};
	}
	if (msg->body.len == 0)
		msg->body.s = nullptr;

	if (!msg->is_request)
		return 0; // replies are not routed; the worker drops them
	if (msg->vias.empty() || !msg->from_line.s || !msg->to_line.s ||
	    !msg->callid_line.s || !msg->cseq_line.s)
		return refuse(msg, SIP_PARSE_MISSING);
	return 0;
}

bool sip_is_local_ack(const sip_msg *msg)
{
	if (!msg || !msg->is_request || msg->method.len != 3 ||
	    memcmp(msg->method.s, "ACK", 3) != 0 || msg->to_tag.len != (int)kTagLen)
		return false;
	static const unsigned pid16 = (unsigned)getpid() & 0xffff;
	static const char hex[] = "0123456789abcdef";
	const char *t = msg->to_tag.s;
	for (int i = 0; i < 4; i++)
		if (t[i] != hex[(pid16 >> (12 - 4 * i)) & 0xf])
			return false;
	return t[4] == '.';
}

int sip_build_reply(const sip_msg *msg, int code, const char *reason,
                    int reason_len, const std::string &server,
                    std::string &out)
{
	out.clear();
	if (!msg || !msg->is_request || code < 100 || code > 699)
		return -1;
	if (!reason || reason_len < 0)
		reason_len = 0;

	// The copied headers keep the order they had in the request, as
	// OpenSIPS does (they all point into msg->buf).
	struct line {
		str s;
		bool is_to;
	};
	// reused per thread: no allocation per reply once warmed up
	thread_local std::vector<line> lines;
	lines.clear();
	for (const str &v : msg->vias)
		lines.push_back({v, false});
	for (const str *h : {&msg->from_line, &msg->to_line, &msg->callid_line,
	                     &msg->cseq_line})
		if (h->s)
			lines.push_back({*h, h == &msg->to_line});
	// in the order they came (their place in the buffer); a handful of
	// lines, so an insertion sort (stable, and no temporary buffer as
	// std::stable_sort allocates one per call)
	for (size_t i = 1; i < lines.size(); i++)
		for (size_t k = i; k > 0 && lines[k].s.s < lines[k - 1].s.s; k--)
			std::swap(lines[k], lines[k - 1]);

	char tag_buf[kTagLen];
	std::string_view tag;
	if (msg->to_line.s && msg->to_tag.len == 0) {
		make_tag(tag_buf);
		tag = std::string_view(tag_buf, kTagLen);
	}

	size_t need = 32 + (size_t)reason_len + server.size() + tag.size();
	for (const line &l : lines)
		need += (size_t)l.s.len + 2;
	out.reserve(need);

	out.append("SIP/2.0 ");
	if (code >= 100 && code <= 999) {
		const char digits[3] = {(char)('0' + code / 100), (char)('0' + code / 10 % 10),
		                        (char)('0' + code % 10)};
		out.append(digits, 3);
	} else {
		char code_buf[16];
		snprintf(code_buf, sizeof code_buf, "%03d", code);
		out.append(code_buf);
	}
	out.push_back(' ');
	out.append(reason ? reason : "", (size_t)reason_len);
	out.append("\r\n");
	for (const line &l : lines) {
		out.append(l.s.s, (size_t)l.s.len);
		if (l.is_to && !tag.empty()) {
			out.append(";tag=");
			out.append(tag);
		}
		out.append("\r\n");
	}
	out.append("Server: ");
	out.append(server);
	out.append("\r\nContent-Length: 0\r\n\r\n");
	return 0;
}

const std::string &sip_server_header()
{
	return server_header_storage();
}

void sip_set_server_header(const std::string &value)
{
	server_header_storage() = value;
}

} // namespace shim
