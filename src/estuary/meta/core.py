"""The batch metadata tree: batch → frames → objects → classifier meta → label info.

One :class:`NvDsBatchMeta` rides on each batched buffer. Children are taken from the batch's
pools (:meth:`NvDsMetaPool.acquire`), attached with the ``add_*`` methods and go back to the
pool when removed or when the batch is released. User meta carry copy/release callbacks that
run when the batch is deep-copied (a buffer copy) or released (the buffer freed).

The model is plain Python: lists are lists (``batch.frames``, ``frame.objects``,
``obj.classifiers``, ``classifier.labels``, ``frame.user_meta``, ...), text is ``str``
(``obj.text_params.display_text_str``). :mod:`estuary.pyds` shows the same objects with
DeepStream's C shapes (``frame_meta_list`` as a GList, ``display_text`` as a char* address).
"""

from __future__ import annotations

import logging
import sys
import threading
from typing import Callable, Iterator

from estuary.errors import MetaError
from estuary.meta.arrays import FrameObjects
from estuary.meta.enums import MAX_ELEMENTS_IN_DISPLAY_META, NvDsMetaType, UNTRACKED_OBJECT_ID
from estuary.meta.osd import (NvBbox_Coords, NvOSD_ArrowParams, NvOSD_CircleParams,
                              NvOSD_LineParams, NvOSD_MaskParams, NvOSD_RectParams,
                              NvOSD_TextParams)
from estuary.meta.struct import (CharArray, Embedded, IntArray, Items, Pointer, Scalar,
                                 Struct, WeakPointer, index_of)

__all__ = [
    "NvDsBaseMeta", "NvDsMetaPool", "NvDsBatchMeta", "NvDsFrameMeta", "NvDsObjectMeta",
    "NvDsComp_BboxInfo", "NvDsClassifierMeta", "NvDsLabelInfo", "NvDsDisplayMeta",
    "NvDsUserMeta", "NvDsMeta", "UserMetaCallback",
]

_log = logging.getLogger("estuary.meta")
# frames without a batch (made directly, not from a pool) make their structs under this lock
_MATERIALISE_LOCK = threading.Lock()

#: ``func(user_meta, user_data)``: a copy callback returns the new ``user_meta_data``.
UserMetaCallback = Callable[["NvDsUserMeta", object], object]


class NvDsBaseMeta(Struct):
    """Fields every metadata node starts with. ``base_meta`` is the node itself."""

    meta_type = Scalar(NvDsMetaType.NVDS_INVALID_META)
    batch_meta = WeakPointer()
    uContext = Pointer()
    copy_func = Scalar(None)
    release_func = Scalar(None)

    @property
    def base_meta(self) -> "NvDsBaseMeta":
        """The embedded ``NvDsBaseMeta`` (this same node)."""
        return self


class NvDsComp_BboxInfo(Struct):
    """A box in original coordinates."""

    org_bbox_coords = Embedded(NvBbox_Coords)


class NvDsLabelInfo(NvDsBaseMeta):
    """One classifier result."""

    num_classes = Scalar(0)
    result_label = CharArray(128)
    pResult_label = Scalar(None)
    result_class_id = Scalar(0)
    label_id = Scalar(0)
    result_prob = Scalar(0.0)


class NvDsClassifierMeta(NvDsBaseMeta):
    """Results of one classifier for one object."""

    unique_component_id = Scalar(0)
    classifier_type = Scalar(None)
    label_info_list = Items("labels")

    @property
    def num_labels(self) -> int:
        """Number of entries in ``label_info_list``."""
        return len(self._labels)

    @num_labels.setter
    def num_labels(self, value):
        """Kept equal to the list length; writes are ignored."""



class NvDsUserMeta(NvDsBaseMeta):
    """User metadata: ``user_meta_data`` is any object, tagged by ``base_meta.meta_type``."""

    user_meta_data = Pointer()


class NvDsObjectMeta(NvDsBaseMeta):
    """One detected or tracked object."""

    parent = Pointer()
    unique_component_id = Scalar(0)
    class_id = Scalar(0)
    object_id = Scalar(UNTRACKED_OBJECT_ID)
    detector_bbox_info = Embedded(NvDsComp_BboxInfo)
    tracker_bbox_info = Embedded(NvDsComp_BboxInfo)
    confidence = Scalar(0.0)
    tracker_confidence = Scalar(0.0)
    rect_params = Embedded(NvOSD_RectParams)
    mask_params = Embedded(NvOSD_MaskParams)
    text_params = Embedded(NvOSD_TextParams)
    obj_label = CharArray(128)
    classifier_meta_list = Items("classifiers")
    obj_user_meta_list = Items("user_meta")
    misc_obj_info = IntArray(4)
    reserved = IntArray(4)



    @property
    def box(self) -> tuple[float, float, float, float]:
        """``rect_params`` as (left, top, width, height)."""
        r = self.rect_params
        return (r.left, r.top, r.width, r.height)


class _DisplayArray:
    """A read-only list of 16 live structs of one kind, created on first access."""

    __slots__ = ("cls", "slot_member")

    def __init__(self, cls):
        self.cls = cls

    def __set_name__(self, owner, name):
        self.slot_member = None

    def bind(self, member):
        self.slot_member = member

    def __get__(self, obj, owner=None):
        if obj is None:
            return self
        try:
            return self.slot_member.__get__(obj, owner)
        except AttributeError:
            v = tuple(self.cls() for _ in range(MAX_ELEMENTS_IN_DISPLAY_META))
            self.slot_member.__set__(obj, v)
            return v

    def __set__(self, obj, value):
        raise AttributeError("display meta arrays are read-only; set their elements' fields")


class NvDsDisplayMeta(NvDsBaseMeta):
    """Things to draw on a frame: up to 16 rects, labels, lines, arrows and circles."""

    __slots__ = ("_rects", "_texts", "_lines", "_arrows", "_circles",
                 "_num_rects", "_num_labels", "_num_lines", "_num_arrows", "_num_circles")
    misc_osd_data = IntArray(4)
    reserved = IntArray(4)

    _COUNTS = ("num_rects", "num_labels", "num_lines", "num_arrows", "num_circles")
    _ARRAYS = ("_rects", "_texts", "_lines", "_arrows", "_circles")

    def __init__(self, **fields):
        for n in self._COUNTS:
            object.__setattr__(self, "_" + n, 0)
        super().__init__(**fields)

    def _reset(self):
        for slot in self._ARRAYS:
            try:
                object.__delattr__(self, slot)
            except AttributeError:
                pass
        for n in self._COUNTS:
            object.__setattr__(self, "_" + n, 0)
        super()._reset()

    rect_params = _DisplayArray(NvOSD_RectParams)
    text_params = _DisplayArray(NvOSD_TextParams)
    line_params = _DisplayArray(NvOSD_LineParams)
    arrow_params = _DisplayArray(NvOSD_ArrowParams)
    circle_params = _DisplayArray(NvOSD_CircleParams)


for _name, _slot in zip(("rect_params", "text_params", "line_params", "arrow_params",
                         "circle_params"), NvDsDisplayMeta._ARRAYS):
    NvDsDisplayMeta.__dict__[_name].bind(NvDsDisplayMeta.__dict__[_slot])


def _count_property(name):
    slot = "_" + name

    def get(self):
        return object.__getattribute__(self, slot)

    def set_(self, value):
        value = int(value)
        if not 0 <= value <= MAX_ELEMENTS_IN_DISPLAY_META:
            raise MetaError(f"NvDsDisplayMeta.{name} must be between 0 and "
                            f"{MAX_ELEMENTS_IN_DISPLAY_META}, got {value}: acquire another display "
                            "meta for more elements")
        object.__setattr__(self, slot, value)

    return property(get, set_, doc="How many entries of the array the OSD draws (0..16).")


for _n in NvDsDisplayMeta._COUNTS:
    setattr(NvDsDisplayMeta, _n, _count_property(_n))


class NvDsFrameMeta(NvDsBaseMeta):
    """One frame of a batch."""

    pad_index = Scalar(0)
    batch_id = Scalar(0)
    frame_num = Scalar(0)
    buf_pts = Scalar(0)
    ntp_timestamp = Scalar(0)
    source_id = Scalar(0)
    num_surfaces_per_frame = Scalar(1)
    source_frame_width = Scalar(0)
    source_frame_height = Scalar(0)
    surface_type = Scalar(0)
    surface_index = Scalar(0)
    bInferDone = Scalar(False)
    pipeline_width = Scalar(0)
    pipeline_height = Scalar(0)
    tile = Scalar(None)
    obj_meta_list = Items("objects")
    display_meta_list = Items("display_metas")
    frame_user_meta_list = Items("user_meta")
    misc_frame_info = IntArray(4)
    reserved = IntArray(4)

    __slots__ = ("_table",)

    def __init__(self, **fields):
        self._table = None
        super().__init__(**fields)

    def _reset(self):
        self._table = None
        super()._reset()

    @property
    def num_obj_meta(self) -> int:
        """Number of objects in ``obj_meta_list`` (rows stored as arrays included)."""
        t = self._table
        return len(self._objects) + (len(t) if t is not None else 0)

    @num_obj_meta.setter
    def num_obj_meta(self, value):
        """Kept equal to the list length; writes are ignored."""




    def add_object(self, obj: NvDsObjectMeta, parent: NvDsObjectMeta | None = None) -> None:
        """Append ``obj`` (from the batch's object pool) to this frame."""
        obj.parent = parent
        if self._table is not None:
            self._materialise()
        self._objects.append(obj)

    def append_objects(self, rows: FrameObjects) -> FrameObjects:
        """Append objects given as arrays (:meth:`FrameObjects.detections`). They stay arrays
        until something asks for them as structs; returns the frame's table (live) or, when the
        frame's objects are structs already, a snapshot of the structs made for ``rows``."""
        if rows._frame is not None or rows._objects is not None:
            rows = rows.copy()
        if self._objects:
            made = rows.make_objects(self.batch_meta)
            self._objects.extend(made)
            rows._objects = made
            return rows
        if self._table is None:
            self._table = rows
            rows._frame = self
        else:
            self._table.append(rows)
        return self._table

    def object_table(self) -> FrameObjects | None:
        """The frame's objects as its live table (arrays, no struct made yet), else None:
        an element with a fast path for arrays asks this without making structs or gathering
        a snapshot."""
        t = self._table
        return t if t is not None and not self._objects else None

    def _materialise(self) -> None:
        """Make object structs of the rows stored as arrays (once; they are the objects then).

        Under the batch's lock, and the table is let go only after the structs are in the list:
        two branches of a tee may read one frame's objects at the same time, and the second
        must neither make them again nor see the list half filled."""
        if self._table is None:
            return
        batch = self.batch_meta
        with (batch.meta_mutex if batch is not None else _MATERIALISE_LOCK):
            t = self._table
            if t is None:  # another thread made them while this one waited
                return
            made = t.make_objects(batch)
            self._objects.extend(made)
            t._objects = made  # the old table now writes through to the structs
            t._frame = None
            self._table = None

    def remove_object(self, obj: NvDsObjectMeta) -> None:
        """Detach ``obj`` and give it back to its pool."""
        self._materialise()
        _detach(self._objects, obj, "object", "frame")
        _release_object(obj)
        _give_back(obj, "obj_meta_pool")

    def add_display_meta(self, dm: "NvDsDisplayMeta") -> None:
        """Append a display meta (drawn by the OSD)."""
        self._display_metas.append(dm)

    def add_user_meta(self, um: NvDsUserMeta) -> None:
        """Append frame-level user meta."""
        self._user_meta.append(um)

    def user_meta_of_type(self, meta_type) -> Iterator[NvDsUserMeta]:
        """Frame user metas whose ``meta_type`` equals ``meta_type``."""
        return (u for u in self._user_meta if u.meta_type == meta_type)


class _FrameObjectsDesc:
    """``frame.objects``: the list of object structs, made from rows stored as arrays first."""

    def __init__(self, plain):
        self.plain = plain

    def __get__(self, obj, owner=None):
        if obj is None:
            return self
        if obj._table is not None:
            obj._materialise()
        return self.plain.__get__(obj, owner)

    def __set__(self, obj, value):
        obj._table = None
        self.plain.__set__(obj, value)


NvDsFrameMeta.objects = _FrameObjectsDesc(NvDsFrameMeta.__dict__["objects"])


class NvDsMetaPool(Struct):
    """A pool of one kind of metadata node, owned by one batch."""

    meta_type = Scalar(NvDsMetaType.NVDS_INVALID_META)
    max_elements_in_pool = Scalar(0)
    element_size = Scalar(0)
    __slots__ = ("_factory", "_empty", "_full")

    def __init__(self, meta_type=NvDsMetaType.NVDS_INVALID_META, factory=None, capacity: int = 0):
        super().__init__()
        self.meta_type = meta_type
        self.max_elements_in_pool = capacity
        self._factory = factory
        self._empty: list = []
        self._full: dict[int, object] = {}

    @property
    def num_empty_elements(self) -> int:
        """Elements ready to be acquired."""
        return len(self._empty)

    @property
    def num_full_elements(self) -> int:
        """Elements acquired and not yet given back."""
        return len(self._full)

    def acquire(self, batch: "NvDsBatchMeta"):
        """Take a zeroed element, tagged with this pool's type and ``batch``."""
        if self._empty:
            item = self._empty.pop()
            item._reset()
        else:
            item = self._factory()
            if len(self._full) + 1 > self.max_elements_in_pool:
                self.max_elements_in_pool = len(self._full) + 1
        item.meta_type = self.meta_type
        item.batch_meta = batch
        self._full[id(item)] = item
        return item

    def give_back(self, item) -> None:
        """Return ``item`` to the pool (no-op if it is not from this pool)."""
        if self._full.pop(id(item), None) is not None:
            self._empty.append(item)

    def clear(self) -> None:
        """Forget every element (the batch is released)."""
        self._full.clear()
        self._empty.clear()


class NvDsBatchMeta(NvDsBaseMeta):
    """Metadata of one batched buffer."""

    __slots__ = ("frame_meta_pool", "obj_meta_pool", "classifier_meta_pool", "display_meta_pool",
                 "user_meta_pool", "label_info_meta_pool", "meta_mutex", "_released", "surface")
    max_frames_in_batch = Scalar(0)
    frame_meta_list = Items("frames")
    batch_user_meta_list = Items("user_meta")
    misc_batch_info = IntArray(4)
    reserved = IntArray(4)

    def __init__(self, max_batch_size: int = 1):
        super().__init__()
        self.meta_type = NvDsMetaType.NVDS_BATCH_META
        self.max_frames_in_batch = int(max_batch_size)
        self.batch_meta = self
        T = NvDsMetaType
        n = max(int(max_batch_size), 1)
        self.frame_meta_pool = NvDsMetaPool(T.NVDS_FRAME_META, NvDsFrameMeta, n)
        self.obj_meta_pool = NvDsMetaPool(T.NVDS_OBJ_META, NvDsObjectMeta, 16 * n)
        self.classifier_meta_pool = NvDsMetaPool(T.NVDS_CLASSIFIER_META, NvDsClassifierMeta, 16 * n)
        self.display_meta_pool = NvDsMetaPool(T.NVDS_DISPLAY_META, NvDsDisplayMeta, n)
        self.user_meta_pool = NvDsMetaPool(T.NVDS_USER_META, NvDsUserMeta, n)
        self.label_info_meta_pool = NvDsMetaPool(T.NVDS_LABEL_INFO_META, NvDsLabelInfo, 16 * n)
        self.meta_mutex = threading.RLock()
        self._released = False
        self.surface = None

    @property
    def num_frames_in_batch(self) -> int:
        """Number of frames in ``frame_meta_list``."""
        return len(self._frames)

    @num_frames_in_batch.setter
    def num_frames_in_batch(self, value):
        """Kept equal to the list length; writes are ignored."""



    # -- acquiring ------------------------------------------------------------------------
    def acquire_frame(self) -> NvDsFrameMeta:
        return self.frame_meta_pool.acquire(self)

    def acquire_object(self) -> NvDsObjectMeta:
        return self.obj_meta_pool.acquire(self)

    def acquire_classifier(self) -> NvDsClassifierMeta:
        return self.classifier_meta_pool.acquire(self)

    def acquire_display(self) -> NvDsDisplayMeta:
        return self.display_meta_pool.acquire(self)

    def acquire_user(self) -> NvDsUserMeta:
        return self.user_meta_pool.acquire(self)

    def acquire_label_info(self) -> NvDsLabelInfo:
        return self.label_info_meta_pool.acquire(self)

    def add_frame(self, frame: NvDsFrameMeta) -> None:
        """Append a frame."""
        self._frames.append(frame)

    def add_user_meta(self, um: NvDsUserMeta) -> None:
        """Append batch-level user meta."""
        self._user_meta.append(um)

    def frame(self, batch_id: int) -> NvDsFrameMeta:
        """The frame whose ``batch_id`` is ``batch_id``."""
        for f in self._frames:
            if f.batch_id == batch_id:
                return f
        raise LookupError(f"no frame with batch_id {batch_id} in this batch")

    # -- copy / release -------------------------------------------------------------------
    def copy(self) -> "NvDsBatchMeta":
        """A deep copy of the tree; user meta are copied through their copy callbacks."""
        dst = NvDsBatchMeta(self.max_frames_in_batch)
        # the copy's frames share the pixels until one side writes (copy on write)
        clone = getattr(self.surface, "clone", None)
        dst.surface = clone() if clone is not None else self.surface
        dst.misc_batch_info[:] = self.misc_batch_info
        copy_frame_list(self._frames, dst)
        copy_user_meta_list(self._user_meta, dst, dst._user_meta)
        return dst

    def release(self) -> None:
        """Run every user meta's release callback and empty the pools. Idempotent."""
        if self._released:
            return
        self._released = True
        for um in self._user_meta:
            release_user_meta(um)
        for f in self._frames:
            _release_frame(f)
        self._frames.clear()
        self._user_meta.clear()
        for p in (self.frame_meta_pool, self.obj_meta_pool, self.classifier_meta_pool,
                  self.display_meta_pool, self.user_meta_pool, self.label_info_meta_pool):
            p.clear()
        self.surface = None

    def __del__(self):
        if sys.meta_path is None:  # the interpreter is shutting down: nothing is left to free into
            return
        try:
            self.release()
        except Exception as exc:  # noqa: BLE001 - never raise from a finaliser, but say so
            _log.error("a user meta release callback failed while a batch was freed: %s: %s",
                       type(exc).__name__, exc)


class NvDsMeta(Struct):
    """A GstNvDsMeta: metadata attached to a GstBuffer."""

    meta = Pointer()
    meta_data = Pointer()
    user_data = Pointer()
    meta_type = Scalar(0)


# -- helpers shared with the pyds facade -----------------------------------------------------

def _detach(lst: list, item, what: str, where: str) -> None:
    try:
        del lst[index_of(lst, item)]
    except ValueError:
        raise MetaError(f"this {what} meta is not in the {where}'s list") from None


def _give_back(item, pool_name: str) -> None:
    batch = item.batch_meta
    if batch is not None:
        getattr(batch, pool_name).give_back(item)


#: Called with each struct whose metadata is released (objects, display metas, user meta
#: data): the pyds facade frees the C memory it made for them. The model itself owns nothing
#: that needs freeing.
release_hooks: list[Callable[[object], None]] = []


def _released(struct) -> None:
    for hook in release_hooks:
        hook(struct)


def release_user_meta(um: NvDsUserMeta) -> None:
    """Run ``um``'s release callback, then let go of its data."""
    func = um.release_func
    if func is not None:
        func(um, None)
    data = um.user_meta_data
    if data is not None:
        _released(data)
    um.user_meta_data = None


def _release_object(obj: NvDsObjectMeta) -> None:
    for um in obj._user_meta:
        release_user_meta(um)
    obj._user_meta.clear()
    _released(obj)


def _release_display(d) -> None:
    _released(d)


def _release_frame(f: NvDsFrameMeta) -> None:
    for um in f._user_meta:
        release_user_meta(um)
    for o in f._objects:
        _release_object(o)
    for d in f._display_metas:
        _release_display(d)
    f._user_meta.clear()
    f._objects.clear()
    f._table = None


def copy_user_meta(src: NvDsUserMeta, dst_batch: NvDsBatchMeta) -> NvDsUserMeta:
    """Copy one user meta into ``dst_batch``'s pool, calling its copy callback."""
    um = dst_batch.acquire_user()
    um.meta_type = src.meta_type
    um.uContext = src.uContext
    um.copy_func, um.release_func = src.copy_func, src.release_func
    if src.copy_func is not None:
        um.user_meta_data = src.copy_func(src, None)
    else:
        um.user_meta_data = src.user_meta_data
    return um


def copy_user_meta_list(src_list, dst_batch: NvDsBatchMeta, dst_list: list) -> None:
    for um in src_list:
        dst_list.append(copy_user_meta(um, dst_batch))


def _copy_into(src: Struct, dst: Struct, skip=()) -> None:
    for name, slot, spec in src._fields:
        if name in skip or isinstance(spec, (Items, WeakPointer)):
            continue
        try:
            v = object.__getattribute__(src, slot)
        except AttributeError:
            continue
        if isinstance(spec, Embedded):
            v = v._memcpy()
        elif isinstance(spec, IntArray):
            v = v.copy()
        object.__setattr__(dst, slot, v)


def copy_object(src: NvDsObjectMeta, dst_batch: NvDsBatchMeta) -> NvDsObjectMeta:
    """Deep copy of an object meta (classifiers, labels, user meta) into ``dst_batch``."""
    o = dst_batch.acquire_object()
    _copy_into(src, o, skip=("meta_type", "parent"))
    for c in src._classifiers:
        nc = dst_batch.acquire_classifier()
        _copy_into(c, nc, skip=("meta_type",))
        for li in c._labels:
            nl = dst_batch.acquire_label_info()
            _copy_into(li, nl, skip=("meta_type",))
            nc._labels.append(nl)
        o._classifiers.append(nc)
    copy_user_meta_list(src._user_meta, dst_batch, o._user_meta)
    return o


def copy_display_meta(src: NvDsDisplayMeta, dst_batch: NvDsBatchMeta) -> NvDsDisplayMeta:
    d = dst_batch.acquire_display()
    for n in NvDsDisplayMeta._COUNTS:
        setattr(d, n, getattr(src, n))
    for name in ("rect_params", "text_params", "line_params", "arrow_params", "circle_params"):
        for s, t in zip(getattr(src, name), getattr(d, name)):
            _copy_into(s, t)
    return d


def copy_objects(src_list, dst_frame: NvDsFrameMeta, dst_batch: NvDsBatchMeta) -> None:
    dst_frame._materialise()  # the copies go after the frame's objects, also those held as arrays
    mapping = {}
    for o in src_list:
        n = copy_object(o, dst_batch)
        mapping[id(o)] = n
        dst_frame._objects.append(n)
    for o in src_list:
        if o.parent is not None:
            mapping[id(o)].parent = mapping.get(id(o.parent), o.parent)


def copy_frame(src: NvDsFrameMeta, dst_batch: NvDsBatchMeta) -> NvDsFrameMeta:
    """Deep copy of a frame meta and everything under it into ``dst_batch``."""
    f = dst_batch.acquire_frame()
    _copy_into(src, f, skip=("meta_type",))
    copy_objects(src._objects, f, dst_batch)
    if src._table is not None:
        f.append_objects(src._table.copy())
    for d in src._display_metas:
        f._display_metas.append(copy_display_meta(d, dst_batch))
    copy_user_meta_list(src._user_meta, dst_batch, f._user_meta)
    return f


def copy_frame_list(src_list, dst_batch: NvDsBatchMeta) -> None:
    for fr in src_list:
        dst_batch._frames.append(copy_frame(fr, dst_batch))
