#!/usr/bin/env python3
"""deepstream-ssd-parser: nvinferserver with post-processing off; the SSD output tensors are
parsed in Python, objects added to the metadata, and the result encoded to out.mp4.

Estuary: the model is the bundled YOLOv3-tiny with an SSD-style output head (TF Object Detection
API layout), served from a local Triton-style repository; H.264 instead of avenc_mpeg4."""

import os
import sys

sys.path.append(os.path.dirname(os.path.abspath(__file__)))  # Estuary: '../' in DeepStream

import gi
gi.require_version('Gst', '1.0')
from gi.repository import GObject, Gst

from common.bus_call import bus_call

import pyds

CLASS_NB = 91
ACCURACY_ALL_CLASS = 0.5
UNTRACKED_OBJECT_ID = 0xffffffffffffffff
IMAGE_HEIGHT = 1080
IMAGE_WIDTH = 1920
MIN_BOX_WIDTH = 32
MIN_BOX_HEIGHT = 32
TOP_K = 20
IOU_THRESHOLD = 0.3
OUTPUT_VIDEO_NAME = "./out.mp4"


class BoxSizeParam:
    def __init__(self, screen_height, screen_width, min_box_height, min_box_width):
        self.screen_height = screen_height
        self.screen_width = screen_width
        self.min_box_height = min_box_height
        self.min_box_width = min_box_width

    def is_percentage_sufficiant(self, percentage_height, percentage_width):
        return (percentage_height * self.screen_height > self.min_box_height and
                percentage_width * self.screen_width > self.min_box_width)


class NmsParam:
    def __init__(self, top_k=20, iou_threshold=0.4):
        self.top_k = top_k
        self.iou_threshold = iou_threshold


class DetectionParam:
    def __init__(self, class_nb=0, threshold=0.5):
        self.class_nb = class_nb
        self.classes_thresholds = [threshold] * class_nb


def clip_1d_elm(elm):
    return max(0.0, min(1.0, elm))


def layer_finder(output_layer_info, name):
    for layer in output_layer_info:
        if layer.dataType == 0 and layer.layerName == name:
            return layer
    return None


def make_nodi(index, layers):
    res = pyds.NvDsInferObjectDetectionInfo()
    res.detectionConfidence = pyds.get_detections(layers.scores.buffer, index)
    res.classId = int(pyds.get_detections(layers.classes.buffer, index))
    box = [clip_1d_elm(pyds.get_detections(layers.boxes.buffer, index * 4 + k)) for k in range(4)]
    res.top, res.left = box[0], box[1]
    res.height, res.width = box[2] - box[0], box[3] - box[1]
    return res


class OutputLayers:
    pass


def iou(a, b):
    ax2, ay2 = a.left + a.width, a.top + a.height
    bx2, by2 = b.left + b.width, b.top + b.height
    iw = max(0.0, min(ax2, bx2) - max(a.left, b.left))
    ih = max(0.0, min(ay2, by2) - max(a.top, b.top))
    inter = iw * ih
    union = a.width * a.height + b.width * b.height - inter
    return inter / union if union > 0 else 0.0


def cluster_and_fill(objects, nms_param):
    by_class = {}
    for o in objects:
        by_class.setdefault(o.classId, []).append(o)
    kept = []
    for cls_objs in by_class.values():
        cls_objs.sort(key=lambda o: o.detectionConfidence, reverse=True)
        chosen = []
        for o in cls_objs:
            if all(iou(o, k) <= nms_param.iou_threshold for k in chosen):
                chosen.append(o)
        kept.extend(chosen)
    kept.sort(key=lambda o: o.detectionConfidence, reverse=True)
    return kept[: nms_param.top_k]


def nvds_infer_parse_custom_tf_ssd(output_layer_info, detection_param, box_size_param, nms_param=NmsParam()):
    layers = OutputLayers()
    layers.num_detection = layer_finder(output_layer_info, "num_detections")
    layers.scores = layer_finder(output_layer_info, "detection_scores")
    layers.classes = layer_finder(output_layer_info, "detection_classes")
    layers.boxes = layer_finder(output_layer_info, "detection_boxes")
    if not all([layers.num_detection, layers.scores, layers.classes, layers.boxes]):
        sys.stderr.write("ERROR: some layers missing in output tensors\n")
        return []
    num_detection = int(pyds.get_detections(layers.num_detection.buffer, 0))
    num_detection = max(0, min(num_detection, layers.classes.dims.d[0]))
    object_list = []
    for i in range(num_detection):
        obj = make_nodi(i, layers)
        if obj.classId >= detection_param.class_nb:
            continue
        if obj.detectionConfidence < detection_param.classes_thresholds[obj.classId]:
            continue
        if not box_size_param.is_percentage_sufficiant(obj.height, obj.width):
            continue
        object_list.append(obj)
    return cluster_and_fill(object_list, nms_param)


def add_obj_meta_to_frame(frame_object, batch_meta, frame_meta, label_names):
    obj_meta = pyds.nvds_acquire_obj_meta_from_pool(batch_meta)
    rect_params = obj_meta.rect_params
    rect_params.left = int(IMAGE_WIDTH * frame_object.left)
    rect_params.top = int(IMAGE_HEIGHT * frame_object.top)
    rect_params.width = int(IMAGE_WIDTH * frame_object.width)
    rect_params.height = int(IMAGE_HEIGHT * frame_object.height)
    rect_params.border_width = 3
    rect_params.border_color.set(1, 0, 0, 1)
    rect_params.has_bg_color = 0
    obj_meta.confidence = frame_object.detectionConfidence
    obj_meta.class_id = frame_object.classId
    obj_meta.object_id = UNTRACKED_OBJECT_ID
    lbl_id = frame_object.classId
    if lbl_id >= len(label_names):
        lbl_id = 0
    obj_meta.obj_label = label_names[lbl_id]
    txt_params = obj_meta.text_params
    if txt_params.display_text:
        pyds.free_buffer(txt_params.display_text)
    txt_params.x_offset = int(rect_params.left)
    txt_params.y_offset = max(0, int(rect_params.top) - 10)
    txt_params.display_text = label_names[lbl_id] + " " + "{:04.3f}".format(frame_object.detectionConfidence)
    txt_params.font_params.font_name = "Serif"
    txt_params.font_params.font_size = 10
    txt_params.font_params.font_color.set(1.0, 1.0, 1.0, 1.0)
    txt_params.set_bg_clr = 1
    txt_params.text_bg_clr.set(0.0, 0.0, 0.0, 1.0)
    pyds.nvds_add_obj_meta_to_frame(frame_meta, obj_meta, None)


def get_label_names_from_file(filepath):
    with open(filepath, "r") as f:
        return f.read().split("\n")


def pgie_src_pad_buffer_probe(pad, info, u_data):
    gst_buffer = info.get_buffer()
    if not gst_buffer:
        print("Unable to get GstBuffer ")
        return
    batch_meta = pyds.gst_buffer_get_nvds_batch_meta(hash(gst_buffer))
    l_frame = batch_meta.frame_meta_list
    detection_params = DetectionParam(CLASS_NB, ACCURACY_ALL_CLASS)
    box_size_param = BoxSizeParam(IMAGE_HEIGHT, IMAGE_WIDTH, MIN_BOX_WIDTH, MIN_BOX_HEIGHT)
    nms_param = NmsParam(TOP_K, IOU_THRESHOLD)
    from estuary.apps.samples import config_dir  # Estuary: labels from the bundled-model folder
    label_names = get_label_names_from_file(os.path.join(config_dir(), "labels.txt"))
    while l_frame is not None:
        try:
            frame_meta = pyds.NvDsFrameMeta.cast(l_frame.data)
        except StopIteration:
            break
        l_user = frame_meta.frame_user_meta_list
        while l_user is not None:
            try:
                user_meta = pyds.NvDsUserMeta.cast(l_user.data)
            except StopIteration:
                break
            if user_meta.base_meta.meta_type != pyds.NvDsMetaType.NVDSINFER_TENSOR_OUTPUT_META:
                continue  # kept from the original: another user meta type here would loop forever
            tensor_meta = pyds.NvDsInferTensorMeta.cast(user_meta.user_meta_data)
            layers_info = []
            for i in range(tensor_meta.num_output_layers):
                layer = pyds.get_nvds_LayerInfo(tensor_meta, i)
                layers_info.append(layer)
            frame_object_list = nvds_infer_parse_custom_tf_ssd(layers_info, detection_params, box_size_param,
                                                               nms_param)
            try:
                l_user = l_user.next
            except StopIteration:
                break
            for frame_object in frame_object_list:
                add_obj_meta_to_frame(frame_object, batch_meta, frame_meta, label_names)
        try:
            l_frame = l_frame.next
        except StopIteration:
            break
    return Gst.PadProbeReturn.OK


def osd_sink_pad_buffer_probe(pad, info, u_data):
    frame_number = 0
    obj_counter = {}
    gst_buffer = info.get_buffer()
    batch_meta = pyds.gst_buffer_get_nvds_batch_meta(hash(gst_buffer))
    l_frame = batch_meta.frame_meta_list
    while l_frame is not None:
        frame_meta = pyds.NvDsFrameMeta.cast(l_frame.data)
        frame_number = frame_meta.frame_num
        num_rects = frame_meta.num_obj_meta
        l_obj = frame_meta.obj_meta_list
        while l_obj is not None:
            obj_meta = pyds.NvDsObjectMeta.cast(l_obj.data)
            obj_counter[obj_meta.class_id] = obj_counter.get(obj_meta.class_id, 0) + 1
            l_obj = l_obj.next
        display_meta = pyds.nvds_acquire_display_meta_from_pool(batch_meta)
        display_meta.num_labels = 1
        py_nvosd_text_params = display_meta.text_params[0]
        # labels.txt: "car" is line 3 and "person" line 1 (1-based class ids)
        py_nvosd_text_params.display_text = "Frame Number={} Number of Objects={} Vehicle_count={} Person_count={}".format(
            frame_number, num_rects, obj_counter.get(3, 0), obj_counter.get(1, 0))
        py_nvosd_text_params.x_offset = 10
        py_nvosd_text_params.y_offset = 12
        py_nvosd_text_params.font_params.font_name = "Serif"
        py_nvosd_text_params.font_params.font_size = 10
        py_nvosd_text_params.font_params.font_color.set(1.0, 1.0, 1.0, 1.0)
        py_nvosd_text_params.set_bg_clr = 1
        py_nvosd_text_params.text_bg_clr.set(0.0, 0.0, 0.0, 1.0)
        print(pyds.get_string(py_nvosd_text_params.display_text))
        pyds.nvds_add_display_meta_to_frame(frame_meta, display_meta)
        l_frame = l_frame.next
    return Gst.PadProbeReturn.OK


def main(args):
    if len(args) != 2:
        sys.stderr.write("usage: %s <media file or uri>\n" % args[0])
        sys.exit(1)
    GObject.threads_init()
    Gst.init(None)
    from estuary.apps.samples import config_dir  # Estuary: configs from the bundled-model folder
    from estuary.elements.sinks import encoder_name
    pipeline = Gst.Pipeline()
    source = Gst.ElementFactory.make("filesrc", "file-source")
    h264parser = Gst.ElementFactory.make("h264parse", "h264-parser")
    decoder = Gst.ElementFactory.make("nvv4l2decoder", "nvv4l2-decoder")
    streammux = Gst.ElementFactory.make("nvstreammux", "Stream-muxer")
    pgie = Gst.ElementFactory.make("nvinferserver", "primary-inference")
    nvvidconv = Gst.ElementFactory.make("nvvideoconvert", "convertor")
    nvosd = Gst.ElementFactory.make("nvdsosd", "onscreendisplay")
    queue = Gst.ElementFactory.make("queue", "queue")
    nvvidconv2 = Gst.ElementFactory.make("nvvideoconvert", "convertor2")
    capsfilter = Gst.ElementFactory.make("capsfilter", "capsfilter")
    capsfilter.set_property("caps", Gst.Caps.from_string("video/x-raw, format=I420"))
    encoder = Gst.ElementFactory.make(encoder_name(), "encoder")  # Estuary: H.264, see the docstring
    if encoder.find_property("speed-preset") is not None:
        encoder.set_property("speed-preset", "ultrafast")
    codeparser = Gst.ElementFactory.make("h264parse", "h264-parser2")
    container = Gst.ElementFactory.make("qtmux", "qtmux")
    sink = Gst.ElementFactory.make("filesink", "filesink")
    sink.set_property("location", OUTPUT_VIDEO_NAME)
    sink.set_property("sync", 0)
    sink.set_property("async", 0)
    source.set_property("location", args[1])
    streammux.set_property("width", IMAGE_WIDTH)
    streammux.set_property("height", IMAGE_HEIGHT)
    streammux.set_property("batch-size", 1)
    streammux.set_property("batched-push-timeout", 4000000)
    pgie.set_property("config-file-path", os.path.join(config_dir(), "dstest_ssd_nopostprocess.txt"))
    chain = [source, h264parser, decoder]
    for el in chain + [streammux, pgie, nvvidconv, nvosd, queue, nvvidconv2, capsfilter, encoder, codeparser,
                       container, sink]:
        pipeline.add(el)
    source.link(h264parser)
    h264parser.link(decoder)
    decoder.get_static_pad("src").link(streammux.get_request_pad("sink_0"))
    streammux.link(pgie)
    pgie.link(nvvidconv)
    nvvidconv.link(nvosd)
    nvosd.link(queue)
    queue.link(nvvidconv2)
    nvvidconv2.link(capsfilter)
    capsfilter.link(encoder)
    encoder.link(codeparser)
    codeparser.link(container)
    container.link(sink)
    loop = GObject.MainLoop()
    bus = pipeline.get_bus()
    bus.add_signal_watch()
    bus.connect("message", bus_call, loop)
    pgie.get_static_pad("src").add_probe(Gst.PadProbeType.BUFFER, pgie_src_pad_buffer_probe, 0)
    nvosd.get_static_pad("sink").add_probe(Gst.PadProbeType.BUFFER, osd_sink_pad_buffer_probe, 0)
    print("Starting pipeline \n")
    pipeline.set_state(Gst.State.PLAYING)
    try:
        loop.run()
    except BaseException:
        pass
    pipeline.set_state(Gst.State.NULL)


if __name__ == '__main__':
    sys.exit(main(sys.argv))
