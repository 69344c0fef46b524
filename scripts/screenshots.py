"""Produce the screenshots in docs/images from real runs:

* ``demo.png``: a frame of the flagship demo (detector + tracker + classifier + OSD);
* ``tiled.png``: four different sources (three parts of the bundled video, a photo), detector +
  tracker + OSD, tiled 2×2; the frame where every tile has the most detections.

Both lay out the labels with :mod:`estuary.apps.labels` (above their box, clear of each other).

    .venv/bin/python scripts/screenshots.py          # both
    .venv/bin/python scripts/screenshots.py tiled    # tiled.png only
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
from estuary.apps.labels import add_label_layout
from estuary.errors import StreamError
from estuary.gst import Gst
from estuary.osd.placement import label_font_size

OUT = os.path.join(os.path.dirname(__file__), "..", "docs", "images")


# The four views of tiled.png: three parts of the bundled street video (first frame given) and
# the bundled bus photo (held for as many frames), chosen so that every tile shows detections.
TILED_SOURCES = (("bikes.mp4", 190),   # a pedestrian passing parked bicycles
                 ("bikes.mp4", 118),   # a cyclist by a van
                 ("bus.jpg", 0),       # a bus and people on the pavement
                 ("bikes.mp4", 150))   # the street behind the railing (the demo's view)
TILED_FRAMES = 40
MUX_W, MUX_H = 640, 360  # 16:9, each source letterboxed into it (enable-padding)
TILE_W, TILE_H = 512, 288  # the 2×2 mosaic is 1024×576 (a PNG small enough for the repository)


def tiled_sources() -> list[str]:
    """gst-launch fragments of the tiled run's sources, one per muxer pad (``m.sink_<i>``)."""
    out = []
    for i, (name, first) in enumerate(TILED_SOURCES):
        path = data.media_path(name)
        if name.endswith(".mp4"):
            out.append(f'filesrc location="{path}" ! qtdemux ! h264parse ! nvv4l2decoder ! '
                       f"identity name=skip{i} ! identity eos-after={TILED_FRAMES} ! queue ! m.sink_{i}")
        else:  # a photo, repeated at the video's rate
            out.append(f'filesrc location="{path}" ! jpegdec ! videoconvert ! video/x-raw,format=RGBA ! '
                       f"imagefreeze num-buffers={TILED_FRAMES} ! video/x-raw,framerate=25/1 ! queue ! m.sink_{i}")
    return out


def _skip(n: int):
    """A probe that drops the first ``n`` buffers: the source starts ``n`` frames into the video."""
    seen = [0]

    def probe(pad, info):
        seen[0] += 1
        return Gst.PadProbeReturn.DROP if seen[0] <= n else Gst.PadProbeReturn.OK
    return probe


def tiled(path: str) -> None:
    n = len(TILED_SOURCES)
    p = Gst.parse_launch(
        f"nvstreammux name=m batch-size={n} width={MUX_W} height={MUX_H} enable-padding=1 ! "
        f'nvinfer config-file-path="{data.model_path(data.PRIMARY_CONFIG)}" batch-size={n} ! nvtracker ! '
        f"nvmultistreamtiler rows=2 columns=2 width={2 * TILE_W} height={2 * TILE_H} ! nvdsosd name=osd ! "
        "fakesink " + " ".join(tiled_sources()))
    for i, (_name, first) in enumerate(TILED_SOURCES):
        skip = p.get_by_name(f"skip{i}")
        if skip is not None and first:
            skip.get_static_pad("sink").add_probe(Gst.PadProbeType.BUFFER, _skip(first))

    def tile_of(frame_meta):  # the tiler puts source i in slot i, row by row
        r, c = divmod(frame_meta.source_id % 4, 2)
        return (c * TILE_W, r * TILE_H, TILE_W, TILE_H)

    osd = p.get_by_name("osd")
    add_label_layout(osd.get_static_pad("sink"), bounds_of=tile_of, font_size=label_font_size(TILE_H))
    shot = {}

    def probe(pad, info):
        bm = pyds.gst_buffer_get_nvds_batch_meta(hash(info.get_buffer()))
        counts = [f.num_obj_meta for f in bm.frames]
        score = (len(counts) == n, min(counts, default=0), sum(counts))  # every tile, then most objects
        if score > shot.get("score", (False, -1, -1)):
            shot["score"] = score
            shot["img"] = np.array(pyds.get_nvds_buf_surface(hash(info.get_buffer()), 0), copy=True)
        return Gst.PadProbeReturn.OK

    osd.get_static_pad("src").add_probe(Gst.PadProbeType.BUFFER, probe)
    p.set_state(Gst.State.PLAYING)
    msg = p.get_bus().timed_pop_filtered(300 * Gst.SECOND, Gst.MessageType.EOS | Gst.MessageType.ERROR)
    p.set_state(Gst.State.NULL)
    if msg is None or msg.type == Gst.MessageType.ERROR:
        raise StreamError(f"the tiled run failed: {msg.parse_error() if msg else 'timed out'}")
    print(f"tiled.png: objects per tile {shot['score']}")
    cv2.imwrite(path, cv2.cvtColor(shot["img"], cv2.COLOR_RGBA2BGR), [cv2.IMWRITE_PNG_COMPRESSION, 9])


def main() -> int:
    os.makedirs(OUT, exist_ok=True)
    if sys.argv[1:] == ["tiled"]:  # only the tiled picture
        tiled(os.path.join(OUT, "tiled.png"))
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        if run_demo(os.path.join(tmp, "demo.mp4")) != 0:
            return 1
        shutil.copy(os.path.join(tmp, "demo.png"), os.path.join(OUT, "demo.png"))
    tiled(os.path.join(OUT, "tiled.png"))
    print(f"wrote {OUT}/demo.png and {OUT}/tiled.png")
    return 0


if __name__ == "__main__":
    sys.exit(main())
