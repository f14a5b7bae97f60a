#!/usr/bin/python3
"""OCI registry benchmark for `make bench`: writes the `oci` section of
docs/benchmarks.md (between <!-- BEGIN oci --> and <!-- END oci -->).

It starts Debian's docker-registry (CNCF distribution 2.8) on 127.0.0.1
with its storage in a temporary directory, makes a model directory whose
model.pt is 50 MB of random bytes (the demo model's catalog entry, the
artifact pointed at it), and times, as whole processes:

  push  `zoo push DIR oci://…/benchN:1 --plain-http` to a new repository
        each run (so every blob is sent), against curl doing the same
        monolithic blob upload of model.pt (POST /blobs/uploads/, then one
        PUT ?digest=).
  pull  `zoo pull oci://…@sha256:… --plain-http` into an empty cache (the
        manifest, the config, the module verified and stored), against
        curl GET of the same blob into a file.

Both move the same bytes over the same loopback connection to the same
registry, so curl is the limit. The registry runs without auth here (the
tests cover auth); median of --repeat runs.

Usage: /usr/bin/python3 scripts/bench_oci.py --zoo bin/zoo --out docs/benchmarks.md
       [--size-mb 50] [--repeat 5]
"""
import argparse
import datetime
import hashlib
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import tomllib
import urllib.request
import zipfile

from scriptlib import CATALOG, cpu_name, median, toml_key, toml_value, write_section  # scripts/ is on sys.path

REGISTRY = "/usr/bin/docker-registry"


def dump_table(out, path, d):
    """Writes dict d as TOML table `path`: its values, then its subtables."""
    scalars = {k: v for k, v in d.items() if not isinstance(v, dict) and not (isinstance(v, list) and v and isinstance(v[0], dict))}
    if path:
        out.append(path if path.startswith("[") else "[%s]" % path)
    for k, v in scalars.items():
        out.append("%s = %s" % (toml_key(k), toml_value(v)))
    name = path.strip("[]")
    for k, v in d.items():
        if isinstance(v, dict):
            out.append("")
            dump_table(out, name + "." + toml_key(k), v)
        elif isinstance(v, list) and v and isinstance(v[0], dict):
            for item in v:
                out.append("")
                dump_table(out, "[[%s.%s]]" % (name, toml_key(k)), item)


def model_dir(root, size):
    with open(CATALOG, "rb") as f:
        cat = tomllib.load(f)
    m = next(m for m in cat["model"] if m["id"] == "00101_DCGAN_MRI_COLIN27_DEMO")
    d = os.path.join(root, "model")
    os.makedirs(d)
    # share.Open wants a TorchScript archive, which is a zip: one stored
    # entry of random bytes (nothing compresses, as real weights barely do).
    with zipfile.ZipFile(os.path.join(d, "model.pt"), "w", zipfile.ZIP_STORED) as z:
        z.writestr("model/code/__torch__.py", "# benchmark stand-in\n")
        z.writestr("model/data/0", os.urandom(size - 300))
    with open(os.path.join(d, "model.pt"), "rb") as f:
        module = f.read()
    size = len(module)
    m["artifact"] = {"url": "model.pt", "sha256": hashlib.sha256(module).hexdigest(), "size": size, "format": "torchscript"}
    body = []
    dump_table(body, "[[model]]", m)
    with open(os.path.join(d, "model.toml"), "w") as f:
        f.write("schema = 1\n\n" + "\n".join(body) + "\n")
    with open(os.path.join(d, "LICENSE"), "w") as f:
        f.write("BSD-3-Clause\n")
    with open(os.path.join(d, "README.md"), "w") as f:
        f.write("# benchmark model\n\nRandom bytes; every image would be synthetic.\n")
    return d, hashlib.sha256(module).hexdigest(), size


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def start_registry(root):
    port = free_port()
    conf = os.path.join(root, "registry.yml")
    with open(conf, "w") as f:
        f.write("version: 0.1\nlog:\n  level: error\n  accesslog:\n    disabled: true\n"
                "storage:\n  filesystem:\n    rootdirectory: %s\n"
                "http:\n  addr: 127.0.0.1:%d\n  secret: bench\n" % (os.path.join(root, "storage"), port))
    proc = subprocess.Popen([REGISTRY, "serve", conf], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(200):
        try:
            urllib.request.urlopen("http://127.0.0.1:%d/v2/" % port, timeout=1).close()
            return proc, "127.0.0.1:%d" % port
        except OSError:
            time.sleep(0.05)
    proc.kill()
    sys.exit("docker-registry did not start")


def must(cmd, env=None):
    """Runs cmd; its stdout, or exit with its stderr when it fails."""
    p = subprocess.run(cmd, env=env, capture_output=True, text=True)
    if p.returncode != 0:
        sys.exit("%s failed (status %d):\n%s" % (" ".join(cmd), p.returncode, p.stderr))
    return p.stdout


def timed(cmd, env=None):
    t = time.perf_counter()
    must(cmd, env=env)
    return time.perf_counter() - t


def curl_push(host, repo, path, digest):
    t = time.perf_counter()
    out = must(["curl", "-sS", "-D", "-", "-o", "/dev/null", "-X", "POST", "http://%s/v2/%s/blobs/uploads/" % (host, repo)])
    loc = next(l.split(":", 1)[1].strip() for l in out.splitlines() if l.lower().startswith("location:"))
    sep = "&" if "?" in loc else "?"
    must(["curl", "-sS", "-f", "-o", "/dev/null", "-X", "PUT", "-H", "Content-Type: application/octet-stream",
          "--data-binary", "@" + path, loc + sep + "digest=sha256:" + digest])
    return time.perf_counter() - t


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--zoo", default="bin/zoo")
    ap.add_argument("--out", default="docs/benchmarks.md")
    ap.add_argument("--size-mb", type=int, default=50)
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    if not os.path.exists(REGISTRY):
        sys.exit("%s is not installed (apt-get install docker-registry)" % REGISTRY)
    zoo = os.path.abspath(args.zoo)
    size = args.size_mb * 1000 * 1000
    root = tempfile.mkdtemp(prefix="zoo-bench-oci-")
    proc = None
    try:
        d, digest, size = model_dir(root, size)
        proc, host = start_registry(root)
        env = dict(os.environ, DOCKER_CONFIG=os.path.join(root, "docker"), ZOO_REGISTRY_AUTH="", ZOO_CATALOG="", ZOO_OFFLINE="")
        res = {"zoo push": [], "curl push": [], "zoo pull": [], "curl pull": []}
        pinned = None
        for i in range(args.repeat):
            res["zoo push"].append(timed([zoo, "push", d, "oci://%s/bench/zoo%d:1" % (host, i), "--plain-http"], env))
            res["curl push"].append(curl_push(host, "bench/curl%d" % i, os.path.join(d, "model.pt"), digest))
            if pinned is None:
                out = must([zoo, "push", d, "oci://%s/bench/zoo%d:1" % (host, i), "--plain-http"], env)
                pinned = next(l.split("=", 1)[1].strip().strip('"') for l in out.splitlines() if l.strip().startswith("url ="))
            cache = os.path.join(root, "cache%d" % i)
            res["zoo pull"].append(timed([zoo, "pull", pinned, "--plain-http"], dict(env, ZOO_CACHE=cache)))
            res["curl pull"].append(timed(["curl", "-sS", "-f", "-o", os.path.join(root, "curl%d.blob" % i),
                                           "http://%s/v2/bench/curl%d/blobs/sha256:%s" % (host, i, digest)]))
            shutil.rmtree(cache)
            os.remove(os.path.join(root, "curl%d.blob" % i))
    finally:
        if proc:
            proc.kill()
            proc.wait()
        shutil.rmtree(root, ignore_errors=True)
    mbps = {k: size / 1e6 / median(v) for k, v in res.items()}
    cpu = cpu_name()
    lines = [
        "## OCI registry: zoo push / zoo pull against curl",
        "",
        "%d MB model.pt, docker-registry %s on 127.0.0.1 (plain HTTP, no auth), median of %d runs; "
        "%s, %d CPUs; %s." % (args.size_mb, "2.8", args.repeat, cpu, os.cpu_count(), datetime.date.today().isoformat()),
        "Whole processes: zoo push includes share.Open's checks and hashing every file; zoo pull into an empty cache",
        "includes the manifest and config round trips, verifying the digest, and the store's fsync and rename.",
        "",
        "| | zoo | curl (same bytes, same registry) | zoo / curl |",
        "| --- | --- | --- | --- |",
        "| push | %.0f MB/s (%.2f s) | %.0f MB/s (%.2f s) | %.2f |" % (mbps["zoo push"], median(res["zoo push"]), mbps["curl push"], median(res["curl push"]), mbps["zoo push"] / mbps["curl push"]),
        "| pull | %.0f MB/s (%.2f s) | %.0f MB/s (%.2f s) | %.2f |" % (mbps["zoo pull"], median(res["zoo pull"]), mbps["curl pull"], median(res["curl pull"]), mbps["zoo pull"] / mbps["curl pull"]),
    ]
    write_section(args.out, "oci", "\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
