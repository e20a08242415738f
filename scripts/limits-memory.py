#!/usr/bin/env python3
"""Memory of `brokerlab serve` holding many connections and many queues.

Starts `brokerlab serve` on a free port with a fresh data directory, then
measures its resident set size (VmRSS, /proc/PID/status):

  1. idle, after start;
  2. holding CONNECTIONS concurrent connections, each logged in with one
     channel open and one heartbeat (60 s) negotiated;
  3. after QUEUES more queues are declared (over one connection), with the
     connections still open;
  4. after every connection closed;
  5. holding SILENT sockets that connect and never send a byte (more than
     the 4,096 connections the server allows logged in), together with the
     time a real client then takes to log in.

and writes the figures as JSON to stdout, and with --report as the
results page reports/limits.md. Raw sockets and pika's codec keep the
client side light; the broker sees ordinary AMQP 0-9-1 clients.

usage: cargo build --release && scripts/limits-memory.py
           [--binary target/release/brokerlab] [--connections 1000]
           [--queues 10000] [--silent 4300] [--report reports/limits.md]
"""
import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import time

from pika import frame, spec


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError("no VmRSS")


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Client:
    """One AMQP connection over a raw socket, logged in as guest."""

    def __init__(self, port):
        self.sock = socket.create_connection(("127.0.0.1", port))
        # tune-ok and open are two small writes: without this, Nagle's
        # algorithm holds the second for the server's delayed ack.
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buffer = bytearray()
        self.sock.sendall(b"AMQP\x00\x00\x09\x01")
        self.method()
        self.send(0, spec.Connection.StartOk(client_properties={}, mechanism="PLAIN",
                                            response="\0guest\0guest"))
        tune = self.method()
        self.send(0, spec.Connection.TuneOk(tune.channel_max, tune.frame_max, 60))
        self.send(0, spec.Connection.Open(virtual_host="/"))
        self.method()
        self.send(1, spec.Channel.Open())
        self.method()

    def send(self, channel, method):
        self.sock.sendall(frame.Method(channel, method).marshal())

    def method(self):
        while True:
            if self.buffer:
                used, decoded = frame.decode_frame(bytes(self.buffer))
                if decoded is not None:
                    del self.buffer[:used]
                    if isinstance(decoded, frame.Method):
                        return decoded.method
                    continue
            data = self.sock.recv(65536)
            if not data:
                raise EOFError("the server closed the connection")
            self.buffer.extend(data)

    def declare(self, queue):
        self.send(1, spec.Queue.Declare(queue=queue))

    def close(self):
        self.send(0, spec.Connection.Close(reply_code=200, reply_text="bye", class_id=0, method_id=0))
        self.method()
        self.sock.close()


def machine():
    with open("/proc/cpuinfo") as cpuinfo:
        model = next(line.split(":", 1)[1].strip() for line in cpuinfo if line.startswith("model name"))
    with open("/proc/meminfo") as meminfo:
        total_kib = int(meminfo.readline().split()[1])
    return f"{model}, {os.cpu_count()} cores, {round(total_kib / 1024 / 1024)} GiB, Linux {os.uname().release}"


def mib(kib):
    return f"{kib / 1024:.1f} MiB"


def report(figures, command):
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True,
                            text=True, check=False).stdout.strip()
    f = figures
    held = f["connections_and_queues_rss_kib"]
    return f"""# Limits: memory of brokerlab serve holding connections and queues

- date: {time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())}
- machine: {machine()}; shared with other work, so timings carry noise
- commit: {commit}
- command: `{command}` (writes this page)
- server: `brokerlab serve` with its default limits ([the server](../docs/server.md#limits)); RSS is VmRSS of its process

| state | RSS |
|---|---|
| idle, after start | {mib(f["idle_rss_kib"])} |
| {f["connections"]:,} connections logged in, a channel each | {mib(f["connections_rss_kib"])} |
| and {f["queues"]:,} queues declared | {mib(held)} |
| every connection closed (queues kept) | {mib(f["after_close_rss_kib"])} |
| {f["silent_sockets"]:,} silent sockets open, none logged in | {mib(f["silent_rss_kib"])} |

- per connection: {f["kib_per_connection"]} KiB; per queue: {f["kib_per_queue"]} KiB
- {f["connections"]:,} connections logged in, one after another, in {f["connect_s"]} s; {f["queues"]:,} queues declared in {f["declare_s"]} s
- a real client logged in, among {f["silent_sockets"]:,} silent sockets (more than the {4096:,} logins allowed), in {f["login_among_silent_ms"]} ms

## Reading

Holding {f["connections"]:,} connections and {f["queues"]:,} queues took the server
from {mib(f["idle_rss_kib"])} to {mib(held)}: about {f["kib_per_connection"]} KiB per
idle connection (its task, its read and write buffers at their idle size, its
state in the core) and {f["kib_per_queue"]} KiB per empty queue, so memory grows in
proportion to what is held and each connection's share stays bounded by its limits
(1 MiB of outgoing frames, one frame and one read of incoming bytes). Closing the
connections returns their share less what the allocator keeps. Silent sockets that
never log in cost little (small read buffers until they send) and do not count
against the bound on logins: a real client logs in among {f["silent_sockets"]:,} of
them in milliseconds.
"""


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--binary", default="target/release/brokerlab")
    parser.add_argument("--connections", type=int, default=1000)
    parser.add_argument("--queues", type=int, default=10000)
    parser.add_argument("--silent", type=int, default=4300)
    parser.add_argument("--report", help="write the results page here")
    args = parser.parse_args()
    port = free_port()
    data_dir = tempfile.mkdtemp(prefix="brokerlab-limits-")
    server = subprocess.Popen(
        [args.binary, "serve", "--listen", f"127.0.0.1:{port}", "--data-dir", data_dir],
        stderr=subprocess.DEVNULL)
    try:
        for _ in range(200):
            try:
                socket.create_connection(("127.0.0.1", port)).close()
                break
            except OSError:
                time.sleep(0.05)
        time.sleep(0.5)
        figures = {"connections": args.connections, "queues": args.queues}
        figures["idle_rss_kib"] = rss_kib(server.pid)
        started = time.time()
        clients = [Client(port) for _ in range(args.connections)]
        figures["connect_s"] = round(time.time() - started, 2)
        time.sleep(1)
        figures["connections_rss_kib"] = rss_kib(server.pid)
        started = time.time()
        declaring = clients[0]
        # Pipelined in windows of 500, each window's answers read before the next.
        for start in range(0, args.queues, 500):
            window = range(start, min(start + 500, args.queues))
            for index in window:
                declaring.declare(f"limits-{index}")
            for _ in window:
                declaring.method()
        figures["declare_s"] = round(time.time() - started, 2)
        time.sleep(1)
        figures["connections_and_queues_rss_kib"] = rss_kib(server.pid)
        for client in clients:
            client.close()
        time.sleep(1)
        figures["after_close_rss_kib"] = rss_kib(server.pid)
        silent = [socket.create_connection(("127.0.0.1", port)) for _ in range(args.silent)]
        time.sleep(1)
        figures["silent_sockets"] = args.silent
        figures["silent_rss_kib"] = rss_kib(server.pid)
        started = time.time()
        Client(port).close()
        figures["login_among_silent_ms"] = round((time.time() - started) * 1000, 1)
        for sock in silent:
            sock.close()
        per_connection = (figures["connections_rss_kib"] - figures["idle_rss_kib"]) / args.connections
        per_queue = (figures["connections_and_queues_rss_kib"] - figures["connections_rss_kib"]) / args.queues
        figures["kib_per_connection"] = round(per_connection, 1)
        figures["kib_per_queue"] = round(per_queue, 2)
        json.dump(figures, sys.stdout, indent=2)
        print()
        if args.report:
            command = " ".join(["scripts/limits-memory.py"] + sys.argv[1:])
            with open(args.report, "w") as page:
                page.write(report(figures, command))
    finally:
        server.terminate()
        server.wait(timeout=30)
        subprocess.run(["rm", "-rf", data_dir], check=False)


if __name__ == "__main__":
    main()
