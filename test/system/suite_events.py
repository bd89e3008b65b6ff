"""System tests for the Event Interface issue (run by test/system/run.py).

  ev.replay      every event-related record of transcripts.jsonl, in order,
                 with real collectors (UDP, TCP event_stream, flatstore file);
                 extra-unix.jsonl on a unix datagram collector
  ev.matrix      each event type over each transport (udp, unix, tcp,
                 flatstore, route = an event_route that xlogs to stderr)
  ev.slow        a TCP collector that never reads + a UDP port nobody
                 listens on + a unix path nobody reads, under sipp load
  ev.log         E_CORE_LOG: prefix, level filter, mute, no feedback loop
  ev.threshold   exec_msg / dns / tcp thresholds; shm / pkg rule (spec §3)
  ev.sr          E_CORE_SR_STATUS_CHANGED on shutdown (none)
  ev.mi          evi:* shapes and errors, subscriber_stats, expired ttl
  ev.autoscale   autoscale.jsonl: up event, ps, SR report; down after the
                 hold-off (bounded)

Cfgs: test/cfg/events.cfg, test/cfg/events-autoscale.cfg.
"""

import json
import os
import re
import shutil
import socket
import subprocess
import threading
import time

import harness as H
from harness import check, TestFailure, Skip

EV_CFG = os.path.join(H.CFG_DIR, "events.cfg")
AS_CFG = os.path.join(H.CFG_DIR, "events-autoscale.cfg")
REF_RUN = "/run/opensips-ref/run/"
MONTHS = "(Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)"
# event payload fields compared by type/format (decisions §21)
EV_VOLATILE = {
    "time": ('"%s [ 0-3]\\d \\d\\d:\\d\\d:\\d\\d"' % MONTHS, r"\d+"),
    "pid": (None, r"\d+"),
    "timestamp": (r'"\d+"', None),
}


# ------------------------------------------------------------ collectors

class Collector:
    """Items (str) received by a background thread, read in order."""

    def __init__(self):
        self.items = []
        self.pos = 0
        self.cv = threading.Condition()
        self.stop = False
        self.t = None

    def _push(self, text):
        with self.cv:
            self.items.append(text)
            self.cv.notify_all()

    def start(self):
        self.t = threading.Thread(target=self._loop, daemon=True)
        self.t.start()
        return self

    def next(self, timeout=2.0):
        deadline = time.monotonic() + timeout
        with self.cv:
            while self.pos >= len(self.items):
                left = deadline - time.monotonic()
                if left <= 0:
                    return None
                self.cv.wait(left)
            self.pos += 1
            return self.items[self.pos - 1]

    def find(self, pred, timeout=2.0):
        """The first unread item matching pred (skipped ones stay unread)."""
        deadline = time.monotonic() + timeout
        with self.cv:
            i = self.pos
            while True:
                while i < len(self.items):
                    if pred(self.items[i]):
                        it = self.items.pop(i)
                        return it
                    i += 1
                left = deadline - time.monotonic()
                if left <= 0:
                    return None
                self.cv.wait(left)

    def unread(self):
        with self.cv:
            return self.items[self.pos:]

    def drain(self, quiet=0.3):
        time.sleep(quiet)
        with self.cv:
            out = self.items[self.pos:]
            self.pos = len(self.items)
            return out

    def none_within(self, window):
        time.sleep(window)
        return self.drain(0)

    def close(self):
        self.stop = True
        if self.t:
            self.t.join(2)


class UdpCollector(Collector):
    def __init__(self):
        super().__init__()
        self.s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
        self.s.bind(("127.0.0.1", 0))
        self.s.settimeout(0.1)
        self.port = self.s.getsockname()[1]
        self.socket = "udp:127.0.0.1:%d" % self.port

    def _loop(self):
        while not self.stop:
            try:
                self._push(self.s.recv(65535).decode("utf-8", "replace"))
            except socket.timeout:
                pass
            except OSError:
                return

    def close(self):
        super().close()
        self.s.close()


class UnixCollector(UdpCollector):
    def __init__(self, path):
        Collector.__init__(self)
        self.path = path
        self.s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.s.bind(path)
        self.s.settimeout(0.1)
        self.socket = "unix:" + path

    def close(self):
        super().close()
        try:
            os.unlink(self.path)
        except OSError:
            pass


class TcpCollector(Collector):
    """event_stream peer: JSON documents back to back, no separator."""

    def __init__(self, read=True):
        super().__init__()
        self.read = read
        self.ls = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if not read:
            self.ls.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        self.ls.bind(("127.0.0.1", 0))
        self.ls.listen(16)
        self.ls.settimeout(0.1)
        self.port = self.ls.getsockname()[1]
        self.socket = "tcp:127.0.0.1:%d" % self.port
        self.conns = []
        self.accepted = 0

    def _loop(self):
        import select
        bufs = {}
        dec = json.JSONDecoder()
        while not self.stop:
            rl = [self.ls] + (self.conns if self.read else [])
            try:
                r, _, _ = select.select(rl, [], [], 0.1)
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
                    bufs[c] = ""
                    continue
                try:
                    data = s.recv(65536)
                except OSError:
                    data = b""
                if not data:
                    self.conns.remove(s)
                    s.close()
                    continue
                bufs[s] += data.decode("utf-8", "replace")
                while bufs[s]:
                    try:
                        _, end = dec.raw_decode(bufs[s])
                    except ValueError:
                        break
                    self._push(bufs[s][:end])
                    bufs[s] = bufs[s][end:]

    def close(self):
        super().close()
        for c in self.conns:
            c.close()
        self.ls.close()


# ------------------------------------------------------------ helpers

def ev_host(name, extra_globals="", extra_modules="", routes="", cfg=EV_CFG,
            **kw):
    return H.Host(cfg, subs={"@EXTRA_GLOBALS@": extra_globals,
                             "@EXTRA_MODULES@": extra_modules,
                             "@EVENT_ROUTES@": routes}, name=name, **kw)


def subscribe(h, event, sock, expire=None):
    p = [event, sock] + ([expire] if expire is not None else [])
    r = h.call("evi:subscribe", p)
    check(r.get("result") == "OK", "subscribe %s %s -> %s" % (event, sock, r))


def stats(h, event=None):
    r = h.result("evi:subscriber_stats", [event] if event else None)
    return r["Subscribers"]


def jdump(o):
    return json.dumps(o, separators=(",", ":"))


def notification(method, params):
    d = {"jsonrpc": "2.0", "method": method}
    if params is not None:
        d["params"] = params
    return jdump(d)


def check_event(exp, act, what=""):
    check(act is not None, "no event %s\n      expected: %s" % (what, exp))
    check(H.match_reply(exp, act, EV_VOLATILE),
          "event differs %s" % what + H.diff_msg("", exp, act))


def sip_tcp(h, user="bench"):
    """OPTIONS over TCP; returns (reply, client port). Closes after."""
    s = socket.create_connection(("127.0.0.1", h.sip_port), timeout=3)
    lp = s.getsockname()[1]
    data, cid, br = H.sip_options(user, h.sip_port, lp)
    data = data.replace(b"SIP/2.0/UDP", b"SIP/2.0/TCP")
    s.sendall(data)
    buf = b""
    s.settimeout(3)
    try:
        while b"\r\n\r\n" not in buf:
            d = s.recv(65535)
            if not d:
                break
            buf += d
    finally:
        s.close()
    return buf.decode("utf-8", "replace"), lp


def ok200(rep, what=""):
    check(rep is not None and rep.startswith("SIP/2.0 200 OK\r\n"),
          "no 200 OK %s: %r" % (what, rep))


def wait_for(fn, timeout, step=0.1):
    deadline = time.monotonic() + timeout
    while True:
        v = fn()
        if v or time.monotonic() >= deadline:
            return v
        time.sleep(step)


def ps_types(h):
    return [(p["ID"], p["PID"], p["Type"])
            for p in h.result("core:ps")["Processes"]]


# ------------------------------------------------------------ ev.replay

class Replay:
    def __init__(self, runner):
        self.runner = runner
        self.udp = UdpCollector().start()
        self.tcp = TcpCollector().start()
        self.host = ev_host("evreplay")
        self.subs = {}          # reference text -> ours
        self.cid = {}           # reference Call-ID -> ours
        self.last_req = None    # our last SIP request text
        self.tcp_port = {}      # reference TCP client port -> ours
        self.sub_log_at = None
        self.ids = {}

    def sub(self, text):
        if text is None:
            return None
        for k, v in self.subs.items():
            text = text.replace(k, v)
        for k, v in self.cid.items():
            text = text.replace(k, v)
        return text

    def close(self):
        self.udp.close()
        self.tcp.close()
        self.host.cleanup()


SKIP_MI = {
    "profiling_proc": "the profiling issue (suite_profiling.py)",
    "cfgutils:shv_set": "cfgutils is not shipped; SHM thresholds are "
                        "asserted with testmod (decisions §30, ev.threshold)",
}
EVI_METHODS = {"event_subscribe", "events_list", "subscribers_list",
               "raise_event", "evi:subscribe", "evi:list", "evi:subscribers",
               "evi:raise", "sr_get_status", "sr_list_status",
               "sr_list_reports", "sr_list_identifiers"}


def replay_records():
    recs = H.read_jsonl("transcripts.jsonl")
    # one record per (case, seq) for MI: the datagram one
    out = []
    for r in recs:
        if r["kind"] == "mi" and r["transport"] != "mi_datagram":
            continue
        out.append(r)
    return out


def rp_mi(rp, r):
    h = rp.host
    req = rp.sub(r["request"])
    exp = rp.sub(r["reply"])
    method = json.loads(r["request"]).get("method")
    act = h.dgram(req, timeout=2.0 if exp is not None else 0.7)
    if method in ("events_list", "evi:list"):
        # decisions §3: compare the order of what exists; E_PROFILING_*
        # come with event_profiling (not written yet), so ids shift by 2
        ref = [e["name"] for e in r["reply_json"]["result"]["Events"]]
        ours = json.loads(act)["result"]["Events"]
        names = [e["name"] for e in ours]
        check([e["id"] for e in ours] == list(range(len(ours))),
              "ids not dense: %s" % act)
        want = [n for n in ref if n in names]
        missing = [n for n in ref if n not in names]
        check(names == want, "events_list order %s, reference %s"
              % (names, ref))
        check(set(missing) <= {"E_PROFILING_SCRIPT", "E_PROFILING_PROC"},
              "events missing: %s" % missing)
        check(names[-1] == "E_CORE_LOG", "E_CORE_LOG not last: %s" % names)
        rp.ids = {e["name"]: e["id"] for e in ours}
        for e in r["reply_json"]["result"]["Events"]:
            if e["name"] in rp.ids:
                rp.subs['"name":"%s","id":%d' % (e["name"], e["id"])] = \
                    '"name":"%s","id":%d' % (e["name"], rp.ids[e["name"]])
        return
    check(H.match_reply(exp, act), "reply differs" +
          H.diff_msg(req, exp, act))
    if r["case"] == "event_subscribe_log_udp":
        rp.sub_log_at = time.time()


def rp_sip(rp, r):
    h = rp.host
    user = re.search(r"sip:([^@]+)@", r["request"]).group(1)
    ref_cid = re.search(r"Call-ID: (\S+)", r["reply"]).group(1)
    if r["transport"] == "sip_tcp":
        rep, lp = sip_tcp(h, user)
        ok200(rep, "over TCP")
        ref_port = re.search(r"SIP/2\.0/TCP 127\.0\.0\.1:(\d+)",
                             r["reply"]).group(1)
        rp.tcp_port[ref_port] = lp
        rp.cid[ref_cid] = re.search(r"Call-ID: (\S+)", rep).group(1)
        return
    rep, info = H.send_options(h, user)
    ok200(rep)
    check(re.search(r"\r\nCall-ID: %s\r\n" % re.escape(info["call_id"]),
                    rep), "Call-ID not copied: %r" % rep)
    rp.cid[ref_cid] = info["call_id"]
    rp.last_req = info["request"]
    ref_port = re.search(r"SIP/2\.0/UDP 127\.0\.0\.1:(\d+)",
                         r["reply"]).group(1)
    rp.subs["127.0.0.1:%s" % ref_port] = "127.0.0.1:%d" % info["port"]


def rp_event_payload(rp, r):
    tr = r["transport"]
    case = r["case"]
    exp = r["payload"]
    if case == "event_flatstore_file":
        path = rp.sub(r["subscriber"]).split(":", 1)[1]

        def content():
            try:
                with open(path, encoding="utf-8", newline="") as f:
                    return f.read()
            except OSError:
                return ""
        act = wait_for(lambda: content().endswith("\n") and content(), 2.0)
        check(act == exp, "flatstore file" + H.diff_msg(path, exp, act))
        return
    col = rp.udp if tr == "event_datagram" else rp.tcp
    if case == "E_CORE_THRESHOLD_exec_msg":
        pj = r["payload_json"]["params"]
        exp = notification("E_CORE_THRESHOLD", {
            "source": pj["source"], "time": 0, "extra": rp.last_req})
    elif case == "E_CORE_TCP_DISCONNECT":
        pj = dict(r["payload_json"]["params"])
        ours = rp.tcp_port.get(str(pj["src_port"]))
        check(ours, "no TCP trigger recorded")
        pj["src_port"] = ours
        pj["dst_port"] = rp.host.sip_port
        exp = notification("E_CORE_TCP_DISCONNECT", pj)
    else:
        exp = rp.sub(exp)
    act = col.next(3.0)
    check_event(exp, act, "on %s (%s)" % (tr, r["subscriber"]))
    if case == "E_CORE_THRESHOLD_exec_msg":
        t = json.loads(act)["params"]["time"]
        check(t > 50000, "time %d us is not above exec_msg_threshold" % t)


def rp_event_none(rp, r):
    case = r["case"]
    if case == "E_CORE_LOG_rest_of_subscription":
        # the 5 s subscription: lives until since + 5 < now (strict, s)
        check(rp.sub_log_at, "E_CORE_LOG was not subscribed")
        left = rp.sub_log_at + 7.0 - time.time()
        if left > 0:
            time.sleep(left)
        got = rp.udp.drain(0.2) + rp.tcp.drain(0)
        bad = [g for g in got if '"E_CORE_LOG"' not in g]
        check(not bad, "unexpected events while E_CORE_LOG was "
              "subscribed: %s" % bad)
        lst = rp.host.result("evi:subscribers", ["E_CORE_LOG"])
        subs = lst["Event"].get("Subscribers", [])
        check(all(s.get("ttl") == "expired" for s in subs),
              "E_CORE_LOG subscription not expired after 7 s: %s" % lst)
    window = {"E_CORE_LOG_rest_of_subscription": 1.0}.get(case, 0.7)
    got = rp.udp.none_within(window) + rp.tcp.drain(0)
    check(not got, "expected no event (%s), got %s" % (r.get("notes"), got))


def test_replay(runner):
    prefix = "ev.replay"
    try:
        recs = replay_records()
    except OSError as e:
        runner.skip(prefix, "reference transcripts not found: %s" % e)
        return
    if not any(runner.wanted("%s #%d" % (prefix, r["seq"])) or
               runner.wanted(prefix + " " + r["case"]) for r in recs):
        return
    rp = Replay(runner)
    rp.subs = {"127.0.0.1:9901": "127.0.0.1:%d" % rp.udp.port,
               "127.0.0.1:9902": "127.0.0.1:%d" % rp.tcp.port,
               REF_RUN: rp.host.run_dir + "/",
               "127.0.0.1:5060": "127.0.0.1:%d" % rp.host.sip_port}
    try:
        ok = runner.run(prefix + " start (test/cfg/events.cfg)",
                        rp.host.start)
        for r in recs:
            name = "%s #%d %s" % (prefix, r["seq"], r["case"])
            if r["kind"] == "mi":
                try:
                    method = json.loads(r["request"]).get("method")
                except ValueError:
                    continue        # parse errors: run.py's a.replay
                if method in SKIP_MI:
                    runner.skip(name, SKIP_MI[method])
                    continue
                if method not in EVI_METHODS:
                    continue        # replayed by run.py's a.replay
                if "profiling" in r["request"].lower():
                    runner.skip(name, "E_PROFILING_*: the profiling issue "
                                "(suite_profiling.py)")
                    continue
                fn = rp_mi
            elif r["kind"] == "sip":
                if r["case"] in ("sip_profiled", "sip_proc_profiled"):
                    runner.skip(name, "profiling trigger: the profiling "
                                "issue (suite_profiling.py)")
                    continue
                fn = rp_sip
            elif r["payload"] is None:
                if r["case"] == "E_PROFILING_PROC_tail":
                    runner.skip(name, "profiling issue (suite_profiling.py)")
                    continue
                fn = rp_event_none
            else:
                m = r.get("payload_json", {}) or {}
                method = m.get("method", "")
                if method.startswith("E_PROFILING") or \
                        r["case"].startswith("E_PROFILING"):
                    runner.skip(name, "E_PROFILING_* payloads: the profiling "
                                "issue (suite_profiling.py)")
                    continue
                if method in ("E_CORE_PKG_THRESHOLD",
                              "E_CORE_SHM_THRESHOLD"):
                    runner.skip(name, "reference counts (threshold 1%%, "
                                "cfgutils); the rule is asserted with "
                                "testmod in ev.threshold (decisions §30)")
                    continue
                fn = rp_event_payload
            if not ok:
                return
            runner.run(name, fn, rp, r)

        def tail_stats():
            st = stats(rp.host)
            for s in st:
                check(s["dropped"] == 0 and s["failed"] == 0 and
                      s["queued"] == 0, "subscriber_stats: %s" % s)
            check(rp.host.alive(), "host died")
        runner.run(prefix + " subscriber_stats: nothing dropped or failed",
                   tail_stats)
        runner.run(prefix + " extra-unix.jsonl (unix datagram collector)",
                   replay_unix, rp)
    finally:
        rp.close()


def replay_unix(rp):
    try:
        recs = H.read_jsonl("extra-unix.jsonl")
    except OSError as e:
        raise Skip("extra-unix.jsonl not found: %s" % e)
    h = rp.host
    path = os.path.join(h.run_dir, "ev.sock")
    col = UnixCollector(path).start()
    try:
        for r in recs:
            if r["kind"] == "mi":
                req = rp.sub(r["request"])
                act = h.dgram(req)
                if r["case"] == "subscribers_list_unix":
                    # the reference instance also had a benchmark
                    # subscriber (udp:...:9921); compare the unix ones
                    j = json.loads(act)
                    ev = j["result"]["Event"]
                    ref = json.loads(r["reply"])["result"]["Event"]
                    check(ev["name"] == ref["name"] and
                          ev["id"] == rp.ids.get(ref["name"], ev["id"]), act)
                    mine = [s for s in ev["Subscribers"]
                            if s["socket"].startswith("unix:")]
                    want = [dict(s, socket=rp.sub(s["socket"]))
                            for s in ref["Subscribers"]
                            if s["socket"].startswith("unix:")]
                    check(H.match_reply(jdump(want), jdump(mine)),
                          "unix subscribers" + H.diff_msg(req, jdump(want),
                                                          jdump(mine)))
                else:
                    exp = rp.sub(r["reply"])
                    check(H.match_reply(exp, act), "reply differs" +
                          H.diff_msg(req, exp, act))
            elif r["payload"] is not None:
                check_event(r["payload"], col.next(2.0), "on unix")
        # the path nobody reads: counted as failed, not dropped
        raise_ok = h.call("evi:raise", ["E_REF_SCRIPT", ["x"]])
        check(raise_ok.get("result") == "OK", raise_ok)
        check_event(notification("E_REF_SCRIPT", {"": "x"}), col.next(2.0))

        def failed():
            for s in stats(h, "E_REF_SCRIPT"):
                if s["socket"].endswith("no_such.sock"):
                    return s["failed"] >= 1 and s
        s = wait_for(failed, 2.0)
        check(s, "unix path without reader not counted as failed: %s"
              % stats(h, "E_REF_SCRIPT"))
    finally:
        col.close()


# ------------------------------------------------------------ ev.matrix

MB = 1024 * 1024
SHM_SIZE = 64 * MB          # harness: -m 64
PKG_SIZE = 8 * MB           # harness: -M 8


def pct(size, p):
    """Bytes that put a pool of `size` at p% (a quarter percent above)."""
    return size * p // 100 + size // 400

# event -> keys printed by the event_route (route transport)
ROUTE_KEYS = {
    "E_CORE_SR_STATUS_CHANGED": ["group", "identifier", "status", "details",
                                 "old_status"],
    "E_CORE_THRESHOLD": ["source", "time"],
    "E_CORE_LOG": ["level", "message"],
    "E_REF_SCRIPT": ["a", "b"],
    "E_CORE_TCP_DISCONNECT": ["src_ip", "src_port", "dst_ip", "dst_port",
                              "proto"],
    "E_CORE_SHM_THRESHOLD": ["usage", "threshold", "used", "size"],
    "E_CORE_PKG_THRESHOLD": ["usage", "threshold", "used", "size", "pid"],
    "E_FLATSTORE_ROTATION": ["timestamp", "reason", "filename",
                             "old_filename"],
}
TRANSPORTS = ["udp", "unix", "tcp", "flatstore", "route"]


def route_blocks():
    out = []
    for ev, keys in ROUTE_KEYS.items():
        fmt = " ".join("%s=<$param(%s)>" % (k, k) for k in keys)
        out.append('event_route[%s] {\n\txlog("L_NOTICE", "EVR %s %s\\n");\n}'
                   % (ev, ev, fmt))
    return "\n".join(out)


class Sink:
    """What one transport delivered, as (method, params-json-text)."""

    def __init__(self, tr, host):
        self.tr = tr
        self.h = host
        self.col = None
        if tr == "udp":
            self.col = UdpCollector().start()
        elif tr == "unix":
            self.col = UnixCollector(os.path.join(host.run_dir,
                                                  "col.sock")).start()
        elif tr == "tcp":
            self.col = TcpCollector().start()

    def socket_for(self, ev):
        if self.tr == "flatstore":
            return "flatstore:" + os.path.join(self.h.run_dir, ev + ".log")
        return self.col.socket

    def close(self):
        if self.col:
            self.col.close()

    def expect(self, ev, params, pred=None, timeout=3.0):
        """params: ordered dict of expected values; None values match by
        type (volatile). pred(params) selects among several of one event."""
        if self.tr in ("udp", "unix", "tcp"):
            def sel(t):
                try:
                    j = json.loads(t)
                except ValueError:
                    return False
                return j.get("method") == ev and (
                    pred is None or pred(j.get("params")))
            act = self.col.find(sel, timeout)
            vol = {k: (H.JSTR, r"-?\d+") for k, v in params.items()
                   if v is None}
            exp = notification(ev, {k: (0 if v is None else v)
                                    for k, v in params.items()})
            check(act is not None, "no event %s over %s\n      expected: %s"
                  % (ev, self.tr, exp))
            ok = H.match_reply(exp, act, dict(EV_VOLATILE, **vol))
            check(ok, "event differs over %s" % self.tr +
                  H.diff_msg("", exp, act))
            return json.loads(act)["params"]
        if self.tr == "flatstore":
            path = os.path.join(self.h.run_dir, ev + ".log")
            cols = [ev]
            for k, v in params.items():
                if isinstance(v, str):
                    v = v.replace(",", " ")
                cols.append(str(v))
            want = ",".join(cols) + "\n"
            vol = {k: ("[^,\n]*" if v is None or k in ("time", "timestamp")
                       else None)
                   for k, v in params.items()}
            rx = re.escape(ev)
            for k, v in params.items():
                rx += "," + (vol[k] if vol[k] else re.escape(
                    str(v).replace(",", " ") if isinstance(v, str)
                    else str(v)))
            rx += "\n"

            def content():
                try:
                    with open(path, encoding="utf-8", newline="") as f:
                        return f.read()
                except OSError:
                    return ""
            got = wait_for(lambda: re.search(rx, content()), timeout)
            check(got, "flatstore %s: no line like %r in:\n%r"
                  % (path, want, content()[-2000:]))
            return None
        # route: the event_route's xlog line in the host's stderr log
        keys = ROUTE_KEYS[ev]
        rx = "EVR %s " % re.escape(ev) + " ".join(
            "%s=<%s>" % (k, "[^>]*" if params.get(k) is None or
                         k in ("time", "timestamp")
                         else re.escape(str(params[k]))) for k in keys)
        got = wait_for(lambda: re.search(rx, self.h.log()), timeout)
        check(got, "event_route: no line like %r in the log:\n%s"
              % (rx, self.h.log_tail(15)))
        return None


def matrix_host(tr):
    return ev_host(
        "evmx-" + tr,
        extra_globals="event_shm_threshold = 50\nevent_pkg_threshold = 50\n"
                      "exec_dns_threshold = 50000",
        extra_modules='modparam("testmod", "resolve_delay_us", 60000)\n'
                      'modparam("event_flatstore", "rotate_count", 0)',
        routes=route_blocks() if tr == "route" else "")


def test_matrix(runner):
    for tr in TRANSPORTS:
        name0 = "ev.matrix[%s]" % tr
        cases = ["E_CORE_SR_STATUS_CHANGED", "E_CORE_THRESHOLD msg",
                 "E_CORE_THRESHOLD dns", "E_CORE_LOG", "E_REF_SCRIPT",
                 "E_CORE_TCP_DISCONNECT", "E_CORE_SHM_THRESHOLD",
                 "E_CORE_PKG_THRESHOLD", "E_FLATSTORE_ROTATION"]
        if not any(runner.wanted("%s %s" % (name0, c)) for c in cases):
            continue
        h = matrix_host(tr)
        sink = None
        try:
            ok = runner.run(name0 + " start", h.start)
            if not ok:
                continue
            sink = Sink(tr, h)

            def subs(sink=sink, h=h, tr=tr):
                if tr == "route":
                    r = h.result("evi:subscribers")
                    got = {e["name"]: e["Subscribers"] for e in r["Events"]}
                    for ev in ROUTE_KEYS:
                        check(got.get(ev) == [{"socket": "route:" + ev,
                                               "expire": "never"}],
                              "%s: %s" % (ev, got.get(ev)))
                    types = [t for _, _, t in ps_types(h)]
                    i = types.index("TCP main")
                    ours = [t for t in types[i + 1:]
                            if t != "profiling sender"]
                    check(ours == ["EVI sender", "event_route worker"],
                          "ps after TCP main: %s" % types)
                    return
                for ev in ROUTE_KEYS:
                    subscribe(h, ev, sink.socket_for(ev), 120)
                if tr == "flatstore":
                    # a file for E_FLATSTORE_ROTATION to rotate
                    subscribe(h, "E_CORE_PROC_AUTO_SCALE", "flatstore:" +
                              os.path.join(h.run_dir, "rot.log"), 120)
            if not runner.run(name0 + " subscribe every event", subs):
                continue

            def sr(sink=sink, h=h):
                ok200(H.send_options(h, "sr-bad")[0])
                sink.expect("E_CORE_SR_STATUS_CHANGED", {
                    "group": "ref_app", "identifier": "main", "status": -3,
                    "details": "app degraded", "old_status": 1})
                ok200(H.send_options(h, "sr-ok")[0])
                sink.expect("E_CORE_SR_STATUS_CHANGED", {
                    "group": "ref_app", "identifier": "main", "status": 1,
                    "details": "app ready", "old_status": -3})

            def thr_msg(sink=sink, h=h):
                rep, info = H.send_options(h, "slow")
                ok200(rep)
                p = sink.expect("E_CORE_THRESHOLD", {
                    "source": "msg processing", "time": None,
                    "extra": info["request"]},
                    pred=lambda p: p.get("source") == "msg processing")
                if p:
                    check(p["time"] > 50000, p)

            def thr_dns(sink=sink, h=h):
                ok200(H.send_options(h, "resolve")[0])
                p = sink.expect("E_CORE_THRESHOLD", {
                    "source": "dns", "time": None, "extra": "localhost"},
                    pred=lambda p: p.get("source") == "dns")
                if p:
                    check(p["time"] > 50000, p)

            def log(sink=sink, h=h):
                rep, info = H.send_options(h, "log")
                ok200(rep)
                msg = "REFLOG notice line ci=" + info["call_id"]
                sink.expect("E_CORE_LOG", {
                    "time": "Jan  1 00:00:00", "pid": None,
                    "level": "NOTICE", "message": msg},
                    pred=lambda p: p.get("message") == msg)

            def ref(sink=sink, h=h):
                ok200(H.send_options(h, "raise")[0])
                sink.expect("E_REF_SCRIPT", {"b": "two", "a": "1"})

            def tcpdisc(sink=sink, h=h):
                rep, lp = sip_tcp(h)
                ok200(rep, "over TCP")
                sink.expect("E_CORE_TCP_DISCONNECT", {
                    "src_ip": "127.0.0.1", "src_port": lp,
                    "dst_ip": "127.0.0.1", "dst_port": h.sip_port,
                    "proto": "tcp"},
                    pred=lambda p: p.get("src_port") == lp)

            def shm(sink=sink, h=h):
                n = pct(SHM_SIZE, 55)
                check(h.result("testmod:shm_alloc", [str(n)]) == "OK", "")
                # the shared pool also holds the subscribers' queues (64 KB
                # each), so usage lands a little above the 55% allocated
                p = sink.expect("E_CORE_SHM_THRESHOLD", {
                    "usage": None, "threshold": 50, "used": None,
                    "size": SHM_SIZE},
                    pred=lambda p: 55 <= p.get("usage", 0) <= 60)
                if p:
                    check(p["used"] >= n, p)
                check(h.result("testmod:shm_free") == "OK", "")
                sink.expect("E_CORE_SHM_THRESHOLD", {
                    "usage": None, "threshold": 50, "used": None,
                    "size": SHM_SIZE},
                    pred=lambda p: p.get("usage", 100) < 50)

            def pkg(sink=sink, h=h):
                mi_pid = [p for _, p, t in ps_types(h) if t == "MI Datagram"]
                n = pct(PKG_SIZE, 55)
                check(h.result("testmod:pkg_alloc", [str(n)]) == "OK", "")
                sink.expect("E_CORE_PKG_THRESHOLD", {
                    "usage": 55, "threshold": 50, "used": None,
                    "size": PKG_SIZE, "pid": mi_pid[0]},
                    pred=lambda p: p.get("usage") == 55)
                check(h.result("testmod:pkg_free") == "OK", "")

            def rot(sink=sink, h=h, tr=tr):
                if tr == "flatstore":
                    path = os.path.join(h.run_dir, "rot.log")
                else:
                    path = os.path.join(h.run_dir, "rot.log")
                    subscribe(h, "E_CORE_PROC_AUTO_SCALE",
                              "flatstore:" + path, 120)
                r = h.call("event_flatstore:rotate", [path])
                check(r.get("result") == "OK", r)
                sink.expect("E_FLATSTORE_ROTATION", {
                    "timestamp": "0", "reason": "mi", "filename": path,
                    "old_filename": ""})
            for c, fn in zip(cases, (sr, thr_msg, thr_dns, log, ref, tcpdisc,
                                     shm, pkg, rot)):
                runner.run("%s %s" % (name0, c), fn)

            def counters(h=h, tr=tr):
                if tr == "route":
                    return
                bad = [s for s in stats(h) if s["dropped"] or
                       (s["failed"] and s["event"] != "E_CORE_LOG")]
                check(not bad, "subscriber_stats: %s" % bad)
            runner.run(name0 + " nothing dropped or failed", counters)
        finally:
            if sink:
                sink.close()
            h.cleanup()


# ------------------------------------------------------------ ev.slow

SLOW_SCEN = """<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="options">
  <send><![CDATA[
OPTIONS sip:raise@[remote_ip]:[remote_port] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
Max-Forwards: 70
From: <sip:load@[local_ip]>;tag=[call_number]
To: <sip:raise@[remote_ip]>
Call-ID: [call_id]
CSeq: 1 OPTIONS
Content-Length: 0

]]></send>
  <recv response="200"/>
</scenario>
"""


def test_slow(runner):
    name = ("ev.slow TCP never-read + UDP nobody + unix nobody: 2000 "
            "OPTIONS at 500/s all answered, counted")
    if not runner.wanted(name):
        return
    sipp = shutil.which("sipp")
    if not sipp:
        runner.skip(name, "sipp is not installed (apt-get install "
                    "sip-tester)")
        return

    def body():
        black = TcpCollector(read=False).start()
        nobody = H.unused_port()
        h = ev_host("evslow")
        try:
            h.start()
            dead_unix = os.path.join(h.run_dir, "nobody.sock")
            for sock in (black.socket, "udp:127.0.0.1:%d" % nobody,
                         "unix:" + dead_unix):
                subscribe(h, "E_REF_SCRIPT", sock, 120)
            # big events so the never-read TCP peer fills up quickly
            big = "y" * 3000
            scen = os.path.join(h.run_dir, "raise.xml")
            with open(scen, "w") as f:
                f.write(SLOW_SCEN)
            # E_REF_SCRIPT from the route ("raise") per request; also a
            # burst of big events from MI while sipp runs
            argv = [sipp, "127.0.0.1:%d" % h.sip_port, "-sf", scen,
                    "-m", "2000", "-r", "500", "-i", "127.0.0.1",
                    "-p", str(H.free_port()), "-nostdin",
                    "-timeout", "30s", "-timeout_error",
                    "-recv_timeout", "3000", "-trace_stat"]
            p = subprocess.Popen(argv, stdout=subprocess.PIPE,
                                 stderr=subprocess.STDOUT, cwd=h.run_dir,
                                 stdin=subprocess.DEVNULL)
            raised = 0
            t_end = time.monotonic() + 3.0
            while time.monotonic() < t_end and p.poll() is None:
                r = h.call("evi:raise", {"event": "E_REF_SCRIPT",
                                         "params": jdump({"big": big})})
                check(r.get("result") == "OK", r)
                raised += 1
            out, _ = p.communicate(timeout=60)
            check(p.returncode == 0, "sipp exit %d (not every OPTIONS "
                  "answered):\n%s" % (p.returncode,
                                      out.decode(errors="replace")[-1500:]))
            total = 2000 + raised

            def settled():
                st = stats(h, "E_REF_SCRIPT")
                return all(s["queued"] == 0 for s in st) and st
            st = wait_for(settled, 5.0)
            check(st, "queues did not drain: %s" % stats(h))
            by = {s["socket"].split(":")[0]: s for s in st}
            for s in st:
                acc = (s["delivered"] + s["dropped"] + s["failed"] +
                       s["inflight"])
                check(acc == total, "%s: delivered+dropped+failed+inflight "
                      "= %d, raised %d: %s" % (s["socket"], acc, total, s))
            check(by["unix"]["failed"] == total,
                  "unix path without reader: %s" % by["unix"])
            check(by["udp"]["delivered"] == total, by["udp"])
            check(black.accepted >= 1, "the TCP collector was never "
                  "connected")
            check(h.alive(), "host died")
            # SIP still answered after the storm
            ok200(H.send_options(h, "bench")[0])
        finally:
            black.close()
            h.cleanup()
    runner.run(name, body)


# ------------------------------------------------------------ ev.log

def test_log(runner):
    name0 = "ev.log"
    if not runner.wanted(name0):
        return
    col = UdpCollector().start()
    h = ev_host("evlog", extra_globals='log_prefix = "shimpfx"')
    try:
        if not runner.run(name0 + " start", h.start):
            return
        subscribe(h, "E_CORE_LOG", col.socket, 120)

        def xlog_payload():
            rep, info = H.send_options(h, "log")
            ok200(rep)
            act = col.next(2.0)
            exp = notification("E_CORE_LOG", {
                "time": "Jan  1 00:00:00", "pid": 0, "level": "NOTICE",
                "prefix": "shimpfx:",
                "message": "REFLOG notice line ci=" + info["call_id"]})
            check_event(exp, act, "(xlog: no module/function; prefix with "
                        "the trailing ':')")
            j = json.loads(act)["params"]
            workers = [p for _, p, t in ps_types(h)
                       if t.startswith("SIP receiver")]
            check(j["pid"] in workers, "pid %s is not a SIP receiver %s"
                  % (j["pid"], workers))
            t = time.strftime("%b %d %H:%M:%S", time.localtime())
            check(j["time"][:6] == t[:6].replace(" 0", "  ")
                  or j["time"][:6] == t[:6], "time %r" % j["time"])
            check(col.none_within(0.3) == [], "more than one event")
            # a C-code log has module and function (an MI error logs?
            # use the threshold WARNING of a slow request)
            rep, info = H.send_options(h, "slow")
            ok200(rep)
            act = col.next(2.0)
            check(act is not None, "no E_CORE_LOG for the threshold WARNING")
            j = json.loads(act)["params"]
            check(list(j)[:5] == ["time", "pid", "level", "module",
                                  "function"] and j["level"] == "WARNING"
                  and j["prefix"] == "shimpfx:", "C log: %s" % act)
            col.drain(0.2)
        runner.run(name0 + " xlog line payload, prefix, C-code log fields",
                   xlog_payload)

        def level_filter():
            r = h.result("core:log_level_filter", {"consumer": "event"})
            check(r == {"Log level filter": 0}, r)
            r = h.result("core:log_level_filter", {"consumer": "event",
                                                    "level_filter": 1})
            check(r == "OK", r)
            r = h.result("core:log_level_filter", {"consumer": "event"})
            check(r == {"Log level filter": 1}, r)
            ok200(H.send_options(h, "log")[0])      # NOTICE (2) > 1
            check(col.none_within(0.5) == [], "NOTICE passed filter 1")
            ok200(H.send_options(h, "logerr")[0])   # ERR (-1) <= 1
            act = col.next(2.0)
            check(act and '"level":"ERROR"' in act and "REFLOG error" in act,
                  act)
            h.result("core:log_level_filter", {"consumer": "event",
                                               "level_filter": 0})
            ok200(H.send_options(h, "log")[0])
            act = col.next(2.0)
            check(act and "REFLOG notice" in act, act)
            j = h.call("core:log_level_filter", {"consumer": "nope"})
            check(j.get("error", {}).get("code") == 404, j)
        runner.run(name0 + " core:log_level_filter (level_filter param)",
                   level_filter)

        def mute():
            r = h.result("core:log_mute_state", {"consumer": "event"})
            check(r == {"mute state": 0}, r)
            check(h.result("core:log_mute_state", {
                "consumer": "event", "mute_state": 1}) == "OK", "")
            ok200(H.send_options(h, "log")[0])
            check(col.none_within(0.5) == [], "muted consumer still sends")
            check(h.result("core:log_mute_state", {"consumer": "event"}) ==
                  {"mute state": 1}, "")
            h.result("core:log_mute_state", {"consumer": "event",
                                              "mute_state": 0})
            ok200(H.send_options(h, "log")[0])
            act = col.next(2.0)
            check(act and "REFLOG notice" in act, act)
            # stderr keeps logging while the event consumer is muted
            check(h.log().count("REFLOG notice") >= 3, h.log_tail(5))
        runner.run(name0 + " core:log_mute_state", mute)

        def no_loop():
            # failing transports subscribed to E_CORE_LOG: a unix path
            # nobody reads and a TCP port nobody listens on
            dead_tcp = H.free_port(socket.SOCK_STREAM)
            subscribe(h, "E_CORE_LOG", "unix:" + os.path.join(
                h.run_dir, "nobody.sock"), 120)
            subscribe(h, "E_CORE_LOG", "tcp:127.0.0.1:%d" % dead_tcp, 120)
            col.drain(0.2)
            n0 = len(h.log().splitlines())
            ok200(H.send_options(h, "logerr")[0])
            time.sleep(2.0)
            got = col.drain(0)
            n1 = len(h.log().splitlines())
            check(len(got) <= 5, "E_CORE_LOG storm: %d events in 2 s: %s"
                  % (len(got), got[:8]))
            check(n1 - n0 <= 5, "log storm: %d lines in 2 s:\n%s"
                  % (n1 - n0, "\n".join(h.log().splitlines()[n0:n0 + 10])))
            st = [s for s in stats(h, "E_CORE_LOG")]
            unix = [s for s in st if s["socket"].startswith("unix:")][0]
            check(1 <= unix["failed"] <= 5, "unix failed %s" % unix)
            check(h.alive(), "host died")
        runner.run(name0 + " no feedback loop with failing E_CORE_LOG "
                   "subscribers", no_loop)

        def expiry():
            c2 = UdpCollector().start()
            try:
                subscribe(h, "E_CORE_LOG", c2.socket, 2)
                t0 = time.time()
                ok200(H.send_options(h, "log")[0])
                check(c2.next(2.0), "no event while subscribed")
                # lives while since + 2 >= now (strict, whole seconds)
                time.sleep(max(0, int(t0) + 4.0 - time.time()))
                ok200(H.send_options(h, "log")[0])
                check(c2.none_within(0.7) == [], "events after expiry")
                j = h.call("evi:subscribers", ["E_CORE_LOG", c2.socket])
                check(j.get("error") == {"code": 404, "message":
                                         "Subscriber does not exist"} or
                      j.get("result", {}).get("Event", {}).get(
                          "Subscriber", {}).get("ttl") == "expired",
                      "expired subscriber: %s" % j)
            finally:
                c2.close()
        runner.run(name0 + " expire 2 -> events stop", expiry)
    finally:
        col.close()
        h.cleanup()


# ------------------------------------------------------------ ev.threshold

def test_threshold(runner):
    name0 = "ev.threshold"
    if not runner.wanted(name0):
        return

    def shm_rule():
        col = UdpCollector().start()
        h = ev_host("evshm", extra_globals="event_shm_threshold = 50")
        try:
            h.start()
            subscribe(h, "E_CORE_SHM_THRESHOLD", col.socket, 120)

            def ev():
                a = col.next(1.0)
                return json.loads(a)["params"] if a else None
            # the host's own shm use at rest (0 here, but measured)
            h.result("testmod:shm_alloc", [str(pct(SHM_SIZE, 60))])
            p = ev()
            check(p and p["usage"] == 60 and p["threshold"] == 50 and
                  p["size"] == SHM_SIZE, "first crossing: %s" % p)
            base = p["used"] - pct(SHM_SIZE, 60)
            check(0 <= base < SHM_SIZE // 100, "base %d" % base)
            # same percentage -> nothing
            h.result("testmod:shm_alloc", [str(1000)])
            check(col.none_within(0.3) == [], "event without a change")
            # +1% -> one event (61)
            h.result("testmod:shm_alloc", [str(SHM_SIZE // 100)])
            p = ev()
            check(p and p["usage"] == 61, "61%%: %s" % p)
            check(col.none_within(0.3) == [], "more than one event")
            # free everything: one recovery below the threshold
            h.result("testmod:shm_free")
            p = ev()
            check(p and p["usage"] < 50, "recovery: %s" % p)
            check(col.none_within(0.3) == [], "more than one recovery")
            # land exactly on the threshold (50%), then drop: no recovery
            n = pct(SHM_SIZE, 50) - base
            h.result("testmod:shm_alloc", [str(n)])
            p = ev()
            check(p and p["usage"] == 50, "exactly 50%%: %s" % p)
            h.result("testmod:shm_free")
            check(col.none_within(0.5) == [], "recovery from exactly the "
                  "threshold (spec §3: none)")
            # `last` kept without subscribers: unsubscribe, cross to 70,
            # resubscribe, stay at 70 -> nothing; drop -> recovery
            subscribe(h, "E_CORE_SHM_THRESHOLD", col.socket, 0)
            time.sleep(1.1)
            h.result("testmod:shm_alloc", [str(pct(SHM_SIZE, 70))])
            subscribe(h, "E_CORE_SHM_THRESHOLD", col.socket, 120)
            h.result("testmod:shm_alloc", [str(1000)])
            check(col.none_within(0.3) == [], "event at an unchanged 70%")
            h.result("testmod:shm_free")
            p = ev()
            check(p and p["usage"] < 50, "recovery after unsubscribed "
                  "crossing (last kept): %s" % p)
        finally:
            col.close()
            h.cleanup()
    runner.run(name0 + " SHM: per distinct %, one recovery, none from "
               "exactly the threshold, last kept unsubscribed", shm_rule)

    def pkg_rule():
        col = UdpCollector().start()
        h = ev_host("evpkg", extra_globals="event_pkg_threshold = 40")
        try:
            h.start()
            mi_pid = [p for _, p, t in ps_types(h) if t == "MI Datagram"][0]
            subscribe(h, "E_CORE_PKG_THRESHOLD", col.socket, 120)

            def ev():
                a = col.next(1.0)
                return json.loads(a)["params"] if a else None
            h.result("testmod:pkg_alloc", [str(pct(PKG_SIZE, 45))])
            p = ev()
            check(p and p["usage"] == 45 and p["threshold"] == 40 and
                  p["size"] == PKG_SIZE and p["pid"] == mi_pid,
                  "crossing: %s (MI Datagram pid %d)" % (p, mi_pid))
            check(list(p) == ["usage", "threshold", "used", "size", "pid"],
                  p)
            h.result("testmod:pkg_alloc", [str(100)])
            check(col.none_within(0.3) == [], "event without a change")
            h.result("testmod:pkg_alloc", [str(PKG_SIZE * 2 // 100)])
            p = ev()
            check(p and p["usage"] == 47, "47%%: %s" % p)
            h.result("testmod:pkg_free")
            p = ev()
            check(p and p["usage"] < 40, "recovery: %s" % p)
            check(col.none_within(0.3) == [], "more than one recovery")
            # other threads keep their own pkg state: SIP traffic raises
            # nothing (their pools are far below 40%)
            ok200(H.send_options(h, "bench")[0])
            check(col.none_within(0.3) == [], "event from another thread")
        finally:
            col.close()
            h.cleanup()
    runner.run(name0 + " PKG: per thread, per distinct %, recovery, pid",
               pkg_rule)

    def dns_tcp():
        col = UdpCollector().start()
        h = ev_host("evthr", extra_globals="exec_dns_threshold = 30000\n"
                    "tcp_threshold = 1",
                    extra_modules='modparam("testmod", "resolve_delay_us", '
                                  '40000)')
        try:
            h.start()
            subscribe(h, "E_CORE_THRESHOLD", col.socket, 120)
            r = h.result("testmod:resolve", {"name": "localhost"})
            check(r == {"ip": "127.0.0.1"}, r)
            act = col.next(2.0)
            check_event(notification("E_CORE_THRESHOLD", {
                "source": "dns", "time": 0, "extra": "localhost"}), act,
                "(dns via MI testmod:resolve)")
            check(json.loads(act)["params"]["time"] > 30000, act)
            check(col.none_within(0.3) == [], "more than one event")
            rep, lp = sip_tcp(h)
            ok200(rep, "over TCP")
            act = col.next(2.0)
            check_event(notification("E_CORE_THRESHOLD", {
                "source": "tcp ops", "time": 0, "extra": rep}), act,
                "(tcp ops, tcp_threshold 1 us)")
            # no suppression: every slow operation raises
            ok200(sip_tcp(h)[0])
            check(col.next(2.0), "second tcp ops event")
            check("tcp ops took too long" in h.log() or
                  "tcp ops" in h.log(), "no WARNING logged")
        finally:
            col.close()
            h.cleanup()
    runner.run(name0 + " exec_dns_threshold (testmod resolve_delay_us) and "
               "tcp_threshold", dns_tcp)


# ------------------------------------------------------------ ev.sr / mi

def test_sr_and_mi(runner):
    name0 = "ev.mi"
    if not (runner.wanted(name0) or runner.wanted("ev.sr")):
        return
    col = UdpCollector().start()
    h = ev_host("evmi")
    try:
        if not runner.run(name0 + " start", h.start):
            return

        def errors():
            cases = [
                ({"event": "E_NOPE"}, "evi:raise",
                 {"code": 404, "message": "Event not registered"}),
                (["E_REF_SCRIPT"], "evi:raise",
                 {"code": 480, "message": "Temporarily Unavailable"}),
                (["E_CORE_LOG", col.socket, -1], "evi:subscribe",
                 {"code": -32602, "message": "Invalid params",
                  "data": "Negative expire value"}),
                (["", col.socket], "evi:subscribe",
                 {"code": -32602, "message": "Invalid params",
                  "data": "Bad type for parameter 'event'"}),
                (["E_CORE_LOG", "udp:127.0.0.1"], "evi:subscribe",
                 {"code": 400, "message": "Bad parameter value"}),
                (["E_CORE_LOG", "udp:127.0.0.1:0"], "evi:subscribe",
                 {"code": 400, "message": "Bad parameter value"}),
                (["E_NOPE"], "evi:subscribers",
                 {"code": 404, "message": "Event not published"}),
                (["E_CORE_LOG", "udp:127.0.0.1:1"], "evi:subscribers",
                 {"code": 404, "message": "Subscriber does not exist"}),
            ]
            for params, m, err in cases:
                j = h.call(m, params)
                check(j.get("error") == err, "%s %s -> %s, want %s"
                      % (m, params, j, err))
            subscribe(h, "E_REF_SCRIPT", col.socket, 60)
            for params, err in (
                    ({"event": "E_REF_SCRIPT", "params": {"a": 1}},
                     {"code": 400, "message": "No Params"}),
                    ({"event": "E_REF_SCRIPT", "params": "{bad"},
                     {"code": 400, "message": "Bad Params"}),
                    ({"event": "E_REF_SCRIPT", "params": "[1]"},
                     {"code": 400, "message": "Bad Params"})):
                j = h.call("evi:raise", params)
                check(j.get("error") == err, "%s -> %s" % (params, j))
            check(col.none_within(0.3) == [], "an error raised an event")
            # string-object form: types
            r = h.result("evi:raise", {"event": "E_REF_SCRIPT", "params":
                         '{"i": 7.9, "s": "x", "t": true, "n": null, '
                         '"o": {"k": [1, 2]}}'})
            check(r == "OK", r)
            check_event('{"jsonrpc":"2.0","method":"E_REF_SCRIPT","params":'
                        '{"i":7,"s":"x","t":"null","n":"null",'
                        '"o":"{\\"k\\":[1,2]}"}}', col.next(2.0))
            # empty array = no params
            r = h.result("evi:raise", {"event": "E_REF_SCRIPT",
                                       "params": []})
            check_event('{"jsonrpc":"2.0","method":"E_REF_SCRIPT"}',
                        col.next(2.0))
        runner.run(name0 + " evi:raise / subscribe / subscribers errors and "
                   "params forms", errors)

        def shapes():
            r = h.result("evi:subscribers", ["E_CORE_THRESHOLD"])
            check(r == {"Event": {}}, r)
            subscribe(h, "E_CORE_THRESHOLD", col.socket)
            r = h.result("evi:subscribers", ["E_CORE_THRESHOLD",
                                             col.socket])
            ev = r["Event"]
            check(list(ev) == ["name", "id", "Subscriber"] and
                  ev["Subscriber"]["socket"] == col.socket and
                  ev["Subscriber"]["expire"] == 3600 and
                  3598 <= ev["Subscriber"]["ttl"] <= 3600, r)
            # refresh, no duplicate
            subscribe(h, "E_CORE_THRESHOLD", col.socket.replace(
                "127.0.0.1", "localhost"), 50)
            r = h.result("evi:subscribers", ["E_CORE_THRESHOLD"])
            check(len(r["Event"]["Subscribers"]) == 1 and
                  r["Event"]["Subscribers"][0]["expire"] == 50, r)
            # unsubscribe: expire 0 -> "ttl":"expired" until purged
            subscribe(h, "E_CORE_THRESHOLD", col.socket, 0)
            j = h.call("evi:subscribers", ["E_CORE_THRESHOLD"])
            subs = j["result"]["Event"].get("Subscribers", [])
            check(subs == [] or subs == [{"socket": col.socket,
                                          "expire": 0, "ttl": "expired"}],
                  j)
            time.sleep(1.2)
            r = h.result("evi:subscribers", ["E_CORE_THRESHOLD"])
            check(r == {"Event": {}}, "expired subscriber not purged: %s"
                  % r)
            # subscriber_stats shape
            st = h.result("evi:subscriber_stats")
            check(list(st) == ["Subscribers"], st)
            for s in st["Subscribers"]:
                check(list(s) == ["event", "socket", "delivered", "dropped",
                                  "failed", "queued", "inflight"], s)
            st = h.result("evi:subscriber_stats", ["E_REF_SCRIPT"])
            check(all(s["event"] == "E_REF_SCRIPT"
                      for s in st["Subscribers"]), st)
            check(st["Subscribers"][0]["delivered"] >= 2, st)
            # the aliases
            r = h.result("subscribers_list", ["E_REF_SCRIPT"])
            check(r["Event"]["name"] == "E_REF_SCRIPT", r)
            r = h.result("events_list")
            check(r["Events"][0] == {"name": "E_CORE_SR_STATUS_CHANGED",
                                     "id": 0}, r)
        runner.run(name0 + " subscribers shapes, refresh, expired ttl, "
                   "subscriber_stats", shapes)

        def script_subscribe_and_route_socket():
            pass
        del script_subscribe_and_route_socket

        def shutdown_no_event():
            subscribe(h, "E_CORE_SR_STATUS_CHANGED", col.socket, 60)
            col.drain(0.1)
            ok200(H.send_options(h, "sr-bad")[0])
            a = col.next(2.0)
            check(a and '"status":-3' in a, a)
            ok200(H.send_options(h, "sr-bad")[0])   # same status
            check(col.none_within(0.5) == [], "event for the same status")
            rc = h.stop()
            check(rc == 0, "exit %r" % rc)
            got = col.none_within(0.5)
            check(got == [], "events on shutdown: %s" % got)
        runner.run("ev.sr same status and shutdown raise no "
                   "E_CORE_SR_STATUS_CHANGED", shutdown_no_event)
    finally:
        col.close()
        h.cleanup()


# ------------------------------------------------------------ autoscale

def test_autoscale(runner):
    name0 = "ev.autoscale"
    if not runner.wanted(name0):
        return
    col = UdpCollector().start()
    h = ev_host("evas", cfg=AS_CFG)
    stop = threading.Event()
    threads = []
    try:
        if not runner.run(name0 + " start (test/cfg/events-autoscale.cfg)",
                          h.start):
            return
        before = {}

        def ps_before():
            subscribe(h, "E_CORE_PROC_AUTO_SCALE", col.socket, 120)
            types = [t for _, _, t in ps_types(h)
                     if t != "profiling sender"]     # profiling issue
            sipw = "SIP receiver udp:127.0.0.1:%d" % h.sip_port
            want = ["attendant", "event_stream Sender", "MI Datagram",
                    "MI FIFO", "timer", sipw, sipw, "TCP receiver",
                    "TCP receiver", "TCP main", "EVI sender"]
            check(types == want, "ps %s, want %s" % (types, want))
            before["n"] = types.count(sipw)
            # reference seq 3: idle, nothing within 3 s (hold-off)
            check(col.none_within(2.0) == [], "event while idle")
        runner.run(name0 + " ps before; no event while idle", ps_before)

        def sender():
            s = H.sip_socket()
            lp = s.getsockname()[1]
            s.settimeout(2.0)
            while not stop.is_set():
                data, _, _ = H.sip_options("slow", h.sip_port, lp)
                try:
                    s.sendto(data, ("127.0.0.1", h.sip_port))
                    s.recv(65535)
                except OSError:
                    pass
            s.close()
        evs = []

        def up():
            for _ in range(10):
                t = threading.Thread(target=sender, daemon=True)
                t.start()
                threads.append(t)
            a = col.next(10.0)
            stop.set()
            check(a, "no E_CORE_PROC_AUTO_SCALE within 10 s of load")
            j = json.loads(a)
            p = j["params"]
            check(j["method"] == "E_CORE_PROC_AUTO_SCALE" and
                  list(p) == ["group_type", "group_filter", "group_load",
                              "scale", "process_id", "pid"], a)
            check(p["group_type"] == "UDP" and p["scale"] == "up" and
                  p["group_filter"] == "udp:127.0.0.1:%d" % h.sip_port and
                  70 <= p["group_load"] <= 100, a)
            evs.append(p)
            procs = h.result("core:ps")["Processes"]
            byid = {x["ID"]: x for x in procs}
            sipw = "SIP receiver udp:127.0.0.1:%d" % h.sip_port
            check(p["process_id"] in byid and
                  byid[p["process_id"]]["Type"] == sipw and
                  byid[p["process_id"]]["PID"] == p["pid"],
                  "process_id/pid %s not in ps %s" % (p, procs))
            n = [x["Type"] for x in procs].count(sipw)
            check(n > before.get("n", 2), "ps shows %d SIP receivers" % n)
            r = h.result("status_report:identifiers", ["auto-scaling"])
            check(r == {"Group": "auto-scaling", "Identifiers":
                        ["UDP/udp:127.0.0.1:%d" % h.sip_port]}, r)
            r = h.result("status_report:reports",
                         ["auto-scaling", "UDP/udp:127.0.0.1:%d"
                          % h.sip_port])
            logs = [x["Log"] for x in r]
            want = ("Forking new process id %d at load %d in group with 2 "
                    "processes" % (p["process_id"], p["group_load"]))
            check(logs and logs[0] == want, "reports %s, want %s first"
                  % (logs, want))
            H.check_report_dates(json.dumps({"r": r}))
            r = h.result("status_report:identifiers")
            check(r[0]["Group"] == "auto-scaling", r)
        runner.run(name0 + " up: event fields, ps, SR group and report", up)
        for t in threads:
            t.join(3)

        def down():
            check(evs, "no up event")
            # our rule: down after the 10 x D (= 20) cycle hold-off that
            # follows the last up-scale, then D low cycles
            deadline = time.monotonic() + 28.0
            got = None
            while time.monotonic() < deadline:
                a = col.next(deadline - time.monotonic())
                if not a:
                    break
                p = json.loads(a)["params"]
                if p["scale"] == "down":
                    got = p
                    break
                evs.append(p)
            check(got, "no down event within 28 s of idle (events: %s)"
                  % evs)
            check(got["group_type"] == "UDP" and got["group_load"] <= 10,
                  got)
            newest = max(e["process_id"] for e in evs)
            check(got["process_id"] == newest, "ripped %s, newest up %d"
                  % (got, newest))
            r = h.result("status_report:reports",
                         ["auto-scaling", "UDP/udp:127.0.0.1:%d"
                          % h.sip_port])
            check(any(x["Log"].startswith("Ripping process id %d at load "
                                          % got["process_id"]) for x in r),
                  r)
            ok200(H.send_options(h, "bench")[0])
        runner.run(name0 + " down after the hold-off (bounded: 28 s)", down)
    finally:
        stop.set()
        col.close()
        h.cleanup()


def run(runner):
    test_replay(runner)
    test_matrix(runner)
    test_log(runner)
    test_threshold(runner)
    test_sr_and_mi(runner)
    test_slow(runner)
    test_autoscale(runner)
