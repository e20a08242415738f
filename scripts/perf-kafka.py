#!/usr/bin/env python3
"""Measures `brokerlab serve`'s Kafka listener with `brokerlab perf --kafka`
(librdkafka from Rust, the `kafka-perf` feature) and writes
reports/perf-kafka.md: the four measures of issue 19, each over a few rounds,
the median reported.

  1. produce, acks=1, one producer, as fast as the broker takes records;
  2. consume alone, one consumer, from a backlog filled before the clock;
  3. produce, acks=all, idempotent;
  4. produce-to-consume latency, one producer paced at 10,000 records/s
     with linger 0, one consumer.

Usage: scripts/perf-kafka.py [--binary PATH] [--rounds N] (the binary built
with `cargo build --release --features kafka-perf`)."""
import argparse
import datetime
import json
import os
import pathlib
import shutil
import statistics
import subprocess
import tempfile
import time

from benchlib import commit_line, free_port, machine, wait_port

TARGET_ACKS_1 = 1_000_000
TARGET_CONSUME = 1_000_000
TARGET_IDEMPOTENT = 500_000
TARGET_P99_MS = 5.0
PACED_PER_S = 10_000
SIZE = 100


def perf(binary, servers, topic, *args):
    command = [binary, "perf", "--kafka", servers, "--queue", topic, "--size", str(SIZE),
               "--json", *args]
    out = subprocess.run(command, check=True, capture_output=True, text=True, timeout=600)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--binary", default="target/release/brokerlab")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    load = os.getloadavg()[0]
    data = tempfile.mkdtemp(prefix="brokerlab-perf-kafka-")
    port = free_port()
    server = subprocess.Popen(
        [args.binary, "serve", "--listen", f"127.0.0.1:{free_port()}", "--data-dir", data,
         "--kafka-listen", f"127.0.0.1:{port}"], stderr=subprocess.DEVNULL)
    rounds = []
    try:
        wait_port(port, timeout=60)
        servers = f"127.0.0.1:{port}"
        time.sleep(1)
        for n in range(args.rounds):
            rounds.append({
                "acks_1": perf(args.binary, servers, f"perf-acks-1-{n}", "--consumers", "0",
                               "--duration-s", "5")["produced_per_s"],
                "consume": perf(args.binary, servers, f"perf-consume-{n}", "--producers", "0",
                                "--backlog", "4000000", "--duration-s", "1")["consumed_per_s"],
                "idempotent": perf(args.binary, servers, f"perf-idempotent-{n}", "--consumers",
                                   "0", "--acks", "all", "--idempotent",
                                   "--duration-s", "5")["produced_per_s"],
                "latency": perf(args.binary, servers, f"perf-latency-{n}", "--rate",
                                str(PACED_PER_S), "--linger-ms", "0", "--duration-s", "10"),
            })
    finally:
        server.terminate()
        server.wait(timeout=30)
        shutil.rmtree(data, ignore_errors=True)
    median = lambda key: statistics.median(r[key] for r in rounds)
    median_us = lambda key: statistics.median(r["latency"][key] for r in rounds) / 1000
    acks_1, consumed, idempotent = median("acks_1"), median("consume"), median("idempotent")
    p50, p95, p99, worst = (median_us(k) for k in ("p50_us", "p95_us", "p99_us", "max_us"))
    verdict = lambda ok: "met" if ok else "missed"
    per_round = lambda key: ", ".join(f"{r[key]:,.0f}" for r in rounds)
    lines = [
        "# Perf: the Kafka listener with `brokerlab perf --kafka`",
        "",
        f"- date: {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC",
        f"- machine: {machine()}",
        f"- load average when it started: {load:.2f} (the machine is shared; above ~1 the figures are deflated)",
        f"- commit: {commit_line()}",
        f"- command: `scripts/perf-kafka.py --binary {args.binary} --rounds {args.rounds}` (writes this page)",
        "- client: librdkafka 2.0.2 (Debian's) through the rdkafka crate, in one process with a "
        "thread per producer and consumer, on the same two cores as the server; one topic of one "
        f"partition per measure, records of {SIZE} bytes, linger 5 ms unless said; a second of "
        "warm-up before each measured window; the median of the rounds",
        "",
        "| measure | result | per round | target |",
        "|---|---:|---|---|",
        f"| produce, acks=1, 1 producer, 5 s | {acks_1:,.0f} records/s | {per_round('acks_1')} | "
        f"{TARGET_ACKS_1:,}: {verdict(acks_1 >= TARGET_ACKS_1)} |",
        f"| consume a 4,000,000-record backlog, 1 consumer, 1 s | {consumed:,.0f} records/s | "
        f"{per_round('consume')} | {TARGET_CONSUME:,}: {verdict(consumed >= TARGET_CONSUME)} |",
        f"| produce, acks=all, idempotent, 5 s | {idempotent:,.0f} records/s | {per_round('idempotent')} | "
        f"{TARGET_IDEMPOTENT:,}: {verdict(idempotent >= TARGET_IDEMPOTENT)} |",
        f"| produce-to-consume latency at {PACED_PER_S:,} records/s (linger 0), p50 / p95 / p99 / max, 10 s | "
        f"{p50:.2f} / {p95:.2f} / {p99:.2f} / {worst:.2f} ms | "
        + ", ".join(f"p99 {r['latency']['p99_us'] / 1000:.2f}" for r in rounds)
        + f" | p99 under {TARGET_P99_MS:.0f} ms: {verdict(p99 < TARGET_P99_MS)} |",
        "",
        "Reading: the load tool's producer and consumer threads and librdkafka's own threads "
        "share the two cores with the server, so a rate is what client and server reach "
        "together. A durable topic serves a record only once its batch is synced (no reader "
        "sees a record that a crash could take back), so the latency includes the log's "
        "group commit, where Kafka serves up to its replicated high watermark without an fsync. "
        "`reports/bench-kafka.md` has the same measures with confluent-kafka from Python.",
        "",
    ]
    path = pathlib.Path("reports/perf-kafka.md")
    path.write_text("\n".join(lines))
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
