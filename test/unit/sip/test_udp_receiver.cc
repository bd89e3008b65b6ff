// sip/udp_receiver.cc: two receiver threads draining one real UDP socket on
// loopback. Every datagram a client sends is routed once (through the
// script runner, which answers with a stateless reply) and answered to the
// client's address; garbage is counted and not answered; the counters add
// up over the receivers; the threads stop cleanly.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <atomic>
#include <cstring>
#include <string>

#include "api/script-t.h"
#include "opensips/sip_msg.h"
#include "proc/roster.h"
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

int g_port = 0;

// Two receivers on one socket for the whole group (threads cannot be
// started again once stopped).
int start_receivers(void **)
{
	shim::sip_stats_register();
	shim::g_script_runner.run_request = answer;
	g_port = free_udp_port();
	shim::sip_socket s;
	s.proto = 1;
	s.ip = "127.0.0.1";
	s.port = g_port;
	s.text = "udp:127.0.0.1:" + std::to_string(g_port);
	shim::g_globals.sockets = {s};
	shim::g_globals.udp_workers = 2;
	std::string err;
	if (shim::udp_sockets_open(err) < 0)
		return -1;
	shim::udp_receivers_start();
	return shim::threads_wait_ready();
}

int stop_receivers(void **)
{
	shim::threads_stop_all();
	shim::udp_sockets_close();
	return 0;
}

// A client socket (2 s receive timeout) and the receivers' address.
int client_socket(int port, sockaddr_in *to)
{
	int c = socket(AF_INET, SOCK_DGRAM, 0);
	timeval tv{2, 0};
	setsockopt(c, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
	to->sin_family = AF_INET;
	to->sin_port = htons((uint16_t)port);
	to->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	return c;
}

void test_receive_and_answer(void **)
{
	int port = g_port;

	sockaddr_in to{};
	int c = client_socket(port, &to);
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
}

unsigned long long busy_total()
{
	unsigned long long t = 0;
	for (int i = 0; i < shim::roster_size(); i++)
		if (shim::proc_entry *e = shim::roster_get(i))
			t += e->busy_ns.load();
	return t;
}

// busy_poll_usec: the receivers keep polling after a batch. A pipelined
// burst and a request-by-request exchange are all answered, in order per
// client; time spent polling is not counted as busy (the load statistics
// and the auto-scaler would see a loaded worker); the threads still stop.
void test_busy_polling(void **)
{
	g_routed = 0;
	int port = g_port;
	// read by the receivers at each wake-up
	shim::g_globals.busy_poll_usec = 1000;

	sockaddr_in to{};
	int c = client_socket(port, &to);
	const int burst = 64;
	for (int i = 0; i < burst; i++) {
		std::string m = options(1000 + i);
		assert_true(sendto(c, m.data(), m.size(), 0, (sockaddr *)&to, sizeof to) > 0);
	}
	bool seen[burst] = {};
	int got = 0;
	char buf[2048];
	for (int i = 0; i < burst; i++) {
		ssize_t r = recv(c, buf, sizeof buf, 0);
		if (r <= 0)
			break;
		std::string rep(buf, (size_t)r);
		size_t at = rep.find("Call-ID: udp-");
		assert_true(at != std::string::npos);
		int id = atoi(rep.c_str() + at + 13) - 1000;
		assert_true(id >= 0 && id < burst && !seen[id]);
		seen[id] = true;
		got++;
	}
	assert_int_equal(got, burst);

	// one at a time, 5 ms apart: every poll of 1 ms runs out
	unsigned long long busy0 = busy_total();
	const int slow = 20;
	for (int i = 0; i < slow; i++) {
		std::string m = options(i);
		sendto(c, m.data(), m.size(), 0, (sockaddr *)&to, sizeof to);
		ssize_t r = recv(c, buf, sizeof buf, 0);
		assert_true(r > 0);
		assert_true(std::string(buf, (size_t)r).find("Call-ID: udp-" + std::to_string(i) +
		                                             "\r\n") != std::string::npos);
		timespec d{0, 5000000};
		nanosleep(&d, nullptr);
	}
	unsigned long long busy = busy_total() - busy0;
	// 20 ms were spent polling; handling 20 requests takes far less
	assert_true(busy < 10000000ULL);
	close(c);
	assert_int_equal(g_routed.load(), burst + slow);
	// the polling receivers still stop promptly
	timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	stop_receivers(nullptr);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	assert_true(t1.tv_sec - t0.tv_sec < 3);
	shim::g_globals.busy_poll_usec = 0;
}

} // namespace

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_receive_and_answer),
		cmocka_unit_test(test_busy_polling),
	};
	// test_busy_polling stops the receivers itself (it times the stop);
	// the teardown is then a no-op
	return cmocka_run_group_tests(tests, start_receivers, stop_receivers);
}
