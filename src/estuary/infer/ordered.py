"""Work on several threads, results handed on in order, engine-free: what ``nvinfer`` runs its
CPU batches on when several are in flight (``infer-workers``).

:class:`OrderedPool` runs ``run(arg)`` for each submitted item on one of its worker threads and
calls ``deliver(item)`` for the items in the order they were submitted, each as soon as it and
every item before it are done, from whichever thread finished the last of them (so a result is
not held until the next item comes: with frames in flight bounded upstream, none may come). At
most ``limit`` items are submitted and not yet delivered: ``submit`` blocks while there are.

Why not ``concurrent.futures``: per batch it costs a future, a work item, a done-callback and, to
wait for the oldest, a waiter with an event and its condition — ~0.4 ms of the submitting
thread's CPU a batch in the 1-stream CPU pipeline, where the GIL is shared with four other
Python threads (docs/benchmarks.md, session 10). Here a batch costs two C-level queue operations
and one lock (``queue.SimpleQueue``, ``threading.Lock``; the blocking waits release the GIL).
"""

from __future__ import annotations

import collections
import queue
import threading
from typing import Any, Callable

__all__ = ["OrderedPool"]


class _Slot:
    __slots__ = ("item", "arg", "done", "exc")

    def __init__(self, item: Any, arg: Any, done: bool) -> None:
        self.item, self.arg, self.done, self.exc = item, arg, done, None


class OrderedPool:
    """``workers`` threads running ``run``; ``deliver`` in submission order; at most ``limit``
    items between ``submit`` and the end of their ``deliver``.

    Errors: an exception from ``run`` stops every delivery from that item on (the item and the
    ones after it are dropped) and is raised, once, by the next :meth:`submit` or :meth:`drain`
    in the caller's thread (a streaming thread, where the element turns it into a bus ERROR);
    :attr:`failed` stays true until :meth:`discard`. An exception from ``deliver`` goes to
    ``on_error`` (called on the delivering thread) and delivery goes on; without ``on_error``
    it counts as a failed run."""

    def __init__(self, run: Callable[[Any], None], deliver: Callable[[Any], None], *, workers: int,
                 limit: int | None = None, name: str = "worker",
                 on_error: Callable[[BaseException], None] | None = None) -> None:
        if workers < 1:
            raise ValueError(f"workers must be >= 1, got {workers}")
        self._run, self._deliver, self._on_error = run, deliver, on_error
        self.limit = max(1, limit or workers)
        self._tokens: queue.SimpleQueue = queue.SimpleQueue()  # one per item that may be in flight
        for _ in range(self.limit):
            self._tokens.put(None)
        self._jobs: queue.SimpleQueue = queue.SimpleQueue()
        self._order: collections.deque = collections.deque()  # _Slots, oldest first
        self._lock = threading.Lock()  # the order, and deliveries (never two at once)
        self._discarding = False
        self._error: BaseException | None = None  # from run, not yet raised
        self.failed = False
        self._threads = [threading.Thread(target=self._loop, name=f"{name}_{i}", daemon=True)
                         for i in range(workers)]
        for t in self._threads:
            t.start()

    # -- the submitting thread ----------------------------------------------------------------
    def submit(self, item: Any, arg: Any = None, work: bool = True) -> None:
        """Queue ``item``: ``run(arg)`` on a worker, then ``deliver(item)`` in order; with
        ``work`` false nothing runs and ``item`` is delivered in its turn. Blocks while ``limit``
        items are in flight; raises the error of a failed ``run`` (once)."""
        self._raise()
        self._tokens.get()  # (blocks in C, without the GIL)
        slot = _Slot(item, arg, not work)
        with self._lock:
            self._order.append(slot)
        if work:
            self._jobs.put(slot)
        else:
            self._deliver_ready()
        self._raise()

    def drain(self) -> None:
        """Wait until every submitted item is delivered (or dropped); raise a failed run's error."""
        self._wait_all()
        self._raise()

    def discard(self) -> None:
        """Wait for the items in flight to finish without delivering them (a flush); forget an
        error."""
        with self._lock:
            self._discarding = True
        try:
            self._wait_all()
        finally:
            with self._lock:
                self._discarding = False
                self._error, self.failed = None, False

    def close(self) -> None:
        """Finish the items queued, then stop the threads (delivering what completes)."""
        for _ in self._threads:
            self._jobs.put(None)
        for t in self._threads:
            if t is not threading.current_thread():
                t.join()

    @property
    def in_flight(self) -> int:
        with self._lock:
            return len(self._order)

    # -- internals ------------------------------------------------------------------------------
    def _raise(self) -> None:
        if self._error is not None:
            with self._lock:
                exc, self._error = self._error, None
            if exc is not None:
                raise exc

    def _wait_all(self) -> None:
        taken = 0
        try:
            for _ in range(self.limit):
                self._tokens.get()
                taken += 1
            # a token comes back inside the delivering thread's locked region: taking the lock
            # once more waits for that last delivery to end
            with self._lock:
                pass
        finally:
            for _ in range(taken):
                self._tokens.put(None)

    def _loop(self) -> None:
        while True:
            slot = self._jobs.get()
            if slot is None:
                return
            try:
                self._run(slot.arg)
            except BaseException as exc:  # noqa: BLE001 - handed to the submitting thread
                slot.exc = exc
            slot.arg = None
            slot.done = True
            slot = None  # (held while this thread waits for the next job: the item would be too)
            self._deliver_ready()

    def _deliver_ready(self) -> None:
        with self._lock:
            q = self._order
            while q and q[0].done:
                slot = q.popleft()
                try:
                    if slot.exc is not None and not self.failed:
                        self.failed, self._error = True, slot.exc
                    if not (self.failed or self._discarding):
                        try:
                            self._deliver(slot.item)
                        except Exception as exc:  # noqa: BLE001 - reported, delivery goes on
                            if self._on_error is not None:
                                self._on_error(exc)
                            else:  # nobody to tell on this thread: the submitting thread's
                                self.failed, self._error = True, exc
                finally:
                    # the item may be a buffer whose release frees a frame in flight upstream:
                    # nothing here keeps it once delivered
                    slot.item = None
                    self._tokens.put(None)
