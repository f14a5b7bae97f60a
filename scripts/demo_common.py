"""Shared helpers for the zoo's demonstration-model training scripts
(scripts/train_*.py). Data: Debian's mricron-data Colin27 ("ch2") T1 volume and
its skull-stripped version ch2bet (same 181x217x181 1 mm grid), BSD-3-clause
per /usr/share/doc/mricron-data/copyright.

The generic GAN pieces (DiffAugment, EMA, BatchNorm re-estimation, the grid
writer, sha256) are imported from scripts/train_demo_dcgan.py, which trained
the first demo model 00101. The run plumbing every script shares (hash-seed
pinning, seeding, common options, shuffled batches, the --max-minutes stop,
TorchScript export and its checks, the closing report) is defined here.
"""

import copy
import os
import random
import sys
import time

import numpy as np
import nibabel as nib
import torch
import torch.nn as nn
import torch.nn.functional as F
from PIL import Image

from train_demo_dcgan import (  # noqa: F401  (re-exported)
    Generator, Discriminator, conv_transpose_as_conv, diff_augment, _translate, _cutout,
    weights_init, ema_update, sample_latents, recompute_bn_stats, to_uint8, save_grid, sha256_file, NZ, SIZE,
)

T1 = "/usr/share/mricron/templates/ch2.nii.gz"
BET = "/usr/share/mricron/templates/ch2bet.nii.gz"
VIEWS = ("axial", "coronal", "sagittal")
DEMO_00101 = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "bundled",
                          "00101_DCGAN_MRI_COLIN27_DEMO.pt")


# --------------------------------------------------------------------------
# Data
# --------------------------------------------------------------------------

def load_pairs(size=SIZE, min_fill=0.18, views=VIEWS, t1=T1, bet=BET):
    """Slices of Colin27 with their brain masks, preprocessed exactly like
    00101's training data (robust clip to the 0.5-99.5th percentiles of the
    head voxels, background -> -1, zero-pad to 217x217, antialiased resize).

    Returns (image [M,1,size,size] in [-1,1], mask [M,1,size,size] in {0,1},
    plane int64 [M] (0 axial, 1 coronal, 2 sagittal), flippable bool [M], info).
    The brain mask is ch2bet > 0 (the BET skull-stripped brain), resized with
    the same interpolation and thresholded at 0.5.
    """
    vol = np.asarray(nib.as_closest_canonical(nib.load(t1)).get_fdata(dtype=np.float32))
    brain = np.asarray(nib.as_closest_canonical(nib.load(bet)).get_fdata(dtype=np.float32)) > 0
    assert vol.shape == brain.shape
    head = vol > 0.05 * float(vol.max())
    lo, hi = np.percentile(vol[head], [0.5, 99.5])
    vol = np.clip((vol - lo) / (hi - lo), 0.0, 1.0)
    vol[~head] = 0.0
    side = max(vol.shape)

    def to_square(sl):
        sl = np.rot90(sl)
        h, w = sl.shape
        out = np.zeros((side, side), np.float32)
        y0, x0 = (side - h) // 2, (side - w) // 2
        out[y0:y0 + h, x0:x0 + w] = sl
        return out

    imgs, masks, planes, flippable, counts = [], [], [], [], {}
    for pi, view in enumerate(views):
        axis = {"sagittal": 0, "coronal": 1, "axial": 2}[view]
        kept = 0
        for i in range(vol.shape[axis]):
            sq = to_square(np.take(vol, i, axis=axis))
            if (sq > 0.1).mean() < min_fill:
                continue
            imgs.append(sq)
            masks.append(to_square(np.take(brain, i, axis=axis).astype(np.float32)))
            planes.append(pi)
            flippable.append(view != "sagittal")
            kept += 1
        counts[view] = kept

    def resize(a):
        x = torch.from_numpy(np.stack(a))[:, None]
        return F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False, antialias=True)

    x = resize(imgs).clamp(0, 1) * 2 - 1
    m = (resize(masks) > 0.5).float()
    info = {"shape": tuple(vol.shape), "clip": (float(lo), float(hi)), "counts": counts, "side": side}
    return x.contiguous(), m.contiguous(), torch.tensor(planes), torch.tensor(flippable), info


def augment_pair(x, flippable, gen, max_shift=3):
    """Random left-right flips (axial/coronal only) and shifts up to max_shift
    px, applied identically to all channels of x [N,C,H,W] (image and mask
    stacked, both with background -1)."""
    n, c, h, w = x.shape
    flip = (torch.rand(n, generator=gen) < 0.5) & flippable
    x = torch.where(flip[:, None, None, None], x.flip(-1), x)
    p = max_shift
    xp = F.pad(x, (p, p, p, p), value=-1.0)
    dx = torch.randint(0, 2 * p + 1, (n,), generator=gen)
    dy = torch.randint(0, 2 * p + 1, (n,), generator=gen)
    out = torch.empty_like(x)
    for i in range(n):
        out[i] = xp[i, :, dy[i]:dy[i] + h, dx[i]:dx[i] + w]
    return out


def save_panels(rows, path, pad=2, gap=6):
    """rows: list of lists of [H,W] float tensors in [-1,1]; panels of a row
    are separated by 2 px, rows by 2 px. A `None` entry leaves a `gap`-wide
    black column (used to separate image and mask halves)."""
    h = w = None
    for r in rows:
        for t in r:
            if t is not None:
                h, w = t.shape
                break
        if h:
            break
    widths = [sum((w + pad) if t is not None else gap for t in r) + pad for r in rows]
    canvas = np.zeros((pad + len(rows) * (h + pad), max(widths)), np.uint8)
    for ri, r in enumerate(rows):
        x0 = pad
        y0 = pad + ri * (h + pad)
        for t in r:
            if t is None:
                x0 += gap
                continue
            canvas[y0:y0 + h, x0:x0 + w] = to_uint8(t[None, None])[0, 0].numpy()
            x0 += w + pad
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    Image.fromarray(canvas, mode="L").save(path, optimize=True)


# --------------------------------------------------------------------------
# Models
# --------------------------------------------------------------------------

def down_block(cin, cout, groups, norm=True):
    """U-Net encoder step: 4x4 stride-2 conv (halves H and W), GroupNorm
    (per-sample statistics, so that no output depends on the rest of the
    batch; left out where norm=False), LeakyReLU 0.2."""
    layers = [nn.Conv2d(cin, cout, 4, 2, 1)]
    if norm:
        layers.append(nn.GroupNorm(groups, cout))
    layers.append(nn.LeakyReLU(0.2))
    return nn.Sequential(*layers)


def up_block(cin, cout, groups):
    """U-Net decoder step: nearest 2x upsampling then a 3x3 conv (no
    transposed-conv checkerboard), GroupNorm, ReLU."""
    return nn.Sequential(nn.Upsample(scale_factor=2.0, mode="nearest"), nn.Conv2d(cin, cout, 3, 1, 1),
                         nn.GroupNorm(groups, cout), nn.ReLU())


# --------------------------------------------------------------------------
# Run setup
# --------------------------------------------------------------------------

def pin_hash_seed():
    """Re-run this process with PYTHONHASHSEED=0 unless it already has it.

    torch.jit.save writes each module's constants in Python set order, which
    depends on string hashing: pinning the hash seed makes the .pt file
    byte-for-byte reproducible (the weights are reproducible either way).
    Call it first thing in main(), before anything is trained or saved."""
    if os.environ.get("PYTHONHASHSEED") != "0":
        os.environ["PYTHONHASHSEED"] = "0"
        os.execv(sys.executable, [sys.executable] + sys.argv)


def add_run_args(ap, model_id, work, threads=2, max_minutes=None, grids=None):
    """Add the options every demo training script shares: --seed, --threads,
    --max-minutes (only where the script has that safety stop), --out, --grid
    and --work. --out and --grid default to the shipped paths under bundled/
    and docs/models/; a list `grids` makes --grid take several paths."""
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--threads", type=int, default=threads)
    if max_minutes is not None:
        ap.add_argument("--max-minutes", type=float, default=max_minutes,
                        help="stop training early after this long (recorded)")
    ap.add_argument("--out", default=os.path.join("bundled", model_id + ".pt"), help="TorchScript output path")
    if grids is None:
        ap.add_argument("--grid", default=os.path.join("docs", "models", model_id + ".png"),
                        help="sample-grid PNG path")
    else:
        ap.add_argument("--grid", nargs="*", default=grids, help="sample-grid PNG paths")
    ap.add_argument("--work", default=work, help="directory for progress grids and checkpoints")


def start_run(args):
    """Apply --threads, seed every RNG the scripts touch with --seed (Python,
    NumPy, torch's global one), create --work, and return the seeded
    torch.Generator that the training loop draws all its randomness from."""
    torch.set_num_threads(args.threads)
    random.seed(args.seed)
    np.random.seed(args.seed)
    torch.manual_seed(args.seed)
    gen = torch.Generator().manual_seed(args.seed)
    os.makedirs(args.work, exist_ok=True)
    return gen


def count_parameters(model):
    return sum(p.numel() for p in model.parameters())


# --------------------------------------------------------------------------
# Training loop pieces
# --------------------------------------------------------------------------

def shuffled_batches(m, batch, gen):
    """Endless index batches over range(m), in shuffled epochs: walk one
    torch.randperm(m, generator=gen) and draw a fresh one when the next batch
    would run past its end, so the last partial batch of each shuffle is
    dropped. The first permutation is drawn by the first next(), before
    anything else the loop draws from gen, as the scripts always did."""
    order = torch.randperm(m, generator=gen)
    pos = 0
    while True:
        if pos + batch > m:
            order = torch.randperm(m, generator=gen)
            pos = 0
        yield order[pos:pos + batch]
        pos += batch


def ema_preview_copy(g_ema, it, sample_inputs=sample_latents):
    """A copy of the EMA generator fit to draw a preview at iteration `it`.
    ema_update averages parameters, not buffers, so the EMA model's own
    BatchNorm statistics are stale: re-estimate them on the copy from 10 quick
    batches seeded by `it`, leaving the training state untouched."""
    tmp = copy.deepcopy(g_ema)
    recompute_bn_stats(tmp, torch.Generator().manual_seed(it), batches=10, sample_inputs=sample_inputs)
    return tmp


def print_progress(it, total, t0, losses):
    """One training log line: iteration, the running-mean `losses` (text),
    time since t0 (time.perf_counter()) and time per iteration."""
    el = time.perf_counter() - t0
    print(f"it {it}/{total} {losses} {el:.0f}s ({el / it:.2f}s/it)", flush=True)


def out_of_time(t0, max_minutes, it):
    """The --max-minutes safety stop: True, and says so, once training that
    started at t0 (time.perf_counter()) has run for longer than allowed."""
    if time.perf_counter() - t0 > max_minutes * 60:
        print(f"stopping early at iteration {it} (--max-minutes)", flush=True)
        return True
    return False


# --------------------------------------------------------------------------
# Export and report
# --------------------------------------------------------------------------

def freeze(model):
    """Eval mode (BatchNorm uses running statistics) and no gradients."""
    model.eval()
    for p in model.parameters():
        p.requires_grad_(False)
    return model


def export_torchscript(model, path):
    """Freeze the model, save it with torch.jit.script to path, and return the
    artifact reloaded from disk (in eval mode), so that the checks run on what
    was actually written."""
    scripted = torch.jit.script(freeze(model))
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    torch.jit.save(scripted, path)
    return torch.jit.load(path).eval()


def check_exported(loaded, eager, inputs, shape):
    """Check the reloaded artifact on one batch of forward() arguments
    `inputs` (a tuple, batched along dim 0): every output is float32 of
    `shape` within [-1, 1]; sample 5 run alone gives what it gave in the batch
    (max|diff| < 1e-4: eval mode, no batch statistics); the scripted module
    gives what the eager one gives (max|diff| < 1e-5). forward() may return a
    Tensor or a Dict[str, Tensor].

    Returns (the batch output, batch-independence max|diff|, script-vs-eager max|diff|)."""
    with torch.inference_mode():
        out = loaded(*inputs)
        one = loaded(*(x[5:6] for x in inputs))
        ref = eager(*inputs)
    outs, ones, refs = _as_dict(out), _as_dict(one), _as_dict(ref)
    for t in outs.values():
        assert t.shape == shape and t.dtype == torch.float32, (t.shape, t.dtype)
        assert float(t.min()) >= -1.0 and float(t.max()) <= 1.0
    diff_batch = max(float((outs[k][5:6] - ones[k]).abs().max()) for k in outs)
    diff_ref = max(float((outs[k] - refs[k]).abs().max()) for k in outs)
    assert diff_batch < 1e-4, f"output depends on batch composition: {diff_batch}"
    assert diff_ref < 1e-5, f"scripted output differs from eager: {diff_ref}"
    return out, diff_batch, diff_ref


def _as_dict(out):
    """A forward() output as a dict of tensors (a lone Tensor under the key "")."""
    return out if isinstance(out, dict) else {"": out}


def print_report(progress, parameters, train_s, t_start, artifact, wrote=None):
    """The closing lines of every run: `progress` (iterations, epochs,
    slices), `parameters`, training and total wall time (since t_start),
    what was written (if given), the artifact's size and sha256."""
    wall = time.perf_counter() - t_start
    print(progress)
    print(parameters)
    print(f"training time: {train_s:.1f} s  total wall time: {wall:.1f} s ({wall / 60:.1f} min)")
    if wrote is not None:
        print(f"wrote {wrote}")
    print(f"artifact: {artifact}  size: {os.path.getsize(artifact)} bytes")
    print(f"sha256: {sha256_file(artifact)}")
