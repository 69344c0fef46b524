"""Output parsers: raw tensors → candidate boxes (xyxy in network pixels), scores, class ids;
and classifier outputs → labels. Vectorised numpy."""

from __future__ import annotations

import importlib
import importlib.util
import os
import sys

import numpy as np

from estuary.errors import ConfigError, ModelError

__all__ = ["Candidates", "parse_yolo", "parse_yolov8", "parse_end2end", "parse_yolov7_ort",
           "parse_efficient_nms", "parse_yolox", "parse_dsyolo_split", "parse_ssd", "parse_detectnet",
           "softmax_if_needed", "get_parser", "load_python_hook", "BUILTIN_PARSERS", "nms_roles"]


class Candidates:
    """Struct of arrays: ``boxes`` (N, 4) xyxy, ``scores`` (N,), ``class_ids`` (N,).

    Instance-segmentation parsers also fill ``coeffs`` (N, 4 + k): each candidate's box in network
    pixels and its k mask coefficients, and ``protos`` (k, h, w): the image's mask prototypes.
    ``masks`` (after :meth:`InferEngine.detect`): per detection a box-relative float mask."""

    __slots__ = ("boxes", "scores", "class_ids", "coeffs", "protos", "masks")

    def __init__(self, boxes, scores, class_ids, coeffs=None, protos=None):
        self.boxes = np.asarray(boxes, np.float32).reshape(-1, 4)
        self.scores = np.asarray(scores, np.float32).reshape(-1)
        self.class_ids = np.asarray(class_ids, np.int64).reshape(-1)
        if coeffs is not None:
            coeffs = np.asarray(coeffs, np.float32)
            if coeffs.ndim != 2:  # (a 2-D selection of no rows keeps its column count)
                coeffs = coeffs.reshape(len(self.scores), -1 if len(self.scores) else 0)
        self.coeffs = coeffs
        self.protos = protos
        self.masks = None

    def __len__(self):
        return len(self.scores)

    def __getitem__(self, idx):
        return type(self)(self.boxes[idx], self.scores[idx], self.class_ids[idx],
                          None if self.coeffs is None else self.coeffs[idx], self.protos)

    @classmethod
    def empty(cls):
        return cls(np.zeros((0, 4)), np.zeros(0), np.zeros(0))


def _first(outputs: dict) -> np.ndarray:
    return next(iter(outputs.values()))


def parse_yolo(outputs: dict, net, num_classes: int, min_score: float = 0.0) -> Candidates:
    """YOLOv3/v5-style (N, 5 + C): cx, cy, w, h (pixels), objectness, class probabilities.
    Score = objectness × class probability; one candidate per box (its best class)."""
    out = _first(outputs)
    out = out.reshape(-1, out.shape[-1])
    if out.shape[1] < 6:
        raise ModelError(f"YOLO output must have 5 + classes columns, got shape {out.shape}")
    obj = out[:, 4]
    keep = obj >= min_score
    out = out[keep]
    cls_scores = out[:, 5:] * out[:, 4:5]
    cid = cls_scores.argmax(1)
    score = cls_scores[np.arange(len(cid)), cid]
    return _from_cxcywh(out[:, :4], score, cid)


def parse_yolov8(outputs: dict, net, num_classes: int, min_score: float = 0.0) -> Candidates:
    """YOLOv8/YOLO11-style (4 + C, N) channel-first, or (N, 4 + C), without objectness."""
    out = _first(outputs)
    out = out.reshape(out.shape[-2], out.shape[-1]) if out.ndim == 3 else out
    want = 4 + num_classes
    if out.shape[0] >= want and (out.shape[0] <= out.shape[1] or out.shape[1] < want):
        out = out.T
    return yolov8_rows(out[:, :want])


def yolov8_rows(out: np.ndarray) -> Candidates:
    """Candidates of (N, 4 + C) rows: cx, cy, w, h, class probabilities."""
    cid = out[:, 4:].argmax(1)
    score = out[np.arange(len(cid)), 4 + cid]
    return _from_cxcywh(out[:, :4], score, cid)


def _from_cxcywh(b, score, cid) -> Candidates:
    xyxy = np.empty_like(b, dtype=np.float32)
    xyxy[:, 0] = b[:, 0] - b[:, 2] / 2
    xyxy[:, 1] = b[:, 1] - b[:, 3] / 2
    xyxy[:, 2] = b[:, 0] + b[:, 2] / 2
    xyxy[:, 3] = b[:, 1] + b[:, 3] / 2
    return Candidates(xyxy, score, cid)


def parse_end2end(outputs: dict, net, num_classes: int, min_score: float = 0.0) -> Candidates:
    """End-to-end rows ``(N, 6)`` = x1, y1, x2, y2, score, class id (a float): Ultralytics
    ``nms=True``, YOLOv10 / YOLO26 NMS-free heads and DeepStream-Yolo exports (since 2024-11)."""
    out = _first(outputs)
    out = out.reshape(-1, out.shape[-1])
    out = out[out[:, 4] >= max(min_score, 1e-9)]  # zero-padded rows have score 0
    return Candidates(out[:, :4], out[:, 4], np.rint(out[:, 5]))


def parse_yolov7_ort(outputs: dict, net, num_classes: int, min_score: float = 0.0) -> Candidates:
    """YOLOv7 ``--end2end --max-wh`` (ONNX Runtime NMS) rows of one image, batch index removed:
    x1, y1, x2, y2, class id, score (class **before** score)."""
    out = _first(outputs)
    out = out.reshape(-1, out.shape[-1])[:, -6:]
    out = out[out[:, 5] >= min_score]
    return Candidates(out[:, :4], out[:, 5], np.rint(out[:, 4]))


def nms_roles(outputs: dict) -> dict:
    """Which output of an EfficientNMS-style model is ``count``, ``boxes``, ``scores``, ``classes``:
    by name first (num_dets/det_boxes/... or num_detections/detection_boxes/...), then by shape
    in the plugin's order. Returns role → output name (missing roles are absent)."""
    roles = {}
    for name in outputs:
        low = name.lower()
        for role, keys in (("count", ("num_det", "count")), ("boxes", ("box",)),
                           ("scores", ("score",)), ("classes", ("class", "label"))):
            if role not in roles and any(k in low for k in keys):
                roles[role] = name
                break
    if len(roles) == 4:
        return roles
    # by shape: boxes end in 4, the count is the smallest; scores then classes (the plugin's
    # order) unless one of them is an integer tensor
    arrs = {n: np.asarray(a) for n, a in outputs.items()}
    names = list(arrs)
    boxes = next((n for n in names if arrs[n].ndim >= 2 and arrs[n].shape[-1] == 4), None)
    rest = [n for n in names if n != boxes]
    if boxes is None or len(rest) != 3:
        return {}
    count = min(rest, key=lambda n: arrs[n].size)
    sc, cl = [n for n in rest if n != count]
    if np.issubdtype(arrs[sc].dtype, np.integer) and not np.issubdtype(arrs[cl].dtype, np.integer):
        sc, cl = cl, sc
    return {"count": count, "boxes": boxes, "scores": sc, "classes": cl}


def parse_efficient_nms(outputs: dict, net, num_classes: int, min_score: float = 0.0) -> Candidates:
    """TensorRT EfficientNMS-style quadruple of one image: count, boxes (K, 4) x1y1x2y2,
    scores (K,), classes (K,); only the first ``count`` rows are valid."""
    r = nms_roles(outputs)
    k = int(np.asarray(outputs[r["count"]]).reshape(-1)[0])
    boxes = np.asarray(outputs[r["boxes"]]).reshape(-1, 4)[:k]
    scores = np.asarray(outputs[r["scores"]]).reshape(-1)[:k]
    classes = np.rint(np.asarray(outputs[r["classes"]]).reshape(-1)[:k])
    keep = scores >= min_score
    return Candidates(boxes[keep], scores[keep], classes[keep])


def yolox_grid(width: int, height: int, strides=(8, 16, 32)) -> tuple[np.ndarray, np.ndarray]:
    """Cell (x, y) and stride of each YOLOX candidate: stride 8 first, row-major in each level."""
    xy, st = [], []
    for s in strides:
        gh, gw = height // s, width // s
        ys, xs = np.mgrid[0:gh, 0:gw]
        xy.append(np.stack([xs.ravel(), ys.ravel()], 1))
        st.append(np.full(gh * gw, s))
    return np.concatenate(xy).astype(np.float32), np.concatenate(st).astype(np.float32)[:, None]


def parse_yolox(outputs: dict, net, num_classes: int, min_score: float = 0.0,
                decoded: bool = False) -> Candidates:
    """YOLOX ``(A, 5 + C)``: box, objectness, class probabilities. The default export (without
    ``--decode_in_inference``) has raw boxes: cx = (tx + gx)·s, w = exp(tw)·s; ``decoded`` says
    the graph already did that."""
    out = _first(outputs)
    out = out.reshape(-1, out.shape[-1])
    if not decoded:
        xy, st = yolox_grid(net.width, net.height)
        if len(xy) != len(out):
            raise ModelError(f"YOLOX output has {len(out)} candidates, a {net.width}x{net.height} "
                             f"input gives {len(xy)}")
        box = np.concatenate([(out[:, :2] + xy) * st, np.exp(np.minimum(out[:, 2:4], 20.0)) * st], 1)
        out = np.concatenate([box, out[:, 4:]], 1)
    return parse_yolo({"o": out}, net, num_classes, min_score)


def parse_dsyolo_split(outputs: dict, net, num_classes: int, min_score: float = 0.0,
                       xyxy: bool = False) -> Candidates:
    """DeepStream-Yolo exports of 2023-06 … 2024-11: ``boxes`` (N, 4), ``scores`` (N, 1),
    ``classes`` (N, 1) in that order; boxes cx,cy,w,h for ``NvDsInferParseYolo``, x1,y1,x2,y2 for
    ``NvDsInferParseYoloE``."""
    boxes, scores, classes = (np.asarray(a) for a in list(outputs.values())[:3])
    boxes, scores, classes = boxes.reshape(-1, 4), scores.reshape(-1), classes.reshape(-1)
    keep = scores >= min_score
    if xyxy:
        return Candidates(boxes[keep], scores[keep], np.rint(classes[keep]))
    return _from_cxcywh(boxes[keep], scores[keep], np.rint(classes[keep]))


def parse_ssd(outputs: dict, net, num_classes: int, min_score: float = 0.0) -> Candidates:
    """TF-OD-API-style SSD: boxes (N, 4) ymin, xmin, ymax, xmax normalised; scores; classes."""
    arrs = [np.asarray(a) for a in outputs.values()]
    boxes = next(a for a in arrs if a.shape[-1] == 4 and a.ndim >= 2).reshape(-1, 4)
    rest = [a.reshape(-1) for a in arrs if a.size == boxes.shape[0]]
    if len(rest) < 2:
        raise ModelError("SSD output needs boxes, scores and classes layers")
    scores, classes = (rest[0], rest[1]) if rest[0].max(initial=0) <= 1.0 else (rest[1], rest[0])
    xyxy = np.stack([boxes[:, 1] * net.width, boxes[:, 0] * net.height,
                     boxes[:, 3] * net.width, boxes[:, 2] * net.height], 1)
    return Candidates(xyxy, scores, classes.astype(np.int64))


def parse_detectnet(outputs: dict, net, num_classes: int, min_score: float = 0.0,
                    box_norm: float = 35.0) -> Candidates:
    """DetectNet-v2-style grid: coverage (C, gh, gw) and bbox (4C, gh, gw) layers."""
    arrs = list(outputs.values())
    cov = next(a for a in arrs if a.reshape(-1, *a.shape[-2:]).shape[0] == num_classes)
    bbox = next(a for a in arrs if a is not cov)
    cov = cov.reshape(num_classes, *cov.shape[-2:])
    bbox = bbox.reshape(num_classes, 4, *bbox.shape[-2:])
    gh, gw = cov.shape[1:]
    sx, sy = net.width / gw, net.height / gh
    cx = (np.arange(gw, dtype=np.float32) * sx + 0.5) / box_norm
    cy = (np.arange(gh, dtype=np.float32) * sy + 0.5) / box_norm
    cls, ys, xs = np.nonzero(cov >= max(min_score, 1e-6))
    b = bbox[cls, :, ys, xs]
    x1 = (b[:, 0] - cx[xs]) * -box_norm
    y1 = (b[:, 1] - cy[ys]) * -box_norm
    x2 = (b[:, 2] + cx[xs]) * box_norm
    y2 = (b[:, 3] + cy[ys]) * box_norm
    return Candidates(np.stack([x1, y1, x2, y2], 1), cov[cls, ys, xs], cls)


def softmax_if_needed(p: np.ndarray) -> np.ndarray:
    """Probabilities from logits (rows that already sum to 1 are kept)."""
    p = np.asarray(p, np.float32).reshape(p.shape[0], -1)
    sums = p.sum(1)
    if np.all(p >= 0) and np.allclose(sums, 1.0, atol=1e-3):
        return p
    e = np.exp(p - p.max(1, keepdims=True))
    return e / e.sum(1, keepdims=True)


BUILTIN_PARSERS = {"yolo": parse_yolo, "yolov3": parse_yolo, "yolov5": parse_yolo, "yolov7": parse_yolo,
                   "yolov8": parse_yolov8, "yolov9": parse_yolov8, "yolo11": parse_yolov8,
                   "yolov11": parse_yolov8, "yolov5u": parse_yolov8,
                   "end2end": parse_end2end, "yolov10": parse_end2end, "yolo26": parse_end2end,
                   "yolov7-ort": parse_yolov7_ort, "efficientnms": parse_efficient_nms,
                   "yolox": parse_yolox, "ssd": parse_ssd, "detectnet": parse_detectnet}

#: C function names of DeepStream parser libraries → the built-in parser for the same outputs.
#: DeepStream-Yolo's names cover every era of its exports (one (N, 6) output; three
#: boxes/scores/classes outputs; four EfficientNMS-style outputs): the engine picks by the
#: number of outputs when it loads the model.
DEEPSTREAM_PARSER_NAMES = {
    "nvdsinferparseyolo": "dsyolo", "nvdsinferparseyolocuda": "dsyolo",
    "nvdsinferparseyoloe": "dsyoloe", "nvdsinferparseyoloecuda": "dsyoloe",
    "nvdsinferparsecustomefficientnms": "efficientnms", "nvdsinferyolonms": "efficientnms",
    "nvdsinferparsecustomresnet": "detectnet",
}


def load_python_hook(spec: str, search_path: str | None = None):
    """Import ``module:function`` (``module`` may also be a ``.py`` file path)."""
    if ":" not in spec:
        raise ConfigError(f"a Python parser is named module:function, got {spec!r}")
    mod_name, func_name = spec.rsplit(":", 1)
    try:
        if mod_name.endswith(".py"):
            path = mod_name if os.path.isabs(mod_name) or not search_path else os.path.join(search_path, mod_name)
            s = importlib.util.spec_from_file_location(os.path.splitext(os.path.basename(path))[0], path)
            if s is None or not os.path.isfile(path):
                raise ImportError(f"no such file {path}")
            mod = importlib.util.module_from_spec(s)
            s.loader.exec_module(mod)
        else:
            if search_path and search_path not in sys.path:
                sys.path.insert(0, search_path)
            mod = importlib.import_module(mod_name)
        return getattr(mod, func_name)
    except (ImportError, AttributeError) as exc:
        raise ConfigError(f"cannot load the Python parser {spec!r}: {exc}",
                          key="property/parse-bbox-func-name") from None


def get_parser(name: str | None, search_path: str | None = None):
    """The parser for a ``parse-bbox-func-name`` value (built-in name or module:function)."""
    if not name:
        return parse_yolo
    if name.lower() in BUILTIN_PARSERS:
        return BUILTIN_PARSERS[name.lower()]
    if name.lower() in DEEPSTREAM_PARSER_NAMES:
        return BUILTIN_PARSERS.get(DEEPSTREAM_PARSER_NAMES[name.lower()], parse_end2end)
    if ":" in name:
        hook = load_python_hook(name, search_path)

        def custom(outputs, net, num_classes, min_score=0.0):
            res = hook(outputs, net, num_classes)
            if isinstance(res, Candidates):
                return res
            res = list(res)
            if not res:
                return Candidates.empty()
            if hasattr(res[0], "detectionConfidence"):  # NvDsInferObjectDetectionInfo list
                return Candidates([[d.left, d.top, d.left + d.width, d.top + d.height] for d in res],
                                  [d.detectionConfidence for d in res], [d.classId for d in res])
            boxes, scores, classes = res
            return Candidates(boxes, scores, classes)
        return custom
    hint = None
    if name.startswith("NvDs"):
        hint = ("a C parser library cannot be loaded; pick the built-in parser for the model's "
                "outputs (see docs/byo-yolo.md) or write a Python module:function")
    raise ConfigError(f"unknown parser {name!r}: use one of {', '.join(sorted(BUILTIN_PARSERS))}, "
                      f"{', '.join(_DS_DISPLAY)} or a Python module:function",
                      key="property/parse-bbox-func-name", hint=hint)


_DS_DISPLAY = ["NvDsInferParseYolo", "NvDsInferParseYoloCuda", "NvDsInferParseYoloE",
               "NvDsInferParseYoloECuda", "NvDsInferParseCustomEfficientNMS", "NvDsInferYoloNMS",
               "NvDsInferParseCustomResnet"]
