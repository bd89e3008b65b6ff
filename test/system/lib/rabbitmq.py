"""A private RabbitMQ node for the system tests (decisions §37).

Debian's rabbitmq-server started as a child process: its own node name,
AMQP port, distribution port and epmd port (all free loopback ports), its
own mnesia, log and config directories and HOME (the Erlang cookie) under
a temporary directory, and its own epmd (a child process on the private
port, so no epmd daemon outlives the tests). Nothing touches a system
service. One node per suite: start() once, restart() / kill() for outage
tests, close() at the end.

A broker that does not come up within its bound raises TestFailure with
the tail of its log; the suite fails, it never skips.
"""

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time

import harness as H

try:
    import pika  # noqa: F401
except ImportError:
    # Debian's python3-pika, when the interpreter running the tests is not
    # Debian's own (pika is pure Python)
    import sys
    sys.path.append("/usr/lib/python3/dist-packages")
    import pika  # noqa: F401

SERVER = "/usr/lib/rabbitmq/bin/rabbitmq-server"
CTL = "/usr/lib/rabbitmq/bin/rabbitmqctl"


def _free_tcp_port():
    return H.free_port(socket.SOCK_STREAM)


class RabbitMQ:
    def __init__(self, start_timeout=60.0):
        self.dir = tempfile.mkdtemp(prefix="shim-rabbitmq-")
        self.port = _free_tcp_port()
        self.dist_port = _free_tcp_port()
        self.epmd_port = _free_tcp_port()
        self.node = "shimtest%d@localhost" % self.port
        self.start_timeout = start_timeout
        self.proc = None
        self.epmd = None
        self.log_file = None
        os.makedirs(os.path.join(self.dir, "home"), exist_ok=True)
        with open(os.path.join(self.dir, "rabbitmq.conf"), "w") as f:
            f.write("listeners.tcp.default = 127.0.0.1:%d\n" % self.port)
            # the tests log in as guest over loopback, and as a second user
            f.write("loopback_users = none\n")
            f.write("log.console = false\n")
            f.write("log.file.level = info\n")
            # a disk alarm on a small /tmp must not block publishers
            f.write("disk_free_limit.absolute = 1MB\n")
        with open(os.path.join(self.dir, "enabled_plugins"), "w") as f:
            f.write("[].\n")

    def env(self):
        e = dict(os.environ)
        e.update({
            "HOME": os.path.join(self.dir, "home"),
            "RABBITMQ_NODENAME": self.node,
            "RABBITMQ_NODE_IP_ADDRESS": "127.0.0.1",
            "RABBITMQ_NODE_PORT": str(self.port),
            "RABBITMQ_DIST_PORT": str(self.dist_port),
            "ERL_EPMD_PORT": str(self.epmd_port),
            "ERL_EPMD_ADDRESS": "127.0.0.1",
            "RABBITMQ_MNESIA_BASE": os.path.join(self.dir, "mnesia"),
            "RABBITMQ_LOG_BASE": os.path.join(self.dir, "log"),
            "RABBITMQ_CONFIG_FILE": os.path.join(self.dir, "rabbitmq"),
            "RABBITMQ_ENABLED_PLUGINS_FILE": os.path.join(self.dir, "enabled_plugins"),
            "RABBITMQ_PID_FILE": os.path.join(self.dir, "rabbitmq.pid"),
            "RABBITMQ_CONF_ENV_FILE": os.path.join(self.dir, "rabbitmq-env.conf"),
        })
        return e

    def log_tail(self, n=30):
        lines = []
        logdir = os.path.join(self.dir, "log")
        for name in sorted(os.listdir(logdir)) if os.path.isdir(logdir) else []:
            if name.endswith(".log"):
                with open(os.path.join(logdir, name), errors="replace") as f:
                    lines += f.read().splitlines()[-n:]
        out = os.path.join(self.dir, "server.out")
        if os.path.exists(out):
            with open(out, errors="replace") as f:
                lines += f.read().splitlines()[-n:]
        return "\n".join(lines[-n:])

    def start(self):
        if not os.path.exists(SERVER):
            raise H.TestFailure("rabbitmq-server is not installed "
                                "(tools/install-deps.sh installs it)")
        if self.epmd is None or self.epmd.poll() is not None:
            # our own epmd, in the foreground on the private port: the node
            # finds it and does not start a daemon that would outlive us
            self.epmd = subprocess.Popen(
                ["epmd", "-port", str(self.epmd_port), "-address", "127.0.0.1"],
                env=self.env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                stdin=subprocess.DEVNULL, start_new_session=True)
            deadline = time.monotonic() + 5
            while time.monotonic() < deadline:
                try:
                    socket.create_connection(("127.0.0.1", self.epmd_port), 0.2).close()
                    break
                except OSError:
                    time.sleep(0.05)
        self.log_file = open(os.path.join(self.dir, "server.out"), "ab")
        self.proc = subprocess.Popen([SERVER], env=self.env(), cwd=self.dir,
                                     stdout=self.log_file, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, start_new_session=True)
        deadline = time.monotonic() + self.start_timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise H.TestFailure("rabbitmq-server exited (%s):\n%s"
                                    % (self.proc.returncode, self.log_tail()))
            if self.amqp_ready():
                return self
            time.sleep(0.25)
        self.kill()
        raise H.TestFailure("rabbitmq-server did not accept AMQP within %.0f s:\n%s"
                            % (self.start_timeout, self.log_tail()))

    def amqp_ready(self):
        try:
            import pika
            c = pika.BlockingConnection(self.params(connection_attempts=1,
                                                    socket_timeout=1))
            c.close()
            return True
        except Exception:
            return False

    def params(self, user="guest", password="guest", **kw):
        import pika
        return pika.ConnectionParameters(
            host="127.0.0.1", port=self.port,
            credentials=pika.PlainCredentials(user, password), **kw)

    def connect(self):
        import pika
        return pika.BlockingConnection(self.params())

    def ctl(self, *args, timeout=30):
        return subprocess.run([CTL, "-n", self.node] + list(args), env=self.env(),
                              capture_output=True, text=True, timeout=timeout)

    def _signal(self, sig):
        if self.proc and self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, sig)
            except ProcessLookupError:
                pass

    def kill(self):
        """SIGKILL the node (a crash): no goodbye to clients."""
        self._signal(signal.SIGKILL)
        if self.proc:
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                pass
        self.proc = None
        if self.log_file:
            self.log_file.close()
            self.log_file = None

    def stop(self):
        """A clean stop (durable queues and persistent messages are kept)."""
        if self.proc and self.proc.poll() is None:
            self._signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.kill()
        self.proc = None
        if self.log_file:
            self.log_file.close()
            self.log_file = None

    def restart(self, hard=False):
        if hard:
            self.kill()
        else:
            self.stop()
        return self.start()

    def close(self):
        self.kill()
        if self.epmd is not None:
            self.epmd.kill()
            self.epmd.wait(5)
            self.epmd = None
        shutil.rmtree(self.dir, ignore_errors=True)


class Consumer:
    """Reads a queue with pika (a real AMQP client)."""

    def __init__(self, broker, queue, durable=False, declare=True):
        self.broker = broker
        self.queue = queue
        self.conn = broker.connect()
        self.ch = self.conn.channel()
        if declare:
            self.ch.queue_declare(queue=queue, durable=durable)

    def purge(self):
        self.ch.queue_purge(self.queue)

    def get_all(self, expect=None, timeout=10.0, settle=0.5):
        """Bodies (bytes) with their properties until `expect` arrived or
        nothing came for `settle` seconds (and at most `timeout`)."""
        got = []
        deadline = time.monotonic() + timeout
        last = time.monotonic()
        while time.monotonic() < deadline:
            method, props, body = self.ch.basic_get(self.queue, auto_ack=True)
            if method is None:
                if expect is not None and len(got) >= expect:
                    break
                if expect is None and time.monotonic() - last > settle:
                    break
                self.conn.sleep(0.02)
                continue
            got.append((body, props))
            last = time.monotonic()
        return got

    def bodies(self, expect=None, timeout=10.0, settle=0.5):
        return [b for b, _ in self.get_all(expect, timeout, settle)]

    def fast_bodies(self, n, timeout=30.0):
        """n bodies through basic_consume (prefetch 1000), for big runs."""
        got = []
        self.ch.basic_qos(prefetch_count=1000)
        deadline = time.monotonic() + timeout
        for method, props, body in self.ch.consume(self.queue, auto_ack=True,
                                                   inactivity_timeout=1.0):
            if method is not None:
                got.append(body)
            if len(got) >= n or time.monotonic() > deadline:
                break
        self.ch.cancel()
        return got

    def close(self):
        try:
            self.conn.close()
        except Exception:
            pass
