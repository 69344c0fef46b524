"""Smart record on ``esurisrcbin`` / ``nvurisrcbin``: DeepStream 6.x/7.x's ``smart-rec-*``
properties, the ``start-sr`` / ``stop-sr`` action signals and ``sr-done``.

The shell over :mod:`estuary.record`: it taps the source's encoded stream at its video decoder's
input (only when ``smart-record`` is set: a Python call a packet costs the others nothing),
keeps the look-back cache, writes each session with a :class:`~estuary.gst.recording.RecordingWriter`
and reports the end.

* ``start-sr`` (gpointer session-id out, uint start-time s, uint duration s, gpointer user-data):
  records from ``start-time`` seconds before now (within ``smart-rec-cache``) to ``duration``
  seconds after (0: ``smart-rec-default-duration``), or to ``stop-sr``. The session id is
  written to the first argument when it is a pointer (a capsule, as from ``pyds``); ``None``
  is accepted. One session at a time per source: a second ``start-sr`` is a WARNING.
* ``stop-sr`` (uint session-id) ends that session now.
* ``sr-done`` (gpointer ``NvDsSRRecordingInfo*``, gpointer user-data) when its file is written
  (read it with :func:`estuary.record.info.recording_info`); the element message
  ``estuary-sr-done`` carries the same fields (session-id, source-id, path, filename, dirpath,
  duration-ms, container, width, height).

A recording that cannot be made or written (no such directory, a full disk, an input that is
not compressed video, a format the container cannot hold) is a WARNING on the bus naming the
cause: the analytics go on. The live packets are only looked at: what goes to the decoder is
never changed.
"""

from __future__ import annotations

import ctypes
import os
import threading
from datetime import datetime

from estuary import capsule
from estuary.gst import GObject, Gst
from estuary.gst.element import Prop
from estuary.record.info import NvDsSRRecordingInfo
from estuary.record.smart import NS, Packet, RecordBusy, Session, SmartRecorder, recording_name

__all__ = ["SmartRecordMixin", "SMART_RECORD_PROPS", "SMART_RECORD_SIGNALS"]

SMART_RECORD_PROPS = (
    Prop("smart-record", int, 0, "Smart record: 0 off, 1 triggered by cloud messages, 2 cloud and "
         "local events (both take start-sr / stop-sr here)", 0, 2),
    Prop("smart-rec-dir-path", str, "", "Directory for smart recordings (empty: the working directory)"),
    Prop("smart-rec-file-prefix", str, "Smart_Record", "File name prefix of smart recordings"),
    Prop("smart-rec-cache", int, 0, "Seconds of the encoded stream kept to record before start-sr", 0, 2**32 - 1),
    Prop("smart-rec-video-cache", int, 0, "Deprecated: smart-rec-cache", 0, 2**32 - 1, attr="smart_rec_cache"),
    Prop("smart-rec-container", int, 0, "Smart recording container: 0 MP4 (fragmented), 1 MKV", 0, 1),
    Prop("smart-rec-mode", int, 0, "Streams recorded: 0 audio and video, 1 video, 2 audio "
         "(this bin exposes no audio: video is recorded)", 0, 2),
    Prop("smart-rec-default-duration", int, 20, "Seconds recorded after start-sr when it asks for 0",
         0, 2**32 - 1),
    Prop("smart-rec-status", bool, False, "Whether a smart recording is in progress", readable_only=True),
)

_ACTION = GObject.SignalFlags.RUN_LAST | GObject.SignalFlags.ACTION
SMART_RECORD_SIGNALS = {
    "start-sr": (_ACTION, None, (GObject.TYPE_POINTER, GObject.TYPE_UINT, GObject.TYPE_UINT, GObject.TYPE_POINTER)),
    "stop-sr": (_ACTION, None, (GObject.TYPE_UINT,)),
    "sr-done": (GObject.SignalFlags.RUN_LAST, None, (GObject.TYPE_POINTER, GObject.TYPE_POINTER)),
}


class SmartRecordMixin:
    """Smart record for a source bin with a replaceable ``uridecodebin`` (see the module doc).
    The bin calls :meth:`_sr_setup` at construction, :meth:`_sr_watch` on each new decoder,
    :meth:`_sr_video_linked` when its video pad is in use, :meth:`_sr_rebuilt` when it replaces
    the decoder and :meth:`_sr_shutdown` on PAUSED → READY.

    Locking: ``_sr_lock`` covers a packet's push and write (streaming thread) and every start
    and stop (application threads), so a session's packets go to its own writer in order and a
    session that ended takes none; files are finished outside it."""

    def _sr_setup(self) -> None:
        self._sr: SmartRecorder | None = None
        self._sr_lock = threading.RLock()
        self._sr_caps: Gst.Caps | None = None
        self._sr_tapped = None  # the decoder element whose input is recorded
        self._sr_next_id = 0
        self._sr_threads: list[threading.Thread] = []
        self._sr_closing = False
        self._sr_eos = False  # the tapped decoder saw the end of the stream: no packet will come

    # -- the encoded stream --------------------------------------------------------------------
    def _sr_watch(self, dec) -> None:
        """Tap ``dec``'s (a new uridecodebin's) decoder input when smart record is on."""
        s = self.settings
        self._sr_closing = False
        self._sr_eos = False
        if not s.smart_record:
            return
        if self._sr is None or self._sr.cache_ns != s.smart_rec_cache * NS:
            self._sr = SmartRecorder(s.smart_rec_cache)
        self._sr_tapped = None
        dec.connect("deep-element-added", self._sr_on_element)
        dec.connect("deep-element-removed", self._sr_on_removed)

    def _sr_on_removed(self, _bin, _sub, element) -> None:
        if element is self._sr_tapped:  # a decoder decodebin tried and dropped: tap the next
            self._sr_tapped = None

    def _sr_on_element(self, dec, _sub, element) -> None:
        if dec is not self._dec:
            return  # a decoder being torn down (a rebuild) still plugging elements
        factory = element.get_factory()
        klass = (factory.get_metadata("klass") or "") if factory is not None else ""
        # the first decoder of the stream: a video decoder, or an image one (MJPEG)
        if self._sr_tapped is not None or "Decoder" not in klass or not ("Video" in klass or "Image" in klass):
            return
        pad = element.get_static_pad("sink")
        if pad is None:
            return
        self._sr_tapped = element
        pad.add_probe(Gst.PadProbeType.BUFFER | Gst.PadProbeType.EVENT_DOWNSTREAM |
                      Gst.PadProbeType.EVENT_FLUSH, self._sr_on_packet, element)

    def _sr_on_packet(self, _pad, info, decoder):
        # looked at, never changed, never dropped: the probe's answer is OK whatever happens
        try:
            self._sr_packet(info, decoder)
        except Exception as exc:  # noqa: BLE001 - a fault here must reach the bus, not drop video
            self.post_error(exc, "smart record")
        return Gst.PadProbeReturn.OK

    def _sr_packet(self, info, decoder) -> None:
        rec = self._sr
        if rec is None or decoder is not self._sr_tapped:
            return  # (a decoder no longer the tap: replaced, dropped)
        if info.type & Gst.PadProbeType.BUFFER:
            buf = info.get_buffer()
            ts = buf.dts if buf.dts != Gst.CLOCK_TIME_NONE else buf.pts
            key = not buf.has_flags(Gst.BufferFlags.DELTA_UNIT)
            with self._sr_lock:
                step = rec.push(Packet(None if ts == Gst.CLOCK_TIME_NONE else ts, key, buf))
                for p in step.write:
                    self._sr_write(rec.session, p)
            self._sr_end(step.done)
            return
        event = info.get_event()
        if event.type == Gst.EventType.CAPS:
            caps, ended = event.parse_caps(), None
            with self._sr_lock:
                if self._sr_caps is not None and _format(caps) != _format(self._sr_caps):
                    # a new size or profile: the file's format was the old one (the rest of it
                    # would not decode), and the cache holds the old stream
                    ended = rec.reset("format changed")
                self._sr_caps = caps
            self._sr_end(ended)
        elif event.type == Gst.EventType.FLUSH_STOP:
            with self._sr_lock:
                self._sr_eos = False
                ended = rec.reset("flushed")  # a seek: a new timeline
            self._sr_end(ended)
        elif event.type == Gst.EventType.EOS:
            with self._sr_lock:
                self._sr_eos = True
                ended = rec.stop("end of stream")
            # finished here, before the EOS goes on, with any session still being finished:
            # when the application sees the pipeline's EOS, every file is whole and reported
            self._sr_end(ended, wait=True)
            self._sr_join()

    def _sr_write(self, session: Session | None, packet: Packet) -> None:
        """(under ``_sr_lock``) Write one packet of ``session``, opening its file first."""
        if session is None or session.ended:
            return  # (a session that failed on an earlier packet of the same batch)
        if session.sink is None:
            from estuary.gst.recording import RecordingWriter
            dirpath, filename, container = session.target
            try:
                session.sink = RecordingWriter(os.path.join(dirpath, filename), self._sr_caps, container)
            except Exception as exc:  # noqa: BLE001 - a recording that cannot be made is a WARNING
                self._sr.stop("failed")
                _unlink_empty(os.path.join(dirpath, filename))
                self.post_warning(f"smart record session {session.id} not recorded: {exc}")
                return
        if not session.sink.write(packet.payload):
            self._sr.stop("failed")
            self._sr_end(session)

    # -- the application's signals -------------------------------------------------------------
    def do_start_sr(self, session_out, start_time: int, duration: int, user_data) -> None:
        s = self.settings
        why = ""
        if not s.smart_record:
            why = "smart-record is 0 (off): set it to 1 or 2 before the source starts"
        elif self._sr is None:
            why = ("smart-record was 0 when the source started: set it before the pipeline starts"
                   if self._dec is not None else
                   "the source has not started yet (start-sr works once the pipeline is PAUSED or PLAYING)")
        elif self._sr_closing or self.current_state < Gst.State.PAUSED:
            why = "the source is not running (start-sr works while the pipeline is PAUSED or PLAYING)"
        elif s.smart_rec_mode == 2:
            why = "smart-rec-mode is 2 (audio only) and this source bin exposes no audio"
        elif self._sr_tapped is None and self._has_video():
            why = "the input's video is not compressed (nothing to record without encoding it)"
        dirpath = os.path.abspath(s.smart_rec_dir_path or os.getcwd())
        if not why and not (os.path.isdir(dirpath) and os.access(dirpath, os.W_OK | os.X_OK)):
            why = (f"smart-rec-dir-path {dirpath} is not a writable directory" if os.path.isdir(dirpath)
                   else f"smart-rec-dir-path {dirpath} does not exist")
        if why:
            self.post_warning(f"start-sr ignored: {why}")
            return
        after = duration or s.smart_rec_default_duration
        with self._sr_lock:
            if self._sr.session is not None:
                self.post_warning(f"start-sr ignored: smart record session {self._sr.session.id} is still "
                              "recording (one at a time per source; send stop-sr first)")
                return
            self._sr_next_id += 1
            sid = self._sr_next_id
            ext = "mp4" if s.smart_rec_container == 0 else "mkv"
            try:
                filename = _reserve(dirpath, recording_name(s.smart_rec_file_prefix, s.source_id, sid,
                                                            datetime.now(), ext))
            except OSError as exc:
                self.post_warning(f"start-sr ignored: cannot create a file in {dirpath}: {exc.strerror or exc}")
                return
            try:
                session, cached = self._sr.start(sid, start_time, after, user=user_data,
                                                 target=(dirpath, filename, s.smart_rec_container))
            except RecordBusy as exc:  # (checked above; kept for safety)
                _unlink_empty(os.path.join(dirpath, filename))
                self.post_warning(f"start-sr ignored: {exc}")
                return
            if self._sr_caps is not None and cached:
                # the file opened here, on the application's thread (with no cache, the first
                # packet's streaming thread opens it: the format is not known before)
                self._sr_write(session, cached[0])
                cached = cached[1:]
            for p in cached:
                self._sr_write(session, p)
            # the stream already ended (the application is behind the decoder): what the cache
            # held is the recording; finished now, before the EOS reaches the application
            ended = self._sr.stop("end of stream") if self._sr_eos else None
        self._sr_end(ended, wait=True)
        if session_out is not None:
            # DeepStream's guint* out-parameter (a capsule from the app): write the id there
            ctypes.c_uint32.from_address(hash(session_out)).value = sid
        self.gst_info("smart record session %d started: %s s before, %s s after", sid, start_time, after)

    def do_stop_sr(self, session_id: int) -> None:
        with self._sr_lock:
            rec = self._sr
            current = rec.session if rec is not None else None
            ended = rec.stop("stop-sr") if current is not None and current.id == session_id else None
        if ended is None:
            self.post_warning(f"stop-sr ignored: no smart record session {session_id} is recording"
                          + (f" (session {current.id} is)" if current is not None else ""))
            return
        self._sr_end(ended)

    # -- the end of a session ------------------------------------------------------------------
    def _sr_end(self, session: Session | None, wait: bool = False) -> None:
        """Finish ``session``'s file (its muxer writes the last fragment and index), then report
        it: on a thread of its own, or here with ``wait``. The session has already left the
        recorder: nothing writes to it any more."""
        if session is None:
            return
        with self._sr_lock:
            writer, session.sink = session.sink, None
        if wait:
            self._sr_finish(session, writer)
            return
        t = threading.Thread(target=self._sr_finish, args=(session, writer), daemon=True,
                             name=f"esurisrcbin-sr-{session.id}")
        with self._sr_lock:  # (started under it: a join never meets a thread not yet started)
            self._sr_threads = [x for x in self._sr_threads if x.is_alive()] + [t]
            t.start()

    def _sr_finish(self, session: Session, writer) -> None:
        try:
            dirpath, filename, _container = session.target
            path = os.path.join(dirpath, filename)
            if writer is None:
                _unlink_empty(path)  # (the name reserved at start-sr)
                if session.ended != "failed":
                    self.post_warning(f"smart record session {session.id} recorded nothing ({session.ended} "
                                  "before a key frame came: a smart-rec-cache of at least the stream's "
                                  "key frame interval starts recordings at once)")
                return
            err = writer.finish()
            if err:
                self.post_warning(f"smart record session {session.id} ({path}) failed: {err}")
                return
            self._sr_report(session, writer, dirpath, filename)
        except Exception as exc:  # noqa: BLE001 - a finishing thread's failure must reach the bus
            self.post_error(exc, "smart record")

    def _sr_report(self, session: Session, writer, dirpath: str, filename: str) -> None:
        s = self.settings
        container = session.target[2]
        ms = writer.duration_ns // 1_000_000
        names = (filename.encode(), dirpath.encode())  # kept alive while the handlers run
        info = NvDsSRRecordingInfo(None, session.id, names[0], names[1], ms, container,
                                   writer.width, writer.height, 1, 0, 0, 0)
        self.post_element_message("estuary-sr-done", **{
            "session-id": session.id, "source-id": s.source_id, "path": os.path.join(dirpath, filename),
            "filename": filename, "dirpath": dirpath, "duration-ms": int(ms),
            "container": container, "width": writer.width, "height": writer.height,
            "ended": session.ended})
        self.emit("sr-done", capsule.new(ctypes.addressof(info)), session.user)
        del names

    def _sr_join(self, timeout_s: float = 30.0) -> None:
        """Wait for the files being finished (other than by this thread)."""
        with self._sr_lock:
            threads, self._sr_threads = self._sr_threads, []
        for t in threads:
            if t is not threading.current_thread():
                t.join(timeout_s)

    def _sr_video_linked(self) -> None:
        """The source's video is in use: without a tapped decoder it is not compressed, and a
        session waiting for packets would wait for ever."""
        if self._sr is not None and self._sr_tapped is None:
            with self._sr_lock:
                ended = self._sr.stop("no encoded video")
            if ended is not None:
                _unlink_empty(os.path.join(*ended.target[:2]))
                self.post_warning(f"smart record session {ended.id} not recorded: the input's video is not "
                              "compressed (nothing to record without encoding it)")

    def _sr_rebuilt(self) -> None:
        """The decoder is being replaced (reconnection, loop): a new stream, new timestamps."""
        self._sr_tapped = None  # first: a late packet of the old decoder is no longer taken
        self._sr_caps = None
        self._sr_eos = False
        if self._sr is not None:
            with self._sr_lock:
                ended = self._sr.reset()
            self._sr_end(ended)

    def _sr_shutdown(self) -> None:
        """PAUSED → READY: end the session and wait for every file to be finished."""
        self._sr_closing = True  # a start-sr from here on (an sr-done handler's) is refused
        # uridecodebin drops its decoders in READY and plugs new ones when it starts again:
        # the next one is tapped
        self._sr_tapped = None
        self._sr_caps = None
        if self._sr is not None:
            with self._sr_lock:
                ended = self._sr.reset("stopped")
            self._sr_end(ended)
        self._sr_join()

    def _sr_status(self) -> bool:
        return self._sr is not None and self._sr.session is not None


def _format(caps: Gst.Caps) -> tuple:
    """What a file cannot change midway: codec, size, profile, stream format (a caps event that
    only refines others — a level, a frame rate — keeps the session)."""
    st = caps.get_structure(0)
    fields = []
    for name in ("width", "height", "profile", "stream-format", "chroma-format", "bit-depth-luma"):
        fields.append(st.get_value(name) if st.has_field(name) else None)
    return (st.get_name(), *fields)


def _reserve(dirpath: str, filename: str) -> str:
    """``filename`` in ``dirpath``, made there (empty) so that no other session or process takes
    it (two sources with the same source-id and prefix would pick the same name within a
    second); ``-2``, ``-3``... before the extension when it exists."""
    stem, ext = os.path.splitext(filename)
    for n in range(1, 1000):
        name = filename if n == 1 else f"{stem}-{n}{ext}"
        try:
            os.close(os.open(os.path.join(dirpath, name), os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644))
            return name
        except FileExistsError:
            continue
    raise FileExistsError(f"{filename} and 999 more names like it exist")


def _unlink_empty(path: str) -> None:
    try:
        if os.path.getsize(path) == 0:
            os.unlink(path)
    except OSError:
        pass
