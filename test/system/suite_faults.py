"""Fault injection (hardening issue), run by test/system/run.py.

  faults.sub   event subscribers that misbehave: a TCP collector that stops
               reading, one that resets every connection, a UDP port nobody
               listens on, a unix socket whose reader went away (and one
               that stops reading), flatstore on /dev/full, flatstore in a
               directory that becomes read-only (host run as `nobody`
               through setpriv, decisions §25)
  faults.mi    FIFO deleted / replaced while running (SIGHUP), reply FIFO
               never opened, half requests, 1 MB requests, the largest
               datagram, 10,000 notifications in a burst, every
               crash-probes record over every transport, JSON-RPC batch
               forms
  faults.sip   truncated, oversized and binary datagrams; TCP streams that
               stop mid-message, oversized TCP messages
  faults.mem   the shared pool exhausted (-m 2, testmod:shm_alloc) while
               reports and subscriptions keep coming; recovery after
               testmod:shm_free

Every case asserts that the host stays alive and keeps answering SIP and
MI, and that what was lost is counted (evi:subscriber_stats, /metrics).
Cfg: test/cfg/faults.cfg. Each case is bounded (a few seconds).
"""

import errno
import json
import os
import random
import re
import select
import shutil
import signal
import socket
import stat
import struct
import subprocess
import threading
import time

import harness as H
from harness import check, TestFailure, Skip

CFG = os.path.join(H.CFG_DIR, "faults.cfg")
EV = "E_REF_SCRIPT"
VERSION = '{"jsonrpc":"2.0","method":"version","id":%s}'
VERSION_OK = '{"jsonrpc":"2.0","result":{"Server":"x"},"id":%s}'
INVALID = ('{"jsonrpc":"2.0","error":{"code":-32600,"message":'
           '"Invalid Request"},"id":%s}')


# ------------------------------------------------------------ host

class FaultHost(H.Host):
    """faults.cfg; optionally run as an unprivileged user (setpriv)."""

    def __init__(self, name, extra_globals="", extra_modules="",
                 extra_args=None, user=None):
        self.http_port = H.free_port(socket.SOCK_STREAM)
        self.user = user
        super().__init__(CFG, subs={"@HTTP_PORT@": str(self.http_port),
                                    "@EXTRA_GLOBALS@": extra_globals,
                                    "@EXTRA_MODULES@": extra_modules},
                         name=name, extra_args=extra_args)

    def start(self, ready_timeout=10.0):
        if not self.user:
            return super().start(ready_timeout)
        # H.Host.start with a setpriv prefix: the run dir belongs to the
        # user (the FIFO and flatstore files are made there); it lives in
        # /tmp and cleanup() removes it, so nothing of `nobody` remains.
        setpriv = shutil.which("setpriv")
        if not setpriv:
            raise Skip("setpriv is not installed (util-linux)")
        if os.geteuid() != 0:
            raise Skip("needs root to switch to %s" % self.user[0])
        uid, gid = self.user[1], self.user[2]
        os.chown(self.run_dir, uid, gid)
        os.chmod(self.cfg, 0o644)
        real_popen = subprocess.Popen

        def popen(argv, **kw):
            return real_popen([setpriv, "--reuid=%d" % uid,
                               "--regid=%d" % gid, "--clear-groups"]
                              + argv, **kw)
        subprocess.Popen = popen
        try:
            return super().start(ready_timeout)
        finally:
            subprocess.Popen = real_popen

    # -- probes
    def http(self, method, path, body=b"", headers=(), timeout=3.0,
             expect_continue=False):
        return http_exchange(self.http_port, method, path, body, headers,
                             timeout, expect_continue)

    def metrics(self):
        st, _, body = self.http("GET", "/metrics")
        check(st == 200, "/metrics answered %s" % st)
        out = {}
        for ln in body.decode().splitlines():
            if not ln or ln.startswith("#"):
                continue
            m = re.match(r"([a-zA-Z_:][a-zA-Z0-9_:]*)(\{.*\})? (\S+)$", ln)
            if m:
                labels = tuple(sorted(re.findall(r'(\w+)="([^"]*)"',
                                                 m.group(2) or "")))
                out[(m.group(1), labels)] = float(m.group(3))
        return out

    def metric_sum(self, name, **labels):
        tot = 0.0
        for (n, lab), v in self.metrics().items():
            d = dict(lab)
            if n == name and all(d.get(k) == v2 for k, v2 in labels.items()):
                tot += v
        return tot

    def stats(self, event=EV):
        r = self.result("evi:subscriber_stats", [event] if event else None)
        return r["Subscribers"]

    def stat_for(self, sock, event=EV):
        for s in self.stats(event):
            if s["socket"] == sock:
                return s
        raise TestFailure("no subscriber %s in %s" % (sock, self.stats(event)))

    def settle(self, sock, event=EV, timeout=8.0):
        """Waits until the subscriber's queue is empty; returns its stats."""
        deadline = time.monotonic() + timeout
        while True:
            s = self.stat_for(sock, event)
            if s["queued"] == 0 or time.monotonic() > deadline:
                return s
            time.sleep(0.05)

    def subscribe(self, sock, event=EV, expire=120):
        r = self.call("evi:subscribe", [event, sock, expire])
        check(r.get("result") == "OK", "subscribe %s %s -> %s"
              % (event, sock, r))

    def burst(self, n, event=EV):
        r = self.result("testmod:raise_burst", {"event": event,
                                                "count": str(n)})
        return r

    def serving(self, what=""):
        """Alive, SIP (UDP) answered 200, MI answered over datagram, FIFO
        and HTTP."""
        check(self.alive(), "host died %s:\n%s" % (what, self.log_tail()))
        rep, _ = H.send_options(self, "probe")
        check(rep and rep.startswith("SIP/2.0 200 OK\r\n"),
              "SIP not answered %s: %r" % (what, rep))
        for tr in ("datagram", "fifo"):
            v = self.mi(VERSION % 7, tr)
            check(H.match_reply(VERSION_OK % 7, v), "MI %s not answered %s: "
                  "%r" % (tr, what, v))
        st, _, body = self.http("POST", "/mi", (VERSION % 8).encode(),
                                [("Content-Type", "application/json")])
        check(st == 200 and H.match_reply(VERSION_OK % 8, body.decode()),
              "MI http not answered %s: %s %r" % (what, st, body))


def http_exchange(port, method, path, body=b"", headers=(), timeout=3.0,
                  expect_continue=False):
    """One request, Connection: close; -> (status, headers, body).

    expect_continue: as curl does for large bodies, the headers go first
    with `Expect: 100-continue` and the body only after `100 Continue`: a
    server that refuses the body at once (413) answers before it, and its
    close cannot reset a body still being sent."""
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    try:
        hdr = "%s %s HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n" % (
            method, path)
        for k, v in headers:
            hdr += "%s: %s\r\n" % (k, v)
        if body or method == "POST":
            hdr += "Content-Length: %d\r\n" % len(body)
        if expect_continue:
            s.sendall(hdr.encode() + b"Expect: 100-continue\r\n\r\n")
            st, h, b = read_http(s)
            if st != 100:
                return st, h, b
            s.sendall(body)
            return read_http(s)
        s.sendall(hdr.encode() + b"\r\n" + body)
        return read_http(s)
    finally:
        s.close()


def read_http(s, pending=None):
    """One reply from s -> (status, headers, body). `pending` (a
    bytearray) carries bytes read past the reply to the next call, for
    replies to pipelined requests arriving together; without it they are
    dropped."""
    buf = bytes(pending) if pending else b""
    while b"\r\n\r\n" not in buf:
        d = s.recv(65536)
        if not d:
            break
        buf += d
    head, _, rest = buf.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    m = re.match(r"HTTP/1\.[01] (\d{3})", lines[0])
    check(m is not None, "bad HTTP status line %r" % lines[0])
    hdrs = {}
    for ln in lines[1:]:
        k, _, v = ln.partition(":")
        hdrs[k.strip().lower()] = v.strip()
    n = int(hdrs.get("content-length", "0"))
    while len(rest) < n:
        d = s.recv(65536)
        if not d:
            break
        rest += d
    if pending is not None:
        pending[:] = rest[n:]
    return int(m.group(1)), hdrs, rest[:n]


def clean_exit(h):
    """SIGTERM: exit status 0 (a sanitizer report at exit fails it)."""
    rc = h.stop()
    check(rc == 0, "host exit status %s after the faults:\n%s"
          % (rc, h.log_tail(40)))


def wait_for(fn, timeout, step=0.05):
    deadline = time.monotonic() + timeout
    while True:
        v = fn()
        if v or time.monotonic() >= deadline:
            return v
        time.sleep(step)


def rss_kb(pid):
    with open("/proc/%d/status" % pid) as f:
        for ln in f:
            if ln.startswith("VmRSS:"):
                return int(ln.split()[1])
    return 0


def log_count(h, text):
    return h.log().count(text)


def nobody():
    import pwd
    import grp
    try:
        uid = pwd.getpwnam("nobody").pw_uid
    except KeyError:
        raise Skip("no user nobody")
    try:
        gid = grp.getgrnam("nogroup").gr_gid
    except KeyError:
        gid = pwd.getpwnam("nobody").pw_gid
    return ("nobody", uid, gid)


# ------------------------------------------------------------ collectors

class TcpPeer:
    """An event_stream peer: mode 'read' (counts bytes), 'stall' (accepts,
    never reads, tiny receive buffer) or 'reset' (as 'stall', and
    reset_all() resets every connection it holds)."""

    def __init__(self, mode):
        self.mode = mode
        self.ls = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if mode in ("stall", "reset"):
            self.ls.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        self.ls.bind(("127.0.0.1", 0))
        self.ls.listen(64)
        self.port = self.ls.getsockname()[1]
        self.socket = "tcp:127.0.0.1:%d" % self.port
        self.accepted = 0
        self.bytes = 0
        self.conns = []
        self.stop = False
        self.t = threading.Thread(target=self._loop, daemon=True)
        self.t.start()

    def _loop(self):
        while not self.stop:
            rl = [self.ls] + (self.conns if self.mode == "read" else [])
            try:
                r, _, _ = select.select(rl, [], [], 0.05)
            except (OSError, ValueError):
                return
            for s in r:
                if s is self.ls:
                    try:
                        c, _ = self.ls.accept()
                    except OSError:
                        continue
                    self.accepted += 1
                    self.conns.append(c)
                    continue
                try:
                    d = s.recv(65536)
                except OSError:
                    d = b""
                if not d:
                    self.conns.remove(s)
                    s.close()
                self.bytes += len(d)

    def reset_all(self):
        """RST every accepted connection (SO_LINGER 0, then close)."""
        for c in list(self.conns):
            c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                         struct.pack("ii", 1, 0))
            c.close()
            self.conns.remove(c)

    def close(self):
        self.stop = True
        self.t.join(2)
        for c in self.conns:
            c.close()
        self.ls.close()


class UnixReader:
    """A unix datagram collector counting what it reads; read=False makes
    it sit on its (10-datagram) queue until resume()."""

    def __init__(self, path, read=True):
        self.path = path
        self.s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.s.bind(path)
        self.s.settimeout(0.05)
        self.count = 0
        self.reading = threading.Event()
        if read:
            self.reading.set()
        self.stop = False
        self.t = threading.Thread(target=self._loop, daemon=True)
        self.t.start()

    def resume(self):
        self.reading.set()

    def _loop(self):
        while not self.stop:
            if not self.reading.wait(0.05):
                continue
            try:
                self.s.recv(65536)
                self.count += 1
            except socket.timeout:
                pass
            except OSError:
                return

    def close(self):
        self.stop = True
        self.t.join(2)
        self.s.close()
        try:
            os.unlink(self.path)
        except OSError:
            pass


def unix_dgram(path, rcvbuf=None):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    if rcvbuf:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    s.bind(path)
    return s


def drain_sock(s, quiet=0.2):
    n = 0
    s.settimeout(quiet)
    while True:
        try:
            s.recv(65536)
            n += 1
        except (socket.timeout, BlockingIOError):
            return n


def accounted(s, total, what):
    # every raised event is in exactly one place: delivered, dropped,
    # failed, or still in flight in the transport (a TCP peer that does not
    # read keeps up to 1 MB buffered in event_stream's Sender)
    acc = s["delivered"] + s["dropped"] + s["failed"] + s["inflight"]
    check(acc == total, "%s: delivered %d + dropped %d + failed %d + "
          "inflight %d = %d, raised %d (queued %d)" % (
              what, s["delivered"], s["dropped"], s["failed"],
              s["inflight"], acc, total, s["queued"]))


# ------------------------------------------------------------ faults.sub

def test_subscribers(runner):
    name0 = "faults.sub"
    if not runner.wanted(name0):
        return
    h = FaultHost("fsub")
    seen = {}       # socket -> its last subscriber_stats, before removal
    try:
        ok = runner.run(name0 + " start (test/cfg/faults.cfg)", h.start)

        def need():
            check(ok, "host did not start")

        def tcp_stall():
            need()
            peer = TcpPeer("stall")
            try:
                h.subscribe(peer.socket)
                # 60,000 x 200-byte events = 12 MB against a peer that
                # reads nothing: the 1 MB per-connection cap must drop
                total = 0
                for _ in range(6):
                    r = h.burst(10000)
                    total += r["raised"]
                    h.serving("while the TCP peer is stalled")
                s = h.settle(peer.socket, timeout=10)
                check(s["queued"] == 0, "queue never drained: %s" % s)
                accounted(s, total, "stalled tcp")
                check(s["dropped"] + s["failed"] > 0,
                      "12 MB to a peer that reads nothing, nothing lost? "
                      "%s" % s)
                check(wait_for(lambda: peer.accepted >= 1, 3.0),
                      "event_stream never connected")
                seen[peer.socket] = s
                h.subscribe(peer.socket, expire=0)
            finally:
                peer.close()
            h.serving("after the stalled TCP peer")
        runner.run(name0 + " TCP collector that stops reading: drops "
                   "counted, SIP/MI served", tcp_stall)

        def tcp_reset():
            need()
            peer = TcpPeer("reset")
            try:
                h.subscribe(peer.socket)
                total = 0
                # A reset fails what the sender still holds; what it had
                # already written to the kernel counts as delivered (no
                # acks). The peer reads nothing, so bursts fill the
                # kernel's buffers until the sender holds events of its own
                # ("inflight"); then the peer resets and those fail, every
                # time. Twice: the sender has to reconnect for the second.
                for cycle in range(2):
                    total += h.burst(100)["raised"]
                    check(wait_for(lambda: peer.accepted >= cycle + 1, 3.0),
                          "event_stream did not (re)connect (accepted %d)"
                          % peer.accepted)
                    # a burst's worth held by the sender, not a write in
                    # progress: the kernel's buffers (a few MB) are full
                    held = lambda: h.stat_for(peer.socket)["inflight"] >= 2000
                    for _ in range(60):
                        total += h.burst(2000)["raised"]
                        time.sleep(0.05)
                        if held():
                            break
                    check(held(), "the sender never held 2000 events: %s"
                          % h.stat_for(peer.socket))
                    f0 = h.stat_for(peer.socket)["failed"]
                    peer.reset_all()
                    check(wait_for(lambda: h.stat_for(peer.socket)["failed"]
                                   >= f0 + 2000, 3.0),
                          "reset with 2000+ events held, not failed: %s"
                          % h.stat_for(peer.socket))
                s = h.settle(peer.socket)
                accounted(s, total, "resetting tcp")
                check(s["failed"] + s["dropped"] > 0,
                      "every connection reset, nothing failed? %s" % s)
                check(peer.accepted >= 2, "the sender did not reconnect "
                      "after a reset (accepted %d)" % peer.accepted)
                seen[peer.socket] = s
                h.subscribe(peer.socket, expire=0)
            finally:
                peer.close()
            h.serving("after the resetting TCP peer")
        runner.run(name0 + " TCP collector that resets the connection: "
                   "failures counted, reconnects", tcp_reset)

        def udp_nobody():
            need()
            sock = "udp:127.0.0.1:%d" % H.unused_port()
            h.subscribe(sock)
            total = h.burst(2000)["raised"]
            s = h.settle(sock)
            accounted(s, total, "udp nobody")
            # docs/event_datagram.md: no ICMP feedback on an unconnected
            # socket, so a dead UDP collector counts as delivered
            check(s["delivered"] == total, s)
            seen[sock] = s
            h.subscribe(sock, expire=0)
            h.serving("after a UDP port nobody listens on")
        runner.run(name0 + " UDP port with nobody listening: counted as "
                   "delivered (no feedback), served", udp_nobody)

        def unix_gone():
            need()
            path = os.path.join(h.run_dir, "col.sock")
            sock = "unix:" + path
            rd = UnixReader(path)
            try:
                h.subscribe(sock)
                h.burst(20)
                st = h.settle(sock)
                # net.unix.max_dgram_qlen (10) is all the reader's queue:
                # what did not fit failed (EAGAIN), the rest arrived
                accounted(st, 20, "unix")
                check(wait_for(lambda: rd.count == st["delivered"], 2.0),
                      "reader got %d, delivered %s" % (rd.count, st))
            finally:
                rd.close()          # the reader went away (path unlinked)
            f0 = st["failed"]
            h.burst(500)
            st = h.settle(sock)
            check(st["failed"] == f0 + 500, "path gone: %s" % st)
            h.serving("with a unix reader gone")
            # a reader that is there but stops reading: EAGAIN
            rd = UnixReader(path, read=False)
            try:
                d0 = st["delivered"]
                h.burst(3000)
                st = h.settle(sock)
                accounted(st, 3520, "unix")
                # the kernel queues a few datagrams for the stalled reader
                # (net.unix.max_dgram_qlen, 10 by default); the rest fail
                check(st["delivered"] - d0 <= 64 and
                      st["failed"] >= f0 + 500 + 3000 - 64,
                      "stalled reader: %s" % st)
                # back to normal once it reads again
                rd.resume()
                check(wait_for(lambda: rd.count == st["delivered"] - d0,
                               2.0), "reader got %d" % rd.count)
                h.burst(5)
                st2 = h.settle(sock)
                # delivery resumed; the sender socket's buffer may still be
                # charged for the datagrams just read, so a few can fail
                check(st2["delivered"] > st["delivered"] and
                      st2["delivered"] + st2["failed"] ==
                      st["delivered"] + st["failed"] + 5, st2)
                check(wait_for(lambda: rd.count == st2["delivered"] - d0,
                               2.0), "events after recovery: %d" % rd.count)
            finally:
                rd.close()
            seen[sock] = st2
            # rate-limited warnings: not one line per lost event
            n = len(re.findall(r"(?i)warn.*" + re.escape(path), h.log()))
            check(n <= 3, "%d warning lines for one dead unix collector"
                  % n)
            h.subscribe(sock, expire=0)
        runner.run(name0 + " unix socket whose reader went away / stops "
                   "reading: failed counted, recovers, warnings limited",
                   unix_gone)

        def dev_full():
            need()
            link = os.path.join(h.run_dir, "full.log")
            os.symlink("/dev/full", link)
            socks = ["flatstore:" + link]
            r = h.call("evi:subscribe", [EV, "flatstore:/dev/full", 120])
            if r.get("result") == "OK":
                socks.append("flatstore:/dev/full")
            for sk in socks[:1]:
                h.subscribe(sk)
            h.burst(300)
            for sk in socks:
                st = h.settle(sk)
                check(st["failed"] == 300 and st["delivered"] == 0,
                      "%s: %s" % (sk, st))
                seen[sk] = st
            n = len(re.findall(r"(?i)error.*full", h.log()))
            check(1 <= n <= 2 * len(socks), "%d error lines for a full "
                  "disk (once when it starts, then every 30 s)" % n)
            for sk in socks:
                h.subscribe(sk, expire=0)
            h.serving("with flatstore on /dev/full")
        runner.run(name0 + " flatstore on /dev/full (disk full): failed "
                   "counted, logged once, served", dev_full)

        def metrics():
            need()
            check(seen, "no subscriber case ran")
            want = {}
            for sk, st in seen.items():
                tr = sk.split(":")[0]
                for k in ("delivered", "dropped", "failed"):
                    want[(tr, k)] = want.get((tr, k), 0) + st[k]
            got = {}
            for (n, lab), v in h.metrics().items():
                d = dict(lab)
                mm = re.fullmatch(r"opensips_evi_(delivered|dropped|failed)"
                                  r"_total", n)
                if mm and d.get("event") == EV:
                    got[(d.get("transport"), mm.group(1))] = int(v)
            # /metrics totals are monotonic over every subscriber the event
            # ever had (removed ones and late TCP outcomes included); the
            # snapshots above are of some live subscribers: totals >= them
            bad = ["%s %s: /metrics %s, subscriber_stats %d" % (
                tr, k, got.get((tr, k)), v) for (tr, k), v in
                sorted(want.items()) if got.get((tr, k), -1) < v]
            check(not bad, "opensips_evi_*_total{event=%s} below "
                  "evi:subscriber_stats (decisions §31, docs/sr_http.md):"
                  "\n      %s" % (EV, "\n      ".join(bad)))
        runner.run(name0 + " /metrics opensips_evi_{delivered,dropped,"
                   "failed}_total cover subscriber_stats", metrics)
        if ok:
            runner.run(name0 + " host exits 0 after the faults", clean_exit,
                       h)
    finally:
        h.cleanup()

    def readonly():
        who = nobody()
        h2 = FaultHost("fro", user=who)
        try:
            h2.start()
            check(os.stat("/proc/%d" % h2.proc.pid).st_uid == who[1],
                  "host does not run as %s" % who[0])
            d = os.path.join(h2.run_dir, "fs")
            os.mkdir(d, 0o755)
            os.chown(d, who[1], who[2])
            path = os.path.join(d, "events.log")
            sock = "flatstore:" + path
            h2.subscribe(sock)
            h2.burst(10)
            st = h2.settle(sock)
            check(st["delivered"] == 10, "writable: %s" % st)
            # the file becomes read-only and is reopened (logrotate's
            # postrotate does event_flatstore:rotate)
            os.chmod(path, 0o444)
            r = h2.call("event_flatstore:rotate", [path])
            h2.burst(10)
            st = h2.settle(sock)
            check(st["failed"] == 10 and st["delivered"] == 10,
                  "read-only file: %s (rotate -> %s)" % (st, r))
            h2.serving("with a read-only flatstore file")
            # the directory becomes read-only and the file is gone
            os.unlink(path)
            os.chmod(d, 0o555)
            h2.call("event_flatstore:rotate", [path])
            h2.burst(10)
            st = h2.settle(sock)
            check(st["failed"] == 20 and st["delivered"] == 10,
                  "read-only directory: %s" % st)
            # writable again: the next event reopens and is written
            os.chmod(d, 0o755)
            h2.burst(10)
            st = h2.settle(sock)
            check(st["delivered"] == 20 and st["failed"] == 20,
                  "after recovery: %s" % st)
            with open(path) as f:
                n = sum(1 for _ in f)
            check(n == 10, "%d lines in the re-created file" % n)
            h2.serving("after the flatstore directory became writable")
            clean_exit(h2)
        finally:
            h2.cleanup()
    runner.run(name0 + " flatstore file/directory becoming read-only "
               "(host as nobody): failed counted, recovers", readonly)


# ------------------------------------------------------------ faults.mi

def fifo_write(path, data, timeout=5.0):
    """Writes raw bytes to the server FIFO (blocking, so a big write waits
    for the server to read)."""
    fd = os.open(path, os.O_WRONLY | os.O_NONBLOCK)
    try:
        os.set_blocking(fd, False)
        deadline = time.monotonic() + timeout
        off = 0
        while off < len(data):
            try:
                off += os.write(fd, data[off:off + 65536])
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise TestFailure("the server stopped reading its FIFO "
                                      "after %d of %d bytes" % (off,
                                                                len(data)))
                select.select([], [fd], [], 0.1)
        return off
    finally:
        os.close(fd)


def fifo_unread(path):
    """Bytes waiting in a FIFO (FIONREAD on a write end of our own)."""
    import fcntl
    import termios
    fd = os.open(path, os.O_WRONLY | os.O_NONBLOCK)
    try:
        buf = fcntl.ioctl(fd, termios.FIONREAD, b"\0\0\0\0")
        return struct.unpack("i", buf)[0]
    finally:
        os.close(fd)


def udp_drops(port):
    """Kernel receive drops of the UDP socket bound to 127.0.0.1:port."""
    want = "0100007F:%04X" % port
    with open("/proc/net/udp") as f:
        for ln in f.readlines()[1:]:
            p = ln.split()
            if p[1] == want:
                return int(p[-1])
    return 0


def expected_probe(req):
    """decisions §11: what any transport answers (None = nothing)."""
    try:
        j = json.loads(req)
    except ValueError:
        j = json.JSONDecoder().raw_decode(req)[0]

    def one(o):
        if not isinstance(o, dict):
            return INVALID % "null"
        rid = json.dumps(o["id"]) if "id" in o else None
        if (o.get("jsonrpc") != "2.0" or not isinstance(o.get("method"), str)
                or ("params" in o and not isinstance(o["params"],
                                                     (dict, list)))):
            return INVALID % (rid if rid is not None else "null")
        if rid is None:
            return None
        if o["method"] == "version":
            return VERSION_OK % rid
        if o["method"] == "uptime":
            return ('{"jsonrpc":"2.0","result":{"Now":"Mon Jan  1 00:00:00 '
                    '2001","Up since":"Mon Jan  1 00:00:00 2001","Up time":'
                    '"0 [sec]"},"id":%s}' % rid)
        if o["method"] == "nosuch":
            return ('{"jsonrpc":"2.0","error":{"code":-32601,"message":'
                    '"Method not found"},"id":%s}' % rid)
        raise AssertionError(o["method"])
    if isinstance(j, list):
        if not j:
            return INVALID % "null"
        parts = [p for p in (one(o) for o in j) if p is not None]
        return "[" + ",".join(parts) + "]" if parts else None
    return one(j)


def mi_any(h, tr, req, timeout=2.0):
    """-> the reply text over datagram ('d'), fifo ('f') or http ('h');
    None when nothing came back (HTTP: 202 with an empty body)."""
    if tr == "h":
        st, _, body = h.http("POST", "/mi", req.encode(),
                             [("Content-Type", "application/json")])
        if st == 202:
            check(body == b"", "202 with a body %r" % body)
            return None
        check(st == 200, "HTTP %d for %r" % (st, req))
        return body.decode()
    r = h.mi(req, "datagram" if tr == "d" else "fifo", timeout)
    return None if r == "" else r


def test_mi(runner):
    name0 = "faults.mi"
    if not runner.wanted(name0):
        return
    h = FaultHost("fmi")
    try:
        ok = runner.run(name0 + " start (test/cfg/faults.cfg)", h.start)

        def need():
            check(ok, "host did not start")


        def reply_never_opened():
            need()
            dead = os.path.join(h.run_dir, "never_read")
            os.mkfifo(dead, 0o666)
            plain = os.path.join(h.run_dir, "plain_file")
            with open(plain, "w") as f:
                f.write("keep")
            t0 = time.monotonic()
            for name in ("never_read", "no_such_fifo", "plain_file"):
                fifo_write(h.fifo, (":%s:" % name + VERSION % 1).encode())
            # served meanwhile (the retries run on a timer)
            v = h.fifo_req(VERSION % 2)
            check(H.match_reply(VERSION_OK % 2, v), v)
            check(time.monotonic() - t0 < 1.0, "next request waited %.2fs"
                  % (time.monotonic() - t0))
            time.sleep(0.5)      # past the 320 ms of retries
            with open(plain) as f:
                check(f.read() == "keep", "a regular file was written to")
            fd = os.open(dead, os.O_RDONLY | os.O_NONBLOCK)
            try:
                check(os.read(fd, 100) == b"", "late reply")
            finally:
                os.close(fd)
            h.serving("after replies nobody read")
        runner.run(name0 + " reply FIFO never opened / missing / a regular "
                   "file: dropped, others served at once", reply_never_opened)

        def read_reply(path, delay):
            """opensips-cli's order: the request is written first and the
            reply FIFO opened `delay` s later; (reply, seconds from the open
            to the end of the reply)."""
            os.mkfifo(path, 0o666)
            try:
                fifo_write(h.fifo, (":%s:" % os.path.basename(path) +
                                    VERSION % 7).encode())
                time.sleep(delay)
                fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
                t0 = time.monotonic()
                data = b""
                try:
                    while time.monotonic() - t0 < 2:
                        r, _, _ = select.select([fd], [], [], 0.1)
                        if not r:
                            continue
                        chunk = os.read(fd, 65536)
                        if not chunk and data:
                            break
                        data += chunk
                finally:
                    os.close(fd)
                return data.decode(errors="replace"), time.monotonic() - t0
            finally:
                os.unlink(path)

        def reply_opened_after_request():
            need()
            # the server's first open finds no reader; its next attempts
            # come soon (not 80 ms later, as the reference's fixed gap) and
            # keep coming for about 320 ms
            v, took = read_reply(os.path.join(h.run_dir, "cli_order"), 0.005)
            check(H.match_reply(VERSION_OK % 7, v), v)
            check(took < 0.06, "reply came %.0f ms after the reader opened" % (1000 * took))
            v, took = read_reply(os.path.join(h.run_dir, "cli_late"), 0.2)
            check(H.match_reply(VERSION_OK % 7, v), "a reader 200 ms late: %r" % v)
            h.serving("after late readers")
        runner.run(name0 + " reply FIFO opened after the request (opensips-cli's "
                   "order): answered soon, and still 200 ms late", reply_opened_after_request)

        def half_requests():
            need()
            full = (":half_r:" + VERSION % 3).encode()
            fifo_write(h.fifo, full[:len(full) // 2])
            time.sleep(0.2)
            v = h.fifo_req(VERSION % 4)
            check(H.match_reply(VERSION_OK % 4, v), "FIFO after half a "
                  "request: %r" % v)
            v = h.dgram((VERSION % 5)[:20])
            check(v == "400 Parse_error", "datagram half: %r" % v)
            # HTTP: a body that never completes (request_timeout 1 s) while
            # another client is served
            s = socket.create_connection(("127.0.0.1", h.http_port), 3)
            try:
                body = (VERSION % 6).encode()
                s.sendall(b"POST /mi HTTP/1.1\r\nHost: x\r\nContent-Type: "
                          b"application/json\r\nContent-Length: %d\r\n\r\n"
                          % (len(body) + 100) + body)
                t0 = time.monotonic()
                st, _, b = h.http("POST", "/mi", (VERSION % 9).encode())
                check(st == 200 and H.match_reply(VERSION_OK % 9, b.decode()),
                      "HTTP blocked by a half request: %s %r" % (st, b))
                check(time.monotonic() - t0 < 0.5, "served after %.2fs"
                      % (time.monotonic() - t0))
                # closed once request_timeout has passed, without a reply
                # (libmicrohttpd cannot answer a request it is still reading)
                s.settimeout(4)
                t1 = time.monotonic()
                try:
                    rest = s.recv(4096)
                except ConnectionResetError:
                    rest = b""
                check(rest == b"", "half HTTP body answered %r" % rest[:80])
                check(time.monotonic() - t1 < 2.5, "half HTTP body kept %.2fs"
                      % (time.monotonic() - t1))
            finally:
                s.close()
            h.serving("after half requests")
        runner.run(name0 + " half a request over FIFO, datagram, HTTP "
                   "(closed at request_timeout): discarded, others served",
                   half_requests)

        def one_mb():
            need()
            big = ('{"jsonrpc":"2.0","method":"version","id":1,"x":"%s"}'
                   % ("y" * (1 << 20)))
            n_warn0 = log_count(h, "discarded an MI FIFO request longer")
            for i in range(2):
                fifo_write(h.fifo, (":big_r%d:" % i + big).encode(), 10)
                # a request written while the host still discards the tail
                # of the big one would be discarded with it (same read):
                # wait until the pipe is empty
                check(wait_for(lambda: fifo_unread(h.fifo) == 0, 3.0),
                      "the host stopped reading its FIFO")
                v = h.fifo_req(VERSION % 10)
                check(H.match_reply(VERSION_OK % 10, v), "FIFO after 1 MB: "
                      "%r" % v)
            n = log_count(h, "discarded an MI FIFO request longer") - n_warn0
            check(n <= 1 and (n == 1 or n_warn0 == 1),
                  "oversized FIFO requests logged %d times" % n)
            check(not os.path.exists(os.path.join(h.run_dir, "big_r0")),
                  "reply fifo appeared")
            # datagram: 1 MB cannot be sent at all ...
            c = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            try:
                try:
                    c.sendto(big.encode(), ("127.0.0.1", h.mi_port))
                    raise TestFailure("a 1 MB datagram was sent")
                except OSError as e:
                    check(e.errno == errno.EMSGSIZE, e)
                # ... the largest one (65507 bytes) is cut at
                # socket_buf_size (65457): 400 Parse_error
                pad = 65507 - len(VERSION % 11) - len(',"x":""')
                huge = (VERSION % 11)[:-1] + ',"x":"%s"}' % ("y" * pad)
                check(len(huge) == 65507, len(huge))
                c.sendto(huge.encode(), ("127.0.0.1", h.mi_port))
                c.settimeout(2)
                v = c.recv(65536).decode()
                check(v == "400 Parse_error", "65507-byte datagram: %r"
                      % v[:200])
                # just under the limit: answered
                pad = 65457 - len(VERSION % 12) - len(',"x":""')
                fit = (VERSION % 12)[:-1] + ',"x":"%s"}' % ("y" * pad)
                check(len(fit) == 65457, len(fit))
                c.sendto(fit.encode(), ("127.0.0.1", h.mi_port))
                v = c.recv(65536).decode()
                check(H.match_reply(VERSION_OK % 12, v), "65457 bytes: %r"
                      % v[:200])
            finally:
                c.close()
            # HTTP: 413, the next request fine
            st, _, _ = h.http("POST", "/mi", big.encode(),
                              [("Content-Type", "application/json")],
                              expect_continue=True)
            check(st == 413, "1 MB over HTTP answered %d" % st)
            h.serving("after 1 MB requests")
        runner.run(name0 + " 1 MB requests: FIFO discarded+logged once, "
                   "datagram EMSGSIZE / largest 400, HTTP 413", one_mb)

        def burst():
            need()
            n = 10000
            m0 = h.metric_sum("opensips_mi_requests_total",
                              transport="datagram")
            d0 = udp_drops(h.mi_port)
            c = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            c.bind(("127.0.0.1", 0))
            try:
                note = b'{"jsonrpc":"2.0","method":"version"}'
                for _ in range(n):
                    c.sendto(note, ("127.0.0.1", h.mi_port))
                c.settimeout(0.5)
                try:
                    got = c.recv(65536)
                    raise TestFailure("a notification was answered: %r"
                                      % got)
                except socket.timeout:
                    pass
            finally:
                c.close()

            def settled():
                m = h.metric_sum("opensips_mi_requests_total",
                                 transport="datagram")
                return m - m0 + udp_drops(h.mi_port) - d0 >= n and m
            check(wait_for(settled, 5.0), "requests %d + kernel drops %d "
                  "< %d" % (h.metric_sum("opensips_mi_requests_total",
                                         transport="datagram") - m0,
                            udp_drops(h.mi_port) - d0, n))
            m = h.metric_sum("opensips_mi_requests_total",
                             transport="datagram")
            check(m - m0 + udp_drops(h.mi_port) - d0 == n,
                  "counted %d + dropped by the kernel %d != %d sent"
                  % (m - m0, udp_drops(h.mi_port) - d0, n))
            # the same over the FIFO, 10,000 `::` notifications
            note = b'::{"jsonrpc":"2.0","method":"version"}'
            f0 = h.metric_sum("opensips_mi_requests_total", transport="fifo")
            # whole requests per write() (<= PIPE_BUF), as clients do: the
            # host drops an incomplete tail once the pipe is empty
            for i in range(0, n, 100):
                fifo_write(h.fifo, note * 100, 10)
            check(wait_for(lambda: h.metric_sum(
                "opensips_mi_requests_total", transport="fifo") - f0 >= n,
                5.0), "fifo notifications counted: %d of %d" % (
                h.metric_sum("opensips_mi_requests_total", transport="fifo")
                - f0, n))
            h.serving("after 10,000 notifications")
        runner.run(name0 + " 10,000 notifications in a burst (datagram, "
                   "FIFO): no replies, all counted or kernel-dropped",
                   burst)

        def probes():
            need()
            try:
                recs = H.read_jsonl("crash-probes.jsonl")
            except OSError as e:
                raise Skip("reference not found: %s" % e)
            fails = []
            for rec in recs:
                for tr in ("d", "f", "h"):
                    exp = expected_probe(rec["req"])
                    act = mi_any(h, tr, rec["req"],
                                 timeout=2.0 if exp is not None else 0.5)
                    if not H.match_reply(exp, act):
                        fails.append("%s %s\n        expected %s\n        "
                                     "actual   %s" % (tr, rec["req"], exp,
                                                      act))
                    if not h.alive():
                        raise TestFailure("host died on %s %s:\n%s" % (
                            tr, rec["req"], h.log_tail()))
            check(not fails, "\n      ".join(fails))
            h.serving("after every crash probe")
        runner.run(name0 + " every crash-probes record over datagram, FIFO "
                   "and HTTP (decisions §11)", probes)

        def batches():
            need()
            forms = [
                "[]", "[[]]", "[1,2]", '[{}]',
                '[{"jsonrpc":"2.0","method":"version","id":1}]',
                '[{"jsonrpc":"2.0","method":"version","id":1},'
                '{"jsonrpc":"2.0","method":"version"},'
                '{"jsonrpc":"2.0","id":7},5,'
                '{"jsonrpc":"2.0","method":"nosuch","id":8},'
                '{"jsonrpc":"2.0","method":"uptime","id":"u"}]',
                '[{"jsonrpc":"2.0","method":"version"},'
                '{"jsonrpc":"2.0","method":"uptime"}]',
                '[{"jsonrpc":"2.0","method":"version","id":1}] trailing',
            ]
            fails = []
            for req in forms:
                exp = expected_probe(req)
                for tr in ("d", "f", "h"):
                    act = mi_any(h, tr, req, 2.0 if exp else 0.5)
                    if not H.match_reply(exp, act):
                        fails.append("%s %s\n        expected %s\n        "
                                     "actual   %s" % (tr, req, exp, act))
            # nesting beyond the parser's depth limit (512): a parse error
            deep = "[" * 5000 + "]" * 5000
            v = h.dgram(deep)
            if v != "400 Parse_error":
                fails.append("d 5000-deep array -> %r" % (v and v[:100]))
            # a batch whose reply does not fit a datagram: 500; fits HTTP
            big = "[" + ",".join(VERSION % i for i in range(1200)) + "]"
            v = h.dgram(big)
            if v != "500 Internal error":
                fails.append("d 1200-request batch (reply > 64 KB) -> %r"
                             % (v and v[:100]))
            st, _, body = h.http("POST", "/mi", big.encode())
            try:
                arr = json.loads(body)
                good = st == 200 and len(arr) == 1200 and [
                    a["id"] for a in arr] == list(range(1200))
            except ValueError:
                good = False
            if not good:
                fails.append("h 1200-request batch -> %s %r" % (st,
                                                                body[:100]))
            check(not fails, "\n      ".join(fails))
            h.serving("after the batch forms")
        runner.run(name0 + " JSON-RPC batch forms (mixed, notifications "
                   "only, nested, 5000-deep, reply > datagram)", batches)
        if ok:
            runner.run(name0 + " host exits 0 after the faults", clean_exit,
                       h)
    finally:
        h.cleanup()


def test_fifo_sighup(runner):
    name = ("faults.mi FIFO deleted / replaced by a file, SIGHUP: "
            "re-created, served")
    if not runner.wanted(name):
        return

    def is_fifo(path):
        # the host unlinks what is there before it makes the FIFO: a stat
        # between the two finds nothing
        try:
            return stat.S_ISFIFO(os.stat(path).st_mode)
        except FileNotFoundError:
            return False

    def body():
        with open(H.BIN, "rb") as f:
            has_hup = b"shim_add_sighup_cb" in f.read()
        with FaultHost("fhup") as h:
            os.unlink(h.fifo)
            h.proc.send_signal(signal.SIGHUP)
            time.sleep(0.2)
            check(h.alive(), "SIGHUP killed the host")
            rep, _ = H.send_options(h, "probe")
            check(rep and rep.startswith("SIP/2.0 200 OK\r\n"), rep)
            if not has_hup:
                raise Skip("host gap: the FIFO is re-created only by the "
                           "30 s check (SIGHUP is ignored by this binary; "
                           "no modparam shortens the check)")
            check(wait_for(lambda: is_fifo(h.fifo), 3.0),
                  "FIFO not re-created within 3 s of SIGHUP")
            check(os.stat(h.fifo).st_mode & 0o777 == 0o666, "mode %o" %
                  (os.stat(h.fifo).st_mode & 0o777))
            h.serving("after the FIFO was deleted and re-created")
            # replaced by a regular file: re-created as a FIFO
            os.unlink(h.fifo)
            with open(h.fifo, "w") as f:
                f.write("not a fifo")
            h.proc.send_signal(signal.SIGHUP)
            check(wait_for(lambda: is_fifo(h.fifo), 3.0),
                  "regular file not replaced by a FIFO")
            h.serving("after the FIFO was replaced by a file")
            clean_exit(h)
    runner.run(name, body)


# ------------------------------------------------------------ faults.sip

def sip_counts(h):
    return tuple(h.metric_sum("opensips_sip_%s_total" % k)
                 for k in ("received", "replied", "malformed"))


def test_sip(runner):
    name0 = "faults.sip"
    if not runner.wanted(name0):
        return
    h = FaultHost("fsip")
    try:
        ok = runner.run(name0 + " start (test/cfg/faults.cfg)", h.start)

        def datagrams():
            check(ok, "host did not start")
            s = H.sip_socket()
            lp = s.getsockname()[1]
            good, _, _ = H.sip_options("probe", h.sip_port, lp)
            bad = []
            # truncated: every cut up to the end of the CSeq header
            cut_max = good.index(b"Content-Length")
            bad += [good[:i] for i in range(1, cut_max, 3)]
            rnd = random.Random(7)
            bad += [bytes(rnd.randrange(256) for _ in range(rnd.randrange(
                1, 1500))) for _ in range(150)]
            bad += [b"\x00" * 1400, b"\xff" * 65507,
                    good.replace(b"OPTIONS sip", b"OPTIONS \x00\x01sip"),
                    b"OPTIONS sip:x SIP/2.0\r\n" + b"X: " + b"y" * 65000 +
                    b"\r\n\r\n"]
            # oversized but otherwise whole: a 65 KB header in a full OPTIONS
            over = good.replace(b"Content-Length: 0", b"X-Pad: " + b"p" *
                                (65507 - len(good) - 9) +
                                b"\r\nContent-Length: 0")
            check(len(over) == 65507, len(over))
            r0 = sip_counts(h)
            for d in bad:
                s.sendto(d, ("127.0.0.1", h.sip_port))
            s.sendto(over, ("127.0.0.1", h.sip_port))
            replies = drain_sock(s, 0.5)
            s.close()
            sent = len(bad) + 1
            check(wait_for(lambda: sip_counts(h)[0] - r0[0] >= sent, 3.0),
                  "received %d of %d" % (sip_counts(h)[0] - r0[0], sent))
            r1 = sip_counts(h)
            rec, rep, mal = (r1[i] - r0[i] for i in range(3))
            check(rec == sent and rep == replies and mal == rec - rep,
                  "sent %d: received %d, replied %d (client got %d), "
                  "malformed %d" % (sent, rec, rep, replies, mal))
            check(mal >= len(bad) - 5, "only %d of %d bad datagrams counted "
                  "malformed" % (mal, len(bad)))
            h.serving("after bad datagrams")
        runner.run(name0 + " truncated, binary, oversized datagrams: "
                   "counted malformed, served", datagrams)

        def tcp_mid():
            check(ok, "host did not start")
            good, _, _ = H.sip_options("probe", h.sip_port, 5999)
            good = good.replace(b"SIP/2.0/UDP", b"SIP/2.0/TCP")
            held = []
            try:
                for i in range(100):
                    c = socket.create_connection(("127.0.0.1", h.sip_port), 3)
                    cut = [len(good) // 2, len(good) - 2, 10][i % 3]
                    c.sendall(good[:cut])
                    held.append(c)
                # a body that never comes
                c = socket.create_connection(("127.0.0.1", h.sip_port), 3)
                c.sendall(good.replace(b"Content-Length: 0",
                                       b"Content-Length: 500") + b"abc")
                held.append(c)
                # others are served over TCP and UDP meanwhile
                c = socket.create_connection(("127.0.0.1", h.sip_port), 3)
                c.sendall(good + good[:30])    # one and a half messages
                c.settimeout(3)
                buf = b""
                while b"\r\n\r\n" not in buf:
                    d = c.recv(65536)
                    if not d:
                        break
                    buf += d
                c.close()
                check(buf.startswith(b"SIP/2.0 200 OK\r\n"),
                      "TCP not served next to stalled streams: %r" % buf)
                h.serving("with 101 stalled TCP streams")
                # a TCP message that cannot fit 64 KB: closed, malformed
                m0 = sip_counts(h)[2]
                c = socket.create_connection(("127.0.0.1", h.sip_port), 3)
                try:
                    c.sendall(good.replace(b"Content-Length: 0", b"X: " +
                                           b"y" * 70000 +
                                           b"\r\nContent-Length: 0"))
                except OSError:
                    pass
                c.settimeout(3)
                try:
                    d = c.recv(100)
                except OSError:
                    d = b""
                c.close()
                check(d == b"", "oversized TCP message answered: %r" % d)
                check(wait_for(lambda: sip_counts(h)[2] > m0, 2.0),
                      "oversized TCP message not counted malformed")
            finally:
                for c in held:
                    c.close()
            h.serving("after the stalled TCP streams closed")
        runner.run(name0 + " TCP streams that stop mid-message: others "
                   "served; > 64 KB closed and counted", tcp_mid)
        if ok:
            runner.run(name0 + " host exits 0 after the faults", clean_exit,
                       h)
    finally:
        h.cleanup()


# ------------------------------------------------------------ faults.mem

def test_mem(runner):
    name0 = "faults.mem"
    if not runner.wanted(name0):
        return

    def body():
        h = FaultHost("fmem", extra_args=["-m", "2"],
                      extra_globals="event_shm_threshold = 90")
        col = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        col.bind(("127.0.0.1", 0))
        try:
            h.start()
            size = 2 << 20
            h.subscribe("udp:127.0.0.1:%d" % col.getsockname()[1],
                        "E_CORE_SHM_THRESHOLD")
            # fill the pool, in 64 KB steps, until the allocator says no
            errors = 0
            for _ in range(size // 65536 + 2):
                j = h.call("testmod:shm_alloc", [str(65536)])
                if "error" in j:
                    check(j["error"] == {"code": 500,
                                         "message": "alloc failed"}, j)
                    errors += 1
                    break
            check(errors == 1, "2 MB pool never exhausted")
            j = h.call("testmod:shm_alloc", [str(size)])
            check(j.get("error", {}).get("code") == 500, j)
            # the threshold event still goes out with the pool full
            col.settimeout(2)
            ev = json.loads(col.recv(65536))
            check(ev["params"]["usage"] >= 90, ev)
            # reports and subscriptions keep coming: each is an answer
            # (OK or an error), never a crash
            for i in range(200):
                rep, _ = H.send_options(h, "sr-report")
                check(rep and re.match(r"SIP/2\.0 (200|500) ", rep),
                      "sr-report %d: %r" % (i, rep))
            socks = []
            for i in range(300):
                sk = "udp:127.0.0.1:%d" % (20000 + i)
                j = h.call("evi:subscribe", [EV, sk, 60])
                check("result" in j or "error" in j, j)
                if j.get("result") == "OK":
                    socks.append(sk)
            r = h.result("status_report:reports", ["ref_app"])
            check(isinstance(r, list) and r[0]["Name"] == "main",
                  str(r)[:300])
            h.serving("with the shared pool full")
            # raise to every subscription while full
            h.burst(100)
            h.result("testmod:shm_free")
            j = h.call("testmod:shm_alloc", [str(size // 2)])
            check(j.get("result") == "OK", "after shm_free: %s" % j)
            h.result("testmod:shm_free")
            rep, _ = H.send_options(h, "sr-report")
            check(rep and rep.startswith("SIP/2.0 200 OK\r\n"), rep)
            h.subscribe("udp:127.0.0.1:%d" % 19999)
            h.serving("after the pool was freed")
            clean_exit(h)
        finally:
            col.close()
            h.cleanup()
    runner.run(name0 + " shm (-m 2) exhausted: 500 alloc failed, reports "
               "and subscriptions answered, recovers after shm_free", body)

    def bounded():
        # OpenSIPS keeps subscribers in shm: with the pool full,
        # evi:subscribe fails with an error. Here each subscriber's queue
        # (4096 slots, 64 KB) comes from the accounted shm pool (-m), so an
        # MI client cannot grow the host without limit.
        with FaultHost("fmemsub", extra_args=["-m", "2"]) as h:
            rss0 = rss_kb(h.proc.pid)
            errors = 0
            for i in range(1000):
                j = h.call("evi:subscribe", [EV, "udp:127.0.0.1:%d"
                                             % (20000 + i), 60])
                check("result" in j or "error" in j, j)
                errors += "error" in j
                if errors:
                    break
            grown = rss_kb(h.proc.pid) - rss0
            h.serving("after 1000 subscriptions")
            check(errors or grown < 16 * 1024,
                  "1000 subscriptions with -m 2 were all accepted and the "
                  "host grew by %d MB: subscriber memory is not bounded by "
                  "the shared pool" % (grown // 1024))
    runner.run(name0 + " evi:subscribe is bounded by the shared pool (-m 2)",
               bounded)


def proc_cpu_s(pid):
    """user+system CPU seconds of the process (all its threads)."""
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def check_idle(h):
    """Polling only follows work: once the load stops, the host uses
    under 10% of a core."""
    time.sleep(0.3)
    c0 = proc_cpu_s(h.proc.pid)
    time.sleep(1.5)
    used = proc_cpu_s(h.proc.pid) - c0
    check(used < 0.15, "idle host used %.2f s of CPU in 1.5 s" % used)


def http_keepalive_checks(h):
    """With the other threads polling beside it, the HTTPD thread still
    serves one keep-alive connection: request after request and then a
    pipelined burst, each answered once, in order, with its own id."""
    s = socket.create_connection(("127.0.0.1", h.http_port), timeout=3)

    def post(rid):
        body = (VERSION % rid).encode()
        return ("POST /mi HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                "Content-Type: application/json\r\nContent-Length: %d\r\n\r\n"
                % len(body)).encode() + body
    try:
        for i in range(100):
            s.sendall(post(3000 + i))
            st, hdrs, body = read_http(s)
            check(st == 200 and H.match_reply(VERSION_OK % (3000 + i), body.decode()),
                  (st, body))
            check(hdrs.get("connection", "").lower() != "close", hdrs)
        s.sendall(b"".join(post(4000 + i) for i in range(16)))
        pending = bytearray()
        for i in range(16):  # a timeout fails the check
            st, _, body = read_http(s, pending)
            check(st == 200 and H.match_reply(VERSION_OK % (4000 + i), body.decode()),
                  (i, st, body))
    finally:
        s.close()


def check_event_bursts(h, bursts=10, n=30):
    """Raises `bursts` bursts of n events to a fresh UDP collector: each
    datagram is one whole notification, and all of them arrive, are
    counted as delivered, none dropped or failed."""
    col = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    col.bind(("127.0.0.1", 0))
    col.settimeout(3)
    sock = "udp:127.0.0.1:%d" % col.getsockname()[1]
    want = bursts * n
    try:
        h.subscribe(sock)
        got = 0
        try:
            for _ in range(bursts):
                h.burst(n)
                for _ in range(n):  # one notification a datagram
                    json.loads(col.recv(65535))
                    got += 1
        except socket.timeout:
            pass
        st = h.settle(sock)
        check(got == want, "collector got %d of %d: %s" % (got, want, st))
        check(st["delivered"] == want and st["dropped"] == 0 and st["failed"] == 0, st)
        h.subscribe(sock, expire=0)
    finally:
        col.close()


def test_udp_gso(runner):
    """udp_gso = yes (docs/internals/net.md): a batch's replies to one client
    leave as one segmented send, and the kernel cuts them back: every MI
    and SIP reply, and every event to a UDP collector, still arrives once,
    as its own datagram with its own bytes (in order from the one MI
    thread). net:udp_gso_* count the segmented sends."""
    name0 = "faults.udp_gso"
    if not runner.wanted(name0):
        return

    def body():
        with FaultHost("fgso", extra_globals="udp_gso = yes\n") as h:
            h.serving("with udp_gso")
            bad = []

            def mi_client(k):
                s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                s.settimeout(2)
                try:
                    for burst in range(4):
                        base = k * 10000 + burst * 100
                        for i in range(64):  # pipelined: the host batches
                            s.sendto((VERSION % (base + i)).encode(), ("127.0.0.1", h.mi_port))
                        for i in range(64):  # each datagram one whole reply, in order
                            got = s.recv(65535).decode()
                            if not H.match_reply(VERSION_OK % (base + i), got):
                                bad.append((k, base + i, got[:200]))
                                return
                except (OSError, ValueError) as e:
                    bad.append((k, repr(e)))
                finally:
                    s.close()

            def sip_client(k):
                s = H.sip_socket()
                s.settimeout(2)
                try:
                    lport = s.getsockname()[1]
                    sent = []
                    for i in range(64):
                        data, cid, _ = H.sip_options("gso%d" % i, h.sip_port, lport,
                                                     call_id="gso-%d-%d@t" % (k, i))
                        sent.append(cid)
                        s.sendto(data, ("127.0.0.1", h.sip_port))
                    got = []
                    for _ in range(64):
                        rep = s.recv(65535).decode()
                        if not rep.startswith("SIP/2.0 200 OK\r\n") or rep.count("SIP/2.0 ") != 1 \
                                or not rep.endswith("\r\n\r\n"):
                            bad.append((k, rep[:200]))
                            return
                        got.append(re.search(r"\r\nCall-ID: ([^\r]+)\r\n", rep).group(1))
                    # each once; two SIP receivers share the socket, so
                    # a client's replies may come in another order (as
                    # with OpenSIPS's UDP children)
                    if sorted(got) != sorted(sent):
                        bad.append((k, "replies", sorted(set(sent) - set(got))[:5],
                                    len(got), len(set(got))))
                except (OSError, AttributeError) as e:
                    bad.append((k, repr(e)))
                finally:
                    s.close()

            ts = [threading.Thread(target=mi_client, args=(k,)) for k in range(1, 4)]
            ts += [threading.Thread(target=sip_client, args=(k,)) for k in range(1, 4)]
            for th in ts:
                th.start()
            for th in ts:
                th.join(30)
            check(not bad, bad[:5])
            # sipp, the SIP load tool operators run: 3,000 OPTIONS at
            # 3,000/s from one socket; a reply it cannot match (two in one
            # datagram) fails its call, with no retransmission to hide it
            sipp = shutil.which("sipp")
            check(sipp, "sipp is not installed (tools/install-deps.sh)")

            def gso_datagrams():
                r = h.call("get_statistics", [["net:udp_gso_datagrams"]])
                return r.get("result", {}).get("net:udp_gso_datagrams", 0)
            before = gso_datagrams()
            p = subprocess.run(
                [sipp, "127.0.0.1:%d" % h.sip_port, "-sf",
                 os.path.join(os.path.dirname(os.path.abspath(__file__)), "options-200.xml"),
                 "-s", "gso", "-m", "3000", "-r", "3000", "-l", "200", "-i", "127.0.0.1",
                 "-p", str(H.free_port()), "-nostdin", "-max_retrans", "0",
                 "-timeout", "30s", "-timeout_error", "-recv_timeout", "3000"],
                capture_output=True, timeout=60, cwd=h.run_dir, stdin=subprocess.DEVNULL)
            check(p.returncode == 0, "sipp exit %d\n%s" % (
                p.returncode, p.stdout.decode(errors="replace")[-1500:]))
            check(gso_datagrams() > before, "no segmented send during the sipp run")
            # events: a burst's notifications to one collector, one a datagram
            check_event_bursts(h)
            stats = h.call("get_statistics", [["net:"]]).get("result", {})
            sends = stats.get("net:udp_gso_sends", 0)
            dgrams = stats.get("net:udp_gso_datagrams", 0)
            check(sends > 0 and dgrams >= 2 * sends, stats)
            check("refused a segmented" not in h.log(), h.log_tail())
            h.serving("after the udp_gso checks")
    runner.run(name0 + " udp_gso = yes: pipelined MI and SIP from six clients and event "
               "bursts, sipp at 3,000/s, every reply and event its own datagram, "
               "once (MI in order); "
               "net:udp_gso_* count the segmented sends", body)

    def off_by_default():
        with FaultHost("fgsooff") as h:
            h.serving("without udp_gso")
            r = h.call("get_statistics", [["net:"]])
            check("net:udp_gso_sends" not in json.dumps(r), r)
    runner.run(name0 + " off by default: no net:udp_gso_* statistics", off_by_default)


def test_busy_poll(runner):
    """busy_poll_usec (docs/internals/performance.md): the receivers poll
    their sockets after a batch. Everything is still answered once, in
    order; an idle host does not spin."""
    name0 = "faults.busy_poll"
    if not runner.wanted(name0):
        return

    def body():
        with FaultHost("fpoll", extra_globals="busy_poll_usec = 1000\n") as h:
            h.serving("with busy polling")
            # request after request, each answered with its own id
            for i in range(200):
                v = h.dgram(VERSION % (100 + i))
                check(H.match_reply(VERSION_OK % (100 + i), v), v)
            # a pipelined burst on one socket: every reply, once
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            s.settimeout(2)
            try:
                for i in range(64):
                    s.sendto((VERSION % (1000 + i)).encode(), ("127.0.0.1", h.mi_port))
                ids = []
                for _ in range(64):
                    ids.append(json.loads(s.recv(65535))["id"])
                check(sorted(ids) == list(range(1000, 1064)), ids)
            finally:
                s.close()
            for i in range(50):
                rep, info = H.send_options(h, "poll%d" % i)
                check(rep and rep.startswith("SIP/2.0 200 OK\r\n") and
                      ("Call-ID: %s\r\n" % info["call_id"]) in rep, rep)
            for i in range(20):
                v = h.fifo_req(VERSION % (2000 + i))
                check(H.match_reply(VERSION_OK % (2000 + i), v), v)
            http_keepalive_checks(h)
            # the EVI sender polls its queues too: every event of bursts
            # raised one after the other reaches a UDP collector
            check_event_bursts(h)
            check_idle(h)
            h.serving("after the polling checks")
    runner.run(name0 + " busy_poll_usec = 1000: MI datagram, SIP, FIFO and HTTP "
               "keep-alive answered once each, in bursts too; idle host does not spin",
               body)

    def mi_threads():
        # children_count = 3: the threads take turns polling the one socket
        # (one at a time); clients on their own sockets, all at once
        with FaultHost("fpollmi", extra_globals="busy_poll_usec = 1000\n",
                       extra_modules='modparam("mi_datagram", "children_count", 3)\n') as h:
            names = []
            for tid in os.listdir("/proc/%d/task" % h.proc.pid):
                try:
                    with open("/proc/%d/task/%s/comm" % (h.proc.pid, tid)) as f:
                        names.append(f.read().strip())
                except OSError:
                    pass
            check(names.count("MI Datagram") == 3, names)
            bad = []

            def client(k):
                s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                s.settimeout(2)
                try:
                    for i in range(150):  # one at a time
                        rid = k * 10000 + i
                        s.sendto((VERSION % rid).encode(), ("127.0.0.1", h.mi_port))
                        got = json.loads(s.recv(65535))["id"]
                        if got != rid:
                            bad.append((k, rid, got))
                    for i in range(32):  # then a pipelined burst
                        s.sendto((VERSION % (k * 10000 + 5000 + i)).encode(),
                                 ("127.0.0.1", h.mi_port))
                    ids = sorted(json.loads(s.recv(65535))["id"] for _ in range(32))
                    if ids != list(range(k * 10000 + 5000, k * 10000 + 5032)):
                        bad.append((k, "burst", ids))
                except (OSError, ValueError) as e:
                    bad.append((k, repr(e)))
                finally:
                    s.close()
            ts = [threading.Thread(target=client, args=(k,)) for k in range(1, 6)]
            for th in ts:
                th.start()
            for th in ts:
                th.join(30)
            check(not bad, bad[:5])
            check_idle(h)
            h.serving("after the MI threads' polling")
    runner.run(name0 + " busy_poll_usec = 1000, mi_datagram children_count = 3: five "
               "clients at once, each answered once, in order; idle host does not spin",
               mi_threads)

    def bad_value():
        h = FaultHost("fpollbad", extra_globals="busy_poll_usec = 5000\n")
        try:
            try:
                h.start(ready_timeout=5.0)
            except Exception:
                pass
            check(not h.alive(), "started with busy_poll_usec = 5000")
            check("busy_poll_usec' expects microseconds (0..1000)" in h.log(), h.log_tail())
        finally:
            h.cleanup()
    runner.run(name0 + " busy_poll_usec out of range: startup fails with a clear error",
               bad_value)


def run(runner):
    test_subscribers(runner)
    test_busy_poll(runner)
    test_udp_gso(runner)
    test_mi(runner)
    test_fifo_sighup(runner)
    test_sip(runner)
    test_mem(runner)
