#!/usr/bin/env python3
"""Runs the saga bench and writes its figures, the two floors measured beside
it and the ratios, with date, machine, load and commit, to
reports/bench-sagas.md.

Usage: scripts/bench-sagas.py [--no-run]   (--no-run reads the last run's estimates)
"""
import datetime
import os
import pathlib
import sys
import textwrap

from benchlib import commit_line, estimate, machine, run

COMMAND = ["cargo", "bench", "-p", "brokerlab-core", "--bench", "sagas", "--",
           "--warm-up-time", "1", "--measurement-time", "3"]
REPORT = pathlib.Path("reports/bench-sagas.md")
SAGAS_PER_ITERATION = 1_000
TARGET_PER_S = 500_000
BENCHES = [
    ("core/saga/three_steps", "1,000 order sagas of three steps, 100 in flight: each start published, each command routed to a durable queue once its record is synced and delivered, each success reply published, the outcome published; one sync per round"),
    ("core/saga/floor_same_messages", "the floor: the same eight messages per saga (a start, three commands, three replies, the outcome, each with the properties, headers and body the saga gives it) published by clients as plain persistent messages through durable queues to consumers, with the same syncs and no saga"),
    ("core/saga/floor_plain_publishes", "a lower floor: only the four client publishes per saga (a start, three replies), bare, as plain persistent messages through durable queues to consumers, with the same syncs"),
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
    sagas, floor, lower = (rates[bench_id] for bench_id, _ in BENCHES)
    verdict = "met" if sagas >= TARGET_PER_S else "missed"
    per_message_ns = 1e9 / floor / 8
    floor_vs_target = "above" if floor >= TARGET_PER_S else "below"
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
        f"- the floor, the same eight messages with no saga: {floor:,.0f} per second, {floor_vs_target} the target; sagas run at **{sagas / floor:.2f}x** the floor",
        f"- the lower floor, the four client publishes alone: {lower:,.0f} per second ({sagas / lower:.2f}x)",
        "",
        "## Reading",
        "",
        "A saga of three steps is eight inputs to the broker (a start, three replies and",
        "four syncs, shared by the 100 sagas of a round) and eight messages: the four its",
        "clients publish and the four the broker sends (three commands and the outcome).",
        "The broker logs each transition in one record with the message it sends.",
        "",
        *textwrap.wrap(
            "The floor is the issue's: the same messages through the plain publish/consume "
            "path. It publishes all eight as a client would, each with the properties the "
            "saga gives it (message id, correlation id, reply-to, timestamp, the step's "
            "shared header table, the outcome's headers and JSON body), each enqueued on a "
            "durable queue, logged, delivered and its removal logged, with no saga at all. "
            f"It runs at {floor:,.0f} sagas a second, {per_message_ns:.0f} ns a message: the plain "
            "path alone, carrying a saga's messages, is "
            + ("already slower than the target, so no saga built on it can meet the target on "
               "this machine. Meeting it takes a plain persistent path about twice as fast for "
               "every message, or a saga protocol that sends fewer messages."
               if floor < TARGET_PER_S else "faster than the target.")
            + " The lower floor carries only the four client publishes, bare: a bare "
            f"persistent message takes {1e9 / lower / 4:.0f} ns through the same path, so "
            f"{1 - (1e9 / lower / 4) / per_message_ns:.0%} of a saga message's cost goes with what it "
            "carries: its properties and headers, built, routed, held and freed.",
            80),
        "",
        "Both benches run the core on mimalloc, the allocator `brokerlab serve` uses,",
        "and move its clock a microsecond an input, as a driver's clock moves, so that",
        "each transition moves its saga's deadline as it does in the server.",
        "",
        "A command's header table is built once, when its saga is defined, and shared",
        "by every instance's command for that step (a header table is shared between",
        "messages, `Arc`, and copied only where the broker rewrites it, as in",
        "dead-lettering); the commands name their saga in `message_id` and",
        "`correlation_id` only, so that one table serves every saga. Building the",
        "tables per message instead costs about a fifth more time per saga (an A/B of",
        "two bench binaries).",
        "",
        "Where a saga's own time goes, from a profile of the saga bench (`perf record`",
        "with call graphs over `--profile-time`): the broker's saga work proper,",
        "`saga_effect`, about 36%: building the message a transition sends, 18%",
        "(formatting the correlation id 4%, the outcome's JSON 3%, the properties,",
        "envelope and message allocations most of the rest); the transition, its",
        "deadline moved in the deadline set, 14%; finding the saga and its instance by",
        "name, about 7% (saga ids are strings, looked up among the 10,000 ended sagas",
        "each exchange remembers); copying the instance into its record, the rest.",
        "",
        "What does not close the gap, each measured on this bench: holding header names",
        "and saga ids inline, as `Name`s, is about 5 to 10% slower (on mimalloc an",
        "allocation costs less than the extra work of comparing inline strings in the",
        "tables' searches); holding saga ids as shared `Arc<str>`, so that the deadline",
        "set and the records share them, changes nothing measurable; boxing the",
        "instance in its record changes nothing measurable either.",
        "",
    ]
    REPORT.write_text("\n".join(lines))
    print(REPORT.read_text())


if __name__ == "__main__":
    main()
