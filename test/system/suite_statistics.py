"""System tests of the statistics issue: statistics:get/list/reset/reset_all.

Replays test/system/ref/statistics.jsonl (captured from the reference
OpenSIPS with the same traffic: 7 OPTIONS, then 3 more before the resets)
against our host, compares replies with the masking its README asks for,
checks which counters SIP traffic moves (OPTIONS, the ACK of our reply, a
bad Via, a request without Via, a reply, a header block that ends with the
datagram), our own groups, and opensips-cli's `mi get_statistics all` and
`mi statistics:get core:` over FIFO, datagram and HTTP.
"""

import json
import os
import re
import socket
import subprocess
import sys
import time

import harness as H
from harness import check

HERE = os.path.dirname(os.path.abspath(__file__))
REF = os.path.join(HERE, "ref", "statistics.jsonl")
CFG = os.path.join(H.CFG_DIR, "statistics.cfg")

# Reference groups and names this host has no use for (decisions: tm, sql,
# cdb, rpmem stay absent; no TLS SIP: no net:waiting_tls).
ABSENT = re.compile(r"^(rpmem|sql|cdb|tm):|^net:waiting_tls$")
# Per-process statistics: compared by family, ids differ (our threads).
PER_PROC = re.compile(r"^(pkmem):(\d+)-(.*)$|^(load):(.*)-proc-(\d+)$")
# Our own groups (not in the reference)
OURS = re.compile(r"^(sip|evi|sr|mi|httpd|profiling):")
# Values compared by type only (memory sizes, time, load)
BY_TYPE = re.compile(r"^(shmem|pkmem|load):|^core:timestamp$|"
                     r"^(pkmem:\d+-|load:)")

# Where we answer differently on purpose (docs/statistics.md)
DEPARTURES = {
    "list/core:rcv_requests": "group:name is resolved (the reference finds nothing)",
    "get/core:rcv_requests": "group:name is resolved",
    "get/core:rcv_requests+shmem:used_size": "group:name is resolved",
    "reset/core:rcv_requests": "group:name is resolved",
    "reset/shmem:used_size": "group:name is resolved",
    "reset/core:timestamp": "group:name is resolved",
    "reset/load:load": "group:name is resolved",
    "list/string-param": "a string is taken as blank-separated names",
    "get/string-param": "a string is taken as blank-separated names",
    "get/positional-string": "a string is taken as blank-separated names",
    "reset/string-param": "a string is taken as blank-separated names",
}


class StatsHost(H.Host):
    def __init__(self, name="stats", extra_modules="", extra_globals=""):
        self.http_port = H.free_port(socket.SOCK_STREAM)
        super().__init__(CFG, subs={"@HTTP_PORT@": str(self.http_port),
                                    "@EXTRA_MODULES@": extra_modules,
                                    "@EXTRA_GLOBALS@": extra_globals}, name=name)

    def get(self, *names):
        return self.result("statistics:get", {"statistics": list(names)})


def pairs(text):
    """JSON text -> structure with objects as lists of (key, value) pairs
    (statistics:get may repeat a key)."""
    return json.loads(text, object_pairs_hook=lambda kv: kv)


def norm_key(k):
    m = PER_PROC.match(k)
    if not m:
        return k
    if m.group(1):
        return "pkmem:<id>-" + m.group(3)
    return "load:%s-proc-<id>" % m.group(5)


def compare_result(case, ref, ours, how):
    """ref/ours: lists of (key, value). The keys the reference has (minus
    absent groups) come in the same order, per-process ones by family."""
    def keep(kv, our_side):
        k = kv[0]
        if ABSENT.search(k):
            return False
        if our_side and OURS.match(k):
            return False
        return True

    rk = [(norm_key(k), v) for k, v in ref if keep((k, v), False)]
    ok = [(norm_key(k), v) for k, v in ours if keep((k, v), True)]
    # per-process families: the same families, in the same order
    def collapse(seq):
        out = []
        for k, v in seq:
            if out and out[-1][0] == k and "<id>" in k:
                continue
            out.append((k, v))
        return out
    rk2, ok2 = collapse(rk), collapse(ok)
    # per-process families repeat per process: compare the first pass
    def first_pass(seq):
        seen, out = set(), []
        for k, v in seq:
            if "<id>" in k and k in seen:
                continue
            seen.add(k)
            out.append((k, v))
        return out
    rk2, ok2 = first_pass(rk2), first_pass(ok2)
    check([k for k, _ in rk2] == [k for k, _ in ok2],
          "%s: keys differ\n  ref:  %s\n  ours: %s" % (
              case, [k for k, _ in rk2], [k for k, _ in ok2]))
    for (k, rv), (_, ov) in zip(rk2, ok2):
        if how == "list" or not (BY_TYPE.search(k) or "<id>" in k):
            check(rv == ov, "%s: %s is %r, the reference %r" % (case, k, ov, rv))
        else:
            check(isinstance(ov, int) and isinstance(rv, int),
                  "%s: %s is %r (type)" % (case, k, ov))
    # every per-process key of ours is well-formed, and there is one per
    # thread but the attendant
    for k, v in ours:
        if k.startswith("pkmem:") or (k.startswith("load:") and "-proc-" in k):
            check(PER_PROC.match(k), "%s: odd per-thread key %s" % (case, k))


def replay_reply(case, rec, got):
    ref = rec["reply"]
    if ref is None:
        check(got is None, "%s: a reply where the reference sent none: %r" % (case, got))
        return
    check(got is not None, "%s: no reply" % case)
    if not ref.startswith("{"):
        check(got == ref, "%s: %r, the reference %r" % (case, got, ref))
        return
    r, o = pairs(ref), pairs(got)
    rd, od = dict(r), dict(o)
    check(("error" in rd) == ("error" in od), "%s: %s vs the reference %s" % (case, got, ref))
    if "error" in rd:
        check(od["error"] == rd["error"], "%s: error %s, the reference %s" %
              (case, od["error"], rd["error"]))
        return
    rres, ores = rd["result"], od["result"]
    if isinstance(rres, str) or isinstance(rres, list) and rres and not isinstance(rres[0], tuple):
        check(rres == ores, "%s: %r, the reference %r" % (case, ores, rres))
        return
    how = "list" if "list" in case else "get"
    compare_result(case, rres or [], ores or [], how)


def sip_options(lport, sip_port, n):
    return ("OPTIONS sip:ping@127.0.0.1:%d SIP/2.0\r\n"
            "Via: SIP/2.0/UDP 127.0.0.1:%d;branch=z9hG4bK-stats-%d;rport\r\n"
            "Max-Forwards: 70\r\n"
            "From: <sip:probe@127.0.0.1>;tag=ft%d\r\n"
            "To: <sip:ping@127.0.0.1:%d>\r\n"
            "Call-ID: stats-%d@127.0.0.1\r\n"
            "CSeq: %d OPTIONS\r\n"
            "Content-Length: 0\r\n\r\n" % (sip_port, lport, n, n, sip_port, n, n))


class Sip:
    def __init__(self, host):
        self.h = host
        self.s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.s.bind(("127.0.0.1", 0))
        self.s.settimeout(2.0)
        self.lport = self.s.getsockname()[1]

    def send(self, text, want_reply=True):
        self.s.sendto(text.encode(), ("127.0.0.1", self.h.sip_port))
        if not want_reply:
            return None
        return self.s.recv(65535).decode(errors="replace")

    def silent(self, text, wait=0.4):
        self.s.sendto(text.encode(), ("127.0.0.1", self.h.sip_port))
        self.s.settimeout(wait)
        try:
            return self.s.recv(65535).decode(errors="replace")
        except socket.timeout:
            return None
        finally:
            self.s.settimeout(2.0)

    def close(self):
        self.s.close()


def load_ref():
    with open(REF) as f:
        return [json.loads(ln) for ln in f]


def test_replay(runner):
    prefix = "stats.replay"
    if not runner.wanted(prefix):
        return
    recs = load_ref()
    h = StatsHost("statsreplay")
    try:
        ok = runner.run(prefix + " start", h.start)
        sip = Sip(h) if ok else None
        sent = [0]

        def options(n):
            for _ in range(n):
                sent[0] += 1
                r = sip.send(sip_options(sip.lport, h.sip_port, sent[0]))
                check(r.startswith("SIP/2.0 200"), r)
            time.sleep(0.2)

        for rec in recs:
            case = rec["case"]
            if case == "traffic/7-options":
                runner.run("%s traffic: 7 OPTIONS" % prefix, lambda: check(ok, "no host")
                           or options(7))
                continue
            if case == "reset/pre-get":
                runner.run("%s traffic: 3 more OPTIONS" % prefix,
                           lambda: check(ok, "no host") or options(3))
            if not rec["request"].startswith(("{", "this is not")):
                continue  # traffic and HTTP cases: test_traffic, test_cli
            if case == "which":
                continue  # run.py compares `which` as a set (decisions §6)
            name = "%s %s" % (prefix, case)
            if case in DEPARTURES:
                runner.skip(name, "departure: " + DEPARTURES[case])
                continue

            def body(rec=rec, case=case):
                check(ok, "host did not start")
                got = h.dgram(rec["request"], timeout=1.0 if "no-id" in case else 2.0)
                replay_reply(case, rec, got)
            runner.run(name, body)
        # our departures, checked for what we do instead
        def departures():
            check(ok, "host did not start")
            options(1)
            r = h.result("statistics:get", {"statistics": ["core:rcv_requests"]})
            check(list(r) == ["core:rcv_requests"] and isinstance(r["core:rcv_requests"], int), r)
            r = h.result("statistics:list", {"statistics": "sl:"})
            check(r.get("sl:2xx_replies") == "incremental", r)
            r = h.result("statistics:get", ["rcv_requests sl:2xx_replies"])
            check(list(r) == ["core:rcv_requests", "sl:2xx_replies"], r)
            before = h.get("sl:2xx_replies")["sl:2xx_replies"]
            check(before > 0, before)
            check(h.result("statistics:reset", {"statistics": ["sl:2xx_replies"]}) == "OK", "")
            check(h.get("sl:2xx_replies")["sl:2xx_replies"] == 0, "not reset")
        runner.run(prefix + " our extensions: group:name, a string of names", departures)
        if sip:
            sip.close()
    finally:
        h.cleanup()


def moved(before, after):
    return {k: (before.get(k), v) for k, v in after.items()
            if before.get(k) != v and not BY_TYPE.search(k) and not OURS.match(k)}


def test_traffic(runner):
    name = "stats.traffic moves the reference's counters"
    if not runner.wanted(name):
        return

    def body():
        with StatsHost("statstraffic") as h:
            sip = Sip(h)
            try:
                b = h.get("all")
                for n in range(1, 8):
                    r = sip.send(sip_options(sip.lport, h.sip_port, n))
                    check(r.startswith("SIP/2.0 200"), r)
                a = h.get("all")
                check(moved(b, a) == {"core:rcv_requests": (0, 7),
                                      "sl:2xx_replies": (0, 7),
                                      "sl:sent_replies": (0, 7)}, moved(b, a))
                # the ACK of our 200: absorbed before the script
                r = sip.send(sip_options(sip.lport, h.sip_port, 11))
                tag = re.search(r"^To:.*;tag=([^;\r\n]+)", r, re.M).group(1)
                ack = sip_options(sip.lport, h.sip_port, 11).replace(
                    "OPTIONS sip:", "ACK sip:", 1).replace("11 OPTIONS", "11 ACK").replace(
                    "To: <sip:ping@127.0.0.1:%d>" % h.sip_port,
                    "To: <sip:ping@127.0.0.1:%d>;tag=%s" % (h.sip_port, tag))
                b = h.get("all")
                check(sip.silent(ack) is None, "the ACK was answered")
                a = h.get("all")
                check(moved(b, a) == {"core:rcv_requests": (8, 9),
                                      "core:drop_requests": (0, 1),
                                      "sl:received_ACKs": (0, 1)}, moved(b, a))
                # an unparsable Via: a bad header block, nothing else
                bad = ("OPTIONS sip:ping@127.0.0.1 SIP/2.0\r\n"
                       "Via: SIP/2.0/UDP ;;;@@@ broken\r\n"
                       "From: <sip:probe@127.0.0.1>;tag=bad\r\nTo: <sip:ping@127.0.0.1>\r\n"
                       "Call-ID: bad@127.0.0.1\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n")
                b = h.get("all")
                check(sip.silent(bad) is None, "a bad Via was answered")
                a = h.get("all")
                check(moved(b, a) == {"core:bad_msg_hdr": (0, 1)}, moved(b, a))
                # no Via at all: received, in error
                novia = ("OPTIONS sip:ping@127.0.0.1 SIP/2.0\r\n"
                         "From: <sip:probe@127.0.0.1>;tag=novia\r\nTo: <sip:ping@127.0.0.1>\r\n"
                         "Call-ID: novia@127.0.0.1\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n")
                b = h.get("all")
                check(sip.silent(novia) is None, "no Via was answered")
                a = h.get("all")
                check(moved(b, a) == {"core:rcv_requests": (9, 10),
                                      "core:err_requests": (0, 1)}, moved(b, a))
                # a reply: received and dropped (no stateless forwarding here)
                rpl = ("SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 127.0.0.1:%d;branch=z9hG4bKx\r\n"
                       "From: <sip:a@b>;tag=1\r\nTo: <sip:c@d>;tag=2\r\nCall-ID: r@x\r\n"
                       "CSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n" % sip.lport)
                b = h.get("all")
                sip.silent(rpl, 0.3)
                a = h.get("all")
                check(moved(b, a) == {"core:rcv_replies": (0, 1),
                                      "core:drop_replies": (0, 1)}, moved(b, a))
                # a header block that ends with the datagram (no empty line):
                # answered, as the reference answers it
                short = sip_options(sip.lport, h.sip_port, 20).rstrip("\r\n")
                r = sip.silent(short, 1.0)
                check(r is not None and r.startswith("SIP/2.0 200"), "no answer to %r" % short)
                # drops are counted by reason
                d = h.get("sip:")
                check(d.get("sip:dropped/bad_header") == 1 and
                      d.get("sip:dropped/missing_header") == 1, d)
                workers = [k for k in d if k.startswith("sip:received/")]
                check(sum(d[k] for k in workers) == 13, d)
            finally:
                sip.close()
    runner.run(name, body)


def test_own_groups(runner):
    name = "stats.our groups: evi, sr, mi, httpd, profiling"
    if not runner.wanted(name):
        return

    def body():
        extra = ('loadmodule "event_datagram.so"\n'
                 'modparam("status_report", "script_sr_group", "app")\n')
        with StatsHost("statsown", extra_modules=extra) as h:
            col = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            col.bind(("127.0.0.1", 0))
            col.settimeout(2)
            cport = col.getsockname()[1]
            try:
                r = h.call("evi:subscribe", ["E_CORE_THRESHOLD", "udp:127.0.0.1:%d" % cport])
                check(r.get("result") == "OK", r)
                for i in range(3):
                    r = h.call("evi:raise", {"event": "E_CORE_THRESHOLD",
                                             "params": json.dumps({"n": i})})
                    check(r.get("result") == "OK", r)
                for _ in range(3):
                    col.recv(65535)
                time.sleep(0.3)
                g = h.get("evi:", "sr:", "mi:", "httpd:", "profiling:")
                check(g.get("evi:raised/E_CORE_THRESHOLD") == 3, g)
                check(g.get("evi:delivered/E_CORE_THRESHOLD/udp") == 3, g)
                sub = "udp:127.0.0.1:%d" % cport
                check(g.get("evi:sub_delivered/E_CORE_THRESHOLD/" + sub) == 3, g)
                check(g.get("evi:sub_queued/E_CORE_THRESHOLD/" + sub) == 0, g)
                check(g.get("sr:status/core/main") == 1 and g.get("sr:ready/core/main") == 1, g)
                check("sr:status/app/main" in g, g)
                check(g.get("mi:requests/datagram", 0) >= 5, g)
                check("httpd:replies/2xx" in g and "profiling:records" in g, g)
                # kinds
                k = h.result("statistics:list", {"statistics": ["evi:", "sr:"]})
                check(k["evi:delivered/E_CORE_THRESHOLD/udp"] == "incremental", k)
                check(k["evi:sub_queued/E_CORE_THRESHOLD/" + sub] == "non-incremental", k)
                check(k["sr:status/core/main"] == "non-incremental", k)
                # reset of a computed counter starts it from 0, the source
                # (evi:subscriber_stats) is not touched
                check(h.result("statistics:reset", {"statistics": [
                    "delivered/E_CORE_THRESHOLD/udp"]}) == "OK", "")
                g = h.get("evi:delivered/E_CORE_THRESHOLD/udp")
                check(g["evi:delivered/E_CORE_THRESHOLD/udp"] == 0, g)
                ss = h.result("evi:subscriber_stats", {"event": "E_CORE_THRESHOLD"})
                check(json.dumps(ss).count('"delivered": 3') == 1, ss)
            finally:
                col.close()
    runner.run(name, body)


def test_cli(runner):
    prefix = "stats.opensips-cli get_statistics over"
    if not runner.wanted(prefix):
        return
    # opensips-cli refuses what `which` does not list: the 3.x names need
    # mi_list_aliases (decisions §6), with us as with the reference
    h = StatsHost("statscli", extra_globals="mi_list_aliases = yes")
    try:
        ok = runner.run(prefix + " start", h.start)
        for transport in ("fifo", "datagram", "http"):
            def body(t=transport):
                check(ok, "host did not start")
                def cli(*args):
                    where = {"fifo": ["--fifo", h.fifo, "--reply-dir", h.run_dir],
                             "datagram": ["--addr", "127.0.0.1:%d" % h.mi_port],
                             "http": ["--url", "http://127.0.0.1:%d/mi" % h.http_port]}[t]
                    p = subprocess.run([sys.executable, H.TOOL, "-t", t] + where +
                                       ["-x", "mi"] + list(args), capture_output=True,
                                       timeout=10, stdin=subprocess.DEVNULL)
                    check(p.returncode == 0, "%s: %s" % (args, p.stderr.decode()))
                    return json.loads(p.stdout.decode())
                r = cli("get_statistics", "all")
                check(isinstance(r, dict) and "core:rcv_requests" in r and
                      "sl:sent_replies" in r and "shmem:used_size" in r, r)
                r = cli("statistics:get", "core:")
                check(isinstance(r, dict) and list(r)[0] == "core:rcv_requests" and
                      all(k.startswith("core:") for k in r), r)
                r = cli("list_statistics", "sl:", "dns:")
                check(r.get("dns:dns_total_queries") == "incremental" and
                      r.get("sl:1xx_replies") == "incremental", r)
                r = cli("reset_statistics", "sent_replies")
                check(r == "OK", r)
                r = cli("statistics:reset_all")
                check(r == "OK", r)
            runner.run("%s %s" % (prefix, transport), body)
    finally:
        h.cleanup()


def test_bad_input(runner):
    name = "stats.bad input: errors as the reference, nothing reset"
    if not runner.wanted(name):
        return

    def body():
        with StatsHost("statsbad") as h:
            sip = Sip(h)
            for n in range(1, 4):
                sip.send(sip_options(sip.lport, h.sip_port, n))
            sip.close()
            before = h.get("all")
            for req, want in (
                ({"statistics": []}, "Empty array in parameter 'statistics'"),
                ({"stats": ["x"]}, "Named parameters do not match"),
                ({"statistics": ["x"], "y": 1}, "Too few or too many parameters"),
            ):
                for m in ("statistics:get", "statistics:list", "statistics:reset"):
                    r = h.call(m, req)
                    check(r.get("error", {}).get("data") == want, (m, req, r))
            r = h.call("statistics:reset", {"statistics": ["nosuch", "all", "core:"]})
            check(r.get("error") == {"code": 404, "message": "Statistics Not Found"}, r)
            r = h.call("statistics:reset", {"statistics": ["used_size", "timestamp"]})
            check(r.get("result") == "OK", r)
            after = h.get("all")
            check(after["core:rcv_requests"] == before["core:rcv_requests"] == 3,
                  (before["core:rcv_requests"], after["core:rcv_requests"]))
            check(after["sl:sent_replies"] == 3, after)
    runner.run(name, body)


def run(runner):
    test_replay(runner)
    test_traffic(runner)
    test_own_groups(runner)
    test_cli(runner)
    test_bad_input(runner)
