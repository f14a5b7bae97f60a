#!/usr/bin/python3
"""Train the zoo's bundled demonstration model 00101_DCGAN_MRI_COLIN27_DEMO.

A small DCGAN that generates 64x64 2-D slices of a T1-weighted head MRI. It is
trained on CPU on the axial, coronal and sagittal slices of ONE public volume:
the Colin27 ("ch2") single-subject T1 template shipped by Debian's
`mricron-data` package (/usr/share/mricron/templates/ch2.nii.gz, 181x217x181,
1 mm, RAS; Copyright 2006-2010 Chris Rorden, BSD-3-clause per
/usr/share/doc/mricron-data/copyright).

It is a DEMONSTRATION model: it shows that the zoo can run a real generator
offline. It is not fit for clinical or research conclusions: all of its
training data come from one person's head, and its samples are blurry.

Recipe: generator = classic DCGAN (ConvTranspose2d + BatchNorm + ReLU, Tanh
output, ngf=32, ~1.1M parameters); discriminator = DCGAN-shaped but with
spectral normalisation and a minibatch-stddev feature (training only); hinge
loss; DiffAugment (translation + cutout) on real and generated images; Adam
2e-4, betas (0.5, 0.999), batch 64; exponential moving average (0.995) of the
generator weights, whose BatchNorm statistics are re-estimated before export.

Requirements (Debian): python3-torch (1.13), python3-numpy, python3-nibabel,
python3-pil, mricron-data.

The bundled artifact came from (about 19 min on 2 idle cores, 29 min on 2 busy
ones):

    /usr/bin/python3 scripts/train_demo_dcgan.py --epochs 450 --seed 1 --threads 2

The exported TorchScript module has `forward(z: Tensor) -> Tensor`, taking
z of shape [N, 100] (float32, standard normal) and returning [N, 1, 64, 64]
float32 in [-1, 1]. It is in eval mode (BatchNorm uses running statistics), so
each image depends only on its own latent, not on the rest of the batch.
"""

import argparse
import copy
import hashlib
import math
import os
import random
import sys
import time

T_START = time.perf_counter()

# torch.jit.save writes each module's constants in Python set order, which
# depends on string hashing: pin the hash seed so that the .pt file is
# byte-for-byte reproducible (the weights are reproducible either way).
if __name__ == "__main__" and os.environ.get("PYTHONHASHSEED") != "0":
    os.environ["PYTHONHASHSEED"] = "0"
    os.execv(sys.executable, [sys.executable] + sys.argv)

import numpy as np  # noqa: E402
import nibabel as nib  # noqa: E402
import torch  # noqa: E402
import torch.nn as nn  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from PIL import Image  # noqa: E402

MODEL_ID = "00101_DCGAN_MRI_COLIN27_DEMO"
DEFAULT_VOLUME = "/usr/share/mricron/templates/ch2.nii.gz"
NZ = 100
SIZE = 64


# --------------------------------------------------------------------------
# Data
# --------------------------------------------------------------------------

def load_slices(path, size=SIZE, min_fill=0.18, views=("axial", "coronal", "sagittal")):
    """Return (slices float32 [M,1,size,size] in [-1,1], flippable bool [M], info dict).

    The volume is normalised once, robustly: intensities are clipped to the
    [0.5, 99.5] percentiles of the head voxels (those above 5% of the maximum)
    and mapped linearly to [-1, 1] (background -> -1). Every slice is
    zero-padded (centred) to the volume's largest in-plane extent, so that all
    views share one physical scale (1 px = 217/64 mm), then resized to size x
    size with antialiased bilinear interpolation. Slices whose head region
    covers less than `min_fill` of the square are skipped as near-empty.
    """
    img = nib.load(path)
    img = nib.as_closest_canonical(img)  # RAS+ voxel order
    vol = np.asarray(img.get_fdata(dtype=np.float32))
    head = vol > 0.05 * float(vol.max())
    lo, hi = np.percentile(vol[head], [0.5, 99.5])
    vol = np.clip((vol - lo) / (hi - lo), 0.0, 1.0)
    vol[~head] = 0.0
    side = max(vol.shape)

    def to_square(sl):
        # sl is indexed [first in-plane axis, second]; display with the second
        # axis (A or S) pointing up and the first (R/A) left-to-right.
        sl = np.rot90(sl)
        h, w = sl.shape
        out = np.zeros((side, side), np.float32)
        y0, x0 = (side - h) // 2, (side - w) // 2
        out[y0:y0 + h, x0:x0 + w] = sl
        return out

    slices, flippable, counts = [], [], {}
    for view in views:
        axis = {"sagittal": 0, "coronal": 1, "axial": 2}[view]
        kept = 0
        for i in range(vol.shape[axis]):
            sl = np.take(vol, i, axis=axis)
            sq = to_square(sl)
            if (sq > 0.1).mean() < min_fill:
                continue
            slices.append(sq)
            # Left-right flips are anatomically plausible for axial and
            # coronal slices; a horizontal flip of a sagittal slice would swap
            # anterior and posterior, so it is not used.
            flippable.append(view != "sagittal")
            kept += 1
        counts[view] = kept
    x = torch.from_numpy(np.stack(slices))[:, None]  # [M,1,side,side] in [0,1]
    x = F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False, antialias=True)
    x = x.clamp(0, 1) * 2 - 1
    info = {"shape": tuple(vol.shape), "clip": (float(lo), float(hi)), "counts": counts, "side": side}
    return x.contiguous(), torch.tensor(flippable), info


def augment(x, flippable, gen, max_shift=3):
    """Random left-right flips (where anatomically fine) and small shifts."""
    n = x.shape[0]
    flip = (torch.rand(n, generator=gen) < 0.5) & flippable
    x = torch.where(flip[:, None, None, None], x.flip(-1), x)
    p = max_shift
    xp = F.pad(x, (p, p, p, p), value=-1.0)
    dx = torch.randint(0, 2 * p + 1, (n,), generator=gen)
    dy = torch.randint(0, 2 * p + 1, (n,), generator=gen)
    out = torch.empty_like(x)
    for i in range(n):
        out[i] = xp[i, :, dy[i]:dy[i] + SIZE, dx[i]:dx[i] + SIZE]
    return out


# --------------------------------------------------------------------------
# Models
# --------------------------------------------------------------------------

class Generator(nn.Module):
    """z [N,100] -> image [N,1,64,64] in [-1,1]."""

    def __init__(self, nz: int = NZ, ngf: int = 32):
        super().__init__()
        self.nz = nz
        self.net = nn.Sequential(
            nn.ConvTranspose2d(nz, ngf * 8, 4, 1, 0, bias=False),       # 4x4
            nn.BatchNorm2d(ngf * 8), nn.ReLU(True),
            nn.ConvTranspose2d(ngf * 8, ngf * 4, 4, 2, 1, bias=False),  # 8x8
            nn.BatchNorm2d(ngf * 4), nn.ReLU(True),
            nn.ConvTranspose2d(ngf * 4, ngf * 2, 4, 2, 1, bias=False),  # 16x16
            nn.BatchNorm2d(ngf * 2), nn.ReLU(True),
            nn.ConvTranspose2d(ngf * 2, ngf, 4, 2, 1, bias=False),      # 32x32
            nn.BatchNorm2d(ngf), nn.ReLU(True),
            nn.ConvTranspose2d(ngf, 1, 4, 2, 1, bias=False),            # 64x64
            nn.Tanh(),
        )

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z.reshape(z.shape[0], self.nz, 1, 1))

    def forward_fast(self, z):
        """Same function as forward(), used for training only (not exported).

        LibTorch 1.13's CPU ConvTranspose2d (slow_conv_transpose2d) is 5-40x
        slower, backward included, than the algebraically identical
        "insert zeros, then Conv2d with the flipped, transposed kernel", which
        runs on oneDNN. The exported module keeps the plain ConvTranspose2d
        layers; training just evaluates them this way.
        """
        x = z.reshape(z.shape[0], self.nz, 1, 1)
        for m in self.net:
            if isinstance(m, nn.ConvTranspose2d) and m.out_channels > 1:
                x = conv_transpose_as_conv(x, m)
            else:
                x = m(x)
        return x


def conv_transpose_as_conv(x, m):
    """F.conv_transpose2d(x, m.weight, stride=s, padding=p) for square kernels,
    no bias, no dilation/groups/output_padding, computed as a Conv2d."""
    s, p, k = m.stride[0], m.padding[0], m.kernel_size[0]
    if s > 1:
        n, c, h, w = x.shape
        up = x.new_zeros(n, c, (h - 1) * s + 1, (w - 1) * s + 1)
        up[:, :, ::s, ::s] = x
        x = up
    w = m.weight.flip(2, 3).transpose(0, 1)
    return F.conv2d(x, w, padding=k - 1 - p)


class Discriminator(nn.Module):
    """image [N,1,64,64] -> logit [N]. Used for training only (never exported).

    Spectral normalisation instead of BatchNorm, and a minibatch standard
    deviation feature at 4x4: both keep a small-data GAN stable and discourage
    mode collapse.
    """

    def __init__(self, ndf: int = 32):
        super().__init__()
        sn = nn.utils.spectral_norm
        self.features = nn.Sequential(
            sn(nn.Conv2d(1, ndf, 4, 2, 1)), nn.LeakyReLU(0.2, True),            # 32x32
            sn(nn.Conv2d(ndf, ndf * 2, 4, 2, 1)), nn.LeakyReLU(0.2, True),      # 16x16
            sn(nn.Conv2d(ndf * 2, ndf * 4, 4, 2, 1)), nn.LeakyReLU(0.2, True),  # 8x8
            sn(nn.Conv2d(ndf * 4, ndf * 8, 4, 2, 1)), nn.LeakyReLU(0.2, True),  # 4x4
        )
        self.head = sn(nn.Conv2d(ndf * 8 + 1, 1, 4, 1, 0))                       # 1x1

    def forward(self, x):
        h = self.features(x)
        std = h.std(0, unbiased=False).mean().expand(h.shape[0], 1, h.shape[2], h.shape[3])
        return self.head(torch.cat([h, std], 1)).reshape(-1)


def diff_augment(x, gen, shift=8, cut=32):
    """Differentiable augmentation (Zhao et al. 2020, "DiffAugment"), applied to
    real AND generated images before the discriminator, so that it cannot
    memorise the few hundred training slices: random translation by up to
    `shift` px and one random `cut` x `cut` cutout, both filled with the
    background value -1."""
    n, c, h, w = x.shape
    if shift > 0:
        x = _translate(x, gen, shift)
    if cut > 0:
        x = _cutout(x, gen, cut)
    return x


def _translate(x, gen, shift):
    n, c, h, w = x.shape
    xp = F.pad(x, (shift, shift, shift, shift), value=-1.0)
    ty = torch.randint(0, 2 * shift + 1, (n, 1, 1), generator=gen)
    tx = torch.randint(0, 2 * shift + 1, (n, 1, 1), generator=gen)
    gy = torch.arange(h)[None, :, None] + ty
    gx = torch.arange(w)[None, None, :] + tx
    return xp.permute(0, 2, 3, 1)[torch.arange(n)[:, None, None], gy, gx].permute(0, 3, 1, 2)


def _cutout(x, gen, cut):
    n, c, h, w = x.shape
    cy = torch.randint(0, h + (1 - cut % 2), (n, 1, 1), generator=gen)
    cx = torch.randint(0, w + (1 - cut % 2), (n, 1, 1), generator=gen)
    yy = torch.arange(h)[None, :, None]
    xx = torch.arange(w)[None, None, :]
    hole = ((yy - cy).abs() < cut // 2) & ((xx - cx).abs() < cut // 2)
    return torch.where(hole[:, None], torch.full_like(x, -1.0), x)


def weights_init(m):
    if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
        nn.init.normal_(m.weight, 0.0, 0.02)
    elif isinstance(m, nn.BatchNorm2d):
        nn.init.normal_(m.weight, 1.0, 0.02)
        nn.init.zeros_(m.bias)


@torch.no_grad()
def ema_update(ema, model, decay):
    for pe, pm in zip(ema.parameters(), model.parameters()):
        pe.mul_(decay).add_(pm, alpha=1 - decay)


def sample_latents(n, gen):
    """forward() arguments for a batch of n: 00101's latents z [n, NZ]."""
    return (torch.randn(n, NZ, generator=gen),)


@torch.no_grad()
def recompute_bn_stats(g, gen, batches=100, batch_size=64, sample_inputs=sample_latents):
    """Re-estimate BatchNorm running statistics as exact averages over many
    random batches, so that eval mode matches what training-mode batches saw.
    sample_inputs(batch_size, gen) returns the tuple of g's forward()
    arguments for one batch; generators with other inputs pass their own."""
    bns = [m for m in g.modules() if isinstance(m, nn.BatchNorm2d)]
    for m in bns:
        m.reset_running_stats()
        m.momentum = None  # cumulative moving average
    g.train()
    for _ in range(batches):
        g(*sample_inputs(batch_size, gen))
    for m in bns:
        m.momentum = 0.1
    g.eval()


# --------------------------------------------------------------------------
# Output helpers
# --------------------------------------------------------------------------

def to_uint8(x):
    return ((x.clamp(-1, 1) + 1) * 127.5).round().clamp(0, 255).to(torch.uint8)


def save_grid(x, path, nrow=8, pad=2):
    """x: [N,1,H,W] in [-1,1] -> grayscale PNG grid (black 2 px gutters)."""
    n, _, h, w = x.shape
    ncol = nrow
    nr = int(math.ceil(n / ncol))
    canvas = np.zeros((pad + nr * (h + pad), pad + ncol * (w + pad)), np.uint8)
    imgs = to_uint8(x)[:, 0].numpy()
    for i in range(n):
        r, c = divmod(i, ncol)
        y0, x0 = pad + r * (h + pad), pad + c * (w + pad)
        canvas[y0:y0 + h, x0:x0 + w] = imgs[i]
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    Image.fromarray(canvas, mode="L").save(path, optimize=True)


def sha256_file(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


# --------------------------------------------------------------------------
# Main
# --------------------------------------------------------------------------

def main():
    # Imported here, not at the top: demo_common imports this module.
    from demo_common import (
        add_run_args, start_run, count_parameters, shuffled_batches, ema_preview_copy, export_torchscript,
        check_exported, print_report,
    )

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--volume", default=DEFAULT_VOLUME, help="NIfTI T1 volume (default: Colin27 ch2 from mricron-data)")
    ap.add_argument("--epochs", type=int, default=450, help="passes over the slice set (ignored if --iterations > 0)")
    ap.add_argument("--iterations", type=int, default=0, help="number of generator updates (overrides --epochs)")
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--lr", type=float, default=2e-4, help="generator learning rate (Adam, betas 0.5/0.999)")
    ap.add_argument("--lr-d", type=float, default=2e-4, help="discriminator learning rate")
    ap.add_argument("--aug-shift", type=int, default=8, help="DiffAugment: max translation in px (0 = off)")
    ap.add_argument("--aug-cut", type=int, default=32, help="DiffAugment: cutout square side in px (0 = off)")
    ap.add_argument("--ngf", type=int, default=32)
    ap.add_argument("--ndf", type=int, default=32)
    ap.add_argument("--ema", type=float, default=0.995, help="EMA decay of the exported generator weights (0 = off)")
    ap.add_argument("--loss", choices=["hinge", "bce"], default="hinge", help="GAN loss")
    ap.add_argument("--smooth", type=float, default=0.9, help="--loss bce: one-sided label smoothing, target for real images")
    add_run_args(ap, MODEL_ID, work="/tmp/dcgan_work",
                 grids=[os.path.join("docs", "models", MODEL_ID + ".png"), os.path.join("docs", "demo-grid.png")])
    ap.add_argument("--real-grid", default=os.path.join("docs", "models", "00101_real_slices.png"))
    ap.add_argument("--log-every", type=int, default=50)
    ap.add_argument("--preview-every", type=int, default=500)
    args = ap.parse_args()
    gen = start_run(args)

    data, flippable, info = load_slices(args.volume)
    m = data.shape[0]
    print(f"volume {args.volume}: shape {info['shape']}, clip {info['clip'][0]:.1f}..{info['clip'][1]:.1f}, "
          f"slices kept {info['counts']} -> {m} ({SIZE}x{SIZE})", flush=True)
    perm = torch.randperm(m, generator=torch.Generator().manual_seed(args.seed))[:64]
    if args.real_grid:
        save_grid(data[perm], args.real_grid)
        print(f"wrote {args.real_grid}")

    iters_per_epoch = m // args.batch  # the last partial batch of each shuffle is dropped
    total = args.iterations if args.iterations > 0 else args.epochs * iters_per_epoch
    epochs = total / iters_per_epoch
    print(f"training {total} iterations = {epochs:.1f} epochs of {iters_per_epoch} batches of {args.batch}", flush=True)

    g = Generator(NZ, args.ngf)
    d = Discriminator(args.ndf)
    g.apply(weights_init)
    g_ema = copy.deepcopy(g).eval() if args.ema > 0 else None
    with torch.no_grad():  # the training-time formulation must equal forward()
        zt = torch.randn(8, NZ, generator=torch.Generator().manual_seed(7))
        g.eval()
        err = float((g(zt) - g.forward_fast(zt)).abs().max())
        g.train()
        assert err < 1e-4, f"forward_fast differs from forward: {err}"
    print(f"forward_fast vs forward max|diff|: {err:.2e}")
    n_g = count_parameters(g)
    n_d = count_parameters(d)
    print(f"generator parameters: {n_g}  discriminator parameters: {n_d}", flush=True)

    opt_g = torch.optim.Adam(g.parameters(), lr=args.lr, betas=(0.5, 0.999))
    opt_d = torch.optim.Adam(d.parameters(), lr=args.lr_d, betas=(0.5, 0.999))
    bce = nn.BCEWithLogitsLoss()
    fixed_z = torch.randn(64, NZ, generator=torch.Generator().manual_seed(0))

    t_train = time.perf_counter()
    batches = shuffled_batches(m, args.batch, gen)
    run_d = run_g = 0.0
    for it in range(1, total + 1):
        idx = next(batches)
        real = augment(data[idx], flippable[idx], gen)
        b = real.shape[0]

        # Discriminator step (both inputs DiffAugmented).
        z = torch.randn(b, NZ, generator=gen)
        fake = g.forward_fast(z)
        opt_d.zero_grad(set_to_none=True)
        d_real = d(diff_augment(real, gen, args.aug_shift, args.aug_cut))
        d_fake = d(diff_augment(fake.detach(), gen, args.aug_shift, args.aug_cut))
        if args.loss == "hinge":
            loss_d = F.relu(1.0 - d_real).mean() + F.relu(1.0 + d_fake).mean()
        else:  # non-saturating BCE with one-sided label smoothing
            loss_d = bce(d_real, torch.full((b,), args.smooth)) + bce(d_fake, torch.zeros(b))
        loss_d.backward()
        opt_d.step()

        # Generator step.
        opt_g.zero_grad(set_to_none=True)
        d_gen = d(diff_augment(fake, gen, args.aug_shift, args.aug_cut))
        loss_g = -d_gen.mean() if args.loss == "hinge" else bce(d_gen, torch.ones(b))
        loss_g.backward()
        opt_g.step()
        if g_ema is not None:
            ema_update(g_ema, g, args.ema if it > 200 else 0.0)

        run_d += loss_d.item()
        run_g += loss_g.item()
        if it % args.log_every == 0 or it == total:
            k = args.log_every if it % args.log_every == 0 else it % args.log_every
            el = time.perf_counter() - t_train
            print(f"it {it:6d}/{total} ep {it / iters_per_epoch:6.1f}  loss_D {run_d / k:.3f}  loss_G {run_g / k:.3f}  "
                  f"{el:7.1f}s  ({el / it:.3f}s/it)", flush=True)
            run_d = run_g = 0.0
        if args.preview_every and (it % args.preview_every == 0 or it == total):
            with torch.no_grad():
                g.eval()
                save_grid(g(fixed_z), os.path.join(args.work, f"preview_{it:06d}.png"))
                g.train()
                if g_ema is not None:
                    save_grid(ema_preview_copy(g_ema, it)(fixed_z),
                              os.path.join(args.work, f"preview_{it:06d}_ema.png"))
            torch.save({"g": g.state_dict(), "d": d.state_dict(),
                        "g_ema": g_ema.state_dict() if g_ema is not None else None, "it": it},
                       os.path.join(args.work, "checkpoint.pth"))
    train_s = time.perf_counter() - t_train

    final = g_ema if g_ema is not None else g
    # BatchNorm running statistics for the exported weights, estimated exactly.
    recompute_bn_stats(final, torch.Generator().manual_seed(args.seed + 12345))
    loaded = export_torchscript(final, args.out)

    # Check the reloaded artifact: shape, range, batch independence.
    torch.manual_seed(0)
    z = torch.randn(64, NZ)
    out, diff_batch, diff_ref = check_exported(loaded, final, (z,), shape=(64, 1, SIZE, SIZE))
    per_img_std = float(out.flatten(1).std(0).mean())
    for p in args.grid:
        save_grid(out, p)
        print(f"wrote {p}")
    save_grid(out, os.path.join(args.work, "final_grid.png"))

    print(f"checks: batch-independence max|diff| {diff_batch:.2e}, script-vs-eager {diff_ref:.2e}, "
          f"range [{float(out.min()):.3f}, {float(out.max()):.3f}], mean pixel std across samples {per_img_std:.3f}")
    print_report(f"iterations: {total}  epochs: {epochs:.1f}  slices: {m}", f"generator parameters: {n_g}",
                 train_s, T_START, args.out)


if __name__ == "__main__":
    sys.exit(main())
