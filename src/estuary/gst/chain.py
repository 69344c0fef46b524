"""A base for elements with one sink and one (or more) src pads driven by a chain function.

Subclasses implement :meth:`ChainElement.output_caps` (decide src caps from sink caps) and
:meth:`ChainElement.process` (turn one input buffer into output buffers). Exceptions in either
become bus ERROR messages (see :mod:`estuary.gst.element`).
"""

from __future__ import annotations

from estuary.gst import Gst
from estuary.gst.batchmeta import push_held
from estuary.gst.element import post_error

__all__ = ["ChainElement"]


class ChainElement:
    """Mixin for a ``Gst.Element`` subclass (put it after ElementBase, before Gst.Element)."""

    # batchmeta.PUSHES_HELD: pushes go through batchmeta.push_held (so that a drawing element
    # downstream knows that this element's reference to the buffer is no other holder's)
    _estuary_pushes_held = True

    def init_pads(self) -> None:
        """Create the ``sink`` and ``src`` pads from the class templates."""
        self.sinkpad = Gst.Pad.new_from_template(self.get_pad_template("sink"), "sink")
        self.sinkpad.set_chain_function_full(self._chain)
        self.sinkpad.set_event_function_full(self._sink_event)
        self.sinkpad.set_query_function_full(self._sink_query)
        self.add_pad(self.sinkpad)
        if self.get_pad_template("src") is not None and \
                self.get_pad_template("src").presence == Gst.PadPresence.ALWAYS:
            self.srcpad = Gst.Pad.new_from_template(self.get_pad_template("src"), "src")
            self.srcpad.set_query_function_full(self._src_query)
            self.add_pad(self.srcpad)
        else:
            self.srcpad = None
        self.in_caps = None
        self.out_caps = None

    # -- hooks -------------------------------------------------------------------------------
    def output_caps(self, caps: Gst.Caps) -> Gst.Caps:
        """Src caps for sink ``caps`` (default: the same)."""
        return caps

    def process(self, buf: Gst.Buffer):
        """Yield or return output buffers for ``buf`` (default: pass it on)."""
        return [buf]

    def accept_caps_for(self, filt):
        """Caps the sink pad accepts (default: its template)."""
        caps = self.sinkpad.get_pad_template_caps()
        return caps.intersect(filt) if filt is not None else caps

    # -- pad functions -----------------------------------------------------------------------
    def _fail(self, exc, where):
        try:
            post_error(self, exc, where)
        except Exception as exc2:  # noqa: BLE001
            import sys
            print(f"estuary: could not post an element error: {exc2}", file=sys.stderr)

    def _chain(self, pad, parent, buf):
        try:
            if self._debug_categories and self.gst_enabled(Gst.DebugLevel.LOG):  # (buf.pts is a GI call)
                self.gst_log("buffer pts %d", buf.pts)
            outs = self.process(buf)
            if isinstance(outs, Gst.FlowReturn):  # pushed elsewhere; this is how that went
                return outs
            ret = Gst.FlowReturn.OK
            for out in outs or ():
                ret = push_held(self.srcpad.push, out)
                if ret != Gst.FlowReturn.OK:
                    break
            return ret
        except Exception as exc:  # noqa: BLE001
            self._fail(exc, "chain")
            return Gst.FlowReturn.ERROR

    def _sink_event(self, pad, parent, event):
        try:
            if event.type == Gst.EventType.CAPS:
                caps = event.parse_caps()
                self.in_caps = caps
                out = self.output_caps(caps)
                if out is None:
                    return False
                self.out_caps = out
                self.gst_debug("sink caps %s; src caps %s", caps.to_string(), out.to_string())
                return self.set_out_caps(out)
            return self.handle_sink_event(event)
        except Exception as exc:  # noqa: BLE001
            self._fail(exc, "sink event")
            return False

    def set_out_caps(self, caps) -> bool:
        return self.srcpad.push_event(Gst.Event.new_caps(caps))

    def handle_sink_event(self, event) -> bool:
        """Non-caps sink events (default: forward)."""
        return self.sinkpad.event_default(self, event)

    def _sink_query(self, pad, parent, query):
        try:
            if query.type == Gst.QueryType.CAPS:
                filt = query.parse_caps()
                query.set_caps_result(self.accept_caps_for(filt))
                return True
            if query.type == Gst.QueryType.ACCEPT_CAPS:
                caps = query.parse_accept_caps()
                ok = self.sinkpad.get_pad_template_caps().can_intersect(caps)
                query.set_accept_caps_result(ok)
                return True
            if query.type == Gst.QueryType.ALLOCATION:
                return False
            return pad.query_default(parent, query)
        except Exception as exc:  # noqa: BLE001
            self._fail(exc, "sink query")
            return False

    def _src_query(self, pad, parent, query):
        if query.type == Gst.QueryType.CAPS:
            caps = self.out_caps if self.out_caps is not None else pad.get_pad_template_caps()
            filt = query.parse_caps()
            query.set_caps_result(caps.intersect(filt) if filt is not None else caps)
            return True
        return pad.query_default(parent, query)
