"""DeepStream 7.1's object encoder (``nvds_obj_enc_*``): JPEG crops of objects or whole frames.

``process`` crops the object's ``rect_params`` (or takes the whole frame with ``isFrame``) from
the batch surface, scales it when asked and encodes it with OpenCV at ``quality``; ``saveImg``
writes the file (``fileNameImg``, or ``<source>_<frame>_<objNum>_<class>_<w>x<h>.jpg`` in the
working folder when it is empty); ``attachUsrMeta`` attaches an ``NVDS_CROP_IMAGE_META`` user meta
whose ``user_meta_data`` is an :class:`NvDsObjEncOutParams` (``outBuffer()`` gives the JPEG bytes)
to the object, or to the frame with ``isFrame``. Encoding happens in ``process`` on the caller's
thread; ``finish`` is the barrier DeepStream apps call and has nothing left to wait for.
"""

from __future__ import annotations

import math
import threading

import numpy as np

from estuary.errors import SurfaceError

__all__ = ["ObjEncContext"]


class ObjEncContext:
    """One encoder context (``nvds_obj_enc_create_context``)."""

    def __init__(self):
        self._lock = threading.Lock()
        self._destroyed = False
        self.encoded = 0

    def process(self, args, gst_buffer: int, obj_meta, frame_meta) -> bool:
        import cv2

        from estuary.meta.enums import NvDsMetaType
        from estuary.pyds import (NvDsObjEncOutParams, gst_buffer_get_nvds_batch_meta,
                                  nvds_acquire_user_meta_from_pool, nvds_add_user_meta_to_frame,
                                  nvds_add_user_meta_to_obj)
        if self._destroyed:
            raise SurfaceError("nvds_obj_enc_process on a destroyed context")
        batch = gst_buffer_get_nvds_batch_meta(gst_buffer)
        if batch is None or batch.surface is None:
            raise SurfaceError("nvds_obj_enc_process: this buffer carries no batch surface "
                               "(probe a pad downstream of nvstreammux)")
        with batch.surface.frame(int(frame_meta.batch_id)).pixels(write=False) as rgba:
            h, w = rgba.shape[:2]
            if args.isFrame or obj_meta is None:
                x1, y1, x2, y2 = 0, 0, w, h
            else:
                r = obj_meta.rect_params
                vals = (float(r.left), float(r.top), float(r.width), float(r.height))
                if not all(math.isfinite(v) for v in vals):
                    return False
                x1, y1 = max(int(vals[0]), 0), max(int(vals[1]), 0)
                x2, y2 = min(int(vals[0] + vals[2]), w), min(int(vals[1] + vals[3]), h)
            if x2 <= x1 or y2 <= y1:
                return False  # an object outside the frame has nothing to encode, as in DeepStream
            crop = np.array(rgba[y1:y2, x1:x2, :3])
        if args.scaleImg and args.scaledWidth > 0 and args.scaledHeight > 0:
            crop = cv2.resize(crop, (int(args.scaledWidth), int(args.scaledHeight)),
                              interpolation=cv2.INTER_AREA)
        quality = int(args.quality) if 0 < int(args.quality) <= 100 else 80
        ok, jpeg = cv2.imencode(".jpg", cv2.cvtColor(crop, cv2.COLOR_RGB2BGR),
                                [cv2.IMWRITE_JPEG_QUALITY, quality])
        if not ok:
            raise SurfaceError("JPEG encoding of an object crop failed")
        data = jpeg.tobytes()
        if args.saveImg:
            name = args.fileNameImg or (
                f"{frame_meta.source_id}_{frame_meta.frame_num}_{args.objNum}_"
                f"{'frame' if args.isFrame or obj_meta is None else obj_meta.class_id}_"
                f"{crop.shape[1]}x{crop.shape[0]}.jpg")
            with open(name, "wb") as f:
                f.write(data)
        if args.attachUsrMeta:
            um = nvds_acquire_user_meta_from_pool(batch)
            um.user_meta_data = NvDsObjEncOutParams(data)
            um.base_meta.meta_type = NvDsMetaType.NVDS_CROP_IMAGE_META
            if args.isFrame or obj_meta is None:
                nvds_add_user_meta_to_frame(frame_meta, um)
            else:
                nvds_add_user_meta_to_obj(obj_meta, um)
        with self._lock:
            self.encoded += 1
        return True

    def finish(self) -> None:
        """Wait for queued encodes: none are queued (``process`` encodes at once)."""

    def destroy(self) -> None:
        self._destroyed = True
