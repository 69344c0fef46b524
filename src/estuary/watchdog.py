"""A stop signal that the process cannot act on still ends it.

Python runs signal handlers in the main thread, between bytecodes. A main thread blocked in C —
``pipeline.set_state(NULL)`` waiting for a streaming thread that never returns, a deadlocked
element — never runs them: ``estuary run``'s "EOS, then stop at once after 15 s" never starts and
the process ignores SIGTERM for good (a hung ``runtime-add-delete`` run ignored it for two hours,
until SIGKILL). Container runtimes and systemd do send SIGKILL in the end, but without a word on
why; here the process says where it is stuck and exits with the signal's status.

:class:`StopWatchdog` hears the signal below Python: :mod:`faulthandler`'s C-level handler
writes the interrupted thread's Python stack to a pipe and then calls Python's own handler
(``chain=True``), so the app's handlers run exactly as before. A thread of ours waits on those
pipes; once a signal has come, if :meth:`StopWatchdog.done` is not called within ``deadline``
seconds (sooner after a second signal), it prints every thread's stack to stderr and ends the
process with ``os._exit`` (130 for SIGINT, 143 for SIGTERM).
"""

from __future__ import annotations

import faulthandler
import os
import selectors
import signal
import sys
import threading
import time

__all__ = ["StopWatchdog"]


class StopWatchdog:
    """Ends the process when a stop signal is not acted on in time; see the module docstring.

    ``install`` after the Python handlers are set (faulthandler chains to the handler in place
    then); ``done`` once the process is stopping on its own."""

    def __init__(self, deadline: float, second_deadline: float = 3.0, name: str = "estuary",
                 signals: tuple = (signal.SIGINT, signal.SIGTERM)):
        self.deadline = deadline
        self.second_deadline = second_deadline
        self.name = name
        self.signals = tuple(signals)
        self._pipes: dict[int, tuple] = {}  # read fd -> (signal, write file)
        self._stop_r = self._stop_w = -1
        self._thread: threading.Thread | None = None

    def install(self) -> None:
        if self._thread is not None or threading.current_thread() is not threading.main_thread():
            return  # signals are the main thread's business (as signal.signal requires)
        for sig in self.signals:
            r, w = os.pipe()
            os.set_blocking(w, False)  # a full pipe must never block the signal handler
            wfile = os.fdopen(w, "w")
            faulthandler.register(sig, file=wfile, all_threads=False, chain=True)
            self._pipes[r] = (sig, wfile)
        self._stop_r, self._stop_w = os.pipe()
        self._thread = threading.Thread(target=self._watch, name=f"{self.name}-stop-watchdog", daemon=True)
        self._thread.start()

    def done(self) -> None:
        """The process is stopping by itself: unregister and end the watching thread."""
        if self._thread is None:
            return
        for sig, _w in self._pipes.values():
            faulthandler.unregister(sig)
        os.write(self._stop_w, b"x")
        self._thread.join(5)
        self._thread = None

    # -- the watching thread ------------------------------------------------------------------------
    def _watch(self) -> None:
        sel = selectors.DefaultSelector()
        for r in self._pipes:
            sel.register(r, selectors.EVENT_READ)
        sel.register(self._stop_r, selectors.EVENT_READ)
        first: tuple[int, float] | None = None  # (signal, when)
        end = None
        try:
            while True:
                timeout = None if end is None else max(0.0, end - time.monotonic())
                events = sel.select(timeout)
                if not events and end is not None and time.monotonic() >= end:
                    self._give_up(first[0], time.monotonic() - first[1])
                    return
                for key, _mask in events:
                    if key.fd == self._stop_r:
                        return
                    os.read(key.fd, 65536)  # the stack faulthandler wrote; only the wake-up counts
                    sig = self._pipes[key.fd][0]
                    now = time.monotonic()
                    if first is None:
                        first, end = (sig, now), now + self.deadline
                    elif now - first[1] > 0.2:  # a second signal (not the same one read in pieces)
                        end = min(end, now + self.second_deadline)
        finally:
            sel.close()
            for r, (_sig, wfile) in self._pipes.items():
                os.close(r)
                wfile.close()
            os.close(self._stop_r)
            os.close(self._stop_w)
            self._pipes.clear()

    def _give_up(self, sig: int, waited: float) -> None:
        name = signal.Signals(sig).name
        try:
            sys.stderr.write(f"{self.name}: still running {waited:.0f} s after {name}: the main thread "
                             "is blocked; every thread's stack follows; exiting now\n")
            sys.stderr.flush()
            faulthandler.dump_traceback(file=sys.stderr, all_threads=True)
            sys.stderr.flush()
        finally:
            os._exit(128 + int(sig))  # the shell's status for a signal: runner's EXIT_SIGINT / EXIT_SIGTERM
