"""Inference backends behind one small interface: ``run(x) -> {output name: array}``.

* ``openvino`` (the CPU backend wherever OpenVINO is installed: a regular dependency on x86-64);
* ``onnxruntime`` (the CPU fallback, and for other architectures; CUDA/TensorRT providers when
  onnxruntime-gpu is installed);
* ``torch`` (GPU: the ONNX graph run by PyTorch, see :mod:`estuary.infer.torch_backend`), chosen
  when a GPU is asked for and onnxruntime has no CUDA provider.

Every backend reads the same ONNX file. Before a native runtime sees a file, :func:`check_onnx_file`
parses it in Python, so an empty, truncated or corrupt file is a :class:`ModelError`.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import time

import numpy as np

from estuary.cpus import cpu_limit
from estuary.errors import ConfigError, ModelError
from estuary.infer.backend import Backend
from estuary.native import import_cxx

__all__ = ["Backend", "OrtBackend", "OpenVinoBackend", "create_backend", "check_onnx_file",
           "cpu_backends", "ov_int8_float_precision", "BACKEND_CHOICES", "PRECISIONS"]

log = logging.getLogger("estuary.infer")

#: values of nvinfer's ``backend`` property (and of ``ESTUARY_BACKEND``)
BACKEND_CHOICES = ("auto", "openvino", "onnxruntime", "torch")
#: network-mode → precision name
PRECISIONS = {0: "fp32", 1: "int8", 2: "fp16"}


def check_onnx_file(path: str) -> None:
    """Raise :class:`ModelError` naming ``path`` unless it holds a parseable ONNX model with a graph.

    Checked in Python (protobuf's upb parser) before any native runtime sees the file, so that
    an empty, truncated or foreign file is a clear error however the runtime would react.
    """
    try:
        size = os.path.getsize(path)
    except OSError as exc:
        raise ModelError(f"cannot read ONNX model {path}: {exc.strerror or exc}") from None
    if size == 0:
        raise ModelError(f"ONNX model {path} is empty (0 bytes): re-export or re-download it")
    onnx = import_cxx("onnx")
    from google.protobuf.message import DecodeError
    try:
        model = onnx.load_model(path, load_external_data=False)
    except (DecodeError, ValueError, RuntimeError) as exc:
        raise ModelError(f"{path} is not a valid ONNX model ({size} bytes; truncated or not ONNX): "
                         f"{exc}") from None
    g = model.graph
    if not g.node or not g.input or not g.output:
        raise ModelError(f"{path} holds no ONNX graph (nodes {len(g.node)}, inputs {len(g.input)}, "
                         f"outputs {len(g.output)}): truncated or not an ONNX model")


class OrtBackend(Backend):
    """ONNX Runtime session; a model with a fixed batch dimension is run image by image."""

    kind = "onnxruntime"
    precision = "FP32"

    def __init__(self, path: str, gpu_id: int = -1, threads: int = 0, precision: str = "fp32",
                 streams: int = 1, adaptive: bool = False):
        try:
            ort = import_cxx("onnxruntime")
        except ImportError as exc:  # pragma: no cover - a dependency
            raise ModelError(f"onnxruntime is not installed: {exc}") from None
        check_onnx_file(path)
        if not threads and gpu_id < 0:
            # ONNX Runtime's default counts the host's physical cores and pins a thread to each,
            # past taskset and over a container's quota (estuary/cpus.py): held to fewer CPUs
            # than the host has, the process says how many
            threads = cpu_limit()
        self._args = (path, gpu_id, threads, precision)
        available = ort.get_available_providers()
        providers = ["CPUExecutionProvider"]
        if gpu_id >= 0 and "CUDAExecutionProvider" in available:
            providers.insert(0, ("CUDAExecutionProvider", {"device_id": gpu_id}))
        self.session = self._session(ort, path, threads, providers)
        # adaptive (several workers on the CPU): one more session on every worker's threads,
        # which a frame takes while it keeps up with the frames (RequestChooser); shared by forks
        self.session_one, self._busy = None, None
        if adaptive and streams > 1 and threads and gpu_id < 0:
            # its pool threads sleep between runs instead of spinning: they share the cores with
            # the one-core sessions and the rest of the pipeline
            self.session_one = self._session(ort, path, threads * streams, providers, spin=False)
            self._busy = RequestChooser(streams=streams)
        inp = self.session.get_inputs()[0]
        self.input_name = inp.name
        self.input_shape = list(inp.shape)
        self.output_names = [o.name for o in self.session.get_outputs()]
        b = self.input_shape[0]
        self.fixed_batch = b if isinstance(b, int) and b > 0 else None
        self.precision = {"int8": "INT8 (QDQ model)",
                          "fp16": "FP32 (onnxruntime has no FP16 arithmetic on the CPU)"}.get(precision, "FP32")
        self.name = f"onnxruntime {ort.__version__} ({self.session.get_providers()[0]})"

    def run(self, x: np.ndarray) -> dict:
        split = self._run_per_image(x, self._run)
        return split if split is not None else self._run(x)

    @staticmethod
    def _session(ort, path: str, threads: int, providers: list, spin: bool = True):
        so = ort.SessionOptions()
        so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        if threads:
            so.intra_op_num_threads = threads
        if not spin:
            so.add_session_config_entry("session.intra_op.allow_spinning", "0")
        so.log_severity_level = 3
        try:
            return ort.InferenceSession(path, so, providers=providers)
        except Exception as exc:  # noqa: BLE001 - ORT raises its own types
            raise ModelError(f"cannot load ONNX model {path}: {exc}") from None

    def _run(self, x: np.ndarray) -> dict:
        if self._busy is None:
            return self._infer(self.session, x)
        with self._busy.choose() as one:
            return self._infer(self.session_one if one else self.session, x)

    def _infer(self, session, x: np.ndarray) -> dict:
        return dict(zip(self.output_names, session.run(None, {self.input_name: x})))

    def fork(self) -> "OrtBackend":
        b = OrtBackend(*self._args)  # its own one-core session
        b.fallback = self.fallback
        b.session_one, b._busy = self.session_one, self._busy
        return b


_ov_import_lock = threading.Lock()


def import_openvino():
    """``import openvino``, without OpenVINO's usage telemetry.

    Importing ``openvino`` imports its model converter, which sends a usage event to Google
    Analytics unless the user opted out (or ``CI=true``): ``openvino_telemetry`` forks a
    process for it from a thread. In a GStreamer process that is two faults: traffic leaves the
    machine unasked (Estuary talks to 127.0.0.1 and the brokers it is given, nothing else), and
    a fork from a thread of a multi-threaded process can deadlock the child — seen here as a
    ``deepstream-test2`` run that never exited (the child stuck in ``PyOS_AfterFork_Child``,
    its parent waiting for it at exit). OpenVINO falls back to its own no-op stub when
    ``openvino_telemetry`` cannot be imported, so it is made unimportable for this one import
    (not RTLD_DEEPBIND's ``import_cxx``: that breaks OpenVINO; see create_backend). An
    application that imported ``openvino`` itself before has its telemetry as it chose it."""
    import sys
    with _ov_import_lock:
        if "openvino" in sys.modules:
            import openvino
            return openvino
        blocked = "openvino_telemetry" not in sys.modules
        if blocked:
            sys.modules["openvino_telemetry"] = None  # an ImportError for `import openvino_telemetry`
        try:
            import openvino
        finally:
            if blocked and "openvino_telemetry" in sys.modules and sys.modules["openvino_telemetry"] is None:
                del sys.modules["openvino_telemetry"]
        return openvino


_core = None
_core_lock = threading.Lock()


def _ov_core():
    global _core
    with _core_lock:
        if _core is None:
            ov = import_openvino()
            _core = ov.Core()
            # pybind11 sets up its numpy API on first use under a call_once that also takes the
            # GIL: two worker threads getting there first deadlock. Do it here, once, with the GIL.
            ov.Tensor(np.zeros(1, np.float32)).data.copy()
        return _core


def _ov_int8_float(core) -> str:
    """What OpenVINO runs an INT8 model's float layers in here: bf16 on CPUs with AVX-512 BF16 or
    AMX (estuary.infer.int8 quantizes for it), else f32; ``ESTUARY_INT8_FLOAT=f32`` keeps f32."""
    want = os.environ.get("ESTUARY_INT8_FLOAT", "auto")
    if want not in ("auto", "f32", "bf16"):
        raise ConfigError(f"ESTUARY_INT8_FLOAT={want!r}", key="ESTUARY_INT8_FLOAT", hint="auto, f32 or bf16")
    has_bf16 = "BF16" in core.get_property("CPU", "OPTIMIZATION_CAPABILITIES")
    return "bf16" if has_bf16 and want != "f32" else "f32"


def resolve_backend(prefer: str | None) -> str:
    """nvinfer's ``backend`` with ``auto`` (or unset) deferring to ``ESTUARY_BACKEND``."""
    if prefer in (None, "", "auto"):
        return os.environ.get("ESTUARY_BACKEND") or "auto"
    return prefer


def torch_takes_gpu_frames(prefer: str | None) -> bool:
    """Whether frames on a GPU go to the torch backend with ``backend`` = ``prefer`` (resolved):
    asked for, or ``auto`` without onnxruntime-gpu (which :func:`create_backend` prefers)."""
    prefer = resolve_backend(prefer)
    return prefer == "torch" or (prefer == "auto" and not _ort_has_cuda())


def ov_int8_float_precision(prefer: str | None) -> str:
    """What the float layers of an INT8 model will run in with nvinfer's ``backend`` = ``prefer``
    (resolved as :func:`create_backend` does): "bf16" where OpenVINO runs it on a CPU with BF16,
    else "f32". A fallback decided later (OpenVINO failing to compile the model) is caught by the
    engine, which compares with the backend's ``int8_float``."""
    prefer = resolve_backend(prefer)
    if prefer not in ("auto", "openvino") or not _openvino_installed():
        return "f32"
    from estuary.native import cxx_throw_safe
    if not cxx_throw_safe()[0]:
        return "f32"
    return _ov_int8_float(_ov_core())


def _ov_reduced_precision(core) -> str:
    """OpenVINO's lower-precision float on this CPU: bf16 (AVX-512 BF16/AMX), f16, else f32."""
    caps = core.get_property("CPU", "OPTIMIZATION_CAPABILITIES")
    if "BF16" in caps:
        return "bf16"
    if "FP16" in caps:
        return "f16"
    return "f32"


def _u8_input(model, offsets: tuple, scale: float, nhwc: bool):
    """``model`` made to take its input as uint8 pixels, subtracting ``offsets`` (per channel, as
    the config gives them) and multiplying by ``scale`` inside, in float32 — the arithmetic
    pre-processing would otherwise do in numpy (estuary.infer.preprocess.prepare, ``u8``).
    Only for one float32 4-D input with a known channel count: the model built, else None.

    Why: the float pass writes 2 MB a 416×416 frame that OpenVINO then reads back; inside the
    model the conversion costs nothing measurable (24.0 ms a frame on one core either way;
    docs/benchmarks.md, session 9). Outputs: bit-identical to numpy's with a scale alone (the
    bundled FP32 and INT8 models); offsets OpenVINO folds into the first convolution's bias,
    within float rounding (~1e-6 relative)."""
    ov = import_openvino()
    import openvino.opset13 as ops
    from openvino.preprocess import PrePostProcessor
    if len(model.inputs) != 1:
        return None
    inp = model.inputs[0]
    shape = inp.get_partial_shape()
    if inp.get_element_type() != ov.Type.f32 or shape.rank.is_dynamic or shape.rank.get_length() != 4:
        return None
    cdim = shape[3] if nhwc else shape[1]
    if not cdim.is_static:
        return None
    from estuary.infer.preprocess import channel_offsets
    c = cdim.get_length()
    offs = np.asarray(channel_offsets(offsets, c), np.float32).reshape((1, 1, 1, c) if nhwc else (1, c, 1, 1))
    ppp = PrePostProcessor(model)
    ppp.input().tensor().set_element_type(ov.Type.u8)
    steps = ppp.input().preprocess().convert_element_type(ov.Type.f32)
    # custom steps, not mean()/scale(): those divide by the scale, a different float32 rounding
    if offs.any():
        steps.custom(lambda node: ops.subtract(node, ops.constant(offs)).output(0))
    if np.float32(scale) != 1.0:
        steps.custom(lambda node: ops.multiply(node, ops.constant(np.float32(scale))).output(0))
    return ppp.build()


class OpenVinoBackend(Backend):
    """An OpenVINO model compiled for the CPU with ``streams`` parallel streams; each backend (the
    first and its :meth:`fork`\\ s) owns one infer request of it, so that several worker threads
    infer at once. A request runs without the GIL: decoding and the pre/post-processing of other
    frames go on meanwhile.

    Precision (``network-mode``): fp32 runs in FP32 (OpenVINO would otherwise pick bf16 on CPUs
    that have it); fp16 runs OpenVINO's reduced precision (bf16 or f16 where the CPU has it,
    otherwise FP32); int8 is a QDQ model (see :mod:`estuary.infer.int8`): its quantized layers run
    in INT8, the rest in BF16 on CPUs with AVX-512 BF16/AMX (the INT8 recipe is chosen for it),
    else FP32."""

    kind = "openvino"
    precision = "FP32"

    def __init__(self, path: str, threads: int = 0, precision: str = "fp32", streams: int = 1,
                 adaptive: bool = False, u8_input: tuple | None = None, batch: int = 1):
        try:
            ov = import_openvino()
        except ImportError as exc:
            raise ModelError(f"openvino is not installed: {exc}") from None
        core = _ov_core()
        self.int8_float = _ov_int8_float(core)
        hint = {"fp16": _ov_reduced_precision(core), "int8": self.int8_float}.get(precision, "f32")
        props = {"NUM_STREAMS": max(1, streams), "INFERENCE_PRECISION_HINT": hint}
        # OpenVINO reads the affinity mask but not a container's CPU quota (estuary/cpus.py)
        threads_all = threads * max(1, streams) if threads else cpu_limit()
        if threads_all:
            props["INFERENCE_NUM_THREADS"] = threads_all
        self.input_dtype = np.float32
        try:
            model = core.read_model(path)
            taking_u8 = _u8_input(model, *u8_input) if u8_input is not None else None
            if taking_u8 is not None:
                model, self.input_dtype = taking_u8, np.uint8
            self.compiled = core.compile_model(model, "CPU", props)
            # adaptive: the same model also compiled as one stream on every thread, which a frame
            # takes while one request keeps up with the frames (RequestChooser)
            self.compiled_one = None
            if adaptive and streams > 1:  # (INFERENCE_NUM_THREADS: all the streams' already)
                self.compiled_one = core.compile_model(model, "CPU", dict(props, NUM_STREAMS=1))
        except Exception as exc:  # noqa: BLE001 - OpenVINO raises RuntimeError with its message
            raise ModelError(f"OpenVINO cannot compile {path}: {str(exc).strip().splitlines()[-1]}") from None
        # batches of ``batch`` frames in one inference (see _compile_batch); other sizes as before
        self.batch, self.compiled_n, self.compiled_one_n = 1, None, None
        if batch > 1:
            self._compile_batch(core, model, path, props, batch)
        inp = self.compiled.inputs[0]
        self.input_name = inp.get_any_name()
        self.input_shape = [d.get_length() if d.is_static else None for d in inp.get_partial_shape()]
        self.output_names = []
        for i, o in enumerate(self.compiled.outputs):
            try:
                self.output_names.append(o.get_any_name())
            except RuntimeError:  # an unnamed output
                self.output_names.append(f"output{i}")
        b = self.input_shape[0] if self.input_shape else None
        self.fixed_batch = b if isinstance(b, int) and b > 0 else None
        self._requests()
        # shared with the forks
        self._busy = RequestChooser(streams=max(1, streams)) if self.compiled_one is not None else None
        if self.compiled_one is not None:
            self._warm_up()
        self.precision = {"int8": "INT8 (QDQ model)" if hint == "f32" else "INT8 (QDQ model, BF16 float layers)",
                          "fp16": {"bf16": "BF16", "f16": "FP16"}.get(
            hint, "FP32 (this CPU has no faster float)")}.get(precision, "FP32")
        self.streams = max(1, streams)
        self.name = f"openvino {ov.get_version().split('-')[0]} (CPU, {self.precision})"

    def run(self, x: np.ndarray) -> dict:
        if self.compiled_n is not None and x.shape[0] == self.batch:
            return self._run(x, self.request_n, self.request_one_n)
        split = self._run_per_image(x, self._run)
        return split if split is not None else self._run(x)

    def _compile_batch(self, core, model, path: str, props: dict, n: int) -> None:
        """The model also compiled for batches of ``n`` where its batch is 1 or dynamic: a full
        batch then runs as one inference instead of image by image (or at a dynamic shape).
        Why: OpenVINO's INT8 YOLOv3-tiny on 2 cores infers 7-10 % more frames a second at batch
        4 than at batch 1 (the large late layers' weights read once for four images), a dynamic
        batch only 3 % more (docs/benchmarks.md, session 11). Partial batches (EOS, a muxer's
        timeout) still take the batch-1 model. A model whose graph fixes its batch inside (a
        Reshape to 1) fails to reshape, or gives outputs without a batch of ``n``: it keeps the
        image-by-image path, with a debug log. ``model``: the one compiled at batch 1 (with
        its uint8 input where it takes one), copied before the reshape."""
        ov = import_openvino()
        try:
            model = model.clone()
            if len(model.inputs) != 1 or model.inputs[0].get_partial_shape().rank.is_dynamic:
                return
            shape = model.inputs[0].get_partial_shape()
            if shape[0].is_static and shape[0].get_length() != 1:
                return  # a fixed batch other than 1: the model's own size only
            shape[0] = ov.Dimension(n)
            model.reshape({model.inputs[0].get_any_name(): shape})
            compiled = core.compile_model(model, "CPU", props)
            if any(o.get_partial_shape().rank.is_dynamic or o.get_partial_shape()[0] != ov.Dimension(n)
                   for o in compiled.outputs):
                log.debug("openvino: %s: outputs without a batch of %d at input batch %d; image by image",
                          path, n, n)
                return
            one = (core.compile_model(model, "CPU", dict(props, NUM_STREAMS=1))
                   if self.compiled_one is not None else None)
        except Exception as exc:  # noqa: BLE001 - OpenVINO raises RuntimeError with its message
            log.debug("openvino: %s cannot run batches of %d (%s); image by image", path, n,
                      str(exc).strip().splitlines()[-1] if str(exc).strip() else type(exc).__name__)
            return
        self.batch, self.compiled_n, self.compiled_one_n = n, compiled, one

    def _warm_up(self) -> None:
        """One inference on each compiled model now: a compiled model's first inference costs
        ~90 ms more than the next (INT8 YOLOv3-tiny, one core), paid once per model, not per
        request. Otherwise streaming frames pay it: the throughput model's first frame once the
        backlog moves the frames there (and the one-stream model's first, for a parser the
        engine does not check on a test frame)."""
        if not self.input_shape or any(not isinstance(d, int) for d in self.input_shape[1:]):
            return  # (dynamic image dimensions: nothing to run it on)
        ov = import_openvino()
        b1 = self.input_shape[0] if isinstance(self.input_shape[0], int) else 1
        for b, requests in ((b1, (self.request, self.request_one)),
                            (self.batch, (self.request_n, self.request_one_n))):
            zeros = ov.Tensor(np.zeros([b] + self.input_shape[1:], self.input_dtype))
            for req in requests:
                if req is not None:
                    req.set_input_tensor(zeros)
                    req.infer()

    def _requests(self) -> None:
        """This backend's own infer requests (one per compiled model) and what is bound to them."""
        self.request = self.compiled.create_infer_request()
        self.request_one = self.compiled_one.create_infer_request() if self.compiled_one is not None else None
        self.request_n = self.compiled_n.create_infer_request() if self.compiled_n is not None else None
        self.request_one_n = (self.compiled_one_n.create_infer_request()
                              if self.compiled_one_n is not None else None)
        self._bound = {}  # id(request) -> the array bound as its input (see _run)

    def _run(self, x: np.ndarray, request=None, request_one=None) -> dict:
        """``x`` on this backend's request (``request``: another compiled shape's), or on the
        one-stream request (``request_one``) when the adaptive chooser says so."""
        x = np.ascontiguousarray(x, self.input_dtype)
        request, request_one = request or self.request, request_one or self.request_one
        if self._busy is None:
            return self._infer(request, x)
        with self._busy.choose() as one:  # adaptive: see RequestChooser
            return self._infer(request_one if one else request, x)

    def _infer(self, req, x: np.ndarray) -> dict:
        # The request reads x in place (no 2 MB copy a 416x416 frame). Pre-processing refills one
        # work array per thread, and a request belongs to one thread: bound once as the request's
        # input tensor, later calls skip OpenVINO's Python input dispatch (0.09 against 0.23 ms a
        # call, holding the GIL). The array is held while bound, so ``is`` cannot match a new
        # array at a recycled address.
        if self._bound.get(id(req)) is not x:
            ov = import_openvino()
            req.set_input_tensor(ov.Tensor(x, shared_memory=True))
            self._bound[id(req)] = x
        req.start_async()
        req.wait()
        return {n: req.get_output_tensor(i).data.copy() for i, n in enumerate(self.output_names)}

    def fork(self) -> "OpenVinoBackend":
        b = object.__new__(OpenVinoBackend)
        b.__dict__.update(self.__dict__)  # the compiled models and the RequestChooser are shared
        b._requests()
        return b


def _median(times) -> float:
    return sorted(times)[len(times) // 2]


class RequestChooser:
    """Which request an adaptive CPU backend's next inference takes: the one-stream request on
    every core (OpenVINO; ONNX Runtime: a session on every core) — latency: about half the time
    of a one-core request — or its worker's own request on its share of the cores (throughput:
    on 2 cores, 2 × 1 thread infer 3–10 % more frames a second than 1 × 2 threads). Shared by a
    backend and its forks (one per worker).

    Latency mode (the start): inferences take the one-stream request one at a time; one that
    comes while another runs waits for it (first come, first served; a few ms, against a whole
    one-core inference). When ``backlog`` of them in a row end with another already waiting,
    frames come faster than one request serves them (an unpaced file): throughput mode, every
    inference on its own stream at once. Latency mode is tried again when frames come, on
    average (the last ~5), at least ``slack`` × the one-stream request's (median) time apart (a
    paced or live source that one request may keep up with) — not merely when one finds none
    running, which a busy pipeline also shows between frames; a try that backs up at once is
    made again after twice as many frames each time (8 … 512), so an unpaced file stays on
    throughput while a source one request keeps up with stays on latency. The one-stream time is
    measured in latency mode only, so it can be stale: taken while a start-up backlog contended
    for the cores (OpenVINO FP32: 47-53 ms against 29.6 uncontended), it kept a paced source
    whose frames come 40 ms apart on one-core requests for good (p50 57 ms against 29; runs
    flipped between the two, docs/benchmarks.md, session 10). So after ``refresh`` × the
    probing interval in throughput mode latency mode is tried regardless and the time measured
    afresh — when frames come with room for it: at least ``slack`` × a one-core request's
    (median) time over ``streams`` apart, the one-stream time were the cores to share the work
    perfectly. An unpaced file, whose frames come as fast as the one-core requests serve them,
    never qualifies; a paced source with idle cores does (a try that backs up doubles the
    interval as above).

    ``slack`` is above 1 because serving frames one at a time costs each frame its inference
    *and* its other work (pre/post-processing, the elements downstream), and because the two
    figures are close on an unpaced file: OpenVINO INT8 on 2 cores, frames every ~11.5 ms
    against a one-stream inference of 12.5–15, and noise tried latency mode again and again
    (25–33 of the bundled clip's 251 frames on the slower request with 1.0 before one request
    more than streams was kept queued; 9, the start, since). Not much above: OpenVINO FP32 paced
    at 26.8 fps (37.3 ms apart) against a one-stream inference of 26–30 ms keeps up in latency
    mode (p50 29 ms) and needs a slack below 1.24 to get there (1.25: p50 58 ms).
    ``clock``: where time comes from (tests give a fake one)."""

    def __init__(self, backlog: int = 8, slack: float = 1.1, refresh: int = 4, streams: int = 2,
                 clock=time.perf_counter) -> None:
        import collections
        self.cond = threading.Condition()
        self.backlog, self.slack, self.refresh, self.clock = backlog, slack, refresh, clock
        self.streams = max(1, streams)
        self.own_times = collections.deque(maxlen=8)  # the last one-core inferences' times
        self.latency = True
        self.running = 0
        self.queue = collections.deque()  # tickets of the inferences inside enter(), in order
        self.tickets = 0
        self.streak = 0  # one-stream inferences in a row that ended with another waiting
        self.last = None  # when the last inference came
        self.gap = None  # average time between inferences coming (exponential, ~5 of them)
        self.one_times = collections.deque(maxlen=8)  # the last one-stream inferences' times
        self.first = True  # the first inference (a cold start) is not a one-stream time
        self.since = 0  # inferences come since throughput mode began
        self.probe_every = 8  # inferences in throughput mode before latency mode is tried again
        self.latency_began = 0  # the ticket that last began latency mode

    def enter(self) -> bool:
        """Before an inference: True to take the one-stream request, False for this worker's own
        stream's."""
        with self.cond:
            now = self.clock()
            if self.last is not None:
                d = now - self.last
                self.gap = d if self.gap is None else self.gap + 0.2 * (d - self.gap)
            self.last = now
            if not self.latency:
                self.since += 1
                stale = (self.since >= self.refresh * self.probe_every and self.own_times and
                         self.gap >= self.slack * _median(self.own_times) / self.streams)
                if stale or (self.since >= self.probe_every and self.one_times and
                             self.gap >= self.slack * _median(self.one_times)):
                    self.latency = True  # one request may keep up with the frames: try it
                    self.latency_began = self.tickets
                    if stale:  # measured again from this try on
                        self.one_times.clear()
            ticket = self.tickets
            self.tickets += 1
            self.queue.append(ticket)
            try:
                while True:
                    if not self.latency:
                        self.running += 1
                        return False
                    if self.running == 0 and self.queue[0] == ticket:
                        self.running += 1
                        return True
                    self.cond.wait()
            finally:
                self.queue.remove(ticket)

    @contextlib.contextmanager
    def choose(self):
        """``with chooser.choose() as one:`` run the inference on the one-stream request if
        ``one``, else on the worker's own; :meth:`enter` and :meth:`leave` around it, timed."""
        one = self.enter()
        t0 = self.clock()
        try:
            yield one
        finally:
            self.leave(one, self.clock() - t0)

    def leave(self, one: bool, seconds: float) -> None:
        """After an inference of ``seconds``; ``one``: what :meth:`enter` returned."""
        with self.cond:
            self.running -= 1
            if not one:
                self.own_times.append(seconds)
            if one:
                if not self.first:
                    self.one_times.append(seconds)
                self.first = False
                self.streak = self.streak + 1 if self.queue else 0
                if self.streak >= self.backlog:
                    self.latency = False
                    self.streak = self.since = 0
                    # a try that backed up at once (serving one at a time costs more than the
                    # inference alone: the frame's other work) is tried again less often
                    quick = self.tickets - self.latency_began <= 4 * self.backlog
                    self.probe_every = min(512, self.probe_every * 2) if quick else 8
            self.cond.notify_all()


def _openvino_installed() -> bool:
    import importlib.util
    try:  # found without importing it: importing is unsafe in some processes (create_backend)
        return importlib.util.find_spec("openvino") is not None
    except (ImportError, ValueError):  # sys.modules["openvino"] = None, as tests do
        return False


def cpu_backends() -> list[tuple[str, str]]:
    """(backend, version) of each installed CPU backend, in the order ``backend=auto`` tries them."""
    import importlib.metadata as md
    out = []
    for dist, name in (("openvino", "openvino"), ("onnxruntime", "onnxruntime"),
                       ("onnxruntime-gpu", "onnxruntime")):
        try:
            out.append((name, md.version(dist)))
        except md.PackageNotFoundError:
            continue
    return [o for i, o in enumerate(out) if o[0] not in (p[0] for p in out[:i])]


def create_backend(path: str, gpu_id: int = -1, prefer: str | None = None, threads: int = 0,
                   precision: str = "fp32", streams: int = 1, adaptive: bool = False,
                   u8_input: tuple | None = None, batch: int = 1) -> Backend:
    """The best backend for ``path``: ``prefer`` (a :data:`BACKEND_CHOICES` value; ``auto`` or
    ``None`` defers to ``ESTUARY_BACKEND``, then to the default) may force one.

    Default: on the CPU (``gpu_id < 0``) OpenVINO where it is installed, else ONNX Runtime; with a
    GPU, ONNX Runtime's CUDA provider or the torch backend. When OpenVINO cannot compile a model
    (an operator it lacks) ``auto`` falls back to ONNX Runtime, saying why in ``backend.fallback``.
    ``threads``: intra-op threads per stream (0: the runtime's default); ``streams``: OpenVINO
    streams (parallel infer requests) to compile for; ``adaptive``: with several streams (workers)
    the backend also keeps one request (OpenVINO) or session (ONNX Runtime) on all their threads,
    chosen per frame by :class:`RequestChooser`; ``u8_input`` = (offsets, scale, nhwc): OpenVINO
    takes uint8 pixels and does that arithmetic inside (``backend.input_dtype`` says whether it
    does; other runtimes take float32); ``batch``: the batch size the caller runs most (OpenVINO
    also compiles a model exported for batch 1, or a dynamic batch, at that size; see
    :meth:`OpenVinoBackend._compile_batch`)."""
    prefer = resolve_backend(prefer)
    if prefer not in BACKEND_CHOICES:
        raise ConfigError(f"unknown backend {prefer!r}", key="backend",
                          hint="one of " + ", ".join(BACKEND_CHOICES))
    if prefer != "onnxruntime":  # (OrtBackend checks the file itself)
        check_onnx_file(path)
    if prefer == "torch" or (gpu_id >= 0 and _cuda_available() and torch_takes_gpu_frames(prefer)):
        from estuary.infer.torch_backend import TorchBackend
        return TorchBackend(path, gpu_id=max(gpu_id, 0))
    fallback = ""
    if prefer == "openvino" or (prefer == "auto" and gpu_id < 0):
        from estuary.native import cxx_throw_safe
        safe, why = cxx_throw_safe()
        if not _openvino_installed():
            if prefer == "openvino":
                raise ConfigError("backend=openvino but OpenVINO is not installed", key="backend",
                                  hint="pip install openvino, or use backend=auto")
            fallback = "openvino is not installed"
        elif not safe:  # OpenVINO throws C++ exceptions in normal operation: it would abort
            if prefer == "openvino":
                raise ConfigError(f"backend=openvino cannot run in this process: {why}", key="backend")
            fallback = f"openvino cannot run in this process: {why}"
            log.warning("esinfer: %s; using onnxruntime", fallback)
        else:
            try:
                return OpenVinoBackend(path, threads=threads, precision=precision, streams=streams,
                                       adaptive=adaptive, u8_input=u8_input, batch=batch)
            except ModelError as exc:
                if prefer == "openvino":
                    raise ConfigError(str(exc), key="backend",
                                      hint="use backend=auto or backend=onnxruntime") from None
                fallback = str(exc)
                log.warning("esinfer: %s; falling back to onnxruntime", fallback)
    b = OrtBackend(path, gpu_id=gpu_id, threads=threads, precision=precision, streams=streams, adaptive=adaptive)
    b.fallback = fallback
    return b


def _cuda_available() -> bool:
    try:
        import torch
        return torch.cuda.is_available()
    except ImportError:
        return False


def _ort_has_cuda() -> bool:
    try:
        ort = import_cxx("onnxruntime")
        return "CUDAExecutionProvider" in ort.get_available_providers()
    except ImportError:
        return False
