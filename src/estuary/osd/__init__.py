"""On-screen display, engine-free: draws object boxes/labels/masks and display meta on RGBA frames."""

from estuary.osd.draw import DrawOptions, Drawer

__all__ = ["Drawer", "DrawOptions"]
