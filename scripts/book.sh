#!/usr/bin/env bash
# Writes every command output the book embeds into docs/book/src/generated/.
#
# Each file is what one `brokerlab` command prints, headed by the command and
# ended by its exit code, so a chapter never shows output that was pasted by
# hand. The simulator and the models are deterministic; the few lines that
# depend on the machine (wall-clock time, rates, the number of threads) are
# filtered out, so running this again on any machine gives the same bytes.
# CI runs it and fails when `git diff --exit-code docs/book/src/generated`
# shows a difference.
#
# Every command states the exit code it must give: a mutant that stops being
# caught, or a model that stops holding, fails this script rather than
# quietly changing a chapter.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
out=$root/docs/book/src/generated

cargo build --release --bin brokerlab
bin=${CARGO_TARGET_DIR:-$root/target}/release/brokerlab
case $bin in /*) ;; *) bin=$root/$bin ;; esac

# Commands run in a scratch directory: `--shrink` saves its plan there, and the
# sweep writes its summaries there.
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

rm -rf "$out"
mkdir -p "$out"

# Drops what varies from machine to machine: timings, rates, thread counts.
machine_independent() {
  grep -v -E '^(time:|states/s:|wall:)' \
    | sed -E 's/, [0-9]+ job\(s\)$//'
}

# run NAME EXPECTED_EXIT ARGS...: writes generated/NAME.txt with the command,
# its output and its exit code; for a shrunk simulation, the Mermaid chart goes
# to generated/NAME-chart.txt and the rest to NAME.txt.
run() {
  local name=$1 expected=$2
  shift 2
  local raw=$work/$name.raw status=0
  (cd "$work" && "$bin" "$@" >"$raw" 2>&1) || status=$?
  if [ "$status" -ne "$expected" ]; then
    echo "book.sh: \`brokerlab $*\` exited $status, expected $expected" >&2
    cat "$raw" >&2
    exit 1
  fi
  {
    echo "\$ brokerlab $*"
    sed '/^sequenceDiagram/,$d' "$raw" | machine_independent
    echo "(exit code $status)"
  } >"$out/$name.txt"
  if grep -q '^sequenceDiagram' "$raw"; then
    sed -n '/^sequenceDiagram/,$p' "$raw" | sed -e :a -e '/^\n*$/{$d;N;ba' -e '}' >"$out/$name-chart.txt"
  fi
  echo "wrote generated/$name.txt"
}

# The first chapter: the standard sweep, a mutant caught, shrunk and replayed.
run sweep 0 sweep
run first-sweep-mutant 129 sweep --workload work-queue --mutant lose-on-requeue --seeds 5
run first-sim 129 sim --workload work-queue --seed 0 --mutant lose-on-requeue --shrink
run first-replay 129 sim --plan shrunk-work-queue-0.json
{
  echo "\$ cat shrunk-work-queue-0.json"
  cat "$work/shrunk-work-queue-0.json"
} >"$out/first-plan.txt"
echo "wrote generated/first-plan.txt"

# The embedding chapter: the run loop of the core's front page, which
# `cargo test` runs as a doc test.
sed -n '/^\/\/! # The run loop/,/^\/\/! # Durability/p' core/src/lib.rs \
  | sed -n '/^\/\/! ```$/,/^\/\/! ```$/p' \
  | sed -e 's/^\/\/!//' -e 's/^ //' \
  | sed '1d;$d' >"$out/core-run-loop.rs"
echo "wrote generated/core-run-loop.rs"

# Watch it: every walkthrough.
for pattern in work-queue pubsub routing request-reply dlq-retry ttl priority ordering-by-key idempotency prefetch event-bus circuit-breaker metrics graceful-shutdown back-pressure saga durability; do
  run "walkthrough-$pattern" 0 walkthrough --pattern "$pattern"
done

# Break it: each mutant on the workload that catches it first, shrunk.
run break-routing 128 sim --workload topic --seed 0 --mutant confirm-unroutable-as-nack --shrink
run break-dlq 129 sim --workload dlq-retry --seed 0 --mutant dlx-drops-x-death --shrink
run break-ttl 129 sim --workload ttl --seed 0 --mutant deliver-expired --shrink
run break-ordering 129 sim --workload work-queue --seed 0 --mutant requeue-to-tail --shrink
run break-idempotency 129 sim --workload idempotent-consumer --seed 0 --mutant double-deliver --shrink
run break-prefetch 129 sim --workload work-queue --seed 0 --mutant ignore-prefetch --shrink
run break-durability 129 sim --workload work-queue --seed 0 --mutant confirm-before-sync --shrink
run break-saga 129 sim --workload saga --seed 2 --mutant saga-compensate-in-forward-order --shrink
run streams-run 0 sim --workload stream-keyed --seed 5
run break-streams 129 sim --workload stream-keyed --seed 37 --mutant assign-without-revoke --shrink
run redis-pubsub-run 0 sim --workload pubsub-redis --seed 0
run break-redis-pubsub 129 sim --workload pubsub-redis --seed 0 --mutant pubsub-store-and-forward --shrink
run break-pubsub 129 sim --workload pubsub --seed 0 --mutant fanout-to-one-queue --shrink
run break-event-bus 129 sim --workload topic --seed 0 --mutant topic-hash-needs-a-word --shrink
run break-priority 129 sim --workload priority --seed 0 --mutant priority-ignored --shrink
run break-request-reply 129 sim --workload request-reply --seed 0 --mutant properties-cached-by-route --shrink
run break-circuit-breaker 129 sim --workload circuit-breaker --seed 0 --mutant cancel-forgets-unacked --shrink
run break-graceful-shutdown 129 sim --workload work-queue --seed 2 --mutant recovered-unflagged --shrink
run break-metrics 129 sim --workload work-queue --seed 0 --mutant redeliveries-uncounted --shrink
run sqs-run 0 sim --workload sqs-visibility --seed 0
run break-sqs 129 sim --workload sqs-visibility --seed 0 --mutant visibility-never-expires --shrink

# Prove it: the models, on one thread so that every count is reproducible.
run prove-work-queue 0 check --threads 1 --model work-queue
run prove-work-queue-mutant 129 check --threads 1 --model work-queue --mutant lose-on-requeue
run prove-dlq 0 check --threads 1 --model dlq
run prove-dlq-mutant 129 check --threads 1 --model dlq --mutant dlx-drops-x-death
run prove-routing-mutant 129 check --threads 1 --model dlq --mutant confirm-unroutable-as-nack
run prove-ttl 0 check --threads 1 --model ttl
run prove-ttl-mutant 129 check --threads 1 --model ttl --mutant deliver-expired
run prove-ordering 0 check --threads 1 --model ordering
run prove-ordering-mutant 129 check --threads 1 --model ordering --mutant requeue-to-tail
run prove-single-active-consumer 0 check --threads 1 --model single-active-consumer
run prove-idempotency 0 check --threads 1 --model idempotency
run prove-idempotency-mutant 129 check --threads 1 --model idempotency --mutant confirm-before-sync
run prove-prefetch-mutant 129 check --threads 1 --model work-queue --mutant ignore-prefetch --depth 8
run prove-memory-alarm 0 check --threads 1 --model memory-alarm
run prove-credit-flow 0 check --threads 1 --model credit-flow
run prove-durability 0 check --threads 1 --model crash-recovery --messages 1
run prove-durability-mutant 129 check --threads 1 --model crash-recovery --messages 1 --mutant confirm-before-sync
run prove-consumer-group 0 check --threads 1 --model consumer-group
run prove-consumer-group-mutant 129 check --threads 1 --model consumer-group --mutant assign-without-revoke
run prove-saga 0 check --threads 1 --model saga
run prove-saga-mutant 129 check --threads 1 --model saga --mutant saga-compensate-in-forward-order --depth 16
run prove-redis-pubsub 0 check --threads 1 --model pubsub
run prove-redis-pubsub-mutant 129 check --threads 1 --model pubsub --mutant pubsub-store-and-forward
run prove-fanout 0 check --threads 1 --model fanout
run prove-fanout-mutant 129 check --threads 1 --model fanout --mutant fanout-to-one-queue
run prove-event-bus 0 check --threads 1 --model event-bus
run prove-event-bus-mutant 129 check --threads 1 --model event-bus --mutant topic-hash-needs-a-word
run prove-priority 0 check --threads 1 --model priority
run prove-priority-mutant 129 check --threads 1 --model priority --mutant priority-ignored
run prove-request-reply 0 check --threads 1 --model request-reply
run prove-request-reply-mutant 129 check --threads 1 --model request-reply --mutant properties-cached-by-route
run prove-circuit-breaker 0 check --threads 1 --model circuit-breaker
run prove-circuit-breaker-mutant 129 check --threads 1 --model circuit-breaker --mutant cancel-forgets-unacked
run prove-graceful-shutdown-mutant 129 check --threads 1 --model crash-recovery --messages 1 --mutant recovered-unflagged
run prove-metrics-mutant 129 check --threads 1 --model ordering --mutant redeliveries-uncounted
run prove-sqs 0 check --threads 1 --model sqs-visibility
run prove-sqs-mutant 129 check --threads 1 --model sqs-visibility --mutant visibility-never-expires --depth 14

# mdbook only warns about an include it cannot read: check here that every
# include names a file written above, and that every file written is included.
status=0
while IFS= read -r include; do
  chapter=${include%%:*}
  target=$(sed -E 's/.*\{\{#include ([^}]*)\}\}/\1/' <<<"$include")
  if [ ! -f "$(dirname "$chapter")/$target" ]; then
    echo "book.sh: $chapter includes $target, which this script does not write" >&2
    status=1
  fi
done < <(grep -r -o --include='*.md' '{{#include [^}]*}}' docs/book/src)
for file in "$out"/*; do
  if ! grep -r -q --include='*.md' "generated/$(basename "$file")}}" docs/book/src; then
    echo "book.sh: no chapter includes generated/$(basename "$file")" >&2
    status=1
  fi
done
exit $status
