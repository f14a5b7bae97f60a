#!/usr/bin/python3
"""Per-protocol benchmark of zoo evaluate: writes the `protocols` section of
docs/benchmarks.md.

Side by side in one run, for each --protocol (zoo, clean-fid, pytorch-fid,
torch-fidelity):

  preprocessing  Go's preparation of one decoded image for a 299x299 network
                 (features.BenchmarkPrepProtocols: a 128x128 8-bit gray PNG,
                 enlarged, and a 512x384 RGB one, shrunk), one core.
  FID            unless --prep-only: `zoo evaluate A B --features
                 inception-v3-random.pt --metrics fid --no-cache --protocol P`,
                 whole process, on N vs N 128x128 8-bit gray PNGs (the images
                 of scripts/bench_evaluate.py), the random-weight Inception-v3
                 stand-in of scripts/export_extractors.py (same cost per image
                 as the FID Inception).

Usage: /usr/bin/python3 scripts/bench_protocols.py [--n 2000] [--prep-only] [--zoo bin/zoo]
"""
import argparse
import datetime
import json
import os
import re
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_evaluate import make_images, timed  # noqa: E402
from scriptlib import ROOT, write_section  # noqa: E402

PROTOCOLS = ["zoo", "clean-fid", "pytorch-fid", "torch-fidelity"]
CASES = {"gray128": "128×128 gray → 299×299", "rgb512x384": "512×384 RGB → 299×299"}


def prep_times():
    """ms per image of each protocol and case, from the Go benchmark."""
    out = subprocess.run(["go", "test", "-run", "^$", "-bench", "PrepProtocols", "-benchtime", "2s", "-cpu", "1", "./features"],
                         cwd=ROOT, check=True, capture_output=True, text=True).stdout
    times = {}
    for m in re.finditer(r"BenchmarkPrepProtocols/([\w-]+)/(\w+)\s+\d+\s+([\d.]+) ns/op", out):
        times[(m.group(1), m.group(2))] = float(m.group(3)) / 1e6
    missing = [(p, c) for p in PROTOCOLS for c in CASES if (p, c) not in times]
    if missing:
        sys.exit(f"benchmark output lacks {missing}:\n{out}")
    return times


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=2000, help="images per side")
    ap.add_argument("--prep-only", action="store_true", help="only the preprocessing figures (no FID runs)")
    ap.add_argument("--zoo", default=os.path.join(ROOT, "bin", "zoo"))
    ap.add_argument("--out", default=os.path.join(ROOT, "docs", "benchmarks.md"))
    args = ap.parse_args()
    times = prep_times()
    cores = os.cpu_count()
    lines = [
        "## zoo evaluate: protocols",
        "",
        f"`scripts/bench_protocols.py{' --prep-only' if args.prep_only else f' --n {args.n}'}`, "
        f"{datetime.date.today().isoformat()}, {cores} CPU cores, no GPU. Preprocessing: Go's preparation of one "
        "decoded image for a 299×299 network (`features.BenchmarkPrepProtocols`, one core, `-benchtime 2s`), "
        "all protocols in one run.",
        "",
        "| protocol | resize | " + " | ".join(f"{v} (ms/image)" for v in CASES.values()) + " |",
        "| --- | --- | " + " | ".join("---:" for _ in CASES) + " |",
    ]
    resize = {"zoo": "antialiased bilinear (float, 16 bits kept)", "clean-fid": "PIL bicubic per channel (float32)",
              "pytorch-fid": "bilinear, no antialiasing", "torch-fidelity": "TF1 bilinear, no antialiasing"}
    for p in PROTOCOLS:
        lines.append(f"| {p} | {resize[p]} | " + " | ".join(f"{times[(p, c)]:.2f}" for c in CASES) + " |")
    if not args.prep_only:
        zoo = os.path.abspath(args.zoo)
        rows = []
        with tempfile.TemporaryDirectory(prefix="zoo-bench-proto-") as tmp:
            subprocess.run([sys.executable, os.path.join(ROOT, "scripts", "export_extractors.py"), "--out", tmp,
                            "--which", "inception-v3-random"], check=True, capture_output=True)
            pt = os.path.join(tmp, "inception-v3-random.pt")
            a, b = os.path.join(tmp, "a"), os.path.join(tmp, "b")
            make_images(a, args.n, 1)
            make_images(b, args.n, 2)
            env = dict(os.environ, ZOO_CACHE=os.path.join(tmp, "cache"), ZOO_CONFIG_DIR=os.path.join(tmp, "config"))
            for p in PROTOCOLS:
                t, out, rss = timed([zoo, "evaluate", a, b, "--features", pt, "--metrics", "fid", "--no-cache",
                                     "--json", "-q", "--protocol", p], env)
                fid = json.loads(out)["results"][0]["value"]
                rows.append((p, t, fid, rss))
                print(f"{p}: {t:.1f}s FID {fid:.6g}", file=sys.stderr)
        t0 = rows[0][1]
        lines += [
            "",
            f"FID of {args.n} vs {args.n} 128×128 8-bit gray PNGs, whole process, `--no-cache`, the random-weight "
            "Inception-v3 stand-in (same cost per image as the FID Inception), one run per protocol, side by side:",
            "",
            "| protocol | wall (s) | images/s | FID | peak RSS (MiB) | vs zoo |",
            "| --- | ---: | ---: | ---: | ---: | ---: |",
        ]
        for p, t, fid, rss in rows:
            lines.append(f"| {p} | {t:.1f} | {2 * args.n / t:.1f} | {fid:.6g} | {rss:.0f} | {t / t0:.2f}× |")
        lines += [
            "",
            "pytorch-fid's FID equals zoo's on these images: they are 8-bit (nothing lost to quantization) and "
            "enlarged (128 → 299), where bilinear with and without antialiasing agree up to float rounding (5e-6 on 0..1 values); the two "
            "differ when an image is shrunk or has 16 bits. clean-fid's bicubic and torch-fidelity's half-pixel "
            "shift move the FID even here.",
        ]
    if args.prep_only:
        rate = "22.8 images/s on 2 cores in the `evaluate` section"
    else:
        zoo_rate = 2 * args.n / rows[0][1]
        rate = f"{zoo_rate:.1f} images/s in zoo's mode above, about {1000 * cores / zoo_rate:.0f} ms of core time per image"
    lines += [
        "",
        f"On CPU the network's forward pass is nearly all of an evaluation's time (Inception-v3: {rate}), so a "
        "protocol's preprocessing, a few milliseconds of one core per image on goroutines overlapped with the "
        "network, moves the wall time by a few percent at most; what it moves is the FID (docs/evaluation.md). "
        "Compare times within one section: sections are measured on different days, and this shared machine's "
        "speed varies between them.",
    ]
    write_section(args.out, "protocols", "\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
