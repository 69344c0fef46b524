"""At-least-once delivery off the streaming thread: a bounded queue, one worker that sends
with retries and exponential backoff (reconnecting as needed), a drop policy when the queue is
full, and counters. A message leaves the queue only once the broker acknowledged it."""

from __future__ import annotations

import collections
import logging
import threading
import time
from dataclasses import dataclass

from estuary.errors import BrokerError, BrokerRefusedError

__all__ = ["ReliableSender", "SenderStats", "POLICIES"]

log = logging.getLogger("estuary.messaging")
POLICIES = ("drop-oldest", "drop-newest", "block")


@dataclass
class SenderStats:
    queued: int = 0
    sent: int = 0
    retried: int = 0
    dropped: int = 0
    reconnects: int = 0
    connected: bool = False


class ReliableSender:
    """``on_error(exc)`` is called (from the worker thread) when sending cannot go on at all: an
    error that retrying cannot mend (a bad setting, a bug), as opposed to a broker outage
    (:class:`BrokerError`), which is retried. The worker then stops; ``error`` holds the cause."""

    def __init__(self, adapter, queue_size: int = 10000, policy: str = "drop-oldest",
                 backoff_initial: float = 0.1, backoff_max: float = 5.0, on_error=None):
        if policy not in POLICIES:
            raise ValueError(f"drop policy must be one of {POLICIES}")
        self.adapter = adapter
        self.queue_size, self.policy = max(int(queue_size), 1), policy
        self.backoff_initial, self.backoff_max = backoff_initial, backoff_max
        self.stats = SenderStats()
        self.on_error = on_error
        self._ever_connected = False
        self.error: BaseException | None = None
        self._q: collections.deque = collections.deque()
        self._cv = threading.Condition()
        self._stop = False
        self._thread = threading.Thread(target=self._run, name="estuary-sender", daemon=True)
        self._thread.start()

    def put(self, payload: bytes, topic: str, key: str | None = None) -> bool:
        """Queue a message; returns False if it was dropped (queue full, drop-newest, or the
        sender stopped on an error)."""
        with self._cv:
            if self.error is not None:
                self.stats.dropped += 1
                return False
            while len(self._q) >= self.queue_size:
                if self.policy == "drop-newest":
                    self.stats.dropped += 1
                    return False
                if self.policy == "drop-oldest":
                    self._q.popleft()
                    self.stats.dropped += 1
                    break
                self._cv.wait(0.1)  # block
                if self._stop:
                    return False
            self._q.append((payload, topic, key))
            self.stats.queued = len(self._q)
            self._cv.notify_all()
        return True

    def _connect(self) -> bool:
        try:
            self.adapter.connect()
            self.stats.connected = True
            self._ever_connected = True
            return True
        except BrokerRefusedError as exc:
            if not self._ever_connected:
                raise  # wrong login or untrusted certificate from the start: a setting, not an outage
            log.warning("%s", exc)  # refused after working before (credentials rotated?): retry
            self.stats.connected = False
            return False
        except BrokerError as exc:
            log.warning("%s", exc)
            self.stats.connected = False
            return False

    def _run(self):
        try:
            self._loop()
        except Exception as exc:  # noqa: BLE001 - a dying worker must be heard, not silent
            self.error = exc
            log.error("message sender stopped: %s", exc)
            with self._cv:
                self._stop = True
                self._cv.notify_all()
            if self.on_error is not None:
                self.on_error(exc)

    def _loop(self):
        backoff = self.backoff_initial
        connected = self._connect()
        while True:
            with self._cv:
                while not self._q and not self._stop:
                    self._cv.wait(0.5)
                if not self._q and self._stop:
                    break
                payload, topic, key = self._q[0]
            if not connected:
                time.sleep(backoff)
                backoff = min(backoff * 2, self.backoff_max)
                connected = self._connect()
                if connected:
                    self.stats.reconnects += 1
                    backoff = self.backoff_initial
                if self._stop and self._deadline_passed():
                    break
                continue
            try:
                self.adapter.send(payload, topic, key)
            except BrokerError as exc:
                log.warning("send failed, will retry: %s", exc)
                self.stats.retried += 1
                try:
                    self.adapter.close()
                except Exception:  # noqa: BLE001
                    pass
                connected = False
                self.stats.connected = False
                continue
            with self._cv:
                if self._q and self._q[0][0] is payload:
                    self._q.popleft()
                self.stats.sent += 1
                self.stats.queued = len(self._q)
                self._cv.notify_all()
            backoff = self.backoff_initial
        try:
            self.adapter.close()
        except Exception:  # noqa: BLE001
            pass

    def _deadline_passed(self) -> bool:
        return time.monotonic() > getattr(self, "_deadline", float("inf"))

    def flush(self, timeout: float = 10.0) -> bool:
        """Wait until the queue is empty (True) or ``timeout`` passes (False)."""
        end = time.monotonic() + timeout
        with self._cv:
            # a worker that stopped on an error will never drain the queue: do not wait for it
            while self._q and time.monotonic() < end and self.error is None and not self._stop:
                self._cv.wait(0.05)
            return not self._q

    def close(self, timeout: float = 10.0) -> SenderStats:
        """Flush within ``timeout``, then stop; what could not be sent is counted as dropped."""
        self.flush(timeout)
        with self._cv:
            self._stop = True
            self._deadline = time.monotonic()
            left = len(self._q)
            self._cv.notify_all()
        self._thread.join(timeout=max(timeout, 1.0))
        with self._cv:
            self.stats.dropped += len(self._q) if left else 0
            self._q.clear()
            self.stats.queued = 0
        return self.stats
