#!/usr/bin/python3
"""Build the demo model 00103_DCGAN_MRI_COLIN27_IMAGE_MASK_DEMO.

Generates PAIRS: a 64x64 T1-weighted head MRI slice and its brain mask.
forward(z [N,100] float32 standard normal) -> Dict[str, Tensor]
{"image": [N,1,64,64] float32 in [-1,1], "mask": [N,1,64,64] float32 in {0,1}}.

How: the image comes from the bundled DCGAN 00101 (weights loaded unchanged
from bundled/00101_DCGAN_MRI_COLIN27_DEMO.pt, frozen); the mask comes from a
small U-Net brain segmenter trained here, supervised, on the real (T1 slice,
brain mask) pairs of Colin27, applied to the generated image inside the
module and thresholded there ((logit > 0).float()), so the mask is exactly
binary and consistent with its image by construction.

Data: axial, coronal and sagittal slices of the Colin27 ("ch2") T1 template,
brain masks = ch2bet > 0 (its BET skull-stripped version), both from Debian's
mricron-data (BSD-3-clause), preprocessed like 00101's data (see
scripts/demo_common.py). The segmenter sees augmented real slices (flips,
shifts, random blur and noise, so that it copes with the GAN's blurrier
images); BCE + soft Dice loss; Adam. Exported with torch.jit.script in eval
mode. DEMONSTRATION model only.

(A first attempt fine-tuned 00101 into a 2-channel image+mask GAN against a
2-channel discriminator; its discriminator won at once and the samples
degenerated into texture within 100 iterations, so it was abandoned.)

    /usr/bin/python3 scripts/train_demo_image_mask.py --iterations 800 --seed 1 --threads 1
"""

import argparse
import os
import sys
import time
from typing import Dict

T_START = time.perf_counter()

import torch  # noqa: E402
import torch.nn as nn  # noqa: E402
import torch.nn.functional as F  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from demo_common import (  # noqa: E402
    Generator, UNet, load_slices, flip_and_shift, save_panels, add_run_args, start_run,
    count_parameters, shuffled_batches, print_progress, out_of_time, freeze, export_torchscript, check_latents,
    check_exported, print_report, DEMO_00101, SIZE,
)
from scriptlib import pin_hash_seed  # noqa: E402

MODEL_ID = "00103_DCGAN_MRI_COLIN27_IMAGE_MASK_DEMO"


class ImageMaskGenerator(nn.Module):
    def __init__(self, g: nn.Module, seg: nn.Module):
        super().__init__()
        self.g = g
        self.seg = seg

    def forward(self, z: torch.Tensor) -> Dict[str, torch.Tensor]:
        image = self.g(z)
        mask = (self.seg(image) > 0).float()
        return {"image": image, "mask": mask}


def degrade(x, gen):
    """Random blur (down/up-sampling by 1-2x) and noise, on half of the batch."""
    n = x.shape[0]
    sel = torch.rand(n, generator=gen) < 0.5
    f = float(torch.empty(1).uniform_(1.0, 2.0, generator=gen))
    s = max(16, int(round(SIZE / f)))
    blurred = F.interpolate(F.interpolate(x, size=(s, s), mode="bilinear", align_corners=False, antialias=True),
                            size=(SIZE, SIZE), mode="bilinear", align_corners=False)
    noisy = (blurred + 0.05 * torch.randn(x.shape, generator=gen)).clamp(-1, 1)
    return torch.where(sel[:, None, None, None], noisy, x)


def main():
    pin_hash_seed()
    ap = argparse.ArgumentParser()
    ap.add_argument("--iterations", type=int, default=800)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--lr", type=float, default=2e-3)
    add_run_args(ap, MODEL_ID, work="/tmp/demo_work/00103", threads=1, max_minutes=10.0)
    args = ap.parse_args()
    gen = start_run(args)

    img, msk, planes, flippable, info = load_slices()
    data = torch.cat([img, msk * 2 - 1], 1)
    m = data.shape[0]
    print(f"slices {info['counts']} -> {m}; brain-mask fraction {float(msk.mean()):.3f}", flush=True)

    g = Generator()
    g.load_state_dict(torch.jit.load(DEMO_00101).state_dict())
    freeze(g)
    seg = UNet(nf=16, groups=4)  # image in [-1,1] -> brain-mask logits
    n_g = count_parameters(g)
    n_s = count_parameters(seg)
    print(f"parameters: generator (00101, frozen) {n_g} + segmenter {n_s} = {n_g + n_s}", flush=True)
    opt = torch.optim.Adam(seg.parameters(), lr=args.lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, args.iterations)

    t0 = time.perf_counter()
    batches = shuffled_batches(m, args.batch, gen)
    done = 0
    rl = 0.0
    for it in range(1, args.iterations + 1):
        idx = next(batches)
        b = flip_and_shift(data[idx], flippable[idx], gen)
        x = degrade(b[:, 0:1], gen)
        y = (b[:, 1:2] > 0).float()
        logit = seg(x)
        p = torch.sigmoid(logit)
        dice = 1 - (2 * (p * y).sum() + 1) / (p.sum() + y.sum() + 1)
        loss = F.binary_cross_entropy_with_logits(logit, y) + dice
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        rl += loss.item()
        done = it
        if it % 50 == 0:
            print_progress(it, args.iterations, t0, f"loss {rl / 50:.4f}")
            rl = 0.0
        if out_of_time(t0, args.max_minutes, it):
            break
    train_s = time.perf_counter() - t0

    freeze(seg)
    with torch.no_grad():
        pred = (seg(img) > 0).float()
        inter = (pred * msk).sum((1, 2, 3))
        dice_real = float(((2 * inter + 1) / (pred.sum((1, 2, 3)) + msk.sum((1, 2, 3)) + 1)).mean())
    print(f"segmenter on the (unaugmented) training slices: mean Dice {dice_real:.4f}", flush=True)

    model = ImageMaskGenerator(g, seg)
    loaded = export_torchscript(model, args.out)

    z = check_latents()
    out, db, dr = check_exported(loaded, model, (z,), shape=(64, 1, SIZE, SIZE))
    assert set(out.keys()) == {"image", "mask"}
    im, mk = out["image"], out["mask"]
    assert bool(((mk == 0) | (mk == 1)).all())
    outside = float(((im < -0.8) & (mk > 0)).sum() / mk.sum().clamp(min=1))
    rows = [[im[r * 8 + c, 0] for c in range(8)] + [None] + [mk[r * 8 + c, 0] * 2 - 1 for c in range(8)] for r in range(8)]
    save_panels(rows, args.grid)
    print(f"checks: batch-independence {db:.2e}, script-vs-eager {dr:.2e}, image range [{float(im.min()):.3f}, {float(im.max()):.3f}], "
          f"mask binary, mask fraction {float(mk.mean()):.3f} (real {float(msk.mean()):.3f}), mask pixels on image background {outside:.4f}")
    print_report(f"iterations: {done}  epochs: {done * args.batch / m:.1f}  slices: {m}",
                 f"parameters: {n_g + n_s} ({n_g} generator + {n_s} segmenter)",
                 train_s, T_START, args.out, wrote=args.grid)


if __name__ == "__main__":
    sys.exit(main())
