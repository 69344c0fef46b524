"""``espostprocess`` (alias ``nvdspostprocess``): parses the output tensors an upstream nvinfer
attached (``output-tensor-meta=1``, ``network-type=100``) into object or classifier metadata, as
configured by DeepStream's postprocess YAML file (:mod:`estuary.infer.postprocess`)."""

from __future__ import annotations

import os

from estuary.errors import ConfigError, StreamError
from estuary.gst import Gst, batchmeta
from estuary.gst.chain import ChainElement
from estuary.gst.element import ElementBase, Prop
from estuary.elements.mux import BATCH_CAPS

__all__ = ["EsPostprocess"]


def _frame_size(batch):
    """(width, height) of each frame as nvinfer scaled it: its surface, else the muxer's size."""
    def size(frame):
        surf = batch.surface
        if surf is not None:
            try:
                s = surf.frame(frame.batch_id)
                return int(s.width), int(s.height)
            except (IndexError, LookupError, AttributeError):
                pass
        return (int(frame.pipeline_width or frame.source_frame_width),
                int(frame.pipeline_height or frame.source_frame_height))
    return size


class EsPostprocess(ElementBase, ChainElement, Gst.Element):
    """Turns nvinfer's tensor meta into detections or classifications (DeepStream's default
    postprocess library, built in)."""

    __gtype_name__ = "EstuaryPostprocess"
    FACTORY = "espostprocess"
    ALIASES = ("nvdspostprocess",)
    METADATA = ("Estuary post-processing", "Filter/Analyzer/Video",
                "Parses nvinfer's output tensors (output-tensor-meta) into object and classifier meta, "
                "configured by an nvdspostprocess YAML file", "Estuary")
    PAD_TEMPLATES = (("sink", Gst.PadDirection.SINK, Gst.PadPresence.ALWAYS, BATCH_CAPS, None),
                     ("src", Gst.PadDirection.SRC, Gst.PadPresence.ALWAYS, BATCH_CAPS, None))
    PROPS = (
        Prop("postprocesslib-config-file", str, "", "Path of the postprocess YAML config (property: "
             "and class-attrs-all: groups with nvinfer's keys)"),
        Prop("postprocesslib-name", str, "",
             "Accepted: DeepStream's default library (libpostprocess_impl.so) is built in; a custom "
             "C library cannot be loaded (write a Python parser: parse-bbox-func-name=module:function)"),
        Prop("gpu-id", int, 0, "Accepted; parsing runs on the CPU, where nvinfer's tensors are", 0, 2**32 - 1),
    )

    def __init__(self):
        super().__init__()
        self.init_settings()
        self.init_pads()
        self._post = None

    def do_change_state(self, transition):
        if transition == Gst.StateChange.NULL_TO_READY:
            self._load()
        if transition == Gst.StateChange.READY_TO_NULL:
            self._post = None
        return Gst.Element.do_change_state(self, transition)

    def _load(self):
        from estuary.infer.postprocess import Postprocessor, load_postprocess_config
        s = self.settings
        if not s.postprocesslib_config_file:
            raise ConfigError(f"{self.get_name()}: set postprocesslib-config-file to a postprocess YAML file",
                              key="postprocesslib-config-file")
        lib = os.path.basename(s.postprocesslib_name or "")
        if lib and "postprocess_impl" not in lib:
            self.gst_warning("postprocesslib-name=%s: custom libraries cannot be loaded, the built-in "
                             "post-processing runs", s.postprocesslib_name)
        cfg = load_postprocess_config(s.postprocesslib_config_file)
        self._post = Postprocessor(cfg)
        self.gst_debug("config %s: network-type %d, process-mode %d, gie-unique-id %d",
                       cfg.path, cfg.effective_network_type, cfg.process_mode, cfg.gie_unique_id)

    def process(self, buf):
        batch = batchmeta.get(buf)
        if batch is None:
            raise StreamError(f"{self.get_name()} needs batched buffers from nvstreammux and nvinfer upstream")
        if self._post is None:
            self._load()
        n = self._post.process_batch(batch, _frame_size(batch))
        if self.gst_enabled(Gst.DebugLevel.LOG):
            self.gst_log("batch of %d frames: %d tensor metas parsed", len(batch.frames), n)
        return [buf]
