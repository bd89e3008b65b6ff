// net/send_datagrams.cc: shim_send_datagrams on real loopback sockets.
// Off and on, every datagram arrives once, with its own bytes and
// boundaries, in order per destination; with udp_gso on, a run of equal
// datagrams leaves as one send (the kernel's OutDatagrams counts sends);
// a destination the kernel refuses costs its datagrams only; and when the
// kernel refuses segmented sends (SO_NO_CHECK), the datagrams still go one
// by one and the process stops asking.
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "opensips/net.h"
#include "settings/globals.h"

#include "../cmocka_cxx.h" // last

namespace {

struct receiver {
	int fd = -1;
	sockaddr_in addr{};
	receiver()
	{
		fd = socket(AF_INET, SOCK_DGRAM, 0);
		addr.sin_family = AF_INET;
		addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		bind(fd, (sockaddr *)&addr, sizeof addr);
		socklen_t l = sizeof addr;
		getsockname(fd, (sockaddr *)&addr, &l);
		int big = 4 << 20;
		setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &big, sizeof big);
		timeval tv{2, 0};
		setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
	}
	~receiver() { close(fd); }
	// the next datagram, "" after the timeout
	std::string next(int timeout_ms = 2000)
	{
		timeval tv{timeout_ms / 1000, (timeout_ms % 1000) * 1000};
		setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
		char buf[70000];
		ssize_t n = recv(fd, buf, sizeof buf, 0);
		return n < 0 ? std::string() : std::string(buf, (size_t)n);
	}
};

// Datagrams to send: their texts, and their destinations.
struct outbox {
	std::vector<std::string> text;
	std::vector<sockaddr_in> to;
	std::vector<iovec> iov;
	std::vector<mmsghdr> m;
	void add(const std::string &t, const sockaddr_in &a)
	{
		text.push_back(t);
		to.push_back(a);
	}
	mmsghdr *build()
	{
		iov.resize(text.size());
		m.assign(text.size(), mmsghdr{});
		for (size_t i = 0; i < text.size(); i++) {
			iov[i].iov_base = text[i].data();
			iov[i].iov_len = text[i].size();
			m[i].msg_hdr.msg_iov = &iov[i];
			m[i].msg_hdr.msg_iovlen = 1;
			m[i].msg_hdr.msg_name = &to[i];
			m[i].msg_hdr.msg_namelen = sizeof to[i];
			m[i].msg_len = 12345; // overwritten by the call
		}
		return m.data();
	}
};

std::string item(char tag, int i, size_t len)
{
	char head[32];
	int n = snprintf(head, sizeof head, "%c%04d:", tag, i);
	std::string s(head, (size_t)n);
	s.resize(len, (char)('a' + i % 26));
	return s;
}

// The kernel's count of UDP sends (one per segmented send too).
long out_datagrams()
{
	FILE *f = fopen("/proc/net/snmp", "r");
	if (!f)
		return -1;
	char line[1024];
	long v = -1;
	bool header = false;
	while (fgets(line, sizeof line, f)) {
		if (strncmp(line, "Udp:", 4) != 0)
			continue;
		if (!header) {
			header = true;
			continue;
		}
		long in = 0, noport = 0, errs = 0;
		sscanf(line + 4, "%ld %ld %ld %ld", &in, &noport, &errs, &v);
		break;
	}
	fclose(f);
	return v;
}

// A mixed batch to two receivers: runs of one size with a shorter last one,
// a datagram too large to be grouped, interleaved destinations.
void mixed_batch(outbox &o, const receiver &a, const receiver &b)
{
	for (int i = 0; i < 10; i++)
		o.add(item('A', i, 200), a.addr);
	o.add(item('A', 10, 150), a.addr); // shorter: ends A's run
	o.add(item('A', 11, 200), a.addr);
	for (int i = 0; i < 6; i++) {
		o.add(item('B', i, 300), b.addr);
		o.add(item('A', 12 + i, 200), a.addr);
	}
	o.add(item('B', 6, 1800), b.addr); // past the segment limit
	o.add(item('B', 7, 300), b.addr);
	o.add(item('A', 18, 220), a.addr); // longer than the run: a new one
}

void expect_all(outbox &o, receiver &r, char tag)
{
	for (size_t i = 0; i < o.text.size(); i++) {
		if (o.text[i][0] != tag)
			continue;
		std::string got = r.next();
		assert_int_equal(got.size(), o.text[i].size());
		assert_memory_equal(got.data(), o.text[i].data(), got.size());
		assert_int_equal(o.m[i].msg_len, o.text[i].size());
	}
	assert_true(r.next(50).empty()); // nothing twice
}

void run_mixed(bool gso)
{
	shim::g_globals.udp_gso = gso;
	assert_int_equal(shim_udp_gso(), gso ? 1 : 0);
	receiver a, b;
	int s = socket(AF_INET, SOCK_DGRAM, 0);
	outbox o;
	mixed_batch(o, a, b);
	int err = 0;
	assert_int_equal(shim_send_datagrams(s, o.build(), (unsigned)o.text.size(), 0, &err), 0);
	expect_all(o, a, 'A');
	expect_all(o, b, 'B');
	close(s);
	assert_int_equal(shim_udp_gso(), gso ? 1 : 0); // the kernel took every send
	shim::g_globals.udp_gso = false;
}

void off_sends_each(void **) { run_mixed(false); }
void on_keeps_datagrams(void **) { run_mixed(true); }

void on_groups_a_run(void **)
{
	shim::g_globals.udp_gso = true;
	receiver a;
	int s = socket(AF_INET, SOCK_DGRAM, 0);
	// other traffic on the machine counts too: one quiet try of three
	long best = 1 << 30;
	for (int attempt = 0; attempt < 3 && best > 4; attempt++) {
		outbox o;
		for (int i = 0; i < 40; i++)
			o.add(item('R', i, 180), a.addr);
		mmsghdr *m = o.build();
		long before = out_datagrams();
		assert_int_equal(shim_send_datagrams(s, m, 40, 0, nullptr), 0);
		long sends = out_datagrams() - before;
		if (sends < best)
			best = sends;
		expect_all(o, a, 'R');
	}
	assert_true(best >= 1 && best <= 4); // 40 datagrams, one send
	close(s);
	shim::g_globals.udp_gso = false;
}

void refused_destination(void **)
{
	shim::g_globals.udp_gso = true;
	receiver a;
	sockaddr_in nowhere = a.addr;
	nowhere.sin_port = 0; // the kernel refuses port 0 (EINVAL)
	int s = socket(AF_INET, SOCK_DGRAM, 0);
	outbox o;
	for (int i = 0; i < 4; i++)
		o.add(item('A', i, 100), a.addr);
	for (int i = 0; i < 3; i++)
		o.add(item('X', i, 100), nowhere);
	for (int i = 4; i < 8; i++)
		o.add(item('A', i, 100), a.addr);
	int err = 0;
	assert_int_equal(shim_send_datagrams(s, o.build(), (unsigned)o.text.size(), 0, &err), 3);
	assert_int_equal(err, EINVAL);
	for (int i = 4; i < 7; i++)
		assert_int_equal(o.m[i].msg_len, 0);
	expect_all(o, a, 'A');
	assert_int_equal(shim_udp_gso(), 1); // the destination's fault, not GSO's
	close(s);
	shim::g_globals.udp_gso = false;
}

void unix_datagrams(void **)
{
	shim::g_globals.udp_gso = true;
	int sv[2];
	assert_int_equal(socketpair(AF_UNIX, SOCK_DGRAM, 0, sv), 0);
	std::string t[3] = {"one", "two", "three"};
	iovec iov[3];
	mmsghdr m[3] = {};
	for (int i = 0; i < 3; i++) {
		iov[i] = {t[i].data(), t[i].size()};
		m[i].msg_hdr.msg_iov = &iov[i];
		m[i].msg_hdr.msg_iovlen = 1;
	}
	assert_int_equal(shim_send_datagrams(sv[0], m, 3, MSG_DONTWAIT, nullptr), 0);
	for (int i = 0; i < 3; i++) {
		char buf[16];
		ssize_t n = recv(sv[1], buf, sizeof buf, MSG_DONTWAIT);
		assert_int_equal(n, (ssize_t)t[i].size());
		assert_memory_equal(buf, t[i].data(), (size_t)n);
	}
	close(sv[0]);
	close(sv[1]);
	shim::g_globals.udp_gso = false;
}

// Last: it turns GSO off for the rest of the process.
void kernel_refuses_segments(void **)
{
	shim::g_globals.udp_gso = true;
	receiver a;
	int s = socket(AF_INET, SOCK_DGRAM, 0);
	int one = 1; // no UDP checksums: the kernel refuses segmented sends
	assert_int_equal(setsockopt(s, SOL_SOCKET, SO_NO_CHECK, &one, sizeof one), 0);
	outbox o;
	for (int i = 0; i < 12; i++)
		o.add(item('A', i, 120), a.addr);
	assert_int_equal(shim_send_datagrams(s, o.build(), 12, 0, nullptr), 0);
	expect_all(o, a, 'A');
	assert_int_equal(shim_udp_gso(), 0); // stopped asking
	outbox o2;
	for (int i = 0; i < 5; i++)
		o2.add(item('A', 20 + i, 120), a.addr);
	assert_int_equal(shim_send_datagrams(s, o2.build(), 5, 0, nullptr), 0);
	expect_all(o2, a, 'A');
	close(s);
	shim::g_globals.udp_gso = false;
}

} // namespace

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(off_sends_each),
		cmocka_unit_test(on_keeps_datagrams),
		cmocka_unit_test(on_groups_a_run),
		cmocka_unit_test(refused_destination),
		cmocka_unit_test(unix_datagrams),
		cmocka_unit_test(kernel_refuses_segments),
	};
	return cmocka_run_group_tests(tests, nullptr, nullptr);
}
