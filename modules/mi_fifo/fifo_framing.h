// mi_fifo request framing: `:<reply_fifo_name>:<JSON-RPC request>`
// (spec §5.5). Pure functions, unit-tested without a FIFO.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace mi_fifo {

// The whole `:name:json` of one request must fit the reference's read
// buffer; anything longer is discarded.
constexpr size_t max_request = 4096;
// reply_dir + name must stay under this.
constexpr size_t max_reply_path = 128;

enum class frame_status {
	ok,         // a complete frame: [start, end)
	incomplete, // the buffer ends inside the frame
	bad,        // not a frame (no leading ':', bad JSON token)
	empty,      // only whitespace left
};

struct frame {
	frame_status status = frame_status::bad;
	size_t start = 0;    // offset of the leading ':'
	size_t end = 0;      // offset just after the JSON value (ok)
	std::string_view reply_name;
	size_t json_off = 0; // the JSON text is [json_off, end)
};

// Scans one frame at `off`: leading whitespace, ':', the reply name up to
// the next ':', then one JSON value located lexically (brackets, strings,
// escapes); the MI core parses it properly afterwards.
frame scan_frame(const char *buf, size_t len, size_t off);

// A bare file name: no '.', '/', '\\' or control characters.
bool valid_reply_name(std::string_view name);

} // namespace mi_fifo
