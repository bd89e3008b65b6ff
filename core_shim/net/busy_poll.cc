// Busy polling (include/opensips/net.h): one loop that asks "anything
// more?" until yes or the budget is spent, used by the SIP UDP receivers
// and mi_datagram (a socket), mi_fifo (its FIFO) and the EVI sender (its
// queues) after a batch, when busy_poll_usec > 0.
#include <errno.h>
#include <sched.h>
#include <sys/socket.h>
#include <time.h>

#include "opensips/net.h"
#include "settings/globals.h"

namespace {

long long mono_ns()
{
	timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (long long)t.tv_sec * 1000000000LL + t.tv_nsec;
}

} // namespace

extern "C" int shim_busy_poll_usec(void)
{
	return shim::g_globals.busy_poll_usec;
}

extern "C" int shim_busy_poll(int (*try_once)(void *arg), void *arg,
                              long long budget_ns, long long *polled_ns)
{
	const long long t0 = mono_ns();
	long long t = t0;
	int got;
	for (;;) {
		got = try_once(arg);
		if (got != 0) {
			t = mono_ns();
			break;
		}
		// a client waiting for this core gets it; on an idle core this
		// returns at once
		sched_yield();
		t = mono_ns();
		if (t - t0 >= budget_ns)
			break;
	}
	if (polled_ns)
		*polled_ns = t - t0;
	return got;
}

namespace {

struct recv_try {
	int fd;
	mmsghdr *v;
	unsigned int n;
	int got;
};

// 1 once recvmmsg has data or fails for another reason than an empty socket
int recv_once(void *arg)
{
	auto *r = static_cast<recv_try *>(arg);
	r->got = recvmmsg(r->fd, r->v, r->n, MSG_DONTWAIT, nullptr);
	return r->got >= 0 || (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR);
}

} // namespace

extern "C" int shim_recvmmsg_poll(int fd, struct mmsghdr *v, unsigned int n,
                                  long long budget_ns, long long *polled_ns)
{
	recv_try r{fd, v, n, -1};
	shim_busy_poll(recv_once, &r, budget_ns, polled_ns);
	return r.got; // errno is the last recvmmsg's
}
