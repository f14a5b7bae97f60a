#!/usr/bin/python3
"""Prepare images and extract features as a reference FID implementation does.

Usage:

    /usr/bin/python3 scripts/protocol_reference.py --protocol P --extractor FILE.pt \\
        --pix OUT_PIX.npy --features OUT_FEATURES.npy IMAGE...
    /usr/bin/python3 scripts/protocol_reference.py --make-test-extractor DIR

P is clean-fid, pytorch-fid or torch-fidelity. Each image is read and resized
the way that reference's own code does (written from its documented
behaviour, checked against its source; Debian's Pillow 9.4, numpy and
torch 1.13):

clean-fid (mode "clean", cleanfid/utils.py + cleanfid/resize.py)
    np.array(Image.open(p).convert('RGB')) (uint8), then per channel
    Image.fromarray(ch.astype(float32), mode='F').resize((W, H), BICUBIC),
    clipped to 0..255 and kept float32 (not re-quantized): 0..255 scale.
pytorch-fid (pytorch_fid/fid_score.py + inception.py)
    Image.open(p).convert('RGB'), ToTensor() (/255), then
    F.interpolate(x, size=(H, W), mode='bilinear', align_corners=False),
    no antialiasing: 0..1 scale.
torch-fidelity (datasets.py + feature_extractor_inceptionv3.py)
    Image.open(p).convert('RGB') as a uint8 tensor, .float(), then TF1's
    resize_bilinear with align_corners=False: source coordinate d*in/out, no
    half-pixel offset, no antialiasing (interpolate_bilinear_2d_like_
    tensorflow1x, method "slow"): 0..255 scale.

The resized values are then mapped onto the extractor's input by its spec
FILE.toml (range, mean, std, channels), as zoo maps every protocol's: the
network is the extractor's. The prepared input [N, 3, H, W] (float32) and the
extractor's features [N, dim] are written as .npy files for zoo's tests
(features/protocol_test.go) to compare with Go's.

--make-test-extractor writes DIR/tiny.pt and DIR/tiny.toml: a small random
convolutional extractor (30x34 input, 16 features) that runs in milliseconds.
"""

import argparse
import os
import sys
import tomllib

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image


def read_rgb(path):
    """Every reference reads a file as PIL's convert('RGB') gives it."""
    return np.array(Image.open(path).convert("RGB"))  # H x W x 3 uint8


def clean_fid(rgb, h, w):
    planes = []
    for c in range(3):
        img = Image.fromarray(rgb[:, :, c].astype(np.float32), mode="F")
        img = img.resize((w, h), resample=Image.BICUBIC)
        planes.append(np.asarray(img).clip(0, 255).reshape(h, w))
    return np.stack(planes).astype(np.float32), 255.0  # 3 x H x W


def pytorch_fid(rgb, h, w):
    x = torch.from_numpy(rgb).permute(2, 0, 1).float().div(255)[None]  # ToTensor
    if x.shape[2:] != (h, w):
        x = F.interpolate(x, size=(h, w), mode="bilinear", align_corners=False)
    return x[0].numpy(), 1.0


def tf1_bilinear(x, h, w):
    """TF1 resize_bilinear(align_corners=False) on [N, C, H, W] float32."""
    ih, iw = x.shape[2], x.shape[3]

    def taps(n_in, n_out):
        g = torch.arange(n_out, dtype=torch.float32) * torch.tensor(n_in / n_out, dtype=torch.float32)
        lo = g.long()
        hi = (lo + 1).clamp_max(n_in - 1)
        return lo, hi, g - lo.float()

    ylo, yhi, dy = taps(ih, h)
    xlo, xhi, dx = taps(iw, w)
    top, bottom = x[:, :, ylo, :], x[:, :, yhi, :]
    t = top[:, :, :, xlo] + (top[:, :, :, xhi] - top[:, :, :, xlo]) * dx.view(1, 1, 1, w)
    b = bottom[:, :, :, xlo] + (bottom[:, :, :, xhi] - bottom[:, :, :, xlo]) * dx.view(1, 1, 1, w)
    return t + (b - t) * dy.view(1, 1, h, 1)


def torch_fidelity(rgb, h, w):
    x = torch.from_numpy(rgb).permute(2, 0, 1)[None].float()
    return tf1_bilinear(x, h, w)[0].numpy(), 255.0


PROTOCOLS = {"clean-fid": clean_fid, "pytorch-fid": pytorch_fid, "torch-fidelity": torch_fidelity}


def to_network(planes, top, spec):
    """[0, top] values -> the spec's range, mean, std and channel order."""
    lo, hi = spec.get("range", [0.0, 1.0])
    mean = np.array(spec.get("mean", [0.0, 0.0, 0.0]), dtype=np.float64).reshape(3, 1, 1)
    std = np.array(spec.get("std", [1.0, 1.0, 1.0]), dtype=np.float64).reshape(3, 1, 1)
    v = lo + (hi - lo) * (planes.astype(np.float64) / top)
    if spec.get("channels", "RGB") == "BGR":
        v = v[::-1]
    return ((v - mean) / std).astype(np.float32)


class Tiny(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv2d(3, 8, 5, stride=2)
        self.fc = torch.nn.Linear(8, 16)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(torch.tanh(self.conv(x)).mean(dim=(2, 3)))


def make_test_extractor(out):
    os.makedirs(out, exist_ok=True)
    torch.manual_seed(0)
    torch.jit.script(Tiny().eval()).save(os.path.join(out, "tiny.pt"))
    with open(os.path.join(out, "tiny.toml"), "w") as f:
        f.write('name = "tiny"\ninput_size = [30, 34]\nresize = "bilinear"\nrange = [0.0, 255.0]\n'
                'mean = [128.0, 120.0, 110.0]\nstd = [128.0, 64.0, 100.0]\nchannels = "BGR"\ndim = 16\n')


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--protocol", choices=sorted(PROTOCOLS))
    ap.add_argument("--extractor", help="TorchScript FILE.pt, its spec beside it as FILE.toml")
    ap.add_argument("--pix", help="write the prepared network input here (.npy)")
    ap.add_argument("--features", help="write the features here (.npy)")
    ap.add_argument("--make-test-extractor", metavar="DIR")
    ap.add_argument("images", nargs="*")
    a = ap.parse_args(argv)
    if a.make_test_extractor:
        make_test_extractor(a.make_test_extractor)
        return 0
    if not (a.protocol and a.extractor and a.images):
        ap.error("give --protocol, --extractor and images (or --make-test-extractor DIR)")
    torch.set_num_threads(1)
    with open(a.extractor[: -len(".pt")] + ".toml", "rb") as f:
        spec = tomllib.load(f)
    h, w = spec["input_size"]
    pix = []
    for p in a.images:
        planes, top = PROTOCOLS[a.protocol](read_rgb(p), h, w)
        pix.append(to_network(planes, top, spec))
    x = torch.from_numpy(np.stack(pix))
    if a.pix:
        np.save(a.pix, x.numpy())
    if a.features:
        m = torch.jit.load(a.extractor).eval()
        with torch.inference_mode():
            feats = m(x, *spec.get("forward_args", []))
        np.save(a.features, feats.reshape(len(pix), -1).numpy().astype(np.float32))
    return 0


if __name__ == "__main__":
    sys.exit(main())
