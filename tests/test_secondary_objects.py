"""A secondary network over all objects of a batch in one padded call
(``InferEngine.raw_objects``, the GPU path) gives each object what chunks of ``batch-size``
give. Runs the torch backend on the CPU (the same code runs on CUDA tensors on the GPU machine,
where the padded shapes are replayed as CUDA graphs)."""

import numpy as np
import pytest

from estuary import data
from estuary.infer.engine import InferEngine, bucket_rows, object_buckets

torch = pytest.importorskip("torch", reason="the GPU path's secondary inference needs PyTorch")


@pytest.mark.parametrize("n,base,cap,rows", [
    (1, 16, 512, 16), (16, 16, 512, 16), (17, 16, 512, 32), (100, 16, 512, 128), (500, 16, 512, 512),
    (512, 16, 512, 512), (5, 24, 512, 24), (300, 24, 512, 384), (400, 24, 512, 512), (3, 1, 512, 4),
    (40, 64, 32, 64), (70, 64, 32, 70), (50, 16, 64, 64), (64, 16, 64, 64), (5, 1, 64, 8), (33, 1, 64, 64),
    (1, 1, 64, 1), (64, 1, 64, 64), (65, 1, 64, 65)])
def test_bucket_rows(n, base, cap, rows):
    got = bucket_rows(n, base, cap)
    assert got == rows
    assert got >= n


@pytest.mark.parametrize("cap,base", [(64, 1), (16, 1), (64, 16), (64, 3)])
def test_object_buckets_are_every_padded_shape(cap, base):
    """The shapes nvinfer warms up at start are exactly those raw_objects' chunks (at most
    ``cap`` objects each) are padded to."""
    seen = {bucket_rows(min(n, cap), base, cap) for n in range(1, 4 * cap)}
    assert object_buckets(cap, base) == sorted(seen)
    if base == 1:
        assert object_buckets(cap, base) == [2 ** k for k in range(cap.bit_length())]


@pytest.mark.parametrize("cap", [64, 16])  # one padded call; several chunks (the cap) padded
def test_objects_in_one_padded_call_equal_chunks_of_batch_size(cap):
    eng = InferEngine(data.model_path(data.SECONDARY_CONFIG), backend="torch")
    if eng.backend.name != "torch" and "torch" not in type(eng.backend).__name__.lower():
        pytest.skip(f"the torch backend was not chosen ({eng.backend.name})")
    rng = np.random.default_rng(3)
    batch = torch.from_numpy(rng.integers(0, 256, (3, 180, 320, 4), dtype=np.uint8))
    frames = [batch[i] for i in range(3)]  # views of one tensor, as the muxer's batch
    n = 37  # cap 64: one call padded to 64 rows; cap 16: two chunks of 16 and one of 5 padded to 8
    rois = [(float(rng.integers(0, 280)), float(rng.integers(0, 140)), float(rng.integers(8, 40)),
             float(rng.integers(8, 40))) for _ in range(n)]
    images = [frames[k % 3] for k in range(n)]
    got, tr = eng.raw_objects(images, rois, cap=cap)
    parts, trs = [], []
    for s in range(0, n, 16):
        out, t = eng.raw(images[s: s + 16], rois[s: s + 16])
        parts.append(out)
        trs += t
    assert tr == trs
    assert set(got) == set(parts[0])
    for k in got:
        ref = np.concatenate([p[k] for p in parts])
        assert got[k].shape == ref.shape and got[k].shape[0] == n
        np.testing.assert_allclose(got[k], ref, rtol=1e-4, atol=1e-4)
    top_got = [c.class_id if c else None for c in eng.classify(images, rois, outputs=got)]
    top_ref = [c.class_id if c else None for c in eng.classify(images, rois, outputs=
                                                                {k: np.concatenate([p[k] for p in parts]) for k in got})]
    assert top_got == top_ref
    assert any(c is not None for c in top_got)  # the check compares real results


def test_frame_ready_event_is_cleared_by_whatever_may_write_the_pixels():
    """``FrameSurface.ready`` (the muxer's conversion event a classifier's own stream waits for)
    is kept by clones and dropped when the pixels may change: a new tensor, or a pyds GPU
    surface handed to the application (it may write on any stream)."""
    from estuary.gst.batchsurface import BatchSurface, FrameSurface
    ev = object()  # stands for a CUDA event: only identity matters here
    f = FrameSurface(None, 8, 4, device="cuda", tensor=torch.zeros((4, 8, 4), dtype=torch.uint8))
    assert f.ready is None
    f.ready = ev
    assert f.clone().ready is ev
    f.tensor = f.tensor.clone()
    assert f.ready is None
    f.ready = ev
    b = BatchSurface([f], 1)
    b.gpu_frame_tuple(0)
    assert f.ready is None
