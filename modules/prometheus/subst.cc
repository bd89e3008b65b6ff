#include "subst.h"

#include <cstring>
#include <utility>

namespace prom {

subst_expr::subst_expr(subst_expr &&o) noexcept
	: re_(o.re_), compiled_(o.compiled_), global_(o.global_),
	  max_group_(o.max_group_), pieces_(std::move(o.pieces_))
{
	o.compiled_ = false;
}

subst_expr &subst_expr::operator=(subst_expr &&o) noexcept
{
	if (this != &o) {
		if (compiled_)
			regfree(&re_);
		re_ = o.re_;
		compiled_ = o.compiled_;
		global_ = o.global_;
		max_group_ = o.max_group_;
		pieces_ = std::move(o.pieces_);
		o.compiled_ = false;
	}
	return *this;
}

subst_expr::~subst_expr()
{
	if (compiled_)
		regfree(&re_);
}

bool subst_expr::parse(std::string_view text, std::string &err)
{
	std::string whole(text);
	if (text.size() < 3) {
		err = "'" + whole + "' is too short for /regex/replacement/flags";
		return false;
	}
	char sep = text[0];
	if (sep == '\\') {
		err = "'\\' cannot be the separator in '" + whole + "'";
		return false;
	}
	// the regex ends at the next separator not preceded by '\'
	size_t re_end = 1;
	while (re_end < text.size() &&
	       !(text[re_end] == sep && text[re_end - 1] != '\\'))
		re_end++;
	if (re_end >= text.size()) {
		err = std::string("no closing '") + sep + "' after the regex in '" +
		      whole + "'";
		return false;
	}
	if (re_end + 1 >= text.size()) {
		err = std::string("no replacement after the regex in '") + whole + "'";
		return false;
	}
	std::string re(text.substr(1, re_end - 1));

	std::vector<piece> pieces;
	std::string lit;
	auto flush = [&] {
		if (!lit.empty()) {
			pieces.push_back({piece::TEXT, lit, 0});
			lit.clear();
		}
	};
	int max_group = 0;
	size_t p = re_end + 1;
	bool closed = false;
	for (; p < text.size(); p++) {
		char c = text[p];
		if (c == '\\') {
			if (++p >= text.size())
				break;
			char e = text[p];
			if (e >= '0' && e <= '9') {
				flush();
				pieces.push_back({piece::GROUP, "", e - '0'});
				if (e - '0' > max_group)
					max_group = e - '0';
			} else if (e == 'n') {
				lit.push_back('\n');
			} else if (e == 'r') {
				lit.push_back('\r');
			} else if (e == 't') {
				lit.push_back('\t');
			} else if (e == 'u') {
				err = "\\u (the request URI) has no meaning for a statistic, in '" +
				      whole + "'";
				return false;
			} else {
				lit.push_back(e); // \\, \$, \<separator>, any other
			}
			continue;
		}
		if (c == '$') {
			err = "pseudo-variables ($...) are not supported in the "
			      "replacement of '" + whole + "' (escape it as \\$)";
			return false;
		}
		if (c == sep) {
			closed = true;
			break;
		}
		lit.push_back(c);
	}
	if (!closed) {
		err = std::string("no closing '") + sep +
		      "' after the replacement in '" + whole + "'";
		return false;
	}
	flush();

	int cflags = REG_EXTENDED | REG_NEWLINE;
	bool global = false;
	for (p++; p < text.size(); p++) {
		switch (text[p]) {
		case 'i': cflags |= REG_ICASE; break;
		case 's': cflags &= ~REG_NEWLINE; break;
		case 'g': global = true; break;
		default:
			err = std::string("unknown flag '") + text[p] + "' in '" + whole +
			      "' (flags are i, s and g)";
			return false;
		}
	}

	regex_t compiled;
	int rc = regcomp(&compiled, re.c_str(), cflags);
	if (rc != 0) {
		char why[256];
		regerror(rc, &compiled, why, sizeof why);
		err = "bad regular expression '" + re + "' in '" + whole + "': " + why;
		return false;
	}
	if (compiled_)
		regfree(&re_);
	re_ = compiled;
	compiled_ = true;
	global_ = global;
	max_group_ = max_group;
	pieces_ = std::move(pieces);
	return true;
}

bool subst_expr::apply(const char *input, std::string &out) const
{
	if (!compiled_)
		return false;
	out.clear();
	regmatch_t m[10];
	size_t nmatch = (size_t)max_group_ + 1;
	const char *p = input;
	int eflags = 0;
	bool any = false;
	for (;;) {
		if (regexec(&re_, p, nmatch, m, eflags) != 0)
			break;
		if (m[0].rm_so < 0 || m[0].rm_so == m[0].rm_eo)
			return false; // an empty match: OpenSIPS gives up too
		any = true;
		out.append(p, (size_t)m[0].rm_so);
		for (const piece &pc : pieces_) {
			if (pc.kind == piece::TEXT) {
				out += pc.text;
			} else if ((size_t)pc.group < nmatch && m[pc.group].rm_so >= 0) {
				out.append(p + m[pc.group].rm_so,
				           (size_t)(m[pc.group].rm_eo - m[pc.group].rm_so));
			}
		}
		p += m[0].rm_eo;
		if (!global_)
			break;
		eflags = (p[-1] == '\n' || p[-1] == '\r') ? 0 : REG_NOTBOL;
	}
	if (!any)
		return false;
	out += p;
	return true;
}

} // namespace prom
