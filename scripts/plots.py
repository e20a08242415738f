#!/usr/bin/env python3
"""Draws the bench plots into reports/plots/ and copies them to
docs/book/src/plots/ for the book. Usage: scripts/plots.py

- core-size.svg, core-consumers.svg: messages per second of the publish →
  deliver → ack path and of its floor over body size and over consumers on
  the queue, and their ratio, from criterion's estimates of the last
  `cargo bench --bench core` (CARGO_TARGET_DIR/criterion/core/...); when
  those are missing, from the table of reports/bench-core.md.
- sim-seeds.svg: simulator seeds per hour, from reports/bench-sim.md and
  reports/sweep-summary.md.
- models-states.svg: model checker states per second, from
  reports/bench-models.md.

scripts/bench-report.py runs it after writing its report. Needs matplotlib
(`python3 -m pip install matplotlib`). The SVGs keep their text as text (no
embedded glyphs), carry no date and use a fixed hash salt, so the same
figures give the same bytes.
"""
import json
import os
import pathlib
import re
import shutil

import matplotlib

matplotlib.use("svg")
import matplotlib.pyplot as plt  # noqa: E402

ROOT = pathlib.Path(__file__).resolve().parent.parent
PLOTS = ROOT / "reports" / "plots"
BOOK_PLOTS = ROOT / "docs" / "book" / "src" / "plots"

# The parameters of benches/core.rs (`SIZES`, `CONSUMERS`).
SIZES = [16, 256, 4096, 65536]
CONSUMERS = [1, 4, 16]

plt.rcParams.update(
    {
        "svg.fonttype": "none",
        "svg.hashsalt": "brokerlab",
        "font.size": 9,
        "figure.figsize": (6.4, 4.8),
        "axes.grid": True,
        "grid.alpha": 0.3,
    }
)
METADATA = {"Date": None, "Creator": "brokerlab scripts/plots.py"}


def criterion_figures():
    """Per-message mean and 95% interval (ns) of each core bench, by full id,
    from criterion's estimates."""
    target = pathlib.Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target"))
    if not target.is_absolute():
        target = ROOT / target
    figures = {}
    for path in (target / "criterion" / "core").glob("**/new/benchmark.json"):
        benchmark = json.loads(path.read_text())
        estimates = json.loads((path.parent / "estimates.json").read_text())
        elements = (benchmark["throughput"] or {}).get("Elements", 1)
        mean = estimates["mean"]
        figures[benchmark["full_id"]] = (
            mean["point_estimate"] / elements,
            mean["confidence_interval"]["lower_bound"] / elements,
            mean["confidence_interval"]["upper_bound"] / elements,
        )
    return figures


def report_figures():
    """The same from the table of reports/bench-core.md."""
    figures = {}
    row = re.compile(r"^\| `([^`]+)` \|.*\| ([\d.]+) ns \| [\d.]+ M/s \| \[([\d.]+), ([\d.]+)\] ns \|$")
    for line in (ROOT / "reports" / "bench-core.md").read_text().splitlines():
        match = row.match(line)
        if match:
            figures[match[1]] = tuple(float(match[i]) for i in (2, 3, 4))
    return figures


def core_figures():
    figures = criterion_figures()
    wanted = [f"core/{what}/size/{s}" for what in ("publish_deliver_ack", "floor") for s in SIZES]
    if all(bench_id in figures for bench_id in wanted):
        return figures, "criterion estimates of the last `cargo bench --bench core`"
    return report_figures(), "reports/bench-core.md"


def save(figure, name):
    PLOTS.mkdir(parents=True, exist_ok=True)
    path = PLOTS / name
    figure.savefig(path, format="svg", metadata=METADATA, bbox_inches="tight")
    plt.close(figure)
    print(f"wrote {path.relative_to(ROOT)}")


def core_plot(figures, source, parameter, values, xlabel, title, name, log_x):
    """Messages per second of the path and of its floor over `values`, with
    the 95% intervals as error bars, and below it the ratio of their times."""
    have = [v for v in values if f"core/publish_deliver_ack/{parameter}/{v}" in figures]
    if not have:
        print(f"plots.py: no core/publish_deliver_ack/{parameter}/* figures; {name} not drawn")
        return
    figure, (rates, ratios) = plt.subplots(2, 1, sharex=True, gridspec_kw={"height_ratios": [2, 1]})
    for label, bench, marker in (("brokerlab (events on)", "publish_deliver_ack", "o"), ("floor", "floor", "s")):
        mean, low, high = zip(*(figures[f"core/{bench}/{parameter}/{v}"] for v in have))
        rate = [1e3 / m for m in mean]  # M messages/s from ns per message
        errors = [[r - 1e3 / h for r, h in zip(rate, high)], [1e3 / l - r for r, l in zip(rate, low)]]
        rates.errorbar(have, rate, yerr=errors, marker=marker, capsize=3, label=label)
    rates.set_ylabel("M messages/s, one core")
    rates.set_ylim(bottom=0)
    rates.legend()
    rates.set_title(title)
    ratio = [figures[f"core/publish_deliver_ack/{parameter}/{v}"][0] / figures[f"core/floor/{parameter}/{v}"][0] for v in have]
    ratios.plot(have, ratio, marker="o", color="tab:red")
    for v, r in zip(have, ratio):
        ratios.annotate(f"{r:.1f}x", (v, r), textcoords="offset points", xytext=(0, 5), ha="center")
    ratios.axhline(3, linestyle="--", color="grey", linewidth=1, label="target: within 3x (16-byte bodies, 1 consumer)")
    ratios.legend(fontsize=7, loc="lower right")
    ratios.margins(x=0.08)
    ratios.set_ylabel("time / floor's")
    ratios.set_ylim(bottom=0, top=max(ratio + [3]) * 1.3)
    ratios.set_xlabel(xlabel)
    if log_x:
        ratios.set_xscale("log", base=2)
    ratios.set_xticks(have, [f"{v:,}" for v in have])
    ratios.minorticks_off()
    figure.text(0.01, -0.02, f"from the {source}; each floor measured right after the path at the same parameter", fontsize=7, color="grey")
    save(figure, name)


def number(text):
    return float(text.replace(",", ""))


def sim_plot():
    """Seeds per hour: the 1,000-message work-queue seed of reports/bench-sim.md
    on one core and on the machine's cores, against the target, and the
    standard sweep's (every workload, reports/sweep-summary.md)."""
    sim = (ROOT / "reports" / "bench-sim.md").read_text()
    match = re.search(r"per hour: \*\*([\d,]+)\*\* on one core, \*\*([\d,]+)\*\* on this machine's (\d+) cores \(target: at least ([\d,]+)\)", sim)
    if not match:
        print("plots.py: no seeds per hour in reports/bench-sim.md; sim-seeds.svg not drawn")
        return
    one, many, cores, target = number(match[1]), number(match[2]), int(match[3]), number(match[4])
    sim_date = re.search(r"^- date: (.*)$", sim, re.M)[1]
    bars = [("work-queue seed,\n1,000 messages, 1 core", one), (f"work-queue seed,\n1,000 messages, {cores} cores", many)]
    sweep_path = ROOT / "reports" / "sweep-summary.md"
    sweep_note = ""
    if sweep_path.exists():
        sweep = sweep_path.read_text()
        found = re.search(r"\(([\d]+) seeds/hour\)", sweep)
        jobs = re.search(r"(\d+) job\(s\)", sweep)
        if found:
            bars.append((f"standard sweep,\nevery workload, {jobs[1] if jobs else '?'} jobs", number(found[1])))
            sweep_note = f"; sweep: reports/sweep-summary.md, {re.search(r'^- date: (.*)$', sweep, re.M)[1]}"
    figure, axes = plt.subplots(figsize=(7.2, 3.8))
    labels, values = zip(*bars)
    positions = range(len(bars))
    axes.bar(positions, values, color=["tab:blue", "tab:blue", "tab:green"][: len(bars)])
    for position, value in zip(positions, values):
        axes.annotate(f"{value:,.0f}", (position, value), textcoords="offset points", xytext=(0, 3), ha="center")
    axes.axhline(target, linestyle="--", color="grey", linewidth=1, label=f"target: {target:,.0f} work-queue seeds/hour on {cores} cores")
    axes.legend(fontsize=7, loc="upper left")
    axes.set_xticks(list(positions), labels)
    axes.set_ylabel("seeds per hour")
    axes.set_ylim(0, max(values + (target,)) * 1.15)
    axes.ticklabel_format(axis="y", style="plain")
    axes.yaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda v, _: f"{v:,.0f}"))
    axes.set_title("Simulator seeds per hour, checkers included")
    figure.text(0.01, -0.04, f"from reports/bench-sim.md, {sim_date}{sweep_note}", fontsize=7, color="grey")
    save(figure, "sim-seeds.svg")


def table(text, header):
    """The rows of the Markdown table whose header line starts with `header`."""
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(header))
    rows = []
    for line in lines[start + 2 :]:
        if not line.startswith("|"):
            break
        rows.append([cell.strip().strip("*") for cell in line.strip("|").split("|")])
    return rows


def models_plot():
    """States per second: the work-queue model's on 1 and 2 threads against
    the target, and every model's unique states over its check time."""
    models = (ROOT / "reports" / "bench-models.md").read_text()
    threads = table(models, "| threads | states/s |")
    every = table(models, "| model | unique states | check time (s) |")
    target = number(re.search(r"Target: ([\d,]+) states/s", models)[1])
    date = re.search(r"^- date: (\S+)", models, re.M)[1]
    figure, (left, right) = plt.subplots(1, 2, figsize=(8.4, 3.8), gridspec_kw={"width_ratios": [1, 2]})
    labels = [row[0].split(" ")[0] + (" thread" if row[0].startswith("1") else " threads") for row in threads]
    generated = [number(row[1]) for row in threads]
    unique = [number(row[2]) for row in threads]
    positions = range(len(threads))
    width = 0.38
    left.bar([p - width / 2 for p in positions], generated, width, label="generated")
    left.bar([p + width / 2 for p in positions], unique, width, label="unique")
    left.axhline(target, linestyle="--", color="grey", linewidth=1, label=f"target {target:,.0f} (generated, 2 threads)")
    left.set_xticks(list(positions), labels)
    left.set_ylabel("states per second")
    left.yaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda v, _: f"{v:,.0f}"))
    left.set_ylim(0, max(generated) * 1.45)
    left.legend(fontsize=7, loc="upper left")
    left.set_title("work-queue model", fontsize=9)
    names = [row[0] for row in every]
    rates = [number(row[1]) / number(row[2]) for row in every]
    right.barh(range(len(names)), rates, color="tab:purple")
    for index, (rate, row) in enumerate(zip(rates, every)):
        right.annotate(f"{rate:,.0f}  ({row[1]} in {row[2]} s)", (rate, index), textcoords="offset points", xytext=(3, -3), fontsize=7)
    right.set_yticks(range(len(names)), names)
    right.invert_yaxis()
    right.set_xlim(0, max(rates) * 1.7)
    right.xaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda v, _: f"{v / 1000:,.0f}k"))
    right.set_xlabel("unique states per second of check time, 2 threads")
    right.set_title("every model, standard configuration", fontsize=9)
    figure.suptitle("Model checker states per second")
    figure.text(0.01, -0.04, f"from reports/bench-models.md ({date}); check times are given to 10 ms, so the small models' rates are rough", fontsize=7, color="grey")
    figure.tight_layout()
    save(figure, "models-states.svg")


def main():
    figures, source = core_figures()
    core_plot(figures, source, "size", SIZES, "body size (bytes)", "publish → deliver → ack over body size (1 consumer)", "core-size.svg", True)
    core_plot(figures, source, "consumers", CONSUMERS, "consumers on the queue", "publish → deliver → ack over consumer count (16-byte bodies)", "core-consumers.svg", True)
    sim_plot()
    models_plot()
    BOOK_PLOTS.mkdir(parents=True, exist_ok=True)
    for svg in sorted(PLOTS.glob("*.svg")):
        shutil.copyfile(svg, BOOK_PLOTS / svg.name)
    print(f"copied the plots to {BOOK_PLOTS.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
