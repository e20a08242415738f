#!/usr/bin/env python3
"""Measures `brokerlab serve`'s Kafka listener with a real client library,
confluent-kafka (librdkafka), on this machine, and writes
reports/bench-kafka.md with date, machine, load and commit.

In one run, against one freshly started server (release build):
  1. acks=1: one producer sends RECORDS records of 100 bytes to a topic of one
     partition, batched as librdkafka batches them (linger 5 ms); then one
     consumer reads them all from the beginning. Records per second each way.
  2. acks=all with enable.idempotence=true: the same producer on a second topic.
  3. latency: a producer paced at 10,000 records/s for PACED_S seconds, each
     value carrying its send time; a consumer in another process takes each
     record's produce-to-consume time. p50, p95, p99, max.
  4. memory: the server's RSS before step 1 and after it, per million
     100-byte records retained.

The client and the server share the machine's two cores, and the client is
Python driving librdkafka: the figures are what this pair reaches here, not
the server alone.

usage: scripts/bench-kafka.py [--binary target/release/brokerlab]
           [--records 1000000] [--report reports/bench-kafka.md]
"""
import argparse
import datetime
import multiprocessing
import os
import shutil
import subprocess
import sys
import tempfile
import time

from confluent_kafka import Consumer, Producer, TopicPartition

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from benchlib import commit_line, free_port, machine, wait_port  # noqa: E402

VALUE_BYTES = 100
PACED_PER_S = 10_000
PACED_S = 5
TARGET_ACKS_1 = 1_000_000
TARGET_IDEMPOTENT = 500_000
TARGET_P99_MS = 5.0


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError("no VmRSS")


def produce(servers, topic, records, extra):
    producer = Producer({"bootstrap.servers": servers, "linger.ms": 5,
                         "queue.buffering.max.messages": 1_000_000, **extra})
    value = b"x" * VALUE_BYTES
    failed = []

    def report(error, _message):
        if error is not None:
            failed.append(error)

    started = time.perf_counter()
    for _ in range(records):
        while True:
            try:
                producer.produce(topic, value, on_delivery=report)
                break
            except BufferError:
                producer.poll(0.01)
    if producer.flush(120):
        raise RuntimeError("records left undelivered")
    elapsed = time.perf_counter() - started
    if failed:
        raise RuntimeError(f"{len(failed)} records failed: {failed[0]}")
    return records / elapsed


def consume(servers, topic, records):
    consumer = Consumer({"bootstrap.servers": servers, "group.id": f"bench-{topic}",
                         "enable.auto.commit": False, "fetch.max.bytes": 52_428_800})
    consumer.assign([TopicPartition(topic, 0, 0)])
    got = 0
    started = time.perf_counter()
    while got < records:
        batch = consumer.consume(num_messages=10_000, timeout=10)
        if not batch:
            raise RuntimeError(f"read {got} of {records}, then nothing")
        got += sum(1 for message in batch if not message.error())
    elapsed = time.perf_counter() - started
    consumer.close()
    return records / elapsed


def paced_consumer(servers, topic, count, out):
    consumer = Consumer({"bootstrap.servers": servers, "group.id": "bench-latency",
                         "enable.auto.commit": False, "fetch.wait.max.ms": 10})
    consumer.assign([TopicPartition(topic, 0, 0)])
    latencies = []
    deadline = time.time() + PACED_S + 30
    while len(latencies) < count and time.time() < deadline:
        # One record per poll: a batched consume waits to fill its batch.
        message = consumer.poll(0.1)
        # The topic's first record, which created it, carries no time.
        if message is not None and not message.error() and message.value()[:1].isdigit():
            sent_ns = int(message.value()[:19])
            latencies.append((time.time_ns() - sent_ns) / 1e6)
    consumer.close()
    out.put(latencies)


def latency(servers, topic):
    count = PACED_PER_S * PACED_S
    # The topic exists before the consumer assigns its partition.
    produce(servers, topic, 1, {"acks": "1"})
    out = multiprocessing.Queue()
    reader = multiprocessing.Process(target=paced_consumer, args=(servers, topic, count, out))
    reader.start()
    time.sleep(2)
    producer = Producer({"bootstrap.servers": servers, "linger.ms": 0, "acks": "1"})
    started = time.perf_counter()
    for index in range(count):
        due = started + index / PACED_PER_S
        pause = due - time.perf_counter()
        if pause > 0:
            time.sleep(pause)
        producer.produce(topic, b"%019d" % time.time_ns() + b"x" * (VALUE_BYTES - 19))
        producer.poll(0)
    producer.flush(30)
    latencies = sorted(out.get(timeout=60))
    reader.join()
    if len(latencies) < count:
        raise RuntimeError(f"{len(latencies)} of {count} paced records consumed")
    pick = lambda q: latencies[min(len(latencies) - 1, int(q * len(latencies)))]
    return {"p50": pick(0.50), "p95": pick(0.95), "p99": pick(0.99), "max": latencies[-1]}


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--binary", default="target/release/brokerlab")
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--report")
    args = parser.parse_args()
    load = os.getloadavg()[0]
    data = tempfile.mkdtemp(prefix="brokerlab-bench-kafka-")
    port = free_port()
    server = subprocess.Popen(
        [args.binary, "serve", "--listen", f"127.0.0.1:{free_port()}", "--data-dir", data,
         "--kafka-listen", f"127.0.0.1:{port}"], stderr=subprocess.DEVNULL)
    try:
        wait_port(port, timeout=60)
        servers = f"127.0.0.1:{port}"
        time.sleep(1)
        before_kib = rss_kib(server.pid)
        acks_1 = produce(servers, "bench-acks-1", args.records, {"acks": "1"})
        time.sleep(2)
        after_kib = rss_kib(server.pid)
        consumed = consume(servers, "bench-acks-1", args.records)
        idempotent = produce(servers, "bench-idempotent", args.records,
                             {"acks": "all", "enable.idempotence": True})
        paced = latency(servers, "bench-latency")
    finally:
        server.terminate()
        server.wait(timeout=30)
        shutil.rmtree(data, ignore_errors=True)
    mib_per_million = (after_kib - before_kib) / 1024 * 1_000_000 / args.records
    ratio = lambda value, target: f"{value / target:.2f}x of {target:,}"
    lines = [
        "# Bench: the Kafka listener with confluent-kafka",
        "",
        f"- date: {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC",
        f"- machine: {machine()}",
        f"- load average when it started: {load:.2f} (the machine is shared; above ~1 the figures are deflated)",
        f"- commit: {commit_line()}",
        f"- command: `scripts/bench-kafka.py --binary {args.binary} --records {args.records}` (writes this page)",
        "- client: confluent-kafka (librdkafka) from Python, on the same two cores as the server; "
        "one topic of one partition per measure, records of 100 bytes, batches as librdkafka forms them (linger 5 ms)",
        "",
        "| measure | result | against the target |",
        "|---|---:|---|",
        f"| produce, acks=1, 1 producer | {acks_1:,.0f} records/s | {ratio(acks_1, TARGET_ACKS_1)} |",
        f"| consume from the beginning, 1 consumer | {consumed:,.0f} records/s | {ratio(consumed, TARGET_ACKS_1)} |",
        f"| produce, acks=all, idempotent | {idempotent:,.0f} records/s | {ratio(idempotent, TARGET_IDEMPOTENT)} |",
        f"| produce-to-consume latency at {PACED_PER_S:,} records/s, p50 / p95 / p99 / max | "
        f"{paced['p50']:.2f} / {paced['p95']:.2f} / {paced['p99']:.2f} / {paced['max']:.2f} ms | "
        f"p99 {paced['p99'] / TARGET_P99_MS:.2f}x of {TARGET_P99_MS:.0f} ms |",
        f"| server RSS per million 100-byte records retained | {mib_per_million:,.1f} MiB | (none) |",
        "",
        "Published anchors, from other machines: Kafka 821,557 records/s from one producer thread "
        "without replication; klite about 553,000 records/s of 1 KB on 4 vCPU.",
        "",
        "Reading: the producer and the consumer are Python processes driving librdkafka, and "
        "they share the two cores with the server, so a rate here is what this client and "
        "this server reach together; one Python thread calling `produce` per record is "
        "itself near a million calls a second. The targets are judged in "
        "`reports/perf-kafka.md`, on the same measures with `brokerlab perf --kafka` "
        "(librdkafka from Rust, the median of rounds); this page adds the Python client's "
        "view and the memory a retained record costs.",
        "",
    ]
    text = "\n".join(lines)
    print(text)
    if args.report:
        with open(args.report, "w") as page:
            page.write(text)


if __name__ == "__main__":
    main()
