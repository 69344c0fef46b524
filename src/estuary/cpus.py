"""How many CPUs this process may use: the fewer of its affinity mask and its cgroup's CPU quota.

Why this exists: ``os.cpu_count()`` counts the host's CPUs. In a container limited to 2 CPUs of
a 64-core host (``docker --cpuset-cpus``, ``taskset``, Kubernetes' ``limits.cpu`` — a CFS quota)
it still says 64, and thread pools sized from it oversubscribe the CPUs the process may use:
inference threads preempt each other and the decoder. ONNX Runtime's default thread pool is
worse: it counts the host's physical cores and pins one thread to each, so under ``taskset -c 0``
a session used 200 % of a CPU (measured on this project's 2-core machine, ONNX Runtime 1.32).
Python 3.13's ``os.process_cpu_count()`` reads the affinity mask only, and 3.11 has no such call.
"""

from __future__ import annotations

import math
import os

__all__ = ["usable_cpus", "cpu_limit", "cgroup_cpu_limit"]


def usable_cpus() -> int:
    """CPUs this process may run on: its affinity mask, capped by its cgroup's CPU quota
    (rounded up: a quota of 1.5 CPUs keeps 2 threads busy at 75 %). At least 1."""
    try:
        n = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # not Linux
        n = os.cpu_count() or 1
    limit = cgroup_cpu_limit()
    if limit is not None:
        n = min(n, max(1, math.ceil(limit)))
    return max(1, n)


def cpu_limit() -> int:
    """:func:`usable_cpus` where the process is held to fewer CPUs than the host has (an
    affinity mask, a cgroup quota), else 0: the runtimes' own defaults stand (ONNX Runtime's and
    OpenVINO's count physical cores, fewer than the logical CPUs on a host with SMT)."""
    n = usable_cpus()
    return n if n < (os.cpu_count() or n) else 0


def cgroup_cpu_limit(root: str = "/sys/fs/cgroup", proc_cgroup: str = "/proc/self/cgroup") -> float | None:
    """The CPU quota of this process's cgroup and its ancestors, in CPUs (the tightest), or None
    where there is none or it cannot be read. cgroup v2: ``cpu.max`` ("quota period" or "max
    period"); v1: ``cpu.cfs_quota_us`` / ``cpu.cfs_period_us`` (quota -1: none)."""
    try:
        with open(proc_cgroup) as f:
            lines = f.read().splitlines()
    except OSError:
        return None
    best = None
    for line in lines:
        parts = line.split(":", 2)
        if len(parts) != 3:
            continue
        _, controllers, path = parts
        if controllers == "":  # v2 unified hierarchy
            dirs, read = _ancestors(root, path), _v2_limit
        elif "cpu" in controllers.split(","):
            base = os.path.join(root, controllers)
            if not os.path.isdir(base):
                base = os.path.join(root, "cpu")
            dirs, read = _ancestors(base, path), _v1_limit
        else:
            continue
        for d in dirs:
            limit = read(d)
            if limit is not None and (best is None or limit < best):
                best = limit
    return best


def _ancestors(base: str, path: str) -> list[str]:
    """``base/a/b``, ``base/a``, ``base``: the cgroup and each parent (a container's namespace
    shows its own cgroup as ``/``, i.e. ``base``)."""
    parts = [p for p in path.strip("/").split("/") if p and p != ".."]
    return [os.path.join(base, *parts[:i]) for i in range(len(parts), -1, -1)]


def _read(path: str) -> str | None:
    try:
        with open(path) as f:
            return f.read().strip()
    except OSError:
        return None


def _v2_limit(d: str) -> float | None:
    text = _read(os.path.join(d, "cpu.max"))
    if not text:
        return None
    quota, _, period = text.partition(" ")
    try:
        return None if quota == "max" else int(quota) / int(period or 100000)
    except (ValueError, ZeroDivisionError):
        return None


def _v1_limit(d: str) -> float | None:
    quota, period = _read(os.path.join(d, "cpu.cfs_quota_us")), _read(os.path.join(d, "cpu.cfs_period_us"))
    try:
        q, p = int(quota or -1), int(period or 0)
    except ValueError:
        return None
    return q / p if q > 0 and p > 0 else None
