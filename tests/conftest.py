"""Shared helpers: GStreamer initialised once, pipelines run to EOS or ERROR with a timeout."""

from __future__ import annotations

import pytest

import estuary  # noqa: F401 - registers the elements
from estuary.gst import Gst, ensure_init

ensure_init()

# GLib's warnings (g_warning from GStreamer's own elements) reach Python as gobject.Warning, a
# class named after the old static "gobject" module; pytest-xdist sends a worker's warnings to
# the controller by module and class name, and importing "gobject" raises under PyGObject (the
# worker went down). The class is also gi._gi.Warning: name it that way so it can be found.
import gi._gi  # noqa: E402

if gi._gi.Warning.__module__ == "gobject":
    gi._gi.Warning.__module__ = "gi._gi"


def run_pipeline(pipeline: Gst.Pipeline, timeout: float = 30.0, on_message=None):
    """Play ``pipeline`` until EOS or ERROR; returns the final message (EOS or ERROR)."""
    bus = pipeline.get_bus()
    pipeline.set_state(Gst.State.PLAYING)
    try:
        deadline = int(timeout * Gst.SECOND)
        while True:
            msg = bus.timed_pop_filtered(deadline, Gst.MessageType.ANY)
            if msg is None:
                raise TimeoutError(f"pipeline did not finish in {timeout} s")
            if on_message is not None:
                on_message(msg)
            if msg.type in (Gst.MessageType.EOS, Gst.MessageType.ERROR):
                return msg
    finally:
        pipeline.set_state(Gst.State.NULL)


@pytest.fixture
def run():
    return run_pipeline
