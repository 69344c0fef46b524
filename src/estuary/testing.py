"""Test helpers for users: run a pipeline (or a DeepStream-style probe) on a short clip on the
CPU and get the metadata of every frame back, so probes and pipelines can be unit-tested in CI.

    from estuary.testing import run_and_collect, synthetic_source

    frames = run_and_collect(
        f"{synthetic_source(frames=10)} ! m.sink_0 nvstreammux name=m batch-size=1 width=320 height=240 "
        "! nvinfer config-file-path=cfg.txt ! fakesink name=sink")
    assert all(f.frame_num == i for i, f in enumerate(frames))

Objects come back as :class:`ObjectRecord` whose ``box`` is ``(left, top, width, height)``
(DeepStream's ``rect_params``), not ``(x1, y1, x2, y2)``. docs/testing.md has more examples.
"""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["FrameRecord", "ObjectRecord", "run_and_collect", "synthetic_source", "run_probe",
           "RtspTestServer", "serve_rtsp_test_stream"]


@dataclass
class ObjectRecord:
    """One object of a frame. ``box`` is ``(left, top, width, height)`` in pixels of the muxer's
    output (the right edge is ``left + width``); ``object_id`` is ``pyds.UNTRACKED_OBJECT_ID``
    unless a tracker gave it an id; ``classifier_labels`` are secondary classifiers' labels."""

    class_id: int
    label: str
    confidence: float
    object_id: int
    box: tuple
    classifier_labels: list = field(default_factory=list)


@dataclass
class FrameRecord:
    """One frame that reached the sink: its source, number, timestamp (ns), objects and the
    types of its frame-level user meta."""

    source_id: int
    frame_num: int
    pts: int
    objects: list
    user_meta_types: list


def synthetic_source(frames: int = 30, width: int = 320, height: int = 240, pattern: str = "smpte",
                     fps: int = 30) -> str:
    """A gst-launch fragment producing a short raw clip (no files needed)."""
    return (f"videotestsrc num-buffers={frames} pattern={pattern} ! "
            f"video/x-raw,width={width},height={height},framerate={fps}/1")


def _snapshot(bm) -> list[FrameRecord]:
    out = []
    for f in bm.frames:
        objs = [ObjectRecord(o.class_id, o.obj_label, float(o.confidence), int(o.object_id), o.box,
                             [li.result_label for c in o.classifiers for li in c.labels]) for o in f.objects]
        out.append(FrameRecord(f.source_id, f.frame_num, f.buf_pts, objs, [int(u.meta_type) for u in f.user_meta]))
    return out


def run_probe(pipeline, element: str, pad: str, probe, timeout: float = 60.0):
    """Attach a DeepStream-style probe ``probe(pad, info, u_data)`` and run to EOS; returns the
    final bus message. A probe exception fails the run with that exception."""
    from estuary.gst import Gst
    errors = []

    def wrapped(p, info, u):
        try:
            return probe(p, info, u)
        except Exception as exc:  # noqa: BLE001 - re-raised in the caller's thread
            errors.append(exc)
            return Gst.PadProbeReturn.OK

    el = pipeline.get_by_name(element)
    if el is None:
        raise LookupError(f"no element named {element!r} in the pipeline")
    el.get_static_pad(pad).add_probe(Gst.PadProbeType.BUFFER, wrapped, 0)
    msg = _run(pipeline, timeout)
    if errors:
        raise errors[0]
    return msg


def _run(pipeline, timeout):
    from estuary.gst import Gst
    from estuary.runner import play_until_end
    msg = play_until_end(pipeline, timeout)
    if msg.type == Gst.MessageType.ERROR:
        err, dbg = msg.parse_error()
        raise RuntimeError(f"{msg.src.get_name()}: {err.message}")
    return msg


def run_and_collect(description, sink: str = "sink", timeout: float = 60.0) -> list[FrameRecord]:
    """Run a pipeline (a gst-launch string or a ``Gst.Pipeline``) and return the metadata of
    every frame that reached the element named ``sink``."""
    import pyds  # noqa: F401 - registers the elements
    from estuary.gst import Gst, batchmeta
    p = Gst.parse_launch(description) if isinstance(description, str) else description
    records: list[FrameRecord] = []

    def probe(pad, info):
        bm = batchmeta.get(info.get_buffer())
        if bm is not None:
            records.extend(_snapshot(bm))
        return Gst.PadProbeReturn.OK

    el = p.get_by_name(sink)
    if el is None:
        raise LookupError(f"no element named {sink!r} in the pipeline")
    el.get_static_pad("sink").add_probe(Gst.PadProbeType.BUFFER, probe)
    _run(p, timeout)
    return records


def serve_rtsp_test_stream(port: int, path: str = "/test", width: int = 320, height: int = 240,
                           fps: int = 30, pattern: str = "ball", user: str | None = None,
                           password: str | None = None, auth_method: str = "digest",
                           format: str | None = None):
    """Serve a live H.264 test pattern at rtsp://127.0.0.1:port/path (runs a GLib main loop
    for ever; :class:`RtspTestServer` runs it in a child process so tests can kill it). With
    ``user``/``password`` only clients that log in are served (a camera with a password);
    ``format`` is the encoder's input (``I420_10LE``: a 10-bit stream; ``Y444``: 4:4:4)."""
    from estuary.gst import GLib
    from estuary.outputs import serve_rtsp_launch
    fmt = f"format={format}," if format else ""
    serve_rtsp_launch(
        f"( videotestsrc is-live=true pattern={pattern} ! video/x-raw,{fmt}width={width},height={height},"
        f"framerate={fps}/1 ! x264enc tune=zerolatency speed-preset=ultrafast key-int-max={fps // 2} "
        "! rtph264pay name=pay0 pt=96 config-interval=1 )", port, path,
        user=user, password=password, auth_method=auth_method)
    print("ready", flush=True)
    GLib.MainLoop().run()


class RtspTestServer:
    """A loopback RTSP server of a live test pattern in a child process, which a test can
    :meth:`kill` (SIGKILL, like a crashed camera) and :meth:`start` again on the same port.
    ``user=``/``password=`` (in ``stream``) make it a camera that needs a login; :attr:`uri`
    then carries them."""

    def __init__(self, port: int, path: str = "/test", **stream):
        self.port, self.path, self.stream = port, path, stream
        self.proc = None

    @property
    def uri(self) -> str:
        user, pw = self.stream.get("user"), self.stream.get("password")
        login = f"{user}:{pw}@" if user else ""
        return f"rtsp://{login}127.0.0.1:{self.port}{self.path}"

    def start(self, timeout: float = 30.0) -> "RtspTestServer":
        import json
        import os
        import subprocess
        import sys
        import time
        args = json.dumps({"port": self.port, "path": self.path, **self.stream})
        deadline = time.monotonic() + timeout
        while True:  # the port may linger for a moment after a kill
            # the settings (a password among them) go through the environment, not argv: the
            # command lines of processes are visible to every user (ps)
            self.proc = subprocess.Popen(
                [sys.executable, "-c", "import json, os; from estuary.testing import serve_rtsp_test_stream; "
                 "serve_rtsp_test_stream(**json.loads(os.environ.pop('ESTUARY_RTSP_TEST_SERVER')))"],
                env=dict(os.environ, ESTUARY_RTSP_TEST_SERVER=args),
                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            line = self.proc.stdout.readline()
            if line.strip() == "ready":
                return self
            err = self.proc.stderr.read()
            self.proc.wait()
            if time.monotonic() > deadline:
                raise OSError(f"RTSP test server did not start on port {self.port}: {err[-500:]}")
            time.sleep(0.2)

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.kill()
