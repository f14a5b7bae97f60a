"""Helpers shared by the developer scripts in this folder (benchmarks,
measurements, exports, catalog generation, training): where the repository
and its catalog are, file digests, percentiles, running and timing commands,
TOML values, and the sections of docs/benchmarks.md.

Standard library only, so that importing it costs a benchmark nothing and a
script that needs no torch does not load it. scripts/zoo_capture.py does not
use it: zoo embeds that one file and runs it alone, in a sandbox.
"""

import hashlib
import math
import os
import platform
import statistics
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CATALOG = os.path.join(ROOT, "zoo.toml")  # the built-in catalog, embedded in bin/zoo


# --------------------------------------------------------------------------
# Files and numbers
# --------------------------------------------------------------------------

def sha256_file(path):
    """The hex sha256 of a file, read in 1 MiB pieces."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def pct(xs, q):
    """The q-quantile (q in [0, 1]) of xs, interpolated linearly between the
    two nearest ranks (numpy's default percentile), so p50 is the median."""
    xs = sorted(xs)
    k = (len(xs) - 1) * q
    lo, hi = int(k), min(int(k) + 1, len(xs) - 1)
    return xs[lo] + (xs[hi] - xs[lo]) * (k - lo)


def median(xs):
    return statistics.median(xs)


def cpu_name():
    """The CPU model from /proc/cpuinfo, else the platform's name for it."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown"


# --------------------------------------------------------------------------
# Running commands
# --------------------------------------------------------------------------

def run(cmd, env=None):
    """Runs cmd; returns (wall seconds, stdout). Exits with cmd's error
    output when it fails: a benchmark has no use for a half-measured run."""
    t0 = time.perf_counter()
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    out, err = p.communicate()
    wall = time.perf_counter() - t0
    if p.returncode != 0:
        sys.exit(f"{' '.join(cmd)} failed ({p.returncode}):\n{err.decode()}")
    return wall, out.decode()


def run_rss(cmd, env=None):
    """Runs cmd with its output discarded; returns (wall seconds, peak RSS MiB, exit status).
    fork + execve + wait4, so that the RSS is the command's own, not a shell's."""
    t0 = time.perf_counter()
    pid = os.fork()
    if pid == 0:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, 1)
        os.dup2(devnull, 2)
        os.execve(cmd[0], cmd, env or os.environ)
    _, status, usage = os.wait4(pid, 0)
    wall = time.perf_counter() - t0
    return wall, usage.ru_maxrss / 1024.0, status


def must(cmd, env=None):
    """run_rss that exits with cmd's error output when it fails; returns (wall, RSS)."""
    wall, rss, status = run_rss(cmd, env)
    if status != 0:
        p = subprocess.run(cmd, env=env, capture_output=True, text=True)
        sys.exit("%s failed (status %d):\n%s" % (" ".join(cmd), status, p.stderr))
    return wall, rss


# --------------------------------------------------------------------------
# Writing
# --------------------------------------------------------------------------

def toml_string(s):
    """A TOML basic string (UTF-8 kept, controls escaped)."""
    out = ['"']
    for ch in s:
        o = ord(ch)
        if ch == '"':
            out.append('\\"')
        elif ch == "\\":
            out.append("\\\\")
        elif ch == "\n":
            out.append("\\n")
        elif ch == "\t":
            out.append("\\t")
        elif ch == "\r":
            out.append("\\r")
        elif o < 0x20 or o == 0x7F:
            out.append("\\u%04X" % o)
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)


def toml_key(k):
    """A TOML key: bare where it can be, else quoted."""
    bare = k and all(c.isascii() and (c.isalnum() or c in "_-") for c in k)
    return k if bare else toml_string(k)


def toml_value(v):
    """A TOML value for a bool, int, finite float, string or list/tuple of them,
    on one line. Floats in their shortest round-trip form (67.6, 2.0)."""
    if isinstance(v, bool):  # before int: bool is an int in Python
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        if not math.isfinite(v):
            raise ValueError("non-finite number %r" % v)
        return repr(v)
    if isinstance(v, str):
        return toml_string(v)
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(toml_value(x) for x in v) + "]"
    raise TypeError(f"no TOML form for {v!r}")


def write_section(path, name, text):
    """Replaces the section between <!-- BEGIN name --> and <!-- END name -->
    in path (appending it when absent), so each benchmark script owns its part
    of docs/benchmarks.md."""
    begin, end = f"<!-- BEGIN {name} -->", f"<!-- END {name} -->"
    doc = "# Benchmarks\n\nWritten by `make bench`; each section by its own script.\n"
    if os.path.exists(path):
        with open(path) as f:
            doc = f.read()
    block = f"{begin}\n{text.rstrip()}\n{end}"
    if begin in doc and end in doc:
        doc = doc[: doc.index(begin)] + block + doc[doc.index(end) + len(end):]
    else:
        doc = doc.rstrip() + "\n\n" + block + "\n"
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        f.write(doc)


# --------------------------------------------------------------------------
# Reproducible runs
# --------------------------------------------------------------------------

def pin_hash_seed():
    """Re-run this process with PYTHONHASHSEED=0 unless it already has it.

    torch.jit.save writes each module's constants in Python set order, which
    depends on string hashing: pinning the hash seed makes the .pt file
    byte-for-byte reproducible (the weights are reproducible either way).
    Call it before anything is trained or saved."""
    if os.environ.get("PYTHONHASHSEED") != "0":
        os.environ["PYTHONHASHSEED"] = "0"
        os.execv(sys.executable, [sys.executable] + sys.argv)
