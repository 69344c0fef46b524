#!/usr/bin/env bash
# Gather, on this (development) machine, what the GPU machine lacks into .gpu/ (git-ignored,
# under the 64 MiB carry limit): GStreamer 1.22 with the nvcodec (NVDEC/NVENC) plugin and
# PyGObject's sdist (via shared/tools/gpu/gather.sh), the bundled models with FP16 weights, and
# 1080p H.264 and H.265 test clips. Then, on the GPU machine: bash scripts/gpu/run.sh <command>
set -euo pipefail
cd "$(dirname "$0")/../.."
shared=${ESTUARY_SHARED:-../shared}
rm -rf .gpu
bash "$shared/tools/gpu/gather.sh" "$PWD/.gpu" >/dev/null 2>&1
# libjpeg for gst-plugins-good's jpegdec (the JPEGs NVIDIA's JPEG decoder does not take: 4:4:4)
(cd .gpu/debs && apt-get download libjpeg62-turbo >/dev/null)
mkdir -p .gpu/data/models .gpu/data/media .gpu/data/samples
.venv/bin/python scripts/gpu/half_onnx.py
cp ~/.cache/estuary/models/*.txt .gpu/data/models/
cp -r ~/.cache/estuary/samples/* .gpu/data/samples/
if [ ! -f .gpu/data/media/bikes_1080p.mp4 ]; then
  .venv/bin/python - <<'PY'
import pyds
from estuary.gst import Gst
from estuary import data
p = Gst.parse_launch(
    f"filesrc location={data.media_path('bikes.mp4')} ! qtdemux ! h264parse ! avdec_h264 ! videoscale ! "
    "videorate ! video/x-raw,width=1920,height=1080,framerate=30/1 ! x264enc speed-preset=veryfast bitrate=3500 "
    "key-int-max=60 ! video/x-h264,profile=high ! h264parse ! mp4mux ! filesink location=.gpu/data/media/bikes_1080p.mp4")
p.set_state(Gst.State.PLAYING)
p.get_bus().timed_pop_filtered(600 * Gst.SECOND, Gst.MessageType.EOS | Gst.MessageType.ERROR)
p.set_state(Gst.State.NULL)
PY
fi
# the same street clip in H.265 (4 Mb/s, Main profile) for the H.265 NVDEC ceiling and runs
# (gpu_bench.py finds it as bikes_1080p_h265.mp4); the GPU machine's GStreamer has no x265enc
gst-launch-1.0 -q filesrc location=.gpu/data/media/bikes_1080p.mp4 ! qtdemux ! h264parse ! avdec_h264 ! \
  videoconvert ! x265enc bitrate=4000 speed-preset=ultrafast ! video/x-h265,profile=main ! h265parse ! \
  mp4mux ! filesink location=.gpu/data/media/bikes_1080p_h265.mp4
cp ~/.cache/estuary/media/bikes.mp4 .gpu/data/media/
# the bundled street clip (640x272) in H.265 at 8, 10 and 12 bits 4:2:0 and 8-bit 4:4:4, for the
# tests of NVDEC's other output formats (P010_10LE, P016_LE; 4:4:4 is decoded to system memory)
for spec in "main:I420" "main10:I420_10LE" "main12:I420_12LE" "main444:Y444"; do
  name=${spec%%:*}; fmt=${spec##*:}
  gst-launch-1.0 -q filesrc location=.gpu/data/media/bikes.mp4 ! qtdemux ! h264parse ! avdec_h264 ! \
    videoconvert dither=0 ! video/x-raw,format=$fmt ! x265enc bitrate=600 speed-preset=ultrafast ! \
    h265parse ! mp4mux ! filesink location=.gpu/data/media/bikes_h265_$name.mp4
done
# JPEG that NVIDIA's JPEG decoder does not take (4:4:4: MJPEG cameras, photos) and odd sizes
gst-launch-1.0 -q filesrc location=.gpu/data/media/bikes.mp4 ! qtdemux ! h264parse ! avdec_h264 ! \
  identity eos-after=30 ! videoconvert ! video/x-raw,format=Y444 ! jpegenc quality=70 ! avimux ! \
  filesink location=.gpu/data/media/bikes_mjpeg444.avi
for fmt in I420 Y444; do
  gst-launch-1.0 -q videotestsrc num-buffers=1 pattern=smpte ! video/x-raw,width=321,height=241,format=$fmt ! \
    jpegenc ! filesink location=.gpu/data/media/odd_$fmt.jpg
done
# the data folder's stamps as estuary.data names them: the carried data counts as installed there
for stamp in $(grep -o "\.complete-v[0-9]*\|\.segmentation-v[0-9]*" src/estuary/data.py | sort -u); do
  touch ".gpu/data/$stamp"
done
pip download -q --no-deps pytest pluggy iniconfig packaging -d .gpu/wheels
du -sh .gpu
