"""Protobuf text format (the nvinferserver config language), parsed into nested dicts, and the
mapping of an nvinferserver config onto Estuary's nvinfer configuration."""

from __future__ import annotations

import os
import re

from estuary.errors import ConfigError

__all__ = ["parse_pbtxt", "inferserver_to_config"]

_TOKEN = re.compile(r'\s*(?:(#[^\n]*)|("(?:[^"\\]|\\.)*")|([{}\[\]:,])|([^\s{}\[\]:,"#]+))')


def _tokens(text: str, path: str):
    pos, line = 0, 1
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if not m or m.end() == pos:
            if text[pos:].strip() == "":
                return
            raise ConfigError(f"cannot parse near {text[pos:pos + 20]!r}", path=path, line=line)
        line += text.count("\n", pos, m.end())
        pos = m.end()
        if m.group(1):
            continue
        tok = m.group(2) or m.group(3) or m.group(4)
        if tok is not None:
            yield tok, line


def _value(tok: str):
    if tok.startswith('"'):
        return bytes(tok[1:-1], "utf-8").decode("unicode_escape")
    low = tok.lower()
    if low in ("true", "false"):
        return low == "true"
    try:
        return int(tok)
    except ValueError:
        pass
    try:
        return float(tok)
    except ValueError:
        return tok  # an enum name


def parse_pbtxt(text: str, path: str = "<string>") -> dict:
    """Nested dicts; repeated fields become lists."""
    try:
        return _parse(text, path)
    except ConfigError:
        raise
    except (IndexError, ValueError, TypeError, RecursionError) as exc:
        raise ConfigError(f"malformed protobuf text: {type(exc).__name__}", path=path,
                          hint="check the braces, brackets and key: value pairs") from None


def _parse(text: str, path: str) -> dict:
    toks = list(_tokens(text, path))
    i = 0

    def put(d, k, v):
        if k in d:
            if not isinstance(d[k], list) or (isinstance(v, list)):
                d[k] = [d[k]] if not isinstance(d[k], list) else d[k]
            d[k].append(v)
        else:
            d[k] = v

    def message(end):
        nonlocal i
        out: dict = {}
        while i < len(toks):
            tok, line = toks[i]
            if tok == end:
                i += 1
                return out
            key = tok
            i += 1
            if i < len(toks) and toks[i][0] == ":":
                i += 1
            if i >= len(toks):
                raise ConfigError(f"missing value for {key!r}", path=path, line=line)
            t, _ = toks[i]
            if t == "{":
                i += 1
                put(out, key, message("}"))
            elif t == "[":
                i += 1
                items = []
                while toks[i][0] != "]":
                    if toks[i][0] == ",":
                        i += 1
                        continue
                    if toks[i][0] == "{":
                        i += 1
                        items.append(message("}"))
                    else:
                        items.append(_value(toks[i][0]))
                        i += 1
                i += 1
                out[key] = items
            else:
                put(out, key, _value(t))
                i += 1
        if end is not None:
            raise ConfigError(f"unclosed message (missing {end!r})", path=path)
        return out

    return message(None)


def _model_file(repo_root: str, name: str, version) -> str:
    d = os.path.join(repo_root, name)
    if not os.path.isdir(d):
        raise ConfigError(f"model {name!r} not found in the model repository {repo_root}",
                          key="infer_config/backend/model_name")
    versions = sorted((int(v) for v in os.listdir(d) if v.isdigit()))
    if not versions:
        raise ConfigError(f"model {name!r} has no version folders in {d}")
    v = versions[-1] if version in (None, -1) else int(version)
    for fname in ("model.onnx", "model.plan"):
        p = os.path.join(d, str(v), fname)
        if os.path.isfile(p):
            if fname != "model.onnx":
                raise ConfigError(f"{p}: Estuary runs ONNX models; export the network to model.onnx")
            return p
    raise ConfigError(f"no model.onnx in {os.path.join(d, str(v))}",
                      hint="Triton layout: <root>/<model_name>/<version>/model.onnx")


def inferserver_to_config(path: str):
    """An :class:`~estuary.infer.config.InferConfig` from an nvinferserver pbtxt config."""
    try:
        return _inferserver_to_config(path)
    except ConfigError:
        raise
    except (KeyError, TypeError, AttributeError, ValueError, IndexError) as exc:
        raise ConfigError(f"malformed nvinferserver config ({type(exc).__name__}: {exc})", path=path,
                          hint="see configs.md: infer_config { backend { trt_is { model_name model_repo { root } } } }") from None


def _inferserver_to_config(path: str):
    from estuary.infer.config import ClassAttrs, InferConfig
    if not os.path.isfile(path):
        raise ConfigError("config file not found", path=path)
    with open(path, encoding="utf-8") as f:
        doc = parse_pbtxt(f.read(), path)
    ic = doc.get("infer_config")
    if not isinstance(ic, dict):
        raise ConfigError("no infer_config { ... } block", path=path)
    base = os.path.dirname(os.path.abspath(path))
    backend = ic.get("backend", {})
    tis = backend.get("trt_is") or backend.get("triton")
    if not tis:
        raise ConfigError("infer_config.backend needs trt_is { } or triton { }", path=path)
    root = tis.get("model_repo", {}).get("root")
    if not root:
        raise ConfigError("only local model repositories are supported (model_repo { root: ... })", path=path,
                          hint="grpc Triton servers are not used: point model_repo.root at the repository")
    root = root if os.path.isabs(root) else os.path.normpath(os.path.join(base, root))
    cfg = InferConfig(path=path)
    v = cfg.values
    v["onnx-file"] = _model_file(root, tis["model_name"], tis.get("version", -1))
    v["gie-unique-id"] = int(ic.get("unique_id", 1))
    v["batch-size"] = int(ic.get("max_batch_size", 1)) or 1
    pre = ic.get("preprocess", {})
    v["model-color-format"] = {"IMAGE_FORMAT_RGB": 0, "IMAGE_FORMAT_BGR": 1,
                               "IMAGE_FORMAT_GRAY": 2}.get(pre.get("network_format", "IMAGE_FORMAT_RGB"), 0)
    norm = pre.get("normalize", {})
    v["net-scale-factor"] = float(norm.get("scale_factor", 1.0))
    if norm.get("channel_offsets"):
        v["offsets"] = [float(x) for x in norm["channel_offsets"]]
    v["maintain-aspect-ratio"] = bool(pre.get("maintain_aspect_ratio", 0))
    v["scaling-filter"] = int(pre.get("frame_scaling_filter", 1))
    post = ic.get("postprocess", {})
    labels = post.get("labelfile_path")
    if labels:
        labels = labels if os.path.isabs(labels) else os.path.normpath(os.path.join(base, labels))
        if os.path.isfile(labels):
            from estuary.infer.config import read_labels
            cfg.labels = read_labels(labels, path, key="postprocess/labelfile_path")
    if "detection" in post:
        det = post["detection"]
        v["network-type"] = 0
        v["num-detected-classes"] = int(det.get("num_detected_classes", len(cfg.labels) or 1))
        if det.get("custom_parse_bbox_func"):
            v["parse-bbox-func-name"] = det["custom_parse_bbox_func"]
        nms = det.get("nms", {})
        v["cluster-mode"] = 2
        cfg.class_attrs["all"] = ClassAttrs(pre_cluster_threshold=float(nms.get("confidence_threshold", 0.2)),
                                            nms_iou_threshold=float(nms.get("iou_threshold", 0.3)),
                                            topk=int(nms.get("topk", -1)))
    elif "classification" in post:
        v["network-type"] = 1
        v["classifier-threshold"] = float(post["classification"].get("threshold", 0.0))
    elif "segmentation" in post:
        v["network-type"] = 2
        v["segmentation-threshold"] = float(post["segmentation"].get("threshold", 0.0))
    else:  # other {}: raw tensors only
        v["network-type"] = 100
    inp = doc.get("input_control", {})
    v["process-mode"] = 2 if inp.get("process_mode") == "PROCESS_MODE_CLIP_OBJECTS" else 1
    v["operate-on-gie-id"] = int(inp.get("operate_on_gie_id", -1))
    v["interval"] = int(inp.get("interval", 0))
    v["output-tensor-meta"] = bool(doc.get("output_control", {}).get("output_tensor_meta", False))
    return cfg
