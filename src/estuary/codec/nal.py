"""Which pictures of an H.264 / H.265 stream nothing else refers to, read from the NAL unit
headers of each access unit (one buffer from a parser: ``alignment=au``) — what DeepStream's
``skip-frames=decode_non_ref`` leaves undecoded. Engine-free: bytes in, answers out.

H.264 (ITU-T H.264 7.4.1): ``nal_ref_idc`` 0 on a slice means the picture is not used for
reference. H.265 (ITU-T H.265 7.4.2.2): the VCL types TRAIL_N, TSA_N, STSA_N, RADL_N, RASL_N and
the reserved RSV_VCL_N10/12/14 (even types up to 14) are *sub-layer* non-reference pictures:
pictures of a higher temporal sub-layer may still refer to them, so they are only left out at
the highest sub-layer the stream has shown.
"""

from __future__ import annotations

from collections.abc import Iterator

__all__ = ["H264", "H265", "stream_layout", "nal_headers", "is_non_reference"]

H264, H265 = "h264", "h265"


def stream_layout(media_type: str, stream_format: str | None, codec_data: bytes | None) -> tuple[str | None, int]:
    """(codec, NAL length size) of a stream from its caps' name, ``stream-format`` and
    ``codec_data``: length size 0 for Annex B byte-stream (start codes), else the size of each
    NAL unit's length prefix (avc/avc3: ``codec_data[4] & 3`` + 1; hvc1/hev1: ``codec_data[21] &
    3`` + 1; 4 where codec_data is short). (None, 0) for other codecs."""
    codec = {"video/x-h264": H264, "video/x-h265": H265}.get(media_type)
    if codec is None:
        return None, 0
    if stream_format in (None, "byte-stream"):
        return codec, 0
    at = 4 if codec == H264 else 21
    if codec_data is not None and len(codec_data) > at:
        return codec, (codec_data[at] & 3) + 1
    return codec, 4


def nal_headers(data: bytes, length_size: int) -> Iterator[int]:
    """Offsets of the first header byte of each NAL unit in ``data`` (``length_size`` 0: Annex B
    start codes; else length-prefixed). Stops at a length that runs past the end."""
    n = len(data)
    if length_size == 0:
        i = data.find(b"\x00\x00\x01")
        while i >= 0 and i + 3 < n:
            yield i + 3
            i = data.find(b"\x00\x00\x01", i + 3)
        return
    pos = 0
    while pos + length_size < n:
        size = int.from_bytes(data[pos: pos + length_size], "big")
        if size == 0 or pos + length_size + size > n:
            return
        yield pos + length_size
        pos += length_size + size


def is_non_reference(data: bytes, codec: str, length_size: int, state: dict | None = None) -> bool:
    """Whether the access unit in ``data`` is a picture no later picture refers to, decided by its
    first VCL NAL unit. ``state`` (a dict kept per stream) holds the highest H.265 temporal
    sub-layer seen so far; without it an H.265 sub-layer non-reference picture is kept."""
    for off in nal_headers(data, length_size):
        b = data[off]
        if codec == H264:
            t = b & 0x1F
            if 1 <= t <= 5:  # a slice: IDR (5) is a reference picture by definition
                return t != 5 and (b >> 5) & 3 == 0
        else:
            if off + 1 >= len(data):
                return False
            t, tid = (b >> 1) & 0x3F, (data[off + 1] & 7) - 1
            if t <= 31:  # VCL
                if state is None:
                    return False
                top = state["max_tid"] = max(state.get("max_tid", 0), tid)
                return t <= 14 and t % 2 == 0 and tid == top
    return False
