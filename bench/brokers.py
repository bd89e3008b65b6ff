#!/usr/bin/env python3
"""Broker benchmarks (issue 12), in one run, beside the reference when it
is built (bench/README.md):

1. events/s to each broker with acknowledgements on (RabbitMQ publisher
   confirms, Kafka delivery reports): testmod:raise_burst storms, the
   subscriber's `delivered` counter over the run (ours only: the reference
   has no burst command);
2. SIP OPTIONS W=8 where every request writes one log line (E_CORE_LOG),
   with a broker subscriber on E_CORE_LOG versus none (target >= 95%);
3. SIP latency during a broker outage versus before it: the broker killed
   (RabbitMQ: SIGKILL; Kafka: the mock cluster's brokers set down) under
   W=8 load, p99 and replies/s before and during, on each host.

    python3 bench/brokers.py [--duration S]

The brokers are private: a rabbitmq-server node (test/system/lib/
rabbitmq.py) and librdkafka's mock cluster (build/test-helpers/kafka_mock),
each on free loopback ports. Only figures from this run are printed;
nothing is asserted.
"""

import argparse
import datetime
import json
import os
import subprocess
import sys
import statistics
import tempfile
import shutil
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "test", "system", "lib"))
import sbs  # noqa: E402
from rabbitmq import RabbitMQ  # noqa: E402

KAFKA_MOCK = os.path.join(sbs.BUILD, "test-helpers", "kafka_mock")
TESTMOD = os.path.join(sbs.BUILD, "test-modules", "testmod.so")


class KafkaMock:
    def __init__(self):
        self.p = subprocess.Popen([KAFKA_MOCK], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                  stderr=subprocess.DEVNULL, text=True)
        line = self.p.stdout.readline().split()
        if len(line) < 2 or line[0] != "BOOTSTRAP":
            raise RuntimeError("kafka_mock printed %r" % line)
        self.bootstrap = line[1]

    def cmd(self, c):
        self.p.stdin.write(c + "\n")
        self.p.stdin.flush()

    def close(self):
        try:
            self.cmd("quit")
            self.p.wait(10)
        except Exception:
            self.p.kill()


def mi(h, method, params, timeout=2.0):
    r = sbs.mi_datagram(h.mi_port, json.dumps({"jsonrpc": "2.0", "method": method,
                                               "params": params, "id": 1}), timeout)
    try:
        return json.loads(r)
    except (TypeError, ValueError):
        return {"error": r}


def sub_stat(h, event, prefix):
    r = mi(h, "evi:subscriber_stats", {"event": event})
    for s in r.get("result", {}).get("Subscribers", []):
        if s["socket"].startswith(prefix):
            return s
    return None


def shim(name, tmp):
    h = sbs.Host(name, lambda cfg, rd: [os.path.join(sbs.BUILD, "opensips-shim"), "-F", "-f",
                                        cfg, "-w", rd, "-m", "64", "-M", "8"],
                 os.path.join(HERE, "broker-shim.cfg"),
                 os.path.join(sbs.BUILD, "modules") + "/", tmp)
    return h


def reference(tmp):
    ref_bin = os.path.join(sbs.REF, "sbin", "opensips")
    if not os.access(ref_bin, os.X_OK):
        return None
    return sbs.Host("opensips", lambda cfg, rd: [ref_bin, "-F", "-f", cfg, "-w", rd,
                                                 "-m", "64", "-M", "8"],
                    os.path.join(HERE, "broker-ref.cfg"),
                    os.path.join(sbs.REF, "lib64", "opensips", "modules") + "/", tmp)


def storm(h, event, prefix, dur):
    """raise_burst for `dur` s; delivered/s while the backlog stays full."""
    s0 = sub_stat(h, event, prefix)
    t0 = time.monotonic()
    end = t0 + dur
    while time.monotonic() < end:
        mi(h, "testmod:raise_burst", {"event": event, "count": 2000}, 30)
        # keep the link's backlog busy, not overflowing far beyond it
        while True:
            s = sub_stat(h, event, prefix)
            if s is None or s["queued"] < 4000 or time.monotonic() > end:
                break
            time.sleep(0.005)
    s1 = sub_stat(h, event, prefix)
    el = time.monotonic() - t0
    return (s1["delivered"] - s0["delivered"]) / el, s1["failed"] - s0["failed"]


# steal (% of the machine's CPU time, /proc/stat) during each SIP step
STEAL = []


def load(h, window, dur):
    """(replies/s, p99 ms, lost) of loadgen SIP at `window`."""
    if not os.access(sbs.LOADGEN, os.X_OK):
        sbs.loadgen("sip", h.sip_port, 1, 1)
    st0 = sbs.cpu_ticks()
    p = subprocess.run([sbs.LOADGEN, "--mode", "sip", "--port", str(h.sip_port), "--window",
                        str(window), "--sockets", "2", "--duration", str(dur), "--warmup", "1",
                        "--timeout-ms", "1000"],
                       capture_output=True, text=True, timeout=dur + 30)
    st1 = sbs.cpu_ticks()
    if st1[1] - st0[1] >= 50 * (os.cpu_count() or 1):
        STEAL.append(100.0 * (st1[0] - st0[0]) / (st1[1] - st0[1]))
    line = p.stdout.strip().splitlines()[-1] if p.stdout.strip() else ""
    f = dict(kv.split("=", 1) for kv in line.split()[1:] if "=" in kv)
    return (float(f.get("rps", 0)), int(f.get("p99_us", 0)) / 1000.0,
            int(f.get("lost", 0)) + int(f.get("err", 0)))


def mean_of(runs):
    """(replies/s, p99 ms, lost) averaged over runs, elementwise."""
    return tuple(sum(r[i] for r in runs) / len(runs) for i in range(3))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--duration", type=int, default=int(os.environ.get("BENCH_STEP_SECONDS", "5")))
    args = ap.parse_args()
    d = args.duration
    tmp = tempfile.mkdtemp(prefix="shim-brokers-")
    rows = []
    rmq = RabbitMQ()
    kafka = None
    hosts = []
    try:
        t0 = time.monotonic()
        rmq.start()
        sbs.log("rabbitmq-server up in %.1f s (port %d)" % (time.monotonic() - t0, rmq.port))
        c = rmq.connect()
        ch = c.channel()
        for q in ("bench-ev", "bench-log"):
            ch.queue_declare(q)
        c.close()
        if os.access(KAFKA_MOCK, os.X_OK) and os.path.exists(
                os.path.join(sbs.BUILD, "modules", "event_kafka.so")):
            kafka = KafkaMock()
            sbs.log("kafka mock cluster at %s" % kafka.bootstrap)
        else:
            sbs.log("no event_kafka / kafka_mock built: RabbitMQ only")
        rsock = "rabbitmq:127.0.0.1:%d/bench-log" % rmq.port
        ksock = "kafka:%s/bench-log" % kafka.bootstrap if kafka else None

        # 1. events/s with acknowledgements (ours)
        extra = ('loadmodule "%s"\n' % TESTMOD +
                 ('loadmodule "event_kafka.so"\n' if kafka else "") +
                 'route[publish] {\n\traise_event("E_BENCH");\n}\n')
        h = shim("shim", tmp)
        h.start(extra)
        try:
            mi(h, "evi:subscribe", ["E_BENCH", "rabbitmq:127.0.0.1:%d/bench-ev" % rmq.port])
            eps, fails = storm(h, "E_BENCH", "rabbitmq:", d)
            rows.append(("events to RabbitMQ, publisher confirms on, delivered/s",
                         {"shim": "%.0f%s" % (eps, " (%d failed)" % fails if fails else "")}))
            sbs.log(rows[-1][0] + ": %.0f" % eps)
            if kafka:
                mi(h, "evi:subscribe", ["E_BENCH", "kafka:%s/bench-ev" % kafka.bootstrap])
                mi(h, "evi:subscribe", ["E_BENCH", "rabbitmq:127.0.0.1:%d/bench-ev" % rmq.port, 0])
                eps, fails = storm(h, "E_BENCH", "kafka:", d)
                rows.append(("events to Kafka (mock cluster), delivery reports on, delivered/s",
                             {"shim": "%.0f%s" % (eps, " (%d failed)" % fails if fails else "")}))
                sbs.log(rows[-1][0] + ": %.0f" % eps)
        finally:
            h.stop()

        # 2. and 3., on each host
        hosts = [("shim", lambda: shim("shim", tmp))]
        if reference(tmp):
            hosts.append(("opensips", lambda: reference(tmp)))
        else:
            sbs.log("no reference OpenSIPS at %s: our figures only" % sbs.REF)
        kext = 'loadmodule "event_kafka.so"\n' if kafka else ""
        for hname, mk in hosts:
            res = {}
            h = mk()
            h.start(kext)
            try:
                # alternated: none, with, none, with (medians)
                bases, withs = [], []
                for rnd in range(2):
                    if rnd:
                        mi(h, "event_subscribe", ["E_CORE_LOG", rsock, 0])
                        time.sleep(0.5)
                    bases.append(load(h, 8, d))
                    r = mi(h, "event_subscribe", ["E_CORE_LOG", rsock])
                    if "result" not in r:
                        sbs.log("%s: subscribe %s -> %s" % (hname, rsock, r))
                    time.sleep(0.5)
                    withs.append(load(h, 8, d))
                res["none"] = mean_of(bases)
                res["rmq"] = mean_of(withs)
                st = sub_stat(h, "E_CORE_LOG", "rabbitmq:") if hname == "shim" else None
                if st:
                    sbs.log("%s: E_CORE_LOG -> rabbitmq: %s" % (hname, st))
                # outage: the broker SIGKILLed under load
                before = load(h, 8, d)
                rmq.kill()
                time.sleep(0.2)
                during = load(h, 8, d)
                res["before"], res["during"] = before, during
                if not h.alive():
                    sbs.log("%s died during the outage:\n%s" % (hname, h.tail()))
            finally:
                h.stop()
                if not rmq.amqp_ready():
                    rmq.start()
            if kafka:
                h = mk()
                h.start(kext)
                try:
                    r = mi(h, "event_subscribe", ["E_CORE_LOG", ksock])
                    if "result" not in r:
                        sbs.log("%s: subscribe %s -> %s" % (hname, ksock, r))
                    time.sleep(0.5)
                    res["kafka"] = load(h, 8, d)
                    kafka.cmd("down")
                    time.sleep(0.2)
                    res["kafka-during"] = load(h, 8, d)
                    kafka.cmd("up")
                    if not h.alive():
                        sbs.log("%s died during the Kafka outage:\n%s" % (hname, h.tail()))
                finally:
                    h.stop()
            for k, v in res.items():
                sbs.log("%s %s: %.0f replies/s, p99 %.2f ms, %d lost" % (hname, k, *v))
            rows.append(("SIP OPTIONS W=8, a log line each, no subscriber, replies/s (mean of 2, alternated)",
                         {hname: "%.0f" % res["none"][0]}))
            rows.append(("... with E_CORE_LOG -> RabbitMQ, replies/s, mean of 2 (ratio to none)",
                         {hname: "%.0f (%.0f%%)" % (res["rmq"][0],
                                                    100 * res["rmq"][0] / max(1, res["none"][0]))}))
            if "kafka" in res:
                rows.append(("... with E_CORE_LOG -> Kafka, replies/s (ratio to none)",
                             {hname: "%.0f (%.0f%%)" % (res["kafka"][0],
                                                        100 * res["kafka"][0] /
                                                        max(1, res["none"][0]))}))
            for key, label in (("before", "RabbitMQ up"), ("during", "RabbitMQ SIGKILLed"),
                               ("kafka", "Kafka up"), ("kafka-during", "Kafka brokers down")):
                if key in res:
                    rps, p99, lost = res[key]
                    rows.append(("SIP W=8 with E_CORE_LOG subscriber, %s: replies/s, p99 ms, lost"
                                 % label, {hname: "%.0f, %.2f, %d" % (rps, p99, lost)}))
    finally:
        for h in hosts:
            pass
        if kafka:
            kafka.close()
        rmq.close()
        shutil.rmtree(tmp, ignore_errors=True)

    names = ["shim"] + (["opensips"] if any("opensips" in m for _, m in rows) else [])
    print()
    print("Brokers, %s, %s, %d cores; %d s a step" % (
        datetime.datetime.now().strftime("%Y-%m-%d %H:%M"), sbs.cpu_model(), os.cpu_count(), d))
    print("| step | " + " | ".join(names) + " |")
    print("|---|" + "---|" * len(names))
    merged = []
    for label, m in rows:
        for ml, mm in merged:
            if ml == label:
                mm.update(m)
                break
        else:
            merged.append((label, dict(m)))
    for label, m in merged:
        print("| %s | %s |" % (label, " | ".join(m.get(n, "-") for n in names)))
    if STEAL:
        print()
        print("CPU time taken by the hypervisor (steal, /proc/stat) during the SIP steps: "
              "median %.1f%%, max %.1f%% (%d steps)" % (statistics.median(STEAL), max(STEAL),
                                                     len(STEAL)))


if __name__ == "__main__":
    main()
