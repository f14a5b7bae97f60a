#!/usr/bin/python3
"""Python/LibTorch baseline for the zoo's generation benchmarks.

Loads a TorchScript noise-to-image generator, generates N images in batches of
B from standard-normal latents, maps [-1, 1] to 8-bit grayscale and writes one
PNG per image, then prints one JSON line:

    {"images": N, "seconds": total, "images_per_s": N / total,
     "first_image_s": ..., ...}

Times are time.perf_counter() seconds measured from the top of this script,
taken before torch is imported:
  seconds        start of script -> last PNG written (import, load, generate, encode, write)
  images_per_s   images / seconds
  first_image_s  start of script -> first PNG written
  load_s         start of script -> model loaded (informational)
  loop_s, loop_images_per_s   the batch loop alone (informational)

Example:
    /usr/bin/python3 scripts/bench_python.py --model bundled/00101_DCGAN_MRI_COLIN27_DEMO.pt \
        --n 256 --batch 32 --out /tmp/bench_py --threads 2 --seed 0
"""

import time

T0 = time.perf_counter()

import argparse  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import sys  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402
from PIL import Image  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description="Python/LibTorch generation baseline")
    ap.add_argument("--model", required=True, help="TorchScript .pt file")
    ap.add_argument("--n", type=int, default=64, help="number of images")
    ap.add_argument("--batch", type=int, default=16, help="batch size")
    ap.add_argument("--out", required=True, help="output directory for PNGs")
    ap.add_argument("--threads", type=int, default=1, help="torch.set_num_threads")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--latent", type=int, default=100, help="latent dimension")
    args = ap.parse_args()
    if args.n < 1 or args.batch < 1:
        ap.error("--n and --batch must be >= 1")

    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    os.makedirs(args.out, exist_ok=True)

    model = torch.jit.load(args.model, map_location="cpu")
    model.eval()
    t_load = time.perf_counter()

    width = max(6, len(str(args.n - 1)))
    first_image_s = None
    written = 0
    with torch.inference_mode():
        while written < args.n:
            b = min(args.batch, args.n - written)
            z = torch.randn(b, args.latent)
            x = model(z)
            if x.dim() == 4:
                if x.shape[1] != 1:
                    raise SystemExit(f"expected 1 channel, got output shape {tuple(x.shape)}")
                x = x[:, 0]
            u8 = ((x.float() + 1.0) * 127.5).round().clamp(0, 255).to(torch.uint8).numpy()
            for i in range(b):
                path = os.path.join(args.out, f"{written:0{width}d}.png")
                Image.fromarray(np.ascontiguousarray(u8[i]), mode="L").save(path)
                written += 1
                if first_image_s is None:
                    first_image_s = time.perf_counter() - T0
    t_end = time.perf_counter()

    total = t_end - T0
    loop = t_end - t_load
    print(json.dumps({
        "images": written,
        "seconds": round(total, 6),
        "images_per_s": round(written / total, 6),
        "first_image_s": round(first_image_s, 6),
        "load_s": round(t_load - T0, 6),
        "loop_s": round(loop, 6),
        "loop_images_per_s": round(written / loop, 6) if loop > 0 else None,
        "batch": args.batch,
        "threads": args.threads,
        "seed": args.seed,
        "torch": torch.__version__,
    }))
    return 0


if __name__ == "__main__":
    sys.exit(main())
