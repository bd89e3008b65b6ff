// The `/regex/replacement/flags` expressions of the prometheus `labels`
// modparam, with OpenSIPS's substitution rules:
//
// - the first character is the separator (anything but '\'); a separator
//   preceded by '\' does not end the regex;
// - the replacement may hold \0..\9 (the whole match, a group), \\ \n \r \t
//   \$ and \<any> (that character);
// - flags: i (case-insensitive), s (`.` and `[^x]` match a newline),
//   g (every match, not just the first);
// - the text between matches is kept, so "/^a/b/" turns "abc" into "bbc";
// - an empty match is an error (no result), as it is in OpenSIPS.
//
// Statistics have no SIP message, so \u (the request URI) and
// pseudo-variables ($...) are refused when the expression is parsed.
#pragma once

#include <regex.h>

#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace prom {

class subst_expr {
public:
	subst_expr() = default;
	subst_expr(subst_expr &&o) noexcept;
	subst_expr &operator=(subst_expr &&o) noexcept;
	subst_expr(const subst_expr &) = delete;
	subst_expr &operator=(const subst_expr &) = delete;
	~subst_expr();

	// false with `err` saying why (in words a cfg author understands).
	bool parse(std::string_view text, std::string &err);
	// true and `out` set when the regex matched; false on no match.
	bool apply(const char *input, std::string &out) const;

private:
	struct piece {
		enum kind_t { TEXT, GROUP } kind;
		std::string text; // TEXT
		int group = 0;    // GROUP
	};
	regex_t re_{};
	bool compiled_ = false;
	bool global_ = false;
	int max_group_ = 0;
	std::vector<piece> pieces_;
};

} // namespace prom
