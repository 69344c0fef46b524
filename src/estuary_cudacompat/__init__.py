"""A stand-in for NVIDIA's cuda-python (``from cuda import cudart, cuda``) on machines without it.

DeepStream 7.1's Python samples import cuda-python in ``common/platform_info.py`` only to ask
whether the first GPU is integrated (Jetson) or discrete. Without the NVIDIA driver the real
package cannot even be used, so an unmodified app stops at import. This package answers the few
calls such apps make, truthfully: no device here; on a machine with an NVIDIA GPU and a CUDA
build of torch, that device's real properties (``_shim_cuda/_device.py``).

It never shadows a real installation. The stand-in is not on ``sys.path`` under the name
``cuda`` (it lives in ``estuary_cudacompat/_shim_cuda``); :func:`install` appends a finder to
the END of ``sys.meta_path``. Python asks the finders in order, so the standard path finder,
which finds a real cuda-python (regular or namespace package) anywhere on ``sys.path``, answers
first; ours is asked only when nothing before it found ``cuda``, and even then it first asks
the finders after it (editable installs add theirs late) and steps aside if one knows ``cuda``.
:func:`install` runs at interpreter start from the ``estuary-cuda-compat.pth`` file that
``scripts/setup.sh`` writes into site-packages (``python -m estuary_cudacompat --pth`` prints
its line), so it is in place before an app's first import. It imports nothing but the standard
library, to keep every interpreter start cheap.
"""

from __future__ import annotations

import importlib.abc
import importlib.util
import os
import sys

__all__ = ["install", "uninstall", "is_shim", "PTH_LINE", "SHIM_DIR"]

SHIM_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "_shim_cuda")
PTH_LINE = "import estuary_cudacompat; estuary_cudacompat.install()"


#: cuda-python 12's legacy modules (the ones DeepStream's apps import) → where cuda-python 13,
#: which removed them, keeps the same API
_LEGACY = {"cuda.cudart": "cuda.bindings.runtime", "cuda.cuda": "cuda.bindings.driver"}


class _AliasLoader(importlib.abc.Loader):
    """Loads ``cuda.cudart``/``cuda.cuda`` as a view of the real ``cuda.bindings`` module."""

    def __init__(self, target: str):
        self.target = target

    def create_module(self, spec):
        return None

    def exec_module(self, module):
        import importlib
        real = importlib.import_module(self.target)
        module.__dict__.update({k: v for k, v in vars(real).items() if not k.startswith("__")})


class _CudaShimFinder(importlib.abc.MetaPathFinder):
    """Finds ``cuda`` → the stand-in, only when no other finder can; and, where a real ``cuda``
    package lacks cuda-python 12's ``cuda.cudart``/``cuda.cuda`` (cuda-python 13 removed them; CuPy's
    cuda-pathfinder alone makes a ``cuda`` namespace package), those two modules: the real
    ``cuda.bindings`` ones where installed, else the stand-in's."""

    def find_spec(self, fullname, path=None, target=None):
        if fullname in _LEGACY or fullname == "cuda._device":
            return self._legacy_spec(fullname, path, target)
        if fullname != "cuda":
            return None  # submodules are found through the package's __path__ (SHIM_DIR)
        if self._later_knows(fullname, path, target):
            return None  # a real installation that a later finder knows: let it answer
        return importlib.util.spec_from_file_location(
            "cuda", os.path.join(SHIM_DIR, "__init__.py"), submodule_search_locations=[SHIM_DIR])

    def _later_knows(self, fullname, path, target) -> bool:
        later = sys.meta_path[sys.meta_path.index(self) + 1:] if self in sys.meta_path else []
        for finder in later:
            find = getattr(finder, "find_spec", None)
            try:
                if find is not None and find(fullname, path, target) is not None:
                    return True
            except Exception:  # noqa: BLE001 - a broken third-party finder must not break imports
                continue
        return False

    def _legacy_spec(self, fullname, path, target):
        # asked only when the finders before this one (the path finder, over the real package's
        # __path__) found no such module; the stand-in's own package finds its files itself
        parent = sys.modules.get("cuda")
        if parent is None or is_shim(parent) or self._later_knows(fullname, path, target):
            return None
        real = _LEGACY.get(fullname)
        if real is not None:
            try:
                found = importlib.util.find_spec(real) is not None
            except ImportError:
                found = False
            if found:
                return importlib.util.spec_from_loader(fullname, _AliasLoader(real))
        return importlib.util.spec_from_file_location(
            fullname, os.path.join(SHIM_DIR, fullname.split(".", 1)[1] + ".py"))


_finder = _CudaShimFinder()


def install() -> None:
    """Make ``import cuda`` fall back to the stand-in (idempotent)."""
    if not any(isinstance(f, _CudaShimFinder) for f in sys.meta_path):
        sys.meta_path.append(_finder)


def uninstall() -> None:
    """Remove the fallback (an already imported ``cuda`` stays in ``sys.modules``)."""
    sys.meta_path[:] = [f for f in sys.meta_path if not isinstance(f, _CudaShimFinder)]


def is_shim(module) -> bool:
    """Whether ``module`` (``cuda`` or one of its submodules) is this stand-in."""
    origin = os.path.abspath(getattr(module, "__file__", "") or "")
    return origin.startswith(SHIM_DIR + os.sep)
