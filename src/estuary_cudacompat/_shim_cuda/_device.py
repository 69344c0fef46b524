"""What the machine really has: NVIDIA devices seen through the driver's files and, for their
properties, a CUDA build of torch. Nothing is invented: without a driver there is no device;
with one but without torch, the count and names come from /proc and the properties are
reported as not supported."""

from __future__ import annotations

import functools
import glob
import os


def driver_present() -> bool:
    return os.path.exists("/proc/driver/nvidia/version") or os.path.exists("/dev/nvidiactl")


@functools.lru_cache(maxsize=1)
def devices() -> tuple[dict, ...]:
    """One dict per visible device: ``name`` always, the rest only when torch could tell."""
    if not driver_present():
        return ()  # checked first so that CPU machines never pay for importing torch
    try:
        import torch
        if torch.cuda.is_available():
            out = []
            for i in range(torch.cuda.device_count()):
                p = torch.cuda.get_device_properties(i)
                out.append({
                    "name": p.name, "totalGlobalMem": int(p.total_memory), "major": int(p.major),
                    "minor": int(p.minor), "multiProcessorCount": int(p.multi_processor_count),
                    "integrated": int(bool(getattr(p, "is_integrated", False))),
                    "isMultiGpuBoard": int(bool(getattr(p, "is_multi_gpu_board", False))),
                    "l2CacheSize": int(getattr(p, "L2_cache_size", 0) or 0),
                    "pciBusID": int(getattr(p, "pci_bus_id", 0) or 0),
                    "pciDeviceID": int(getattr(p, "pci_device_id", 0) or 0),
                    "pciDomainID": int(getattr(p, "pci_domain_id", 0) or 0),
                    "warpSize": int(getattr(p, "warp_size", 32) or 32),
                    "uuid": str(getattr(p, "uuid", "")),
                    "complete": True,
                })
            return tuple(out)
    except Exception:  # noqa: BLE001 - torch missing or broken: fall back to the driver's files
        pass
    out = []
    for info in sorted(glob.glob("/proc/driver/nvidia/gpus/*/information")):
        name = ""
        try:
            with open(info, encoding="utf-8", errors="replace") as f:
                for line in f:
                    if line.startswith("Model:"):
                        name = line.split(":", 1)[1].strip()
        except OSError:
            continue
        out.append({"name": name, "complete": False})
    return tuple(out)
