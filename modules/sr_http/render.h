// Pure renderers of sr_http (unit-tested): /readyz evaluation and text,
// percent-decoding and query parsing.
#pragma once

#include <ctime>
#include <string>
#include <string_view>
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

} // namespace srh
