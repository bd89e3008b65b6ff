// sip/udp_receiver.cc: two receiver threads draining one real UDP socket on
// loopback. Every datagram a client sends is routed once (through the
// script runner, which answers with a stateless reply) and answered to the
// client's address; garbage is counted and not answered; the counters add
// up over the receivers; the threads stop cleanly.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cstring>
#include <string>

#include "api/script-t.h"
#include "opensips/sip_msg.h"
#include "proc/threads.h"
#include "settings/globals.h"
#include "sip/sip_stats.h"
#include "sip/udp_receiver.h"

#include "../cmocka_cxx.h" // last

namespace {

std::atomic<int> g_routed{0};

int answer(sip_msg *msg)
{
	g_routed++;
	sip_msg_send_reply(msg, 200, "OK", 2);
	return 0;
}

int free_udp_port()
{
	int fd = socket(AF_INET, SOCK_DGRAM, 0);
	sockaddr_in a{};
	a.sin_family = AF_INET;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	bind(fd, (sockaddr *)&a, sizeof a);
	socklen_t l = sizeof a;
	getsockname(fd, (sockaddr *)&a, &l);
	close(fd);
	return ntohs(a.sin_port);
}

std::string options(int n)
{
	return "OPTIONS sip:x@127.0.0.1 SIP/2.0\r\n"
	       "Via: SIP/2.0/UDP 127.0.0.1:5999;branch=z9hG4bK-u" + std::to_string(n) + "\r\n"
	       "From: <sip:a@127.0.0.1>;tag=1\r\nTo: <sip:x@127.0.0.1>\r\n"
	       "Call-ID: udp-" + std::to_string(n) + "\r\nCSeq: 1 OPTIONS\r\n"
	       "Content-Length: 0\r\n\r\n";
}

void test_receive_and_answer(void **)
{
	shim::sip_stats_register();
	shim::g_script_runner.run_request = answer;
	int port = free_udp_port();
	shim::sip_socket s;
	s.proto = 1;
	s.ip = "127.0.0.1";
	s.port = port;
	s.text = "udp:127.0.0.1:" + std::to_string(port);
	shim::g_globals.sockets = {s};
	shim::g_globals.udp_workers = 2;
	std::string err;
	assert_int_equal(shim::udp_sockets_open(err), 0);
	shim::udp_receivers_start();
	assert_int_equal(shim::threads_wait_ready(), 0);

	int c = socket(AF_INET, SOCK_DGRAM, 0);
	timeval tv{2, 0};
	setsockopt(c, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
	sockaddr_in to{};
	to.sin_family = AF_INET;
	to.sin_port = htons((uint16_t)port);
	to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	const int n = 50;
	int answered = 0;
	for (int i = 0; i < n; i++) {
		std::string m = options(i);
		assert_true(sendto(c, m.data(), m.size(), 0, (sockaddr *)&to, sizeof to) > 0);
		char buf[2048];
		ssize_t r = recv(c, buf, sizeof buf, 0);
		if (r > 0 && std::string(buf, (size_t)r).rfind("SIP/2.0 200 OK\r\n", 0) == 0 &&
		    std::string(buf, (size_t)r).find("Call-ID: udp-" + std::to_string(i) + "\r\n") !=
		        std::string::npos)
			answered++;
	}
	assert_int_equal(answered, n);
	// garbage: counted malformed, never answered
	const char junk[] = "\x01\x02 not sip at all";
	sendto(c, junk, sizeof junk - 1, 0, (sockaddr *)&to, sizeof to);
	timeval shortv{0, 300000};
	setsockopt(c, SOL_SOCKET, SO_RCVTIMEO, &shortv, sizeof shortv);
	char buf[256];
	assert_true(recv(c, buf, sizeof buf, 0) < 0);
	close(c);
	unsigned long rcv = 0, rpl = 0, bad = 0;
	shim::udp_counters_total(&rcv, &rpl, &bad);
	assert_int_equal(rcv, n + 1);
	assert_int_equal(rpl, n);
	assert_int_equal(bad, 1);
	assert_int_equal(g_routed.load(), n);
	shim::threads_stop_all();
	shim::udp_sockets_close();
}

} // namespace

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_receive_and_answer),
	};
	return cmocka_run_group_tests(tests, nullptr, nullptr);
}
