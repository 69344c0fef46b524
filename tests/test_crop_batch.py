"""Classifier crops scaled in one batched gather (infer/preprocess.crop_resize_batch) equal the
per-object path (slice + F.interpolate per object) that the GPU path used before. Runs with
torch on the CPU (the same ops run on CUDA tensors on the GPU machine)."""

import numpy as np
import pytest

from estuary.infer.preprocess import NetInput, prepare_torch

torch = pytest.importorskip("torch", reason="the GPU path's pre-processing needs PyTorch")


def _frames(n=3, h=120, w=160, seed=0):
    rng = np.random.default_rng(seed)
    batch = torch.from_numpy(rng.integers(0, 256, (n, h, w, 4), dtype=np.uint8))
    return [batch[i] for i in range(n)]  # views of one tensor, as the muxer's GPU batch


@pytest.mark.parametrize("interpolation,color_format,offsets,nhwc", [
    (1, 0, (0.0, 0.0, 0.0), False), (1, 1, (120.0, 110.0, 100.0), False), (0, 0, (0.0, 0.0, 0.0), True),
    (0, 1, (1.0, 2.0, 3.0), False)], ids=["bilinear-rgb", "bilinear-bgr-offsets", "nearest-nhwc", "nearest-bgr"])
def test_batched_crops_equal_the_per_object_path(monkeypatch, interpolation, color_format, offsets, nhwc):
    frames = _frames()
    net = NetInput(width=48, height=40, color_format=color_format, scale=1 / 255, offsets=offsets,
                   interpolation=interpolation, nhwc=nhwc)
    # up- and down-scaled crops, fractional and clipped ROIs, 1-pixel ones, crops at every edge
    rois = [(10.4, 5.6, 30, 20), (0, 0, 160, 120), (150, 110, 40, 40), (-5, -3, 12, 9), (80, 60, 1, 1),
            (33, 71, 97, 49), (0, 119, 160, 1), (159, 0, 1, 120), (12, 34, 47.6, 39.5)]
    images = [frames[k % 3] for k in range(len(rois))]
    batched, tb = prepare_torch(images, net, rois)
    monkeypatch.setenv("ESTUARY_BATCH_CROPS", "0")
    single, ts = prepare_torch(images, net, rois)
    assert batched.shape == single.shape == ((len(rois), 40, 48, 3) if nhwc else (len(rois), 3, 40, 48))
    assert tb == ts
    np.testing.assert_allclose(batched.numpy(), single.numpy(), rtol=0, atol=1e-5)


def test_batched_crops_are_not_used_for_a_roi_outside_the_frame(monkeypatch):
    frames = _frames()
    net = NetInput(width=16, height=16)
    ok, _ = prepare_torch([frames[0], frames[1]], net, [(2, 2, 8, 8), (4, 4, 8, 8)])
    assert ok.shape == (2, 3, 16, 16)
    with pytest.raises(RuntimeError):  # the per-object path's own error, not an out-of-range gather
        prepare_torch([frames[0], frames[1]], net, [(2, 2, 8, 8), (170, 4, 8, 8)])
