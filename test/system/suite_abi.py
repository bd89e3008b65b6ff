"""The module ABI as seen from outside: every shipped module exports exactly
one symbol, `exports` (style.md: the exported-symbols check), and carries
the host's version strings."""
import glob
import os
import shutil
import subprocess

import harness as H
from harness import TestFailure, Skip

# Weak/unique symbols are C++ template and inline instantiations that the
# toolchain emits as vague linkage; they are not part of the module API.
VAGUE = {"W", "V", "u", "w", "v"}


def exported(path):
    out = subprocess.run(["nm", "-D", "--defined-only", path],
                         capture_output=True, text=True, check=True).stdout
    names = []
    for line in out.splitlines():
        parts = line.split()
        # sanitizer builds add their own instrumentation symbols
        if (len(parts) == 3 and parts[1] not in VAGUE
                and not parts[2].startswith(("__odr_asan", "__asan", "__ubsan"))):
            names.append(parts[2])
    return names


def run(runner):
    mods = sorted(glob.glob(os.path.join(H.BUILD_DIR, "modules", "*.so")))

    def check_exports(path):
        if not shutil.which("nm"):
            raise Skip("nm (binutils) not installed")
        names = exported(path)
        if names != ["exports"]:
            raise TestFailure("%s exports %s, expected only 'exports'"
                              % (os.path.basename(path), names))

    def check_version(path):
        with open(path, "rb") as f:
            data = f.read()
        # MODULE_VERSION puts the host's full version and ABI strings into
        # the module; the loader compares them at dlopen.
        for needle in (b"opensips-shim 0.1.0 (", b"shim-abi-"):
            if needle not in data:
                raise TestFailure("%s lacks %r" % (os.path.basename(path),
                                                   needle))

    if not mods:
        runner.run("abi.modules built", lambda: (_ for _ in ()).throw(
            TestFailure("no module in %s/modules" % H.BUILD_DIR)))
        return
    for m in mods:
        name = os.path.basename(m)
        runner.run("abi.%s exports only 'exports'" % name, check_exports, m)
        runner.run("abi.%s carries the host version" % name, check_version, m)

    def refuse_v1():
        so = os.path.join(H.BUILD_DIR, "test-modules", "abi1mod.so")
        if not os.path.exists(so):
            raise TestFailure("%s not built" % so)
        import tempfile
        d = tempfile.mkdtemp(prefix="shim-abi1-")
        cfg = os.path.join(d, "abi1.cfg")
        with open(cfg, "w") as f:
            f.write('log_level = 3\nstderror_enabled = yes\n'
                    'socket = udp:127.0.0.1:%d\nloadmodule "%s"\n'
                    'route { exit; }\n' % (H.free_port(), so))
        try:
            p = subprocess.run([H.BIN, "-F", "-f", cfg, "-w", d], capture_output=True,
                               timeout=10, stdin=subprocess.DEVNULL)
            out = (p.stdout + p.stderr).decode(errors="replace")
            if p.returncode == 0:
                raise TestFailure("a version-1 module was loaded")
            want = ("abi1.cfg:4: module 'abi1mod' (%s) refused: built for ABI "
                    "'shim-abi-1', this host is 'shim-abi-3'" % so)
            if want not in out:
                raise TestFailure("expected %r in:\n%s" % (want, out[-800:]))
        finally:
            shutil.rmtree(d, ignore_errors=True)
    runner.run("abi.a version-1 module is refused, naming both versions", refuse_v1)
