#!/usr/bin/env python3
"""Runs a criterion bench and writes its figures, with date, machine and commit,
to a Markdown report, then redraws the plots (scripts/plots.py, reports/plots/).
Usage: scripts/bench-report.py core reports/bench-core.md [CRITERION ARGS...];
the criterion arguments default to `--warm-up-time 2 --measurement-time 6`
(on a busy machine, `--warm-up-time 1 --measurement-time 2` is shorter).

Ratios compare benches measured in the same run, since the machines are shared
and noisy: an absolute figure moves with the neighbours, a ratio much less.
"""
import datetime
import os
import json
import pathlib
import platform
import shutil
import subprocess
import sys

# The parameters of `core/publish_deliver_ack/{size,consumers}/*` and their
# floors (`SIZES` and `CONSUMERS` in benches/core.rs).
SIZES = [16, 256, 4096, 65536]
CONSUMERS = [1, 4, 16]

DEFAULT_CRITERION_ARGS = ["--warm-up-time", "2", "--measurement-time", "6"]

TARGETS = {
    "core": [
        ("core/publish_deliver_ack/direct", "publish → deliver → ack, one queue, prefetch 1000, ack every 100, 16-byte bodies, events on"),
        ("core/publish_deliver_ack/direct_no_events", "the same with the broker's events turned off (`Config::events`)"),
        ("core/floor/vecdeque_map", "floor: the same messages through a VecDeque and a map of in-flight tags"),
        *[
            row
            for size in SIZES
            for row in (
                (f"core/publish_deliver_ack/size/{size}", f"the path with events, {size:,}-byte bodies"),
                (f"core/floor/size/{size}", f"floor: the same {size:,}-byte bodies, measured right after"),
            )
        ],
        *[
            row
            for consumers in CONSUMERS
            for row in (
                (f"core/publish_deliver_ack/consumers/{consumers}", f"the path with events, {consumers} consumer(s) on the queue, each acking every 100 of its deliveries"),
                (f"core/floor/consumers/{consumers}", f"floor: a VecDeque and {consumers} in-flight map(s) taken in turn, measured right after"),
            )
        ],
        ("core/route/topic_10k", "publish to a topic exchange with 10,000 mixed `*`/`#` bindings over 10 no-ack queues"),
        ("core/route/topic_10k_match", "routing alone: the same bindings and keys through the topic trie (`TopicRouter`), destinations sorted and deduplicated"),
        ("core/recover_1m", "recover 1,000,000 persistent messages of a durable queue from an in-memory log"),
        ("core/cost/arc_clone_drop", "peer: an `Arc<str>` cloned into a short vector and dropped, the two atomic instructions a shared reference costs"),
        ("core/cost/rc_clone_drop", "peer: the same with an `Rc<str>`, no atomic instruction"),
        ("core/delete/queue_among_100k_exchanges", "a queue declared, bound to one exchange and deleted, among 100,000 other exchanges"),
        ("core/delete/queue_among_1_exchange", "peer: the same with no other exchange"),
    ],
    "sim": [
        ("sim/events_per_sec/mixed", "the `mixed` workload, seeds 0-3, swarm faults, every checker, on one core (per event)"),
        ("sim/events_per_sec/stream_keyed", "the `stream-keyed` workload (keyed producers, a consumer group of readers), seeds 0-7, swarm faults, every checker, on one core (per event)"),
        ("sim/floor/event_queue", "floor: as many events through the simulator's event queue, nothing done per event"),
        ("sim/seed/work_queue_1000", "one whole seed of the work-queue workload with 1,000 messages, checkers included (per seed)"),
    ],
}


# Atomic instructions left on the publish → deliver → ack path, per message:
# the message's Arc cloned into the delivery and dropped by the driver (2).
# The properties cost none when a publish repeats its channel's last ones
# (`PublishProperties::Repeated`, as the server sends them and the benches
# publish); names are inline (`smol_str`); the uniqueness check that lets an
# acked message's allocation be reused is a plain load (`triomphe::Arc`).
ATOMICS_PER_MESSAGE = 2


# The plots scripts/plots.py draws from each report's figures, linked from it.
FIGURES = {
    "core": [
        "## Figures",
        "",
        "Drawn by `scripts/plots.py` from this run's criterion estimates (95% intervals as bars).",
        "",
        "![messages per second and the ratio to the floor over body size](plots/core-size.svg)",
        "",
        "![messages per second and the ratio to the floor over consumer count](plots/core-consumers.svg)",
        "",
    ],
    "sim": [
        "## Figures",
        "",
        "![seeds per hour](plots/sim-seeds.svg)",
        "",
    ],
}


def run(args):
    return subprocess.run(args, check=True, capture_output=True, text=True)


def machine():
    model = "unknown CPU"
    for line in pathlib.Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            model = line.split(":", 1)[1].strip()
            break
    cores = len([l for l in pathlib.Path("/proc/cpuinfo").read_text().splitlines() if l.startswith("processor")])
    return f"{model}, {cores} cores, Linux {platform.release()}"


def criterion_directories():
    """Each criterion result's directory, by its full id: a `BenchmarkId`'s
    parameter is a directory of its own (core/floor_size/16 for core/floor/size/16)."""
    target = pathlib.Path(os.environ.get("CARGO_TARGET_DIR", "target"))
    directories = {}
    for path in (target / "criterion").glob("**/new/benchmark.json"):
        directories[json.loads(path.read_text())["full_id"]] = path.parent.parent
    return directories


def estimate(bench_id, directories):
    directory = directories[bench_id]
    estimates = json.loads((directory / "new/estimates.json").read_text())
    benchmark = json.loads((directory / "new/benchmark.json").read_text())
    # A bench without a throughput (core/delete/*) counts one element per iteration.
    elements = (benchmark["throughput"] or {}).get("Elements", 1)
    mean_ns = estimates["mean"]["point_estimate"]
    low_ns = estimates["mean"]["confidence_interval"]["lower_bound"]
    high_ns = estimates["mean"]["confidence_interval"]["upper_bound"]
    return elements, mean_ns, low_ns, high_ns


def instruction_count():
    """The callgrind instruction count per message, when valgrind is installed."""
    if shutil.which("valgrind") is None:
        return ["- instructions per message: not measured (valgrind is not installed)"]
    lines = []
    for messages, variant in (("100000", []), ("100000", ["no-events"]), ("10240", ["topic"])):
        line = run(["scripts/instructions-per-message.sh", messages, *variant]).stdout.strip().splitlines()[-1]
        lines.append(f"- {line} — `scripts/instructions-per-message.sh {messages} {' '.join(variant)}`, noise-free")
    return lines


def paired():
    """The core/floor ratio from alternating rounds (`benches/paired.rs`)."""
    line = next(l for l in run(["cargo", "bench", "--bench", "paired"]).stdout.splitlines() if l.startswith("paired:"))
    fields = dict(field.split("=") for field in line.split()[1:])
    return [
        f"- ratio core/floor in alternating rounds (`cargo bench --bench paired`, median of {fields['rounds']} rounds "
        f"of {int(fields['messages']):,} messages, each round's path against the floor measured beside it): "
        f"**{float(fields['ratio_on']):.1f}x** with events (rounds {fields['ratio_on_range'].replace('-', ' to ')}), "
        f"**{float(fields['ratio_off']):.1f}x** without ({fields['ratio_off_range'].replace('-', ' to ')}); "
        f"medians {fields['events_on_ns']} / {fields['events_off_ns']} / {fields['floor_ns']} ns per message. "
        "The floor alone swings by a fifth between criterion's runs, so this is the steadier ratio",
    ]


def main():
    bench, report = sys.argv[1], pathlib.Path(sys.argv[2])
    criterion_args = sys.argv[3:] or DEFAULT_CRITERION_ARGS
    load_before = os.getloadavg()[0]
    result = run(["cargo", "bench", "--bench", bench, "--", *criterion_args])
    notes = list(dict.fromkeys(line.removeprefix("note: ") for line in result.stderr.splitlines() if "per publish" in line or line.startswith("note: ")))
    commit = run(["git", "rev-parse", "--short", "HEAD"]).stdout.strip()
    dirty = run(["git", "status", "--porcelain", "--untracked-files=no"]).stdout.strip()
    rows, per_element = [], {}
    directories = criterion_directories()
    for bench_id, what in TARGETS[bench]:
        elements, mean_ns, low_ns, high_ns = estimate(bench_id, directories)
        per = mean_ns / elements
        per_element[bench_id] = per
        rows.append(f"| `{bench_id}` | {what} | {per:.1f} ns | {1e9 / per / 1e6:.2f} M/s | [{low_ns / elements:.1f}, {high_ns / elements:.1f}] ns |")
    lines = [
        f"# Bench: {bench}",
        "",
        f"- date: {datetime.datetime.now(datetime.timezone.utc).strftime('%Y-%m-%d %H:%M UTC')}",
        f"- machine: {machine()}",
        f"- load average when it started: {load_before:.2f} (the machine is shared; above ~1 the wall-clock figures are inflated)",
        f"- commit: {commit}{' (with uncommitted changes)' if dirty else ''}",
        f"- command: `scripts/bench-report.py {bench} {report}{''.join(' ' + a for a in sys.argv[3:])}` "
        f"(runs `cargo bench --bench {bench} -- {' '.join(criterion_args)}`, then `scripts/plots.py`)",
        "",
        "| bench | what | time per element (mean) | elements per second | 95% interval per element |",
        "|---|---|---|---|---|",
        *rows,
        "",
    ]
    if bench == "core":
        core = per_element["core/publish_deliver_ack/direct"]
        quiet = per_element["core/publish_deliver_ack/direct_no_events"]
        floor = per_element["core/floor/vecdeque_map"]
        topic = per_element["core/route/topic_10k"]
        routing = per_element["core/route/topic_10k_match"]
        recover_s = per_element["core/recover_1m"] * 1_000_000 / 1e9
        arc = per_element["core/cost/arc_clone_drop"]
        rc = per_element["core/cost/rc_clone_drop"]
        among_many = per_element["core/delete/queue_among_100k_exchanges"]
        among_one = per_element["core/delete/queue_among_1_exchange"]
        by_size = ", ".join(
            f"{size:,} B {per_element[f'core/publish_deliver_ack/size/{size}'] / per_element[f'core/floor/size/{size}']:.1f}x"
            for size in SIZES
        )
        by_consumers = ", ".join(
            f"{consumers} {per_element[f'core/publish_deliver_ack/consumers/{consumers}'] / per_element[f'core/floor/consumers/{consumers}']:.1f}x"
            for consumers in CONSUMERS
        )
        lines += [
            f"- ratio core/floor: **{core / floor:.1f}x** with events, **{quiet / floor:.1f}x** without (target: within 3x)",
            f"- ratio core/floor over body size, each size's floor measured right after it: {by_size}",
            f"- ratio core/floor over consumers on the queue, each count's floor (as many in-flight maps) right after it: {by_consumers}",
            *paired(),
            f"- publish → deliver → ack: **{1e9 / core / 1e6:.2f} M messages/s** on one core with events, "
            f"**{1e9 / quiet / 1e6:.2f} M/s** without (target: 5 M/s)",
            f"- topic routing against 10,000 bindings: **{routing:.0f} ns** per publish (target: under 1 µs); "
            f"the whole publish, enqueue and deliveries included: {topic:.0f} ns",
            f"- recovery of 1,000,000 persistent messages: **{recover_s:.2f} s** (target: under 1 s)",
            f"- a shared reference (`Arc` clone and drop) costs **{arc:.1f} ns** on this machine, {arc / rc:.0f}x an `Rc`'s; "
            f"the path keeps {ATOMICS_PER_MESSAGE} atomic instructions per message, about {ATOMICS_PER_MESSAGE / 2 * arc:.0f} ns "
            f"({ATOMICS_PER_MESSAGE / 2 * arc / core * 100:.0f}% of the message's time with events)",
            f"- a queue's declare, bind and delete among 100,000 exchanges: **{among_many / 1000:.2f} µs**, "
            f"{among_many / among_one:.2f}x the same among none (a delete visits only the exchanges bound to what it deletes)",
            *[f"- {note.strip()}" for note in notes],
            *instruction_count(),
            "- wall-clock figures on this shared VM move by 5-20% between runs (the floor too);",
            "  instruction counts do not, but they miss atomic instructions and store-forwarding",
            "  stalls: time a hot-path change as well (`perf record -e cpu-clock` on `publish_loop`).",
            "",
        ]
    if bench == "sim":
        event = per_element["sim/events_per_sec/mixed"]
        floor = per_element["sim/floor/event_queue"]
        seed_s = per_element["sim/seed/work_queue_1000"] / 1e9
        simulated_s = next(float(n.split(", ")[1].split()[0]) for n in notes if n.startswith("mixed"))
        events = next(int(n.split(": ")[1].split()[0]) for n in notes if n.startswith("mixed"))
        wall_s = event * events / 1e9
        lines += [
            f"- simulated events per second on one core: **{1e9 / event / 1e6:.2f} M/s** (target: at least 1 M/s)",
            f"- ratio simulator/floor: **{event / floor:.1f}x** per event (the floor is the bare event queue)",
            f"- stream-keyed against mixed: **{per_element['sim/events_per_sec/stream_keyed'] / event:.2f}x** the time per event "
            "(target: within 2x of the queue workloads')",
            f"- simulated seconds per wall second: **{simulated_s / wall_s:,.0f}x** real time (target: at least 1000x)",
            f"- seeds of the 1,000-message work-queue per hour: **{3600 / seed_s:,.0f}** on one core, "
            f"**{2 * 3600 / seed_s:,.0f}** on this machine's 2 cores (target: at least 500,000)",
            *[f"- {note.strip()}" for note in notes],
            "- a simulated run's time includes the heal phase's wait for the last consumer-timeout",
            "  timer (10 s), which is why simulated time runs so far ahead of wall time.",
            "",
        ]
    lines += FIGURES.get(bench, [])
    report.write_text("\n".join(lines))
    run([sys.executable, "scripts/plots.py"])
    print(report.read_text())


if __name__ == "__main__":
    main()
