#!/usr/bin/python3
"""Export FID feature extractors to TorchScript, each with a TOML spec sidecar.

Usage:

    /usr/bin/python3 scripts/export_extractors.py --out DIR \\
        [--which inception-v3-random,radimagenet-resnet50-random] [--seed 0] \\
        [--radimagenet-weights FILE.pth] [--threads 2]

For each extractor it writes DIR/<name>.pt (a TorchScript module) and
DIR/<name>.toml (how to feed it and what it returns), which the Go package
`features` reads. The sidecar keys are: name, title, input_size [H, W],
resize, range [lo, hi] (pixel values fed in, before mean/std), mean, std,
channels ("RGB" or "BGR"), forward_args (scalar arguments after the image
tensor), output, dim, weights and sha256 (of the .pt file).

Extractors
----------

inception-v3-random
    torchvision's Inception-v3 ARCHITECTURE with RANDOM weights
    (torch.manual_seed(seed), torchvision's own init), wrapped so that its
    interface is the one of the TorchScript FID detector that StyleGAN2-ADA,
    StyleGAN3 and clean-fid use, `inception-2015-12-05.pt`:
    `forward(img, return_features: bool = False)`, img float32 [N, 3, H, W]
    RGB in 0..255, resized inside to 299x299 (bilinear, align_corners=False)
    when it is another size, then scaled by (img - 128) / 128; returns the
    2048-d pool3 features when return_features is True, else the logits.

    The REAL FID Inception needs no export here: it is already TorchScript,
    https://nvlabs-fi-cdn.nvidia.com/stylegan2-ada-pytorch/pretrained/metrics/inception-2015-12-05.pt
    (the TF-slim 2015-12-05 Inception graph ported by NVIDIA; its forward also
    takes use_fp16 and no_output_bias, both defaulting to False). Its sidecar
    is the one written here for inception-v3-random with the title, weights
    and sha256 lines changed.

radimagenet-resnet50-random
    torchvision's ResNet-50 ARCHITECTURE with RANDOM weights, trunk only:
    `forward(x)` takes [N, 3, 224, 224] already-preprocessed input and returns
    the global-average-pooled 2048-d output of the last block, [N, 2048].
    Its sidecar describes the preprocessing that MONAI's (and MAISI's) FID
    code applies before RadImageNet's ResNet-50: images in [0, 1], channels
    in BGR order, the ImageNet mean subtracted per channel in BGR order
    (0.406, 0.456, 0.485), no division by a standard deviation.

radimagenet-resnet50 (with --radimagenet-weights FILE.pth)
    The same wrapper with RadImageNet's ResNet-50 weights (Mei et al. 2022,
    https://github.com/BMEII-AI/RadImageNet). FILE.pth is a state_dict,
    e.g. `RadImageNet-ResNet50_notop.pth` of the PyTorch port behind
    torch.hub.load("Warvito/radimagenet-models", "radimagenet_resnet50"),
    also mirrored as MONAI/checkpoints on Hugging Face. Download it on a
    machine with network access, then:

        /usr/bin/python3 scripts/export_extractors.py --out DIR \\
            --which radimagenet-resnet50-random \\
            --radimagenet-weights RadImageNet-ResNet50_notop.pth

    That port follows the Keras ResNet50 that RadImageNet was trained with,
    not torchvision's: every convolution has a bias, each stage strides in its
    first 1x1 convolution (torchvision strides in the 3x3) and BatchNorm eps
    is 1.001e-5. The script recognises that layout by the convolution biases
    and rebuilds the trunk to match, so that the exported module computes what
    the port computes. torchvision-layout state_dicts are loaded as they are.
    A missing fc and the prefixes "module.", "model.", "backbone.",
    "encoder.", "resnet." (also nn.Sequential indices such as "backbone.4.0.")
    are tolerated; anything else that does not match stops the export.

The random extractors are architecture-only stand-ins: no real weights can be
downloaded on the machines this project is built on. Tests and benchmarks use
them for shapes, speed and plumbing; their FID values are random-feature
distances, not ImageNet or RadImageNet FIDs. Their BatchNorm statistics are
set from seeded noise images (calibrate_batchnorm): with torchvision's
untrained statistics (mean 0, var 1) nothing is normalised in eval mode and
Inception's features reach ~1e11, where FID and KID lose all precision.

Each .pt file is byte-for-byte reproducible for a given PyTorch build,
--seed and version of this script (TorchScript stores the wrappers'
source). After saving, every file is reloaded and checked: output shape
[2, 2048] (for Inception also from a 128x128 input, which exercises the
internal resize), finite values, and batch independence.

Requirements (Debian): python3-torch (1.13), python3-torchvision (0.14).
"""

import argparse
import os
import sys
import time

from scriptlib import pin_hash_seed, sha256_file, toml_value

if __name__ == "__main__":
    pin_hash_seed()  # before torch is imported, so that the re-run costs little

from collections import OrderedDict  # noqa: E402
from typing import Dict, List, Tuple  # noqa: E402

import torch  # noqa: E402
import torch.nn as nn  # noqa: E402
import torch.nn.functional as F  # noqa: E402
import torchvision  # noqa: E402

FEATURE_DIM = 2048

# Inception-v3 submodules from the input to the global average pool, in the
# order torchvision's Inception3._forward calls them (AuxLogits and dropout
# only act in training, fc comes after the features).
INCEPTION_TRUNK = (
    "Conv2d_1a_3x3", "Conv2d_2a_3x3", "Conv2d_2b_3x3", "maxpool1",
    "Conv2d_3b_1x1", "Conv2d_4a_3x3", "maxpool2",
    "Mixed_5b", "Mixed_5c", "Mixed_5d",
    "Mixed_6a", "Mixed_6b", "Mixed_6c", "Mixed_6d", "Mixed_6e",
    "Mixed_7a", "Mixed_7b", "Mixed_7c", "avgpool",
)

# ResNet-50 submodules from the input to the last block, i.e. the children of
# torchvision's ResNet without avgpool and fc. The position of a name is also
# its index when a port wraps the trunk in an nn.Sequential.
RESNET_TRUNK = ("conv1", "bn1", "relu", "maxpool", "layer1", "layer2", "layer3", "layer4")

# BatchNorm epsilon of Keras' ResNet50, kept by the RadImageNet port.
KERAS_BN_EPS = 1.001e-5

# How MONAI's and MAISI's FID code feed RadImageNet's ResNet-50 (see radimagenet_spec).
RADIMAGENET_PREPROCESSING = ("MONAI/MAISI FID preprocessing: images in [0,1], BGR order, "
                             "ImageNet mean subtracted per channel in BGR order, no std division")


# --------------------------------------------------------------------------
# Wrappers (what gets scripted)
# --------------------------------------------------------------------------

class InceptionFID(nn.Module):
    """Inception-v3 with the interface of StyleGAN's inception-2015-12-05.pt."""

    def __init__(self, net: nn.Module):
        super().__init__()
        self.trunk = nn.Sequential(OrderedDict((n, getattr(net, n)) for n in INCEPTION_TRUNK))
        self.fc = net.fc

    def forward(self, img: torch.Tensor, return_features: bool = False) -> torch.Tensor:
        x = img.to(torch.float32)
        if x.shape[2] != 299 or x.shape[3] != 299:
            x = F.interpolate(x, size=(299, 299), mode="bilinear", align_corners=False)
        x = (x - 128) / 128
        features = torch.flatten(self.trunk(x), 1)
        if return_features:
            return features
        return self.fc(features)


class ResNetFeatures(nn.Module):
    """ResNet-50 trunk + global average pool: [N, 3, 224, 224] -> [N, 2048]."""

    def __init__(self, trunk: nn.Sequential):
        super().__init__()
        self.trunk = trunk

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # Same as MONAI's spatial_average (mean over H and W).
        return torch.flatten(F.adaptive_avg_pool2d(self.trunk(x), 1), 1)


# --------------------------------------------------------------------------
# Builders
# --------------------------------------------------------------------------

def build_inception(seed: int) -> nn.Module:
    torch.manual_seed(seed)
    net = torchvision.models.inception_v3(weights=None, aux_logits=False, init_weights=True,
                                          transform_input=False)
    return InceptionFID(net)


def resnet_trunk(seed: int) -> nn.Sequential:
    torch.manual_seed(seed)
    net = torchvision.models.resnet50(weights=None)
    return nn.Sequential(OrderedDict((n, getattr(net, n)) for n in RESNET_TRUNK))


def to_keras_layout(trunk: nn.Sequential) -> None:
    """Turn a torchvision ResNet-50 trunk into the Keras ResNet50 layout in place.

    The parameter names and shapes stay torchvision's, only the computation
    changes: convolutions get a bias, the first block of each strided stage
    strides in conv1 (1x1) instead of conv2 (3x3), BatchNorm eps = 1.001e-5.
    """
    for m in trunk.modules():
        if isinstance(m, nn.Conv2d) and m.bias is None:
            m.bias = nn.Parameter(torch.zeros(m.out_channels))
        elif isinstance(m, nn.BatchNorm2d):
            m.eps = KERAS_BN_EPS
    for stage in ("layer2", "layer3", "layer4"):
        first = getattr(trunk, stage)[0]
        first.conv1.stride, first.conv2.stride = first.conv2.stride, first.conv1.stride


# --------------------------------------------------------------------------
# RadImageNet weights
# --------------------------------------------------------------------------

STRIP_PREFIXES = ("module.", "model.", "backbone.", "encoder.", "resnet.")


def load_state_dict_file(path: str) -> Dict[str, torch.Tensor]:
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # noqa: BLE001 -- say what to do, whatever the cause
        sys.exit(f"--radimagenet-weights {path}: cannot load it as a state_dict ({e}). "
                 "It must hold only tensors, e.g. saved with torch.save(model.state_dict(), path).")
    # Training checkpoints often nest the weights one level down.
    for key in ("state_dict", "model", "model_state_dict"):
        if isinstance(obj, dict) and isinstance(obj.get(key), dict):
            obj = obj[key]
    if not isinstance(obj, dict) or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        sys.exit(f"--radimagenet-weights {path}: not a state_dict (a dict of tensors)")
    return obj


def normalize_keys(sd: Dict[str, torch.Tensor]) -> Dict[str, torch.Tensor]:
    """Map the common variants of ResNet-50 key names onto torchvision's."""
    out = {}
    for k, v in sd.items():
        # Key by key, not only when all keys share a prefix: a classifier
        # saved beside the trunk ("fc.", "classifier.") often lacks it.
        # Prefixes can stack, e.g. "module.backbone.".
        stripped = True
        while stripped:
            stripped = False
            for p in STRIP_PREFIXES:
                if k.startswith(p):
                    k, stripped = k[len(p):], True
        # nn.Sequential(*list(resnet.children())[:-1]) numbers the trunk children.
        head, _, rest = k.partition(".")
        if head.isdigit() and int(head) < len(RESNET_TRUNK):
            k = RESNET_TRUNK[int(head)] + "." + rest
        out[k] = v
    # The classifier head is not part of the feature extractor.
    return {k: v for k, v in out.items() if not k.startswith("fc.")}


def load_radimagenet_trunk(path: str, seed: int) -> Tuple[nn.Sequential, str]:
    """Build the trunk that matches the file's layout and load the file into it."""
    sd = normalize_keys(load_state_dict_file(path))
    trunk = resnet_trunk(seed)
    layout = "torchvision"
    if "conv1.bias" in sd:  # torchvision's ResNet has no convolution biases
        to_keras_layout(trunk)
        layout = "Keras"
    result = trunk.load_state_dict(sd, strict=False)
    if result.missing_keys or result.unexpected_keys:
        sys.exit(f"--radimagenet-weights {path}: does not match a ResNet-50 trunk ({layout} layout): "
                 f"{len(result.missing_keys)} missing keys {result.missing_keys[:5]}, "
                 f"{len(result.unexpected_keys)} unexpected keys {result.unexpected_keys[:5]}")
    return trunk, layout


# --------------------------------------------------------------------------
# Specs
# --------------------------------------------------------------------------

def inception_spec(seed: int) -> dict:
    return {
        "name": "inception-v3-random",
        "title": (f"Inception-v3 architecture (torchvision), RANDOM weights (seed {seed}): "
                  "for tests and benchmarks, not for real measurements"),
        "input_size": [299, 299],
        "resize": "bilinear",
        "range": [0.0, 255.0],
        "mean": [0.0, 0.0, 0.0],
        "std": [1.0, 1.0, 1.0],
        "channels": "RGB",
        "forward_args": [True],
        "output": "2048-d global average pool before the logits (pool3)",
        "dim": FEATURE_DIM,
        "weights": f"random: torchvision inception_v3 init, torch.manual_seed({seed}), BatchNorm statistics from seeded noise images; NOT ImageNet",
    }


def radimagenet_spec(name: str, title: str, weights: str) -> dict:
    # MONAI's FID recipe for RadImageNet (also MAISI's): x in [0, 1],
    # x = x[:, [2, 1, 0]] (RGB -> BGR), then subtract [0.406, 0.456, 0.485]
    # channel by channel (the ImageNet mean in BGR order); no std division.
    # That is the Keras "caffe"-style ordering RadImageNet was trained with.
    return {
        "name": name,
        "title": title,
        "input_size": [224, 224],
        "resize": "bilinear",
        "range": [0.0, 1.0],
        "mean": [0.406, 0.456, 0.485],
        "std": [1.0, 1.0, 1.0],
        "channels": "BGR",
        "forward_args": [],
        "output": "2048-d global average pool of the last ResNet-50 block",
        "dim": FEATURE_DIM,
        "weights": weights,
    }


SPEC_COMMENTS = {
    "input_size": "height, width the Go side resizes to",
    "resize": "what the Go side uses (antialiased when shrinking)",
    "range": "pixel values fed in, before mean/std",
    "channels": "channel order of the tensor fed in",
    "forward_args": "scalar arguments after the image tensor",
}


def write_spec(path: str, spec: dict) -> None:
    lines = []
    for k, v in spec.items():
        line = f"{k} = {toml_value(v)}"
        if k in SPEC_COMMENTS:
            line = f"{line:<32} # {SPEC_COMMENTS[k]}"
        lines.append(line)
    with open(path, "w", encoding="utf-8") as f:
        f.write("\n".join(lines) + "\n")


# --------------------------------------------------------------------------
# Export and checks
# --------------------------------------------------------------------------

def export(module: nn.Module, path: str) -> None:
    module.eval()
    for p in module.parameters():
        p.requires_grad_(False)
    torch.jit.save(torch.jit.script(module), path)


def run(model, x: torch.Tensor, args: List[bool]) -> torch.Tensor:
    with torch.inference_mode():
        return model(x, *args)


def check(path: str, spec: dict, gen: torch.Generator) -> Tuple[int, float, float, float]:
    """Reload the file and check it.

    Returns (parameters, seconds for a batch of 8, largest batch-dependence
    difference seen, largest |feature|).
    """
    model = torch.jit.load(path)
    model.eval()
    h, w = spec["input_size"]
    lo, hi = spec["range"]
    args = spec["forward_args"]
    sizes = [(h, w)]
    if spec["name"].startswith("inception"):
        sizes.append((128, 128))  # exercises the internal resize to 299x299
    worst, scale = 0.0, 0.0
    for sh, sw in sizes:
        x = lo + (hi - lo) * torch.rand(2, 3, sh, sw, generator=gen)
        out = run(model, x, args)
        assert out.shape == (2, FEATURE_DIM) and out.dtype == torch.float32, \
            f"{spec['name']}: output {tuple(out.shape)} {out.dtype} from {sh}x{sw}"
        assert bool(torch.isfinite(out).all()), f"{spec['name']}: non-finite output from {sh}x{sw}"
        one = run(model, x[1:2], args)
        diff = float((out[1:2] - one).abs().max())
        top = float(out.abs().max())
        # 1e-4, relative once features exceed 1 (pooled features of a
        # random network are in the hundreds).
        assert diff <= 1e-4 * max(1.0, top), f"{spec['name']}: output depends on the batch ({diff:.2e})"
        worst, scale = max(worst, diff), max(scale, top)

    x8 = lo + (hi - lo) * torch.rand(8, 3, h, w, generator=gen)
    run(model, x8, args)  # warm-up: the first call also optimises the graph
    times = []
    for _ in range(3):
        t0 = time.perf_counter()
        run(model, x8, args)
        times.append(time.perf_counter() - t0)
    params = sum(p.numel() for p in model.parameters())
    return params, sorted(times)[1], worst, scale


@torch.no_grad()
def calibrate_batchnorm(model: nn.Module, forward, size: int, seed: int, batches: int = 4, batch: int = 8) -> None:
    """Set the BatchNorm statistics of a randomly initialised network from
    seeded smooth random images (exact averages over the batches), so that
    activations keep unit scale through its depth. With torchvision's
    untrained statistics (mean 0, var 1) nothing is normalised and Inception's
    pooled features reach ~1e11, where FID and KID lose all precision. The
    weights stay random: this makes a usable random-feature extractor for
    tests and benchmarks, not a trained one."""
    gen = torch.Generator().manual_seed(seed + 7919)
    bns = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    for m in bns:
        m.reset_running_stats()
        m.momentum = None  # cumulative average over the calibration batches
    model.train()
    for _ in range(batches):
        coarse = torch.rand(batch, 3, 8, 8, generator=gen)
        img = F.interpolate(coarse, size=(size, size), mode="bilinear", align_corners=False)
        forward(model, img + 0.05 * torch.randn(img.shape, generator=gen))
    for m in bns:
        m.momentum = 0.1
    model.eval()


def build(name: str, args) -> Tuple[nn.Module, dict]:
    """Module and spec for one --which entry (with its weights, if given)."""
    if name == "inception-v3-random":
        net = build_inception(args.seed)
        calibrate_batchnorm(net, lambda m, x: m(x * 255, True), 299, args.seed)
        return net, inception_spec(args.seed)
    if name != "radimagenet-resnet50-random":
        raise ValueError(name)
    if args.radimagenet_weights is None:
        title = (f"ResNet-50 architecture (torchvision), RANDOM weights (seed {args.seed}), fed like "
                 f"RadImageNet's ResNet-50 ({RADIMAGENET_PREPROCESSING}): for tests and benchmarks, "
                 "not for real measurements")
        weights = (f"random: torchvision resnet50 init, torch.manual_seed({args.seed}), BatchNorm statistics "
                   "from seeded noise images; NOT RadImageNet")
        net = ResNetFeatures(resnet_trunk(args.seed))
        mean = torch.tensor([0.406, 0.456, 0.485]).reshape(1, 3, 1, 1)
        calibrate_batchnorm(net, lambda m, x: m(x - mean), 224, args.seed)
        return net, radimagenet_spec("radimagenet-resnet50-random", title, weights)
    path = args.radimagenet_weights
    trunk, layout = load_radimagenet_trunk(path, args.seed)
    title = f"RadImageNet ResNet-50 (Mei et al. 2022), {layout}-layout port ({RADIMAGENET_PREPROCESSING})"
    weights = (f"RadImageNet ResNet-50 from {os.path.basename(path)} (sha256 {sha256_file(path)}), "
               f"{layout} layout")
    return ResNetFeatures(trunk), radimagenet_spec("radimagenet-resnet50", title, weights)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", required=True, help="directory for <name>.pt and <name>.toml")
    ap.add_argument("--which", default="inception-v3-random,radimagenet-resnet50-random",
                    help="comma-separated extractors to export")
    ap.add_argument("--seed", type=int, default=0, help="torch.manual_seed before building each network")
    ap.add_argument("--radimagenet-weights", metavar="FILE.pth",
                    help="RadImageNet ResNet-50 state_dict: export radimagenet-resnet50 with it")
    ap.add_argument("--threads", type=int, default=2, help="torch.set_num_threads")
    args = ap.parse_args()

    known = ("inception-v3-random", "radimagenet-resnet50-random")
    which = [w.strip() for w in args.which.split(",") if w.strip()]
    for w in which:
        if w not in known:
            ap.error(f"--which: unknown extractor {w!r} (known: {', '.join(known)})")
    torch.set_num_threads(args.threads)
    os.makedirs(args.out, exist_ok=True)

    for w in which:
        t0 = time.perf_counter()
        module, spec = build(w, args)
        pt = os.path.join(args.out, spec["name"] + ".pt")
        export(module, pt)
        spec["sha256"] = sha256_file(pt)
        params, batch8_s, diff, scale = check(pt, spec, torch.Generator().manual_seed(args.seed))
        write_spec(os.path.join(args.out, spec["name"] + ".toml"), spec)
        print(f"{spec['name']}: params {params}  size {os.path.getsize(pt)} bytes  "
              f"sha256 {spec['sha256']}  batch of 8 on CPU {batch8_s:.2f} s ({args.threads} threads)  "
              f"checks ok: max|feature| {scale:.3g}, batch max|diff| {diff:.2g}  "
              f"(export+checks {time.perf_counter() - t0:.1f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
