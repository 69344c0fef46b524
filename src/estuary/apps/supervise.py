"""Supervision of an unmodified DeepStream-style app run by ``estuary run``.

NVIDIA's sample apps (and our faithful ports of them) print a bus ERROR and return normally, and
swallow Ctrl-C inside ``loop.run()``, so their exit status is 0 whatever happened, and an
interrupted recording is never finished. The apps stay as they are; ``estuary run`` wraps their
``common.bus_call.bus_call`` (every sample routes its bus through it) to observe the messages:

* an ERROR on any pipeline makes the exit status non-zero, and the summary names the element,
  the message and the inputs the app was given — and what GStreamer said it lacked, when a
  decoder was missing (the app's own error is then a bare "Internal data stream error" from the
  demuxer);
* SIGINT/SIGTERM send EOS to the app's pipelines, so files are finished, and the status is
  130/143; a second signal, or no EOS within ``eos_timeout`` seconds, stops the app at once;
* and if the app still runs ``stuck_grace`` seconds after that (its main thread blocked in C,
  where Python never runs the handlers above), :class:`estuary.watchdog.StopWatchdog` prints
  every thread's stack and ends the process with the signal's status.
"""

from __future__ import annotations

import signal
import sys
import weakref
from dataclasses import dataclass

from estuary.runner import EXIT_ERROR, EXIT_OK, EXIT_SIGINT, EXIT_SIGTERM

__all__ = ["AppSupervisor", "AppError"]


@dataclass
class AppError:
    element: str
    message: str


class AppSupervisor:
    """Observe an app's bus messages and signals; see the module docstring."""

    def __init__(self, eos_timeout: float = 15.0, stuck_grace: float = 10.0):
        from estuary.watchdog import StopWatchdog
        self.eos_timeout = eos_timeout
        self._watchdog = StopWatchdog(eos_timeout + stuck_grace, name="estuary run")
        self.errors: list[AppError] = []
        self.missing: list[str] = []  # what decodebin found no plugin for ("H.264 (High Profile) decoder")
        self.signal: int | None = None
        self.timed_out = False
        self._pipelines: "weakref.WeakSet" = weakref.WeakSet()
        self._old: dict = {}

    # -- bus ------------------------------------------------------------------------------------
    def wrap_bus_call(self, bus_call):
        """A ``bus_call`` that records what it sees, then does exactly what the app's does."""
        def observed(bus, message, *user_data):
            self.observe(message)
            return bus_call(bus, message, *user_data)
        observed.__wrapped__ = bus_call
        return observed

    def observe(self, message) -> None:
        from estuary.gst import Gst
        top = message.src
        while top is not None and top.get_parent() is not None:
            top = top.get_parent()
        if isinstance(top, Gst.Pipeline):
            self._pipelines.add(top)
        if message.type == Gst.MessageType.EOS and self.signal is not None:
            signal.alarm(0)  # finished in time; the app now stops its pipeline itself
        if message.type == Gst.MessageType.ELEMENT:
            st = message.get_structure()
            if st is not None and st.get_name() == "missing-plugin":
                what = st.get_string("name") or st.get_string("type") or "a plugin"
                if what not in self.missing:
                    self.missing.append(what)
        if message.type == Gst.MessageType.ERROR:
            err, _debug = message.parse_error()
            name = message.src.get_name() if message.src is not None else "?"
            self.errors.append(AppError(name, err.message))

    # -- signals --------------------------------------------------------------------------------
    def install(self) -> None:
        for s in (signal.SIGINT, signal.SIGTERM):
            self._old[s] = signal.signal(s, self._on_signal)
        self._old[signal.SIGALRM] = signal.signal(signal.SIGALRM, self._on_alarm)
        self._watchdog.install()  # after the handlers: it chains to them

    def restore(self) -> None:
        self._watchdog.done()
        signal.alarm(0)
        for s, h in self._old.items():
            signal.signal(s, h)
        self._old.clear()

    def _on_signal(self, signum, _frame):
        from estuary.gst import Gst
        if self.signal is not None or not list(self._pipelines):
            self.signal = self.signal or signum
            raise KeyboardInterrupt  # second signal, or nothing to finish: stop now
        self.signal = signum
        print(f"estuary: {signal.Signals(signum).name}: finishing the pipeline (EOS); "
              "again to stop at once", file=sys.stderr)
        for p in list(self._pipelines):
            p.send_event(Gst.Event.new_eos())
        signal.alarm(max(1, int(round(self.eos_timeout))))

    def _on_alarm(self, _signum, _frame):
        self.timed_out = True
        raise KeyboardInterrupt

    # -- outcome --------------------------------------------------------------------------------
    def exit_code(self) -> int:
        if self.errors:
            return EXIT_ERROR
        if self.signal is not None:
            return EXIT_SIGINT if self.signal == signal.SIGINT else EXIT_SIGTERM
        return EXIT_OK

    def summary(self, app: str, inputs: list[str]) -> str | None:
        """One line saying why the run failed (None when it did not)."""
        if self.timed_out:
            return f"estuary run {app}: no EOS within {self.eos_timeout} s of the signal; stopped anyway"
        if not self.errors:
            return None
        first = self.errors[0]
        where = f" (inputs: {' '.join(inputs)})" if inputs else ""
        lacking = ""
        if self.missing:
            lacking = (f"; GStreamer has no {', '.join(self.missing)} here: install the plugins that "
                       "provide it (most video decoders: gst-libav, e.g. apt install gstreamer1.0-libav)")
        told = ""  # local MP4 inputs whose recording was never finished (unless the source said so)
        if "has no index ('moov' box)" not in first.message:
            from estuary.mp4 import unfinished_input
            told = "".join(f"; {why}" for why in map(unfinished_input, inputs) if why)
        return f"estuary run {app} failed: ERROR from {first.element}: {first.message}{where}{lacking}{told}"
