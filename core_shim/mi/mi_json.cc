// JSON text <-> item tree. The parser is strict RFC 8259 (as jansson is);
// the printer follows cJSON's output rules, which the reference replies
// were produced with (spec §5.1). Our own tree is needed because handlers
// may add the same member name twice and requests must keep the first of
// duplicate members, neither of which jansson's objects can represent.
#include <charconv>
#include <cmath>
#include <climits>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "mi/mi_item.h"

namespace shim::mi {

namespace {

// Bytes that end a run of plain characters in a JSON string: control
// characters, '"', '\\' and (for the parser, which checks UTF-8) the bytes
// of multi-byte sequences. A table so the scan over a run is one load and
// one test per byte.
enum : unsigned char { kPlain = 0, kEscape = 1, kHigh = 2 };
struct byte_classes {
	unsigned char c[256];
	constexpr byte_classes() : c()
	{
		for (int i = 0; i < 256; i++)
			c[i] = i < 0x20 || i == '"' || i == '\\' ? kEscape : i >= 0x80 ? kHigh : kPlain;
	}
};
constexpr byte_classes kBytes;

constexpr int max_depth = 512;

struct parser {
	const char *p;
	const char *end;
	const char *start;
	bool incomplete = false;
	const char *fail_at = nullptr;

	bool fail(bool at_eof = false)
	{
		if (!fail_at) {
			fail_at = p;
			incomplete = at_eof;
		}
		return false;
	}
	bool eof() const { return p >= end; }

	void skip_ws()
	{
		while (p < end && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r'))
			p++;
	}

	bool literal(const char *word, mi_item *&out, mi_item::kind_t k, bool b)
	{
		size_t n = strlen(word);
		for (size_t i = 0; i < n; i++) {
			if (p + i >= end)
				return (p += i, fail(true));
			if (p[i] != word[i])
				return (p += i, fail());
		}
		p += n;
		// Like jansson's lexer: a word is read whole, so "nulls" is not null.
		if (p < end && ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z')))
			return fail();
		out = item_new(k);
		if (!out)
			return fail();
		out->boolean = b;
		return true;
	}

	static int hexval(char c)
	{
		if (c >= '0' && c <= '9')
			return c - '0';
		if (c >= 'a' && c <= 'f')
			return c - 'a' + 10;
		if (c >= 'A' && c <= 'F')
			return c - 'A' + 10;
		return -1;
	}

	bool hex4(unsigned &cp)
	{
		cp = 0;
		for (int i = 0; i < 4; i++) {
			if (eof())
				return fail(true);
			int v = hexval(*p);
			if (v < 0)
				return fail();
			cp = cp * 16 + (unsigned)v;
			p++;
		}
		return true;
	}

	static void put_utf8(std::string &s, unsigned cp)
	{
		if (cp < 0x80) {
			s += (char)cp;
		} else if (cp < 0x800) {
			s += (char)(0xC0 | (cp >> 6));
			s += (char)(0x80 | (cp & 0x3F));
		} else if (cp < 0x10000) {
			s += (char)(0xE0 | (cp >> 12));
			s += (char)(0x80 | ((cp >> 6) & 0x3F));
			s += (char)(0x80 | (cp & 0x3F));
		} else {
			s += (char)(0xF0 | (cp >> 18));
			s += (char)(0x80 | ((cp >> 12) & 0x3F));
			s += (char)(0x80 | ((cp >> 6) & 0x3F));
			s += (char)(0x80 | (cp & 0x3F));
		}
	}

	// One UTF-8 sequence starting at p (first byte >= 0x80), validated
	// (no overlongs, no surrogates, <= U+10FFFF).
	bool utf8_seq(std::string &s)
	{
		unsigned char c = (unsigned char)*p;
		int n;
		unsigned cp;
		if (c >= 0xC2 && c <= 0xDF) {
			n = 1;
			cp = c & 0x1F;
		} else if (c >= 0xE0 && c <= 0xEF) {
			n = 2;
			cp = c & 0x0F;
		} else if (c >= 0xF0 && c <= 0xF4) {
			n = 3;
			cp = c & 0x07;
		} else {
			return fail();
		}
		const char *q = p + 1;
		for (int i = 0; i < n; i++, q++) {
			if (q >= end)
				return (p = q, fail(true));
			unsigned char cc = (unsigned char)*q;
			if ((cc & 0xC0) != 0x80)
				return (p = q, fail());
			cp = (cp << 6) | (cc & 0x3F);
		}
		if ((n == 2 && (cp < 0x800 || (cp >= 0xD800 && cp <= 0xDFFF))) ||
		    (n == 3 && (cp < 0x10000 || cp > 0x10FFFF)))
			return fail();
		s.append(p, (size_t)(n + 1));
		p = q;
		return true;
	}

	bool string(std::string &s)
	{
		p++; // opening quote
		for (;;) {
			if (eof())
				return fail(true);
			unsigned char c = (unsigned char)*p;
			if (c == '"') {
				p++;
				return true;
			}
			if (c < 0x20)
				return fail();
			if (c == '\\') {
				p++;
				if (eof())
					return fail(true);
				char e = *p++;
				switch (e) {
				case '"': s += '"'; break;
				case '\\': s += '\\'; break;
				case '/': s += '/'; break;
				case 'b': s += '\b'; break;
				case 'f': s += '\f'; break;
				case 'n': s += '\n'; break;
				case 'r': s += '\r'; break;
				case 't': s += '\t'; break;
				case 'u': {
					unsigned cp;
					if (!hex4(cp))
						return false;
					if (cp >= 0xDC00 && cp <= 0xDFFF)
						return fail();
					if (cp >= 0xD800 && cp <= 0xDBFF) {
						if (eof())
							return fail(true);
						if (*p != '\\')
							return fail();
						p++;
						if (eof())
							return fail(true);
						if (*p != 'u')
							return fail();
						p++;
						unsigned lo;
						if (!hex4(lo))
							return false;
						if (lo < 0xDC00 || lo > 0xDFFF)
							return fail();
						cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
					}
					put_utf8(s, cp);
					break;
				}
				default:
					p--;
					return fail();
				}
				continue;
			}
			if (c >= 0x80) {
				if (!utf8_seq(s))
					return false;
				continue;
			}
			// plain ASCII run
			const char *q = p;
			while (q < end && kBytes.c[(unsigned char)*q] == kPlain)
				q++;
			s.append(p, (size_t)(q - p));
			p = q;
		}
	}

	static bool digit(char c) { return c >= '0' && c <= '9'; }

	bool number(mi_item *&out)
	{
		const char *b = p;
		if (*p == '-') {
			p++;
			if (eof())
				return fail(true);
		}
		if (*p == '0') {
			p++;
			if (p < end && digit(*p)) // no leading zeros (jansson: "01" fails)
				return fail();
		} else if (digit(*p)) {
			while (p < end && digit(*p))
				p++;
		} else {
			return fail();
		}
		if (p < end && *p == '.') {
			p++;
			if (eof())
				return fail(true);
			if (!digit(*p))
				return fail();
			while (p < end && digit(*p))
				p++;
		}
		if (p < end && (*p == 'e' || *p == 'E')) {
			p++;
			if (eof())
				return fail(true);
			if (*p == '+' || *p == '-')
				p++;
			if (eof())
				return fail(true);
			if (!digit(*p))
				return fail();
			while (p < end && digit(*p))
				p++;
		}
		double d = 0;
		auto r = std::from_chars(b, p, d);
		if (r.ec == std::errc::result_out_of_range) {
			// Underflow reads as 0; overflow is refused (as jansson does).
			bool tiny = false;
			for (const char *q = b; q < p; q++)
				if (*q == 'e' || *q == 'E') {
					tiny = q + 1 < p && q[1] == '-';
					break;
				}
			if (!tiny)
				return (p = b, fail());
			d = 0;
		} else if (r.ec != std::errc() || !std::isfinite(d)) {
			return (p = b, fail());
		}
		out = make_number(d);
		return out ? true : fail();
	}

	bool value(mi_item *&out, int depth)
	{
		out = nullptr;
		skip_ws();
		if (eof())
			return fail(true);
		switch (*p) {
		case '{':
			return object(out, depth + 1);
		case '[':
			return array(out, depth + 1);
		case '"': {
			// straight into the item's text (a pooled item keeps its buffer)
			mi_item *it = item_new(mi_item::STRING);
			if (!it)
				return fail();
			if (!string(it->text))
				return (item_free(it), false);
			out = it;
			return true;
		}
		case 't':
			return literal("true", out, mi_item::BOOL, true);
		case 'f':
			return literal("false", out, mi_item::BOOL, false);
		case 'n':
			return literal("null", out, mi_item::NUL, false);
		default:
			if (*p == '-' || digit(*p))
				return number(out);
			return fail();
		}
	}

	bool array(mi_item *&out, int depth)
	{
		if (depth > max_depth)
			return fail();
		p++;
		mi_item *arr = item_new(mi_item::ARRAY);
		if (!arr)
			return fail();
		skip_ws();
		if (eof())
			return (item_free(arr), fail(true));
		if (*p == ']') {
			p++;
			out = arr;
			return true;
		}
		for (;;) {
			mi_item *v;
			if (!value(v, depth))
				return (item_free(arr), false);
			item_append(arr, v, {});
			skip_ws();
			if (eof())
				return (item_free(arr), fail(true));
			if (*p == ',') {
				p++;
				continue;
			}
			if (*p == ']') {
				p++;
				out = arr;
				return true;
			}
			return (item_free(arr), fail());
		}
	}

	bool object(mi_item *&out, int depth)
	{
		if (depth > max_depth)
			return fail();
		p++;
		mi_item *obj = item_new(mi_item::OBJECT);
		if (!obj)
			return fail();
		skip_ws();
		if (eof())
			return (item_free(obj), fail(true));
		if (*p == '}') {
			p++;
			out = obj;
			return true;
		}
		for (;;) {
			skip_ws();
			if (eof())
				return (item_free(obj), fail(true));
			if (*p != '"')
				return (item_free(obj), fail());
			std::string key;
			if (!string(key))
				return (item_free(obj), false);
			skip_ws();
			if (eof())
				return (item_free(obj), fail(true));
			if (*p != ':')
				return (item_free(obj), fail());
			p++;
			mi_item *v;
			if (!value(v, depth))
				return (item_free(obj), false);
			item_append(obj, v, key);
			skip_ws();
			if (eof())
				return (item_free(obj), fail(true));
			if (*p == ',') {
				p++;
				continue;
			}
			if (*p == '}') {
				p++;
				out = obj;
				return true;
			}
			return (item_free(obj), fail());
		}
	}
};

// Where the printer writes: a std::string (json_print) or a malloc()ed
// buffer that becomes an MI reply as is (json_print_reply). Small inline
// appends: a reply is mostly single characters and short runs.
struct string_sink {
	std::string &s;
	void put(char c) { s += c; }
	void put(const char *p, size_t n) { s.append(p, n); }
	void put(const char *z) { s.append(z); }
	void fill(size_t n, char c) { s.append(n, c); }
};

struct buf_sink {
	char *b = nullptr;
	size_t n = 0, cap = 0;
	bool failed = false;

	bool grow(size_t more)
	{
		if (failed)
			return false;
		size_t want = cap ? cap : 256;
		while (want < n + more + 1)
			want *= 2;
		char *nb = (char *)realloc(b, want);
		if (!nb) {
			failed = true;
			return false;
		}
		b = nb;
		cap = want;
		return true;
	}
	void put(char c)
	{
		if (n + 1 >= cap && !grow(1))
			return;
		b[n++] = c;
	}
	void put(const char *p, size_t len)
	{
		if (n + len >= cap && !grow(len))
			return;
		memcpy(b + n, p, len);
		n += len;
	}
	void put(const char *z) { put(z, strlen(z)); }
	void fill(size_t len, char c)
	{
		if (n + len >= cap && !grow(len))
			return;
		memset(b + n, c, len);
		n += len;
	}
};

template <class W>
void print_number(double d, W &out)
{
	char buf[400];
	if (!std::isfinite(d)) {
		out.put("null", 4); // JSON has no inf/nan
		return;
	}
	if (d == 0) {
		out.put('0');
		return;
	}
	if (d >= (double)INT_MIN && d <= (double)INT_MAX && d == std::trunc(d)) {
		// the common case (counters, codes, ids): no printf
		auto r = std::to_chars(buf, buf + sizeof buf, (int)d);
		out.put(buf, (size_t)(r.ptr - buf));
		return;
	} else if (d == std::floor(d) && std::fabs(d) < 1.0e60) {
		snprintf(buf, sizeof buf, "%.0f", d);
	} else if (std::fabs(d) < 1.0e-6 || std::fabs(d) > 1.0e9) {
		snprintf(buf, sizeof buf, "%e", d);
	} else {
		snprintf(buf, sizeof buf, "%f", d);
	}
	out.put(buf);
}

template <class W>
void print_string(std::string_view s, W &out)
{
	static const char hex[] = "0123456789abcdef";
	out.put('"');
	size_t run = 0; // start of the pending run of characters copied as is
	for (size_t i = 0; i < s.size(); i++) {
		unsigned char c = (unsigned char)s[i];
		if (kBytes.c[c] != kEscape)
			continue;
		out.put(s.data() + run, i - run);
		run = i + 1;
		switch (c) {
		case '"': out.put("\\\"", 2); break;
		case '\\': out.put("\\\\", 2); break;
		case '\b': out.put("\\b", 2); break;
		case '\f': out.put("\\f", 2); break;
		case '\n': out.put("\\n", 2); break;
		case '\r': out.put("\\r", 2); break;
		case '\t': out.put("\\t", 2); break;
		default: {
			char u[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]};
			out.put(u, 6);
		}
		}
	}
	out.put(s.data() + run, s.size() - run);
	out.put('"');
}

template <class W>
void print_value(const mi_item *it, bool pretty, int depth, W &out)
{
	switch (it->kind) {
	case mi_item::NUL:
		out.put("null", 4);
		break;
	case mi_item::BOOL:
		if (it->boolean)
			out.put("true", 4);
		else
			out.put("false", 5);
		break;
	case mi_item::NUMBER:
		print_number(it->number, out);
		break;
	case mi_item::STRING:
		print_string(it->text, out);
		break;
	case mi_item::ARRAY:
		out.put('[');
		for (const mi_item *c = it->first; c; c = c->next) {
			print_value(c, pretty, depth + 1, out);
			if (c->next) {
				if (pretty)
					out.put(", ", 2);
				else
					out.put(',');
			}
		}
		out.put(']');
		break;
	case mi_item::OBJECT:
		out.put('{');
		if (pretty)
			out.put('\n');
		for (const mi_item *c = it->first; c; c = c->next) {
			if (pretty)
				out.fill((size_t)depth + 1, '\t');
			print_string(c->name, out);
			out.put(':');
			if (pretty)
				out.put('\t');
			print_value(c, pretty, depth + 1, out);
			if (c->next)
				out.put(',');
			if (pretty)
				out.put('\n');
		}
		if (pretty)
			out.fill((size_t)depth, '\t');
		out.put('}');
		break;
	}
}

} // namespace

parse_result json_parse(const char *buf, size_t len)
{
	parse_result r;
	parser ps{buf, buf + len, buf};
	mi_item *root = nullptr;
	try {
		if (ps.value(root, 0)) {
			r.status = parse_status::ok;
			r.root = root;
			r.end = (size_t)(ps.p - buf);
			return r;
		}
	} catch (...) {
		// std::string growth failing: treat as unparsable.
		ps.incomplete = false;
		if (!ps.fail_at)
			ps.fail_at = ps.p;
	}
	r.status = ps.incomplete ? parse_status::incomplete : parse_status::error;
	r.end = (size_t)((ps.fail_at ? ps.fail_at : ps.p) - buf);
	return r;
}

void json_print_number(double d, std::string &out)
{
	string_sink w{out};
	print_number(d, w);
}

void json_print_string(std::string_view s, std::string &out)
{
	string_sink w{out};
	print_string(s, w);
}

void json_print(const mi_item *item, bool pretty, std::string &out)
{
	string_sink w{out};
	print_value(item, pretty, 0, w);
}

char *json_print_reply(const mi_item *item, bool pretty, size_t *len)
{
	buf_sink w;
	if (!w.grow(0))
		return nullptr;
	print_value(item, pretty, 0, w);
	if (w.failed) {
		free(w.b);
		return nullptr;
	}
	w.b[w.n] = 0;
	*len = w.n;
	return w.b;
}

} // namespace shim::mi
