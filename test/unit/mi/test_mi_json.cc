// The MI JSON parser and cJSON-rules printer (core_shim/mi/mi_json.cc).
#include <cstring>
#include <jansson.h>
#include <string>

#include "mi/mi_item.h"

#include "../cmocka_cxx.h" // last

using namespace shim::mi;

static std::string print(const mi_item *it, bool pretty = false)
{
	std::string out;
	json_print(it, pretty, out);
	return out;
}

static std::string num(double d)
{
	std::string out;
	json_print_number(d, out);
	return out;
}

// Parses and prints back compactly; "ERR"/"INCOMPLETE" on failure.
static std::string roundtrip(const char *text, size_t *end = nullptr)
{
	parse_result r = json_parse(text, strlen(text));
	if (end)
		*end = r.end;
	if (r.status == parse_status::error)
		return "ERR";
	if (r.status == parse_status::incomplete)
		return "INCOMPLETE";
	std::string s = print(r.root);
	item_free(r.root);
	return s;
}

static void test_numbers(void **)
{
	assert_string_equal(num(0).c_str(), "0");
	assert_string_equal(num(-0.0).c_str(), "0");
	assert_string_equal(num(1).c_str(), "1");
	assert_string_equal(num(-42).c_str(), "-42");
	assert_string_equal(num(2147483647).c_str(), "2147483647");
	assert_string_equal(num(-2147483648.0).c_str(), "-2147483648");
	// whole numbers outside int: %.0f
	assert_string_equal(num(2147483648.0).c_str(), "2147483648");
	assert_string_equal(num(1795351033000.0).c_str(), "1795351033000");
	assert_string_equal(num(-1e15).c_str(), "-1000000000000000");
	// fractional: %f, or %e when very small / very large
	assert_string_equal(num(1.5).c_str(), "1.500000");
	assert_string_equal(num(-0.25).c_str(), "-0.250000");
	assert_string_equal(num(1e-7).c_str(), "1.000000e-07");
	assert_string_equal(num(12345678901.5).c_str(), "1.234568e+10");
	assert_string_equal(num(1e70).c_str(), "1.000000e+70");
	// not JSON numbers
	assert_string_equal(num(1.0 / 0.0).c_str(), "null");
}

static void test_string_escapes(void **)
{
	std::string out;
	std::string in("a\"b\\c/d\b\f\n\r\t\x01\x1f\x7f", 15);
	in += std::string("\0z", 2);
	in += "\xc3\xa9\xe2\x82\xac"; // é €
	json_print_string(in, out);
	assert_string_equal(out.c_str(),
	                    "\"a\\\"b\\\\c/d\\b\\f\\n\\r\\t\\u0001\\u001f\x7f\\u0000z"
	                    "\xc3\xa9\xe2\x82\xac\"");
}

static void test_compact_and_pretty(void **)
{
	parse_result r = json_parse("{\"a\":1,\"b\":[1,2,{\"c\":\"x\"}],\"d\":{},\"e\":[]}", 47);
	assert_int_equal((int)r.status, (int)parse_status::ok);
	assert_string_equal(print(r.root).c_str(),
	                    "{\"a\":1,\"b\":[1,2,{\"c\":\"x\"}],\"d\":{},\"e\":[]}");
	assert_string_equal(print(r.root, true).c_str(),
	                    "{\n"
	                    "\t\"a\":\t1,\n"
	                    "\t\"b\":\t[1, 2, {\n"
	                    "\t\t\t\"c\":\t\"x\"\n"
	                    "\t\t}],\n"
	                    "\t\"d\":\t{\n"
	                    "\t},\n"
	                    "\t\"e\":\t[]\n"
	                    "}");
	item_free(r.root);
}

static void test_parse_values(void **)
{
	assert_string_equal(roundtrip("  {\"a\" : [ true , false , null ] } ").c_str(),
	                    "{\"a\":[true,false,null]}");
	assert_string_equal(roundtrip("\"x\"").c_str(), "\"x\"");
	assert_string_equal(roundtrip("-12.5e1").c_str(), "-125");
	assert_string_equal(roundtrip("1e-400").c_str(), "0");
	assert_string_equal(roundtrip("\"\\u00e9\\ud83d\\ude00\\/\"").c_str(),
	                    "\"\xc3\xa9\xf0\x9f\x98\x80/\"");
	assert_string_equal(roundtrip("[]").c_str(), "[]");
}

static void test_trailing_bytes(void **)
{
	size_t end = 0;
	assert_string_equal(roundtrip("{\"a\":1} trailing", &end).c_str(), "{\"a\":1}");
	assert_int_equal(end, 7);
	assert_string_equal(roundtrip("[1]]]", &end).c_str(), "[1]");
	assert_int_equal(end, 3);
	assert_string_equal(roundtrip("12 13", &end).c_str(), "12");
	assert_int_equal(end, 2);
}

static void test_parse_errors(void **)
{
	const char *bad[] = {
		"hello", "{\"a\":}", "{\"a\" 1}", "{a:1}", "[1,]", "{\"a\":1,}", "01",
		"1.", "-", "+1", ".5", "1e", "\"\\x\"", "\"a\nb\"", "\"\\ud800\"",
		"\"\\udc00x\"", "\"\xff\"", "\"\xc0\x80\"", "\"\xed\xa0\x80\"", "tru",
		"nul", "nulls", "truex", "1e999", "'a'", "",
	};
	for (const char *b : bad) {
		std::string r = roundtrip(b);
		if (r != "ERR" && r != "INCOMPLETE")
			fail_msg("parsed invalid JSON <%s> as %s", b, r.c_str());
	}
	assert_string_equal(roundtrip("{\"jsonrpc\":\"2.0\",\"method\":\"version\",\"id\":96").c_str(),
	                    "INCOMPLETE");
	assert_string_equal(roundtrip("[1,2").c_str(), "INCOMPLETE");
	assert_string_equal(roundtrip("").c_str(), "INCOMPLETE");
	assert_string_equal(roundtrip("{\"a\":1,}").c_str(), "ERR");
}

static void test_depth_limit(void **)
{
	std::string deep(100000, '[');
	parse_result r = json_parse(deep.data(), deep.size());
	assert_int_equal((int)r.status, (int)parse_status::error);
	std::string ok = std::string(200, '[') + std::string(200, ']');
	r = json_parse(ok.data(), ok.size());
	assert_int_equal((int)r.status, (int)parse_status::ok);
	item_free(r.root);
}

static void test_duplicates_kept(void **)
{
	parse_result r = json_parse("{\"a\":1,\"A\":2,\"a\":3}", 19);
	assert_int_equal((int)r.status, (int)parse_status::ok);
	assert_int_equal(r.root->count, 3);
	// case-insensitive lookup, first wins
	mi_item *a = object_get(r.root, "a");
	assert_non_null(a);
	assert_true(a->number == 1);
	assert_true(object_get(r.root, "A")->number == 1);
	assert_string_equal(print(r.root).c_str(), "{\"a\":1,\"A\":2,\"a\":3}");
	item_free(r.root);
}

// jansson as an oracle: both must agree on what is JSON (jansson with
// DECODE_ANY | DISABLE_EOF_CHECK; numbers as reals so big ints parse).
static void test_agrees_with_jansson(void **)
{
	const char *cases[] = {
		"{}", "[]", "0", "-0", "1.5e3", "[1,[2,[3]]]", "{\"a\":{\"b\":[null]}}",
		"\"\\u0041\"", "{\"a\":1}x", "[1 2]", "{\"a\" 1}", "[\"\t\"]", "[-]",
		"[1.]", "[.1]", "[01]", "{\"\\ud83d\\ude00\":1}", "[\"\\ud83d\"]",
		"  \n[true]", "[True]", "nulls", "[1e5]", "[1E+5]", "[1e-5]", "{,}",
		"[\"\xe2\x82\xac\"]", "[\"\xe2\x82\"]", "[\"\xf4\x90\x80\x80\"]",
		"{\"a\":1,\"a\":2}", "[99999999999999999999999]",
	};
	for (const char *c : cases) {
		json_error_t err;
		json_t *j = json_loadb(c, strlen(c),
		                       JSON_DECODE_ANY | JSON_DISABLE_EOF_CHECK |
		                           JSON_DECODE_INT_AS_REAL | JSON_ALLOW_NUL,
		                       &err);
		parse_result r = json_parse(c, strlen(c));
		bool ours = r.status == parse_status::ok;
		if (ours != (j != nullptr))
			fail_msg("disagree on <%s>: ours %d jansson %d (%s)", c, ours, j != nullptr,
			         err.text);
		json_decref(j);
		item_free(r.root);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_numbers),
		cmocka_unit_test(test_string_escapes),
		cmocka_unit_test(test_compact_and_pretty),
		cmocka_unit_test(test_parse_values),
		cmocka_unit_test(test_trailing_bytes),
		cmocka_unit_test(test_parse_errors),
		cmocka_unit_test(test_depth_limit),
		cmocka_unit_test(test_duplicates_kept),
		cmocka_unit_test(test_agrees_with_jansson),
	};
	return cmocka_run_group_tests(tests, nullptr, nullptr);
}
