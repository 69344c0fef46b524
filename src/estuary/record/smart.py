"""Smart record's sessions over a look-back cache of encoded packets, without GStreamer.

What DeepStream's smart record does, as facts (nvurisrcbin's ``smart-rec-*`` properties, its
``start-sr`` / ``stop-sr`` action signals and ``sr-done``): the source keeps the last
``smart-rec-cache`` seconds of its *encoded* stream; ``start-sr(start_time, duration)`` writes a
file that begins ``start_time`` seconds before the call (from the key frame at or before that
point: a recording must start where a decoder can) and ends ``duration`` seconds after it (0:
``smart-rec-default-duration``), or at ``stop-sr``. One session at a time per source.

Times here are the stream's own (buffer timestamps), not the wall clock: a file read faster than
real time records the same seconds of video it would at real time.

:class:`SmartRecorder` is that model: :meth:`~SmartRecorder.push` each packet in decode order and
write what it returns; :meth:`~SmartRecorder.start` returns the cached packets a session begins
with. It is thread-safe (the streaming thread pushes, the application starts and stops).
"""

from __future__ import annotations

import collections
import threading
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

__all__ = ["Packet", "Session", "Step", "SmartRecorder", "RecordBusy", "recording_name", "NS"]

NS = 1_000_000_000
#: a packet without a timestamp is taken to follow the previous one by this much (30 fps): an
#: elementary stream can come without any, and a session must still end
_UNTIMED_STEP = NS // 30
#: at most this many packets a second of cache: a bound on memory when timestamps stall
_MAX_PACKETS_A_SECOND = 240
#: a packet this much older than the newest is a new timeline (a camera that reset its clock,
#: a seek), not a late packet: decode-order times only go forward
_BACKWARDS_NS = NS


class RecordBusy(RuntimeError):
    """``start`` while a session is recording (DeepStream allows one at a time per source)."""


@dataclass(frozen=True)
class Packet:
    """One encoded access unit: ``ts`` in ns (decode order: DTS, else PTS; None: unknown),
    whether decoding can start at it, and what the writer takes (a ``Gst.Buffer``)."""

    ts: int | None
    key: bool
    payload: Any = None


@dataclass
class Session:
    """One recording: asked for ``before_ns`` ahead of the trigger and ``after_ns`` after it."""

    id: int
    before_ns: int
    after_ns: int
    #: the newest packet's time when it was asked for (None: no packet yet; set by the first)
    trigger_ts: int | None = None
    first_ts: int | None = None  # the first packet written (a key frame)
    last_ts: int | None = None
    packets: int = 0
    #: why it ended: "duration", "stop-sr", "end of stream", "source rebuilt", "stopped",
    #: "timestamps went back", "failed"
    ended: str = ""
    user: Any = field(default=None, repr=False)  # the caller's user data, handed back at the end
    #: where the recording goes and what writes it (the caller's: a file name, a writer), kept
    #: on the session so that a session ending and the next starting never share them
    target: Any = field(default=None, repr=False)
    sink: Any = field(default=None, repr=False)

    @property
    def end_ts(self) -> int | None:
        return None if self.trigger_ts is None else self.trigger_ts + self.after_ns


@dataclass
class Step:
    """What :meth:`SmartRecorder.push` asks of the writer: packets to write now, and the
    session that ended before this packet (finish its file)."""

    write: list[Packet] = field(default_factory=list)
    done: Session | None = None


class SmartRecorder:
    """The look-back cache (whole GOPs covering at least ``cache_seconds``) and the session."""

    def __init__(self, cache_seconds: float):
        self.cache_ns = max(0, int(cache_seconds * NS))
        self._gops: collections.deque[list[Packet]] = collections.deque()
        self._cached = 0
        self._max_cached = int(max(1.0, cache_seconds) * _MAX_PACKETS_A_SECOND)
        self._newest: int | None = None
        self._session: Session | None = None
        self._lock = threading.Lock()

    @property
    def session(self) -> Session | None:
        """The session recording now (or waiting for its first key frame)."""
        return self._session

    @property
    def cached_seconds(self) -> float:
        """How much of the stream the cache holds, from its first key frame to the newest packet."""
        with self._lock:
            if not self._gops or self._newest is None:
                return 0.0
            return (self._newest - self._gops[0][0].ts) / NS

    def start(self, session_id: int, before_s: float, after_s: float, user: Any = None,
              target: Any = None) -> tuple[Session, list[Packet]]:
        """Begin session ``session_id``; returns it and the cached packets it starts with (from
        the last key frame at or before ``before_s`` seconds ago — the cache's first one when
        it holds less — to the newest packet). ``before_s`` beyond the cache is cut to it.
        Raises :class:`RecordBusy` while another session records."""
        with self._lock:
            if self._session is not None:
                raise RecordBusy(f"smart record session {self._session.id} is still recording")
            before_ns = min(int(max(0.0, before_s) * NS), self.cache_ns)
            s = Session(session_id, before_ns, int(max(0.0, after_s) * NS), trigger_ts=self._newest, user=user,
                        target=target)
            self._session = s
            if self._newest is None or not self._gops:
                return s, []
            want = self._newest - before_ns
            start = 0
            for i, gop in enumerate(self._gops):
                if gop[0].ts <= want:
                    start = i
            out = [p for gop in list(self._gops)[start:] for p in gop]
            s.first_ts, s.last_ts, s.packets = out[0].ts, out[-1].ts, len(out)
            return s, out

    def stop(self, reason: str = "stop-sr") -> Session | None:
        """End the session now; returns it (None: none was recording)."""
        with self._lock:
            s, self._session = self._session, None
        if s is not None:
            s.ended = reason
        return s

    def reset(self, reason: str = "source rebuilt") -> Session | None:
        """Forget the cache (the stream restarts: a new decoder, new timestamps) and end the
        session; returns it."""
        with self._lock:
            self._forget()
        return self.stop(reason)

    def _forget(self) -> None:
        """(under the lock) An empty cache, no newest packet."""
        self._gops.clear()
        self._cached = 0
        self._newest = None

    def push(self, packet: Packet) -> Step:
        """Take the next packet (decode order); returns what to write and the session that
        ended (a session ends at the first packet at or past its end, which it does not hold)."""
        with self._lock:
            ts = packet.ts
            if ts is None:
                ts = 0 if self._newest is None else self._newest + _UNTIMED_STEP
                packet = Packet(ts, packet.key, packet.payload)
            if self._newest is not None and ts < self._newest - _BACKWARDS_NS:
                # a new timeline: the cache's times and the session's end mean nothing on it
                self._forget()
                s, self._session = self._session, None
                if s is not None:
                    s.ended = "timestamps went back"
                    self._newest = ts
                    self._cache(packet)
                    return Step(done=s)
            self._newest = ts if self._newest is None else max(self._newest, ts)
            self._cache(packet)
            s = self._session
            if s is None:
                return Step()
            if s.trigger_ts is None:
                s.trigger_ts = ts  # started before any data: its times count from here
            if ts >= s.end_ts:
                self._session = None
                s.ended = "duration"
                return Step(done=s)
            if s.first_ts is None:
                if not packet.key:
                    return Step()  # a recording starts at a key frame
                s.first_ts = ts
            s.last_ts = ts
            s.packets += 1
            return Step(write=[packet])

    def _cache(self, packet: Packet) -> None:
        if self.cache_ns == 0:
            return
        if packet.key:
            self._gops.append([packet])
        elif self._gops:
            self._gops[-1].append(packet)
        else:
            return  # nothing decodable before the first key frame
        self._cached += 1
        # keep the last key frame at or before (newest - cache): the cache covers whole seconds
        # asked for, from where decoding can start
        horizon = self._newest - self.cache_ns
        while len(self._gops) > 1 and (self._gops[1][0].ts <= horizon or self._cached > self._max_cached):
            self._cached -= len(self._gops.popleft())


def recording_name(prefix: str, source_id: int, session_id: int, when: datetime, container: str) -> str:
    """A recording's file name: prefix, source, local start time and session, e.g.
    ``Smart_Record_00002_20261202-081500_7.mp4``."""
    return f"{prefix}_{source_id:05d}_{when:%Y%m%d-%H%M%S}_{session_id}.{container}"
