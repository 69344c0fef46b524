"""Check the Dockerfile where Docker is not available: run its steps in a Debian chroot.

Builds the ``FROM`` image's equivalent with ``debootstrap`` (Debian's own packages: only
``debian:<suite>`` bases are supported), then carries out ``ENV``, ``WORKDIR``, ``COPY`` and
``RUN`` in order inside ``chroot`` with the same environment, and finally runs the image's
``ENTRYPOINT`` + ``CMD`` (or the command given after ``--``). It is not Docker (no layers, no
isolation beyond chroot), but it executes exactly the Dockerfile's instructions on a clean
Debian, which is what can go wrong in a ``docker build``.

    sudo python3 scripts/dockerfile_chroot.py [--root /tmp/estuary-chroot] [-- estuary inspect]
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def instructions(text: str) -> list[tuple[str, str]]:
    """(KEYWORD, argument) pairs of a Dockerfile, with continuations joined and comments gone."""
    out, cur = [], ""
    for line in text.splitlines():
        s = line.strip()
        if not cur and (not s or s.startswith("#")):
            continue
        if s.startswith("#"):
            continue
        cur += (" " if cur else "") + s.rstrip("\\").strip()
        if s.endswith("\\"):
            continue
        key, _, arg = cur.partition(" ")
        out.append((key.upper(), arg.strip()))
        cur = ""
    return out


def env_pairs(arg: str, env: dict) -> dict:
    """``ENV a=b c=d`` (values may use ``$VAR`` of the environment so far)."""
    pairs = {}
    for item in shlex.split(arg):
        k, _, v = item.partition("=")
        for name, val in {**env, **pairs}.items():
            v = v.replace(f"${name}", val).replace(f"${{{name}}}", val)
        pairs[k] = v
    return pairs


def sh(cmd: list[str], **kw) -> None:
    print("+", " ".join(shlex.quote(c) for c in cmd), flush=True)
    subprocess.run(cmd, check=True, **kw)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--root", default="/tmp/estuary-chroot", help="where to build the file system")
    ap.add_argument("--dockerfile", default=str(ROOT / "Dockerfile"))
    ap.add_argument("--keep", action="store_true", help="reuse an existing debootstrap base")
    ap.add_argument("run", nargs="*", help="command to run in the image instead of ENTRYPOINT + CMD")
    args = ap.parse_args()
    if os.geteuid() != 0:
        raise SystemExit("needs root (debootstrap and chroot)")
    steps = instructions(Path(args.dockerfile).read_text())
    root = Path(args.root)
    base = steps[0]
    if base[0] != "FROM" or not base[1].startswith("debian:"):
        raise SystemExit(f"only a 'FROM debian:<suite>' base can be built here, not {base}")
    suite = base[1].split(":", 1)[1].split("-")[0]
    t0 = time.monotonic()
    if not (args.keep and (root / "etc" / "debian_version").exists()):
        shutil.rmtree(root, ignore_errors=True)
        sh(["debootstrap", "--variant=minbase", suite, str(root)])
    shutil.copy("/etc/resolv.conf", root / "etc" / "resolv.conf")
    # a build behind a TLS-inspecting proxy trusts the proxy's CA, as a docker build on this
    # host would (the ca-certificates package the Dockerfile installs picks these up)
    local_cas = Path("/usr/local/share/ca-certificates")
    if local_cas.is_dir():
        shutil.copytree(local_cas, root / "usr/local/share/ca-certificates", dirs_exist_ok=True)
        if (root / "usr/sbin/update-ca-certificates").exists():  # a kept base: installed before
            sh(["chroot", str(root), "update-ca-certificates"], stdout=subprocess.DEVNULL)
    env = {"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "HOME": "/root"}
    # the host's own pip/TLS trust settings (a proxy's CA), as `docker build --build-arg` would
    # pass them; the image itself sets none of them
    build_env = {k: os.environ[k] for k in ("PIP_CERT", "SSL_CERT_FILE", "REQUESTS_CA_BUNDLE")
                 if k in os.environ and os.environ[k].startswith("/etc/ssl/")}
    workdir = "/"
    entry, cmd = [], []
    mounts = []
    try:
        for target, kind in (("proc", "proc"), ("dev", None), ("sys", None)):
            (root / target).mkdir(exist_ok=True)
            if kind:
                sh(["mount", "-t", kind, kind, str(root / target)])
            else:
                sh(["mount", "--bind", f"/{target}", str(root / target)])
            mounts.append(root / target)
        for key, arg in steps[1:]:
            print(f"=== {key} {arg}", flush=True)
            if key == "ENV":
                env.update(env_pairs(arg, env))
            elif key == "WORKDIR":
                workdir = os.path.join(workdir, arg)
                (root / workdir.lstrip("/")).mkdir(parents=True, exist_ok=True)
            elif key == "COPY":
                *srcs, dest = shlex.split(arg)
                dest_path = root / os.path.join(workdir, dest).lstrip("/")
                for src in srcs:
                    s = ROOT / src
                    if s.is_dir():
                        shutil.copytree(s, dest_path if not dest.endswith("/") else dest_path / s.name,
                                        dirs_exist_ok=True,
                                        ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
                    else:
                        dest_path.mkdir(parents=True, exist_ok=True) if dest.endswith("/") else None
                        shutil.copy(s, dest_path / s.name if dest.endswith("/") else dest_path)
            elif key == "RUN":
                sh(["chroot", str(root), "/usr/bin/env", "-i",
                    *[f"{k}={v}" for k, v in {**build_env, **env}.items()],
                    "/bin/sh", "-c", f"cd {shlex.quote(workdir)} && {arg}"])
            elif key == "ENTRYPOINT":
                entry = json.loads(arg)
            elif key == "CMD":
                cmd = json.loads(arg)
            else:
                raise SystemExit(f"unsupported instruction {key}")
        final = entry + (args.run or cmd)
        print(f"=== built in {time.monotonic() - t0:.0f} s; running {final}", flush=True)
        sh(["chroot", str(root), "/usr/bin/env", "-i", *[f"{k}={v}" for k, v in env.items()],
            "/bin/sh", "-c", f"cd {shlex.quote(workdir)} && exec {shlex.join(final)}"])
    finally:
        for m in reversed(mounts):
            subprocess.run(["umount", "-l", str(m)])
    return 0


if __name__ == "__main__":
    sys.exit(main())
