#!/usr/bin/env python3
"""Runs the durability bench (store/append_sync against its write+fdatasync
floor) and writes its figures, with date, machine and commit, to
reports/bench-durability.md. Usage, from the workspace root:

    scripts/bench-durability.py [reports/bench-durability.md]

The report's core/recover_1m section belongs to the core's recovery bench:
this script keeps whatever stands between its two markers as it is.

Group commit is compared with the floor measured in the same run, since the
machines are shared and noisy. Even so the disk's latency drifts between the
two criterion benches, which run one after the other, so the target is
checked against the bench's interleaved paired run (the two alternating batch
by batch). Honours CARGO_TARGET_DIR for where criterion writes.
"""
import datetime
import json
import os
import pathlib
import platform
import re
import subprocess
import sys

BENCHES = [
    ("store/append_sync", "FileStore: append 64 records (1 KiB bodies), then one sync (group commit)"),
    ("store/floor/write_fdatasync", "floor: the same 64 frames, already encoded, in one write + one fdatasync"),
]
RATIO_TARGET = 1.5
RECOVER_BEGIN = "<!-- core/recover_1m: begin -->"
RECOVER_END = "<!-- core/recover_1m: end -->"
RECOVER_PLACEHOLDER = "_Not measured yet: the core's recovery bench (`core/recover_1m`) adds its figures here._"


def run(args):
    return subprocess.run(args, check=True, capture_output=True, text=True)


def machine(target_dir):
    lines = pathlib.Path("/proc/cpuinfo").read_text().splitlines()
    model = next((line.split(":", 1)[1].strip() for line in lines if line.startswith("model name")), "unknown CPU")
    cores = len([line for line in lines if line.startswith("processor")])
    disk = run(["df", "--output=source,fstype", target_dir]).stdout.splitlines()[-1].split()
    return f"{model}, {cores} cores, Linux {platform.release()}; bench files on {disk[0]} ({disk[1]})"


def estimate(target_dir, bench_id):
    group, name = bench_id.split("/", 1)
    directory = pathlib.Path(target_dir) / "criterion" / group / name.replace("/", "_")
    estimates = json.loads((directory / "new/estimates.json").read_text())
    benchmark = json.loads((directory / "new/benchmark.json").read_text())
    elements = benchmark["throughput"]["Elements"]
    mean = estimates["mean"]
    interval = mean["confidence_interval"]
    return elements, mean["point_estimate"], interval["lower_bound"], interval["upper_bound"]


def recover_section(report):
    """The lead's core/recover_1m section as it stands, or a placeholder."""
    if report.exists():
        text = report.read_text()
        match = re.search(re.escape(RECOVER_BEGIN) + r"\n(.*?)" + re.escape(RECOVER_END), text, re.S)
        if match:
            return match.group(1).rstrip("\n")
    return RECOVER_PLACEHOLDER


def main():
    report = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else "reports/bench-durability.md")
    target_dir = os.environ.get("CARGO_TARGET_DIR", "target")
    result = run(["cargo", "bench", "-p", "brokerlab-store", "--bench", "append_sync", "--",
                  "--warm-up-time", "2", "--measurement-time", "6"])
    notes = [line.strip() for line in result.stderr.splitlines() if line.startswith("batch:")]
    paired = next(line.strip() for line in result.stderr.splitlines() if line.startswith("paired:"))
    paired_ratio = float(paired.rsplit(" ", 1)[1])
    commit = run(["git", "rev-parse", "--short", "HEAD"]).stdout.strip()
    dirty = run(["git", "status", "--porcelain", "--untracked-files=no"]).stdout.strip()
    rows, per_batch = [], {}
    for bench_id, what in BENCHES:
        elements, mean_ns, low_ns, high_ns = estimate(target_dir, bench_id)
        per_batch[bench_id] = mean_ns
        rows.append(
            f"| `{bench_id}` | {what} | {mean_ns / 1e3:.0f} µs | [{low_ns / 1e3:.0f}, {high_ns / 1e3:.0f}] µs "
            f"| {mean_ns / elements / 1e3:.1f} µs | {elements * 1e9 / mean_ns:,.0f} |"
        )
    ratio = per_batch["store/append_sync"] / per_batch["store/floor/write_fdatasync"]
    verdict = "met" if paired_ratio <= RATIO_TARGET else "NOT met"
    lines = [
        "# Bench: durability",
        "",
        f"- date: {datetime.datetime.now(datetime.timezone.utc).strftime('%Y-%m-%d %H:%M UTC')}",
        f"- machine: {machine(target_dir)}",
        f"- commit: {commit}{' (with uncommitted changes)' if dirty else ''}",
        "- command: `scripts/bench-durability.py` (runs `cargo bench -p brokerlab-store --bench append_sync`)",
        *[f"- {note}" for note in notes],
        "",
        "## store/append_sync: group commit against the fdatasync floor",
        "",
        "| bench | what | time per batch (mean) | 95% interval | per record | records per second |",
        "|---|---|---|---|---|---|",
        *rows,
        "",
        f"- ratio group commit / floor, interleaved paired run: **{paired_ratio:.2f}x** "
        f"(target: within {RATIO_TARGET}x: {verdict})",
        f"- {paired}",
        f"- ratio of the criterion means above: {ratio:.2f}x (the two ran one after the other; "
        "the disk's latency drifts between them, so this one is for reference only)",
        "",
        "## core/recover_1m",
        "",
        RECOVER_BEGIN,
        recover_section(report),
        RECOVER_END,
        "",
    ]
    report.write_text("\n".join(lines))
    print(report.read_text())


if __name__ == "__main__":
    main()
