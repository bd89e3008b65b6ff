#!/usr/bin/env python3
"""System tests for opensips-shim: the real binary, real sockets.

    BUILD=build python3 test/system/run.py [-k SUBSTRING] [-v]

Each test starts its own host in a temporary run directory on free
loopback ports. One line per test; the last line is `N passed, N failed`.
Exit status is non-zero when a test failed. Skipped tests are listed with
their reason and counted separately (not in the last line).
"""

import json
import os
import re
import select
import signal
import socket
import stat
import subprocess
import sys
import threading
import time
import traceback

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "lib"))
import harness as H  # noqa: E402
from harness import check, TestFailure, Skip  # noqa: E402

# decisions.md §7: the host-foundation command set
FOUNDATION = [
    "core:which", "core:help", "core:version", "core:uptime", "core:pwd",
    "core:arg", "core:ps", "core:kill", "core:log_level", "core:xlog_level",
    "status_report:get", "status_report:status", "status_report:reports",
    "status_report:identifiers",
]
# decisions.md §7: the events issue's host commands (always there: EVI and
# the log consumers are part of the host)
EVENT_CMDS = [
    "evi:subscribe", "evi:list", "evi:subscribers", "evi:raise",
    "evi:subscriber_stats", "core:log_level_filter", "core:log_mute_state",
]
# ... and commands that come with a module when it is loaded
MODULE_CMDS = {
    "event_flatstore": ["event_flatstore:rotate"],
    "httpd": ["httpd:list_root_path"],
    "sr_http": ["sr_http:drain", "sr_http:undrain"],
}
# the statistics issue: host commands (decisions §7 order: host first)
STATS_CMDS = ["statistics:get", "statistics:list", "statistics:reset",
              "statistics:reset_all"]
FOUNDATION = FOUNDATION + EVENT_CMDS + STATS_CMDS
# decisions §1/§7: event_profiling is auto-loaded like core_events once it
# is built (profiling issue); its commands are then part of every `which`
PROFILING_CMDS = ["core:profiling_proc", "event_profiling:stats"]
if os.path.exists(os.path.join(H.BUILD_DIR, "modules", "event_profiling.so")):
    FOUNDATION = FOUNDATION + PROFILING_CMDS
SR_ALIASES = ["sr_get_status", "sr_list_status", "sr_list_reports",
              "sr_list_identifiers"]
EVI_ALIASES = ["event_subscribe", "events_list", "subscribers_list",
               "raise_event", "get_statistics", "list_statistics",
               "reset_statistics", "reset_all_statistics"]
TESTMOD_CMDS = ["testmod:get", "testmod:shm_alloc", "testmod:shm_free",
                "testmod:pkg_alloc", "testmod:pkg_free", "testmod:resolve",
                "testmod:raise_burst"]
REF_CFG = os.path.join(H.CFG_DIR, "ref.cfg")
# the transcript replay loads the event transports the reference had (it
# subscribes udp:, tcp: and flatstore: sockets)
REF_EVENT_MODULES = ('loadmodule "event_datagram.so"\n'
                     'loadmodule "event_stream.so"\n'
                     'loadmodule "event_flatstore.so"\n')
REF_WHICH = FOUNDATION + MODULE_CMDS["event_flatstore"]
TESTMOD_CFG = os.path.join(H.CFG_DIR, "ref-testmod.cfg")
VERSION_OK = '{"jsonrpc":"2.0","result":{"Server":"x"},"id":%s}'
INVALID = '{"jsonrpc":"2.0","error":{"code":-32600,"message":"Invalid Request"},"id":%s}'


# ------------------------------------------------------------- runner

class Runner:
    def __init__(self, pattern=None, verbose=False):
        self.passed = self.failed = self.skipped = 0
        self.pattern = pattern
        self.verbose = verbose
        self.failures = []

    def wanted(self, name):
        return not self.pattern or self.pattern in name

    def run(self, name, fn, *args):
        # a group's " start" step runs whenever the group runs (-k)
        if not self.wanted(name) and not name.endswith(" start"):
            return True
        t0 = time.monotonic()
        try:
            fn(*args)
        except Skip as e:
            self.skipped += 1
            print("SKIP %s: %s" % (name, e), flush=True)
            return True
        except (TestFailure, H.mitool.MIError, OSError) as e:
            if isinstance(e, OSError) and not self.verbose:
                return self._fail(name, "%s: %s" % (type(e).__name__, e), t0)
            if not isinstance(e, OSError):
                return self._fail(name, str(e), t0)
            return self._fail(name, traceback.format_exc().rstrip(), t0)
        except Exception:
            return self._fail(name, traceback.format_exc().rstrip(), t0)
        self.passed += 1
        print("ok   %s (%.2fs)" % (name, time.monotonic() - t0), flush=True)
        return True

    def skip(self, name, reason):
        if self.wanted(name):
            self.skipped += 1
            print("SKIP %s: %s" % (name, reason), flush=True)

    def _fail(self, name, msg, t0):
        self.failed += 1
        self.failures.append(name)
        print("FAIL %s (%.2fs): %s" % (name, time.monotonic() - t0,
                                        msg.replace("\n", "\n    ")),
              flush=True)
        return False


def need_binary():
    if not os.path.exists(H.BIN):
        raise TestFailure("binary %s not built" % H.BIN)


# ------------------------------------------------- a. transcript replay

# mi methods replayed elsewhere or not ours to copy
LATER = {
    "profiling_proc": "profiling issue (suite_profiling.py)",
    "cfgutils:shv_set": "cfgutils is not shipped; SHM thresholds are "
                        "asserted with testmod (decisions §30, suite_events)",
}
# SIP triggers answered here (over UDP); sip_over_tcp needs the tcp socket
# of test/cfg/events.cfg (suite_events.py ev.replay)
SIP_SKIP = {"sip_over_tcp": "SIP over TCP: replayed by suite_events.py "
                            "(ev.replay, events.cfg has the tcp socket)"}


def replay_plan():
    """-> list of (name, kind, record-or-None, reason-if-skip) in order."""
    recs = H.read_jsonl("transcripts.jsonl")
    by_case = {}
    order = []
    for r in recs:
        if r["case"] not in by_case:
            order.append(r["case"])
            by_case[r["case"]] = []
        by_case[r["case"]].append(r)
    plan = []
    for case in order:
        rs = by_case[case]
        r0 = rs[0]
        if r0["kind"] == "event":
            plan.append((case, r0, "event payload: replayed with real "
                         "collectors by suite_events.py (ev.replay)"))
            continue
        if r0["kind"] == "sip":
            plan.append((case, r0, SIP_SKIP.get(case)))
            continue
        non_http = [r for r in rs if r["transport"] != "mi_http"]
        if not non_http:
            if case == "err_missing_method_http":
                plan.append((case, r0, "covered by "
                             "err_missing_method_datagram_CRASH"))
            else:
                plan.append((case, r0, "HTTP-only record: replayed by suite_http.py"))
            continue
        try:
            method = json.loads(r0["request"]).get("method")
        except ValueError:
            method = None
        if method in LATER:
            plan.append((case, r0, LATER[method]))
            continue
        if "E_PROFILING" in r0["request"]:
            plan.append((case, r0, "E_PROFILING_* events: profiling issue "
                         "(suite_profiling.py)"))
            continue
        plan.append((case, rs, None))
    return plan


def expected_for(recs, transport):
    """The reply expected from our host over `transport` for a case."""
    mine = [r for r in recs if r["transport"] == "mi_" + transport]
    r = mine[0] if mine else [x for x in recs
                              if x["transport"] != "mi_http"][0]
    case = r["case"]
    if case == "err_missing_method_datagram_CRASH":
        return r["request"], INVALID % "99"           # decisions §11/22
    if case == "server_alive_after_missing_method":
        return r["request"], VERSION_OK % "105"
    if case in ("err_malformed_json", "err_not_json"):
        return r["request"], ("400 Parse_error" if transport == "datagram"
                              else None)
    return r["request"], r["reply"]


def check_which_reply(actual, req_id, expected_set, allowed_extra=()):
    check(actual is not None, "no reply")
    j = json.loads(actual)
    lst = j.get("result")
    check(isinstance(lst, list), "result is not a list: %s" % actual)
    compact = ('{"jsonrpc":"2.0","result":%s,"id":%s}'
               % (json.dumps(lst, separators=(",", ":")), req_id))
    check(actual == compact, "not the compact envelope:\n  %s\n  %s"
          % (actual, compact))
    check(len(lst) == len(set(lst)), "duplicates in which: %s" % lst)
    missing = set(expected_set) - set(lst)
    extra = set(lst) - set(expected_set) - set(allowed_extra)
    check(not missing and not extra, "which differs: missing %s, extra %s"
          % (sorted(missing), sorted(extra)))
    # registration order: host commands before the auto-loaded module's
    # (core:profiling_proc is registered by the auto-loaded event_profiling
    # module, after status_report: decisions §1/§6 order)
    idx_core = [i for i, n in enumerate(lst) if n.startswith("core:")
                and n not in PROFILING_CMDS]
    idx_sr = [i for i, n in enumerate(lst)
              if n.startswith("status_report:")]
    check(max(idx_core) < min(idx_sr), "core:* must come before "
          "status_report:* (registration order): %s" % lst)


class ReplayState:
    def __init__(self, host=None):
        self.subs = {}      # reference text -> ours (ports, call-ids)
        if host is not None:
            # collector ports (nobody listens: these records check MI
            # replies; payloads are suite_events.py's) and the run dir
            self.subs.update({
                "127.0.0.1:9901": "127.0.0.1:%d" % host.ev_udp_port,
                "127.0.0.1:9902": "127.0.0.1:%d" % host.ev_tcp_port,
                "/run/opensips-ref/run/": host.run_dir + "/"})


def replay_sip(host, st, rec):
    user = re.search(r"sip:([^@]+)@", rec["request"]).group(1)
    rep, info = H.send_options(host, user)
    ref = rec["reply"]
    ref_via = re.search(r"Via: SIP/2\.0/UDP 127\.0\.0\.1:(\d+);branch=(\S+)",
                        ref)
    ref_cid = re.search(r"Call-ID: (\S+)", ref).group(1)
    st.subs[ref_cid] = info["call_id"]
    st.subs["127.0.0.1:%s" % ref_via.group(1)] = "127.0.0.1:%d" % info["port"]
    exp = ref.replace(ref_via.group(2), info["branch"])
    for k, v in st.subs.items():
        exp = exp.replace(k, v)
    check(rep is not None, "no SIP reply" + H.diff_msg(info["request"],
                                                      exp, rep))
    pat = re.escape(exp)
    pat = re.sub(r"tag=28de\\\.[0-9a-f]+", "tag=[^;\\\\r\\\\n]+", pat)
    pat = pat.replace(re.escape("OpenSIPS (4.1.0-dev (x86_64/linux))"),
                      "[^\\r\\n]+")
    check(re.fullmatch(pat, rep) is not None,
          "SIP reply differs" + H.diff_msg(info["request"].replace(
              "\r\n", "\\r\\n"), exp.replace("\r\n", "\\r\\n"),
              rep.replace("\r\n", "\\r\\n")))


def replay_mi(host, st, recs, transport, which_set, which_extra):
    req, exp = expected_for(recs, transport)
    case = recs[0]["case"]
    if exp is not None:
        for k, v in st.subs.items():
            exp = exp.replace(k, v)
    wait = 2.0 if exp is not None else 0.7
    for k, v in st.subs.items():
        req = req.replace(k, v)
    act = host.mi(req, transport, timeout=wait)
    if case == "which":
        check_which_reply(act, 1, which_set, which_extra)
        return
    if case == "events_list":
        check_events_list(recs[0], act)
        return
    check(H.match_reply(exp, act), "reply differs" +
          H.diff_msg(req, exp, act))
    H.check_report_dates(act)


def check_events_list(rec, act):
    """decisions.md §3: the reference's order for the events that exist;
    E_PROFILING_* only once event_profiling is loaded (ids shift by 2
    without it), E_CORE_LOG last."""
    ref = [e["name"] for e in json.loads(rec["reply"])["result"]["Events"]]
    ours = json.loads(act)["result"]["Events"]
    names = [e["name"] for e in ours]
    check([e["id"] for e in ours] == list(range(len(ours))),
          "ids not dense: %s" % act)
    check(names == [n for n in ref if n in names],
          "events_list order %s, reference %s" % (names, ref))
    missing = set(ref) - set(names)
    check(missing <= {"E_PROFILING_SCRIPT", "E_PROFILING_PROC"},
          "events missing: %s" % sorted(missing))
    check(names[-1] == "E_CORE_LOG", "E_CORE_LOG not last: %s" % names)


def test_replay(runner, transport, cfg=REF_CFG, which_set=FOUNDATION,
                which_extra=(), subs=None, tag=""):
    prefix = "a.replay[%s%s]" % (transport, tag)
    try:
        plan = replay_plan()
    except OSError as e:
        runner.skip(prefix, "reference transcripts not found: %s" % e)
        return
    if not any(runner.wanted("%s %s" % (prefix, c)) for c, _, _ in plan):
        return
    host = H.Host(cfg, subs=subs, name="replay")
    host.ev_udp_port = H.free_port()
    host.ev_tcp_port = H.free_port(socket.SOCK_STREAM)
    try:
        ok = runner.run(prefix + " start", host.start)
        st = ReplayState(host)
        for case, recs, why in plan:
            seq = (recs[0] if isinstance(recs, list) else recs)["seq"]
            name = "%s #%d %s" % (prefix, seq, case)
            if why:
                runner.skip(name, why)
                continue
            if not ok:
                return
            if isinstance(recs, dict):
                runner.run(name, replay_sip, host, st, recs)
            else:
                runner.run(name, replay_mi, host, st, recs, transport,
                           which_set, which_extra)
        runner.run(prefix + " host still alive", lambda: check(
            host.alive(), "host died during the replay:\n" + host.log_tail()))
    finally:
        host.cleanup()


def test_which_aliases(runner):
    def body():
        with H.Host(REF_CFG, subs={"@EXTRA_GLOBALS@":
                                   "mi_list_aliases = yes"},
                    name="aliases") as h:
            for tr in ("datagram", "fifo"):
                act = h.mi('{"jsonrpc":"2.0","method":"which","id":1}', tr)
                local = [n.split(":", 1)[1] for n in FOUNDATION
                         if n.startswith("core:")]
                check_which_reply(act, 1, FOUNDATION + SR_ALIASES +
                                  EVI_ALIASES, local)
            # an alias resolves too
            r = h.result("sr_list_status", ["core"])
            check(r and r[0]["Name"] == "main", r)
    runner.run("a.which lists the 3.x aliases with mi_list_aliases = yes",
               body)


# ------------------------------------------------ b. batches and probes

def probe_cases():
    cases = []
    try:
        for p in H.read_jsonl("crash-probes.jsonl"):
            cases.append(p["req"])
    except OSError:
        pass
    cases += [
        "5", '"x"', "null", "true", "[1]",
        '[{"jsonrpc":"2.0","method":"version"}]',
        '[{"jsonrpc":"2.0","method":"version","id":1},'
        '{"jsonrpc":"2.0","method":"version"},{"jsonrpc":"2.0","id":7}]',
        '{"jsonrpc":"2.0","id":99}',
        '{"jsonrpc":"2.0","id":"abc"}',
    ]
    seen, out = set(), []
    for c in cases:
        if c not in seen:
            seen.add(c)
            out.append(c)
    return out


def expected_probe(req):
    """decisions.md §11 (not the reference crash)."""
    try:
        j = json.loads(req)
    except ValueError:
        j = json.JSONDecoder().raw_decode(req)[0]   # trailing bytes ignored

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
        m = o["method"]
        if m == "version":
            return VERSION_OK % rid
        if m == "uptime":
            return ('{"jsonrpc":"2.0","result":{"Now":"Mon Jan  1 00:00:00 '
                    '2001","Up since":"Mon Jan  1 00:00:00 2001","Up time":'
                    '"0 [sec]"},"id":%s}' % rid)
        raise AssertionError(m)

    if isinstance(j, list):
        if not j:
            return INVALID % "null"
        parts = [p for p in (one(o) for o in j) if p is not None]
        return "[" + ",".join(parts) + "]" if parts else None
    return one(j)


def test_probes(runner, transport):
    need = [c for c in probe_cases()]
    name0 = "b.probes[%s]" % transport
    if not any(runner.wanted("%s %s" % (name0, c)) for c in need):
        return
    host = H.Host(REF_CFG, name="probes")
    try:
        ok = runner.run(name0 + " start", host.start)
        for req in need:
            def body(req=req):
                check(ok, "host did not start")
                exp = expected_probe(req)
                act = host.mi(req, transport,
                              timeout=2.0 if exp is not None else 0.7)
                check(H.match_reply(exp, act), "reply differs" +
                      H.diff_msg(req, exp, act))
                # still alive and answering
                v = host.mi('{"jsonrpc":"2.0","method":"version","id":5}',
                            transport)
                check(H.match_reply(VERSION_OK % "5", v),
                      "host not answering after the probe: %r\n%s"
                      % (v, host.log_tail() if not host.alive() else ""))
            runner.run("%s %s" % (name0, req), body)
    finally:
        host.cleanup()


# ----------------------------------------------------- c. ambiguity

def test_ambiguous(runner):
    def with_testmod():
        if not os.path.exists(H.TESTMOD):
            raise TestFailure("test module %s not built" % H.TESTMOD)
        with H.Host(TESTMOD_CFG, name="testmod") as h:
            for tr in ("datagram", "fifo"):
                req = '{"jsonrpc":"2.0","method":"get","params":["core"],"id":1}'
                exp = ('{"jsonrpc":"2.0","error":{"code":-32001,"message":'
                       '"Method ambiguous","data":"supported names: '
                       'statistics:get, status_report:get, testmod:get"},"id":1}')
                act = h.mi(req, tr)
                check(act == exp, tr + H.diff_msg(req, exp, act))
                act = h.mi('{"jsonrpc":"2.0","method":"which","id":1}', tr)
                check_which_reply(act, 1, FOUNDATION + TESTMOD_CMDS)
            # canonical names still work
            r = h.result("status_report:get", ["core"])
            check(r == {"Readiness": True, "Status": 1,
                        "Details": "running"}, r)
            # usleep() from testmod in the script
            t0 = time.monotonic()
            rep, _ = H.send_options(h, "slow")
            dt = time.monotonic() - t0
            check(rep and rep.startswith("SIP/2.0 200 OK\r\n"), rep)
            check(dt >= 0.11, "slow request answered in %.3fs" % dt)

    def without():
        # since statistics:get exists, bare `get` is ambiguous without
        # testmod too: the reference's exact answer (decisions §8 predates
        # the statistics commands)
        with H.Host(REF_CFG, name="noamb") as h:
            for tr in ("datagram", "fifo"):
                req = '{"jsonrpc":"2.0","method":"get","params":["core"],"id":1}'
                exp = ('{"jsonrpc":"2.0","error":{"code":-32001,"message":'
                       '"Method ambiguous","data":"supported names: '
                       'statistics:get, status_report:get"},"id":1}')
                act = h.mi(req, tr)
                check(act == exp, tr + H.diff_msg(req, exp, act))
    runner.run("c.get is -32001 Method ambiguous with testmod loaded",
               with_testmod)
    runner.run("c.get is -32001 Method ambiguous without testmod (statistics:get)",
               without)


# ---------------------------------------------- d. opensips-cli wire

class UdpProxy:
    """Records what a client sends and what the server answers (the way
    opensips-cli-wire.jsonl was captured)."""

    def __init__(self, upstream):
        self.upstream = upstream
        self.front = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.front.bind(("127.0.0.1", 0))
        self.port = self.front.getsockname()[1]
        self.back = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.back.bind(("127.0.0.1", 0))
        self.log = []   # [request, reply]
        self.stop = False
        self.t = threading.Thread(target=self._loop, daemon=True)
        self.t.start()

    def _loop(self):
        client = None
        while not self.stop:
            r, _, _ = select.select([self.front, self.back], [], [], 0.1)
            for s in r:
                data, addr = s.recvfrom(65535)
                if s is self.front:
                    client = addr
                    self.log.append([data.decode(), None])
                    self.back.sendto(data, self.upstream)
                elif client:
                    self.log[-1][1] = data.decode()
                    self.front.sendto(data, client)

    def close(self):
        self.stop = True
        self.t.join(2)
        self.front.close()
        self.back.close()


def cli_args_for(req):
    j = json.loads(req)
    p = j.get("params") or {}
    if isinstance(p, dict):
        return ["%s=%s" % (k, v) for k, v in p.items()]
    return list(p)


def run_tool(args, timeout=10):
    p = subprocess.run([sys.executable, H.TOOL] + args, capture_output=True,
                       timeout=timeout, stdin=subprocess.DEVNULL)
    return p.returncode, p.stdout.decode(), p.stderr.decode()


def test_cli_wire(runner):
    try:
        recs = H.read_jsonl("opensips-cli-wire.jsonl")
    except OSError as e:
        runner.skip("d.cli-wire", "reference not found: %s" % e)
        return
    pairs = []
    i = 0
    while i + 1 < len(recs):
        pairs.append((recs[i], recs[i + 1]))
        i += 2
    if not any(runner.wanted("d.cli-wire %s" % json.loads(
            b["request"])["method"]) for _, b in pairs):
        return
    # the capture instance had the event transports (evi:subscribe udp:)
    host = H.Host(REF_CFG, subs={"@EXTRA_MODULES@": REF_EVENT_MODULES},
                  name="cliwire")
    try:
        ok = runner.run("d.cli-wire start", host.start)
        names = set(REF_WHICH)
        for n, (w, c) in enumerate(pairs):
            cj = json.loads(c["request"])
            name = "d.cli-wire %d %s %s" % (n, cj["method"],
                                            json.dumps(cj["params"]))

            def body(w=w, c=c, cj=cj):
                check(ok, "host did not start")
                # the request bytes, offline, with the reference's id
                req = H.mitool.build_request(
                    cj["method"], H.mitool.args_to_params(cli_args_for(
                        c["request"])), req_id=cj["id"])
                check(req == c["request"], "request bytes differ" +
                      H.diff_msg("", c["request"], req))
                proxy = UdpProxy(("127.0.0.1", host.mi_port))
                try:
                    rc, out, err = run_tool(
                        ["-t", "datagram", "--addr",
                         "127.0.0.1:%d" % proxy.port, "-x", "mi",
                         cj["method"]] + cli_args_for(c["request"]))
                    time.sleep(0.05)
                finally:
                    proxy.close()
                log = proxy.log
                check(len(log) >= 1, "tool sent nothing (rc %d, %s)"
                      % (rc, err))
                # 1) `which` first, same shape as the reference
                wid = json.loads(log[0][0])["id"]
                check(isinstance(wid, str) and wid.isdigit(),
                      "id is not a decimal string: %r" % wid)
                exp_w = w["request"].replace('"%s"' % json.loads(
                    w["request"])["id"], '"%s"' % wid)
                check(log[0][0] == exp_w, "which request differs" +
                      H.diff_msg("", exp_w, log[0][0]))
                check_which_reply(log[0][1], json.dumps(wid), REF_WHICH)
                if cj["method"] not in names:
                    check(len(log) == 1, "tool sent a command `which` "
                          "does not list: %s" % log)
                    check(rc != 0 and "no command '%s' in module 'mi'"
                          % cj["method"] in err,
                          "rc %d stderr %r" % (rc, err))
                    return
                check(len(log) == 2, "expected which + command, got %s"
                      % log)
                cid = json.loads(log[1][0])["id"]
                exp_c = c["request"].replace('"id": "%s"' % cj["id"],
                                             '"id": "%s"' % cid)
                check(log[1][0] == exp_c, "command request differs" +
                      H.diff_msg("", exp_c, log[1][0]))
                exp_r = c["reply"].replace('"id":"%s"' % cj["id"],
                                           '"id":"%s"' % cid)
                if cj["method"] in ("which", "core:which"):
                    check_which_reply(log[1][1], json.dumps(cid), REF_WHICH)
                else:
                    check(H.match_reply(exp_r, log[1][1]), "reply differs" +
                          H.diff_msg(log[1][0], exp_r, log[1][1]))
                check(rc == 0, "tool rc %d: %s" % (rc, err))
                res = json.loads(log[1][1])["result"]
                check(out == json.dumps(res, indent=4) + "\n",
                      "tool output is not the result with indent 4:\n" + out)
            runner.run(name, body)
    finally:
        host.cleanup()


# ------------------------------------------------------------ e. SIP

def example_host(name="example"):
    """examples/opensips.cfg with its fixed ports/paths moved to the test's
    own (so the example itself is what gets tested)."""
    with open(H.EXAMPLE_CFG, encoding="utf-8") as f:
        text = f.read()
    for old, new in (("udp:127.0.0.1:5060", "udp:127.0.0.1:@SIP_PORT@"),
                     ("udp:127.0.0.1:8080", "udp:127.0.0.1:@MI_PORT@"),
                     ('"/tmp/opensips_fifo"', '"@RUN_DIR@/opensips_fifo"'),
                     ('"reply_dir", "/tmp/"', '"reply_dir", "@RUN_DIR@/"')):
        check(old in text, "examples/opensips.cfg lacks %r" % old)
        text = text.replace(old, new)
    return H.Host(text, name=name)


def sip_headers_check(rep, req_info, code, reason, extra_via=None,
                      to_tag=None):
    check(rep is not None, "no reply to\n" + req_info["request"])
    st, rs, hdrs, body = H.parse_sip_reply(rep)
    check((st, rs) == (code, reason), "status %d %s, want %d %s\n%s"
          % (st, rs, code, reason, rep))
    names = [k for k, _ in hdrs]
    vias = [v for k, v in hdrs if k.lower() == "via"]
    want_vias = ["SIP/2.0/UDP 127.0.0.1:%d;branch=%s"
                 % (req_info["port"], req_info["branch"])]
    if extra_via:
        want_vias.append(extra_via)
    check(vias == want_vias, "Vias %s, want %s" % (vias, want_vias))
    d = {k: v for k, v in hdrs}
    check(d.get("From") == "<sip:ref@127.0.0.1>;tag=reftag1", d.get("From"))
    to = d.get("To", "")
    if to_tag:
        check(to == "<sip:%s@127.0.0.1>;tag=%s" % (req_info["user"], to_tag),
              "To %r (existing tag must be kept)" % to)
    else:
        check(re.fullmatch(r"<sip:%s@127\.0\.0\.1>;tag=[^;\s]+"
                           % re.escape(req_info["user"]), to),
              "To %r has no tag added" % to)
    check(d.get("Call-ID") == req_info["call_id"], d.get("Call-ID"))
    check(d.get("CSeq") == "1 OPTIONS", d.get("CSeq"))
    check(re.fullmatch(r"opensips-shim \(\S+\)", d.get("Server", "")),
          "Server %r" % d.get("Server"))
    check(d.get("Content-Length") == "0", d.get("Content-Length"))
    check(body == "", "body %r" % body)
    check(sorted(set(names)) == sorted({"Via", "From", "To", "Call-ID",
                                        "CSeq", "Server", "Content-Length"}),
          "headers %s" % names)
    check(names[-2:] == ["Server", "Content-Length"],
          "Server and Content-Length must come last: %s" % names)


def opt(host, user, **kw):
    rep, info = H.send_options(host, user, **kw)
    info["user"] = user
    return rep, info


def test_sip(runner):
    host = example_host("sip")
    try:
        ok = runner.run("e.sip start (examples/opensips.cfg)", host.start)

        def ready200():
            check(ok, "host did not start")
            rep, info = opt(host, "probe")
            sip_headers_check(rep, info, 200, "OK")

        def two_vias_and_tag():
            check(ok, "host did not start")
            via2 = "SIP/2.0/UDP 10.0.0.9:5070;branch=z9hG4bK-second"
            rep, info = opt(host, "probe", extra_via=via2)
            sip_headers_check(rep, info, 200, "OK", extra_via=via2)
            rep, info = opt(host, "probe", to_tag="abc123")
            sip_headers_check(rep, info, 200, "OK", to_tag="abc123")

        def flip():
            check(ok, "host did not start")
            rep, info = opt(host, "app-down")
            sip_headers_check(rep, info, 503, "Not Ready")
            rep, info = opt(host, "probe")
            sip_headers_check(rep, info, 503, "Not Ready")
            r = host.result("status_report:get", ["app"])
            check(r["Readiness"] is False and r["Status"] == -1, r)
            rep, info = opt(host, "app-up")
            sip_headers_check(rep, info, 200, "OK")
            rep, info = opt(host, "probe")
            sip_headers_check(rep, info, 200, "OK")
            r = host.result("status_report:get", ["app"])
            check(r == {"Readiness": True, "Status": 1, "Details": "ready"},
                  r)

        def garbage():
            check(ok, "host did not start")
            s = H.sip_socket()
            lp = s.getsockname()[1]
            good, _, _ = H.sip_options("probe", host.sip_port, lp)
            bad = [os.urandom(200), os.urandom(1), b"\r\n\r\n", b"\x00" * 64,
                   good[:40], good[:len(good) // 2],
                   b"OPTIONS\r\n\r\n", b"HELLO WORLD\r\n\r\n",
                   b"SIP/2.0 200 OK\r\n\r\n"]
            for h in ("Via", "From", "To", "Call-ID", "CSeq"):
                bad.append(H.sip_options("probe", host.sip_port, lp,
                                         omit=(h,))[0])
            bad.append(H.sip_options("probe", host.sip_port, lp,
                                     method="ACK")[0])
            try:
                for b in bad:
                    s.sendto(b, ("127.0.0.1", host.sip_port))
                s.settimeout(0.7)
                try:
                    got = s.recv(65535)
                    raise TestFailure("got a reply to garbage: %r" % got)
                except socket.timeout:
                    pass
            finally:
                s.close()
            rep, info = opt(host, "probe")
            sip_headers_check(rep, info, 200, "OK")
            check(host.alive(), "host died")
        runner.run("e.sip OPTIONS 200 with copied headers", ready200)
        runner.run("e.sip two Vias kept in order, existing To tag kept",
                   two_vias_and_tag)
        runner.run("e.sip app-down -> 503 Not Ready, app-up -> 200", flip)
        runner.run("e.sip garbage/truncated/incomplete/ACK get no reply",
                   garbage)
    finally:
        host.cleanup()


# ----------------------------------------------------------- f. sipp

def test_sipp(runner):
    name = "f.sipp 200 x OPTIONS then 200 x 503 after app-down"
    if not runner.wanted(name):
        return
    import shutil
    sipp = shutil.which("sipp")
    if not sipp:
        runner.skip(name, "sipp is not installed (apt-get install "
                    "sip-tester)")
        return

    def run_sipp(host, scen):
        argv = [sipp, "127.0.0.1:%d" % host.sip_port, "-sf",
                os.path.join(os.path.dirname(os.path.abspath(__file__)),
                             scen),
                "-s", "probe", "-m", "200", "-r", "100", "-i", "127.0.0.1",
                "-p", str(H.free_port()), "-nostdin", "-timeout", "30s",
                "-timeout_error", "-recv_timeout", "3000",
                "-trace_err", "-trace_stat"]
        p = subprocess.run(argv, capture_output=True, timeout=60,
                           cwd=host.run_dir, stdin=subprocess.DEVNULL)
        errs = ""
        for f in os.listdir(host.run_dir):
            if f.endswith("_errors.log"):
                with open(os.path.join(host.run_dir, f), errors="replace") \
                        as fh:
                    errs += fh.read()[-2000:]
        check(p.returncode == 0, "sipp %s exit %d\n%s\n%s" % (
            scen, p.returncode, p.stdout.decode(errors="replace")[-1500:],
            errs))

    def body():
        with example_host("sipp") as h:
            run_sipp(h, "options-200.xml")
            rep, _ = opt(h, "app-down")
            check(rep and rep.startswith("SIP/2.0 503 Not Ready\r\n"), rep)
            run_sipp(h, "options-503.xml")
            rep, _ = opt(h, "app-up")
            check(rep and rep.startswith("SIP/2.0 200 OK\r\n"), rep)
            check(h.alive(), "host died")
    runner.run(name, body)


# ------------------------------------------------------ g. lifecycle

def expected_error(path):
    with open(path, encoding="utf-8") as f:
        first = f.readline()
    m = re.match(r'# expect-error: line (\d+)(?:, mentions "([^"]+)")?',
                 first)
    return int(m.group(1)), m.group(2)


def test_lifecycle(runner):
    def good_cfgs():
        need_binary()
        h = H.Host(REF_CFG, name="chk")
        h2 = example_host("chk2")
        try:
            for path in (h.cfg, h2.cfg, H.EXAMPLE_CFG,
                         os.path.join(H.CFG_DIR, "good-minimal.cfg")):
                rc, out = H.run_check_cfg(path)
                check(rc == 0, "-c %s: rc %d\n%s" % (path, rc, out))
        finally:
            h.cleanup()
            h2.cleanup()
    runner.run("g.-c accepts the good cfgs (ref, example, minimal)",
               good_cfgs)

    for f in sorted(os.listdir(H.CFG_DIR)):
        if not f.startswith("bad-"):
            continue
        path = os.path.join(H.CFG_DIR, f)

        def bad(path=path, f=f):
            need_binary()
            line, word = expected_error(path)
            rc, out = H.run_check_cfg(path)
            check(rc != 0, "-c accepted %s:\n%s" % (f, out))
            check(re.search(r"(^|[\s/'\"])%s:%d:" % (re.escape(f), line),
                            out, re.M),
                  "no '%s:%d:' in stderr:\n%s" % (f, line, out))
            if word:
                check(word.lower() in out.lower(),
                      "message does not mention %r:\n%s" % (word, out))
            # and the host refuses to start with it
            p = subprocess.run([H.BIN, "-F", "-f", path], capture_output=True,
                               timeout=10 * H.SLOW, stdin=subprocess.DEVNULL)
            check(p.returncode != 0, "host started with %s" % f)
        runner.run("g.-c rejects %s with file:line" % f, bad)

    for sig in (signal.SIGTERM, signal.SIGINT):
        def stop(sig=sig):
            h = H.Host(REF_CFG, name="sig")
            try:
                h.start()
                pid = h.proc.pid
                rc = h.stop(sig)
                check(rc == 0, "exit code %r after %s\n%s"
                      % (rc, sig.name, h.log_tail()))
                check(not os.path.exists("/proc/%d" % pid),
                      "process %d still there" % pid)
            finally:
                h.cleanup()
        runner.run("g.%s -> exit 0, process gone" % sig.name, stop)

    host = H.Host(REF_CFG, name="life")
    try:
        ok = runner.run("g.lifecycle start", host.start)

        def need():
            check(ok, "host did not start")

        def reports():
            need()
            for tr in ("datagram", "fifo"):
                r = host.result("status_report:reports", ["core"], tr)
                check(isinstance(r, list) and len(r) == 1
                      and r[0]["Name"] == "main", r)
                logs = [x["Log"] for x in r[0]["Reports"]]
                check(logs == ["initializing",
                               "initialization completed, ready now"], logs)
                for x in r[0]["Reports"]:
                    check(list(x) == ["Timestamp", "Date", "Log"], x)
                    check(abs(x["Timestamp"] - time.time()) < 120, x)
                    check(x["Date"] == time.ctime(x["Timestamp"]), x)

        def ps():
            need()
            r = host.result("core:ps")
            procs = r["Processes"]
            types = [p["Type"] for p in procs]
            sipw = "SIP receiver udp:127.0.0.1:%d" % host.sip_port
            # decisions §14; the events issue adds `EVI sender` after the
            # SIP/TCP threads (no tcp socket and no event_route here)
            want = ["attendant", "MI Datagram", "MI FIFO", "timer", sipw,
                    sipw, "EVI sender"]
            # the profiling issue's own thread, when that module is built
            got = [t for t in types if t != "profiling sender"]
            check(got == want, "ps types %s, want %s" % (types, want))
            check([p["ID"] for p in procs] == list(range(len(procs))),
                  "IDs not dense: %s" % procs)
            for p in procs:
                check(list(p) == ["ID", "PID", "Type"], p)
            check(procs[0]["PID"] == host.proc.pid,
                  "attendant PID %s != process pid %d"
                  % (procs[0]["PID"], host.proc.pid))
            tasks = {int(t) for t in
                     os.listdir("/proc/%d/task" % host.proc.pid)}
            for p in procs:
                check(p["PID"] in tasks, "PID %s is not a thread of the "
                      "host (%s)" % (p["PID"], sorted(tasks)))
            check(len({p["PID"] for p in procs}) == len(procs),
                  "duplicate PIDs")

        def log_levels():
            need()
            r = host.result("core:log_level")
            check(all(p["Log level"] == 3 for p in r["Processes"]), r)
            check([list(p) for p in r["Processes"]][0] ==
                  ["PID", "Log level", "Type"], r)
            r = host.result("core:log_level", {"level": 4})
            check(r == {"New global log level": 4}, r)
            r = host.result("core:log_level")
            check(all(p["Log level"] == 4 for p in r["Processes"]), r)
            pid = r["Processes"][-1]["PID"]
            r = host.result("core:log_level", {"level": 2, "pid": pid})
            check(r == {"Log level": 2}, r)
            r = host.result("core:log_level")
            lv = {p["PID"]: p["Log level"] for p in r["Processes"]}
            check(lv[pid] == 2 and all(v == 4 for k, v in lv.items()
                                       if k != pid), lv)
            req = ('{"jsonrpc":"2.0","method":"core:log_level","params":'
                   '{"level":2,"pid":1},"id":3}')
            exp = ('{"jsonrpc":"2.0","error":{"code":-32602,"message":'
                   '"Invalid params","data":"Bad PID"},"id":3}')
            act = host.dgram(req)
            check(act == exp, H.diff_msg(req, exp, act))
            host.result("core:log_level", {"level": 3})
            r = host.result("core:xlog_level")
            check(r == {"xLog Level": 3}, r)
            r = host.result("core:xlog_level", {"level": 1})
            check(r == {"New xLog level": 1}, r)
            r = host.result("core:xlog_level")
            check(r == {"xLog Level": 1}, r)

        def misc():
            need()
            r = host.result("core:version")
            check(list(r) == ["Server"] and re.fullmatch(
                r"opensips-shim \(\S+ \(\S+/\S+\)\)", r["Server"]), r)
            r = host.result("core:pwd")
            check(r == {"WD": host.run_dir}, r)
            r = host.result("core:arg")
            check(r == host.argv, "arg %s, argv %s" % (r, host.argv))
            r = host.result("core:help")
            check(r == "Usage: help mi_cmd - returns information about "
                  "'mi_cmd'", r)
            r = host.result("core:help", {"mi_cmd": "core:uptime"})
            check(list(r) == ["Help", "Exported by"] and
                  r["Exported by"] == "core", r)
            r = host.result("core:which", {"command": "status_report:get"})
            check(r == [["group"], ["group", "identifier"]], r)
            r = host.result("core:which", {"command": "status_report:"})
            check(sorted(r) == sorted(n for n in FOUNDATION
                                      if n.startswith("status_report:")), r)
            # a missing mandatory parameter (the reference used
            # event_subscribe, a later issue)
            req = '{"jsonrpc":"2.0","method":"status_report:get","id":93}'
            exp = ('{"jsonrpc":"2.0","error":{"code":-32602,"message":'
                   '"Invalid params","data":"Too few or too many parameters"'
                   '},"id":93}')
            act = host.dgram(req)
            check(act == exp, H.diff_msg(req, exp, act))
            j = host.call("core:which", {"command": "nope"})
            check(j.get("error") == {"code": 404,
                                     "message": "unknown MI command"}, j)
            st = os.stat(host.fifo)
            check(stat.S_ISFIFO(st.st_mode), "%s is not a FIFO" % host.fifo)
            check(st.st_mode & 0o777 == 0o666, "fifo mode %o"
                  % (st.st_mode & 0o777))
            # several requests back to back on the fifo, notification first
            r = host.fifo_req('{"jsonrpc":"2.0","method":"uptime","id":"u"}')
            check(H.match_reply('{"jsonrpc":"2.0","result":{"Now":"Mon Jan  '
                                '1 00:00:00 2001","Up since":"Mon Jan  1 '
                                '00:00:00 2001","Up time":"0 [sec]"},'
                                '"id":"u"}', r), r)
            # oversized fifo request discarded, host keeps working
            big = ('{"jsonrpc":"2.0","method":"version","id":1,"x":"%s"}'
                   % ("y" * 5000))
            try:
                host.fifo_req(big, timeout=0.7)
            except Exception:
                pass
            r = host.fifo_req('{"jsonrpc":"2.0","method":"version","id":2}')
            check(H.match_reply(VERSION_OK % "2", r), r)

        def kill():
            need()
            r = host.result("core:kill")
            check(r == "OK", r)
            rc = host.wait_exit(5)
            check(rc is not None, "host still running 5s after core:kill")
        runner.run("g.status_report:reports core shows the startup reports",
                   reports)
        runner.run("g.core:ps roster (decisions §14)", ps)
        runner.run("g.log_level / xlog_level get-set round trip", log_levels)
        runner.run("g.version, pwd, arg, help, which {command}, fifo mode",
                   misc)
        runner.run("g.core:kill stops the host", kill)
    finally:
        host.cleanup()


# ----------------------------------------------- h. tools/opensips-mi

def test_tool(runner):
    host = H.Host(REF_CFG, name="tool")
    try:
        ok = runner.run("h.tool start", host.start)
        for tr in ("fifo", "datagram"):
            if tr == "fifo":
                base = ["-t", "fifo", "--fifo", host.fifo, "--reply-dir",
                        host.run_dir]
            else:
                base = ["-t", "datagram", "--addr",
                        "127.0.0.1:%d" % host.mi_port]

            def pretty(args, expect, base=base):
                check(ok, "host did not start")
                rc, out, err = run_tool(base + args)
                check(rc == 0, "rc %d: %s" % (rc, err))
                check(out == json.dumps(expect, indent=4) + "\n",
                      "output:\n%s\nwant:\n%s" % (
                          out, json.dumps(expect, indent=4)))

            core = {"Readiness": True, "Status": 1, "Details": "running"}

            def version(base=base):
                check(ok, "host did not start")
                rc, out, err = run_tool(base + ["core:version"])
                check(rc == 0, "rc %d: %s" % (rc, err))
                check(out.startswith('{\n    "Server": "opensips-shim ('),
                      out)
            runner.run("h.tool[%s] core:version" % tr, version)
            runner.run("h.tool[%s] status_report:get core (positional)" % tr,
                       pretty, ["status_report:get", "core"], core)
            runner.run("h.tool[%s] status_report:get group=core "
                       "identifier=main (named)" % tr, pretty,
                       ["status_report:get", "group=core",
                        "identifier=main"], core)
            runner.run("h.tool[%s] -x mi status_report:identifiers ref_app"
                       % tr, pretty, ["-x", "mi",
                                      "status_report:identifiers", "ref_app"],
                       {"Group": "ref_app", "Identifiers": ["main"]})

            def refused(base=base):
                check(ok, "host did not start")
                rc, out, err = run_tool(base + ["sr_get_status", "core"])
                check(rc != 0 and out == "" and
                      "no command 'sr_get_status' in module 'mi'" in err,
                      "rc %d out %r err %r" % (rc, out, err))

            def error(base=base):
                check(ok, "host did not start")
                rc, out, err = run_tool(base + ["status_report:get", "nosuch"])
                check(rc != 0 and out == "" and "404" in err and
                      "Group not found" in err,
                      "rc %d out %r err %r" % (rc, out, err))
            runner.run("h.tool[%s] refuses names `which` does not list" % tr,
                       refused)
            runner.run("h.tool[%s] prints the error, exit non-zero" % tr,
                       error)

        def leftovers():
            check(ok, "host did not start")
            left = [f for f in os.listdir(host.run_dir)
                    if f.startswith("opensips_fifo_reply_")]
            check(not left, "reply FIFOs left behind: %s" % left)
        runner.run("h.tool removes its reply FIFOs", leftovers)
    finally:
        host.cleanup()

    def aliases():
        with H.Host(REF_CFG, subs={"@EXTRA_GLOBALS@":
                                   "mi_list_aliases = yes"},
                    name="toolal") as h:
            rc, out, err = run_tool(["-t", "datagram", "--addr",
                                     "127.0.0.1:%d" % h.mi_port,
                                     "sr_get_status", "core"])
            check(rc == 0, "rc %d err %s" % (rc, err))
            check(json.loads(out)["Status"] == 1, out)
    runner.run("h.tool accepts sr_get_status when the host lists aliases",
               aliases)

    def fifo_framing():
        """The tool against a fake server FIFO: framing, naming, mode."""
        import tempfile
        d = tempfile.mkdtemp(prefix="shim-fakefifo-")
        srv = os.path.join(d, "fifo")
        os.mkfifo(srv, 0o600)
        seen = []
        fd = os.open(srv, os.O_RDONLY | os.O_NONBLOCK)
        p = subprocess.Popen([sys.executable, H.TOOL, "-t", "fifo", "--fifo",
                              srv, "--reply-dir", d, "status_report:get",
                              "core"], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE)
        try:
            answers = ['{"jsonrpc":"2.0","result":["status_report:get"],'
                       '"id":"%s"}', '{"jsonrpc":"2.0","result":{"x":"1"},'
                       '"id":"%s"}']
            deadline = time.monotonic() + 5
            while len(seen) < 2 and time.monotonic() < deadline:
                r, _, _ = select.select([fd], [], [], 0.1)
                if not r:
                    continue
                data = os.read(fd, 4096).decode()
                if not data:
                    time.sleep(0.02)
                    continue
                m = re.fullmatch(r":(opensips_fifo_reply_\d+_\d+_\d+):(.*)",
                                 data, re.S)
                check(m, "bad framing %r" % data)
                rpath = os.path.join(d, m.group(1))
                mode = os.stat(rpath).st_mode
                check(stat.S_ISFIFO(mode) and mode & 0o777 == 0o666,
                      "reply fifo mode %o" % mode)
                req = json.loads(m.group(2))
                seen.append(m.group(2))
                w = os.open(rpath, os.O_WRONLY | os.O_NONBLOCK)
                os.write(w, (answers[len(seen) - 1] % req["id"]).encode())
                os.close(w)
            out, err = p.communicate(timeout=5)
        finally:
            if p.poll() is None:
                p.kill()
                p.wait()
            os.close(fd)
            import shutil
            shutil.rmtree(d, ignore_errors=True)
        check(len(seen) == 2, "requests seen: %s" % seen)
        check(re.fullmatch(r'\{"jsonrpc": "2\.0", "id": "\d+", "method": '
                           r'"which", "params": \{\}\}', seen[0]), seen[0])
        check(re.fullmatch(r'\{"jsonrpc": "2\.0", "id": "\d+", "method": '
                           r'"status_report:get", "params": \["core"\]\}',
                           seen[1]), seen[1])
        check(out.decode() == '{\n    "x": "1"\n}\n', out)
    runner.run("h.tool fifo framing against a fake server (name, 0666, "
               "which first)", fifo_framing)


# ------------------------------------------------------------- main

def run_suites(runner):
    """Runs every test/system/suite_*.py: each defines run(runner) and
    registers its cases with runner.run(name, fn, ...). One file per feature
    (events, profiling, http...), so they can grow independently."""
    import importlib.util
    here = os.path.dirname(os.path.abspath(__file__))
    for fn in sorted(os.listdir(here)):
        if not (fn.startswith("suite_") and fn.endswith(".py")):
            continue
        spec = importlib.util.spec_from_file_location(fn[:-3],
                                                      os.path.join(here, fn))
        mod = importlib.util.module_from_spec(spec)
        try:
            spec.loader.exec_module(mod)
            mod.run(runner)
        except Exception:
            runner.failed += 1
            runner.failures.append(fn)
            print("FAIL %s: the suite itself crashed\n    %s" % (
                fn, traceback.format_exc().rstrip().replace("\n", "\n    ")),
                flush=True)


def main():
    import argparse
    ap = argparse.ArgumentParser()
    ap.add_argument("-k", dest="pattern", help="run tests whose name "
                    "contains this")
    ap.add_argument("-v", action="store_true")
    ns = ap.parse_args()
    runner = Runner(ns.pattern, ns.v)
    print("system tests: binary %s" % H.BIN, flush=True)
    t0 = time.monotonic()
    try:
        test_lifecycle(runner)
        for tr in ("datagram", "fifo"):
            test_replay(runner, tr, which_set=REF_WHICH,
                        subs={"@EXTRA_MODULES@": REF_EVENT_MODULES})
        test_which_aliases(runner)
        for tr in ("datagram", "fifo"):
            test_probes(runner, tr)
        test_ambiguous(runner)
        test_cli_wire(runner)
        test_sip(runner)
        test_sipp(runner)
        test_tool(runner)
        run_suites(runner)
    except KeyboardInterrupt:
        runner.failed += 1
        print("interrupted", flush=True)
    if runner.failures:
        shown = runner.failures[:25]
        more = len(runner.failures) - len(shown)
        print("failed: %s%s" % ("; ".join(shown),
                                " (+%d more)" % more if more else ""),
              flush=True)
    print("%d skipped (%.1fs)" % (runner.skipped, time.monotonic() - t0),
          flush=True)
    print("%d passed, %d failed" % (runner.passed, runner.failed), flush=True)
    return 1 if runner.failed else 0


if __name__ == "__main__":
    sys.exit(main())
