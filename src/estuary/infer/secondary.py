"""Secondary inference (``process-mode=2``): which objects a classifier runs on, and the cache
that lets a tracked object keep its result instead of being inferred on every frame.

Engine-free: ``nvinfer`` plans each batch with :func:`plan_secondary`, infers the objects it
returns, and stores the results with :meth:`SecondaryCache.store`."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

import numpy as np

from estuary.meta.enums import UNTRACKED_OBJECT_ID

__all__ = ["ObjectFilter", "ObjectRow", "SecondaryCache", "plan_secondary", "CACHE_LIMIT"]

#: the cache is emptied when it grows past this many (source, object id) entries
CACHE_LIMIT = 100000


@dataclass(frozen=True)
class ObjectFilter:
    """The objects a secondary network infers on: from one detector (``operate_on_gie_id``,
    negative or None: any), of some classes (``operate_on_class_ids``, empty: any), and with a
    box within the size limits (0: no limit)."""

    operate_on_gie_id: int | None = -1
    operate_on_class_ids: tuple = ()
    min_width: float = 0
    min_height: float = 0
    max_width: float = 0
    max_height: float = 0

    @classmethod
    def from_config(cls, cfg) -> "ObjectFilter":
        """The filter of an nvinfer config (``operate-on-*`` and ``input-object-*`` keys)."""
        return cls(cfg.operate_on_gie_id, tuple(cfg.operate_on_class_ids or ()),
                   cfg.input_object_min_width or 0, cfg.input_object_min_height or 0,
                   cfg.input_object_max_width or 0, cfg.input_object_max_height or 0)

    def accepts(self, obj) -> bool:
        """Whether ``obj`` (object meta: unique_component_id, class_id, rect_params) qualifies."""
        gie = self.operate_on_gie_id
        if gie is not None and gie >= 0 and obj.unique_component_id != gie:
            return False
        if self.operate_on_class_ids and obj.class_id not in self.operate_on_class_ids:
            return False
        r = self.min_width, self.min_height, self.max_width, self.max_height
        w, h = obj.rect_params.width, obj.rect_params.height
        if r[0] and w < r[0] or r[1] and h < r[1]:
            return False
        if r[2] and w > r[2] or r[3] and h > r[3]:
            return False
        return True


    @cached_property
    def _class_lut(self) -> np.ndarray | None:
        """``lut[class_id]``: whether the class is operated on (np.isin costs ~20 µs a frame)."""
        ids = list(self.operate_on_class_ids)
        if not all(0 <= c < 1 << 16 for c in ids):
            return None
        lut = np.zeros(max(ids) + 1, bool)
        lut[ids] = True
        return lut

    def mask(self, table) -> np.ndarray:
        """:meth:`accepts` for every row of a :class:`~estuary.meta.arrays.FrameObjects` at once."""
        n = len(table)
        keep = np.ones(n, bool)
        gie = self.operate_on_gie_id
        if gie is not None and gie >= 0:
            keep &= table.component_id == gie
        if self.operate_on_class_ids:
            lut = self._class_lut
            cls = table.class_id
            if lut is None:  # ids a table cannot hold (negative, huge): the general test
                keep &= np.isin(cls, np.asarray(self.operate_on_class_ids, np.int64))
            else:
                inside = (cls >= 0) & (cls < len(lut))
                keep &= inside & lut[np.where(inside, cls, 0)]
        b = table.boxes
        w, h = b[:, 2] - b[:, 0], b[:, 3] - b[:, 1]
        r = self.min_width, self.min_height, self.max_width, self.max_height
        if r[0]:
            keep &= w >= r[0]
        if r[1]:
            keep &= h >= r[1]
        if r[2]:
            keep &= w <= r[2]
        if r[3]:
            keep &= h <= r[3]
        return keep


class ObjectRow:
    """One object of a frame whose objects are stored as arrays (its live table), standing in
    for its struct in secondary inference: a classifier reads its box and tracking id and
    writes its result into the table (``FrameObjects.add_classification``), so no struct is
    made for objects nobody reads as structs."""

    __slots__ = ("table", "row")

    def __init__(self, table, row: int):
        self.table, self.row = table, int(row)

    @property
    def object_id(self) -> int:
        tid = int(self.table.tracker_id[self.row])
        return UNTRACKED_OBJECT_ID if tid < 0 else tid

    @property
    def roi(self) -> tuple[float, float, float, float]:
        """(left, top, width, height), as ``rect_params``."""
        x1, y1, x2, y2 = self.table.boxes[self.row].tolist()
        return (x1, y1, x2 - x1, y2 - y1)


def object_roi(obj) -> tuple[float, float, float, float]:
    """(left, top, width, height) of an object struct or an :class:`ObjectRow`."""
    if isinstance(obj, ObjectRow):
        return obj.roi
    r = obj.rect_params
    return (r.left, r.top, r.width, r.height)


@dataclass
class SecondaryCache:
    """Results per tracked object: ``(source id, object id)`` → (result or None, frame number
    it was inferred on). ``reinfer_interval`` (``secondary-reinfer-interval``): frames after
    which a cached object is inferred again (0: never)."""

    reinfer_interval: int = 0
    limit: int = CACHE_LIMIT
    entries: dict = field(default_factory=dict)

    def lookup(self, source_id: int, object_id: int, frame_num: int) -> tuple[bool, object]:
        """(hit, result): a hit means the object need not be inferred now; its result may be
        None (the classifier found nothing last time). Untracked objects never hit."""
        if object_id == UNTRACKED_OBJECT_ID:
            return False, None
        cached = self.entries.get((source_id, object_id))
        if cached is None:
            return False, None
        every = self.reinfer_interval
        if every and frame_num - cached[1] >= every:
            return False, None
        return True, cached[0]

    def store(self, source_id: int, object_id: int, frame_num: int, result) -> None:
        """Remember a tracked object's result (untracked objects are not kept)."""
        if object_id != UNTRACKED_OBJECT_ID:
            self.entries[(source_id, object_id)] = (result, frame_num)

    def trim(self) -> None:
        """Forget everything once more than ``limit`` objects are kept (call once a batch)."""
        if len(self.entries) > self.limit:
            self.entries.clear()

    def clear(self) -> None:
        self.entries.clear()

    def __len__(self) -> int:
        return len(self.entries)


def plan_secondary(frames, accept, cache: SecondaryCache, rows: ObjectFilter | None = None) -> tuple[list, list]:
    """Split the objects of ``frames`` for one batch of secondary inference.

    Returns ``(todo, reuse)``: ``todo`` lists the (frame, object) pairs to infer, in order;
    ``reuse`` lists the (object, cached result) pairs whose result is taken from the cache
    (results that are not None only). ``accept(obj)`` says which objects qualify
    (:meth:`ObjectFilter.accepts`). With ``rows`` (the same filter), a frame whose objects are
    stored as arrays is planned on its table, and its objects are :class:`ObjectRow` s (no
    struct is made); other frames give their structs."""
    todo, reuse = [], []
    frames = list(frames)
    tables = [f.object_table() for f in frames] if rows is not None else [None] * len(frames)
    picked = _rows_of(rows, [t for t in tables if t is not None])
    k = 0
    for f, table in zip(frames, tables):
        if table is not None:
            idx, tids = picked[k]
            k += 1
            for i, tid in zip(idx, tids):
                hit, result = cache.lookup(f.source_id, UNTRACKED_OBJECT_ID if tid < 0 else tid, f.frame_num)
                if hit:
                    if result is not None:
                        reuse.append((ObjectRow(table, i), result))
                    continue
                todo.append((f, ObjectRow(table, i)))
            continue
        for o in f.objects:
            if not accept(o):
                continue
            hit, result = cache.lookup(f.source_id, o.object_id, f.frame_num)
            if hit:
                if result is not None:
                    reuse.append((o, result))
                continue
            todo.append((f, o))
    return todo, reuse


class _Columns:
    """The columns :meth:`ObjectFilter.mask` reads, of several tables end to end."""

    __slots__ = ("component_id", "class_id", "boxes")

    def __init__(self, tables):
        self.component_id = np.concatenate([t.component_id for t in tables])
        self.class_id = np.concatenate([t.class_id for t in tables])
        self.boxes = np.concatenate([t.boxes for t in tables])

    def __len__(self) -> int:
        return len(self.class_id)


def _rows_of(flt: ObjectFilter | None, tables: list) -> list:
    """Per table, (accepted row indices, their tracker ids) as lists: the filter applied to
    every table of the batch in one pass (per-frame numpy calls were most of the planning)."""
    if not tables:
        return []
    keep = flt.mask(_Columns(tables))
    tids = np.concatenate([t.tracker_id for t in tables]).tolist()
    out, start = [], 0
    for t in tables:
        n = len(t)
        idx = np.flatnonzero(keep[start: start + n]).tolist()
        out.append((idx, [tids[start + i] for i in idx]))
        start += n
    return out
