// Busy polling of a datagram socket (include/opensips/net.h): the SIP UDP
// receivers and mi_datagram use it after a batch, when busy_poll_usec > 0.
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

extern "C" int shim_recvmmsg_poll(int fd, struct mmsghdr *v, unsigned int n,
                                  long long budget_ns, long long *polled_ns)
{
	const long long t0 = mono_ns();
	long long t = t0;
	int got;
	do {
		got = recvmmsg(fd, v, n, MSG_DONTWAIT, nullptr);
		if (got >= 0 || (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR))
			break;
		// a client waiting for this core gets it; on an idle core this
		// returns at once
		sched_yield();
		t = mono_ns();
	} while (t - t0 < budget_ns);
	if (polled_ns)
		*polled_ns = (got > 0 ? mono_ns() : t) - t0;
	return got;
}
