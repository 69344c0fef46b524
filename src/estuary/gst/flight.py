"""GStreamer side of ``nvstreammux``'s ``max-frames-in-flight`` (bookkeeping: :mod:`estuary.inflight`).

Two gates per stream, both in the stream's own streaming thread:

* **before the decoder** (the sink pad of the video decoder found upstream of the muxer's pad):
  a compressed frame waits there while its stream has the maximum in flight. The thread that
  would decode it waits, so no decoded frame waits anywhere (what keeps latency down);
* **at the muxer's sink pad** (the strict bound): a decoded frame waits there too (or, from a
  live source, is dropped) while the stream is full. Only frames that a decoder emits several at
  a time (end of stream, B-frame reordering) ever wait here, and sources without a decoder
  (``appsrc``, raw test sources) are bounded here alone.

A frame leaves flight when the batch buffer carrying it is finalized (a GStreamer weak reference on
the batch), i.e. when every element (sinks, tees, queues) is done with it.
"""

from __future__ import annotations

import ctypes
import itertools
import logging
import threading

from estuary.gst import Gst, capi
from estuary.inflight import FlightLimiter, StreamBudget

__all__ = ["upstream_is_live", "find_decoder_sink", "release_when_freed", "hold_probe", "gate_probe"]

_log = logging.getLogger("estuary.mux")

#: a held file frame goes on after this long anyway (something downstream keeps more buffers
#: than the bound allows, e.g. an app storing samples: holding on would never end)
HOLD_TIMEOUT_S = 5.0
_QUEUES = ("queue", "queue2", "multiqueue")

_pending: dict[int, tuple] = {}
_keys = itertools.count(1)
_pending_lock = threading.Lock()



def upstream_is_live(pad) -> bool:
    """Whether what feeds ``pad`` (a sink pad) is live: the latency query's answer, not an
    element's ``live-source`` property (DeepStream apps set that for files too)."""
    q = Gst.Query.new_latency()
    return bool(pad.peer_query(q) and q.parse_latency()[0])

def _on_freed(key, _obj) -> None:
    with _pending_lock:
        item = _pending.pop(key or 0, None)
    if item is not None:
        limiter, token = item
        try:
            limiter.release(token)
        except Exception:  # noqa: BLE001 - a C callback must not raise
            _log.exception("releasing frames in flight failed")


_on_freed_cb = capi.MINI_OBJECT_NOTIFY(_on_freed)


def release_when_freed(buffer, limiter: FlightLimiter, token) -> None:
    """Call ``limiter.release(token)`` when ``buffer`` (a new, non-pooled buffer) is finalized."""
    key = next(_keys)
    with _pending_lock:
        _pending[key] = (limiter, token)
    capi.gst_mini_object_weak_ref(hash(buffer), _on_freed_cb, ctypes.c_void_p(key))


def _flushing(pad) -> bool:
    """GST_PAD_IS_FLUSHING (a macro, not in the bindings): set while the pad is inactive or flushing."""
    return bool(pad.flags & Gst.PadFlags.FLUSHING)


def _is_decoder(el) -> bool:
    f = el.get_factory() if el is not None else None
    klass = f.get_metadata("klass") or "" if f is not None else ""
    return "Decoder" in klass and "Video" in klass and not isinstance(el, Gst.Bin) and len(el.sinkpads) == 1


def find_decoder_sink(pad):
    """The sink pad of the video decoder feeding the muxer's sink ``pad`` in the same streaming
    thread (through bins, ghost pads, converters and capsfilters; not past a queue, a tee or an
    element with several inputs), or None."""
    p = pad.get_peer()
    for _ in range(64):
        if p is None:
            return None
        if isinstance(p, Gst.GhostPad):  # a bin's src pad: go inside
            p = p.get_target()
            continue
        if isinstance(p, Gst.ProxyPad):  # the inside of a bin's sink ghost pad: go out
            ghost = p.get_parent()
            p = ghost.get_peer() if isinstance(ghost, Gst.Pad) else None
            continue
        el = p.get_parent_element()
        if el is None:
            return None
        if _is_decoder(el):
            return el.sinkpads[0]
        f = el.get_factory()
        if len(el.sinkpads) != 1 or (f is not None and f.get_name() in _QUEUES + ("tee",)):
            return None
        p = el.sinkpads[0].get_peer()
    return None


def gate_probe(budget: StreamBudget):
    """The probe before the decoder: wait while the stream is full (never drops)."""

    def probe(pad, info):
        if budget.full():
            budget.wait_room(HOLD_TIMEOUT_S, cancelled=lambda: _flushing(pad))
        return Gst.PadProbeReturn.OK
    return probe


def hold_probe(budget: StreamBudget, is_live):
    """The probe on the muxer's sink pad: admit the frame, after waiting for room (file
    sources) or dropping it when there is none (live sources)."""
    warned = []

    def probe(pad, info):
        if budget.full():
            if is_live():
                budget.drop()
                return Gst.PadProbeReturn.DROP
            if not budget.wait_room(HOLD_TIMEOUT_S, cancelled=lambda: _flushing(pad)):
                if budget.flushing or _flushing(pad):
                    return Gst.PadProbeReturn.OK  # the muxer's pad refuses it; not admitted
                budget.overruns += 1
                if not warned:
                    warned.append(1)
                    _log.warning("%s: no frame left flight within %.0f s; going over max-frames-in-flight "
                                 "(something downstream keeps buffers)", pad.get_name(), HOLD_TIMEOUT_S)
        budget.admit()
        return Gst.PadProbeReturn.OK
    return probe
