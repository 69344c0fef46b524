"""Run a pipeline to its end from a main program: SIGINT/SIGTERM send EOS so that files are
finished (a playable MP4) and brokers flushed, then the pipeline stops; the exit status says what
happened (0 done, 1 error, 130 interrupted, 143 terminated)."""

from __future__ import annotations

import signal
import sys

__all__ = ["run", "EXIT_OK", "EXIT_ERROR", "EXIT_SIGINT", "EXIT_SIGTERM"]

EXIT_OK, EXIT_ERROR, EXIT_SIGINT, EXIT_SIGTERM = 0, 1, 130, 143


def run(pipeline, on_message=None, eos_timeout: float = 15.0, quiet: bool = False) -> int:
    """Play ``pipeline`` until EOS or ERROR; on SIGINT/SIGTERM finish cleanly through EOS."""
    from estuary.gst import Gst
    stop = {"sig": None}

    def handler(signum, frame):
        stop["sig"] = signum

    old = {s: signal.signal(s, handler) for s in (signal.SIGINT, signal.SIGTERM)}
    bus = pipeline.get_bus()
    status = EXIT_OK
    pipeline.set_state(Gst.State.PLAYING)
    try:
        while True:
            if stop["sig"] is not None:
                pipeline.send_event(Gst.Event.new_eos())
                end = bus.timed_pop_filtered(int(eos_timeout * Gst.SECOND),
                                             Gst.MessageType.EOS | Gst.MessageType.ERROR)
                if end is None and not quiet:
                    print(f"estuary: no EOS within {eos_timeout} s; stopping anyway", file=sys.stderr)
                status = EXIT_SIGINT if stop["sig"] == signal.SIGINT else EXIT_SIGTERM
                break
            msg = bus.timed_pop_filtered(200 * Gst.MSECOND, Gst.MessageType.ANY)
            if msg is None:
                continue
            if on_message is not None:
                on_message(msg)
            if msg.type == Gst.MessageType.EOS:
                break
            if msg.type == Gst.MessageType.ERROR:
                err, _ = msg.parse_error()
                if not quiet:
                    print(f"ERROR from {msg.src.get_name()}: {err.message}", file=sys.stderr)
                status = EXIT_ERROR
                break
    finally:
        pipeline.set_state(Gst.State.NULL)
        for s, h in old.items():
            signal.signal(s, h)
    return status
