// httpd's request parser: good, pipelined, partial, oversized, garbage,
// and Basic auth decoding.
#include <string>

#include "../../../../modules/httpd/http_parser.h"

#include "../../cmocka_cxx.h" // last

using namespace httpd;

namespace {

parse_result parse(const std::string &s, request &r, limits lim = limits{})
{
	return parse_request(s.data(), s.size(), lim, r);
}

void test_good_get(void **)
{
	request r;
	std::string s = "GET /readyz/core?verbose&exclude=a HTTP/1.1\r\nHost: x\r\n"
	                "X-Thing:  spaced value \r\n\r\n";
	parse_result p = parse(s, r);
	assert_int_equal((int)p.state, (int)parse_state::complete);
	assert_true(r.method == "GET");
	assert_true(r.path == "/readyz/core");
	assert_true(r.query == "verbose&exclude=a");
	assert_int_equal(r.minor, 1);
	assert_true(r.keep_alive);
	assert_int_equal(r.consumed, s.size());
	const std::string_view *v = r.find("x-thing");
	assert_non_null(v);
	assert_true(*v == "spaced value");
	assert_null(r.find("Content-Length"));
}

void test_good_post_body(void **)
{
	request r;
	std::string body = "{\"jsonrpc\":\"2.0\",\"method\":\"version\",\"id\":1}";
	std::string s = "POST /mi HTTP/1.1\r\nContent-Type: application/json\r\n"
	                "Content-Length: " + std::to_string(body.size()) +
	                "\r\nConnection: close\r\n\r\n" + body;
	parse_result p = parse(s, r);
	assert_int_equal((int)p.state, (int)parse_state::complete);
	assert_true(r.body == body);
	assert_false(r.keep_alive);
	// LF-only line endings are accepted too
	std::string lf = "GET / HTTP/1.0\nConnection: keep-alive\n\n";
	p = parse(lf, r);
	assert_int_equal((int)p.state, (int)parse_state::complete);
	assert_int_equal(r.minor, 0);
	assert_true(r.keep_alive);
	p = parse("GET / HTTP/1.0\r\n\r\n", r);
	assert_false(r.keep_alive);
}

void test_pipelined(void **)
{
	std::string a = "GET /livez HTTP/1.1\r\n\r\n";
	std::string b = "POST /mi HTTP/1.1\r\nContent-Length: 2\r\n\r\n{}";
	std::string c = "GET /metrics HTTP/1.1\r\n\r\n";
	std::string all = a + b + c;
	request r;
	size_t off = 0;
	std::vector<std::string> paths;
	while (off < all.size()) {
		parse_result p = parse_request(all.data() + off, all.size() - off, limits{}, r);
		assert_int_equal((int)p.state, (int)parse_state::complete);
		paths.emplace_back(r.path);
		off += r.consumed;
	}
	assert_int_equal(paths.size(), 3);
	assert_string_equal(paths[1].c_str(), "/mi");
	assert_string_equal(paths[2].c_str(), "/metrics");
	// a CRLF left after a body is skipped
	std::string d = "\r\nGET /x HTTP/1.1\r\n\r\n";
	assert_int_equal((int)parse(d, r).state, (int)parse_state::complete);
	assert_int_equal(r.consumed, d.size());
}

void test_partial(void **)
{
	std::string full = "POST /mi HTTP/1.1\r\nContent-Length: 5\r\n"
	                   "Expect: 100-continue\r\n\r\nhello";
	request r;
	for (size_t n = 0; n < full.size(); n++) {
		parse_result p = parse_request(full.data(), n, limits{}, r);
		assert_int_equal((int)p.state, (int)parse_state::incomplete);
		if (n >= full.size() - 5) {
			assert_true(p.headers_done);
			assert_true(r.expect_continue);
		} else {
			assert_false(p.headers_done);
		}
	}
	assert_int_equal((int)parse(full, r).state, (int)parse_state::complete);
	assert_true(r.body == "hello");
}

void test_oversized(void **)
{
	limits lim;
	lim.max_head = 256;
	lim.max_body = 100;
	request r;
	std::string big_head = "GET / HTTP/1.1\r\nX: " + std::string(300, 'a');
	parse_result p = parse(big_head, r, lim);
	assert_int_equal((int)p.state, (int)parse_state::error);
	assert_int_equal(p.status, 431);
	p = parse("POST /mi HTTP/1.1\r\nContent-Length: 101\r\n\r\n", r, lim);
	assert_int_equal(p.status, 413);
	p = parse("POST /mi HTTP/1.1\r\nContent-Length: 99999999999999999999999\r\n\r\n", r, lim);
	assert_int_equal(p.status, 413);
	std::string many = "GET / HTTP/1.1\r\n";
	for (int i = 0; i < 70; i++)
		many += "A: b\r\n";
	many += "\r\n";
	p = parse(many, r);
	assert_int_equal(p.status, 431);
	p = parse("POST /mi HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n", r);
	assert_int_equal(p.status, 411);
}

void test_garbage(void **)
{
	request r;
	const char *bad[] = {
		"\x01\x02\x03 / HTTP/1.1\r\n\r\n",
		"GET\r\n\r\n",
		"GET /  HTTP/1.1\r\n\r\n",
		"GET / HTTP/1.1 extra\r\n\r\n",
		"GET http://x/ HTTP/1.1\r\n\r\n",
		"GET / FOO/1.1\r\n\r\n",
		"GET / HTTP/1.1\r\nBad Header: x\r\n\r\n",
		"GET / HTTP/1.1\r\nNoColon\r\n\r\n",
		"GET / HTTP/1.1\r\n folded: x\r\n\r\n",
		"GET / HTTP/1.1\r\nContent-Length: 1x\r\n\r\n",
		"GET / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
		"GET /\x7f HTTP/1.1\r\n\r\n",
	};
	for (const char *b : bad) {
		parse_result p = parse(b, r);
		assert_int_equal((int)p.state, (int)parse_state::error);
		assert_int_equal(p.status, 400);
	}
	assert_int_equal(parse("GET / HTTP/2.0\r\n\r\n", r).status, 505);
	// garbage is refused before the head completes (no waiting)
	parse_result p = parse("{\"jsonrpc\":", r);
	assert_int_equal((int)p.state, (int)parse_state::error);
	// NUL bytes
	std::string nul("GET / HTTP/1.1\r\nA: \0\r\n\r\n", 24);
	assert_int_equal((int)parse(nul, r).state, (int)parse_state::error);
	// every prefix of random bytes: never complete, never crash
	std::string junk;
	unsigned x = 12345;
	for (int i = 0; i < 4096; i++) {
		x = x * 1103515245 + 12345;
		junk.push_back((char)(x >> 16));
	}
	for (size_t n = 0; n < junk.size(); n += 7)
		(void)parse_request(junk.data(), n, limits{}, r);
}

void test_basic_auth(void **)
{
	std::string u, p;
	// "admin:s3cr:et" (colons after the first belong to the password)
	assert_true(parse_basic_auth("Basic YWRtaW46czNjcjpldA==", u, p));
	assert_string_equal(u.c_str(), "admin");
	assert_string_equal(p.c_str(), "s3cr:et");
	assert_true(parse_basic_auth("basic   dXNlcjo=", u, p)); // "user:"
	assert_string_equal(u.c_str(), "user");
	assert_string_equal(p.c_str(), "");
	assert_false(parse_basic_auth("Bearer abc", u, p));
	assert_false(parse_basic_auth("Basic", u, p));
	assert_false(parse_basic_auth("Basic !!!", u, p));
	assert_false(parse_basic_auth("Basic dXNlcg==", u, p)); // "user": no colon
	assert_false(parse_basic_auth("Basic YQ==YQ", u, p));
}

} // namespace

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_good_get),
		cmocka_unit_test(test_good_post_body),
		cmocka_unit_test(test_pipelined),
		cmocka_unit_test(test_partial),
		cmocka_unit_test(test_oversized),
		cmocka_unit_test(test_garbage),
		cmocka_unit_test(test_basic_auth),
	};
	return cmocka_run_group_tests(tests, nullptr, nullptr);
}
