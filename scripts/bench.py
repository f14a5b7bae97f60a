#!/usr/bin/python3
"""Benchmarks for `make bench`: writes docs/benchmarks.md.

Everything is measured side by side in one run on this machine, and each
figure is the median of --repeat runs:

  forward      `zoo bench`: LibTorch forward only, latents in, tensors copied
               to Go; the ceiling for generation.
  zoo e2e      `zoo generate -n N` to 8-bit PNG, whole process wall time
               (start-up, model load, generation, encoding, writing).
  python e2e   scripts/bench_python.py: torch.jit.load + a plain loop saving
               PNGs with Pillow, whole process wall time, same artifact,
               same threads and batch size.
  first image  `zoo generate -n 1` vs the Python loop with --n 1 (process wall).
  peak RSS     `zoo generate` maximum resident set for N and 10N images.

Usage: /usr/bin/python3 scripts/bench.py --zoo bin/zoo --out docs/benchmarks.md
"""
import argparse
import datetime
import json
import os
import platform
import shutil
import subprocess
import tempfile

from scriptlib import ROOT, cpu_name, median, must, run, write_section

DEMO_ID = "00101_DCGAN_MRI_COLIN27_DEMO"
DEMO_PT = os.path.join(ROOT, "bundled", DEMO_ID + ".pt")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--zoo", default=os.path.join(ROOT, "bin", "zoo"))
    ap.add_argument("--out", default=os.path.join(ROOT, "docs", "benchmarks.md"))
    ap.add_argument("--n", type=int, default=2048, help="images per throughput run")
    ap.add_argument("--rss-n", type=int, default=20000, help="images for the large peak-RSS run")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--only", choices=["all", "generation", "models"], default="all",
                    help="which sections to measure")
    args = ap.parse_args()
    if args.only in ("all", "models"):
        models_section(args)
    if args.only == "models":
        return

    zoo = os.path.abspath(args.zoo)
    threads = os.cpu_count()
    tmp = tempfile.mkdtemp(prefix="zoo-bench-")
    env = dict(os.environ, ZOO_CACHE=os.path.join(tmp, "cache"), ZOO_OFFLINE="1", ZOO_CATALOG="")
    n, b = args.n, args.batch

    # Warm the cache (bundled model copied into it) and the page cache.
    run([zoo, "generate", DEMO_ID, "-n", "1", "-o", os.path.join(tmp, "warm"), "-q"], env)

    fwd, zoo_e2e, py_e2e, zoo_first, py_first = [], [], [], [], []
    for r in range(args.repeat):
        _, out = run([zoo, "bench", DEMO_ID, "-n", str(n), "--batch-size", str(b), "--json"], env)
        fwd.append(json.loads(out)["images_per_second"])

        d = os.path.join(tmp, f"zoo{r}")
        wall, _ = run([zoo, "generate", DEMO_ID, "-n", str(n), "-o", d, "--batch-size", str(b), "-q"], env)
        zoo_e2e.append(n / wall)
        shutil.rmtree(d)

        d = os.path.join(tmp, f"py{r}")
        wall, _ = run(["/usr/bin/python3", os.path.join(ROOT, "scripts", "bench_python.py"), "--model", DEMO_PT,
                       "--n", str(n), "--batch", str(b), "--out", d, "--threads", str(threads)])
        py_e2e.append(n / wall)
        shutil.rmtree(d)

        d = os.path.join(tmp, f"zoo1-{r}")
        wall, _ = run([zoo, "generate", DEMO_ID, "-n", "1", "-o", d, "-q"], env)
        zoo_first.append(wall)
        d = os.path.join(tmp, f"py1-{r}")
        wall, _ = run(["/usr/bin/python3", os.path.join(ROOT, "scripts", "bench_python.py"), "--model", DEMO_PT,
                       "--n", "1", "--batch", "1", "--out", d, "--threads", str(threads)])
        py_first.append(wall)

    help_wall = median([run([zoo, "--help"], env)[0] for _ in range(5)])
    torch_help_wall = median([run([zoo + "-torch", "--help"], env)[0] for _ in range(5)])

    small_n = args.rss_n // 10
    _, rss_small = must([zoo, "generate", DEMO_ID, "-n", str(small_n), "-o", os.path.join(tmp, "rss1"), "-q"], env)
    wall_big, rss_big = must([zoo, "generate", DEMO_ID, "-n", str(args.rss_n), "-o", os.path.join(tmp, "rss2"), "-q"], env)
    shutil.rmtree(tmp)

    F, Z, P = median(fwd), median(zoo_e2e), median(py_e2e)
    cpu = cpu_name()
    torch_version = subprocess.run(["/usr/bin/python3", "-c", "import torch; print(torch.__version__)"],
                                   capture_output=True, text=True).stdout.strip()
    lines = [
        "## Generation (issue 2)",
        "",
        f"Measured by `make bench` (scripts/bench.py) on {datetime.date.today().isoformat()}: "
        f"{cpu}, {threads} cores, Linux {platform.release()}, Debian LibTorch / python3-torch {torch_version}, CPU only.",
        f"Model: the bundled demo `{DEMO_ID}` (DCGAN, 64×64 grayscale). Batch size {b}, {threads} LibTorch threads, "
        f"median of {args.repeat} runs, all measured side by side in one run.",
        "",
        "### Throughput",
        "",
        "| measurement | images/s | ratio |",
        "| --- | ---: | ---: |",
        f"| LibTorch forward only (`zoo bench`, the limit) | {F:.0f} | 1.00 of limit |",
        f"| `zoo generate -n {n}` to 8-bit PNG, whole process | {Z:.0f} | {Z / F:.2f} of limit |",
        f"| Python loop (`scripts/bench_python.py`: torch.jit.load + Pillow PNGs), whole process | {P:.0f} | {P / F:.2f} of limit |",
        f"| **zoo / Python** | | **{Z / P:.2f}×** |",
        "",
        "Both zoo rows run the same forward calls on one goroutine; `zoo generate` encodes and writes PNGs on",
        "other goroutines meanwhile, so it reaches the forward-only rate to within run-to-run noise (a few %).",
        "The Python loop encodes and writes between forward calls, and pays for importing torch.",
        "",
        "### Latency",
        "",
        "| measurement | seconds |",
        "| --- | ---: |",
        f"| `zoo generate -n 1` (process start to exit, model load included) | {median(zoo_first):.3f} |",
        f"| Python loop `--n 1` (process start to exit) | {median(py_first):.3f} |",
        f"| `zoo --help` (bin/zoo does not link LibTorch) | {help_wall:.3f} |",
        f"| `zoo-torch --help` (the same with LibTorch linked: its shared libraries' start-up) | {torch_help_wall:.3f} |",
        "",
        "### Memory",
        "",
        "| measurement | peak RSS |",
        "| --- | ---: |",
        f"| `zoo generate -n {small_n}` | {rss_small:.0f} MiB |",
        f"| `zoo generate -n {args.rss_n}` ({wall_big:.0f} s) | {rss_big:.0f} MiB |",
        "",
        f"Peak RSS grows {rss_big / rss_small:.2f}× for 10× the images: memory is bounded by a few batches in flight, not by N.",
        "",
        "Raw medians: " + json.dumps({"forward": F, "zoo_e2e": Z, "python_e2e": P,
                                     "zoo_first_s": median(zoo_first), "python_first_s": median(py_first)}),
        "",
    ]
    write_section(args.out, "generation", "\n".join(lines))
    print("\n".join(lines))


def models_section(args):
    """Per bundled model (issue 3): parameters, artifact size, images/s at
    batch 16 on this machine, training time. Noise-to-image models are timed
    with `zoo bench` (forward only); image-to-image models with
    `zoo generate --input` over their example inputs (whole process, so
    start-up and model load are included)."""
    zoo = os.path.abspath(args.zoo)
    tmp = tempfile.mkdtemp(prefix="zoo-bench-models-")
    env = dict(os.environ, ZOO_CACHE=os.path.join(tmp, "cache"), ZOO_OFFLINE="1", ZOO_CATALOG="")
    _, out = run([zoo, "list", "--runnable", "--json"], env)
    rows = [
        "## Bundled models (issue 3)",
        "",
        f"Measured by `make bench` on {datetime.date.today().isoformat()}, {os.cpu_count()} CPU cores, "
        f"batch {args.batch}, median of {args.repeat} runs. Quality figures come from `zoo evaluate` (issue 5).",
        "",
        "| model | kind | parameters | artifact | images/s (batch 16) | how timed | training time | quality (FID…) |",
        "| --- | --- | ---: | ---: | ---: | --- | --- | --- |",
    ]
    for m in json.loads(out):
        if not m.get("demo"):
            continue
        mid = m["id"]
        training = m.get("training", {})
        size_mb = m.get("artifact", {}).get("size", 0) / 1e6
        sig = m.get("signature", {})
        kind = m.get("function", "")
        if sig.get("conditions"):
            kind += ", conditional"
        if len(sig.get("outputs", [])) > 1:
            kind += ", " + "+".join(o["name"] for o in sig["outputs"])
        inputs = os.path.join(ROOT, "docs", "models", mid.split("_")[0] + "_inputs")
        if sig.get("input"):
            inputs = replicate_inputs(inputs, os.path.join(tmp, mid + "-inputs"), 512)
        rates = []
        for r in range(args.repeat):
            if sig.get("input"):
                d = os.path.join(tmp, f"{mid}-{r}")
                _, o = run([zoo, "generate", mid, "--input", inputs, "-o", d, "--batch-size", str(args.batch),
                            "--json", "-q"], env)
                rates.append(json.loads(o)["images_per_second"])
                how = f"`zoo generate --input` ({len(os.listdir(inputs))} PNG inputs, to PNG)"
            else:
                _, o = run([zoo, "bench", mid, "-n", "512", "--batch-size", str(args.batch), "--json"], env)
                rates.append(json.loads(o)["images_per_second"])
                how = "`zoo bench` (forward only)"
        rows.append(f"| `{mid}` | {kind} | {training.get('parameters', 0):,} | {size_mb:.1f} MB | "
                    f"{median(rates):.0f} | {how} | {training.get('wall_time', '').split(' (')[0]} | "
                    f"{quality(m.get('metrics', {}))} |")
    shutil.rmtree(tmp)
    text = "\n".join(rows) + "\n"
    write_section(args.out, "models", text)
    print(text)


def replicate_inputs(src, dst, n):
    """n input files in dst, copies of src's example inputs in turn, so an
    image-to-image model is timed over enough samples to amortise start-up."""
    os.makedirs(dst, exist_ok=True)
    names = sorted(os.listdir(src))
    for i in range(n):
        name = names[i % len(names)]
        shutil.copy(os.path.join(src, name), os.path.join(dst, f"{i:04d}_{name}"))
    return dst


def quality(metrics):
    """The measured FID and KID of a catalog entry, with their extractor."""
    parts = []
    for name in ("FID", "KID"):
        m = metrics.get(name)
        if m and m.get("source") == "measured by zoo":
            parts.append(f"{name} {m['value']:.4g} ({m.get('extractor', '').split(' (')[0]}, {m.get('images', 0)} images)")
    return "; ".join(parts) or "—"


if __name__ == "__main__":
    main()
