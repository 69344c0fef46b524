"""Model output layouts: which parser reads which outputs, checked when the model loads.

A detector's outputs are checked against ``parse-bbox-func-name`` and ``num-detected-classes``
once, on a test frame run at load time, and the value ranges again on the first frames of the
stream. A model/config pair that does not fit gives a :class:`~estuary.errors.ConfigError` that
names the outputs' shapes, the config key and the fix, instead of silent garbage boxes.
Layout facts: shared/spec/detector-outputs.md.
"""

from __future__ import annotations

import ast
import logging
from collections.abc import Callable

import numpy as np

from estuary.errors import ConfigError
from estuary.infer import parsers as P

__all__ = ["BoundParser", "bind_parser", "family_of", "model_metadata", "FAMILIES"]

log = logging.getLogger("estuary.infer")

#: parse-bbox-func-name (lower case) → layout family
FAMILIES = {
    "yolo": "yolo", "yolov3": "yolo", "yolov5": "yolo", "yolov7": "yolo",
    "yolov8": "yolov8", "yolov9": "yolov8", "yolo11": "yolov8", "yolov11": "yolov8", "yolov5u": "yolov8",
    "end2end": "end2end", "yolov10": "end2end", "yolo26": "end2end", "yolov7-ort": "yolov7-ort",
    "efficientnms": "efficientnms", "yolox": "yolox", "ssd": "ssd", "detectnet": "detectnet",
    **P.DEEPSTREAM_PARSER_NAMES,
}

_TOL = 1e-3  # float noise allowed around 0..1
_CHECKED_FRAMES = 8  # value checks run on this many frames of the stream too


def family_of(name: str | None) -> str | None:
    """The layout family of a built-in parser name (None: a Python module:function)."""
    if not name:
        return "yolo"
    return FAMILIES.get(name.lower())


def model_metadata(path: str | None) -> dict:
    """The ONNX model's metadata_props (Ultralytics writes ``names``, ``task``, ``imgsz``...)."""
    if not path or not path.endswith(".onnx"):
        return {}
    try:
        import onnx
        m = onnx.load(path, load_external_data=False)
    except Exception:  # noqa: BLE001 - metadata is a cross-check only; loading errors come elsewhere
        return {}
    return {p.key: p.value for p in m.metadata_props}


def _class_names(meta: dict) -> list | None:
    raw = meta.get("names")
    if not raw:
        return None
    try:
        names = ast.literal_eval(raw)
    except (ValueError, SyntaxError):
        return None
    return list(names.values()) if isinstance(names, dict) else list(names) if isinstance(names, list) else None


class BoundParser:
    """A parser bound to one model's checked layout; called like the plain parser functions."""

    def __init__(self, family: str, fn: Callable, value_check: Callable | None = None,
                 split: Callable | None = None):
        self.family, self.fn = family, fn
        self._value_check = value_check
        self._split = split
        self._left = _CHECKED_FRAMES if value_check else 0

    def split(self, outputs: dict, i: int) -> dict:
        """The outputs of image ``i`` of a batch."""
        if self._split:
            return self._split(outputs, i)
        return {k: v[i] for k, v in outputs.items()}

    def __call__(self, outputs: dict, net, num_classes: int, min_score: float = 0.0) -> P.Candidates:
        if self._left > 0:
            self._left -= 1
            self._value_check(outputs)
        return self.fn(outputs, net, num_classes, min_score)

    def __repr__(self):
        return f"BoundParser({self.family})"


class _Ctx:
    """What the checks need to word their errors: the config, the class count, the net size."""

    def __init__(self, cfg, name: str, num_classes: int, net, outputs: dict):
        self.cfg, self.name, self.nc, self.net = cfg, name, num_classes, net
        self.shapes = ", ".join(f"{k} {tuple(np.asarray(v).shape)}" for k, v in outputs.items())

    def error(self, message: str, key: str = "parse-bbox-func-name", hint: str | None = None) -> ConfigError:
        return ConfigError(message, path=self.cfg.path or None, line=self.cfg.lines.get(key),
                           key=f"property/{key}", hint=hint)

    def class_count_error(self, what: str, found: int, extra_hint: str = "") -> ConfigError:
        hint = (f"if the model has {found} classes set num-detected-classes={found} "
                f"(and a label file with {found} lines)") if found > 0 else "check the model and the parser"
        return self.error(f"the model's output {what} + {found} classes, but num-detected-classes={self.nc} "
                          f"(outputs: {self.shapes})", key="num-detected-classes",
                          hint=hint + (f"; {extra_hint}" if extra_hint else ""))

    def probabilities(self, values: np.ndarray, what: str) -> None:
        if values.size == 0:
            return
        lo, hi = float(values.min()), float(values.max())
        if lo < -_TOL or hi > 1 + _TOL:
            raise self.error(
                f"{what} must be probabilities in 0..1 for the {self.name} parser, the model gives "
                f"{lo:.3g}..{hi:.3g} (outputs: {self.shapes})",
                hint="the model outputs logits or another layout: export it with the activation "
                     "included, or pick the parser that fits its outputs (docs/byo-yolo.md)")

    def class_ids(self, cls: np.ndarray, what: str = "class ids") -> None:
        if cls.size == 0:
            return
        if not np.allclose(cls, np.rint(cls), atol=1e-3) or cls.min() < 0:
            raise self.error(f"{what} must be whole numbers >= 0, the model gives {float(cls.min()):.3g}.."
                             f"{float(cls.max()):.3g} (outputs: {self.shapes})",
                             hint="the columns are not in the order the parser reads (docs/byo-yolo.md)")
        if int(np.rint(cls.max())) >= self.nc:
            raise self.error(f"the model gives class id {int(np.rint(cls.max()))}, but num-detected-classes="
                             f"{self.nc} (outputs: {self.shapes})", key="num-detected-classes",
                             hint="set num-detected-classes to the model's class count")


def _guess(outputs: dict, nc: int) -> str:
    """What the outputs look like, as advice for an error message."""
    arrs = [np.asarray(a) for a in outputs.values()]
    if len(arrs) == 4:
        return "four outputs look like EfficientNMS (count, boxes, scores, classes): parse-bbox-func-name=efficientnms"
    if len(arrs) == 2 and all(a.ndim == 4 for a in arrs):
        return "two 4-D outputs look like DetectNet_v2 (coverage, bbox): parse-bbox-func-name=detectnet"
    if len(arrs) == 3:
        return ("three outputs look like a DeepStream-Yolo export of 2023-24 (boxes, scores, classes): "
                "parse-bbox-func-name=NvDsInferParseYolo")
    a = arrs[0]
    if a.ndim < 2:
        return "see docs/byo-yolo.md for the layouts Estuary reads"
    d1, d2 = a.shape[-2], a.shape[-1]
    if d2 == 6:
        return ("rows of 6 look like an end-to-end export (x1, y1, x2, y2, score, class): "
                "parse-bbox-func-name=end2end with cluster-mode=4")
    if d2 == 7:
        return "rows of 7 look like YOLOv7 --end2end with ONNX Runtime NMS: parse-bbox-func-name=yolov7-ort"
    if d1 < d2:
        return (f"a channel-first ({d1}, {d2}) output looks like a YOLOv8/YOLO11 raw head with "
                f"{d1 - 4} classes: parse-bbox-func-name=yolov8 and num-detected-classes={d1 - 4}")
    return (f"rows of {d2} look like a YOLOv5/YOLOX head with {d2 - 5} classes: "
            f"parse-bbox-func-name=yolov5 (or yolox) and num-detected-classes={d2 - 5}")


def _one_output(ctx: _Ctx, outputs: dict, layout: str, allow_protos: bool = False) -> tuple[np.ndarray, int]:
    """The single detection output (and the mask-coefficient count of a seg model's prototypes)."""
    arrs = list(outputs.values())
    extra = 0
    if allow_protos and len(arrs) == 2 and np.asarray(arrs[1]).ndim == 4:
        extra = np.asarray(arrs[1]).shape[1]
    elif len(arrs) != 1:
        raise ctx.error(f"the {ctx.name} parser reads one output {layout}, the model has {len(arrs)}: "
                        f"{ctx.shapes}", hint=_guess(outputs, ctx.nc))
    a = np.asarray(arrs[0])
    if a.ndim not in (2, 3):
        raise ctx.error(f"the {ctx.name} parser reads one output {layout}, the model gives {ctx.shapes}",
                        hint=_guess(outputs, ctx.nc))
    return a, extra


# -- per-family checks: shape check on the batched test outputs → (parse fn, value check, split) ---

def _yolo(ctx: _Ctx, outputs: dict):
    a, extra = _one_output(ctx, outputs, "(B, N, 5 + classes)", allow_protos=True)
    cols = a.shape[-1]
    if cols - 5 - extra != ctx.nc:
        raise ctx.class_count_error(f"rows have {cols} columns = 4 box + 1 objectness"
                                    + (f" + {extra} mask coefficients" if extra else ""),
                                    cols - 5 - extra, _guess(outputs, ctx.nc))
    nc = ctx.nc

    def values(per):
        r = np.asarray(P._first(per)).reshape(-1, cols)
        ctx.probabilities(r[:, 4:5 + nc], "objectness and class scores (columns 4..)")
        if r.size and r[:, 2:4].min() < -_TOL:
            raise ctx.error(f"box widths/heights are negative (outputs: {ctx.shapes})",
                            hint="an undecoded YOLOX export: parse-bbox-func-name=yolox")
    if not extra:
        return P.parse_yolo, values, None

    def parse(out, net, num_classes, min_score=0.0):  # YOLOv5-seg: coefficients after the classes
        arrs = list(out.values())
        r = np.asarray(arrs[0]).reshape(-1, cols)
        r = r[r[:, 4] >= min_score]
        cand = P.parse_yolo({"o": r[:, :5 + num_classes]}, net, num_classes, 0.0)
        cand.coeffs = np.concatenate([cand.boxes, r[:, 5 + num_classes:5 + num_classes + extra]], 1)
        cand.protos = np.asarray(arrs[1]).reshape(extra, *np.asarray(arrs[1]).shape[-2:])
        return cand
    return parse, values, None


def _yolov8(ctx: _Ctx, outputs: dict):
    a, extra = _one_output(ctx, outputs, "(B, 4 + classes, N)", allow_protos=True)
    d1, d2 = a.shape[-2], a.shape[-1]
    want = 4 + ctx.nc + extra
    if d1 == want:
        channel_first = True
    elif d2 == want:
        channel_first = False
    else:
        attrs = min(d1, d2)
        raise ctx.class_count_error(f"has {attrs} attributes = 4 box"
                                    + (f" + {extra} mask coefficients" if extra else ""),
                                    attrs - 4 - extra, _guess(outputs, ctx.nc))
    nc = ctx.nc

    def values(per):
        r = np.asarray(P._first(per))
        r = r.reshape(r.shape[-2], r.shape[-1])
        r = r.T if channel_first else r
        ctx.probabilities(r[:, 4:4 + nc], "class scores (rows 4..)")

    def parse(out, net, num_classes, min_score=0.0):
        arrs = list(out.values())
        r = np.asarray(arrs[0])
        r = r.reshape(r.shape[-2], r.shape[-1])
        r = r.T if channel_first else r
        cand = P.yolov8_rows(r[:, :4 + num_classes])
        if extra:  # a seg head: mask coefficients after the classes, prototypes in output 1
            keep = cand.scores >= min_score
            cand = cand[keep]
            cand.coeffs = np.concatenate([cand.boxes, r[keep, 4 + num_classes:4 + num_classes + extra]], 1)
            cand.protos = np.asarray(arrs[1]).reshape(extra, *np.asarray(arrs[1]).shape[-2:])
        return cand
    return parse, values, None


def _end2end(ctx: _Ctx, outputs: dict):
    a, _ = _one_output(ctx, outputs, "(B, N, 6) of x1, y1, x2, y2, score, class")
    if a.shape[-1] == 7:
        return _yolov7_ort(ctx, outputs)
    if a.shape[-1] != 6:
        raise ctx.error(f"the {ctx.name} parser reads rows of 6 (x1, y1, x2, y2, score, class), the model "
                        f"gives {ctx.shapes}", hint=_guess(outputs, ctx.nc))
    n = a.shape[-2]
    mode = ctx.cfg.effective_cluster_mode
    if n > 1000 and mode == 4:
        log.warning("%s: %d raw candidates with cluster-mode=4: no NMS will run (set cluster-mode=2 unless "
                    "the model is NMS-free)", ctx.cfg.path, n)

    def values(per):
        r = np.asarray(P._first(per)).reshape(-1, 6)
        r = r[r[:, 4] > 0]
        ctx.probabilities(r[:, 4], "scores (column 4)")
        ctx.class_ids(r[:, 5], "class ids (column 5)")
        bad = (r[:, 2] < r[:, 0] - _TOL) | (r[:, 3] < r[:, 1] - _TOL)
        if len(r) and bad.mean() > 0.5:
            raise ctx.error(f"boxes are not x1, y1, x2, y2 (x2 < x1 in {int(bad.sum())} of {len(r)} rows; "
                            f"outputs: {ctx.shapes})", hint=_guess(outputs, ctx.nc))
    return P.parse_end2end, values, None


def _yolov7_ort(ctx: _Ctx, outputs: dict):
    a, _ = _one_output(ctx, outputs, "(N, 7) of batch, x1, y1, x2, y2, class, score")
    if a.shape[-1] != 7 or (a.ndim == 3 and a.shape[0] != 1):
        raise ctx.error(f"the {ctx.name} parser reads rows of 7 (batch index, x1, y1, x2, y2, class, "
                        f"score), the model gives {ctx.shapes}", hint=_guess(outputs, ctx.nc))

    def split(outs, i):
        r = np.asarray(P._first(outs)).reshape(-1, 7)
        return {"rows": r[np.rint(r[:, 0]) == i]}

    def values(per):
        r = np.asarray(P._first(per)).reshape(-1, 7)
        ctx.class_ids(r[:, 0], "batch indices (column 0)")
        ctx.probabilities(r[:, 6], "scores (column 6)")
        ctx.class_ids(r[:, 5], "class ids (column 5)")
    return P.parse_yolov7_ort, values, split


def _efficientnms(ctx: _Ctx, outputs: dict):
    roles = P.nms_roles(outputs) if len(outputs) == 4 else {}
    if len(roles) != 4:
        raise ctx.error(f"the {ctx.name} parser reads four outputs (count, boxes, scores, classes), the "
                        f"model has {ctx.shapes}", hint=_guess(outputs, ctx.nc))
    boxes = np.asarray(outputs[roles["boxes"]])
    k = boxes.shape[-2]
    for role in ("scores", "classes"):
        if np.asarray(outputs[roles[role]]).size != boxes.size // 4:
            raise ctx.error(f"{role} output {roles[role]} does not have one value per box of "
                            f"{roles['boxes']} (outputs: {ctx.shapes})", hint=_guess(outputs, ctx.nc))
    if ctx.cfg.effective_cluster_mode != 4:
        log.info("%s: the model runs NMS itself; cluster-mode=4 skips a redundant second NMS", ctx.cfg.path)

    def values(per):
        n = int(np.asarray(per[roles["count"]]).reshape(-1)[0])
        if not 0 <= n <= k:
            raise ctx.error(f"detection count {n} is outside 0..{k} (outputs: {ctx.shapes})",
                            hint=_guess(outputs, ctx.nc))
        ctx.probabilities(np.asarray(per[roles["scores"]]).reshape(-1)[:n], "scores")
        ctx.class_ids(np.asarray(per[roles["classes"]]).reshape(-1)[:n].astype(np.float64))

    def parse(out, net, num_classes, min_score=0.0):
        return P.parse_efficient_nms({r: out[n] for r, n in roles.items()}, net, num_classes, min_score)
    return parse, values, None


def _yolox(ctx: _Ctx, outputs: dict):
    a, _ = _one_output(ctx, outputs, "(B, N, 5 + classes)")
    cols, n = a.shape[-1], a.shape[-2]
    if cols - 5 != ctx.nc:
        raise ctx.class_count_error(f"rows have {cols} columns = 4 box + 1 objectness", cols - 5,
                                    _guess(outputs, ctx.nc))
    cells = len(P.yolox_grid(ctx.net.width, ctx.net.height)[0])
    if n != cells:
        hint = ("three candidates per cell is a YOLOv5/v7 head: parse-bbox-func-name=yolov5" if n == 3 * cells
                else "check infer-dims against the size the model was exported for")
        raise ctx.error(f"a YOLOX head at {ctx.net.width}x{ctx.net.height} has {cells} candidates "
                        f"(strides 8, 16, 32), the model gives {n} (outputs: {ctx.shapes})", hint=hint)
    # decoded centres are pixels all over the input; raw ones are offsets of about -1..2 cells
    decoded = bool(np.median(np.abs(a.reshape(-1, cols)[:, :2])) > 4.0)
    log.info("%s: YOLOX output %s", ctx.cfg.path, "decoded in the graph" if decoded
             else "undecoded (default export): the parser decodes the grid")

    def values(per):
        r = np.asarray(P._first(per)).reshape(-1, cols)
        ctx.probabilities(r[:, 4:], "objectness and class scores (columns 4..)")

    def parse(out, net, num_classes, min_score=0.0):
        return P.parse_yolox(out, net, num_classes, min_score, decoded=decoded)
    return parse, values, None


def _dsyolo(ctx: _Ctx, outputs: dict, xyxy: bool = False):
    n = len(outputs)
    if n == 1:
        return _end2end(ctx, outputs)
    if n == 4 and not xyxy:
        return _efficientnms(ctx, outputs)
    if n != 3:
        raise ctx.error(f"{ctx.name} reads DeepStream-Yolo exports: one output (B, N, 6), or (2023-24) "
                        f"boxes, scores, classes; the model has {ctx.shapes}", hint=_guess(outputs, ctx.nc))
    boxes, scores, classes = (np.asarray(v) for v in outputs.values())
    if boxes.shape[-1] != 4 or scores.size * 4 != boxes.size or classes.size != scores.size:
        raise ctx.error(f"{ctx.name} reads boxes (B, N, 4), scores (B, N, 1), classes (B, N, 1) in that "
                        f"order, the model has {ctx.shapes}", hint=_guess(outputs, ctx.nc))

    def values(per):
        _, s, c = (np.asarray(v).reshape(-1) for v in per.values())
        ctx.probabilities(s, "scores")
        ctx.class_ids(c[s > 0].astype(np.float64))

    def parse(out, net, num_classes, min_score=0.0):
        return P.parse_dsyolo_split(out, net, num_classes, min_score, xyxy=xyxy)
    return parse, values, None


def _ssd(ctx: _Ctx, outputs: dict):
    arrs = [np.asarray(a) for a in outputs.values()]
    boxes = next((a for a in arrs if a.ndim >= 2 and a.shape[-1] == 4), None)
    if boxes is None or sum(a.size == boxes.size // 4 for a in arrs) < 2:
        raise ctx.error(f"the ssd parser reads boxes (B, N, 4) with scores and classes (B, N), the model "
                        f"has {ctx.shapes}", hint=_guess(outputs, ctx.nc))
    return P.parse_ssd, None, None


def _detectnet(ctx: _Ctx, outputs: dict):
    arrs = [np.asarray(a) for a in outputs.values()]
    if len(arrs) != 2 or any(a.ndim != 4 for a in arrs):
        raise ctx.error(f"the detectnet parser reads coverage (B, C, H, W) and bbox (B, 4C, H, W), the "
                        f"model has {ctx.shapes}", hint=_guess(outputs, ctx.nc))
    cov, bbox = sorted(arrs, key=lambda a: a.shape[1])
    if cov.shape[1] != ctx.nc:
        raise ctx.class_count_error(f"coverage has {cov.shape[1]} planes", cov.shape[1])
    if bbox.shape[1] != 4 * cov.shape[1] or bbox.shape[2:] != cov.shape[2:]:
        raise ctx.error(f"bbox must have 4 planes per class on the coverage grid (outputs: {ctx.shapes})",
                        hint=_guess(outputs, ctx.nc))
    c = cov.shape[1]

    def values(per):
        for a in per.values():
            if np.asarray(a).shape[0] == c:
                ctx.probabilities(np.asarray(a), "coverage")
    return P.parse_detectnet, values, None


_CHECKS = {"yolo": _yolo, "yolov8": _yolov8, "end2end": _end2end, "yolov7-ort": _yolov7_ort,
           "efficientnms": _efficientnms, "yolox": _yolox, "ssd": _ssd, "detectnet": _detectnet,
           "dsyolo": _dsyolo, "dsyoloe": lambda ctx, o: _dsyolo(ctx, o, xyxy=True)}

_YOLO_FAMILIES = ("yolo", "yolov8", "end2end", "yolov7-ort", "efficientnms", "yolox", "dsyolo", "dsyoloe")


def bind_parser(name: str | None, outputs: dict, num_classes: int, net, cfg,
                metadata: dict | None = None) -> BoundParser:
    """Check a model's test-frame ``outputs`` (with the batch dimension) against the parser named
    by ``parse-bbox-func-name`` and ``num-detected-classes``; the parser bound to that layout.

    Raises :class:`ConfigError` naming the shapes, the key and the fix when they do not fit."""
    family = family_of(name)
    if family is None:
        raise ValueError(f"{name!r} is not a built-in parser")
    ctx = _Ctx(cfg, name or "yolo", num_classes, net, outputs)
    names = _class_names(metadata or {})
    if names is not None and family in _YOLO_FAMILIES and len(names) != num_classes:
        raise ctx.error(f"the model's metadata lists {len(names)} class names, but num-detected-classes="
                        f"{num_classes} (outputs: {ctx.shapes})", key="num-detected-classes",
                        hint=f"set num-detected-classes={len(names)} and a label file with those names")
    if cfg.labels and len(cfg.labels) != num_classes:
        log.warning("%s: the label file has %d labels, num-detected-classes is %d", cfg.path,
                    len(cfg.labels), num_classes)
    fn, values, split = _CHECKS[family](ctx, outputs)
    bound = BoundParser(family, fn, values, split)
    if values is not None:
        batch = np.asarray(next(iter(outputs.values()))).shape[0] if split is None else 1
        for i in range(max(batch, 1)):
            values(bound.split(outputs, i))
    return bound
