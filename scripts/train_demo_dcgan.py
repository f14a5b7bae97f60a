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
The generator, discriminator, data loading and augmentation are defined in
scripts/demo_common.py, where the later demo models (00102-00105) share them.

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
import os
import sys
import time

T_START = time.perf_counter()

import torch  # noqa: E402
import torch.nn as nn  # noqa: E402
import torch.nn.functional as F  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from demo_common import (  # noqa: E402
    Generator, Discriminator, diff_augment, weights_init, ema_update, load_slices, flip_and_shift, save_grid,
    add_run_args, start_run, count_parameters, shuffled_batches, ema_preview_copy, export_with_bn_stats,
    check_latents, check_exported, print_report, T1, NZ, SIZE,
)
from scriptlib import pin_hash_seed  # noqa: E402

MODEL_ID = "00101_DCGAN_MRI_COLIN27_DEMO"


def main():
    pin_hash_seed()
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--volume", default=T1, help="NIfTI T1 volume (default: Colin27 ch2 from mricron-data)")
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

    data, _, _, flippable, info = load_slices(args.volume, bet=None)
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
        real = flip_and_shift(data[idx], flippable[idx], gen)
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
    loaded = export_with_bn_stats(final, args)

    # Check the reloaded artifact: shape, range, batch independence.
    z = check_latents()
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
