// Unit tests of SIP stream framing (core_shim/sip/tcp_framing.cc): whole,
// concatenated, partial, oversized and malformed messages, CRLF keep-alives.
#include <string.h>

#include <string>

#include "sip/tcp_framing.h"

#include "../cmocka_cxx.h" // last

using shim::tcp_frame;
using shim::tcp_frame_next;
using shim::tcp_frame_status;

namespace {

std::string msg(const std::string &body, const char *cl_header = "Content-Length")
{
	return "OPTIONS sip:x@127.0.0.1 SIP/2.0\r\n"
	       "Via: SIP/2.0/TCP 127.0.0.1:5000;branch=z9hG4bK-1\r\n"
	       "From: <sip:a@127.0.0.1>;tag=1\r\n"
	       "To: <sip:x@127.0.0.1>\r\n"
	       "Call-ID: c1\r\n"
	       "CSeq: 1 OPTIONS\r\n" +
	       std::string(cl_header) + ": " + std::to_string(body.size()) +
	       "\r\n\r\n" + body;
}

tcp_frame frame(const std::string &s, size_t max = 65536)
{
	// exact-size heap copy so ASan catches reads past the end
	char *b = (char *)malloc(s.size() ? s.size() : 1);
	memcpy(b, s.data(), s.size());
	tcp_frame f = tcp_frame_next(b, s.size(), max);
	free(b);
	return f;
}

void test_whole_message(void **)
{
	std::string m = msg("");
	tcp_frame f = frame(m);
	assert_int_equal((int)f.status, (int)tcp_frame_status::complete);
	assert_int_equal(f.skip, 0);
	assert_int_equal(f.length, m.size());
}

void test_body_counts(void **)
{
	std::string m = msg("v=0\r\nhello");
	tcp_frame f = frame(m);
	assert_int_equal((int)f.status, (int)tcp_frame_status::complete);
	assert_int_equal(f.length, m.size());
}

void test_compact_and_case(void **)
{
	std::string m = msg("abc", "l");
	tcp_frame f = frame(m);
	assert_int_equal((int)f.status, (int)tcp_frame_status::complete);
	assert_int_equal(f.length, m.size());
	m = msg("abcd", "content-length ");
	f = frame(m);
	assert_int_equal((int)f.status, (int)tcp_frame_status::complete);
	assert_int_equal(f.length, m.size());
}

void test_concatenated(void **)
{
	std::string a = msg("one"), b = msg("second body"), c = msg("");
	std::string all = a + b + c;
	size_t off = 0;
	std::vector<size_t> lens;
	for (;;) {
		tcp_frame f = frame(all.substr(off));
		if (f.status != tcp_frame_status::complete)
			break;
		lens.push_back(f.length);
		off += f.skip + f.length;
	}
	assert_int_equal(lens.size(), 3);
	assert_int_equal(lens[0], a.size());
	assert_int_equal(lens[1], b.size());
	assert_int_equal(lens[2], c.size());
	assert_int_equal(off, all.size());
}

void test_partial_every_split(void **)
{
	std::string m = msg("body bytes");
	for (size_t cut = 0; cut < m.size(); cut++) {
		tcp_frame f = frame(m.substr(0, cut));
		assert_int_equal((int)f.status, (int)tcp_frame_status::partial);
	}
	// a partial second message behind a whole first one
	std::string two = m + m.substr(0, 20);
	tcp_frame f = frame(two);
	assert_int_equal((int)f.status, (int)tcp_frame_status::complete);
	assert_int_equal(f.length, m.size());
	f = frame(two.substr(f.length));
	assert_int_equal((int)f.status, (int)tcp_frame_status::partial);
}

void test_keepalives(void **)
{
	std::string m = msg("");
	tcp_frame f = frame("\r\n\r\n" + m);
	assert_int_equal((int)f.status, (int)tcp_frame_status::complete);
	assert_int_equal(f.skip, 4);
	assert_int_equal(f.length, m.size());
	f = frame("\r\n\r\n");
	assert_int_equal((int)f.status, (int)tcp_frame_status::partial);
	assert_int_equal(f.skip, 4);
}

void test_missing_length_is_empty_body(void **)
{
	std::string m = "OPTIONS sip:x@h SIP/2.0\r\nVia: SIP/2.0/TCP h\r\n\r\n";
	tcp_frame f = frame(m + "next");
	assert_int_equal((int)f.status, (int)tcp_frame_status::complete);
	assert_int_equal(f.length, m.size());
}

void test_bare_lf(void **)
{
	std::string m = "OPTIONS sip:x@h SIP/2.0\nContent-Length: 2\n\nab";
	tcp_frame f = frame(m);
	assert_int_equal((int)f.status, (int)tcp_frame_status::complete);
	assert_int_equal(f.length, m.size());
}

void test_oversized(void **)
{
	// body announced beyond the limit: known as soon as headers are in
	std::string big = msg(std::string(2000, 'x'));
	tcp_frame f = frame(big.substr(0, big.size() - 1500), 1024);
	assert_int_equal((int)f.status, (int)tcp_frame_status::oversized);
	// huge Content-Length
	f = frame("OPTIONS sip:x@h SIP/2.0\r\nContent-Length: 999999999\r\n\r\n", 65536);
	assert_int_equal((int)f.status, (int)tcp_frame_status::oversized);
	// headers that never end
	std::string hdrs = "OPTIONS sip:x@h SIP/2.0\r\n";
	while (hdrs.size() < 1024)
		hdrs += "X-Pad: aaaaaaaaaaaaaaaa\r\n";
	f = frame(hdrs, 1024);
	assert_int_equal((int)f.status, (int)tcp_frame_status::oversized);
	f = frame(hdrs.substr(0, 1000), 1024);
	assert_int_equal((int)f.status, (int)tcp_frame_status::partial);
	// exactly at the limit fits
	std::string m = msg("");
	f = frame(m, m.size());
	assert_int_equal((int)f.status, (int)tcp_frame_status::complete);
}

void test_malformed_length(void **)
{
	const char *bad[] = {"abc", "-1", "", "12x", "1234567890123"};
	for (const char *v : bad) {
		std::string m = std::string("OPTIONS sip:x@h SIP/2.0\r\nContent-Length: ") +
		                v + "\r\n\r\n";
		tcp_frame f = frame(m);
		assert_int_equal((int)f.status, (int)tcp_frame_status::malformed);
	}
}

} // namespace

int main()
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_whole_message),
	    cmocka_unit_test(test_body_counts),
	    cmocka_unit_test(test_compact_and_case),
	    cmocka_unit_test(test_concatenated),
	    cmocka_unit_test(test_partial_every_split),
	    cmocka_unit_test(test_keepalives),
	    cmocka_unit_test(test_missing_length_is_empty_body),
	    cmocka_unit_test(test_bare_lf),
	    cmocka_unit_test(test_oversized),
	    cmocka_unit_test(test_malformed_length),
	};
	return cmocka_run_group_tests(tests, nullptr, nullptr);
}
