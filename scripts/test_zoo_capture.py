#!/usr/bin/python3
"""Self-check for scripts/zoo_capture.py and scripts/export_generator.py.

    /usr/bin/python3 -B scripts/test_zoo_capture.py [--only 00005] [--keep]

For every package in shared/data/medigan_packages: make a seeded checkpoint
(make_checkpoint.py --seed 0) in a temp dir, run zoo_capture.py on it as Go
does (a subprocess, cwd = a scratch folder), then independently reload
OUTDIR/generator.pt, feed it inputs/*.npy in blocks of "block", apply the
reported post-processing with the straightforward numpy code below (not
zoo_capture's) and check that every package PNG listed in package_files is
reproduced exactly. Then export_generator.py on 00005's Generator class, and
error.json for packages that import a missing module, that raise, and that
run no torch module. Exits non-zero on any failure.
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import tomllib

sys.dont_write_bytecode = True

import numpy as np  # noqa: E402
import torch  # noqa: E402
from PIL import Image  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
PACKAGES = os.environ.get("ZOO_MEDIGAN_PACKAGES",
                          os.path.join(os.path.dirname(REPO), "shared", "data", "medigan_packages"))
PY = [sys.executable, "-B"]
CAPTURE = os.path.join(HERE, "zoo_capture.py")
EXPORT = os.path.join(HERE, "export_generator.py")

# per-package settings: 00003 runs at 1332x800 by default (~30 s per image here)
SETTINGS = {"00003": {"samples": 4, "args": ["image_size=[256,256]"]}}
DEFAULT_SAMPLES = 16

ENV = dict(os.environ, PYTHONDONTWRITEBYTECODE="1")


class Failure(Exception):
    pass


def check(cond, msg):
    if not cond:
        raise Failure(msg)


# ------------------------------------------------- independent reference

def reference_post(x, p):
    """The post-processing formula, written out plainly (not zoo_capture's code)."""
    x = np.asarray(x, dtype=np.float32)
    a, b, c, d = p["map"]
    if p.get("threshold") is not None:
        return np.where(x > np.float32(p["threshold"]), np.uint8(d), np.uint8(c)).astype(np.uint8)
    if p["arithmetic"] == "float64":
        t = (x.astype(np.float64) - a) / (b - a)
        if p["clamp"]:
            t = np.minimum(np.maximum(t, 0.0), 1.0)
        y = t * (d - c) + c
    else:
        t = np.subtract(x, np.float32(a), dtype=np.float32)
        t = np.divide(t, np.float32(b - a), dtype=np.float32)
        if p["clamp"]:
            t = np.minimum(np.maximum(t, np.float32(0.0)), np.float32(1.0))
        if p["arithmetic"] == "float32":
            y = np.multiply(t, np.float32(d - c), dtype=np.float32)
            y = np.add(y, np.float32(c), dtype=np.float32).astype(np.float64)
        elif p["arithmetic"] == "float32,float64":
            y = t.astype(np.float64) * (d - c) + c
        else:
            raise Failure(f"unknown arithmetic {p['arithmetic']!r}")
    y = {"truncate": np.trunc, "round": np.rint, "floor": np.floor}[p["cast"]](y)
    if p["overflow"] == "clip":
        v = np.clip(y, 0, 255).astype(np.uint8)
    elif p["overflow"] == "wrap":
        v = (y.astype(np.int64) & 0xFF).astype(np.uint8)  # (uint8)(int32)y
    else:
        raise Failure(f"unknown overflow {p['overflow']!r}")
    if p.get("lut") is not None:
        check(len(p["lut"]) == 256, "lut must have 256 entries")
        v = np.array(p["lut"], dtype=np.uint8)[v]
    return v


def layout(raw, offset, channels, post):
    """(N, C, H, W) -> the package's (N, H, W, channels) layout."""
    w = raw[:, offset:offset + channels].transpose(0, 2, 3, 1)
    if post.get("bgr"):
        w = w[..., ::-1]
    if post.get("transpose"):
        w = w.transpose(0, 2, 1, 3)
    return w


def module_outputs(out):
    if isinstance(out, torch.Tensor):
        return {0: out}
    if isinstance(out, (tuple, list)):
        return dict(enumerate(out))
    if isinstance(out, dict):
        return dict(out)
    raise Failure(f"generator.pt returned a {type(out).__name__}")


def run_generator(path, inputs, block):
    m = torch.jit.load(path, map_location="cpu")
    n = inputs[0].shape[0]
    check(n % block == 0, f"{n} samples are not a multiple of block {block}")
    parts = []
    with torch.inference_mode():
        for s in range(0, n, block):
            parts.append(module_outputs(m(*[torch.from_numpy(x[s:s + block]) for x in inputs])))
    return {k: torch.cat([p[k] for p in parts]).numpy() for k in parts[0]}


def load_png(path):
    with Image.open(path) as im:
        a = np.asarray(im.convert("RGB") if im.mode in ("RGBA", "P") else im)
    return a[:, :, None] if a.ndim == 2 else a


# --------------------------------------------------------------- packages

def metadata(pkg):
    with open(os.path.join(pkg, "metadata.json")) as f:
        (mid, meta), = json.load(f).items()
    return mid, meta["execution"]


def run(cmd, cwd, timeout=900):
    t = time.time()
    p = subprocess.run(cmd, cwd=cwd, env=ENV, capture_output=True, text=True, timeout=timeout)
    return p, time.time() - t


def check_package(pkg, tmp):
    name = os.path.basename(pkg)
    key = name[:5]
    cfg = SETTINGS.get(key, {})
    samples = cfg.get("samples", DEFAULT_SAMPLES)
    _, ex = metadata(pkg)
    ck = os.path.join(tmp, "ck", ex["model_name"] + ex["extension"])
    os.makedirs(os.path.dirname(ck), exist_ok=True)  # also creates tmp
    p, _ = run(PY + [os.path.join(pkg, "make_checkpoint.py"), "--out", ck, "--seed", "0"], tmp)
    check(p.returncode == 0, f"make_checkpoint failed: {p.stderr[-800:]}")

    scratch = os.path.join(tmp, "scratch")
    os.makedirs(scratch)
    out = os.path.join(scratch, "out")
    cmd = PY + [CAPTURE, "--package", pkg, "--out", out, "--checkpoint", ck, "--samples", str(samples),
                "--seed", "0"]
    for a in cfg.get("args", []):
        cmd += ["--arg", a]
    p, secs = run(cmd, scratch)
    if p.returncode != 0:
        err = os.path.join(out, "error.json")
        detail = open(err).read() if os.path.exists(err) else ""
        raise Failure(f"zoo_capture exited {p.returncode}: {p.stderr[-1500:]}\n{detail[:1500]}")
    with open(os.path.join(out, "report.json")) as f:
        rep = json.load(f)

    check(rep["export"]["bit_identical"], f"TorchScript differs from eager by {rep['export']['max_abs_diff']}")
    check(not rep["unmatched_files"], f"unmatched files: {rep['unmatched_files']}")
    inputs = [np.load(os.path.join(out, i["file"])) for i in rep["inputs"]]
    for i, x in zip(rep["inputs"], inputs):
        check(x.shape[0] == samples, f"input {i['name']} has {x.shape[0]} samples, want {samples}")
        check(x.dtype == (np.int64 if i["role"] == "condition" else np.float32), f"input {i['name']} dtype {x.dtype}")
    raw = run_generator(os.path.join(out, "generator.pt"), inputs, rep["block"])

    expected = {}
    for o in rep["outputs"]:
        src = raw[o["source"]] if o["source"] in raw else raw[str(o["source"])]
        expected[o["name"]] = reference_post(layout(src, o["channel_offset"], o["channels"], o["post"]), o["post"])
        check(o["equal_pixels"] == o["pixels"], f"output {o['name']}: only {o['equal_pixels']}/{o['pixels']} equal")
    for u in rep["unexpressed"]:
        check("from_input" in u, f"output {u['output']} not expressed: {u['why']}")
        x = np.load(os.path.join(out, u["input_file"]))
        expected[u["output"]] = reference_post(layout(x, u["channel_offset"], u["channels"], u["post"]), u["post"])

    on_disk = sorted(os.path.relpath(os.path.join(r, f), out)
                     for r, _, fs in os.walk(os.path.join(out, "package_out")) for f in fs)
    listed = sorted(f["file"] for f in rep["package_files"])
    check(on_disk and listed == on_disk, f"package_files {len(listed)} != files on disk {len(on_disk)}")
    equal = total = 0
    for f in rep["package_files"]:
        png = load_png(os.path.join(out, f["file"]))
        want = expected[f["output"]][f["sample"]]
        if png.shape[2] == 3 and want.shape[2] == 1:
            check(np.array_equal(png[..., 0], png[..., 1]) and np.array_equal(png[..., 0], png[..., 2]),
                  f"{f['file']} is RGB but output {f['output']} is gray")
            png = png[..., :1]
        check(png.shape == want.shape, f"{f['file']}: shape {png.shape}, computed {want.shape}")
        eq = int(np.count_nonzero(png == want))
        equal, total = equal + eq, total + png.size
        check(eq == png.size, f"{f['file']}: {png.size - eq} of {png.size} values differ")
    outs = [o["name"] for o in rep["outputs"]] + [u["output"] + "*" for u in rep["unexpressed"]]
    return {"package": name, "method": rep["export"]["method"], "max_diff": rep["export"]["max_abs_diff"],
            "block": rep["block"], "outputs": ",".join(outs), "equal": f"{equal}/{total}",
            "files": len(rep["package_files"]), "seconds": secs}


# ------------------------------------------------------- export_generator

def check_export_generator(tmp):
    pkg = os.path.join(PACKAGES, "00005_DCGAN_MMG_MASS_ROI")
    ck = os.path.join(tmp, "500.pt")
    p, _ = run(PY + [os.path.join(pkg, "make_checkpoint.py"), "--out", ck, "--seed", "0"], tmp)
    check(p.returncode == 0, f"make_checkpoint failed: {p.stderr[-800:]}")
    out = os.path.join(tmp, "exported")
    kwargs = {"nz": 100, "ngf": 64, "nc": 1, "ngpu": 0, "image_size": 128, "leakiness": 0.1, "conditional": False}
    p, secs = run(PY + [EXPORT, "--module", os.path.join(pkg, "__init__.py"), "--class", "Generator",
                        "--kwargs", json.dumps(kwargs), "--checkpoint", ck, "--state-key", "generator",
                        "--latent", "100,1,1", "--out", out, "--id", "00900_TEST_DCGAN", "--samples", "16"], tmp)
    check(p.returncode == 0, f"export_generator exited {p.returncode}: {p.stderr[-1500:]}")
    with open(os.path.join(out, "report.json")) as f:
        rep = json.load(f)
    check(rep["export"]["bit_identical"], "export_generator: TorchScript differs from eager")
    with open(os.path.join(out, "entry.toml"), "rb") as f:
        entry = tomllib.load(f)
    (m,) = entry["model"]
    check(m["id"] == "00900_TEST_DCGAN" and m["artifact"]["format"] == "torchscript", f"entry: {m}")
    sig = m["signature"]
    check(sig["latent"] == [100, 1, 1] and sig["outputs"][0]["channels"] == 1 and
          sig["outputs"][0]["height"] == 128, f"entry signature: {sig}")
    # independent eager check: the package's own Generator on the saved latents
    sys.path.insert(0, pkg)
    try:
        import importlib.util
        spec = importlib.util.spec_from_file_location("test_pkg_00005", os.path.join(pkg, "__init__.py"))
        mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)
    finally:
        sys.path.remove(pkg)
    net = mod.Generator(**kwargs)
    net.load_state_dict(torch.load(ck, map_location="cpu")["generator"])
    net.eval()
    z = np.load(os.path.join(out, "inputs", "z.npy"))
    block = sig["batch"]
    with torch.inference_mode():
        want = torch.cat([net(torch.from_numpy(z[s:s + block])) for s in range(0, len(z), block)]).numpy()
    got = run_generator(os.path.join(out, "generator.pt"), [z], block)[0]
    check(np.array_equal(got, want), f"generator.pt differs from the eager Generator by {np.abs(got - want).max()}")
    return {"package": "export_generator (00005 Generator)", "method": rep["export"]["method"],
            "max_diff": rep["export"]["max_abs_diff"], "block": block, "outputs": "image",
            "equal": f"{want.size}/{want.size} raw", "files": 0, "seconds": secs}


# ------------------------------------------- a differently shaped package

# Not medigan's shapes: a dict output, a tensor kwarg-free call with a fixed
# float kwarg, uniform latents in batches of 4, cv2.imwrite of an RGB array
# (the file holds the channels reversed), rounding instead of truncation and
# file names with a prefix.
SYNTHETIC_INIT = '''import os
import cv2
import numpy as np
import torch


class G(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.l = torch.nn.Linear(16, 3 * 32 * 32)
        self.m = torch.nn.Conv2d(3, 1, 3, padding=1)

    def forward(self, z, scale=1.0):
        x = torch.tanh(self.l(z).view(-1, 3, 32, 32)) * scale
        return {"rgb": x, "mask": (self.m(x) > 0).float()}


def generate(model_file, num_samples, output_path, save_images, scale=1.0):
    g = G()
    g.load_state_dict(torch.load(model_file))
    g.eval()
    res = []
    for s in range(0, num_samples, 4):
        with torch.no_grad():
            out = g(torch.rand(min(4, num_samples - s), 16), scale=scale)
        imgs = np.rint((out["rgb"].permute(0, 2, 3, 1).numpy() + 1) / 2 * 255).astype(np.uint8)
        masks = (out["mask"].permute(0, 2, 3, 1).numpy() * 255).astype(np.uint8)
        res += list(zip(imgs, masks))
    if not save_images:
        return res
    os.makedirs(output_path, exist_ok=True)
    for i, (im, mk) in enumerate(res):
        cv2.imwrite(f"{output_path}/sample_{i}.png", im)
        cv2.imwrite(f"{output_path}/sample_{i}_mask.png", mk)
'''

SYNTHETIC_MAKE = '''import argparse, os, sys
sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import torch
from __init__ import G
ap = argparse.ArgumentParser()
ap.add_argument("--out")
ap.add_argument("--seed", type=int, default=0)
a = ap.parse_args()
torch.manual_seed(a.seed)
torch.save(G().state_dict(), a.out)
'''


def check_synthetic(tmp):
    pkg = os.path.join(tmp, "pkg_synthetic")
    os.makedirs(pkg)
    for name, text in (("__init__.py", SYNTHETIC_INIT), ("make_checkpoint.py", SYNTHETIC_MAKE)):
        with open(os.path.join(pkg, name), "w") as f:
            f.write(text)
    meta = {"99998_SYNTHETIC": {"execution": {
        "package_name": "synthetic", "model_name": "w", "extension": ".pt", "dependencies": ["numpy"],
        "generate_method": {"name": "generate", "args": {
            "base": ["model_file", "num_samples", "output_path", "save_images"], "custom": {"scale": 1.0}}}}}}
    with open(os.path.join(pkg, "metadata.json"), "w") as f:
        json.dump(meta, f)
    row = check_package(pkg, os.path.join(tmp, "work"))
    return dict(row, package="synthetic (dict out, cv2 RGB, round)")


# ------------------------------------------------------------ error cases

ERROR_CASES = {
    "missing_dependency": ("import zoo_no_such_module_abc\n\n"
                           "def generate(model_file, num_samples, output_path, save_images):\n    pass\n"),
    "package_error": ("def generate(model_file, num_samples, output_path, save_images):\n"
                      "    raise ValueError('the checkpoint is broken')\n"),
    "no_generator": ("import numpy as np\n\n"
                     "def generate(model_file, num_samples, output_path, save_images):\n"
                     "    return [np.zeros((8, 8, 1), np.uint8) for _ in range(num_samples)]\n"),
}


def check_error_case(kind, tmp):
    pkg = os.path.join(tmp, f"pkg_{kind}")
    os.makedirs(pkg)
    with open(os.path.join(pkg, "__init__.py"), "w") as f:
        f.write(ERROR_CASES[kind])
    meta = {f"99999_{kind.upper()}": {"execution": {
        "package_name": kind, "model_name": "weights", "extension": ".pt",
        "dependencies": ["numpy", "zoo-no-such-module-abc"],
        "generate_method": {"name": "generate", "args": {
            "base": ["model_file", "num_samples", "output_path", "save_images"], "custom": {}}}}}}
    with open(os.path.join(pkg, "metadata.json"), "w") as f:
        json.dump(meta, f)
    open(os.path.join(pkg, "weights.pt"), "wb").close()
    scratch = os.path.join(tmp, f"scratch_{kind}")
    os.makedirs(scratch)
    out = os.path.join(scratch, "out")
    p, secs = run(PY + [CAPTURE, "--package", pkg, "--out", out, "--samples", "2"], scratch)
    check(p.returncode == 3, f"{kind}: exit {p.returncode}, want 3: {p.stderr[-800:]}")
    with open(os.path.join(out, "error.json")) as f:
        err = json.load(f)
    check(err["kind"] == kind, f"error kind {err['kind']!r}, want {kind!r}: {err['message']}")
    check(err["message"] and err["message"] in p.stderr, "the error message is not on stderr")
    if kind == "missing_dependency":
        check(err["module"] == "zoo_no_such_module_abc", f"module {err['module']!r}")
    if kind == "package_error":
        check("the checkpoint is broken" in err["message"], f"message {err['message']!r}")
    return {"package": f"error case {kind}", "method": "-", "max_diff": "-", "block": "-",
            "outputs": err["kind"], "equal": "-", "files": 0, "seconds": secs}


# ------------------------------------------------------------------ main

def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--only", help="run only packages whose folder name starts with this (e.g. 00005)")
    ap.add_argument("--keep", action="store_true", help="keep the temp dirs")
    opts = ap.parse_args()
    if not os.path.isdir(PACKAGES):
        print(f"test_zoo_capture: no packages at {PACKAGES}", file=sys.stderr)
        return 2
    pkgs = sorted(os.path.join(PACKAGES, d) for d in os.listdir(PACKAGES)
                  if os.path.isfile(os.path.join(PACKAGES, d, "metadata.json")))
    if opts.only:
        pkgs = [p for p in pkgs if os.path.basename(p).startswith(opts.only)]
    jobs = [(os.path.basename(p), lambda t, p=p: check_package(p, t)) for p in pkgs]
    if not opts.only:
        jobs.append(("synthetic package", check_synthetic))
        jobs.append(("export_generator", check_export_generator))
        jobs += [(f"error {k}", lambda t, k=k: check_error_case(k, t)) for k in ERROR_CASES]
    rows, failed = [], 0
    for label, job in jobs:
        tmp = tempfile.mkdtemp(prefix="zoo_capture_test_")
        print(f"--- {label}", flush=True)
        try:
            rows.append(dict(job(tmp), ok="ok"))
        except (Failure, subprocess.TimeoutExpired, OSError, KeyError, ValueError) as e:
            failed += 1
            print(f"FAIL {label}: {e}", flush=True)
            rows.append({"package": label, "method": "-", "max_diff": "-", "block": "-", "outputs": "-",
                         "equal": "-", "files": 0, "seconds": 0.0, "ok": "FAIL"})
        finally:
            if opts.keep:
                print(f"    kept {tmp}")
            else:
                shutil.rmtree(tmp, ignore_errors=True)
    cols = ["package", "method", "max_diff", "block", "outputs", "equal", "files", "seconds", "ok"]
    cells = [[f"{r[c]:.1f}" if c == "seconds" else f"{r[c]:g}" if isinstance(r[c], float) else str(r[c])
              for c in cols] for r in rows]
    widths = [max(len(c), *(len(x[i]) for x in cells)) for i, c in enumerate(cols)]
    print()
    print("  ".join(c.ljust(w) for c, w in zip(cols, widths)))
    for x in cells:
        print("  ".join(v.ljust(w) for v, w in zip(x, widths)))
    pyc = [r for r, d, _ in os.walk(PACKAGES) if "__pycache__" in d]
    if pyc:
        failed += 1
        print(f"FAIL: __pycache__ appeared under {pyc}")
    passed = sum(r["ok"] == "ok" for r in rows)
    print(f"\n{passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
