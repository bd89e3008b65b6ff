// sip/receive.cc: the common receive path. Statistics per outcome (as the
// reference counts: core:rcv_requests, err_requests, bad_msg_hdr,
// rcv_replies/drop_replies, drop_requests for the ACK of our own reply),
// drops per reason (sip:dropped/<reason>), the local-ACK callback with one
// owner, and the route through the script runner.
#include <cstring>
#include <string>

#include "api/script-t.h"
#include "opensips/sip_msg.h"
#include "sip/receive.h"
#include "sip/sip_parser.h"
#include "sip/sip_stats.h"
#include "sip/udp_receiver.h"

#include "../cmocka_cxx.h" // last

namespace {

int g_routed = 0;
int g_acks = 0;
std::string g_sent;

int fake_run(sip_msg *) { return ++g_routed, 0; }
int fake_flags() { return 1; }
void on_ack(const struct sip_msg *) { g_acks++; }
int fake_send(struct sip_msg *, const char *buf, int len)
{
	g_sent.assign(buf, (size_t)len);
	return 0;
}

const char k_options[] =
    "OPTIONS sip:x@127.0.0.1 SIP/2.0\r\n"
    "Via: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK-1\r\n"
    "From: <sip:a@127.0.0.1>;tag=1\r\n"
    "To: <sip:x@127.0.0.1>\r\n"
    "Call-ID: recv-1\r\n"
    "CSeq: 1 OPTIONS\r\n"
    "Content-Length: 0\r\n\r\n";

unsigned long val(const char *name) { return get_stat_val(get_stat(name)); }

int feed(const std::string &text, shim::sip_counters &c)
{
	sip_msg msg;
	msg.buf = text.data();
	msg.len = (int)text.size();
	msg.send = fake_send;
	return shim::receive_msg(&msg, &c);
}

int setup(void **)
{
	static bool once = [] {
		shim::sip_stats_register();
		return true;
	}();
	(void)once;
	shim::g_script_runner.run_request = fake_run;
	shim::g_script_runner.last_action_flags = fake_flags;
	return 0;
}

void test_counts(void **)
{
	shim::sip_counters c;
	unsigned long rcv = val("core:rcv_requests"), err = val("core:err_requests"),
	              bad = val("core:bad_msg_hdr"), rr = val("core:rcv_replies"),
	              dr = val("core:drop_replies");
	assert_int_equal(feed(k_options, c), 0);
	assert_int_equal(g_routed, 1);
	assert_int_equal(val("core:rcv_requests"), rcv + 1);
	// no Via: received, in error, not routed
	std::string novia = k_options;
	novia.erase(novia.find("Via:"), novia.find("From:") - novia.find("Via:"));
	assert_int_equal(feed(novia, c), -1);
	assert_int_equal(val("core:rcv_requests"), rcv + 2);
	assert_int_equal(val("core:err_requests"), err + 1);
	assert_int_equal(val("sip:dropped/missing_header"), 1);
	// a Via that does not parse: a bad header block only
	std::string badvia = k_options;
	badvia.replace(badvia.find("SIP/2.0/UDP 127"), 15, "SIP/2.0/UDP ;;;");
	assert_int_equal(feed(badvia, c), -1);
	assert_int_equal(val("core:bad_msg_hdr"), bad + 1);
	assert_int_equal(val("core:rcv_requests"), rcv + 2);
	assert_int_equal(val("sip:dropped/bad_header"), 1);
	// a reply: received and dropped
	std::string rpl = "SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP h;branch=z9hG4bKx\r\n"
	                  "From: a;tag=1\r\nTo: b;tag=2\r\nCall-ID: c\r\nCSeq: 1 OPTIONS\r\n"
	                  "Content-Length: 0\r\n\r\n";
	assert_int_equal(feed(rpl, c), -1);
	assert_int_equal(val("core:rcv_replies"), rr + 1);
	assert_int_equal(val("core:drop_replies"), dr + 1);
	assert_int_equal(g_routed, 1);
	assert_int_equal(c.received.load(), 4);
	assert_int_equal(c.malformed.load(), 2);
}

void test_local_ack(void **)
{
	// one owner for the local-ACK callback
	assert_int_equal(sip_set_local_ack_cb(on_ack), 0);
	assert_int_equal(sip_set_local_ack_cb(on_ack), -1);
	// a reply of ours gives the To tag the ACK carries
	sip_msg req;
	std::string text = k_options;
	req.buf = text.data();
	req.len = (int)text.size();
	req.send = fake_send;
	assert_int_equal(shim::sip_parse(&req), 0);
	assert_int_equal(sip_msg_send_reply(&req, 200, "OK", 2), 1);
	size_t t = g_sent.find(";tag=", g_sent.find("\r\nTo:"));
	assert_true(t != std::string::npos);
	std::string tag = g_sent.substr(t + 5, g_sent.find("\r\n", t) - t - 5);
	std::string ack = k_options;
	ack.replace(0, 7, "ACK");
	ack.replace(ack.find("1 OPTIONS"), 9, "1 ACK");
	ack.replace(ack.find("To: <sip:x@127.0.0.1>"), 21, "To: <sip:x@127.0.0.1>;tag=" + tag);
	shim::sip_counters c;
	int routed = g_routed;
	unsigned long drop = val("core:drop_requests");
	assert_int_equal(feed(ack, c), 0);
	assert_int_equal(g_acks, 1);
	assert_int_equal(g_routed, routed); // the script does not see it
	assert_int_equal(val("core:drop_requests"), drop + 1);
	// someone else's tag: routed as any request
	std::string other = ack;
	other.replace(other.find("To: <sip:x@127.0.0.1>;tag=") + 26, 4, "zzzz");
	assert_int_equal(feed(other, c), 0);
	assert_int_equal(g_acks, 1);
	assert_int_equal(g_routed, routed + 1);
}

} // namespace

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(test_counts, setup),
		cmocka_unit_test_setup(test_local_ack, setup),
	};
	return cmocka_run_group_tests(tests, nullptr, nullptr);
}
