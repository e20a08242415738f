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
        "each with its record. The floor carries only the first four.",
        "",
        "Both benches run the core on mimalloc, the allocator `brokerlab serve` uses,",
        "and move its clock a microsecond an input, as a driver's clock moves, so that",
        "each transition moves its saga's deadline as it does in the server.",
        "",
        "A command's header table is built once, when its saga is defined, and shared",
        "by every instance's command for that step (a header table is shared between",
        "messages, `Arc`, and copied only where the broker rewrites it, as in",
        "dead-lettering). The commands name their saga in `message_id` and",
        "`correlation_id` only, not in a header of their own, so that one table serves",
        "every saga. Measured as an A/B of two bench binaries alternating three times,",
        "that took a saga from 6.49-6.90 µs to 5.19-5.61 µs on this machine, 19% less",
        "time: building six header entries for each of a saga's four messages had been",
        "about a quarter of the message the broker builds.",
        "",
        "Where the time goes now, from a profile of the saga bench (`perf record` with",
        "call graphs over `--profile-time`): the broker's saga work proper,",
        "`saga_effect`, takes about 36%: building the message a transition sends, 18%",
        "(formatting the correlation id 4%, the outcome's JSON 3%, the properties,",
        "envelope and message allocations most of the rest); the transition, its",
        "deadline moved in the deadline set, 14%; finding the saga and its instance by",
        "name, about 7% (saga ids are strings, looked up among the 10,000 ended sagas",
        "each exchange remembers); copying the instance into its record, the rest. The",
        "plain path, which the floor pays too, carries twice the messages. So even a",
        "saga transition that cost nothing would leave the bench near",
        "1 / (1 - 0.36) = 1.6 times faster, under 400,000 sagas a second. The target",
        "asks for 2 µs a saga: eight messages at the floor's cost per message (about",
        "170 ns) leave under 100 ns for each of the four transitions, message and",
        "record included.",
        "",
        "What does not close the gap, each measured on this bench: holding header names",
        "and saga ids inline, as `Name`s, is about 5 to 10% slower (on mimalloc an",
        "allocation costs less than the extra work of comparing inline strings in the",
        "tables' searches); holding saga ids as shared `Arc<str>`, so that the deadline",
        "set and the records share them, changes nothing measurable; boxing the",
        "instance in its record changes nothing measurable either. Meeting the target",
        "takes a plain path that costs about half what it does, or a saga protocol that",
        "sends less.",
        "",
    ]
    REPORT.write_text("\n".join(lines))
    print(REPORT.read_text())


if __name__ == "__main__":
    main()
