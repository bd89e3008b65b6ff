"""System tests of the profiling issue: E_PROFILING_PROC / E_PROFILING_SCRIPT,
`core:profiling_proc`, `event_profiling:stats`, tools/prof2trace and
tools/prof-collector.

Spec §4 (events, parameters, switching, what produces events, depth and
deferral rules, the example session), decisions §14/§19/§21/§22/§29.
Every payload is checked over a UDP collector (event_datagram) AND a
flatstore file (event_flatstore) subscribed to the same event.
"""

import json
import os
import re
import select
import signal
import socket
import subprocess
import sys
import tempfile
import time

import harness as H
from harness import check, TestFailure

CFG = os.path.join(H.CFG_DIR, "profiling.cfg")
PROC, SCRIPT = "E_PROFILING_PROC", "E_PROFILING_SCRIPT"
PARAMS = ["sec", "usec", "session", "verb", "name", "type", "depth",
          "file", "line", "status"]
PROF2TRACE = os.path.join(H.ROOT, "tools", "prof2trace")
COLLECTOR = os.path.join(H.ROOT, "tools", "prof-collector")
TIMER_ROUTE = ("timer_route[prof_tick, 1] {\n"
               "\t$var(t) = 1;                       # TICK\n"
               "}\n")
INVALID = -32602


# ------------------------------------------------------------ helpers

class ProfHost(H.Host):
    def __init__(self, name="prof", timer=False, extra_modules=""):
        self.tcp_port = H.free_port(socket.SOCK_STREAM)
        super().__init__(CFG, subs={
            "@TCP_PORT@": str(self.tcp_port),
            "@TIMER_ROUTE@": TIMER_ROUTE if timer else "",
            "@EXTRA_MODULES@": extra_modules}, name=name)

    def marker_line(self, marker):
        for i, ln in enumerate(self.cfg_text.splitlines(), 1):
            if "# " + marker in ln:
                return i
        raise TestFailure("marker %s not in the cfg" % marker)

    def procs(self):
        r = self.result("core:profiling_proc", {})
        check(isinstance(r, dict) and isinstance(r.get("Processes"), list),
              "profiling_proc list: %r" % r)
        return r["Processes"]

    def pid_of(self, type_prefix):
        return [p["PID"] for p in self.procs()
                if p["Type"].startswith(type_prefix)]

    def set_level(self, level, **target):
        params = dict(target)
        params["level"] = level
        r = self.result("core:profiling_proc", params)
        check(r == "OK", "profiling_proc %s -> %r" % (params, r))

    def subscribe(self, event, sock, expire=60):
        r = self.result("evi:subscribe", [event, sock, expire])
        check(r == "OK", "evi:subscribe %s %s -> %r" % (event, sock, r))


class Sink:
    """A UDP collector: event_datagram payloads, one per datagram."""

    def __init__(self):
        self.s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
        self.s.bind(("127.0.0.1", 0))
        self.port = self.s.getsockname()[1]
        self.sock = "udp:127.0.0.1:%d" % self.port
        self.raw = []

    def collect(self, quiet=0.4, timeout=3.0, want=None):
        """Reads until `quiet` s without a datagram (after `want` records
        when given) or `timeout`. Returns the parsed payloads."""
        out = []
        deadline = time.monotonic() + timeout * H.SLOW
        while time.monotonic() < deadline:
            wait = quiet if (want is None or len(out) >= want) else \
                deadline - time.monotonic()
            r, _, _ = select.select([self.s], [], [], max(0.0, wait))
            if not r:
                if want is None or len(out) >= want:
                    break
                continue
            d = self.s.recv(65535).decode("utf-8", "replace")
            self.raw.append(d)
            try:
                out.append(json.loads(d))
            except ValueError:
                raise TestFailure("not JSON: %r" % d)
        return out

    def clear(self):
        self.collect(quiet=0.2, timeout=1.0)

    def close(self):
        self.s.close()


def params_of(recs, event=None, session=None):
    out = []
    for r in recs:
        if event and r.get("method") != event:
            continue
        p = r.get("params")
        if session is not None and p.get("session") != session:
            continue
        out.append(p)
    return out


def read_flat(path, want, timeout=3.0):
    """Flatstore lines -> list of (event, dict of params), once `want`
    lines are there (or the timeout)."""
    deadline = time.monotonic() + timeout * H.SLOW
    lines = []
    while time.monotonic() < deadline:
        try:
            with open(path, encoding="utf-8") as f:
                lines = f.read().splitlines()
        except OSError:
            lines = []
        if len(lines) >= want:
            time.sleep(0.2)
            with open(path, encoding="utf-8") as f:
                lines = f.read().splitlines()
            break
        time.sleep(0.05)
    out = []
    for ln in lines:
        cols = ln.split(",")
        check(len(cols) == 11, "flatstore line with %d columns: %r"
              % (len(cols), ln))
        out.append((cols[0], dict(zip(PARAMS, cols[1:]))))
    return out


def check_shape(p, event):
    """Parameters present, in order, typed (spec §4.1)."""
    verb = p.get("verb")
    check(verb in ("start", "enter", "exit", "end"), "verb %r" % verb)
    want = ["sec", "usec", "session", "verb", "name", "type", "depth"]
    if verb in ("enter", "exit"):
        want += ["file", "line"]
    if verb in ("exit", "end"):
        want += ["status"]
    check(list(p) == want, "%s %s params %s, expected %s"
          % (event, verb, list(p), want))
    for k in ("sec", "usec", "session", "type", "depth", "line", "status"):
        if k in p:
            check(isinstance(p[k], int) and not isinstance(p[k], bool),
                  "%s is not an int: %r" % (k, p))
    for k in ("verb", "name", "file"):
        if k in p:
            check(isinstance(p[k], str), "%s is not a string: %r" % (k, p))
    check(0 <= p["usec"] < 1000000, "usec %r" % p["usec"])
    check(abs(p["sec"] - time.time()) < 60, "sec %r is not now" % p["sec"])


def check_payload_text(raw, event):
    """Compact JSON, no id, members in order (spec §2.6)."""
    check(raw.startswith('{"jsonrpc":"2.0","method":"%s","params":{"sec":'
                         % event), "payload %r" % raw)
    j = json.loads(raw)
    check(json.dumps(j, separators=(",", ":")) == raw,
          "not compact: %r" % raw)


def flat_matches(flat, udp, event):
    """The flatstore lines carry the very values the UDP payloads had."""
    check(len(flat) == len(udp), "flatstore has %d %s lines, UDP %d:\n%s"
          % (len(flat), event, len(udp), "\n".join(map(str, flat))))
    for (ev, cols), p in zip(flat, udp):
        check(ev == event, "flatstore event %r" % ev)
        for k in PARAMS:
            exp = "" if k not in p else str(p[k])
            check(cols[k] == exp, "flatstore column %s = %r, UDP %r (%s)"
                  % (k, cols[k], exp, cols))


def ts(p):
    return p["sec"] * 1000000 + p["usec"]


def check_depth_rules(ps):
    """PROC depth rules (spec §4.3): start 0, enter +1, exit -1, end as is."""
    d = None
    for p in ps:
        v = p["verb"]
        if v == "start":
            d = 0
        elif d is None:
            raise TestFailure("session does not begin with start: %s" % ps)
        elif v == "enter":
            d += 1
        elif v == "exit":
            d -= 1
        check(p["depth"] == d, "depth %s, expected %s at %s" % (
            p["depth"], d, p))
    check(ps and ps[-1]["verb"] == "end" and ps[-1]["depth"] == 0,
          "session does not end at depth 0: %s" % ps)


def summary(ps):
    return [(p["verb"], p["name"], p["depth"]) for p in ps]


def wait_for(fn, timeout=2.0):
    deadline = time.monotonic() + timeout * H.SLOW
    while True:
        v = fn()
        if v or time.monotonic() > deadline:
            return v
        time.sleep(0.05)


def feature_present(h):
    j = h.call("evi:list")
    names = [e["name"] for e in j.get("result", {}).get("Events", [])]
    return PROC in names and SCRIPT in names


def need_feature(h):
    if not feature_present(h):
        raise TestFailure("E_PROFILING_PROC/E_PROFILING_SCRIPT are not "
                          "published (event_profiling missing)")


def tcp_options(h, user="tcp", close=True):
    s = socket.create_connection(("127.0.0.1", h.tcp_port), timeout=3)
    lport = s.getsockname()[1]
    data, cid, _ = H.sip_options(user, h.tcp_port, lport)
    data = data.replace(b"SIP/2.0/UDP", b"SIP/2.0/TCP")
    s.sendall(data)
    buf = b""
    while b"\r\n\r\n" not in buf:
        d = s.recv(65535)
        if not d:
            break
        buf += d
    if close:
        s.close()
        return buf.decode("utf-8", "replace"), None
    return buf.decode("utf-8", "replace"), s


UDP_SESSION = [("start", None, 0), ("enter", "udp proto reading", 1),
               ("enter", "receive_msg", 2), ("enter", "request_script", 3),
               ("exit", "request_script", 2), ("exit", "receive_msg", 1),
               ("exit", "reading done", 0), ("end", None, 0)]


def check_sip_session(ps, start_name, ptype, proto):
    got = summary(ps)
    exp = [(v, n if n else start_name, d) for v, n, d in UDP_SESSION]
    if proto != "udp":
        exp[1] = ("enter", got[1][1] if len(got) > 1 else "?", 1)
        exp[6] = ("exit", got[6][1] if len(got) > 6 else "?", 0)
        check(len(got) == 8 and got[1][1] in ("%s proto reading" % proto,
                                              "%s proto handling" % proto)
              and got[6][1] in ("reading done", "handling done"),
              "TCP reading/handling names: %s" % got)
    check(got == exp, "PROC session:\n      expected %s\n      actual   %s"
          % (exp, got))
    for p in ps:
        check_shape(p, PROC)
        check(p["type"] == ptype, "type %r, expected %d" % (p["type"], ptype))
    check(len({p["session"] for p in ps}) == 1, "one session id")
    check([ts(p) for p in ps] == sorted(ts(p) for p in ps),
          "timestamps go backwards: %s" % [ts(p) for p in ps])
    check(ps[4]["status"] == 1, "request_script status (script result) "
          "%r, expected 1" % ps[4]["status"])
    check(ps[5]["status"] == 0, "receive_msg exit status %r" % ps[5])
    check_depth_rules(ps)


# ------------------------------------------------------------ tests

def t_mi_recipes(h):
    need_feature(h)
    raw = h.mi('{"jsonrpc":"2.0","method":"core:profiling_proc","id":1}')
    check(re.fullmatch(r'\{"jsonrpc":"2\.0","result":\{"Processes":\[('
                       r'\{"ID":\d+,"PID":\d+,"Profiling level":0,"Type":'
                       r'"[^"]+"\},?)+\]\},"id":1\}', raw or ""),
          "profiling_proc list: %r" % raw)
    procs = h.procs()
    ps = h.result("core:ps")["Processes"]
    check([p["ID"] for p in procs] == list(range(len(procs))),
          "IDs not dense: %s" % procs)
    check([(p["ID"], p["PID"], p["Type"]) for p in procs][:len(ps)] ==
          [(p["ID"], p["PID"], p["Type"]) for p in ps],
          "profiling_proc vs ps:\n%s\n%s" % (procs, ps))
    types = [p["Type"] for p in procs]
    for t in ("attendant", "MI Datagram", "MI FIFO", "timer",
              "SIP receiver udp:127.0.0.1:%d" % h.sip_port, "TCP receiver",
              "TCP main"):
        check(t in types, "%s missing from %s" % (t, types))
    # the unique local name works too (no 3.x alias exists)
    check("Processes" in h.result("profiling_proc", {}), "local name")
    # one process by id / pid
    tmr = [p for p in procs if p["Type"] == "timer"][0]
    check(h.result("core:profiling_proc", {"id": tmr["ID"]}) ==
          {"Processes": [tmr]}, "by id")
    check(h.result("core:profiling_proc", {"pid": tmr["PID"]}) ==
          {"Processes": [tmr]}, "by pid")
    # set all, one by id, one by pid, clamping
    h.set_level(1)
    check({p["Profiling level"] for p in h.procs()} == {1}, "all to 1")
    h.set_level(3, id=tmr["ID"])
    lv = {p["ID"]: p["Profiling level"] for p in h.procs()}
    check(lv[tmr["ID"]] == 3 and all(v == 1 for k, v in lv.items()
                                     if k != tmr["ID"]), lv)
    udp = [p for p in procs if p["Type"].startswith("SIP receiver")][0]
    h.set_level(2, pid=udp["PID"])
    check(h.result("core:profiling_proc", {"pid": udp["PID"]})
          ["Processes"][0]["Profiling level"] == 2, "by pid")
    h.set_level(7)
    check({p["Profiling level"] for p in h.procs()} == {3}, "7 clamps to 3")
    h.set_level(-4)
    check({p["Profiling level"] for p in h.procs()} == {0}, "-4 clamps to 0")
    h.set_level(99, id=tmr["ID"])
    check(h.result("core:profiling_proc", {"id": tmr["ID"]})
          ["Processes"][0]["Profiling level"] == 3, "99 clamps to 3")
    h.set_level(0)

    def err(params, data):
        req = json.dumps({"jsonrpc": "2.0", "method": "core:profiling_proc",
                          "params": params, "id": 9}, separators=(",", ":"))
        exp = ('{"jsonrpc":"2.0","error":{"code":-32602,"message":"Invalid '
               'params","data":"%s"},"id":9}' % data)
        act = h.mi(req)
        check(act == exp, "error" + H.diff_msg(req, exp, act))

    n = len(procs)
    err({"id": n}, "Bad process ID")
    err({"id": -1}, "Bad process ID")
    err({"id": n, "level": 1}, "Bad process ID")
    bad_pid = 1 if 1 not in [p["PID"] for p in procs] else 2
    err({"pid": bad_pid}, "Bad PID")
    err({"pid": bad_pid, "level": 2}, "Bad PID")
    # id and pid together match no recipe
    j = h.call("core:profiling_proc", {"id": 0, "pid": procs[0]["PID"]})
    check(j.get("error", {}).get("code") == INVALID, "id+pid: %s" % j)
    # positional calls are matched by count only (trap 23): {id}/{pid}/
    # {level} and {id,level}/{pid,level} are ambiguous
    amb = ('{"jsonrpc":"2.0","error":{"code":-32602,"message":"Invalid '
           'params","data":"Ambiguous call, use named parameters instead"},'
           '"id":9}')
    for params in ([1], [tmr["ID"], 2]):
        req = json.dumps({"jsonrpc": "2.0", "method": "core:profiling_proc",
                          "params": params, "id": 9}, separators=(",", ":"))
        act = h.mi(req)
        check(act == amb, "positional" + H.diff_msg(req, amb, act))
    check({p["Profiling level"] for p in h.procs()} == {0},
          "a positional call changed a level")
    h.set_level(0)
    names = h.result("core:which")
    for c in ("core:profiling_proc", "event_profiling:stats"):
        check(c in names, "which lacks %s" % c)


def t_udp_proc(h):
    need_feature(h)
    sink = Sink()
    flat = os.path.join(h.run_dir, "proc.flat")
    try:
        h.subscribe(PROC, sink.sock)
        h.subscribe(PROC, "flatstore:" + flat)
        # level 0: nothing at all
        rep, _ = H.send_options(h, "plain")
        check(rep and rep.startswith("SIP/2.0 200 OK"), rep)
        got = sink.collect(quiet=0.6)
        check(not got, "PROC events at level 0: %s" % got)
        h.set_level(1)
        rep, _ = H.send_options(h, "plain")
        check(rep and rep.startswith("SIP/2.0 200 OK"), rep)
        got = sink.collect(want=8)
        ps = params_of(got, PROC)
        check(len(ps) == len(got), "other events: %s" % got)
        udp_pids = h.pid_of("SIP receiver udp:")
        check(ps and ps[0]["session"] in udp_pids,
              "session %r is not a UDP worker's PID %s" % (
                  ps[0]["session"] if ps else None, udp_pids))
        check_sip_session(ps, "SIP receiver udp:127.0.0.1:%d" % h.sip_port,
                          1, "udp")
        for raw in sink.raw:
            check_payload_text(raw, PROC)
        flat_matches(read_flat(flat, len(ps)), ps, PROC)
        # back to 0: no event (reference seq 109)
        h.set_level(0)
        H.send_options(h, "plain")
        got = sink.collect(quiet=1.0)
        check(not got, "PROC events after level 0: %s" % got)
    finally:
        sink.close()


def script_expect(h, user):
    cfg = h.cfg
    first = h.marker_line("FIRST")
    if user != "sub":
        return [("start", "<root>", 1, None, None, None),
                ("enter", "<root>", 1, cfg, first, None),
                ("exit", "<root>", 1, cfg, first, 1),
                ("end", "<root>", 1, None, None, 1)]
    c1, c2 = h.marker_line("CALL-1"), h.marker_line("CALL-2")
    return [("start", "<root>", 1, None, None, None),
            ("enter", "<root>", 1, cfg, first, None),
            ("enter", "prof_a", 2, cfg, c1, None),
            ("enter", "prof_b", 3, cfg, c2, None),
            ("exit", "prof_b", 3, cfg, c2, 5),
            ("exit", "prof_a", 2, cfg, c1, 3),
            ("exit", "<root>", 1, cfg, first, 1),
            ("end", "<root>", 1, None, None, 1)]


def script_summary(ps):
    return [(p["verb"], p["name"], p["depth"], p.get("file"), p.get("line"),
             p.get("status")) for p in ps]


def t_udp_script(h):
    need_feature(h)
    sink = Sink()
    flat = os.path.join(h.run_dir, "script.flat")
    try:
        h.subscribe(SCRIPT, sink.sock)
        h.subscribe(SCRIPT, "flatstore:" + flat)
        sessions = []
        n = 0
        for user in ("plain", "sub"):
            rep, _ = H.send_options(h, user)
            check(rep and rep.startswith("SIP/2.0 200 OK"), rep)
            exp = script_expect(h, user)
            got = sink.collect(want=len(exp))
            ps = params_of(got, SCRIPT)
            check(len(ps) == len(got), "other events: %s" % got)
            check(script_summary(ps) == exp,
                  "SCRIPT records for %s:\n      expected %s\n      actual"
                  "   %s" % (user, exp, script_summary(ps)))
            for p in ps:
                check_shape(p, SCRIPT)
                check(p["type"] == 1, "type %r (REQUEST_ROUTE=1)" % p)
            sess = {p["session"] for p in ps}
            check(len(sess) == 1 and sess.pop() > 0,
                  "session (msg id) %s" % [p["session"] for p in ps])
            sessions.append(ps[0]["session"])
            n += len(ps)
            flat_all = read_flat(flat, n)
            flat_matches(flat_all[n - len(ps):], ps, SCRIPT)
        # msg ids are per worker thread, as OpenSIPS's per process counter
        # (spec §9: uniqueness across processes is not determined)
        for raw in sink.raw:
            check_payload_text(raw, SCRIPT)
        # PROC level changes nothing for SCRIPT; no PROC subscriber, no PROC
        h.set_level(3)
        H.send_options(h, "plain")
        got = sink.collect(want=4)
        check([r["method"] for r in got] == [SCRIPT] * 4, got)
        h.set_level(0)
        # unsubscribing (expire 0) is the off switch
        h.subscribe(SCRIPT, sink.sock, 0)
        h.subscribe(SCRIPT, "flatstore:" + flat, 0)
        time.sleep(1.1)
        H.send_options(h, "plain")
        got = sink.collect(quiet=0.8)
        check(not got, "SCRIPT events after unsubscribing: %s" % got)
    finally:
        sink.close()


TCP_SESSION = [("start", "TCP receiver", 0), ("enter", "tcp proto reading", 1),
               ("enter", "tcp proto handling", 2), ("enter", "receive_msg", 3),
               ("enter", "request_script", 4), ("exit", "request_script", 3),
               ("exit", "receive_msg", 2), ("exit", "handling done", 1),
               ("exit", "reading done", 0), ("end", "TCP receiver", 0)]


def split_sessions(ps):
    out, cur = [], None
    for p in ps:
        if p["verb"] == "start":
            cur = []
            out.append(cur)
        check(cur is not None, "record before start: %s" % p)
        cur.append(p)
    return out


def t_tcp_proc(h):
    """Spec §4.3: the UDP set plus `tcp proto handling`/`handling done`
    around each dispatched message; decisions §19: one session per
    message, however the reading is batched; a connect or a close is a
    wake-up without real work: nothing."""
    need_feature(h)
    sink = Sink()
    flat = os.path.join(h.run_dir, "tcp.flat")
    try:
        h.subscribe(PROC, sink.sock)
        h.subscribe(PROC, "flatstore:" + flat)
        h.set_level(1)
        tcp_pids = h.pid_of("TCP receiver")
        # connect and close without data: nothing
        c = socket.create_connection(("127.0.0.1", h.tcp_port), timeout=3)
        time.sleep(0.2)
        c.close()
        got = sink.collect(quiet=0.8)
        check(not got, "PROC records for a TCP connect/close without data: "
              "%s" % summary(params_of(got)))
        # one message, then the close (an empty read)
        rep, _ = tcp_options(h)
        check(rep.startswith("SIP/2.0 200 OK"), "TCP reply %r" % rep)
        got = sink.collect(want=10, quiet=0.8)
        ps = params_of(got, PROC)
        check(all(p["session"] in tcp_pids for p in ps),
              "PROC records from threads other than the TCP receiver: %s"
              % summary([p for p in ps if p["session"] not in tcp_pids]))
        check(summary(ps) == TCP_SESSION, "TCP session:\n      expected %s"
              "\n      actual   %s" % (TCP_SESSION, summary(ps)))
        for p in ps:
            check_shape(p, PROC)
            check(p["type"] == 2, "TCP type %r" % p)
        check(ps[5]["status"] == 1 and ps[6]["status"] == 0,
              "statuses %s" % [p.get("status") for p in ps])
        check_depth_rules(ps)
        # two messages in one write: two sessions
        s = socket.create_connection(("127.0.0.1", h.tcp_port), timeout=3)
        lport = s.getsockname()[1]
        two = b""
        for _ in range(2):
            d, _, _ = H.sip_options("tcp2", h.tcp_port, lport)
            two += d.replace(b"SIP/2.0/UDP", b"SIP/2.0/TCP")
        s.sendall(two)
        buf, t_end = b"", time.monotonic() + 3
        while buf.count(b"SIP/2.0 200") < 2 and time.monotonic() < t_end:
            d = s.recv(65535)
            if not d:
                break
            buf += d
        s.close()
        check(buf.count(b"SIP/2.0 200") == 2, "two replies: %r" % buf)
        got = sink.collect(want=20, quiet=0.8)
        ps2 = params_of(got, PROC)
        sess = split_sessions(ps2)
        check([summary(x) for x in sess] == [TCP_SESSION, TCP_SESSION],
              "two messages in one read -> %s" % [summary(x) for x in sess])
        flat_matches(read_flat(flat, len(ps) + len(ps2)), ps + ps2, PROC)
        h.set_level(0)
    finally:
        sink.close()


def t_udp_garbage(h):
    """A datagram that does not parse still reached receive_msg: exit
    status -1, no request_script."""
    need_feature(h)
    sink = Sink()
    try:
        h.subscribe(PROC, sink.sock)
        h.set_level(1)
        s = H.sip_socket()
        s.sendto(b"this is not SIP\r\n\r\n", ("127.0.0.1", h.sip_port))
        s.close()
        got = sink.collect(want=6, quiet=0.6)
        ps = params_of(got, PROC)
        name = "SIP receiver udp:127.0.0.1:%d" % h.sip_port
        exp = [("start", name, 0), ("enter", "udp proto reading", 1),
               ("enter", "receive_msg", 2), ("exit", "receive_msg", 1),
               ("exit", "reading done", 0), ("end", name, 0)]
        check(summary(ps) == exp, "garbage datagram:\n      expected %s\n"
              "      actual   %s" % (exp, summary(ps)))
        check(ps[3]["status"] == -1, "receive_msg exit status %r, expected "
              "-1" % ps[3]["status"])
        check_depth_rules(ps)
        h.set_level(0)
    finally:
        sink.close()


def t_timer(h):
    """timer_route[prof_tick,1]: SCRIPT type 128, session 0. PROC on the
    timer thread: timer jobs are level 3 (FULL): at level 1 nothing; at
    level 3 each timer run is a session, start `timer` (deferred),
    `timer_job`, the handler named after the timer's label."""
    need_feature(h)
    sink = Sink()
    flat = os.path.join(h.run_dir, "timer.flat")
    tick = h.marker_line("TICK")
    try:
        h.subscribe(SCRIPT, sink.sock)
        got = sink.collect(want=4, timeout=3.0, quiet=0.3)
        ps = params_of(got, SCRIPT)
        check(len(ps) >= 4, "no timer route run within 3 s: %s" % got)
        exp = [("start", "prof_tick", 1, None, None, None),
               ("enter", "prof_tick", 1, h.cfg, tick, None),
               ("exit", "prof_tick", 1, h.cfg, tick, 0),
               ("end", "prof_tick", 1, None, None, 0)]
        check(script_summary(ps[:4]) == exp, "timer route SCRIPT:\n      "
              "expected %s\n      actual   %s" % (exp,
                                                  script_summary(ps[:4])))
        for p in ps:
            check_shape(p, SCRIPT)
            check(p["type"] == 128 and p["session"] == 0,
                  "type/session %r" % p)
        h.subscribe(SCRIPT, sink.sock, 0)
        time.sleep(1.1)
        sink.clear()
        tmr = [p for p in h.procs() if p["Type"] == "timer"][0]
        h.subscribe(PROC, sink.sock)
        h.subscribe(PROC, "flatstore:" + flat)
        all_ps = []
        # level 1 (SIP): timer jobs are level 3, the held start is dropped
        # at end, so the timer thread, like every idle thread, is silent
        h.set_level(1)
        time.sleep(0.3)
        sink.clear()
        got = sink.collect(quiet=2.3, timeout=2.5)
        ps = params_of(got, PROC)
        check(not ps, "PROC events at level 1 without SIP traffic "
              "(timer jobs are level 3): %s" % summary(ps))
        # level 3 (FULL): one session per timer run, timer_job + handler
        h.set_level(3)
        time.sleep(0.3)
        sink.clear()
        got = sink.collect(quiet=2.3, timeout=2.5)
        ps = params_of(got, PROC)
        check(ps, "no timer sessions at level 3")
        check({p["session"] for p in ps} == {tmr["PID"]},
              "level 3 without traffic: sessions %s, only the timer "
              "(PID %s) has work" % ({p["session"] for p in ps}, tmr["PID"]))
        sessions = split_sessions(ps)
        complete = [x for x in sessions if x[-1]["verb"] == "end"]
        check(complete, "no complete timer session: %s" % summary(ps))
        labels = set()
        for x in complete:
            for p in x:
                check_shape(p, PROC)
                check(p["type"] == 3, "timer type %r" % p)
            check_depth_rules(x)
            sm = summary(x)
            check(sm[0] == ("start", "timer", 0), sm)
            check(len(sm) == 6 and sm[1] == ("enter", "timer_job", 1)
                  and sm[4] == ("exit", "timer_job", 0),
                  "level 3 timer session: %s" % sm)
            labels.add(sm[2][1])
        check(any("prof_tick" in lb for lb in labels),
              "no session for the timer route: labels %s" % labels)
        all_ps += ps
        h.set_level(0)
        time.sleep(0.3)
        got = sink.collect(quiet=0.5)
        all_ps += params_of(got, PROC)
        # every PROC datagram (cleared ones included) vs the flatstore file
        every = [json.loads(r)["params"] for r in sink.raw
                 if json.loads(r)["method"] == PROC]
        flat_matches(read_flat(flat, len(every)), every, PROC)
    finally:
        sink.close()


def t_mi_level2(h):
    need_feature(h)
    sink = Sink()
    try:
        h.subscribe(PROC, sink.sock)
        mi_dg = [p for p in h.procs() if p["Type"] == "MI Datagram"][0]
        mi_ff = [p for p in h.procs() if p["Type"] == "MI FIFO"][0]
        # level 1: MI hooks are EXTRAPROCS (2): nothing
        h.set_level(1)
        sink.clear()
        h.mi('{"jsonrpc":"2.0","method":"core:version","id":1}')
        h.mi('{"jsonrpc":"2.0","method":"core:version","id":2}', "fifo")
        got = sink.collect(quiet=0.8)
        check(not got, "PROC events for MI at level 1: %s"
              % summary(params_of(got)))
        # level 2 (set over the FIFO so the datagram thread is idle)
        h.mi('{"jsonrpc":"2.0","method":"core:profiling_proc","params":'
             '{"level":2},"id":3}', "fifo")
        time.sleep(0.2)
        sink.clear()
        for tr, proc, tag in (("datagram", mi_dg, "MI_DATAGRAM"),
                              ("fifo", mi_ff, "MI_FIFO")):
            r = h.mi('{"jsonrpc":"2.0","method":"core:version","id":4}', tr)
            check(r and '"Server"' in r, "version over %s: %r" % (tr, r))
            got = sink.collect(want=6, quiet=0.6)
            ps = params_of(got, PROC, session=proc["PID"])
            check(ps, "no %s records (session %d): %s" % (
                tag, proc["PID"], got))
            for p in ps:
                check_shape(p, PROC)
                check(p["type"] == 0, "MI thread type %r" % p)
            check(ps[0]["verb"] == "start" and ps[0]["name"] == proc["Type"],
                  "%s start: %s" % (tag, summary(ps)))
            check(ps[-1]["verb"] == "end", "%s end: %s" % (tag, summary(ps)))
            check(ps[-2]["verb"] == "exit" and ps[-2]["name"] == tag,
                  "%s: last exit should be %r: %s" % (tag, tag, summary(ps)))
            enters = [p["name"] for p in ps if p["verb"] == "enter"]
            first = "%s %s" % (tag, "handling" if tag == "MI_DATAGRAM"
                               else "reading")
            check(enters and enters[0] == first, "%s first enter %r: %s"
                  % (tag, first, summary(ps)))
            check(any(re.fullmatch(r"%s (core:)?version" % tag, n)
                      for n in enters), "%s <method> enter: %s"
                  % (tag, summary(ps)))
            check_depth_rules(ps)
            others = [p for p in params_of(got, PROC)
                      if p["session"] != proc["PID"]]
            check(not others, "records from other threads: %s"
                  % summary(others))
        h.set_level(0)
    finally:
        sink.close()


def t_stats(h):
    need_feature(h)
    sink = Sink()
    try:
        h.subscribe(PROC, sink.sock)
        h.subscribe(SCRIPT, sink.sock)
        h.set_level(1)
        for _ in range(5):
            H.send_options(h, "plain")
        got = sink.collect(want=60)
        check(len(got) == 60, "5 requests -> %d events, expected 60 "
              "(8 PROC + 4 SCRIPT each)" % len(got))
        st = h.result("event_profiling:stats")
        keys = ["Records", "Records emitted", "Records pending",
                "Events not queued", "Sessions dropped", "Threads"]
        check(isinstance(st, dict) and list(st) == keys,
              "event_profiling:stats keys %r, documented %s" % (st, keys))
        check(st["Records emitted"] >= 60 and st["Sessions dropped"] == 0
              and st["Events not queued"] == 0 and st["Records pending"] == 0,
              "event_profiling:stats after 5 requests: %r" % st)
        udp_pids = set(h.pid_of("SIP receiver udp:"))
        per = {t["PID"]: t for t in st["Threads"]}
        # a worker makes its PROC and SCRIPT records: 8 + 4 per request
        check(sum(per[p]["Records"] for p in udp_pids if p in per) == 60,
              "per-thread records of the UDP workers: %r (12 per request)"
              % st["Threads"])
        subs = h.result("evi:subscriber_stats", [PROC])["Subscribers"]
        mine = [s for s in subs if s["socket"] == sink.sock]
        check(mine and mine[0]["delivered"] >= 40 and mine[0]["dropped"] == 0
              and mine[0]["failed"] == 0, "subscriber_stats %s" % subs)
        h.set_level(0)
    finally:
        sink.close()


# -------------------------------------------------- reference replay

def t_replay(h):
    need_feature(h)
    recs = {r["seq"]: r for r in H.read_jsonl("transcripts.jsonl")}
    sink = Sink()
    subs = {"udp:127.0.0.1:9901": sink.sock,
            "127.0.0.1:5060": "127.0.0.1:%d" % h.sip_port}

    def sub(text):
        for k, v in subs.items():
            text = text.replace(k, v)
        return text

    def mi(seq):
        r = recs[seq]
        req, exp = sub(r["request"]), sub(r["reply"])
        act = h.mi(req)
        check(H.match_reply(exp, act), "#%d %s" % (seq, r["case"]) +
              H.diff_msg(req, exp, act))

    def payload_re(expected):
        # decisions §21: sec, usec, session, file, line by type
        pat = re.escape(expected)
        for k in ("sec", "usec", "session", "line"):
            pat = re.sub(r'(\\?"%s\\?":)\d+' % k, r'\1\\d+', pat)
        pat = re.sub(r'(\\?"file\\?":)\\?"[^"]*?\\?"',
                     r'\1"(?:[^"\\\\]|\\\\.)*"', pat)
        return pat

    def events(seqs, event):
        exp = [sub(recs[s]["payload"]) for s in seqs
               if recs[s]["payload_json"]["method"] == event]
        got = sink.collect(want=len(exp))
        raws = sink.raw[-len(got):] if got else []
        check(len(raws) == len(exp), "%d events, the reference %d:\n%s"
              % (len(raws), len(exp), "\n".join(raws)))
        for e, a in zip(exp, raws):
            check(re.fullmatch(payload_re(e), a) is not None,
                  "payload differs" + H.diff_msg("-", e, a))
        return [json.loads(a)["params"] for a in raws]

    try:
        mi(85)
        H.send_options(h, "bench")
        ps = events(range(87, 91), SCRIPT)
        check(all(p.get("file") == h.cfg for p in ps if "file" in p),
              "SCRIPT file is the cfg path: %s" % ps)
        mi(91)
        # profiling_proc list (seq 92): our roster (decisions §14), same
        # shape
        r = h.mi(sub(recs[92]["request"]))
        check(re.fullmatch(r'\{"jsonrpc":"2\.0","result":\{"Processes":\[('
                           r'\{"ID":\d+,"PID":\d+,"Profiling level":0,'
                           r'"Type":"[^"]+"\},?)+\]\},"id":72\}', r or ""),
              "#92 profiling_proc_list: %r" % r)
        mi(93)
        mi(94)
        time.sleep(1.1)     # decisions §22: no stray SCRIPT records
        sink.clear()
        H.send_options(h, "bench")
        # decisions §22: the four SCRIPT records (100-103) are not copied
        events(range(96, 108), PROC)
        mi(108)
        H.send_options(h, "bench")
        got = sink.collect(quiet=1.0)
        check(not got, "#109: events after level 0: %s" % got)
    finally:
        sink.close()


# -------------------------------------------------- converter

def run_tool(path, args, timeout=30, inp=None):
    p = subprocess.run([sys.executable, path] + args, capture_output=True,
                       timeout=timeout, input=inp)
    return p.returncode, p.stdout.decode(), p.stderr.decode()


def validate_trace(trace):
    """B/E balanced and nested per track; returns {tid: [(depth, name,
    cat, B-event)]} in order."""
    check(isinstance(trace.get("traceEvents"), list), "no traceEvents")
    stacks, out, last = {}, {}, {}
    names = {}
    for e in trace["traceEvents"]:
        check(e.get("pid") == 1, "pid %r" % e)
        if e["ph"] == "M":
            if e["name"] == "thread_name":
                names[e["tid"]] = e["args"]["name"]
            continue
        tid = e["tid"]
        check(isinstance(e["ts"], (int, float)), "ts %r" % e)
        check(e["ts"] >= last.get(tid, 0), "ts goes back on track %s: %s"
              % (tid, e))
        last[tid] = e["ts"]
        st = stacks.setdefault(tid, [])
        if e["ph"] == "B":
            out.setdefault(tid, []).append((len(st), e["name"], e["cat"], e))
            st.append(e["name"])
        elif e["ph"] == "E":
            check(st and st[-1] == e["name"], "unbalanced E %s on %s (%s)"
                  % (e, tid, st))
            st.pop()
        else:
            raise TestFailure("unexpected ph %r" % e)
    for tid, st in stacks.items():
        check(not st, "track %s left open: %s" % (tid, st))
    return out, names


def t_converter_offline(_h=None):
    """The reference capture (seq 96-107: PROC with SCRIPT interleaved) in
    the three input forms."""
    recs = {r["seq"]: r for r in H.read_jsonl("transcripts.jsonl")}
    d = tempfile.mkdtemp(prefix="shim-p2t-")
    try:
        lines = [recs[s]["payload"] for s in range(96, 108)]
        jl = os.path.join(d, "cap.jsonl")
        with open(jl, "w") as f:
            f.write("\n".join(lines) + "\n")
        stream = os.path.join(d, "cap.stream")
        with open(stream, "w") as f:
            f.write("".join(lines))
        flat = os.path.join(d, "cap.flat")
        with open(flat, "w") as f:
            for s in range(96, 108):
                p = recs[s]["payload_json"]
                f.write(",".join([p["method"]] + [str(p["params"].get(k, ""))
                                                  for k in PARAMS]) + "\n")
        outs = []
        for src in (jl, stream, flat):
            rc, out, err = run_tool(PROF2TRACE, [src])
            check(rc == 0, "prof2trace %s: %d %s" % (src, rc, err))
            outs.append(out)
        check(outs[0] == outs[1] == outs[2], "the three forms differ")
        trace = json.loads(outs[0])
        spans, names = validate_trace(trace)
        check(names == {25535: "SIP receiver udp:127.0.0.1:5060"}, names)
        got = [(dep, n, c) for dep, n, c, _ in spans[25535]]
        check(got == [(0, "SIP receiver udp:127.0.0.1:5060", "PROC"),
                      (1, "udp proto reading", "PROC"),
                      (2, "receive_msg", "PROC"),
                      (3, "request_script", "PROC"),
                      (4, "<root>", "SCRIPT"), (5, "<root>", "SCRIPT")],
              "nesting %s" % got)
        b = spans[25535][1][3]
        check(b["args"]["exit_name"] == "reading done"
              and b["args"]["file"] == "handle_io"
              and b["args"]["line"] == 323, b)
        b = spans[25535][5][3]
        check(b["args"]["file"] == "/run/opensips-ref/cfg/opensips.cfg"
              and b["args"]["line"] == 91 and b["args"]["status"] == 1, b)
        # --no-map: routes on a per-message track
        rc, out, _ = run_tool(PROF2TRACE, ["--no-map", "--complete", jl])
        tr = json.loads(out)
        xs = [e for e in tr["traceEvents"] if e["ph"] == "X"]
        check(len(xs) == 6 and len({e["tid"] for e in xs}) == 2
              and all(e["dur"] >= 0 for e in xs), xs)
        # garbage, an exit without enter, a lone start: dropped, counted
        bad = ('{"jsonrpc":"2.0","method":"E_PROFILING_PROC","params":{"sec"'
               ':1,"usec":2,"session":9,"verb":"exit","name":"x","type":1,'
               '"depth":0,"file":"f","line":1,"status":0}}\nnot json\n'
               '{"jsonrpc":"2.0","method":"E_PROFILING_PROC","params":{"sec"'
               ':1,"usec":3,"session":9,"verb":"start","name":"w","type":1,'
               '"depth":0}}\n{"jsonrpc":"2.0","method":"E_OTHER"}\n')
        rc, out, err = run_tool(PROF2TRACE, ["-"], inp=bad.encode())
        check(rc == 0, "rc %d" % rc)
        od = json.loads(out)["otherData"]
        check(od["dropped"] == 3 and od["unmatched_exit"] == 1
              and od["unclosed"] == 1 and od["unparsable"] == 1
              and od["other_events"] == 1, od)
        check("warning: 3 record(s) dropped" in err, err)
        rc, out, _ = run_tool(PROF2TRACE, ["--help"])
        check(rc == 0 and "Perfetto" in out, out)
    finally:
        import shutil
        shutil.rmtree(d, ignore_errors=True)


def t_converter_live(h):
    need_feature(h)
    sink = Sink()
    flat = os.path.join(h.run_dir, "both.flat")
    try:
        for ev in (PROC, SCRIPT):
            h.subscribe(ev, sink.sock)
            h.subscribe(ev, "flatstore:" + flat)
        h.set_level(1)
        for user in ("plain", "sub", "plain"):
            H.send_options(h, user)
        got = sink.collect(want=8 * 3 + 4 + 8 + 4)
        h.set_level(0)
        cap = os.path.join(h.run_dir, "cap.jsonl")
        with open(cap, "w") as f:
            f.write("\n".join(sink.raw) + "\n")
        read_flat(flat, len(got))
        results = []
        for src in (cap, flat):
            rc, out, err = run_tool(PROF2TRACE, [src, "-o",
                                                 src + ".trace.json"])
            check(rc == 0 and "dropped" not in err, "%s: %s" % (src, err))
            with open(src + ".trace.json") as f:
                results.append(json.load(f))
        check(results[0]["traceEvents"] == results[1]["traceEvents"],
              "UDP and flatstore captures convert differently")
        spans, names = validate_trace(results[0])
        wname = "SIP receiver udp:127.0.0.1:%d" % h.sip_port
        workers = [t for t, n in names.items() if n == wname]
        check(workers and set(spans) <= set(workers),
              "tracks %s (expected only UDP workers: SCRIPT mapped into "
              "them)" % names)
        seq = [(d, n) for t in workers for d, n, _, _ in spans.get(t, [])]
        check(seq.count((3, "request_script")) == 3, seq)
        check(seq.count((4, "<root>")) == 3 and seq.count((5, "<root>")) == 3,
              "SCRIPT runs under request_script: %s" % seq)
        check((6, "prof_a") in seq and (7, "prof_b") in seq,
              "route() calls nested: %s" % seq)
        check(results[0]["otherData"]["script_mapped"] == 3,
              results[0]["otherData"])
    finally:
        sink.close()


# -------------------------------------------------- collector

def t_collector(h):
    need_feature(h)
    out = os.path.join(h.run_dir, "collected.jsonl")
    argv = [sys.executable, COLLECTOR, "--addr", "127.0.0.1:%d" % h.mi_port,
            "--proc-level", "1", "--expire", "2", "--duration", "4",
            "-o", out]
    p = subprocess.Popen(argv, stdout=subprocess.DEVNULL,
                         stderr=subprocess.PIPE, stdin=subprocess.DEVNULL)
    replies = 0
    try:
        check(wait_for(lambda: {x["Profiling level"] for x in h.procs()}
                       == {1}), "collector did not set level 1")
        t_end = time.monotonic() + 3.0
        s = H.sip_socket()
        try:
            while time.monotonic() < t_end:
                lport = s.getsockname()[1]
                data, _, _ = H.sip_options("coll", h.sip_port, lport)
                rep = h.sip(data, sock=s)
                if rep and rep.startswith("SIP/2.0 200"):
                    replies += 1
                time.sleep(0.02)
        finally:
            s.close()
        rc = p.wait(15)
        err = p.stderr.read().decode()
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    check(rc == 0, "collector exit %s: %s" % (rc, err))
    with open(out) as f:
        lines = f.read().splitlines()
    recs = [json.loads(x) for x in lines]
    n_proc = sum(1 for r in recs if r["method"] == PROC)
    n_script = sum(1 for r in recs if r["method"] == SCRIPT)
    check(replies > 20, "only %d replies" % replies)
    check(n_proc == 8 * replies and n_script == 4 * replies,
          "%d replies -> %d PROC (expected %d), %d SCRIPT (expected %d); "
          "the last ones prove the 2 s subscription was refreshed"
          % (replies, n_proc, 8 * replies, n_script, 4 * replies))
    # unsubscribed and levels restored
    check({x["Profiling level"] for x in h.procs()} == {0},
          "levels not restored")
    for ev in (PROC, SCRIPT):
        r = h.result("evi:subscribers", [ev])
        live = [s for s in r.get("Event", {}).get("Subscribers", [])
                if s.get("ttl") != "expired"]
        check(not live, "still subscribed to %s: %s" % (ev, r))
    rc, outj, err = run_tool(PROF2TRACE, [out])
    check(rc == 0 and "dropped" not in err, err)
    validate_trace(json.loads(outj))
    # SIGTERM ends it cleanly too; TCP (event_stream) delivery
    out2 = os.path.join(h.run_dir, "collected-tcp.jsonl")
    p = subprocess.Popen([sys.executable, COLLECTOR, "-t", "fifo", "--fifo",
                          h.fifo, "--reply-dir", h.run_dir, "--proto", "tcp",
                          "--events", "script", "-o", out2],
                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        check(wait_for(lambda: any(
            x["socket"].startswith("tcp:") for x in
            h.call("evi:subscribers", [SCRIPT]).get("result", {})
            .get("Event", {}).get("Subscribers", []))),
            "tcp collector not subscribed")
        for _ in range(3):
            H.send_options(h, "plain")
        time.sleep(0.5)
        p.send_signal(signal.SIGTERM)
        rc = p.wait(10)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    check(rc == 0, "collector after SIGTERM: %s %s" % (rc, p.stderr.read()))
    with open(out2) as f:
        recs = [json.loads(x) for x in f.read().splitlines()]
    check(len(recs) == 12 and all(r["method"] == SCRIPT for r in recs),
          "tcp collector file: %d records" % len(recs))


# -------------------------------------------------- run

def run(runner):
    prefix = "profiling."
    runner.run(prefix + "prof2trace on the reference capture (offline)",
               t_converter_offline)
    cases = [
        ("core:profiling_proc recipes, results and errors", t_mi_recipes,
         False),
        ("UDP request session, PROC level 1 (udp + flatstore)", t_udp_proc,
         False),
        ("UDP request session, SCRIPT with route() calls (udp + flatstore)",
         t_udp_script, False),
        ("TCP request sessions, PROC level 1 (udp + flatstore)", t_tcp_proc,
         False),
        ("garbage datagram: receive_msg exit -1", t_udp_garbage, False),
        ("timer_route SCRIPT; timer thread silent at level 1, sessions at level 3",
         t_timer, True),
        ("MI requests at level 2 (mi_datagram, mi_fifo)", t_mi_level2, False),
        ("event_profiling:stats and evi:subscriber_stats", t_stats, False),
        ("replay of the reference E_PROFILING_* records", t_replay, False),
        ("prof2trace on a live capture (udp and flatstore)",
         t_converter_live, False),
        ("prof-collector against sipp-like OPTIONS traffic", t_collector,
         False),
    ]
    for name, fn, timer in cases:
        full = prefix + name
        if not runner.wanted(full):
            continue

        def body(fn=fn, timer=timer):
            with ProfHost(timer=timer) as h:
                fn(h)
                check(h.alive(), "host died:\n" + h.log_tail())
        runner.run(full, body)
