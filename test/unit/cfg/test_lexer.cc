// Unit tests of the cfg tokenizer (core_shim/cfg/lexer.cc).
#include "cfg/lexer.h"

#include "../cmocka_cxx.h" // last

using namespace shim::cfg;

namespace {

std::vector<token> lex(const std::string &src)
{
	std::vector<token> t;
	std::string err;
	assert_int_equal(tokenize(src, "l.cfg", t, err), 0);
	return t;
}

void numbers(void **)
{
	long v;
	assert_true(parse_number("42", v));
	assert_int_equal(v, 42);
	assert_true(parse_number("0x1F", v));
	assert_int_equal(v, 31);
	assert_true(parse_number("0666", v));
	assert_int_equal(v, 0666);
	assert_true(parse_number("0", v));
	assert_int_equal(v, 0);
	assert_false(parse_number("08", v));
	assert_false(parse_number("12ab", v));
	assert_false(parse_number("abc", v));
	assert_false(parse_number("", v));
}

void token_kinds(void **)
{
	auto t = lex("a = 0x10 # c\n$var(x) == \"s\\n\" =~ 'q'\n/* multi\nline */ }");
	assert_int_equal(t.size(), 10);
	assert_int_equal(t[0].kind, token::IDENT);
	assert_true(t[0].bol);
	assert_string_equal(t[1].text.c_str(), "=");
	assert_int_equal(t[2].kind, token::NUMBER);
	assert_int_equal(t[2].num, 16);
	assert_int_equal(t[3].kind, token::PVAR);
	assert_string_equal(t[3].text.c_str(), "$var(x)");
	assert_int_equal(t[3].line, 2);
	assert_true(t[3].bol);
	assert_string_equal(t[4].text.c_str(), "==");
	assert_int_equal(t[5].kind, token::STRING);
	assert_string_equal(t[5].text.c_str(), "s\n");
	assert_false(t[5].bol);
	assert_string_equal(t[6].text.c_str(), "=~");
	assert_string_equal(t[7].text.c_str(), "q");
	assert_string_equal(t[8].text.c_str(), "}");
	assert_int_equal(t[8].line, 4);
	assert_int_equal(t[9].kind, token::END);
}

void address_is_one_word(void **)
{
	auto t = lex("udp:127.0.0.1:5060");
	assert_int_equal(t.size(), 6);
	assert_string_equal(t[2].text.c_str(), "127.0.0.1");
	assert_int_equal(t[2].kind, token::IDENT);
	assert_int_equal(t[4].kind, token::NUMBER);
}

void errors(void **)
{
	std::vector<token> t;
	std::string err;
	assert_int_equal(tokenize("a = 1\nb = \"open\n\n", "x.cfg", t, err), -1);
	assert_string_equal(err.c_str(), "x.cfg:2: unterminated string");
	t.clear();
	assert_int_equal(tokenize("\n\n/* never closed", "x.cfg", t, err), -1);
	assert_string_equal(err.c_str(), "x.cfg:3: unterminated comment");
	t.clear();
	assert_int_equal(tokenize("$var(x", "x.cfg", t, err), -1);
	assert_string_equal(err.c_str(), "x.cfg:1: unterminated variable name");
}

} // namespace

int main()
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(numbers),
	    cmocka_unit_test(token_kinds),
	    cmocka_unit_test(address_is_one_word),
	    cmocka_unit_test(errors),
	};
	return cmocka_run_group_tests(tests, nullptr, nullptr);
}
