"""Multi-GPU sharding and the worker launcher, on CPU (the scaling benchmark runs on a
multi-GPU machine: docs/benchmarks.md)."""

import json
import sys
import textwrap

import pytest

from estuary import data
from estuary.multigpu import Launcher, WorkerSpec, shard, worker_slots


def test_shard_balances_and_keeps_indices():
    srcs = [f"s{i}" for i in range(7)]
    plan = shard(srcs, [0, 1, 2])
    assert sorted(len(v) for v in plan.values()) == [2, 2, 3]
    assert sorted(i for v in plan.values() for i, _ in v) == list(range(7))
    assert all(srcs[i] == u for v in plan.values() for i, u in v)


@pytest.mark.parametrize("gpus,per_gpu,slots", [
    ("0", 1, [0]), ("0,1", 1, [0, 1]), ("0", 4, [0, 0, 0, 0]), ("0,1", 2, [0, 0, 1, 1]),
    ("0,0", 2, [0, 0, 0, 0]), (" 1, 3 ", 1, [1, 3])])
def test_worker_slots(gpus, per_gpu, slots):
    assert worker_slots(gpus, per_gpu) == slots


@pytest.mark.parametrize("gpus,per_gpu,says", [
    ("a", 1, "GPU ids"), ("", 1, "GPU ids"), ("-1", 1, "GPU ids"), ("0", 0, "at least 1")])
def test_worker_slots_refuses_bad_input(gpus, per_gpu, says):
    with pytest.raises(ValueError, match=says):
        worker_slots(gpus, per_gpu)


def test_run_with_bad_per_gpu_exits_with_a_usage_error():
    import subprocess
    r = subprocess.run([sys.executable, "-m", "estuary.multigpu", "run", "--per-gpu", "0", "--config", "x.txt", "u"],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 2 and "at least 1" in r.stderr


def test_shard_by_weight():
    plan = shard(["big", "a", "b", "c"], [0, 1], weights=[3, 1, 1, 1])
    loads = {g: sum({"big": 3}.get(u, 1) for _, u in v) for g, v in plan.items()}
    assert sorted(loads.values()) == [3, 3]


def test_launcher_restarts_a_crashed_worker_and_aggregates(tmp_path):
    marker = tmp_path / "crashed"
    script = tmp_path / "w.py"
    script.write_text(textwrap.dedent(f"""
        import json, os, sys
        gpu = int(sys.argv[1])
        print(json.dumps({{"gpu": gpu, "frames": {{str(gpu): 10}}, "fps": 5.0}}), flush=True)
        if gpu == 1 and not os.path.exists({str(marker)!r}):
            open({str(marker)!r}, "w").close()
            sys.exit(3)  # crash once
        assert os.environ["CUDA_VISIBLE_DEVICES"] == str(gpu)
    """))
    specs = [WorkerSpec(g, [sys.executable, str(script), str(g)]) for g in (0, 1)]
    launcher = Launcher(specs, backoff=0.01)
    agg = launcher.run(timeout=30)
    assert launcher.restarts == {0: 0, 1: 1}
    assert launcher.exit_codes[1] == [3, 0]
    assert agg["fps"] == 10.0 and agg["frames"] == {"0": 10, "1": 10}


def test_two_cpu_workers_run_real_pipelines():
    import subprocess
    cfg = data.model_path(data.PRIMARY_CONFIG)
    r = subprocess.run([sys.executable, "-m", "estuary.multigpu", "run", "--gpus", "0,1", "--config", cfg,
                        "--frames", "0"] + ["videotestsrc:num-buffers=10:!:video/x-raw,width=320,height=240"] * 4,
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    agg = json.loads(r.stdout.strip().splitlines()[-1])
    # the first batch of each worker starts its clock and is not counted
    assert set(agg["frames"]) <= {"0", "1", "2", "3"} and sum(agg["frames"].values()) >= 4 * 10 - 4
    assert set(agg["per_gpu"]) == {"0", "1"} and agg["fps"] > 0


def test_several_workers_on_one_gpu_with_secondary_classifiers():
    """--per-gpu 2 runs two workers on GPU 0 (one pipeline process each); --sgie adds
    secondary classifiers after the tracker, as DeepStream's published workload has them."""
    import subprocess
    cfg = data.model_path(data.PRIMARY_CONFIG)
    sgie = data.model_path(data.SECONDARY_CONFIG)
    clip = "file://" + data.media_path("bikes.mp4")  # the street clip: objects for the classifiers
    r = subprocess.run([sys.executable, "-m", "estuary.multigpu", "run", "--gpus", "0", "--per-gpu", "2", "--config", cfg,
                        "--sgie", sgie, "--sgie", sgie, "--frames", "8", clip, clip],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    agg = json.loads(r.stdout.strip().splitlines()[-1])
    assert set(agg["per_gpu"]) == {"0", "1"}  # two workers (slots), both on GPU id 0
    assert sum(agg["frames"].values()) >= 2 * 8 - 2


def test_worker_pipeline_has_the_secondaries_in_order(monkeypatch):
    """The worker's launch line: detector, tracker, then each --sgie with unique-id 2, 3, ..."""
    from estuary import multigpu
    seen = {}

    class Stop(Exception):
        pass

    def fake_parse(desc):
        seen["desc"] = desc
        raise Stop

    from estuary.gst import Gst
    monkeypatch.setattr(Gst, "parse_launch", fake_parse)
    with pytest.raises(Stop):
        multigpu.worker_main(["--config", "p.txt", "--sgie", "a.txt", "--sgie", "b.txt", "0=videotestsrc"])
    d = seen["desc"]
    assert d.index("config-file-path=p.txt") < d.index("nvtracker") < d.index("config-file-path=a.txt unique-id=2") \
        < d.index("config-file-path=b.txt unique-id=3") < d.index("fakesink")
