#include "fifo_framing.h"

namespace mi_fifo {

namespace {

bool is_ws(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

bool scalar_char(char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') ||
	       (c >= 'A' && c <= 'Z') || c == '-' || c == '+' || c == '.';
}

// End of the JSON value at p (after whitespace), or the failure.
frame_status value_end(const char *buf, size_t len, size_t &p)
{
	while (p < len && is_ws(buf[p]))
		p++;
	if (p >= len)
		return frame_status::incomplete;
	char c = buf[p];
	if (c == '{' || c == '[') {
		int depth = 0;
		bool in_str = false;
		for (; p < len; p++) {
			char d = buf[p];
			if (in_str) {
				if (d == '\\')
					p++; // skip the escaped character
				else if (d == '"')
					in_str = false;
				continue;
			}
			if (d == '"')
				in_str = true;
			else if (d == '{' || d == '[')
				depth++;
			else if (d == '}' || d == ']') {
				if (--depth == 0) {
					p++;
					return frame_status::ok;
				}
			}
		}
		return frame_status::incomplete;
	}
	if (c == '"') {
		for (p++; p < len; p++) {
			if (buf[p] == '\\')
				p++;
			else if (buf[p] == '"') {
				p++;
				return frame_status::ok;
			}
		}
		return frame_status::incomplete;
	}
	if (!scalar_char(c))
		return frame_status::bad;
	while (p < len && scalar_char(buf[p]))
		p++;
	return frame_status::ok; // a scalar: the core answers -32600
}

} // namespace

bool valid_reply_name(std::string_view name)
{
	for (char c : name)
		if (c == '.' || c == '/' || c == '\\' || (unsigned char)c < 0x20)
			return false;
	return true;
}

frame scan_frame(const char *buf, size_t len, size_t off)
{
	frame f;
	size_t p = off;
	while (p < len && is_ws(buf[p]))
		p++;
	if (p >= len) {
		f.status = frame_status::empty;
		f.start = f.end = len;
		return f;
	}
	f.start = p;
	if (buf[p] != ':') {
		f.status = frame_status::bad;
		return f;
	}
	size_t name_start = ++p;
	while (p < len && buf[p] != ':' && buf[p] != '\n')
		p++;
	if (p >= len) {
		f.status = frame_status::incomplete;
		return f;
	}
	if (buf[p] != ':') {
		f.status = frame_status::bad;
		return f;
	}
	f.reply_name = std::string_view(buf + name_start, p - name_start);
	p++;
	frame_status st = value_end(buf, len, p);
	f.status = st;
	if (st == frame_status::ok) {
		size_t j = f.reply_name.data() - buf + f.reply_name.size() + 1;
		f.json_off = j;
		f.end = p;
	}
	return f;
}

} // namespace mi_fifo
