#include "render.h"

#include <charconv>
#include <cstring>
#include <strings.h>

namespace prom {

namespace {

bool is_ws(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

std::string_view trim_leading(std::string_view s)
{
	while (!s.empty() && is_ws(s.front()))
		s.remove_prefix(1);
	return s;
}

bool per_thread(const stat_info &s)
{
	return s.proc_id >= 0;
}

bool same_family(const stat_info &a, const stat_info &b)
{
	return (a.group == b.group || strcmp(a.group, b.group) == 0) &&
	       (a.family == b.family || strcmp(a.family, b.family) == 0);
}

void append_int(std::string &out, long v)
{
	char buf[24];
	auto r = std::to_chars(buf, buf + sizeof buf, v);
	out.append(buf, (size_t)(r.ptr - buf));
}

// ---- section 1: OpenSIPS's layout ----

class compat_writer {
public:
	compat_writer(const config &c, const std::vector<stat_info> &rows,
	              scratch &sc, std::string &out)
		: c_(c), rows_(rows), sc_(sc), out_(out)
	{
	}

	void push(size_t i)
	{
		const stat_info &s = rows_[i];
		if (per_thread(s)) {
			push_thread_family(i);
			return;
		}
		if (push_labelled(i))
			return;
		print(s, s.name, {}, true);
	}

	void label_groups()
	{
		// newest group first, and in each the newest statistic first
		for (size_t g = sc_.label_groups_used; g-- > 0;) {
			const scratch::label_group &lg = sc_.label_groups[g];
			bool type = true;
			for (size_t k = lg.stats.size(); k-- > 0;) {
				const scratch::labelled &l = lg.stats[k];
				print(rows_[l.row], lg.name,
				      std::string_view(sc_.label_text).substr(l.at, l.len), type);
				type = false;
			}
		}
	}

private:
	// Every thread's value of the family, under one TYPE, where the
	// family's first statistic is met; later members print nothing.
	void push_thread_family(size_t i)
	{
		const stat_info &s = rows_[i];
		for (int d : sc_.done)
			if (same_family(rows_[(size_t)d], s))
				return;
		size_t first = i;
		for (size_t k = 0; k < i; k++)
			if (per_thread(rows_[k]) && rows_[k].nlabels == 0 &&
			    same_family(rows_[k], s)) {
				first = k;
				break;
			}
		sc_.done.push_back((int)first);
		sc_.fam.assign("proc_");
		sc_.fam += s.family;
		bool type = true;
		for (size_t k = first; k < rows_.size(); k++) {
			const stat_info &m = rows_[k];
			if (!per_thread(m) || m.nlabels > 0 || !same_family(m, s))
				continue;
			print(m, sc_.fam, {}, type);
			type = false;
		}
	}

	bool push_labelled(size_t i)
	{
		const stat_info &s = rows_[i];
		for (const label_rule &r : c_.labels) {
			if (r.group != s.group)
				continue;
			if (!r.expr.apply(s.name, sc_.tmp))
				continue;
			size_t colon = sc_.tmp.find(':');
			if (colon == std::string::npos || colon == 0 ||
			    colon + 1 >= sc_.tmp.size())
				continue; // not "name:labels": the next rule may match
			std::string_view name(sc_.tmp.data(), colon);
			scratch::label_group *lg = nullptr;
			for (size_t g = 0; g < sc_.label_groups_used; g++)
				if (sc_.label_groups[g].name == name) {
					lg = &sc_.label_groups[g];
					break;
				}
			if (!lg) {
				if (sc_.label_groups_used == sc_.label_groups.size())
					sc_.label_groups.emplace_back();
				lg = &sc_.label_groups[sc_.label_groups_used++];
				lg->name.assign(name);
				lg->stats.clear();
			}
			lg->stats.push_back({i, sc_.label_text.size(),
			                     sc_.tmp.size() - colon - 1});
			sc_.label_text.append(sc_.tmp, colon + 1);
			return true;
		}
		return false;
	}

	void name(const stat_info &s, std::string_view stat, bool digit_guard)
	{
		if (digit_guard)
			out_ += '_';
		else
			out_ += c_.prefix;
		out_ += c_.delimiter;
		if (c_.group_mode == GROUP_MODE_NAME) {
			out_ += c_.group_prefix;
			out_ += s.group;
			out_ += c_.delimiter;
		}
		append_sanitized(out_, stat);
	}

	// `labels`: what a labels template produced ("" for none)
	void print(const stat_info &s, std::string_view stat,
	           std::string_view labels, bool type)
	{
		// With no prefix, no delimiter and no group, a name must not start
		// with a digit: OpenSIPS puts a '_' in front.
		bool guard = c_.prefix.empty() && c_.delimiter.empty() &&
		             c_.group_mode == GROUP_MODE_NONE && !stat.empty() &&
		             stat[0] >= '0' && stat[0] <= '9';
		if (type) {
			out_ += "# TYPE ";
			name(s, stat, guard);
			out_ += s.incremental ? " counter\n" : " gauge\n";
		}
		name(s, stat, guard);
		bool any = false;
		auto sep = [&] {
			out_ += any ? ',' : '{';
			any = true;
		};
		if (!labels.empty()) {
			sep();
			out_ += labels; // as the template made it, unescaped
		}
		if (c_.group_mode == GROUP_MODE_LABEL) {
			sep();
			out_ += c_.group_label;
			out_ += "=\"";
			append_label_value(out_, c_.group_prefix);
			append_label_value(out_, s.group);
			out_ += '"';
		}
		if (per_thread(s)) {
			sep();
			out_ += "id=\"";
			append_int(out_, s.proc_id);
			out_ += "\",pid=\"";
			append_int(out_, s.proc_pid);
			out_ += "\",desc=\"";
			append_label_value(out_, s.proc_desc ? s.proc_desc : "");
			out_ += '"';
		}
		if (any)
			out_ += '}';
		out_ += ' ';
		append_value(out_, s.value, s.incremental);
		out_ += '\n';
	}

	const config &c_;
	const std::vector<stat_info> &rows_;
	scratch &sc_;
	std::string &out_;
};

} // namespace

// ---- modparams ----

void add_statistics(config &c, std::string_view value,
                    std::vector<std::string> *added)
{
	if (c.all)
		return;
	std::string_view s = trim_leading(value);
	while (!s.empty()) {
		size_t n = 0;
		while (n < s.size() && !is_ws(s[n]))
			n++;
		std::string_view tok = s.substr(0, n);
		s = trim_leading(s.substr(n));
		if (tok.back() == ':') {
			c.groups.emplace_back(tok.substr(0, tok.size() - 1));
			if (added)
				added->push_back("group " + c.groups.back());
		} else if (tok == "all") {
			c.all = true;
			if (added)
				added->push_back("every statistic (all)");
			return;
		} else {
			c.names.emplace_back(tok);
			if (added)
				added->push_back("statistic " + c.names.back());
		}
	}
}

bool add_label_rule(config &c, std::string_view value, std::string &err)
{
	std::string_view s = trim_leading(value);
	size_t colon = s.find(':');
	if (colon == std::string_view::npos) {
		err = "'" + std::string(value) +
		      "' is not \"group: /regex/replacement/flags\" (no ':')";
		return false;
	}
	if (colon == 0) {
		err = "no statistics group before ':' in '" + std::string(value) + "'";
		return false;
	}
	std::string_view re = trim_leading(s.substr(colon + 1));
	if (re.empty()) {
		err = "no /regex/replacement/flags after '" +
		      std::string(s.substr(0, colon + 1)) + "'";
		return false;
	}
	label_rule r;
	r.group.assign(s.substr(0, colon));
	if (!r.expr.parse(re, err))
		return false;
	c.labels.push_back(std::move(r));
	return true;
}

// ---- snapshot ----

int snapshot::visit(const struct stat_info *s, void *param)
{
	auto *self = (snapshot *)param;
	self->rows_.push_back(*s);
	if (s->proc_desc) {
		self->desc_at_.push_back(self->descs_.size());
		self->descs_ += s->proc_desc;
		self->descs_ += '\0';
	} else {
		self->desc_at_.push_back(std::string::npos);
	}
	return 0;
}

void snapshot::take(walk_f walk)
{
	rows_.clear();
	desc_at_.clear();
	descs_.clear();
	walk(visit, this);
	// the copies are stable now that descs_ no longer grows
	for (size_t i = 0; i < rows_.size(); i++)
		rows_[i].proc_desc = desc_at_[i] == std::string::npos
		                         ? nullptr
		                         : descs_.data() + desc_at_[i];
}

void snapshot::assign(const std::vector<stat_info> &rows)
{
	rows_ = rows;
	desc_at_.clear();
	descs_.clear();
}

// ---- section 1 ----

void render_compat(const config &c, const std::vector<stat_info> &rows,
                   scratch &sc, std::string &out)
{
	sc.done.clear();
	sc.label_groups_used = 0;
	sc.label_text.clear();
	compat_writer w(c, rows, sc, out);
	if (c.all) {
		for (size_t i = 0; i < rows.size(); i++)
			if (rows[i].nlabels == 0)
				w.push(i);
	} else {
		// OpenSIPS keeps both lists newest first: the groups (last
		// declared first), then the single names (last declared first).
		for (size_t g = c.groups.size(); g-- > 0;) {
			const std::string &grp = c.groups[g];
			for (size_t i = 0; i < rows.size(); i++)
				if (rows[i].nlabels == 0 &&
				    strcasecmp(rows[i].group, grp.c_str()) == 0)
					w.push(i);
		}
		for (size_t n = c.names.size(); n-- > 0;) {
			const std::string &name = c.names[n];
			for (size_t i = 0; i < rows.size(); i++)
				if (rows[i].nlabels == 0 && name == rows[i].name) {
					w.push(i);
					break;
				}
		}
	}
	w.label_groups();
}

// ---- section 2 ----

namespace {

void native_name(std::string &out, const stat_info &s)
{
	out += "opensips_";
	for (const char *p = s.group; *p; p++) {
		char ch = *p;
		bool ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
		          (ch >= '0' && ch <= '9') || ch == '_';
		out += ok ? ch : '_';
	}
	out += '_';
	size_t at = out.size();
	for (const char *p = s.family; *p; p++) {
		char ch = *p;
		bool ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
		          (ch >= '0' && ch <= '9') || ch == '_';
		out += ok ? ch : '_';
	}
	if (s.incremental &&
	    !(out.size() - at >= 6 && out.compare(out.size() - 6, 6, "_total") == 0))
		out += "_total";
}

void label_name(std::string &out, const char *n)
{
	if (!n || !*n) {
		out += "label";
		return;
	}
	if (*n >= '0' && *n <= '9')
		out += '_';
	for (const char *p = n; *p; p++) {
		char ch = *p;
		bool ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
		          (ch >= '0' && ch <= '9') || ch == '_';
		out += ok ? ch : '_';
	}
}

} // namespace

void render_native(const std::vector<stat_info> &rows, long uptime_fallback,
                   scratch &sc, std::string &out)
{
	// families in the order their first statistic was registered
	sc.families.clear();
	sc.row_family.assign(rows.size(), -1);
	long uptime = uptime_fallback;
	size_t last = 0;
	for (size_t i = 0; i < rows.size(); i++) {
		const stat_info &s = rows[i];
		if (s.nlabels <= 0) {
			if (s.proc_id < 0 && strcmp(s.group, "core") == 0 &&
			    strcmp(s.name, "timestamp") == 0)
				uptime = (long)s.value;
			continue;
		}
		int f = -1;
		// neighbours are usually of the same family: try the last one first
		if (!sc.families.empty() && same_family(rows[sc.families[last].first], s))
			f = (int)last;
		for (size_t k = 0; f < 0 && k < sc.families.size(); k++)
			if (same_family(rows[sc.families[k].first], s))
				f = (int)k;
		if (f < 0) {
			sc.families.push_back({s.group, s.family, i, 0});
			f = (int)sc.families.size() - 1;
		}
		sc.families[(size_t)f].count++;
		sc.row_family[i] = f;
		last = (size_t)f;
	}
	// counting sort of the rows by family, keeping registration order
	std::vector<size_t> &start = sc.order;
	start.assign(sc.families.size() + 1 + rows.size(), 0);
	size_t *begin = start.data();
	size_t *slot = begin + sc.families.size() + 1;
	size_t pos = 0;
	for (size_t f = 0; f < sc.families.size(); f++) {
		begin[f] = pos;
		pos += sc.families[f].count;
	}
	begin[sc.families.size()] = pos;
	for (size_t i = 0; i < rows.size(); i++)
		if (sc.row_family[i] >= 0)
			slot[begin[(size_t)sc.row_family[i]]++] = i;

	std::string &name = sc.tmp;
	size_t done = 0;
	for (size_t f = 0; f < sc.families.size(); f++) {
		const stat_info &first = rows[sc.families[f].first];
		name.clear();
		native_name(name, first);
		out += "# HELP ";
		out += name;
		out += ' ';
		if (first.help && *first.help) {
			append_help(out, first.help);
		} else {
			out += "statistic ";
			append_help(out, first.group);
			out += ':';
			append_help(out, first.family);
		}
		out += "\n# TYPE ";
		out += name;
		out += first.incremental ? " counter\n" : " gauge\n";
		for (size_t k = 0; k < sc.families[f].count; k++) {
			const stat_info &s = rows[slot[done + k]];
			out += name;
			out += '{';
			for (int l = 0; l < s.nlabels; l++) {
				if (l)
					out += ',';
				label_name(out, s.label_names[l]);
				out += "=\"";
				append_label_value(out, s.label_values[l] ? s.label_values[l] : "");
				out += '"';
			}
			out += "} ";
			append_value(out, s.value, first.incremental);
			out += '\n';
		}
		done += sc.families[f].count;
	}
	out += "# HELP opensips_uptime_seconds Seconds since the host started\n"
	       "# TYPE opensips_uptime_seconds gauge\n"
	       "opensips_uptime_seconds ";
	append_int(out, uptime < 0 ? 0 : uptime);
	out += '\n';
}

// ---- helpers ----

void append_sanitized(std::string &out, std::string_view name)
{
	for (char ch : name) {
		bool ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
		          (ch >= '0' && ch <= '9') || ch == '_' || ch == ':';
		out += ok ? ch : '_';
	}
}

void append_label_value(std::string &out, std::string_view v)
{
	for (char ch : v) {
		if (ch == '\\')
			out += "\\\\";
		else if (ch == '"')
			out += "\\\"";
		else if (ch == '\n')
			out += "\\n";
		else
			out += ch;
	}
}

void append_help(std::string &out, std::string_view v)
{
	for (char ch : v) {
		if (ch == '\\')
			out += "\\\\";
		else if (ch == '\n')
			out += "\\n";
		else
			out += ch;
	}
}

void append_value(std::string &out, unsigned long v, bool incremental)
{
	char buf[24];
	auto r = incremental ? std::to_chars(buf, buf + sizeof buf, v)
	                     : std::to_chars(buf, buf + sizeof buf, (long)v);
	out.append(buf, (size_t)(r.ptr - buf));
}

} // namespace prom
