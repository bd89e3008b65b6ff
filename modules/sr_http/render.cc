#include "render.h"

namespace srh {

const char *const own_group = "sr_http";

namespace {

bool listed(const std::vector<std::string> &v, std::string_view s)
{
	for (const std::string &x : v)
		if (x == s)
			return true;
	return false;
}

std::string one_line(std::string_view s)
{
	std::string r(s);
	for (char &c : r)
		if (c == '\n' || c == '\r')
			c = ' ';
	return r;
}

struct check_line {
	bool ok;
	std::string text; // after "[+]" / "[-]"
};

check_line entry_check(const sr_entry &e, bool is_core)
{
	bool ok = is_core ? e.status == 1 : e.status > 0;
	std::string name = e.group + "/" + e.identifier;
	if (ok)
		return {true, name + " ok"};
	std::string t = name + " status=" + std::to_string(e.status);
	if (e.has_details)
		t += " details=" + one_line(e.details);
	return {false, t};
}

check_line drain_check(const host_state &st)
{
	if (!st.draining)
		return {true, "drain ok"};
	char when[64] = "";
	struct tm tm;
	time_t t = st.drain_since;
	gmtime_r(&t, &tm);
	strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", &tm);
	return {false, std::string("drain draining since ") + when + " (sr_http:drain)"};
}

http_text finish(const std::vector<check_line> &checks, bool verbose)
{
	http_text r;
	bool all_ok = true;
	for (const check_line &c : checks)
		all_ok = all_ok && c.ok;
	r.status = all_ok ? 200 : 503;
	if (all_ok && !verbose) {
		r.body = "ok\n";
		return r;
	}
	for (const check_line &c : checks) {
		if (!verbose && c.ok)
			continue;
		r.body += c.ok ? "[+]" : "[-]";
		r.body += c.text;
		r.body += '\n';
	}
	r.body += all_ok ? "readyz check passed\n" : "readyz check failed\n";
	return r;
}

int hexval(char c)
{
	if (c >= '0' && c <= '9') return c - '0';
	if (c >= 'a' && c <= 'f') return c - 'a' + 10;
	if (c >= 'A' && c <= 'F') return c - 'A' + 10;
	return -1;
}

} // namespace

http_text render_readyz(const std::vector<sr_entry> &entries,
                        const std::vector<std::string> &ready_groups,
                        const host_state &st, const readyz_opts &o)
{
	std::vector<check_line> checks;
	if (st.terminating)
		checks.push_back({false, "shutdown host is terminating"});
	if (o.one) {
		bool any = false;
		if (o.group == "drain" || (o.group == own_group && !o.has_identifier)) {
			bool have_group = false;
			for (const sr_entry &e : entries)
				have_group = have_group || e.group == o.group;
			if (o.group == own_group || !have_group) {
				checks.push_back(drain_check(st));
				return finish(checks, o.verbose);
			}
		}
		for (const sr_entry &e : entries) {
			if (e.group != o.group || (o.has_identifier && e.identifier != o.identifier))
				continue;
			any = true;
			checks.push_back(entry_check(e, e.group == "core"));
		}
		if (!any) {
			http_text r;
			r.status = 404;
			r.body = o.has_identifier
			             ? "no identifier '" + one_line(o.identifier) + "' in group '" +
			                   one_line(o.group) + "'\n"
			             : "no group '" + one_line(o.group) + "'\n";
			return r;
		}
		return finish(checks, o.verbose);
	}
	bool core_seen = false;
	if (!listed(o.exclude, "core")) {
		for (const sr_entry &e : entries)
			if (e.group == "core") {
				checks.push_back(entry_check(e, true));
				core_seen = true;
			}
		if (!core_seen)
			checks.push_back({false, "core/main missing (status_report not loaded?)"});
	}
	for (const sr_entry &e : entries) {
		if (e.group == "core" || e.group == own_group || listed(o.exclude, e.group))
			continue;
		if (!ready_groups.empty() && !listed(ready_groups, e.group))
			continue;
		checks.push_back(entry_check(e, false));
	}
	if (!listed(o.exclude, "drain") && !listed(o.exclude, own_group))
		checks.push_back(drain_check(st));
	return finish(checks, o.verbose);
}

bool percent_decode(std::string_view in, bool plus_space, std::string &out)
{
	out.clear();
	out.reserve(in.size());
	for (size_t i = 0; i < in.size(); i++) {
		char c = in[i];
		if (c == '%') {
			if (i + 2 >= in.size())
				return false;
			int h = hexval(in[i + 1]), l = hexval(in[i + 2]);
			if (h < 0 || l < 0)
				return false;
			out.push_back((char)(h * 16 + l));
			i += 2;
		} else if (c == '+' && plus_space) {
			out.push_back(' ');
		} else {
			out.push_back(c);
		}
	}
	return true;
}

bool parse_readyz_query(std::string_view q, readyz_opts &o)
{
	while (!q.empty()) {
		size_t amp = q.find('&');
		std::string_view kv = q.substr(0, amp);
		q = amp == std::string_view::npos ? std::string_view() : q.substr(amp + 1);
		if (kv.empty())
			continue;
		size_t eq = kv.find('=');
		std::string k, v;
		if (!percent_decode(kv.substr(0, eq), true, k))
			return false;
		if (eq != std::string_view::npos && !percent_decode(kv.substr(eq + 1), true, v))
			return false;
		if (k == "verbose")
			o.verbose = true; // k8s: any value, even "false", asks for it
		else if (k == "exclude" && !v.empty())
			o.exclude.push_back(v);
	}
	return true;
}

bool parse_readyz_subpath(std::string_view rest, readyz_opts &o)
{
	size_t slash = rest.find('/');
	std::string_view g = rest.substr(0, slash);
	if (g.empty() || !percent_decode(g, false, o.group))
		return false;
	o.one = true;
	if (slash != std::string_view::npos && slash + 1 < rest.size()) {
		if (!percent_decode(rest.substr(slash + 1), false, o.identifier))
			return false;
		o.has_identifier = true;
	}
	return true;
}

} // namespace srh
