// The prometheus module's exposition, kept apart from the module glue so
// the unit tests can feed it statistics of their own.
//
// A scrape is: snapshot the statistics (one stats_walk), then
//   1. the OpenSIPS-compatible section (render_compat): the statistics the
//      `statistics` modparam selects, named and laid out as OpenSIPS's
//      prometheus module does (no HELP, `prefix`/`delimiter`/`group_mode`,
//      `labels` templates, per-thread statistics as proc_<family>), then
//      what the script_route printed, then OpenSIPS's closing "\n";
//   2. the native section (render_native), always: every per-item
//      statistic family with HELP/TYPE/labels (decisions §31/§34), and
//      opensips_uptime_seconds.
// Per-item statistics (nlabels > 0) are never in the compatible section.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "opensips/statistics.h"

#include "subst.h"

namespace prom {

enum group_mode {
	GROUP_MODE_NONE = 0,  // no group anywhere
	GROUP_MODE_NAME = 1,  // prefix_<group_prefix><group>_name
	GROUP_MODE_LABEL = 2, // group="<group_prefix><group>"
};

struct label_rule {
	std::string group; // compared exactly with the statistic's group
	subst_expr expr;
};

struct config {
	std::string prefix = "opensips";
	std::string delimiter = "_";
	std::string group_prefix;
	std::string group_label = "group";
	int group_mode = GROUP_MODE_NONE;
	bool all = false;
	std::vector<std::string> groups; // "sl:" entries, declaration order
	std::vector<std::string> names;  // bare names, declaration order
	std::vector<label_rule> labels;  // declaration order
};

// One `statistics` modparam value: space-separated tokens; "all" selects
// everything from then on (later values are ignored, as OpenSIPS does).
// `added` receives one line per token for the startup log.
void add_statistics(config &c, std::string_view value,
                    std::vector<std::string> *added = nullptr);
// One `labels` modparam value, "group: /regex/replacement/flags".
bool add_label_rule(config &c, std::string_view value, std::string &err);

// ---- snapshot ----
// The statistics of one scrape, copied out of stats_walk. The strings a
// stat_info points at live as long as the statistic (until the host
// exits), except the thread name, which is copied. Reused between
// scrapes, so a scrape allocates nothing once the vectors have grown.
class snapshot {
public:
	using walk_f = void (*)(stat_visit_f f, void *param);
	void take(walk_f walk);
	// for tests: rows given directly (strings must outlive the render)
	void assign(const std::vector<stat_info> &rows);
	const std::vector<stat_info> &rows() const { return rows_; }

private:
	static int visit(const struct stat_info *s, void *param);
	std::vector<stat_info> rows_;
	std::vector<size_t> desc_at_; // offset of the copied thread name
	std::string descs_;
};

// Scratch space of the renderers, reused between scrapes.
struct scratch {
	struct family {
		const char *group, *name;
		size_t first, count;
	};
	std::vector<int> done;          // compat: per-thread families printed
	struct labelled {
		size_t row;
		size_t at, len; // in label_text
	};
	struct label_group {
		std::string name;
		std::vector<labelled> stats;
	};
	std::vector<label_group> label_groups;
	size_t label_groups_used = 0;
	std::string label_text;
	std::string tmp, fam;
	std::vector<family> families;  // native
	std::vector<int> row_family;
	std::vector<size_t> order;
};

// Section 1 without the closing "\n" (the caller appends the script
// route's output and then "\n").
void render_compat(const config &c, const std::vector<stat_info> &rows,
                   scratch &sc, std::string &out);
// Section 2. `uptime_fallback` is used when there is no core:timestamp.
void render_native(const std::vector<stat_info> &rows, long uptime_fallback,
                   scratch &sc, std::string &out);

// ---- exposition helpers ----
// Characters outside [A-Za-z0-9_:] become '_' (OpenSIPS's rule for the
// statistic part of a name).
void append_sanitized(std::string &out, std::string_view name);
// Label value escaping of the text format: \\ \" \n.
void append_label_value(std::string &out, std::string_view v);
// HELP escaping: \\ \n.
void append_help(std::string &out, std::string_view v);
// Counters print unsigned, gauges signed (a gauge may go below zero).
void append_value(std::string &out, unsigned long v, bool incremental);

} // namespace prom
