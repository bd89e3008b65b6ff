// regcomp_guarded: ordinary patterns compile; patterns whose compiled size
// would double per level are refused before regcomp runs.
#include "util/regex_guard.h"

#include "../cmocka_cxx.h"

using namespace shim;

static int try_compile(const std::string &p, std::string *why = nullptr)
{
	regex_t re;
	int rc = regcomp_guarded(&re, p.c_str(), REG_EXTENDED | REG_NOSUB, why);
	if (rc == 0)
		regfree(&re);
	return rc;
}

static void test_ordinary_patterns(void **)
{
	assert_int_equal(try_compile("^sr-(ok|bad)$"), 0);
	assert_int_equal(try_compile("a+b+c+d+e+f+g+h+i+j+k+"), 0); // linear
	assert_int_equal(try_compile("[+*?{]+x{2,3}"), 0);          // bracket
	assert_int_equal(try_compile("\\+\\+\\+\\+\\+\\+\\+\\+\\+\\+"), 0);
	assert_int_equal(try_compile("(a+)+"), 0);
	assert_int_equal(try_compile("a{1,1000}"), 0);
	assert_int_equal(try_compile("(ab){2,50}"), 0);
	assert_int_equal(try_compile("status_r+eport"), 0);
}

static void test_stacked_quantifiers_refused(void **)
{
	std::string why;
	std::string p = "status_r";
	for (int i = 0; i < 33; i++) p += "+";
	p += "eport";
	assert_int_equal(try_compile(p, &why), REG_ESPACE);
	assert_true(why.find("repetitions") != std::string::npos);
	std::string nested;
	for (int i = 0; i < 14; i++) nested = "(" + (nested.empty() ? "a" : nested) + "+)";
	assert_int_equal(try_compile(nested + "+"), REG_ESPACE);
	assert_int_equal(try_compile("a{1,2}{1,2}{1,2}{1,2}{1,2}{1,2}{1,2}{1,2}{1,2}{1,2}{1,2}{1,2}{1,2}{1,2}{1,2}"),
	                 REG_ESPACE);
	assert_int_equal(try_compile("(a{1,100}){1,100}"), 0); // 100 copies: fine
	assert_int_equal(try_compile("((a{1,100}){1,100}){1,100}"), REG_ESPACE);
	assert_int_equal(try_compile("a{1,5000}", &why), REG_ESPACE);
	assert_true(why.find("repeats") != std::string::npos);
}

static void test_size_limits(void **)
{
	std::string why;
	assert_int_equal(try_compile(std::string(kRegexMaxLen + 1, 'a'), &why),
	                 REG_ESPACE);
	assert_true(why.find("longer") != std::string::npos);
	std::string deep(kRegexMaxNesting + 1, '(');
	deep += "a";
	deep += std::string(kRegexMaxNesting + 1, ')');
	assert_int_equal(try_compile(deep, &why), REG_ESPACE);
	assert_true(why.find("nests") != std::string::npos);
	// a syntax error is still regcomp's own answer
	assert_int_not_equal(try_compile("a("), 0);
	assert_int_not_equal(try_compile("a("), REG_ESPACE);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ordinary_patterns),
		cmocka_unit_test(test_stacked_quantifiers_refused),
		cmocka_unit_test(test_size_limits),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
