// bench/evcollector.cc: a UDP event collector for `make bench`.
//   evcollector --port P [--idle-ms 1000] [--max-s 30]
// Binds 127.0.0.1:P (16 MB receive buffer), counts datagrams with recvmmsg
// until --idle-ms pass without one (after the first), then prints
//   RESULT received=N bytes=N span_s=X eps=Y kernel_drops=Z
// eps = events per second between the first and the last datagram;
// kernel_drops = the socket's receive-queue drops (SO_RXQ_OVFL).
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

int main(int argc, char **argv)
{
	int port = 0, idle_ms = 1000, max_s = 30;
	for (int i = 1; i + 1 < argc; i += 2) {
		std::string a = argv[i];
		if (a == "--port") port = atoi(argv[i + 1]);
		else if (a == "--idle-ms") idle_ms = atoi(argv[i + 1]);
		else if (a == "--max-s") max_s = atoi(argv[i + 1]);
	}
	int fd = socket(AF_INET, SOCK_DGRAM, 0);
	int sz = 16 << 20, one = 1;
	if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &sz, sizeof(sz)) < 0)
		setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &sz, sizeof(sz));
	setsockopt(fd, SOL_SOCKET, SO_RXQ_OVFL, &one, sizeof(one));
	sockaddr_in a{};
	a.sin_family = AF_INET;
	a.sin_port = htons((uint16_t)port);
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (bind(fd, (sockaddr *)&a, sizeof(a)) < 0) {
		perror("bind");
		return 1;
	}
	printf("READY\n");
	fflush(stdout);
	enum { N = 64 };
	static char bufs[N][2048];
	static char cbufs[N][64];
	mmsghdr msgs[N];
	iovec iov[N];
	using clk = std::chrono::steady_clock;
	long received = 0, bytes = 0;
	unsigned drops = 0;
	clk::time_point first{}, last{};
	auto start = clk::now();
	for (;;) {
		pollfd p{fd, POLLIN, 0};
		int to = received ? idle_ms : 1000;
		int r = poll(&p, 1, to);
		if (r == 0) {
			if (received) break;
			if (clk::now() - start > std::chrono::seconds(max_s)) break;
			continue;
		}
		for (int i = 0; i < N; i++) {
			iov[i] = {bufs[i], sizeof(bufs[i])};
			memset(&msgs[i], 0, sizeof(msgs[i]));
			msgs[i].msg_hdr.msg_iov = &iov[i];
			msgs[i].msg_hdr.msg_iovlen = 1;
			msgs[i].msg_hdr.msg_control = cbufs[i];
			msgs[i].msg_hdr.msg_controllen = sizeof(cbufs[i]);
		}
		int n = recvmmsg(fd, msgs, N, MSG_DONTWAIT, nullptr);
		if (n <= 0) continue;
		auto now = clk::now();
		if (!received) first = now;
		last = now;
		received += n;
		for (int i = 0; i < n; i++) {
			bytes += msgs[i].msg_len;
			for (cmsghdr *c = CMSG_FIRSTHDR(&msgs[i].msg_hdr); c;
			     c = CMSG_NXTHDR(&msgs[i].msg_hdr, c))
				if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SO_RXQ_OVFL)
					memcpy(&drops, CMSG_DATA(c), sizeof(drops));
		}
		if (clk::now() - start > std::chrono::seconds(max_s)) break;
	}
	double span = std::chrono::duration<double>(last - first).count();
	printf("RESULT received=%ld bytes=%ld span_s=%.3f eps=%.0f kernel_drops=%u\n",
	       received, bytes, span, span > 0 ? (double)received / span : 0.0,
	       drops);
	return 0;
}
