"""Runtime API (``from cuda import cudart``): the calls DeepStream's apps make, cuda-python style."""

from __future__ import annotations

import enum

from . import _device

__all__ = ["cudaError_t", "cudaDeviceProp", "cudaGetDeviceCount", "cudaGetDeviceProperties",
           "cudaGetDevice", "cudaSetDevice", "cudaDriverGetVersion", "cudaGetErrorName",
           "cudaGetErrorString"]


class cudaError_t(enum.IntEnum):
    cudaSuccess = 0
    cudaErrorInvalidValue = 1
    cudaErrorMemoryAllocation = 2
    cudaErrorInitializationError = 3
    cudaErrorInsufficientDriver = 35
    cudaErrorNoDevice = 100
    cudaErrorInvalidDevice = 101
    cudaErrorNotSupported = 801
    cudaErrorUnknown = 999


_STRINGS = {
    cudaError_t.cudaSuccess: "no error",
    cudaError_t.cudaErrorInvalidValue: "invalid argument",
    cudaError_t.cudaErrorMemoryAllocation: "out of memory",
    cudaError_t.cudaErrorInitializationError: "initialization error",
    cudaError_t.cudaErrorInsufficientDriver: "CUDA driver version is insufficient for CUDA runtime version",
    cudaError_t.cudaErrorNoDevice: "no CUDA-capable device is detected",
    cudaError_t.cudaErrorInvalidDevice: "invalid device ordinal",
    cudaError_t.cudaErrorNotSupported: "operation not supported",
    cudaError_t.cudaErrorUnknown: "unknown error",
}


class cudaDeviceProp:
    """The fields of CUDA's ``cudaDeviceProp`` that a real device's torch properties give."""

    def __init__(self, **fields):
        self.name = b""
        self.totalGlobalMem = 0
        self.major = self.minor = 0
        self.multiProcessorCount = 0
        self.integrated = 0
        self.isMultiGpuBoard = 0
        self.l2CacheSize = 0
        self.pciBusID = self.pciDeviceID = self.pciDomainID = 0
        self.warpSize = 32
        self.uuid = ""
        for k, v in fields.items():
            setattr(self, k, v)

    def __repr__(self) -> str:
        return (f"cudaDeviceProp(name={self.name!r}, major={self.major}, minor={self.minor}, "
                f"integrated={self.integrated}, totalGlobalMem={self.totalGlobalMem})")


_current = {"device": 0}


def _err_for(device=None):
    devs = _device.devices()
    if not devs:
        return cudaError_t.cudaErrorNoDevice
    if device is not None and not 0 <= int(device) < len(devs):
        return cudaError_t.cudaErrorInvalidDevice
    return cudaError_t.cudaSuccess


def cudaGetDeviceCount():
    err = _err_for()
    return (err, len(_device.devices()) if err == cudaError_t.cudaSuccess else 0)


def cudaGetDeviceProperties(device: int):
    err = _err_for(device)
    if err != cudaError_t.cudaSuccess:
        return (err, None)
    d = dict(_device.devices()[int(device)])
    if not d.pop("complete"):
        return (cudaError_t.cudaErrorNotSupported, None)
    d["name"] = d["name"].encode()
    return (err, cudaDeviceProp(**d))


def cudaGetDevice():
    err = _err_for()
    return (err, _current["device"] if err == cudaError_t.cudaSuccess else None)


def cudaSetDevice(device: int):
    err = _err_for(device)
    if err == cudaError_t.cudaSuccess:
        _current["device"] = int(device)
    return (err,)


def cudaDriverGetVersion():
    """No driver: CUDA's documented answer is version 0; with one, this stand-in cannot tell."""
    if not _device.driver_present():
        return (cudaError_t.cudaSuccess, 0)
    return (cudaError_t.cudaErrorNotSupported, None)


def cudaGetErrorName(error):
    try:
        return (cudaError_t.cudaSuccess, cudaError_t(int(error)).name.encode())
    except ValueError:
        return (cudaError_t.cudaErrorInvalidValue, None)


def cudaGetErrorString(error):
    try:
        return (cudaError_t.cudaSuccess, _STRINGS[cudaError_t(int(error))].encode())
    except (ValueError, KeyError):
        return (cudaError_t.cudaErrorInvalidValue, None)


def __getattr__(name: str):
    raise AttributeError(
        f"cudart.{name} is not provided by Estuary's stand-in for cuda-python (it answers the "
        f"platform queries of DeepStream's apps: {', '.join(__all__)}); install NVIDIA's "
        "cuda-python and driver to use the CUDA runtime API")
