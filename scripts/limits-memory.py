#!/usr/bin/env python3
"""Memory of `brokerlab serve` holding many connections and many queues.

Starts `brokerlab serve` on a free port with a fresh data directory, then
measures its resident set size (VmRSS, /proc/PID/status):

  1. idle, after start;
  2. holding CONNECTIONS concurrent connections, each logged in with one
     channel open and one heartbeat (60 s) negotiated;
  3. after QUEUES more queues are declared (over one connection), with the
     connections still open;
  4. after every connection closed.

and writes the figures as JSON to stdout. Raw sockets and pika's codec
keep the client side light; the broker sees ordinary AMQP 0-9-1 clients.

usage: scripts/limits-memory.py [--binary target/release/brokerlab]
                                [--connections 1000] [--queues 10000]
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


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--binary", default="target/release/brokerlab")
    parser.add_argument("--connections", type=int, default=1000)
    parser.add_argument("--queues", type=int, default=10000)
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
        per_connection = (figures["connections_rss_kib"] - figures["idle_rss_kib"]) / args.connections
        per_queue = (figures["connections_and_queues_rss_kib"] - figures["connections_rss_kib"]) / args.queues
        figures["kib_per_connection"] = round(per_connection, 1)
        figures["kib_per_queue"] = round(per_queue, 2)
        json.dump(figures, sys.stdout, indent=2)
        print()
    finally:
        server.terminate()
        server.wait(timeout=30)
        subprocess.run(["rm", "-rf", data_dir], check=False)


if __name__ == "__main__":
    main()
