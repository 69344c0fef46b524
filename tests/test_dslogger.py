"""nvdslogger (DeepStream 7.x test3's --disable-probe): frames per second per source."""

import pyds  # noqa: F401 - registers the DeepStream names
from estuary.gst import Gst


def test_nvdslogger_reports_fps_per_source():
    from estuary.elements.logger import fps_line
    assert fps_line({1: 50, 0: 100}, 5.0) == "**PERF : FPS_0 (20.00) FPS_1 (10.00)"
    p = Gst.parse_launch("videotestsrc num-buffers=40 ! video/x-raw,width=64,height=48,framerate=30/1 ! m.sink_0 "
                         "videotestsrc num-buffers=40 ! video/x-raw,width=64,height=48,framerate=30/1 ! m.sink_1 "
                         "nvstreammux name=m batch-size=2 width=64 height=48 ! identity sleep-time=50000 ! "
                         "nvdslogger fps-measurement-interval-sec=1 ! fakesink")
    p.set_state(Gst.State.PLAYING)
    reports = []
    bus = p.get_bus()
    while True:
        m = bus.timed_pop_filtered(20 * Gst.SECOND, Gst.MessageType.EOS | Gst.MessageType.ERROR | Gst.MessageType.ELEMENT)
        assert m is not None and m.type != Gst.MessageType.ERROR
        if m.type == Gst.MessageType.EOS:
            break
        if m.get_structure().get_name() == "esdslogger-fps":
            reports.append((m.get_structure().get_value("fps-0"), m.get_structure().get_value("fps-1")))
    p.set_state(Gst.State.NULL)
    # 40 batches, one per 50 ms: about 20 batches a second for each source
    assert reports and all(12 < a < 22 and 12 < b < 22 for a, b in reports)
