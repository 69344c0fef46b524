"""DeepStream 7.1's object encoder: JPEG crops of objects and frames, files and user meta."""

from __future__ import annotations

import cv2
import numpy as np
import pyds

from estuary.gst import Gst
from estuary.testing import run_probe


def _run(setup_args, tmp_path, box=(10, 20, 100, 50), is_frame=False):
    ctx = pyds.nvds_obj_enc_create_context(0)
    seen = []
    p = Gst.parse_launch("videotestsrc num-buffers=2 pattern=smpte ! video/x-raw,width=320,height=240 ! "
                         "m.sink_0 nvstreammux name=m batch-size=1 width=320 height=240 ! fakesink name=sink")

    def probe(pad, info, u):
        buf = info.get_buffer()
        bm = pyds.gst_buffer_get_nvds_batch_meta(hash(buf))
        fm = pyds.NvDsFrameMeta.cast(bm.frame_meta_list.data)
        o = pyds.nvds_acquire_obj_meta_from_pool(bm)
        r = o.rect_params
        r.left, r.top, r.width, r.height = box
        pyds.nvds_add_obj_meta_to_frame(fm, o, None)
        a = pyds.NvDsObjEncUsrArgs()
        a.isFrame = is_frame
        setup_args(a)
        ok = pyds.nvds_obj_enc_process(ctx, a, hash(buf), o, fm)
        pyds.nvds_obj_enc_finish(ctx)
        surface = np.array(pyds.get_nvds_buf_surface(hash(buf), fm.batch_id), copy=True)
        pyds.unmap_nvds_buf_surface(hash(buf), fm.batch_id)
        metas = []
        for lst in (o.obj_user_meta_list, fm.frame_user_meta_list):
            while lst is not None:
                um = pyds.NvDsUserMeta.cast(lst.data)
                if um.base_meta.meta_type == pyds.NvDsMetaType.NVDS_CROP_IMAGE_META:
                    jpeg = pyds.NvDsObjEncOutParams.cast(um.user_meta_data).outBuffer()
                    metas.append(cv2.cvtColor(cv2.imdecode(jpeg, cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB))
                lst = lst.next
        seen.append((ok, surface, metas))
        return Gst.PadProbeReturn.OK

    run_probe(p, "sink", "sink", probe)
    pyds.nvds_obj_enc_destroy_context(ctx)
    return seen


def test_object_crop_attached_as_crop_image_meta(tmp_path):
    def args(a):
        a.attachUsrMeta, a.quality = True, 95
    for ok, surface, metas in _run(args, tmp_path):
        assert ok and len(metas) == 1
        crop = metas[0]
        assert crop.shape == (50, 100, 3)
        ref = surface[20:70, 10:110, :3].astype(np.int16)
        assert np.abs(crop.astype(np.int16) - ref).mean() < 4  # the same pixels, JPEG-lossy


def test_saved_scaled_file_and_whole_frame(tmp_path):
    out = tmp_path / "crop.jpg"

    def args(a):
        a.saveImg, a.scaleImg, a.scaledWidth, a.scaledHeight = True, True, 64, 32
        a.fileNameImg = str(out)
        a.attachUsrMeta = True
    seen = _run(args, tmp_path, is_frame=True)
    img = cv2.imread(str(out))
    assert img is not None and img.shape == (32, 64, 3)
    assert all(len(m) == 1 and m[0].shape == (32, 64, 3) for _, _, m in seen)  # frame-level meta


def test_object_outside_the_frame_encodes_nothing(tmp_path):
    def args(a):
        a.attachUsrMeta = True
    for ok, _, metas in _run(args, tmp_path, box=(400, 300, 20, 20)):
        assert ok is False and metas == []
