#!/usr/bin/env bash
# Instructions per message through the core's publish → deliver → ack path,
# counted by callgrind: repeatable whatever else the machine runs, so changes
# to the hot path can be compared on a shared, noisy machine.
# Usage: scripts/instructions-per-message.sh [MESSAGES] [no-events | topic]   (needs valgrind;
# with topic, the figure is per publish to route/topic_10k's 10,000 bindings)
set -euo pipefail
cd "$(dirname "$0")/.."
messages=${1:-100000}
variant=${2:-}
binary=$(cargo bench --bench publish_loop --no-run --message-format=json 2>/dev/null \
  | python3 -c 'import json,sys
for line in sys.stdin:
    m = json.loads(line)
    if m.get("reason") == "compiler-artifact" and m.get("target", {}).get("name") == "publish_loop" and m.get("executable"):
        print(m["executable"])')
count() {
  valgrind --tool=callgrind --callgrind-out-file=/dev/null "$binary" "$1" $variant 2>&1 | awk '/Collected/ {print $4}'
}
one=$(count "$messages")
two=$(count $((messages * 2)))
echo "instructions per message${variant:+ ($variant)}: $(( (two - one) / messages )) (callgrind, $messages vs $((messages * 2)) messages, commit $(git rev-parse --short HEAD))"
