#!/usr/bin/env python3
"""Runs the consumer group bench and writes its figure, with date, machine,
load and commit, to reports/bench-groups.md.

Usage: scripts/bench-groups.py [--no-run]   (--no-run reads the last run's estimates)
"""
import datetime
import json
import os
import pathlib
import platform
import subprocess
import sys

COMMAND = ["cargo", "bench", "-p", "brokerlab-core", "--bench", "groups", "--",
           "--warm-up-time", "1", "--measurement-time", "3"]
REPORT = pathlib.Path("reports/bench-groups.md")
TARGET_NS = 1_000_000
BENCHES = [
    ("core/group/rebalance_100x1000", "100 members join an Empty group, the initial delay passes, the leader decodes the subscriptions, runs `range` over 10 topics x 100 partitions and encodes the assignments, all 100 sync; every reply drained"),
    ("core/group/rebalance_100x1000_roundrobin", "the same with `roundrobin`"),
]


def run(args):
    return subprocess.run(args, check=True, capture_output=True, text=True)


def machine():
    lines = pathlib.Path("/proc/cpuinfo").read_text().splitlines()
    model = next((l.split(":", 1)[1].strip() for l in lines if l.startswith("model name")), "unknown CPU")
    cores = len([l for l in lines if l.startswith("processor")])
    return f"{model}, {cores} cores, Linux {platform.release()}"


def estimate(bench_id):
    group, name = bench_id.split("/", 1)
    target = pathlib.Path(os.environ.get("CARGO_TARGET_DIR", "target"))
    directory = target / "criterion" / group / name.replace("/", "_")
    estimates = json.loads((directory / "new/estimates.json").read_text())
    mean = estimates["mean"]
    return mean["point_estimate"], mean["confidence_interval"]["lower_bound"], mean["confidence_interval"]["upper_bound"]


def main():
    load = os.getloadavg()[0]
    if "--no-run" not in sys.argv:
        run(COMMAND)
    commit = run(["git", "rev-parse", "--short", "HEAD"]).stdout.strip()
    dirty = run(["git", "status", "--porcelain", "--untracked-files=no"]).stdout.strip()
    rows, figures = [], {}
    for bench_id, what in BENCHES:
        mean, low, high = estimate(bench_id)
        figures[bench_id] = mean
        rows.append(f"| `{bench_id}` | {what} | {mean / 1000:.0f} µs | [{low / 1000:.0f}, {high / 1000:.0f}] µs |")
    headline = figures[BENCHES[0][0]]
    verdict = "met" if headline < TARGET_NS else "missed"
    lines = [
        "# Bench: consumer groups",
        "",
        f"- date: {datetime.datetime.now(datetime.timezone.utc).strftime('%Y-%m-%d %H:%M UTC')}",
        f"- machine: {machine()}",
        f"- load average when it started: {load:.2f} (the machine is shared; above ~1 the wall-clock figures are inflated)",
        f"- commit: {commit}{' (with uncommitted changes)' if dirty else ''}",
        f"- command: `scripts/bench-groups.py` (runs `{' '.join(COMMAND)}`)",
        "",
        "| bench | what | time per rebalance (mean) | 95% interval |",
        "|---|---|---|---|",
        *rows,
        "",
        f"- a full rebalance of 100 members over 1,000 partitions: **{headline / 1000:.0f} µs** (target: under 1 ms: {verdict})",
        "",
        "## Reading",
        "",
        "The figure is everything a rebalance costs on the coordinator and the leader together:",
        "200 requests through `Groups` (100 joins, 100 syncs), the join phase's completion",
        "with its protocol vote and 100 join responses (the leader's carrying every member's",
        "metadata), the leader's decoding of 100 subscriptions, the assignor, and the encoding",
        "of 100 assignments. A profile of it shows allocation and string comparison on top:",
        "member ids, topic names and timer keys are owned strings, copied into replies and",
        "compared in ordered maps, and no single rule dominates. Range and roundrobin cost",
        "about the same, since the assignor is a small part of the whole. A rebalance is rare",
        "beside the records a group consumes, so the strings stay for clarity while the",
        "figure holds its target.",
        "",
    ]
    REPORT.write_text("\n".join(lines))
    print(REPORT.read_text())


if __name__ == "__main__":
    main()
