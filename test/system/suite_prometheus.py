"""System tests of the prometheus module (docs/prometheus.md).

Replays the reference captures of test/system/ref/ (README.md there): for
every variant, our host runs test/cfg/prometheus.cfg (stats-ref.cfg for our
host) with the variant's modparams, gets the same 7 OPTIONS, and its
/metrics is compared with the reference's, section 1 (OpenSIPS's layout)
block by block: names, TYPE lines, order, label layout and values, with
these masked:

- the Date header; pid="..." labels; ports inside desc="..." labels;
- the values of memory sizes (shmem:, pkmem:), core:timestamp and the
  load: gauges (they measure the allocator and thread busy time);
- statistics our host does not have: the rpmem:, sql:, cdb: and tm: groups
  (no such subsystems) and net:waiting_tls (no TLS SIP listener); and the
  groups the reference does not have (ours: evi:, sr:, mi:, httpd:,
  profiling:) in `statistics all`;
- per-thread rows: our thread roster differs (decisions §14: `timer` for
  the reference's `Timer handler`, the EVI and profiling senders on top,
  other ids), so each per-thread family must hold a row for every
  reference thread (by its description) in the same label layout, and may
  hold ours on top;
- script_route: the `return (1, '<json>')` output (our cfg language keeps
  one return value, docs/prometheus.md).

Every body goes through `promtool check metrics`: section 2 (the native
families) must pass with no complaint at all; section 1 may only draw
"counter metrics should have _total suffix" and "no help text", for its own
names, exactly as the reference's does. Then: bad modparams stop startup
with file:line, the HTTP methods, the native families, a real Prometheus
server scraping us (group_mode 1, statistics all), and scrape speed.
"""

import os
import re
import shutil
import socket
import subprocess
import time

import harness as H
from harness import check

from suite_http import parse_prometheus

REF = os.path.join(H.SYSTEM_DIR, "ref")
CFG = os.path.join(H.CFG_DIR, "prometheus.cfg")
PROM_TYPE = "text/plain; version=0.0.4"
SIP_OPTIONS = 7

# what our host does not have (see the module docstring)
ABSENT_GROUPS = {"rpmem", "sql", "cdb", "tm"}
ABSENT_STATS = {("net", "waiting_tls")}
MASKED_GROUPS = {"shmem", "pkmem"}
MASKED_STATS = {("core", "timestamp")}
MASKED_LOAD = "load"  # every load: gauge but processes_number
# reference thread description -> ours (decisions §14)
ROSTER = {"Timer handler": "timer"}
OUR_EXTRA_THREADS = {"EVI sender", "profiling sender", "event_stream Sender"}
LINT_OK = re.compile(r'(\S+) (counter metrics should have "_total" suffix'
                     r'|no help text)$')

STARTS = ["default", "all", "list", "all-plus-list", "group_mode0-explicit",
          "group_mode1", "group_mode2", "prefix", "prefix-empty", "delimiter",
          "group_prefix-mode0", "group_prefix-mode1", "group_label-mode2",
          "labels", "labels-mode0", "unknown-group", "unknown-stat",
          "script_route", "root", "methods"]
FAILS = {
    # variant: (modparam whose line must be named, text the error must hold)
    "bad-group_mode": ("group_mode", "group_mode 3"),
    "bad-label-regex": ("labels", "bad regular expression"),
    "bad-label-nogroup": ("labels", "no closing 'a'"),
    "bad-label-noregex": ("labels", "no /regex/replacement/flags after 'sl:'"),
    "bad-label-subst": ("labels", "notaregex"),
    "script_route-missing": ("script_route", "no_such_route"),
}


# ------------------------------------------------------------ reference

def ref_text(name):
    # newline="": the captures keep HTTP's CRLF
    with open(os.path.join(REF, name), encoding="utf-8", newline="") as f:
        return f.read()


def snippet(variant):
    """-> (modparam lines, extra route) of a variant."""
    text = ref_text("prometheus-%s.cfg-snippet" % variant)
    route = ""
    if "# extra route appended to the cfg:\n" in text:
        text, route = text.split("# extra route appended to the cfg:\n", 1)
    lines = [ln for ln in text.split("\n") if ln and not ln.startswith("#")]
    return "\n".join(lines), route


def ref_exchanges(variant):
    """-> [(method, path, raw response)] of a started variant."""
    text = ref_text("prometheus-%s.txt" % variant)
    if not text.startswith("# several"):
        return [("GET", "/metrics", text)]
    out = []
    for m in re.finditer(r"=== (\S+) (\S+) ===\n(.*?)\n=== end \(([^)]*)\) ===\n",
                         text, re.S):
        out.append((m.group(1), m.group(2), m.group(3)))
    return out


def split_raw(raw):
    head, _, body = raw.partition("\r\n\r\n")
    lines = head.split("\r\n")
    hdrs = [tuple(x.strip() for x in ln.split(":", 1)) for ln in lines[1:]]
    return lines[0], hdrs, body


def ref_catalog():
    """statistics of the reference: stat part of the name -> group."""
    cat = {}
    for ln in ref_text("stats-table.md").splitlines():
        m = re.match(r"\| (\w+) \| (\S+) \| (in|non)", ln)
        if m:
            cat.setdefault(stat_part(m.group(2)), set()).add(m.group(1))
    return cat


def stat_part(mi_name):
    """What OpenSIPS's prometheus prints for a statistic's MI name:
    per-process ones as proc_<family>, the rest sanitised."""
    m = re.fullmatch(r"\d+-(.+)", mi_name) or \
        re.fullmatch(r"(.+)-proc-\d+", mi_name)
    if m:
        return "proc_" + re.sub(r"[^A-Za-z0-9_:]", "_", m.group(1))
    return re.sub(r"[^A-Za-z0-9_:]", "_", mi_name)


def our_catalog(host):
    r = host.result("statistics:get", [["all"]])
    cat = {}
    for key in r:
        group, _, name = key.partition(":")
        if "/" in name:
            continue  # per-item: not in section 1
        cat.setdefault(stat_part(name), set()).add(group)
    return cat


# ------------------------------------------------------------ exposition

class Params:
    def __init__(self, text):
        def get(name, default):
            m = re.search(r'modparam\("prometheus", "%s", "?([^")]*)"?\)'
                          % name, text)
            return m.group(1) if m else default
        self.prefix = get("prefix", "opensips")
        self.delimiter = get("delimiter", "_")
        self.group_prefix = get("group_prefix", "")
        self.group_label = get("group_label", "group")
        self.mode = int(get("group_mode", "0"))
        self.root = get("root", "metrics")


def sections(body):
    """-> (section 1 without OpenSIPS's closing "\\n", section 2)."""
    if body.startswith("\n"):
        return "", body[1:]
    i = body.find("\n\n")
    check(i >= 0, "no end of section 1 in %r" % body[:300])
    return body[:i + 1], body[i + 2:]


LABEL_RE = re.compile(r'([A-Za-z_][A-Za-z0-9_]*)="((?:[^"\\]|\\.)*)"')


def parse_sample(line):
    m = re.fullmatch(r"(\S+?)(\{.*\})? (\S+)", line)
    check(m is not None, "bad sample line %r" % line)
    labels = LABEL_RE.findall(m.group(2)[1:-1]) if m.group(2) else []
    return m.group(1), labels, m.group(3)


def blocks(section):
    """Section 1 as [{"name", "type", "help", "samples": [(line, name,
    labels, value)]}] in order."""
    out, cur, help_ = [], None, None
    for ln in section.split("\n"):
        if not ln:
            continue
        if ln.startswith("# HELP "):
            help_ = ln
            continue
        if ln.startswith("# TYPE "):
            name, _, typ = ln[7:].rpartition(" ")
            cur = {"name": name, "type": typ, "help": help_, "samples": []}
            help_ = None
            out.append(cur)
            continue
        check(cur is not None, "sample before any TYPE: %r" % ln)
        cur["samples"].append((ln,) + parse_sample(ln))
    return out


def block_key(b, p, catalog):
    """-> (group or None, statistic part of the name) of a section-1 block."""
    name = b["name"]
    head = p.prefix + p.delimiter
    if p.mode == 2:
        groups = []
        for _, _, labels, _ in b["samples"]:
            for k, v in labels:
                if k == p.group_label and v.startswith(p.group_prefix):
                    groups.append(v[len(p.group_prefix):])
        part = name[len(head):] if name.startswith(head) else name
        return (groups[0] if len(set(groups)) == 1 else None), part
    if p.mode == 1:
        all_groups = set().union(*catalog.values()) if catalog else set()
        for g in sorted(all_groups, key=len, reverse=True):
            pre = head + p.group_prefix + g + p.delimiter
            if name.startswith(pre) and g in catalog.get(name[len(pre):], ()):
                return g, name[len(pre):]
        return None, name
    part = name[len(head):] if name.startswith(head) else name
    if part not in catalog and part.startswith("_") and part[1:] in catalog:
        part = part[1:]
    gs = catalog.get(part, set())
    return (next(iter(gs)) if len(gs) == 1 else None), part


REF_GROUPS = set().union(*ref_catalog().values()) if os.path.isdir(REF) else set()


def masked(group, part):
    if group in MASKED_GROUPS or (group, part) in MASKED_STATS:
        return True
    return group == MASKED_LOAD and part != "processes_number"


def mask_desc(v):
    return ROSTER.get(re.sub(r":\d+$", ":PORT", v), re.sub(r":\d+$", ":PORT", v))


def compare_section1(ours_s1, ref_s1, p, our_cat, ref_cat, variant):
    ref_b = []
    for b in blocks(ref_s1):
        g, part = block_key(b, p, ref_cat)
        if g in ABSENT_GROUPS or (g, part) in ABSENT_STATS:
            continue
        if variant == "script_route" and b["name"] == "opensips_json_total":
            continue
        ref_b.append((g, part, b))
    our_b = []
    for b in blocks(ours_s1):
        g, part = block_key(b, p, our_cat)
        if g is not None and g not in REF_GROUPS:
            continue
        our_b.append((g, part, b))
    names = lambda bs: [b["name"] for _, _, b in bs]  # noqa: E731
    check(names(our_b) == names(ref_b),
          "metric names/order differ:\n      ours: %s\n      ref : %s"
          % (names(our_b), names(ref_b)))
    for (g, part, o), (_, _, r) in zip(our_b, ref_b):
        check(o["type"] == r["type"] and o["help"] == r["help"],
              "%s: TYPE/HELP %s %s, reference %s %s" % (
                  o["name"], o["type"], o["help"], r["type"], r["help"]))
        per_thread = any(k == "pid" for _, _, lab, _ in r["samples"]
                         for k, _ in lab)
        if per_thread:
            compare_threads(o, r, masked(g, part))
            continue
        check(len(o["samples"]) == len(r["samples"]),
              "%s: %d samples, reference %d" % (o["name"], len(o["samples"]),
                                                len(r["samples"])))
        for (ol, on, olab, ov), (rl, rn, rlab, rv) in zip(o["samples"],
                                                          r["samples"]):
            if masked(g, part):
                check(on == rn and olab == rlab and re.fullmatch(r"\d+", ov),
                      "%r, reference %r (value masked)" % (ol, rl))
            else:
                check(ol == rl, "%r, reference %r" % (ol, rl))


def compare_threads(o, r, values_masked):
    def rows(b, ours):
        out = []
        for line, name, labels, value in b["samples"]:
            keys = [k for k, _ in labels]
            d = dict(labels)
            check(re.fullmatch(r"\d+", d.get("id", "")) and
                  re.fullmatch(r"\d+", d.get("pid", "")),
                  "%r: id/pid are not numbers" % line)
            out.append((name, tuple(keys),
                        tuple((k, v) for k, v in labels
                              if k not in ("id", "pid", "desc")),
                        mask_desc(d.get("desc", "")), value))
        return out
    ours, ref = rows(o, True), rows(r, False)
    layouts = {x[:3] for x in ref}
    check(all(x[:3] in layouts for x in ours),
          "%s: label layout %s, reference %s" % (o["name"],
                                                 sorted({x[:3] for x in ours}),
                                                 sorted(layouts)))
    left = [x[3] for x in ours]
    for _, _, _, desc, value in ref:
        check(desc in left, "%s: no row for the reference's thread %r (ours: %s)"
              % (o["name"], desc, [x[3] for x in ours]))
        left.remove(desc)
        if not values_masked:
            mine = [x[4] for x in ours if x[3] == desc]
            check(value in mine, "%s{desc=%r}: %s, reference %s"
                  % (o["name"], desc, mine, value))
    extra = set(left) - OUR_EXTRA_THREADS
    check(not extra, "%s: rows for threads the reference lacks: %s"
          % (o["name"], sorted(extra)))


def promtool(body):
    tool = shutil.which("promtool")
    check(tool is not None, "promtool is not installed (Debian package "
          "prometheus, tools/install-deps.sh)")
    p = subprocess.run([tool, "check", "metrics"], input=body.encode(),
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       timeout=30)
    return p.returncode, [ln for ln in p.stdout.decode().splitlines() if ln]


def ref_promtool(variant):
    try:
        text = ref_text("prometheus-%s.promtool.txt" % variant)
    except OSError:
        return None, []
    lines = text.splitlines()
    return int(lines[1].split("=")[1]), [ln for ln in lines[2:] if ln]


def check_promtool(body, s1, variant, kept_names):
    rc, lines = promtool(body)
    ref_rc, ref_lines = ref_promtool(variant)
    if ref_rc == 1:  # the reference's body does not parse (delimiter "-")
        check(rc == 1 and lines == ref_lines,
              "promtool: exit %d %s, reference exit 1 %s" % (rc, lines,
                                                             ref_lines))
    else:
        names = {b["name"] for b in blocks(s1)}
        bad = [ln for ln in lines if not (LINT_OK.match(ln) and
                                          LINT_OK.match(ln).group(1) in names)]
        check(not bad, "promtool complaints beyond the reference's two kinds "
              "for section-1 names: %s" % bad)
        check(rc == (3 if lines else 0), "promtool exit %d with %s" % (rc, lines))
        # the same complaints as the reference for the metrics both have
        # (variants without a promtool record: nothing to compare)
    if ref_rc is not None and ref_rc != 1:
        mine = sorted(ln for ln in lines if ln.split(" ")[0] in kept_names)
        theirs = sorted(ln for ln in ref_lines if ln.split(" ")[0] in kept_names)
        check(mine == theirs, "promtool lint differs from the reference's:\n"
              "      ours: %s\n      ref : %s" % (mine, theirs))
    # section 2 alone: no complaint at all
    _, s2 = sections(body)
    rc2, lines2 = promtool(s2)
    check(rc2 == 0 and not lines2, "promtool on the native section: exit %d "
          "%s" % (rc2, lines2))


# ------------------------------------------------------------ hosts

class PromHost(H.Host):
    def __init__(self, name, params="", routes=""):
        self.http_port = H.free_port(socket.SOCK_STREAM)
        super().__init__(CFG, subs={"@HTTP_PORT@": str(self.http_port),
                                    "@PROM_PARAMS@": params,
                                    "@EXTRA_ROUTES@": routes}, name=name)

    def raw(self, method, path, timeout=5.0):
        """The capture's request (Host, Connection: close); reads to EOF.
        -> (raw response, closed by the server)."""
        req = ("%s %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n" % (
            method, path, self.http_port))
        if method == "POST":
            req += "Content-Length: 0\r\n"
        req += "Connection: close\r\n\r\n"
        c = socket.create_connection(("127.0.0.1", self.http_port), timeout)
        c.settimeout(timeout)
        c.sendall(req.encode())
        data, closed = b"", False
        while True:
            try:
                d = c.recv(65536)
            except socket.timeout:
                break
            if not d:
                closed = True
                break
            data += d
        c.close()
        return data.decode("utf-8", "replace"), closed

    def options(self, n=SIP_OPTIONS):
        for i in range(n):
            rep, _ = H.send_options(self, "ping")
            check(rep and rep.startswith("SIP/2.0 200"), "OPTIONS %d: %r"
                  % (i, rep))


def cfg_line(host, needle):
    for i, ln in enumerate(host.cfg_text.split("\n"), 1):
        if needle in ln:
            return i
    return -1


def check_headers(raw, ref_raw):
    st, hdrs, body = split_raw(raw)
    rst, rhdrs, _ = split_raw(ref_raw)
    check(st == rst, "status %r, reference %r" % (st[:200], rst[:200]))
    check([k for k, _ in hdrs] == [k for k, _ in rhdrs],
          "headers %s, reference %s" % (hdrs, rhdrs))
    d = dict(hdrs)
    check(d.get("Content-Type") == PROM_TYPE, "Content-Type %r" % d)
    check(int(d.get("Content-Length", -1)) == len(body.encode()),
          "Content-Length %s for %d bytes" % (d.get("Content-Length"),
                                              len(body.encode())))
    check(re.fullmatch(r"\w{3}, \d\d \w{3} \d{4} \d\d:\d\d:\d\d GMT",
                       d.get("Date", "")), "Date %r" % d.get("Date"))
    return body


# ------------------------------------------------------------ tests

def test_replay(runner):
    plan = [v for v in STARTS if runner.wanted("prom.replay[%s]" % v)]
    if not plan:
        return
    ref_cat = ref_catalog()
    for variant in plan:
        params, routes = snippet(variant)
        p = Params(params)

        def body(variant=variant, params=params, routes=routes, p=p):
            with PromHost("prom-" + variant[:7], params, routes) as h:
                h.options()
                time.sleep(0.2)
                cat = our_catalog(h)
                for method, path, ref_raw in ref_exchanges(variant):
                    if method != "GET" or not ref_raw.startswith("HTTP/1.1 200"):
                        continue  # methods and roots: test_http below
                    raw, _ = h.raw(method, path)
                    b = check_headers(raw, ref_raw)
                    s1, s2 = sections(b)
                    _, _, ref_body = split_raw(ref_raw)
                    check(ref_body.endswith("\n"), "reference body framing")
                    ref_s1 = ref_body[:-1]
                    compare_section1(s1, ref_s1, p, cat, ref_cat, variant)
                    kept = {bl["name"] for bl in blocks(s1)} & \
                        {bl["name"] for bl in blocks(ref_s1)}
                    check_promtool(b, s1, variant, kept)
                    fams = parse_prometheus(s2)
                    check("opensips_uptime_seconds" in fams, sorted(fams))
                    if p.mode == 1 and "all" in params:
                        for n in ("opensips_core_rcv_requests",
                                  "opensips_sl_2xx_replies",
                                  "opensips_sl_sent_replies"):
                            check("\n%s %d\n" % (n, SIP_OPTIONS) in b, n)
        runner.run("prom.replay[%s] section 1 as the reference, promtool"
                   % variant, body)


def test_startup_errors(runner):
    def run_failing(h):
        h.argv = [H.BIN, "-F", "-f", h.cfg, "-m", "64", "-M", "8", "-w",
                  h.run_dir]
        p = subprocess.run(h.argv, capture_output=True, timeout=10 * H.SLOW,
                           stdin=subprocess.DEVNULL, cwd=h.run_dir)
        return p.returncode, (p.stdout + p.stderr).decode(errors="replace")

    cases = [(v, snippet(v)[0], snippet(v)[1], param, text)
             for v, (param, text) in FAILS.items()]
    cases += [
        ("group_mode -1", 'modparam("prometheus", "group_mode", -1)', "",
         "group_mode", "group_mode -1: must be 0"),
        ("root taken by mi_http", 'modparam("prometheus", "root", "mi")', "",
         "root", "root 'mi'"),
        ("labels pseudo-variable", 'modparam("prometheus", "labels", '
         '"sl: /^(.*)$/x:y=\\"$ru\\"/")', "", "labels", "pseudo-variables"),
        ("labels unknown flag", 'modparam("prometheus", "labels", '
         '"sl: /a/b:c=\\"d\\"/q")', "", "labels", "unknown flag 'q'"),
    ]
    for name, params, routes, param, text in cases:
        n = "prom.startup refused: %s (file:line)" % name
        if not runner.wanted(n):
            continue

        def body(params=params, routes=routes, param=param, text=text):
            h = PromHost("prom-bad", params, routes)
            try:
                rc, out = run_failing(h)
                check(rc != 0, "host started:\n%s" % out[-800:])
                line = cfg_line(h, 'modparam("prometheus", "%s"' % param)
                want = "opensips.cfg:%d: " % line
                hits = [ln for ln in out.splitlines() if want in ln and
                        text in ln]
                check(hits, "no error naming %s with %r:\n%s" % (
                    want, text, out[-1500:]))
            finally:
                h.cleanup()
        runner.run(n, body)


def test_http(runner):
    name = "prom.http: GET/HEAD on the root and below, 405 otherwise, root modparam"
    if not runner.wanted(name):
        return

    def body():
        params, routes = snippet("root")
        with PromHost("prom-http", params, routes) as h:
            h.options()
            ref = {(m, p): raw for m, p, raw in ref_exchanges("root")}
            for (method, path), ref_raw in ref.items():
                raw, closed = h.raw(method, path)
                check(closed, "%s %s: connection left open" % (method, path))
                if ref_raw.startswith("HTTP/1.1 200"):
                    check_headers(raw, ref_raw)
                else:
                    # outside the root: httpd's 400, byte for byte but Date
                    exp = re.sub(r"Date: [^\r]*", "Date: X", ref_raw)
                    got = re.sub(r"Date: [^\r]*", "Date: X", raw)
                    check(got == exp, "%s %s:\n%r\nreference\n%r" % (
                        method, path, got, exp))
            get = split_raw(h.raw("GET", "/prom")[0])[2]
            # HEAD: GET's headers, no body (the reference answers 406)
            raw, closed = h.raw("HEAD", "/prom")
            st, hdrs, b = split_raw(raw)
            check(st == "HTTP/1.1 200 OK" and b == "" and closed,
                  "HEAD: %r" % raw)
            n = int(dict(hdrs)["Content-Length"])
            check(abs(n - len(get.encode())) < 64, "HEAD Content-Length %d, "
                  "GET body %d" % (n, len(get.encode())))
            # other methods: 405 with Allow, answered and closed (the
            # reference leaves the connection open without a status body)
            for m in ("POST", "PUT", "DELETE", "OPTIONS"):
                raw, closed = h.raw(m, "/prom", timeout=3)
                st, hdrs, _ = split_raw(raw)
                d = dict(hdrs)
                check(st == "HTTP/1.1 405 Method Not Allowed" and
                      d.get("Allow") == "GET, HEAD" and closed,
                      "%s: %r (closed %s)" % (m, raw, closed))
            # query strings and sub-paths are served
            for path in ("/prom?x=1", "/prom/", "/prom/sub/x"):
                raw, _ = h.raw("GET", path)
                check(raw.startswith("HTTP/1.1 200 OK"), "%s: %r" % (path, raw[:80]))
    runner.run(name, body)


def test_native(runner):
    name = ("prom.native families: HELP/TYPE/labels from statistics "
            "(decisions §31/§34), whatever `statistics` says")
    if not runner.wanted(name):
        return

    def body():
        with PromHost("prom-native",
                      'modparam("prometheus", "statistics", "nosuch")\n'
                      'loadmodule "event_datagram.so"') as h:
            coll = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            coll.bind(("127.0.0.1", 0))
            coll.settimeout(2)
            sock = "udp:127.0.0.1:%d" % coll.getsockname()[1]
            check(h.result("evi:subscribe", ["E_CORE_SR_STATUS_CHANGED", sock])
                  == "OK", "subscribe")
            h.options(3)
            h.result("evi:raise", ["E_CORE_SR_STATUS_CHANGED",
                                   '{"group":"g","status":1}'])
            coll.recv(65535)
            coll.close()
            time.sleep(0.2)
            raw, _ = h.raw("GET", "/metrics")
            st, hdrs, b = split_raw(raw)
            check(st == "HTTP/1.1 200 OK" and dict(hdrs)["Content-Type"] ==
                  PROM_TYPE, raw[:300])
            s1, s2 = sections(b)
            check(s1 == "", "section 1 should be empty: %r" % s1)
            rc, lines = promtool(b)
            check(rc == 0 and not lines, "promtool: %d %s" % (rc, lines))
            fams = parse_prometheus(s2)
            want = {
                "opensips_sr_status": ("gauge", {"group", "identifier"}),
                "opensips_sr_ready": ("gauge", {"group", "identifier"}),
                "opensips_sip_received_total": ("counter", {"worker"}),
                "opensips_sip_replied_total": ("counter", {"worker"}),
                "opensips_sip_malformed_total": ("counter", {"worker"}),
                "opensips_mi_requests_total": ("counter", {"transport"}),
                "opensips_httpd_replies_total": ("counter", {"class"}),
                "opensips_evi_raised_total": ("counter", {"event"}),
                "opensips_evi_delivered_total": ("counter", {"event", "transport"}),
                "opensips_evi_dropped_total": ("counter", {"event", "transport"}),
                "opensips_evi_failed_total": ("counter", {"event", "transport"}),
                "opensips_evi_sub_delivered_total": ("counter", {"event", "subscriber"}),
                "opensips_evi_sub_dropped_total": ("counter", {"event", "subscriber"}),
                "opensips_evi_sub_failed_total": ("counter", {"event", "subscriber"}),
                "opensips_evi_sub_queued": ("gauge", {"event", "subscriber"}),
                "opensips_uptime_seconds": ("gauge", set()),
            }
            for f, (typ, labels) in want.items():
                check(f in fams, "no family %s (have %s)" % (f, sorted(fams)))
                check(fams[f]["type"] == typ and fams[f]["help"],
                      "%s: %s" % (f, fams[f]))
                for lab, _ in fams[f]["samples"]:
                    check(set(lab) == labels, "%s labels %s" % (f, lab))
            rx = sum(v for _, v in fams["opensips_sip_received_total"]["samples"])
            check(rx == 3, "sip received %s" % rx)
            sr = {(l["group"], l["identifier"]): v
                  for l, v in fams["opensips_sr_status"]["samples"]}
            check(sr.get(("core", "main")) == 1, sr)
            dl = {(l["event"], l["transport"]): v for l, v in
                  fams["opensips_evi_delivered_total"]["samples"]}
            check(dl.get(("E_CORE_SR_STATUS_CHANGED", "udp"), 0) >= 1, dl)
            sd = {(l["event"], l["subscriber"]): v for l, v in
                  fams["opensips_evi_sub_delivered_total"]["samples"]}
            check(sd.get(("E_CORE_SR_STATUS_CHANGED", sock), 0) >= 1, sd)
            up = fams["opensips_uptime_seconds"]["samples"][0][1]
            check(0 <= up < 60, "uptime %s" % up)
    runner.run(name, body)


def test_functions_outside(runner):
    name = ("prom.prometheus_declare_stat/push_stat outside the script_route "
            "are refused (false), the host serves on")
    if not runner.wanted(name):
        return

    def body():
        with PromHost("prom-outside") as h:
            rep, _ = H.send_options(h, "prom-outside")
            check(rep and rep.startswith("SIP/2.0 500 Refused"), rep)
            check("works only in the script_route" in h.log(), h.log_tail())
            raw, _ = h.raw("GET", "/metrics")
            check(raw.startswith("HTTP/1.1 200") and "opensips_x" not in raw,
                  raw[:300])
    runner.run(name, body)


def test_unknown_selection(runner):
    name = ("prom.statistics naming no group or statistic: an ERROR with "
            "file:line once the host runs, the rest exported")
    if not runner.wanted(name):
        return

    def body():
        params = ('modparam("prometheus", "statistics", "nosuchgroup: sl: load: '
                  'no_such_stat core:rcv_requests")\n'
                  'modparam("prometheus", "group_mode", 1)')
        with PromHost("prom-unknown", params=params) as h:
            line = cfg_line(h, "nosuchgroup:")
            log = h.log()
            check(re.search(r"opensips\.cfg:%d: statistics: no statistics group "
                            r"'nosuchgroup:'" % line, log), h.log_tail())
            check(re.search(r"opensips\.cfg:%d: statistics: no statistic "
                            r"'no_such_stat'" % line, log), h.log_tail())
            check("no statistic 'core:rcv_requests' (give a bare name" in log,
                  h.log_tail())
            # groups that exist, the thread ones included, are not reported
            check("'sl:'" not in log and "'load:'" not in log, h.log_tail())
            raw, _ = h.raw("GET", "/metrics")
            check("opensips_sl_2xx_replies" in raw and "opensips_load_load" in raw,
                  raw[:400])
            check(h.alive(), "host died")
    runner.run(name, body)


def test_scrape_speed(runner):
    name = "prom.300 scrapes of everything over one connection in < 3 s"
    if not runner.wanted(name):
        return

    def body():
        from suite_http import connect, read_response, request_bytes
        with PromHost("prom-speed", 'modparam("prometheus", "statistics", '
                      '"all")\nmodparam("prometheus", "group_mode", 2)') as h:
            h.options()
            s = connect(h.http_port)
            one = request_bytes("GET", "/metrics", close=False)
            buf = b""
            t0 = time.monotonic()
            for _ in range(300):
                s.sendall(one)
                r, buf = read_response(s, buf)
                check(r.status == 200, r)
            dt = time.monotonic() - t0
            s.close()
            check(dt < 3.0 * H.SLOW, "300 scrapes took %.2fs" % dt)
            check(len(r.body) > 5000, "body %d bytes" % len(r.body))
    runner.run(name, body)


def test_prometheus_server(runner):
    name = ("prom.a real Prometheus scrapes group_mode 1 / statistics all: "
            "opensips_core_rcv_requests == OPTIONS sent")
    if not runner.wanted(name):
        return

    def body():
        with PromHost("prom-server", 'modparam("prometheus", "statistics", '
                      '"all")\nmodparam("prometheus", "group_mode", 1)') as h:
            sent = 11
            h.options(sent)
            job = ("  - job_name: shim\n    static_configs:\n"
                   "      - targets: ['127.0.0.1:%d']\n" % h.http_port)
            with H.PrometheusServer(job) as prom:
                got = prom.wait_for("opensips_core_rcv_requests")
                check(len(got) == 1 and got[0]["value"][1] == str(sent),
                      "opensips_core_rcv_requests %s, sent %d" % (got, sent))
                res = prom.query("sum(opensips_sip_received_total)")
                check(res and res[0]["value"][1] == str(sent),
                      "sum(opensips_sip_received_total) %s" % res)
                res = prom.query("opensips_sl_2xx_replies")
                check(res and res[0]["value"][1] == str(sent), res)
                res = prom.query("up")
                check(res and res[0]["value"][1] == "1", res)
    runner.run(name, body)


def run(runner):
    if not os.path.exists(os.path.join(H.BUILD_DIR, "modules", "prometheus.so")):
        runner.skip("prom", "prometheus.so not built")
        return
    if not os.path.isdir(REF):
        runner.skip("prom", "test/system/ref/ missing")
        return
    test_replay(runner)
    test_startup_errors(runner)
    test_http(runner)
    test_native(runner)
    test_functions_outside(runner)
    test_unknown_selection(runner)
    test_scrape_speed(runner)
    test_prometheus_server(runner)
