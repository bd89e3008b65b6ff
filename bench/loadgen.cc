// bench/loadgen.cc: closed-loop UDP load generator for `make bench`.
//
// Keeps W requests in flight against one UDP endpoint and measures how many
// complete per second, and how long each takes.
//
//   loadgen --mode mi|sip --port P [--host 127.0.0.1] [--window W]
//           [--sockets N] [--duration S] [--warmup S] [--timeout-ms T]
//   loadgen --mode mi|sip --port P --probe-ms T     wait until it answers
//   loadgen --serve mi|sip --port P                 tiny responder (self-test)
//   loadgen --free-ports N                          print N free loopback UDP ports
//
// mi:  sends {"jsonrpc":"2.0","method":"sr_get_status","params":["core"],"id":N}
//      and matches replies by id ("error" replies are counted as errors).
// sip: sends OPTIONS with Call-ID N@bench, branch z9hG4bK-N, From tag N, and
//      matches 200/503 replies by Call-ID (503 and other codes count as
//      errors, but they are replies and count towards the rate).
//
// Request ids are seq*W + slot, so a reply finds its slot with one modulo.
// A request without a reply after --timeout-ms is counted lost and its slot
// is refilled with a new id (a late reply to it is counted as stray).
// Requests are spread round-robin over --sockets client sockets (each its own
// ephemeral port), in case the host spreads flows over workers by 4-tuple.
//
// One output line per run, fixed format (key=value, space separated):
//   RESULT mode=mi window=8 sockets=1 duration_s=5.00 rps=12345 p50_us=80
//          p99_us=150 max_us=900 replies=61725 ok=61725 err=0 lost=0 stray=0
//          cpu_pct=35
// rps, the latencies, replies, ok and err cover the measured window only
// (after warm-up); lost and stray cover the whole run; cpu_pct is the
// generator's own CPU time over its wall time (100 = one core).

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

namespace {

int64_t now_ns() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return int64_t(ts.tv_sec) * 1000000000 + ts.tv_nsec;
}

[[noreturn]] void die(const char* what) {
  std::fprintf(stderr, "loadgen: %s: %s\n", what, std::strerror(errno));
  std::exit(2);
}

[[noreturn]] void usage() {
  std::fprintf(stderr,
               "usage: loadgen --mode mi|sip --port P [--host IP] [--window W]"
               " [--sockets N] [--duration S] [--warmup S] [--timeout-ms T]\n"
               "               [--method M --params JSON]   (mi: default sr_get_status [\"core\"])\n"
               "       loadgen --mode mi|sip --port P --probe-ms T\n"
               "       (sip: --user U sets the request URI's user, default bench)\n"
               "       loadgen --serve mi|sip --port P [--host IP]\n"
               "       loadgen --free-ports N\n");
  std::exit(2);
}

enum class Mode { mi, sip };

struct Opts {
  Mode mode = Mode::mi;
  bool serve = false;
  std::string host = "127.0.0.1";
  int port = 0;
  int window = 1;
  int sockets = 1;
  double duration = 5.0;
  double warmup = 1.0;
  int timeout_ms = 200;
  int probe_ms = 0;
  int free_ports = 0;
  // mi mode: the method and params of every request
  std::string mi_method = "sr_get_status";
  std::string sip_user = "bench";  // the request URI's user (--user)
  std::string mi_params = "[\"core\"]";
};

Mode parse_mode(const char* s) {
  if (!std::strcmp(s, "mi")) return Mode::mi;
  if (!std::strcmp(s, "sip")) return Mode::sip;
  usage();
}

Opts parse_args(int argc, char** argv) {
  Opts o;
  for (int i = 1; i < argc; i++) {
    std::string_view a = argv[i];
    if (i + 1 >= argc) usage();
    const char* v = argv[++i];
    if (a == "--mode") o.mode = parse_mode(v);
    else if (a == "--method") o.mi_method = v;
    else if (a == "--user") o.sip_user = v;
    else if (a == "--params") o.mi_params = v;
    else if (a == "--serve") { o.serve = true; o.mode = parse_mode(v); }
    else if (a == "--host") o.host = v;
    else if (a == "--port") o.port = std::atoi(v);
    else if (a == "--window") o.window = std::atoi(v);
    else if (a == "--sockets") o.sockets = std::atoi(v);
    else if (a == "--duration") o.duration = std::atof(v);
    else if (a == "--warmup") o.warmup = std::atof(v);
    else if (a == "--timeout-ms") o.timeout_ms = std::atoi(v);
    else if (a == "--probe-ms") o.probe_ms = std::atoi(v);
    else if (a == "--free-ports") { o.free_ports = std::atoi(v); o.port = 1; }
    else usage();
  }
  if (o.port <= 0 || o.port > 65535 || o.window < 1 || o.window > 4096 ||
      o.sockets < 1 || o.sockets > 64 || o.duration <= 0 || o.warmup < 0 ||
      o.timeout_ms < 1)
    usage();
  return o;
}

sockaddr_in make_addr(const std::string& host, int port) {
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_port = htons(uint16_t(port));
  if (inet_pton(AF_INET, host.c_str(), &sa.sin_addr) != 1) {
    std::fprintf(stderr, "loadgen: bad IPv4 address %s\n", host.c_str());
    std::exit(2);
  }
  return sa;
}

// A client socket bound to an ephemeral loopback port. It is not connected:
// a reply is accepted from any source address (matched by id / Call-ID), so a
// host that answers from another socket is still measured.
struct Client {
  int fd = -1;
  int lport = 0;
};

Client open_client(const sockaddr_in& target) {
  Client c;
  c.fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (c.fd < 0) die("socket");
  int buf = 1 << 20;
  setsockopt(c.fd, SOL_SOCKET, SO_RCVBUF, &buf, sizeof buf);
  setsockopt(c.fd, SOL_SOCKET, SO_SNDBUF, &buf, sizeof buf);
  sockaddr_in local{};
  local.sin_family = AF_INET;
  local.sin_addr = target.sin_addr;  // loopback in practice
  if (bind(c.fd, reinterpret_cast<sockaddr*>(&local), sizeof local) < 0) die("bind");
  socklen_t len = sizeof local;
  if (getsockname(c.fd, reinterpret_cast<sockaddr*>(&local), &len) < 0) die("getsockname");
  c.lport = ntohs(local.sin_port);
  return c;
}

// ---- request building -----------------------------------------------------

size_t build_request(Mode mode, char* out, size_t cap, uint64_t id, const Opts& o,
                     int lport) {
  int n;
  if (mode == Mode::mi) {
    n = std::snprintf(out, cap,
                      "{\"jsonrpc\":\"2.0\",\"method\":\"%s\","
                      "\"params\":%s,\"id\":%llu}",
                      o.mi_method.c_str(), o.mi_params.c_str(),
                      static_cast<unsigned long long>(id));
  } else {
    unsigned long long u = id;
    n = std::snprintf(out, cap,
                      "OPTIONS sip:%s@%s:%d SIP/2.0\r\n"
                      "Via: SIP/2.0/UDP %s:%d;branch=z9hG4bK-%llu\r\n"
                      "Max-Forwards: 70\r\n"
                      "From: <sip:bench@%s>;tag=%llu\r\n"
                      "To: <sip:bench@%s>\r\n"
                      "Call-ID: %llu@bench\r\n"
                      "CSeq: 1 OPTIONS\r\n"
                      "Content-Length: 0\r\n\r\n",
                      o.sip_user.c_str(), o.host.c_str(), o.port, o.host.c_str(), lport, u,
                      o.host.c_str(), u, o.host.c_str(), u);
  }
  if (n < 0 || size_t(n) >= cap) {
    std::fprintf(stderr, "loadgen: request too long\n");
    std::exit(2);
  }
  return size_t(n);
}

// ---- reply parsing --------------------------------------------------------

bool parse_u64(std::string_view s, uint64_t& v) {
  size_t i = 0;
  while (i < s.size() && (s[i] == ' ' || s[i] == '\t')) i++;
  if (i >= s.size() || s[i] < '0' || s[i] > '9') return false;
  v = 0;
  while (i < s.size() && s[i] >= '0' && s[i] <= '9') v = v * 10 + uint64_t(s[i++] - '0');
  return true;
}

// Returns false if the datagram is not a reply we understand.
bool parse_mi_reply(std::string_view r, uint64_t& id, bool& ok) {
  size_t p = r.rfind("\"id\":");
  if (p == std::string_view::npos || !parse_u64(r.substr(p + 5), id)) return false;
  ok = r.find("\"result\"") != std::string_view::npos &&
       r.find("\"error\"") == std::string_view::npos;
  return true;
}

bool ieq_prefix(std::string_view s, std::string_view prefix) {
  if (s.size() < prefix.size()) return false;
  for (size_t i = 0; i < prefix.size(); i++) {
    char a = s[i], b = prefix[i];
    if (a >= 'A' && a <= 'Z') a = char(a - 'A' + 'a');
    if (b >= 'A' && b <= 'Z') b = char(b - 'A' + 'a');
    if (a != b) return false;
  }
  return true;
}

// Status line "SIP/2.0 200 ..."; Call-ID (or compact "i") header "N@bench".
bool parse_sip_reply(std::string_view r, uint64_t& id, int& code) {
  if (r.size() < 12 || r.substr(0, 8) != "SIP/2.0 ") return false;
  code = (r[8] - '0') * 100 + (r[9] - '0') * 10 + (r[10] - '0');
  size_t pos = r.find("\r\n");
  while (pos != std::string_view::npos && pos + 2 < r.size()) {
    std::string_view line = r.substr(pos + 2);
    if (line.substr(0, 2) == "\r\n") break;  // end of headers
    size_t colon = std::string_view::npos;
    if (ieq_prefix(line, "call-id")) colon = 7;
    else if (ieq_prefix(line, "i") && line.size() > 1 && (line[1] == ':' || line[1] == ' '))
      colon = 1;
    if (colon != std::string_view::npos) {
      size_t k = colon;
      while (k < line.size() && (line[k] == ' ' || line[k] == '\t')) k++;
      if (k < line.size() && line[k] == ':') return parse_u64(line.substr(k + 1), id);
    }
    pos = r.find("\r\n", pos + 2);
  }
  return false;
}

// ---- the closed loop ------------------------------------------------------

struct Slot {
  uint64_t id = 0;
  int64_t sent_ns = 0;
  int sock = 0;
  bool busy = false;
};

constexpr int kBatch = 64;
constexpr size_t kBuf = 2048;
constexpr size_t kRBuf = 16384; // replies (statistics:get all is several KB)

struct Stats {
  uint64_t replies = 0, ok = 0, err = 0, lost = 0, stray = 0, sent = 0;
  std::vector<uint32_t> lat_ns;  // measured window only
};

uint64_t percentile(std::vector<uint32_t>& v, double q) {
  if (v.empty()) return 0;
  size_t k = std::min(v.size() - 1, size_t(q * double(v.size() - 1) + 0.5));
  std::nth_element(v.begin(), v.begin() + long(k), v.end());
  return v[k];
}

int run_load(const Opts& o) {
  sockaddr_in target = make_addr(o.host, o.port);
  std::vector<Client> cs;
  for (int i = 0; i < o.sockets; i++) cs.push_back(open_client(target));

  const uint64_t W = uint64_t(o.window);
  std::vector<Slot> slots(W);
  std::vector<uint64_t> seq(W, 0);
  Stats st;
  st.lat_ns.reserve(1 << 20);

  // Per-socket send batch (sendmmsg) and receive batch (recvmmsg).
  struct Out {
    std::vector<std::array<char, kBuf>> buf;
    std::vector<iovec> iov;
    std::vector<mmsghdr> msg;
    int n = 0;
  };
  std::vector<Out> outs(cs.size());
  for (auto& ob : outs) {
    ob.buf.resize(W);
    ob.iov.resize(W);
    ob.msg.resize(W);
  }
  std::vector<std::array<char, kRBuf>> rbuf(kBatch);
  std::vector<iovec> riov(kBatch);
  std::vector<mmsghdr> rmsg(kBatch);

  size_t rr = 0;  // round-robin socket choice
  auto queue = [&](uint64_t s, int64_t t) {
    Slot& sl = slots[s];
    sl.id = ++seq[s] * W + s;
    sl.sock = int(rr++ % cs.size());
    sl.sent_ns = t;
    sl.busy = true;
    Out& ob = outs[size_t(sl.sock)];
    int i = ob.n++;
    size_t len = build_request(o.mode, ob.buf[size_t(i)].data(), kBuf, sl.id, o,
                               cs[size_t(sl.sock)].lport);
    ob.iov[size_t(i)] = {ob.buf[size_t(i)].data(), len};
    ob.msg[size_t(i)] = {};
    ob.msg[size_t(i)].msg_hdr.msg_iov = &ob.iov[size_t(i)];
    ob.msg[size_t(i)].msg_hdr.msg_iovlen = 1;
    ob.msg[size_t(i)].msg_hdr.msg_name = &target;
    ob.msg[size_t(i)].msg_hdr.msg_namelen = sizeof target;
  };
  auto flush = [&] {
    for (size_t k = 0; k < cs.size(); k++) {
      Out& ob = outs[k];
      int off = 0;
      while (off < ob.n) {
        int r = sendmmsg(cs[k].fd, ob.msg.data() + off, unsigned(ob.n - off), 0);
        if (r < 0) {
          if (errno == EINTR) continue;
          // A full buffer (or a stray ICMP error): the
          // request is treated as sent and will time out as lost.
          if (errno == ECONNREFUSED || errno == EAGAIN || errno == ENOBUFS) { off++; continue; }
          die("sendmmsg");
        }
        off += r;
        st.sent += uint64_t(r);
      }
      ob.n = 0;
    }
  };

  const int64_t start = now_ns();
  const int64_t warm_end = start + int64_t(o.warmup * 1e9);
  const int64_t end = warm_end + int64_t(o.duration * 1e9);
  const int64_t tmo = int64_t(o.timeout_ms) * 1000000;
  int64_t next_tmo_check = start + tmo / 4;

  for (uint64_t s = 0; s < W; s++) queue(s, now_ns());
  flush();

  const bool single = cs.size() == 1;
  if (single) {
    int64_t w = std::max<int64_t>(std::min<int64_t>(tmo / 4, 50000000), 1000000);
    timeval tv{time_t(w / 1000000000), suseconds_t(w % 1000000000 / 1000)};
    setsockopt(cs[0].fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  }
  std::vector<pollfd> pfds(cs.size());
  for (size_t k = 0; k < cs.size(); k++) pfds[k] = {cs[k].fd, POLLIN, 0};

  for (;;) {
    int64_t t = now_ns();
    if (t >= end) break;
    // One socket: block in recvmmsg itself (SO_RCVTIMEO bounds the wait),
    // saving a poll per round trip. Several: poll, then drain each.
    int pr = 1;
    if (single) {
      pfds[0].revents = POLLIN;
    } else {
      int wait_ms = int(std::min<int64_t>(next_tmo_check - t, end - t) / 1000000) + 1;
      pr = poll(pfds.data(), nfds_t(pfds.size()), wait_ms);
      if (pr < 0 && errno != EINTR) die("poll");
    }
    for (size_t k = 0; pr > 0 && k < cs.size(); k++) {
      if (!(pfds[k].revents & (POLLIN | POLLERR))) continue;
      for (int round = 0;; round++) {
        for (int i = 0; i < kBatch; i++) {
          riov[size_t(i)] = {rbuf[size_t(i)].data(), kRBuf - 1};
          rmsg[size_t(i)] = {};
          rmsg[size_t(i)].msg_hdr.msg_iov = &riov[size_t(i)];
          rmsg[size_t(i)].msg_hdr.msg_iovlen = 1;
        }
        int flags = single && round == 0 ? MSG_WAITFORONE : MSG_DONTWAIT;
        int n = recvmmsg(cs[k].fd, rmsg.data(), kBatch, flags, nullptr);
        if (n < 0) {
          if (errno == EINTR || errno == ECONNREFUSED) continue;
          if (errno == EAGAIN || errno == EWOULDBLOCK) break;
          die("recvmmsg");
        }
        int64_t tr = now_ns();
        for (int i = 0; i < n; i++) {
          std::string_view r(rbuf[size_t(i)].data(), rmsg[size_t(i)].msg_len);
          uint64_t id = 0;
          bool ok = false;
          int code = 0;
          bool parsed = o.mode == Mode::mi ? parse_mi_reply(r, id, ok)
                                           : parse_sip_reply(r, id, code);
          if (o.mode == Mode::sip) ok = code == 200;
          if (!parsed) { st.stray++; continue; }
          uint64_t s = id % W;
          Slot& sl = slots[s];
          if (!sl.busy || sl.id != id) { st.stray++; continue; }
          sl.busy = false;
          if (tr >= warm_end && tr < end) {
            st.replies++;
            (ok ? st.ok : st.err)++;
            int64_t l = tr - sl.sent_ns;
            st.lat_ns.push_back(uint32_t(std::min<int64_t>(l, UINT32_MAX)));
          }
          if (tr < end) queue(s, tr);
        }
        if (n < kBatch) break;
      }
    }
    t = now_ns();
    if (t >= next_tmo_check) {
      for (uint64_t s = 0; s < W; s++) {
        if (slots[s].busy && t - slots[s].sent_ns >= tmo) {
          st.lost++;
          if (t < end) queue(s, t);
        }
      }
      next_tmo_check = t + std::max<int64_t>(tmo / 4, 1000000);
    }
    flush();
  }

  double secs = o.duration;
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  double cpu = double(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
               double(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
  double wall = double(now_ns() - start) / 1e9;
  uint64_t p50 = percentile(st.lat_ns, 0.50), p99 = percentile(st.lat_ns, 0.99);
  uint64_t mx = st.lat_ns.empty() ? 0 : *std::max_element(st.lat_ns.begin(), st.lat_ns.end());
  std::printf(
      "RESULT mode=%s window=%d sockets=%d duration_s=%.2f rps=%.0f p50_us=%llu"
      " p99_us=%llu max_us=%llu replies=%llu ok=%llu err=%llu lost=%llu stray=%llu"
      " cpu_pct=%.0f\n",
      o.mode == Mode::mi ? "mi" : "sip", o.window, o.sockets, secs,
      double(st.replies) / secs, static_cast<unsigned long long>(p50 / 1000),
      static_cast<unsigned long long>(p99 / 1000), static_cast<unsigned long long>(mx / 1000),
      static_cast<unsigned long long>(st.replies), static_cast<unsigned long long>(st.ok),
      static_cast<unsigned long long>(st.err), static_cast<unsigned long long>(st.lost),
      static_cast<unsigned long long>(st.stray), 100.0 * cpu / wall);
  for (auto& c : cs) close(c.fd);
  return st.replies > 0 ? 0 : 1;
}

// Send one request every 100 ms until a matching reply comes or probe_ms ends.
int run_probe(const Opts& o) {
  sockaddr_in target = make_addr(o.host, o.port);
  Client c = open_client(target);
  const int64_t end = now_ns() + int64_t(o.probe_ms) * 1000000;
  char buf[kBuf];
  for (uint64_t id = 1; now_ns() < end; id++) {
    size_t len = build_request(o.mode, buf, sizeof buf, id, o, c.lport);
    if (sendto(c.fd, buf, len, 0, reinterpret_cast<const sockaddr*>(&target), sizeof target) < 0)
      die("sendto");
    int64_t until = std::min(end, now_ns() + 100000000);
    for (int64_t t = now_ns(); t < until; t = now_ns()) {
      pollfd p{c.fd, POLLIN, 0};
      if (poll(&p, 1, int((until - t) / 1000000) + 1) <= 0) continue;
      ssize_t n = recv(c.fd, buf, sizeof buf - 1, MSG_DONTWAIT);
      if (n <= 0) continue;
      uint64_t rid = 0;
      bool ok = false;
      int code = 0;
      std::string_view r(buf, size_t(n));
      bool parsed = o.mode == Mode::mi ? parse_mi_reply(r, rid, ok) : parse_sip_reply(r, rid, code);
      if (parsed && rid == id) {
        close(c.fd);
        return 0;
      }
    }
  }
  close(c.fd);
  std::fprintf(stderr, "loadgen: no reply from %s:%d within %d ms\n", o.host.c_str(), o.port,
               o.probe_ms);
  return 1;
}

// A minimal responder with the host's reply shapes, to test the generator
// without the host: `make bench` does not use it.
int run_serve(const Opts& o) {
  sockaddr_in sa = make_addr(o.host, o.port);
  int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) die("socket");
  if (bind(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) < 0) die("bind");
  char in[kBuf], out[kBuf * 2];
  for (;;) {
    sockaddr_in from{};
    socklen_t fl = sizeof from;
    ssize_t n = recvfrom(fd, in, sizeof in - 1, 0, reinterpret_cast<sockaddr*>(&from), &fl);
    if (n < 0) {
      if (errno == EINTR) continue;
      die("recvfrom");
    }
    std::string_view r(in, size_t(n));
    int len = 0;
    if (o.mode == Mode::mi) {
      uint64_t id = 0;
      size_t p = r.rfind("\"id\":");
      if (p == std::string_view::npos || !parse_u64(r.substr(p + 5), id)) {
        len = std::snprintf(out, sizeof out, "400 Parse_error\n");
      } else {
        len = std::snprintf(out, sizeof out,
                            "{\"jsonrpc\":\"2.0\",\"result\":{\"Readiness\":true,\"Status\":1,"
                            "\"Details\":\"running\"},\"id\":%llu}",
                            static_cast<unsigned long long>(id));
      }
    } else {
      // Copy the headers a reply copies, in order, after the status line.
      std::string rep = "SIP/2.0 200 OK\r\n";
      size_t pos = r.find("\r\n");
      while (pos != std::string_view::npos && pos + 2 < r.size()) {
        size_t e = r.find("\r\n", pos + 2);
        if (e == std::string_view::npos || e == pos + 2) break;
        std::string_view line = r.substr(pos + 2, e - pos - 2);
        if (ieq_prefix(line, "via:") || ieq_prefix(line, "from:") || ieq_prefix(line, "call-id:") ||
            ieq_prefix(line, "cseq:"))
          rep.append(line).append("\r\n");
        else if (ieq_prefix(line, "to:"))
          rep.append(line).append(";tag=bench-echo\r\n");
        pos = e;
      }
      rep += "Server: loadgen-echo\r\nContent-Length: 0\r\n\r\n";
      len = int(std::min(rep.size(), sizeof out));
      std::memcpy(out, rep.data(), size_t(len));
    }
    sendto(fd, out, size_t(len), 0, reinterpret_cast<sockaddr*>(&from), fl);
  }
}

}  // namespace

// Print n distinct loopback UDP ports that are free right now (all bound at
// once, then released), for the bench script's cfg.
int run_free_ports(const Opts& o) {
  std::vector<int> fds;
  for (int i = 0; i < o.free_ports; i++) {
    Client c = open_client(make_addr(o.host, 1));
    std::printf("%s%d", i ? " " : "", c.lport);
    fds.push_back(c.fd);
  }
  std::printf("\n");
  for (int fd : fds) close(fd);
  return 0;
}

int main(int argc, char** argv) {
  Opts o = parse_args(argc, argv);
  if (o.free_ports > 0) return run_free_ports(o);
  if (o.serve) return run_serve(o);
  if (o.probe_ms > 0) return run_probe(o);
  return run_load(o);
}
