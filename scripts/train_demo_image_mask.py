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
import random
import sys
import time
from typing import Dict

T_START = time.perf_counter()
if __name__ == "__main__" and os.environ.get("PYTHONHASHSEED") != "0":
    os.environ["PYTHONHASHSEED"] = "0"
    os.execv(sys.executable, [sys.executable] + sys.argv)

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn as nn  # noqa: E402
import torch.nn.functional as F  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from demo_common import Generator, load_pairs, augment_pair, save_panels, sha256_file, DEMO_00101, NZ, SIZE  # noqa: E402

MODEL_ID = "00103_DCGAN_MRI_COLIN27_IMAGE_MASK_DEMO"


def down(cin, cout, norm=True):
    layers = [nn.Conv2d(cin, cout, 4, 2, 1)]
    if norm:
        layers.append(nn.GroupNorm(4, cout))
    layers.append(nn.LeakyReLU(0.2))
    return nn.Sequential(*layers)


def up(cin, cout):
    return nn.Sequential(nn.Upsample(scale_factor=2.0, mode="nearest"), nn.Conv2d(cin, cout, 3, 1, 1),
                         nn.GroupNorm(4, cout), nn.ReLU())


class SegUNet(nn.Module):
    """image [N,1,64,64] in [-1,1] -> brain-mask logits [N,1,64,64]."""

    def __init__(self, nf: int = 16):
        super().__init__()
        self.e1 = down(1, nf, norm=False)
        self.e2 = down(nf, nf * 2)
        self.e3 = down(nf * 2, nf * 4)
        self.e4 = down(nf * 4, nf * 8)
        self.d4 = up(nf * 8, nf * 4)
        self.d3 = up(nf * 8, nf * 2)
        self.d2 = up(nf * 4, nf)
        self.d1 = up(nf * 2, nf)
        self.out = nn.Conv2d(nf + 1, 1, 3, 1, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h1 = self.e1(x)
        h2 = self.e2(h1)
        h3 = self.e3(h2)
        h4 = self.e4(h3)
        u = self.d4(h4)
        u = self.d3(torch.cat([u, h3], 1))
        u = self.d2(torch.cat([u, h2], 1))
        u = self.d1(torch.cat([u, h1], 1))
        return self.out(torch.cat([u, x], 1))


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
    ap = argparse.ArgumentParser()
    ap.add_argument("--iterations", type=int, default=800)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--max-minutes", type=float, default=10.0)
    ap.add_argument("--out", default=os.path.join("bundled", MODEL_ID + ".pt"))
    ap.add_argument("--grid", default=os.path.join("docs", "models", MODEL_ID + ".png"))
    ap.add_argument("--work", default="/tmp/demo_work/00103")
    args = ap.parse_args()

    torch.set_num_threads(args.threads)
    random.seed(args.seed)
    np.random.seed(args.seed)
    torch.manual_seed(args.seed)
    gen = torch.Generator().manual_seed(args.seed)
    os.makedirs(args.work, exist_ok=True)

    img, msk, planes, flippable, info = load_pairs()
    data = torch.cat([img, msk * 2 - 1], 1)
    m = data.shape[0]
    print(f"slices {info['counts']} -> {m}; brain-mask fraction {float(msk.mean()):.3f}", flush=True)

    g = Generator()
    g.load_state_dict(torch.jit.load(DEMO_00101).state_dict())
    g.eval()
    for p in g.parameters():
        p.requires_grad_(False)
    seg = SegUNet()
    n_g = sum(p.numel() for p in g.parameters())
    n_s = sum(p.numel() for p in seg.parameters())
    print(f"parameters: generator (00101, frozen) {n_g} + segmenter {n_s} = {n_g + n_s}", flush=True)
    opt = torch.optim.Adam(seg.parameters(), lr=args.lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, args.iterations)

    t0 = time.perf_counter()
    order = torch.randperm(m, generator=gen)
    pos = 0
    done = 0
    rl = 0.0
    for it in range(1, args.iterations + 1):
        if pos + args.batch > m:
            order = torch.randperm(m, generator=gen)
            pos = 0
        idx = order[pos:pos + args.batch]
        pos += args.batch
        b = augment_pair(data[idx], flippable[idx], gen)
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
            el = time.perf_counter() - t0
            print(f"it {it}/{args.iterations} loss {rl / 50:.4f} {el:.0f}s ({el / it:.2f}s/it)", flush=True)
            rl = 0.0
        if time.perf_counter() - t0 > args.max_minutes * 60:
            print(f"stopping early at iteration {it} (--max-minutes)", flush=True)
            break
    train_s = time.perf_counter() - t0

    seg.eval()
    for p in seg.parameters():
        p.requires_grad_(False)
    with torch.no_grad():
        pred = (seg(img) > 0).float()
        inter = (pred * msk).sum((1, 2, 3))
        dice_real = float(((2 * inter + 1) / (pred.sum((1, 2, 3)) + msk.sum((1, 2, 3)) + 1)).mean())
    print(f"segmenter on the (unaugmented) training slices: mean Dice {dice_real:.4f}", flush=True)

    model = ImageMaskGenerator(g, seg).eval()
    scripted = torch.jit.script(model)
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    torch.jit.save(scripted, args.out)

    loaded = torch.jit.load(args.out).eval()
    torch.manual_seed(0)
    z = torch.randn(64, NZ)
    with torch.inference_mode():
        out = loaded(z)
        one = loaded(z[5:6])
        ref = model(z)
    im, mk = out["image"], out["mask"]
    assert set(out.keys()) == {"image", "mask"}
    for t in (im, mk):
        assert t.shape == (64, 1, SIZE, SIZE) and t.dtype == torch.float32
    assert float(im.min()) >= -1 and float(im.max()) <= 1
    assert bool(((mk == 0) | (mk == 1)).all())
    db = max(float((out[k][5:6] - one[k]).abs().max()) for k in out)
    dr = max(float((out[k] - ref[k]).abs().max()) for k in out)
    assert db < 1e-4 and dr < 1e-5, (db, dr)
    outside = float(((im < -0.8) & (mk > 0)).sum() / mk.sum().clamp(min=1))
    rows = [[im[r * 8 + c, 0] for c in range(8)] + [None] + [mk[r * 8 + c, 0] * 2 - 1 for c in range(8)] for r in range(8)]
    save_panels(rows, args.grid)
    size = os.path.getsize(args.out)
    wall = time.perf_counter() - T_START
    print(f"checks: batch-independence {db:.2e}, script-vs-eager {dr:.2e}, image range [{float(im.min()):.3f}, {float(im.max()):.3f}], "
          f"mask binary, mask fraction {float(mk.mean()):.3f} (real {float(msk.mean()):.3f}), mask pixels on image background {outside:.4f}")
    print(f"iterations: {done}  epochs: {done * args.batch / m:.1f}  slices: {m}")
    print(f"parameters: {n_g + n_s} ({n_g} generator + {n_s} segmenter)")
    print(f"training time: {train_s:.1f} s  total wall time: {wall:.1f} s ({wall / 60:.1f} min)")
    print(f"wrote {args.grid}")
    print(f"artifact: {args.out}  size: {size} bytes")
    print(f"sha256: {sha256_file(args.out)}")


if __name__ == "__main__":
    sys.exit(main())
