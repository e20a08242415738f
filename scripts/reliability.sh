#!/usr/bin/env bash
# The evidence at scale, written to reports/reliability.md:
#   kills   50 SIGKILLs of `brokerlab serve` under confirmed persistent load,
#           each followed by a restart: no confirmed message may be lost
#           (scripts/reliability-kills.py);
#   sweep   1,000,000 simulator runs over every workload, split into shards
#           run one after another as separate machines would run them, then
#           joined with `brokerlab sweep merge`;
#   memory  the memory `brokerlab serve` holds for 1,000 connections and
#           10,000 queues (scripts/limits-memory.py).
# Each part keeps its results under target/reliability/; `report` writes the
# page from what is there. With no argument it runs every part, then the report.
#
# usage: scripts/reliability.sh [kills|sweep|merge|memory|report]...
#        RUNS=1000000 SHARDS=4 KILLS=50 scripts/reliability.sh
set -euo pipefail
cd "$(dirname "$0")/.."

runs=${RUNS:-1000000}
shards=${SHARDS:-4}
kills=${KILLS:-50}
out=target/reliability
bin=target/release/brokerlab
mkdir -p "$out"

build() {
  cargo build --release --bin brokerlab
}

kills() {
  python3 scripts/reliability-kills.py --binary "$bin" --kills "$kills" >"$out/kills.json"
  echo "wrote $out/kills.json"
}

sweep() {
  local workloads per started
  workloads=$("$bin" sweep --workload all --seeds 0 --out "$out/probe" | sed -n 's/.*seeds 0\.\.0 of \([0-9]*\) workload.*/\1/p')
  per=$(((runs + workloads - 1) / workloads))
  rm -rf "$out"/shard-* "$out/merged"
  git rev-parse --short HEAD >"$out/sweep-commit"
  started=$(date +%s)
  for ((shard = 0; shard < shards; shard++)); do
    "$bin" sweep --seeds "$per" --shard "$shard/$shards" --out "$out/shard-$shard" >"$out/shard-$shard.txt" || true
    echo "shard $shard of $shards done"
  done
  echo "$(($(date +%s) - started))" >"$out/sweep-seconds"
  merge
}

merge() {
  local dirs=()
  for ((shard = 0; shard < shards; shard++)); do
    dirs+=("$out/shard-$shard")
  done
  "$bin" sweep merge "${dirs[@]}" --out "$out/merged" >"$out/merged.txt" || true
  echo "wrote $out/merged.txt"
}

memory() {
  python3 scripts/limits-memory.py --binary "$bin" >"$out/memory.json"
  echo "wrote $out/memory.json"
}

report() {
  python3 - "$out" "$runs" "$shards" <<'EOF' >reports/reliability.md
import json, os, subprocess, sys
out, runs, shards = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])

def read(name):
    path = os.path.join(out, name)
    return open(path).read() if os.path.exists(path) else None

cpu = next(line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name"))
commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
print("# Reliability: the evidence at scale")
print()
print(f"- date: {subprocess.run(['date', '-u', '+%Y-%m-%d %H:%M UTC'], capture_output=True, text=True).stdout.strip()}")
print(f"- machine: {cpu}, {os.cpu_count()} cores (shared with other work: wall times carry noise)")
print(f"- commit: {commit}")
print("- command: `scripts/reliability.sh` (writes this page from target/reliability/)")
print()
kills = read("kills.json")
print("## SIGKILL under confirmed persistent load")
print()
if kills:
    k = json.loads(kills)
    print(f"`scripts/reliability-kills.py`: {k['kills']} times, a publisher sends persistent messages to a durable queue with publisher confirms while a consumer acks them; the server is killed with SIGKILL at a random moment and restarted on the same data directory, and the clients reconnect. At the end every message is drained.")
    print()
    print("| kills | messages confirmed | confirmed and never consumed | consumed more than once (flagged redelivered) | consumed twice unflagged | wall |")
    print("|---|---|---|---|---|---|")
    print(f"| {k['kills']} | {k['confirmed']:,} | **{k['lost']}** | {k['redelivered_duplicates']:,} | {k['unflagged_duplicates']} | {k['seconds']:.0f} s |")
    print()
    verdict = "met" if k["lost"] == 0 else "MISSED"
    print(f"- target: 0 confirmed messages lost: **{verdict}**")
else:
    print("(not run: `scripts/reliability.sh kills`)")
print()
print("## A sweep of a million seeds, in shards")
print()
merged = read("merged.txt")
seconds = read("sweep-seconds")
if merged:
    print(f"`brokerlab sweep --seeds N --shard I/{shards}` for each shard I, one after another as {shards} machines would run them side by side, then `brokerlab sweep merge` of their summaries; N per workload makes at least {runs:,} runs in all. Swarm faults, every workload.")
    print()
    print("```")
    print(merged.rstrip())
    print("```")
    print()
    sweep_commit = read("sweep-commit")
    if sweep_commit:
        print(f"- the sweep ran the binary built at commit {sweep_commit.strip()}")
    if seconds:
        print(f"- wall time of the {shards} shards on this machine, one after another: {int(seconds) / 60:.1f} minutes")
else:
    print("(not run: `scripts/reliability.sh sweep`)")
print()
print("## Memory of 1,000 connections and 10,000 queues")
print()
memory = read("memory.json")
if memory:
    m = json.loads(memory)
    mib = lambda kib: f"{kib / 1024:.1f} MiB"
    print("`scripts/limits-memory.py` (VmRSS of the server process; details in [limits.md](limits.md)):")
    print()
    print("| state | RSS |")
    print("|---|---|")
    print(f"| idle, after start | {mib(m['idle_rss_kib'])} |")
    print(f"| {m['connections']:,} connections logged in, a channel each | {mib(m['connections_rss_kib'])} |")
    print(f"| and {m['queues']:,} queues declared | {mib(m['connections_and_queues_rss_kib'])} |")
    print(f"| every connection closed (queues kept) | {mib(m['after_close_rss_kib'])} |")
    print()
    print(f"- per connection: {m['kib_per_connection']} KiB; per queue: {m['kib_per_queue']} KiB")
else:
    print("(not run: `scripts/reliability.sh memory`)")
EOF
  echo "wrote reports/reliability.md"
}

parts=("$@")
if [ ${#parts[@]} -eq 0 ]; then
  parts=(kills sweep memory report)
fi
build
for part in "${parts[@]}"; do
  case $part in
    kills | sweep | merge | memory | report) "$part" ;;
    *)
      echo "unknown part '$part': kills, sweep, merge, memory or report" >&2
      exit 2
      ;;
  esac
done
