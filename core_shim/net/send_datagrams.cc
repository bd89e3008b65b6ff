// shim_send_datagrams (include/opensips/net.h): a batch of datagrams out
// through sendmmsg, and with udp_gso on, runs of equal-size datagrams to
// one destination handed to the kernel as one UDP_SEGMENT send, which it
// cuts back into the same datagrams (docs/internals/net.md).
//
// Per destination the order given is the order sent: a datagram joins the
// newest group of its destination or starts a new one, and groups go out
// in the order they were started. Only datagrams to different
// destinations may overtake each other.
#include <errno.h>
#include <netinet/in.h>
#include <netinet/udp.h>
#include <string.h>
#include <sys/socket.h>

#include <atomic>
#include <memory>
#include <new>

#include "net/send_datagrams.h"
#include "opensips/dprint.h"
#include "opensips/net.h"
#include "settings/globals.h"
#include "stats/stats.h"

#ifndef UDP_SEGMENT
#define UDP_SEGMENT 103
#endif

namespace {

// Datagrams looked at together; a longer batch is sent in chunks.
constexpr unsigned kChunk = 64;
// The kernel's limit on segments per send (UDP_MAX_SEGMENTS).
constexpr unsigned kMaxSegments = 64;
// A segment must fit the route's MTU with the IP and UDP headers, or the
// kernel refuses the send: 1400 bytes fit an Ethernet MTU over IPv6.
constexpr size_t kMaxSegment = 1400;
constexpr size_t kMaxGroupBytes = 60000;

// Set when the kernel refused a segmented send that it took as single
// datagrams (no UDP_SEGMENT, or a device without checksum offload):
// from then on this process sends datagram by datagram.
std::atomic<bool> g_gso_refused{false};
stat_var *g_gso_sends, *g_gso_datagrams;

struct group {
	unsigned first, last; // member indexes, linked through next[]
	unsigned count;
	size_t seg;           // the size of every member but the last
	size_t bytes;
	bool closed;          // a shorter member ended it, or it cannot grow
};

struct scratch {
	group g[kChunk];
	unsigned next[kChunk];
	mmsghdr out[kChunk];
	iovec iov[kChunk];
	alignas(cmsghdr) char ctl[kChunk][CMSG_SPACE(sizeof(uint16_t))];
	bool refused[kChunk];
};
// Allocated by the first segmented send of a thread, not in every
// thread's TLS block (which each thread start zeroes: ~10 KB a thread).
thread_local std::unique_ptr<scratch> t_s;

bool groupable(const msghdr &h)
{
	if (h.msg_iovlen != 1 || h.msg_control || !h.msg_name)
		return false;
	size_t len = h.msg_iov[0].iov_len;
	if (len == 0 || len > kMaxSegment)
		return false;
	sa_family_t fam = ((const sockaddr *)h.msg_name)->sa_family;
	return fam == AF_INET || fam == AF_INET6;
}

bool same_dest(const msghdr &a, const msghdr &b)
{
	return a.msg_namelen == b.msg_namelen &&
	       (a.msg_namelen == 0 || memcmp(a.msg_name, b.msg_name, a.msg_namelen) == 0);
}

// sendmmsg until every message went or failed; calls fail(i) for a message
// the kernel refused, and goes on with the next.
template <typename F>
void send_all(int fd, mmsghdr *m, unsigned n, int flags, F fail)
{
	unsigned done = 0;
	while (done < n) {
		int k = sendmmsg(fd, m + done, n - done, flags);
		if (k < 0) {
			if (errno == EINTR)
				continue;
			fail(done);
			done++;
			continue;
		}
		done += (unsigned)k;
	}
}

unsigned send_plain(int fd, mmsghdr *v, unsigned n, int flags, int *err)
{
	unsigned failed = 0;
	send_all(fd, v, n, flags, [&](unsigned i) {
		v[i].msg_len = 0;
		failed++;
		*err = errno;
	});
	return failed;
}

unsigned send_chunk(int fd, mmsghdr *v, unsigned n, int flags, int *err)
{
	if (!t_s)
		t_s.reset(new (std::nothrow) scratch);
	if (!t_s)
		return send_plain(fd, v, n, flags, err); // no memory: one by one
	scratch &s = *t_s;
	unsigned ng = 0;
	for (unsigned i = 0; i < n; i++) {
		const msghdr &h = v[i].msg_hdr;
		bool can = groupable(h);
		size_t len = can ? h.msg_iov[0].iov_len : 0;
		s.next[i] = kChunk;
		group *into = nullptr;
		if (can) {
			// the newest group of this destination, if it takes one more
			for (unsigned k = ng; k-- > 0;) {
				if (!same_dest(v[s.g[k].first].msg_hdr, h))
					continue;
				group &g = s.g[k];
				if (!g.closed && len <= g.seg && g.count < kMaxSegments &&
				    g.bytes + len <= kMaxGroupBytes)
					into = &g;
				break;
			}
		}
		if (into) {
			s.next[into->last] = i;
			into->last = i;
			into->count++;
			into->bytes += len;
			if (len < into->seg)
				into->closed = true;
			continue;
		}
		s.g[ng++] = group{i, i, 1, len, len, !can};
	}

	unsigned failed = 0;
	unsigned pos = 0;
	for (unsigned k = 0; k < ng; k++) {
		const group &g = s.g[k];
		mmsghdr &o = s.out[k];
		if (g.count == 1) {
			o.msg_hdr = v[g.first].msg_hdr;
			continue;
		}
		memset(&o.msg_hdr, 0, sizeof o.msg_hdr);
		o.msg_hdr.msg_iov = &s.iov[pos];
		o.msg_hdr.msg_iovlen = g.count;
		for (unsigned i = g.first; i != kChunk; i = s.next[i])
			s.iov[pos++] = v[i].msg_hdr.msg_iov[0];
		o.msg_hdr.msg_name = v[g.first].msg_hdr.msg_name;
		o.msg_hdr.msg_namelen = v[g.first].msg_hdr.msg_namelen;
		o.msg_hdr.msg_control = s.ctl[k];
		o.msg_hdr.msg_controllen = sizeof s.ctl[k];
		cmsghdr *c = CMSG_FIRSTHDR(&o.msg_hdr);
		c->cmsg_level = SOL_UDP;
		c->cmsg_type = UDP_SEGMENT;
		c->cmsg_len = CMSG_LEN(sizeof(uint16_t));
		uint16_t seg = (uint16_t)g.seg;
		memcpy(CMSG_DATA(c), &seg, sizeof seg);
	}
	for (unsigned k = 0; k < ng; k++)
		s.refused[k] = false;
	send_all(fd, s.out, ng, flags, [&](unsigned k) {
		int e = errno;
		const group &g = s.g[k];
		s.refused[k] = true;
		if (g.count == 1) {
			v[g.first].msg_len = 0;
			failed++;
			*err = e;
			return;
		}
		// one by one; if they all go, it was the segmented send the
		// kernel refused
		unsigned lost = 0;
		for (unsigned i = g.first; i != kChunk; i = s.next[i]) {
			ssize_t r;
			do
				r = sendmsg(fd, &v[i].msg_hdr, flags);
			while (r < 0 && errno == EINTR);
			v[i].msg_len = r < 0 ? 0 : (unsigned)r;
			if (r < 0) {
				lost++;
				*err = errno;
			}
		}
		failed += lost;
		if (lost == 0 && !g_gso_refused.exchange(true))
			LM_WARN("the kernel refused a segmented UDP send (%s): udp_gso is off "
			        "for this process from now on", strerror(e));
	});
	for (unsigned k = 0; k < ng; k++) {
		const group &g = s.g[k];
		if (s.refused[k])
			continue; // set above
		if (g.count == 1) {
			v[g.first].msg_len = s.out[k].msg_len;
			continue;
		}
		for (unsigned i = g.first; i != kChunk; i = s.next[i])
			v[i].msg_len = (unsigned)v[i].msg_hdr.msg_iov[0].iov_len;
		update_stat(g_gso_sends, 1);
		update_stat(g_gso_datagrams, (long)g.count);
	}
	return failed;
}

} // namespace

int shim::udp_gso_stats_register()
{
	if (register_stat("net", "udp_gso_sends", &g_gso_sends, 0) < 0 ||
	    register_stat("net", "udp_gso_datagrams", &g_gso_datagrams, 0) < 0)
		return -1;
	return 0;
}

extern "C" int shim_udp_gso(void)
{
	return shim::g_globals.udp_gso && !g_gso_refused.load(std::memory_order_relaxed);
}

extern "C" int shim_send_datagrams(int fd, struct mmsghdr *v, unsigned int n, int flags,
                                   int *last_errno)
{
	int dummy = 0;
	int *err = last_errno ? last_errno : &dummy;
	if (!shim_udp_gso() || n < 2)
		return (int)send_plain(fd, v, n, flags, err);
	unsigned failed = 0;
	for (unsigned off = 0; off < n; off += kChunk) {
		unsigned m = n - off < kChunk ? n - off : kChunk;
		failed += send_chunk(fd, v + off, m, flags, err);
	}
	return (int)failed;
}
