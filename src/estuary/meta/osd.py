"""On-screen-display parameter structs (``nvll_osd_struct``): colours, fonts, rects, lines, ..."""

from __future__ import annotations

import numpy as np

from estuary.meta.enums import NvOSD_Arrow_Head_Direction, NvOSD_Mode
from estuary.meta.struct import Embedded, Items, Pointer, Scalar, Struct, Text

__all__ = [
    "NvBbox_Coords", "NvOSD_ColorParams", "NvOSD_FontParams", "NvOSD_TextParams",
    "NvOSD_Color_info", "NvOSD_RectParams", "NvOSD_LineParams", "NvOSD_ArrowParams",
    "NvOSD_CircleParams", "NvOSD_MaskParams", "NvOSD_FrameTextParams", "NvOSD_FrameRectParams",
    "NvOSD_FrameLineParams", "NvOSD_FrameArrowParams", "NvOSD_FrameCircleParams",
]


class NvBbox_Coords(Struct):
    """A box as left, top, width, height (float pixels)."""

    left = Scalar(0.0)
    top = Scalar(0.0)
    width = Scalar(0.0)
    height = Scalar(0.0)


class NvOSD_ColorParams(Struct):
    """An RGBA colour, each channel a float in 0..1."""

    red = Scalar(0.0)
    green = Scalar(0.0)
    blue = Scalar(0.0)
    alpha = Scalar(0.0)

    def set(self, red: float, green: float, blue: float, alpha: float) -> None:
        """Set all four channels in one call."""
        self.red, self.green, self.blue, self.alpha = red, green, blue, alpha

    def as_tuple(self) -> tuple[float, float, float, float]:
        """(red, green, blue, alpha)."""
        return (self.red, self.green, self.blue, self.alpha)


class NvOSD_FontParams(Struct):
    """Font of a label. ``font_name_str`` is the font (``font_name``, an interned ``char*`` in pyds)."""

    font_name = Text("intern")
    font_size = Scalar(0)
    font_color = Embedded(NvOSD_ColorParams)


class NvOSD_TextParams(Struct):
    """A text label: ``display_text_str`` is the text (``display_text``, a ``char*`` in pyds)."""

    display_text = Text("free")
    x_offset = Scalar(0)
    y_offset = Scalar(0)
    font_params = Embedded(NvOSD_FontParams)
    set_bg_clr = Scalar(0)
    text_bg_clr = Embedded(NvOSD_ColorParams)


class NvOSD_Color_info(Struct):
    """A colour with an id."""

    id = Scalar(0)
    color = Embedded(NvOSD_ColorParams)


class NvOSD_RectParams(Struct):
    """A rectangle to draw: border and optional fill."""

    left = Scalar(0.0)
    top = Scalar(0.0)
    width = Scalar(0.0)
    height = Scalar(0.0)
    border_width = Scalar(0)
    border_color = Embedded(NvOSD_ColorParams)
    has_bg_color = Scalar(0)
    reserved = Scalar(0)
    bg_color = Embedded(NvOSD_ColorParams)
    has_color_info = Scalar(0)
    color_id = Scalar(0)


class NvOSD_LineParams(Struct):
    """A line segment."""

    x1 = Scalar(0)
    y1 = Scalar(0)
    x2 = Scalar(0)
    y2 = Scalar(0)
    line_width = Scalar(0)
    line_color = Embedded(NvOSD_ColorParams)


class NvOSD_ArrowParams(Struct):
    """An arrow; ``arrow_head`` says at which end(s) the head is."""

    x1 = Scalar(0)
    y1 = Scalar(0)
    x2 = Scalar(0)
    y2 = Scalar(0)
    arrow_width = Scalar(0)
    arrow_head = Scalar(NvOSD_Arrow_Head_Direction.START_HEAD)
    arrow_color = Embedded(NvOSD_ColorParams)
    reserved = Scalar(0)


class NvOSD_CircleParams(Struct):
    """A circle, optionally filled."""

    xc = Scalar(0)
    yc = Scalar(0)
    radius = Scalar(0)
    circle_color = Embedded(NvOSD_ColorParams)
    has_bg_color = Scalar(0)
    bg_color = Embedded(NvOSD_ColorParams)
    reserved = Scalar(0)


class NvOSD_MaskParams(Struct):
    """An instance mask (float32 width×height at the model's resolution)."""

    data = Pointer()
    size = Scalar(0)
    threshold = Scalar(0.0)
    width = Scalar(0)
    height = Scalar(0)

    def get_mask_array(self) -> np.ndarray:
        """Zero-copy float32 1-D view of the mask (``size / 4`` elements)."""
        if self.data is None:
            return np.zeros(0, np.float32)
        return self.data[: self.size // 4]

    def alloc_mask_array(self) -> np.ndarray:
        """Allocate a zeroed width×height mask, set ``size`` and return the view."""
        self.data = np.zeros(int(self.width) * int(self.height), np.float32)
        self.size = self.data.nbytes
        return self.data


class _FrameParams(Struct):
    buf_ptr = Pointer()
    mode = Scalar(NvOSD_Mode.MODE_CPU)


class NvOSD_FrameTextParams(_FrameParams):
    num_strings = Scalar(0)
    text_params_list = Items()


class NvOSD_FrameRectParams(_FrameParams):
    num_rects = Scalar(0)
    rect_params_list = Items()


class NvOSD_FrameLineParams(_FrameParams):
    num_lines = Scalar(0)
    line_params_list = Items()


class NvOSD_FrameArrowParams(_FrameParams):
    num_arrows = Scalar(0)
    arrow_params_list = Items()


class NvOSD_FrameCircleParams(_FrameParams):
    num_circles = Scalar(0)
    circle_params_list = Items()
