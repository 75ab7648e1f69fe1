#!/usr/bin/env bash
# The browser tests of the page at / (feed-server/web-tests): headless Chromium, driven by
# playwright-core from the npm registry (installed into feed-server/web-tests/node_modules at the
# version package-lock.json pins), against the debug feed-server. Needs Node 20+ and Chromium
# (Debian's `chromium`, or CHROMIUM=/path/to/chrome). Screenshots go to target/web-tests/.
set -euo pipefail
cd "$(dirname "$0")/.."
target=${CARGO_TARGET_DIR:-$PWD/target}
cargo build -q -p feed-server
cd feed-server/web-tests
if [ ! -d node_modules/playwright-core ]; then
  npm ci --no-audit --no-fund --loglevel=error
fi
FEED_SERVER="$target/debug/feed-server" SHOTS="$target/web-tests" npm test --silent
