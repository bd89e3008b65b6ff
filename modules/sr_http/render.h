// Pure renderers of sr_http (unit-tested): /readyz evaluation and text,
// Prometheus text format 0.0.4, percent-decoding and query parsing.
#pragma once

#include <ctime>
#include <string>
#include <string_view>
#include <unordered_set>
#include <vector>

namespace srh {

struct sr_entry {
	std::string group, identifier;
	int status = 0;
	bool has_details = false;
	std::string details;
};

struct host_state {
	bool draining = false;
	time_t drain_since = 0;
	bool terminating = false;
};

struct readyz_opts {
	bool verbose = false;
	std::vector<std::string> exclude;
	bool one = false;            // /readyz/<group>[/<identifier>]
	std::string group, identifier;
	bool has_identifier = false;
};

struct http_text {
	int status = 200;
	std::string body;
};

// The SR group sr_http registers; rendered as the `drain` check.
extern const char *const own_group;

// entries in sr walk order; ready_groups empty = every group.
http_text render_readyz(const std::vector<sr_entry> &entries,
                        const std::vector<std::string> &ready_groups,
                        const host_state &st, const readyz_opts &o);

// %XX decoding; '+' becomes ' ' when plus_space. false on a bad escape.
bool percent_decode(std::string_view in, bool plus_space, std::string &out);
// verbose, exclude=<group> (repeatable). false on a bad escape.
bool parse_readyz_query(std::string_view q, readyz_opts &o);
// "<group>[/<identifier>]" after "/readyz/": split at the first '/'.
bool parse_readyz_subpath(std::string_view rest, readyz_opts &o);

// ---- Prometheus text format 0.0.4 ----
std::string prom_escape_label(std::string_view v); // \\ \" \n
std::string prom_escape_help(std::string_view v);  // \\ \n
std::string prom_value(double v);

class prom_writer {
public:
	// HELP/TYPE once per family, when it first appears.
	void family(std::string_view name, std::string_view help,
	            std::string_view type);
	void sample(std::string_view name, int nlabels, const char *const *names,
	            const char *const *values, double value);
	std::string &text() { return out_; }

private:
	std::string out_;
	std::unordered_set<std::string> seen_;
};

void render_sr_metrics(prom_writer &w, const std::vector<sr_entry> &entries);

} // namespace srh
