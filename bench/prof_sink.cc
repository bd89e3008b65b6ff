// bench/prof_sink.cc: helpers for the profiling figures of bench/run.sh.
//
//   prof_sink --sink PORT
//       A UDP collector for event_datagram: binds 127.0.0.1:PORT (8 MB
//       receive buffer), drains it with recvmmsg and counts datagrams,
//       E_PROFILING_PROC and E_PROFILING_SCRIPT payloads. SIGUSR1 prints
//       the counts so far, SIGTERM/SIGINT prints them and exits:
//         SINK datagrams=N proc=P script=S other=O bytes=B proc_sip=U
//              script_req=Q
//       (proc_sip: PROC records of UDP workers, "type":1; script_req: SCRIPT
//       records of request routes, "type":1; the rest comes from the timer
//       thread's own sessions and timer routes)
//   prof_sink --pace PORT --rate R --duration S
//       An open-loop SIP OPTIONS sender: R requests/s (sent in 1 ms ticks)
//       for S seconds to 127.0.0.1:PORT, then waits 0.5 s for the last
//       replies:
//         PACE sent=N replies=R ok=O rate=R duration_s=S
//
// Linux, C++20, no dependencies.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

namespace {

std::atomic<int> g_sig{0};

void on_sig(int s) { g_sig.store(s); }

int bind_udp(int port, int rcvbuf)
{
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0);
	if (fd < 0) { perror("socket"); exit(1); }
	if (rcvbuf > 0)
		setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
	sockaddr_in a{};
	a.sin_family = AF_INET;
	a.sin_port = htons((uint16_t)port);
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (bind(fd, (sockaddr *)&a, sizeof(a)) < 0) { perror("bind"); exit(1); }
	return fd;
}

int sink(int port)
{
	int fd = bind_udp(port, 8 << 20);
	struct sigaction sa{};
	sa.sa_handler = on_sig;
	sigaction(SIGUSR1, &sa, nullptr);
	sigaction(SIGTERM, &sa, nullptr);
	sigaction(SIGINT, &sa, nullptr);
	constexpr int kBatch = 64;
	static char bufs[kBatch][2048];
	mmsghdr hdrs[kBatch];
	iovec iov[kBatch];
	unsigned long long n = 0, proc = 0, script = 0, other = 0, bytes = 0;
	unsigned long long proc_sip = 0, script_req = 0;
	auto report = [&] {
		printf("SINK datagrams=%llu proc=%llu script=%llu other=%llu bytes=%llu "
		       "proc_sip=%llu script_req=%llu\n",
		       n, proc, script, other, bytes, proc_sip, script_req);
		fflush(stdout);
	};
	for (;;) {
		int s = g_sig.exchange(0);
		if (s == SIGUSR1) report();
		else if (s) { report(); return 0; }
		pollfd p{fd, POLLIN, 0};
		if (poll(&p, 1, 100) <= 0) continue;
		for (;;) {
			for (int i = 0; i < kBatch; i++) {
				iov[i] = {bufs[i], sizeof(bufs[i])};
				hdrs[i] = {};
				hdrs[i].msg_hdr.msg_iov = &iov[i];
				hdrs[i].msg_hdr.msg_iovlen = 1;
			}
			int k = recvmmsg(fd, hdrs, kBatch, MSG_DONTWAIT, nullptr);
			if (k <= 0) break;
			for (int i = 0; i < k; i++) {
				size_t len = hdrs[i].msg_len;
				n++;
				bytes += len;
				std::string_view v(bufs[i], len);
				// "type":1 is a UDP worker (PROC) or REQUEST_ROUTE (SCRIPT)
				bool t1 = v.find(",\"type\":1,") != v.npos;
				if (v.find("\"E_PROFILING_PROC\"") != v.npos) { proc++; proc_sip += t1; }
				else if (v.find("\"E_PROFILING_SCRIPT\"") != v.npos) { script++; script_req += t1; }
				else other++;
			}
			if (k < kBatch) break;
		}
	}
}

int pace(int port, double rate, double duration)
{
	int fd = bind_udp(0, 4 << 20);
	sockaddr_in self{};
	socklen_t sl = sizeof(self);
	getsockname(fd, (sockaddr *)&self, &sl);
	int lport = ntohs(self.sin_port);
	sockaddr_in dst{};
	dst.sin_family = AF_INET;
	dst.sin_port = htons((uint16_t)port);
	dst.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	using clk = std::chrono::steady_clock;
	auto t0 = clk::now();
	unsigned long long sent = 0, replies = 0, ok = 0;
	char buf[4096];
	auto drain = [&] {
		for (;;) {
			ssize_t r = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
			if (r <= 0) break;
			replies++;
			if (r > 11 && memcmp(buf, "SIP/2.0 200", 11) == 0) ok++;
		}
	};
	for (;;) {
		double el = std::chrono::duration<double>(clk::now() - t0).count();
		if (el >= duration) break;
		auto due = (unsigned long long)(el * rate);
		while (sent < due) {
			char m[512];
			int len = snprintf(m, sizeof(m),
			    "OPTIONS sip:bench@127.0.0.1:%d SIP/2.0\r\n"
			    "Via: SIP/2.0/UDP 127.0.0.1:%d;branch=z9hG4bK-p%llu\r\n"
			    "Max-Forwards: 70\r\n"
			    "From: <sip:bench@127.0.0.1>;tag=p%llu\r\n"
			    "To: <sip:bench@127.0.0.1>\r\n"
			    "Call-ID: p%llu@profbench\r\n"
			    "CSeq: 1 OPTIONS\r\n"
			    "Content-Length: 0\r\n\r\n",
			    port, lport, sent, sent, sent);
			sendto(fd, m, (size_t)len, 0, (sockaddr *)&dst, sizeof(dst));
			sent++;
		}
		drain();
		usleep(1000);
	}
	auto tend = clk::now() + std::chrono::milliseconds(500);
	while (clk::now() < tend) { drain(); usleep(2000); }
	printf("PACE sent=%llu replies=%llu ok=%llu rate=%.0f duration_s=%.2f\n",
	       sent, replies, ok, rate, duration);
	return 0;
}

} // namespace

int main(int argc, char **argv)
{
	int sink_port = 0, pace_port = 0;
	double rate = 1000, duration = 5;
	for (int i = 1; i + 1 < argc; i += 2) {
		std::string a = argv[i];
		const char *v = argv[i + 1];
		if (a == "--sink") sink_port = atoi(v);
		else if (a == "--pace") pace_port = atoi(v);
		else if (a == "--rate") rate = atof(v);
		else if (a == "--duration") duration = atof(v);
		else { fprintf(stderr, "prof_sink: unknown option %s\n", a.c_str()); return 2; }
	}
	if (sink_port > 0) return sink(sink_port);
	if (pace_port > 0) return pace(pace_port, rate, duration);
	fprintf(stderr, "usage: prof_sink --sink PORT | --pace PORT [--rate R] [--duration S]\n");
	return 2;
}
