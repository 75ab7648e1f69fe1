#!/usr/bin/env bash
# Autobahn|Testsuite conformance of the feed server's connection loop, through `feed-server --echo`.
#
# Runs the fuzzing-client cases 1-7, 9 and 10 (12.* and 13.* are permessage-deflate, which Tickwire
# does not offer) with kosoku, the Python 3 runner of Autobahn's own case files, against
#   - feed-server --echo (path /echo: the same reading, writing, heartbeat, limit and close code
#     that serves /ws), and
#   - a plain tokio-tungstenite echo server with the library's defaults (the reference),
# and fails if any case ends worse for feed-server than for the reference, or FAILED/ERROR at all.
# Reports: target/autobahn/{feed-server,reference}/index.html. Needs Python 3 with pip; installs
# kosoku into target/autobahn/pylib.
set -euo pipefail
cd "$(dirname "$0")/.."

out=target/autobahn
pylib=$out/pylib
mkdir -p "$out"
if [ ! -d "$pylib/kosoku" ]; then
  echo "== installing kosoku into $pylib"
  python3 -m pip install --quiet --disable-pip-version-check --target "$pylib" kosoku==0.1.0
fi
kosoku() { PYTHONPATH="$pylib" python3 -c 'import sys; from kosoku._cli import main; sys.argv[0] = "kosoku"; main()' "$@"; }

cargo build --quiet -p feed-server --bin feed-server --example reference_echo
bin=target/debug

pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; }
trap cleanup EXIT

# Starts a server in the background, in this shell (not a subshell), so the cleanup knows its pid.
start() {
  local log=$1; shift
  "$@" >"$log" 2>"$log.err" &
  pids+=($!)
}

# Prints the address from a server's ready line, once it is there.
address() {
  local log=$1
  for _ in $(seq 1 100); do
    if grep -q '^listening on ws://' "$log" 2>/dev/null; then
      sed -n 's|^listening on ws://\([^/]*\).*|\1|p' "$log" | head -n 1
      return
    fi
    sleep 0.1
  done
  echo "server did not start: see $log.err" >&2; cat "$log.err" >&2; exit 1
}

# The echo cases send messages of up to 16 MiB and bursts of thousands; the limits are raised to
# let them through, everything else is the default configuration.
start "$out/feed-server.out" "$bin/feed-server" --listen 127.0.0.1:0 --echo \
  --max-message-bytes 16777216 --max-message-rate 1000000
start "$out/reference.out" "$bin/examples/reference_echo" 127.0.0.1:0
ours=$(address "$out/feed-server.out")
reference=$(address "$out/reference.out")

cases=(-i '1.*' -i '2.*' -i '3.*' -i '4.*' -i '5.*' -i '6.*' -i '7.*' -i '9.*' -i '10.*')
echo "== autobahn cases 1-7, 9, 10 against feed-server --echo ($ours) and the reference ($reference)"
kosoku "ws://$ours/echo" "${cases[@]}" -p 2 -o "$out/feed-server" >"$out/feed-server.log" 2>&1 || true
kosoku "ws://$reference/" "${cases[@]}" -p 2 -o "$out/reference" >"$out/reference.log" 2>&1 || true

python3 - "$out/feed-server/index.json" "$out/reference/index.json" <<'PY'
import collections, json, sys

RANK = {"OK": 0, "NON-STRICT": 1, "INFORMATIONAL": 1, "UNIMPLEMENTED": 2, "UNCLEAN": 3,
        "WRONG CODE": 3, "FAILED BY CLIENT": 3, "FAILED": 4, "ERROR": 5}

def load(path):
    with open(path) as f:
        index = json.load(f)
    (cases,) = index.values()
    return cases

ours, reference = load(sys.argv[1]), load(sys.argv[2])
worse, broken = [], []
for case, result in sorted(ours.items()):
    ref = reference.get(case, {"behavior": "ERROR", "behaviorClose": "ERROR"})
    for key in ("behavior", "behaviorClose"):
        mine, theirs = result[key], ref[key]
        if RANK.get(mine, 5) > RANK.get(theirs, 5):
            worse.append(f"{case} {key}: {mine} (reference {theirs})")
        if RANK.get(mine, 5) >= 4:
            broken.append(f"{case} {key}: {mine}")
missing = sorted(set(reference) - set(ours))
summary = collections.Counter(r["behavior"] for r in ours.values())
print("feed-server --echo: %d cases: %s" % (len(ours), ", ".join(f"{n} {k}" for k, n in sorted(summary.items()))))
summary = collections.Counter(r["behavior"] for r in reference.values())
print("reference:          %d cases: %s" % (len(reference), ", ".join(f"{n} {k}" for k, n in sorted(summary.items()))))
for line in worse + broken:
    print("  " + line)
if missing:
    print("  cases with no result for feed-server: " + ", ".join(missing))
if worse or broken or missing or len(ours) < 290:
    print("autobahn: FAILED")
    sys.exit(1)
print("autobahn: no case worse than the reference")
PY
