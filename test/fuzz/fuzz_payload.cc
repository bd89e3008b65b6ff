// Fuzz target: the event payload writer (evi_build_payload, spec §2.6).
//
// The input bytes describe a notification: id, method, the optional extra
// parameter (event_stream's event_param) and a parameter list (int, string,
// NULL string, reset; named or not). The target writes it with
// evi_build_payload into exact-size heap buffers and checks it against
//  1. an independent writer here (byte for byte, for any bytes), and
//  2. jansson: our text parsed by jansson must equal the document built
//     with jansson's own API, whenever every string is valid UTF-8 and no
//     name holds a NUL (jansson refuses both). Duplicate names compare
//     fine: jansson keeps the last value at the first one's place on both
//     sides; (1) covers the values it drops.
// Too small a buffer must give -1 without writing past it.
#include <jansson.h>
#include <string.h>

#include <deque>
#include <string>

#include "fuzz.h"
#include "opensips/evi.h"
#include "opensips/evi_transport.h"

namespace {

// RFC 3629: no overlongs, no surrogates, nothing above U+10FFFF.
bool valid_utf8(const char *s, size_t n)
{
	const unsigned char *p = (const unsigned char *)s, *e = p + n;
	while (p < e) {
		unsigned c = *p++;
		if (c < 0x80) continue;
		int more;
		unsigned cp;
		if (c >= 0xc2 && c <= 0xdf) { more = 1; cp = c & 0x1f; }
		else if (c >= 0xe0 && c <= 0xef) { more = 2; cp = c & 0x0f; }
		else if (c >= 0xf0 && c <= 0xf4) { more = 3; cp = c & 0x07; }
		else return false;
		if (e - p < more) return false;
		for (int i = 0; i < more; i++) {
			if ((p[i] & 0xc0) != 0x80) return false;
			cp = (cp << 6) | (p[i] & 0x3f);
		}
		p += more;
		if ((more == 2 && cp < 0x800) || (more == 3 && cp < 0x10000) ||
		    (cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff)
			return false;
	}
	return true;
}

// The reference rendering, written from the spec's rules.
void ref_string(std::string &o, const char *s, int len)
{
	o += '"';
	for (int i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		switch (c) {
		case '"': o += "\\\""; break;
		case '\\': o += "\\\\"; break;
		case '\b': o += "\\b"; break;
		case '\f': o += "\\f"; break;
		case '\n': o += "\\n"; break;
		case '\r': o += "\\r"; break;
		case '\t': o += "\\t"; break;
		default:
			if (c < 0x20) {
				char u[8];
				snprintf(u, sizeof u, "\\u%04x", c);
				o += u;
			} else {
				o += (char)c;
			}
		}
	}
	o += '"';
}

struct input {
	evi_params_t list{0, nullptr, nullptr};
	std::deque<evi_param_t> ps;
	bool with_list = false;
	int id = 0;
	str method{nullptr, 0}, extra{nullptr, 0}, ev{nullptr, 0};
	bool with_extra = false;
	bool jansson_ok = true; // strings valid UTF-8, no NUL in names
	size_t shrink = 0;

	str text(fuzz_reader &r, size_t max, bool is_name)
	{
		const uint8_t *p;
		size_t n = r.take(max, &p);
		str s{(char *)p, (int)n};
		if (!valid_utf8(s.s, n) || (is_name && memchr(p, 0, n))) jansson_ok = false;
		return s;
	}

	explicit input(fuzz_reader &r)
	{
		uint8_t f = r.byte();
		if (f & 1) id = (int)r.u32();
		if (f & 2) method = text(r, 40, false);
		with_extra = f & 4;
		if (with_extra) {
			extra = text(r, 16, true);
			if (!(f & 8)) ev = text(r, 40, false);
		}
		with_list = !(f & 16);
		shrink = r.byte();
		while (!r.empty() && ps.size() < 64) {
			uint8_t k = r.byte();
			ps.push_back(evi_param_t{});
			evi_param_t &p = ps.back();
			p.name = str{nullptr, 0};
			if (k & 4) p.name = text(r, 24, true);
			switch (k & 3) {
			case 0: p.flags = EVI_INT_VAL; p.val.n = (int)r.u32(); break;
			case 1: p.flags = EVI_STR_VAL; p.val.s = text(r, 80, false); break;
			case 2: p.flags = EVI_STR_VAL; p.val.s = str{nullptr, 0}; break;
			case 3: p.flags = 0; break;
			}
			if ((k & 0x18) == 0x18 && p.flags) p.flags = EVI_INT_VAL | EVI_STR_VAL;
			p.next = nullptr;
			if (list.last) list.last->next = &p;
			else list.first = &p;
			list.last = &p;
		}
	}

	const evi_params_t *params() const { return with_list ? &list : nullptr; }
	const str *extra_p() const { return with_extra ? &extra : nullptr; }

	std::string reference() const
	{
		std::string o = "{";
		if (id) o += "\"id\":" + std::to_string(id) + ",";
		o += "\"jsonrpc\":\"2.0\",\"method\":";
		if (method.s) ref_string(o, method.s, method.len);
		else o += "null";
		const evi_param_t *first = with_list ? list.first : nullptr;
		if (first) {
			bool object = first->name.s != nullptr;
			o += ",\"params\":";
			o += object ? '{' : '[';
			bool any = false;
			if (with_extra && extra.s && extra.len > 0) {
				if (object) {
					ref_string(o, extra.s, extra.len);
					o += ':';
				}
				if (ev.s) ref_string(o, ev.s, ev.len);
				else o += "null";
				any = true;
			}
			for (const evi_param_t &p : ps) {
				if (!(p.flags & (EVI_INT_VAL | EVI_STR_VAL))) continue;
				if (any) o += ',';
				any = true;
				if (object) {
					ref_string(o, p.name.s ? p.name.s : "", p.name.s ? p.name.len : 0);
					o += ':';
				}
				if (p.flags & EVI_INT_VAL) o += std::to_string(p.val.n);
				else if (p.val.s.s) ref_string(o, p.val.s.s, p.val.s.len);
				else o += "null";
			}
			o += object ? '}' : ']';
		}
		o += '}';
		return o;
	}

	json_t *jstr(const str &s) const
	{
		return s.s ? json_stringn(s.s, (size_t)s.len) : json_null();
	}

	// The same document through jansson's API.
	json_t *document() const
	{
		json_t *doc = json_object();
		if (id) json_object_set_new(doc, "id", json_integer(id));
		json_object_set_new(doc, "jsonrpc", json_string("2.0"));
		json_object_set_new(doc, "method", jstr(method));
		const evi_param_t *first = with_list ? list.first : nullptr;
		if (!first) return doc;
		bool object = first->name.s != nullptr;
		json_t *params = object ? json_object() : json_array();
		auto add = [&](const str &name, json_t *v) {
			if (object)
				json_object_setn_new(params, name.s ? name.s : "",
				                     name.s ? (size_t)name.len : 0, v);
			else
				json_array_append_new(params, v);
		};
		if (with_extra && extra.s && extra.len > 0) add(extra, jstr(ev));
		for (const evi_param_t &p : ps) {
			if (!(p.flags & (EVI_INT_VAL | EVI_STR_VAL))) continue;
			add(p.name, (p.flags & EVI_INT_VAL) ? json_integer(p.val.n) : jstr(p.val.s));
		}
		json_object_set_new(doc, "params", params);
		return doc;
	}
};

std::string dump(json_t *j)
{
	char *s = json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_ENCODE_ANY);
	std::string r = s ? s : "(dump failed)";
	free(s);
	return r;
}

int build(const input &in, size_t size, std::string *out)
{
	char *buf = (char *)malloc(size ? size : 1);
	int n = evi_build_payload(in.params(), in.method.s ? &in.method : nullptr, in.id,
	                          in.extra_p(), in.with_extra ? &in.ev : nullptr, buf,
	                          (int)size);
	if (out && n >= 0) out->assign(buf, (size_t)n);
	free(buf);
	return n;
}

} // namespace

FUZZ_TARGET(payload)
{
	fuzz_reader r{data, size};
	input in(r);
	std::string want = in.reference();

	// exact fit: the whole text, no NUL written past it
	std::string got;
	int n = build(in, want.size(), &got);
	FUZZ_CHECK(n == (int)want.size(), "exact buffer: %d, want %zu", n, want.size());
	FUZZ_CHECK(got == want, "\nours %s\nwant %s", got.c_str(), want.c_str());
	FUZZ_CHECK(build(in, want.size() + 1, nullptr) == n, "roomy buffer");
	// too small by 1 and by an input-chosen amount
	FUZZ_CHECK(build(in, want.size() - 1, nullptr) == -1, "short by one");
	size_t small = want.size() * in.shrink / 256;
	FUZZ_CHECK(build(in, small, nullptr) == -1, "buffer of %zu", small);

	if (!in.jansson_ok) return 0;
	json_error_t err;
	json_t *parsed = json_loadb(got.data(), got.size(), JSON_ALLOW_NUL, &err);
	FUZZ_CHECK(parsed, "jansson refuses %s: %s", got.c_str(), err.text);
	json_t *doc = in.document();
	std::string a = dump(parsed), b = dump(doc);
	FUZZ_CHECK(a == b, "\nparsed %s\nwant   %s", a.c_str(), b.c_str());
	json_decref(parsed);
	json_decref(doc);
	return 0;
}
