#include "sip/tcp_framing.h"

#include <string.h>
#include <strings.h>

namespace shim {
namespace {

// End of the header block: the index just past the empty line, or 0.
size_t headers_end(const char *p, size_t n)
{
	for (size_t i = 0; i + 1 < n; i++) {
		if (p[i] != '\n')
			continue;
		if (p[i + 1] == '\n')
			return i + 2;
		if (p[i + 1] == '\r' && i + 2 < n && p[i + 2] == '\n')
			return i + 3;
	}
	return 0;
}

bool is_ws(char c) { return c == ' ' || c == '\t'; }

// Finds Content-Length in the header block p[0..n). Returns 1 and *value
// when found, 0 when absent, -1 when its value is not a number.
int find_content_length(const char *p, size_t n, size_t *value)
{
	size_t i = 0;
	// skip the first line
	while (i < n && p[i] != '\n')
		i++;
	i++;
	while (i < n) {
		size_t eol = i;
		while (eol < n && p[eol] != '\n')
			eol++;
		size_t line_end = eol;
		if (line_end > i && p[line_end - 1] == '\r')
			line_end--;
		if (line_end == i)
			break; // the empty line
		size_t colon = i;
		while (colon < line_end && p[colon] != ':')
			colon++;
		size_t name_end = colon;
		while (name_end > i && is_ws(p[name_end - 1]))
			name_end--;
		size_t name_len = name_end - i;
		bool match = colon < line_end &&
		             ((name_len == 14 && !strncasecmp(p + i, "Content-Length", 14)) ||
		              (name_len == 1 && (p[i] == 'l' || p[i] == 'L')));
		if (match) {
			size_t v = colon + 1;
			while (v < line_end && is_ws(p[v]))
				v++;
			size_t end = line_end;
			while (end > v && is_ws(p[end - 1]))
				end--;
			if (v == end || end - v > 9)
				return -1;
			size_t num = 0;
			for (size_t k = v; k < end; k++) {
				if (p[k] < '0' || p[k] > '9')
					return -1;
				num = num * 10 + (size_t)(p[k] - '0');
			}
			*value = num;
			return 1;
		}
		i = eol + 1;
	}
	return 0;
}

} // namespace

tcp_frame tcp_frame_next(const char *buf, size_t len, size_t max_msg)
{
	tcp_frame f;
	while (f.skip < len && (buf[f.skip] == '\r' || buf[f.skip] == '\n'))
		f.skip++;
	const char *p = buf + f.skip;
	size_t n = len - f.skip;
	if (n == 0)
		return f; // partial: nothing but keep-alives so far
	size_t hdr = headers_end(p, n);
	if (!hdr) {
		f.status = n >= max_msg ? tcp_frame_status::oversized
		                        : tcp_frame_status::partial;
		return f;
	}
	size_t body = 0;
	if (find_content_length(p, hdr, &body) < 0) {
		f.status = tcp_frame_status::malformed;
		return f;
	}
	if (body > max_msg || hdr + body > max_msg) {
		f.status = tcp_frame_status::oversized;
		return f;
	}
	if (n < hdr + body)
		return f; // partial
	f.status = tcp_frame_status::complete;
	f.length = hdr + body;
	return f;
}

} // namespace shim
