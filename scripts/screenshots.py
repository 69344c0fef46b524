"""Produce the screenshots in docs/images from real runs:

* ``demo.png``: a frame of the flagship demo (detector + tracker + classifier + OSD);
* ``tiled.png``: the bundled video on 4 sources, detector + OSD, tiled 2×2.

    .venv/bin/python scripts/screenshots.py
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile

import cv2
import numpy as np

import pyds
from estuary import data
from estuary.apps.demo import run_demo
from estuary.gst import Gst

OUT = os.path.join(os.path.dirname(__file__), "..", "docs", "images")


def tiled(path: str) -> None:
    video = data.media_path("bikes.mp4")
    srcs = " ".join(f'filesrc location="{video}" ! qtdemux ! h264parse ! nvv4l2decoder ! '
                    f"identity eos-after={40 + 25 * i} ! queue ! m.sink_{i}" for i in range(4))
    p = Gst.parse_launch(
        f"nvstreammux name=m batch-size=4 width=640 height=272 ! "
        f'nvinfer config-file-path="{data.model_path(data.PRIMARY_CONFIG)}" batch-size=4 ! nvtracker ! '
        f"nvmultistreamtiler rows=2 columns=2 width=1280 height=544 ! nvdsosd name=osd ! fakesink {srcs}")
    shot = {}

    def probe(pad, info):
        bm = pyds.gst_buffer_get_nvds_batch_meta(hash(info.get_buffer()))
        n = sum(f.num_obj_meta for f in bm.frames)
        if n >= shot.get("n", -1):
            shot["n"] = n
            shot["img"] = np.array(pyds.get_nvds_buf_surface(hash(info.get_buffer()), 0), copy=True)
        return Gst.PadProbeReturn.OK

    p.get_by_name("osd").get_static_pad("src").add_probe(Gst.PadProbeType.BUFFER, probe)
    p.set_state(Gst.State.PLAYING)
    p.get_bus().timed_pop_filtered(300 * Gst.SECOND, Gst.MessageType.EOS | Gst.MessageType.ERROR)
    p.set_state(Gst.State.NULL)
    cv2.imwrite(path, cv2.cvtColor(shot["img"], cv2.COLOR_RGBA2BGR))


def main() -> int:
    os.makedirs(OUT, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        if run_demo(os.path.join(tmp, "demo.mp4")) != 0:
            return 1
        shutil.copy(os.path.join(tmp, "demo.png"), os.path.join(OUT, "demo.png"))
    tiled(os.path.join(OUT, "tiled.png"))
    print(f"wrote {OUT}/demo.png and {OUT}/tiled.png")
    return 0


if __name__ == "__main__":
    sys.exit(main())
