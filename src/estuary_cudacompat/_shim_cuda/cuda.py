"""Driver API (``from cuda import cuda``): the calls DeepStream's apps make, cuda-python style."""

from __future__ import annotations

import enum
import threading

from . import _device

__all__ = ["CUresult", "CUdevice", "cuInit", "cuDeviceGetCount", "cuDeviceGet", "cuDeviceGetName",
           "cuDeviceTotalMem", "cuDriverGetVersion", "cuGetErrorName", "cuGetErrorString"]


class CUresult(enum.IntEnum):
    CUDA_SUCCESS = 0
    CUDA_ERROR_INVALID_VALUE = 1
    CUDA_ERROR_OUT_OF_MEMORY = 2
    CUDA_ERROR_NOT_INITIALIZED = 3
    CUDA_ERROR_DEINITIALIZED = 4
    CUDA_ERROR_NO_DEVICE = 100
    CUDA_ERROR_INVALID_DEVICE = 101
    CUDA_ERROR_NOT_SUPPORTED = 801
    CUDA_ERROR_UNKNOWN = 999


_STRINGS = {
    CUresult.CUDA_SUCCESS: "no error",
    CUresult.CUDA_ERROR_INVALID_VALUE: "invalid argument",
    CUresult.CUDA_ERROR_OUT_OF_MEMORY: "out of memory",
    CUresult.CUDA_ERROR_NOT_INITIALIZED: "initialization error",
    CUresult.CUDA_ERROR_DEINITIALIZED: "driver shutting down",
    CUresult.CUDA_ERROR_NO_DEVICE: "no CUDA-capable device is detected",
    CUresult.CUDA_ERROR_INVALID_DEVICE: "invalid device ordinal",
    CUresult.CUDA_ERROR_NOT_SUPPORTED: "operation not supported",
    CUresult.CUDA_ERROR_UNKNOWN: "unknown error",
}


class CUdevice(int):
    """A device ordinal (cuda-python returns an object; an int compares and indexes the same)."""


_state = {"init": False}
_lock = threading.Lock()


def cuInit(flags: int = 0):
    """``(CUresult,)``: CUDA_SUCCESS only where a device really exists."""
    if flags != 0:
        return (CUresult.CUDA_ERROR_INVALID_VALUE,)
    with _lock:
        if not _device.devices():
            return (CUresult.CUDA_ERROR_NO_DEVICE,)
        _state["init"] = True
    return (CUresult.CUDA_SUCCESS,)


def _check(ordinal=None):
    if not _state["init"]:
        return CUresult.CUDA_ERROR_NOT_INITIALIZED
    if ordinal is not None and not 0 <= int(ordinal) < len(_device.devices()):
        return CUresult.CUDA_ERROR_INVALID_DEVICE
    return CUresult.CUDA_SUCCESS


def cuDeviceGetCount():
    err = _check()
    return (err, len(_device.devices()) if err == CUresult.CUDA_SUCCESS else 0)


def cuDeviceGet(ordinal: int):
    err = _check(ordinal)
    return (err, CUdevice(ordinal) if err == CUresult.CUDA_SUCCESS else None)


def cuDeviceGetName(length: int, dev):
    err = _check(dev)
    if err != CUresult.CUDA_SUCCESS:
        return (err, None)
    return (err, _device.devices()[int(dev)]["name"].encode()[:max(int(length) - 1, 0)])


def cuDeviceTotalMem(dev):
    err = _check(dev)
    if err != CUresult.CUDA_SUCCESS:
        return (err, None)
    d = _device.devices()[int(dev)]
    if not d["complete"]:
        return (CUresult.CUDA_ERROR_NOT_SUPPORTED, None)
    return (err, d["totalGlobalMem"])


def cuDriverGetVersion():
    """No driver: CUDA's documented answer is version 0; with one, this stand-in cannot tell."""
    if not _device.driver_present():
        return (CUresult.CUDA_SUCCESS, 0)
    return (CUresult.CUDA_ERROR_NOT_SUPPORTED, None)


def cuGetErrorName(error):
    try:
        return (CUresult.CUDA_SUCCESS, CUresult(int(error)).name.encode())
    except ValueError:
        return (CUresult.CUDA_ERROR_INVALID_VALUE, None)


def cuGetErrorString(error):
    try:
        return (CUresult.CUDA_SUCCESS, _STRINGS[CUresult(int(error))].encode())
    except (ValueError, KeyError):
        return (CUresult.CUDA_ERROR_INVALID_VALUE, None)


def __getattr__(name: str):
    raise AttributeError(
        f"cuda.{name} is not provided by Estuary's stand-in for cuda-python (it answers the "
        f"platform queries of DeepStream's apps: {', '.join(__all__)}); install NVIDIA's "
        "cuda-python and driver to use the CUDA driver API")
