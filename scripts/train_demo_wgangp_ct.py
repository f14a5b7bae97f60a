#!/usr/bin/python3
"""Train the demo model 00105_WGANGP_CT_HEAD_DEMO.

An unconditional WGAN-GP that generates 64x64 axial head CT slices.
forward(z [N,128] float32 standard normal) -> [N,1,64,64] float32 in [-1,1],
where v in [-1,1] means HU = 40 + 200 v (soft-tissue window, level 40 HU,
width 400 HU; air -> -1, bone saturates at +1).

Data: the "Cranium" example of Debian's invesalius-examples
(/usr/share/doc/invesalius-examples/examples/Cranium.inv3, a gzipped tar of an
InVesalius 3 project: matrix.dat is an int16 HU volume of 108 x 256 x 256,
0.957 x 0.957 x 1.5 mm, "ProMED CT 0051"), GPL-2 per
/usr/share/doc/invesalius-examples/copyright. Hence these weights are
distributed under GPL-2.0 as well.

Recipe (a different architecture from 00101-00104): generator = linear
projection to 128x4x4, then 4 x (nearest upsample, 3x3 conv, BatchNorm,
ReLU; 96, 48, 24, 12 channels), 3x3 conv, Tanh; critic = 4 stride-2 4x4
convs (16-128 channels) with LeakyReLU and no normalisation, linear head
(training only). WGAN loss with gradient penalty
(lambda 10), n_critic critic steps per generator step, Adam 1e-4 betas
(0.0, 0.9), random left-right flips and small shifts of the data, EMA of the
generator weights, BatchNorm statistics re-estimated before export with
torch.jit.script in eval mode. DEMONSTRATION model only.

    /usr/bin/python3 scripts/train_demo_wgangp_ct.py --iterations 1500 --lr 2e-4 --seed 1 --threads 2

(the shipped model came from that command with --max-minutes 9 and --out,
--grid, --work under /tmp; the .pt was then re-saved under its bundled name.)
"""

import argparse
import copy
import os
import sys
import tarfile
import time

T_START = time.perf_counter()

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn as nn  # noqa: E402
import torch.nn.functional as F  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from demo_common import (  # noqa: E402
    ema_update, flip_and_shift, save_grid, add_run_args, start_run, count_parameters, ema_preview_copy,
    print_progress, out_of_time, export_with_bn_stats, check_latents, check_exported, print_report,
)
from scriptlib import pin_hash_seed  # noqa: E402

MODEL_ID = "00105_WGANGP_CT_HEAD_DEMO"
INV3 = "/usr/share/doc/invesalius-examples/examples/Cranium.inv3"
NZ = 128
SIZE = 64
LEVEL, WIDTH = 40.0, 400.0


def load_ct(path=INV3, size=SIZE, min_fill=0.15):
    with tarfile.open(path, "r:gz") as tf:
        member = [m for m in tf.getmembers() if m.name.endswith("matrix.dat")][0]
        raw = tf.extractfile(member).read()
    vol = np.frombuffer(raw, dtype=np.int16).reshape(108, 256, 256).astype(np.float32)
    vol = vol[:, ::-1, :]  # head rest (posterior) at the bottom, anterior up
    lo = LEVEL - WIDTH / 2
    win = np.clip((vol - lo) / WIDTH, 0, 1)
    keep = [i for i in range(vol.shape[0]) if (vol[i] > -300).mean() >= min_fill]
    x = torch.from_numpy(np.ascontiguousarray(win[keep]))[:, None]
    x = F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False, antialias=True)
    return (x.clamp(0, 1) * 2 - 1).contiguous(), {"slices": len(keep), "of": vol.shape[0],
                                                   "hu": (float(vol.min()), float(vol.max()))}


class Generator(nn.Module):
    def __init__(self, nz: int = NZ, ch: int = 128):
        super().__init__()
        self.nz = nz
        self.ch = ch
        self.fc = nn.Linear(nz, ch * 16)
        self.bn0 = nn.BatchNorm2d(ch)
        blocks = []
        c = ch
        for co in (96, 48, 24, 12):
            blocks += [nn.Upsample(scale_factor=2.0, mode="nearest"), nn.Conv2d(c, co, 3, 1, 1, bias=False),
                       nn.BatchNorm2d(co), nn.ReLU()]
            c = co
        blocks += [nn.Conv2d(c, 1, 3, 1, 1), nn.Tanh()]
        self.body = nn.Sequential(*blocks)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        h = self.fc(z).reshape(z.shape[0], self.ch, 4, 4)
        return self.body(F.relu(self.bn0(h)))


class Critic(nn.Module):
    def __init__(self, nf=16):
        super().__init__()
        self.net = nn.Sequential(
            nn.Conv2d(1, nf, 4, 2, 1), nn.LeakyReLU(0.2),
            nn.Conv2d(nf, nf * 2, 4, 2, 1), nn.LeakyReLU(0.2),
            nn.Conv2d(nf * 2, nf * 4, 4, 2, 1), nn.LeakyReLU(0.2),
            nn.Conv2d(nf * 4, nf * 8, 4, 2, 1), nn.LeakyReLU(0.2),
        )
        self.fc = nn.Linear(nf * 8 * 16, 1)

    def forward(self, x):
        return self.fc(self.net(x).flatten(1)).reshape(-1)


def gradient_penalty(c, real, fake, gen):
    a = torch.rand(real.shape[0], 1, 1, 1, generator=gen)
    x = (a * real + (1 - a) * fake).requires_grad_(True)
    g, = torch.autograd.grad(c(x).sum(), x, create_graph=True)
    return ((g.flatten(1).norm(dim=1) - 1) ** 2).mean()


def sample_latents(n, gen):
    """forward() arguments for BatchNorm re-estimation: this model's
    NZ-dimensional latents (00101's default sampler draws 100)."""
    return (torch.randn(n, NZ, generator=gen),)


def main():
    pin_hash_seed()
    ap = argparse.ArgumentParser()
    ap.add_argument("--iterations", type=int, default=600, help="generator updates")
    ap.add_argument("--n-critic", type=int, default=3)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--lr", type=float, default=1e-4)
    ap.add_argument("--gp", type=float, default=10.0)
    ap.add_argument("--ema", type=float, default=0.99)
    add_run_args(ap, MODEL_ID, work="/tmp/demo_work/00105", max_minutes=11.0)
    args = ap.parse_args()
    gen = start_run(args)

    data, info = load_ct()
    m = data.shape[0]
    flippable = torch.ones(m, dtype=torch.bool)
    print(f"CT {info}", flush=True)
    save_grid(data[torch.linspace(0, m - 1, 64).round().long()], os.path.join(args.work, "real.png"))

    g = Generator()
    c = Critic()
    n_g = count_parameters(g)
    n_c = count_parameters(c)
    print(f"generator parameters: {n_g}  critic parameters: {n_c}", flush=True)
    g_ema = copy.deepcopy(g).eval()
    opt_g = torch.optim.Adam(g.parameters(), lr=args.lr, betas=(0.0, 0.9))
    opt_c = torch.optim.Adam(c.parameters(), lr=args.lr, betas=(0.0, 0.9))
    fixed = torch.randn(64, NZ, generator=torch.Generator().manual_seed(0))

    def batch():
        idx = torch.randint(0, m, (args.batch,), generator=gen)
        return flip_and_shift(data[idx], flippable[idx], gen, max_shift=2)

    t0 = time.perf_counter()
    done = 0
    rc = rw = 0.0
    for it in range(1, args.iterations + 1):
        for _ in range(args.n_critic):
            real = batch()
            with torch.no_grad():
                fake = g(torch.randn(args.batch, NZ, generator=gen))
            opt_c.zero_grad(set_to_none=True)
            wd = c(real).mean() - c(fake).mean()
            loss_c = -wd + args.gp * gradient_penalty(c, real, fake, gen)
            loss_c.backward()
            opt_c.step()
        opt_g.zero_grad(set_to_none=True)
        loss_g = -c(g(torch.randn(args.batch, NZ, generator=gen))).mean()
        loss_g.backward()
        opt_g.step()
        ema_update(g_ema, g, args.ema if it > 50 else 0.0)
        rc += loss_c.item()
        rw += wd.item()
        done = it
        if it % 25 == 0:
            print_progress(it, args.iterations, t0, f"loss_C {rc / 25:.3f} W-dist {rw / 25:.3f}")
            rc = rw = 0.0
        if it % 100 == 0:
            with torch.no_grad():
                save_grid(ema_preview_copy(g_ema, it, sample_latents)(fixed),
                          os.path.join(args.work, f"preview_{it:05d}.png"))
        if out_of_time(t0, args.max_minutes, it):
            break
    train_s = time.perf_counter() - t0

    final = g_ema
    loaded = export_with_bn_stats(final, args, sample_latents)

    z = check_latents(NZ)
    out, db, dr = check_exported(loaded, final, (z,), shape=(64, 1, SIZE, SIZE))
    save_grid(out, args.grid)
    print(f"checks: batch-independence {db:.2e}, script-vs-eager {dr:.2e}, range [{float(out.min()):.3f}, {float(out.max()):.3f}], "
          f"mean pixel std across samples {float(out.flatten(1).std(0).mean()):.3f}")
    print_report(f"iterations: {done} generator updates ({done * args.n_critic} critic updates)  "
                 f"epochs (critic batches): {done * args.n_critic * args.batch / m:.1f}  slices: {m}",
                 f"generator parameters: {n_g}", train_s, T_START, args.out, wrote=args.grid)


if __name__ == "__main__":
    sys.exit(main())
