"""nvinferserver: Triton-style configs and model repository, raw tensor output read like the
ssd-parser sample."""

import os
import shutil

import pytest

import pyds
from estuary import data
from estuary.errors import ConfigError
from estuary.gst import Gst
from estuary.infer.pbtxt import inferserver_to_config, parse_pbtxt

from conftest import run_pipeline

# the ssd-parser sample's config as shipped (model "ssd_yolov3_tiny" under ./trtis_model_repo)
CONFIG = data.config_text("dstest_ssd_nopostprocess.txt")


@pytest.fixture
def repo(tmp_path):
    d = tmp_path / "trtis_model_repo" / "ssd_yolov3_tiny" / "1"
    d.mkdir(parents=True)
    os.symlink(data.model_path("yolov3-tiny.onnx"), d / "model.onnx")
    shutil.copy(data.model_path("coco_labels.txt"), tmp_path / "labels.txt")
    (tmp_path / "cfg.txt").write_text(CONFIG)
    return tmp_path


def test_pbtxt_parser_nesting_lists_enums():
    d = parse_pbtxt('a { b: 1 c: "x" d: [1, 2] e: ENUM_V f: true } g { h {} } r: 1 r: 2')
    assert d == {"a": {"b": 1, "c": "x", "d": [1, 2], "e": "ENUM_V", "f": True}, "g": {"h": {}}, "r": [1, 2]}


def test_config_maps_onto_nvinfer(repo):
    cfg = inferserver_to_config(str(repo / "cfg.txt"))
    assert cfg.onnx_file.endswith("trtis_model_repo/ssd_yolov3_tiny/1/model.onnx")
    assert (cfg.gie_unique_id, cfg.batch_size, cfg.network_type, cfg.output_tensor_meta) == (5, 4, 100, True)
    assert cfg.labels[0] == "person" and cfg.net_scale_factor == pytest.approx(1 / 255)


def test_missing_model_is_a_clear_error(repo):
    (repo / "cfg.txt").write_text(CONFIG.replace('"ssd_yolov3_tiny"', '"ssd_inception_v2_coco_2018_01_28"'))
    with pytest.raises(ConfigError, match="not found in the model repository"):
        inferserver_to_config(str(repo / "cfg.txt"))


def test_ssd_parser_style_raw_tensors(repo):
    p = Gst.parse_launch(
        f"filesrc location={data.media_path('bikes.h264')} ! h264parse ! nvv4l2decoder ! identity eos-after=6 ! "
        "m.sink_0 nvstreammux name=m batch-size=1 width=640 height=272 ! "
        f"nvinferserver name=pgie config-file-path={repo / 'cfg.txt'} ! fakesink name=sink")
    seen = []

    def probe(pad, info):
        batch_meta = pyds.gst_buffer_get_nvds_batch_meta(hash(info.get_buffer()))
        l_frame = batch_meta.frame_meta_list
        while l_frame is not None:
            frame_meta = pyds.NvDsFrameMeta.cast(l_frame.data)
            l_user = frame_meta.frame_user_meta_list
            while l_user is not None:
                user_meta = pyds.NvDsUserMeta.cast(l_user.data)
                if user_meta.base_meta.meta_type == pyds.NvDsMetaType.NVDSINFER_TENSOR_OUTPUT_META:
                    tensor_meta = pyds.NvDsInferTensorMeta.cast(user_meta.user_meta_data)
                    layers_info = [pyds.get_nvds_LayerInfo(tensor_meta, i) for i in range(tensor_meta.num_output_layers)]
                    seen.append((tensor_meta.unique_id, [li.layerName for li in layers_info],
                                 frame_meta.num_obj_meta))
                l_user = l_user.next
            l_frame = l_frame.next
        return Gst.PadProbeReturn.OK

    p.get_by_name("pgie").get_static_pad("src").add_probe(Gst.PadProbeType.BUFFER, probe)
    assert run_pipeline(p, timeout=60).type == Gst.MessageType.EOS
    assert len(seen) >= 6
    assert all(s == (5, ["detections"], 0) for s in seen)  # raw tensors only: no objects parsed
