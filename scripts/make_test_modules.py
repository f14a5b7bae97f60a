#!/usr/bin/python3
"""Build the small TorchScript modules the Go tests run through LibTorch.

Usage: /usr/bin/python3 scripts/make_test_modules.py [--only NAME ...] [--list] OUTDIR

They are made at test time with Debian's python3-torch rather than
committed, so the tests always exercise files written by the same PyTorch
generation that users export with. Each module has a fixed, documented
behaviour the tests check exactly.
"""
import argparse
import io
import os
import pickle
import sys
from typing import Dict, List, Tuple

import torch


class Affine(torch.nn.Module):
    """forward(x) = 2x + 1."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return 2 * x + 1


class Pair(torch.nn.Module):
    """Tuple output: (x, 2x)."""

    def forward(self, x: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        return x, 2 * x


class Named(torch.nn.Module):
    """Dict output: image = x, mask = (x > 0) as float."""

    def forward(self, x: torch.Tensor) -> Dict[str, torch.Tensor]:
        return {"image": x, "mask": (x > 0).float()}


class Boom(torch.nn.Module):
    """Raises when any input value is negative."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if bool((x < 0).any()):
            raise RuntimeError("negative input is not allowed")
        return x


class NotTensor(torch.nn.Module):
    """Returns an int, which zoo must refuse with an error."""

    def forward(self, x: torch.Tensor) -> int:
        return int(x.numel())


class CondAdd(torch.nn.Module):
    """Two inputs: z [N, D] float and c [N] int64 -> z + c[:, None]."""

    def forward(self, z: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        return z + c.unsqueeze(1).to(z.dtype)


class TinyGenerator(torch.nn.Module):
    """A deterministic noise->image generator: z [N, 8] -> [N, 1, 4, 4] in [-1, 1].

    Weights come from a fixed seed, so Go tests can compare against values
    this script also writes (tiny_generator_expected.txt).
    """

    def __init__(self):
        super().__init__()
        g = torch.Generator().manual_seed(1234)
        self.weight = torch.nn.Parameter(torch.randn(16, 8, generator=g) * 0.5)
        self.bias = torch.nn.Parameter(torch.randn(16, generator=g) * 0.1)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        y = torch.tanh(torch.nn.functional.linear(z, self.weight, self.bias))
        return y.reshape(z.shape[0], 1, 4, 4)


class TinyRGB(torch.nn.Module):
    """z [N, 8] -> [N, 3, 4, 4] in [0, 1] (sigmoid)."""

    def __init__(self):
        super().__init__()
        g = torch.Generator().manual_seed(99)
        self.weight = torch.nn.Parameter(torch.randn(48, 8, generator=g))

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(torch.nn.functional.linear(z, self.weight)).reshape(z.shape[0], 3, 4, 4)


class CondGenerator(torch.nn.Module):
    """z [N, 8], c [N] int64 -> [N, 1, 4, 4]: tanh(linear(z)) / 2 + (c - 0.5) / 2.

    The condition shifts the image, so tests can see conditions change it.
    """

    def __init__(self):
        super().__init__()
        g = torch.Generator().manual_seed(7)
        self.weight = torch.nn.Parameter(torch.randn(16, 8, generator=g))

    def forward(self, z: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        y = torch.tanh(torch.nn.functional.linear(z, self.weight)) / 2
        y = y + (c.to(z.dtype).unsqueeze(1) - 0.5) / 2
        return y.reshape(z.shape[0], 1, 4, 4)


class NaNGenerator(torch.nn.Module):
    """z [N, 8] -> [N, 1, 4, 4] with a NaN in every sample."""

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        y = torch.zeros(z.shape[0], 1, 4, 4)
        y[:, 0, 0, 0] = float("nan")
        return y


class WrongShape(torch.nn.Module):
    """z [N, 8] -> [N, 1, 5, 5], not the declared 4x4."""

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return torch.zeros(z.shape[0], 1, 5, 5)


class Translate(torch.nn.Module):
    """Image to image: x [N, 1, 8, 8] in [0, 1] -> 1 - x."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return 1 - x


class NoisyTranslate(torch.nn.Module):
    """Noise and image: z [N, 8], x [N, 1, 8, 8] -> x / 2 + 0.25 + tanh(z[:, 0]) / 4.

    The output depends on both the latent (seed) and the input image.
    """

    def forward(self, z: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        return x / 2 + 0.25 + torch.tanh(z[:, 0]).reshape(-1, 1, 1, 1) / 4


class ImageMask(torch.nn.Module):
    """Image to image and mask: x [N, 1, 8, 8] in [0, 1] -> dict
    image = 1 - x, mask = (x > 0.5) as float (binary), label = floor(3x)
    clamped to 0..2 (label indices)."""

    def forward(self, x: torch.Tensor) -> Dict[str, torch.Tensor]:
        return {
            "image": 1 - x,
            "mask": (x > 0.5).float(),
            "label": torch.clamp(torch.floor(x * 3), 0, 2),
        }


class FourChannel(torch.nn.Module):
    """z [N, 8] -> [N, 4, 4, 4] in [-1, 1]: channels 0-2 an "RGB image", 3 a "mask",
    each channel a different function of z so a wrong split shows."""

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        chans = [torch.tanh(z[:, :4] * (k + 1) - k).repeat(1, 4) for k in range(4)]
        return torch.stack(chans, 1).reshape(z.shape[0], 4, 4, 4)


class Inpaint(torch.nn.Module):
    """Two image inputs: x, m [N, 1, 8, 8] -> x where m < 0.5, else 0.25."""

    def forward(self, x: torch.Tensor, m: torch.Tensor) -> torch.Tensor:
        return torch.where(m < 0.5, x, torch.full_like(x, 0.25))


class FloatCond(torch.nn.Module):
    """z [N, 8], c float32 [N] -> [N, 1, 4, 4] = tanh(z-ish) * c."""

    def forward(self, z: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        return (torch.tanh(z).repeat(1, 2) * c.unsqueeze(1)).reshape(z.shape[0], 1, 4, 4)


class NoisyGen(torch.nn.Module):
    """z [N, 8] -> [N, 1, 4, 4] with torch.randn noise drawn inside forward."""

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        y = torch.tanh(z.repeat(1, 2)) + 0.1 * torch.randn(z.shape[0], 16)
        return y.reshape(z.shape[0], 1, 4, 4)


class CounterGen(torch.nn.Module):
    """z [N, 8] -> [N, 1, 4, 4] = tanh(z) / 2 + calls / 100: it counts its calls in a buffer,
    so two runs of the same inputs differ (what zoo validate must catch, seeded or not)."""

    def __init__(self):
        super().__init__()
        self.register_buffer("calls", torch.zeros(1))

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        self.calls.add_(1)
        y = torch.tanh(z.repeat(1, 2)) / 2 + self.calls / 100
        return y.reshape(z.shape[0], 1, 4, 4)


class StepAlpha(torch.nn.Module):
    """forward(z, step: int, alpha: float), as ProGAN's: [N, 1, 4, 4] = tanh(z) * step * alpha / 10."""

    def forward(self, z: torch.Tensor, step: int, alpha: float) -> torch.Tensor:
        return (torch.tanh(z.repeat(1, 2)) * float(step) * alpha / 10).reshape(z.shape[0], 1, 4, 4)


class WantsDCGANLatent(torch.nn.Module):
    """A DCGAN-like first layer: z [N, 8, 1, 1] -> [N, 1, 4, 4] (a [N, 8] latent is an error)."""

    def __init__(self):
        super().__init__()
        self.up = torch.nn.ConvTranspose2d(8, 1, 4, 1, 0)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return torch.tanh(self.up(z))


# Hostile modules for the reliability corpus (docs/reliability.md): each
# misbehaves in one way zoo must survive with a clear error.


class Hang(torch.nn.Module):
    """z [N, 8] -> never returns: a loop whose condition stays true."""

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        y = z
        i = 0
        while i >= 0:
            y = y * 1.0
            i = (i + 1) % 1000
        return y.reshape(z.shape[0], 1, 4, 4)


class DtypeOut(torch.nn.Module):
    """z [N, 8] -> [N, 1, 4, 4] zeros of one dtype (int64, bool, float16, complex64, float64)."""

    def __init__(self, dtype: torch.dtype):
        super().__init__()
        self.dtype = dtype

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return (torch.tanh(z.repeat(1, 2)).reshape(z.shape[0], 1, 4, 4) > 0).to(self.dtype)


class HugeOut(torch.nn.Module):
    """z [N, 8] -> [N, 1, 4096, 4096]: 64 MiB a sample, far beyond a declared 4x4."""

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return torch.zeros(z.shape[0], 1, 4096, 4096)


class RaiseAlways(torch.nn.Module):
    """z [N, 8] -> raises on every call."""

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        raise RuntimeError("this model always fails")


class Truncating(torch.nn.Module):
    """z [N, 8] -> [N-1, 1, 4, 4]: one sample too few."""

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return torch.zeros(z.shape[0] - 1, 1, 4, 4)


class EmptyTuple(torch.nn.Module):
    """z [N, 8] -> an empty list of tensors."""

    def forward(self, z: torch.Tensor) -> List[torch.Tensor]:
        return []


class TensorsThenInt(torch.nn.Module):
    """x -> (8 MiB tensor, 8 MiB tensor, 0): zoo refuses the int after it has
    made outputs of the two tensors, which must then be freed (no leak)."""

    def forward(self, x: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor, int]:
        big = torch.ones(1 << 21) * x.sum()
        return big, big + 1, 0


def modules():
    """Every scripted module, by file name."""
    return {
        "affine.pt": Affine(),
        "pair.pt": Pair(),
        "named.pt": Named(),
        "boom.pt": Boom(),
        "not_tensor.pt": NotTensor(),
        "cond_add.pt": CondAdd(),
        "tiny_generator.pt": TinyGenerator(),
        "tiny_rgb.pt": TinyRGB(),
        "cond_generator.pt": CondGenerator(),
        "nan_generator.pt": NaNGenerator(),
        "wrong_shape.pt": WrongShape(),
        "translate.pt": Translate(),
        "noisy_translate.pt": NoisyTranslate(),
        "image_mask.pt": ImageMask(),
        "four_channel.pt": FourChannel(),
        "inpaint.pt": Inpaint(),
        "float_cond.pt": FloatCond(),
        "noisy_gen.pt": NoisyGen(),
        "counter_gen.pt": CounterGen(),
        "step_alpha.pt": StepAlpha(),
        "wants_dcgan_latent.pt": WantsDCGANLatent(),
        "hang.pt": Hang(),
        "int64_out.pt": DtypeOut(torch.int64),
        "bool_out.pt": DtypeOut(torch.bool),
        "half_out.pt": DtypeOut(torch.float16),
        "complex_out.pt": DtypeOut(torch.complex64),
        "double_out.pt": DtypeOut(torch.float64),
        "huge_out.pt": HugeOut(),
        "raise_always.pt": RaiseAlways(),
        "truncating.pt": Truncating(),
        "empty_list.pt": EmptyTuple(),
        "tensors_then_int.pt": TensorsThenInt(),
    }


# Files that are not TorchScript, or not whole: what users hand zoo by mistake.
BROKEN = ["truncated.pt", "garbage.pt", "empty.pt", "state_dict.pt", "pickled_module.pt"]


def parse_args(argv):
    parser = argparse.ArgumentParser(
        description="Build the TorchScript modules (and broken files) the Go tests load.",
        epilog="Example: /usr/bin/python3 scripts/make_test_modules.py --only hang.pt /tmp/mods",
    )
    parser.add_argument("outdir", nargs="?", help="directory to write the modules into (created if missing)")
    parser.add_argument("--only", nargs="+", metavar="NAME", help="write only these files (e.g. affine.pt)")
    parser.add_argument("--list", action="store_true", help="print the file names this script writes, then exit")
    args = parser.parse_args(argv)
    known = list(modules()) + BROKEN + ["tiny_generator_expected.txt"]
    if args.list:
        print("\n".join(known))
        sys.exit(0)
    if not args.outdir:
        parser.error("OUTDIR is required (the directory to write the modules into)")
    if args.outdir.startswith("-"):
        parser.error("OUTDIR %r looks like an option; put ./ in front if you mean a directory" % args.outdir)
    for name in args.only or []:
        if name not in known:
            parser.error("--only %s: no such file; --list shows the names" % name)
    return args


def main(argv=None):
    args = parse_args(sys.argv[1:] if argv is None else argv)
    out = args.outdir
    wanted = set(args.only or [])

    def want(name):
        return not wanted or name in wanted

    os.makedirs(out, exist_ok=True)
    torch.manual_seed(0)
    for name, module in modules().items():
        if want(name):
            torch.jit.save(torch.jit.script(module.eval()), os.path.join(out, name))

    # Broken files: a truncated module, random bytes, an empty file, a plain
    # pickled state dict (what torch.save writes, not TorchScript) and a whole
    # pickled module (torch.save(model)), the other common mistake.
    buf = io.BytesIO()
    torch.jit.save(torch.jit.script(Affine().eval()), buf)
    broken = {
        "truncated.pt": lambda path: open(path, "wb").write(buf.getvalue()[: len(buf.getvalue()) // 2]),
        "garbage.pt": lambda path: open(path, "wb").write(bytes((i * 7919) % 251 for i in range(4096))),
        "empty.pt": lambda path: open(path, "wb").close(),
        "state_dict.pt": lambda path: torch.save(TinyGenerator().state_dict(), path),
        "pickled_module.pt": lambda path: torch.save(TinyGenerator(), path, pickle_module=pickle),
    }
    assert sorted(broken) == sorted(BROKEN)
    for name, write in broken.items():
        if want(name):
            write(os.path.join(out, name))

    # Reference output of TinyGenerator for z = arange(16).reshape(2, 8) / 10.
    if want("tiny_generator_expected.txt"):
        z = torch.arange(16, dtype=torch.float32).reshape(2, 8) / 10
        with torch.no_grad():
            y = TinyGenerator()(z)
        with open(os.path.join(out, "tiny_generator_expected.txt"), "w") as f:
            f.write(" ".join(repr(float(v)) for v in y.flatten()))


if __name__ == "__main__":
    main()
