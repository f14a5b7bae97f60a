#!/usr/bin/python3
"""Explorer export benchmark: writes the `export` section of docs/benchmarks.md.

Measures, side by side in one run, the same data set made two ways:

  export     GET /api/models/ID/export?n=N&seed=S&format=F from a `zoo serve`
             the script starts (--addr 127.0.0.1:0), the zip streamed over
             loopback and written to a file as a browser's download would be;
             the model's runner is started by a small export first, so the
             figure is the steady state a user sees after the first export.
  generate   `zoo generate ID -n N --seed S --format F -o DIR --quiet`, one
             process per run: its wall time includes starting the process and
             loading LibTorch and the model (about a second), which an export
             from a running server does not pay; its own images/s (--json,
             counted from loading the model) is given beside it.

Each pair runs --rounds times, alternating; the medians are reported. Every
round checks that the zip holds exactly the files of the directory, byte for
byte (the Go tests check it too).

  memory     peak RSS of the zoo serve process (sampled every 20 ms) during an
             NPY export of n and of 8n samples: streamed, it should not grow
             with n beyond the manifest (about 300 bytes a sample).

Usage: /usr/bin/python3 scripts/bench_export.py [--zoo bin/zoo] [--n 512] [--rounds 3]
"""
import argparse
import datetime
import io
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
import zipfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from scriptlib import ROOT, write_section  # noqa: E402

MODEL = "00101_DCGAN_MRI_COLIN27_DEMO"
FORMATS = ["png", "dicom", "nifti"]


def export(base, n, seed, fmt, path):
    """Streams one export into path; returns seconds, bytes."""
    t0 = time.perf_counter()
    size = 0
    with urllib.request.urlopen(f"{base}/api/models/{MODEL}/export?n={n}&seed={seed}&format={fmt}") as r, \
            open(path, "wb") as f:
        if r.status != 200:
            raise RuntimeError(f"export: {r.status}")
        while True:
            chunk = r.read(1 << 16)
            if not chunk:
                break
            f.write(chunk)
            size += len(chunk)
    return time.perf_counter() - t0, size


def rss_kb(pid):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def peak_rss_during(pid, f):
    """Runs f() and returns its result and pid's peak RSS in kB meanwhile."""
    peak = [rss_kb(pid)]
    done = threading.Event()

    def sample():
        while not done.is_set():
            peak[0] = max(peak[0], rss_kb(pid))
            time.sleep(0.02)

    t = threading.Thread(target=sample)
    t.start()
    try:
        return f(), peak[0]
    finally:
        done.set()
        t.join()


def generate(zoo, env, n, seed, fmt, out):
    t0 = time.perf_counter()
    p = subprocess.run([zoo, "generate", MODEL, "-n", str(n), "--seed", str(seed), "--format", fmt, "-o", out,
                        "--quiet", "--json"], env=env, check=True, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    return wall, json.loads(p.stdout)["images_per_second"]


def same_files(zip_path, out):
    with zipfile.ZipFile(zip_path) as z:
        got = {i.filename: z.read(i) for i in z.infolist()}
    want = {}
    for name in os.listdir(out):
        with open(os.path.join(out, name), "rb") as f:
            want[name] = f.read()
    if got != want:
        raise SystemExit(f"the export differs from zoo generate's files in {out}: "
                         f"{sorted(set(got) ^ set(want))[:5]} or their bytes")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--zoo", default=os.path.join(ROOT, "bin", "zoo"))
    ap.add_argument("--out", default=os.path.join(ROOT, "docs", "benchmarks.md"))
    ap.add_argument("--n", type=int, default=512)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    zoo = os.path.abspath(args.zoo)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        env = dict(os.environ, ZOO_CATALOG="", ZOO_OFFLINE="1", ZOO_CACHE=os.path.join(tmp, "cache"))
        p = subprocess.Popen([zoo, "serve", "--addr", "127.0.0.1:0"], stderr=subprocess.PIPE, text=True, env=env)
        try:
            base = "http://" + re.search(r"http://([0-9.:]+)/", p.stderr.readline()).group(1)
            threading.Thread(target=lambda: [None for _ in p.stderr], daemon=True).start()  # drain the log
            export(base, 1, 0, "png", os.path.join(tmp, "warm.zip"))  # start the model's runner
            for fmt in FORMATS:
                ex, gen, gen_own, size = [], [], [], 0
                for r in range(args.rounds):
                    zpath = os.path.join(tmp, f"{fmt}{r}.zip")
                    out = os.path.join(tmp, f"{fmt}{r}")
                    secs, size = export(base, args.n, r, fmt, zpath)
                    ex.append(secs)
                    wall, ips = generate(zoo, env, args.n, r, fmt, out)
                    gen.append(wall)
                    gen_own.append(ips)
                    same_files(zpath, out)
                rows.append((fmt, args.n / statistics.median(ex), args.n / statistics.median(gen),
                             statistics.median(gen_own), size))
                print(f"{fmt}: export {rows[-1][1]:.0f} samples/s, generate {rows[-1][2]:.0f} samples/s wall "
                      f"({rows[-1][3]:.0f} by its own count), zip {size / 1e6:.1f} MB", file=sys.stderr)
            mem = []
            for n in (args.n, 8 * args.n):
                (secs, size), peak = peak_rss_during(p.pid, lambda: export(base, n, 7, "npy", os.path.join(tmp, "mem.zip")))
                mem.append((n, peak, size))
                print(f"npy n={n}: zoo serve peak RSS {peak / 1024:.0f} MiB, zip {size / 1e6:.1f} MB", file=sys.stderr)
        finally:
            p.terminate()
            p.wait()
    lines = [
        "## zoo serve: data-set export",
        "",
        f"`scripts/bench_export.py`, {datetime.date.today().isoformat()}, {os.cpu_count()} CPU cores, model "
        f"`{MODEL}`, n = {args.n}, medians of {args.rounds} alternating rounds. The export streams the zip over "
        "loopback into a file; `zoo generate` writes the same files into a directory (the script checks that "
        "they are the same bytes each round). Its wall time includes starting the process and loading the model, "
        "which a running server has done once; its own count (from loading the model on) is beside it.",
        "",
        "| format | export (samples/s) | zoo generate, wall (samples/s) | zoo generate, own count | export / generate (wall) | zip (MB) |",
        "| --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    lines += [f"| {fmt} | {ex:.0f} | {gen:.0f} | {own:.0f} | {ex / gen:.2f} | {size / 1e6:.1f} |"
              for fmt, ex, gen, own, size in rows]
    lines += ["", "The export fetches one compute block (16 samples) per runner call, giving the model back between "
              "blocks, and compresses each non-PNG file (deflate, fastest level) before it enters the zip; "
              "`zoo generate` writes uncompressed files with one forward per batch.",
              "",
              "Memory: peak RSS of the `zoo serve` process (its model's runner apart) during an NPY export:",
              "",
              "| n | zip (MB) | peak RSS of zoo serve (MiB) |",
              "| ---: | ---: | ---: |"]
    lines += [f"| {n} | {size / 1e6:.1f} | {peak / 1024:.0f} |" for n, peak, size in mem]
    write_section(args.out, "export", "\n".join(lines))


if __name__ == "__main__":
    main()
