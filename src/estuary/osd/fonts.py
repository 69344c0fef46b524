"""Text rendering with real fonts (FreeType through Pillow) and a glyph-run cache.

Font names as DeepStream apps give them ("Serif", "Sans", "Arial", "Mono") map to the DejaVu
families when installed, else to Pillow's bundled scalable font."""

from __future__ import annotations

import functools
import os

import numpy as np

__all__ = ["font_for", "text_mask"]

_DIRS = ("/usr/share/fonts/truetype/dejavu", "/usr/share/fonts/dejavu", "/usr/share/fonts/TTF")
_FAMILIES = {"serif": "DejaVuSerif.ttf", "times": "DejaVuSerif.ttf", "sans": "DejaVuSans.ttf",
             "arial": "DejaVuSans.ttf", "helvetica": "DejaVuSans.ttf", "mono": "DejaVuSansMono.ttf",
             "monospace": "DejaVuSansMono.ttf", "courier": "DejaVuSansMono.ttf"}


@functools.lru_cache(maxsize=64)
def font_for(name: str | None, size: int):
    """A Pillow FreeType font for a DeepStream font name and a pixel size."""
    from PIL import ImageFont
    size = max(int(size), 6)
    key = (name or "sans").split()[0].lower()
    fname = _FAMILIES.get(key, "DejaVuSans.ttf")
    for d in _DIRS:
        path = os.path.join(d, fname)
        if os.path.exists(path):
            return ImageFont.truetype(path, size)
    return ImageFont.load_default(size=size)


@functools.lru_cache(maxsize=4096)
def text_mask(text: str, name: str | None, size: int) -> np.ndarray:
    """Coverage mask (H, W) float32 in 0..1 of ``text`` rendered in a font (cached)."""
    from PIL import Image, ImageDraw
    font = font_for(name, size)
    l, t, r, b = font.getbbox(text or " ")
    w, h = max(r - min(l, 0), 1), max(b - min(t, 0), 1)
    img = Image.new("L", (w + 2, h + 2), 0)
    ImageDraw.Draw(img).text((1 - min(l, 0), 1 - min(t, 0)), text, fill=255, font=font)
    m = np.asarray(img, np.float32) / 255.0
    m.setflags(write=False)
    return m
