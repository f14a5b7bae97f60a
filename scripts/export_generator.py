#!/usr/bin/python3
"""export_generator: export your own PyTorch generator to TorchScript for zoo.

For a researcher with a generator class and a checkpoint but no medigan
package. Loads the class, loads the state dict, puts the module in eval mode
and exports it exactly as `zoo import` does (scripts/zoo_capture.py: a
wrapper whose forward takes only tensors, torch.jit.script, else
torch.jit.trace), checks TorchScript against eager PyTorch on seeded inputs,
checks for randomness inside forward, and writes

    DIR/generator.pt       the TorchScript module
    DIR/report.json        what was checked (same keys as zoo_capture's report where they apply)
    DIR/entry.toml         a draft [[model]] catalog entry (fill in title, description, ...)
    DIR/export_wrapper.py  the wrapper's source

Example:

    /usr/bin/python3 -B scripts/export_generator.py --module mygan/models.py --class Generator \\
        --kwargs '{"nz": 100}' --checkpoint ckpt.pt --state-key generator --latent 100,1,1 \\
        --condition class=benign,malignant --out exported --id 00900_MY_DCGAN

The module receives, in this order: the latent (if --latent), the conditions
(int64 [N], value indices, in --condition order), the images (--image). Use
--order to give the generator's own positional order (e.g. --order image,z)
and --forward-kwargs for fixed non-tensor arguments (e.g. '{"step": 6}').
"""

import argparse
import platform
import re
import json
import os
import sys

sys.dont_write_bytecode = True  # importing zoo_capture must not leave __pycache__ behind
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import zoo_capture as zc  # noqa: E402  (the one implementation of export and checks)
from scriptlib import toml_value  # noqa: E402
from zoo_capture import np, torch  # noqa: E402

COMMON_STATE_KEYS = ("state_dict", "generator", "netG", "G", "model", "generator_state_dict", "g_ema")


def parse_shape(text):
    try:
        shape = [int(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise SystemExit(f"export_generator: bad shape {text!r} (want e.g. 100,1,1)")
    if not shape or any(n <= 0 for n in shape):
        raise SystemExit(f"export_generator: bad shape {text!r}")
    return shape


def parse_condition(text):
    if "=" not in text:
        raise SystemExit(f"export_generator: --condition {text!r} is not NAME=v1,v2,...")
    name, values = text.split("=", 1)
    values = [v.strip() for v in values.split(",") if v.strip()]
    if not values:
        raise SystemExit(f"export_generator: --condition {name} has no values")
    return name.strip(), values


def load_state(path, key):
    """The state dict inside a checkpoint: under key (dotted for nesting),
    the checkpoint itself, a whole pickled module, or a common key."""
    ckpt = torch.load(path, map_location="cpu")
    if isinstance(ckpt, torch.nn.Module):
        return ckpt.state_dict(), "a pickled module"
    if key:
        obj = ckpt
        for part in key.split("."):
            if not isinstance(obj, dict) or part not in obj:
                have = list(obj)[:20] if isinstance(obj, dict) else type(obj).__name__
                raise SystemExit(f"export_generator: checkpoint has no key {part!r} (keys: {have})")
            obj = obj[part]
        return (obj.state_dict() if isinstance(obj, torch.nn.Module) else obj), f"key {key!r}"
    if isinstance(ckpt, dict) and ckpt and all(isinstance(v, torch.Tensor) for v in ckpt.values()):
        return ckpt, "the checkpoint itself"
    if isinstance(ckpt, dict):
        for k in COMMON_STATE_KEYS:
            if isinstance(ckpt.get(k), dict):
                return ckpt[k], f"key {k!r} (guessed; pass --state-key to choose)"
        raise SystemExit(f"export_generator: which entry of the checkpoint is the state dict? keys: "
                         f"{list(ckpt)[:20]}; pass --state-key")
    raise SystemExit(f"export_generator: the checkpoint holds a {type(ckpt).__name__}, not a state dict")


def strip_prefix(state):
    """nn.DataParallel saves every key as module.<name>."""
    if state and all(k.startswith("module.") for k in state):
        return {k[len("module."):]: v for k, v in state.items()}
    return state


def output_specs(outs):
    specs = []
    for i, (key, t) in enumerate(outs.items()):
        if t.dim() != 4:
            continue
        name = str(key) if isinstance(key, str) else ("image" if i == 0 else f"output{i}")
        binary = torch.unique(t).numel() <= 2
        kind = "mask" if binary or "mask" in name.lower() else "image"
        if name != "mask" and kind == "mask" and not isinstance(key, str) and \
                not any(s["name"] == "mask" for s in specs):
            name = "mask"
        lo, hi = float(t.min()), float(t.max())
        specs.append({"name": name, "kind": kind, "source": key, "channels": int(t.shape[1]),
                      "height": int(t.shape[2]), "width": int(t.shape[3]),
                      "range": zc.nominal_range(lo, hi), "observed_range": [lo, hi]})
    return specs


def entry_toml(model_id, function, artifact, latent, distribution, block, stochastic, conditions,
               images, outputs):
    lines = ["[[model]]", f"id = {toml_value(model_id)}",
             'title = "TODO: one-line title"',
             'description = "TODO: what the model generates, how it was trained, its limits"',
             'license = "TODO"', f"function = {toml_value(function)}", "",
             "[model.artifact]", f"url = {toml_value(artifact['url'])}",
             f"sha256 = {toml_value(artifact['sha256'])}", 'format = "torchscript"',
             f"size = {artifact['size']}", "", "[model.signature]"]
    if latent:
        lines += [f"latent = {toml_value(latent)}", f"distribution = {toml_value(distribution)}"]
    lines.append(f"batch = {block}")
    if stochastic:
        lines.append("stochastic = true")
    for name, values in conditions:
        lines += ["", "[[model.signature.conditions]]", f"name = {toml_value(name)}",
                  f"values = {toml_value(values)}"]
    for i, im in enumerate(images):
        lines += ["", "[model.signature.input]" if i == 0 else "[[model.signature.inputs]]"]
        lines += [f"{k} = {toml_value(im[k])}" for k in ("name", "kind", "channels", "height", "width", "range")]
    for o in outputs:
        lines += ["", "[[model.signature.outputs]]"]
        lines += [f"{k} = {toml_value(o[k])}" for k in ("name", "kind", "channels", "height", "width", "range")]
    return "\n".join(lines) + "\n"


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    ap.add_argument("--module", required=True, help="Python file defining the generator class")
    ap.add_argument("--class", dest="cls", required=True, help="generator class name")
    ap.add_argument("--kwargs", default="{}", help="constructor keyword arguments, JSON")
    ap.add_argument("--checkpoint", required=True)
    ap.add_argument("--state-key", help="where the state dict is inside the checkpoint (dotted)")
    ap.add_argument("--latent", help="per-sample latent shape, e.g. 100,1,1")
    ap.add_argument("--distribution", default="normal", choices=["normal", "uniform"])
    ap.add_argument("--condition", action="append", default=[], metavar="NAME=v1,v2",
                    help="a class condition; the module receives the value index (int64 [N])")
    ap.add_argument("--image", action="append", default=[], metavar="C,H,W",
                    help="an image input (image-to-image), values in [-1, 1]")
    ap.add_argument("--order", help="the generator's positional order of the tensors, e.g. image,z "
                                    "(names: z, the condition names, image, image2, ...)")
    ap.add_argument("--forward-kwargs", default="{}", help="fixed non-tensor forward arguments, JSON")
    ap.add_argument("--samples", type=int, default=16, help="seeded samples to check (default 16)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--block", type=int, default=16, help="compute block to declare (default 16)")
    ap.add_argument("--out", default="exported")
    ap.add_argument("--id", default="MY_MODEL")
    opts = ap.parse_args(argv)

    zc.set_threads()
    out = os.path.abspath(opts.out)
    os.makedirs(out, exist_ok=True)
    kwargs = json.loads(opts.kwargs)
    fwd_kwargs = json.loads(opts.forward_kwargs)
    latent = parse_shape(opts.latent) if opts.latent else None
    conditions = [parse_condition(c) for c in opts.condition]
    images = [parse_shape(s) for s in opts.image]
    if not (latent or conditions or images):
        raise SystemExit("export_generator: give at least one of --latent, --condition, --image")
    if any(len(s) != 3 for s in images):
        raise SystemExit("export_generator: --image is C,H,W")

    mod = zc.import_file("zoo_user_generator", os.path.abspath(opts.module))
    cls = getattr(mod, opts.cls, None)
    if cls is None:
        raise SystemExit(f"export_generator: {opts.module} has no class {opts.cls}")
    net = cls(**kwargs)
    state, where = load_state(opts.checkpoint, opts.state_key)
    net.load_state_dict(strip_prefix(state))
    zc.freeze_for_export(net)
    zc.log(f"loaded {opts.cls} ({sum(p.numel() for p in net.parameters())} parameters) from {where}")

    # seeded inputs, in zoo's order: latent, conditions, images
    n = opts.samples
    zc.seed_all(opts.seed)
    items = []
    if latent:
        z = torch.randn(n, *latent) if opts.distribution == "normal" else torch.rand(n, *latent)
        items.append({"key": "z", "name": "z", "role": "latent", "tensor": z})
    for name, values in conditions:
        c = torch.arange(n, dtype=torch.int64) % len(values)
        items.append({"key": name, "name": re.sub(r"\W", "_", name), "role": "condition", "tensor": c,
                      "values": values})
    for i, (ch, h, w) in enumerate(images):
        nm = "image" if i == 0 else f"image{i + 1}"
        items.append({"key": nm, "name": nm, "role": "image", "tensor": torch.rand(n, ch, h, w) * 2 - 1,
                      "shape": [ch, h, w]})
    by_key = {it["key"]: it for it in items}
    order = [s.strip() for s in opts.order.split(",")] if opts.order else [it["key"] for it in items]
    if sorted(order) != sorted(by_key):
        raise SystemExit(f"export_generator: --order must name each of {list(by_key)} once")

    # the same wrapper zoo import builds: a Call records the layout
    args = [by_key[k]["tensor"][:1] for k in order]
    call = zc.Call(net, args, fwd_kwargs)
    # Call keys positional tensors by position; map them to our items
    for pos, k in enumerate(order):
        by_key[k]["key"] = pos
    wrapper, fixed = zc.build_wrapper(net, call, items, [], os.path.join(out, "export_wrapper.py"))
    inputs = [it["tensor"] for it in items]
    block = max(1, min(opts.block, n))
    first = [x[:block] for x in inputs]
    path = os.path.join(out, "generator.pt")
    ts, method, script_error, notes = zc.export_module(wrapper, first, path)
    if script_error:
        zc.log(f"torch.jit.script failed ({script_error[:120]}); used torch.jit.trace")

    ts_out = zc.run_in_chunks(ts, inputs, block)
    eager = zc.run_in_chunks(wrapper, inputs, block)
    max_diff, identical = zc.compare(ts_out, eager)
    zc.log(f"exported by torch.jit.{method}, max |TorchScript - eager| = {max_diff:g}"
           f"{' (bit-identical)' if identical else ''}")
    rnd = zc.randomness(ts, first)
    # does sample i depend on the block it is computed in?
    invariant = all(zc.compare(zc.run_in_chunks(ts, inputs, b), ts_out)[1]
                    for b in (1, 2, 4, 8, 16) if b <= n and n % b == 0 and b != block)
    block_note = (f"declared block {block}; outputs are " +
                  ("the same bit for bit in blocks of 1 to 16" if invariant else
                   "NOT the same bit for bit in other block sizes, so zoo must keep this block"))
    if rnd["stochastic"]:
        block_note += "; stochastic forward: zoo seeds LibTorch per block"
    specs = output_specs(ts_out)
    if not specs:
        raise SystemExit("export_generator: the module returned no 4-D (N, C, H, W) tensor")

    os.makedirs(os.path.join(out, "inputs"), exist_ok=True)
    for it in items:
        np.save(os.path.join(out, "inputs", it["name"] + ".npy"),
                it["tensor"].numpy().astype(np.int64 if it["role"] == "condition" else np.float32))
    sha = zc.sha256_file(path)
    artifact = {"url": path, "sha256": sha, "size": os.path.getsize(path)}
    img_specs = [{"name": it["name"], "kind": "image", "channels": it["shape"][0], "height": it["shape"][1],
                  "width": it["shape"][2], "range": [-1.0, 1.0]} for it in items if it["role"] == "image"]
    function = "image-to-image" if img_specs else "noise-to-image"
    with open(os.path.join(out, "entry.toml"), "w") as f:
        f.write(entry_toml(opts.id, function, artifact, latent, opts.distribution, block, rnd["stochastic"],
                           conditions, img_specs, specs))
    report = {
        "model_id": opts.id, "python": platform.python_version(), "torch": torch.__version__,
        "numpy": np.__version__, "module_file": os.path.abspath(opts.module), "class": opts.cls,
        "kwargs": kwargs, "checkpoint": os.path.basename(opts.checkpoint),
        "checkpoint_sha256": zc.sha256_file(opts.checkpoint), "state_dict_from": where,
        "module": {"class": opts.cls, "parameters": sum(p.numel() for p in net.parameters())},
        "fixed_args": fixed,
        "export": {"method": method, "script_error": script_error, "max_abs_diff": max_diff,
                   "bit_identical": identical, "file": "generator.pt", "sha256": sha,
                   "size": artifact["size"], "wrapper": "export_wrapper.py"},
        "stochastic": rnd["stochastic"], "stochastic_ops": rnd["ops"],
        "stochastic_repeat_differs": rnd["repeat_differs"],
        "block": block, "block_note": block_note, "batch_invariant": invariant,
        "inputs": [dict({"name": it["name"], "role": it["role"], "file": f"inputs/{it['name']}.npy"},
                        **({"shape": latent, "distribution": opts.distribution} if it["role"] == "latent" else
                           {"values": it["values"]} if it["role"] == "condition" else
                           {"channels": it["shape"][0], "height": it["shape"][1], "width": it["shape"][2],
                            "range": [-1.0, 1.0]}))
                   for it in items],
        "outputs": specs, "samples": n, "seed": opts.seed, "warnings": notes,
    }
    zc.write_json(os.path.join(out, "report.json"), report)
    zc.log(f"wrote {path}, report.json and entry.toml in {out}")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except zc.CaptureError as e:
        zc.log(f"error ({e.kind}): {e.message}")
        sys.exit(zc.EXIT_ERROR)
