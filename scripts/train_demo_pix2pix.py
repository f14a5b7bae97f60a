#!/usr/bin/python3
"""Train the demo model 00104_PIX2PIX_MRI_MASK_TO_T1_DEMO.

A pix2pix-style image-to-image model: brain mask -> T1-weighted head MRI slice.
forward(x [N,1,64,64] float32 in [0,1], a binary brain mask) -> [N,1,64,64]
float32 in [-1,1]. Deterministic: no latent (as in pix2pix, where the noise is
commonly dropped; the output is a function of the mask only).

Data: pairs (brain mask, T1 slice) from the axial, coronal and sagittal slices
of the Colin27 ("ch2") template and its skull-stripped version ch2bet
(mask = ch2bet > 0), both from Debian's mricron-data (BSD-3-clause),
preprocessed like 00101's data (scripts/demo_common.py).

Recipe: a small U-Net (4 stride-2 4x4 conv downsamplings to 4x4, 4 nearest
upsample + 3x3 conv upsamplings with skip connections, GroupNorm, so the
output of each sample never depends on the rest of the batch) trained with
pix2pix's loss, 100 x L1 + an adversarial hinge loss from a conditional
spectral-norm PatchGAN discriminator that sees (mask, image) (training only).
Same random flips/shifts on mask and image. Adam 2e-4, betas 0.5/0.999.
Exported with torch.jit.script in eval mode. DEMONSTRATION model only.

    /usr/bin/python3 scripts/train_demo_pix2pix.py --iterations 800 --seed 1 --threads 2

(the --max-minutes 11 safety stop ended that run at iteration 785; everything
else is seeded, so --iterations 785 should reproduce the shipped weights on
the same CPU and torch build; not re-run to check.)
"""

import argparse
import os
import sys
import time

T_START = time.perf_counter()

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn as nn  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from PIL import Image  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from demo_common import (  # noqa: E402
    UNet, load_slices, flip_and_shift, save_panels, add_run_args, start_run, count_parameters,
    shuffled_batches, print_progress, out_of_time, export_torchscript, check_exported, print_report, VIEWS,
)
from scriptlib import pin_hash_seed  # noqa: E402

MODEL_ID = "00104_PIX2PIX_MRI_MASK_TO_T1_DEMO"


class MaskToT1(UNet):
    """brain mask [N,1,64,64] in {0,1} -> T1 slice [N,1,64,64] in [-1,1]."""

    def __init__(self, nf: int = 32):
        super().__init__(nf, groups=8)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.tanh(self.logits(x * 2.0 - 1.0))


class PatchD(nn.Module):
    def __init__(self, ndf=32):
        super().__init__()
        sn = nn.utils.spectral_norm
        self.net = nn.Sequential(
            sn(nn.Conv2d(2, ndf, 4, 2, 1)), nn.LeakyReLU(0.2),
            sn(nn.Conv2d(ndf, ndf * 2, 4, 2, 1)), nn.LeakyReLU(0.2),
            sn(nn.Conv2d(ndf * 2, ndf * 4, 4, 2, 1)), nn.LeakyReLU(0.2),
            sn(nn.Conv2d(ndf * 4, 1, 3, 1, 1)),  # 8x8 patch logits
        )

    def forward(self, mask01, img):
        return self.net(torch.cat([mask01 * 2 - 1, img], 1))


def pick_examples(planes, per_plane=8):
    idx = []
    for p in range(3):
        where = torch.nonzero(planes == p).reshape(-1)
        sel = torch.linspace(0, len(where) - 1, per_plane + 2)[1:-1].round().long()
        idx += where[sel].tolist()
    return idx


def grid(g, masks, reals, path):
    """8 rows: 3 input masks | their generated T1 slices | the real slices."""
    with torch.no_grad():
        gen = g(masks)
    rows = []
    for r in range(8):
        ii = [r * 3 + c for c in range(3)]
        rows.append([masks[i, 0] * 2 - 1 for i in ii] + [None] + [gen[i, 0] for i in ii] + [None] + [reals[i, 0] for i in ii])
    save_panels(rows, path)


def main():
    pin_hash_seed()
    ap = argparse.ArgumentParser()
    ap.add_argument("--iterations", type=int, default=800)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--lr", type=float, default=2e-4)
    ap.add_argument("--l1", type=float, default=100.0)
    add_run_args(ap, MODEL_ID, work="/tmp/demo_work/00104", max_minutes=11.0)
    ap.add_argument("--inputs", default=os.path.join("docs", "models", "00104_inputs"))
    args = ap.parse_args()
    gen = start_run(args)

    img, msk, planes, flippable, info = load_slices()
    m = img.shape[0]
    print(f"slices {info['counts']} -> {m}", flush=True)
    data = torch.cat([msk * 2 - 1, img], 1)  # both with background -1 for the shift padding

    g = MaskToT1()
    d = PatchD()
    n_g = count_parameters(g)
    n_d = count_parameters(d)
    print(f"generator parameters: {n_g}  discriminator parameters: {n_d}", flush=True)
    opt_g = torch.optim.Adam(g.parameters(), lr=args.lr, betas=(0.5, 0.999))
    opt_d = torch.optim.Adam(d.parameters(), lr=args.lr, betas=(0.5, 0.999))
    ex = pick_examples(planes)

    t0 = time.perf_counter()
    batches = shuffled_batches(m, args.batch, gen)
    done = 0
    rd = rg = rl = 0.0
    for it in range(1, args.iterations + 1):
        idx = next(batches)
        b = flip_and_shift(data[idx], flippable[idx], gen)
        x = (b[:, 0:1] > 0).float()
        y = b[:, 1:2]
        fake = g(x)
        opt_d.zero_grad(set_to_none=True)
        loss_d = F.relu(1 - d(x, y)).mean() + F.relu(1 + d(x, fake.detach())).mean()
        loss_d.backward()
        opt_d.step()
        opt_g.zero_grad(set_to_none=True)
        l1 = (fake - y).abs().mean()
        loss_g = -d(x, fake).mean() + args.l1 * l1
        loss_g.backward()
        opt_g.step()
        rd += loss_d.item()
        rg += loss_g.item()
        rl += l1.item()
        done = it
        if it % 25 == 0:
            print_progress(it, args.iterations, t0, f"loss_D {rd / 25:.3f} loss_G {rg / 25:.3f} L1 {rl / 25:.4f}")
            rd = rg = rl = 0.0
        if it % 100 == 0:
            g.eval()
            grid(g, msk[ex], img[ex], os.path.join(args.work, f"preview_{it:05d}.png"))
            g.train()
        if out_of_time(t0, args.max_minutes, it):
            break
    train_s = time.perf_counter() - t0

    loaded = export_torchscript(g, args.out)
    x = msk[ex + list(range(0, m, 7))]
    out, db, dr = check_exported(loaded, g, (x,), shape=x.shape)
    with torch.inference_mode():
        l1_all = float((loaded(msk) - img).abs().mean())
    grid(loaded, msk[ex], img[ex], args.grid)

    # Example inputs for `zoo generate 104 --input docs/models/00104_inputs`.
    os.makedirs(args.inputs, exist_ok=True)
    for k, i in enumerate(ex[1::3]):
        name = f"brainmask_{VIEWS[int(planes[i])]}_{k:02d}.png"
        Image.fromarray((msk[i, 0].numpy() * 255).astype(np.uint8), mode="L").save(os.path.join(args.inputs, name), optimize=True)
    print(f"checks: batch-independence {db:.2e}, script-vs-eager {dr:.2e}, range [{float(out.min()):.3f}, {float(out.max()):.3f}], "
          f"mean L1 over all {m} training pairs {l1_all:.4f}")
    print_report(f"iterations: {done}  epochs: {done * args.batch / m:.1f}  slices: {m}", f"generator parameters: {n_g}",
                 train_s, T_START, args.out, wrote=f"{args.grid} and {args.inputs}/")


if __name__ == "__main__":
    sys.exit(main())
