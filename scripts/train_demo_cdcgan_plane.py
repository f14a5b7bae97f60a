#!/usr/bin/python3
"""Train the demo model 00102_CDCGAN_MRI_COLIN27_PLANE_DEMO.

A class-conditional DCGAN: forward(z [N,100] float32 standard normal,
plane [N] int64 in {0 axial, 1 coronal, 2 sagittal}) -> [N,1,64,64] float32
in [-1,1], a 64x64 slice of a T1-weighted head MRI in the requested plane.

Data: the axial, coronal and sagittal slices of the Colin27 ("ch2") template
from Debian's mricron-data (BSD-3-clause), preprocessed exactly like the data
of 00101 (see scripts/demo_common.py).

Recipe: the generator is 00101's DCGAN generator (ConvTranspose2d + BatchNorm
+ ReLU, ngf=32) plus two class embeddings: one added to the latent, one added
to the 4x4 feature map after the first layer (initialised to zero). The latent
one starts at 2x the mean latent of those 00101 samples whose nearest real
slice is of that plane. It is
initialised from the bundled 00101 weights (same data, same licence) and
fine-tuned against a projection discriminator (00101's spectral-norm
discriminator plus an inner product of a class embedding with the pooled
features) that also has an auxiliary plane classifier, AC-GAN style: the
discriminator learns to classify real slices' planes, the generator is
rewarded when its slices are classified as the requested plane (training
only). Hinge loss, DiffAugment (translation + cutout),
flips/shifts of the data, Adam, EMA of the generator weights whose BatchNorm
statistics are re-estimated (with random planes) before export with
torch.jit.script in eval mode. DEMONSTRATION model only.

    /usr/bin/python3 scripts/train_demo_cdcgan_plane.py --iterations 600 --cls 2 --seed 1 --threads 1
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
    Generator, Discriminator, conv_transpose_as_conv, fast_forward, diff_augment, ema_update, load_slices,
    flip_and_shift, save_panels, add_run_args, start_run, count_parameters, shuffled_batches, ema_preview_copy,
    print_progress, out_of_time, export_with_bn_stats, check_latents, check_exported, print_report,
    DEMO_00101, NZ, SIZE,
)
from scriptlib import pin_hash_seed  # noqa: E402

MODEL_ID = "00102_CDCGAN_MRI_COLIN27_PLANE_DEMO"


class CondGenerator(nn.Module):
    def __init__(self, nz: int = NZ, ngf: int = 32, n_classes: int = 3):
        super().__init__()
        self.nz = nz
        self.c4 = ngf * 8
        base = Generator(nz, ngf).net
        self.head = base[0]
        self.body = nn.Sequential(*list(base.children())[1:])
        self.embed_z = nn.Embedding(n_classes, nz)
        self.embed_4 = nn.Embedding(n_classes, ngf * 8 * 16)
        nn.init.zeros_(self.embed_z.weight)
        nn.init.zeros_(self.embed_4.weight)

    def forward(self, z: torch.Tensor, plane: torch.Tensor) -> torch.Tensor:
        n = z.shape[0]
        h = (z + self.embed_z(plane)).reshape(n, self.nz, 1, 1)
        h = self.head(h) + self.embed_4(plane).reshape(n, self.c4, 4, 4)
        return self.body(h)

    def forward_fast(self, z, plane):
        n = z.shape[0]
        h = (z + self.embed_z(plane)).reshape(n, self.nz, 1, 1)
        h = conv_transpose_as_conv(h, self.head) + self.embed_4(plane).reshape(n, self.c4, 4, 4)
        return fast_forward(self.body, h)

    def load_00101(self, path=DEMO_00101):
        sd = torch.jit.load(path).state_dict()
        mine = {}
        for k, v in sd.items():
            i = int(k.split(".")[1])
            rest = ".".join(k.split(".")[2:])
            mine[("head." if i == 0 else f"body.{i - 1}.") + rest] = v
        missing, unexpected = self.load_state_dict(mine, strict=False)
        assert not unexpected and set(missing) == {"embed_z.weight", "embed_4.weight"}, (missing, unexpected)


class ProjDiscriminator(nn.Module):
    """Projection discriminator with an auxiliary plane classifier (AC-GAN):
    returns (real/fake logit [N], plane logits [N,3])."""

    def __init__(self, ndf: int = 32, n_classes: int = 3):
        super().__init__()
        self.base = Discriminator(ndf)
        self.embed = nn.Embedding(n_classes, ndf * 8)
        nn.init.normal_(self.embed.weight, 0.0, 0.02)
        self.cls = nn.Linear(ndf * 8 * 16, n_classes)

    def forward(self, x, y):
        h, out = self.base.features_and_logit(x)
        return out + (self.embed(y) * h.sum([2, 3])).sum(1), self.cls(h.flatten(1))


def sample_latents_and_planes(n, gen):
    """forward() arguments for BatchNorm re-estimation: latents with random
    planes, so that the statistics cover all three of them."""
    return torch.randn(n, NZ, generator=gen), torch.randint(0, 3, (n,), generator=gen)


@torch.no_grad()
def init_plane_embedding(g, data, planes, gen, n=2048, scale=2.0):
    """Start embed_z at the latent directions where the (unconditional) 00101
    generator already draws each plane: generate n samples, label each with
    the plane of its nearest real slice (L2 at 16x16), and set embed_z[p] =
    scale * mean latent of the samples labelled p. Fine-tuning then only has
    to sharpen an existing split instead of discovering it."""
    g.eval()
    z = torch.randn(n, NZ, generator=gen)
    zero = torch.zeros(n, dtype=torch.long)
    fake = torch.cat([g(z[i:i + 256], zero[i:i + 256]) for i in range(0, n, 256)])
    small = lambda x: F.adaptive_avg_pool2d(x, 16).flatten(1)
    dist = torch.cdist(small(fake), small(data))
    lab = planes[dist.argmin(1)]
    for p in range(3):
        sel = lab == p
        if sel.any():
            g.embed_z.weight[p] = scale * z[sel].mean(0)
    g.train()
    return [int((lab == p).sum()) for p in range(3)]


def grid(g, path):
    """6 rows x 8: rows axial/coronal/sagittal for latents 0-7, then again for
    latents 8-15 (torch.manual_seed(0); torch.randn(16,100)); the latent is
    the same down each column within a block, only the plane changes."""
    torch.manual_seed(0)
    z = torch.randn(16, NZ)
    rows = []
    with torch.no_grad():
        for blk in range(2):
            zz = z[blk * 8:(blk + 1) * 8]
            for p in range(3):
                out = g(zz, torch.full((8,), p, dtype=torch.long))
                rows.append([out[i, 0] for i in range(8)])
    save_panels(rows, path)


def main():
    pin_hash_seed()
    ap = argparse.ArgumentParser()
    ap.add_argument("--iterations", type=int, default=600)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--lr", type=float, default=2e-4)
    ap.add_argument("--init-scale", type=float, default=2.0, help="scale of the initial plane latent offsets")
    ap.add_argument("--cls", type=float, default=1.0, help="weight of the auxiliary plane-classification loss (AC-GAN)")
    ap.add_argument("--lr-d", type=float, default=2e-4)
    ap.add_argument("--ema", type=float, default=0.99)
    add_run_args(ap, MODEL_ID, work="/tmp/demo_work/00102", max_minutes=11.0)
    args = ap.parse_args()
    gen = start_run(args)

    data, _, planes, flippable, info = load_slices()
    m = data.shape[0]
    print(f"slices {info['counts']} -> {m}", flush=True)

    g = CondGenerator()
    g.load_00101()
    d = ProjDiscriminator()
    with torch.no_grad():
        g.eval()
        zt = torch.randn(8, NZ, generator=torch.Generator().manual_seed(7))
        yt = torch.arange(8) % 3
        err = float((g(zt, yt) - g.forward_fast(zt, yt)).abs().max())
        g.train()
    assert err < 1e-4, err
    n_g = count_parameters(g)
    n_d = count_parameters(d)
    print(f"generator parameters: {n_g}  discriminator parameters: {n_d}", flush=True)
    counts = init_plane_embedding(g, data, planes, torch.Generator().manual_seed(args.seed + 1), scale=args.init_scale)
    print(f"00101 samples labelled by nearest real plane (axial, coronal, sagittal): {counts}", flush=True)
    g_ema = copy.deepcopy(g).eval()
    opt_g = torch.optim.Adam(g.parameters(), lr=args.lr, betas=(0.5, 0.999))
    opt_d = torch.optim.Adam(d.parameters(), lr=args.lr_d, betas=(0.5, 0.999))

    t0 = time.perf_counter()
    batches = shuffled_batches(m, args.batch, gen)
    done = 0
    rd = rg = 0.0
    for it in range(1, args.iterations + 1):
        idx = next(batches)
        real = flip_and_shift(data[idx], flippable[idx], gen)
        y = planes[idx]
        b = real.shape[0]
        z = torch.randn(b, NZ, generator=gen)
        fake = g.forward_fast(z, y)
        opt_d.zero_grad(set_to_none=True)
        o_real, c_real = d(diff_augment(real, gen), y)
        o_fake, _ = d(diff_augment(fake.detach(), gen), y)
        loss_d = F.relu(1 - o_real).mean() + F.relu(1 + o_fake).mean() + args.cls * F.cross_entropy(c_real, y)
        loss_d.backward()
        opt_d.step()
        opt_g.zero_grad(set_to_none=True)
        o_gen, c_gen = d(diff_augment(fake, gen), y)
        loss_g = -o_gen.mean() + args.cls * F.cross_entropy(c_gen, y)
        loss_g.backward()
        opt_g.step()
        ema_update(g_ema, g, args.ema if it > 50 else 0.0)
        rd += loss_d.item()
        rg += loss_g.item()
        done = it
        if it % 25 == 0:
            print_progress(it, args.iterations, t0, f"loss_D {rd / 25:.3f} loss_G {rg / 25:.3f}")
            rd = rg = 0.0
        if it % 100 == 0:
            grid(ema_preview_copy(g_ema, it, sample_latents_and_planes),
                 os.path.join(args.work, f"preview_{it:05d}.png"))
        if out_of_time(t0, args.max_minutes, it):
            break
    train_s = time.perf_counter() - t0

    final = g_ema
    loaded = export_with_bn_stats(final, args, sample_latents_and_planes)

    z = check_latents()
    y = torch.arange(64) % 3
    out, db, dr = check_exported(loaded, final, (z, y), shape=(64, 1, SIZE, SIZE))
    with torch.inference_mode():
        per_plane = [loaded(z, torch.full((64,), p, dtype=torch.long)) for p in range(3)]
    cond = [float((per_plane[a] - per_plane[b]).abs().mean()) for a, b in ((0, 1), (0, 2), (1, 2))]
    grid(loaded, args.grid)
    print(f"checks: batch-independence {db:.2e}, script-vs-eager {dr:.2e}, range [{float(out.min()):.3f}, {float(out.max()):.3f}], "
          f"mean |diff| between planes for the same z (ax-co, ax-sa, co-sa): {cond}")
    print_report(f"iterations: {done}  epochs: {done * args.batch / m:.1f}  slices: {m}", f"generator parameters: {n_g}",
                 train_s, T_START, args.out, wrote=args.grid)


if __name__ == "__main__":
    sys.exit(main())
