"""Run a pipeline to its end from a main program: SIGINT/SIGTERM send EOS so that files are
finished (a playable MP4) and brokers flushed, then the pipeline stops; the exit status says what
happened (0 done, 1 error, 130 interrupted, 143 terminated)."""

from __future__ import annotations

import signal
import sys

__all__ = ["run", "play_until_end", "drop_source", "source_bin_of", "EXIT_OK", "EXIT_ERROR", "EXIT_SIGINT", "EXIT_SIGTERM"]

EXIT_OK, EXIT_ERROR, EXIT_SIGINT, EXIT_SIGTERM = 0, 1, 130, 143


def source_bin_of(element, pipeline=None):
    """The source unit an element belongs to, or None: its enclosing ``source-bin-NN`` (the
    DeepStream apps' naming), else the pipeline's direct child holding it when that child is a
    self-contained source (no sink pads, e.g. a bare ``nvurisrcbin``/``uridecodebin``)."""
    from estuary.gst import Gst, ancestor_named
    named = ancestor_named(element, "source-bin-")
    if named is not None or pipeline is None:
        return named
    top = element
    while top is not None and top.get_parent() is not None and top.get_parent() is not pipeline:
        top = top.get_parent()
    if top is None or top is pipeline or top.get_parent() is not pipeline:
        return None
    if any(p.direction == Gst.PadDirection.SINK for p in top.pads):
        return None
    return top


def drop_source(pipeline, source_bin) -> int | None:
    """Unlink a failed source from the muxer, release its pad and remove it; returns its index."""
    from estuary.gst import Gst
    links = [(p, p.get_peer()) for p in source_bin.pads if p.direction == Gst.PadDirection.SRC]
    idx = None
    source_bin.set_state(Gst.State.NULL)
    for src, peer in links:
        if peer is None:
            continue
        mux = peer.get_parent_element()
        try:
            idx = int(peer.get_name().rsplit("_", 1)[1])
        except (IndexError, ValueError):
            pass
        src.unlink(peer)
        if peer.get_pad_template() is not None and \
                peer.get_pad_template().presence == Gst.PadPresence.REQUEST:
            mux.release_request_pad(peer)
    pipeline.remove(source_bin)
    return idx


def play_until_end(pipeline, timeout: float | None = None, on_message=None, on_tick=None,
                   tick: float = 1.0):
    """Play ``pipeline`` until EOS or ERROR, stop it, and return that message: the one bus loop
    for code that wants the final message itself (set-up steps, workers, :mod:`estuary.testing`);
    a main program uses :func:`run` (signals, exit status, dropped sources).

    ``timeout``: seconds in all (``None``: no limit); past it, :class:`TimeoutError`.
    ``on_message(msg)`` sees every bus message; ``on_tick()`` is called at least every ``tick``
    seconds (after each message too, and once more on the final one)."""
    import time

    from estuary.gst import Gst
    wanted = Gst.MessageType.ANY if on_message is not None else Gst.MessageType.EOS | Gst.MessageType.ERROR
    deadline = None if timeout is None else time.monotonic() + timeout
    bus = pipeline.get_bus()
    pipeline.set_state(Gst.State.PLAYING)
    try:
        while True:
            wait = tick if on_tick is not None else None
            if deadline is not None:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"pipeline did not finish in {timeout} s")
                wait = left if wait is None else min(wait, left)
            msg = bus.timed_pop_filtered(Gst.CLOCK_TIME_NONE if wait is None else int(wait * Gst.SECOND),
                                         wanted)
            if msg is not None and on_message is not None:
                on_message(msg)
            if on_tick is not None:
                on_tick()
            if msg is not None and msg.type in (Gst.MessageType.EOS, Gst.MessageType.ERROR):
                return msg
    finally:
        pipeline.set_state(Gst.State.NULL)


def run(pipeline, on_message=None, eos_timeout: float = 15.0, quiet: bool = False,
        continue_on_source_error: bool = False, metrics_port: int | None = None,
        metrics_host: str = "127.0.0.1", stuck_grace: float = 10.0) -> int:
    """Play ``pipeline`` until EOS or ERROR; on SIGINT/SIGTERM finish cleanly through EOS
    (waiting ``eos_timeout`` seconds at most); a process still running ``stuck_grace`` seconds
    after that prints every thread's stack and exits (see :mod:`estuary.watchdog`).

    With ``continue_on_source_error``, an error raised inside a source (a ``source-bin-NN`` or a
    bare source bin such as ``nvurisrcbin``: a missing, corrupt or unreachable input) removes it, says so on stderr naming it and the
    cause, and the other sources go on. With ``metrics_port``, Prometheus metrics are served on
    ``http://METRICS_HOST:PORT/metrics`` while it runs (see :mod:`estuary.metrics`)."""
    from estuary.gst import Gst, is_inside
    from estuary.redact import redact  # messages from GStreamer's own elements may quote a URI
    server = None
    if metrics_port is not None:
        from estuary.metrics import PipelineMetrics, serve
        metrics = PipelineMetrics(pipeline)
        server = serve(metrics, metrics_port, host=metrics_host)
        if not quiet:
            print(f"estuary: metrics on http://{metrics_host}:{server.server_address[1]}/metrics", file=sys.stderr)
        user_cb = on_message

        def on_message(msg):
            metrics.on_message(msg)
            if user_cb is not None:
                user_cb(msg)
    stop = {"sig": None}

    def handler(signum, frame):
        stop["sig"] = signum

    old = {s: signal.signal(s, handler) for s in (signal.SIGINT, signal.SIGTERM)}
    # a main thread blocked in C (a pipeline that cannot reach NULL) never sees `stop`: the
    # watchdog ends the process stuck_grace seconds after the EOS wait (estuary.watchdog)
    from estuary.watchdog import StopWatchdog
    watchdog = StopWatchdog(eos_timeout + stuck_grace)
    watchdog.install()
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
                if continue_on_source_error and not is_inside(msg.src, pipeline):
                    continue  # a late error from a source that was already dropped
                source_bin = source_bin_of(msg.src, pipeline) if continue_on_source_error else None
                if source_bin is not None:
                    idx = drop_source(pipeline, source_bin)
                    # a failure during preroll left the pipeline short of PLAYING: resume it
                    pipeline.set_state(Gst.State.PLAYING)
                    if not quiet:
                        print(f"estuary: source {idx} ({source_bin.get_name()}) failed: {redact(err.message)}; "
                              "continuing with the other sources", file=sys.stderr)
                    continue
                if not quiet:
                    print(f"ERROR from {msg.src.get_name()}: {redact(err.message)}", file=sys.stderr)
                status = EXIT_ERROR
                break
    finally:
        pipeline.set_state(Gst.State.NULL)
        if server is not None:
            server.shutdown()
            server.server_close()
        watchdog.done()
        for s, h in old.items():
            signal.signal(s, h)
    return status
