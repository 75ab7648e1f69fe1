#!/usr/bin/env python3
"""Writes the CSV samples in recordings/examples from recordings that `feed-server generate` made.

usage: samples_to_csv.py tickwire SOURCE.jsonl QUOTES.csv TRADES.csv
       samples_to_csv.py tardis SOURCE.jsonl QUOTES.csv TRADES.csv.gz

Tickwire CSV keeps the events as they are (timestamps in RFC 3339 for quotes and in nanoseconds
for trades, to show both forms). The Tardis.dev form turns them into a crypto-like session:
prices times 300, sizes in thousandths, microsecond timestamps, and one one-sided quote.
"""
import gzip
import json
import sys
from datetime import datetime, timezone
from decimal import Decimal


def events(path):
    with open(path) as f:
        next(f)  # header
        for line in f:
            yield json.loads(line)


def rfc3339(ns):
    seconds, rest = divmod(ns, 1_000_000_000)
    t = datetime.fromtimestamp(seconds, tz=timezone.utc)
    return t.strftime("%Y-%m-%dT%H:%M:%S") + f".{rest:09d}Z"


def tickwire(source, quotes, trades):
    with open(quotes, "w") as q, open(trades, "w") as t:
        q.write("timestamp,symbol,bid,bid_size,ask,ask_size\n")
        t.write("timestamp,symbol,price,size\n")
        for e in events(source):
            if e["type"] == "quote":
                q.write(f'{rfc3339(e["ts_ns"])},{e["symbol"]},{e["bid"]},{e["bid_size"]},{e["ask"]},{e["ask_size"]}\n')
            else:
                t.write(f'{e["ts_ns"]},{e["symbol"]},{e["price"]},{e["size"]}\n')


def tardis(source, quotes, trades):
    price = lambda p: str(Decimal(p) * 300)
    size = lambda s: str((Decimal(s) / 1000).normalize())
    with open(quotes, "w") as q, gzip.GzipFile(trades, "wb", mtime=0) as t:
        q.write("exchange,symbol,timestamp,local_timestamp,ask_amount,ask_price,bid_price,bid_amount\n")
        t.write(b"exchange,symbol,timestamp,local_timestamp,id,side,price,amount\n")
        one_sided = False
        for n, e in enumerate(events(source)):
            us = e["ts_ns"] // 1000
            sym = e["symbol"].replace("-", "")
            if e["type"] == "quote":
                # One quote with no ask, as Tardis writes a side with no orders.
                empty = n >= 7 and not one_sided
                one_sided = one_sided or empty
                ask = "" if empty else price(e["ask"])
                ask_amount = "" if empty else size(e["ask_size"])
                q.write(f'sample,{sym},{us - 150},{us},{ask_amount},{ask},{price(e["bid"])},{size(e["bid_size"])}\n')
            else:
                t.write(f'sample,{sym},{us - 150},{us},{n},buy,{price(e["price"])},{size(e["size"])}\n'.encode())


if __name__ == "__main__":
    kind, source, quotes, trades = sys.argv[1:5]
    {"tickwire": tickwire, "tardis": tardis}[kind](source, quotes, trades)
