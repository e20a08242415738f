#!/usr/bin/env bash
# Runs `brokerlab perf` against Debian's RabbitMQ and against `brokerlab serve`
# in the same run, and writes reports/bench-server.md.
#
# Two modes, each with 1 producer and 1 consumer: 16-byte transient messages
# without confirms, then 16-byte persistent messages with confirms; and a
# third, transient messages paced at PACED_RATE msg/s, so that latency is
# measured below saturation (unpaced, a publisher outruns the consumer and
# latency measures the backlog). Each mode runs ROUNDS times per broker,
# alternating brokers, DURATION_S seconds each; the report gives the median
# round. Both brokers listen on loopback only.
#
# Usage: scripts/compare-rabbitmq.sh [REPORT]   (default reports/bench-server.md)
# Environment: DURATION_S (10), ROUNDS (3), PACED_RATE (10000), RABBIT_PORT (5673),
# BROKERLAB_PORT (5674).
# Needs root for apt-get (when rabbitmq-server is missing) and to start RabbitMQ
# as its own user.
set -euo pipefail
cd "$(dirname "$0")/.."

REPORT=${1:-reports/bench-server.md}
DURATION_S=${DURATION_S:-10}
ROUNDS=${ROUNDS:-3}
PACED_RATE=${PACED_RATE:-10000}
RABBIT_PORT=${RABBIT_PORT:-5673}
BROKERLAB_PORT=${BROKERLAB_PORT:-5674}
RABBIT_NODE=brokerlab-bench@localhost
TARGET_DIR=${CARGO_TARGET_DIR:-target}
BROKERLAB="$TARGET_DIR/release/brokerlab"
WORK=$(mktemp -d)
RESULTS="$WORK/results.jsonl"

if ! command -v rabbitmq-server >/dev/null 2>&1; then
  echo "== installing Debian's rabbitmq-server"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq rabbitmq-server >/dev/null
fi
RABBIT_VERSION=$(dpkg-query -W -f='${Version}' rabbitmq-server)

echo "== building brokerlab (release)"
cargo build --release --quiet

BROKERLAB_PID=
cleanup() {
  if [ -n "$BROKERLAB_PID" ]; then kill -TERM "$BROKERLAB_PID" 2>/dev/null || true; fi
  rabbitmqctl -q -n "$RABBIT_NODE" stop >/dev/null 2>&1 || true
  rm -rf "$WORK"
}
trap cleanup EXIT

echo "== starting RabbitMQ $RABBIT_VERSION on 127.0.0.1:$RABBIT_PORT"
# As the rabbitmq user, in its home, listening and distributing on loopback only.
setsid su rabbitmq -s /bin/sh -c "cd /var/lib/rabbitmq && \
  ERL_EPMD_ADDRESS=127.0.0.1 RABBITMQ_NODE_IP_ADDRESS=127.0.0.1 \
  RABBITMQ_NODE_PORT=$RABBIT_PORT RABBITMQ_DIST_PORT=$((RABBIT_PORT + 20000)) \
  RABBITMQ_NODENAME=$RABBIT_NODE \
  RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS='-kernel inet_dist_use_interface {127,0,0,1}' \
  exec /usr/lib/rabbitmq/bin/rabbitmq-server" >"$WORK/rabbitmq.log" 2>&1 &
# await_startup needs the node registered first: retry until it answers.
for attempt in $(seq 60); do
  if rabbitmqctl -q -n "$RABBIT_NODE" await_startup --timeout 10 >/dev/null 2>&1; then break; fi
  if [ "$attempt" = 60 ]; then echo "RabbitMQ did not start"; cat "$WORK/rabbitmq.log"; exit 1; fi
  sleep 2
done

echo "== starting brokerlab serve on 127.0.0.1:$BROKERLAB_PORT"
"$BROKERLAB" serve --listen "127.0.0.1:$BROKERLAB_PORT" --data-dir "$WORK/brokerlab-data" \
  2>"$WORK/brokerlab.log" &
BROKERLAB_PID=$!
for _ in $(seq 50); do
  if (exec 3<>"/dev/tcp/127.0.0.1/$BROKERLAB_PORT") 2>/dev/null; then break; fi
  sleep 0.1
done

run() {
  local broker=$1 port=$2 mode=$3
  shift 3
  local json
  json=$("$BROKERLAB" perf --uri "amqp://guest:guest@127.0.0.1:$port/" --producers 1 \
    --consumers 1 --size 16 --duration-s "$DURATION_S" --json "$@")
  echo "$broker $mode $json"
  echo "{\"broker\":\"$broker\",\"mode\":\"$mode\",\"figures\":$json}" >>"$RESULTS"
}

for round in $(seq "$ROUNDS"); do
  echo "== round $round of $ROUNDS"
  run rabbitmq "$RABBIT_PORT" transient
  run brokerlab "$BROKERLAB_PORT" transient
  run rabbitmq "$RABBIT_PORT" persistent-confirms --persistent --confirm
  run brokerlab "$BROKERLAB_PORT" persistent-confirms --persistent --confirm
  run rabbitmq "$RABBIT_PORT" transient-paced --rate "$PACED_RATE"
  run brokerlab "$BROKERLAB_PORT" transient-paced --rate "$PACED_RATE"
done

python3 - "$RESULTS" "$REPORT" "$RABBIT_VERSION" "$DURATION_S" "$ROUNDS" "$PACED_RATE" <<'EOF'
import json
import platform
import statistics
import subprocess
import sys
from datetime import datetime, timezone

results_path, report_path, rabbit_version, duration_s, rounds, paced_rate = sys.argv[1:]
runs = [json.loads(line) for line in open(results_path)]


def median_run(broker, mode, key):
    """The round whose `key` is the median, so the figures in a row belong together."""
    mine = sorted((r['figures'] for r in runs if r['broker'] == broker and r['mode'] == mode),
                  key=lambda f: f[key])
    return mine[len(mine) // 2], mine


def cpu():
    for line in open('/proc/cpuinfo'):
        if line.startswith('model name'):
            return line.split(':', 1)[1].strip()
    return platform.processor()


commit = subprocess.run(['git', 'rev-parse', '--short', 'HEAD'], capture_output=True,
                        text=True).stdout.strip()
# Only what goes into `brokerlab serve` and `brokerlab perf` counts as a change here.
dirty = subprocess.run(['git', 'status', '--porcelain', '--untracked-files=no', '--',
                        'server', 'core', 'store', 'src', 'Cargo.toml', 'Cargo.lock'],
                       capture_output=True, text=True).stdout.strip()
memory_gib = int(open('/proc/meminfo').readline().split()[1]) / 1024 / 1024
cores = subprocess.run(['nproc'], capture_output=True, text=True).stdout.strip()

modes = [('transient', '16-byte transient messages, no confirms'),
         ('persistent-confirms', '16-byte persistent messages in a durable queue, publisher confirms'),
         ('transient-paced', f'16-byte transient messages, no confirms, paced at {int(paced_rate):,} msg/s')]
lines = [
    '# Server: brokerlab serve against RabbitMQ',
    '',
    f'Measured by `scripts/compare-rabbitmq.sh` on {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC, '
    f'commit {commit}{" (with uncommitted changes to the brokers under test)" if dirty else ""}.',
    f'Machine: {cpu()}, {cores} cores, {memory_gib:.0f} GiB, Linux {platform.release()}; '
    'shared with other work, so figures carry noise.',
    f'RabbitMQ: Debian rabbitmq-server {rabbit_version}, default configuration, loopback only. '
    'brokerlab: `brokerlab serve` (release build), log on the same disk.',
    f'Load: `brokerlab perf`, 1 producer, 1 consumer, prefetch 256, up to 256 unconfirmed publishes '
    f'with confirms, {duration_s} s per run, {rounds} rounds alternating the brokers; '
    'each cell is the round with the median consumed rate.',
    'Throughput is what the consumer received per second (the publisher may run ahead of it); '
    'latency is from the timestamp in the body at publish to its arrival at the consumer.',
    '',
]
verdicts = []
for mode, title in modes:
    paced = mode == 'transient-paced'
    # Paced runs consume at the pace: their median round is the median p99.
    key = 'p99_us' if paced else 'consumed_per_s'
    rabbit, rabbit_all = median_run('rabbitmq', mode, key)
    ours, ours_all = median_run('brokerlab', mode, key)
    throughput_ratio = ours['consumed_per_s'] / max(rabbit['consumed_per_s'], 1)
    p99_ratio = ours['p99_us'] / max(rabbit['p99_us'], 1)
    lines += [
        f'## {title}',
        '',
        '| broker | published msg/s | consumed msg/s | p50 µs | p95 µs | p99 µs | max µs |',
        '|---|---:|---:|---:|---:|---:|---:|',
    ]
    for name, figures in [('RabbitMQ', rabbit), ('brokerlab', ours)]:
        lines.append(f"| {name} | {figures['published_per_s']:,.0f} | {figures['consumed_per_s']:,.0f} | "
                     f"{figures['p50_us']:,} | {figures['p95_us']:,} | {figures['p99_us']:,} | {figures['max_us']:,} |")
    ratios = (f'p99 {p99_ratio:.2f}x (target ≤ 0.5x); throughput is the pace for both.' if paced
              else f'throughput {throughput_ratio:.2f}x (target ≥ 2x), p99 {p99_ratio:.2f}x (target ≤ 0.5x).')
    lines += [
        '',
        f'brokerlab / RabbitMQ: {ratios}',
        '',
        'Every round (consumed msg/s, p99 µs): RabbitMQ ' +
        ', '.join(f"{f['consumed_per_s']:,.0f} / {f['p99_us']:,}" for f in rabbit_all) +
        '; brokerlab ' +
        ', '.join(f"{f['consumed_per_s']:,.0f} / {f['p99_us']:,}" for f in ours_all) + '.',
        '',
    ]
    verdicts.append((title, None if paced else throughput_ratio >= 2.0, p99_ratio <= 0.5))
lines += ['## Targets', '']
for title, throughput_met, p99_met in verdicts:
    throughput = '' if throughput_met is None else \
        f"throughput target {'met' if throughput_met else 'NOT met'}, "
    lines.append(f"- {title}: {throughput}p99 target {'met' if p99_met else 'NOT met'}.")
open(report_path, 'w').write('\n'.join(lines) + '\n')
print('\n'.join(lines))
EOF
echo "== wrote $REPORT"
