"""The analytics rules over one stream's tracked objects, vectorised with numpy. Every test
uses the bottom-centre point of a box, (left + width/2, top + height)."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from estuary.analytics.config import MODES, AnalyticsConfig, StreamRules

__all__ = ["AnalyticsEngine", "FrameResult", "ObjectResult", "points_in_polygon"]


def points_in_polygon(pts: np.ndarray, poly: np.ndarray) -> np.ndarray:
    """Even-odd rule for many points at once."""
    if len(pts) == 0:
        return np.zeros(0, bool)
    x, y = pts[:, 0][:, None], pts[:, 1][:, None]
    x1, y1 = poly[:, 0][None, :], poly[:, 1][None, :]
    x2, y2 = np.roll(poly[:, 0], -1)[None, :], np.roll(poly[:, 1], -1)[None, :]
    cond = (y1 > y) != (y2 > y)
    with np.errstate(divide="ignore", invalid="ignore"):
        xint = (x2 - x1) * (y - y1) / (y2 - y1) + x1
    return (cond & (x < xint)).sum(1) % 2 == 1


def _side(a, b, p):
    return (b[0] - a[0]) * (p[1] - a[1]) - (b[1] - a[1]) * (p[0] - a[0])


def _segments_cross(p1, p2, a, b, extended: bool) -> bool:
    s1, s2 = _side(a, b, p1), _side(a, b, p2)
    if s1 == 0 or s1 * s2 > 0:
        return False
    if extended:
        return True
    t1, t2 = _side(p1, p2, a), _side(p1, p2, b)
    return t1 * t2 <= 0


@dataclass
class ObjectResult:
    roi: list = field(default_factory=list)
    oc: list = field(default_factory=list)
    lc: list = field(default_factory=list)
    direction: str = ""


@dataclass
class FrameResult:
    objects: list
    in_roi: dict
    oc_status: dict
    lc_current: dict
    lc_cumulative: dict
    obj_count: dict


class _StreamState:
    def __init__(self, n_lines):
        self.history: dict[int, list] = {}
        self.last_seen: dict[int, int] = {}
        self.counted: dict[int, set] = {}
        self.cumulative = [0] * n_lines
        self.oc_since: dict[str, int] = {}
        self.frame = 0


class AnalyticsEngine:
    """Applies the rules of an :class:`AnalyticsConfig`; keeps per-stream, per-track history."""

    HISTORY = 10          # frames of track history used for direction and crossing
    MIN_MOVE = 2.0        # px of movement before a direction is reported

    def __init__(self, config: AnalyticsConfig):
        self.cfg = config
        self._state: dict[int, _StreamState] = {}
        self._scaled: dict[tuple, StreamRules] = {}

    def reset(self, source_id: int | None = None) -> None:
        if source_id is None:
            self._state.clear()
        else:
            self._state.pop(source_id, None)

    def scaled_rules(self, source_id: int, width: int, height: int) -> StreamRules:
        """The stream's rules with coordinates scaled from the config space to width × height."""
        key = (source_id, width, height)
        r = self._scaled.get(key)
        if r is None:
            src = self.cfg.rules(source_id)
            s = np.array([width / self.cfg.width, height / self.cfg.height])
            from dataclasses import replace
            r = StreamRules(
                roi=[replace(x, polygon=x.polygon * s) for x in src.roi],
                overcrowding=[replace(x, polygon=x.polygon * s) for x in src.overcrowding],
                lines=[replace(x, direction=x.direction * s, segment=x.segment * s) for x in src.lines],
                directions=[replace(x, vector=x.vector * s) for x in src.directions])
            self._scaled[key] = r
        return r

    def process(self, source_id: int, width: int, height: int, boxes, class_ids, track_ids,
                pts_ns: int = 0) -> FrameResult:
        """``boxes`` xywh (left, top, w, h); ``track_ids`` (negative = untracked)."""
        rules = self.scaled_rules(source_id, width, height)
        st = self._state.get(source_id)
        if st is None:
            st = self._state[source_id] = _StreamState(len(rules.lines))
        st.frame += 1
        boxes = np.asarray(boxes, float).reshape(-1, 4)
        class_ids = np.asarray(class_ids, int).reshape(-1)
        track_ids = np.asarray(track_ids, np.int64).reshape(-1)
        n = len(boxes)
        pts = np.stack([boxes[:, 0] + boxes[:, 2] / 2, boxes[:, 1] + boxes[:, 3]], 1) if n else np.zeros((0, 2))
        objs = [ObjectResult() for _ in range(n)]

        def allowed(r_classes):
            return np.ones(n, bool) if r_classes is None else np.isin(class_ids, r_classes)

        in_roi = {}
        for roi in rules.roi:
            inside = points_in_polygon(pts, roi.polygon)
            hit = (~inside if roi.inverse else inside) & allowed(roi.class_ids)
            in_roi[roi.label] = int(hit.sum())
            for i in np.nonzero(hit)[0]:
                objs[i].roi.append(roi.label)
        oc_status = {}
        for oc in rules.overcrowding:
            hit = points_in_polygon(pts, oc.polygon) & allowed(oc.class_ids)
            crowded = int(hit.sum()) >= max(oc.threshold, 1)
            if crowded and oc.time_threshold_ms > 0:
                since = st.oc_since.setdefault(oc.label, pts_ns)
                crowded = (pts_ns - since) >= oc.time_threshold_ms * 1_000_000
            elif not crowded:
                st.oc_since.pop(oc.label, None)
            oc_status[oc.label] = bool(crowded)
            for i in np.nonzero(hit)[0]:
                objs[i].oc.append(oc.label)
        # track history
        for i in range(n):
            tid = int(track_ids[i])
            if tid < 0:
                continue
            h = st.history.setdefault(tid, [])
            h.append(pts[i].copy())
            del h[: -self.HISTORY]
            st.last_seen[tid] = st.frame
        lc_current = {ln.label: 0 for ln in rules.lines}
        for k, ln in enumerate(rules.lines):
            ok = allowed(ln.class_ids)
            d = ln.direction[1] - ln.direction[0]
            dn = d / max(np.linalg.norm(d), 1e-9)
            for i in range(n):
                tid = int(track_ids[i])
                if tid < 0 or not ok[i]:
                    continue
                h = st.history.get(tid, [])
                if len(h) < 2 or k in st.counted.get(tid, ()):
                    continue
                p_prev, p_now = h[-2], h[-1]
                if not _segments_cross(p_prev, p_now, ln.segment[0], ln.segment[1], ln.extended):
                    continue
                move = h[-1] - h[0]
                norm = np.linalg.norm(move)
                if norm < 1e-6 or float(np.dot(move / norm, dn)) <= MODES[ln.mode]:
                    continue
                st.counted.setdefault(tid, set()).add(k)
                st.cumulative[k] += 1
                lc_current[ln.label] += 1
                objs[i].lc.append(ln.label)
        lc_cum = {ln.label: st.cumulative[k] for k, ln in enumerate(rules.lines)}
        for i in range(n):
            tid = int(track_ids[i])
            h = st.history.get(tid) if tid >= 0 else None
            if not h or len(h) < 2:
                continue
            move = h[-1] - h[0]
            norm = np.linalg.norm(move)
            if norm < self.MIN_MOVE:
                continue
            best, best_cos = "", 0.5
            for dr in rules.directions:
                if dr.class_ids is not None and class_ids[i] not in dr.class_ids:
                    continue
                v = dr.vector[1] - dr.vector[0]
                c = float(np.dot(move, v) / (norm * max(np.linalg.norm(v), 1e-9)))
                if c > best_cos:
                    best, best_cos = dr.label, c
            if best:
                objs[i].direction = f"DIR:{best}"
        # forget tracks not seen for a while
        stale = [t for t, f in st.last_seen.items() if st.frame - f > 300]
        for t in stale:
            st.last_seen.pop(t, None)
            st.history.pop(t, None)
            st.counted.pop(t, None)
        counts = {}
        for c in class_ids:
            counts[int(c)] = counts.get(int(c), 0) + 1
        return FrameResult(objs, in_roi, oc_status, lc_current, lc_cum, counts)
