#!/usr/bin/env bash
# On the GPU machine, after scripts/gpu/prepare_cpu_bench.sh here: issue #23's CPU benchmark
# (`estuary bench`) on two of its CPUs, as close to the issue's 2-vCPU AVX-512 VNNI/BF16 machine
# as that Xeon allows: one CPU of each of its last two cores (away from CPU 0, where
# the machine's own services run; taskset; every runtime's threads are
# sized from the affinity mask, estuary/cpus.py), oneDNN capped at AVX-512 with VNNI and BF16
# (no AMX, which the issue's machine lacks: ONEDNN_MAX_CPU_ISA, read by OpenVINO's CPU plugin),
# the GPU hidden (CUDA_VISIBLE_DEVICES empty: no NVDEC, no torch backend). Arguments go to
# `estuary bench`. ONNX Runtime's own INT8 kernels may still use AMX (its MLAS does not read
# oneDNN's cap): its INT8 rows are not the issue's targets.
set -euo pipefail
cd "$(dirname "$0")/../.."
site=/tmp/ov-site
mkdir -p "$site" && tar -C "$site" -xJf .gpu/openvino.tar.xz
export PYTHONPATH=$site
python3 -m pip install -q --no-index --no-deps .gpu/wheels/supervision-*.whl .gpu/wheels/trackers-*.whl \
  .gpu/wheels/pydeprecate-*.whl .gpu/wheels/defusedxml-*.whl 2>&1 | grep -v "^WARNING: Running pip as" || true
python3 - <<'PY'
# the detector was carried with FP16 weights (half the bytes): back to FP32 for every runtime
import numpy as np, onnx
from onnx import numpy_helper
p = ".gpu/data/models/yolov3-tiny-ds4.onnx"
m = onnx.load(p)
for init in m.graph.initializer:
    a = numpy_helper.to_array(init)
    if a.dtype == np.float16:
        init.CopyFrom(numpy_helper.from_array(a.astype(np.float32), init.name))
onnx.save(m, p)
PY
cpus=$(lscpu -p=CPU,CORE | grep -v '^#' | sort -t, -k2,2n -u | tail -2 | cut -d, -f1 | paste -sd,)
export CUDA_VISIBLE_DEVICES= ONEDNN_MAX_CPU_ISA=${ONEDNN_MAX_CPU_ISA:-AVX512_CORE_BF16}
lscpu | grep -E "^Model name|^Thread|^Core|^Socket"
echo "CPUs $cpus (of $(nproc)); ONEDNN_MAX_CPU_ISA=$ONEDNN_MAX_CPU_ISA"
exec bash scripts/gpu/run.sh taskset -c "$cpus" bash -c '
python3 - <<PY
# which kernels OpenVINO runs here: "amx" in a primitive type would mean the ISA cap is ignored
import collections, openvino as ov
c = ov.Core().compile_model(".gpu/data/models/yolov3-tiny-ds4.onnx", "CPU", {"INFERENCE_PRECISION_HINT": "bf16"})
kinds = collections.Counter(n.get_rt_info()["primitiveType"].astype(str) for n in c.get_runtime_model().get_ops())
print("openvino", ov.__version__, "threads", c.get_property("INFERENCE_NUM_THREADS"), "kernels", dict(kinds))
PY
python3 -m estuary bench "$@"' bench "$@"
