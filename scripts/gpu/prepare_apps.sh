#!/usr/bin/env bash
# Gather into .gpu/ (git-ignored, under the 64 MiB carry limit) what NVIDIA's own sample apps need
# on the GPU machine, unmodified, as scripts/nvidia_samples.py runs them here: GStreamer with NVDEC
# (shared/tools/gpu/gather.sh), x264enc and the RTSP server, the sample models with FP16 weights
# (the FP32 DeepStream-4-class detector alone would take half the carry), the bundled clips, and
# both generations of the apps (v1.0.3 = DeepStream 5.1, v1.2.0 = 7.1) exported from the mirror.
# Then, on the GPU machine:
#   bash scripts/gpu/run.sh python3 scripts/nvidia_samples.py --repo .gpu/dsapps/v1.2.0 --tag v1.2.0
set -euo pipefail
cd "$(dirname "$0")/../.."
shared=${ESTUARY_SHARED:-../shared}
mirror=${ESTUARY_NVIDIA_APPS:-/work/.mirror/NVIDIA-AI-IOT+deepstream_python_apps/repo}
rm -rf .gpu
bash "$shared/tools/gpu/gather.sh" "$PWD/.gpu" >/dev/null 2>&1
(cd .gpu/debs && apt-get download libjpeg62-turbo gstreamer1.0-plugins-ugly libx264-164 \
  libgstrtspserver-1.0-0 gir1.2-gst-rtsp-server-1.0 >/dev/null)
mkdir -p .gpu/data/models .gpu/data/media .gpu/data/samples
.venv/bin/python scripts/gpu/half_onnx.py yolov3-tiny-ds4.onnx mobilenet_v2.onnx
src=$(.venv/bin/python -c "from estuary import data; print(data.data_dir())")
cp "$src"/models/*.txt "$src"/models/selfie_segmentation*.onnx .gpu/data/models/
cp -r "$src"/samples/* .gpu/data/samples/
cp "$src"/media/bikes.mp4 "$src"/media/bikes.h264 "$src"/media/zidane.jpg .gpu/data/media/
# the data folder's stamps as estuary.data names them: the carried data counts as installed there
for stamp in $(grep -o "\.complete-v[0-9]*\|\.segmentation-v[0-9]*" src/estuary/data.py | sort -u); do
  touch ".gpu/data/$stamp"
done
for tag in v1.0.3 v1.2.0; do
  mkdir -p .gpu/dsapps/$tag
  git --git-dir="$mirror" archive "$tag" apps 2>/dev/null | tar -x -C .gpu/dsapps/$tag \
    || git -C "$mirror" archive "$tag" apps | tar -x -C .gpu/dsapps/$tag
done
pip download -q --no-deps pytest pluggy iniconfig packaging -d .gpu/wheels
du -sh .gpu
