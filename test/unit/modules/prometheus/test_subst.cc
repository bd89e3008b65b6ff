// The labels expressions (/regex/replacement/flags): parsing errors and
// OpenSIPS's substitution rules.
#include <cstring>
#include <string>

#include "../../../../modules/prometheus/subst.h"

#include "../../cmocka_cxx.h" // last

using prom::subst_expr;

namespace {

std::string run(const char *expr, const char *input, bool *matched = nullptr)
{
	subst_expr e;
	std::string err, out;
	if (!e.parse(expr, err)) {
		print_error("parse failed: %s\n", err.c_str());
		fail();
	}
	bool m = e.apply(input, out);
	if (matched)
		*matched = m;
	return m ? out : std::string("<no match>");
}

std::string parse_error(const char *expr)
{
	subst_expr e;
	std::string err;
	assert_false(e.parse(expr, err));
	assert_false(err.empty());
	return err;
}

void test_replace(void **)
{
	assert_string_equal(run("/^([0-9])xx_replies$/replies:class=\"\\1xx\"/",
	                        "2xx_replies").c_str(),
	                    "replies:class=\"2xx\"");
	// only the match is replaced; the rest of the name stays
	assert_string_equal(run("/^a/b/", "abca").c_str(), "bbca");
	assert_string_equal(run("/a/b/g", "abca").c_str(), "bbcb");
	assert_string_equal(run("/A/b/i", "xa").c_str(), "xb");
	assert_string_equal(run("/a/b/", "xyz").c_str(), "<no match>");
	// \0 is the whole match; a group that did not take part is empty
	assert_string_equal(run("/(x)?b/[\\0|\\1]/", "ab").c_str(), "a[b|]");
	// escapes in the replacement
	assert_string_equal(run("/a/\\\\\\$\\t\\//", "a").c_str(), "\\$\t/");
	// another separator, and an escaped one inside the regex
	assert_string_equal(run("#a\\#b#c#", "a#b").c_str(), "c");
	// a reference past the regex's groups is empty
	assert_string_equal(run("/(a)/\\1\\5/", "a").c_str(), "a");
	// an empty match gives no result (OpenSIPS refuses it too)
	bool m = true;
	run("/x*/y/", "abc", &m);
	assert_false(m);
}

void test_errors(void **)
{
	std::string e = parse_error("/^([0-9]xx_replies$/replies:class=\"\\1\"/");
	assert_non_null(strstr(e.c_str(), "bad regular expression '^([0-9]xx_replies$'"));
	e = parse_error("notaregex");
	assert_non_null(strstr(e.c_str(), "no closing 'n' after the regex"));
	e = parse_error("a=\"b\"/");
	assert_non_null(strstr(e.c_str(), "no closing 'a'"));
	e = parse_error("/ab");
	assert_non_null(strstr(e.c_str(), "no closing '/'"));
	e = parse_error("/ab/");
	assert_non_null(strstr(e.c_str(), "no replacement"));
	e = parse_error("/ab/c");
	assert_non_null(strstr(e.c_str(), "after the replacement"));
	e = parse_error("/a/b/x");
	assert_non_null(strstr(e.c_str(), "unknown flag 'x'"));
	e = parse_error("/a");
	assert_non_null(strstr(e.c_str(), "too short"));
	e = parse_error("\\a\\b\\");
	assert_non_null(strstr(e.c_str(), "separator"));
	e = parse_error("/a/$ru/");
	assert_non_null(strstr(e.c_str(), "pseudo-variables"));
	e = parse_error("/a/\\u/");
	assert_non_null(strstr(e.c_str(), "\\u"));
	// a failed parse keeps nothing; a good one after it works
	subst_expr x;
	std::string err, out;
	assert_false(x.parse("/(/x/", err));
	assert_false(x.apply("(", out));
	assert_true(x.parse("/b/c/", err));
	assert_true(x.apply("abc", out));
	assert_string_equal(out.c_str(), "acc");
	// moved expressions keep working, the source is empty
	subst_expr y(std::move(x));
	assert_true(y.apply("b", out));
	assert_false(x.apply("b", out));
}

} // namespace

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_replace),
		cmocka_unit_test(test_errors),
	};
	return cmocka_run_group_tests(tests, nullptr, nullptr);
}
