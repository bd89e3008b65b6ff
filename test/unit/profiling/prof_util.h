// Shared by the profiling unit tests: a sink that keeps every record the
// drain hands over, and helpers to read them.
#pragma once

#include <string>
#include <vector>

#include "opensips/profiling.h"
#include "profiling/prof_core.h"

namespace proftest {

inline std::vector<shim_prof_record> g_got;

inline int keep(const shim_prof_record *r, void *)
{
	g_got.push_back(*r);
	return 0;
}

inline void install_sink()
{
	shim_prof_sink s{sizeof(shim_prof_sink), EVI_ERROR, EVI_ERROR, keep, nullptr, 0};
	shim_prof_set_sink(nullptr); // one owner: take over from the last test
	shim_prof_set_sink(&s);
}

// Everything committed so far, in order; clears the list.
inline std::vector<shim_prof_record> drained()
{
	shim::prof_drain((size_t)-1);
	std::vector<shim_prof_record> out;
	out.swap(g_got);
	return out;
}

inline std::string verb_text(int v)
{
	static const char *const n[] = {"start", "enter", "exit", "end"};
	return v >= 0 && v < 4 ? n[v] : "?";
}

// "verb name depth" of one record, for compact assertions.
inline std::string line(const shim_prof_record &r)
{
	return verb_text(r.verb) + " " + (r.name ? r.name : "<root>") + " " +
	       std::to_string(r.depth);
}

inline std::string lines(const std::vector<shim_prof_record> &v)
{
	std::string s;
	for (auto &r : v) s += line(r) + "\n";
	return s;
}

} // namespace proftest
