#!/usr/bin/env python3
"""SIGKILLs of `brokerlab serve` under confirmed persistent load.

KILLS times: the server starts on one data directory; a pika publisher sends
persistent messages (a sequence number each) to the durable queue
`reliability` in confirm mode, and a pika consumer acks what it gets; after a
random 0.2 to 1.0 s the server is killed with SIGKILL, mid-publish and
mid-ack. Then it starts again on the same data, and the clients connect again.
At the end the queue is drained. Every message whose publish was confirmed
must have been consumed at least once; a message consumed more than once must
carry the redelivered flag the second time (its first ack died with the
server).

Prints the figures as JSON: kills, confirmed, lost (confirmed, never
consumed), redelivered_duplicates, unflagged_duplicates, seconds.

usage: scripts/reliability-kills.py [--binary target/release/brokerlab] [--kills 50] [--seed 1]
"""
import argparse
import json
import random
import signal
import socket
import subprocess
import tempfile
import threading
import time

import pika

QUEUE = "reliability"


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start(binary, port, data_dir):
    server = subprocess.Popen(
        [binary, "serve", "--listen", f"127.0.0.1:{port}", "--data-dir", data_dir],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(400):
        try:
            socket.create_connection(("127.0.0.1", port)).close()
            return server
        except OSError:
            time.sleep(0.025)
    raise RuntimeError("the server did not start")


def connect(port):
    params = pika.ConnectionParameters("127.0.0.1", port, heartbeat=0,
                                       connection_attempts=1, socket_timeout=5)
    return pika.BlockingConnection(params)


class Consumed:
    """What the consumers saw, by sequence number."""

    def __init__(self):
        self.lock = threading.Lock()
        self.times = {}
        self.unflagged_again = 0

    def record(self, seq, redelivered):
        with self.lock:
            seen = self.times.get(seq, 0)
            if seen and not redelivered:
                self.unflagged_again += 1
            self.times[seq] = seen + 1


def consume_until_closed(port, consumed):
    try:
        connection = connect(port)
        channel = connection.channel()
        channel.basic_qos(prefetch_count=50)
        for method, _, body in channel.consume(QUEUE, inactivity_timeout=None):
            consumed.record(int(body), method.redelivered)
            channel.basic_ack(method.delivery_tag)
    except Exception:
        pass  # the server died under it


def publish_until_closed(port, confirmed, next_seq):
    try:
        connection = connect(port)
        channel = connection.channel()
        channel.queue_declare(QUEUE, durable=True)
        channel.confirm_delivery()
        persistent = pika.BasicProperties(delivery_mode=2)
        while True:
            seq = next_seq[0]
            next_seq[0] += 1
            channel.basic_publish("", QUEUE, str(seq).encode(), persistent)
            confirmed.add(seq)  # basic_publish returned: the broker acked it
    except Exception:
        pass  # the server died under it: the last publish is unconfirmed


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--binary", default="target/release/brokerlab")
    parser.add_argument("--kills", type=int, default=50)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    port, data_dir = free_port(), tempfile.mkdtemp(prefix="brokerlab-kills-")
    confirmed, consumed, next_seq = set(), Consumed(), [0]
    started = time.time()
    # The queue exists before the first consumer subscribes.
    server = start(args.binary, port, data_dir)
    connect(port).channel().queue_declare(QUEUE, durable=True)
    for _ in range(args.kills):
        killer = threading.Timer(rng.uniform(0.2, 1.0), server.send_signal, [signal.SIGKILL])
        consumer = threading.Thread(target=consume_until_closed, args=(port, consumed))
        consumer.start()
        killer.start()
        publish_until_closed(port, confirmed, next_seq)
        killer.join()
        server.wait()
        consumer.join()
        server = start(args.binary, port, data_dir)
    # Drain what is left.
    connection = connect(port)
    channel = connection.channel()
    while True:
        method, _, body = channel.basic_get(QUEUE)
        if method is None:
            break
        consumed.record(int(body), method.redelivered)
        channel.basic_ack(method.delivery_tag)
    connection.close()
    server.send_signal(signal.SIGTERM)
    server.wait()
    lost = sorted(confirmed - set(consumed.times))
    print(json.dumps({
        "kills": args.kills,
        "published": next_seq[0],
        "confirmed": len(confirmed),
        "lost": len(lost),
        "lost_first": lost[:10],
        "redelivered_duplicates": sum(n - 1 for n in consumed.times.values() if n > 1)
        - consumed.unflagged_again,
        "unflagged_duplicates": consumed.unflagged_again,
        "seconds": round(time.time() - started, 1),
    }, indent=2))


if __name__ == "__main__":
    main()
