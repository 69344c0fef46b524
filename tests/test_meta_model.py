"""The in-memory metadata model: pools, lists, copies, release, the two faces."""

import numpy as np
import pytest

from estuary.errors import InvalidAddressError, MetaError
from estuary.pyds import cmem
from estuary.meta.core import NvDsBatchMeta, NvDsUserMeta
from estuary.meta.enums import NvDsMetaType, UNTRACKED_OBJECT_ID


def make_batch(n_frames=2, n_objects=3):
    b = NvDsBatchMeta(n_frames)
    for i in range(n_frames):
        f = b.acquire_frame()
        f.batch_id = f.pad_index = f.source_id = i
        b.add_frame(f)
        for k in range(n_objects):
            o = b.acquire_object()
            o.class_id = k
            o.rect_params.left, o.rect_params.top = 10.0 * k, 20.0 * k
            o.rect_params.width = o.rect_params.height = 5.0
            f.add_object(o)
    return b


def test_pool_acquire_tags_and_counts():
    b = NvDsBatchMeta(4)
    o = b.acquire_object()
    assert o.meta_type == NvDsMetaType.NVDS_OBJ_META
    assert o.base_meta.batch_meta is b
    assert o.object_id == UNTRACKED_OBJECT_ID
    assert b.obj_meta_pool.num_full_elements == 1
    f = b.acquire_frame()
    b.add_frame(f)
    f.add_object(o)
    f.remove_object(o)
    assert b.obj_meta_pool.num_full_elements == 0
    assert b.obj_meta_pool.num_empty_elements == 1
    o2 = b.acquire_object()
    assert o2 is o and o2.rect_params.left == 0.0  # reused and zeroed


def test_reused_object_is_zeroed():
    b = NvDsBatchMeta(1)
    f = b.acquire_frame()
    b.add_frame(f)
    o = b.acquire_object()
    o.obj_label = "car"
    o.class_id = 7
    o.misc_obj_info[0] = 5
    f.add_object(o)
    f.remove_object(o)
    o = b.acquire_object()
    assert (o.obj_label, o.class_id, int(o.misc_obj_info[0])) == ("", 0, 0)


def test_counters_follow_lists():
    b = make_batch(2, 3)
    assert b.num_frames_in_batch == 2
    assert [f.num_obj_meta for f in b.frames] == [3, 3]


def test_glist_walk_and_removal_while_walking():
    b = make_batch(1, 4)
    f = b.frames[0]
    seen = []
    node = f.obj_meta_list
    while node is not None:
        o = node.data
        seen.append(o.class_id)
        nxt = node.next
        if o.class_id == 1:
            f.remove_object(o)
        node = nxt
    assert seen == [0, 1, 2, 3]
    assert [o.class_id for o in f.objects] == [0, 2, 3]
    # removing the current node then asking for next gives its successor
    node = f.obj_meta_list
    f.remove_object(node.data)
    assert node.next.data.class_id == 2


def test_empty_list_is_none():
    b = NvDsBatchMeta(1)
    assert b.frame_meta_list is None
    f = b.acquire_frame()
    assert f.obj_meta_list is None and f.frame_user_meta_list is None


def test_display_meta_limits():
    b = NvDsBatchMeta(1)
    d = b.acquire_display()
    assert len(d.rect_params) == 16 and len(d.text_params) == 16
    d.num_rects = 16
    with pytest.raises(MetaError, match="between 0 and 16"):
        d.num_rects = 17
    with pytest.raises(AttributeError):
        d.rect_params = ()
    d.text_params[0].display_text = "hi"
    assert cmem.read_string(d.text_params[0].display_text) == "hi"


def test_int_array_views_alias_storage():
    b = NvDsBatchMeta(1)
    f = b.acquire_frame()
    f.misc_frame_info[2] = 42
    f.misc_frame_info = np.zeros(4)  # silent no-op, as in the reference
    assert int(f.misc_frame_info[2]) == 42


def test_copy_is_deep_and_runs_user_copy_callbacks():
    b = make_batch(1, 2)
    calls = []
    um = b.acquire_user()
    um.user_meta_data = {"n": 1}
    um.meta_type = NvDsMetaType(9000)
    um.copy_func = lambda meta, ud: calls.append("copy") or dict(meta.user_meta_data)
    b.frames[0].add_user_meta(um)
    c = b.copy()
    assert calls == ["copy"]
    assert c.frames[0].objects[0] is not b.frames[0].objects[0]
    assert c.frames[0].objects[1].rect_params.left == 10.0
    assert c.frames[0].user_meta[0].user_meta_data == {"n": 1}
    assert c.frames[0].user_meta[0].user_meta_data is not um.user_meta_data
    c.frames[0].objects[1].rect_params.left = 99
    assert b.frames[0].objects[1].rect_params.left == 10.0


def test_release_runs_release_callbacks_once():
    b = make_batch(1, 1)
    released = []
    for where in ("batch", "frame", "object"):
        um = b.acquire_user()
        um.user_meta_data = where
        um.release_func = lambda meta, ud: released.append(meta.user_meta_data)
        {"batch": b.add_user_meta, "frame": b.frames[0].add_user_meta,
         "object": b.frames[0].objects[0].user_meta.append}[where](um)
    b.release()
    b.release()
    assert sorted(released) == ["batch", "frame", "object"]


def test_release_on_garbage_collection():
    released = []
    b = NvDsBatchMeta(1)
    um = b.acquire_user()
    um.release_func = lambda meta, ud: released.append(1)
    b.add_user_meta(um)
    del b, um
    assert released == [1]


def test_char_array_truncates():
    b = NvDsBatchMeta(1)
    o = b.acquire_object()
    o.obj_label = "x" * 300
    assert len(o.obj_label) == 127


def test_unknown_address_raises():
    with pytest.raises(InvalidAddressError):
        cmem.read_string(12345678)
    with pytest.raises(InvalidAddressError):
        cmem.object_at(987654321)


def test_user_meta_default():
    um = NvDsUserMeta()
    assert um.user_meta_data is None and um.base_meta is um
