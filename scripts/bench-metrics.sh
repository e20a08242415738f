#!/usr/bin/env bash
# The cost of metrics on the server's message path: `brokerlab perf` against
# two `brokerlab serve`s in the same run, one with `--metrics-listen` and
# scraped every second (as Prometheus would), one without, in alternating
# rounds; writes reports/bench-metrics.md with the ratio of their median
# consumed rates (target: metrics on within 3% of off).
#
# Usage: scripts/bench-metrics.sh [REPORT]   (default reports/bench-metrics.md)
# Environment: DURATION_S (default 10), ROUNDS (default 3).
set -euo pipefail
cd "$(dirname "$0")/.."
REPORT=${1:-reports/bench-metrics.md}
DURATION_S=${DURATION_S:-10}
ROUNDS=${ROUNDS:-3}
cargo build --release --bin brokerlab
BROKERLAB=${CARGO_TARGET_DIR:-target}/release/brokerlab
WORK=$(mktemp -d)
RESULTS=$WORK/results.jsonl
OFF_PORT=25672
ON_PORT=25673
METRICS_PORT=25692
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  rm -rf "$WORK"
}
trap cleanup EXIT

wait_port() {
  for _ in $(seq 100); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then return 0; fi
    sleep 0.1
  done
  echo "nothing listens on port $1"
  exit 1
}

"$BROKERLAB" serve --listen "127.0.0.1:$OFF_PORT" --data-dir "$WORK/off" 2>"$WORK/off.log" &
pids+=($!)
"$BROKERLAB" serve --listen "127.0.0.1:$ON_PORT" --data-dir "$WORK/on" \
  --metrics-listen "127.0.0.1:$METRICS_PORT" 2>"$WORK/on.log" &
pids+=($!)
wait_port "$OFF_PORT"
wait_port "$ON_PORT"
wait_port "$METRICS_PORT"
# The scraper: one GET /metrics a second for as long as the script runs.
(while true; do
  curl -s -o /dev/null "http://127.0.0.1:$METRICS_PORT/metrics" || true
  sleep 1
done) &
pids+=($!)

run() {
  local metrics=$1 port=$2 mode=$3
  shift 3
  local json
  json=$("$BROKERLAB" perf --uri "amqp://guest:guest@127.0.0.1:$port/" --producers 1 \
    --consumers 1 --size 16 --duration-s "$DURATION_S" --json "$@")
  echo "metrics $metrics, $mode: $json"
  echo "{\"metrics\":\"$metrics\",\"mode\":\"$mode\",\"figures\":$json}" >>"$RESULTS"
}

for round in $(seq "$ROUNDS"); do
  echo "== round $round of $ROUNDS"
  run off "$OFF_PORT" transient
  run on "$ON_PORT" transient
  run off "$OFF_PORT" persistent-confirms --persistent --confirm
  run on "$ON_PORT" persistent-confirms --persistent --confirm
done
scrape=$(curl -s "http://127.0.0.1:$METRICS_PORT/metrics" | grep -c '^rabbitmq_' || true)

python3 - "$RESULTS" "$REPORT" "$DURATION_S" "$ROUNDS" "$scrape" <<'PY'
import json, os, platform, statistics, subprocess, sys
from datetime import datetime, timezone
results, report, duration_s, rounds, scraped = sys.argv[1:]
runs = [json.loads(line) for line in open(results)]
def rates(metrics, mode):
    return sorted(r["figures"]["consumed_per_s"] for r in runs if r["metrics"] == metrics and r["mode"] == mode)
def cpu():
    for line in open("/proc/cpuinfo"):
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor()
commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
load = os.getloadavg()[0]
lines = [
    "# Server: the cost of metrics",
    "",
    f"- date: {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC",
    f"- machine: {cpu()}, {os.cpu_count()} cores, Linux {platform.release()}; load average at the end {load:.2f} (shared: figures carry noise)",
    f"- commit: {commit}",
    f"- command: `scripts/bench-metrics.sh` (two `brokerlab serve`s, one with `--metrics-listen` scraped every second; "
    f"`brokerlab perf`, 1 producer, 1 consumer, 16-byte bodies, {duration_s} s per run, {rounds} rounds alternating the two)",
    f"- the scraped page held {scraped} `rabbitmq_*` samples at the end",
    "",
    "| mode | metrics off (median msg/s) | metrics on (median msg/s) | on / off | rounds off | rounds on |",
    "|---|---|---|---|---|---|",
]
worst = None
for mode, what in [("transient", "transient, no confirms"), ("persistent-confirms", "persistent, durable queue, confirms")]:
    off, on = rates("off", mode), rates("on", mode)
    ratio = statistics.median(on) / statistics.median(off)
    worst = ratio if worst is None else min(worst, ratio)
    lines.append(f"| {what} | {statistics.median(off):,.0f} | {statistics.median(on):,.0f} | {ratio:.3f} | "
                 f"{', '.join(f'{r:,.0f}' for r in off)} | {', '.join(f'{r:,.0f}' for r in on)} |")
verdict = "met" if worst >= 0.97 else "not met"
lines += ["", f"- target: metrics on within 3% of off: **{verdict}** (the lower ratio is {worst:.3f})", ""]
open(report, "w").write("\n".join(lines))
print("\n".join(lines))
PY
