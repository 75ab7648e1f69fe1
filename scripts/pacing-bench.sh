#!/usr/bin/env bash
# Measures how late a replay's events leave the pacer, and what the pacer costs, under load:
# feed-server replays FILE in a loop at SPEED while `terminal bench` with 100 clients (pinned to
# core 1) reads for SECONDS. Set PIN="taskset -c 0" to pin the server to core 0, EXTRA for more server flags (such
# as --realtime-pacer). Stops by itself after SECONDS plus a second of warm-up.
#
#   scripts/pacing-bench.sh recordings/synthetic-20-symbols-60s.jsonl.zst 1 60
set -euo pipefail
file=$1 speed=$2 seconds=${3:-60}
cd "$(dirname "$0")/.."
cargo build --release -q -p feed-server -p terminal --bins
log=$(mktemp)
# shellcheck disable=SC2086
${PIN:-} target/release/feed-server --listen 127.0.0.1:0 --replay "$file" --speed "$speed" --loop ${EXTRA:-} >"$log.out" 2>"$log" &
server=$!
trap 'kill -INT $server 2>/dev/null || true' EXIT
for _ in $(seq 1 50); do grep -q '^listening' "$log.out" 2>/dev/null && break; sleep 0.1; done
url=$(sed -n 's/^listening on \([^ ]*\).*/\1/p' "$log.out")
pacer=$(dirname "$(grep -l tickwire-pacer /proc/$server/task/*/comm | head -n 1)")
read -r u0 s0 < <(awk '{print $14, $15}' "$pacer/stat")
taskset -c 1 target/release/terminal bench --url "$url" --server-pid "$server" --clients 100 \
  --order-rate 0 --warmup 1s --duration "${seconds}s" 2>/dev/null
read -r u1 s1 < <(awk '{print $14, $15}' "$pacer/stat")
kill -INT $server; wait $server || true
python3 -c "print(f'pacer cpu: {(($u1-$u0)+($s1-$s0))/$(getconf CLK_TCK)/($seconds+1)*100:.2f}% of a core')"
grep 'pacing lateness' "$log" | sed 's/.*INFO //'
