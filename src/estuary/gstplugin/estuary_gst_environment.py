"""Before Estuary is imported inside GStreamer's Python plugin loader: put the Python
environment Estuary is installed in on ``sys.path``.

The loader (``libgstpython.so``) embeds the system's ``libpython3.X`` with the system's
``sys.path``: a virtual environment's packages (numpy, ONNX Runtime, OpenCV, ...) are not on it.
Standard library only: nothing of Estuary may be imported before this has run, or a system copy
of a dependency could be picked instead of the environment's.
"""

from __future__ import annotations

import os
import site
import sys

__all__ = ["activate", "environment_site_packages", "keep_loader_path"]

#: the ``sys.path`` list the loader holds a borrowed pointer to (it inserts each plugin folder
#: into it); kept alive here because OpenCV's ``cv2/__init__`` rebinds ``sys.path``, which would
#: free it and crash the loader (seen: a segfault in PyList_Insert in gst-plugin-scanner)
LOADER_PATH = sys.path


def keep_loader_path() -> None:
    """Make the loader's list ``sys.path`` again, with the current entries."""
    if sys.path is not LOADER_PATH:
        LOADER_PATH[:] = sys.path
        sys.path = LOADER_PATH


class EnvironmentMismatch(ImportError):
    """The environment was made for another Python than the one the loader embeds."""


def _venv_version(venv: str) -> tuple[int, int] | None:
    try:
        with open(os.path.join(venv, "pyvenv.cfg"), encoding="utf-8") as f:
            for line in f:
                key, _, value = line.partition("=")
                if key.strip() in ("version", "version_info"):
                    major, minor = value.strip().split(".")[:2]
                    return int(major), int(minor)
    except (OSError, ValueError):
        return None
    return None


def environment_site_packages(estuary_root: str) -> str | None:
    """The site-packages directory whose packages Estuary needs, given the folder that holds
    the ``estuary`` package: that folder itself for an installed package, else (a source
    checkout with an editable install) ``$VIRTUAL_ENV`` or the checkout's ``.venv``."""
    if os.path.basename(estuary_root) in ("site-packages", "dist-packages"):
        return estuary_root
    for venv in (os.environ.get("VIRTUAL_ENV"), os.path.join(os.path.dirname(estuary_root), ".venv")):
        if not venv or not os.path.isfile(os.path.join(venv, "pyvenv.cfg")):
            continue
        version = _venv_version(venv)
        if version is not None and version != sys.version_info[:2]:
            raise EnvironmentMismatch(
                f"Estuary's environment {venv} is Python {version[0]}.{version[1]}, but GStreamer's "
                f"Python plugin loader runs Python {sys.version.split()[0]}: make the environment "
                "with the system's python3 (scripts/setup.sh does)")
        sp = os.path.join(venv, "lib", f"python{sys.version_info[0]}.{sys.version_info[1]}", "site-packages")
        if os.path.isdir(sp):
            return sp
    return None


def activate(estuary_root: str) -> str | None:
    """Put ``estuary_root`` and its environment's site-packages (with its ``.pth`` files) on
    ``sys.path`` ahead of the system's dist-packages; return that site-packages (or None)."""
    sp = environment_site_packages(estuary_root)
    before = list(sys.path)
    if sp is not None and sp not in sys.path:
        site.addsitedir(sp)
    added = [p for p in sys.path if p not in before]
    rest = [p for p in before if p != estuary_root]
    system = [i for i, p in enumerate(rest) if p.rstrip("/").endswith("dist-packages")]
    at = system[0] if system else len(rest)
    sys.path[:] = [estuary_root, *rest[:at], *added, *rest[at:]]
    import importlib.util
    if importlib.util.find_spec("numpy") is None:
        raise ImportError(
            f"Estuary's GStreamer plugin found no Python environment with Estuary's dependencies "
            f"for {estuary_root}: install Estuary into one (scripts/setup.sh makes the checkout's "
            ".venv) or set VIRTUAL_ENV to it")
    return sp
