// evi_build_payload: the JSON-RPC notification of spec §2.6, written
// straight into the caller's buffer (no allocation). Strings are escaped as
// the MI printer does (cJSON rules): " \ \b \f \n \r \t, other bytes below
// 0x20 as \u00xx, '/' and UTF-8 as is.
#include <string.h>

#include "opensips/evi_transport.h"

namespace {

struct writer {
	char *p;
	char *end;
	bool ok = true;

	void raw(const char *s, size_t n)
	{
		if ((size_t)(end - p) < n) {
			ok = false;
			p = end;
			return;
		}
		memcpy(p, s, n);
		p += n;
	}
	template <size_t N> void lit(const char (&s)[N]) { raw(s, N - 1); }
	void ch(char c)
	{
		if (p == end) {
			ok = false;
			return;
		}
		*p++ = c;
	}
	void num(int v)
	{
		char tmp[12];
		char *q = tmp + sizeof(tmp);
		unsigned int u = v < 0 ? 0u - (unsigned int)v : (unsigned int)v;
		do {
			*--q = (char)('0' + u % 10);
			u /= 10;
		} while (u);
		if (v < 0) *--q = '-';
		raw(q, (size_t)(tmp + sizeof(tmp) - q));
	}
	void string(const char *s, int len)
	{
		static const char hex[] = "0123456789abcdef";
		ch('"');
		const unsigned char *b = reinterpret_cast<const unsigned char *>(s);
		const unsigned char *e = b + (len > 0 ? len : 0);
		const unsigned char *run = b;
		for (; b < e; b++) {
			unsigned char c = *b;
			if (c >= 0x20 && c != '"' && c != '\\') continue;
			raw(reinterpret_cast<const char *>(run), (size_t)(b - run));
			run = b + 1;
			switch (c) {
			case '"': lit("\\\""); break;
			case '\\': lit("\\\\"); break;
			case '\b': lit("\\b"); break;
			case '\f': lit("\\f"); break;
			case '\n': lit("\\n"); break;
			case '\r': lit("\\r"); break;
			case '\t': lit("\\t"); break;
			default: {
				char u[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]};
				raw(u, 6);
			}
			}
		}
		raw(reinterpret_cast<const char *>(run), (size_t)(e - run));
		ch('"');
	}
};

} // namespace

extern "C" int evi_build_payload(const evi_params_t *params, const str *method,
                                 int id, const str *extra_param,
                                 const str *ev_name, char *buf, int size)
{
	if (!buf || size <= 0) return -1;
	writer w{buf, buf + size};
	w.ch('{');
	if (id) {
		w.lit("\"id\":");
		w.num(id);
		w.ch(',');
	}
	w.lit("\"jsonrpc\":\"2.0\",\"method\":");
	if (method && method->s) w.string(method->s, method->len);
	else w.lit("null");
	const evi_param_t *first = params ? params->first : nullptr;
	if (first) {
		bool object = first->name.s != nullptr;
		w.lit(",\"params\":");
		w.ch(object ? '{' : '[');
		bool any = false;
		if (extra_param && extra_param->s && extra_param->len > 0) {
			if (object) {
				w.string(extra_param->s, extra_param->len);
				w.ch(':');
			}
			if (ev_name && ev_name->s) w.string(ev_name->s, ev_name->len);
			else w.lit("null");
			any = true;
		}
		for (const evi_param_t *p = first; p; p = p->next) {
			if (!(p->flags & (EVI_INT_VAL | EVI_STR_VAL))) continue; // reset
			if (any) w.ch(',');
			any = true;
			if (object) {
				w.string(p->name.s ? p->name.s : "", p->name.s ? p->name.len : 0);
				w.ch(':');
			}
			if (p->flags & EVI_INT_VAL) w.num(p->val.n);
			else if (p->val.s.s) w.string(p->val.s.s, p->val.s.len);
			else w.lit("null");
		}
		w.ch(object ? '}' : ']');
	}
	w.ch('}');
	if (!w.ok) return -1;
	int len = (int)(w.p - buf);
	if (len < size) buf[len] = '\0';
	return len;
}
