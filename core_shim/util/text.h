// Small text helpers for configuration-time parsing.
//
// They exist so that start-up never builds a std::istream: the first stream
// makes libstdc++ construct its classic locale (some thirty facets), which
// touches about half a megabyte of library pages that then stay resident
// for the life of the process (docs/internals/performance.md, "idle RSS").
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace shim {

// The runs of non-blank characters of `text` (blank: space, tab, CR, LF,
// FF, VT), in order; what `while (in >> w)` gives on an istringstream.
std::vector<std::string> split_blank(std::string_view text);

// The whole content of the file at `path` into `out`. False with errno set
// when it cannot be opened or read.
bool read_whole_file(const std::string &path, std::string &out);

} // namespace shim
