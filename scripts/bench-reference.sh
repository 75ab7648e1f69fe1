#!/usr/bin/env bash
# The reference runs behind the README's performance figures, on a 2-core machine: each starts a
# feed server pinned to CPU 0 and `terminal bench` pinned to CPU 1, over loopback, 100 clients on
# all 20 default symbols, RUN (default 10s) measured after a 2 s warm-up. Every run stops by itself.
# Reports (table, JSON, .hgrm, SVG) go to OUT (default target/bench-reference). The order thread
# asks for a real-time priority (ORDER_FLAGS, default --realtime-orders) so that it sends on time
# beside busy subscribers on the same core; without CAP_SYS_NICE the bench warns and goes on.
#
#   bash scripts/bench-reference.sh            # all runs
#   bash scripts/bench-reference.sh 1000 max   # only these (1000, 5000, 20000, max, idle, floor,
#                                              # tls-1000, tls-20000: the same over wss://;
#                                              # bin-1000, bin-20000: in tickwire.v1.bin;
#                                              # burst: 10,000 connects at once;
#                                              # history-1000, history-20000: with no history)
set -euo pipefail
cd "$(dirname "$0")/.."
out=${OUT:-target/bench-reference}
run=${RUN:-10s}
runs=${*:-1000 5000 20000 max idle floor burst tls-1000 tls-20000 bin-1000 bin-20000}
cargo build --release -q -p feed-server -p terminal --bins --example write_floor --example burst
mkdir -p "$out"
server=
trap '[ -n "$server" ] && kill -INT "$server" 2>/dev/null || true' EXIT

# serve FLAGS...: a feed server on a free port, pinned to CPU 0; sets $server and $url.
serve() {
  taskset -c 0 target/release/feed-server --listen 127.0.0.1:0 "$@" >"$out/server.out" 2>"$out/server.err" &
  server=$!
  for _ in $(seq 1 100); do grep -q '^listening' "$out/server.out" 2>/dev/null && break; sleep 0.1; done
  url=$(sed -n 's/^listening on \([^ ]*\).*/\1/p' "$out/server.out")
}

# bench NAME FLAGS...: terminal bench pinned to CPU 1 against $url, then stops the server.
bench() {
  local name=$1
  shift
  echo "== $name"
  taskset -c 1 target/release/terminal bench --url "$url" --server-pid "$server" \
    --duration "$run" --warmup 2s --json "$out/$name.json" --hgrm "$out/$name" \
    --plot "$out/$name.svg" "$@" 2>/dev/null | tee "$out/$name.txt"
  kill -INT "$server"
  wait "$server" || true
  server=
}

for r in $runs; do
  case $r in
    1000) serve --rate 1000; bench rate-1000 --clients 100 --order-rate 1000 ${ORDER_FLAGS---realtime-orders} ;;
    5000) serve --rate 5000; bench rate-5000 --clients 100 --order-rate 0 ;;
    20000) serve --rate 20000; bench rate-20000 --clients 100 --order-rate 0 ;;
    bin-1000|bin-20000)
      rate=${r#bin-}
      serve --rate "$rate"
      orders=0; [ "$rate" = 1000 ] && orders=1000
      bench "bin-$rate" --clients 100 --order-rate "$orders" ${ORDER_FLAGS---realtime-orders} --encoding bin ;;
    tls-1000|tls-20000)
      rate=${r#tls-}
      serve --rate "$rate" --tls-self-signed
      orders=0; [ "$rate" = 1000 ] && orders=1000
      bench "tls-$rate" --clients 100 --order-rate "$orders" ${ORDER_FLAGS---realtime-orders} \
        --ca-cert "$(sed -n 's/.*self-signed certificate: \([^;]*\);.*/\1/p' "$out/server.out")" ;;
    max)
      serve --replay recordings/synthetic-20-symbols-60s.jsonl.zst --speed max --loop
      bench replay-max --clients 100 --order-rate 0 ;;
    idle)
      # 10,000 subscribers to one symbol of a feed that barely moves: memory per connection.
      serve --rate 1 --max-connections 10100
      bench idle-10000 --clients 10000 --symbols AAPL --order-rate 0 ;;
    burst)
      # A reconnect storm: 10,000 clients connect at once; every one should get its hello.
      serve --max-connections 10100
      echo "== burst"
      taskset -c 1 target/release/examples/burst --addr "$(echo "$url" | sed 's|^ws://||; s|/ws$||')" \
        --clients 10000 | tee "$out/burst.txt"
      curl -s "http://$(echo "$url" | sed 's|^ws://||; s|/ws$||')/metrics" | grep '^tickwire_connections_refused_total' \
        | tee -a "$out/burst.txt" || true
      kill -INT "$server"; wait "$server" || true; server= ;;
    history-1000|history-20000)
      # The same as 1000 and 20000 with no history kept, for its cost per delivery.
      rate=${r#history-}
      serve --rate "$rate" --history-events 0
      orders=0; [ "$rate" = 1000 ] && orders=1000
      bench "nohistory-$rate" --clients 100 --order-rate "$orders" ${ORDER_FLAGS---realtime-orders} ;;
    floor)
      echo "== floor"
      target/release/examples/write_floor --sockets 100 --rate 1000 --seconds 10 | tee "$out/floor.txt" ;;
    *) echo "unknown run $r" >&2; exit 2 ;;
  esac
done
