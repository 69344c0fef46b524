"""estuary.codec.nal: which H.264 / H.265 access units are pictures nothing refers to
(skip-frames=decode_non_ref), read from NAL unit headers — table-driven, no GStreamer."""

import pytest

from estuary.codec.nal import H264, H265, is_non_reference, nal_headers, stream_layout


def annexb(*nals: bytes) -> bytes:
    return b"".join(b"\x00\x00\x00\x01" + n for n in nals)


def avc(*nals: bytes, size: int = 4) -> bytes:
    return b"".join(len(n).to_bytes(size, "big") + n for n in nals)


def h264(nal_type: int, ref_idc: int) -> bytes:
    return bytes([(ref_idc << 5) | nal_type, 0x88, 0x84])


def h265(nal_type: int, tid: int = 0) -> bytes:
    return bytes([nal_type << 1, tid + 1, 0xAF])


SPS, PPS, SEI = h264(7, 3), h264(8, 3), h264(6, 0)


@pytest.mark.parametrize("au, want", [
    (annexb(h264(1, 0)), True),                      # non-reference P/B slice
    (annexb(h264(1, 2)), False),                     # reference slice
    (annexb(SPS, PPS, h264(5, 3)), False),           # IDR: always a reference
    (annexb(SEI, h264(1, 0)), True),                 # an SEI (ref_idc 0) before the slice does not decide
    (annexb(SEI), False),                            # no slice at all
    (annexb(h264(1, 0), h264(1, 2)), True),          # the first slice decides
    (b"\x00\x00\x01" + h264(1, 0), True),            # three-byte start code
    (b"", False),
], ids=["nonref", "ref", "idr", "sei-then-nonref", "no-slice", "first-slice", "3-byte-start", "empty"])
def test_h264_byte_stream(au, want):
    assert is_non_reference(au, H264, 0) is want


@pytest.mark.parametrize("size", [1, 2, 4])
@pytest.mark.parametrize("ref_idc, want", [(0, True), (1, False)])
def test_h264_length_prefixed(size, ref_idc, want):
    assert is_non_reference(avc(SEI, h264(1, ref_idc), size=size), H264, size) is want


def test_a_length_past_the_end_stops_the_scan():
    au = (100).to_bytes(4, "big") + h264(1, 0)  # says 100 bytes, has 3
    assert list(nal_headers(au, 4)) == [] and is_non_reference(au, H264, 4) is False


@pytest.mark.parametrize("types, want", [
    ([(0, 0)], True),     # TRAIL_N, one sub-layer
    ([(1, 0)], False),    # TRAIL_R
    ([(19, 0)], False),   # IDR_W_RADL
    ([(8, 0)], True),     # RASL_N
    ([(9, 0)], False),    # RASL_R
    ([(14, 0)], True),    # RSV_VCL_N14
    ([(16, 0)], False),   # BLA (even, but above 14: a reference)
], ids=["TRAIL_N", "TRAIL_R", "IDR", "RASL_N", "RASL_R", "RSV_N14", "BLA"])
def test_h265_single_sub_layer(types, want):
    state = {}
    (t, tid), = types
    assert is_non_reference(annexb(bytes([32 << 1, 1]), h265(t, tid)), H265, 0, state) is want  # VPS first


def test_h265_non_reference_pictures_of_a_lower_sub_layer_are_kept():
    """A TRAIL_N picture in sub-layer 0 may be referred to by sub-layer 1's pictures: once the
    stream has shown sub-layer 1, only its own non-reference pictures are left out."""
    state = {}
    assert is_non_reference(annexb(h265(0, 0)), H265, 0, state) is True    # no higher sub-layer yet
    assert is_non_reference(annexb(h265(0, 1)), H265, 0, state) is True    # the top one: dropped
    assert is_non_reference(annexb(h265(0, 0)), H265, 0, state) is False   # below the top: kept
    assert is_non_reference(annexb(h265(0, 0)), H265, 0) is False          # no state: kept


@pytest.mark.parametrize("media, fmt, codec_data, want", [
    ("video/x-h264", "byte-stream", None, (H264, 0)),
    ("video/x-h264", None, None, (H264, 0)),
    ("video/x-h264", "avc", bytes([1, 0x64, 0, 0x1F, 0xFF]), (H264, 4)),
    ("video/x-h264", "avc", bytes([1, 0x64, 0, 0x1F, 0xFD]), (H264, 2)),
    ("video/x-h264", "avc3", None, (H264, 4)),
    ("video/x-h265", "hvc1", bytes(21) + bytes([0x0F]), (H265, 4)),
    ("video/x-h265", "hev1", bytes(21) + bytes([0x0C]), (H265, 1)),
    ("video/x-vp9", None, None, (None, 0)),
])
def test_stream_layout(media, fmt, codec_data, want):
    assert stream_layout(media, fmt, codec_data) == want
