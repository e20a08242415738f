#!/usr/bin/env python3
"""The RESP and SQS front ends measured: writes reports/bench-resp-sqs.md.

SQS: `brokerlab serve --sqs-listen` on this machine, loaded by
`brokerlab perf --sqs` (hyper's HTTP/1.1 client, a worker per kept-alive
connection, each sending a batch of 10, receiving up to 10 and deleting what it
received, in a loop). Messages through the full cycle per second and the receive
latency percentiles, the median over the rounds; the server's log is synced
(group commit) and every send is answered after its record is.

RESP: the Redis Pub/Sub comparison against Debian's redis-server is
scripts/bench-resp.py's, which writes reports/bench-resp.md; with --resp this
script runs it first, and in any case it copies that report here (and
scripts/bench-resp.py copies it again whenever it regenerates it).

Usage: scripts/bench-resp-sqs.py [--rounds 3] [--workers 8] [--seconds 10] [--resp] [--binary PATH]
"""
import argparse
import datetime
import json
import os
import pathlib
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from benchlib import RESP_SQS_REPORT, free_port, machine, resp_section, wait_port  # noqa: E402

REPORT = RESP_SQS_REPORT
TARGET_PER_S = 100_000


def git(*args):
    return subprocess.run(["git", *args], check=True, capture_output=True, text=True).stdout.strip()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--workers", type=int, default=8)
    ap.add_argument("--seconds", type=int, default=10)
    ap.add_argument("--resp", action="store_true")
    ap.add_argument("--binary", default=os.environ.get("BROKERLAB", "/work/target-rel/release/brokerlab"))
    a = ap.parse_args()
    if a.resp:
        subprocess.run([sys.executable, "scripts/bench-resp.py", "--binary", a.binary], check=True)
    load = os.getloadavg()[0]
    tmp = tempfile.mkdtemp(prefix="bench-sqs-")
    amqp, sqs = free_port(), free_port()
    server = subprocess.Popen(
        [a.binary, "serve", "--listen", f"127.0.0.1:{amqp}", "--sqs-listen", f"127.0.0.1:{sqs}",
         "--data-dir", os.path.join(tmp, "data")],
        stdout=open(os.path.join(tmp, "server.log"), "w"), stderr=subprocess.STDOUT)
    rounds = []
    try:
        wait_port(sqs)
        for r in range(a.rounds):
            out = subprocess.run(
                [a.binary, "perf", "--sqs", f"127.0.0.1:{sqs}", "--workers", str(a.workers),
                 "--duration-s", str(a.seconds), "--queue", f"bench-{r}", "--json"],
                check=True, capture_output=True, text=True).stdout
            report = json.loads(out)
            rounds.append(report)
            print(f"round {r + 1}: {report['cycled_per_s']:,.0f} messages/s, "
                  f"receive p99 {report['receive_latency_us']['p99']} us", flush=True)
    finally:
        server.terminate()
        server.wait(timeout=30)
    rate = statistics.median(r["cycled_per_s"] for r in rounds)
    p50 = statistics.median(r["receive_latency_us"]["p50"] for r in rounds)
    p99 = statistics.median(r["receive_latency_us"]["p99"] for r in rounds)
    verdict = "met" if rate >= TARGET_PER_S else "missed"
    dirty = git("status", "--porcelain", "--untracked-files=no")
    lines = [
        "# Bench: the RESP and SQS front ends",
        "",
        f"- date: {datetime.datetime.now(datetime.timezone.utc).strftime('%Y-%m-%d %H:%M UTC')}",
        f"- machine: {machine()}",
        f"- load average when it started: {load:.2f} (the machine is shared; above ~1 the figures are low)",
        f"- commit: {git('rev-parse', '--short', 'HEAD')}{' (with uncommitted changes)' if dirty else ''}",
        f"- command: `scripts/bench-resp-sqs.py --rounds {a.rounds} --workers {a.workers} --seconds {a.seconds}`",
        "",
        "## SQS: send, receive and delete in batches of 10",
        "",
        "`brokerlab serve --sqs-listen` loaded by `brokerlab perf --sqs` on the same machine "
        f"({a.workers} workers, each on a kept-alive HTTP/1.1 connection with hyper's client, "
        "looping SendMessageBatch of 10, ReceiveMessage of up to 10 without waiting, "
        "DeleteMessageBatch of what it received; every send answered once its record is synced).",
        "",
        "| round | messages/s through the cycle | receive p50 | receive p95 | receive p99 | receive max |",
        "|---|---|---|---|---|---|",
    ]
    for i, r in enumerate(rounds, 1):
        l = r["receive_latency_us"]
        lines.append(f"| {i} | {r['cycled_per_s']:,.0f} | {l['p50']} µs | {l['p95']} µs | {l['p99']} µs | {l['max']} µs |")
    lines += [
        "",
        f"- median: **{rate:,.0f} messages/s** through the full cycle (target: at least {TARGET_PER_S:,}: {verdict}); "
        f"receive latency p50 {p50:.0f} µs, **p99 {p99:.0f} µs**",
        "- the core alone runs the same cycle at the rate in `reports/bench-sqs-core.md`; the gap is HTTP, JSON and "
        "the load tool sharing the machine's two cores with the server",
        "",
        resp_section(),
    ]
    REPORT.write_text("\n".join(lines))
    print(REPORT.read_text())


if __name__ == "__main__":
    main()
