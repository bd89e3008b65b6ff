"""System tests: httpd (libmicrohttpd) with the HTTP clients operators run.

curl (HTTP/1.0 with and without keep-alive, HTTP/1.1, chunked bodies,
Expect: 100-continue, TLS with the right and a wrong CA), ab and ab -k, wrk,
Python's http.client, a real Prometheus server scraping /metrics over TLS
with basic auth, TLS refusals at startup (missing, unreadable, mismatched
files, a bad priority string) with file:line, a plain-HTTP request and a
garbage handshake on the TLS port, and 10,000 idle connections that must
not keep MI, SIP or /readyz from answering.
"""

import base64
import http.client
import json
import os
import re
import resource
import shutil
import socket
import ssl
import subprocess
import tempfile
import time

import harness as H
from harness import check

from suite_http import HttpHost, alive_check, connect, get

MI_VERSION = '{"jsonrpc":"2.0","method":"version","id":1}'


def sip_code(h, user):
    rep, _ = H.send_options(h, user)
    return H.parse_sip_reply(rep)[0] if rep else None


def tool(name):
    path = shutil.which(name)
    check(path is not None, "%s is not installed (tools/install-deps.sh)" % name)
    return path


def run_tool(argv, timeout=30, input_bytes=None):
    p = subprocess.run(argv, capture_output=True, timeout=timeout,
                       input=input_bytes, stdin=None if input_bytes else
                       subprocess.DEVNULL)
    return p.returncode, p.stdout.decode(errors="replace"), \
        p.stderr.decode(errors="replace")


# ------------------------------------------------------------ certificates

class Certs:
    """A CA, a server certificate for 127.0.0.1 signed by it, a second CA
    that signed nothing we serve, and a key that matches no certificate."""

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="shim-certs-")
        openssl = tool("openssl")
        d = self.dir

        def sh(*argv):
            rc, out, err = run_tool([openssl] + list(argv))
            check(rc == 0, "openssl %s: %s" % (argv[0], err))

        for ca in ("ca", "otherca"):
            sh("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
               "-subj", "/CN=shim test %s" % ca, "-keyout", "%s/%s.key" % (d, ca),
               "-out", "%s/%s.pem" % (d, ca))
        sh("req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=127.0.0.1",
           "-keyout", d + "/server.key", "-out", d + "/server.csr")
        with open(d + "/ext.cnf", "w") as f:
            f.write("subjectAltName=IP:127.0.0.1,DNS:localhost\n"
                    "extendedKeyUsage=serverAuth\n")
        sh("x509", "-req", "-in", d + "/server.csr", "-CA", d + "/ca.pem",
           "-CAkey", d + "/ca.key", "-CAcreateserial", "-days", "2",
           "-extfile", d + "/ext.cnf", "-out", d + "/server.pem")
        sh("genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048",
           "-out", d + "/stray.key")
        self.ca = d + "/ca.pem"
        self.other_ca = d + "/otherca.pem"
        self.cert = d + "/server.pem"
        self.key = d + "/server.key"
        self.stray_key = d + "/stray.key"

    def params(self, cert=None, key=None, extra=""):
        return ('modparam("httpd", "tls_cert_file", "%s")\n'
                'modparam("httpd", "tls_key_file", "%s")\n%s'
                % (cert or self.cert, key or self.key, extra))

    def cleanup(self):
        shutil.rmtree(self.dir, ignore_errors=True)


_certs = None


def certs():
    global _certs
    if _certs is None:
        _certs = Certs()
    return _certs


def tls_context(ca):
    ctx = ssl.create_default_context(cafile=ca)
    return ctx


# ------------------------------------------------------------ plain clients

def curl(h, *args, scheme="http", path="/mi"):
    url = "%s://127.0.0.1:%d%s" % (scheme, h.http_port, path)
    return run_tool([tool("curl"), "-sS", "-i", "--max-time", "5"] + list(args)
                    + [url])


def split_http(out):
    """curl -i output -> [(status, headers dict, body)], 1xx included."""
    res = []
    rest = out
    while rest.startswith("HTTP/"):
        head, _, rest = rest.partition("\r\n\r\n")
        lines = head.split("\r\n")
        status = int(lines[0].split()[1])
        hdrs = {}
        for ln in lines[1:]:
            k, _, v = ln.partition(":")
            hdrs[k.strip().lower()] = v.strip()
        res.append((status, hdrs, ""))
    if res:
        st, hd, _ = res[-1]
        res[-1] = (st, hd, rest)
    return res


def test_curl(runner):
    name = "httpc.curl: HTTP/1.0, 1.0 keep-alive, 1.1, chunked, 100-continue"
    if not runner.wanted(name):
        return

    def body():
        with HttpHost("curl") as h:
            post = ["-H", "Content-Type: application/json", "-d", MI_VERSION]
            rc, out, err = curl(h, "--http1.0", *post)
            rs = split_http(out)
            check(rc == 0 and rs and rs[-1][0] == 200 and '"Server"' in rs[-1][2],
                  "HTTP/1.0: %s %s" % (out, err))
            check(rs[-1][1].get("connection", "").lower() == "close",
                  "HTTP/1.0 without keep-alive is closed: %s" % out)
            # HTTP/1.0 keep-alive: the reply says so and the connection stays
            rc, out, err = curl(h, "--http1.0", "-H", "Connection: Keep-Alive",
                                *post, "-v")
            rs = split_http(out)
            check(rc == 0 and rs[-1][0] == 200 and rs[-1][1].get(
                "connection", "").lower() == "keep-alive",
                "HTTP/1.0 keep-alive: %s" % out)
            rc, out, err = curl(h, "--http1.1", *post)
            rs = split_http(out)
            check(rc == 0 and rs[-1][0] == 200, "HTTP/1.1: %s %s" % (out, err))
            # a streamed (chunked) body, as Go and Python clients send
            rc, out, err = curl(h, "-H", "Transfer-Encoding: chunked", *post)
            rs = split_http(out)
            check(rc == 0 and rs[-1][0] == 200 and '"Server"' in rs[-1][2],
                  "chunked: %s %s" % (out, err))
            # Expect: 100-continue: the interim reply, then the answer
            big = json.dumps({"jsonrpc": "2.0", "method": "version",
                              "params": {"pad": "x" * 4000}, "id": 2})
            rc, out, err = curl(h, "-H", "Expect: 100-continue", "-H",
                                "Content-Type: application/json",
                                "--expect100-timeout", "3", "-d", big)
            rs = split_http(out)
            check(rc == 0 and [r[0] for r in rs][:1] == [100] and rs[-1][0] == 200,
                  "100-continue: %s %s" % (out, err))
            # two requests on one connection (curl reuses it)
            rc, out, err = run_tool([tool("curl"), "-sS", "-v", "--max-time", "5",
                                     "http://127.0.0.1:%d/livez" % h.http_port,
                                     "http://127.0.0.1:%d/readyz" % h.http_port])
            check(rc == 0 and "Re-using existing connection" in err,
                  "curl did not reuse the connection: %s" % err[-600:])
            alive_check(h)
    runner.run(name, body)


def parse_ab(out):
    m = {}
    for key, pat in (("complete", r"Complete requests:\s+(\d+)"),
                     ("failed", r"Failed requests:\s+(\d+)"),
                     ("non2xx", r"Non-2xx responses:\s+(\d+)"),
                     ("keepalive", r"Keep-Alive requests:\s+(\d+)")):
        mm = re.search(pat, out)
        m[key] = int(mm.group(1)) if mm else 0
    return m


def test_ab(runner):
    name = "httpc.ab and ab -k (HTTP/1.0 keep-alive) complete"
    if not runner.wanted(name):
        return

    def body():
        with HttpHost("ab") as h:
            ab = tool("ab")
            d = tempfile.mkdtemp(prefix="shim-ab-")
            try:
                pf = os.path.join(d, "body.json")
                with open(pf, "w") as f:
                    f.write(MI_VERSION)
                url = "http://127.0.0.1:%d/mi" % h.http_port
                for extra in ([], ["-k"]):
                    rc, out, err = run_tool([ab, "-q", "-n", "400", "-c", "4",
                                             "-s", "5", "-p", pf, "-T",
                                             "application/json"] + extra + [url],
                                            timeout=30)
                    m = parse_ab(out)
                    check(rc == 0 and m["complete"] == 400 and m["failed"] == 0
                          and m["non2xx"] == 0,
                          "ab %s: rc %d %s %s" % (extra, rc, m, err[-300:]))
                    if extra:
                        check(m["keepalive"] == 400, "ab -k: %s" % m)
                # GET probes with ab -k too
                rc, out, err = run_tool([ab, "-q", "-k", "-n", "300", "-c", "3",
                                         "-s", "5", "http://127.0.0.1:%d/readyz"
                                         % h.http_port], timeout=30)
                m = parse_ab(out)
                check(rc == 0 and m["complete"] == 300 and m["failed"] == 0 and
                      m["keepalive"] == 300, "ab -k /readyz: %s %s" % (m, err))
            finally:
                shutil.rmtree(d, ignore_errors=True)
            alive_check(h)
    runner.run(name, body)


def test_wrk(runner):
    name = "httpc.wrk keep-alive MI requests without errors"
    if not runner.wanted(name):
        return

    def body():
        with HttpHost("wrk") as h:
            d = tempfile.mkdtemp(prefix="shim-wrk-")
            try:
                lua = os.path.join(d, "post.lua")
                with open(lua, "w") as f:
                    f.write('wrk.method = "POST"\nwrk.body = \'%s\'\n'
                            'wrk.headers["Content-Type"] = "application/json"\n'
                            % MI_VERSION)
                rc, out, err = run_tool([tool("wrk"), "-t1", "-c8", "-d1s",
                                         "-s", lua, "http://127.0.0.1:%d/mi"
                                         % h.http_port], timeout=20)
                m = re.search(r"(\d+) requests in", out)
                check(rc == 0 and m and int(m.group(1)) > 100,
                      "wrk: %s %s" % (out, err))
                check("Non-2xx" not in out and "Socket errors" not in out,
                      "wrk errors: %s" % out)
            finally:
                shutil.rmtree(d, ignore_errors=True)
            alive_check(h)
    runner.run(name, body)


def test_python_client(runner):
    name = "httpc.Python http.client: keep-alive, chunked, HEAD"
    if not runner.wanted(name):
        return

    def body():
        with HttpHost("pyhttp") as h:
            c = http.client.HTTPConnection("127.0.0.1", h.http_port, timeout=3)
            for i in range(5):
                c.request("POST", "/mi", body=MI_VERSION,
                          headers={"Content-Type": "application/json"})
                r = c.getresponse()
                data = r.read().decode()
                check(r.status == 200 and '"Server"' in data, (r.status, data))
            # a generator body goes out chunked
            c.request("POST", "/mi", body=iter([MI_VERSION[:10].encode(),
                                                MI_VERSION[10:].encode()]),
                      headers={"Content-Type": "application/json"},
                      encode_chunked=True)
            r = c.getresponse()
            data = r.read().decode()
            check(r.status == 200 and '"Server"' in data, (r.status, data))
            c.request("HEAD", "/readyz")
            r = c.getresponse()
            check(r.status == 200 and r.read() == b"" and
                  int(r.getheader("Content-Length")) > 0, r.getheaders())
            c.request("GET", "/readyz?verbose")
            r = c.getresponse()
            check(r.status == 200 and r.read().decode().endswith(
                "readyz check passed\n"), r.status)
            c.close()
    runner.run(name, body)


# ------------------------------------------------------------ TLS

def tls_get(h, path, ca, timeout=3):
    ctx = tls_context(ca)
    c = http.client.HTTPSConnection("127.0.0.1", h.http_port, timeout=timeout,
                                    context=ctx)
    try:
        c.request("GET", path)
        r = c.getresponse()
        return r.status, r.read().decode()
    finally:
        c.close()


def test_tls(runner):
    name = "httpc.TLS: curl --cacert, wrong CA refused, nothing in clear"
    if not runner.wanted(name):
        return

    def body():
        ct = certs()
        with HttpHost("tls", httpd_params=ct.params()) as h:
            post = ["-H", "Content-Type: application/json", "-d", MI_VERSION]
            rc, out, err = curl(h, "--cacert", ct.ca, *post, scheme="https")
            rs = split_http(out)
            check(rc == 0 and rs and rs[-1][0] == 200 and '"Server"' in rs[-1][2],
                  "curl over TLS: %s %s" % (out, err))
            rc, out, err = curl(h, "--cacert", ct.ca, "--http1.0", "-H",
                                "Connection: Keep-Alive", *post, scheme="https")
            check(rc == 0 and "200 OK" in out, "TLS HTTP/1.0: %s" % err)
            rc, out, err = curl(h, "--cacert", ct.other_ca, *post, scheme="https")
            check(rc != 0 and out == "", "a wrong CA must fail: rc %d %s" % (rc, out))
            st, text = tls_get(h, "/readyz?verbose", ct.ca)
            check(st == 200 and text.endswith("readyz check passed\n"), text)
            # plain HTTP on the TLS port: never answered in clear
            s = connect(h.http_port)
            s.sendall(b"GET /livez HTTP/1.1\r\nHost: x\r\n\r\n")
            data = b""
            try:
                while True:
                    d = s.recv(4096)
                    if not d:
                        break
                    data += d
            except (ConnectionResetError, socket.timeout):
                pass
            s.close()
            check(b"HTTP/" not in data and b"ok" not in data,
                  "clear-text answer on the TLS port: %r" % data[:200])
            # garbage handshakes: random bytes, a truncated ClientHello, and
            # a connection that opens and says nothing
            idle = connect(h.http_port)
            for junk in (os.urandom(300), b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc"
                         + os.urandom(60), b"\x16\x03\x03\x00\x05\x01\x00"):
                s = connect(h.http_port, 0.5)
                s.sendall(junk)
                try:
                    s.recv(100)
                except (ConnectionResetError, socket.timeout):
                    pass
                s.close()
            st, text = tls_get(h, "/livez", ct.ca)
            check(st == 200 and text == "ok\n", (st, text))
            r = h.call("version")
            check("result" in r, "MI datagram after TLS garbage: %s" % r)
            code = sip_code(h, "tls-ok")
            check(code == 200, "SIP after TLS garbage: %s" % code)
            idle.close()
    runner.run(name, body)


def startup_error(cfg_params, want_re):
    h = HttpHost("tlsbad", httpd_params=cfg_params)
    try:
        h.argv = [H.BIN, "-F", "-f", h.cfg, "-m", "64", "-M", "8", "-w", h.run_dir]
        p = subprocess.run(h.argv, capture_output=True, timeout=10,
                           stdin=subprocess.DEVNULL, cwd=h.run_dir)
        out = (p.stdout + p.stderr).decode(errors="replace")
        check(p.returncode != 0, "host started with %s" % cfg_params)
        check(re.search(want_re, out), "expected /%s/ in:\n%s" % (want_re, out[-1500:]))
    finally:
        h.cleanup()


def cfg_line(h_params, needle):
    """The line number `needle` lands on in http.cfg with these params."""
    with open(os.path.join(H.CFG_DIR, "http.cfg")) as f:
        text = f.read().replace("@HTTPD_PARAMS@", h_params)
    for i, ln in enumerate(text.split("\n"), 1):
        if needle in ln:
            return i
    return -1


def test_tls_refusals(runner):
    cases = []

    def case(n):
        def deco(fn):
            cases.append(("httpc.TLS refused at startup: " + n, fn))
            return fn
        return deco

    @case("missing key file")
    def _():
        ct = certs()
        p = ct.params(key=ct.dir + "/nope.key")
        startup_error(p, r"opensips\.cfg:%d: tls_key_file '.*nope\.key' cannot "
                         r"be read: No such file" % cfg_line(p, "tls_key_file"))

    @case("unreadable cert (a directory)")
    def _():
        ct = certs()
        p = ct.params(cert=ct.dir)
        startup_error(p, r"opensips\.cfg:%d: tls_cert_file '.*' (cannot be read|"
                         r"is empty)" % cfg_line(p, "tls_cert_file"))

    @case("cert and key do not match")
    def _():
        ct = certs()
        p = ct.params(key=ct.stray_key)
        startup_error(p, r"opensips\.cfg:%d: certificate '.*server\.pem' with key "
                         r"'.*stray\.key': .*(match|Mismatch)" % cfg_line(p, "tls_key_file"))

    @case("only one of the two files")
    def _():
        ct = certs()
        p = 'modparam("httpd", "tls_cert_file", "%s")\n' % ct.cert
        startup_error(p, r"opensips\.cfg:%d: tls_cert_file is set but "
                         r"tls_key_file is not" % cfg_line(p, "tls_cert_file"))

    @case("bad tls_ciphers")
    def _():
        ct = certs()
        p = ct.params(extra='modparam("httpd", "tls_ciphers", "NORMAL:+BOGUS")\n')
        startup_error(p, r"opensips\.cfg:%d: tls_ciphers 'NORMAL:\+BOGUS' is not "
                         r"a GnuTLS priority string" % cfg_line(p, "tls_ciphers"))

    @case("port below 1024")
    def _():
        startup_error('modparam("httpd", "port", 80)\n', r"port 80: must be 1024")

    for n, fn in cases:
        if runner.wanted(n):
            runner.run(n, fn)


# ------------------------------------------------------------ Prometheus

def test_prometheus_tls(runner):
    name = "httpc.Prometheus scrapes /metrics over TLS with basic auth (up == 1)"
    if not runner.wanted(name):
        return

    def body():
        ct = certs()
        auth = ('modparam("httpd", "auth_username", "scraper")\n'
                'modparam("httpd", "auth_password", "pa55")\n')
        with HttpHost("promtls", httpd_params=ct.params(extra=auth),
                      extra_modules='loadmodule "prometheus.so"\n') as h:
            job = """  - job_name: shim
    scheme: https
    metrics_path: /metrics
    basic_auth:
      username: scraper
      password: pa55
    tls_config:
      ca_file: %s
    static_configs:
      - targets: ['127.0.0.1:%d']
""" % (ct.ca, h.http_port)
            with H.PrometheusServer(job) as prom:
                prom.wait_for("up", lambda r: r and r[0]["value"][1] == "1")
                # and it read our samples, not just a 200
                res = prom.wait_for("opensips_uptime_seconds")
                check(float(res[0]["value"][1]) >= 0, res)
            # the same scrape without credentials is refused
            ctx = tls_context(ct.ca)
            c = http.client.HTTPSConnection("127.0.0.1", h.http_port, timeout=3,
                                            context=ctx)
            c.request("GET", "/metrics")
            r = c.getresponse()
            check(r.status == 401, r.status)
            c.close()
            ok = "Basic " + base64.b64encode(b"scraper:pa55").decode()
            c = http.client.HTTPSConnection("127.0.0.1", h.http_port, timeout=3,
                                            context=ctx)
            c.request("GET", "/metrics", headers={"Authorization": ok})
            r = c.getresponse()
            check(r.status == 200 and b"opensips_uptime_seconds" in r.read(), r.status)
            c.close()
    runner.run(name, body)


# ------------------------------------------------------------ idle flood

def test_idle_flood(runner):
    name = "httpc.10,000 idle connections: MI, SIP and /readyz keep answering"
    if not runner.wanted(name):
        return

    def body():
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        want = 10000 + 200
        if soft < want:
            check(hard >= want, "RLIMIT_NOFILE hard limit %d < %d" % (hard, want))
            resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
        with HttpHost("idle") as h:
            socks = []
            try:
                for _ in range(10000):
                    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                    s.setblocking(False)
                    try:
                        s.connect(("127.0.0.1", h.http_port))
                    except BlockingIOError:
                        pass
                    socks.append(s)
                time.sleep(0.5)
                t0 = time.monotonic()
                r = get(h.http_port, "/readyz")
                check(r.status == 200, r)
                check(time.monotonic() - t0 < 2.0, "readyz took %.2fs" %
                      (time.monotonic() - t0))
                check("result" in h.call("version"), "MI datagram")
                code = sip_code(h, "idle-flood")
                check(code == 200, "SIP: %s" % code)
                for _ in range(20):
                    r = get(h.http_port, "/livez")
                    check(r.status == 200, r)
                st = h.result("status_report:get", ["core"])
                check(st["Status"] == 1, st)
            finally:
                for s in socks:
                    s.close()
            alive_check(h)
    runner.run(name, body)


def run(runner):
    if not os.path.exists(os.path.join(H.BUILD_DIR, "modules", "httpd.so")):
        runner.skip("httpc", "httpd.so not built")
        return
    try:
        test_curl(runner)
        test_ab(runner)
        test_wrk(runner)
        test_python_client(runner)
        test_tls(runner)
        test_tls_refusals(runner)
        test_prometheus_tls(runner)
        test_idle_flood(runner)
    finally:
        if _certs is not None:
            _certs.cleanup()
