"""The per-stream events that travel down a batched pipeline, spelled once.

* ``nv-stream-reset`` (DeepStream's name; ``pyds.gst_element_send_nvevent_new_stream_reset``): a
  source starts over; stateful elements (trackers, analytics, optical flow) reset its state.
* ``estuary-stream-eos``: the muxer saw one source end (or its pad go away); stateful elements
  drop that source's state.
"""

from __future__ import annotations

from estuary.gst import Gst

__all__ = ["STREAM_RESET", "STREAM_EOS", "stream_event", "stream_event_source"]

STREAM_RESET = "nv-stream-reset"
STREAM_EOS = "estuary-stream-eos"


def stream_event(name: str, source_id: int) -> Gst.Event:
    """A custom downstream event ``name`` for one source."""
    st = Gst.Structure.new_from_string(f"{name}, source-id=(int){int(source_id)}")
    return Gst.Event.new_custom(Gst.EventType.CUSTOM_DOWNSTREAM, st)


def stream_event_source(event) -> tuple[str, int] | None:
    """(name, source id) when ``event`` is one of the per-stream events, else None."""
    if event.type != Gst.EventType.CUSTOM_DOWNSTREAM:
        return None
    st = event.get_structure()
    if st is None or st.get_name() not in (STREAM_RESET, STREAM_EOS):
        return None
    ok, sid = st.get_int("source-id")
    if not ok:
        ok, sid = st.get_uint("source-id")
    return (st.get_name(), int(sid)) if ok else None
