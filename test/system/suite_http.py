"""System tests of the HTTP issue: httpd, mi_http, sr_http.

Replays the mi_http records of transcripts.jsonl (statuses per decisions
§22 where the reference is buggy), the HTTP crash probes, opensips-cli-style
calls over HTTP, /readyz and /livez behaviour, /metrics (served by the
prometheus module, decisions §34) through a strict Prometheus text-format
parser, bad HTTP, and a probe storm under sipp load.
"""

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import threading
import time

import harness as H
from harness import check, TestFailure

CFG = os.path.join(H.CFG_DIR, "http.cfg")
HERE = os.path.dirname(os.path.abspath(__file__))
OUR_CMDS = ["httpd:list_root_path", "sr_http:drain", "sr_http:undrain"]
TEXT = "text/plain; charset=utf-8"
PROM = "text/plain; version=0.0.4"
# /metrics is the prometheus module's (decisions §34): hosts that read it
# load it
PROM_MODULE = 'loadmodule "prometheus.so"\n'


# ------------------------------------------------------------ HTTP client

class Resp:
    def __init__(self, status, reason, headers, body, raw):
        self.status, self.reason, self.headers = status, reason, headers
        self.body, self.raw = body, raw

    def header(self, name):
        for k, v in self.headers:
            if k.lower() == name.lower():
                return v
        return None

    def names(self):
        return [k for k, _ in self.headers]

    def __repr__(self):
        return "Resp(%r)" % self.raw[:400]


def read_response(sock, buf=b"", head_only=False):
    """Reads one response (Content-Length framing) -> (Resp, leftover)."""
    while b"\r\n\r\n" not in buf:
        d = sock.recv(65536)
        if not d:
            raise TestFailure("connection closed before a full head: %r" % buf)
        buf += d
    head, _, rest = buf.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    m = re.match(r"HTTP/1\.1 (\d{3}) (.*)$", lines[0])
    check(m is not None, "bad status line %r" % lines[0])
    hdrs = []
    for ln in lines[1:]:
        k, _, v = ln.partition(":")
        hdrs.append((k, v.strip()))
    status = int(m.group(1))
    n = 0
    for k, v in hdrs:
        if k.lower() == "content-length":
            n = int(v)
    if status in (100, 204) or head_only:
        n = 0
    while len(rest) < n:
        d = sock.recv(65536)
        if not d:
            raise TestFailure("connection closed inside a body")
        rest += d
    body = rest[:n]
    raw = head + b"\r\n\r\n" + body
    return Resp(status, m.group(2), hdrs, body.decode("utf-8", "replace"),
                raw.decode("utf-8", "replace")), rest[n:]


def connect(port, timeout=3.0):
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    s.settimeout(timeout)
    return s


def request_bytes(method, path, body=None, headers=None, close=True,
                  ctype="application/json"):
    lines = ["%s %s HTTP/1.1" % (method, path), "Host: 127.0.0.1"]
    hs = list(headers or [])
    if body is not None:
        if ctype:
            hs.append(("Content-Type", ctype))
        hs.append(("Content-Length", str(len(body.encode()))))
    if close:
        hs.append(("Connection", "close"))
    lines += ["%s: %s" % kv for kv in hs]
    return ("\r\n".join(lines) + "\r\n\r\n" + (body or "")).encode()


def http(port, method, path, body=None, headers=None, ctype="application/json",
         timeout=3.0):
    s = connect(port, timeout)
    try:
        s.sendall(request_bytes(method, path, body, headers, True, ctype))
        r, _ = read_response(s, head_only=(method == "HEAD"))
        return r
    finally:
        s.close()


def get(port, path):
    return http(port, "GET", path)


def post_mi(port, text, path="/mi", ctype="application/json"):
    return http(port, "POST", path, text, ctype=ctype)


# ------------------------------------------------------------ hosts

class HttpHost(H.Host):
    def __init__(self, name="http", httpd_params="", extra_modules="",
                 cfg=CFG, extra_globals=""):
        self.http_port = H.free_port(socket.SOCK_STREAM)
        super().__init__(cfg, subs={"@HTTP_PORT@": str(self.http_port),
                                    "@HTTPD_PARAMS@": httpd_params,
                                    "@EXTRA_MODULES@": extra_modules,
                                    "@EXTRA_GLOBALS@": extra_globals},
                         name=name)

    def url(self):
        return "http://127.0.0.1:%d/mi" % self.http_port


def alive_check(h):
    r = get(h.http_port, "/livez")
    check(r.status == 200 and r.body == "ok\n", "server not serving: %r" % r)
    check(h.alive(), "host died")


# ------------------------------------------------------------ replay

def check_reference_headers(r, rec):
    """Same header names in the same order as the reference (Date first),
    values equal except Date."""
    exp = ["Date"] + [k for k, _ in rec["http"]["headers_except_date"]]
    check(r.names() == exp, "headers %s, reference %s" % (r.names(), exp))
    for k, v in rec["http"]["headers_except_date"]:
        if k == "Content-Length" and r.header(k) != v:
            check(int(r.header(k)) == len(r.body.encode()), "bad length")
            continue
        check(r.header(k) == v, "%s: %r, reference %r" % (k, r.header(k), v))
    check(re.fullmatch(r"(Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d\d (Jan|Feb|Mar|Apr|"
                       r"May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) \d{4} \d\d:\d\d:\d\d "
                       r"GMT", r.header("Date") or ""), "bad Date %r"
          % r.header("Date"))


def replay_one(h, rec):
    case = rec["case"]
    req = rec["request"]
    ht = rec["http"]
    if case == "http_get_not_allowed":
        r = http(h.http_port, "GET", ht["path"])
        check(r.status == 405 and r.header("Allow") == "POST"
              and r.header("Content-Length") == "0", "GET /mi: %r" % r)
        return
    if case == "notification_no_id":
        r = post_mi(h.http_port, req)
        check(r.status == 202 and r.header("Content-Length") == "0"
              and r.body == "", "notification: %r" % r)
        return
    if case == "http_text_plain_content_type":
        r = post_mi(h.http_port, req, ctype="text/plain")
        check(r.status == 415, "text/plain POST: %r" % r)
        return
    r = post_mi(h.http_port, req, path=ht["path"])
    check(r.status == ht["status"] and r.reason == ht["reason"],
          "status %d %s, reference %s %s" % (r.status, r.reason, ht["status"],
                                             ht["reason"]))
    check_reference_headers(r, rec)
    if case == "which":
        lst = json.loads(r.body)["result"]
        compact = '{"jsonrpc":"2.0","result":%s,"id":1}' % json.dumps(
            lst, separators=(",", ":"))
        check(r.body == compact, "which is not compact")
        missing = set(OUR_CMDS + ["core:which", "status_report:get"]) - set(lst)
        check(not missing, "which lacks %s" % sorted(missing))
        return
    check(H.match_reply(rec["reply"], r.body),
          "body differs" + H.diff_msg(req, rec["reply"], r.body))
    if case == "http_wrong_path":
        # byte-exact but for the Date value
        exp = re.sub(r"Date: [^\r]*", "Date: X", ht["raw_response"])
        act = re.sub(r"Date: [^\r]*", "Date: X", r.raw)
        check(exp == act, "raw response differs:\n%r\n%r" % (exp, act))


def test_replay(runner):
    try:
        recs = [r for r in H.read_jsonl("transcripts.jsonl")
                if r.get("transport") == "mi_http"]
    except OSError as e:
        runner.skip("http.replay", "reference not found: %s" % e)
        return
    if not any(runner.wanted("http.replay #%d %s" % (r["seq"], r["case"]))
               for r in recs):
        return
    h = HttpHost("replay")
    try:
        runner.run("http.replay start", h.start)
        for rec in recs:
            runner.run("http.replay #%d %s" % (rec["seq"], rec["case"]),
                       replay_one, h, rec)
        runner.run("http.replay still serving", alive_check, h)
    finally:
        h.cleanup()


def test_probes(runner):
    name = "http.crash probes"
    if not runner.wanted(name):
        return
    try:
        probes = [p for p in H.read_jsonl("crash-probes.jsonl")
                  if p["tr"] == "h"]
    except OSError as e:
        runner.skip(name, "reference not found: %s" % e)
        return

    def body():
        with HttpHost("probes") as h:
            for p in probes:
                r = post_mi(h.http_port, p["req"])
                check(r.status == 200, "%s -> %r" % (p["req"], r))
                j = json.loads(r.body)
                req = json.loads(p["req"])
                if isinstance(req, list):   # decisions §11: a real batch
                    check(isinstance(j, list) and len(j) == 1
                          and j[0]["id"] == req[0]["id"]
                          and "Server" in j[0]["result"], r.body)
                else:
                    exp = p["rep"].split("\r\n\r\n", 1)[1]
                    check(r.body == exp, "%s -> %s, reference %s"
                          % (p["req"], r.body, exp))
                v = post_mi(h.http_port,
                            '{"jsonrpc":"2.0","method":"version","id":1}')
                check(v.status == 200 and h.alive(), "dead after %s" % p["req"])
    runner.run(name, body)


# ------------------------------------------------------------ opensips-cli

def test_cli(runner):
    name = "http.opensips-cli over http"
    if not runner.wanted(name):
        return

    def body():
        with HttpHost("cli") as h:
            c = H.mitool.MIClient("http", url=h.url())
            names = c.which()
            for n in OUR_CMDS + ["status_report:status", "core:version"]:
                check(n in names, "which lacks %s" % n)
            st = c.execute("status_report:get", ["core"])
            check(st["Status"] == 1 and st["Readiness"] is True, st)
            # sr_list_status: the 3.x alias is accepted on the wire
            lst = json.loads(c.raw('{"jsonrpc":"2.0","method":'
                                   '"sr_list_status","id":"7"}'))["result"]
            groups = [g["Name"] for g in lst]
            check("core" in groups and "sr_http" in groups, lst)
            roots = c.execute("httpd:list_root_path")
            check({"http_root": "mi", "module": "mi_http"} in roots, roots)
            check({"http_root": "readyz", "module": "sr_http"} in roots, roots)
            # the tool, as an operator runs it
            p = subprocess.run(["python3", H.TOOL, "-t", "http", "--url",
                                h.url(), "-x", "mi", "core:version"],
                               capture_output=True, timeout=20)
            check(p.returncode == 0 and b"opensips-shim" in p.stdout,
                  "opensips-mi -t http: %r %r" % (p.stdout, p.stderr))
            p = subprocess.run(["python3", H.TOOL, "-t", "http", "--url",
                                h.url(), "-x", "mi", "sr_list_status"],
                               capture_output=True, timeout=20)
            check(p.returncode != 0 and b"no command" in p.stderr,
                  "alias must be refused as opensips-cli does: %r" % p.stderr)
    runner.run(name, body)


# ------------------------------------------------------------ readyz/livez

def readyz(h, path="/readyz?verbose"):
    return get(h.http_port, path)


def wait_status(h, path, status, timeout=2.0):
    deadline = time.monotonic() + timeout
    while True:
        r = readyz(h, path)
        if r.status == status or time.monotonic() > deadline:
            return r
        time.sleep(0.05)


def test_readyz(runner):
    name = "http.readyz follows sr_set_status, drain and undrain"
    if not runner.wanted(name):
        return

    def body():
        with HttpHost("readyz") as h:
            r = readyz(h)
            check(r.status == 200 and r.header("Content-Type") == TEXT, r)
            check(r.body.startswith("[+]core/main ok\n")
                  and r.body.endswith("[+]drain ok\nreadyz check passed\n"), r.body)
            check(readyz(h, "/readyz").body == "ok\n", "plain body")
            rep, _ = H.send_options(h, "sr-bad")
            check(rep.startswith("SIP/2.0 200 OK"), rep)
            r = wait_status(h, "/readyz?verbose", 503)
            check(r.status == 503 and "[-]ref_app/main status=-3 details=app "
                  "degraded\n" in r.body and r.body.endswith(
                      "readyz check failed\n"), r.body)
            check(readyz(h, "/readyz?exclude=ref_app").status == 200, "exclude")
            check(readyz(h, "/readyz/ref_app").status == 503, "one group")
            check(readyz(h, "/readyz/ref_app/main").status == 503, "one id")
            check(readyz(h, "/readyz/core").status == 200, "core")
            check(readyz(h, "/readyz/nope").status == 404, "unknown group")
            check(readyz(h, "/readyz/core/nope").status == 404, "unknown id")
            check(readyz(h, "/readyz/c%6Fre/m%61in").status == 200, "decoding")
            H.send_options(h, "sr-ok")
            check(wait_status(h, "/readyz", 200).status == 200, "back to 200")
            # drain over MI datagram; SIP keeps being served
            check(h.result("sr_http:drain") == "OK", "drain")
            r = readyz(h)
            check(r.status == 503 and re.search(
                r"\[-\]drain draining since \d{4}-\d\d-\d\dT", r.body), r.body)
            rep, _ = H.send_options(h, "plain")
            check(rep.startswith("SIP/2.0 200 OK"), "SIP during drain: %r" % rep)
            reps = h.result("status_report:reports", ["core"])
            logs = [x["Log"] for x in reps[0]["Reports"]]
            check(any("drain" in l for l in logs), logs)
            check(h.result("status_report:get", ["sr_http"])["Status"] < 0,
                  "sr_http group follows the drain")
            # drain over HTTP itself, idempotent
            r = post_mi(h.http_port, '{"jsonrpc":"2.0","method":'
                        '"sr_http:drain","id":1}')
            check(r.body == '{"jsonrpc":"2.0","result":"OK","id":1}', r.body)
            check(h.result("sr_http:undrain") == "OK", "undrain")
            check(readyz(h).status == 200, "after undrain")
            alive_check(h)
    runner.run(name, body)


def test_ready_groups(runner):
    name = "http.readyz ready_groups modparam"
    if not runner.wanted(name):
        return

    def body():
        with HttpHost("groups", extra_modules='modparam("sr_http", '
                      '"ready_groups", "core, security")') as h:
            H.send_options(h, "sr-bad")
            time.sleep(0.1)
            r = readyz(h)
            check(r.status == 200 and "ref_app" not in r.body, r.body)
            H.send_options(h, "sr-sec")
            r = wait_status(h, "/readyz?verbose", 503)
            check(r.status == 503 and "[-]security/main status=-1 details="
                  "attack seen" in r.body, r.body)
    runner.run(name, body)


def test_livez_shutdown(runner):
    name = "http.livez 503 during shutdown"
    if not runner.wanted(name):
        return

    def body():
        h = HttpHost("livez", extra_globals="shutdown_grace = 1500")
        try:
            h.start()
            alive_check(h)
            h.proc.send_signal(signal.SIGTERM)
            seen = []
            deadline = time.monotonic() + 3
            while time.monotonic() < deadline:
                try:
                    seen.append(get(h.http_port, "/livez").status)
                    if seen[-1] == 503:
                        rz = get(h.http_port, "/readyz").status
                        check(rz == 503, "readyz %d while terminating" % rz)
                        break
                except (OSError, TestFailure):
                    seen.append("closed")
                    break
                time.sleep(0.02)
            check(503 in seen, "never saw 503: %s" % seen)
            check(h.wait_exit(6) == 0, "exit code")
        finally:
            h.cleanup()
    runner.run(name, body)


# ------------------------------------------------------------ metrics

NAME_RE = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*$")
LABEL_RE = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\\n]|\\[\\"n])*)"')


def parse_prometheus(text):
    """Strict text format 0.0.4: -> {family: {"help", "type", "samples":
    [(labels dict, value)]}}. Every sample needs HELP and TYPE first, a
    family's lines are contiguous, no duplicate series. Empty lines are
    ignored (the format allows them; OpenSIPS's output ends with one)."""
    check(text.endswith("\n"), "exposition must end with a newline")
    fams = {}
    order = []
    cur = None
    series = set()
    for ln in text[:-1].split("\n"):
        if ln == "":
            continue
        if ln.startswith("# HELP "):
            name, _, help_ = ln[7:].partition(" ")
            check(NAME_RE.match(name), "bad name %r" % name)
            check(name not in fams, "second HELP for %s" % name)
            check(re.fullmatch(r"(?:[^\\]|\\[\\n])*", help_), "bad HELP %r" % ln)
            fams[name] = {"help": help_, "type": None, "samples": []}
            order.append(name)
            cur = name
            continue
        if ln.startswith("# TYPE "):
            name, _, typ = ln[7:].partition(" ")
            check(name == cur and fams[name]["type"] is None,
                  "TYPE without HELP just before: %r" % ln)
            check(typ in ("counter", "gauge", "histogram", "summary",
                          "untyped"), "bad type %r" % typ)
            check(not fams[name]["samples"], "TYPE after samples")
            fams[name]["type"] = typ
            continue
        check(not ln.startswith("#"), "stray comment %r" % ln)
        m = re.match(r"([a-zA-Z_:][a-zA-Z0-9_:]*)(\{.*\})? (\S+)$", ln)
        check(m is not None, "bad sample line %r" % ln)
        name, lbl, val = m.groups()
        check(name == cur, "sample of %s outside its family block (%s)"
              % (name, cur))
        check(fams[name]["type"] is not None, "sample before TYPE")
        labels = {}
        if lbl:
            inner = lbl[1:-1]
            pos = 0
            while pos < len(inner):
                lm = LABEL_RE.match(inner, pos)
                check(lm is not None, "bad labels %r" % lbl)
                check(lm.group(1) not in labels, "duplicate label")
                labels[lm.group(1)] = lm.group(2).replace('\\"', '"') \
                    .replace("\\n", "\n").replace("\\\\", "\\")
                pos = lm.end()
                if pos < len(inner):
                    check(inner[pos] == ",", "bad label separator %r" % lbl)
                    pos += 1
        if val not in ("NaN", "+Inf", "-Inf"):
            float(val)
        key = (name, tuple(sorted(labels.items())))
        check(key not in series, "duplicate series %s" % (key,))
        series.add(key)
        fams[name]["samples"].append((labels, float(val)))
    return fams


REQUIRED = {
    "opensips_sr_status": "gauge", "opensips_sr_ready": "gauge",
    "opensips_sip_received_total": "counter",
    "opensips_sip_replied_total": "counter",
    "opensips_sip_malformed_total": "counter",
    "opensips_mi_requests_total": "counter",
    "opensips_uptime_seconds": "gauge",
    "opensips_evi_delivered_total": "counter",
    "opensips_evi_dropped_total": "counter",
    "opensips_evi_failed_total": "counter",
}


def test_metrics(runner):
    name = "http.metrics strict exposition"
    if not runner.wanted(name):
        return

    def body():
        with HttpHost("metrics", extra_modules='loadmodule "event_datagram.so"\n'
                      + PROM_MODULE) as h:
            # one event delivered to a UDP collector, counted per event
            # and transport
            coll = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            coll.bind(("127.0.0.1", 0))
            coll.settimeout(2)
            sub = post_mi(h.http_port, json.dumps({
                "jsonrpc": "2.0", "method": "evi:subscribe", "id": 9,
                "params": ["E_CORE_SR_STATUS_CHANGED",
                           "udp:127.0.0.1:%d" % coll.getsockname()[1]]}))
            check('"result":"OK"' in sub.body, sub)
            H.send_options(h, "sr-bad")
            coll.recv(65535)
            coll.close()
            post_mi(h.http_port, '{"jsonrpc":"2.0","method":"version","id":1}')
            time.sleep(0.1)
            r = get(h.http_port, "/metrics")
            check(r.status == 200 and r.header("Content-Type") == PROM, r)
            fams = parse_prometheus(r.body)
            for f, t in REQUIRED.items():
                check(f in fams and fams[f]["type"] == t, "family %s (%s)"
                      % (f, sorted(fams)))
            st = {(l["group"], l["identifier"]): v
                  for l, v in fams["opensips_sr_status"]["samples"]}
            check(st[("core", "main")] == 1 and st[("ref_app", "main")] == -3,
                  st)
            rd = {(l["group"], l["identifier"]): v
                  for l, v in fams["opensips_sr_ready"]["samples"]}
            check(rd[("ref_app", "main")] == 0 and rd[("core", "main")] == 1, rd)
            mi = {l["transport"]: v
                  for l, v in fams["opensips_mi_requests_total"]["samples"]}
            check(mi.get("http", 0) >= 1, mi)
            rx = sum(v for _, v in
                     fams["opensips_sip_received_total"]["samples"])
            check(rx >= 1, "sip received %s" % rx)
            dl = {(l["event"], l["transport"]): v for l, v in
                  fams["opensips_evi_delivered_total"]["samples"]}
            check(dl.get(("E_CORE_SR_STATUS_CHANGED", "udp"), 0) >= 1, dl)
            # label sets of the event families (decisions §31, statistics
            # per event+transport, per event, per event+subscriber)
            for f in fams:
                if not f.startswith("opensips_evi_"):
                    continue
                want = ({"event"} if f == "opensips_evi_raised_total" else
                        {"event", "subscriber"} if f.startswith("opensips_evi_sub_")
                        else {"event", "transport"})
                for l, _ in fams[f]["samples"]:
                    check(set(l) == want, "%s %s" % (f, l))
            # the parser itself is strict
            for bad in ("x 1\n", "# HELP x h\n# TYPE x gauge\nx{a=\"\\q\"} 1\n",
                        "# HELP x h\n# TYPE x gauge\nx 1\nx 2\n"):
                try:
                    parse_prometheus(bad)
                except TestFailure:
                    continue
                raise TestFailure("parser accepted %r" % bad)
            check(http(h.http_port, "POST", "/metrics", "x").status == 405,
                  "POST /metrics")
            h2 = http(h.http_port, "HEAD", "/metrics")
            check(h2.status == 200 and int(h2.header("Content-Length")) > 0,
                  "HEAD")
    runner.run(name, body)


def test_no_metrics(runner):
    name = "http.metrics not served without the prometheus module"
    if not runner.wanted(name):
        return

    def body():
        # sr_http alone no longer serves /metrics (decisions §34)
        with HttpHost("nometrics") as h:
            r = get(h.http_port, "/metrics")
            check(r.status == 400 and "Unable to parse URL" in r.body, r)
            check(get(h.http_port, "/readyz").status == 200, "readyz")
    runner.run(name, body)


# ------------------------------------------------------------ bad HTTP

def raw_exchange(port, data, timeout=3.0):
    s = connect(port, timeout)
    try:
        s.sendall(data)
        r, _ = read_response(s)
        return r
    finally:
        s.close()


def test_bad_http(runner):
    prefix = "http.bad"
    cases = []

    def case(name):
        def deco(fn):
            cases.append((name, fn))
            return fn
        return deco

    @case("oversized headers -> 431")
    def _(h):
        big = b"GET /livez HTTP/1.1\r\nX-Big: " + b"a" * 20000 + b"\r\n\r\n"
        r = raw_exchange(h.http_port, big)
        check(r.status in (431, 413), r)

    @case("oversized body -> 413")
    def _(h):
        r = raw_exchange(h.http_port, b"POST /mi HTTP/1.1\r\nContent-Type: "
                         b"application/json\r\nContent-Length: 70000\r\n\r\n{")
        check(r.status == 413, r)

    @case("413 before the body is read: the reply, then a clean close (no reset)")
    def _(h):
        # the client is still sending a body httpd will not read; the
        # connection must end with a FIN after the 413, not a reset that
        # can take the reply with it
        body = b"x" * (512 * 1024)
        resets = 0
        for _ in range(100):
            s = connect(h.http_port)
            try:
                try:
                    s.sendall(b"POST /mi HTTP/1.1\r\nHost: x\r\nContent-Type: "
                              b"application/json\r\nContent-Length: %d\r\n\r\n"
                              % len(body) + body)
                except OSError:
                    pass
                got = b""
                try:
                    while True:
                        d = s.recv(65536)
                        if not d:
                            break
                        got += d
                except ConnectionResetError:
                    resets += 1
                check(got.startswith(b"HTTP/1.1 413 "), got[:200])
            finally:
                s.close()
        check(resets == 0, "%d of 100 connections reset after the 413" % resets)

    @case("slowloris partial request: closed within request_timeout")
    def _(h):
        # libmicrohttpd cannot answer a request whose head never completes;
        # the reference (MHD too) keeps a trickling client forever, we close
        # it once request_timeout (1 s here) has passed since its request
        # line, without a reply.
        s = connect(h.http_port, 5)
        try:
            t0 = time.monotonic()
            s.sendall(b"GET /livez HTTP/1.1\r\nHost: x\r\n")
            for _ in range(4):
                time.sleep(0.3)
                try:
                    s.sendall(b"X-Slow: 1\r\n")
                except OSError:
                    break
            data = b""
            while True:
                try:
                    d = s.recv(4096)
                except ConnectionResetError:
                    d = b""
                if not d:
                    break
                data += d
            dt = time.monotonic() - t0
            check(data == b"", "a reply to an incomplete request: %r" % data)
            check(0.9 <= dt <= 2.5, "closed after %.2fs (timeout 1 s)" % dt)
        finally:
            s.close()

    @case("wrong methods -> 405")
    def _(h):
        r = http(h.http_port, "DELETE", "/mi")
        check(r.status == 405 and r.header("Allow") == "POST", r)
        r = http(h.http_port, "PUT", "/readyz", "x")
        check(r.status == 405 and r.header("Allow") == "GET, HEAD", r)

    @case("bad JSON -> 200 -32700, empty body -> 400")
    def _(h):
        r = post_mi(h.http_port, '{"jsonrpc":')
        check(r.status == 200 and r.body == '{"jsonrpc":"2.0","error":{"code":'
              '-32700,"message":"Parse error"},"id":null}', r)
        r = post_mi(h.http_port, "")
        check(r.status == 400, r)

    @case("garbage, chunked, HTTP/2 preface (as the reference)")
    def _(h):
        s = connect(h.http_port)
        s.sendall(b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03garbage\r\n\r\n")
        check(s.recv(100) == b"", "garbage is closed without a reply")
        s.close()
        req = b'{"jsonrpc":"2.0","method":"version","id":7}'
        r = raw_exchange(h.http_port, b"POST /mi HTTP/1.1\r\nHost: x\r\n"
                         b"Content-Type: application/json\r\n"
                         b"Transfer-Encoding: chunked\r\nConnection: close\r\n"
                         b"\r\n%x\r\n%s\r\n0\r\n\r\n" % (len(req), req))
        check(r.status == 200 and '"Server"' in r.body and '"id":7' in r.body, r)
        r = raw_exchange(h.http_port, b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n")
        check(r.status == 505, r)
        s = connect(h.http_port)
        s.sendall(b"\x00" * 100)
        s.close()

    @case("chunked body over the limit -> 413")
    def _(h):
        chunk = b"a" * 8000
        data = b"".join(b"%x\r\n%s\r\n" % (len(chunk), chunk) for _ in range(10))
        r = raw_exchange(h.http_port, b"POST /mi HTTP/1.1\r\nHost: x\r\n"
                         b"Content-Type: application/json\r\n"
                         b"Transfer-Encoding: chunked\r\n\r\n" + data +
                         b"0\r\n\r\n")
        check(r.status == 413, r)

    @case("keep-alive and pipelining")
    def _(h):
        s = connect(h.http_port)
        try:
            one = request_bytes("GET", "/livez", close=False)
            mi = request_bytes("POST", "/mi", '{"jsonrpc":"2.0","method":'
                               '"version","id":5}', close=False)
            s.sendall(one + mi + one + b"GET /nowhere HTTP/1.1\r\n\r\n")
            buf = b""
            got = []
            for _ in range(4):
                r, buf = read_response(s, buf)
                got.append(r.status)
                check(r.header("Connection") is None, r)
            check(got == [200, 200, 200, 400], got)
            s.sendall(one)   # the connection is still usable
            r, buf = read_response(s, buf)
            check(r.status == 200, r)
            # many pipelined requests in one write
            s.sendall(one * 200)
            for _ in range(200):
                r, buf = read_response(s, buf)
                check(r.status == 200, r)
        finally:
            s.close()

    @case("keep-alive: each request answered for its own body, long then short")
    def _(h):
        # httpd keeps a connection's request state for its next request: a
        # body left over from the one before would come first (and win)
        s = connect(h.http_port)
        try:
            buf = b""
            for pad, rid in ((1000, 1), (0, 2), (5000, 3), (0, 4), (3, 5), (0, 6)):
                rid_json = json.dumps("%d%s" % (rid, "x" * pad)) if pad else str(rid)
                body = '{"jsonrpc":"2.0","method":"version","id":%s}' % rid_json
                s.sendall(request_bytes("POST", "/mi", body, close=False))
                r, buf = read_response(s, buf)
                check(r.status == 200, r)
                got = json.loads(r.body)
                check(got.get("id") == json.loads(rid_json) and "result" in got,
                      "request %d: %r" % (rid, r.body[:200]))
        finally:
            s.close()

    @case("max_connections and idle connections")
    def _(h):
        socks = [connect(h.http_port) for _ in range(20)]
        alive_check(h)
        for s in socks:
            s.close()

    if not any(runner.wanted("%s %s" % (prefix, n)) for n, _ in cases):
        return
    h = HttpHost("badhttp")
    try:
        runner.run(prefix + " start", h.start)
        for n, fn in cases:
            def run_case(fn=fn):
                fn(h)
                alive_check(h)
            runner.run("%s %s" % (prefix, n), run_case)
    finally:
        h.cleanup()


def test_auth(runner):
    name = "http.basic auth (realm OpenSIPS MI)"
    if not runner.wanted(name):
        return

    def body():
        params = ('modparam("httpd", "auth_username", "admin")\n'
                  'modparam("httpd", "auth_password", "s3cret")')
        with HttpHost("auth", httpd_params=params) as h:
            req = '{"jsonrpc":"2.0","method":"version","id":1}'
            r = post_mi(h.http_port, req)
            check(r.status == 401 and r.header("WWW-Authenticate")
                  == 'Basic realm="OpenSIPS MI"', r)
            import base64
            bad = "Basic " + base64.b64encode(b"admin:nope").decode()
            r = http(h.http_port, "POST", "/mi", req,
                     headers=[("Authorization", bad)])
            check(r.status == 401, r)
            ok = "Basic " + base64.b64encode(b"admin:s3cret").decode()
            r = http(h.http_port, "POST", "/mi", req,
                     headers=[("Authorization", ok)])
            check(r.status == 200 and '"Server"' in r.body, r)
            r = http(h.http_port, "GET", "/readyz",
                     headers=[("Authorization", ok)])
            check(r.status == 200, r)
    runner.run(name, body)


def test_ps(runner):
    name = "http.core:ps lists the HTTPD thread"
    if not runner.wanted(name):
        return

    def body():
        with HttpHost("ps") as h:
            ps = h.result("core:ps")["Processes"]
            types = [p["Type"] for p in ps]
            want = "HTTPD 127.0.0.1:%d" % h.http_port
            check(want in types, types)
            check(types.index(want) == 1, "decisions §14 order: %s" % types)
    runner.run(name, body)


# ------------------------------------------------------------ storm

def test_storm(runner):
    name = "http.probe storm while sipp runs"
    if not runner.wanted(name):
        return
    sipp = shutil.which("sipp")
    if not sipp:
        runner.skip(name, "sipp is not installed")
        return

    def body():
        with HttpHost("storm", extra_modules=PROM_MODULE) as h:
            argv = [sipp, "127.0.0.1:%d" % h.sip_port, "-sf",
                    os.path.join(HERE, "options-200.xml"), "-s", "probe",
                    "-m", "1000", "-r", "500", "-i", "127.0.0.1",
                    "-p", str(H.free_port()), "-nostdin", "-timeout", "30s",
                    "-timeout_error", "-recv_timeout", "3000"]
            sp = subprocess.Popen(argv, stdout=subprocess.DEVNULL,
                                  stderr=subprocess.DEVNULL,
                                  stdin=subprocess.DEVNULL, cwd=h.run_dir)
            errors = []
            counts = []

            def prober(path):
                n = 0
                try:
                    s = connect(h.http_port)
                    buf = b""
                    one = request_bytes("GET", path, close=False)
                    t_end = time.monotonic() + 1.8
                    while time.monotonic() < t_end:
                        s.sendall(one)
                        r, buf = read_response(s, buf)
                        if r.status != 200:
                            errors.append((path, r.status))
                        n += 1
                    s.close()
                except Exception as e:  # noqa: BLE001
                    errors.append((path, repr(e)))
                counts.append(n)

            ths = [threading.Thread(target=prober, args=(p,)) for p in
                   ("/readyz", "/readyz?verbose", "/livez", "/metrics")]
            for t in ths:
                t.start()
            for t in ths:
                t.join(10)
            rc = sp.wait(40)
            check(not errors, "probe errors: %s" % errors[:5])
            check(sum(counts) >= 400, "only %s probes" % counts)
            check(rc == 0, "sipp exit %d" % rc)
            alive_check(h)
    runner.run(name, body)


def run(runner):
    if not os.path.exists(os.path.join(H.BUILD_DIR, "modules", "httpd.so")):
        runner.skip("http", "httpd.so not built")
        return
    test_replay(runner)
    test_probes(runner)
    test_cli(runner)
    test_ps(runner)
    test_readyz(runner)
    test_ready_groups(runner)
    test_livez_shutdown(runner)
    test_metrics(runner)
    test_no_metrics(runner)
    test_bad_http(runner)
    test_auth(runner)
    test_storm(runner)
