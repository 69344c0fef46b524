"""The Prometheus metrics endpoint: scraped over HTTP on 127.0.0.1 while a pipeline runs."""

import re
import threading
import time
import urllib.request

import pytest

from estuary.gst import Gst
from estuary.metrics import PipelineMetrics, serve
from estuary.runner import run


def _pipeline(n_sources=2, frames=60):
    srcs = " ".join(f"videotestsrc num-buffers={frames + 20 * i} is-live=false ! "
                    f"video/x-raw,width=64,height=48,framerate=30/1 ! m.sink_{i}" for i in range(n_sources))
    return Gst.parse_launch(f"{srcs} nvstreammux name=m batch-size={n_sources} width=64 height=48 ! "
                            "nvvideoconvert ! fakesink name=out sync=false")


def _parse(text):
    out = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            key, value = line.rsplit(" ", 1)
            out[key] = float(value)
    return out


def test_frames_fps_and_latency_are_exported():
    p = _pipeline()
    m = PipelineMetrics(p)
    server = serve(m, 0)
    port = server.server_address[1]
    try:
        assert run(p, on_message=m.on_message, quiet=True) == 0
        text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
    finally:
        server.shutdown()
        server.server_close()
    vals = _parse(text)
    assert vals['estuary_frames_total{source="0"}'] == 60
    assert vals['estuary_frames_total{source="1"}'] == 80
    assert vals['estuary_source_fps{source="1"}'] > 0
    assert vals["estuary_latency_seconds_count"] >= 60  # every batch reached the sink
    assert 0 <= vals["estuary_latency_seconds_sum"] / vals["estuary_latency_seconds_count"] < 1.0
    assert vals["estuary_source_errors_total"] == 0
    assert "# TYPE estuary_frames_total counter" in text
    # every sample line is valid exposition format: name{labels} number
    for line in text.splitlines():
        assert line.startswith("#") or re.fullmatch(r'[a-z_]+(\{[a-z]+="[^"]*"(,[a-z]+="[^"]*")*\})? -?[0-9.e+-]+',
                                                    line), line
    # Prometheus' naming convention: every counter ends in _total
    counters = re.findall(r"^# TYPE (\S+) counter$", text, re.M)
    assert "estuary_broker_sent_total" in counters and "estuary_dropped_frames_total" in counters
    assert all(name.endswith("_total") for name in counters), counters


def test_scraping_during_the_run_and_a_404_elsewhere():
    p = Gst.parse_launch("videotestsrc is-live=true num-buffers=90 ! video/x-raw,width=64,height=48,framerate=30/1 ! "
                         "m.sink_0 nvstreammux name=m batch-size=1 width=64 height=48 ! fakesink sync=true")
    m = PipelineMetrics(p)
    server = serve(m, 0)
    port = server.server_address[1]
    seen = []

    def scrape():
        time.sleep(1.5)
        seen.append(_parse(urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()))

    t = threading.Thread(target=scrape)
    t.start()
    try:
        assert run(p, on_message=m.on_message, quiet=True) == 0
        t.join()
        with pytest.raises(urllib.error.HTTPError) as exc:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/nothing", timeout=5)
        assert exc.value.code == 404
    finally:
        server.shutdown()
        server.server_close()
    mid = seen[0]
    assert 10 < mid['estuary_frames_total{source="0"}'] < 90  # counted while running
    assert 10 < mid['estuary_source_fps{source="0"}'] <= 31  # a live 30 fps source


def test_broker_counters_come_from_msgbroker_stats_messages():
    p = _pipeline(1, 10)
    m = PipelineMetrics(p)
    st = Gst.Structure.new_from_string("msgbroker-stats, sent=(int)7, queued=(int)2, retried=(int)1, "
                                       "dropped=(int)0, reconnects=(int)3")
    m.on_message(Gst.Message.new_element(p.get_by_name("out"), st))
    vals = _parse(m.render())
    assert vals['estuary_broker_sent_total{element="out"}'] == 7
    assert vals['estuary_broker_queued{element="out"}'] == 2  # a gauge: no _total
    assert vals['estuary_broker_reconnects_total{element="out"}'] == 3
    assert vals['estuary_broker_retried_total{element="out"}'] == 1


def test_a_pipeline_without_a_muxer_is_refused():
    with pytest.raises(ValueError, match="nvstreammux"):
        PipelineMetrics(Gst.parse_launch("videotestsrc ! fakesink"))


def test_cli_launch_metrics_port(tmp_path):
    import subprocess
    import sys
    r = subprocess.run([sys.executable, "-m", "estuary", "launch", "--metrics-port", "0",
                        "videotestsrc", "num-buffers=10", "!", "m.sink_0", "nvstreammux", "name=m",
                        "batch-size=1", "width=64", "height=48", "!", "fakesink"],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert re.search(r"metrics on http://127\.0\.0\.1:\d+/metrics", r.stderr)


def test_inference_time_and_objects_per_class():
    from estuary import data
    p = Gst.parse_launch(
        f"filesrc location={data.media_path('bikes.mp4')} ! qtdemux ! h264parse ! nvv4l2decoder ! "
        "identity eos-after=60 ! m.sink_0 nvstreammux name=m batch-size=1 width=640 height=272 ! "
        f"nvinfer name=pgie config-file-path={data.model_path(data.PRIMARY_CONFIG)} ! fakesink name=out")
    m = PipelineMetrics(p)
    seen = {}

    def count(pad, info):  # the same objects, counted by a DeepStream-style probe
        import pyds
        batch = pyds.gst_buffer_get_nvds_batch_meta(hash(info.get_buffer()))
        for frame in batch.frames:
            for o in frame.objects:
                seen[o.obj_label] = seen.get(o.obj_label, 0) + 1
        return Gst.PadProbeReturn.OK

    p.get_by_name("out").get_static_pad("sink").add_probe(Gst.PadProbeType.BUFFER, count)
    assert run(p, on_message=m.on_message, quiet=True) == 0
    text = m.render()
    vals = _parse(text)
    assert vals['estuary_inference_seconds_count{element="pgie"}'] >= 60
    per_batch = vals['estuary_inference_seconds_sum{element="pgie"}'] / vals['estuary_inference_seconds_count{element="pgie"}']
    assert 0.001 < per_batch < 5
    assert "# TYPE estuary_inference_seconds summary" in text
    objects = {re.search(r'class="([^"]*)"', k).group(1): v for k, v in vals.items()
               if k.startswith("estuary_objects_total")}
    assert seen and objects == seen  # every object, under its class label
    assert all('element="pgie"' in k for k in vals if k.startswith("estuary_objects_total"))


def test_metrics_host_option(tmp_path):
    import subprocess
    import sys
    p = _pipeline(1, 5)
    server = serve(PipelineMetrics(p), 0, host="0.0.0.0")
    try:
        assert server.server_address[0] == "0.0.0.0"  # every interface, for a scraper elsewhere
    finally:
        server.shutdown()
        server.server_close()
    r = subprocess.Popen([sys.executable, "-m", "estuary", "launch", "-q", "--metrics-port", "0", "--metrics-host",
                          "0.0.0.0", "videotestsrc", "num-buffers=150", "is-live=true", "!", "m.sink_0",
                          "nvstreammux", "name=m", "batch-size=1", "width=64", "height=48", "!", "fakesink"],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = r.stderr.readline()
        found = re.search(r"metrics on http://0\.0\.0\.0:(\d+)/metrics", line)
        assert found, line
        port = int(found.group(1))
        own = subprocess.run(["hostname", "-I"], capture_output=True, text=True).stdout.split()
        for host in ["127.0.0.1", *[a for a in own if "." in a][:1]]:  # loopback and this machine's address
            body = urllib.request.urlopen(f"http://{host}:{port}/metrics", timeout=5).read().decode()
            assert "estuary_frames_total" in body, host
    finally:
        r.terminate()
        r.communicate(timeout=60)
