"""
A tiny medigan-style package for zoo import's tests (written for medzoo, MIT).

generate() follows medigan's convention. Its custom argument `behaviour`
makes it misbehave the ways a real package can, so the tests can check how
zoo import reacts:

  normal       16x16 images from a 2-layer generator (the default)
  randn        the generator adds torch.randn noise inside forward
  network      generate() tries to connect to 127.0.0.1:`port`
  write        generate() writes to the file `target` (outside its scratch dir)
  raise        generate() raises ValueError
  missing_dep  generate() imports skimage (Debian: python3-skimage)
  hang         generate() never returns
  memory       generate() allocates 64 GiB
  exit         generate() ends the process with exit status 3
  segfault     generate() kills its own process with SIGSEGV (as a crashing extension would)
  flood        generate() prints 64 MiB to stdout and stderr, then works normally
  fork         generate() leaves a child process running forever behind it
"""

import os

import numpy as np
import torch
import torch.nn as nn
from PIL import Image


class TinyGenerator(nn.Module):
    def __init__(self, nz=8, size=16, noise=False):
        super().__init__()
        self.size = size
        self.noise = noise
        self.fc1 = nn.Linear(nz, 32)
        self.fc2 = nn.Linear(32, size * size)

    def forward(self, z):
        h = torch.relu(self.fc1(z))
        if self.noise:
            h = h + 0.5 * torch.randn_like(h)
        return torch.tanh(self.fc2(h)).view(-1, 1, self.size, self.size)


def _to_uint8(img):
    # junyanz-style tensor2im: [-1, 1] -> [0, 255], truncating cast
    return ((np.transpose(img, (1, 2, 0)) + 1) / 2.0 * 255.0).astype(np.uint8)


def generate(model_file, num_samples, output_path, save_images, behaviour="normal", port=0, target=""):
    if behaviour == "network":
        import socket

        socket.create_connection(("127.0.0.1", int(port)), timeout=5).close()
    elif behaviour == "write":
        with open(target, "w") as f:
            f.write("written by a package under zoo import\n")
    elif behaviour == "raise":
        raise ValueError("the checkpoint does not match this generator (a test of zoo import)")
    elif behaviour == "missing_dep":
        import skimage  # noqa: F401
    elif behaviour == "hang":
        while True:
            pass
    elif behaviour == "memory":
        bytearray(64 << 30)
    elif behaviour == "exit":
        os._exit(3)
    elif behaviour == "segfault":
        import signal

        os.kill(os.getpid(), signal.SIGSEGV)
    elif behaviour == "flood":
        import sys

        line = "x" * 1023 + "\n"
        for _ in range(64 * 1024):
            sys.stdout.write(line)
            sys.stderr.write(line)
    elif behaviour == "fork":
        if os.fork() == 0:
            while True:
                pass

    net = TinyGenerator(noise=behaviour == "randn")
    net.load_state_dict(torch.load(model_file))
    net.eval()
    z = torch.randn(num_samples, 8)
    with torch.no_grad():
        images = [_to_uint8(x) for x in net(z).numpy()]
    if not save_images:
        return images
    os.makedirs(output_path, exist_ok=True)
    for i, img in enumerate(images):
        Image.fromarray(img[:, :, 0]).save(os.path.join(output_path, f"{i}.png"))
