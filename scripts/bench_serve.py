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
  hostile mix          --mixed-clients (64) clients for --mixed-seconds (20) against
                       a second server (--timeout 2s) whose user catalog holds the
                       hostile test modules of scripts/make_test_modules.py: valid
                       requests mixed with bad parameters, unknown models, models
                       that raise or return NaN, and now and then a forward that
                       never returns (each costs a 503 and a runner restart).
                       Requests/s, status counts, peak RSS of zoo serve and of its
                       runner processes (sampled every 50 ms).

The browser's own decode and paint of a 64x64 PNG (well under a millisecond)
is not included.

Usage: /usr/bin/python3 scripts/bench_serve.py [--zoo bin/zoo] [--rounds 50] [--seconds 10]
"""
import argparse
import collections
import datetime
import os
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from scriptlib import ROOT, pct, sha256_file, write_section  # noqa: E402

MODELS = ["00101_DCGAN_MRI_COLIN27_DEMO", "00102_CDCGAN_MRI_COLIN27_PLANE_DEMO",
          "00103_DCGAN_MRI_COLIN27_IMAGE_MASK_DEMO", "00105_WGANGP_CT_HEAD_DEMO"]


def fetch(url):
    with urllib.request.urlopen(url) as r:
        body = r.read()
        if r.status != 200:
            raise RuntimeError(f"{url}: {r.status}")
        return body


def proc_kb(path, field):
    """The kB figure of the line `field` in a /proc file, 0 when the process is gone."""
    try:
        with open(path) as f:
            for line in f:
                if line.startswith(field):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def rss_kb(pid):
    return proc_kb(f"/proc/{pid}/status", "VmRSS:")


def pss_kb(pid):
    """Proportional set size: shared pages (LibTorch's code, mapped by every
    runner) counted once across processes, unlike a sum of RSS."""
    return proc_kb(f"/proc/{pid}/smaps_rollup", "Pss:")


def children(pid):
    kids = []
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                with open(f"/proc/{d}/stat") as f:
                    if int(f.read().rsplit(")", 1)[1].split()[1]) == pid:
                        kids.append(int(d))
            except (OSError, ValueError, IndexError):
                pass
    return kids


TINY_SIG = """latent = [8]
[[model.signature.outputs]]
name = "image"
kind = "image"
channels = 1
height = 4
width = 4
range = [-1.0, 1.0]"""

HOSTILE = {"90101_TINY": "tiny_generator.pt", "90102_NAN": "nan_generator.pt", "90103_RAISE": "raise_always.pt",
           "90104_WRONG_SHAPE": "wrong_shape.pt", "90105_HANG": "hang.pt", "90106_GARBAGE": "garbage.pt"}


def hostile_catalog(tmp):
    mods = os.path.join(tmp, "modules")
    subprocess.run([sys.executable, os.path.join(ROOT, "scripts", "make_test_modules.py"), mods], check=True,
                   stdout=subprocess.DEVNULL)
    parts = ["schema = 1"]
    for mid, mod in HOSTILE.items():
        path = os.path.join(mods, mod)
        sha = sha256_file(path)
        parts.append(f'[[model]]\nid = "{mid}"\ntitle = "bench {mod}"\nversion = "0.0.1"\nfunction = "noise-to-image"\n'
                     f'[model.artifact]\nurl = "{path}"\nsha256 = "{sha}"\nformat = "torchscript"\n'
                     f'[model.signature]\n{TINY_SIG}')
    cat = os.path.join(tmp, "hostile.toml")
    with open(cat, "w") as f:
        f.write("\n".join(parts) + "\n")
    return cat


def mixed_request(k, i):
    """The i-th request of client k: mostly valid, a third hostile, one in 500 a hang."""
    seed = k * 100000 + i
    if (k * 7919 + i) % 500 == 0:
        return f"/api/models/90105_HANG/image?seed={seed}"
    menu = [
        f"/api/models/00101_DCGAN_MRI_COLIN27_DEMO/image?n=1&seed={seed}",
        f"/api/models/00101_DCGAN_MRI_COLIN27_DEMO/image?n=4&seed={seed}",
        f"/api/models/00102_CDCGAN_MRI_COLIN27_PLANE_DEMO/image?seed={seed}&condition=plane=axial",
        f"/api/models/90101_TINY/image?n=8&seed={seed}",
        f"/api/models?q=brain&runnable=1",
        f"/api/models/00101_DCGAN_MRI_COLIN27_DEMO/image?n=1000000000000",
        f"/api/models/00101_DCGAN_MRI_COLIN27_DEMO/image?seed=-1&shift=NaN",
        f"/api/models/99999_NOPE/image",
        f"/api/models/90102_NAN/image?seed={seed}",
        f"/api/models/90103_RAISE/image",
        f"/api/models/90104_WRONG_SHAPE/image",
        f"/api/models/90106_GARBAGE/image",
    ]
    return menu[(k + i) % len(menu)]


def mixed_load(zoo, clients, seconds):
    with tempfile.TemporaryDirectory() as tmp:
        env = dict(os.environ, ZOO_CATALOG=hostile_catalog(tmp), ZOO_OFFLINE="1", ZOO_CACHE=os.path.join(tmp, "cache"))
        p = subprocess.Popen([zoo, "serve", "--addr", "127.0.0.1:0", "--max-concurrent", "8", "--timeout", "2s"],
                             stderr=subprocess.PIPE, text=True, env=env)
        try:
            base = "http://" + re.search(r"http://([0-9.:]+)/", p.stderr.readline()).group(1)
            threading.Thread(target=lambda: [None for _ in p.stderr], daemon=True).start()  # drain the log
            fetch(f"{base}/api/models/00101_DCGAN_MRI_COLIN27_DEMO/image?n=1")
            statuses = collections.Counter()
            by_model = collections.Counter()
            lock = threading.Lock()
            peak = {"serve": 0, "runners": 0, "total": 0, "count": 0, "pss": 0}
            stop = time.perf_counter() + seconds
            done = threading.Event()

            def sample():
                while not done.is_set():
                    s, r = rss_kb(p.pid), sum(rss_kb(c) for c in children(p.pid))
                    peak["serve"], peak["runners"] = max(peak["serve"], s), max(peak["runners"], r)
                    peak["total"] = max(peak["total"], s + r)
                    peak["count"] = max(peak["count"], len(children(p.pid)))
                    peak["pss"] = max(peak["pss"], pss_kb(p.pid) + sum(pss_kb(c) for c in children(p.pid)))
                    time.sleep(0.05)

            def client(k):
                i = 0
                while time.perf_counter() < stop:
                    try:
                        path = mixed_request(k, i)
                        with urllib.request.urlopen(base + path, timeout=30) as r:
                            r.read()
                            code = r.status
                    except urllib.error.HTTPError as e:
                        e.read()
                        code = e.code
                    except OSError as e:
                        code = type(e).__name__
                    with lock:
                        statuses[code] += 1
                        by_model[(path.split("/")[3].split("?")[0] if path.count("/") > 2 else "search", code)] += 1
                    i += 1

            sampler = threading.Thread(target=sample)
            sampler.start()
            t0 = time.perf_counter()
            ts = [threading.Thread(target=client, args=(k,)) for k in range(clients)]
            for t in ts:
                t.start()
            for t in ts:
                t.join()
            wall = time.perf_counter() - t0
            done.set()
            sampler.join()
        finally:
            p.terminate()
            stopped = time.perf_counter()
            try:
                p.wait(timeout=30)
                peak["stop_s"] = time.perf_counter() - stopped
            except subprocess.TimeoutExpired:  # zoo before issue 10: a hung forward kept it running
                p.kill()
                p.wait()
                peak["stop_s"] = None
    total = sum(statuses.values())
    print(f"mixed: {total / wall:.1f} req/s, {dict(statuses)}, peak RSS serve {peak['serve'] / 1024:.0f} MB, "
          f"runners {peak['runners'] / 1024:.0f} MB, together {peak['total'] / 1024:.0f} MB (PSS together {peak['pss'] / 1024:.0f} MB), stopped on SIGTERM in {'%.1f s' % peak['stop_s'] if peak['stop_s'] is not None else 'NEVER (killed after 30 s)'}", file=sys.stderr)
    print("  by model: " + ", ".join(f"{m} {c}: {n}" for (m, c), n in sorted(by_model.items(), key=str)), file=sys.stderr)
    return total / wall, statuses, peak


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--zoo", default=os.path.join(ROOT, "bin", "zoo"))
    ap.add_argument("--out", default=os.path.join(ROOT, "docs", "benchmarks.md"))
    ap.add_argument("--rounds", type=int, default=50)
    ap.add_argument("--seconds", type=float, default=10)
    ap.add_argument("--mixed-clients", type=int, default=64)
    ap.add_argument("--mixed-seconds", type=float, default=20)
    ap.add_argument("--only-mixed", action="store_true", help="run only the hostile mix (prints, writes nothing)")
    args = ap.parse_args()
    if args.only_mixed:
        mixed_load(os.path.abspath(args.zoo), args.mixed_clients, args.mixed_seconds)
        return
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
    mixed_rps, statuses, peak = mixed_load(os.path.abspath(args.zoo), args.mixed_clients, args.mixed_seconds)
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
              "pass per model at a time.",
              "",
              f"Hostile mix, {args.mixed_clients} clients for {args.mixed_seconds:g} s against a server with "
              "`--max-concurrent 8 --timeout 2s`: valid requests to 00101, 00102 and a tiny test model mixed with bad "
              "parameters (400), an unknown model (404), models that return NaN, raise, return the wrong shape or are "
              "not TorchScript (422), and one request in 500 to a forward that never returns (503 at the timeout, "
              "its runner killed and restarted). Every model runs in its own runner process.",
              "",
              f"| requests/s | statuses | peak RSS zoo serve (MB) | peak RSS runners, summed (MB) | peak RSS together (MB) | runners at once (peak) |",
              "| ---: | --- | ---: | ---: | ---: | ---: |",
              f"| {mixed_rps:.1f} | {', '.join(f'{k}: {v}' for k, v in sorted(statuses.items(), key=str))} | "
              f"{peak['serve'] / 1024:.0f} | {peak['runners'] / 1024:.0f} | {peak['total'] / 1024:.0f} | {peak['count']} |"]
    write_section(args.out, "serve", "\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
