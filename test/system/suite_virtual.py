"""System tests of event_virtual (issue 11): `virtual:POLICY member ...`.

Bad sockets refused with the reference's MI error (where the reference
accepts most of them and loses every event at raise time); PARALLEL and
ROUND-ROBIN over two UDP collectors; FAILOVER past a unix path nobody
reads (an immediate failure) and past a TCP port that refuses (a failure
known only later, on event_stream's thread), with the failed
member skipped for failover_timeout and nothing lost; per-member counters
in evi:subscriber_stats and the statistics; the listing as the reference
prints it.
"""

import json
import os
import socket
import time

import harness as H
from harness import check

CFG = os.path.join(H.CFG_DIR, "events.cfg")
EV = "E_CORE_THRESHOLD"


class VHost(H.Host):
    def __init__(self, name):
        super().__init__(CFG, subs={
            "@EXTRA_MODULES@": 'loadmodule "event_virtual.so"\n'
                               'modparam("event_virtual", "failover_timeout", 1)\n',
            "@EVENT_ROUTES@": ""}, name=name)

    def subscribe(self, sock, expire=None):
        p = [EV, sock] + ([expire] if expire is not None else [])
        return self.call("evi:subscribe", p)

    def raise_n(self, n, start=0):
        for i in range(start, start + n):
            r = self.call("evi:raise", {"event": EV, "params": json.dumps({"n": i})})
            check(r.get("result") == "OK", r)

    def sub_stats(self, prefix):
        for st in self.result("evi:subscriber_stats", {"event": EV})["Subscribers"]:
            if st["socket"].startswith(prefix):
                return st
        return None


class Collector:
    def __init__(self):
        self.s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.s.bind(("127.0.0.1", 0))
        self.port = self.s.getsockname()[1]
        self.s.settimeout(0.3)

    def sock(self):
        return "udp:127.0.0.1:%d" % self.port

    def drain(self, settle=0.3):
        got = []
        deadline = time.monotonic() + settle
        while True:
            try:
                d = self.s.recv(65535)
                got.append(json.loads(d)["params"]["n"])
                deadline = time.monotonic() + settle
            except socket.timeout:
                if time.monotonic() > deadline:
                    break
        return got

    def close(self):
        self.s.close()


def test_bad_sockets(runner):
    name = "virtual.bad sockets refused (400 Bad parameter value), nothing subscribed"
    if not runner.wanted(name):
        return

    def body():
        with VHost("vbad") as h:
            good = "udp:127.0.0.1:%d" % H.unused_port()
            for sock in ("virtual:parallel " + good,       # lower case
                         "virtual:RANDOM " + good,         # no such policy
                         "virtual:PARALLEL",               # no member
                         "virtual:PARALLEL  \t",           # blanks only
                         "virtual:PARALLEL foo:1.2.3.4:5",  # no such transport
                         "virtual:PARALLEL udp:nonsense",   # a member that does not parse
                         "virtual:FAILOVER virtual:PARALLEL " + good):  # nested
                r = h.subscribe(sock)
                check(r.get("error") == {"code": 400, "message": "Bad parameter value"},
                      (sock, r))
            subs = h.result("evi:subscribers", [EV])
            check("virtual" not in json.dumps(subs), subs)
            check(h.alive(), "host died")
    runner.run(name, body)


def test_parallel_round_robin(runner):
    name = "virtual.PARALLEL and ROUND-ROBIN over two UDP collectors, counters per member"
    if not runner.wanted(name):
        return

    def body():
        with VHost("vpar") as h:
            a, b, c, d = Collector(), Collector(), Collector(), Collector()
            try:
                par = "virtual:PARALLEL %s\t%s" % (a.sock(), b.sock())
                check(h.subscribe(par).get("result") == "OK", "parallel")
                rr = "virtual:ROUND-ROBIN %s %s" % (c.sock(), d.sock())
                check(h.subscribe(rr, 120).get("result") == "OK", "round-robin")
                h.raise_n(6)
                check(a.drain() == list(range(6)), "PARALLEL a")
                check(b.drain() == list(range(6)), "PARALLEL b")
                check(c.drain() == [0, 2, 4], "ROUND-ROBIN c")
                check(d.drain() == [1, 3, 5], "ROUND-ROBIN d")
                # the listing, as the reference prints it (tabs as spaces)
                subs = json.dumps(h.result("evi:subscribers", [EV]))
                check("virtual:PARALLEL %s %s" % (a.sock(), b.sock()) in subs, subs)
                check('"expire": 120' in subs, subs)
                st = h.sub_stats("virtual:PARALLEL")
                check(st["delivered"] == 6 and st["failed"] == 0, st)
                check([m["delivered"] for m in st["members"]] == [6, 6], st)
                st = h.sub_stats("virtual:ROUND-ROBIN")
                check(st["delivered"] == 6, st)
                check([m["delivered"] for m in st["members"]] == [3, 3], st)
                # a member that fails never holds the others back
                dead = "unix:" + os.path.join(h.run_dir, "gone.sock")
                pd = "virtual:PARALLEL %s %s" % (dead, a.sock())
                check(h.subscribe(pd).get("result") == "OK", "parallel with a dead member")
                h.raise_n(4, 10)
                got = a.drain()
                check(sorted(got) == sorted(list(range(10, 14)) * 2), got)
                st = h.sub_stats("virtual:PARALLEL " + dead)
                check(st["delivered"] == 4 and [m["failed"] for m in st["members"]] == [4, 0],
                      st)
                b.drain()
                c.drain()
                d.drain()
                g = h.result("statistics:get", {"statistics": ["evi:"]})
                key = "evi:member_delivered/%s/%s/%s" % (EV, "virtual:" + rr[8:], c.sock())
                check(g.get(key) == 5, (key, sorted(k for k in g if "member" in k)))
            finally:
                for x in (a, b, c, d):
                    x.close()
    runner.run(name, body)


def test_failover(runner):
    name = ("virtual.FAILOVER past an immediate failure (unix, nobody) and a late one "
            "(TCP refused): nothing lost, skipped for failover_timeout")
    if not runner.wanted(name):
        return

    def body():
        with VHost("vfail") as h:
            col = Collector()
            try:
                dead = "unix:" + os.path.join(h.run_dir, "nobody.sock")
                fo = "virtual:FAILOVER %s %s" % (dead, col.sock())
                check(h.subscribe(fo).get("result") == "OK", "failover")
                h.raise_n(5)
                check(col.drain() == list(range(5)), "immediate failover")
                st = h.sub_stats("virtual:FAILOVER " + dead)
                check(st["delivered"] == 5 and st["failed"] == 0, st)
                m = st["members"]
                # the dead member failed once, then was skipped
                check(m[0]["failed"] == 1 and m[0]["skipped"] and m[1]["delivered"] == 5, m)
                time.sleep(1.2)   # failover_timeout 1 s: tried again, fails again
                h.raise_n(1, 5)
                check(col.drain() == [5], "after the timeout")
                st = h.sub_stats("virtual:FAILOVER " + dead)
                check(st["members"][0]["failed"] == 2, st)
                # a TCP member nobody listens on: event_stream connects on its
                # own thread and learns of the refusal later; the event then
                # goes to the next member, from that thread
                fo2 = "virtual:FAILOVER tcp:127.0.0.1:%d %s" % (H.unused_port(), col.sock())
                check(h.subscribe(fo2).get("result") == "OK", "failover tcp")
                h.raise_n(3, 100)
                # event_stream settles the refused connection's events on its
                # own thread (after its connect attempt): wait for that
                deadline = time.monotonic() + 8
                while time.monotonic() < deadline:
                    st = h.sub_stats("virtual:FAILOVER tcp:")
                    if st["inflight"] == 0 and st["delivered"] == 3:
                        break
                    time.sleep(0.1)
                got = col.drain(0.5)
                # the first subscriber's copies plus the second's (each once)
                check(sorted(got) == [100, 100, 101, 101, 102, 102], got)
                check(st["delivered"] == 3 and st["failed"] == 0 and st["inflight"] == 0, st)
                check(st["members"][1]["delivered"] == 3, st)
                check(h.alive(), "host died")
            finally:
                col.close()
    runner.run(name, body)


def run(runner):
    if not os.path.exists(os.path.join(H.BUILD_DIR, "modules", "event_virtual.so")):
        runner.skip("virtual", "event_virtual.so not built")
        return
    test_bad_sockets(runner)
    test_parallel_round_robin(runner)
    test_failover(runner)
