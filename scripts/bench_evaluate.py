#!/usr/bin/python3
"""End-to-end FID benchmark: writes the `evaluate` section of
docs/benchmarks.md.

Makes two folders of N 128x128 8-bit grayscale PNGs (smooth seeded random
images), exports the random-weight Inception-v3 stand-in
(scripts/export_extractors.py; same architecture and interface as the FID
Inception, so the same work per image), and times, whole process, one after
the other on this machine:

  zoo          `zoo evaluate A B --features inception-v3-random.pt
               --metrics fid --no-cache`: decode + resize on goroutines
               overlapped with the forward pass, module frozen and optimized
               for inference, statistics and Fréchet step in LibTorch.
  python       the same TorchScript file run the way a script with
               torch/PIL/numpy/scipy does it (clean-fid style): PIL decode,
               torch.nn.functional.interpolate(antialias=True) to 299,
               module(x, True) in inference mode, np.cov and
               scipy.linalg.sqrtm; decoding in the main process or with a
               torch DataLoader and 2 worker processes (decode overlapped,
               as pytorch-fid does), batch 32 (clean-fid's default) and 16
               (zoo's default: Inception-v3 runs ~15% faster per image at
               batch 8-16 than at 32 on this CPU).

Both compute the same preprocessing (checked: the FIDs agree), on the same
threads (torch.set_num_threads(cores)). Peak RSS of zoo is measured at N/4
and N to show it does not grow with the number of images (beyond 8 KiB of
features per image).

Usage: /usr/bin/python3 scripts/bench_evaluate.py [--n 2000] [--zoo bin/zoo]
"""
import argparse
import datetime
import json
import os
import subprocess
import sys
import tempfile
import time

import numpy as np
from PIL import Image

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from scriptlib import ROOT, run_rss, write_section  # noqa: E402

PIPELINE = r'''
import sys, os, time, numpy as np, scipy.linalg, torch, torch.nn.functional as F
from PIL import Image
a, b, pt, workers, batch = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5])
torch.set_num_threads(os.cpu_count())

class Folder(torch.utils.data.Dataset):
    def __init__(self, d):
        self.files = sorted(os.path.join(d, f) for f in os.listdir(d) if f.endswith(".png"))
    def __len__(self):
        return len(self.files)
    def __getitem__(self, i):
        img = np.asarray(Image.open(self.files[i]), dtype=np.float32) / 255.0
        x = torch.from_numpy(img)[None, None]
        x = F.interpolate(x, size=(299, 299), mode="bilinear", align_corners=False, antialias=True)[0]
        return x.expand(3, -1, -1) * 255.0

model = torch.jit.load(pt).eval()
def features(d):
    loader = torch.utils.data.DataLoader(Folder(d), batch_size=batch, num_workers=workers)
    out = []
    with torch.inference_mode():
        for x in loader:
            out.append(model(x, True).numpy().astype(np.float64))
    return np.concatenate(out)
fa, fb = features(a), features(b)
m1, s1, m2, s2 = fa.mean(0), np.cov(fa, rowvar=False), fb.mean(0), np.cov(fb, rowvar=False)
diff = m1 - m2
fid = diff.dot(diff) + np.trace(s1) + np.trace(s2) - 2 * np.trace(scipy.linalg.sqrtm(s1.dot(s2)).real)
print(fid)
'''


def make_images(d, n, seed):
    os.makedirs(d, exist_ok=True)
    rng = np.random.default_rng(seed)
    for i in range(n):
        coarse = rng.random((8, 8))
        img = Image.fromarray((coarse * 255).astype(np.uint8), mode="L").resize((128, 128), Image.BICUBIC)
        noisy = np.clip(np.asarray(img, dtype=np.float32) + rng.normal(0, 8, (128, 128)), 0, 255)
        Image.fromarray(noisy.astype(np.uint8), mode="L").save(os.path.join(d, f"{i:05d}.png"))


def timed(cmd, env=None):
    """Runs cmd; returns (wall seconds, stdout, peak RSS MiB)."""
    t0 = time.perf_counter()
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        p = subprocess.Popen(cmd, stdout=out, stderr=err, env=env)
        _, status, usage = os.wait4(p.pid, 0)
        wall = time.perf_counter() - t0
        out.seek(0)
        err.seek(0)
        text = out.read().decode()
        if status != 0:
            sys.exit(f"failed: {' '.join(cmd)}\n{text}\n{err.read().decode()}")
    return wall, text, usage.ru_maxrss / 1024.0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=2000, help="images per side")
    ap.add_argument("--zoo", default=os.path.join(ROOT, "bin", "zoo"))
    ap.add_argument("--out", default=os.path.join(ROOT, "docs", "benchmarks.md"))
    args = ap.parse_args()
    zoo = os.path.abspath(args.zoo)
    with tempfile.TemporaryDirectory(prefix="zoo-bench-eval-") as tmp:
        subprocess.run([sys.executable, os.path.join(ROOT, "scripts", "export_extractors.py"), "--out", tmp,
                        "--which", "inception-v3-random"], check=True, capture_output=True)
        pt = os.path.join(tmp, "inception-v3-random.pt")
        a, b = os.path.join(tmp, "a"), os.path.join(tmp, "b")
        make_images(a, args.n, 1)
        make_images(b, args.n, 2)
        env = dict(os.environ, ZOO_CACHE=os.path.join(tmp, "cache"), ZOO_CONFIG_DIR=os.path.join(tmp, "config"))
        zoo_cmd = [zoo, "evaluate", a, b, "--features", pt, "--metrics", "fid", "--no-cache", "--json", "-q"]
        t_zoo, out, rss_n = timed(zoo_cmd, env)
        fid_zoo = json.loads(out)["results"][0]["value"]
        print(f"zoo: {t_zoo:.1f}s FID {fid_zoo:.6g}", file=sys.stderr)
        rows = []
        for workers, batch in ((0, 32), (2, 32), (0, 16)):
            t, out, rss = timed([sys.executable, "-c", PIPELINE, a, b, pt, str(workers), str(batch)])
            rows.append((workers, batch, t, float(out.strip()), rss))
            print(f"python workers={workers} batch={batch}: {t:.1f}s FID {float(out):.6g}", file=sys.stderr)
        # Peak RSS at N/4 and N images per side.
        quarter = [os.path.join(tmp, "qa"), os.path.join(tmp, "qb")]
        for src, dst in zip((a, b), quarter):
            os.makedirs(dst)
            for f in sorted(os.listdir(src))[: args.n // 4]:
                os.link(os.path.join(src, f), os.path.join(dst, f))
        _, rss_q, _ = run_rss([zoo, "evaluate", quarter[0], quarter[1], "--features", pt, "--metrics", "fid", "--no-cache", "-q"], env)
    cores = os.cpu_count()
    lines = [
        "## zoo evaluate: end-to-end FID",
        "",
        f"`scripts/bench_evaluate.py --n {args.n}`, {datetime.date.today().isoformat()}, {cores} CPU cores, no GPU. "
        f"FID of {args.n} vs {args.n} 128×128 8-bit grayscale PNGs, whole process (start-up, decode, resize to 299, "
        "Inception-v3 forward, statistics, Fréchet step), one run each, side by side. The extractor is the "
        "random-weight Inception-v3 stand-in of `scripts/export_extractors.py` (the real FID Inception cannot be "
        "downloaded here; same architecture, interface and cost per image). Python runs the same TorchScript file "
        "the way a torch/PIL/scipy script does it (see the script).",
        "",
        "| pipeline | wall (s) | images/s | FID | peak RSS (MiB) | zoo speed-up |",
        "| --- | ---: | ---: | ---: | ---: | ---: |",
        f"| `zoo evaluate` (batch 16, its default) | {t_zoo:.1f} | {2 * args.n / t_zoo:.1f} | {fid_zoo:.6g} | {rss_n:.0f} | 1.00× |",
    ]
    for workers, batch, t, fid, rss in rows:
        how = "decode in the main process" if workers == 0 else f"DataLoader, {workers} worker processes"
        how += f", batch {batch}"
        lines.append(f"| Python, same TorchScript, {how} | {t:.1f} | {2 * args.n / t:.1f} | {fid:.6g} | {rss:.0f} | {t / t_zoo:.2f}× |")
    lines += [
        "",
        f"Peak RSS of `zoo evaluate`: {rss_q:.0f} MiB at {args.n // 4} + {args.n // 4} images, "
        f"{rss_n:.0f} MiB at {args.n} + {args.n} (features are 8 KiB per image; images are never all in memory).",
        "",
        "Where the time goes: on CPU the Inception forward pass is nearly all of it, and it is the same "
        "LibTorch in both pipelines. zoo runs the module frozen and optimized for inference (BatchNorm folded "
        "into convolutions, oneDNN layouts; the same function, features equal to Python's within 1e-4 in "
        "`make test`), about 1.45× faster per image than the module as loaded, at batch 16 (on this CPU "
        "Inception-v3 is ~15% faster per image at batch 8-16 than at 32), and decodes and resizes on "
        "goroutines while the network runs, so it runs at the optimized forward-only rate; the Python script "
        "runs the module as loaded (with `torch.jit.optimize_for_inference` it would gain the same factor). "
        "Decode overlap buys little here because decoding a 128×128 PNG is ~1% of an Inception forward on "
        "this CPU; it matters on a GPU, where the forward pass is fast and a serial decoder starves it.",
    ]
    write_section(args.out, "evaluate", "\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
