// Unit tests of the SIP parser and the stateless reply builder
// (core_shim/sip/sip_parser.cc, sip_msg.cc; decisions §18).
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include <string>
#include <vector>

#include "opensips/version.h"
#include "sip/sip_parser.h"

#include "../cmocka_cxx.h" // last

namespace {

const char k_options[] =
    "OPTIONS sip:sr-ok@127.0.0.1:5060 SIP/2.0\r\n"
    "Via: SIP/2.0/UDP 127.0.0.1:38877;branch=z9hG4bK-1\r\n"
    "Max-Forwards: 70\r\n"
    "To: <sip:sr-ok@127.0.0.1>\r\n"
    "From: <sip:ref@127.0.0.1>;tag=reftag1\r\n"
    "Call-ID: ref-1\r\n"
    "CSeq: 1 OPTIONS\r\n"
    "Content-Length: 0\r\n"
    "\r\n";

// Parses `text` (copied into an exact-size heap buffer so ASan sees any
// read past the end).
struct parsed {
	std::vector<char> bytes;
	sip_msg msg;
	int rc;
	explicit parsed(const std::string &text)
	{
		bytes.assign(text.begin(), text.end());
		char *b = (char *)malloc(bytes.size() ? bytes.size() : 1);
		if (!bytes.empty())
			memcpy(b, bytes.data(), bytes.size());
		msg.buf = b;
		msg.len = (int)bytes.size();
		rc = shim::sip_parse(&msg);
	}
	~parsed() { free((void *)msg.buf); }
};

std::string S(const str &s)
{
	return s.s ? std::string(s.s, (size_t)s.len) : std::string();
}

void test_options(void **)
{
	parsed p(k_options);
	assert_int_equal(p.rc, 0);
	assert_int_equal(p.msg.is_request, 1);
	assert_string_equal(S(p.msg.method).c_str(), "OPTIONS");
	assert_string_equal(S(p.msg.ruri).c_str(), "sip:sr-ok@127.0.0.1:5060");
	assert_string_equal(S(p.msg.ruri_user).c_str(), "sr-ok");
	assert_string_equal(S(p.msg.version).c_str(), "SIP/2.0");
	assert_int_equal(p.msg.vias.size(), 1);
	assert_string_equal(S(p.msg.vias[0]).c_str(),
	                    "Via: SIP/2.0/UDP 127.0.0.1:38877;branch=z9hG4bK-1");
	assert_string_equal(S(p.msg.from).c_str(),
	                    "<sip:ref@127.0.0.1>;tag=reftag1");
	assert_string_equal(S(p.msg.from_tag).c_str(), "reftag1");
	assert_string_equal(S(p.msg.to).c_str(), "<sip:sr-ok@127.0.0.1>");
	assert_int_equal(p.msg.to_tag.len, 0);
	assert_string_equal(S(p.msg.callid).c_str(), "ref-1");
	assert_string_equal(S(p.msg.callid_line).c_str(), "Call-ID: ref-1");
	assert_int_equal(p.msg.cseq_num, 1);
	assert_string_equal(S(p.msg.cseq_method).c_str(), "OPTIONS");
	assert_int_equal(p.msg.content_length, 0);
	assert_int_equal(p.msg.max_forwards, 70);
	assert_int_equal(p.msg.body.len, 0);
}

void test_compact_and_case(void **)
{
	parsed p("INVITE sips:Alice:pw@example.com;transport=tls SIP/2.0\r\n"
	         "v: SIP/2.0/UDP a.example.com;branch=z9hG4bK1\r\n"
	         "VIA: SIP/2.0/UDP b.example.com;branch=z9hG4bK2, "
	         "SIP/2.0/UDP c.example.com\r\n"
	         "f: Bob <sip:bob@example.com>;TAG=abc;x=y\r\n"
	         "t: sip:alice@example.com ; tag = def\r\n"
	         "i: 12345@host\r\n"
	         "cseq: 7 INVITE\r\n"
	         "max-forwards: 10\r\n"
	         "l: 4\r\n"
	         "\r\n"
	         "body");
	assert_int_equal(p.rc, 0);
	assert_string_equal(S(p.msg.ruri_user).c_str(), "Alice");
	assert_int_equal(p.msg.vias.size(), 2);
	assert_string_equal(S(p.msg.vias[0]).c_str(),
	                    "v: SIP/2.0/UDP a.example.com;branch=z9hG4bK1");
	assert_string_equal(S(p.msg.from_tag).c_str(), "abc");
	assert_string_equal(S(p.msg.to_tag).c_str(), "def");
	assert_string_equal(S(p.msg.callid).c_str(), "12345@host");
	assert_int_equal(p.msg.cseq_num, 7);
	assert_int_equal(p.msg.max_forwards, 10);
	assert_int_equal(p.msg.content_length, 4);
	assert_string_equal(S(p.msg.body).c_str(), "body");
}

void test_tag_inside_uri_ignored(void **)
{
	parsed p("MESSAGE sip:x@h SIP/2.0\r\nVia: SIP/2.0/UDP h\r\n"
	         "From: <sip:a@h;tag=not>;tag=yes\r\nTo: <sip:b@h;tag=no>\r\n"
	         "Call-ID: c\r\nCSeq: 1 MESSAGE\r\n\r\n");
	assert_int_equal(p.rc, 0);
	assert_string_equal(S(p.msg.from_tag).c_str(), "yes");
	assert_int_equal(p.msg.to_tag.len, 0);
}

void test_ruri_user(void **)
{
	const char *cases[][2] = {
	    {"sip:127.0.0.1", ""},
	    {"sip:@h", ""},
	    {"tel:+123", ""},
	    {"SIP:Bob@h", "Bob"},
	    {"sips:u:p@h:5061", "u"},
	};
	for (auto &c : cases) {
		std::string m = std::string("OPTIONS ") + c[0] +
		                " SIP/2.0\r\nVia: SIP/2.0/UDP h\r\nFrom: <sip:a@h>"
		                ";tag=1\r\nTo: <sip:b@h>\r\nCall-ID: c\r\nCSeq: 1 "
		                "OPTIONS\r\n\r\n";
		parsed p(m);
		assert_int_equal(p.rc, 0);
		assert_string_equal(S(p.msg.ruri_user).c_str(), c[1]);
	}
}

void test_body_without_content_length(void **)
{
	parsed p("MESSAGE sip:x@h SIP/2.0\nVia: SIP/2.0/UDP h\nFrom: a;tag=1\n"
	         "To: b\nCall-ID: c\nCSeq: 1 MESSAGE\n\nhello");
	assert_int_equal(p.rc, 0); // bare LF line ends are tolerated
	assert_int_equal(p.msg.content_length, -1);
	assert_string_equal(S(p.msg.body).c_str(), "hello");
}

void test_content_length_truncates_and_overflows(void **)
{
	std::string base = "MESSAGE sip:x@h SIP/2.0\r\nVia: SIP/2.0/UDP h\r\n"
	                   "From: a;tag=1\r\nTo: b\r\nCall-ID: c\r\n"
	                   "CSeq: 1 MESSAGE\r\n";
	parsed shorter(base + "Content-Length: 2\r\n\r\nhello");
	assert_int_equal(shorter.rc, 0);
	assert_string_equal(S(shorter.msg.body).c_str(), "he");
	parsed longer(base + "Content-Length: 6\r\n\r\nhello");
	assert_int_equal(longer.rc, -1);
	parsed bad(base + "Content-Length: x\r\n\r\n");
	assert_int_equal(bad.rc, -1);
	parsed neg(base + "Content-Length: -1\r\n\r\n");
	assert_int_equal(neg.rc, -1);
	parsed huge(base + "Content-Length: 99999999999999999999\r\n\r\n");
	assert_int_equal(huge.rc, -1);
	parsed badmf(base + "Max-Forwards: ten\r\n\r\n");
	assert_int_equal(badmf.rc, -1);
}

void test_missing_headers(void **)
{
	const char *names[] = {"Via:", "To:", "From:", "Call-ID:", "CSeq:"};
	for (const char *drop : names) {
		std::string m;
		std::string src = k_options;
		size_t pos = 0;
		while (pos < src.size()) {
			size_t e = src.find("\r\n", pos);
			std::string line = src.substr(pos, e + 2 - pos);
			if (line.compare(0, strlen(drop), drop) != 0)
				m += line;
			pos = e + 2;
		}
		parsed p(m);
		assert_int_equal(p.rc, -1);
	}
}

void test_bad_first_lines(void **)
{
	const char *tail = "\r\nVia: SIP/2.0/UDP h\r\nFrom: a;tag=1\r\nTo: b\r\n"
	                   "Call-ID: c\r\nCSeq: 1 OPTIONS\r\n\r\n";
	const char *firsts[] = {
	    "",
	    "OPTIONS",
	    "OPTIONS sip:x@h",
	    "OPTIONS sip:x@h HTTP/1.1",
	    "OPTIONS  sip:x@h SIP/2.0",
	    "OPT<IONS sip:x@h SIP/2.0",
	    " OPTIONS sip:x@h SIP/2.0",
	    "OPTIONS sip:x@h SIP/2.0 extra",
	    "SIP/2.0",
	    "SIP/2.0 2000 OK",
	    "SIP/x.0 200 OK",
	};
	for (const char *f : firsts) {
		parsed p(std::string(f) + tail);
		assert_int_equal(p.rc, -1);
	}
}

void test_reply_is_not_a_request(void **)
{
	parsed p("SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP h\r\nFrom: a;tag=1\r\n"
	         "To: b;tag=2\r\nCall-ID: c\r\nCSeq: 1 OPTIONS\r\n"
	         "Content-Length: 0\r\n\r\n");
	assert_int_equal(p.rc, 0);
	assert_int_equal(p.msg.is_request, 0);
	std::string out;
	assert_int_equal(shim::sip_build_reply(&p.msg, 200, "OK", 2, "x", out),
	                 -1);
}

void test_truncated(void **)
{
	std::string full = k_options;
	// A prefix that cuts the block before the last mandatory header (CSeq)
	// is complete is malformed.
	size_t cseq_end = full.find("CSeq: 1 OPTIONS") + strlen("CSeq: 1 ");
	for (size_t n = 0; n < cseq_end; n++) {
		parsed p(full.substr(0, n));
		assert_int_equal(p.rc, -1);
		assert_int_not_equal(p.msg.parse_error, shim::SIP_PARSE_OK);
	}
	// A header block that ends with the datagram, without the empty line
	// or without the last line break, is complete when no body is
	// announced, as the reference takes it.
	size_t cl = full.find("Content-Length: 0\r\n");
	for (size_t n : {cl, cl + strlen("Content-Length: 0"), cl + strlen("Content-Length: 0\r\n")}) {
		parsed p(full.substr(0, n));
		assert_int_equal(p.rc, 0);
		assert_int_equal(p.msg.body.len, 0);
	}
	// ... but not when a body is announced
	std::string with_body = full.substr(0, cl) + "Content-Length: 5";
	parsed pb(with_body);
	assert_int_equal(pb.rc, -1);
	assert_int_equal(pb.msg.parse_error, shim::SIP_PARSE_BODY);
	parsed whole(full);
	assert_int_equal(whole.rc, 0);
}

void test_garbage_headers(void **)
{
	std::string head = "OPTIONS sip:x@h SIP/2.0\r\n";
	std::string rest = "Via: SIP/2.0/UDP h\r\nFrom: a;tag=1\r\nTo: b\r\n"
	                   "Call-ID: c\r\nCSeq: 1 OPTIONS\r\n\r\n";
	const char *bad[] = {"no colon here\r\n", ": empty name\r\n",
	                     "Bad Name: x\r\n", " leading space: x\r\n",
	                     "CSeq: x OPTIONS\r\n", "Via:\r\n"};
	for (const char *b : bad) {
		parsed p(head + b + rest);
		assert_int_equal(p.rc, -1);
	}
	// Too many headers.
	std::string many = head;
	for (int i = 0; i < 300; i++)
		many += "X-H: 1\r\n";
	parsed p(many + rest);
	assert_int_equal(p.rc, -1);
	// Folded header is fine.
	parsed folded(head + "Subject: a\r\n b\r\n" + rest);
	assert_int_equal(folded.rc, 0);
	// A NUL byte inside a value does not stop the parser.
	std::string nul = head + "X-Nul: a";
	nul.push_back('\0');
	nul += "b\r\n" + rest;
	parsed pn(nul);
	assert_int_equal(pn.rc, 0);
}

void test_fuzz(void **)
{
	// Random bytes, and random mutations of a good request: the parser must
	// never crash or read out of bounds (run under ASan in CI).
	srand(12345);
	const char alphabet[] = "SIP/2.0 :;\r\n\t<>@=tagVvFfTtIiLl0123456789";
	for (int iter = 0; iter < 20000; iter++) {
		std::string s;
		int len = rand() % 300;
		for (int i = 0; i < len; i++)
			s.push_back((iter & 1) ? (char)(rand() & 0xff)
			                       : alphabet[rand() % (sizeof alphabet - 1)]);
		parsed p(s);
		(void)p.rc;
	}
	std::string good = k_options;
	for (int iter = 0; iter < 20000; iter++) {
		std::string s = good;
		int muts = 1 + rand() % 4;
		for (int m = 0; m < muts; m++) {
			size_t at = (size_t)rand() % s.size();
			switch (rand() % 3) {
			case 0: s[at] = (char)(rand() & 0xff); break;
			case 1: s.erase(at, 1 + (size_t)rand() % 8); break;
			default: s.insert(at, 1, alphabet[rand() % (sizeof alphabet - 1)]);
			}
			if (s.empty())
				s = "x";
		}
		parsed p(s);
		if (p.rc == 0 && p.msg.is_request) {
			std::string out;
			assert_int_equal(
			    shim::sip_build_reply(&p.msg, 200, "OK", 2, "srv", out), 0);
			assert_true(out.size() > 0);
		}
	}
}

// Replaces the value of ";tag=" added to the To line with "X".
std::string mask_tag(const std::string &reply, std::string *tag_out)
{
	std::string r = reply;
	size_t to = r.find("\r\nTo: ");
	size_t tag = r.find(";tag=", to);
	size_t eol = r.find("\r\n", tag);
	if (tag_out)
		*tag_out = r.substr(tag + 5, eol - tag - 5);
	r.replace(tag + 5, eol - tag - 5, "X");
	return r;
}

// More Via headers than the message keeps inline (8): all kept, in order,
// and every one copied into the reply.
void test_many_vias(void **)
{
	std::string text = "OPTIONS sip:a@127.0.0.1 SIP/2.0\r\n";
	for (int i = 0; i < 20; i++)
		text += "Via: SIP/2.0/UDP 10.0.0." + std::to_string(i) +
		        ";branch=z9hG4bK-" + std::to_string(i) + "\r\n";
	text += "From: <sip:b@x>;tag=1\r\nTo: <sip:a@x>\r\nCall-ID: c\r\n"
	        "CSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n";
	parsed p(text);
	assert_int_equal(p.rc, 0);
	assert_int_equal(p.msg.vias.size(), 20);
	int i = 0;
	for (const str &v : p.msg.vias) {
		std::string want = "Via: SIP/2.0/UDP 10.0.0." + std::to_string(i) +
		                   ";branch=z9hG4bK-" + std::to_string(i);
		assert_string_equal(S(v).c_str(), want.c_str());
		assert_string_equal(S(p.msg.vias[(size_t)i]).c_str(), want.c_str());
		i++;
	}
	std::string out;
	assert_int_equal(shim::sip_build_reply(&p.msg, 200, "OK", 2, "s", out), 0);
	size_t pos = 0;
	for (int k = 0; k < 20; k++) {
		std::string want = "\r\nVia: SIP/2.0/UDP 10.0.0." + std::to_string(k) +
		                   ";branch=z9hG4bK-" + std::to_string(k) + "\r\n";
		size_t at = out.find(want, pos);
		assert_true(at != std::string::npos);
		pos = at + 1;
	}
}

void test_reply_layout(void **)
{
	parsed p(k_options);
	assert_int_equal(p.rc, 0);
	std::string out;
	assert_int_equal(shim::sip_build_reply(&p.msg, 200, "OK", 2,
	                                       "opensips-shim (0.1.0)", out),
	                 0);
	std::string tag;
	// Same layout as the reference 200 OK (headers in request order).
	assert_string_equal(
	    mask_tag(out, &tag).c_str(),
	    "SIP/2.0 200 OK\r\n"
	    "Via: SIP/2.0/UDP 127.0.0.1:38877;branch=z9hG4bK-1\r\n"
	    "To: <sip:sr-ok@127.0.0.1>;tag=X\r\n"
	    "From: <sip:ref@127.0.0.1>;tag=reftag1\r\n"
	    "Call-ID: ref-1\r\n"
	    "CSeq: 1 OPTIONS\r\n"
	    "Server: opensips-shim (0.1.0)\r\n"
	    "Content-Length: 0\r\n"
	    "\r\n");
	assert_true(tag.size() >= 8);
	for (char c : tag)
		assert_true(isxdigit((unsigned char)c) || c == '.');
	// Tags differ between replies.
	std::string out2, tag2;
	shim::sip_build_reply(&p.msg, 200, "OK", 2, "s", out2);
	mask_tag(out2, &tag2);
	assert_string_not_equal(tag.c_str(), tag2.c_str());
}

void test_reply_multi_via_and_existing_tag(void **)
{
	parsed p("BYE sip:x@h SIP/2.0\r\n"
	         "Via: SIP/2.0/UDP p1;branch=z9hG4bK1\r\n"
	         "From: <sip:a@h>;tag=f\r\n"
	         "v: SIP/2.0/UDP p2;branch=z9hG4bK2\r\n"
	         "To: <sip:b@h>;tag=t\r\n"
	         "Call-ID: c\r\nCSeq: 2 BYE\r\nX-Other: dropped\r\n\r\n");
	assert_int_equal(p.rc, 0);
	std::string out;
	assert_int_equal(
	    shim::sip_build_reply(&p.msg, 503, "Not Ready", 9, "srv", out), 0);
	assert_string_equal(out.c_str(),
	                    "SIP/2.0 503 Not Ready\r\n"
	                    "Via: SIP/2.0/UDP p1;branch=z9hG4bK1\r\n"
	                    "From: <sip:a@h>;tag=f\r\n"
	                    "v: SIP/2.0/UDP p2;branch=z9hG4bK2\r\n"
	                    "To: <sip:b@h>;tag=t\r\n"
	                    "Call-ID: c\r\n"
	                    "CSeq: 2 BYE\r\n"
	                    "Server: srv\r\n"
	                    "Content-Length: 0\r\n"
	                    "\r\n");
	assert_int_equal(shim::sip_build_reply(&p.msg, 99, "x", 1, "s", out), -1);
	assert_int_equal(shim::sip_build_reply(&p.msg, 700, "x", 1, "s", out),
	                 -1);
}

void test_server_header(void **)
{
	assert_string_equal(shim::sip_server_header().c_str(),
	                    "opensips-shim (" SHIM_VERSION ")");
	shim::sip_set_server_header("custom");
	assert_string_equal(shim::sip_server_header().c_str(), "custom");
	shim::sip_set_server_header("opensips-shim (" SHIM_VERSION ")");
}

std::string g_sent;
int g_send_calls;
int fake_send(struct sip_msg *, const char *buf, int len)
{
	g_send_calls++;
	g_sent.assign(buf, (size_t)len);
	return 0;
}

void test_send_reply_abi(void **)
{
	parsed p(k_options);
	assert_int_equal(p.rc, 0);
	p.msg.id = 42;
	p.msg.send = fake_send;
	assert_int_equal(sip_msg_id(&p.msg), 42);
	str m = sip_msg_method(&p.msg);
	assert_int_equal(m.len, 7);
	assert_memory_equal(m.s, "OPTIONS", 7);
	assert_int_equal(sip_msg_ruri(&p.msg).len, 24);
	str c = sip_msg_callid(&p.msg);
	assert_memory_equal(c.s, "ref-1", 5);
	g_send_calls = 0;
	assert_int_equal(sip_msg_send_reply(&p.msg, 200, "OK", 2), 1);
	assert_int_equal(g_send_calls, 1);
	assert_int_equal(p.msg.replied, 1);
	assert_true(g_sent.rfind("SIP/2.0 200 OK\r\n", 0) == 0);
	assert_true(g_sent.find("\r\nServer: opensips-shim (" SHIM_VERSION
	                        ")\r\n") != std::string::npos);

	parsed ack("ACK sip:x@h SIP/2.0\r\nVia: SIP/2.0/UDP h\r\nFrom: a;tag=1\r\n"
	           "To: b;tag=2\r\nCall-ID: c\r\nCSeq: 1 ACK\r\n\r\n");
	assert_int_equal(ack.rc, 0);
	ack.msg.send = fake_send;
	assert_int_equal(sip_msg_send_reply(&ack.msg, 200, "OK", 2), -1);
	assert_int_equal(g_send_calls, 1);
	assert_int_equal(ack.msg.replied, 0);

	sip_msg empty;
	assert_int_equal(sip_msg_method(&empty).len, 0);
	assert_non_null(sip_msg_method(&empty).s);
	assert_int_equal(sip_msg_send_reply(&empty, 200, "OK", 2), -1);
}

} // namespace

int main()
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_options),
	    cmocka_unit_test(test_compact_and_case),
	    cmocka_unit_test(test_tag_inside_uri_ignored),
	    cmocka_unit_test(test_ruri_user),
	    cmocka_unit_test(test_body_without_content_length),
	    cmocka_unit_test(test_content_length_truncates_and_overflows),
	    cmocka_unit_test(test_missing_headers),
	    cmocka_unit_test(test_bad_first_lines),
	    cmocka_unit_test(test_reply_is_not_a_request),
	    cmocka_unit_test(test_truncated),
	    cmocka_unit_test(test_garbage_headers),
	    cmocka_unit_test(test_fuzz),
	    cmocka_unit_test(test_many_vias),
	    cmocka_unit_test(test_reply_layout),
	    cmocka_unit_test(test_reply_multi_via_and_existing_tag),
	    cmocka_unit_test(test_server_header),
	    cmocka_unit_test(test_send_reply_abi),
	};
	return cmocka_run_group_tests_name("sip_parser", tests, nullptr, nullptr);
}
