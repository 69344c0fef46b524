"""``esconvert`` (alias ``nvvideoconvert``): colour conversion and scaling between Estuary
surfaces (``video/x-raw(memory:NVMM)``) and plain system-memory ``video/x-raw``.

* batched surfaces → batched surfaces: passed through (surfaces are RGBA already);
* batched surfaces → raw video: frame 0 of each batch (use it after the tiler or demuxer);
* raw or single-frame surfaces → surfaces or raw: converted (and scaled) per frame.

``src-crop``, ``flip-method`` and ``dest-crop`` (``estuary.surface.transform``) apply to the
per-frame conversions (a camera's frames before ``nvstreammux``, a tiled or demuxed frame on
its way to raw video: an encoder, a window); batched surfaces cannot be turned here, and say so.
"""

from __future__ import annotations

import numpy as np

from estuary.errors import StreamError
from estuary.gst import Gst, batchmeta, capi
from estuary.gst.chain import ChainElement
from estuary.gst.element import ElementBase, Prop
from estuary.gst.pool import FramePool
from estuary.gst.video import mapped_planes, video_format
from estuary.surface.convert import INPUT_FORMATS, SUPPORTED_FORMATS, frame_to_rgba, resize_into, rgba_to

__all__ = ["EsConvert", "ANY_VIDEO_CAPS"]

_FMTS = "{ " + ", ".join(SUPPORTED_FORMATS) + " }"
ANY_VIDEO_CAPS = (f"video/x-raw(memory:NVMM), format=(string){_FMTS}; "
                  f"video/x-raw, format=(string){_FMTS}")
# in: also the formats read but not written (a USB camera's YUY2 straight from v4l2src)
_IN_FMTS = "{ " + ", ".join(INPUT_FORMATS) + " }"
_SINK_CAPS = (f"video/x-raw(memory:NVMM), format=(string){_FMTS}; "
              f"video/x-raw, format=(string){_IN_FMTS}")


class EsConvert(ElementBase, ChainElement, Gst.Element):
    """Converts between surfaces and raw video, and between colour formats and sizes."""

    __gtype_name__ = "EstuaryConvert"
    FACTORY = "esconvert"
    ALIASES = ("nvvideoconvert", "nvvidconv")
    METADATA = ("Estuary video converter", "Filter/Converter/Video/Scaler",
                "Converts between Estuary surfaces (memory:NVMM) and raw video, formats and sizes",
                "Estuary")
    PAD_TEMPLATES = (("sink", Gst.PadDirection.SINK, Gst.PadPresence.ALWAYS, _SINK_CAPS, None),
                     ("src", Gst.PadDirection.SRC, Gst.PadPresence.ALWAYS, ANY_VIDEO_CAPS, None))
    PROPS = (
        Prop("nvbuf-memory-type", int, 0, "Surface memory type (NvBufSurfaceMemType)", 0, 6),
        Prop("gpu-id", int, 0, "GPU to use", 0, 64),
        Prop("interpolation-method", int, 1, "Accepted for compatibility", 0, 6),
        Prop("compute-hw", int, 0, "Accepted for compatibility", 0, 2),
        Prop("src-crop", str, "", "left:top:width:height of the input to convert (empty or 0:0:0:0: all)"),
        Prop("dest-crop", str, "", "left:top:width:height of the output to draw into, the rest black "
             "(empty or 0:0:0:0: all)"),
        Prop("flip-method", int, 0, "0 none, 1 counter-clockwise 90, 2 180, 3 clockwise 90, 4 horizontal, "
             "5 upper-right diagonal, 6 vertical, 7 upper-left diagonal", 0, 7),
    )

    def __init__(self):
        super().__init__()
        self.init_settings()
        self.init_pads()
        self._in = self._out = None
        self._mode = "pass"
        self._color = None  # the input's YUV matrix and range (parsed once per caps)
        self._direct = False  # frame mode: convert straight into the output buffer
        self._pool = None  # frame mode: output buffers, reused
        self._geom = None  # src-crop / flip-method / dest-crop (estuary.surface.transform.Geometry)
        self._geom_dirty = False  # one of them was set while playing: applied before the next frame
        self._good_geometry = None  # (src-crop, dest-crop, flip-method) last applied

    def do_change_state(self, transition):
        if transition == Gst.StateChange.NULL_TO_READY:
            # other elements' faults that the apps around this converter meet (a software
            # encoder after it; estuary/gst/fixups.py)
            from estuary.gst import fixups
            fixups.install(self)
        ret = Gst.Element.do_change_state(self, transition)
        if transition == Gst.StateChange.PAUSED_TO_READY:
            self._close_pool()  # after the pads are deactivated: no chain is using the pool
            self._in = self._out = None
        return ret

    def _close_pool(self):
        if self._pool is not None:
            self._pool.close()
            self._pool = None

    def property_changed(self, key: str, value) -> None:
        if key in ("src_crop", "dest_crop", "flip_method"):
            # applied by the streaming thread before its next frame (_regeometry): a caps change
            # (output_caps) runs there too, so the two never interleave
            self._geom_dirty = True

    def _regeometry(self) -> None:
        """src-crop, dest-crop or flip-method set while playing (a digital pan and zoom, a camera
        turned by its operator): applied from this frame on inside the negotiated output size
        (the picture is scaled into it, as into caps that fix a size). A value that cannot be
        applied is a WARNING, and the last good geometry stays, in the properties too."""
        self._geom_dirty = False
        try:
            geom = self._geometry() or None
        except StreamError as exc:
            return self._refuse_geometry(str(exc))
        mode, fin, fout = self._mode, self._in, self._out
        if mode == "batch-pass" or (mode == "pass" and fin.batch_size):
            if geom is not None:
                self._refuse_geometry("src-crop, dest-crop and flip-method apply to single frames, not to "
                                      "batched surfaces")
            return
        if geom is not None and fout.format in ("I420", "NV12") and (fout.width % 2 or fout.height % 2):
            return self._refuse_geometry(f"a {fout.width}x{fout.height} {fout.format} picture cannot be "
                                         "converted (odd size)")
        self._good_geometry = self._geometry_settings()
        if mode == "pass" and geom is not None:
            # from passing frames through to converting them: the output format is the input's
            # (one of those written: the caps were equal)
            self._color = fin.color
            if self._pool is None:
                self._pool = FramePool(fout.size)
            self._mode = "frame"
        self._direct = mode != "batch-to-frame" and _direct_ok(fin, fout, geom)
        self._geom = geom

    def _geometry_settings(self) -> tuple:
        st = self.settings
        return st.src_crop, st.dest_crop, st.flip_method

    def _refuse_geometry(self, why: str) -> None:
        """A geometry set while playing that cannot be applied: the last good one goes back into
        the properties (a bad one left there would end the pipeline at the next caps change)."""
        if self._good_geometry is not None:
            with self.settings.lock:
                self.settings.src_crop, self.settings.dest_crop, self.settings.flip_method = self._good_geometry
        self.post_warning(f"{why}; the last geometry stays")

    def _geometry(self):
        from estuary.surface.transform import Geometry, parse_crop
        st = self.settings
        try:
            return Geometry(parse_crop(st.src_crop, "src-crop"), int(st.flip_method),
                            parse_crop(st.dest_crop, "dest-crop"))
        except ValueError as exc:
            raise StreamError(f"{self.get_name()}: {exc}") from None

    def output_caps(self, caps):
        fin = video_format(caps)
        peer = self.srcpad.peer_query_caps(None)
        geom = self._geometry()
        if geom and fin.nvmm and fin.batch_size and (fin.batch_size > 1 or _surfaces_only(peer)):
            # a batch of one (the tiler's or nvstreamdemux's output) is turned on its way to raw
            # video (an encoder, a window); batched surfaces are not turned here
            raise StreamError(f"{self.get_name()}: src-crop, dest-crop and flip-method apply to single frames: "
                              "put this nvvideoconvert before nvstreammux (each camera's frames), or after "
                              "the tiler or nvstreamdemux with raw video out (video/x-raw), not on batched "
                              "surfaces (memory:NVMM)")
        # the picture's size out when downstream leaves it open: turned with flip-method
        ow, oh = geom.default_size(fin.width, fin.height) if geom else (fin.width, fin.height)
        if geom:  # the caps asked for first: the input's, at the turned size
            import re
            text = re.sub(r"width=\(int\)\d+", f"width=(int){ow}", caps.to_string())
            text = re.sub(r"height=\(int\)\d+", f"height=(int){oh}", text)
            if geom.method in (1, 3, 5, 7):  # a quarter turn or a transpose: non-square pixels
                # turn too (an anamorphic 4:3 pixel becomes 3:4)
                text = re.sub(r"pixel-aspect-ratio=\(fraction\)(\d+)/(\d+)",
                              lambda m: f"pixel-aspect-ratio=(fraction){m.group(2)}/{m.group(1)}", text)
            caps = Gst.Caps.from_string(text)
        tmpl = self.srcpad.get_pad_template_caps()
        allowed = peer.intersect(tmpl) if peer is not None else tmpl
        if allowed.is_empty():
            raise StreamError(f"downstream accepts none of {tmpl.to_string()}")
        out = None
        if allowed.can_intersect(caps):
            out = caps
        else:
            fmts = [fin.format, "RGBA"] + [f for f in SUPPORTED_FORMATS if f not in (fin.format, "RGBA")]
            for nvmm in ((fin.nvmm, not fin.nvmm)):
                for fmt in fmts:
                    feature = "(memory:NVMM)" if nvmm else ""
                    extra = f", batch-size=(int){fin.batch_size}" if nvmm and fin.batch_size else ""
                    cand = Gst.Caps.from_string(f"video/x-raw{feature}, format=(string){fmt}{extra}")
                    inter = allowed.intersect(cand)
                    if inter.is_empty():
                        continue
                    st = inter.get_structure(0).copy()
                    w, h = ow, oh
                    if st.has_field("width"):
                        st.fixate_field_nearest_int("width", ow)
                        w = st.get_int("width")[1]
                    if st.has_field("height"):
                        st.fixate_field_nearest_int("height", oh)
                        h = st.get_int("height")[1]
                    fr = ""
                    if fin.fps_n > 0:
                        n_, d_ = fin.fps_n, fin.fps_d
                        if st.has_field("framerate"):
                            st.fixate_field_nearest_fraction("framerate", fin.fps_n, fin.fps_d)
                            _, n_, d_ = st.get_fraction("framerate")
                        fr = f", framerate=(fraction){n_}/{d_}"
                    out = Gst.Caps.from_string(
                        f"video/x-raw{feature}, format=(string){fmt}, width=(int){w}, "
                        f"height=(int){h}{fr}{extra}")
                    # the input's pixel aspect ratio (turned above with the picture) goes on
                    # where downstream takes it (an encoder's input: players show it)
                    ok, pn, pd = caps.get_structure(0).get_fraction("pixel-aspect-ratio")
                    if ok and (pn, pd) != (1, 1) and pn > 0 and pd > 0:
                        with_par = Gst.Caps.from_string(out.to_string() + f", pixel-aspect-ratio=(fraction){pn}/{pd}")
                        if allowed.can_intersect(with_par):
                            out = with_par
                    break
                if out is not None:
                    break
        if out is None:
            raise StreamError(f"cannot convert {caps.to_string()} to any of {allowed.to_string()}")
        fout = video_format(out)
        self._in, self._out = fin, fout
        self._geom = geom or None
        self._geom_dirty = False  # (read just now)
        self._good_geometry = self._geometry_settings()
        if caps.is_equal(out) and not geom:
            self._mode = "pass"
        elif fin.nvmm and fin.batch_size:
            same_frame = fout.format == "RGBA" and (fout.width, fout.height) == (fin.width, fin.height)
            self._mode = "batch-pass" if fout.nvmm and same_frame else "batch-to-frame"
        else:
            self._mode = "frame"
        self._close_pool()
        if self._mode == "frame":
            self._color = fin.color
            # RGBA out at the input's size with tight rows: the conversion writes the output
            # buffer itself (no intermediate frame, no second copy)
            self._direct = _direct_ok(fin, fout, geom)
            self._pool = FramePool(fout.size)
        return out

    def process(self, buf):
        if self._geom_dirty and self._out is not None:
            self._regeometry()
        mode = self._mode
        if mode in ("pass", "batch-pass"):
            return [buf]
        if mode == "batch-to-frame":
            batch = batchmeta.get(buf)
            if batch is None or batch.surface is None or not batch.surface.frames:
                raise StreamError("batched caps but no batch meta/surface on the buffer")
            f0 = batch.surface.frames[0]
            if f0.device == "cuda":
                out = self._convert_rgba(f0.copy())  # the one download: to system-memory video
            else:
                with f0.pixels(write=False) as rgba:
                    out = self._convert_rgba(rgba)
            out.pts, out.dts, out.duration = buf.pts, buf.dts, buf.duration
            batchmeta.attach(out, batch)
            return [out]
        fi = self._in
        if self._direct:
            out = self._pool.acquire()
            fo = self._out
            with capi.map_buffer(hash(out), write=True) as info, mapped_planes(buf, fi) as planes:
                dst = capi.as_array(info)[: fo.height * fo.width * 4].reshape(fo.height, fo.width, 4)
                frame_to_rgba(planes, fi.format, out=dst, colorimetry=self._color, chroma_site=fi.chroma_site)
        else:
            with mapped_planes(buf, fi) as planes:
                rgba = frame_to_rgba(planes, fi.format, colorimetry=self._color, chroma_site=fi.chroma_site)
                out = self._convert_rgba(rgba)
        out.pts, out.dts, out.duration = buf.pts, buf.dts, buf.duration
        src_meta = batchmeta.get(buf)
        if src_meta is not None:
            batchmeta.attach(out, src_meta)
        return [out]

    def _convert_rgba(self, rgba: np.ndarray) -> Gst.Buffer:
        fo, geom = self._out, self._geom  # (read once: a property set while playing swaps it)
        if geom is not None:
            placed = np.empty((fo.height, fo.width, 4), np.uint8)
            geom.apply(rgba, placed)
            rgba = placed
        elif rgba.shape[:2] != (fo.height, fo.width):
            scaled = np.empty((fo.height, fo.width, 4), np.uint8)
            resize_into(rgba, scaled)
            rgba = scaled
        data = rgba_to(np.ascontiguousarray(rgba), fo.format)
        out = self._pool.acquire() if self._pool is not None else Gst.Buffer.new_allocate(None, fo.size, None)
        with capi.map_buffer(hash(out), write=True) as info:
            dst = capi.as_array(info)
            planes = _pack_planes(data, fo)
            _write_planes(dst, planes, fo)
        return out


def _direct_ok(fin, fout, geom) -> bool:
    """Whether a frame converts straight into the output buffer: RGBA out at the input's size
    with tight rows and nothing to crop or turn."""
    return (geom is None and fout.format == "RGBA" and (fout.width, fout.height) == (fin.width, fin.height)
            and fout.strides[0] == fout.width * 4 and fout.offsets[0] == 0)


def _surfaces_only(peer) -> bool:
    """Whether downstream (its caps ``peer``) takes only surfaces (memory:NVMM), no raw video."""
    return peer is not None and not peer.can_intersect(Gst.Caps.from_string("video/x-raw"))


def _pack_planes(data: np.ndarray, fo):
    """Split a tightly packed converted frame into its planes."""
    h, w = fo.height, fo.width
    if fo.format in ("I420",):
        flat = data.reshape(-1)
        cs = (h // 2) * (w // 2)
        return [flat[: h * w].reshape(h, w), flat[h * w: h * w + cs].reshape(h // 2, w // 2),
                flat[h * w + cs: h * w + 2 * cs].reshape(h // 2, w // 2)]
    if fo.format == "NV12":
        flat = data.reshape(-1)
        return [flat[: h * w].reshape(h, w), flat[h * w:].reshape(h // 2, w)]
    return [data.reshape(h, -1)]


def _write_planes(dst: np.ndarray, planes, fo) -> None:
    for i, p in enumerate(planes):
        rows = p.shape[0]
        p2 = p.reshape(rows, -1)
        stride, off = fo.strides[i], fo.offsets[i]
        view = np.lib.stride_tricks.as_strided(dst[off:], shape=(rows, p2.shape[1]), strides=(stride, 1))
        view[...] = p2
