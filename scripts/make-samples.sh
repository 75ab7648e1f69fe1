#!/usr/bin/env bash
# Remakes every committed sample in recordings/ with Tickwire's own commands: deterministic, so
# running it again changes nothing.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release -q -p feed-server
fs=target/release/feed-server
work=target/samples
mkdir -p "$work" recordings/examples

# The main sample: 20 symbols, 60 s at the server's default rate, quotes and trades only
# (version 1), so every benchmark of it stays comparable.
$fs generate --symbols default --rate 2000 --book-rate 0 --seed 1 --duration 60s --out recordings/synthetic-20-symbols-60s.jsonl.zst

# A sample with order books (version 2): a book per symbol, then every change.
$fs generate --symbols AAPL,MSFT,NVDA,TSLA,SPY --rate 500 --book-rate 500 --seed 1 --duration 30s \
    --out recordings/synthetic-5-symbols-30s-books.jsonl.zst

# Small CSV inputs in both import formats, and the recordings imported from them.
$fs generate --symbols AAPL,MSFT,KO --rate 20 --book-rate 0 --seed 2 --duration 10s --out "$work/tickwire-source.jsonl"
python3 scripts/samples_to_csv.py tickwire "$work/tickwire-source.jsonl" \
    recordings/examples/tickwire-quotes.csv recordings/examples/tickwire-trades.csv
$fs import recordings/examples/tickwire-quotes.csv recordings/examples/tickwire-trades.csv \
    --out recordings/examples/tickwire-csv.jsonl

$fs generate --symbols BTC-USD,ETH-USD --rate 20 --book-rate 0 --seed 3 --duration 10s --out "$work/tardis-source.jsonl"
python3 scripts/samples_to_csv.py tardis "$work/tardis-source.jsonl" \
    recordings/examples/tardis-quotes.csv recordings/examples/tardis-trades.csv.gz
$fs import --format tardis recordings/examples/tardis-quotes.csv recordings/examples/tardis-trades.csv.gz \
    --out recordings/examples/tardis.jsonl
