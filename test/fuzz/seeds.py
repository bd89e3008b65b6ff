#!/usr/bin/env python3
"""Writes the seed corpora of test/fuzz/corpus/<target>/ (run from the
repository root: python3 test/fuzz/seeds.py). The seeds come from the
reference material (../shared/reference, when present), test/cfg and the
hand-written cases below; the files are committed, this script only
documents and regenerates them. Files another source put in a corpus
directory (minimized fuzzer finds, named min-*) are left alone."""
import hashlib
import json
import os
import re
import struct
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
REF = os.path.join(os.path.dirname(ROOT), "shared", "reference")
CORPUS = os.path.join(ROOT, "test", "fuzz", "corpus")


def put(target, name, data):
    if isinstance(data, str):
        data = data.encode()
    d = os.path.join(CORPUS, target)
    os.makedirs(d, exist_ok=True)
    safe = re.sub(r"[^A-Za-z0-9_.-]", "_", name)[:40]
    h = hashlib.sha1(data).hexdigest()[:8]
    with open(os.path.join(d, f"{safe}-{h}"), "wb") as f:
        f.write(data)


def jsonl(name):
    p = os.path.join(REF, name)
    if not os.path.exists(p):
        return []
    return [json.loads(line) for line in open(p, encoding="utf-8") if line.strip()]


# ---- cfg ----
def strip_cfg(text, modparams=True):
    out = []
    for line in text.splitlines():
        if re.search(r"loadmodule|mpath|auto_load_core_modules", line):
            continue
        if not modparams and line.lstrip().startswith("modparam"):
            continue
        out.append(line)
    return "\n".join(out) + "\n"


def cfg_seeds():
    srcs = [os.path.join(REF, "opensips.cfg"), os.path.join(REF, "opensips-autoscale.cfg")]
    cfgdir = os.path.join(ROOT, "test", "cfg")
    srcs += sorted(os.path.join(cfgdir, f) for f in os.listdir(cfgdir) if f.endswith(".cfg"))
    for p in srcs:
        if not os.path.exists(p):
            continue
        text = open(p, encoding="utf-8", errors="replace").read()
        base = os.path.basename(p)
        put("cfg", base, strip_cfg(text))
        put("cfg", base + "-nomodparam", strip_cfg(text, modparams=False))
    core = {
        "globals": 'log_level = 3\nxlog_level = -1\nstderror_enabled = no\n'
                   'socket = udp:127.0.0.1:5060 as 1.2.3.4:5060 tag x\n'
                   'socket = tcp:[::1]:5070-5080 reuse_port\n'
                   'udp_workers = 4 use_auto_scaling_profile P\n'
                   'auto_scaling_profile = P\n   scale up to 4 on 70% for 2 cycles within 3\n'
                   '   scale down to 1 on 10% for 2 cycles\n'
                   'server_header = "Server: x"\nlog_prefix = "p"\n'
                   'event_shm_threshold = 100\nshutdown_grace = 0x10\n',
        "routes": 'route {\n\t$var(i) = 0;\n\twhile ($var(i) < 3) { $var(i) = $var(i) + 1; }\n'
                  '\tif ($rU == "a" && !($si != "1") || $rm =~ "^OPT") { xlog("L_INFO", "x $ci $$ $var(i)\\n"); }\n'
                  '\telse if ($fu !~ "b") { route(sub, 1, "two", $var(i)); } else { drop; }\n'
                  '\treturn(-1);\n}\n'
                  'route[sub] {\n\t$avp(x) = $param(1);\n\t$avp(x) = $param(2) + "s";\n'
                  '\t$avp(x) = NULL;\n\treturn($param(3));\n}\n'
                  'route[0] { exit; }\n',
        "events": 'startup_route {\n\traise_event("E_A");\n\tsubscribe_event("E_A", "route:x", 10);\n}\n'
                  'timer_route[t1, 5] {\n\t$var(a) = "v";\n\traise_event("E_B", $avp(n), $avp(v));\n}\n'
                  'event_route[E_A] {\n\txlog("$param(1) $param(name)\\n");\n}\n'
                  'event_route[E_B, async] { exit; }\n'
                  'error_route { exit; }\n',
        "bad-failure": 'failure_route[1] { exit; }\n',
        "bad-unterminated": 'route {\n\tif ($var(x) == "a\n',
        "comments": '/* block\n comment */ log_level = 2 # tail\nroute { xlog(L_NOTICE, "a"); } /* x',
        "numbers": 'route { $var(a) = 010 + 0x1F - -3; if ($var(a) >= 2147483647) { return; } return(0); }\n',
        "modparam": 'modparam("sl|sr_.*", "p", 1)\nmodparam("(", "p", "s")\n',
        "route-params": 'route[r1] { route(r2, $param(1)); }\nroute[r2] { route(r1, 1); }\nroute { route(r1, "a"); }\n',
    }
    for k, v in core.items():
        put("cfg", k, v)


# ---- JSON-RPC / JSON ----
def requests():
    reqs = []
    for r in jsonl("transcripts.jsonl"):
        if r.get("kind") == "mi" and isinstance(r.get("request"), str):
            reqs.append((r.get("case", "mi"), r["request"]))
    for i, r in enumerate(jsonl("crash-probes.jsonl")):
        reqs.append((f"probe{i}", r["req"]))
    seen = set()
    for i, r in enumerate(jsonl("opensips-cli-wire.jsonl")):
        req = r.get("request")
        if isinstance(req, str) and req not in seen:
            seen.add(req)
            reqs.append((f"cli{i}", req))
    return reqs


def jsonrpc_seeds():
    seen = set()
    for name, req in requests():
        if req in seen:
            continue
        seen.add(req)
        put("jsonrpc", name, req)
    own = [
        '{"jsonrpc":"2.0","method":"fz:named","params":{"a":[1,{"x":null}],"b":"s"},"id":"s"}',
        '{"jsonrpc":"2.0","method":"named","params":["a"],"id":1}',
        '{"jsonrpc":"2.0","method":"fz:named","params":{"b":"x","names":["a",2,"c"]},"id":2}',
        '{"jsonrpc":"2.0","method":"fz:named","params":{"ints":[1,"-2",3.9e3],"i":"+7"},"id":3}',
        '{"jsonrpc":"2.0","method":"positional","params":[1,2],"id":4}',
        '{"jsonrpc":"2.0","method":"positional","params":["2147483648"],"id":5}',
        '{"jsonrpc":"2.0","method":"fz:wide","params":["1","2","3","4","5","6","7","8","9","10","11","12","13","14","15","16","17","18","19",20],"id":6}',
        '{"jsonrpc":"2.0","method":"get","params":["x"],"id":7}',
        '{"jsonrpc":"2.0","method":"sr_get_status","params":{"group":"g","identifier":"i"},"id":8}',
        '{"jsonrpc":"2.0","method":"fz:stray","id":9}',
        '{"jsonrpc":"2.0","method":"fz:null","id":10}',
        '{"jsonrpc":"2.0","method":"fz:async","id":1e300}',
        '{"jsonrpc":"2.0","method":"fz:error","params":{"details":"d\\u0000e"},"id":-1.5}',
        '[{"jsonrpc":"2.0","method":"which"},{"jsonrpc":"2.0","method":"list","id":[]},1,{"JSONRPC":"2.0","METHOD":"evi:list","ID":"x"}]',
        '{"jsonrpc":"2.0","method":"evi:raise","params":{"event":"E","params":{"a":1,"a":2,"b":[true,false,null,0.1,-0.0,1e-7,123456789012]}},"id":11}',
        '{"jsonrpc":"2.0","method":"core:log_level","params":{"level":"-3","pid":4.7},"id":12}',
        '{"jsonrpc":"2.0","method":"status_report:get","params":{"GROUP":"x"},"id":13}',
        '{"jsonrpc":"2.0","method":"evi:subscribe","params":["E","udp:1.2.3.4:5","9"],"id":14}',
        '{"jsonrpc":"2.0","method":"fz:named","params":{},"id":15}',
        '{"jsonrpc":"2.0","method":"fz:named","params":{"a":"\\ud83d\\ude00\\u00e9\\n"}}',
    ]
    for i, r in enumerate(own):
        put("jsonrpc", f"own{i}", r)


def mi_json_seeds():
    seen = set()
    for name, req in requests()[:40]:
        if req not in seen:
            seen.add(req)
            put("mi_json", name, req)
    own = ['0', '-0.0e-0', '1e400', '1e-400', '123456789012345678901234567890', '"\\ud800"',
           '"\\ud83d\\ude00"', '"\xc3\xa9\xe2\x82\xac"', '[1,2,[3,{"a":{"b":[]}}]]', '{"a":1,"a":2}',
           '  \t\n{"x":"\\u0000"} trailing', '{"\\u0000":1}', '[' * 40 + ']' * 40, 'tru', 'nul',
           '[1,]', '{"a" 1}', '"\\x"', '4.9e-324', '1.7976931348623157e308', '0.1', '999999.9999999',
           '-2147483649', '2147483647.5', '1e9', '1e60']
    for i, r in enumerate(own):
        put("mi_json", f"own{i}", r)


# ---- SIP ----
def sip_seeds():
    opts = ("OPTIONS sip:sr-ok@127.0.0.1:5060 SIP/2.0\r\n"
            "Via: SIP/2.0/UDP 127.0.0.1:38877;branch=z9hG4bK-1\r\n"
            "Max-Forwards: 70\r\nTo: <sip:sr-ok@127.0.0.1>\r\n"
            "From: <sip:ref@127.0.0.1>;tag=reftag1\r\nCall-ID: ref-1\r\n"
            "CSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n")
    put("sip", "options", opts)
    put("sip", "invite-compact",
        "INVITE sips:Alice:pw@example.com;transport=tls SIP/2.0\r\n"
        "v: SIP/2.0/TCP a.example.com;branch=z9hG4bK1, SIP/2.0/UDP b:5060;received=1.2.3.4\r\n"
        "VIA: SIP/2.0/UDP c\r\nf: \"Bob\" <sip:bob@b>;tag=9\r\nt: sip:alice@a;tag=77\r\n"
        "i: abc@host\r\ncseq:  314159   INVITE\r\nl: 5\r\nm: <sip:x>\r\n"
        "Content-Type: application/sdp\r\n\r\nv=0\r\n")
    put("sip", "reply", "SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 127.0.0.1;branch=z9hG4bK2\r\n"
        "From: <sip:a@b>;tag=1\r\nTo: <sip:c@d>;tag=2\r\nCall-ID: x\r\nCSeq: 2 BYE\r\n"
        "Content-Length: 0\r\n\r\n")
    put("sip", "folded-lf", "MESSAGE sip:user@h SIP/2.0\nVia: SIP/2.0/UDP h\n ;branch=z9hG4bK3\n"
        "From: <sip:a@b>\n  ;tag=1\nTo: <sip:c@d>\nCall-ID: y\nCSeq: 7 MESSAGE\n"
        "Max-Forwards: 0\nContent-Length: 3\n\nabc")
    put("sip", "no-body-len", opts.replace("Content-Length: 0\r\n", "") + "extra body")
    put("sip", "bad-cl", opts.replace("Content-Length: 0", "Content-Length: 99999999999"))
    put("sip", "tcp-stream", "\r\n\r\n" + opts + opts.replace("OPTIONS sip", "BYE sip"))
    put("sip", "to-tag-quoted", opts.replace("To: <sip:sr-ok@127.0.0.1>",
                                             'To: "a;tag=x" <sip:u@h;tag=no>;tag=yes'))


# ---- mi_fifo framing ----
def fifo_seeds():
    cases = {
        "simple": ':reply_1:{"jsonrpc":"2.0","method":"which","id":1}\n',
        "two": ':r1:{"jsonrpc":"2.0","method":"ps","id":"1"}\n:r2:[{"a":"]}"}]\n',
        "string-esc": ':r:"a\\"b\\\\"\n:r:{"k":"\\"}{["}',
        "scalar": ':r:12345\n:r:true\n',
        "incomplete": ':r:{"jsonrpc":"2.0","method":"which"',
        "bad": 'garbage\n:r:{}',
        "name-slash": ':../x/y:{}\n',
        "ws": ' \t\r\n:  name with space :\n\n { }  \n\n',
        "newline-in-name": ':ab\ncd:{}',
        "empty-name": '::{"id":null}',
        "ref-cli": ':opensips_fifo_reply_4242_abcd:{"jsonrpc": "2.0", "id": "18358", "method": "which", "params": {}}\n',
    }
    for k, v in cases.items():
        put("fifo_framing", k, v)


# ---- HTTP ----
def http_seeds():
    cases = {
        "livez": "GET /livez HTTP/1.1\r\nHost: 127.0.0.1:8888\r\n\r\n",
        "readyz": "GET /readyz/app%2Fx/main?verbose&exclude=core#frag HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
        "post-mi": 'POST /mi HTTP/1.1\r\nHost: h\r\nContent-Type: application/json\r\nContent-Length: 44\r\n\r\n{"jsonrpc":"2.0","method":"which","id":1}\r\n\r\n',
        "pipelined": "GET /a HTTP/1.1\r\n\r\nGET /b HTTP/1.1\r\nConnection: close\r\n\r\nGET /c HTTP/1.1\r\n",
        "expect": "PUT /x HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 5\r\nAuthorization: Basic dXNlcjpwYXNz\r\n\r\nhello",
        "chunked": "POST /mi HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
        "dup-cl": "POST / HTTP/1.1\r\nContent-Length: 1\r\ncontent-length: 2\r\n\r\nab",
        "lf-only": "\n\nGET /metrics HTTP/1.1\nAccept: text/plain\n\n",
        "folding": "GET / HTTP/1.1\r\nX: a\r\n b\r\n\r\n",
        "http2": "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
        "auth-bad": "GET / HTTP/1.1\r\nAuthorization: Basic ====\r\nAuthorization: Basic dXNlcg==\r\n\r\n",
    }
    for k, v in cases.items():
        put("http", k, v)


# ---- payload: the byte format of fuzz_payload.cc ----
def txt(s):
    b = s.encode() if isinstance(s, str) else s
    return bytes([len(b)]) + b


def payload_seeds():
    def enc(flags, id_=None, method=None, extra=None, ev=None, shrink=0, params=()):
        out = bytes([flags])
        if flags & 1:
            out += struct.pack(">i", id_)
        if flags & 2:
            out += txt(method)
        if flags & 4:
            out += txt(extra)
            if not flags & 8:
                out += txt(ev)
        out += bytes([shrink])
        for kind, name, val in params:
            k = kind | (4 if name is not None else 0)
            out += bytes([k])
            if name is not None:
                out += txt(name)
            if kind == 0:
                out += struct.pack(">i", val)
            elif kind == 1:
                out += txt(val)
        return out

    put("payload", "sr-status", enc(2, method="E_CORE_SR_STATUS_CHANGED", shrink=128, params=[
        (1, "group", "ref_app"), (1, "identifier", "main"), (0, "status", -3),
        (1, "details", "app degraded"), (0, "old_status", 1)]))
    put("payload", "array-id-extra", enc(1 | 2 | 4, id_=7, method="m", extra="event", ev="E_X",
                                          params=[(0, None, 1), (3, None, None), (2, None, None), (1, None, "x")]))
    put("payload", "dups", enc(2, method="E", params=[(1, "", "one"), (1, "", "2"), (0, "", 3)]))
    put("payload", "escapes", enc(2, method="m\"\\", params=[(1, "q\"\\/", b"a\b\f\n\r\t\x01\x1f/\xc3\xa9\x00")]))
    put("payload", "no-list", enc(16 | 2 | 1, id_=-5, method="m"))
    put("payload", "null-method-ev", enc(4 | 8, extra="evp", params=[(0, "n", -2147483648)]))
    put("payload", "reset-first", enc(2, method="m", params=[(3, "n", None), (0, None, 3)]))
    put("payload", "invalid-utf8", enc(2, method="\xff", params=[(1, "k", b"\xc0\x80\xed\xa0\x80")]))


def main():
    cfg_seeds()
    jsonrpc_seeds()
    mi_json_seeds()
    sip_seeds()
    fifo_seeds()
    http_seeds()
    payload_seeds()


if __name__ == "__main__":
    sys.exit(main())
