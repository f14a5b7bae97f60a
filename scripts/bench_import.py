#!/usr/bin/python3
"""Benchmarks zoo import and imported models (the "import" section of docs/benchmarks.md).

For every reference package in shared/data/medigan_packages, side by side in one run:
  * import time: `zoo import --package ...` (sandboxed package run, export, pixel check), whole process;
  * generation: `zoo generate ID -n N -o DIR` against the package's own
    generate(num_samples=N, save_images=True) in a fresh /usr/bin/python3, both whole processes,
    same threads (torch.set_num_threads / --threads), each the median of --repeat runs;
    the ratio is package wall time / zoo wall time.

    /usr/bin/python3 scripts/bench_import.py --zoo bin/zoo [--threads 2] [--repeat 3] [--only 00005]
        [--out docs/benchmarks.md]

Checkpoints (seeded stand-in weights, make_checkpoint.py --seed 0) and all outputs go to a temp
dir. Image-to-image packages and zoo get the same input images, at the model's size.
"""

import argparse
import json
import os
import shutil
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from scriptlib import ROOT, cpu_name, median, must, run, write_section  # noqa: E402

PACKAGES = os.path.join(os.path.dirname(ROOT), "shared", "data", "medigan_packages")
PY = "/usr/bin/python3"

# package folder, checkpoint name, kind, samples for the benchmark, import arguments
CASES = [
    ("00005_DCGAN_MMG_MASS_ROI", "500.pt", "noise-to-image", 512, []),
    ("00008_C-DCGAN_MMG_MASSES-like", "1400_ckpt_train_cbis_ddsm.pt", "conditional noise-to-image", 512, []),
    ("00009_PGGAN_POLYP_PATCHES_W_MASKS-like", "ProGAN_300000_g.model", "noise-to-image + mask", 64, []),
    ("00003_CYCLEGAN_MMG_DENSITY_FULL-like", "CycleGAN_high_density.pth", "image-to-image", 8,
     ["--arg", "image_size=[256,256]", "--samples", "4"]),
    ("00004_PIX2PIX_MMG_MASSES_W_MASKS-like", "pix2pix_mask_to_mass_model.pth", "image-to-image (mask)", 32,
     ["--samples", "8"]),
]

# Runs a package's generate() as medigan does, timed inside the process too.
PACKAGE_RUN = r"""
import importlib.util, json, os, sys, time
t0 = time.perf_counter()
import torch
pkg, ckpt, n, out, threads, custom = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4], int(sys.argv[5]), json.loads(sys.argv[6])
torch.set_num_threads(threads)
(model_id, meta), = json.load(open(os.path.join(pkg, "metadata.json"))).items()
ex = meta["execution"]
spec = importlib.util.spec_from_file_location("benchpkg", os.path.join(pkg, "__init__.py"), submodule_search_locations=[pkg])
m = importlib.util.module_from_spec(spec); sys.modules["benchpkg"] = m; spec.loader.exec_module(m)
args = dict(ex["generate_method"]["args"]["custom"]); args.update(custom)
torch.manual_seed(0)
t1 = time.perf_counter()
getattr(m, ex["generate_method"]["name"])(model_file=ckpt, num_samples=n, output_path=out, save_images=True, **args)
print(json.dumps({"generate_s": time.perf_counter() - t1, "startup_s": t1 - t0}))
"""


def sh(cmd, env=None):
    """scriptlib.run's stdout (it exits with the command's errors)."""
    return run(cmd, env)[1]


def write_inputs(kind, folder, n, size, tmp):
    """The same n input PNGs for the package and zoo: the package's own phantoms or random masks,
    at the model's size."""
    from PIL import Image
    import numpy as np

    os.makedirs(folder, exist_ok=True)
    if kind == "00003":
        raw = os.path.join(tmp, "phantoms")
        sh([PY, "-B", os.path.join(PACKAGES, "00003_CYCLEGAN_MMG_DENSITY_FULL-like", "make_checkpoint.py"),
            "--out", os.path.join(tmp, "unused.pth"), "--inputs", raw, "--n", str(n)])
        for i, f in enumerate(sorted(os.listdir(raw))):
            Image.open(os.path.join(raw, f)).convert("L").resize((size, size), Image.BICUBIC).save(
                os.path.join(folder, "%03d.png" % i))
    else:
        rs = np.random.RandomState(0)
        yy, xx = np.mgrid[0:size, 0:size]
        for i in range(n):
            cy, cx, r = rs.uniform(0.35, 0.65) * size, rs.uniform(0.35, 0.65) * size, rs.uniform(0.1, 0.25) * size
            mask = (((yy - cy) ** 2 + (xx - cx) ** 2) < r * r).astype(np.uint8) * 255
            Image.fromarray(mask).save(os.path.join(folder, "%03d.png" % i))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--zoo", default=os.path.join(ROOT, "bin", "zoo"))
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--only", default="", help="run only packages whose folder starts with this")
    ap.add_argument("--out", default="")
    a = ap.parse_args()
    zoo = os.path.abspath(a.zoo)
    tmp = tempfile.mkdtemp(prefix="bench-import-")
    env = dict(os.environ, ZOO_CONFIG_DIR=os.path.join(tmp, "config"), ZOO_CACHE=os.path.join(tmp, "cache"),
               PYTHONDONTWRITEBYTECODE="1", OMP_NUM_THREADS=str(a.threads))
    rows = []
    try:
        for folder, ckname, kind, n, import_args in CASES:
            if a.only and not folder.startswith(a.only):
                continue
            pkg = os.path.join(PACKAGES, folder)
            ck = os.path.join(tmp, ckname)
            sh([PY, "-B", os.path.join(pkg, "make_checkpoint.py"), "--out", ck, "--seed", "0"], env)
            extra = list(import_args)
            image_to_image = kind.startswith("image-to-image")
            inputs = ""
            if image_to_image:
                inputs = os.path.join(tmp, folder + "-inputs")
                write_inputs(folder[:5], inputs, n, 256, tmp)
                extra += ["--arg", "input_path=" + json.dumps(inputs)]
            imp_wall, out = run([zoo, "import", "--json", "--package", pkg, "--checkpoint", ck,
                                 "--threads", str(a.threads)] + extra, env)
            report = json.loads(out)
            model = report["model"]
            zoo_runs, pkg_runs, inside = [], [], []
            custom = {}
            for i in range(0, len(extra), 2):
                if extra[i] == "--arg":
                    k, v = extra[i + 1].split("=", 1)
                    custom[k] = json.loads(v)
            for r in range(a.repeat):
                out = os.path.join(tmp, "zoo-out-%d" % r)
                cmd = [zoo, "generate", model, "-n", str(n), "-o", out, "--threads", str(a.threads), "--quiet"]
                if image_to_image:
                    cmd += ["--input", inputs]
                zoo_runs.append(must(cmd, env)[0])
                shutil.rmtree(out)
                pout = os.path.join(tmp, "pkg-out-%d" % r)
                wall, out = run([PY, "-B", "-c", PACKAGE_RUN, pkg, ck, str(n), pout, str(a.threads), json.dumps(custom)], env)
                res = json.loads(out)
                pkg_runs.append(wall)
                inside.append(res["generate_s"])
                shutil.rmtree(pout)
            z, p = median(zoo_runs), median(pkg_runs)
            ceiling = None
            if not image_to_image:
                # zoo's forward-only rate: what generation can reach at best
                b = json.loads(sh([zoo, "bench", model, "-n", str(n), "--threads", str(a.threads), "--json"], env))
                ceiling = b.get("images_per_second")
            rows.append({"package": folder, "kind": kind, "block": report["report"]["Block"].split(":")[0],
                         "import_s": imp_wall, "n": n, "zoo_s": z, "pkg_s": p,
                         "pkg_generate_s": median(inside), "ratio": p / z, "zoo_ips": n / z, "pkg_ips": n / p,
                         "ceiling": ceiling,
                         "pixels": report["report"]["Pixels"], "identical": report["report"]["PixelIdentical"]})
            print("%-40s import %5.1fs  zoo %6.2fs  package %6.2fs  ratio %.2f" % (folder, imp_wall, z, p, p / z), flush=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    lines = ["## zoo import and imported models (issue 9)", "",
             "`scripts/bench_import.py --threads %d --repeat %d` on %s (%d cores), one run, side by side." % (
                 a.threads, a.repeat, cpu_name(), os.cpu_count()),
             "Import: `zoo import --package` whole process (sandboxed package run twice, export, block and",
             "post-processing search, zoo's pixel check). Generation: `zoo generate ID -n N` against the package's own",
             "`generate(num_samples=N, save_images=True)` in a fresh `/usr/bin/python3`, both whole processes",
             "(interpreter, imports and checkpoint loading included), %d threads each, median of %d; the package's" % (a.threads, a.repeat),
             "time inside generate() alone is shown too. Stand-in weights (make_checkpoint.py --seed 0).", "",
             "| package | kind | block | import | pixel check | N | zoo generate | package generate() (inside) | zoo images/s | zoo forward only | package images/s | ratio |",
             "|---|---|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        lines.append("| %s | %s | %s | %.1f s | %s (%d values) | %d | %.2f s | %.2f s (%.2f s) | %.1f | %s | %.1f | **%.2f×** |" % (
            r["package"], r["kind"], r["block"], r["import_s"], "identical" if r["identical"] else "differs",
            r["pixels"], r["n"], r["zoo_s"], r["pkg_s"], r["pkg_generate_s"], r["zoo_ips"],
            "%.1f" % r["ceiling"] if r["ceiling"] else "–", r["pkg_ips"], r["ratio"]))
    lines += ["",
              "Why the ratios are near 1 (the aim was 2× on noise-to-image models): the imported module runs the",
              "same LibTorch convolution kernels on the same data as the package, whose generate() batches all N",
              "samples into one forward call (00005, 00008) or runs one sample at a time (00009, whose larger blocks",
              "are not bit-identical to the package). On 2 CPU cores the convolutions are nearly all of both runs:",
              "the package spends all but its ~1.5 s start-up inside generate(), and zoo generate runs 00005/00008",
              "at about its forward-only rate (`zoo bench`, same threads; this shared VM varies ±20% between runs,",
              "so the two columns cross). For 00009 (256×256 RGB image + mask per one-sample forward) zoo's PNG",
              "encoding competes with the forward pass for the same 2 cores. What zoo saves is Python's start-up,",
              "checkpoint unpickling and serial image saving. Faster arithmetic (frozen graphs with BatchNorm",
              "folded, oneDNN layouts) changes the last bits, so zoo's images would no longer be the package's",
              "pixel for pixel; zoo import does not trade that away."]
    text = "\n".join(lines) + "\n"
    print(text)
    if a.out:
        write_section(a.out, "import", text)


if __name__ == "__main__":
    main()
