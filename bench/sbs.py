#!/usr/bin/env python3
"""Side-by-side benchmarks: the same steps against our host and the
reference OpenSIPS, in one run, alternating hosts (bench/README.md).

    python3 bench/sbs.py [--steps http,tls] [--duration S] [--rounds N]

Hosts: `shim` (build/opensips-shim with bench/shim.cfg) and, when it can be
found, `opensips` (the reference built from ../shared/oracle/ into
$BENCH_REF, default /opt/opensips-ref; built on first use unless
BENCH_NO_BUILD_REF=1) with bench/opensips-ref.cfg: the same endpoints.
Each step runs `rounds` times per host, hosts alternating (A B B A ...),
and the median is printed with our ratio to each peer. Only figures from
this run are printed; nothing is asserted.
"""

import argparse
import datetime
import json
import os
import platform
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BUILD = os.environ.get("BUILD", "build")
if not os.path.isabs(BUILD):
    BUILD = os.path.join(ROOT, BUILD)
REF = os.environ.get("BENCH_REF", "/opt/opensips-ref")
ORACLE = os.path.join(os.path.dirname(ROOT), "shared", "oracle", "build.sh")
MI_REQ = '{"jsonrpc":"2.0","method":"sr_get_status","params":["core"],"id":1}'


def log(msg):
    print("sbs: " + msg, file=sys.stderr, flush=True)


def free_port(kind=socket.SOCK_STREAM):
    while True:
        s = socket.socket(socket.AF_INET, kind)
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
        s.close()
        # the same number must be free for both kinds (SIP/MI are UDP)
        other = socket.SOCK_DGRAM if kind == socket.SOCK_STREAM else socket.SOCK_STREAM
        t = socket.socket(socket.AF_INET, other)
        try:
            t.bind(("127.0.0.1", port))
            return port
        except OSError:
            continue
        finally:
            t.close()


def mi_datagram(port, text, timeout=0.3):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(timeout)
    try:
        s.sendto(text.encode(), ("127.0.0.1", port))
        return s.recv(65535).decode()
    except OSError:
        return None
    finally:
        s.close()


def tree_pids(pid):
    """pid and every descendant (the reference forks its processes)."""
    out = [pid]
    try:
        kids = subprocess.run(["ps", "-o", "pid=", "--ppid", str(pid)],
                              capture_output=True, text=True).stdout.split()
    except OSError:
        kids = []
    for k in kids:
        out += tree_pids(int(k))
    return out


def mem_kb(pid):
    """(RSS, PSS) of the whole process tree, kB."""
    rss = pss = 0
    for p in tree_pids(pid):
        try:
            with open("/proc/%d/smaps_rollup" % p) as f:
                for ln in f:
                    if ln.startswith("Rss:"):
                        rss += int(ln.split()[1])
                    elif ln.startswith("Pss:"):
                        pss += int(ln.split()[1])
        except OSError:
            pass
    return rss, pss


CLK_TCK = os.sysconf("SC_CLK_TCK")


def cpu_ticks():
    """(steal, all) jiffies of the machine (/proc/stat): on a VM, the time
    the hypervisor gave to others while we wanted the CPU."""
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    # user nice system idle iowait irq softirq steal (guest is in user)
    return (v[7] if len(v) > 7 else 0), sum(v[:8])


def pct(v):
    return "-" if v is None else "%.1f%%" % v


def cpu_seconds(pid):
    """user+system CPU of the whole process tree (threads included)."""
    total = 0
    for p in tree_pids(pid):
        try:
            with open("/proc/%d/stat" % p) as f:
                fields = f.read().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])
        except (OSError, IndexError, ValueError):
            pass
    return total / CLK_TCK


class Host:
    # The MI call of the MI steps: OpenSIPS's `sr_get_status core`;
    # Kamailio (no status_report) answers `core.uptime` instead.
    mi_method, mi_params = "sr_get_status", '["core"]'
    fifo_name, fifo_style = "opensips_fifo", "opensips"
    kind = "opensips"  # opensips-compatible (ours and the reference) or "kamailio"

    def mi_req(self):
        return '{"jsonrpc":"2.0","method":"%s","params":%s,"id":1}' % (self.mi_method,
                                                                       self.mi_params)

    def mi_args(self):
        return ["--method", self.mi_method, "--params", self.mi_params]

    def __init__(self, name, argv_fn, cfg_template, mpath, tmp):
        self.name = name
        self.argv_fn = argv_fn
        self.cfg_template = cfg_template
        self.mpath = mpath
        self.tmp = tmp
        self.proc = None

    def start(self, httpd_params=""):
        self.run_dir = tempfile.mkdtemp(prefix=self.name + "-", dir=self.tmp)
        self.sip_port = free_port(socket.SOCK_DGRAM)
        self.mi_port = free_port(socket.SOCK_DGRAM)
        self.http_port = free_port()
        with open(self.cfg_template) as f:
            text = f.read()
        for k, v in (("@EXTRA@", httpd_params),
                     ("@SIP_PORT@", self.sip_port), ("@MI_PORT@", self.mi_port),
                     ("@HTTP_PORT@", self.http_port), ("@MPATH@", self.mpath),
                     ("@RUN_DIR@", self.run_dir)):
            text = text.replace(k, str(v))
        cfg = os.path.join(self.run_dir, "bench.cfg")
        with open(cfg, "w") as f:
            f.write(text)
        self.log_path = os.path.join(self.run_dir, "host.log")
        self.out = open(self.log_path, "wb")
        self.proc = subprocess.Popen(self.argv_fn(cfg, self.run_dir), stdout=self.out,
                                     stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, cwd=self.run_dir)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("%s exited during startup:\n%s" % (self.name, self.tail()))
            r = mi_datagram(self.mi_port, self.mi_req())
            if r and ('"Status":1' in r or (self.kind == "kamailio" and '"result"' in r)):
                time.sleep(0.5)
                return self
            time.sleep(0.1)
        raise RuntimeError("%s not ready:\n%s" % (self.name, self.tail()))

    def tail(self):
        try:
            with open(self.log_path, errors="replace") as f:
                return "".join(f.readlines()[-20:])
        except OSError:
            return ""

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def stop(self):
        if not self.proc:
            return
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                for p in tree_pids(self.proc.pid):
                    try:
                        os.kill(p, signal.SIGKILL)
                    except OSError:
                        pass
                self.proc.wait(5)
        self.out.close()
        self.proc = None


def shim_host(name, build, tmp):
    binary = os.path.join(build, "opensips-shim")
    return Host(name, lambda cfg, rd: [binary, "-F", "-f", cfg, "-w", rd,
                                       "-m", "64", "-M", "8"],
                os.path.join(ROOT, "bench", "shim.cfg"),
                os.path.join(build, "modules") + "/", tmp)


def variant_host(tmp, name, setting, value):
    """Our host with one core setting of bench/shim.cfg changed: what that
    setting buys, in the same run."""
    with open(os.path.join(ROOT, "bench", "shim.cfg")) as f:
        text = re.sub(r"(?m)^%s\s*=.*$" % setting, "%s = %s" % (setting, value), f.read())
    cfg = os.path.join(tmp, name + ".cfg")
    with open(cfg, "w") as f:
        f.write(text)
    h = shim_host(name, BUILD, tmp)
    h.cfg_template = cfg
    return h


def nopoll_host(tmp):
    """busy_poll_usec = 0."""
    return variant_host(tmp, "shim-nopoll", "busy_poll_usec", "0")


def nogso_host(tmp):
    """udp_gso = no."""
    return variant_host(tmp, "shim-nogso", "udp_gso", "no")


def env_variants(tmp):
    """BENCH_VARIANTS="name:setting=value,...": more variants of our host
    beside shim-nopoll and shim-nogso in the core group (for trying a
    setting out in the same run)."""
    out = []
    for spec in filter(None, os.environ.get("BENCH_VARIANTS", "").split(",")):
        name, _, kv = spec.partition(":")
        setting, _, value = kv.partition("=")
        if not name or not setting:
            log("BENCH_VARIANTS: '%s' is not name:setting=value; skipped" % spec)
            continue
        out.append(variant_host(tmp, name, setting, value))
    return out


def nostats_host(tmp):
    """Our host built with update_stat() compiled out (make STATS_OFF=1)."""
    rc = subprocess.run(["make", "-s", "-C", ROOT, "-j2", "STATS_OFF=1", "all"],
                        stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT).returncode
    if rc != 0:
        log("the STATS_OFF=1 build failed: no without-statistics figures")
        return None
    return shim_host("shim-nostats", os.path.join(ROOT, "build-nostats"), tmp)


def before_host(tmp):
    """Our host from another build dir (BENCH_BEFORE, e.g. the build of the
    commit before a change), for before/after figures in one run."""
    d = os.environ.get("BENCH_BEFORE")
    if not d:
        return None
    if not os.access(os.path.join(d, "opensips-shim"), os.X_OK):
        log("BENCH_BEFORE=%s has no opensips-shim: no before figures" % d)
        return None
    return shim_host("shim-before", d, tmp)


FLOOR = os.path.join(BUILD, "bench", "echo_floor")


class FloorHost:
    """The loopback floor (bench/echo_floor.c): two threads, one UDP
    socket, a fixed 200-byte reply with the request's Call-ID."""

    name = "floor"

    def __init__(self, tmp):
        self.proc = None
        self.mi_port = None
        self.http_port = None

    def start(self, _params=""):
        if not os.access(FLOOR, os.X_OK) or \
                os.path.getmtime(FLOOR) < os.path.getmtime(os.path.join(ROOT, "bench", "echo_floor.c")):
            os.makedirs(os.path.dirname(FLOOR), exist_ok=True)
            subprocess.run(["gcc", "-O2", "-Wall", "-Wextra", "-pthread", "-o", FLOOR,
                            os.path.join(ROOT, "bench", "echo_floor.c")], check=True)
        self.sip_port = free_port(socket.SOCK_DGRAM)
        self.proc = subprocess.Popen([FLOOR, str(self.sip_port)], stdin=subprocess.DEVNULL)
        time.sleep(0.2)
        return self

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def tail(self):
        return ""

    def stop(self):
        if self.proc:
            self.proc.terminate()
            self.proc.wait(5)
            self.proc = None


def make_hosts(tmp):
    hosts = []
    shim = os.path.join(BUILD, "opensips-shim")
    if not os.access(shim, os.X_OK):
        sys.exit("sbs: %s is not built (make)" % shim)
    hosts.append(shim_host("shim", BUILD, tmp))
    ref_bin = os.path.join(REF, "sbin", "opensips")
    if not os.access(ref_bin, os.X_OK) and os.environ.get("BENCH_NO_BUILD_REF") != "1" \
            and os.path.exists(ORACLE):
        log("building the reference into %s (first use; a few minutes)" % REF)
        rc = subprocess.run(["sh", ORACLE, REF], stdout=subprocess.DEVNULL,
                            stderr=subprocess.STDOUT).returncode
        if rc != 0:
            log("reference build failed (exit %d)" % rc)
    if os.access(ref_bin, os.X_OK):
        hosts.append(Host("opensips", lambda cfg, rd: [ref_bin, "-F", "-f", cfg, "-w", rd,
                                                       "-m", "64", "-M", "8"],
                          os.path.join(ROOT, "bench", "opensips-ref.cfg"),
                          os.path.join(REF, "lib64", "opensips", "modules") + "/", tmp))
    else:
        log("no reference OpenSIPS at %s: our figures only, no ratios" % REF)
    kam = shutil.which("kamailio")
    if kam and os.environ.get("BENCH_NO_KAMAILIO") != "1":
        h = Host("kamailio", lambda cfg, rd: [kam, "-DD", "-E", "-f", cfg, "-w", rd,
                                             "-m", "64", "-M", "8"],
                 os.path.join(ROOT, "bench", "kamailio.cfg"), "", tmp)
        h.kind = "kamailio"
        h.mi_method, h.mi_params = "core.uptime", "[]"
        h.fifo_name, h.fifo_style = "kamailio_fifo", "kamailio"
        hosts.append(h)
    return hosts


def kamailio_version():
    kam = shutil.which("kamailio")
    if not kam:
        return None
    try:
        out = subprocess.run([kam, "-v"], capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    m = re.search(r"version:\s*(\S+ \S+)", out)
    return m.group(1) if m else "kamailio"


# ---------------------------------------------------------------- tools

def tool(name):
    path = shutil.which(name)
    if not path:
        raise RuntimeError("%s not installed (tools/install-deps.sh)" % name)
    return path


def run_wrk(url, dur, conns, tmp, body=MI_REQ):
    lua = os.path.join(tmp, "post.lua")
    with open(lua, "w") as f:
        f.write('wrk.method = "POST"\nwrk.body = \'%s\'\n'
                'wrk.headers["Content-Type"] = "application/json"\n' % body)
    p = subprocess.run([tool("wrk"), "-t1", "-c%d" % conns, "-d%ds" % dur,
                        "-s", lua, url], capture_output=True, text=True,
                       timeout=dur + 30)
    m = re.search(r"Requests/sec:\s+([\d.]+)", p.stdout)
    errs = 0
    for pat in (r"Non-2xx or 3xx responses:\s+(\d+)",
                r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)"):
        mm = re.search(pat, p.stdout)
        if mm:
            errs += sum(int(x) for x in mm.groups())
    return (float(m.group(1)) if m else 0.0), errs


def run_ab(url, dur, conns, keepalive, tmp, req=MI_REQ):
    body = os.path.join(tmp, "body.json")
    with open(body, "w") as f:
        f.write(req)
    argv = [tool("ab"), "-q", "-c", str(conns), "-t", str(dur), "-n", "10000000",
            "-s", "5", "-p", body, "-T", "application/json"]
    if keepalive:
        argv.append("-k")
    p = subprocess.run(argv + [url], capture_output=True, text=True, timeout=dur + 60)
    m = re.search(r"Requests per second:\s+([\d.]+)", p.stdout)
    errs = 0
    for pat in (r"Failed requests:\s+(\d+)", r"Non-2xx responses:\s+(\d+)"):
        mm = re.search(pat, p.stdout)
        if mm:
            errs += int(mm.group(1))
    return (float(m.group(1)) if m else 0.0), errs


LOADGEN = os.path.join(BUILD, "bench", "loadgen")


def loadgen(mode, port, window, dur, extra=()):
    """(replies/s, errors) of bench/loadgen against port."""
    if not os.access(LOADGEN, os.X_OK) or \
            os.path.getmtime(LOADGEN) < os.path.getmtime(os.path.join(ROOT, "bench", "loadgen.cc")):
        os.makedirs(os.path.dirname(LOADGEN), exist_ok=True)
        subprocess.run(["g++", "-std=c++20", "-O2", "-Wall", "-Wextra", "-o", LOADGEN,
                        os.path.join(ROOT, "bench", "loadgen.cc")], check=True)
    argv = [LOADGEN, "--mode", mode, "--port", str(port), "--window", str(window),
            "--sockets", "1" if window == 1 else "2", "--duration", str(dur),
            "--warmup", "1"] + list(extra)
    p = subprocess.run(argv, capture_output=True, text=True, timeout=dur + 30)
    line = p.stdout.strip().splitlines()[-1] if p.stdout.strip() else ""
    f = dict(kv.split("=", 1) for kv in line.split()[1:] if "=" in kv)
    errs = int(f.get("errors", f.get("err", "0")) or 0) + int(f.get("lost", "0") or 0)
    return float(f.get("rps", "0") or 0), errs


def run_wrk_get(url, dur, conns):
    p = subprocess.run([tool("wrk"), "-t1", "-c%d" % conns, "-d%ds" % dur, url],
                       capture_output=True, text=True, timeout=dur + 30)
    m = re.search(r"Requests/sec:\s+([\d.]+)", p.stdout)
    mm = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", p.stdout)
    return (float(m.group(1)) if m else 0.0), (int(mm.group(1)) if mm else 0)


def make_cert(tmp):
    d = os.path.join(tmp, "tls")
    os.makedirs(d, exist_ok=True)
    subprocess.run([tool("openssl"), "req", "-x509", "-newkey", "rsa:2048", "-nodes",
                    "-days", "2", "-subj", "/CN=127.0.0.1", "-keyout", d + "/key.pem",
                    "-out", d + "/cert.pem"], check=True, capture_output=True)
    return ('modparam("httpd", "tls_cert_file", "%s/cert.pem")\n'
            'modparam("httpd", "tls_key_file", "%s/key.pem")\n' % (d, d))


# ---------------------------------------------------------------- steps
# A group starts every host once with the same httpd params and runs its
# steps; a step returns (figure, errors) for one host.

def http_groups(args, tmp):
    d = args.duration

    def url(h, scheme="http"):
        return "%s://127.0.0.1:%d/mi" % (scheme, h.http_port)

    plain = ("http", "", None, [
        ("MI over HTTP, keep-alive (wrk, 8 conns), req/s",
         lambda h: run_wrk(url(h), d, 8, tmp, h.mi_req())),
        ("MI over HTTP, new connections (ab -c 8), req/s",
         lambda h: run_ab(url(h), d, 8, False, tmp, h.mi_req())),
        ("MI over HTTP, HTTP/1.0 keep-alive (ab -k -c 8), req/s",
         lambda h: run_ab(url(h), d, 8, True, tmp, h.mi_req())),
    ])
    tls = ("tls", make_cert(tmp), None, [
        ("MI over HTTPS, keep-alive (wrk, 8 conns), req/s",
         lambda h: run_wrk(url(h, "https"), d, 8, tmp) if h.kind != "kamailio" else None),
        ("MI over HTTPS, new handshakes (ab -c 8), req/s",
         lambda h: run_ab(url(h, "https"), d, 8, False, tmp) if h.kind != "kamailio" else None),
    ])
    return [plain, tls]


def stats_groups(args, tmp):
    d = args.duration
    stats = ("stats", "", "compat", [
        ("statistics:get all over mi_datagram, W=8, req/s",
         lambda h: loadgen("mi", h.mi_port, 8, d, ["--method", "statistics:get",
                                                   "--params", '{"statistics":["all"]}'])),
        ("/metrics scrapes (prometheus, statistics all, wrk 4 conns), req/s",
         lambda h: run_wrk_get("http://127.0.0.1:%d/metrics" % h.http_port, d, 4)),
    ])
    # the cost of counting: our host against itself built without
    cost = ("stats-cost", "", "nostats", [
        ("SIP OPTIONS W=8, with statistics vs without, replies/s",
         lambda h: loadgen("sip", h.sip_port, 8, d)),
        ("SIP OPTIONS W=32, with statistics vs without, replies/s",
         lambda h: loadgen("sip", h.sip_port, 32, d)),
    ])
    return [stats, cost]


EVCOLLECTOR = os.path.join(BUILD, "bench", "evcollector")


def ensure_evcollector():
    if not os.access(EVCOLLECTOR, os.X_OK):
        os.makedirs(os.path.dirname(EVCOLLECTOR), exist_ok=True)
        subprocess.run(["g++", "-std=c++20", "-O2", "-Wall", "-Wextra", "-o", EVCOLLECTOR,
                        os.path.join(ROOT, "bench", "evcollector.cc")], check=True)


def raise_storm(h, dur, sock_fmt, collectors=1):
    """testmod:raise_burst (2048 events a call, back to back from the MI
    thread) for `dur` seconds to `collectors` UDP collectors, subscribed as
    sock_fmt % (port, ...); the collectors' events/s added up (each from its
    first to its last datagram)."""
    ensure_evcollector()
    ports = [free_port(socket.SOCK_DGRAM) for _ in range(collectors)]
    cols = [subprocess.Popen([EVCOLLECTOR, "--port", str(p), "--idle-ms", "1000",
                              "--max-s", str(dur + 30)], stdout=subprocess.PIPE, text=True)
            for p in ports]
    time.sleep(0.3)
    name = "E_BENCH"
    target = sock_fmt % tuple(ports)
    sub = json.dumps({"jsonrpc": "2.0", "method": "evi:subscribe",
                      "params": [name, target, 600], "id": 1})
    r = mi_datagram(h.mi_port, sub, 2)
    if not r or '"OK"' not in r:
        for c in cols:
            c.kill()
            c.wait()
        return 0.0, 1   # e.g. no event_virtual in that build
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(30)
    end = time.monotonic() + dur
    while time.monotonic() < end:
        s.sendto(json.dumps({"jsonrpc": "2.0", "method": "testmod:raise_burst",
                             "params": {"event": name, "count": 2048}, "id": 2}).encode(),
                 ("127.0.0.1", h.mi_port))
        s.recv(65535)
    s.close()
    eps = 0.0
    for c in cols:
        out, _ = c.communicate(timeout=dur + 40)
        line = [ln for ln in out.splitlines() if ln.startswith("RESULT")]
        f = dict(kv.split("=", 1) for kv in line[-1].split()[1:]) if line else {}
        eps += float(f.get("eps", 0))
    mi_datagram(h.mi_port, json.dumps({"jsonrpc": "2.0", "method": "evi:subscribe",
                                       "params": [name, target, 0], "id": 3}), 2)
    # raises the full queue refused are the storm's design (counted by the
    # host as dropped), not errors of the step
    return eps, 0


def core_groups(args, tmp):
    """MI and SIP at W=1/8/32 (the floor answers SIP only), and the memory
    of the whole process tree, idle and after the SIP steps."""
    d = args.duration
    steps = []
    for w in (1, 8, 32):
        steps.append(("MI datagram sr_get_status core, W=%d, req/s" % w,
                      lambda h, w=w: loadgen("mi", h.mi_port, w, d, h.mi_args())
                      if h.mi_port else None))
    for w in (1, 8, 32):
        steps.append(("SIP OPTIONS through sr_check_status, W=%d, replies/s" % w,
                      lambda h, w=w: loadgen("sip", h.sip_port, w, d)))
    steps.append(("RSS of the process tree after the SIP steps, kB (lower is better)",
                  lambda h: (mem_kb(h.proc.pid)[0], 0) if h.mi_port else None))
    steps.append(("PSS of the process tree after the SIP steps, kB (lower is better)",
                  lambda h: (mem_kb(h.proc.pid)[1], 0) if h.mi_port else None))
    idle = ("memory", "", None, [
        ("idle RSS of the process tree, kB (lower is better)",
         lambda h: (mem_kb(h.proc.pid)[0], 0)),
        ("idle PSS of the process tree, kB (lower is better)",
         lambda h: (mem_kb(h.proc.pid)[1], 0)),
    ])
    return [idle, ("core", "", "floor", steps)]


def start_collector(dur):
    """A UDP event collector (bench/evcollector.cc) on a free port:
    (process, its udp: socket spec)."""
    ensure_evcollector()
    port = free_port(socket.SOCK_DGRAM)
    col = subprocess.Popen([EVCOLLECTOR, "--port", str(port), "--idle-ms", "1000",
                            "--max-s", str(dur + 30)], stdout=subprocess.PIPE, text=True)
    time.sleep(0.3)
    return col, "udp:127.0.0.1:%d" % port


def collector_result(col, dur):
    """Waits for the collector to go idle and end: its RESULT fields."""
    out, _ = col.communicate(timeout=dur + 40)
    line = [ln for ln in out.splitlines() if ln.startswith("RESULT")]
    return dict(kv.split("=", 1) for kv in line[-1].split()[1:]) if line else {}


def mi_call(h, method, params, timeout=2):
    r = mi_datagram(h.mi_port, json.dumps({"jsonrpc": "2.0", "method": method,
                                           "params": params, "id": 1}), timeout)
    return r is not None and '"error"' not in r


def sip_to_collector(h, event, user, dur):
    """SIP OPTIONS W=8 whose route raises `event` once per request (user
    `raise`: raise_event; `log`: one xlog line, E_CORE_LOG; `raise16`,
    `log16`: 16 of them in a loop), one UDP collector subscribed: the
    events/s it received."""
    col, sock = start_collector(dur)
    if not mi_call(h, "event_subscribe", [event, sock, 600]):
        col.kill()
        col.wait()
        log("%s: cannot subscribe %s to %s" % (h.name, sock, event))
        return 0.0, 1
    _, errs = loadgen("sip", h.sip_port, 8, dur, ["--user", user])
    mi_call(h, "event_subscribe", [event, sock, 0])
    got = collector_result(col, dur)
    log("%s %s collector: %s" % (h.name, user, got))
    return float(got.get("eps", 0)), errs


def evsip_groups(args, tmp):
    d = args.duration
    return [("evsip", 'loadmodule "event_datagram.so"\n', "compat", [
        ("raise_event per SIP request (W=8) -> one UDP collector, events/s",
         lambda h: sip_to_collector(h, "E_BENCH_SIP", "raise", d)),
        ("xlog per SIP request (W=8) -> E_CORE_LOG -> one UDP collector, events/s",
         lambda h: sip_to_collector(h, "E_CORE_LOG", "log", d)),
        ("16 raise_event per SIP request (W=8) -> one UDP collector, events/s",
         lambda h: sip_to_collector(h, "E_BENCH_SIP", "raise16", d)),
        ("16 xlog per SIP request (W=8) -> E_CORE_LOG -> one UDP collector, events/s",
         lambda h: sip_to_collector(h, "E_CORE_LOG", "log16", d)),
    ])]


def events_groups(args, tmp):
    d = args.duration
    extra = ('loadmodule "event_datagram.so"\n'
             'loadmodule "@MPATH@../test-modules/testmod.so"\n'
             'loadmodule "@MPATH@event_virtual.so"\n'
             'route[publish_bench_event] {\n\traise_event("E_BENCH");\n}\n')
    return [("events", extra, "before", [
        ("events to one UDP collector (raise storm), events/s",
         lambda h: raise_storm(h, d, "udp:127.0.0.1:%d")),
        ("events through virtual:PARALLEL over two UDP collectors, datagrams/s",
         lambda h: raise_storm(h, d, "virtual:PARALLEL udp:127.0.0.1:%d udp:127.0.0.1:%d", 2)),
        ("events through virtual:ROUND-ROBIN over two UDP collectors, events/s",
         lambda h: raise_storm(h, d, "virtual:ROUND-ROBIN udp:127.0.0.1:%d udp:127.0.0.1:%d", 2)),
    ])]


FIFO_CLIENT = os.path.join(BUILD, "bench", "fifo_client")


def fifo_step(h, mode, dur):
    """MI over the host's FIFO (bench/fifo_client.c), one request at a time."""
    src = os.path.join(ROOT, "bench", "fifo_client.c")
    if not os.access(FIFO_CLIENT, os.X_OK) or \
            os.path.getmtime(FIFO_CLIENT) < os.path.getmtime(src):
        os.makedirs(os.path.dirname(FIFO_CLIENT), exist_ok=True)
        subprocess.run(["gcc", "-O2", "-Wall", "-Wextra", "-o", FIFO_CLIENT, src], check=True)
    p = subprocess.run([FIFO_CLIENT, "--fifo", os.path.join(h.run_dir, h.fifo_name),
                        "--reply-dir", h.run_dir, "--mode", mode, "--duration", str(dur),
                        "--warmup", "1", "--method", h.mi_method, "--params", h.mi_params,
                        "--style", h.fifo_style],
                       capture_output=True, text=True, timeout=dur + 30)
    line = [ln for ln in p.stdout.splitlines() if ln.startswith("RESULT")]
    f = dict(kv.split("=", 1) for kv in line[-1].split()[1:]) if line else {}
    return float(f.get("rps", 0)), int(f.get("err", 1))


def fifo_groups(args, tmp):
    d = args.duration
    return [("fifo", "", None, [
        ("MI FIFO sr_get_status core, opensips-cli's order (mkfifo, write, open reply), req/s",
         lambda h: fifo_step(h, "cli", d)),
        ("MI FIFO sr_get_status core, pre-opened (reply FIFO open before the write), req/s",
         lambda h: fifo_step(h, "preopen", d)),
    ])]


def profiling_on(h, dur):
    """SIP OPTIONS W=32 with E_PROFILING_PROC (level 1 on every thread) and
    E_PROFILING_SCRIPT subscribed by one UDP collector: the host's replies/s;
    the collector's count is logged."""
    col, sock = start_collector(dur)
    ok = all([mi_call(h, "event_subscribe", ["E_PROFILING_PROC", sock, 600]),
              mi_call(h, "event_subscribe", ["E_PROFILING_SCRIPT", sock, 600]),
              mi_call(h, "core:profiling_proc", {"level": 1})])
    if not ok:
        col.kill()
        col.wait()
        return 0.0, 1
    v, errs = loadgen("sip", h.sip_port, 32, dur)
    mi_call(h, "core:profiling_proc", {"level": 0})
    mi_call(h, "event_subscribe", ["E_PROFILING_PROC", sock, 0])
    mi_call(h, "event_subscribe", ["E_PROFILING_SCRIPT", sock, 0])
    log("profiling collector: %s" % collector_result(col, dur))
    return v, errs


def profiling_groups(args, tmp):
    d = args.duration
    return [("profiling", 'loadmodule "event_datagram.so"\n', "ours", [
        ("SIP OPTIONS W=32, profiling off, replies/s",
         lambda h: loadgen("sip", h.sip_port, 32, d)),
        ("SIP OPTIONS W=32, profiling on (PROC level 1 + SCRIPT -> UDP collector), replies/s",
         lambda h: profiling_on(h, d)),
    ])]


GROUPS = {"core": core_groups, "evsip": evsip_groups, "http": http_groups,
          "fifo": fifo_groups, "profiling": profiling_groups,
          "stats": stats_groups, "events": events_groups}


# The targets (issue 13), checked against this run's medians:
# (label prefix, peer, minimum ratio shim/peer), or peer None with a maximum
# absolute figure.
TARGETS = [
    ("MI datagram sr_get_status core, W=1,", "opensips", 1.5),
    ("MI datagram sr_get_status core, W=8,", "opensips", 1.5),
    ("MI datagram sr_get_status core, W=32,", "opensips", 1.5),
    ("SIP OPTIONS through sr_check_status, W=1,", "opensips", 1.5),
    ("SIP OPTIONS through sr_check_status, W=8,", "opensips", 1.5),
    ("SIP OPTIONS through sr_check_status, W=32,", "opensips", 1.5),
    ("SIP OPTIONS through sr_check_status, W=1,", "floor", 0.90),
    ("SIP OPTIONS through sr_check_status, W=8,", "floor", 0.85),
    ("SIP OPTIONS through sr_check_status, W=32,", "floor", 0.85),
    ("MI over HTTP, keep-alive", "opensips", 1.5),
    # the event paths: 16 events per SIP request, so that what is measured
    # is raise_event / xlog -> E_CORE_LOG -> collector and not the SIP
    # request that triggers it (one in 16 datagrams the host handles)
    ("16 raise_event per SIP request", "opensips", 5.0),
    ("16 xlog per SIP request", "opensips", 10.0),
    ("idle RSS of the process tree", None, 8192),
]

# Printed beside the targets, judged against nothing: one event per SIP
# request, where the SIP round trip (three datagrams of four) sets the pace.
INFO = [
    ("raise_event per SIP request", "opensips"),
    ("xlog per SIP request", "opensips"),
]


def print_targets(results):
    print()
    print("Targets (issue 13), from this run:")
    for prefix, peer, want in TARGETS:
        rows = [m for l, m in results if l.startswith(prefix)]
        if not rows or "shim" not in rows[0]:
            print("  %-48s not measured in this run" % prefix.rstrip(","))
            continue
        m = rows[0]
        v = m["shim"][0]
        if peer is None:
            print("  %-48s %s kB, target < %d kB: %s" % (prefix.rstrip(","), fmt(v), want,
                                                         "ok" if v < want else "MISSED"))
            continue
        if peer not in m or not m[peer][0]:
            print("  %-48s no %s figure in this run" % (prefix.rstrip(","), peer))
            continue
        r = v / m[peer][0]
        print("  %-48s %.2fx %s, target >= %.2fx: %s" % (prefix.rstrip(","), r, peer, want,
                                                          "ok" if r >= want else "MISSED"))
    for prefix, peer in INFO:
        rows = [m for l, m in results if l.startswith(prefix)]
        if rows and "shim" in rows[0] and peer in rows[0] and rows[0][peer][0]:
            print("  %-48s %.2fx %s (no target: one event per request, SIP-bound)"
                  % (prefix, rows[0]["shim"][0] / rows[0][peer][0], peer))
    on = [m for l, m in results if l.startswith("SIP OPTIONS W=32, profiling on")]
    off = [m for l, m in results if l.startswith("SIP OPTIONS W=32, profiling off")]
    if on and off and off[0]["shim"][0]:
        r = on[0]["shim"][0] / off[0]["shim"][0]
        print("  %-48s %.0f%% of off, target >= 80%% (decisions.md 29): %s"
              % ("profiling on vs off, SIP W=32", 100 * r, "ok" if r >= 0.8 else "MISSED"))


def shim_cfg_setting(name):
    with open(os.path.join(ROOT, "bench", "shim.cfg")) as f:
        for ln in f:
            m = re.match(r"\s*%s\s*=\s*(\S+)" % re.escape(name), ln)
            if m:
                return m.group(1)
    return None


def cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for ln in f:
                if ln.startswith("model name"):
                    return ln.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def fmt(v):
    return "%.0f" % v if v >= 100 else "%.2f" % v


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--groups", default=",".join(GROUPS))
    ap.add_argument("--duration", type=int, default=int(os.environ.get("BENCH_STEP_SECONDS", "4")))
    ap.add_argument("--rounds", type=int, default=int(os.environ.get("BENCH_ROUNDS", "2")))
    ap.add_argument("--json", help="also write the results here")
    ap.add_argument("--only", help="run only the steps whose label matches this regex")
    args = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix="shim-sbs-")
    results = []  # (label, {host: (median, errs)}, target)
    steal = {}    # label -> % of the machine's CPU time stolen during the step
    hosts = []
    nostats = None
    nopoll = nogso = None
    variants = []
    before = None
    try:
        hosts = make_hosts(tmp)
        names = [h.name for h in hosts]
        log("%s; hosts: %s; %d s a step, %d rounds, alternating" %
            (datetime.datetime.now().strftime("%Y-%m-%d %H:%M"), ", ".join(names),
             args.duration, args.rounds))
        for g in args.groups.split(","):
            for gname, params, which, steps in GROUPS[g](args, tmp):
                ghosts = hosts
                if which == "nostats":
                    if nostats is None:
                        nostats = nostats_host(tmp) or False
                    ghosts = [hosts[0]] + ([nostats] if nostats else [])
                elif which == "floor":
                    if nopoll is None:
                        nopoll = nopoll_host(tmp)
                        nogso = nogso_host(tmp)
                        variants = env_variants(tmp)
                    ghosts = hosts + [nopoll, nogso] + variants + [FloorHost(tmp)]
                elif which == "compat":
                    # steps with OpenSIPS's commands or events only
                    ghosts = [h for h in hosts if h.kind != "kamailio"]
                elif which == "ours":
                    ghosts = [hosts[0]]
                elif which == "before":
                    # ours only (testmod), beside an earlier build if given
                    if before is None:
                        before = before_host(tmp) or False
                    ghosts = [hosts[0]] + ([before] if before else [])
                if args.only:
                    steps = [st for st in steps if re.search(args.only, st[0])]
                    if not steps:
                        continue
                for h in ghosts:
                    h.start(params)
                try:
                    for label, fn in steps:
                        got = {h.name: [] for h in ghosts}
                        cpu = {h.name: [] for h in ghosts}
                        errs = {h.name: 0 for h in ghosts}
                        st0 = cpu_ticks()
                        for r in range(args.rounds):
                            order = ghosts if r % 2 == 0 else list(reversed(ghosts))
                            for h in order:
                                c0, t0 = cpu_seconds(h.proc.pid), time.monotonic()
                                res = fn(h)
                                if res is None:
                                    continue  # not a step for this host
                                v, e = res
                                c1, t1 = cpu_seconds(h.proc.pid), time.monotonic()
                                # host CPU per request, microseconds
                                n = v * (t1 - t0)
                                cpu[h.name].append(1e6 * (c1 - c0) / n
                                                   if n > 0 and "kB" not in label else 0)
                                if not h.alive():
                                    raise RuntimeError("%s died during '%s':\n%s"
                                                       % (h.name, label, h.tail()))
                                got[h.name].append(v)
                                if os.environ.get("BENCH_VERBOSE"):
                                    log("  round %d %s %s" % (r + 1, h.name, fmt(v)))
                                errs[h.name] += e
                        st1 = cpu_ticks()
                        if st1[1] - st0[1] >= 100:  # under ~0.5 s: too few ticks to say
                            steal[label] = 100.0 * (st1[0] - st0[0]) / (st1[1] - st0[1])
                        med = {n: (statistics.median(got[n]), errs[n],
                                   statistics.median(cpu[n])) for n in got if got[n]}
                        results.append((label, med))
                        log("%-55s %s  steal %s" % (label, "  ".join(
                            "%s %s%s cpu %.1fus/req" % (n, fmt(v), " (%d errors)" % e
                                                       if e else "", c)
                            for n, (v, e, c) in med.items()), pct(steal.get(label))))
                finally:
                    for h in ghosts:
                        h.stop()
    finally:
        for h in hosts + ([nostats] if nostats else []) + ([before] if before else []) + \
                ([nopoll] if nopoll else []) + ([nogso] if nogso else []) + variants:
            h.stop()
        shutil.rmtree(tmp, ignore_errors=True)

    peers = [h.name for h in hosts if h.name != "shim"]
    for extra in ["shim-nopoll", "shim-nogso"] + [v.name for v in variants] + \
            ["floor", "shim-nostats", "shim-before"]:
        if any(extra in m for _, m in results):
            peers.append(extra)
    print()
    print("Side by side, %s, %s, %d cores; medians of %d rounds of %d s"
          % (datetime.datetime.now().strftime("%Y-%m-%d %H:%M"), cpu_model(),
             os.cpu_count(), args.rounds, args.duration))
    print("(cpu: the host's own CPU time per request, all threads and processes;")
    print(" steal: the machine's CPU time the hypervisor took during the step;")
    print(" shim runs bench/shim.cfg, busy_poll_usec = %s, udp_gso = %s; opensips: %s;"
          " Kamailio: %s)"
          % (shim_cfg_setting("busy_poll_usec") or "0 (off)",
             shim_cfg_setting("udp_gso") or "no",
             REF if "opensips" in peers else "not built",
             (kamailio_version() + " (Debian)") if "kamailio" in peers
             else "not installed"))
    head = "| step | shim | cpu us/req |" + "".join(
        " %s | cpu us/req | shim/%s |" % (p, p) for p in peers) + " steal |"
    print(head)
    print("|" + "---|" * (4 + 3 * len(peers)))
    for label, med in results:
        v, e, c = med["shim"]
        row = "| %s | %s%s | %.1f |" % (label, fmt(v), " (%d err)" % e if e else "", c)
        for p in peers:
            if p not in med:
                row += " - | - | - |"
                continue
            pv, pe, pc = med[p]
            ratio = "%.2fx" % (v / pv) if pv else "-"
            row += " %s%s | %.1f | %s |" % (fmt(pv), " (%d err)" % pe if pe else "",
                                            pc, ratio)
        print(row + " %s |" % pct(steal.get(label)))
    if steal:
        worst = max(steal, key=steal.get)
        print("\nCPU time taken by the hypervisor (steal, /proc/stat) during the steps: "
              "median %.1f%%, max %.1f%% (%s). Figures of steps with high steal are "
              "less comparable across runs; within a step the hosts alternate."
              % (statistics.median(steal.values()), steal[worst], worst))
    print_targets(results)
    if args.json:
        with open(args.json, "w") as f:
            json.dump([{"step": l, "steal_pct": round(steal[l], 2) if l in steal else None,
                        **{n: {"value": v, "errors": e, "cpu_us": c}
                           for n, (v, e, c) in m.items()}}
                       for l, m in results], f, indent=1)


if __name__ == "__main__":
    main()
