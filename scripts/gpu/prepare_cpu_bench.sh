#!/usr/bin/env bash
# Gather, on this (development) machine, what issue #23's CPU benchmark needs on the GPU machine's
# CPU (an Intel Xeon with AVX-512 VNNI; the GPU is not used): the carried GStreamer of prepare.sh
# (gather.sh) plus OpenH264 (that machine has no gst-libav; openh264dec decodes the clip — ~1.2 ms
# of CPU a frame against avdec_h264's ~0.7 here, a handicap for the pipeline, not the loops),
# OpenVINO for its Python 3.12 (CPU plugin, ONNX and IR front ends only: the wheel is 59 MB), the
# naive loop's pure-Python peers (supervision, trackers), the detector with FP16 weights (written
# back to FP32 there: every run of the bench uses the same weights) and the bundled clip.
# Then there: bash scripts/gpu/cpu_bench.sh [estuary bench arguments]
set -euo pipefail
cd "$(dirname "$0")/../.."
shared=${ESTUARY_SHARED:-../shared}
rm -rf .gpu
bash "$shared/tools/gpu/gather.sh" "$PWD/.gpu" >/dev/null 2>&1
(cd .gpu/debs && apt-get download libopenh264-7 >/dev/null)
ov=$(.venv/bin/python -c "import importlib.metadata as m; print(m.version('openvino'))")
tmp=$(mktemp -d)
pip download -q --no-deps --only-binary=:all: --python-version 3.12 --platform manylinux_2_28_x86_64 \
  "openvino==$ov" -d "$tmp"
.venv/bin/python - "$tmp"/openvino-*.whl "$tmp/site" <<'PY'
import sys, zipfile
keep_libs = ("libopenvino.so", "libopenvino_intel_cpu_plugin", "libopenvino_onnx_frontend",
             "libopenvino_ir_frontend", "libtbb", "libhwloc")
drop_dirs = ("openvino/frontend/tensorflow", "openvino/frontend/pytorch", "openvino/frontend/paddle",
             "openvino/frontend/jax", "openvino/tools", "openvino/libs/")
with zipfile.ZipFile(sys.argv[1]) as z:
    for name in z.namelist():
        lib = name.startswith("openvino/libs/")
        if lib and not name[len("openvino/libs/"):].startswith(keep_libs):
            continue
        if not lib and name.startswith(drop_dirs):
            continue
        z.extract(name, sys.argv[2])
PY
tar -C "$tmp/site" -cJf .gpu/openvino.tar.xz .
rm -rf "$tmp"
pip download -q --no-deps supervision trackers pydeprecate defusedxml -d .gpu/wheels
mkdir -p .gpu/data/models .gpu/data/media
.venv/bin/python scripts/gpu/half_onnx.py yolov3-tiny-ds4.onnx
cp ~/.cache/estuary/models/*.txt .gpu/data/models/
cp ~/.cache/estuary/media/bikes.mp4 .gpu/data/media/
mkdir -p .gpu/data/samples && cp -r ~/.cache/estuary/samples/* .gpu/data/samples/
for stamp in $(grep -o "\.complete-v[0-9]*\|\.segmentation-v[0-9]*" src/estuary/data.py | sort -u); do
  touch ".gpu/data/$stamp"
done
du -sh .gpu .gpu/*
