"""A constant-velocity Kalman filter over boxes (cx, cy, w, h), vectorised over all tracks.

Noise scales with the box height, as in SORT/ByteTrack-style trackers."""

from __future__ import annotations

import numpy as np

__all__ = ["BoxKalman"]

_F = np.eye(8, dtype=np.float64)
_F[:4, 4:] = np.eye(4)
_H = np.eye(4, 8, dtype=np.float64)


class BoxKalman:
    """Batched predict/update for N tracks; state rows are [cx, cy, w, h, vx, vy, vw, vh]."""

    def __init__(self, pos_weight: float = 1 / 20, vel_weight: float = 1 / 160):
        self.pw, self.vw = pos_weight, vel_weight

    @staticmethod
    def xyxy_to_z(b: np.ndarray) -> np.ndarray:
        b = np.asarray(b, np.float64).reshape(-1, 4)
        z = np.empty_like(b)  # column arithmetic, not np.stack: this runs per frame per stream
        z[:, :2] = (b[:, :2] + b[:, 2:]) / 2
        z[:, 2:] = b[:, 2:] - b[:, :2]
        return z

    @staticmethod
    def z_to_xyxy(z: np.ndarray) -> np.ndarray:
        z = np.asarray(z).reshape(-1, 4)
        out = np.empty(z.shape, np.result_type(z.dtype, np.float64) if z.dtype.kind != "f" else z.dtype)
        half = z[:, 2:] / 2
        out[:, :2] = z[:, :2] - half
        out[:, 2:] = z[:, :2] + half
        return out

    def initiate(self, boxes: np.ndarray):
        z = self.xyxy_to_z(boxes)
        n = len(z)
        mean = np.zeros((n, 8))
        mean[:, :4] = z
        h = np.maximum(z[:, 3], 1.0)
        std = np.stack([2 * self.pw * h, 2 * self.pw * h, 2 * self.pw * h, 2 * self.pw * h,
                        10 * self.vw * h, 10 * self.vw * h, 10 * self.vw * h, 10 * self.vw * h], 1)
        cov = np.zeros((n, 8, 8))
        idx = np.arange(8)
        cov[:, idx, idx] = std ** 2
        return mean, cov

    def predict(self, mean: np.ndarray, cov: np.ndarray):
        if len(mean) == 0:
            return mean, cov
        h = np.maximum(mean[:, 3], 1.0)
        std = np.stack([self.pw * h, self.pw * h, self.pw * h, self.pw * h,
                        self.vw * h, self.vw * h, self.vw * h, self.vw * h], 1)
        Q = np.zeros((len(mean), 8, 8))
        idx = np.arange(8)
        Q[:, idx, idx] = std ** 2
        mean = mean @ _F.T
        cov = _F @ cov @ _F.T + Q
        return mean, cov

    def update(self, mean: np.ndarray, cov: np.ndarray, boxes: np.ndarray):
        if len(mean) == 0:
            return mean, cov
        z = self.xyxy_to_z(boxes)
        h = np.maximum(mean[:, 3], 1.0)
        r = (self.pw * h) ** 2
        R = np.zeros((len(mean), 4, 4))
        idx = np.arange(4)
        R[:, idx, idx] = r[:, None]
        S = _H @ cov @ _H.T + R
        PHt = cov @ _H.T
        K = np.linalg.solve(S, PHt.transpose(0, 2, 1)).transpose(0, 2, 1)
        innov = z - mean[:, :4]
        mean = mean + np.einsum("nij,nj->ni", K, innov)
        cov = cov - K @ _H @ cov
        return mean, cov
