#!/usr/bin/env python3
"""Memory of `brokerlab serve` against Debian's RabbitMQ, in the same run.

For each broker, each part on a freshly started broker with an empty data
directory, the resident set size is read from /proc (VmRSS):

  1. idle, after start; holding CONNECTIONS idle connections (logged in, one
     channel each, heartbeat 60 s); and after QUEUES non-durable queues are
     declared over one of them; per connection and per queue;
  2. bytes per queued message: one queue, MESSAGES 16-byte messages published
     without confirms and consumed by nobody, all of them counted in the
     queue (queue.declare passive) before RSS is read again;
     (RSS after - RSS before) / MESSAGES. Twice: transient messages to a
     non-durable queue, and persistent ones (delivery mode 2) to a durable one.

Both brokers see the same client: the raw-socket client of
scripts/limits-memory.py (pika's codec), with publishing added here.
brokerlab's RSS is its one process; RabbitMQ's is its node's beam.smp together
with that process's descendants (erl_child_setup, inet_gethost), without the
shared epmd daemon. Both brokers run under `nice -n 10`.

RabbitMQ is Debian's rabbitmq-server (installed with apt-get when missing),
started as scripts/compare-rabbitmq.sh does: as the rabbitmq user, loopback
only, on its own port and node name; here also with its own data and log
directory (fresh per part) and `ulimit -n 20000`, as Debian's service unit
raises the open-file limit (to 65536) and 1,000 connections need more than
the 1,024 `su` gives.

Writes the figures as JSON to stdout and, with --report, the results page.

usage: scripts/memory-vs-rabbitmq.py [--binary target/release/brokerlab]
           [--connections 1000] [--queues 10000] [--messages 100000]
           [--rabbit-port 5683] [--report reports/memory-vs-rabbitmq.md]
Needs root (apt-get, and to start RabbitMQ as its user).
"""
import argparse
import importlib.util
import json
import os
import shutil
import socket
import struct
import subprocess
import sys
import tempfile
import time

from pika import frame, spec

HERE = os.path.dirname(os.path.abspath(__file__))
_spec = importlib.util.spec_from_file_location("limits_memory", os.path.join(HERE, "limits-memory.py"))
limits = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(limits)
Client, rss_kib, free_port, machine, mib = (limits.Client, limits.rss_kib, limits.free_port,
                                            limits.machine, limits.mib)

RABBIT_NODE = "brokerlab-memory@localhost"
SETTLE_S = 3


def log(text):
    print(f"== {text}", file=sys.stderr, flush=True)


def await_port(port, timeout_s=60):
    deadline = time.time() + timeout_s
    while time.time() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port)).close()
            return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"nothing listens on {port}")


def children():
    """Parent pid -> child pids, from /proc."""
    tree = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as stat:
                    ppid = int(stat.read().rsplit(")", 1)[1].split()[1])
            except OSError:
                continue
            tree.setdefault(ppid, []).append(int(entry))
    return tree


def descendants(pid):
    tree, found, todo = children(), [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        todo.extend(tree.get(current, []))
    return found


class Brokerlab:
    name = "brokerlab"

    def __init__(self, binary):
        self.binary = binary

    def start(self):
        self.port = free_port()
        self.data_dir = tempfile.mkdtemp(prefix="brokerlab-memory-")
        self.process = subprocess.Popen(
            ["nice", "-n", "10", self.binary, "serve", "--listen", f"127.0.0.1:{self.port}",
             "--data-dir", self.data_dir], stderr=subprocess.DEVNULL)
        await_port(self.port)
        time.sleep(0.5)

    def pids(self):
        return [self.process.pid]

    def rss_kib(self):
        return rss_kib(self.process.pid)

    def stop(self):
        self.process.terminate()
        self.process.wait(timeout=30)
        shutil.rmtree(self.data_dir, ignore_errors=True)


class RabbitMQ:
    name = "RabbitMQ"

    def __init__(self, port):
        self.port = port
        self.beam = None

    def start(self):
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", self.port)) == 0:
                raise RuntimeError(f"port {self.port} is taken: pass another --rabbit-port")
        self.base = tempfile.mkdtemp(prefix="rabbitmq-memory-")
        shutil.chown(self.base, "rabbitmq", "rabbitmq")
        self.log_path = os.path.join(self.base, "rabbitmq.out")
        # As scripts/compare-rabbitmq.sh: the rabbitmq user in its home, listening
        # and distributing on loopback only; plus its own data and log directory.
        command = (
            f"cd /var/lib/rabbitmq && ulimit -n 20000 && "
            f"ERL_EPMD_ADDRESS=127.0.0.1 RABBITMQ_NODE_IP_ADDRESS=127.0.0.1 "
            f"RABBITMQ_NODE_PORT={self.port} RABBITMQ_DIST_PORT={self.port + 20000} "
            f"RABBITMQ_NODENAME={RABBIT_NODE} "
            f"RABBITMQ_MNESIA_BASE={self.base}/mnesia RABBITMQ_LOG_BASE={self.base}/log "
            f"RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS='-kernel inet_dist_use_interface {{127,0,0,1}}' "
            f"exec /usr/lib/rabbitmq/bin/rabbitmq-server")
        with open(self.log_path, "w") as out:
            self.launcher = subprocess.Popen(
                ["nice", "-n", "10", "su", "rabbitmq", "-s", "/bin/sh", "-c", command],
                stdout=out, stderr=subprocess.STDOUT, preexec_fn=os.setsid)
        try:
            # await_startup needs the node registered first: retry until it answers.
            for attempt in range(60):
                if subprocess.run(["rabbitmqctl", "-q", "-n", RABBIT_NODE, "await_startup", "--timeout", "10"],
                                  capture_output=True).returncode == 0:
                    break
                if attempt == 59:
                    raise RuntimeError("RabbitMQ did not start:\n" + open(self.log_path).read())
                time.sleep(2)
            await_port(self.port)
            self.beam = self.find_beam()
        except Exception:
            self.stop()
            raise
        # Let the node finish what it does after boot before the idle reading.
        time.sleep(5)

    def find_beam(self):
        # The node's name is not on its command line: it is the beam under our su.
        for pid in descendants(self.launcher.pid):
            try:
                with open(f"/proc/{pid}/cmdline", "rb") as cmdline:
                    argv = cmdline.read().split(b"\0")
            except OSError:
                continue
            if os.path.basename(argv[0]).startswith(b"beam"):
                return pid
        raise RuntimeError("no beam.smp for the node")

    def pids(self):
        return descendants(self.beam)

    def rss_kib(self):
        total = 0
        for pid in self.pids():
            try:
                total += rss_kib(pid)
            except (OSError, RuntimeError):
                pass  # a short-lived helper that ended, or a thread-less zombie
        return total

    def queues(self):
        """rabbitmqctl list_queues: name -> (messages, messages_ram, memory bytes)."""
        out = subprocess.run(["rabbitmqctl", "-q", "-n", RABBIT_NODE, "list_queues", "--no-table-headers",
                              "name", "messages", "messages_ram", "memory"],
                             capture_output=True, text=True).stdout
        found = {}
        for line in out.splitlines():
            fields = line.split()
            if len(fields) == 4 and fields[1].isdigit():
                found[fields[0]] = tuple(int(field) for field in fields[1:])
        return found

    def stop(self):
        subprocess.run(["rabbitmqctl", "-q", "-n", RABBIT_NODE, "stop"], capture_output=True)
        try:
            self.launcher.wait(timeout=60)
        except subprocess.TimeoutExpired:
            if self.beam:
                os.kill(self.beam, 15)
            self.launcher.wait(timeout=30)
        shutil.rmtree(self.base, ignore_errors=True)


def beat(clients):
    """A heartbeat frame from every client, so no broker closes them as silent."""
    for client in clients:
        client.sock.sendall(frame.Heartbeat().marshal())


def connections_and_queues(broker, connections, queues):
    broker.start()
    try:
        figures = {"idle_rss_kib": broker.rss_kib()}
        started = time.time()
        clients = [Client(broker.port) for _ in range(connections)]
        figures["connect_s"] = round(time.time() - started, 2)
        beat(clients)
        time.sleep(SETTLE_S)
        figures["connections_rss_kib"] = broker.rss_kib()
        started = last_beat = time.time()
        declaring = clients[0]
        # Pipelined in windows of 500, each window's answers read before the next.
        for start in range(0, queues, 500):
            window = range(start, min(start + 500, queues))
            for index in window:
                declaring.declare(f"memory-{index}")
            for _ in window:
                declaring.method()
            if time.time() - last_beat > 20:
                beat(clients)
                last_beat = time.time()
        figures["declare_s"] = round(time.time() - started, 2)
        beat(clients)
        time.sleep(SETTLE_S)
        figures["connections_and_queues_rss_kib"] = broker.rss_kib()
        figures["processes"] = len(broker.pids())
        figures["kib_per_connection"] = round(
            (figures["connections_rss_kib"] - figures["idle_rss_kib"]) / connections, 1)
        figures["kib_per_queue"] = round(
            (figures["connections_and_queues_rss_kib"] - figures["connections_rss_kib"]) / queues, 2)
        for client in clients:
            client.close()
        return figures
    finally:
        broker.stop()


def queued_messages(broker, count, persistent):
    broker.start()
    try:
        client = Client(broker.port)
        queue = "memory-persistent" if persistent else "memory-transient"
        client.send(1, spec.Queue.Declare(queue=queue, durable=persistent))
        client.method()
        time.sleep(SETTLE_S)
        figures = {"before_rss_kib": broker.rss_kib()}
        publish = frame.Method(1, spec.Basic.Publish(exchange="", routing_key=queue)).marshal()
        header = frame.Header(1, 16, spec.BasicProperties(delivery_mode=2 if persistent else 1)).marshal()
        body_head = struct.pack(">BHI", 3, 1, 16)
        started = time.time()
        for start in range(0, count, 1000):
            client.sock.sendall(b"".join(publish + header + body_head + b"%016d" % index + b"\xce"
                                         for index in range(start, min(start + 1000, count))))
        # Published without confirms: wait until the queue counts every one.
        deadline = time.time() + 300
        while True:
            client.send(1, spec.Queue.Declare(queue=queue, durable=persistent, passive=True))
            counted = client.method().message_count
            if counted >= count or time.time() > deadline:
                break
            time.sleep(0.2)
        figures["publish_s"] = round(time.time() - started, 2)
        figures["counted"] = counted
        if counted != count:
            raise RuntimeError(f"{broker.name}: the queue counts {counted} of {count} messages")
        time.sleep(SETTLE_S)
        figures["after_rss_kib"] = broker.rss_kib()
        figures["bytes_per_message"] = round(
            (figures["after_rss_kib"] - figures["before_rss_kib"]) * 1024 / count, 1)
        if isinstance(broker, RabbitMQ):
            messages, in_ram, memory = broker.queues().get(queue, (None, None, None))
            figures["rabbitmq_messages_ram"] = in_ram
            figures["rabbitmq_queue_memory_bytes"] = memory
        client.close()
        return figures
    finally:
        broker.stop()


def ratio(ours, theirs):
    return f"{ours / theirs:.2f}x" if theirs else "n/a"


def report(figures, command):
    f = figures
    b, r = f["brokerlab"], f["rabbitmq"]
    bc, rc = b["connections_and_queues"], r["connections_and_queues"]
    n = f["connections"]
    q = f["queues"]
    rows = [
        ("idle, after start", "idle_rss_kib", mib),
        (f"{n:,} idle connections, a channel each", "connections_rss_kib", mib),
        (f"and {q:,} queues declared", "connections_and_queues_rss_kib", mib),
        ("per connection", "kib_per_connection", lambda v: f"{v} KiB"),
        ("per queue", "kib_per_queue", lambda v: f"{v} KiB"),
    ]
    lines = [
        "# Memory: brokerlab serve against RabbitMQ",
        "",
        f"- date: {f['date']}",
        f"- machine: {f['machine']}; shared with other work, so figures carry noise",
        f"- brokerlab: `brokerlab serve` (release build of {f['binary_built']}, checkout at commit "
        f"{f['commit']}), default limits",
        f"- RabbitMQ: Debian rabbitmq-server {f['rabbitmq_version']}, default configuration, "
        "loopback only, open-file limit raised to 20,000 (Debian's service unit sets 65,536)",
        f"- command: `{command}` (writes this page)",
        "- RSS: VmRSS from /proc; brokerlab is one process; RabbitMQ is its node's beam.smp plus "
        f"that process's descendants (erl_child_setup, inet_gethost: {rc['processes']} processes "
        "in all), without the shared epmd daemon",
        "- each part on a freshly started broker with an empty data directory, both brokers "
        f"under `nice -n 10`, RSS read {SETTLE_S} s after the step; the same client for both (the "
        "raw-socket client of scripts/limits-memory.py, pika's codec)",
        "",
        f"## {n:,} idle connections and {q:,} queues",
        "",
        f"Connections logged in one after another, one channel open each, heartbeat 60 s; then "
        f"{q:,} non-durable queues declared over one of them, the connections still open.",
        "",
        "| state | brokerlab | RabbitMQ | brokerlab / RabbitMQ |",
        "|---|---:|---:|---:|",
    ]
    for label, key, show in rows:
        lines.append(f"| {label} | {show(bc[key])} | {show(rc[key])} | {ratio(bc[key], rc[key])} |")
    lines += [
        "",
        f"Logging in {n:,} connections took {bc['connect_s']} s on brokerlab and {rc['connect_s']} s "
        f"on RabbitMQ; declaring {q:,} queues {bc['declare_s']} s and {rc['declare_s']} s.",
        "",
        "## Bytes per queued 16-byte message",
        "",
        f"One queue, {f['messages']:,} messages of 16 bytes published without confirms over one "
        "connection, nobody consuming; RSS read once the queue counted all of them "
        "(queue.declare passive); (RSS after - RSS before) / messages.",
        "",
        "| messages | brokerlab | RabbitMQ | brokerlab / RabbitMQ |",
        "|---|---:|---:|---:|",
    ]
    kinds = [("transient", "transient, non-durable queue"),
             ("persistent", "persistent (delivery mode 2), durable queue")]
    for kind, label in kinds:
        bm, rm = b[kind], r[kind]
        lines.append(f"| {label} | {bm['bytes_per_message']:,} B | {rm['bytes_per_message']:,} B | "
                     f"{ratio(bm['bytes_per_message'], rm['bytes_per_message'])} |")
    lines += ["", "RSS before and after (publishing time):", ""]
    for kind, label in kinds:
        bm, rm = b[kind], r[kind]
        lines.append(f"- {label}: brokerlab {mib(bm['before_rss_kib'])} to {mib(bm['after_rss_kib'])} "
                     f"({bm['publish_s']} s); RabbitMQ {mib(rm['before_rss_kib'])} to "
                     f"{mib(rm['after_rss_kib'])} ({rm['publish_s']} s)")
    lines += [
        "",
        "RabbitMQ 3.10's classic queues may page messages out of memory to disk (under memory "
        "pressure, or for a lazy queue); the figure above is what RSS shows, not what the queue "
        "holds in memory. RabbitMQ's own account after the reading (`rabbitmqctl list_queues "
        "messages_ram memory`):",
        "",
    ]
    for kind, label in kinds:
        rm = r[kind]
        lines.append(f"- {label}: {rm['rabbitmq_messages_ram']:,} of {f['messages']:,} messages in "
                     f"memory; the queue process's memory {rm['rabbitmq_queue_memory_bytes']:,} bytes "
                     f"({rm['rabbitmq_queue_memory_bytes'] / f['messages']:.0f} B per message)")
    if all(r[kind]["rabbitmq_messages_ram"] == f["messages"] for kind, _ in kinds):
        lines += ["", "Here RabbitMQ paged nothing out: every message was in memory when RSS was read. "
                  "What its RSS grew by beyond the queue process's memory is held by the node's "
                  "allocators and its other processes (the connection and channel that took the flood)."]
    transient = b["transient"]["bytes_per_message"]
    lines += [
        "",
        "## Target",
        "",
        f"- bytes per queued 16-byte message at most 100: {'met' if transient <= 100 else 'missed'} "
        f"({transient} B, transient messages; persistent: {b['persistent']['bytes_per_message']} B)",
        "",
    ]
    return "\n".join(lines)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--binary", default="target/release/brokerlab")
    parser.add_argument("--connections", type=int, default=1000)
    parser.add_argument("--queues", type=int, default=10000)
    parser.add_argument("--messages", type=int, default=100000)
    parser.add_argument("--rabbit-port", type=int, default=5683)
    parser.add_argument("--report", help="write the results page here")
    args = parser.parse_args()
    if not shutil.which("rabbitmq-server"):
        log("installing Debian's rabbitmq-server")
        subprocess.run(["apt-get", "update", "-qq"], check=True)
        subprocess.run(["apt-get", "install", "-y", "-qq", "rabbitmq-server"], check=True,
                       env=dict(os.environ, DEBIAN_FRONTEND="noninteractive"), stdout=subprocess.DEVNULL)
    epmd_before = subprocess.run(["pgrep", "-x", "epmd"], capture_output=True, text=True).stdout.split()
    figures = {
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "machine": machine(),
        "commit": subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                                 cwd=HERE).stdout.strip(),
        "rabbitmq_version": subprocess.run(["dpkg-query", "-W", "-f=${Version}", "rabbitmq-server"],
                                           capture_output=True, text=True).stdout.strip(),
        "binary_built": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(os.path.getmtime(args.binary))),
        "connections": args.connections, "queues": args.queues, "messages": args.messages,
    }
    try:
        for key, broker in [("brokerlab", Brokerlab(args.binary)), ("rabbitmq", RabbitMQ(args.rabbit_port))]:
            mine = figures[key] = {}
            log(f"{broker.name}: {args.connections} connections and {args.queues} queues")
            mine["connections_and_queues"] = connections_and_queues(broker, args.connections, args.queues)
            for kind in ["transient", "persistent"]:
                log(f"{broker.name}: {args.messages} {kind} messages")
                mine[kind] = queued_messages(broker, args.messages, kind == "persistent")
            log(f"{broker.name}: {json.dumps(mine)}")
    finally:
        # The epmd our RabbitMQ started, if no other node uses it.
        for pid in subprocess.run(["pgrep", "-x", "epmd"], capture_output=True, text=True).stdout.split():
            names = subprocess.run(["epmd", "-names"], capture_output=True, text=True).stdout
            if pid not in epmd_before and "name " not in names:
                os.kill(int(pid), 15)
    json.dump(figures, sys.stdout, indent=2)
    print()
    if args.report:
        command = " ".join(["scripts/memory-vs-rabbitmq.py"] + sys.argv[1:])
        with open(args.report, "w") as page:
            page.write(report(figures, command))


if __name__ == "__main__":
    main()
