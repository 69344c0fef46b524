"""nvdspreprocess: ROI tensors prepared per the config and consumed by nvinfer input-tensor-meta."""

import textwrap

import numpy as np
import pytest

import pyds
from estuary import data
from estuary.errors import ConfigError
from estuary.elements.preprocess import load_preprocess_config
from estuary.gst import Gst

from conftest import run_pipeline

# the shipped sample config's [property] and [user-configs], with one ROI placed for bus.jpg
CFG = data.config_text("config_preprocess.txt").split("[group-0]")[0] + textwrap.dedent("""\
    [group-0]
    src-ids=0
    process-on-roi=1
    draw-roi=1
    roi-params-src-0=0;380;400;700;
    """)


def test_config(tmp_path):
    p = tmp_path / "pre.txt"
    p.write_text(CFG)
    cfg = load_preprocess_config(str(p))
    assert (cfg.net.width, cfg.net.height, cfg.batch, cfg.target_ids) == (416, 416, 4, [1])
    assert cfg.groups[0][2] == {0: [(0.0, 380.0, 400.0, 700.0)]}
    p.write_text(CFG.replace("roi-params-src-0=0;380;400;700;", "roi-params-src-0=0;380;400;"))
    with pytest.raises(ConfigError, match="left;top;width;height"):
        load_preprocess_config(str(p))


def test_roi_inference_maps_detections_to_the_frame(tmp_path):
    pre = tmp_path / "pre.txt"
    pre.write_text(CFG)
    p = Gst.parse_launch(
        f"filesrc location={data.media_path('bus.jpg')} ! jpegdec ! videoconvert ! imagefreeze num-buffers=2 ! "
        "video/x-raw,framerate=10/1 ! m.sink_0 nvstreammux name=m batch-size=1 width=810 height=1080 ! "
        f"nvdspreprocess config-file={pre} ! nvinfer input-tensor-meta=1 "
        f"config-file-path={data.model_path(data.PRIMARY_CONFIG)} ! fakesink name=sink")
    boxes = []

    def probe(pad, info):
        bm = pyds.gst_buffer_get_nvds_batch_meta(hash(info.get_buffer()))
        for f in bm.frames:
            boxes.append([(o.obj_label, o.rect_params.left, o.rect_params.top, o.rect_params.width,
                           o.rect_params.height) for o in f.objects])
            assert f.display_metas and f.display_metas[0].num_rects == 1  # draw-roi
        return Gst.PadProbeReturn.OK

    p.get_by_name("sink").get_static_pad("sink").add_probe(Gst.PadProbeType.BUFFER, probe)
    msg = run_pipeline(p)
    assert msg.type == Gst.MessageType.EOS, msg.parse_error() if msg.type == Gst.MessageType.ERROR else ""
    objs = boxes[0]
    assert objs and all(label == "person" for label, *_ in objs)
    # every detection lies inside the ROI, in frame coordinates; the left-most person is found
    for _, l, t, w, h in objs:
        assert l >= -1 and t >= 379 and l + w <= 401 and t + h <= 1081
    assert any(l < 100 and t < 450 and h > 300 for _, l, t, w, h in objs), objs
