#!/usr/bin/python3
"""zoo_capture: the Python half of `zoo import`.

Runs a medigan model package's generate() the way medigan does, records every
top-level call of a torch.nn.Module made by the package code, exports the
generator it finds to TorchScript and works out, pixel for pixel, how the
package turns the generator's raw output into the uint8 images it returns and
writes. Go's `zoo import` runs this inside its sandbox (no network, a scratch
folder as cwd, a wall-time limit) and reads OUTDIR/report.json, or
OUTDIR/error.json when it exits with status 3.

    /usr/bin/python3 -B scripts/zoo_capture.py --package DIR --out OUTDIR
        [--checkpoint FILE] [--samples 16] [--seed 0] [--arg KEY=JSONVALUE ...]
        [--memory-mb 8192] [--id MODEL_ID]

OUTDIR receives generator.pt, report.json, inputs/*.npy (the recorded module
inputs in sample order), package_out/ (what generate(save_images=True) wrote)
and export_wrapper.py (the source of the exported wrapper module).

The module is also a library: scripts/export_generator.py imports it for the
export, the equality and randomness checks.

Post-processing formula (Go implements the same, bit for bit), per value x:
    t = (x - a) / (b - a)            precision P1
    t = clamp(t, 0, 1)               optional
    y = t * (d - c) + c              precision P2 (t converted to P2)
    v = cast(y)                      truncate | round (half to even) | floor
    v = overflow(v)                  clip to [0, 255] | wrap (modulo 256)
    v = lut[v]                       optional 256-entry table
or, for a threshold, v = d if x > threshold else c.
arithmetic "float32": P1 = P2 = float32; "float32,float64": P1 float32,
P2 float64 (numpy interval_mapping on a float32 array); "float64": both
float64. (b-a) and (d-c) are computed in float64, then converted.
"""

import os
import resource
import sys

DEFAULT_MEMORY_MB = 8192
EXIT_ERROR = 3


def apply_memory_limit(mb):
    """Cap the address space so a runaway package fails with MemoryError
    instead of taking the machine down. 8192 MiB leaves room for torch's
    own reservations (thread arenas, oneDNN scratch) on top of the model."""
    if not mb or mb <= 0:
        return
    limit = int(mb) << 20
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    if hard != resource.RLIM_INFINITY:
        limit = min(limit, hard)
    resource.setrlimit(resource.RLIMIT_AS, (limit, hard))


def _memory_mb_from_argv(argv):
    """--memory-mb is needed before argparse runs (torch is not imported yet)."""
    for i, a in enumerate(argv):
        if a == "--memory-mb" and i + 1 < len(argv):
            return int(argv[i + 1])
        if a.startswith("--memory-mb="):
            return int(a.split("=", 1)[1])
    return DEFAULT_MEMORY_MB


if __name__ == "__main__":
    # The limit must be in place before torch is imported: torch's import
    # itself maps large regions, and the cap is meant to cover everything.
    try:
        apply_memory_limit(_memory_mb_from_argv(sys.argv[1:]))
    except ValueError:
        pass  # argparse reports the bad value below

import argparse  # noqa: E402
import ast  # noqa: E402
import errno  # noqa: E402
import hashlib  # noqa: E402
import importlib.util  # noqa: E402
import inspect  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import random  # noqa: E402
import re  # noqa: E402
import socket  # noqa: E402
import time  # noqa: E402
import traceback  # noqa: E402
import warnings  # noqa: E402

_IMPORT_ERROR = None
try:
    import numpy as np
    import torch
except (ImportError, MemoryError) as _e:  # reported as error.json by main()
    if __name__ != "__main__":
        raise
    _IMPORT_ERROR = _e
    np = torch = None


# ----------------------------------------------------------------- errors

# Debian packages providing the Python modules medigan packages import.
# None: no Debian package (pip only).
DEBIAN_PACKAGES = {
    "cv2": "python3-opencv", "PIL": "python3-pil", "matplotlib": "python3-matplotlib",
    "skimage": "python3-skimage", "scipy": "python3-scipy", "torchvision": "python3-torchvision",
    "yaml": "python3-yaml", "pandas": "python3-pandas", "sklearn": "python3-sklearn",
    "tqdm": "python3-tqdm", "numpy": "python3-numpy", "h5py": "python3-h5py",
    "nibabel": "python3-nibabel", "pydicom": "python3-pydicom", "torch": "python3-torch",
    "imageio": "python3-imageio", "tifffile": "python3-tifffile", "requests": "python3-requests",
    "SimpleITK": None, "monai": None, "tensorflow": None, "keras": None, "albumentations": None,
}

# pip distribution names (as in metadata "dependencies") -> import names.
PIP_TO_IMPORT = {
    "opencv-python": "cv2", "opencv-contrib-python": "cv2", "opencv-python-headless": "cv2",
    "opencv-contrib-python-headless": "cv2", "pillow": "PIL", "scikit-image": "skimage",
    "scikit-learn": "sklearn", "pyyaml": "yaml", "simpleitk": "SimpleITK", "torch": "torch",
    "pytorch": "torch", "tensorflow-gpu": "tensorflow", "tensorflow-cpu": "tensorflow",
}

NETWORK_ERRNOS = {errno.ENETUNREACH, errno.EHOSTUNREACH, errno.ECONNREFUSED, errno.ETIMEDOUT,
                  errno.ECONNRESET, errno.ENETDOWN, errno.ECONNABORTED, errno.EADDRNOTAVAIL}
NETWORK_CLASS_NAMES = {"URLError", "ConnectionError", "NewConnectionError", "MaxRetryError",
                       "ProxyError", "SSLError", "ConnectTimeout", "ReadTimeout", "RemoteDisconnected"}
WRITE_ERRNOS = {errno.EACCES, errno.EPERM, errno.EROFS}


class CaptureError(Exception):
    """A failure with a stage, a kind Go understands and a message that names
    the problem and the fix."""

    def __init__(self, stage, kind, message, module=None, debian_package=None, tb=None):
        super().__init__(message)
        self.stage, self.kind, self.message = stage, kind, message
        self.module, self.debian_package, self.tb = module, debian_package, tb

    def to_json(self):
        return {"stage": self.stage, "kind": self.kind, "message": self.message,
                "module": self.module, "debian_package": self.debian_package,
                "traceback": self.tb}


def log(msg):
    print(f"zoo_capture: {msg}", file=sys.stderr, flush=True)


def _exception_chain(exc):
    seen, out = set(), []
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        out.append(exc)
        exc = exc.__cause__ or exc.__context__
    return out


def _last_tb_line(exc):
    tb = traceback.extract_tb(exc.__traceback__)
    if not tb:
        return ""
    f = tb[-1]
    return f"{os.path.basename(f.filename)}:{f.lineno} in {f.name}: {f.line or ''}".strip()


def _inside(path, roots):
    p = os.path.realpath(os.path.abspath(path))
    for r in roots:
        r = os.path.realpath(os.path.abspath(r))
        if p == r or p.startswith(r + os.sep):
            return True
    return False


def pip_names_for(module, dependencies):
    """The metadata dependencies that provide import name `module`."""
    out = []
    for dep in dependencies or []:
        name = re.split(r"[<>=!~\[; ]", str(dep).strip(), 1)[0]
        imp = PIP_TO_IMPORT.get(name.lower(), name)
        if imp == module or imp.lower() == module.lower() or name.lower() == module.lower():
            out.append(str(dep))
    return out


def missing_dependency_error(stage, module, dependencies, tb):
    deb = DEBIAN_PACKAGES.get(module)
    pips = pip_names_for(module, dependencies)
    listed = f" (listed in metadata dependencies as {', '.join(pips)})" if pips else ""
    if deb:
        fix = f"install it with `apt-get install {deb}`"
    elif module in DEBIAN_PACKAGES:
        fix = (f"it has no Debian package: install it with pip "
               f"(`pip install {pips[0] if pips else module}`) for the Python that runs zoo import")
    else:
        fix = (f"install it for the Python that runs zoo import (look for a Debian package "
               f"python3-{module.lower().replace('_', '-')}, else pip)")
    return CaptureError(stage, "missing_dependency",
                        f"the package needs the Python module '{module}'{listed}, which is not "
                        f"installed; {fix}.", module=module, debian_package=deb, tb=tb)


def classify_exception(exc, stage, scratch_roots, dependencies=()):
    """Turn an exception raised by package code into a CaptureError."""
    if isinstance(exc, CaptureError):
        return exc
    tb = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    chain = _exception_chain(exc)
    for e in chain:
        if isinstance(e, MemoryError) or (isinstance(e, RuntimeError) and
                                          "can't allocate memory" in str(e)):
            return CaptureError(stage, "memory",
                                "the package ran out of memory under zoo import's memory limit; "
                                "raise it (--memory-mb) or use fewer samples or a smaller image_size.",
                                tb=tb)
    for e in chain:
        if isinstance(e, ModuleNotFoundError) and e.name:
            return missing_dependency_error(stage, e.name.split(".")[0], dependencies, tb)
        if isinstance(e, ImportError) and "cannot open shared object file" in str(e):
            lib = str(e).split(":")[0]
            return CaptureError(stage, "missing_dependency",
                                f"a Python module the package imports needs the system library {lib}, "
                                f"which is not installed ({e}); install the Debian package that provides it.",
                                module=getattr(e, "name", None), tb=tb)
    for e in chain:
        if (isinstance(e, (socket.gaierror, socket.herror, socket.timeout, ConnectionError)) or
                (isinstance(e, OSError) and e.errno in NETWORK_ERRNOS) or
                type(e).__name__ in NETWORK_CLASS_NAMES):
            return CaptureError(stage, "network",
                                f"the package tried to reach the network ({type(e).__name__}: {e}); zoo "
                                f"import runs package code without network: provide the file it "
                                f"downloads locally (e.g. with --arg) or fix the package.", tb=tb)
    for e in chain:
        if isinstance(e, OSError) and e.errno in WRITE_ERRNOS:
            path = e.filename or ""
            if path and not _inside(path, scratch_roots):
                return CaptureError(stage, "write_outside",
                                    f"the package tried to write {path}, outside the scratch folder "
                                    f"({e.strerror}); zoo import lets package code write only there: "
                                    f"point the argument that names this path into the scratch folder "
                                    f"with --arg.", tb=tb)
    where = _last_tb_line(exc)
    return CaptureError(stage, "package_error",
                        f"the package's code raised {type(exc).__name__}: {exc}"
                        + (f" (at {where})" if where else "")
                        + "; check the custom arguments (--arg) and the checkpoint.", tb=tb)


# ------------------------------------------------------------- utilities

def sha256_file(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def set_threads():
    """ZOO_THREADS lets Go give the capture the same thread count it uses."""
    n = os.environ.get("ZOO_THREADS")
    if n:
        torch.set_num_threads(max(1, int(n)))


def seed_all(seed):
    """medigan's convention: every draw a package makes comes from these."""
    torch.manual_seed(seed)
    np.random.seed(seed)
    random.seed(seed)


def to_jsonable(v):
    if isinstance(v, dict):
        return {str(k): to_jsonable(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [to_jsonable(x) for x in v]
    if isinstance(v, np.generic):
        return v.item()
    if isinstance(v, np.ndarray):
        return v.tolist()
    if isinstance(v, float) and not np.isfinite(v):
        return str(v)
    if v is None or isinstance(v, (bool, int, float, str)):
        return v
    return repr(v)


def write_json(path, obj):
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(to_jsonable(obj), f, indent=1, allow_nan=False)
        f.write("\n")
    os.replace(tmp, path)


def parse_arg_values(items):
    """--arg KEY=JSONVALUE; a value that is not valid JSON is taken as a string."""
    out = {}
    for item in items or []:
        if "=" not in item:
            raise CaptureError("arguments", "bad_package", f"--arg {item!r} is not KEY=VALUE.")
        k, v = item.split("=", 1)
        try:
            out[k.strip()] = json.loads(v)
        except json.JSONDecodeError:
            out[k.strip()] = v
    return out


def import_file(name, path, search_dir=None):
    """Import a file (a package's __init__.py, or a plain module) by path
    under `name`, so several packages can live in one process."""
    kw = {"submodule_search_locations": [search_dir]} if search_dir else {}
    spec = importlib.util.spec_from_file_location(name, path, **kw)
    if spec is None:
        raise ImportError(f"cannot import {path}")
    mod = importlib.util.module_from_spec(spec)
    sys.modules[name] = mod
    try:
        spec.loader.exec_module(mod)
    except BaseException:
        sys.modules.pop(name, None)
        raise
    return mod


# ------------------------------------------------------------ metadata

def load_metadata(pkg_dir, path=None):
    """medigan metadata: path (zoo rebuilds it from the catalog for package zips that
    ship none, as medigan keeps it in its global config), else DIR/metadata.json."""
    path = path or os.path.join(pkg_dir, "metadata.json")
    if not os.path.isfile(path):
        raise CaptureError("metadata", "bad_package",
                           f"{pkg_dir} has no metadata.json; a medigan package folder holds "
                           f"__init__.py, metadata.json and the checkpoint.")
    try:
        with open(path) as f:
            doc = json.load(f)
    except (OSError, ValueError) as e:
        raise CaptureError("metadata", "bad_package", f"cannot read {path}: {e}.")
    if not isinstance(doc, dict) or len(doc) != 1:
        raise CaptureError("metadata", "bad_package",
                           f"{path} must hold one key, the model id "
                           f"(it has {len(doc) if isinstance(doc, dict) else 'no'} keys).")
    (model_id, meta), = doc.items()
    ex = meta.get("execution") if isinstance(meta, dict) else None
    if not isinstance(ex, dict) or not isinstance(ex.get("generate_method"), dict):
        raise CaptureError("metadata", "bad_package",
                           f"{path} has no execution.generate_method block (medigan's format).")
    return model_id, meta, ex


def description_inputs(meta):
    d = meta.get("description") or {}
    ins = d.get("inputs") or []
    return [str(s) for s in ins] if isinstance(ins, list) else [str(ins)]


LABEL_RE = re.compile(r"(?<![\w.])(\d+)\s*(?:=|:|->)\s*[\"']?"
                      r"([A-Za-z][A-Za-z0-9_\-]*(?: [A-Za-z][A-Za-z0-9_\-]*)*?)[\"']?"
                      r"\s*(?=[,.;)\]}]|$|\s+(?:and|or)\s)")


def condition_labels(meta, n_values, prefer=()):
    """Value labels from the help text of metadata description.inputs, e.g.
    "0 = malignant, 1 = benign". Used only when every index gets a label."""
    texts = description_inputs(meta)
    texts.sort(key=lambda s: 0 if any(s.strip().lower().startswith(p.lower()) for p in prefer) else 1)
    for s in texts:
        labels = {}
        for m in LABEL_RE.finditer(s):
            i = int(m.group(1))
            labels.setdefault(i, m.group(2).strip())
        if n_values and all(i in labels for i in range(n_values)):
            return [labels[i] for i in range(n_values)]
    return None


# ------------------------------------------------------------- capture

def _sensitive_types():
    """Layers whose forward differs between train and eval mode."""
    nn = torch.nn
    return (nn.modules.batchnorm._BatchNorm, nn.modules.instancenorm._InstanceNorm,
            nn.modules.dropout._DropoutNd, nn.AlphaDropout, nn.FeatureAlphaDropout, nn.RReLU)


def _clone(v):
    if isinstance(v, torch.Tensor):
        return v.detach().cpu().clone()
    if isinstance(v, tuple):
        return tuple(_clone(x) for x in v)
    if isinstance(v, list):
        return [_clone(x) for x in v]
    if isinstance(v, dict):
        return {k: _clone(x) for k, x in v.items()}
    return v


def _has_tensor(v):
    if isinstance(v, torch.Tensor):
        return True
    if isinstance(v, (list, tuple)):
        return any(_has_tensor(x) for x in v)
    if isinstance(v, dict):
        return any(_has_tensor(x) for x in v.values())
    return False


def _plain(v):
    """numpy scalars as Python numbers, so fixed args compare and print."""
    if isinstance(v, np.generic):
        return v.item()
    if isinstance(v, (list, tuple)):
        return type(v)(_plain(x) for x in v)
    return v


class Call:
    """One top-level module call: its argument layout, tensors and output.
    capture() sets .batch (the output's first dimension) once the call is
    known to return a 4-D tensor."""

    def __init__(self, module, args, kwargs):
        self.module = module
        # layout: positional slots then keyword slots; ("T", key) marks a
        # tensor, ("C", value) a fixed non-tensor value.
        self.pos = []
        self.kw = {}
        self.tensors = {}
        for i, a in enumerate(args):
            self.pos.append(self._slot(i, a))
        for k, a in kwargs.items():
            self.kw[k] = self._slot(k, a)
        sens = _sensitive_types()
        self.train_modules = [n or type(module).__name__ for n, m in module.named_modules()
                              if m.training and isinstance(m, sens)]
        self.train_any = any(m.training for m in module.modules())
        self.output = None

    def _slot(self, key, a):
        if isinstance(a, torch.Tensor):
            self.tensors[key] = _clone(a)
            return ("T", key)
        if _has_tensor(a):
            raise CaptureError("capture", "no_generator",
                               f"the generator is called with a container of tensors as argument {key!r}; "
                               f"zoo import supports tensor and plain scalar arguments only.")
        return ("C", _plain(a))

    def layout(self):
        """Hashable description of the non-tensor part of the call."""
        return (tuple(s if s[0] == "T" else ("C", repr(s[1])) for s in self.pos),
                tuple(sorted((k, s if s[0] == "T" else ("C", repr(s[1]))) for k, s in self.kw.items())))


class Recorder:
    """Patches torch.nn.Module.__call__ (class level) to record every call
    made at depth 0, i.e. by package code rather than by another module's
    forward, of a module that has parameters."""

    def __init__(self):
        self.calls = []
        self.depth = 0
        self._orig = None

    def __enter__(self):
        self._orig = orig = torch.nn.Module.__call__
        rec = self

        def patched(module, *args, **kwargs):
            if rec.depth > 0 or next(module.parameters(), None) is None:
                rec.depth += 1
                try:
                    return orig(module, *args, **kwargs)
                finally:
                    rec.depth -= 1
            call = Call(module, args, kwargs)  # clone inputs before forward can change them in place
            rec.depth += 1
            try:
                out = orig(module, *args, **kwargs)
            finally:
                rec.depth -= 1
            call.output = _clone(out)
            rec.calls.append(call)
            return out

        torch.nn.Module.__call__ = patched
        return self

    def __exit__(self, *exc):
        torch.nn.Module.__call__ = self._orig
        return False


def output_sources(out):
    """The 4-D tensors of a module output, keyed by tuple position or dict key
    ("source" in the report)."""
    if isinstance(out, torch.Tensor):
        return {0: out} if out.dim() == 4 else {}
    if isinstance(out, (tuple, list)):
        return {i: t for i, t in enumerate(out) if isinstance(t, torch.Tensor) and t.dim() == 4}
    if isinstance(out, dict):
        return {k: t for k, t in out.items() if isinstance(t, torch.Tensor) and t.dim() == 4}
    return {}


def group_by_module(calls):
    groups = {}
    for c in calls:
        groups.setdefault(id(c.module), []).append(c)
    return list(groups.values())


def tensors_equal(a, b):
    return a.shape == b.shape and a.dtype == b.dtype and torch.equal(a, b)


def same_inputs(calls_a, calls_b):
    if len(calls_a) != len(calls_b):
        return False
    for x, y in zip(calls_a, calls_b):
        if type(x.module) is not type(y.module) or x.layout() != y.layout():
            return False
        if x.tensors.keys() != y.tensors.keys():
            return False
        if not all(tensors_equal(x.tensors[k], y.tensors[k]) for k in x.tensors):
            return False
    return True


# ---------------------------------------------------- generate() runs

def call_generate(gen, base_names, model_file, num_samples, output_path, save_images, custom, seed):
    base = {"model_file": model_file, "num_samples": num_samples,
            "output_path": output_path, "save_images": save_images}
    kwargs = {k: v for k, v in base.items() if k in base_names} if base_names else dict(base)
    kwargs.update(custom)
    seed_all(seed)
    with Recorder() as rec:
        ret = gen(**kwargs)
    return ret, rec.calls


def _as_hwc(a):
    a = np.asarray(a)
    if a.ndim == 2:
        return a[:, :, None]
    if a.ndim == 3 and a.shape[0] in (1, 3, 4) and a.shape[2] not in (1, 3, 4):
        return np.ascontiguousarray(a.transpose(1, 2, 0))
    return a


def normalize_returned(ret):
    """generate()'s return value as a list of samples, each a list of
    HxWxC arrays (one per tuple element)."""
    if ret is None:
        return None
    if isinstance(ret, torch.Tensor):
        ret = ret.detach().cpu().numpy()
    if isinstance(ret, np.ndarray):
        if ret.ndim == 4:
            ret = list(ret)
        elif ret.ndim in (2, 3):
            ret = [ret]
    if not isinstance(ret, (list, tuple)) or not ret:
        return None
    samples = []
    for item in ret:
        if isinstance(item, (tuple, list)):
            elems = list(item)
        else:
            elems = [item]
        conv = []
        for e in elems:
            if isinstance(e, torch.Tensor):
                e = e.detach().cpu().numpy()
            if not isinstance(e, np.ndarray) or e.ndim not in (2, 3):
                return None
            conv.append(_as_hwc(e))
        samples.append(conv)
    if len({len(s) for s in samples}) != 1:
        return None
    return samples


# ------------------------------------------------------ package files

def decode_image(path):
    """A saved file as an HxWxC array the way a viewer sees it: gray, RGB,
    or RGBA reduced to RGB."""
    from PIL import Image
    with Image.open(path) as im:
        if im.mode in ("RGBA", "P", "CMYK", "YCbCr"):
            im = im.convert("RGBA" if im.mode in ("RGBA", "P") else "RGB")
            a = np.asarray(im)[:, :, :3]
        elif im.mode == "LA":
            a = np.asarray(im.convert("L"))
        elif im.mode == "1":
            a = np.asarray(im.convert("L"))
        else:
            a = np.asarray(im)
    return _as_hwc(np.array(a))


def _is_gray_rgb(a):
    return a.ndim == 3 and a.shape[2] == 3 and np.array_equal(a[:, :, 0], a[:, :, 1]) \
        and np.array_equal(a[:, :, 0], a[:, :, 2])


def file_matches(arr, elem):
    """How decoded file `arr` equals returned array `elem`: "same", "gray"
    (R=G=B file of a 1-channel array), "reversed" (channels reversed, as
    cv2.imwrite writes a 3-channel array) or None."""
    if arr.shape[:2] != elem.shape[:2]:
        return None
    if elem.shape[2] == 4:
        elem = elem[:, :, :3]
    if arr.dtype != elem.dtype and not (np.issubdtype(arr.dtype, np.integer) and np.issubdtype(elem.dtype, np.integer)):
        return None
    if arr.shape == elem.shape and np.array_equal(arr, elem):
        return "same"
    if elem.shape[2] == 1 and arr.shape[2] == 3 and _is_gray_rgb(arr) and np.array_equal(arr[:, :, :1], elem):
        return "gray"
    if arr.shape == elem.shape and arr.shape[2] == 3 and np.array_equal(arr[:, :, ::-1], elem):
        return "reversed"
    return None


FIRST_INT = re.compile(r"\d+")


def scan_files(out_root, outdir):
    files = []
    for root, dirs, names in os.walk(out_root):
        dirs.sort()
        for n in sorted(names):
            path = os.path.join(root, n)
            rel = os.path.relpath(path, outdir)
            stem = os.path.splitext(n)[0]
            m = FIRST_INT.search(stem)
            sample = int(m.group()) if m else None
            suffix = (stem[:m.start()] + "#" + stem[m.end():]) if m else stem
            try:
                arr = decode_image(path)
                err = None
            except Exception as e:  # noqa: BLE001 - any unreadable file is reported
                arr, err = None, f"not an image PIL can read ({type(e).__name__}: {e})"
            files.append({"file": rel, "sample": sample, "suffix": suffix, "array": arr, "error": err})
    return files


def _suffix_order(s):
    core = s.replace("#", "").strip("_-. ").lower()
    return (0 if core in ("", "img", "image") else 1 if "mask" not in core else 2, s)


def samples_from_files(files):
    """Fallback when generate(save_images=False) gives nothing: the saved
    files, grouped by sample number, one element per file-name suffix."""
    ok = [f for f in files if f["array"] is not None and f["sample"] is not None]
    if not ok:
        return None
    suffixes = sorted({f["suffix"] for f in ok}, key=_suffix_order)
    n = max(f["sample"] for f in ok) + 1
    samples = [[None] * len(suffixes) for _ in range(n)]
    for f in ok:
        a = f["array"]
        if _is_gray_rgb(a):
            a = a[:, :, :1]
        samples[f["sample"]][suffixes.index(f["suffix"])] = a
    samples = [s for s in samples if all(e is not None for e in s)]
    return samples or None


def match_files(files, samples):
    """Map each saved file to (sample, element) of the returned arrays."""
    matched, unmatched = [], []
    for f in files:
        if f["array"] is None:
            unmatched.append({"file": f["file"], "why": f["error"]})
            continue
        hit = None
        order = []
        if f["sample"] is not None and f["sample"] < len(samples):
            order.append(f["sample"])
        order += [i for i in range(len(samples)) if i not in order]
        for i in order:
            for k, e in enumerate(samples[i]):
                how = file_matches(f["array"], e)
                if how:
                    hit = (i, k, how)
                    break
            if hit:
                break
        if hit:
            matched.append({"file": f["file"], "sample": hit[0], "element": hit[1], "how": hit[2],
                            "suffix": f["suffix"]})
        else:
            shape = tuple(f["array"].shape)
            unmatched.append({"file": f["file"],
                              "why": f"equals no array generate() returned (file shape {list(shape)})"})
    return matched, unmatched


# --------------------------------------------------- input classification

def concat_over_calls(calls, key):
    return torch.cat([c.tensors[key] for c in calls], 0)


def guess_distribution(x):
    x = x.double().flatten()
    lo, hi = float(x.min()), float(x.max())
    mean, std = float(x.mean()), float(x.std()) if x.numel() > 1 else 0.0
    if lo >= 0.0 and hi <= 1.0:
        return "uniform", {"range": [0.0, 1.0], "mean": mean, "std": std}
    if lo >= -1.0 and hi <= 1.0 and std < 0.7:
        return "uniform", {"range": [-1.0, 1.0], "mean": mean, "std": std}
    return "normal", {"mean": mean, "std": std}


def embedding_sizes(module):
    return [m.num_embeddings for m in module.modules() if isinstance(m, torch.nn.Embedding)]


def classify_inputs(calls, module, meta, custom):
    """The module's tensor inputs with roles, in the exported wrapper's
    order: latents, conditions, then images (forward order within each)."""
    first = calls[0]
    # forward order of the tensor slots
    keys = [s[1] for s in first.pos if s[0] == "T"] + [s[1] for k, s in first.kw.items() if s[0] == "T"]
    try:
        params = list(inspect.signature(module.forward).parameters)
    except (TypeError, ValueError):
        params = []
    batches = [c.batch for c in calls]
    n_total = sum(batches)
    items = []
    for key in keys:
        shapes = {tuple(c.tensors[key].shape) for c in calls}
        if any(len(s) == 0 or s[0] != c.batch for s, c in zip([tuple(c.tensors[key].shape) for c in calls], calls)):
            constant = all(tensors_equal(c.tensors[key], first.tensors[key]) for c in calls)
            if not constant:
                raise CaptureError("capture", "no_generator",
                                   f"generator input {key!r} has no per-sample first dimension "
                                   f"(shapes {sorted(shapes)}) and changes between calls; not supported.")
            items.append({"key": key, "role": "constant", "tensor": first.tensors[key]})
            continue
        x = concat_over_calls(calls, key)
        pname = params[key] if isinstance(key, int) and key < len(params) else str(key)
        item = {"key": key, "param": pname, "tensor": x, "dtype": str(x.dtype).replace("torch.", "")}
        per = list(x.shape[1:])
        if not x.is_floating_point():
            vals = sorted({int(v) for v in x.flatten().tolist()})
            emb = embedding_sizes(module)
            n_values = emb[0] if len(emb) >= 1 and max(vals) < emb[0] else max(vals) + 1
            item.update(role="condition", observed=vals, num_values=n_values, per_sample_shape=per)
        elif x.dim() == 4 and x.shape[2] >= 8 and x.shape[3] >= 8:
            binary = torch.unique(x).numel() <= 2
            item.update(role="image", kind="mask" if binary else "image", channels=int(x.shape[1]),
                        height=int(x.shape[2]), width=int(x.shape[3]), range=[float(x.min()), float(x.max())])
        elif int(np.prod(per)) == 1 and len(set(x.flatten().tolist())) <= max(2, n_total // 2) and n_total >= 4:
            item.update(role="condition", type="float", observed=sorted(set(x.flatten().tolist())),
                        per_sample_shape=per)
        else:
            dist, stats = guess_distribution(x)
            item.update(role="latent", shape=per, distribution=dist, stats=stats)
        items.append(item)
    order = {"latent": 0, "condition": 1, "image": 2}
    tensor_items = [i for i in items if i["role"] != "constant"]
    tensor_items.sort(key=lambda i: order[i["role"]])  # stable: forward order within a role
    # names: z, z2, ...; condition names from the custom args that look like
    # one (medigan's "condition"), else the forward parameter; image / mask
    used = {}
    cond_names = [k for k in custom if re.search(r"cond|label|class", k, re.I)]
    n_cond = 0
    for it in tensor_items:
        r = it["role"]
        if r == "condition":
            nm = cond_names[n_cond] if n_cond < len(cond_names) else it["param"]
            n_cond += 1
        else:
            nm = "z" if r == "latent" else it["kind"]
        used[nm] = used.get(nm, 0) + 1
        it["name"] = re.sub(r"\W", "_", nm if used[nm] == 1 else f"{nm}{used[nm]}")
        if r == "condition" and it.get("type") != "float":
            labels = condition_labels(meta, it["num_values"], prefer=[it["name"], it["param"]])
            it["labels"] = labels or [str(i) for i in range(it["num_values"])]
            it["labels_from"] = "metadata description.inputs" if labels else "indices"
    seen = set()
    for it in tensor_items:  # unique names
        while it["name"] in seen:
            it["name"] += "_"
        seen.add(it["name"])
    constants = [i for i in items if i["role"] == "constant"]
    return tensor_items, constants


def input_report(it):
    d = {"name": it["name"], "role": it["role"], "param": it["param"], "dtype": it["dtype"],
         "file": f"inputs/{it['name']}.npy"}
    if it["role"] == "latent":
        d.update(shape=it["shape"], distribution=it["distribution"], observed=it["stats"])
    elif it["role"] == "condition":
        if it.get("type") == "float":
            d.update(type="float", observed=it["observed"])
        else:
            d.update(values=it["labels"], values_from=it["labels_from"], observed=it["observed"],
                     num_values=it["num_values"])
    else:
        d.update(kind=it["kind"], channels=it["channels"], height=it["height"], width=it["width"],
                 range=it["range"])
    return d


def save_input(outdir, it):
    os.makedirs(os.path.join(outdir, "inputs"), exist_ok=True)
    x = it["tensor"]
    if it["role"] == "condition" and it.get("type") != "float":
        a = x.reshape(x.shape[0], -1)[:, 0] if x[0].numel() == 1 else x
        a = a.numpy().astype(np.int64)
    else:
        a = x.float().numpy()
    np.save(os.path.join(outdir, "inputs", it["name"] + ".npy"), a)


# ------------------------------------------------------------- export

def _literal(v):
    """Source text for v if it round-trips as a Python literal, else None."""
    v = _plain(v)
    try:
        s = repr(v)
        if ast.literal_eval(s) == v and type(ast.literal_eval(s)) is type(v):
            return s
    except (ValueError, SyntaxError, TypeError, RecursionError):
        pass
    return None


WRAPPER_SRC = '''"""Written by scripts/zoo_capture.py: the exported generator.

forward takes the generator's tensor inputs ({names}) and calls it with the
fixed non-tensor arguments the package passed ({fixed})."""
import torch


class ZooExport(torch.nn.Module):
    def __init__(self, generator{extra_init}):
        super().__init__()
        self.generator = generator
{init_body}
    def forward(self, {params}):
        return self.generator({call})
'''


def build_wrapper(module, call, tensor_items, constants, src_path):
    """A small nn.Module whose forward takes only the tensor inputs (in the
    order of tensor_items) and passes the recorded non-tensor arguments as
    literals; its source goes to src_path so torch.jit.script can read it."""
    name_of = {it["key"]: it["name"] for it in tensor_items}
    const_of = {c["key"]: f"self.const_{i}" for i, c in enumerate(constants)}
    objects, fixed = {}, {}

    def render(key, slot):
        if slot[0] == "T":
            return name_of.get(slot[1]) or const_of[slot[1]]
        fixed[str(key)] = slot[1]
        lit = _literal(slot[1])
        if lit is not None:
            return lit
        objects[str(key)] = slot[1]
        return f"self.objects[{str(key)!r}]"

    parts = [render(i, s) for i, s in enumerate(call.pos)]
    parts += [f"{k}={render(k, s)}" for k, s in call.kw.items()]
    init = []
    for i, c in enumerate(constants):
        init.append(f"        self.register_buffer('const_{i}', constants[{i}])")
    if objects:
        init.append("        self.objects = objects  # values with no literal form: torch.jit.trace only")
    extra = (", constants" if constants else "") + (", objects" if objects else "")
    src = WRAPPER_SRC.format(
        names=", ".join(it["name"] for it in tensor_items) or "none",
        fixed=", ".join(f"{k}={v!r}" for k, v in fixed.items()) or "none",
        extra_init=extra, init_body="\n".join(init) + ("\n" if init else ""),
        params=", ".join(f"{it['name']}: torch.Tensor" for it in tensor_items),
        call=", ".join(parts))
    with open(src_path, "w") as f:
        f.write(src)
    mod = import_file("zoo_export_wrapper_" + hashlib.sha1(src_path.encode()).hexdigest()[:10], src_path)
    args = [module]
    if constants:
        args.append([c["tensor"] for c in constants])
    if objects:
        args.append(objects)
    return mod.ZooExport(*args), fixed


def freeze_for_export(module):
    module.eval()
    for p in module.parameters():
        p.requires_grad_(False)


def _first_line(e):
    text = str(e).strip()
    return f"{type(e).__name__}: {text.splitlines()[0]}" if text else type(e).__name__


def _save_and_load(ts, path, example_inputs):
    """Save, load back and run once: torch.jit.script can return a module
    whose graph is broken (it fails only when printed, saved or run)."""
    ts.save(path)
    loaded = torch.jit.load(path, map_location="cpu")
    run_module(loaded, example_inputs)
    return loaded


def export_module(wrapper, example_inputs, path):
    """torch.jit.script, else torch.jit.trace on example_inputs; saves to
    path and returns (the module loaded back from path, method,
    script_error, notes)."""
    wrapper.eval()
    notes = []
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ts = torch.jit.script(wrapper)
        return _save_and_load(ts, path, example_inputs), "script", None, notes
    except Exception as e:  # noqa: BLE001 - any script failure falls back to trace
        script_error = _first_line(e)
    try:
        with warnings.catch_warnings(record=True) as w:
            warnings.simplefilter("always")
            with torch.no_grad():
                ts = torch.jit.trace(wrapper, tuple(example_inputs), check_trace=False, strict=False)
        kinds = sorted({str(x.message).split("\n")[0][:160] for x in w
                        if "Tracer" in type(x.message).__name__})
        notes += [f"tracer warning: {k}" for k in kinds]
        return _save_and_load(ts, path, example_inputs), "trace", script_error, notes
    except Exception as e2:  # noqa: BLE001
        raise CaptureError("export", "export",
                           f"neither torch.jit.script nor torch.jit.trace could export the generator "
                           f"(script: {script_error}; trace: {_first_line(e2)}); change the generator's "
                           f"forward so that one of them works.", tb=traceback.format_exc())


def flat_outputs(out):
    """Every tensor of a module output keyed by source (position or key)."""
    if isinstance(out, torch.Tensor):
        return {0: out}
    if isinstance(out, (tuple, list)):
        return {i: t for i, t in enumerate(out) if isinstance(t, torch.Tensor)}
    if isinstance(out, dict):
        return {k: t for k, t in out.items() if isinstance(t, torch.Tensor)}
    return {}


def run_module(m, inputs):
    """Forward under inference mode, as Go's LibTorch shim runs it."""
    with torch.inference_mode():
        return flat_outputs(m(*inputs))


def compare(a, b):
    """(max |a-b| over all sources, bit-identical?) for two flat outputs."""
    if a.keys() != b.keys():
        return float("inf"), False
    diff, same = 0.0, True
    for k in a:
        x, y = a[k].float(), b[k].float()
        if x.shape != y.shape:
            return float("inf"), False
        if not torch.equal(a[k], b[k]):
            same = False
            d = (x.double() - y.double()).abs()
            d = d[~torch.isnan(d)]
            if d.numel():
                diff = max(diff, float(d.max()))
    return diff, same


def run_in_chunks(m, inputs_cat, b):
    """Run m on consecutive chunks of b samples and concatenate, as Go does
    with its compute block."""
    n = inputs_cat[0].shape[0]
    outs = []
    for s in range(0, n, b):
        outs.append(run_module(m, [x[s:s + b] for x in inputs_cat]))
    return {k: torch.cat([o[k] for o in outs], 0) for k in outs[0]}


RANDOM_OPS = {"aten::randn", "aten::rand", "aten::randint", "aten::randn_like", "aten::rand_like",
              "aten::randint_like", "aten::normal", "aten::bernoulli", "aten::bernoulli_",
              "aten::multinomial", "aten::uniform_", "aten::normal_", "aten::exponential_",
              "aten::random_", "aten::poisson", "aten::randperm", "aten::cauchy_", "aten::geometric_",
              "aten::log_normal_", "aten::rrelu", "aten::rrelu_with_noise"}
DROPOUT_OPS = {"aten::dropout", "aten::dropout_", "aten::feature_dropout", "aten::feature_dropout_",
               "aten::alpha_dropout", "aten::alpha_dropout_", "aten::feature_alpha_dropout",
               "aten::feature_alpha_dropout_"}


def _walk_nodes(block):
    for n in block.nodes():
        yield n
        for b in n.blocks():
            yield from _walk_nodes(b)


def random_ops(ts):
    """Random-number ops in the exported graph (all calls inlined). The graph
    is searched frozen where freezing works: module flags become constants and
    branches they switch off are gone, so a noise branch that never runs
    (a scripted `if self.noise:`) does not count."""
    found = []
    graph_of = ts
    try:
        graph_of = torch.jit.freeze(ts.eval())
    except Exception:  # not freezable (e.g. it mutates attributes): search it whole
        pass
    for n in _walk_nodes(graph_of.inlined_graph):
        k = n.kind()
        if k in RANDOM_OPS:
            found.append(k)
        elif k in DROPOUT_OPS:
            train = list(n.inputs())[2]
            if train.node().kind() == "prim::Constant":
                if train.toIValue():
                    found.append(f"{k}(train=True)")
            else:
                found.append(f"{k}(train from module state)")
    return sorted(set(found))


def randomness(ts, inputs, first_out=None):
    """{"stochastic", "ops", "repeat_differs"}: ops found in the graph, and
    whether two runs on the same input differ."""
    ops = random_ops(ts)
    a = first_out if first_out is not None else run_module(ts, inputs)
    b = run_module(ts, inputs)
    differs = not compare(a, b)[1]
    hard = [o for o in ops if "module state" not in o]
    return {"stochastic": bool(hard) or differs, "ops": ops, "repeat_differs": differs}


def nominal_range(lo, hi):
    """The conventional range that holds the observed values."""
    for r in ((0.0, 1.0), (-1.0, 1.0), (0.0, 255.0)):
        if lo >= r[0] and hi <= r[1]:
            return list(r)
    return [float(lo), float(hi)]


# -------------------------------------------------- post-processing

RANGES = [(-1.0, 1.0), (0.0, 1.0), (-1.0, 0.0), (0.0, 255.0), (-0.5, 0.5), (1.0, -1.0), (1.0, 0.0)]
TARGETS = [(0.0, 255.0), (0.0, 256.0)]
ARITHMETIC = ["float32", "float32,float64", "float64"]
CASTS = ["truncate", "round", "floor"]
OVERFLOWS = ["clip", "wrap"]
LUT_CMAPS = ["gray", "Greys_r", "bone"]


def colormap_luts():
    """The byte tables matplotlib's colormaps use (first channel); not the
    identity even for 'gray'."""
    luts = {}
    try:
        import matplotlib
        for name in LUT_CMAPS:
            cm = matplotlib.colormaps[name]
            if cm.N != 256:
                continue
            cm._init()
            luts[name] = (cm._lut[:256, 0] * 255).astype(np.uint8)
    except Exception:  # noqa: BLE001 - LUT candidates are optional
        pass
    return luts


def map_values(x, a, b, c, d, clamp, arithmetic):
    """y (float64) of the post formula for float32 values x."""
    x = np.asarray(x, dtype=np.float32)
    if arithmetic in ("float32", "float32,float64"):
        t = (x - np.float32(a)) / np.float32(b - a)
        if clamp:
            t = np.clip(t, np.float32(0.0), np.float32(1.0))
        if arithmetic == "float32":
            y = t * np.float32(d - c)
            y = (y + np.float32(c)).astype(np.float64)
        else:
            y = t.astype(np.float64) * float(d - c) + float(c)
    else:
        t = (x.astype(np.float64) - float(a)) / float(b - a)
        if clamp:
            t = np.clip(t, 0.0, 1.0)
        y = t * float(d - c) + float(c)
    return y


def cast_values(y, cast, overflow):
    with np.errstate(invalid="ignore"):
        v = np.trunc(y) if cast == "truncate" else np.rint(y) if cast == "round" else np.floor(y)
        v = np.nan_to_num(v, nan=0.0)
        if overflow == "clip":
            v = np.clip(v, 0, 255)
        else:  # C's (uint8)(int32)v: modulo 256
            v = np.mod(v, 256.0)
    return v.astype(np.uint8)


def apply_post(x, post):
    """Post-process a window x (float32, any shape) with a post dict."""
    if post.get("threshold") is not None:
        c, d = post["map"][2], post["map"][3]
        return np.where(np.asarray(x, np.float32) > np.float32(post["threshold"]), d, c).astype(np.uint8)
    a, b, c, d = post["map"]
    v = cast_values(map_values(x, a, b, c, d, post["clamp"], post["arithmetic"]), post["cast"], post["overflow"])
    if post.get("lut") is not None:
        v = np.asarray(post["lut"], dtype=np.uint8)[v]
    return v


def make_post(a, b, c, d, clamp=False, arithmetic="float32", cast="truncate", overflow="clip",
              bgr=False, transpose=False, threshold=None, lut=None, lut_name=None):
    return {"map": [float(a), float(b), float(c), float(d)], "clamp": clamp, "arithmetic": arithmetic,
            "cast": cast, "overflow": overflow, "bgr": bgr, "transpose": transpose,
            "threshold": threshold, "lut": lut, "lut_name": lut_name}


def window(raw, offset, channels, bgr, transpose):
    """raw (N, C, H, W) -> (N, H', W', channels) as the package lays it out."""
    w = raw[:, offset:offset + channels].transpose(0, 2, 3, 1)
    if bgr:
        w = w[..., ::-1]
    if transpose:
        w = w.transpose(0, 2, 1, 3)
    return np.ascontiguousarray(w)


def geometries(raw_shape, pkg_shape):
    """(offset, channels, bgr, transpose) windows of raw (N,C,H,W) that have
    the package array's shape (N,H,W,Cp)."""
    _, C, H, W = raw_shape
    _, Hp, Wp, Cp = pkg_shape
    out = []
    for transpose in (False, True):
        if (Hp, Wp) != ((W, H) if transpose else (H, W)):
            continue
        for off in range(0, C - Cp + 1):
            for bgr in ((False, True) if Cp == 3 else (False,)):
                out.append((off, Cp, bgr, transpose))
    return out


def value_candidates(x_sub, luts):
    """Post candidates in order of preference, as (post, function) pairs
    evaluated on a subset; generator so the search can stop early."""
    lo, hi = float(np.min(x_sub)), float(np.max(x_sub))
    for (a, b) in RANGES:
        for (c, d) in TARGETS:
            for clamp in (True, False):
                for ar in ARITHMETIC:
                    y = map_values(x_sub, a, b, c, d, clamp, ar)
                    for cast in CASTS:
                        for ov in OVERFLOWS:
                            v = cast_values(y, cast, ov)
                            yield make_post(a, b, c, d, clamp, ar, cast, ov), v
                            for name, lut in luts.items():
                                yield make_post(a, b, c, d, clamp, ar, cast, ov, lut=lut.tolist(),
                                                lut_name=name), lut[v]
    thresholds = sorted({0.0, 0.5, float(np.float32((lo + hi) / 2))})
    for thr in thresholds:
        for (c, d) in ((0.0, 255.0), (0.0, 1.0)):
            p = make_post(0.0, 1.0, c, d, threshold=float(np.float32(thr)))
            yield p, apply_post(x_sub, p)


def fit_lut(x, target):
    """Last resort: a 256-entry table from the observed (index -> byte)
    pairs under a [0,256] truncating map, when every index maps to one byte."""
    best = None
    for (a, b) in RANGES:
        for (c, d) in ((0.0, 256.0), (0.0, 255.0)):
            for ar in ARITHMETIC:
                idx = cast_values(map_values(x, a, b, c, d, True, ar), "truncate", "clip").ravel()
                tgt = target.ravel()
                table = np.full(256, -1, dtype=np.int64)
                table[idx] = tgt
                if not np.array_equal(table[idx], tgt):
                    continue
                observed = np.flatnonzero(table >= 0)
                if best is None or len(observed) > len(best[1]):
                    best = (make_post(a, b, c, d, True, ar, "truncate", "clip"), observed, table)
    if best is None:
        return None
    post, observed, table = best
    filled = np.interp(np.arange(256), observed, table[observed]).round().astype(np.uint8)
    post["lut"] = filled.tolist()
    post["lut_name"] = "fitted"
    post["lut_observed"] = observed.tolist()
    return post


def _subset(n_values, k=65536, seed=0):
    if n_values <= k:
        return slice(None)
    return np.sort(np.random.RandomState(seed).choice(n_values, k, replace=False))


def search_post(sources, pkg, luts, fit=False):
    """Find a post candidate reproducing every value of pkg (N,H,W,Cp uint8)
    from one of sources {key: (N,C,H,W) float32}. With fit, only try fitted
    lookup tables (the last resort). Returns (best candidate or None, exact)."""
    best = None  # (fraction, candidate)
    for key, raw in sources.items():
        for (off, cp, bgr, tr) in geometries(raw.shape, pkg.shape):
            win = window(raw, off, cp, bgr, tr)
            cand = {"source": key, "offset": off, "channels": cp, "window": win, "total": int(pkg.size)}
            if fit:
                post = fit_lut(win, pkg)
                if post is not None:
                    post.update(bgr=bgr, transpose=tr)
                    return dict(cand, post=post, equal=int(pkg.size)), True
                continue
            # cheap filter on a fixed random subset of all values, then the full check
            sub = _subset(win.size)
            xs, ps = win.ravel()[sub], pkg.ravel()[sub]
            for post, v in value_candidates(xs, luts):
                post = dict(post, bgr=bgr, transpose=tr)
                frac = np.count_nonzero(v == ps) / ps.size
                if frac == 1.0:
                    eq = int(np.count_nonzero(apply_post(win, post) == pkg))
                    if eq == pkg.size:
                        return dict(cand, post=post, equal=eq, also_exact=also_exact(win, pkg, post)), True
                    frac = eq / pkg.size
                if best is None or frac > best[0]:
                    best = (frac, dict(cand, post=post))
    if best is None:
        return None, False
    c = best[1]
    c["equal"] = int(np.count_nonzero(apply_post(c["window"], c["post"]) == pkg))
    return c, False


def also_exact(win, pkg, post):
    """The arithmetic/clamp variants of an exact post that are exact too. They
    can only differ where a value lies within a float32 rounding of a pixel
    boundary, so the recorded samples may not tell them apart; the report
    says so instead of claiming more than was shown."""
    if post.get("threshold") is not None:
        return []
    found = []
    for ar in ARITHMETIC:
        for clamp in (True, False):
            if ar == post["arithmetic"] and clamp == post["clamp"]:
                continue
            alt = dict(post, arithmetic=ar, clamp=clamp)
            if np.array_equal(apply_post(win, alt), pkg):
                found.append(f"arithmetic {ar}" + (", clamp" if clamp else ", no clamp"))
    return found


def _is_binary(a):
    return len(np.unique(a)) <= 2


def element_names(samples, matched):
    """Report names and kinds for the elements of a returned sample."""
    n_el = len(samples[0])
    suffixes = {}
    for m in matched:
        suffixes.setdefault(m["element"], set()).add(m["suffix"].lower())
    names, kinds = [], []
    for k in range(n_el):
        arr = np.stack([s[k] for s in samples[:4]])
        suf_mask = any("mask" in s for s in suffixes.get(k, ()))
        masky = suf_mask or _is_binary(arr)
        if k == 0 and not (n_el == 1 and suf_mask):
            nm, kind = "image", "mask" if suf_mask else "image"
        elif masky and "mask" not in names:
            nm, kind = "mask", "mask"
        else:
            nm, kind = f"output{k}", "mask" if masky else "image"
        names.append(nm)
        kinds.append(kind)
    return names, kinds


# ------------------------------------------------------------ capture

def link_models_dir(pkg_dir, ids):
    """medigan keeps packages under models/<id> relative to cwd; some
    default arguments are such paths."""
    for mid in ids:
        try:
            os.makedirs("models", exist_ok=True)
            link = os.path.join("models", mid)
            if not os.path.lexists(link):
                os.symlink(os.path.abspath(pkg_dir), link)
        except OSError:
            pass


def check_dependencies(deps):
    missing = []
    for dep in deps or []:
        name = re.split(r"[<>=!~\[; ]", str(dep).strip(), 1)[0]
        imp = PIP_TO_IMPORT.get(name.lower(), name.replace("-", "_"))
        try:
            if importlib.util.find_spec(imp) is None:
                missing.append(f"{dep} (import {imp})")
        except (ImportError, ValueError):
            missing.append(f"{dep} (import {imp})")
    return missing


def import_package(pkg_dir, model_id, deps, scratch):
    init = os.path.join(pkg_dir, "__init__.py")
    if not os.path.isfile(init):
        raise CaptureError("import", "bad_package", f"{pkg_dir} has no __init__.py with the generate function.")
    name = "zoo_pkg_" + re.sub(r"\W", "_", model_id) + "_" + hashlib.sha1(
        os.path.abspath(pkg_dir).encode()).hexdigest()[:8]
    try:
        return import_file(name, init, pkg_dir), []
    except ModuleNotFoundError as e:
        top = (e.name or "").split(".")[0]
        # some packages import their own files absolutely (import networks)
        if top and (os.path.exists(os.path.join(pkg_dir, top + ".py")) or
                    os.path.isdir(os.path.join(pkg_dir, top))):
            sys.path.insert(0, os.path.abspath(pkg_dir))
            try:
                return import_file(name, init, pkg_dir), [
                    f"the package imports its own module {top!r} by absolute name; imported with its "
                    f"folder on sys.path"]
            except BaseException as e2:  # noqa: BLE001
                raise classify_exception(e2, "import", scratch, deps)
        raise classify_exception(e, "import", scratch, deps)
    except BaseException as e:  # noqa: BLE001 - package code may raise anything
        raise classify_exception(e, "import", scratch, deps)


def describe_return(samples):
    if samples is None:
        return None
    shapes = [f"{e.shape[0]}x{e.shape[1]}x{e.shape[2]} {e.dtype}" for e in samples[0]]
    kind = "arrays" if len(shapes) == 1 else "tuples (" + ", ".join(shapes) + ")"
    return f"list of {len(samples)} {kind if len(shapes) > 1 else shapes[0] + ' arrays'}"


def capture(opts):
    t_start = time.time()
    outdir = os.path.abspath(opts.out)
    os.makedirs(outdir, exist_ok=True)
    pkg_dir = os.path.abspath(opts.package)
    scratch = [os.getcwd(), outdir]
    warn = []

    model_id, meta, ex = load_metadata(pkg_dir, opts.metadata)
    gm = ex["generate_method"]
    gen_name = gm.get("name") or "generate"
    args_meta = gm.get("args") or {}
    base_names = list(args_meta.get("base") or [])
    custom = dict(args_meta.get("custom") or {})
    custom.update(parse_arg_values(opts.arg))
    deps = ex.get("dependencies") or []
    ckpt = opts.checkpoint or os.path.join(pkg_dir, f"{ex.get('model_name', '')}{ex.get('extension', '')}")
    if not os.path.isfile(ckpt):
        raise CaptureError("metadata", "bad_package",
                           f"checkpoint {ckpt} not found: pass --checkpoint FILE or put "
                           f"{ex.get('model_name')}{ex.get('extension')} (metadata model_name + extension) "
                           f"in the package folder.")
    for m in check_dependencies(deps):
        warn.append(f"metadata dependency not importable here: {m}")

    link_models_dir(pkg_dir, sorted({model_id} | ({opts.id} if opts.id else set())))
    set_threads()
    log(f"importing package {model_id} from {pkg_dir}")
    pkg, notes = import_package(pkg_dir, model_id, deps, scratch)
    warn += notes
    gen = getattr(pkg, gen_name, None)
    if not callable(gen):
        raise CaptureError("import", "bad_package",
                           f"the package's __init__.py has no function {gen_name!r} (metadata "
                           f"execution.generate_method.name).")

    pkg_out = os.path.join(outdir, "package_out")
    log(f"running the package's generate() ({gen_name}, {opts.samples} samples, seed {opts.seed}, "
        f"custom {json.dumps(to_jsonable(custom))}) with save_images=True ...")
    t0 = time.time()
    try:
        _, calls1 = call_generate(gen, base_names, ckpt, opts.samples, pkg_out, True, custom, opts.seed)
    except BaseException as e:  # noqa: BLE001
        raise classify_exception(e, "generate", scratch, deps)
    t_gen = time.time() - t0
    log(f"  generate(save_images=True) took {t_gen:.1f} s, {len(calls1)} module call(s)")
    files = scan_files(pkg_out, outdir) if os.path.isdir(pkg_out) else []

    log("running generate() again with save_images=False for the returned arrays ...")
    samples, calls, ret_note = None, calls1, "ok"
    try:
        ret, calls2 = call_generate(gen, base_names, ckpt, opts.samples, None, False, custom, opts.seed)
        samples = normalize_returned(ret)
        if samples is None:
            ret_note = "returned no list of arrays"
        elif not same_inputs(calls1, calls2):
            ret_note = "recorded module inputs differ from the first run"
            warn.append("the two generate() runs gave different module inputs under the same seed "
                        "(randomness outside torch/numpy/random?); the saved files are used")
            samples = None
        else:
            calls = calls2
    except BaseException as e:  # noqa: BLE001
        ret_note = f"failed: {type(e).__name__}: {e}"
    if samples is None:
        warn.append(f"generate(save_images=False) {ret_note}; the saved files are decoded instead")
        samples = samples_from_files(files)
        calls = calls1
        if samples is None:
            raise CaptureError("generate", "package_error",
                               "generate() neither returned arrays (save_images=False) nor wrote readable "
                               "image files (save_images=True); nothing to compare the generator with.")
    del calls1

    # ---- the generator
    if not calls:
        raise CaptureError("capture", "no_generator",
                           "generate() made no call of a torch.nn.Module with parameters, so there is no "
                           "generator to export; zoo import needs the package to run a PyTorch module.")
    groups = [g for g in group_by_module(calls) if all(output_sources(c.output) for c in g)]
    if not groups:
        raise CaptureError("capture", "no_generator",
                           "no module called by generate() returned a 4-D (N, C, H, W) tensor; "
                           "zoo import exports image generators only.")
    luts = colormap_luts()
    matched, unmatched = match_files(files, samples)
    names, kinds = element_names(samples, matched)
    # files written with channels reversed (cv2.imwrite of an RGB array):
    # outputs follow the files, which is what a user of the package gets
    reversed_el = {m["element"] for m in matched if m["how"] == "reversed"}
    for k in sorted(reversed_el):
        if all(m["how"] == "reversed" for m in matched if m["element"] == k):
            for s in samples:
                s[k] = np.ascontiguousarray(s[k][..., ::-1])
            for m in matched:
                if m["element"] == k:
                    m["how"] = "same"
            warn.append(f"the files of output {names[k]!r} hold the returned array's channels reversed "
                        f"(cv2.imwrite); the outputs follow the files")

    chosen, post_results = None, None
    if len(groups) > 1:
        desc = ", ".join(f"{type(g[0].module).__name__} ({len(g)} calls)" for g in groups)
        warn.append(f"several modules were called by generate(): {desc}; the one whose outputs map onto "
                    f"the package's images is exported")
    for g in groups:
        for c in g:
            c.batch = int(next(iter(output_sources(c.output).values())).shape[0])
        res = infer_outputs(g, samples, names, kinds, luts)
        score = sum(1 for r in res if r["exact"])
        if chosen is None or score > chosen[0]:
            chosen = (score, g, res)
    _, gcalls, post_results = chosen
    module = gcalls[0].module
    layouts = {c.layout() for c in gcalls}
    if len(layouts) != 1:
        raise CaptureError("capture", "no_generator",
                           f"the generator ({type(module).__name__}) was called with different non-tensor "
                           f"arguments or argument layouts across calls ({len(layouts)} variants); a fixed "
                           f"export needs the same ones in every call.")
    train_mods = sorted({n for c in gcalls for n in c.train_modules})
    if train_mods:
        warn.append(f"the package ran the generator with {len(train_mods)} BatchNorm/InstanceNorm/Dropout "
                    f"layer(s) in training mode ({', '.join(train_mods[:5])}); the export is in eval mode and "
                    f"may differ from the package")
    n_params = sum(p.numel() for p in module.parameters())
    batches = [c.batch for c in gcalls]
    log(f"generator: {type(module).__name__}, {n_params} parameters, {len(gcalls)} call(s), batches {batches}")

    # ---- inputs
    tensor_items, constants = classify_inputs(gcalls, module, meta, custom)
    for it in tensor_items:
        save_input(outdir, it)
    if not tensor_items:
        raise CaptureError("capture", "no_generator",
                           f"the generator ({type(module).__name__}) takes no tensor input; zoo runs "
                           f"generators that take a latent, conditions or images.")
    inputs_cat = [it["tensor"] for it in tensor_items]
    per_call = [[c.tensors[it["key"]] for it in tensor_items] for c in gcalls]

    # ---- export
    freeze_for_export(module)
    wrapper, fixed = build_wrapper(module, gcalls[0], tensor_items, constants,
                                   os.path.join(outdir, "export_wrapper.py"))
    gen_path = os.path.join(outdir, "generator.pt")
    log("exporting the generator (torch.jit.script, else torch.jit.trace) ...")
    try:
        ts, method, script_error, notes = export_module(wrapper, per_call[0], gen_path)
    except CaptureError:
        raise
    except BaseException as e:  # noqa: BLE001
        raise CaptureError("export", "export", f"exporting the generator failed: {type(e).__name__}: {e}.",
                           tb=traceback.format_exc())
    warn += notes
    if script_error:
        log(f"  torch.jit.script failed ({script_error[:120]}); used torch.jit.trace")

    # ---- verify: TorchScript vs eager on every recorded call
    max_diff, identical, pkg_identical = 0.0, True, True
    ts_calls = []
    for c, ins in zip(gcalls, per_call):
        ts_out = run_module(ts, ins)
        eager = run_module(wrapper, ins)
        d, same = compare(ts_out, eager)
        max_diff, identical = max(max_diff, d), identical and same
        pkg_identical = pkg_identical and compare(ts_out, flat_outputs(c.output))[1]
        ts_calls.append(ts_out)
    log(f"exported by torch.jit.{method}, max |TorchScript - eager| = {max_diff:g}"
        f"{' (bit-identical)' if identical else ''}")
    rnd = randomness(ts, per_call[0], ts_calls[0])
    if rnd["stochastic"]:
        log(f"  the exported module is stochastic (ops {rnd['ops']}, repeat differs: {rnd['repeat_differs']})")

    # ---- compute block
    n = sum(batches)
    pkg_raw = {k: torch.cat([flat_outputs(c.output)[k] for c in gcalls], 0) for k in flat_outputs(gcalls[0].output)}
    uniform_batch = batches[0] if len(set(batches)) == 1 else None
    has_image = any(it["role"] == "image" for it in tensor_items)
    if rnd["stochastic"]:
        block = uniform_batch or 1
        block_note = (f"stochastic module: the package's call batch ({block}); its in-forward random draws "
                      f"cannot be matched, Go seeds LibTorch per compute block")
    elif has_image:
        block = 1
        out1 = ({k: torch.cat([o[k] for o in ts_calls], 0) for k in ts_calls[0]} if uniform_batch == 1
                else run_in_chunks(ts, inputs_cat, 1))
        ok = compare(out1, pkg_raw)[1]
        block_note = ("image-to-image: one sample per forward; " +
                      ("bit-identical to the package's raw outputs" if ok else
                       "NOT bit-identical to the package's raw outputs"))
    else:
        block, block_note = None, None
        for b in (16, 8, 4, 2, 1):
            if b > n or n % b:
                continue
            try:
                out = run_in_chunks(ts, inputs_cat, b) if not (uniform_batch == b) else \
                    {k: torch.cat([o[k] for o in ts_calls], 0) for k in ts_calls[0]}
            except Exception as e:  # noqa: BLE001 - e.g. a trace that baked in its batch size
                warn.append(f"the exported module failed on blocks of {b}: {type(e).__name__}: "
                            f"{str(e).splitlines()[0] if str(e) else ''}")
                continue
            d, same = compare(out, pkg_raw)
            if same:
                block, block_note = b, f"bit-identical to the package's raw outputs in blocks of {b}"
                break
        if block is None:
            block = uniform_batch or 1
            block_note = (f"no block of 16, 8, 4, 2 or 1 samples reproduced the package's raw outputs bit for "
                          f"bit; using the package's call batch {block}" if uniform_batch else
                          "no block size reproduced the package's raw outputs bit for bit, and the package's "
                          "call batches vary; using 1")
            warn.append(block_note)
    log(f"compute block {block}: {block_note}")

    # ---- outputs
    outputs, unexpressed = [], []
    for r in post_results:
        if r.get("from_input") is not None:
            item = next(it for it in tensor_items if it["key"] == r["from_input"])
            unexpressed.append({"output": r["name"], "kind": r["kind"], "element": r["element"],
                                "why": f"it is the package's input {item['name']}, passed through",
                                "from_input": item["name"], "input_file": f"inputs/{item['name']}.npy",
                                "channel_offset": r["offset"], "channels": r["channels"],
                                "height": r["height"], "width": r["width"], "post": r["post"],
                                "equal_pixels": r["equal"], "pixels": r["total"]})
            continue
        if r.get("source") is None:
            unexpressed.append({"output": r["name"], "kind": r["kind"], "element": r["element"], "why": r["why"]})
            continue
        out = {"name": r["name"], "kind": r["kind"], "element": r["element"], "source": r["source"],
               "channel_offset": r["offset"], "channels": r["channels"], "height": r["height"],
               "width": r["width"], "raw_range": r["raw_range"], "observed_range": r["observed_range"],
               "post": r["post"], "equal_pixels": r["equal"], "pixels": r["total"]}
        outputs.append(out)
        if r.get("also_exact"):
            # clamp variants of a bounded (tanh) output are the same function; only
            # arithmetic differences are a real ambiguity worth a warning
            alts = [a for a in r["also_exact"] if not a.startswith("arithmetic " + r["post"]["arithmetic"] + ",")]
            out["also_exact"] = r["also_exact"]
            if alts:
                warn.append(f"output {r['name']}: the recorded samples fit {r['post']['arithmetic']} arithmetic "
                            f"(kept) and also {'; '.join(alts)}; these differ only where a value lies within a "
                            f"float32 rounding of a pixel boundary, which these samples never hit. Import with "
                            f"more --samples to tell them apart.")
        if not r["exact"]:
            unexpressed.append({"output": r["name"], "kind": r["kind"], "element": r["element"],
                                "why": r["why"], "best": r["post"],
                                "equal_fraction": r["equal"] / max(1, r["total"])})
    for o in outputs:
        p = o["post"]
        last = o["channel_offset"] + o["channels"] - 1
        log(f"output {o['name']}: source {o['source']} channels {o['channel_offset']}..{last}"
            f", map {p['map']} clamp {p['clamp']} {p['arithmetic']} {p['cast']} {p['overflow']}"
            f"{' lut ' + str(p.get('lut_name')) if p.get('lut') else ''}"
            f"{' threshold ' + str(p['threshold']) if p.get('threshold') is not None else ''}"
            f": {o['equal_pixels']}/{o['pixels']} equal")
    for u in unexpressed:
        log(f"not expressed: {u['output']}: {u['why']}")

    name_of_el = {r["element"]: r["name"] for r in post_results}
    package_files = []
    for m in matched:
        d = {"file": m["file"], "sample": m["sample"], "output": name_of_el[m["element"]]}
        if m["how"] != "same":
            d["how"] = m["how"]
        package_files.append(d)
    if files and not package_files:
        warn.append("none of the saved files equals a returned array")

    report = {
        "model_id": opts.id or model_id, "metadata_id": model_id,
        "package_name": ex.get("package_name"), "package_dir": pkg_dir,
        "checkpoint": os.path.basename(ckpt), "checkpoint_path": os.path.abspath(ckpt),
        "checkpoint_sha256": sha256_file(ckpt),
        "python": platform.python_version(), "torch": torch.__version__, "numpy": np.__version__,
        "generate": {"name": gen_name, "num_samples": opts.samples, "seed": opts.seed, "custom": custom,
                     "base": base_names, "returned": describe_return(samples),
                     "save_images_false": ret_note, "seconds": round(t_gen, 3)},
        "module": {"class": type(module).__qualname__, "module": type(module).__module__,
                   "parameters": n_params, "calls": len(gcalls), "call_batches": batches,
                   "train_mode_at_call": bool(train_mods), "train_mode_modules": train_mods,
                   "train_mode_any": any(c.train_any for c in gcalls)},
        "fixed_args": fixed,
        "export": {"method": method, "script_error": script_error, "max_abs_diff": max_diff,
                   "bit_identical": identical, "package_bit_identical": pkg_identical,
                   "wrapper": "export_wrapper.py", "file": "generator.pt",
                   "sha256": sha256_file(gen_path), "size": os.path.getsize(gen_path),
                   "fixed_args_baked": True},
        "stochastic": rnd["stochastic"], "stochastic_ops": rnd["ops"],
        "stochastic_repeat_differs": rnd["repeat_differs"],
        "block": block, "block_note": block_note,
        "inputs": [input_report(it) for it in tensor_items],
        "outputs": outputs, "unexpressed": unexpressed,
        "package_files": package_files, "unmatched_files": unmatched,
        "samples": n, "seconds": round(time.time() - t_start, 2),
        "warnings": warn,
    }
    write_json(os.path.join(outdir, "report.json"), report)
    log(f"wrote {os.path.join(outdir, 'report.json')} ({len(outputs)} output(s), {len(unexpressed)} not "
        f"expressed, {len(package_files)} file(s) matched, {len(unmatched)} unmatched)")
    return report


def infer_outputs(gcalls, samples, names, kinds, luts):
    """Post-processing for each element of the returned samples, from the
    raw outputs of one module's calls (or, failing that, from its inputs)."""
    srcs = {}
    for k in output_sources(gcalls[0].output):
        srcs[k] = torch.cat([output_sources(c.output)[k] for c in gcalls], 0).float().numpy()
    n_raw = next(iter(srcs.values())).shape[0]
    img_inputs = {}
    for key in gcalls[0].tensors:
        ts = [c.tensors[key] for c in gcalls]
        if all(t.dim() == 4 and t.is_floating_point() and t.shape[0] == c.batch for t, c in zip(ts, gcalls)):
            img_inputs[key] = torch.cat(ts, 0).float().numpy()
    results = []
    n = min(len(samples), n_raw)
    for k in range(len(samples[0])):
        pkg = np.stack([s[k] for s in samples[:n]])
        if pkg.shape[3] == 4:  # RGBA: compare the RGB channels
            pkg = pkg[..., :3]
        base = {"name": names[k], "kind": kinds[k], "element": k, "height": int(pkg.shape[1]),
                "width": int(pkg.shape[2])}
        if pkg.dtype != np.uint8:
            results.append(dict(base, source=None, exact=False,
                                why=f"the package returns {pkg.dtype} arrays; zoo reproduces uint8 images only"))
            continue
        # a 3-channel array with R=G=B may be a gray output tiled to RGB
        variants = [pkg] + ([pkg[..., :1]] if pkg.shape[3] == 3 and all(_is_gray_rgb(p) for p in pkg[:4]) else [])

        def first_exact(sources, fit=False):
            best = None
            for v in variants:
                f, e = search_post(sources, v, luts, fit=fit)
                if e:
                    return f, True
                if f is not None and (best is None or f["equal"] / f["total"] > best["equal"] / best["total"]):
                    best = f
            return best, False

        found, exact = first_exact(srcs)
        if not exact and img_inputs:
            f_in, e_in = first_exact(img_inputs)
            if e_in:  # not a module output: the package passes its input through
                results.append(dict(base, from_input=f_in["source"], offset=f_in["offset"],
                                    channels=f_in["channels"], post=_clean_post(f_in["post"]),
                                    equal=f_in["equal"], total=f_in["total"], exact=True))
                continue
        if not exact:
            f_fit, e_fit = first_exact(srcs, fit=True)
            if e_fit:
                found, exact = f_fit, True
        if found is None:
            results.append(dict(base, source=None, exact=False,
                                why=f"no module output has the package array's size "
                                    f"{pkg.shape[1]}x{pkg.shape[2]}x{pkg.shape[3]} (resized or cropped "
                                    f"in post-processing?)"))
            continue
        win = found["window"]
        lo, hi = float(win.min()), float(win.max())
        why = None
        if not exact:
            why = (f"no candidate post-processing reproduces every pixel; best: {found['equal']}/{found['total']} "
                   f"values equal ({100.0 * found['equal'] / found['total']:.2f} %)")
        if len(samples) != n_raw:
            why = ((why + "; " if why else "") +
                   f"the package returned {len(samples)} samples for {n_raw} module samples")
            exact = False
        results.append(dict(base, source=found["source"], offset=found["offset"], channels=found["channels"],
                            post=_clean_post(found["post"]), equal=found["equal"], total=found["total"],
                            raw_range=nominal_range(lo, hi), observed_range=[lo, hi], exact=exact, why=why,
                            also_exact=found.get("also_exact") or []))
    return results


def _clean_post(p):
    keys = ["map", "clamp", "arithmetic", "cast", "overflow", "bgr", "transpose", "threshold", "lut", "lut_name"]
    out = {k: p.get(k) for k in keys}
    if "lut_observed" in p:
        out["lut_observed"] = p["lut_observed"]
    return out


# ---------------------------------------------------------------- CLI

def parse_args(argv):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--package", required=True, help="the medigan package folder (with metadata.json)")
    ap.add_argument("--out", required=True, help="output folder (report.json, generator.pt, ...)")
    ap.add_argument("--checkpoint", help="checkpoint file (default: DIR/<model_name><extension>)")
    ap.add_argument("--samples", type=int, default=16, help="num_samples for generate() (default 16)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--arg", action="append", default=[], metavar="KEY=JSONVALUE",
                    help="override a custom generate() argument (JSON; plain text is a string)")
    ap.add_argument("--memory-mb", type=int, default=DEFAULT_MEMORY_MB,
                    help=f"address-space limit in MiB (default {DEFAULT_MEMORY_MB}; 0: none)")
    ap.add_argument("--id", help="model id for the report (default: the metadata key)")
    ap.add_argument("--metadata", help="medigan metadata JSON to use instead of DIR/metadata.json")
    return ap.parse_args(argv)


def write_error(outdir, err):
    try:
        os.makedirs(outdir, exist_ok=True)
        write_json(os.path.join(outdir, "error.json"), err.to_json())
    except OSError as e:
        log(f"cannot write error.json: {e}")
    log(f"error ({err.kind}, {err.stage}): {err.message}")


def main(argv=None):
    opts = parse_args(sys.argv[1:] if argv is None else argv)
    if _IMPORT_ERROR is not None:
        e = _IMPORT_ERROR
        if isinstance(e, MemoryError):
            err = CaptureError("setup", "memory", f"importing torch failed under the {opts.memory_mb} MiB "
                               f"memory limit; raise --memory-mb.")
        else:
            err = classify_exception(e, "setup", [os.getcwd()])
        write_error(os.path.abspath(opts.out), err)
        return EXIT_ERROR
    try:
        capture(opts)
    except CaptureError as e:
        write_error(os.path.abspath(opts.out), e)
        return EXIT_ERROR
    except MemoryError:
        write_error(os.path.abspath(opts.out), CaptureError(
            "capture", "memory", "zoo_capture ran out of memory under the memory limit; raise --memory-mb "
            "or use fewer samples.", tb=traceback.format_exc()))
        return EXIT_ERROR
    except Exception as e:  # noqa: BLE001 - a bug here must still leave error.json
        write_error(os.path.abspath(opts.out), CaptureError(
            "capture", "internal", f"zoo_capture failed: {type(e).__name__}: {e}.", tb=traceback.format_exc()))
        return EXIT_ERROR
    return 0


if __name__ == "__main__":
    sys.exit(main())
