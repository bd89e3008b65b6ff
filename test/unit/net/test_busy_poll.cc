// net/busy_poll.cc: shim_busy_poll stops at the first "yes" and gives up
// once its budget is spent; shim_recvmmsg_poll on a real loopback UDP
// socket returns a datagram that arrives while it polls, gives up with
// EAGAIN once its budget is spent (and says how long it polled), and with
// no budget asks the socket once.
#include <arpa/inet.h>
#include <errno.h>
#include <string.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <thread>

#include "opensips/net.h"
#include "settings/globals.h"

#include "../cmocka_cxx.h" // last

namespace {

long long mono_ns()
{
	timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (long long)t.tv_sec * 1000000000LL + t.tv_nsec;
}

struct pair {
	int srv = -1, cli = -1;
	sockaddr_in addr{};
	pair()
	{
		srv = socket(AF_INET, SOCK_DGRAM, 0);
		cli = socket(AF_INET, SOCK_DGRAM, 0);
		addr.sin_family = AF_INET;
		addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		bind(srv, (sockaddr *)&addr, sizeof addr);
		socklen_t l = sizeof addr;
		getsockname(srv, (sockaddr *)&addr, &l);
	}
	~pair()
	{
		close(srv);
		close(cli);
	}
	void send(const char *s) { sendto(cli, s, strlen(s), 0, (sockaddr *)&addr, sizeof addr); }
};

struct batch {
	char bufs[4][256];
	iovec iov[4];
	mmsghdr h[4];
	batch()
	{
		memset(h, 0, sizeof h);
		for (int i = 0; i < 4; i++) {
			iov[i] = {bufs[i], sizeof bufs[i]};
			h[i].msg_hdr.msg_iov = &iov[i];
			h[i].msg_hdr.msg_iovlen = 1;
		}
	}
};

void empty_socket_times_out(void **)
{
	pair p;
	batch b;
	long long polled = -1;
	long long t0 = mono_ns();
	int n = shim_recvmmsg_poll(p.srv, b.h, 4, 3000000, &polled); // 3 ms
	long long took = mono_ns() - t0;
	assert_int_equal(n, -1);
	assert_true(errno == EAGAIN || errno == EWOULDBLOCK);
	assert_true(polled >= 3000000);
	assert_true(took >= 3000000 && took < 1000000000LL);
}

void datagram_arriving_while_polling(void **)
{
	pair p;
	batch b;
	std::thread late([&] {
		timespec d{0, 2000000}; // 2 ms into the poll
		nanosleep(&d, nullptr);
		p.send("hello");
	});
	long long polled = -1;
	int n = shim_recvmmsg_poll(p.srv, b.h, 4, 2000000000LL, &polled); // up to 2 s
	late.join();
	assert_int_equal(n, 1);
	assert_int_equal(b.h[0].msg_len, 5);
	assert_memory_equal(b.bufs[0], "hello", 5);
	assert_true(polled >= 1000000 && polled < 1000000000LL);
}

void no_budget_asks_once(void **)
{
	pair p;
	batch b;
	long long polled = -1;
	assert_int_equal(shim_recvmmsg_poll(p.srv, b.h, 4, 0, &polled), -1);
	assert_true(polled >= 0 && polled < 100000000LL);
	p.send("a");
	p.send("bb");
	timespec d{0, 1000000};
	nanosleep(&d, nullptr);
	assert_int_equal(shim_recvmmsg_poll(p.srv, b.h, 4, 0, nullptr), 2);
	assert_int_equal(b.h[1].msg_len, 2);
}

struct counter {
	int calls = 0, yes_at = 0;
};

int count_try(void *arg)
{
	auto *c = static_cast<counter *>(arg);
	return ++c->calls == c->yes_at ? 7 : 0;
}

void busy_poll_stops_at_first_yes(void **)
{
	counter c;
	c.yes_at = 3;
	long long polled = -1;
	assert_int_equal(shim_busy_poll(count_try, &c, 2000000000LL, &polled), 7);
	assert_int_equal(c.calls, 3);
	assert_true(polled >= 0 && polled < 1000000000LL);
}

void busy_poll_budget(void **)
{
	counter c; // never says yes
	long long polled = -1;
	long long t0 = mono_ns();
	assert_int_equal(shim_busy_poll(count_try, &c, 2000000, &polled), 0); // 2 ms
	long long took = mono_ns() - t0;
	assert_true(c.calls > 1);
	assert_true(polled >= 2000000 && polled <= took);
	counter once;
	assert_int_equal(shim_busy_poll(count_try, &once, 0, nullptr), 0);
	assert_int_equal(once.calls, 1); // no budget: asked once
}

void setting_is_exported(void **)
{
	shim::g_globals.busy_poll_usec = 0;
	assert_int_equal(shim_busy_poll_usec(), 0);
	shim::g_globals.busy_poll_usec = 75;
	assert_int_equal(shim_busy_poll_usec(), 75);
	shim::g_globals.busy_poll_usec = 0;
}

} // namespace

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(empty_socket_times_out),
		cmocka_unit_test(datagram_arriving_while_polling),
		cmocka_unit_test(no_budget_asks_once),
		cmocka_unit_test(setting_is_exported),
		cmocka_unit_test(busy_poll_stops_at_first_yes),
		cmocka_unit_test(busy_poll_budget),
	};
	return cmocka_run_group_tests(tests, nullptr, nullptr);
}
