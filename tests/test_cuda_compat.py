"""The ``cuda`` stand-in (estuary_cudacompat): DeepStream 7.1's platform query answered truthfully,
and a real cuda-python never shadowed. Each case runs in a fresh interpreter, because the point is
what ``import cuda`` finds at start-up."""

import os
import subprocess
import sys
import textwrap

import pytest

SRC = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "src")

# The calls of DeepStream 7.1's common/platform_info.py, in its order and with its comparisons
# (it compares cudart's result with cuda.CUresult.CUDA_SUCCESS).
PLATFORM_QUERY = """
from cuda import cudart
from cuda import cuda
init, = cuda.cuInit(0)
print("init", int(init), init == cuda.CUresult.CUDA_SUCCESS)
if init == cuda.CUresult.CUDA_SUCCESS:
    res, n = cuda.cuDeviceGetCount()
    print("count", int(res), n)
    res, props = cudart.cudaGetDeviceProperties(0)
    print("props", res == cuda.CUresult.CUDA_SUCCESS, props.integrated, props.name)
"""


def _run(code, extra_path=(), pth_dir=None, isolated=False):
    """Run ``code`` in a fresh interpreter; ``isolated``: without site-packages (python -S), so
    that only the fake packages of a case exist (a machine may have a real ``cuda`` namespace)."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([*extra_path, SRC])
    prelude = "import estuary_cudacompat; estuary_cudacompat.install()\n"
    if pth_dir is not None:  # install it the way setup.sh does: a .pth file in a site dir
        prelude = f"import site; site.addsitedir({str(pth_dir)!r})\n"
    r = subprocess.run([sys.executable, *(["-S"] if isolated else []), "-c", prelude + textwrap.dedent(code)], env=env,
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    return r.stdout


def _no_nvidia_device():
    return not (os.path.exists("/dev/nvidiactl") or os.path.exists("/proc/driver/nvidia/version"))


@pytest.mark.skipif(not _no_nvidia_device(), reason="this case checks the answers on a machine without a GPU")
def test_no_device_answers_on_this_machine():
    out = _run(PLATFORM_QUERY + """
import estuary_cudacompat
print("shim", estuary_cudacompat.is_shim(cuda), estuary_cudacompat.is_shim(cudart))
print(cuda.cuDeviceGetCount())
print(cudart.cudaGetDeviceCount(), cudart.cudaGetDeviceProperties(0), cudart.cudaSetDevice(0))
print(cudart.cudaDriverGetVersion(), cudart.cudaGetErrorString(100))
from cuda.bindings import driver, runtime
print(driver.cuInit(0), runtime.cudaGetDeviceCount())
try:
    cudart.cudaMalloc(16)
except AttributeError as e:
    print("missing:", e)
""")
    lines = out.splitlines()
    assert lines[0] == "init 100 False"  # CUDA_ERROR_NO_DEVICE, and the app prints its own error
    assert lines[1] == "shim True True"
    assert lines[2] == "(<CUresult.CUDA_ERROR_NOT_INITIALIZED: 3>, 0)"  # cuInit failed first
    assert lines[3] == ("(<cudaError_t.cudaErrorNoDevice: 100>, 0) (<cudaError_t.cudaErrorNoDevice: 100>, None) "
                        "(<cudaError_t.cudaErrorNoDevice: 100>,)")
    assert lines[4] == "(<cudaError_t.cudaSuccess: 0>, 0) (<cudaError_t.cudaSuccess: 0>, b'no CUDA-capable device is detected')"
    assert lines[5] == "(<CUresult.CUDA_ERROR_NO_DEVICE: 100>,) (<cudaError_t.cudaErrorNoDevice: 100>, 0)"
    assert "missing: cudart.cudaMalloc is not provided by Estuary's stand-in" in lines[6]


@pytest.mark.gpu
@pytest.mark.skipif(_no_nvidia_device(), reason="needs an NVIDIA GPU")
def test_real_device_properties_come_from_torch():
    torch = pytest.importorskip("torch")
    if not torch.cuda.is_available():
        pytest.skip("torch has no CUDA here")
    p = torch.cuda.get_device_properties(0)
    out = _run(PLATFORM_QUERY)
    assert out.splitlines()[:3] == ["init 0 True", f"count 0 {torch.cuda.device_count()}",
                                    f"props True {int(bool(getattr(p, 'is_integrated', False)))} {p.name.encode()!r}"]


def _fake_real_package(root, namespace=False):
    pkg = root / "cuda"
    pkg.mkdir()
    if not namespace:
        (pkg / "__init__.py").write_text("REAL = 'fake cuda-python'\n")
    (pkg / "cudart.py").write_text("WHO = 'real cudart'\n")
    (pkg / "cuda.py").write_text("WHO = 'real driver'\n")


@pytest.mark.parametrize("namespace", [False, True], ids=["regular package", "namespace package"])
def test_a_real_cuda_python_is_never_shadowed(tmp_path, namespace):
    _fake_real_package(tmp_path, namespace)
    out = _run("""
from cuda import cudart, cuda
import estuary_cudacompat
print(cudart.WHO, cuda.WHO, estuary_cudacompat.is_shim(cudart))
""", extra_path=[str(tmp_path)], isolated=True)
    assert out.strip() == "real cudart real driver False"


def test_a_real_package_found_by_a_later_finder_still_wins(tmp_path):
    # editable installs append their own finder to sys.meta_path, after ours
    _fake_real_package(tmp_path)
    out = _run(f"""
import importlib.machinery, sys
class Late:
    def find_spec(self, name, path=None, target=None):
        if name == "cuda":
            return importlib.machinery.PathFinder.find_spec(name, [{str(tmp_path)!r}])
sys.meta_path.append(Late())
from cuda import cudart
print(cudart.WHO)
""", isolated=True)
    assert out.strip() == "real cudart"


def test_the_pth_line_installs_it_at_start_up(tmp_path):
    pth = subprocess.run([sys.executable, "-m", "estuary_cudacompat", "--pth"], capture_output=True, text=True,
                         env={**os.environ, "PYTHONPATH": SRC}, check=True).stdout
    (tmp_path / "estuary-cuda-compat.pth").write_text(pth)
    out = _run("""
import sys
print("cuda" in sys.modules)
from cuda import cudart
import estuary_cudacompat
print(estuary_cudacompat.is_shim(cudart), "estuary" in sys.modules, "torch" in sys.modules)
""", pth_dir=tmp_path, isolated=True)
    # installing costs no import of estuary (GStreamer) or torch at interpreter start
    assert out.split() == ["False", "True", "False", "False"]


def _namespace_without_legacy(root, bindings=False):
    """A real ``cuda`` namespace package without cuda-python 12's modules: what CuPy's
    cuda-pathfinder makes, and cuda-python 13 (``cuda.bindings`` only) when ``bindings``."""
    (root / "cuda" / "pathfinder").mkdir(parents=True)
    (root / "cuda" / "pathfinder" / "__init__.py").write_text("")
    if bindings:
        (root / "cuda" / "bindings").mkdir()
        (root / "cuda" / "bindings" / "__init__.py").write_text("")
        (root / "cuda" / "bindings" / "runtime.py").write_text("WHO = 'real runtime'\n")
        (root / "cuda" / "bindings" / "driver.py").write_text("WHO = 'real driver'\n")


def test_a_namespace_without_the_legacy_modules_gets_the_stand_ins(tmp_path):
    _namespace_without_legacy(tmp_path)
    out = _run("""
import cuda.pathfinder, estuary_cudacompat
print(estuary_cudacompat.is_shim(cuda.pathfinder))
from cuda import cudart, cuda
print(estuary_cudacompat.is_shim(cudart), estuary_cudacompat.is_shim(cuda), hasattr(cudart, "cudaGetDeviceProperties"))
""", extra_path=[str(tmp_path)], isolated=True)
    assert out.split() == ["False", "True", "True", "True"]


def test_cuda_python_13_bindings_serve_the_legacy_names(tmp_path):
    _namespace_without_legacy(tmp_path, bindings=True)
    out = _run("""
from cuda import cudart, cuda
print(cudart.WHO, "|", cuda.WHO)
""", extra_path=[str(tmp_path)], isolated=True)
    assert out.strip() == "real runtime | real driver"
