#!/usr/bin/env python3
"""The soak behind `make soak` (soak/run.sh; see soak/README.md).

SOAK_SECONDS (default 600) of sipp OPTIONS at SOAK_RATE/s (default 300)
against build/opensips-shim with profiling on (core:profiling_proc level 1,
E_PROFILING_SCRIPT and E_PROFILING_PROC subscribed), two collectors (UDP
event_datagram, TCP event_stream; the TCP one is SIGKILLed every 30 s and
restarted 2 s later), MI polling every 100 ms over mi_datagram
(status_report:status / evi:subscriber_stats alternately), an SR status
flip from SIP every 10 s, RSS sampled after warm-up and at the end.
Prints a report; exit 0 when every bound held.
"""
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
BUILD = os.environ.get("BUILD", "build")
B = BUILD if os.path.isabs(BUILD) else os.path.join(ROOT, BUILD)
BIN = os.path.join(B, "opensips-shim")
DUR = int(os.environ.get("SOAK_SECONDS", "600"))
RATE = int(os.environ.get("SOAK_RATE", "300"))
KILL_EVERY = 30
FLIP_EVERY = 10
POLL = 0.1
EVENTS = ["E_PROFILING_SCRIPT", "E_PROFILING_PROC",
          "E_CORE_SR_STATUS_CHANGED"]
procs = []


def log(msg):
    print("[soak %s] %s" % (time.strftime("%H:%M:%S"), msg), flush=True)


def free_port(kind=socket.SOCK_DGRAM):
    s = socket.socket(socket.AF_INET, kind)
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def free_port_both():
    while True:
        p = free_port()
        t = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            t.bind(("127.0.0.1", p))
            return p
        except OSError:
            continue
        finally:
            t.close()


class MI:
    def __init__(self, port):
        self.addr = ("127.0.0.1", port)
        self.s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.s.bind(("127.0.0.1", 0))
        self.s.settimeout(2.0)
        self.n = 0

    def call(self, method, params=None):
        """-> (result or None, error text or None)."""
        self.n += 1
        req = {"jsonrpc": "2.0", "method": method, "id": self.n}
        if params is not None:
            req["params"] = params
        self.s.sendto(json.dumps(req).encode(), self.addr)
        while True:
            try:
                data = self.s.recv(65536)
            except socket.timeout:
                return None, "timeout"
            try:
                j = json.loads(data)
            except ValueError:
                return None, "not JSON: %r" % data[:100]
            if j.get("id") != self.n:
                continue        # a late reply to a timed-out request
            if "error" in j:
                return None, json.dumps(j["error"])
            return j["result"], None


def rss_kb(pid):
    with open("/proc/%d/status" % pid) as f:
        for ln in f:
            if ln.startswith("VmRSS:"):
                return int(ln.split()[1])
    return 0


class Collector:
    def __init__(self, kind, port, run_dir):
        self.kind, self.port, self.run_dir = kind, port, run_dir
        self.files = []
        self.p = None
        self.kills = 0

    def start(self):
        f = os.path.join(self.run_dir, "%s-%d.count" % (self.kind,
                                                        len(self.files)))
        self.files.append(f)
        self.p = subprocess.Popen([sys.executable, os.path.join(
            ROOT, "soak", "collector.py"), self.kind, str(self.port), f])
        procs.append(self.p)
        for _ in range(50):
            if os.path.exists(f):
                break
            time.sleep(0.02)

    def kill(self):
        self.p.kill()
        self.p.wait()
        self.kills += 1

    def stop(self):
        if self.p and self.p.poll() is None:
            self.p.terminate()
            self.p.wait(5)

    def count(self):
        n = 0
        for f in self.files:
            try:
                with open(f) as fh:
                    n += int(fh.read().strip() or 0)
            except (OSError, ValueError):
                pass
        return n


def main():
    if not os.path.exists(BIN):
        log("binary %s not built (make)" % BIN)
        return 2
    run_dir = tempfile.mkdtemp(prefix="shim-soak-")
    sip_port, mi_port = free_port_both(), free_port()
    with open(os.path.join(ROOT, "soak", "soak.cfg")) as f:
        cfg = f.read()
    for k, v in (("@SIP_PORT@", str(sip_port)), ("@MI_PORT@", str(mi_port)),
                 ("@RUN_DIR@", run_dir)):
        cfg = cfg.replace(k, v)
    cfg_path = os.path.join(run_dir, "soak.cfg")
    with open(cfg_path, "w") as f:
        f.write(cfg)
    host_log = os.path.join(run_dir, "host.log")
    hout = open(host_log, "wb")
    host = subprocess.Popen([BIN, "-F", "-f", cfg_path, "-m", "64", "-M", "8",
                             "-w", run_dir], stdout=hout,
                            stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                            cwd=run_dir)
    procs.append(host)
    mi = MI(mi_port)
    res = {"errors": []}
    udp = Collector("udp", free_port(), run_dir)
    tcp = Collector("tcp", free_port(socket.SOCK_STREAM), run_dir)
    sipp = None
    try:
        for _ in range(100):
            r, e = mi.call("status_report:get", ["core"])
            if r and r.get("Status") == 1:
                break
            if host.poll() is not None:
                raise RuntimeError("host exited at startup")
            time.sleep(0.1)
        else:
            raise RuntimeError("host not ready")
        udp.start()
        tcp.start()
        for ev in EVENTS:
            for c in (udp, tcp):
                r, e = mi.call("evi:subscribe", [ev, "%s:127.0.0.1:%d" % (
                    c.kind, c.port), DUR + 600])
                if r != "OK":
                    raise RuntimeError("subscribe %s: %s" % (ev, e))
        r, e = mi.call("core:profiling_proc", {"level": 1})
        if r != "OK":
            raise RuntimeError("profiling_proc: %s" % e)
        total = RATE * DUR
        stat_csv = os.path.join(run_dir, "sipp_stat.csv")
        sipp_out = open(os.path.join(run_dir, "sipp.out"), "wb")
        sipp = subprocess.Popen(
            ["sipp", "127.0.0.1:%d" % sip_port, "-sf",
             os.path.join(ROOT, "test", "system", "options-200.xml"),
             "-s", "soak", "-r", str(RATE), "-m", str(total),
             "-i", "127.0.0.1", "-p", str(free_port()), "-nostdin",
             "-recv_timeout", "5000", "-timeout", "%ds" % (DUR + 120),
             "-trace_stat", "-stf", stat_csv, "-fd", "5"],
            stdout=sipp_out, stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL, cwd=run_dir)
        procs.append(sipp)
        t0 = time.monotonic()
        log("host pid %d, sip %d, mi %d, %d OPTIONS at %d/s, collectors "
            "udp:%d tcp:%d, run dir %s" % (host.pid, sip_port, mi_port,
                                            total, RATE, udp.port, tcp.port,
                                            run_dir))
        stop = threading.Event()
        polls = {"n": 0, "err": 0, "max_ms": 0.0}
        flips = {"n": 0, "bad": 0}

        def poller():
            m = MI(mi_port)
            i = 0
            while not stop.is_set():
                t = time.monotonic()
                meth = ("status_report:status" if i % 2 == 0
                        else "evi:subscriber_stats")
                r, e = m.call(meth)
                polls["n"] += 1
                polls["max_ms"] = max(polls["max_ms"],
                                      (time.monotonic() - t) * 1000)
                if e:
                    polls["err"] += 1
                    res["errors"].append("MI %s: %s" % (meth, e))
                i += 1
                stop.wait(max(0, POLL - (time.monotonic() - t)))

        def flipper():
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            s.bind(("127.0.0.1", 0))
            s.settimeout(2)
            lp = s.getsockname()[1]
            i = 0
            while not stop.wait(FLIP_EVERY):
                user = "flip-down" if i % 2 == 0 else "flip-up"
                cid = "soak-flip-%d-%d" % (os.getpid(), i)
                msg = ("OPTIONS sip:%s@127.0.0.1:%d SIP/2.0\r\nVia: SIP/2.0/"
                       "UDP 127.0.0.1:%d;branch=z9hG4bK-%s\r\nMax-Forwards: 70"
                       "\r\nTo: <sip:%s@127.0.0.1>\r\nFrom: <sip:soak@127.0."
                       "0.1>;tag=s%d\r\nCall-ID: %s\r\nCSeq: 1 OPTIONS\r\n"
                       "Content-Length: 0\r\n\r\n" % (user, sip_port, lp, cid,
                                                      user, i, cid))
                s.sendto(msg.encode(), ("127.0.0.1", sip_port))
                try:
                    rep = s.recv(65535).decode(errors="replace")
                    ok = rep.startswith("SIP/2.0 200 ")
                except socket.timeout:
                    ok = False
                flips["n"] += 1
                if not ok:
                    flips["bad"] += 1
                    res["errors"].append("flip %s not answered 200" % user)
                i += 1
            s.close()
        ths = [threading.Thread(target=poller, daemon=True),
               threading.Thread(target=flipper, daemon=True)]
        for t in ths:
            t.start()
        warm = min(30.0, max(5.0, DUR / 10.0))
        rss_start = None
        rss_samples = []
        next_kill = KILL_EVERY
        last_tick = 0
        while sipp.poll() is None:
            time.sleep(0.5)
            el = time.monotonic() - t0
            if host.poll() is not None:
                raise RuntimeError("host died (rc %s)" % host.returncode)
            if rss_start is None and el >= warm:
                rss_start = rss_kb(host.pid)
                log("warm-up over: RSS %d kB" % rss_start)
            if el >= next_kill:
                tcp.kill()
                time.sleep(2)
                tcp.start()
                next_kill += KILL_EVERY
            if el - last_tick >= 60:
                last_tick = el
                rss_samples.append((int(el), rss_kb(host.pid)))
                log("t=%ds RSS %d kB, udp counted %d, tcp counted %d, MI "
                    "polls %d (%d errors)" % (el, rss_samples[-1][1],
                                              udp.count(), tcp.count(),
                                              polls["n"], polls["err"]))
            if el > DUR + 180:
                raise RuntimeError("sipp did not finish")
        sipp_rc = sipp.returncode
        rss_end = rss_kb(host.pid)
        stop.set()
        for t in ths:
            t.join(5)
        # let queues drain, then read the host's counters
        for _ in range(50):
            st, e = mi.call("evi:subscriber_stats")
            if st and all(s["queued"] == 0 for s in st["Subscribers"]):
                break
            time.sleep(0.1)
        time.sleep(0.5)
        prof, _ = mi.call("event_profiling:stats")
        udp.stop()
        tcp.stop()
        # sipp's final statistics (last CSV row)
        succ = fail = None
        try:
            with open(stat_csv) as f:
                rows = [ln.rstrip("\n").split(";") for ln in f if ln.strip()]
            hdr, last = rows[0], rows[-1]
            succ = int(last[hdr.index("SuccessfulCall(C)")])
            fail = int(last[hdr.index("FailedCall(C)")])
        except (OSError, ValueError, IndexError) as ex:
            res["errors"].append("sipp stats unreadable: %s" % ex)
        host.send_signal(signal.SIGTERM)
        try:
            host_rc = host.wait(10)
        except subprocess.TimeoutExpired:
            host.kill()
            host_rc = "killed"
        hout.close()
        with open(host_log, errors="replace") as f:
            lines = f.read().splitlines()
        err_lines = [ln for ln in lines if "ERROR" in ln or "CRIT" in ln]
        warn_lines = [ln for ln in lines if "WARNING" in ln]
        per = {}
        for s in st["Subscribers"]:
            kind = s["socket"].split(":")[0]
            d = per.setdefault(kind, {"delivered": 0, "dropped": 0,
                                      "failed": 0})
            for k in d:
                d[k] += s[k]
        growth = (100.0 * (rss_end - rss_start) / rss_start
                  if rss_start else float("nan"))
        ok = (sipp_rc == 0 and fail == 0 and succ == total and
              polls["err"] == 0 and flips["bad"] == 0 and growth <= 5.0 and
              not err_lines and host_rc == 0)
        rep = []
        rep.append("soak report: %d s at %d OPTIONS/s (%s)" % (
            DUR, RATE, time.strftime("%Y-%m-%d %H:%M")))
        rep.append("  SIP: %s of %d OPTIONS answered 200, %s failed (sipp "
                   "rc %s); %d/%d status flips answered" % (
                       succ, total, fail, sipp_rc, flips["n"] - flips["bad"],
                       flips["n"]))
        for kind, c in (("udp", udp), ("tcp", tcp)):
            d = per.get(kind, {})
            rep.append("  events %s: host delivered %d, dropped %d, failed "
                       "%d; collector counted %d (%d kills)" % (
                           kind, d.get("delivered", 0), d.get("dropped", 0),
                           d.get("failed", 0), c.count(), c.kills))
        if prof:
            rep.append("  profiling: %d records, %d emitted, %d events not "
                       "queued, %d sessions dropped" % (
                           prof.get("Records", 0),
                           prof.get("Records emitted", 0),
                           prof.get("Events not queued", 0),
                           prof.get("Sessions dropped", 0)))
        rep.append("  MI: %d polls every %d ms, %d errors, slowest %.1f ms"
                   % (polls["n"], POLL * 1000, polls["err"], polls["max_ms"]))
        rep.append("  RSS: %s kB after %.0f s warm-up, %d kB at the end "
                   "(%+.2f%%); samples %s" % (rss_start, warm, rss_end,
                                              growth, rss_samples))
        rep.append("  host log: %d ERROR, %d WARNING lines; exit %s" % (
            len(err_lines), len(warn_lines), host_rc))
        for ln in err_lines[:5]:
            rep.append("    " + ln)
        for e in res["errors"][:10]:
            rep.append("  error: " + e)
        rep.append("  result: %s" % ("PASS" if ok else "FAIL"))
        text = "\n".join(rep)
        print(text, flush=True)
        with open(os.path.join(ROOT, "soak", "last-report.txt"), "w") as f:
            f.write(text + "\n")
        return 0 if ok else 1
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
        if os.environ.get("SOAK_KEEP"):
            log("run dir kept: %s" % run_dir)
        else:
            shutil.rmtree(run_dir, ignore_errors=True)


if __name__ == "__main__":
    try:
        sys.exit(main())
    except RuntimeError as e:
        log("FAIL: %s" % e)
        sys.exit(1)
