"""Network outputs on their way from the GPU to the host, one copy per batch, without waiting.

``nvinfer`` on CUDA frames launches pre-processing, the network and the selection of what the
host needs (:class:`PendingOutputs`), goes on with other work (the previous batch's parsing and
metadata, the elements downstream), and only then waits, on a CUDA event, for the one
device→host copy of the batch. The copy lands in pinned host memory (torch caches those
blocks), so it is an asynchronous DMA in stream order and not a per-frame ``.cpu()`` that
stalls the streaming thread for the GPU's whole queue.

YOLO-style outputs ``(N, R, 5 + C)`` are large (64 × 2535 × 85 at 416 px) and almost all rows
are below the smallest pre-cluster threshold: on the device, every frame's rows at or above the
threshold are moved to the front, in their original order, and the first ``k`` rows of each
frame are copied with the per-frame counts. A frame with more than ``k`` kept rows (rare; a
smaller ``k`` than a scene needs) is copied whole afterwards, so the result is always exactly
``t[i][score_i >= threshold]`` for each frame ``i`` — what a per-frame ``.cpu()`` gave.
"""

from __future__ import annotations

__all__ = ["PendingOutputs", "yolo_scores", "DEFAULT_ROWS"]

#: rows per frame copied in the one batch copy (a frame with more kept rows is copied whole)
DEFAULT_ROWS = 256


def yolo_scores(t):
    """Objectness × best class probability of YOLO rows ``(..., 5 + C)`` (float tensor)."""
    return t[..., 4] * t[..., 5:].amax(-1)


class PendingOutputs:
    """A batch's outputs being copied to the host; :meth:`result` waits for the copy.

    ``outs``: output name → tensor with the batch dimension first (any device). ``yolo_rows``:
    the name of a YOLO-style output whose rows below ``min_score`` stay on the device (then the
    result holds a list of per-frame ``(kept, 5 + C)`` float32 arrays under that name); other
    outputs come back whole as float32 numpy arrays.
    """

    def __init__(self, outs: dict, yolo_rows: str | None = None, min_score: float = 0.0,
                 rows: int = DEFAULT_ROWS):
        import torch
        self._torch = torch
        self._result = None
        self._yolo = None
        self._host: dict = {}
        self._event = None
        cuda = any(t.is_cuda for t in outs.values())
        for name, t in outs.items():
            t = t.float()
            if name == yolo_rows and t.dim() == 3:
                n, r, c = t.shape
                keep = yolo_scores(t) >= min_score
                idx = torch.arange(r, device=t.device)
                # kept rows first, each group in row order: sort on (not kept) * r + index
                key = torch.where(keep, idx, idx + r)
                k = max(1, min(rows, r))
                order = key.sort(dim=1).indices[:, :k]
                front = torch.gather(t, 1, order.unsqueeze(-1).expand(n, k, c))
                counts = keep.sum(1)
                self._yolo = (name, t, keep, k)
                self._host[name] = self._copy(front, cuda)
                self._host[name + "\0counts"] = self._copy(counts, cuda)
            else:
                self._host[name] = self._copy(t, cuda)
        if cuda:
            self._event = torch.cuda.Event()
            self._event.record(torch.cuda.current_stream(next(iter(outs.values())).device))

    def _copy(self, t, cuda: bool):
        if not cuda:
            return t
        host = self._torch.empty(t.shape, dtype=t.dtype, pin_memory=True)
        host.copy_(t, non_blocking=True)
        return host

    def done(self) -> bool:
        """True once the copy has landed (never waits)."""
        return self._result is not None or self._event is None or self._event.query()

    def result(self) -> dict:
        """The outputs on the host (waits for the copy once; later calls return the same dict)."""
        if self._result is not None:
            return self._result
        if self._event is not None:
            self._event.synchronize()
        out = {}
        for name, host in self._host.items():
            if "\0" in name:
                continue
            if self._yolo is not None and name == self._yolo[0]:
                _, dev, keep, k = self._yolo
                counts = self._host[name + "\0counts"].numpy()
                front = host.numpy()
                per = []
                for i, c in enumerate(counts):
                    c = int(c)
                    if c <= k:  # a copy: the pinned block goes back to torch's cache
                        per.append(front[i, :c].copy())
                    else:  # more kept rows than were copied: this frame whole (exact, rare)
                        per.append(dev[i][keep[i]].cpu().numpy())
                out[name] = per
            else:
                out[name] = host.numpy().copy() if self._event is not None else host.cpu().numpy()
        self._result = out
        self._host = {}
        self._yolo = None
        return out
