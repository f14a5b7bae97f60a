#!/usr/bin/python3
"""`zoo serve` benchmark: writes the `serve` section of docs/benchmarks.md.

Starts `zoo serve --addr 127.0.0.1:0` and measures, over HTTP on loopback:

  explorer round trip  what the explorer does when a slider moves: one
                       GET /api/models/ID/image?n=1&seed=..&groups=10&offsets=..
                       (a new offset each time, so nothing is cached), time from
                       request to the last byte of the PNG; median and p95 of
                       --rounds requests per demo model, one client.
  API throughput       8 concurrent clients, each sending requests back to back
                       for --seconds: generate requests of 1 and of 16 images
                       (model 00101), requests/s and images/s.

The browser's own decode and paint of a 64x64 PNG (well under a millisecond)
is not included.

Usage: /usr/bin/python3 scripts/bench_serve.py [--zoo bin/zoo] [--rounds 50] [--seconds 10]
"""
import argparse
import datetime
import os
import re
import statistics
import subprocess
import sys
import threading
import time
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench import write_section  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MODELS = ["00101_DCGAN_MRI_COLIN27_DEMO", "00102_CDCGAN_MRI_COLIN27_PLANE_DEMO",
          "00103_DCGAN_MRI_COLIN27_IMAGE_MASK_DEMO", "00105_WGANGP_CT_HEAD_DEMO"]


def fetch(url):
    with urllib.request.urlopen(url) as r:
        body = r.read()
        if r.status != 200:
            raise RuntimeError(f"{url}: {r.status}")
        return body


def pct(xs, q):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(q * (len(xs) - 1))))]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--zoo", default=os.path.join(ROOT, "bin", "zoo"))
    ap.add_argument("--out", default=os.path.join(ROOT, "docs", "benchmarks.md"))
    ap.add_argument("--rounds", type=int, default=50)
    ap.add_argument("--seconds", type=float, default=10)
    args = ap.parse_args()
    env = dict(os.environ, ZOO_CATALOG="", ZOO_OFFLINE="1")
    p = subprocess.Popen([os.path.abspath(args.zoo), "serve", "--addr", "127.0.0.1:0", "--max-concurrent", "8"],
                         stderr=subprocess.PIPE, text=True, env=env)
    try:
        line = p.stderr.readline()
        base = "http://" + re.search(r"http://([0-9.:]+)/", line).group(1)
        rows = []
        for m in MODELS:
            fetch(f"{base}/api/models/{m}/image?n=1")  # load the model once
            times = []
            for i in range(args.rounds):
                offsets = ",".join(f"{((i * 7 + g) % 13 - 6) / 4:.2f}" for g in range(10))
                url = f"{base}/api/models/{m}/image?n=1&seed=3&groups=10&offsets={offsets}"
                t0 = time.perf_counter()
                fetch(url)
                times.append(time.perf_counter() - t0)
            rows.append((m, statistics.median(times) * 1000, pct(times, 0.95) * 1000))
            print(f"{m}: median {rows[-1][1]:.1f} ms p95 {rows[-1][2]:.1f} ms", file=sys.stderr)
        thr = []
        for n in (1, 16):
            count = [0] * 8
            stop = time.perf_counter() + args.seconds

            def client(k):
                i = 0
                while time.perf_counter() < stop:
                    fetch(f"{base}/api/models/{MODELS[0]}/image?n={n}&seed={k * 100000 + i}")
                    count[k] += 1
                    i += 1

            t0 = time.perf_counter()
            ts = [threading.Thread(target=client, args=(k,)) for k in range(8)]
            for t in ts:
                t.start()
            for t in ts:
                t.join()
            wall = time.perf_counter() - t0
            thr.append((n, sum(count) / wall, sum(count) * n / wall))
            print(f"n={n}: {thr[-1][1]:.1f} req/s, {thr[-1][2]:.0f} images/s", file=sys.stderr)
    finally:
        p.terminate()
        p.wait()
    lines = [
        "## zoo serve",
        "",
        f"`scripts/bench_serve.py`, {datetime.date.today().isoformat()}, {os.cpu_count()} CPU cores, loopback HTTP, "
        "the server started by the script (`--max-concurrent 8`).",
        "",
        f"Explorer round trip (a slider moves: one 1-image request with 10 new latent-group offsets, request to last "
        f"byte; {args.rounds} requests per model, one client):",
        "",
        "| model | median (ms) | p95 (ms) |",
        "| --- | ---: | ---: |",
    ]
    lines += [f"| `{m}` | {med:.1f} | {p95:.1f} |" for m, med, p95 in rows]
    lines += [
        "",
        f"API throughput, 8 concurrent clients for {args.seconds:g} s each, model 00101:",
        "",
        "| images per request | requests/s | images/s |",
        "| ---: | ---: | ---: |",
    ]
    lines += [f"| {n} | {rps:.1f} | {ips:.0f} |" for n, rps, ips in thr]
    lines += ["", "Each request computes its model's fixed compute block (16 samples, so that bytes do not depend "
              "on batching) and encodes a PNG figure; requests run concurrently up to the limit, one forward "
              "pass per model at a time."]
    write_section(args.out, "serve", "\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
