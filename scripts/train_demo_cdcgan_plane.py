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
import random
import sys
import time

T_START = time.perf_counter()
if __name__ == "__main__" and os.environ.get("PYTHONHASHSEED") != "0":
    os.environ["PYTHONHASHSEED"] = "0"
    os.execv(sys.executable, [sys.executable] + sys.argv)

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn as nn  # noqa: E402
import torch.nn.functional as F  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from demo_common import (  # noqa: E402
    Generator, Discriminator, conv_transpose_as_conv, diff_augment, ema_update, load_pairs,
    augment_pair, save_panels, sha256_file, DEMO_00101, NZ, SIZE, VIEWS,
)

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
        for m in self.body:
            if isinstance(m, nn.ConvTranspose2d) and m.out_channels > 1:
                h = conv_transpose_as_conv(h, m)
            else:
                h = m(h)
        return h

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
        h = self.base.features(x)
        std = h.std(0, unbiased=False).mean().expand(h.shape[0], 1, h.shape[2], h.shape[3])
        out = self.base.head(torch.cat([h, std], 1)).reshape(-1)
        return out + (self.embed(y) * h.sum([2, 3])).sum(1), self.cls(h.flatten(1))


@torch.no_grad()
def recompute_bn(g, gen, batches=100, batch_size=64):
    bns = [m for m in g.modules() if isinstance(m, nn.BatchNorm2d)]
    for m in bns:
        m.reset_running_stats()
        m.momentum = None
    g.train()
    for _ in range(batches):
        g(torch.randn(batch_size, NZ, generator=gen), torch.randint(0, 3, (batch_size,), generator=gen))
    for m in bns:
        m.momentum = 0.1
    g.eval()


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
    ap = argparse.ArgumentParser()
    ap.add_argument("--iterations", type=int, default=600)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--lr", type=float, default=2e-4)
    ap.add_argument("--init-scale", type=float, default=2.0, help="scale of the initial plane latent offsets")
    ap.add_argument("--cls", type=float, default=1.0, help="weight of the auxiliary plane-classification loss (AC-GAN)")
    ap.add_argument("--lr-d", type=float, default=2e-4)
    ap.add_argument("--ema", type=float, default=0.99)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--max-minutes", type=float, default=11.0, help="stop training early after this long (recorded)")
    ap.add_argument("--out", default=os.path.join("bundled", MODEL_ID + ".pt"))
    ap.add_argument("--grid", default=os.path.join("docs", "models", MODEL_ID + ".png"))
    ap.add_argument("--work", default="/tmp/demo_work/00102")
    args = ap.parse_args()

    torch.set_num_threads(args.threads)
    random.seed(args.seed)
    np.random.seed(args.seed)
    torch.manual_seed(args.seed)
    gen = torch.Generator().manual_seed(args.seed)
    os.makedirs(args.work, exist_ok=True)

    data, _, planes, flippable, info = load_pairs()
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
    n_g = sum(p.numel() for p in g.parameters())
    n_d = sum(p.numel() for p in d.parameters())
    print(f"generator parameters: {n_g}  discriminator parameters: {n_d}", flush=True)
    counts = init_plane_embedding(g, data, planes, torch.Generator().manual_seed(args.seed + 1), scale=args.init_scale)
    print(f"00101 samples labelled by nearest real plane (axial, coronal, sagittal): {counts}", flush=True)
    g_ema = copy.deepcopy(g).eval()
    opt_g = torch.optim.Adam(g.parameters(), lr=args.lr, betas=(0.5, 0.999))
    opt_d = torch.optim.Adam(d.parameters(), lr=args.lr_d, betas=(0.5, 0.999))

    t0 = time.perf_counter()
    order = torch.randperm(m, generator=gen)
    pos = 0
    done = 0
    rd = rg = 0.0
    for it in range(1, args.iterations + 1):
        if pos + args.batch > m:
            order = torch.randperm(m, generator=gen)
            pos = 0
        idx = order[pos:pos + args.batch]
        pos += args.batch
        real = augment_pair(data[idx], flippable[idx], gen)
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
            el = time.perf_counter() - t0
            print(f"it {it}/{args.iterations} loss_D {rd / 25:.3f} loss_G {rg / 25:.3f} {el:.0f}s ({el / it:.2f}s/it)", flush=True)
            rd = rg = 0.0
        if it % 100 == 0:
            tmp = copy.deepcopy(g_ema)
            recompute_bn(tmp, torch.Generator().manual_seed(it), batches=10)
            grid(tmp, os.path.join(args.work, f"preview_{it:05d}.png"))
        if time.perf_counter() - t0 > args.max_minutes * 60:
            print(f"stopping early at iteration {it} (--max-minutes)", flush=True)
            break
    train_s = time.perf_counter() - t0

    final = g_ema
    recompute_bn(final, torch.Generator().manual_seed(args.seed + 12345))
    final.eval()
    for p in final.parameters():
        p.requires_grad_(False)
    scripted = torch.jit.script(final)
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    torch.jit.save(scripted, args.out)

    loaded = torch.jit.load(args.out).eval()
    torch.manual_seed(0)
    z = torch.randn(64, NZ)
    y = torch.arange(64) % 3
    with torch.inference_mode():
        out = loaded(z, y)
        one = loaded(z[5:6], y[5:6])
        ref = final(z, y)
        per_plane = [loaded(z, torch.full((64,), p, dtype=torch.long)) for p in range(3)]
    assert out.shape == (64, 1, SIZE, SIZE) and out.dtype == torch.float32
    assert float(out.min()) >= -1 and float(out.max()) <= 1
    db = float((out[5:6] - one).abs().max())
    dr = float((out - ref).abs().max())
    assert db < 1e-4 and dr < 1e-5, (db, dr)
    cond = [float((per_plane[a] - per_plane[b]).abs().mean()) for a, b in ((0, 1), (0, 2), (1, 2))]
    grid(loaded, args.grid)
    size = os.path.getsize(args.out)
    wall = time.perf_counter() - T_START
    print(f"checks: batch-independence {db:.2e}, script-vs-eager {dr:.2e}, range [{float(out.min()):.3f}, {float(out.max()):.3f}], "
          f"mean |diff| between planes for the same z (ax-co, ax-sa, co-sa): {cond}")
    print(f"iterations: {done}  epochs: {done * args.batch / m:.1f}  slices: {m}")
    print(f"generator parameters: {n_g}")
    print(f"training time: {train_s:.1f} s  total wall time: {wall:.1f} s ({wall / 60:.1f} min)")
    print(f"wrote {args.grid}")
    print(f"artifact: {args.out}  size: {size} bytes")
    print(f"sha256: {sha256_file(args.out)}")


if __name__ == "__main__":
    sys.exit(main())
