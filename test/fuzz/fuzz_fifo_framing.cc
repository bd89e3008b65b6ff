// Fuzz target: mi_fifo's request framing (modules/mi_fifo/fifo_framing.h),
// driven the way mi_fifo's process_pending() drives it: frame after frame
// from the start of the buffer until it is empty, incomplete or bad.
//
// Checks: offsets stay inside the buffer and move forward; the reply name
// lies between the two ':' and holds neither ':' nor '\n'; the JSON text
// starts right after it; a frame whose value is an object, array or string
// is `incomplete` when the buffer is cut anywhere inside it (so a request
// split across reads is never run half).
#include <string.h>

#include "fuzz.h"
#include "modules/mi_fifo/fifo_framing.h"

using mi_fifo::frame;
using mi_fifo::frame_status;

namespace {

void check_cut(const char *buf, size_t off, const frame &f, size_t cut)
{
	frame g = mi_fifo::scan_frame(buf, cut, off);
	FUZZ_CHECK(g.status == frame_status::incomplete,
	           "frame [%zu,%zu) cut at %zu gives status %d (end %zu)", f.start, f.end,
	           cut, (int)g.status, g.end);
}

} // namespace

FUZZ_TARGET(fifo_framing)
{
	// exact-size copy: a read past the end is an ASan report
	char *buf = (char *)malloc(size ? size : 1);
	if (size) memcpy(buf, data, size);
	size_t off = 0;
	for (int frames = 0;; frames++) {
		FUZZ_CHECK(frames <= (int)size + 1, "no progress at %zu", off);
		frame f = mi_fifo::scan_frame(buf, size, off);
		if (f.status == frame_status::empty) {
			FUZZ_CHECK(f.start == size, "empty with start %zu", f.start);
			for (size_t i = off; i < size; i++)
				FUZZ_CHECK(strchr(" \t\r\n", buf[i]) && buf[i], "non-blank at %zu", i);
			break;
		}
		FUZZ_CHECK(f.start >= off && f.start < size, "start %zu (off %zu)", f.start, off);
		if (f.status != frame_status::ok) break;
		FUZZ_CHECK(buf[f.start] == ':', "frame does not start with ':'");
		const char *n = f.reply_name.data();
		FUZZ_CHECK(n == buf + f.start + 1, "reply name not after ':'");
		FUZZ_CHECK(!memchr(n, ':', f.reply_name.size()) &&
		               !memchr(n, '\n', f.reply_name.size()),
		           "reply name holds ':' or newline");
		FUZZ_CHECK(f.json_off == f.start + 2 + f.reply_name.size() && buf[f.json_off - 1] == ':',
		           "json_off %zu", f.json_off);
		FUZZ_CHECK(f.end > f.json_off && f.end <= size, "end %zu (json %zu, size %zu)",
		           f.end, f.json_off, size);
		if (mi_fifo::valid_reply_name(f.reply_name))
			for (char c : f.reply_name)
				FUZZ_CHECK(c != '/' && c != '.' && c != '\\' && (unsigned char)c >= 0x20,
				           "valid_reply_name accepts %02x", (unsigned char)c);
		// first JSON byte
		size_t v = f.json_off;
		while (v < f.end && strchr(" \t\r\n", buf[v]) && buf[v]) v++;
		FUZZ_CHECK(v < f.end, "no JSON value");
		if (buf[v] == '{' || buf[v] == '[' || buf[v] == '"') {
			check_cut(buf, off, f, f.end - 1);
			if (f.end - 1 > v + 1) check_cut(buf, off, f, v + 1 + (f.end - 1 - (v + 1)) / 2);
		}
		off = f.end;
	}
	free(buf);
	return 0;
}
