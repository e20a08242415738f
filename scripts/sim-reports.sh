#!/usr/bin/env bash
# Writes the simulator's reports: one standard sweep (reports/sweep-summary.md),
# the 10,000 seeds beyond it that each newer workload must also pass
# (reports/sweep-extra-seeds.md), and one shrunk counterexample with its sequence chart
# (reports/counterexample-lose-on-requeue.md), each with date, machine and commit.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --bin brokerlab
bin=${CARGO_TARGET_DIR:-target}/release/brokerlab
header() {
  echo "- date: $(date -u '+%Y-%m-%d %H:%M UTC')"
  echo "- machine: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(nproc) cores"
  echo "- commit: $(git rev-parse --short HEAD)"
}
{
  echo "# The standard sweep"
  echo
  header
  echo "- command: \`cargo run --release\` (the same as \`brokerlab sweep\`: every workload, seeds 0..1000, swarm faults)"
  echo
  echo '```'
  "$bin" sweep
  echo '```'
} > reports/sweep-summary.md
{
  echo "# 10,000 more seeds of the newer workloads"
  echo
  header
  echo "- command: \`brokerlab sweep --workload W --seeds 1000..11000\` for each workload below"
  echo
  echo "Beyond the standard sweep's seeds 0..1000, each workload added since the"
  echo "standard sweep was first fixed passes seeds 1000..11000 as well, swarm faults on."
  for workload in saga pubsub-redis sqs-visibility circuit-breaker; do
    echo
    echo "## $workload"
    echo
    echo '```'
    "$bin" sweep --workload "$workload" --seeds 1000..11000 --out "target/brokerlab-sweep-$workload"
    echo '```'
  done
} > reports/sweep-extra-seeds.md
{
  echo "# A shrunk counterexample: the lose-on-requeue mutant"
  echo
  header
  echo "- command: \`brokerlab sweep --workload work-queue --mutant lose-on-requeue --seeds 20 --shrink\`"
  echo
  echo "The mutant drops a requeued message instead of putting it back. The sweep finds it on"
  echo "the first seed; shrinking keeps the seed and cuts the options (clients, messages, faults)"
  echo "while the same checker still fails. In the chart, consumer 0 acks its last delivery,"
  echo "but the ack is lost with its connection; the broker requeues the message (and the"
  echo "mutant drops it), so a confirmed message is never consumed."
  echo
  echo '```'
  # The mutant's sweep exits 129 by design; the report is its output.
  ("$bin" sweep --workload work-queue --mutant lose-on-requeue --seeds 20 --shrink || true) | sed '/^sequenceDiagram/,$d'
  echo '```'
  echo
  echo '```mermaid'
  ("$bin" sweep --workload work-queue --mutant lose-on-requeue --seeds 20 --shrink || true) | sed -n '/^sequenceDiagram/,/^$/p'
  echo '```'
} > reports/counterexample-lose-on-requeue.md
echo "wrote reports/sweep-summary.md, reports/sweep-extra-seeds.md and reports/counterexample-lose-on-requeue.md"
