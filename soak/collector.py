#!/usr/bin/env python3
"""Soak event collector: `collector.py udp|tcp PORT COUNTFILE`.

Counts JSON-RPC notifications (UDP: one per datagram; TCP/event_stream:
objects back to back, counted by their `{"jsonrpc"` opening) and writes the
running count to COUNTFILE every 0.2 s and on SIGTERM. A SIGKILL loses at
most the last 0.2 s of counting (the soak reports it as such).
"""
import os
import select
import signal
import socket
import sys
import time

kind, port, path = sys.argv[1], int(sys.argv[2]), sys.argv[3]
count = 0
stop = False


def save():
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write("%d\n" % count)
    os.replace(tmp, path)


def on_term(*_):
    global stop
    stop = True


signal.signal(signal.SIGTERM, on_term)
MARK = b'{"jsonrpc"'
if kind == "udp":
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 << 20)
    s.bind(("127.0.0.1", port))
    socks = [s]
else:
    ls = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind(("127.0.0.1", port))
    ls.listen(16)
    socks = [ls]
tails = {}
last = 0.0
save()
while not stop:
    try:
        r, _, _ = select.select(socks, [], [], 0.1)
    except InterruptedError:
        continue
    for x in r:
        if kind == "udp":
            while True:
                try:
                    x.recv(65536, socket.MSG_DONTWAIT)
                    count += 1
                except (BlockingIOError, InterruptedError):
                    break
        elif x is socks[0]:
            c, _ = x.accept()
            socks.append(c)
            tails[c] = b""
        else:
            try:
                d = x.recv(1 << 20)
            except OSError:
                d = b""
            if not d:
                socks.remove(x)
                x.close()
                continue
            buf = tails[x] + d
            count += buf.count(MARK)
            tails[x] = buf[-(len(MARK) - 1):]
    now = time.monotonic()
    if now - last > 0.2:
        save()
        last = now
save()
