"""Write tinygan's seeded random-weight checkpoint: make_checkpoint.py --out FILE [--seed N]."""
import argparse
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from __init__ import TinyGenerator  # noqa: E402

p = argparse.ArgumentParser()
p.add_argument("--out", required=True)
p.add_argument("--seed", type=int, default=0)
a = p.parse_args()
torch.manual_seed(a.seed)
torch.save(TinyGenerator().state_dict(), a.out)
