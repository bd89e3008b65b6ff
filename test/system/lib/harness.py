"""System-test harness for opensips-shim (Python 3 standard library only).

Starts the real binary with a cfg rendered into a temporary run directory,
picks free loopback ports, talks MI (datagram, fifo) and SIP (UDP), and
compares replies against reference records with the volatile fields of
decisions.md §21 matched by type/format.
"""

import atexit
import importlib.machinery
import importlib.util
import json
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
SYSTEM_DIR = os.path.dirname(HERE)
ROOT = os.path.abspath(os.path.join(SYSTEM_DIR, "..", ".."))
BUILD = os.environ.get("BUILD", "build")
BUILD_DIR = BUILD if os.path.isabs(BUILD) else os.path.join(ROOT, BUILD)
BIN = os.path.join(BUILD_DIR, "opensips-shim")
TESTMOD = os.path.join(BUILD_DIR, "test-modules", "testmod.so")
CFG_DIR = os.path.join(ROOT, "test", "cfg")
EXAMPLE_CFG = os.path.join(ROOT, "examples", "opensips.cfg")
TOOL = os.path.join(ROOT, "tools", "opensips-mi")
REFERENCE = os.environ.get(
    "SHIM_REFERENCE",
    os.path.abspath(os.path.join(ROOT, "..", "shared", "reference")))
# sanitizer builds are slower to start
SLOW = 3.0 if "san" in os.path.basename(BUILD_DIR) else 1.0

_running = []


def load_tool():
    """Imports tools/opensips-mi (no .py suffix) as a module."""
    loader = importlib.machinery.SourceFileLoader("opensips_mi", TOOL)
    spec = importlib.util.spec_from_loader("opensips_mi", loader)
    mod = importlib.util.module_from_spec(spec)
    loader.exec_module(mod)
    return mod


mitool = load_tool()


class TestFailure(AssertionError):
    pass


class Skip(Exception):
    pass


def check(cond, msg):
    if not cond:
        raise TestFailure(msg)


_handed_out = set()


def _ephemeral_low():
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
            return int(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


def _bindable(port, kinds):
    for kind in kinds:
        s = socket.socket(socket.AF_INET, kind)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
        finally:
            s.close()
    return True


def _pick_port(kinds):
    """A loopback port below the kernel's ephemeral range, bindable now for
    every socket kind in `kinds` and not handed out before in this run.
    Below that range no connect() or bind-to-0 of any process (clients,
    brokers, the host's own event sockets) can take it between the pick
    and the host's bind, which a port read back from bind-to-0 allowed
    (seen in CI: a host's tcp listener refused with EADDRINUSE)."""
    import random
    top = max(10001, min(_ephemeral_low(), 65536))
    for _ in range(500):
        port = random.randrange(10000, top)
        if port in _handed_out or not _bindable(port, kinds):
            continue
        _handed_out.add(port)
        return port
    raise OSError("no loopback port free below %d" % top)


def free_port(kind=socket.SOCK_DGRAM):
    """A free loopback port for a listener of `kind` (UDP by default).
    Host() takes its SIP port from free_port_both(): its cfgs may listen on
    udp: and tcp: at that one port."""
    return _pick_port((kind,))


def free_port_both():
    """A loopback port free for UDP and TCP at once (cfgs that listen on
    udp: and tcp: with the same port, as the reference does)."""
    return _pick_port((socket.SOCK_DGRAM, socket.SOCK_STREAM))


def unused_port():
    """A free UDP loopback port nothing will listen on, for "nobody listens
    here" tests; it is never handed out again in this run, and no client
    socket is given it by the kernel (it lies below the ephemeral range)."""
    return _pick_port((socket.SOCK_DGRAM,))


def read_jsonl(name):
    path = os.path.join(REFERENCE, name)
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


# ------------------------------------------------------------------ host

class Host:
    """One opensips-shim process with its own run directory."""

    def __init__(self, cfg, subs=None, name="host", extra_args=None,
                 mi_port=None, sip_port=None):
        self.run_dir = tempfile.mkdtemp(prefix="shim-%s-" % name[:12])
        self.sip_port = sip_port or free_port_both()
        self.mi_port = mi_port or free_port()
        self.fifo = os.path.join(self.run_dir, "opensips_fifo")
        self.subs = {
            "@SIP_PORT@": str(self.sip_port),
            "@MI_PORT@": str(self.mi_port),
            "@RUN_DIR@": self.run_dir,
            "@TESTMOD@": TESTMOD,
            "@EXTRA_GLOBALS@": "",
            "@EXTRA_MODULES@": "",
        }
        if subs:
            self.subs.update(subs)
        if os.path.exists(cfg):
            with open(cfg, encoding="utf-8") as f:
                text = f.read()
        else:
            text = cfg
        for k, v in self.subs.items():
            text = text.replace(k, v)
        self.cfg_text = text
        self.cfg = os.path.join(self.run_dir, "opensips.cfg")
        with open(self.cfg, "w", encoding="utf-8") as f:
            f.write(text)
        self.extra_args = extra_args or []
        self.proc = None
        self.out = None
        self.err_path = os.path.join(self.run_dir, "stderr.log")
        self.argv = None

    # -- process
    def start(self, ready_timeout=10.0):
        check(os.path.exists(BIN), "binary %s not built" % BIN)
        self.argv = [BIN, "-F", "-f", self.cfg, "-m", "64", "-M", "8",
                     "-w", self.run_dir] + self.extra_args
        self.out = open(self.err_path, "wb")
        self.proc = subprocess.Popen(self.argv, stdout=self.out,
                                     stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL,
                                     cwd=self.run_dir)
        _running.append(self)
        deadline = time.monotonic() + ready_timeout * SLOW
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise TestFailure("host exited with %s during startup:\n%s"
                                  % (self.proc.returncode, self.log_tail()))
            r = self.dgram('{"jsonrpc":"2.0","method":"version","id":0}',
                           timeout=0.2)
            if r is not None:
                break
        else:
            raise TestFailure("host not answering MI datagram on %d after "
                              "%.0fs:\n%s" % (self.mi_port, ready_timeout,
                                              self.log_tail()))
        # wait until core is running (SIP workers up)
        while time.monotonic() < deadline:
            r = self.dgram('{"jsonrpc":"2.0","method":"status_report:get",'
                           '"params":["core"],"id":0}', timeout=0.3)
            try:
                if json.loads(r)["result"]["Status"] == 1:
                    break
            except Exception:
                pass
            time.sleep(0.05)
        return self

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def stop(self, sig=signal.SIGTERM, timeout=5.0):
        """Signals the host and waits; returns the exit code (None if it had
        to be killed)."""
        if self.proc is None:
            return None
        rc = self.proc.poll()
        if rc is None:
            try:
                self.proc.send_signal(sig)
            except ProcessLookupError:
                pass
            try:
                rc = self.proc.wait(timeout * SLOW)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
                rc = None
        if self in _running:
            _running.remove(self)
        if self.out:
            self.out.close()
            self.out = None
        return rc

    def wait_exit(self, timeout=5.0):
        try:
            return self.proc.wait(timeout * SLOW)
        except subprocess.TimeoutExpired:
            return None

    def log(self):
        try:
            with open(self.err_path, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except OSError:
            return ""

    def log_tail(self, n=30):
        return "\n".join(self.log().splitlines()[-n:])

    def cleanup(self):
        self.stop()
        if os.environ.get("KEEP_TEST_DIRS"):
            return
        shutil.rmtree(self.run_dir, ignore_errors=True)

    def __enter__(self):
        try:
            return self.start()
        except BaseException:
            self.cleanup()
            raise

    def __exit__(self, *a):
        self.cleanup()

    # -- MI
    def dgram(self, text, timeout=2.0):
        return mitool.datagram_exchange(("127.0.0.1", self.mi_port), text,
                                        timeout)

    def fifo_req(self, text, timeout=2.0, reply_name=None):
        return mitool.fifo_exchange(self.fifo, self.run_dir, text, timeout,
                                    reply_name=reply_name)

    def mi(self, text, transport="datagram", timeout=2.0):
        if transport in ("datagram", "mi_datagram", "d"):
            return self.dgram(text, timeout)
        return self.fifo_req(text, timeout)

    def call(self, method, params=None, transport="datagram"):
        """Returns the parsed reply object (dict)."""
        req = {"jsonrpc": "2.0", "method": method, "id": 1}
        if params is not None:
            req["params"] = params
        r = self.mi(json.dumps(req, separators=(",", ":")), transport)
        check(r is not None, "no reply to %s" % method)
        try:
            return json.loads(r)
        except ValueError:
            raise TestFailure("reply to %s is not JSON: %r" % (method, r))

    def result(self, method, params=None, transport="datagram"):
        j = self.call(method, params, transport)
        check("result" in j, "%s%s -> %s" % (method, json.dumps(params), j))
        return j["result"]

    def client(self, transport):
        return mitool.MIClient(transport, fifo=self.fifo,
                               reply_dir=self.run_dir,
                               addr=("127.0.0.1", self.mi_port))

    # -- SIP
    def sip(self, data, timeout=2.0, sock=None):
        return sip_exchange(("127.0.0.1", self.sip_port), data, timeout, sock)


@atexit.register
def _kill_leftovers():
    for h in list(_running):
        try:
            h.stop(signal.SIGKILL, 2)
        except Exception:
            pass


def run_check_cfg(cfg_path, timeout=10.0):
    """`opensips-shim -c -f cfg`: returns (rc, stderr+stdout)."""
    check(os.path.exists(BIN), "binary %s not built" % BIN)
    p = subprocess.run([BIN, "-c", "-f", cfg_path], capture_output=True,
                       timeout=timeout * SLOW, stdin=subprocess.DEVNULL)
    return p.returncode, (p.stderr + p.stdout).decode("utf-8", "replace")


# ------------------------------------------------------------------ SIP

def new_call_id():
    return "shim-%d-%.6f" % (os.getpid(), time.time() + random.random())


def sip_options(user, port, local_port, call_id=None, branch=None,
                extra_via=None, to_tag=None, method="OPTIONS", cseq=1,
                omit=(), extra_headers=()):
    """The reference trigger (mitools.sip_options): OPTIONS to
    sip:<user>@127.0.0.1:<port> with Via, Max-Forwards, To, From (tag),
    Call-ID, CSeq and Content-Length 0."""
    call_id = call_id or new_call_id()
    branch = branch or "z9hG4bK-%s-1" % call_id
    hdrs = []
    hdrs.append(("Via", "SIP/2.0/UDP 127.0.0.1:%d;branch=%s"
                 % (local_port, branch)))
    if extra_via:
        hdrs.append(("Via", extra_via))
    hdrs.append(("Max-Forwards", "70"))
    # To before From: the reference replies list To first, and OpenSIPS
    # copies the headers in request order.
    to = "<sip:%s@127.0.0.1>" % user
    if to_tag:
        to += ";tag=" + to_tag
    hdrs.append(("To", to))
    hdrs.append(("From", "<sip:ref@127.0.0.1>;tag=reftag1"))
    hdrs.append(("Call-ID", call_id))
    hdrs.append(("CSeq", "%d %s" % (cseq, method)))
    hdrs.extend(extra_headers)
    hdrs.append(("Content-Length", "0"))
    lines = ["%s sip:%s@127.0.0.1:%d SIP/2.0" % (method, user, port)]
    for k, v in hdrs:
        if k not in omit:
            lines.append("%s: %s" % (k, v))
    return ("\r\n".join(lines) + "\r\n\r\n").encode(), call_id, branch


def sip_socket():
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))
    return s


def sip_exchange(addr, data, timeout=2.0, sock=None):
    own = sock is None
    s = sock or sip_socket()
    try:
        s.sendto(data, addr)
        s.settimeout(timeout)
        try:
            return s.recv(65535).decode("utf-8", "replace")
        except socket.timeout:
            return None
    finally:
        if own:
            s.close()


def send_options(host, user, **kw):
    """Sends an OPTIONS from a fresh socket. Returns (reply, info)."""
    s = sip_socket()
    try:
        lport = s.getsockname()[1]
        data, cid, branch = sip_options(user, host.sip_port, lport, **kw)
        rep = host.sip(data, sock=s)
        return rep, {"port": lport, "call_id": cid, "branch": branch,
                     "request": data.decode()}
    finally:
        s.close()


def parse_sip_reply(text):
    """-> (status_code, reason, [(name, value)...], body)."""
    head, _, body = text.partition("\r\n\r\n")
    lines = head.split("\r\n")
    m = re.match(r"SIP/2\.0 (\d{3}) (.*)$", lines[0])
    check(m is not None, "bad status line %r" % lines[0])
    hdrs = []
    for ln in lines[1:]:
        k, _, v = ln.partition(":")
        hdrs.append((k.strip(), v.strip()))
    return int(m.group(1)), m.group(2), hdrs, body


# ------------------------------------------------------------ comparing

CTIME_RE = r"(Mon|Tue|Wed|Thu|Fri|Sat|Sun) (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) [ 123]\d \d\d:\d\d:\d\d \d{4}"
JSTR = r'"(?:[^"\\]|\\.)*"'
# decisions.md §21: compared by type (and format where one is documented)
VOLATILE = {
    "Timestamp": r"\d+",
    "Date": '"' + CTIME_RE + '"',
    "Now": '"' + CTIME_RE + '"',
    "Up since": '"' + CTIME_RE + '"',
    "Up time": r'"\d+ \[sec\]"',
    "PID": r"\d+",
    "pid": r"\d+",
    "Server": JSTR,
}
# key -> (pattern for a string value, pattern for an int value); None keeps
# the expected value literally (e.g. "ttl":"expired" must stay "expired")
TYPED = {"ttl": (None, r"\d+")}


def volatile_pattern(expected, extra=None):
    """A regex that matches `expected` byte for byte except the volatile
    fields' values, which match by type/format. `extra` adds keys
    (name -> (string pattern|None, int pattern|None))."""
    table = {k: (v, v) for k, v in VOLATILE.items()}
    table.update(TYPED)
    if extra:
        table.update(extra)
    rx = re.compile(r'"(%s)":(%s|-?\d+)' % (
        "|".join(re.escape(k) for k in table), JSTR))
    out, pos = [], 0
    for m in rx.finditer(expected):
        s_pat, i_pat = table[m.group(1)]
        pat = s_pat if m.group(2).startswith('"') else i_pat
        out.append(re.escape(expected[pos:m.start()]))
        if pat is None:
            out.append(re.escape(m.group(0)))
        else:
            out.append('"%s":%s' % (re.escape(m.group(1)), pat))
        pos = m.end()
    out.append(re.escape(expected[pos:]))
    return "".join(out)


def match_reply(expected, actual, extra=None):
    """Byte comparison with volatile fields by type. None means "no reply"
    ('' from a FIFO that was closed without data counts as none)."""
    if actual == "":
        actual = None
    if expected is None or actual is None:
        return expected == actual
    return re.fullmatch(volatile_pattern(expected, extra), actual) is not None


def diff_msg(request, expected, actual):
    return ("\n      request : %s\n      expected: %s\n      actual  : %s"
            % (request, expected, actual))


def check_report_dates(actual):
    """Date must be ctime(Timestamp) (spec §1.7)."""
    try:
        j = json.loads(actual)
    except (TypeError, ValueError):
        return
    bad = []

    def walk(o):
        if isinstance(o, dict):
            if "Timestamp" in o and "Date" in o:
                if time.ctime(o["Timestamp"]) != o["Date"]:
                    bad.append((o["Timestamp"], o["Date"],
                                time.ctime(o["Timestamp"])))
            for v in o.values():
                walk(v)
        elif isinstance(o, list):
            for v in o:
                walk(v)
    walk(j)
    check(not bad, "Date is not ctime(Timestamp): %s" % bad)


class PrometheusServer:
    """A real Prometheus server (Debian's `prometheus`) as a child process on
    a free loopback port, with a temp config and data dir, scraping every
    second. `scrape_job` is the YAML of one scrape_configs entry (indented
    for the list, as "  - job_name: ..."). Use as a context manager."""

    def __init__(self, scrape_job):
        import shutil as _sh
        import tempfile as _tf
        self.bin = _sh.which("prometheus")
        check(self.bin is not None, "prometheus is not installed (tools/install-deps.sh)")
        self.dir = _tf.mkdtemp(prefix="shim-prom-")
        self.port = free_port(socket.SOCK_STREAM)
        self.cfg = os.path.join(self.dir, "prometheus.yml")
        with open(self.cfg, "w") as f:
            f.write("global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n"
                    "scrape_configs:\n" + scrape_job)
        self.log_path = os.path.join(self.dir, "prometheus.log")
        self.proc = None

    def __enter__(self):
        self.log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(
            [self.bin, "--config.file=" + self.cfg,
             "--storage.tsdb.path=" + os.path.join(self.dir, "data"),
             "--web.listen-address=127.0.0.1:%d" % self.port],
            stdout=self.log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            cwd=self.dir)
        return self

    def query(self, q):
        """Instant query through the HTTP API: the result list."""
        import urllib.request
        url = ("http://127.0.0.1:%d/api/v1/query?query=%s"
               % (self.port, urllib.request.quote(q)))
        with urllib.request.urlopen(url, timeout=2) as r:
            return json.load(r)["data"]["result"]

    def wait_for(self, q, pred=lambda res: bool(res), timeout=30.0):
        """Polls `q` until pred(result) holds; the last result, or a
        failure with the targets' state and the server's log tail."""
        import urllib.request
        deadline = time.monotonic() + timeout
        res = None
        while time.monotonic() < deadline:
            time.sleep(0.5)
            check(self.proc.poll() is None, "prometheus exited: %s"
                  % open(self.log_path, errors="replace").read()[-800:])
            try:
                res = self.query(q)
            except OSError:
                continue
            if pred(res):
                return res
        try:
            with urllib.request.urlopen("http://127.0.0.1:%d/api/v1/targets" % self.port,
                                        timeout=2) as r:
                tg = json.dumps(json.load(r))[:800]
        except OSError as e:
            tg = repr(e)
        raise TestFailure("prometheus: %s never as expected (last %s); targets: %s"
                          % (q, res, tg))

    def __exit__(self, *a):
        import shutil as _sh
        if self.proc:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
            self.log.close()
        _sh.rmtree(self.dir, ignore_errors=True)
