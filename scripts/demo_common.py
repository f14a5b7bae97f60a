"""Shared helpers for the zoo's demonstration-model training scripts
(scripts/train_*.py). Data: Debian's mricron-data Colin27 ("ch2") T1 volume and
its skull-stripped version ch2bet (same 181x217x181 1 mm grid), BSD-3-clause
per /usr/share/doc/mricron-data/copyright.

The generic GAN pieces (DiffAugment, EMA, BatchNorm re-estimation, the grid
writer, sha256) are imported from scripts/train_demo_dcgan.py, which trained
the first demo model 00101.
"""

import hashlib
import math
import os

import numpy as np
import nibabel as nib
import torch
import torch.nn as nn
import torch.nn.functional as F
from PIL import Image

from train_demo_dcgan import (  # noqa: F401  (re-exported)
    Generator, Discriminator, conv_transpose_as_conv, diff_augment, _translate, _cutout,
    weights_init, ema_update, recompute_bn_stats, to_uint8, save_grid, sha256_file, NZ, SIZE,
)

T1 = "/usr/share/mricron/templates/ch2.nii.gz"
BET = "/usr/share/mricron/templates/ch2bet.nii.gz"
VIEWS = ("axial", "coronal", "sagittal")
DEMO_00101 = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "bundled",
                          "00101_DCGAN_MRI_COLIN27_DEMO.pt")


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
