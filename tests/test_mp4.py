"""estuary.mp4: telling an MP4 whose writer never finished it (no 'moov' index) from every other
file, by its top-level boxes alone."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest

from estuary import data
from estuary.mp4 import local_path, top_level_boxes, unfinished_input, unfinished_mp4

MEDIA = Path(data.media_path("bikes.mp4"))


def box(kind: bytes, payload: bytes = b"", large: bool = False) -> bytes:
    if large:  # size 1: a 64-bit size after the type
        return struct.pack(">I4sQ", 1, kind, 16 + len(payload)) + payload
    return struct.pack(">I4s", 8 + len(payload), kind) + payload


FTYP = box(b"ftyp", b"isom\0\0\2\0isomiso2avc1mp41")

# name -> (file bytes, unfinished?)
CASES = {
    "finished (index at the end)": (lambda: MEDIA.read_bytes(), False),
    "first half of a finished file": (lambda: MEDIA.read_bytes()[: MEDIA.stat().st_size // 2], True),
    "header and frames, cut inside mdat": (lambda: FTYP + box(b"mdat", b"\0" * 5000)[:3000], True),
    "index first (faststart)": (lambda: FTYP + box(b"moov", b"\0" * 64) + box(b"mdat", b"\0" * 100), False),
    "fragmented, killed mid-fragment": (
        lambda: FTYP + box(b"moov", b"\0" * 64) + box(b"moof", b"\0" * 32) + box(b"mdat", b"\0" * 400)[:200], False),
    "64-bit mdat size, no index": (lambda: FTYP + box(b"mdat", b"\0" * 100, large=True), True),
    "mdat size 0 (to the end), no index": (lambda: FTYP + struct.pack(">I4s", 0, b"mdat") + b"\0" * 50, True),
    "H.264 elementary stream": (lambda: Path(data.media_path("bikes.h264")).read_bytes()[:20000], False),
    "JPEG": (lambda: Path(data.media_path("bus.jpg")).read_bytes(), False),
    "HEIF/AVIF image (top-level meta, no moov)": (
        lambda: box(b"ftyp", b"avif\0\0\0\0avifmif1") + box(b"meta", b"\0" * 40) + box(b"mdat", b"\0" * 100), False),
    "64-bit size smaller than its own header": (lambda: FTYP + struct.pack(">I4sQ", 1, b"mdat", 12) + b"\0" * 40, False),
    "random bytes": (lambda: bytes(range(256)) * 40, False),
    "empty": (lambda: b"", False),
    "shorter than a box header": (lambda: b"\0\0\0", False),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_unfinished_mp4(name, tmp_path):
    content, unfinished = CASES[name]
    path = tmp_path / "f.mp4"
    path.write_bytes(content())
    why = unfinished_mp4(str(path))
    assert (why is not None) == unfinished, (name, top_level_boxes(str(path)), why)
    if why:
        assert str(path) in why and "moov" in why and "never finished" in why


def test_boxes_of_a_finished_file():
    kinds = [k for k, _ in top_level_boxes(str(MEDIA))]
    assert kinds[0] == "ftyp" and "mdat" in kinds and "moov" in kinds
    assert sum(size for _, size in top_level_boxes(str(MEDIA))) == MEDIA.stat().st_size


def test_a_missing_file_or_a_folder_is_no_verdict(tmp_path):
    assert unfinished_mp4(str(tmp_path / "none.mp4")) is None
    assert unfinished_mp4(str(tmp_path)) is None


def test_a_fifo_or_a_nul_in_the_path_gives_no_verdict_at_once(tmp_path):
    """Opening a FIFO blocks until someone writes it: it is not opened (an ERROR message that
    asks would otherwise never go out); a NUL byte (file:///a%00b.mp4) is no path."""
    import os
    import threading
    fifo = tmp_path / "cam.mp4"
    os.mkfifo(fifo)
    got = []
    t = threading.Thread(target=lambda: got.append(unfinished_mp4(str(fifo))), daemon=True)
    t.start()
    t.join(5)
    assert got == [None], "unfinished_mp4 blocked on a FIFO"
    assert unfinished_mp4(local_path("file:///tmp/a%00b.mp4")) is None


def test_the_walk_stops_at_the_index():
    """A fragmented recording has two boxes a second: the walk ends at moov, not the last fragment."""
    import tempfile
    with tempfile.NamedTemporaryFile(suffix=".mp4") as f:
        f.write(FTYP + box(b"moov", b"\0" * 64) + (box(b"moof", b"\0" * 16) + box(b"mdat", b"\0" * 32)) * 5000)
        f.flush()
        assert [k for k, _ in top_level_boxes(f.name)] == ["ftyp", "moov"]


@pytest.mark.parametrize("given,path", [
    ("/data/a.mp4", "/data/a.mp4"), ("file:///data/a.mp4", "/data/a.mp4"),
    ("file:///data/my%20clip.mp4", "/data/my clip.mp4"), ("rtsp://cam/stream", None), ("http://x/a.mp4", None),
])
def test_local_path(given, path):
    assert local_path(given) == path


@pytest.mark.parametrize("given,unfinished", [
    ("file://{cut}", True), ("{cut}", True), ("file://{whole}", False), ("rtsp://cam/1", False),
    ("file://[not-a-host/x.mp4", False), ("", False),
])
def test_unfinished_input_takes_what_users_give_and_never_raises(tmp_path, given, unfinished):
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(MEDIA.read_bytes()[: MEDIA.stat().st_size // 2])
    why = unfinished_input(given.format(cut=cut, whole=MEDIA))
    assert (why is not None) == unfinished, why
