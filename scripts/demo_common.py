"""Shared code of the zoo's demonstration-model training scripts
(scripts/train_demo_*.py): the data, the GAN pieces and the run plumbing.

Data: Debian's mricron-data Colin27 ("ch2") T1 volume and its skull-stripped
version ch2bet (same 181x217x181 1 mm grid), BSD-3-clause per
/usr/share/doc/mricron-data/copyright, preprocessed once for every model.

The GAN pieces (00101's DCGAN generator and discriminator, DiffAugment, EMA,
BatchNorm re-estimation, the grid writers) are defined here: 00101
(scripts/train_demo_dcgan.py) trained with them first, and 00102 and 00103
build on its generator. The run plumbing every script shares (seeding, common
options, shuffled batches, the --max-minutes stop, TorchScript export and its
checks, the closing report) is here too; what is not about training (hash-seed
pinning, sha256) is in scripts/scriptlib.py.

Behaviour is pinned: every script gives the same weights for the same --seed
and threads, so nothing here may change what is drawn from a generator, or in
what order.
"""

import copy
import math
import os
import random
import time

import numpy as np
import nibabel as nib
import torch
import torch.nn as nn
import torch.nn.functional as F
from PIL import Image

from scriptlib import ROOT, sha256_file

T1 = "/usr/share/mricron/templates/ch2.nii.gz"
BET = "/usr/share/mricron/templates/ch2bet.nii.gz"
VIEWS = ("axial", "coronal", "sagittal")
NZ = 100  # 00101's latent size
SIZE = 64  # every demo model's image side
DEMO_00101 = os.path.join(ROOT, "bundled", "00101_DCGAN_MRI_COLIN27_DEMO.pt")


# --------------------------------------------------------------------------
# Data
# --------------------------------------------------------------------------

def load_slices(t1=T1, bet=BET, size=SIZE, min_fill=0.18, views=VIEWS):
    """The axial, coronal and sagittal slices of a T1 volume (default Colin27)
    with their brain masks, as every demo model trains on them.

    The volume is normalised once, robustly: intensities are clipped to the
    [0.5, 99.5] percentiles of the head voxels (those above 5% of the maximum)
    and mapped linearly to [-1, 1] (background -> -1). Every slice is
    zero-padded (centred) to the volume's largest in-plane extent, so that all
    views share one physical scale (1 px = 217/64 mm), then resized to size x
    size with antialiased bilinear interpolation. Slices whose head region
    covers less than `min_fill` of the square are skipped as near-empty.
    The brain mask is `bet` > 0 (the BET skull-stripped brain, on the same
    grid), resized with the same interpolation and thresholded at 0.5.

    Returns (image [M,1,size,size] in [-1,1], mask [M,1,size,size] in {0,1}
    or None when bet is None, plane int64 [M] (0 axial, 1 coronal,
    2 sagittal), flippable bool [M], info).
    """
    vol = np.asarray(nib.as_closest_canonical(nib.load(t1)).get_fdata(dtype=np.float32))  # RAS+ voxel order
    brain = None
    if bet is not None:
        brain = np.asarray(nib.as_closest_canonical(nib.load(bet)).get_fdata(dtype=np.float32)) > 0
        assert vol.shape == brain.shape, (t1, vol.shape, bet, brain.shape)
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

    imgs, masks, planes, flippable, counts = [], [], [], [], {}
    for pi, view in enumerate(views):
        axis = {"sagittal": 0, "coronal": 1, "axial": 2}[view]
        kept = 0
        for i in range(vol.shape[axis]):
            sq = to_square(np.take(vol, i, axis=axis))
            if (sq > 0.1).mean() < min_fill:
                continue
            imgs.append(sq)
            if brain is not None:
                masks.append(to_square(np.take(brain, i, axis=axis).astype(np.float32)))
            planes.append(pi)
            # Left-right flips are anatomically plausible for axial and
            # coronal slices; a horizontal flip of a sagittal slice would swap
            # anterior and posterior, so it is not used.
            flippable.append(view != "sagittal")
            kept += 1
        counts[view] = kept

    def resize(a):
        x = torch.from_numpy(np.stack(a))[:, None]  # [M,1,side,side] in [0,1]
        return F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False, antialias=True)

    x = resize(imgs).clamp(0, 1) * 2 - 1
    m = (resize(masks) > 0.5).float().contiguous() if brain is not None else None
    info = {"shape": tuple(vol.shape), "clip": (float(lo), float(hi)), "counts": counts, "side": side}
    return x.contiguous(), m, torch.tensor(planes), torch.tensor(flippable), info


def flip_and_shift(x, flippable, gen, max_shift=3):
    """Data augmentation: random left-right flips (where `flippable`, i.e.
    where anatomically fine) and shifts up to max_shift px (the uncovered
    border filled with the background value -1), applied identically to all
    channels of x [N,C,H,W], e.g. an image and its mask (as 2*mask-1) stacked."""
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
        return fast_forward(self.net, z.reshape(z.shape[0], self.nz, 1, 1))


def fast_forward(layers, x):
    """x through `layers` in training, with every ConvTranspose2d that has more
    than one output channel computed as conv_transpose_as_conv (see
    Generator.forward_fast; the 1-channel output layer gains nothing)."""
    for m in layers:
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
        return self.features_and_logit(x)[1]

    def features_and_logit(self, x):
        """(4x4 features [N,8*ndf,4,4], logit [N]): the features are what a
        conditional discriminator built on this one projects onto its classes."""
        h = self.features(x)
        std = h.std(0, unbiased=False).mean().expand(h.shape[0], 1, h.shape[2], h.shape[3])
        return h, self.head(torch.cat([h, std], 1)).reshape(-1)


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


class UNet(nn.Module):
    """x [N,1,64,64] -> logits [N,1,64,64]: 4 down_blocks (to 32, 16, 8 and
    4 px) and 4 up_blocks back with skip connections, x itself joining before
    the last 3x3 conv; GroupNorm in `groups` groups, so that no sample depends
    on the rest of the batch. 00103 segments brains with it, 00104 (a
    subclass) draws T1 slices from brain masks."""

    def __init__(self, nf: int, groups: int):
        super().__init__()
        self.e1 = down_block(1, nf, groups, norm=False)   # 32
        self.e2 = down_block(nf, nf * 2, groups)          # 16
        self.e3 = down_block(nf * 2, nf * 4, groups)      # 8
        self.e4 = down_block(nf * 4, nf * 8, groups)      # 4
        self.d4 = up_block(nf * 8, nf * 4, groups)        # 8
        self.d3 = up_block(nf * 8, nf * 2, groups)        # 16
        self.d2 = up_block(nf * 4, nf, groups)            # 32
        self.d1 = up_block(nf * 2, nf, groups)            # 64
        self.out = nn.Conv2d(nf + 1, 1, 3, 1, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.logits(x)

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        # A method of its own: TorchScript has no super(), so a subclass's
        # forward calls this one.
        h1 = self.e1(x)
        h2 = self.e2(h1)
        h3 = self.e3(h2)
        h4 = self.e4(h3)
        u = self.d4(h4)
        u = self.d3(torch.cat([u, h3], 1))
        u = self.d2(torch.cat([u, h2], 1))
        u = self.d1(torch.cat([u, h1], 1))
        return self.out(torch.cat([u, x], 1))


# --------------------------------------------------------------------------
# Run setup
# --------------------------------------------------------------------------

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


def export_with_bn_stats(model, args, sample_inputs=sample_latents):
    """Export a BatchNorm generator (the EMA one, say) to --out: first
    re-estimate its BatchNorm running statistics exactly, from batches seeded
    by --seed + 12345, since its own are stale or were never computed."""
    recompute_bn_stats(model, torch.Generator().manual_seed(args.seed + 12345), sample_inputs=sample_inputs)
    return export_torchscript(model, args.out)


def check_latents(nz=NZ, n=64):
    """The latents the export checks and sample grids use:
    torch.manual_seed(0); torch.randn(n, nz) (global RNG, as when the models
    shipped, so that their documented grids can be redrawn)."""
    torch.manual_seed(0)
    return torch.randn(n, nz)


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


# --------------------------------------------------------------------------
# Images
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
