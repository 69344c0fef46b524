"""What an MP4 (ISO base media) file's top-level boxes say about why it does not play.

A recorder that stops before EOS — killed, crashed, the disk full, the camera's SD card pulled —
leaves ``ftyp`` + ``mdat`` without the ``moov`` box (the index: codecs, sizes, where each frame
is) that a plain MP4 writer adds last. Demuxers then report only "This file contains no playable
streams" / "moov atom not found", which reads like a codec problem. :func:`unfinished_mp4`
tells that case apart from the file's top-level box headers (a seek and 8 bytes a box), without
decoding anything.
"""

from __future__ import annotations

import os
import stat
import struct
from urllib.parse import unquote, urlparse

__all__ = ["top_level_boxes", "unfinished_mp4", "unfinished_input", "local_path", "RECORDING_MUX",
           "RECORDING_FILESINK"]

#: An MP4 that survives its writer (gst-launch syntax): mp4mux writes its index (moov) only at EOS,
#: so a plain MP4 of a process killed before EOS (SIGKILL, OOM, a crash) plays nothing.
#: Fragmented, each second is a self-describing fragment; unbuffered, a fragment reaches the file
#: (the page cache: this covers the process dying, not the host losing power) when mp4mux pushes
#: it, instead of waiting in filesink's 64 KB buffer (seconds of video at low bitrates). A 15 fps
#: recording killed 4.5 s in: 60 frames (4 s) play, none before. estuary.elements.sinks makes
#: the elements from these.
RECORDING_FRAGMENT_MS = 1000
RECORDING_MUX = f"mp4mux fragment-duration={RECORDING_FRAGMENT_MS}"
RECORDING_FILESINK = "filesink buffer-mode=unbuffered"

# top-level box types that start an ISO base media file (an MP4 writer's first box is one of these)
_LEADING = {b"ftyp", b"styp", b"moov", b"mdat", b"free", b"skip", b"wide", b"pdin", b"uuid", b"moof",
            b"meta"}
_MAX_BOXES = 4096  # a fragmented recording has two boxes a fragment; the answer comes well before


def top_level_boxes(path: str) -> list[tuple[str, int]] | None:
    """``[(type, size), ...]`` of the file's top-level boxes as their headers say, up to the
    index (``moov``) or the end (a box running past the end of the file is the last one); None
    when the file does not start like an ISO base media file (another container, an elementary
    stream, noise, empty), has a corrupt box header, or is not a regular file."""
    out: list[tuple[str, int]] = []
    try:
        st = os.stat(path)
        if not stat.S_ISREG(st.st_mode):  # a FIFO or a device would block the read: no verdict
            return None
        size_total = st.st_size
        with open(path, "rb") as f:
            pos = 0
            while pos + 8 <= size_total and len(out) < _MAX_BOXES:
                f.seek(pos)
                head = f.read(8)
                if len(head) < 8:  # (the file shrank meanwhile)
                    break
                size, kind = struct.unpack(">I4s", head)
                least = 8
                if size == 1:  # a 64-bit size follows the type
                    raw = f.read(8)
                    if len(raw) < 8:
                        break
                    size, least = struct.unpack(">Q", raw)[0], 16
                elif size == 0:  # the box runs to the end of the file
                    size = size_total - pos
                if not out and kind not in _LEADING:
                    return None
                if size < least or not all(32 <= c < 127 for c in kind):
                    return None  # a corrupt box header: where the index would be is unknown
                out.append((kind.decode("ascii"), size))
                if kind == b"moov":  # the index is there: what follows changes no verdict
                    break
                pos += size
    except (OSError, ValueError):  # (ValueError: a NUL in the path)
        return None
    return out or None


def unfinished_mp4(path: str) -> str | None:
    """Why the MP4 at ``path`` cannot play when its writer never finished it (no ``moov`` box:
    neither a plain MP4's index at the end nor a fragmented one's at the start), as a sentence
    for an error message; None for any other file (finished, fragmented, not an MP4, missing)."""
    boxes = top_level_boxes(path)
    if not boxes:
        return None
    kinds = {k for k, _ in boxes}
    # a top-level 'meta' box: an ISO image file (HEIF, HEIC, AVIF), which has no moov to miss
    if "moov" in kinds or "meta" in kinds:
        return None
    return (f"{path} has no index ('moov' box): its recording was never finished (the writer "
            "stopped before closing the file), so no player can read it as it is; record with "
            f"a fragmented MP4 ({RECORDING_MUX} ! {RECORDING_FILESINK}) to keep such files playable")


def unfinished_input(uri_or_path: str) -> str | None:
    """:func:`unfinished_mp4` for an input as a user gives it (a path or a URI; network URIs have
    no verdict). Never raises: its answer only adds to an error message that must go out anyway
    (a URI urlparse refuses, say)."""
    try:
        path = local_path(uri_or_path or "")
        return unfinished_mp4(path) if path else None
    except Exception:  # noqa: BLE001 - see above
        return None


def local_path(uri_or_path: str) -> str | None:
    """The local file a ``file://`` URI or a plain path names (None for network URIs)."""
    if "://" not in uri_or_path:
        return uri_or_path
    u = urlparse(uri_or_path)
    return unquote(u.path) if u.scheme == "file" else None
