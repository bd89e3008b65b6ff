// bench/http_probe.cc: open-loop HTTP GET load over keep-alive connections
// for `make bench` (sr_http's /readyz by default).
//
//   http_probe --port P [--path /readyz] [--rate 5000] [--conns 4]
//              [--duration 5] [--warmup 1]
//   http_probe --port P --probe-ms T       wait until GET <path> answers
//
// Open loop: requests are sent at fixed times (rate/conns per connection)
// whatever the replies do, pipelined when replies fall behind, so a
// stalled server cannot lower the offered rate. Latency runs from the
// write of the request to the end of its reply. The generator sleeps
// until 150 us before each send and spins the rest (the host and the
// generator share the machine; sleeping longer adds wake-up jitter). One output line:
//   RESULT mode=http path=/readyz rate=5000 conns=4 duration_s=5.00
//          rps=4999 p50_us=60 p99_us=150 max_us=900 replies=24995 ok=24995
//          err=0 lost=0 cpu_pct=20
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <string>
#include <vector>

namespace {

int64_t now_ns()
{
	timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return int64_t(ts.tv_sec) * 1000000000 + ts.tv_nsec;
}

int64_t cpu_ns()
{
	rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	return (int64_t(ru.ru_utime.tv_sec) + ru.ru_stime.tv_sec) * 1000000000 +
	       (int64_t(ru.ru_utime.tv_usec) + ru.ru_stime.tv_usec) * 1000;
}

int dial(int port)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	if (fd < 0)
		return -1;
	sockaddr_in a{};
	a.sin_family = AF_INET;
	a.sin_port = htons((uint16_t)port);
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (connect(fd, (sockaddr *)&a, sizeof a) < 0) {
		close(fd);
		return -1;
	}
	int one = 1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	return fd;
}

struct conn {
	int fd = -1;
	std::string in;
	std::deque<int64_t> sent; // scheduled times of requests in flight
	int64_t next = 0;         // next scheduled send
};

// Parses complete responses at the front of c.in; returns statuses.
bool take_response(conn &c, int *status)
{
	size_t he = c.in.find("\r\n\r\n");
	if (he == std::string::npos)
		return false;
	size_t cl = 0;
	size_t p = 0;
	while ((p = c.in.find("\r\n", p)) != std::string::npos && p < he) {
		p += 2;
		if (strncasecmp(c.in.c_str() + p, "Content-Length:", 15) == 0)
			cl = strtoul(c.in.c_str() + p + 15, nullptr, 10);
	}
	if (c.in.size() < he + 4 + cl)
		return false;
	*status = atoi(c.in.c_str() + 9);
	c.in.erase(0, he + 4 + cl);
	return true;
}

} // namespace

int main(int argc, char **argv)
{
	int port = 0, conns = 4, probe_ms = 0;
	double rate = 5000, duration = 5, warmup = 1;
	std::string path = "/readyz";
	for (int i = 1; i < argc; i++) {
		std::string a = argv[i];
		const char *v = i + 1 < argc ? argv[i + 1] : "";
		if (a == "--port") port = atoi(v), i++;
		else if (a == "--path") path = v, i++;
		else if (a == "--rate") rate = atof(v), i++;
		else if (a == "--conns") conns = atoi(v), i++;
		else if (a == "--duration") duration = atof(v), i++;
		else if (a == "--warmup") warmup = atof(v), i++;
		else if (a == "--probe-ms") probe_ms = atoi(v), i++;
		else {
			fprintf(stderr, "http_probe: unknown argument %s\n", a.c_str());
			return 2;
		}
	}
	if (port <= 0 || conns < 1 || rate <= 0) {
		fprintf(stderr, "http_probe: --port P required\n");
		return 2;
	}
	const std::string req = "GET " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";
	if (probe_ms > 0) {
		int64_t end = now_ns() + int64_t(probe_ms) * 1000000;
		while (now_ns() < end) {
			int fd = dial(port);
			if (fd >= 0) {
				conn c;
				c.fd = fd;
				if (write(fd, req.data(), req.size()) == (ssize_t)req.size()) {
					char buf[4096];
					int st = 0;
					pollfd pf{fd, POLLIN, 0};
					while (poll(&pf, 1, 500) > 0) {
						ssize_t n = read(fd, buf, sizeof buf);
						if (n <= 0)
							break;
						c.in.append(buf, (size_t)n);
						if (take_response(c, &st))
							break;
					}
					close(fd);
					if (st > 0)
						return 0;
				} else {
					close(fd);
				}
			}
			usleep(100000);
		}
		return 1;
	}

	std::vector<conn> cs((size_t)conns);
	int64_t interval = int64_t(1e9 * conns / rate);
	int64_t t0 = now_ns();
	for (int i = 0; i < conns; i++) {
		cs[(size_t)i].fd = dial(port);
		if (cs[(size_t)i].fd < 0) {
			perror("http_probe: connect");
			return 1;
		}
		cs[(size_t)i].next = t0 + interval * i / conns;
	}
	int64_t measure_from = t0 + int64_t(warmup * 1e9);
	int64_t stop_at = measure_from + int64_t(duration * 1e9);
	int64_t c0 = cpu_ns();
	std::vector<int64_t> lat;
	lat.reserve((size_t)(rate * duration * 1.1));
	long ok = 0, err = 0, sent_total = 0, replies_total = 0;
	std::vector<pollfd> pfs((size_t)conns);
	for (;;) {
		int64_t now = now_ns();
		bool sending = now < stop_at;
		int64_t wake = stop_at + 2000000000LL; // drain window: 2 s
		bool inflight = false;
		for (auto &c : cs) {
			std::string batch;
			while (sending && c.next <= now) {
				batch += req;
				c.sent.push_back(now);
				c.next += interval;
				sent_total++;
			}
			if (!batch.empty() && write(c.fd, batch.data(), batch.size()) != (ssize_t)batch.size()) {
				perror("http_probe: write");
				return 1;
			}
			if (sending)
				wake = std::min(wake, c.next);
			inflight = inflight || !c.sent.empty();
		}
		if (!sending && (!inflight || now > stop_at + 2000000000LL))
			break;
		// sleep precisely until the next scheduled send (no busy loop: the
		// generator shares the machine with the host)
		int64_t wait_ns = std::clamp<int64_t>(wake - now_ns() - 150000, 0, 100000000);
		timespec ts{(time_t)(wait_ns / 1000000000), (long)(wait_ns % 1000000000)};
		for (size_t i = 0; i < cs.size(); i++)
			pfs[i] = pollfd{cs[i].fd, POLLIN, 0};
		int n = ppoll(pfs.data(), pfs.size(), &ts, nullptr);
		if (n <= 0)
			continue;
		for (size_t i = 0; i < cs.size(); i++) {
			if (!(pfs[i].revents & (POLLIN | POLLHUP | POLLERR)))
				continue;
			char buf[65536];
			ssize_t r = read(cs[i].fd, buf, sizeof buf);
			if (r <= 0) {
				fprintf(stderr, "http_probe: connection closed by the server\n");
				return 1;
			}
			int64_t t = now_ns();
			cs[i].in.append(buf, (size_t)r);
			int st;
			while (take_response(cs[i], &st)) {
				if (cs[i].sent.empty())
					break;
				int64_t sched = cs[i].sent.front();
				cs[i].sent.pop_front();
				replies_total++;
				if (sched >= measure_from && sched < stop_at) {
					lat.push_back(t - sched);
					(st == 200 ? ok : err)++;
				}
			}
		}
	}
	int64_t c1 = cpu_ns();
	long lost = 0;
	for (auto &c : cs) {
		lost += (long)c.sent.size();
		close(c.fd);
	}
	std::sort(lat.begin(), lat.end());
	auto pct = [&](double p) -> long {
		if (lat.empty())
			return 0;
		size_t i = std::min(lat.size() - 1, (size_t)(p * (double)lat.size()));
		return (long)(lat[i] / 1000);
	};
	double wall = (double)(now_ns() - t0) / 1e9;
	printf("RESULT mode=http path=%s rate=%.0f conns=%d duration_s=%.2f rps=%.0f "
	       "p50_us=%ld p99_us=%ld max_us=%ld replies=%zu ok=%ld err=%ld lost=%ld "
	       "sent=%ld cpu_pct=%.0f\n",
	       path.c_str(), rate, conns, duration, (double)lat.size() / duration,
	       pct(0.50), pct(0.99), lat.empty() ? 0L : (long)(lat.back() / 1000),
	       lat.size(), ok, err, lost, sent_total,
	       100.0 * (double)(c1 - c0) / 1e9 / wall);
	(void)replies_total;
	return 0;
}
