"""How many CPUs Estuary sizes its thread pools for (estuary/cpus.py): the affinity mask and the
cgroup's CPU quota, not the host's count — and the inference runtimes given that number."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest

from estuary.cpus import cgroup_cpu_limit


def _cgroup(tmp_path, proc: str, files: dict[str, str]):
    (tmp_path / "proc").write_text(proc)
    for rel, text in files.items():
        f = tmp_path / "sys" / rel
        f.parent.mkdir(parents=True, exist_ok=True)
        f.write_text(text)
    (tmp_path / "sys").mkdir(exist_ok=True)
    return cgroup_cpu_limit(root=str(tmp_path / "sys"), proc_cgroup=str(tmp_path / "proc"))


@pytest.mark.parametrize("proc, files, want", [
    # cgroup v2: a container's own cgroup shows as "/"
    ("0::/\n", {"cpu.max": "200000 100000\n"}, 2.0),
    ("0::/\n", {"cpu.max": "max 100000\n"}, None),
    ("0::/\n", {"cpu.max": "150000 100000\n"}, 1.5),
    ("0::/\n", {}, None),
    # v2 nested: the tightest of the cgroup and its parents
    ("0::/kubepods/pod1/c1\n", {"kubepods/cpu.max": "400000 100000", "kubepods/pod1/c1/cpu.max": "max 100000"}, 4.0),
    ("0::/kubepods/pod1/c1\n", {"kubepods/cpu.max": "400000 100000", "kubepods/pod1/cpu.max": "50000 100000"}, 0.5),
    # cgroup v1: cpu (or cpu,cpuacct) controller, quota -1 = none
    ("4:memory:/\n3:cpu,cpuacct:/docker/x\n", {"cpu,cpuacct/docker/x/cpu.cfs_quota_us": "300000",
                                                "cpu,cpuacct/docker/x/cpu.cfs_period_us": "100000"}, 3.0),
    ("1:cpu:/\n", {"cpu/cpu.cfs_quota_us": "-1", "cpu/cpu.cfs_period_us": "100000"}, None),
    ("1:cpuacct,cpu:/\n", {"cpu/cpu.cfs_quota_us": "100000", "cpu/cpu.cfs_period_us": "100000"}, 1.0),
    # unreadable or malformed: no limit rather than an error
    ("0::/\n", {"cpu.max": "garbage\n"}, None),
    ("not a cgroup line\n", {}, None),
], ids=["v2-2", "v2-max", "v2-1.5", "v2-none", "v2-parent", "v2-tightest", "v1-3", "v1-none",
        "v1-fallback-dir", "v2-garbage", "garbage"])
def test_cgroup_cpu_limit(tmp_path, proc, files, want):
    assert _cgroup(tmp_path, proc, files) == want


def test_cpu_limit_only_where_the_process_is_held_to_fewer_cpus(monkeypatch):
    import estuary.cpus as cpus
    monkeypatch.setattr(cpus, "usable_cpus", lambda: 2)
    monkeypatch.setattr(cpus.os, "cpu_count", lambda: 16)
    assert cpus.cpu_limit() == 2
    monkeypatch.setattr(cpus.os, "cpu_count", lambda: 2)
    assert cpus.cpu_limit() == 0  # the runtimes' defaults (physical cores) stand


def test_no_proc_file_means_no_limit(tmp_path):
    assert cgroup_cpu_limit(root=str(tmp_path), proc_cgroup=str(tmp_path / "absent")) is None


def _pinned(code: str) -> str:
    """Run ``code`` in a fresh interpreter bound to the first CPU (``taskset -c 0``)."""
    prog = "import os\nos.sched_setaffinity(0, {min(os.sched_getaffinity(0))})\n" + textwrap.dedent(code)
    r = subprocess.run([sys.executable, "-c", prog], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr[-2000:]
    return r.stdout.strip()


@pytest.mark.skipif(len(os.sched_getaffinity(0)) < 2, reason="needs two CPUs to pin to one of them")
def test_usable_cpus_follows_the_affinity_mask():
    assert _pinned("from estuary.cpus import usable_cpus\nprint(usable_cpus())") == "1"


@pytest.mark.skipif(len(os.sched_getaffinity(0)) < 2, reason="needs two CPUs to pin to one of them")
def test_onnxruntime_runs_on_the_cpus_it_may_use():
    """Pinned to one CPU, nvinfer's ONNX Runtime backend runs on the calling thread: no pool
    threads. ONNX Runtime's default counts the host's cores and starts (and pins) a thread for
    each but the caller: one more thread here, where this test failed before."""
    from estuary import data
    out = _pinned(f"""
        import numpy as np
        import onnxruntime as ort
        from estuary.infer.backends import OrtBackend
        model = {data.model_path("selfie_segmentation.onnx")!r}
        so = ort.SessionOptions()
        so.intra_op_num_threads = 1  # ONNX Runtime's own start-up threads, counted out
        ort.InferenceSession(model, so, providers=["CPUExecutionProvider"])
        before = len(os.listdir("/proc/self/task"))
        b = OrtBackend(model)
        b.run(np.zeros([1 if not isinstance(d, int) or d < 1 else d for d in b.input_shape], np.float32))
        print(len(os.listdir("/proc/self/task")) - before)
    """)
    assert out == "0"


def test_openvino_threads_follow_usable_cpus(monkeypatch):
    """OpenVINO reads the affinity mask itself, not a container's quota: the backend tells it."""
    pytest.importorskip("openvino")
    from estuary import data
    from estuary.infer import backends
    monkeypatch.setattr(backends, "cpu_limit", lambda: 1)
    b = backends.OpenVinoBackend(data.model_path("selfie_segmentation.onnx"))
    assert int(b.compiled.get_property("INFERENCE_NUM_THREADS")) == 1
