#!/usr/bin/env python3
"""Runs the saga bench and writes its figures, the floor measured beside it
and their ratio, with date, machine, load and commit, to reports/bench-sagas.md.

Usage: scripts/bench-sagas.py [--no-run]   (--no-run reads the last run's estimates)
"""
import datetime
import os
import pathlib
import sys

from benchlib import commit_line, estimate, machine, run

COMMAND = ["cargo", "bench", "-p", "brokerlab-core", "--bench", "sagas", "--",
           "--warm-up-time", "1", "--measurement-time", "3"]
REPORT = pathlib.Path("reports/bench-sagas.md")
SAGAS_PER_ITERATION = 1_000
TARGET_PER_S = 500_000
BENCHES = [
    ("core/saga/three_steps", "1,000 order sagas of three steps, 100 in flight: each start published, each command routed to a durable queue once its record is synced and delivered, each success reply published, the outcome published; one sync per round"),
    ("core/saga/floor_plain_publishes", "the floor: the same four client publishes per saga (a start, three replies) as plain persistent messages through durable queues to consumers, with the same syncs"),
]


def main():
    load = os.getloadavg()[0]
    if "--no-run" not in sys.argv:
        run(COMMAND)
    rows, rates = [], {}
    for bench_id, what in BENCHES:
        mean, low, high = estimate(bench_id)
        rate = SAGAS_PER_ITERATION / (mean / 1e9)
        rates[bench_id] = rate
        rows.append(f"| `{bench_id}` | {what} | {rate:,.0f} sagas/s | {mean / SAGAS_PER_ITERATION / 1000:.2f} µs | [{low / 1e6:.2f}, {high / 1e6:.2f}] ms |")
    sagas, floor = rates[BENCHES[0][0]], rates[BENCHES[1][0]]
    verdict = "met" if sagas >= TARGET_PER_S else "missed"
    lines = [
        "# Bench: sagas",
        "",
        f"- date: {datetime.datetime.now(datetime.timezone.utc).strftime('%Y-%m-%d %H:%M UTC')}",
        f"- machine: {machine()}",
        f"- load average when it started: {load:.2f} (the machine is shared; above ~1 the wall-clock figures are inflated)",
        f"- commit: {commit_line()}",
        f"- command: `scripts/bench-sagas.py` (runs `{' '.join(COMMAND)}`)",
        "",
        "| bench | what | sagas per second (mean) | time per saga | 95% interval per 1,000 |",
        "|---|---|---|---|---|",
        *rows,
        "",
        f"- three-step sagas through the core: **{sagas:,.0f} sagas/s** on one core (target: at least {TARGET_PER_S:,}: {verdict})",
        f"- the floor, the same client publishes as plain messages: {floor:,.0f} per second; sagas run at **{sagas / floor:.2f}x** the floor",
        "",
        "## Reading",
        "",
        "A saga of three steps is eight inputs to the broker (a start, three replies and",
        "four syncs, shared by the 100 sagas of a round) and eight messages: the four its",
        "clients publish and the four the broker sends (three commands and the outcome),",
        "each with its record. The floor carries only the first four. A profile of the",
        "saga bench puts the allocator on top (about a third of the time: `malloc`,",
        "`free` and their helpers): every command is a new message with its own",
        "properties and six headers, every transition logs a copy of the instance, and",
        "instance keys and deadlines are owned strings compared in ordered maps. Closing",
        "the gap to the target is a design change, not a tweak: header tables and",
        "properties shared per step and action (built once from the definition), the",
        "instance held behind a shared pointer that its record clones cheaply, and",
        "instances keyed by a number rather than by their saga id.",
        "",
    ]
    REPORT.write_text("\n".join(lines))
    print(REPORT.read_text())


if __name__ == "__main__":
    main()
