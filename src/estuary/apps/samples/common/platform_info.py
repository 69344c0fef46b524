"""DeepStream 7.x ``common/platform_info.py``: which platform an app runs on (WSL, an integrated
GPU such as Jetson, aarch64). The integrated-GPU question goes through NVIDIA's cuda-python
(``from cuda import cudart, cuda``) as in DeepStream; without it, Estuary's stand-in answers
(``estuary_cudacompat``: no device here, so every app takes its discrete-GPU branches)."""

import platform
import threading

from cuda import cuda, cudart

_lock = threading.Lock()


class PlatformInfo:
    def __init__(self):
        self._wsl = None
        self._integrated = None
        self._aarch64 = None

    def is_wsl(self):
        with _lock:
            if self._wsl is None:
                try:
                    with open("/proc/version", "r") as f:
                        self._wsl = "microsoft" in f.readline().lower()
                except OSError as e:
                    print(f"ERROR: Opening /proc/version failed: {e}")
                    self._wsl = False
        return self._wsl

    def is_integrated_gpu(self):
        with _lock:
            if self._integrated is None:
                self._integrated = False
                err, = cuda.cuInit(0)
                if err != cuda.CUresult.CUDA_SUCCESS:
                    print("ERROR: Cuda init failed: {}".format(err))
                else:
                    err, count = cuda.cuDeviceGetCount()
                    if err == cuda.CUresult.CUDA_SUCCESS and count >= 1:
                        err, props = cudart.cudaGetDeviceProperties(0)
                        if err == cudart.cudaError_t.cudaSuccess:
                            self._integrated = bool(props.integrated)
                            print("Is it Integrated GPU? :", self._integrated)
        return self._integrated

    def is_platform_aarch64(self):
        if self._aarch64 is None:
            self._aarch64 = platform.uname()[4] == 'aarch64'
        return self._aarch64
