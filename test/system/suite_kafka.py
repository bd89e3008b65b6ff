"""System tests of event_kafka (issue 12): the `kafka:` EVI transport,
broker_id + kafka_publish(), against a librdkafka mock cluster
(build/test-helpers/kafka_mock, started once for the whole suite) and
consumed with Debian's kcat.

  kafka.bodies      every core event test/cfg/kafka.cfg can trigger and a
                    script raise_event: Kafka bodies byte-identical to what a
                    udp: collector of the same events receives; key=callid
  kafka.autoscale   E_CORE_PROC_AUTO_SCALE (kafka.cfg with events-autoscale.cfg's
                    UDP workers), byte-identical to udp
  kafka.order       2,500 events in order, counters in evi:subscriber_stats
                    and statistics:get
  kafka.outage      broker down: SIP keeps being answered; up: delivery
                    resumes within seconds, nothing lost
  kafka.backlog     backlog_events: the overflow is counted dropped; a g.
                    property overrides it
  kafka.max_age     backlog_max_age: old events counted dropped, never
                    delivered after the broker is back; a failed
                    kafka_publish report
  kafka.publish     kafka_publish with key and report route, statistics
  kafka.release     unsubscribing: MI never waits, the producers' threads go,
                    their events count failed
  kafka.stop        host start/serve/stop with the broker down, and with an
                    unreachable broker (SYNs dropped): stop within 2 s
  kafka.bad         malformed sockets, unknown and rejected properties: MI
                    error, clear log line, host keeps serving; startup
                    errors for unknown broker ids, missing report routes,
                    rejected broker_id properties

Broker tests fail (never skip) when the mock cluster cannot start.
"""

import json
import os
import re
import socket
import subprocess
import time

import harness as H
from harness import check, TestFailure

CFG = os.path.join(H.CFG_DIR, "kafka.cfg")
MOCK = os.path.join(H.BUILD_DIR, "test-helpers", "kafka_mock")
MB = 1024 * 1024
SHM_SIZE = 64 * MB   # harness: -m 64
PKG_SIZE = 8 * MB    # harness: -M 8
STOP_BOUND = 2.0 * (1.5 if H.SLOW > 1 else 1.0)


# ------------------------------------------------------------ helpers

class Mock:
    """The kafka_mock helper: one mock cluster for the whole suite."""

    def __init__(self):
        self.p = None
        self.boot = None
        self.error = None
        self.topics = 0

    def start(self):
        if not os.path.exists(MOCK):
            self.error = "%s not built (make builds it)" % MOCK
            return
        try:
            self.p = subprocess.Popen([MOCK], stdin=subprocess.PIPE,
                                      stdout=subprocess.PIPE,
                                      stderr=subprocess.PIPE, text=True)
            line = self.p.stdout.readline()
        except OSError as e:
            self.error = "cannot run %s: %s" % (MOCK, e)
            return
        if not line.startswith("BOOTSTRAP "):
            self.error = "kafka_mock did not start: %r %s" % (
                line, self.p.stderr.read() if self.p.poll() is not None else "")
            return
        self.boot = line.split()[1]
        # it must listen on the loopback only
        for b in self.boot.split(","):
            check(b.startswith("127.0.0.1:"), "mock broker on %s" % b)

    def need(self):
        check(self.boot is not None, "no Kafka mock cluster: %s" % self.error)

    def cmd(self, text):
        self.need()
        self.p.stdin.write(text + "\n")
        self.p.stdin.flush()
        r = self.p.stdout.readline().strip()
        check(r == "OK", "kafka_mock %s -> %r" % (text, r))

    def topic(self, prefix, partitions=1):
        """A fresh topic (one partition unless told)."""
        self.topics += 1
        name = "%s-%d-%d" % (prefix, os.getpid(), self.topics)
        self.cmd("topic %s %d" % (name, partitions))
        return name

    def stop(self):
        if self.p and self.p.poll() is None:
            try:
                self.p.stdin.write("quit\n")
                self.p.stdin.flush()
                self.p.wait(10)
            except (OSError, subprocess.TimeoutExpired):
                self.p.kill()
                self.p.wait(5)


MOCK_CLUSTER = Mock()


def consume(topic, want=None, timeout=15.0, settle=None):
    """Records of `topic` as [(key, value)], read from the beginning with
    kcat; retried until at least `want` are there (or timeout)."""
    MOCK_CLUSTER.need()
    deadline = time.monotonic() + timeout * H.SLOW
    recs = []
    while True:
        try:
            p = subprocess.run(
                ["kcat", "-C", "-b", MOCK_CLUSTER.boot, "-t", topic,
                 "-o", "beginning", "-e", "-q", "-f", "%k\t%s\n"],
                capture_output=True, timeout=20, stdin=subprocess.DEVNULL)
            out = p.stdout.decode("utf-8", "replace")
        except subprocess.TimeoutExpired:
            out = ""
        recs = []
        for line in out.split("\n"):
            if not line:
                continue
            k, _, v = line.partition("\t")
            recs.append((k, v))
        if want is None:
            if settle is None or time.monotonic() >= deadline:
                return recs
            time.sleep(settle)
            settle = None
            continue
        if len(recs) >= want or time.monotonic() >= deadline:
            return recs
        time.sleep(0.3)


class Collector:
    """A udp: subscriber: every datagram as received (bytes)."""

    def __init__(self):
        self.s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.s.bind(("127.0.0.1", 0))
        self.s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 * MB)
        self.port = self.s.getsockname()[1]
        self.sock = "udp:127.0.0.1:%d" % self.port
        self.s.settimeout(0.3)

    def drain(self, settle=0.7):
        got = []
        deadline = time.monotonic() + settle
        while True:
            try:
                got.append(self.s.recv(65535).decode("utf-8", "replace"))
                deadline = time.monotonic() + settle
            except socket.timeout:
                if time.monotonic() > deadline:
                    return got

    def close(self):
        self.s.close()


def khost(name, broker=None, extra_globals="", extra_modules="", routes="",
          cfg=CFG, **kw):
    """A host of test/cfg/kafka.cfg; broker_id k1 -> `broker` (host:port/topic)."""
    if broker is None:
        broker = "%s/unused" % MOCK_CLUSTER.boot
    return H.Host(cfg, subs={"@EXTRA_GLOBALS@": extra_globals,
                             "@EXTRA_MODULES@": extra_modules,
                             "@KAFKA_BROKER@": broker,
                             "@EVENT_ROUTES@": routes}, name=name, **kw)


def subscribe(h, event, sock, expire=120):
    r = h.call("evi:subscribe", [event, sock, expire])
    check(r.get("result") == "OK", "subscribe %s %s -> %s" % (event, sock, r))


def sub_stat(h, event, prefix="kafka:"):
    for s in h.result("evi:subscriber_stats", [event])["Subscribers"]:
        if s["socket"].startswith(prefix):
            return s
    raise TestFailure("no %s subscriber of %s" % (prefix, event))


def wait_stat(h, event, pred, timeout=15.0, prefix="kafka:"):
    deadline = time.monotonic() + timeout * H.SLOW
    while True:
        st = sub_stat(h, event, prefix)
        if pred(st) or time.monotonic() >= deadline:
            return st
        time.sleep(0.1)


def ok200(rep, what=""):
    check(rep is not None and rep.startswith("SIP/2.0 200 OK\r\n"),
          "no 200 OK %s: %r" % (what, rep))


def sip_tcp(h, user="bench"):
    """OPTIONS over TCP, connection closed after the reply: (reply, port)."""
    s = socket.create_connection(("127.0.0.1", h.sip_port), timeout=3)
    lp = s.getsockname()[1]
    data, _, _ = H.sip_options(user, h.sip_port, lp)
    s.sendall(data.replace(b"SIP/2.0/UDP", b"SIP/2.0/TCP"))
    buf = b""
    s.settimeout(3)
    while b"\r\n\r\n" not in buf:
        d = s.recv(65535)
        if not d:
            break
        buf += d
    s.close()
    return buf.decode("utf-8", "replace"), lp


def pct(size, p):
    return size * p // 100 + size // 400


def raise_n(h, n, start=0, event="E_REF_SCRIPT"):
    for i in range(start, start + n):
        r = h.call("evi:raise", {"event": event,
                                 "params": json.dumps({"n": i})})
        check(r.get("result") == "OK", r)


def ns_of(recs):
    out = []
    for _, v in recs:
        try:
            out.append(json.loads(v)["params"]["n"])
        except (ValueError, KeyError, TypeError):
            out.append(v)
    return out


def timed_stop(h):
    t0 = time.monotonic()
    rc = h.stop(timeout=10)
    return rc, time.monotonic() - t0


def options_all_answered(h, n, user="ping"):
    t0 = time.monotonic()
    for i in range(n):
        rep, _ = H.send_options(h, user)
        ok200(rep, "(OPTIONS %d of %d)" % (i + 1, n))
    return time.monotonic() - t0


class DeadListener:
    """A TCP port whose accept queue is full: connects hang (SYNs dropped)."""

    def __init__(self):
        self.l = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.l.bind(("127.0.0.1", 0))
        self.l.listen(0)
        self.port = self.l.getsockname()[1]
        self.fill = []
        for _ in range(3):
            c = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            c.setblocking(False)
            try:
                c.connect(("127.0.0.1", self.port))
            except BlockingIOError:
                pass
            self.fill.append(c)
        time.sleep(0.2)
        # a probe must now hang
        p = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        p.settimeout(0.5)
        try:
            p.connect(("127.0.0.1", self.port))
            hung = False
        except socket.timeout:
            hung = True
        except OSError:
            hung = False
        p.close()
        check(hung, "could not make 127.0.0.1:%d drop SYNs" % self.port)

    def close(self):
        for c in self.fill:
            c.close()
        self.l.close()


# ------------------------------------------------------------ tests

EVENTS = ["E_CORE_THRESHOLD", "E_CORE_LOG", "E_REF_SCRIPT",
          "E_CORE_SR_STATUS_CHANGED", "E_CORE_TCP_DISCONNECT",
          "E_CORE_SHM_THRESHOLD", "E_CORE_PKG_THRESHOLD"]


def test_bodies(runner):
    name = ("kafka.bodies every core event kind of kafka.cfg and raise_event: "
            "byte-identical to udp, key=callid is the request's Call-ID")
    if not runner.wanted(name):
        return

    def body():
        MOCK_CLUSTER.need()
        topic = MOCK_CLUSTER.topic("core")
        col = Collector()
        h = khost("kbody",
                  extra_globals="event_shm_threshold = 50\n"
                                "event_pkg_threshold = 50\n"
                                "exec_dns_threshold = 50000",
                  extra_modules='modparam("testmod", "resolve_delay_us", 60000)')
        try:
            h.start()
            ksock = "kafka:%s/%s?key=callid" % (MOCK_CLUSTER.boot, topic)
            for ev in EVENTS:
                subscribe(h, ev, col.sock)
                subscribe(h, ev, ksock)
            cids = {}
            for user in ("sr-bad", "sr-ok", "slow", "resolve", "log", "raise"):
                rep, info = H.send_options(h, user)
                ok200(rep, user)
                cids[user] = info["call_id"]
            rep, _ = sip_tcp(h)
            ok200(rep, "over TCP")
            check(h.result("testmod:shm_alloc", [str(pct(SHM_SIZE, 55))]) == "OK", "shm")
            check(h.result("testmod:shm_free") == "OK", "shm free")
            check(h.result("testmod:pkg_alloc", [str(pct(PKG_SIZE, 55))]) == "OK", "pkg")
            check(h.result("testmod:pkg_free") == "OK", "pkg free")
            time.sleep(1.0)
            udp = col.drain()
            recs = consume(topic, want=len(udp), timeout=15)
            time.sleep(0.5)
            recs = consume(topic, want=len(udp), timeout=5)
            kbodies = [v for _, v in recs]
            methods = set(json.loads(b)["method"] for b in udp)
            for ev in EVENTS:
                check(ev in methods, "the udp collector got no %s: %s" % (ev, sorted(methods)))
            check(sorted(kbodies) == sorted(udp),
                  "Kafka bodies differ from udp ones:\n  only udp: %s\n  only kafka: %s"
                  % ([b for b in udp if b not in kbodies][:5],
                     [b for b in kbodies if b not in udp][:5]))
            # the same bytes, also per event in order (one queue each)
            for ev in EVENTS:
                u = [b for b in udp if json.loads(b)["method"] == ev]
                k = [v for v in kbodies if json.loads(v)["method"] == ev]
                check(u == k, "%s order differs: %s / %s" % (ev, u, k))
            keys = {}
            for k, v in recs:
                keys.setdefault(json.loads(v)["method"], []).append((k, json.loads(v)))
            ref = [k for k, _ in keys["E_REF_SCRIPT"]]
            check(ref == [cids["raise"]], "E_REF_SCRIPT keys %s, Call-ID %s"
                  % (ref, cids["raise"]))
            logk = [k for k, p in keys["E_CORE_LOG"]
                    if "REFLOG notice line" in p["params"]["message"]]
            check(logk == [cids["log"]], "E_CORE_LOG keys %s, Call-ID %s" % (logk, cids["log"]))
            srk = [k for k, p in keys["E_CORE_SR_STATUS_CHANGED"]]
            check(srk == [cids["sr-bad"], cids["sr-ok"]], "SR keys %s" % srk)
            thr = {}
            for k, p in keys["E_CORE_THRESHOLD"]:
                thr.setdefault(p["params"]["source"], []).append(k)
            # "resolve" is slow too (the 60 ms lookup): two msg processing ones
            check(cids["slow"] in thr.get("msg processing", []) and
                  "" not in thr.get("msg processing", []) and
                  thr.get("dns") == [cids["resolve"]],
                  "E_CORE_THRESHOLD keys %s, Call-IDs %s / %s" % (thr, cids["slow"],
                                                                 cids["resolve"]))
            # raised from MI: no request, no key
            shmk = set(k for k, _ in keys["E_CORE_SHM_THRESHOLD"])
            check(shmk == {""}, "E_CORE_SHM_THRESHOLD keys %s" % shmk)
            for ev in EVENTS:
                st = wait_stat(h, ev, lambda s: s["inflight"] == 0)
                check(st["failed"] == 0 and st["dropped"] == 0 and
                      st["delivered"] == len(keys[ev]), (ev, st))
            check(h.alive(), "host died")
        finally:
            col.close()
            h.cleanup()
    runner.run(name, body)


def test_autoscale(runner):
    name = ("kafka.autoscale E_CORE_PROC_AUTO_SCALE (workers scaling up under load): "
            "byte-identical to udp")
    if not runner.wanted(name):
        return

    def body():
        import threading
        MOCK_CLUSTER.need()
        topic = MOCK_CLUSTER.topic("autoscale")
        with open(CFG, encoding="utf-8") as f:
            text = f.read()
        # the UDP workers of test/cfg/events-autoscale.cfg
        check("udp_workers = 2\n" in text, "kafka.cfg has no udp_workers = 2")
        text = text.replace("udp_workers = 2\n", (
            "auto_scaling_profile = PROFILE_REF\n"
            "     scale up to 4 on 70% for 2 cycles within 3\n"
            "     scale down to 1 on 10% for 2 cycles\n"
            "udp_workers = 2 use_auto_scaling_profile PROFILE_REF\n"))
        col = Collector()
        stop = threading.Event()
        threads = []
        h = khost("kscale", cfg=text)
        try:
            h.start()
            subscribe(h, "E_CORE_PROC_AUTO_SCALE", col.sock)
            subscribe(h, "E_CORE_PROC_AUTO_SCALE",
                      "kafka:%s/%s?key=callid" % (MOCK_CLUSTER.boot, topic))

            def sender():
                sk = H.sip_socket()
                lp = sk.getsockname()[1]
                sk.settimeout(2.0)
                while not stop.is_set():
                    data, _, _ = H.sip_options("slow", h.sip_port, lp)
                    try:
                        sk.sendto(data, ("127.0.0.1", h.sip_port))
                        sk.recv(65535)
                    except OSError:
                        pass
                sk.close()
            for _ in range(10):
                t = threading.Thread(target=sender, daemon=True)
                t.start()
                threads.append(t)
            deadline = time.monotonic() + 12 * H.SLOW
            while time.monotonic() < deadline:
                st = sub_stat(h, "E_CORE_PROC_AUTO_SCALE")
                if st["delivered"] >= 1:
                    break
                time.sleep(0.2)
            stop.set()
            for t in threads:
                t.join(5)
            time.sleep(0.5)
            udp = col.drain()
            check(udp, "no E_CORE_PROC_AUTO_SCALE within 12 s of load")
            recs = consume(topic, want=len(udp))
            check([v for _, v in recs][:len(udp)] == udp, "kafka %s\nudp   %s" % (recs, udp))
            check(all(k == "" for k, _ in recs), "keys %s (raised by the timer)" % recs)
            check(json.loads(udp[0])["params"]["scale"] == "up", udp[0])
        finally:
            stop.set()
            col.close()
            h.cleanup()
    runner.run(name, body)


def test_order(runner):
    name = "kafka.order 2,500 events arrive in order, delivered counted (subscriber_stats, statistics)"
    if not runner.wanted(name):
        return

    def body():
        MOCK_CLUSTER.need()
        topic = MOCK_CLUSTER.topic("order")
        n = 2500
        with khost("korder") as h:
            subscribe(h, "E_REF_SCRIPT", "kafka:%s/%s" % (MOCK_CLUSTER.boot, topic))
            r = h.result("testmod:raise_burst", {"event": "E_REF_SCRIPT", "count": n})
            check(r["raised"] == n and r["failed"] == 0, r)
            st = wait_stat(h, "E_REF_SCRIPT",
                           lambda s: s["inflight"] == 0 and s["queued"] == 0, 30)
            check(st["delivered"] == n and st["failed"] == 0 and st["dropped"] == 0, st)
            recs = consume(topic, want=n, timeout=20)
            seqs = []
            for _, v in recs:
                seqs.append(json.loads(v)["params"]["seq"])
            check(len(seqs) == n, "%d records, %d raised" % (len(seqs), n))
            check(seqs == list(range(n)) or seqs == list(range(1, n + 1)),
                  "out of order: first differences %s" %
                  [(i, s) for i, s in enumerate(seqs) if s != seqs[0] + i][:5])
            g = h.result("statistics:get", {"statistics": ["evi:"]})
            key = "evi:delivered/E_REF_SCRIPT/kafka"
            check(g.get(key) == n, (key, {k: v for k, v in g.items() if "kafka" in k}))
    runner.run(name, body)


def test_outage(runner):
    name = ("kafka.outage broker down: SIP all answered, events kept; up: "
            "delivered within seconds, in order, none lost")
    if not runner.wanted(name):
        return

    def body():
        MOCK_CLUSTER.need()
        topic = MOCK_CLUSTER.topic("outage")
        with khost("koutage") as h:
            subscribe(h, "E_REF_SCRIPT", "kafka:%s/%s" % (MOCK_CLUSTER.boot, topic))
            raise_n(h, 5, 0)
            st = wait_stat(h, "E_REF_SCRIPT", lambda s: s["delivered"] == 5)
            check(st["delivered"] == 5, st)
            MOCK_CLUSTER.cmd("down")
            try:
                time.sleep(0.5)
                raise_n(h, 50, 5)
                took = options_all_answered(h, 100)
                check(took < 10, "100 OPTIONS took %.1f s during the outage" % took)
                time.sleep(1)
                st = sub_stat(h, "E_REF_SCRIPT")
                check(st["delivered"] == 5 and st["inflight"] == 50, st)
            finally:
                MOCK_CLUSTER.cmd("up")
            t0 = time.monotonic()
            st = wait_stat(h, "E_REF_SCRIPT", lambda s: s["delivered"] == 55, 20)
            took = time.monotonic() - t0
            check(st["delivered"] == 55 and st["failed"] == 0 and st["dropped"] == 0, st)
            check(took < 10, "delivery resumed only after %.1f s" % took)
            recs = consume(topic, want=55)
            check(ns_of(recs) == list(range(55)), ns_of(recs))
            # the outage and the recovery, each logged once
            log = h.log()
            broke = len(re.findall(r"kafka:[^ ]*/%s: (connection to the Kafka brokers "
                                   r"broken|delivery failing)" % re.escape(topic), log))
            back = len(re.findall(r"kafka:[^ ]*/%s: messages are delivered again"
                                  % re.escape(topic), log))
            check(broke == 1 and back == 1, "outage logged %d time(s), recovery %d:\n%s"
                  % (broke, back, h.log_tail(20)))
            check(h.alive(), "host died")
            print("    (delivery resumed %.1f s after up)" % took)
    runner.run(name, body)


def test_backlog(runner):
    name = ("kafka.backlog backlog_events 50, broker down: the overflow is counted "
            "dropped; a g. property overrides it")
    if not runner.wanted(name):
        return

    def body():
        MOCK_CLUSTER.need()
        topic = MOCK_CLUSTER.topic("backlog")
        topic2 = MOCK_CLUSTER.topic("backlog-over")
        with khost("kbacklog", extra_modules='modparam("event_kafka", "backlog_events", 50)') as h:
            mine = "kafka:%s/%s" % (MOCK_CLUSTER.boot, topic)
            subscribe(h, "E_REF_SCRIPT", mine)
            # a g. property overrides the modparam for its socket
            over = "kafka:%s/%s?g.queue.buffering.max.messages=200" % (MOCK_CLUSTER.boot, topic2)
            subscribe(h, "E_REF_SCRIPT", over)
            raise_n(h, 1, 0)
            wait_stat(h, "E_REF_SCRIPT", lambda s: s["delivered"] == 1, prefix=mine)
            wait_stat(h, "E_REF_SCRIPT", lambda s: s["delivered"] == 1, prefix=over)
            MOCK_CLUSTER.cmd("down")
            try:
                time.sleep(0.5)
                r = h.result("testmod:raise_burst", {"event": "E_REF_SCRIPT", "count": 300})
                check(r["raised"] == 300, r)
                took = options_all_answered(h, 30)
                st = wait_stat(h, "E_REF_SCRIPT", lambda s: s["queued"] == 0, prefix=mine)
                check(st["dropped"] >= 250 and st["inflight"] <= 50, st)
                so = wait_stat(h, "E_REF_SCRIPT", lambda s: s["queued"] == 0, prefix=over)
                check(90 <= so["dropped"] <= 110 and so["inflight"] >= 190, so)
                check(took < 5, "30 OPTIONS took %.1f s" % took)
            finally:
                MOCK_CLUSTER.cmd("up")
            so = wait_stat(h, "E_REF_SCRIPT", lambda s: s["inflight"] == 0, 20, prefix=over)
            check(so["delivered"] + so["dropped"] == 301 and so["failed"] == 0, so)
            st = wait_stat(h, "E_REF_SCRIPT", lambda s: s["inflight"] == 0, 20, prefix=mine)
            check(st["delivered"] + st["dropped"] + st["failed"] == 301 and
                  st["failed"] == 0 and st["inflight"] == 0, st)
            recs = consume(topic, want=st["delivered"])
            check(len(recs) == st["delivered"], "%d records, delivered %d" %
                  (len(recs), st["delivered"]))
            check(h.alive(), "host died")
    runner.run(name, body)


def test_max_age(runner):
    name = ("kafka.max_age backlog_max_age 2: events older are dropped, never "
            "delivered after up; kafka_publish reports status -1")
    if not runner.wanted(name):
        return

    def body():
        MOCK_CLUSTER.need()
        topic = MOCK_CLUSTER.topic("age")
        ptopic = MOCK_CLUSTER.topic("agepub")
        with khost("kage", broker="%s/%s" % (MOCK_CLUSTER.boot, ptopic),
                   extra_modules='modparam("event_kafka", "backlog_max_age", 2)') as h:
            subscribe(h, "E_REF_SCRIPT", "kafka:%s/%s" % (MOCK_CLUSTER.boot, topic))
            raise_n(h, 3, 0)
            wait_stat(h, "E_REF_SCRIPT", lambda s: s["delivered"] == 3)
            MOCK_CLUSTER.cmd("down")
            try:
                time.sleep(0.5)
                t0 = time.monotonic()
                raise_n(h, 20, 100)
                rep, info = H.send_options(h, "kpub")
                ok200(rep, "kpub")
                st = wait_stat(h, "E_REF_SCRIPT", lambda s: s["dropped"] == 20, 10)
                aged = time.monotonic() - t0
                check(st["dropped"] == 20 and st["inflight"] == 0 and st["delivered"] == 3, st)
                # librdkafka scans for timed-out messages about once a second
                check(aged < 2 + 2.5 * H.SLOW, "dropped only after %.1f s" % aged)
                pat = "KREPORT id=<k1> status=<-1> key=<%s> msg=<pub %s>" % (
                    info["call_id"], info["call_id"])
                deadline = time.monotonic() + 8
                while pat not in h.log() and time.monotonic() < deadline:
                    time.sleep(0.1)
                check(pat in h.log(), "no %r in:\n%s" % (pat, h.log_tail(10)))
                g = h.result("statistics:get", {"statistics": ["kafka:"]})
                check(g.get("kafka:dropped/k1") == 1 and g.get("kafka:published/k1") == 1, g)
            finally:
                MOCK_CLUSTER.cmd("up")
            raise_n(h, 2, 200)
            st = wait_stat(h, "E_REF_SCRIPT", lambda s: s["delivered"] == 5, 15)
            check(st["delivered"] == 5 and st["dropped"] == 20, st)
            time.sleep(1)
            recs = consume(topic, want=5)
            check(ns_of(recs) == [0, 1, 2, 200, 201], ns_of(recs))
            check(consume(ptopic) == [], "the failed kafka_publish was delivered")
    runner.run(name, body)


def threads_of(h):
    return len(os.listdir("/proc/%d/task" % h.proc.pid))


def test_release(runner):
    name = ("kafka.release unsubscribing producers with an unreachable broker: MI "
            "answers at once, their threads go, the host keeps serving")
    if not runner.wanted(name):
        return

    def body():
        d = DeadListener()
        try:
            with khost("krel", broker="127.0.0.1:%d/t" % d.port) as h:
                base = threads_of(h)
                socks = ["kafka:127.0.0.1:%d/rel%d" % (d.port, i) for i in range(5)]
                for s in socks:
                    subscribe(h, "E_REF_SCRIPT", s)
                raise_n(h, 10)
                more = threads_of(h)
                check(more > base, "no producer threads? %d -> %d" % (base, more))
                worst = 0.0
                for s in socks:
                    t0 = time.monotonic()
                    r = h.call("evi:subscribe", ["E_REF_SCRIPT", s, 0])
                    worst = max(worst, time.monotonic() - t0)
                    check(r.get("result") == "OK", r)
                check(worst < 0.5, "an unsubscribe took %.2f s" % worst)
                # the host frees removed subscribers on its purge timer (5 s)
                deadline = time.monotonic() + 15 * H.SLOW
                while time.monotonic() < deadline and threads_of(h) > base:
                    time.sleep(0.2)
                check(threads_of(h) <= base, "threads %d, %d before subscribing"
                      % (threads_of(h), base))
                st = h.result("evi:subscriber_stats", ["E_REF_SCRIPT"])
                check("kafka:" not in json.dumps(st), st)
                g = h.result("statistics:get", {"statistics": ["evi:"]})
                check(g.get("evi:failed/E_REF_SCRIPT/kafka") == 50, g)
                ok200(H.send_options(h, "ping")[0])
                print("    (slowest unsubscribe %.3f s)" % worst)
        finally:
            d.close()
    runner.run(name, body)


def test_publish(runner):
    name = ("kafka.publish kafka_publish with key and report route (status 0, "
            "key, msg), without key; kafka:* statistics")
    if not runner.wanted(name):
        return

    def body():
        MOCK_CLUSTER.need()
        topic = MOCK_CLUSTER.topic("pub")
        with khost("kpub", broker="%s/%s" % (MOCK_CLUSTER.boot, topic)) as h:
            cids = []
            for _ in range(3):
                rep, info = H.send_options(h, "kpub")
                ok200(rep)
                cids.append(info["call_id"])
            rep, info = H.send_options(h, "kpubnokey")
            ok200(rep)
            nokey = info["call_id"]
            deadline = time.monotonic() + 10 * H.SLOW
            pats = ["KREPORT id=<k1> status=<0> key=<%s> msg=<pub %s>" % (c, c) for c in cids]
            while time.monotonic() < deadline and not all(p in h.log() for p in pats):
                time.sleep(0.1)
            for p in pats:
                check(p in h.log(), "no %r in:\n%s" % (p, h.log_tail(10)))
            recs = consume(topic, want=4)
            check(recs == [(c, "pub " + c) for c in cids] + [("", "nokey " + nokey)], recs)
            g = h.result("statistics:get", {"statistics": ["kafka:"]})
            check(g.get("kafka:published/k1") == 4 and g.get("kafka:delivered/k1") == 4 and
                  g.get("kafka:failed/k1") == 0 and g.get("kafka:dropped/k1") == 0, g)
            # the report route's xlog lines are not E_CORE_LOG events
            col = Collector()
            try:
                subscribe(h, "E_CORE_LOG", col.sock)
                ok200(H.send_options(h, "kpub")[0])
                time.sleep(1)
                got = col.drain()
                check(not [x for x in got if "KREPORT" in x], got)
            finally:
                col.close()
    runner.run(name, body)


def test_stop(runner):
    name0 = "kafka.stop"
    cases = [name0 + " broker down: start, serve, stop within 2 s",
             name0 + " unreachable broker (SYNs dropped): start, serve, stop within 2 s"]
    if not any(runner.wanted(c) for c in cases):
        return

    def with_broker(boot, label, before=None):
        topic = "stoptest"
        h = khost("kstop", broker="%s/%s" % (boot, topic),
                  extra_modules='modparam("event_kafka", "backlog_max_age", 60)')
        try:
            t0 = time.monotonic()
            h.start()
            started = time.monotonic() - t0
            for i in range(3):
                subscribe(h, "E_REF_SCRIPT", "kafka:%s/%s%d" % (boot, topic, i))
            subscribe(h, "E_REF_SCRIPT", "kafka:%s/%s?key=callid" % (boot, topic))
            raise_n(h, 20)
            for _ in range(5):
                ok200(H.send_options(h, "raise")[0])
                ok200(H.send_options(h, "kpub")[0])
            took = options_all_answered(h, 50)
            check(took < 5, "50 OPTIONS took %.1f s" % took)
            # the host's event sender hands the last ones over a moment later
            st = wait_stat(h, "E_REF_SCRIPT",
                           lambda s: s["queued"] == 0 and s["inflight"] == 25, timeout=5)
            check(st["delivered"] == 0 and st["inflight"] == 25, st)
            rc, stop = timed_stop(h)
            check(rc == 0, "exit code %s:\n%s" % (rc, h.log_tail(20)))
            check(stop < STOP_BOUND, "%s: stop took %.2f s" % (label, stop))
            print("    (%s: started in %.2f s, stopped in %.2f s, 5 producers "
                  "with 25 events and 5 publishes queued)" % (label, started, stop))
        finally:
            h.cleanup()

    def down():
        MOCK_CLUSTER.need()
        MOCK_CLUSTER.cmd("down")
        try:
            with_broker(MOCK_CLUSTER.boot, "broker down")
        finally:
            MOCK_CLUSTER.cmd("up")

    def unreachable():
        d = DeadListener()
        try:
            with_broker("127.0.0.1:%d" % d.port, "unreachable")
        finally:
            d.close()
    runner.run(cases[0], down)
    runner.run(cases[1], unreachable)


BAD_SOCKETS = [
    # (socket after "kafka:", what the log line must say)
    ("", "empty socket"),
    ("/t", "empty broker list"),
    ("127.0.0.1:9092", "no topic"),
    ("127.0.0.1:9092/", "empty topic"),
    ("127.0.0.1/t", "expected host:port"),
    ("127.0.0.1:0/t", "port out of range"),
    ("127.0.0.1:99999/t", "port out of range"),
    ("127.0.0.1:9x/t", "bad port"),
    ("127.0.0.1:9092,/t", "empty entry in the broker list"),
    (",127.0.0.1:9092/t", "empty entry in the broker list"),
    ("[::1:9092/t", "expected host:port or [ipv6]:port"),
    ("127.0.0.1:9092/bad*topic", "bad topic name"),
    ("127.0.0.1:9092/t?", "empty property list"),
    ("127.0.0.1:9092/t?foo=1", "unknown property 'foo'"),
    ("127.0.0.1:9092/t?linger.ms=5", "unknown property 'linger.ms'"),
    ("127.0.0.1:9092/t?key=ruri", "the only key is key=callid"),
    ("127.0.0.1:9092/t?g.linger.ms", "bad property 'g.linger.ms'"),
    ("127.0.0.1:9092/t?g.linger.ms=1&&key=callid", "bad property ''"),
    ("127.0.0.1:9092/t?g.no.such.thing=1",
     "property 'g.no.such.thing' refused by librdkafka: No such configuration property"),
    ("127.0.0.1:9092/t?g.linger.ms=banana",
     "property 'g.linger.ms' refused by librdkafka: Invalid value"),
    ("127.0.0.1:9092/t?t.acks=sometimes",
     "property 't.acks' refused by librdkafka: Invalid value"),
    ("127.0.0.1:9092/t?t.no.such.thing=1",
     "property 't.no.such.thing' refused by librdkafka: No such configuration property"),
    ("127.0.0.1:9092/t?t.acks=0",
     "librdkafka refused the configuration: "),
]


def test_bad(runner):
    name = ("kafka.bad malformed sockets and rejected properties: MI error, a clear "
            "log line, host keeps serving SIP and MI")
    if runner.wanted(name):
        def body():
            with khost("kbad", broker="127.0.0.1:%d/t" % H.unused_port()) as h:
                for sock, why in BAD_SOCKETS:
                    r = h.call("evi:subscribe", ["E_REF_SCRIPT", "kafka:" + sock])
                    check(r.get("error") == {"code": 400, "message": "Bad parameter value"},
                          (sock, r))
                    line = "bad kafka socket 'kafka:%s': " % sock
                    lines = [ln for ln in h.log().splitlines() if line in ln]
                    check(lines and why in lines[-1],
                          "%r: no log line with %r / %r:\n%s" % (sock, line, why,
                                                                h.log_tail(5)))
                # garbage never crashes
                for junk in ("kafka:\x01\x02", "kafka:" + "a" * 5000 + ":1/t",
                             "kafka:h:1/" + "t" * 300, "kafka:h:1/t?g.=1",
                             "kafka:h:1/t?=1", "kafka:h:1/t?t.=", "kafka:[]:1/t",
                             "kafka:h:1/t?key=callid&key=callid&g.acks=all"):
                    h.call("evi:subscribe", ["E_REF_SCRIPT", junk])
                subs = json.dumps(h.result("evi:subscribers", ["E_REF_SCRIPT"]))
                check(subs.count("kafka:") <= 1, subs)
                ok200(H.send_options(h, "ping")[0])
                check(h.result("core:version")["Server"], "MI")
                check(h.alive(), "host died")
        runner.run(name, body)

    cases = [
        ("unknown broker id", 'route[bad] {\n\tkafka_publish("nope", "x");\n}\n', "",
         "unknown broker id 'nope'"),
        ("missing report route",
         'route[bad] {\n\tkafka_publish("k1", "x", "k", "no_such_route");\n}\n', "",
         "report route 'no_such_route' is not defined"),
        ("rejected broker_id property", "",
         'modparam("event_kafka", "broker_id", "[k2]127.0.0.1:9092/t?g.no.such=1")',
         "property 'g.no.such' refused by librdkafka: No such configuration property"),
        ("broker_id without [ID]", "",
         'modparam("event_kafka", "broker_id", "127.0.0.1:9092/t")',
         "expected [ID]host:port/topic"),
        ("duplicate broker_id", "",
         'modparam("event_kafka", "broker_id", "[k1]127.0.0.1:9092/t")',
         "id [k1] defined twice"),
        ("unknown modparam", "", 'modparam("event_kafka", "backlog_messages", 10)',
         "backlog_messages"),
        ("backlog_events 0", "", 'modparam("event_kafka", "backlog_events", 0)',
         "backlog_events must be a positive"),
    ]
    for what, routes, mods, want in cases:
        cname = "kafka.bad startup error: %s" % what
        if not runner.wanted(cname):
            continue

        def body(routes=routes, mods=mods, want=want):
            h = khost("kcfg", broker="127.0.0.1:%d/t" % H.unused_port(),
                      routes=routes, extra_modules=mods)
            try:
                rc, out = H.run_check_cfg(h.cfg)
                check(rc != 0, "accepted:\n%s" % out)
                check(want in out, "no %r in:\n%s" % (want, out))
            finally:
                h.cleanup()
        runner.run(cname, body)


def run(runner):
    tests = (test_bodies, test_autoscale, test_order, test_outage, test_backlog, test_max_age,
             test_publish, test_release, test_stop, test_bad)
    if not runner.wanted("kafka."):
        # a -k pattern naming one test still reaches it below
        if not (runner.pattern and "kafka" in runner.pattern):
            return
    MOCK_CLUSTER.start()
    try:
        for t in tests:
            t(runner)
    finally:
        MOCK_CLUSTER.stop()
