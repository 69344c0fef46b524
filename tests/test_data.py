"""estuary.data's shipped config files: read through one API, written by fetch as they ship."""

import os

import pytest

from estuary import data
from estuary.errors import ConfigError


def test_shipped_configs_are_files_in_the_package():
    import estuary
    root = os.path.join(os.path.dirname(estuary.__file__), "configs")
    for folder in ("models", "samples"):
        for name in data.config_names(folder):
            real = data._SAMPLE_ALIASES.get(name, name)
            with open(os.path.join(root, folder, real), encoding="utf-8") as f:
                assert data.config_text(name) == f.read()
    assert data.PRIMARY_CONFIG in data.config_names("models")
    assert "[property]" in data.config_text(data.PRIMARY_CONFIG)
    # an app that opens a config under another name gets the same text
    assert data.config_text("dstest3_pgie_config.txt") == data.config_text("dstest1_pgie_config.txt")


def test_unknown_config_is_a_clear_error():
    with pytest.raises(ConfigError, match=r"no shipped config named 'nope.txt'.*dstest1_pgie_config.txt"):
        data.config_text("nope.txt")
    with pytest.raises(ValueError, match="use 'models' or 'samples'"):
        data.config_names("other")


def test_fetch_wrote_the_shipped_texts():
    """The set-up step's files are the shipped ones (models/ and samples/ of the data dir)."""
    data.ensure()
    # the segmentation configs come with their models (which an offline machine may lack)
    seg = os.path.exists(os.path.join(data.data_dir(), data._SEGMENTATION_STAMP))
    for folder in ("models", "samples"):
        for name in data.config_names(folder):
            if seg or name not in data._SEGMENTATION_CONFIGS:
                with open(os.path.join(data.data_dir(), folder, name), encoding="utf-8") as f:
                    assert f.read() == data.config_text(name), name


def test_darknet_converter_rebuilds_the_installed_detector(tmp_path):
    """estuary_build.darknet, from the Darknet files fetch keeps beside the model, gives a model
    with the same outputs as the installed one on the same input."""
    import numpy as np
    import onnxruntime as ort

    from estuary_build.darknet import darknet_to_onnx
    cfg = open(data.model_path("yolov3-tiny.cfg")).read()
    weights = open(data.model_path("yolov3-tiny.weights"), "rb").read()
    out = tmp_path / "y.onnx"
    darknet_to_onnx(cfg, weights, str(out))
    x = np.random.default_rng(0).random((1, 3, 416, 416), dtype=np.float32)
    ref = ort.InferenceSession(data.model_path("yolov3-tiny.onnx"), providers=["CPUExecutionProvider"])
    new = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    name = ref.get_inputs()[0].name
    a, b = ref.run(None, {name: x})[0], new.run(None, {name: x})[0]
    assert a.shape == b.shape and a.shape[-1] == 85
    np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-4)
