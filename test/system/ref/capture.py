#!/usr/bin/env python3
"""Capture the reference server's statistics MI and prometheus behaviour.

Usage:
    capture.py REF_INSTALL_DIR [--out DIR] [--keep]

REF_INSTALL_DIR is the reference install prefix (the one holding
sbin/opensips and lib64/opensips/modules/).  Output files are written to
--out (default: the directory holding this script).  Every run happens in
a fresh temporary directory, on loopback only, with ports picked at run
time; every process started is killed (by process group) before exit.

Standard library only.  Talks to the server over the wire (UDP SIP,
JSON-RPC over mi_datagram, HTTP), nothing else.
"""

import argparse
import datetime
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
CFG_TEMPLATE = os.path.join(HERE, "stats-ref.cfg")


# --------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------

def free_port(kind):
    """Ask the kernel for a free loopback port of the given kind."""
    s = socket.socket(socket.AF_INET,
                      socket.SOCK_DGRAM if kind == "udp" else socket.SOCK_STREAM)
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def free_ports():
    """Three distinct ports: SIP (udp), MI (udp), HTTP (tcp)."""
    seen = set()
    out = []
    for kind in ("udp", "udp", "tcp"):
        while True:
            p = free_port(kind)
            if p not in seen:
                seen.add(p)
                out.append(p)
                break
    return out


class Server:
    """One reference server instance in its own temp dir / process group."""

    def __init__(self, refdir, prom_params="", extra_route="", label="run"):
        self.refdir = refdir
        self.binary = os.path.join(refdir, "sbin", "opensips")
        self.mpath = os.path.join(refdir, "lib64", "opensips", "modules") + "/"
        self.rundir = tempfile.mkdtemp(prefix="stats-ref-%s-" % label)
        self.sip_port, self.mi_port, self.http_port = free_ports()
        with open(CFG_TEMPLATE) as f:
            cfg = f.read()
        cfg = (cfg.replace("@MPATH@", self.mpath)
                  .replace("@SIP_PORT@", str(self.sip_port))
                  .replace("@MI_PORT@", str(self.mi_port))
                  .replace("@HTTP_PORT@", str(self.http_port))
                  .replace("@RUN_DIR@", self.rundir)
                  .replace("@PROM_PARAMS@", prom_params))
        if extra_route:
            cfg += "\n" + extra_route + "\n"
        self.cfg_path = os.path.join(self.rundir, "opensips.cfg")
        with open(self.cfg_path, "w") as f:
            f.write(cfg)
        self.log_path = os.path.join(self.rundir, "stderr.log")
        self.proc = None
        self.mi_sock = None
        self.mi_id = 0

    def start(self, expect_fail=False, timeout=15.0):
        self.log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(
            [self.binary, "-F", "-f", self.cfg_path, "-w", self.rundir,
             "-m", "64", "-M", "8"],
            stdout=self.log, stderr=subprocess.STDOUT, cwd=self.rundir,
            start_new_session=True)
        deadline = time.time() + timeout
        if expect_fail:
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                pass
            return self.proc.poll()
        self.mi_sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.mi_sock.bind(("127.0.0.1", 0))
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("server exited early, see " + self.log_path
                                   + "\n" + self.stderr())
            try:
                self.mi_raw('{"jsonrpc":"2.0","method":"uptime","id":0}', 0.5)
                c = socket.create_connection(("127.0.0.1", self.http_port), 0.5)
                c.close()
                time.sleep(0.5)   # let all workers settle
                self.wait_pkmem(deadline)
                return None
            except OSError:
                time.sleep(0.2)
        raise RuntimeError("server did not come up\n" + self.stderr())

    def wait_pkmem(self, deadline):
        """Each process publishes its pkmem figures a little after start;
        wait until no pkmem:N-total_size is still 0."""
        while time.time() < deadline:
            st = json.loads(self.mi_raw(
                '{"jsonrpc":"2.0","method":"statistics:get",'
                '"params":{"statistics":["pkmem:"]},"id":0}'))["result"]
            if st and all(v for k, v in st.items() if k.endswith("-total_size")):
                return
            time.sleep(0.2)

    def stderr(self):
        try:
            self.log.flush()
        except Exception:
            pass
        with open(self.log_path, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        # children may outlive the main process; clear the whole group
        if self.proc is not None:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
        if self.mi_sock:
            self.mi_sock.close()
        try:
            self.log.close()
        except Exception:
            pass

    def cleanup(self):
        shutil.rmtree(self.rundir, ignore_errors=True)

    # ---- MI over datagram -------------------------------------------------
    def mi_raw(self, request, timeout=3.0):
        self.mi_sock.settimeout(timeout)
        self.mi_sock.sendto(request.encode(), ("127.0.0.1", self.mi_port))
        data, _ = self.mi_sock.recvfrom(65535)
        return data.decode("utf-8", "replace")

    def mi_req(self, method, params=None, raw_params=None):
        """Build an exact JSON-RPC request string (compact, stable order)."""
        self.mi_id += 1
        if raw_params is not None:
            return ('{"jsonrpc":"2.0","method":"%s","params":%s,"id":%d}'
                    % (method, raw_params, self.mi_id))
        if params is None:
            return '{"jsonrpc":"2.0","method":"%s","id":%d}' % (method, self.mi_id)
        return json.dumps({"jsonrpc": "2.0", "method": method,
                           "params": params, "id": self.mi_id},
                          separators=(",", ":"))

    def get_all(self):
        r = self.mi_raw(self.mi_req("statistics:get", {"statistics": ["all"]}))
        return json.loads(r)["result"]

    # ---- HTTP ---------------------------------------------------------------
    def http_raw(self, method, path, body=b"", headers=()):
        req = "%s %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n" % (method, path,
                                                           self.http_port)
        for h in headers:
            req += h + "\r\n"
        if body or method == "POST":
            req += "Content-Length: %d\r\n" % len(body)
        req += "Connection: close\r\n\r\n"
        raw_req = req.encode() + body
        c = socket.create_connection(("127.0.0.1", self.http_port), 5)
        c.sendall(raw_req)
        chunks = []
        c.settimeout(5)
        self.last_http_closed = False
        while True:
            try:
                d = c.recv(65536)
            except socket.timeout:
                break
            if not d:
                self.last_http_closed = True
                break
            chunks.append(d)
        c.close()
        return raw_req.decode(), b"".join(chunks).decode("utf-8", "replace")


# --------------------------------------------------------------------------
# SIP traffic
# --------------------------------------------------------------------------

def sip_options(lport, sip_port, n):
    return ("OPTIONS sip:ping@127.0.0.1:%d SIP/2.0\r\n"
            "Via: SIP/2.0/UDP 127.0.0.1:%d;branch=z9hG4bK-stats-%d;rport\r\n"
            "Max-Forwards: 70\r\n"
            "From: <sip:probe@127.0.0.1>;tag=ft%d\r\n"
            "To: <sip:ping@127.0.0.1:%d>\r\n"
            "Call-ID: stats-ref-%d@127.0.0.1\r\n"
            "CSeq: %d OPTIONS\r\n"
            "Content-Length: 0\r\n\r\n"
            % (sip_port, lport, n, n, sip_port, n, n))


def sip_ack(lport, sip_port, n, to_tag):
    return ("ACK sip:ping@127.0.0.1:%d SIP/2.0\r\n"
            "Via: SIP/2.0/UDP 127.0.0.1:%d;branch=z9hG4bK-stats-%d;rport\r\n"
            "Max-Forwards: 70\r\n"
            "From: <sip:probe@127.0.0.1>;tag=ft%d\r\n"
            "To: <sip:ping@127.0.0.1:%d>;tag=%s\r\n"
            "Call-ID: stats-ref-%d@127.0.0.1\r\n"
            "CSeq: %d ACK\r\n"
            "Content-Length: 0\r\n\r\n"
            % (sip_port, lport, n, n, sip_port, to_tag, n, n))


MALFORMED = ("OPTIONS sip:ping@127.0.0.1 SIP/2.0\r\n"
             "Via: SIP/2.0/UDP ;;;@@@ broken\r\n"
             "From: <sip:probe@127.0.0.1>;tag=bad\r\n"
             "To: <sip:ping@127.0.0.1>\r\n"
             "Call-ID: stats-ref-bad@127.0.0.1\r\n"
             "CSeq: 1 OPTIONS\r\n"
             "Content-Length: 0\r\n\r\n")


NO_VIA = ("OPTIONS sip:ping@127.0.0.1 SIP/2.0\r\n"
          "From: <sip:probe@127.0.0.1>;tag=novia\r\n"
          "To: <sip:ping@127.0.0.1>\r\n"
          "Call-ID: stats-ref-novia@127.0.0.1\r\n"
          "CSeq: 1 OPTIONS\r\n"
          "Content-Length: 0\r\n\r\n")


def describe_moves(before, after, watch):
    moved = diff_stats(before, after)
    parts = ["%s %s->%s" % (k, v[0], v[1]) for k, v in moved.items()]
    still = [k for k in watch if k not in moved]
    return ("moved: " + (", ".join(parts) if parts else "nothing") +
            "; unchanged: " + ", ".join(still))


WATCH = ["core:rcv_requests", "core:rcv_replies", "core:fwd_requests",
         "core:fwd_replies", "core:drop_requests", "core:drop_replies",
         "core:err_requests", "core:err_replies", "core:bad_URIs_rcvd",
         "core:bad_msg_hdr", "core:slow_messages", "sl:1xx_replies",
         "sl:2xx_replies", "sl:4xx_replies", "sl:sent_replies",
         "sl:sent_err_replies", "sl:received_ACKs"]


def diff_stats(before, after):
    out = {}
    for k in after:
        if k in before and before[k] != after[k]:
            out[k] = [before[k], after[k]]
    return out


# --------------------------------------------------------------------------
# statistics.jsonl
# --------------------------------------------------------------------------

def capture_statistics(refdir, outdir):
    srv = Server(refdir, label="mi")
    lines = []
    extra = {}

    def rec(case, request, notes=""):
        try:
            reply = srv.mi_raw(request)
        except socket.timeout:
            reply = None
            notes = (notes + "; " if notes else "") + "no reply within 3s"
        lines.append({"case": case, "request": request, "reply": reply,
                      "notes": notes})
        return reply

    try:
        srv.start()
        # ---- which / list --------------------------------------------------
        rec("which", srv.mi_req("which"), "full list of MI commands")
        rec("list/no-params", srv.mi_req("statistics:list"),
            "all visible statistics, value is 'incremental' or 'non-incremental'")
        for p in ["core:", "shmem:", "sl:", "load:", "net:", "dns:", "pkmem:",
                  "all", "nosuchgroup:", "core:rcv_requests", "rcv_requests",
                  "nosuch"]:
            rec("list/%s" % p, srv.mi_req("statistics:list", {"statistics": [p]}))
        rec("list/positional-core", srv.mi_req("statistics:list", [["core:"]]),
            "positional params: [[\"core:\"]]")
        rec("list/string-param", srv.mi_req("statistics:list",
                                            {"statistics": "core:"}),
            "string instead of array")
        rec("list/empty-array", srv.mi_req("statistics:list", {"statistics": []}))

        # ---- 7 OPTIONS --------------------------------------------------------
        before = srv.get_all()
        sip = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sip.bind(("127.0.0.1", 0))
        lport = sip.getsockname()[1]
        sip.settimeout(3)
        replies = []
        to_tag = None
        for n in range(1, 8):
            sip.sendto(sip_options(lport, srv.sip_port, n).encode(),
                       ("127.0.0.1", srv.sip_port))
            data = sip.recv(65535).decode("utf-8", "replace")
            replies.append(data.split("\r\n", 1)[0])
            m = re.search(r"^To:.*;tag=([^;\r\n]+)", data, re.M | re.I)
            if m:
                to_tag = m.group(1)
        time.sleep(0.3)
        after7 = srv.get_all()
        extra["after7"] = after7
        lines.append({
            "case": "traffic/7-options",
            "request": "7 x SIP OPTIONS over UDP (see capture.py sip_options)",
            "reply": json.dumps({"status_lines": replies,
                                 "example_request": sip_options(lport, srv.sip_port, 1),
                                 "moved": diff_stats(before, after7)},
                                separators=(",", ":")),
            "notes": "moved = {stat: [before, after]} from statistics:get all "
                     "taken right before and right after the 7 OPTIONS; "
                     + describe_moves(before, after7, WATCH)})

        # ---- statistics:get variants -------------------------------------------
        def g(case, params=None, raw=None, notes=""):
            rec("get/" + case, srv.mi_req("statistics:get", params, raw), notes)

        g("all", {"statistics": ["all"]})
        for p in ["core:", "shmem:", "pkmem:", "load:", "sl:", "net:", "dns:",
                  "core:rcv_requests", "rcv_requests", "RCV_REQUESTS",
                  "bad_URIs_rcvd", "bad_uris_rcvd", "SL:", "load-all",
                  "1-used_size",
                  "nosuch", "nosuchgroup:", "tm:", ":", "all:"]:
            g(p, {"statistics": [p]})
        g("core:rcv_requests+shmem:used_size",
          {"statistics": ["core:rcv_requests", "shmem:used_size"]})
        g("rcv_requests+used_size", {"statistics": ["rcv_requests", "used_size"]})
        g("rcv_requests+nosuch", {"statistics": ["rcv_requests", "nosuch"]},
          notes="one known, one unknown")
        g("nosuch+rcv_requests", {"statistics": ["nosuch", "rcv_requests"]})
        g("sl:+core:", {"statistics": ["sl:", "core:"]})
        g("rcv_requests-twice", {"statistics": ["rcv_requests", "rcv_requests"]})
        g("empty-array", {"statistics": []})
        g("string-param", {"statistics": "rcv_requests"},
          notes="string instead of array")
        g("number-in-array", raw='{"statistics":[5]}')
        g("no-params", None)
        g("positional", [["rcv_requests", "sl:"]], notes="params as array")
        g("positional-string", ["rcv_requests"],
          notes="positional, string instead of array")
        g("wrong-param-name", {"stats": ["rcv_requests"]})
        g("extra-param", {"statistics": ["rcv_requests"], "foo": 1})
        # repeat unknown lookups: 'found' handling stability check
        for i in range(3):
            g("nosuch-repeat-%d" % i, {"statistics": ["nosuch"]},
              notes="repeated to check the reply is stable")

        # ---- aliases -----------------------------------------------------------
        rec("alias/get_statistics",
            srv.mi_req("get_statistics", {"statistics": ["rcv_requests"]}))
        rec("alias/list_statistics",
            srv.mi_req("list_statistics", {"statistics": ["sl:"]}))
        rec("alias/list_statistics-no-params", srv.mi_req("list_statistics"))
        rec("alias/reset_statistics",
            srv.mi_req("reset_statistics", {"statistics": ["nosuch"]}))
        rec("alias/statistics:nosuchcmd", srv.mi_req("statistics:nosuchcmd"))
        rec("alias/get_stats", srv.mi_req("get_stats"), "not an alias")

        # traffic again so the reset cases have something to reset
        for n in range(8, 11):
            sip.sendto(sip_options(lport, srv.sip_port, n).encode(),
                       ("127.0.0.1", srv.sip_port))
            sip.recv(65535)
        time.sleep(0.2)

        # ---- reset -------------------------------------------------------------
        rec("reset/pre-get", srv.mi_req("statistics:get",
                                        {"statistics": ["core:", "sl:"]}))
        rec("reset/rcv_requests", srv.mi_req("statistics:reset",
                                             {"statistics": ["rcv_requests"]}))
        rec("reset/check-rcv_requests", srv.mi_req(
            "statistics:get", {"statistics": ["rcv_requests", "sl:"]}),
            "rcv_requests should be 0, sl untouched")
        rec("reset/core:rcv_requests", srv.mi_req(
            "statistics:reset", {"statistics": ["core:rcv_requests"]}),
            "group-qualified name")
        for p in ["shmem:used_size", "used_size", "timestamp", "core:timestamp",
                  "load", "load:load", "nosuch", "sl:"]:
            rec("reset/%s" % p, srv.mi_req("statistics:reset",
                                           {"statistics": [p]}))
        rec("reset/check-non-incremental", srv.mi_req(
            "statistics:get", {"statistics": ["used_size", "timestamp", "load"]}))
        rec("reset/two-names", srv.mi_req(
            "statistics:reset", {"statistics": ["2xx_replies", "nosuch"]}))
        rec("reset/empty-array", srv.mi_req("statistics:reset",
                                            {"statistics": []}))
        rec("reset/string-param", srv.mi_req("statistics:reset",
                                             {"statistics": "sent_replies"}))
        rec("reset/no-params", srv.mi_req("statistics:reset"))
        rec("reset/positional", srv.mi_req("statistics:reset",
                                           [["sent_replies"]]))
        rec("reset_all/pre-get", srv.mi_req("statistics:get",
                                            {"statistics": ["all"]}))
        rec("reset_all", srv.mi_req("statistics:reset_all"))
        rec("reset_all/post-get", srv.mi_req("statistics:get",
                                             {"statistics": ["all"]}))
        rec("reset_all/with-params", srv.mi_req("statistics:reset_all",
                                                {"statistics": ["sl:"]}))
        rec("alias/reset_all_statistics", srv.mi_req("reset_all_statistics"),
            "reset_all alias (captured last among the resets because it "
            "resets everything resettable)")
        rec("jsonrpc/not-json", "this is not json",
            "raw garbage datagram to the MI socket")
        rec("jsonrpc/no-id", '{"jsonrpc":"2.0","method":"statistics:get",'
            '"params":{"statistics":["rcv_requests"]}}',
            "JSON-RPC notification (no id)")

        # ---- ACK + malformed -----------------------------------------------------
        # sl only absorbs an ACK to its own reply while the last sl reply is
        # less than ~2 s old, so send a fresh OPTIONS (#11) right before it
        sip.sendto(sip_options(lport, srv.sip_port, 11).encode(),
                   ("127.0.0.1", srv.sip_port))
        data = sip.recv(65535).decode("utf-8", "replace")
        m = re.search(r"^To:.*;tag=([^;\r\n]+)", data, re.M | re.I)
        to_tag = m.group(1) if m else "x"
        before = srv.get_all()
        sip.sendto(sip_ack(lport, srv.sip_port, 11, to_tag).encode(),
                   ("127.0.0.1", srv.sip_port))
        time.sleep(0.3)
        mid = srv.get_all()
        sip.sendto(MALFORMED.encode(), ("127.0.0.1", srv.sip_port))
        sip.settimeout(1.0)
        got = []
        try:
            got.append(sip.recv(65535).decode("utf-8", "replace").split("\r\n")[0])
        except socket.timeout:
            pass
        after = srv.get_all()
        lines.append({
            "case": "traffic/ack",
            "request": sip_ack(lport, srv.sip_port, 11, to_tag),
            "reply": json.dumps({"moved": diff_stats(before, mid)},
                                separators=(",", ":")),
            "notes": "ACK carrying the To-tag of the sl 200 reply to an OPTIONS "
                     "sent just before it (all after reset_all); "
                     + describe_moves(before, mid, WATCH)})
        lines.append({
            "case": "traffic/malformed",
            "request": MALFORMED,
            "reply": json.dumps({"moved": diff_stats(mid, after),
                                 "sip_reply": got}, separators=(",", ":")),
            "notes": "request with an unparsable Via header; "
                     + describe_moves(mid, after, WATCH)})
        # extra: the same kind of ACK once the sl reply window has expired
        time.sleep(3.5)
        before = srv.get_all()
        sip.sendto(sip_ack(lport, srv.sip_port, 11, to_tag).encode(),
                   ("127.0.0.1", srv.sip_port))
        time.sleep(0.3)
        after = srv.get_all()
        lines.append({
            "case": "traffic/ack-late",
            "request": sip_ack(lport, srv.sip_port, 11, to_tag),
            "reply": json.dumps({"moved": diff_stats(before, after)},
                                separators=(",", ":")),
            "notes": "extra case: same ACK re-sent 3.5 s after the last sl "
                     "reply; " + describe_moves(before, after, WATCH)})

        # extra (beyond the single malformed datagram above): a request
        # whose first line parses but that carries no Via header at all
        before = srv.get_all()
        sip.sendto(NO_VIA.encode(), ("127.0.0.1", srv.sip_port))
        got = []
        try:
            got.append(sip.recv(65535).decode("utf-8", "replace").split("\r\n")[0])
        except socket.timeout:
            pass
        after = srv.get_all()
        lines.append({
            "case": "traffic/no-via",
            "request": NO_VIA,
            "reply": json.dumps({"moved": diff_stats(before, after),
                                 "sip_reply": got}, separators=(",", ":")),
            "notes": "extra case: OPTIONS with no Via header; "
                     + describe_moves(before, after, WATCH)})
        sip.close()

        # ---- mi_http -----------------------------------------------------------
        body = srv.mi_req("statistics:get", {"statistics": ["core:", "sl:"]})
        rq, rs = srv.http_raw("POST", "/mi", body.encode(),
                              ["Content-Type: application/json"])
        lines.append({"case": "mi_http/statistics:get", "request": rq,
                      "reply": rs, "notes": "raw HTTP request and response"})
        body = srv.mi_req("statistics:get", {"statistics": ["nosuch"]})
        rq, rs = srv.http_raw("POST", "/mi", body.encode(),
                              ["Content-Type: application/json"])
        lines.append({"case": "mi_http/statistics:get-nosuch", "request": rq,
                      "reply": rs, "notes": "raw HTTP request and response"})
    finally:
        srv.stop()
        extra["stderr"] = srv.stderr()
        srv.cleanup()

    with open(os.path.join(outdir, "statistics.jsonl"), "w") as f:
        for l in lines:
            f.write(json.dumps(l) + "\n")
    return extra, lines


# --------------------------------------------------------------------------
# prometheus variants
# --------------------------------------------------------------------------

SCRIPT_ROUTE = r'''
route[prom_custom] {
	prometheus_declare_stat("opensips_custom_cps", "counter", "custom calls per second");
	prometheus_push_stat(3);
	prometheus_declare_stat("opensips_custom_gw");
	prometheus_push_stat(10, "{gateway=\"gw1\"}");
	prometheus_push_stat(11, "gateway", "gw2");
	return (1, '[{"header": "# TYPE opensips_json_total gauge", "values": [{"name": "opensips_json_total", "value": 3}, {"name": "opensips_json_total{x=\"y\"}", "value": 4}]}]');
}
'''

SCRIPT_ROUTE_MISSING = ""


def mp(name, value):
    if isinstance(value, int):
        return 'modparam("prometheus", "%s", %d)' % (name, value)
    return 'modparam("prometheus", "%s", "%s")' % (
        name, value.replace("\\", "\\\\").replace('"', '\\"'))


# (variant, [modparams], extra route text, expect startup failure, paths)
VARIANTS = [
    ("default", [], "", False, None),
    ("all", [("statistics", "all")], "", False, None),
    ("list", [("statistics", "sl: rcv_requests used_size"),
              ("statistics", "load: shmem:used_size nosuch_stat")], "", False,
     None),
    ("all-plus-list", [("statistics", "core: all sl:")], "", False, None),
    ("group_mode1", [("statistics", "all"), ("group_mode", 1)], "", False, None),
    ("group_mode2", [("statistics", "all"), ("group_mode", 2)], "", False, None),
    ("group_mode0-explicit", [("statistics", "core: sl:"), ("group_mode", 0)],
     "", False, None),
    ("prefix", [("statistics", "core: sl:"), ("prefix", "osips1")], "", False,
     None),
    ("prefix-empty", [("statistics", "sl: pkmem:"), ("prefix", ""),
                      ("delimiter", "")], "", False, None),
    ("delimiter", [("statistics", "core: sl:"), ("delimiter", "-"),
                   ("group_mode", 1)], "", False, None),
    ("group_prefix-mode1", [("statistics", "core: sl:"),
                            ("group_prefix", "grp_"), ("group_mode", 1)],
     "", False, None),
    ("group_prefix-mode0", [("statistics", "core: sl:"),
                            ("group_prefix", "grp_")], "", False, None),
    ("group_label-mode2", [("statistics", "core: sl: load:"),
                           ("group_label", "grp"), ("group_prefix", "g_"),
                           ("group_mode", 2)], "", False, None),
    ("labels", [("statistics", "sl: core: pkmem:"),
                ("labels", r'sl: /^([0-9])xx_replies$/replies:class="\1xx"/'),
                ("labels", r'core: /^(rcv|fwd|drop|err)_(requests|replies)$/\2:op="\1"/'),
                ("labels", r'sl: /^sent_(.*)$/sent:kind="\1"/'),
                ("labels", r'core: /^timestamp$/nocolon/'),
                ("group_mode", 2)], "", False, None),
    ("labels-mode0", [("statistics", "sl:"),
                      ("labels", r'sl: /^([0-9])xx_replies$/replies:class="\1xx"/')],
     "", False, None),
    ("unknown-group", [("statistics", "nosuchgroup: sl:")], "", False, None),
    ("unknown-stat", [("statistics", "no_such_stat nosuch:thing")], "", False,
     None),
    ("bad-label-regex", [("statistics", "sl:"),
                         ("labels", r'sl: /^([0-9]xx_replies$/replies:class="\1"/')],
     "", True, None),
    ("bad-label-nogroup", [("statistics", "sl:"),
                           ("labels", r'/^(.*)$/\1:a="b"/')], "", True, None),
    ("bad-label-noregex", [("statistics", "sl:"), ("labels", "sl:")], "", True,
     None),
    ("bad-label-subst", [("statistics", "sl:"), ("labels", "sl: notaregex")],
     "", True, None),
    ("bad-group_mode", [("statistics", "sl:"), ("group_mode", 3)], "", True,
     None),
    ("script_route", [("statistics", "sl:"), ("script_route", "prom_custom")],
     SCRIPT_ROUTE, False, None),
    ("script_route-missing", [("statistics", "sl:"),
                              ("script_route", "no_such_route")], "", True,
     None),
    ("root", [("statistics", "sl:"), ("root", "prom")], "", False,
     [("GET", "/prom"), ("GET", "/metrics"), ("GET", "/prom/sub")]),
    ("methods", [("statistics", "sl:")], "", False,
     [("POST", "/metrics"), ("HEAD", "/metrics"), ("GET", "/metrics?x=1"),
      ("GET", "/metrics/")]),
]


def promtool_check(body):
    tool = shutil.which("promtool")
    if not tool:
        return None
    p = subprocess.run([tool, "check", "metrics"], input=body.encode(),
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       timeout=30)
    return "$ promtool check metrics < body\nexit=%d\n%s" % (
        p.returncode, p.stdout.decode("utf-8", "replace"))


def http_body(raw):
    return raw.split("\r\n\r\n", 1)[1] if "\r\n\r\n" in raw else ""


def error_lines(stderr, rundir=None):
    if rundir:
        stderr = stderr.replace(rundir, "@RUN_DIR@")
    keep = []
    for l in stderr.splitlines():
        if re.search(r"(ERROR|CRITICAL|WARNING|ALERT)", l) and "timer_ticker" not in l:
            keep.append(re.sub(r"^\w{3} +\d+ [\d:]+ \[\d+\] ", "", l))
    return keep


def capture_prometheus(refdir, outdir):
    summary = []
    for name, params, route, expect_fail, paths in VARIANTS:
        snippet_lines = [mp(k, v) for k, v in params]
        snippet = "\n".join(snippet_lines)
        srv = Server(refdir, prom_params=snippet, extra_route=route,
                     label="prom-" + name)
        out_txt = os.path.join(outdir, "prometheus-%s.txt" % name)
        with open(os.path.join(outdir, "prometheus-%s.cfg-snippet" % name),
                  "w") as f:
            f.write("# prometheus modparams for variant '%s'\n" % name)
            f.write("# (inserted at @PROM_PARAMS@ in stats-ref.cfg)\n")
            f.write(snippet + "\n")
            if route:
                f.write("# extra route appended to the cfg:\n" + route)
        try:
            rc = srv.start(expect_fail=expect_fail)
            if expect_fail:
                srv.stop()
                err = srv.stderr()
                with open(out_txt, "w") as f:
                    f.write("# startup expected to fail; exit status: %s\n"
                            % rc)
                    f.write("# ERROR/WARNING lines from stderr (timestamp "
                            "and pid stripped):\n")
                    for l in error_lines(err, srv.rundir):
                        f.write(l + "\n")
                summary.append((name, "startup exit %s" % rc))
                continue
            # some traffic so sl counters are non-zero
            sip = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            sip.bind(("127.0.0.1", 0))
            sip.settimeout(3)
            lport = sip.getsockname()[1]
            for n in range(1, 8):
                sip.sendto(sip_options(lport, srv.sip_port, n).encode(),
                           ("127.0.0.1", srv.sip_port))
                sip.recv(65535)
            sip.close()
            time.sleep(0.3)
            reqs = paths or [("GET", "/metrics")]
            blobs = []
            for method, path in reqs:
                rq, rs = srv.http_raw(method, path)
                blobs.append((method, path, rq, rs, srv.last_http_closed))
            with open(out_txt, "w") as f:
                if len(blobs) == 1:
                    f.write(blobs[0][3])
                else:
                    f.write("# several raw HTTP exchanges; each response is "
                            "framed by '=== METHOD PATH ===' and an end line "
                            "(the newline before the end line is framing)\n")
                    for method, path, rq, rs, closed in blobs:
                        f.write("=== %s %s ===\n" % (method, path))
                        f.write(rs)
                        f.write("\n=== end (%s) ===\n" % (
                            "server closed the connection" if closed else
                            "no more data for 5 s, client gave up; server "
                            "left the connection open"))
            # startup warnings/errors (unknown groups etc.)
            errs = error_lines(srv.stderr(), srv.rundir)
            infos = [re.sub(r"^\w{3} +\d+ [\d:]+ \[\d+\] ", "", l)
                     for l in srv.stderr().splitlines() if "prometheus" in l]
            with open(os.path.join(outdir, "prometheus-%s.stderr.txt" % name),
                      "w") as f:
                f.write("# stderr lines mentioning prometheus, plus all "
                        "ERROR/WARNING lines (timestamp/pid stripped)\n")
                for l in infos:
                    f.write(l + "\n")
                for l in errs:
                    if l not in infos:
                        f.write(l + "\n")
            pt = None
            if blobs[0][3].startswith("HTTP/1.1 200"):
                pt = promtool_check(http_body(blobs[0][3]))
            if pt is not None:
                with open(os.path.join(outdir, "prometheus-%s.promtool.txt"
                                       % name), "w") as f:
                    f.write(pt)
            summary.append((name, blobs[0][3].split("\r\n", 1)[0]))
        finally:
            srv.stop()
            srv.cleanup()
    return summary


def stats_table(lines, after7):
    """Markdown table group/name/type/value-after-7-OPTIONS."""
    lst = None
    for l in lines:
        if l["case"] == "list/no-params":
            lst = json.loads(l["reply"])["result"]
    rows = ["| group | name | type (statistics:list) | value after 7 OPTIONS |",
            "|---|---|---|---|"]
    for k, t in lst.items():
        grp, nm = k.split(":", 1)
        rows.append("| %s | %s | %s | %s |" % (grp, nm, t, after7.get(k, "")))
    return "\n".join(rows) + "\n"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("refdir", help="reference install prefix, e.g. /opt/opensips-ref")
    ap.add_argument("--out", default=HERE)
    ap.add_argument("--only", choices=["mi", "prom"], default=None)
    a = ap.parse_args()
    os.makedirs(a.out, exist_ok=True)
    binary = os.path.join(a.refdir, "sbin", "opensips")
    ver = subprocess.run([binary, "-V"], stdout=subprocess.PIPE,
                         stderr=subprocess.STDOUT).stdout.decode()
    with open(os.path.join(a.out, "reference-version.txt"), "w") as f:
        f.write("# captured %s\n" % datetime.datetime.now(
            datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"))
        f.write(ver)
    if a.only in (None, "mi"):
        extra, lines = capture_statistics(a.refdir, a.out)
        with open(os.path.join(a.out, "stats-table.md"), "w") as f:
            f.write(stats_table(lines, extra["after7"]))
        print("statistics.jsonl: %d cases" % len(lines))
    if a.only in (None, "prom"):
        for name, st in capture_prometheus(a.refdir, a.out):
            print("prometheus-%s: %s" % (name, st))


if __name__ == "__main__":
    main()
