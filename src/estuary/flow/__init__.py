"""Dense optical flow, engine-free: per-block motion vectors in DeepStream's S10.5 fixed point
(1/32 pixel), and their colour visualisation."""

from __future__ import annotations

import cv2
import numpy as np

__all__ = ["FlowEstimator", "flow_to_vectors", "visualize"]


class FlowEstimator:
    """OpenCV DIS optical flow on grey frames (CPU), averaged over ``block`` × ``block`` cells."""

    def __init__(self, block: int = 4, preset: int = cv2.DISOPTICAL_FLOW_PRESET_FAST):
        self.block = block
        self.dis = cv2.DISOpticalFlow_create(preset)
        self.prev: dict[int, np.ndarray] = {}

    def reset(self, key=None) -> None:
        if key is None:
            self.prev.clear()
        else:
            self.prev.pop(key, None)

    def __call__(self, key, rgba: np.ndarray) -> np.ndarray | None:
        """Flow (rows, cols, 2) float32 in pixels from the previous frame of ``key``; None first."""
        grey = cv2.cvtColor(rgba, cv2.COLOR_RGBA2GRAY)
        prev = self.prev.get(key)
        self.prev[key] = grey
        if prev is None or prev.shape != grey.shape:
            return None
        flow = self.dis.calc(prev, grey, None)
        h, w = grey.shape
        rows, cols = h // self.block, w // self.block
        f = flow[: rows * self.block, : cols * self.block].reshape(rows, self.block, cols, self.block, 2)
        return f.mean(axis=(1, 3)).astype(np.float32)


def flow_to_vectors(flow: np.ndarray) -> np.ndarray:
    """Pixels → int16 S10.5 fixed point (rows, cols, 2)."""
    return np.clip(np.round(flow * 32.0), -32768, 32767).astype(np.int16)


def visualize(vectors: np.ndarray, out_hw: tuple[int, int] | None = None) -> np.ndarray:
    """Colour a (rows, cols, 2) flow: hue = direction, value = magnitude. Returns RGB uint8."""
    v = vectors.astype(np.float32)
    mag, ang = cv2.cartToPolar(v[..., 0], v[..., 1])
    hsv = np.zeros(v.shape[:2] + (3,), np.uint8)
    hsv[..., 0] = (ang * 180 / np.pi / 2).astype(np.uint8)
    hsv[..., 1] = 255
    hsv[..., 2] = cv2.normalize(mag, None, 0, 255, cv2.NORM_MINMAX).astype(np.uint8)
    rgb = cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB)
    if out_hw is not None:
        rgb = cv2.resize(rgb, (out_hw[1], out_hw[0]), interpolation=cv2.INTER_NEAREST)
    return rgb
