"""Property-based fuzzing of every config parser: whatever the text, the result is a parsed config
or a ConfigError (with a location), never another exception or a hang."""

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from estuary.errors import ConfigError

KEYS = ["batch-size", "net-scale-factor", "onnx-file", "num-detected-classes", "cluster-mode", "offsets",
        "pre-cluster-threshold", "eps", "topk", "roi-RF", "line-crossing-Exit", "object-threshold",
        "class-id", "mode", "config-width", "enable", "probationAge", "algorithm", "location", "id",
        "network-input-shape", "target-unique-ids", "roi-params-src-0", "src-ids", "model-color-format"]
GROUPS = ["property", "class-attrs-all", "class-attrs-2", "roi-filtering-stream-0", "line-crossing-stream-0",
          "overcrowding-stream-1", "direction-detection-stream-0", "sensor0", "place0", "group-0",
          "user-configs", "nonsense"]
VALUES = st.one_of(st.integers(-5, 10**6).map(str), st.floats(allow_nan=True, allow_infinity=True).map(str),
                   st.text(max_size=20), st.lists(st.integers(-100, 5000), max_size=10).map(
                       lambda v: ";".join(map(str, v))), st.sampled_from(["loose", "strict", "1", "0", "true", ""]))
LINES = st.one_of(st.sampled_from(GROUPS).map(lambda g: f"[{g}]"),
                  st.tuples(st.sampled_from(KEYS), VALUES).map(lambda kv: f"{kv[0]}={kv[1]}"),
                  st.text(max_size=30))
DOCS = st.lists(LINES, max_size=25).map("\n".join)

FUZZ = settings(max_examples=int(__import__("os").environ.get("ESTUARY_FUZZ_EXAMPLES", "150")), deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


def _check(fn, text, tmp_path, name="cfg.txt"):
    p = tmp_path / name
    p.write_text(text, encoding="utf-8")
    try:
        fn(str(p))
    except ConfigError:
        pass


@FUZZ
@given(DOCS)
def test_nvinfer_config(tmp_path, text):
    from estuary.infer.config import load_infer_config
    _check(load_infer_config, text, tmp_path)


@FUZZ
@given(DOCS)
def test_analytics_config(tmp_path, text):
    from estuary.analytics import load_analytics_config
    _check(load_analytics_config, text, tmp_path)


@FUZZ
@given(DOCS)
def test_msgconv_config(tmp_path, text):
    from estuary.messaging.schema import load_msgconv_config
    _check(load_msgconv_config, text, tmp_path)


@FUZZ
@given(DOCS)
def test_preprocess_config(tmp_path, text):
    from estuary.elements.preprocess import load_preprocess_config
    _check(load_preprocess_config, text, tmp_path)


@FUZZ
@given(st.text(max_size=300))
def test_tracker_config(tmp_path, text):
    from estuary.track import load_tracker_config
    _check(load_tracker_config, text, tmp_path, "t.yml")


@FUZZ
@given(st.lists(st.one_of(st.sampled_from(["{", "}", "[", "]", ":", ",", "infer_config", "backend", "trt_is",
                                           "model_name", '"m"', "1", "-1", "true", "other", "#c\n"]),
                          st.text(max_size=8)), max_size=40).map(" ".join))
def test_inferserver_config(tmp_path, text):
    from estuary.infer.pbtxt import inferserver_to_config
    _check(inferserver_to_config, text, tmp_path)


@FUZZ
@given(st.text(max_size=200))
def test_broker_config(tmp_path, text):
    from estuary.messaging.adapters import parse_broker_config
    _check(parse_broker_config, text, tmp_path)
