#!/usr/bin/env bash
# The GPU measurements of one session, run on the device machine from the repository root:
#   bash scripts/gpu/run.sh bash bench/gpu_session.sh PHASE H265_CLIP
# Logs go to $OUT (the device tool's result folder). Each step has its own time limit so a slow
# one cannot eat the others' device time.
set -u
OUT=${OUT:-/tmp/gpu-out}
mkdir -p "$OUT"
phase=${1:-1}
h265=${2:-}
quiet() { grep -v -e "Failed to load plugin" -e "^$" ; }

profile() {  # py-spy on one pipeline process: KIND det (detector+tracker) or cls (+2 classifiers), N streams
  local kind=$1 n=$2
  python3 -m pip install -q --no-index --no-deps --target /tmp/spy .gpu/pyspy/*.whl || return
  python3 - "$kind" "$n" > "$OUT/prof_run.log" 2>&1 <<'PY' &
import sys; sys.path.insert(0, 'bench')
import gpu_bench as g
from estuary import data
kind, n = sys.argv[1], int(sys.argv[2])
clip = data.media_path("bikes_1080p.mp4"); cfg = data.model_path(data.PRIMARY_CONFIG)
src = f"filesrc location={clip} ! qtdemux ! h264parse ! nvh264dec ! video/x-raw(memory:CUDAMemory) ! identity eos-after=600"
f, dt = g.run(g.pipeline_desc(kind, n, src, cfg), count_probe="sink")
print("profiled run:", kind, "streams", n, "frames", f, "s %.2f fps %.1f" % (dt, f / dt), flush=True)
PY
  local pid=$!
  sleep 14
  /tmp/spy/bin/py-spy record --pid $pid --duration 20 --threads --format raw --nonblocking -o "$OUT/spy.txt" > "$OUT/spy.log" 2>&1
  wait $pid
  python3 bench/spy_summary.py "$OUT/spy.txt" 50 > "$OUT/spy_summary.txt" 2>&1
}

case $phase in
  1)
    timeout 150 python3 -m pytest -q -p no:cacheprovider tests/test_gpu_post.py tests/test_gpu.py 2>&1 | quiet | tail -40 > "$OUT/tests.log"
    timeout 240 python3 bench/gpu_bench.py --skip-naive --streams 64 96 128 150 --compare-sync 96 2>&1 | quiet > "$OUT/bench_det.log"
    profile det 128
    ;;
  2)
    timeout 150 python3 -m pytest -q -p no:cacheprovider -rfE tests/test_gpu_post.py tests/test_gpu.py > "$OUT/tests_full.log" 2>&1
    tail -5 "$OUT/tests_full.log"
    timeout 150 python3 bench/gpu_bench.py --skip-naive --streams 96 128 150 --compare-sync 128 2>&1 | quiet > "$OUT/bench_det.log"
    cat "$OUT/bench_det.log"
    timeout 200 python3 bench/gpu_bench.py --skip-base --classifiers 64 96 128 2>&1 | quiet > "$OUT/bench_cls.log"
    cat "$OUT/bench_cls.log"
    [ -n "$h265" ] && timeout 120 python3 bench/gpu_bench.py --skip-base --h265-clip "$h265" --h265 96 128 2>&1 | quiet > "$OUT/bench_h265.log"
    cat "$OUT/bench_h265.log"
    profile det 128
    tail -1 "$OUT/prof_run.log"
    ;;
  3)
    timeout 200 python3 bench/gpu_bench.py --warmup --skip-naive --frames 480 --streams 96 112 128 --compare-sync 112 2>&1 | quiet > "$OUT/bench_det.log"
    cat "$OUT/bench_det.log"
    timeout 150 python3 bench/gpu_bench.py --warmup --skip-base --frames 480 --classifiers 32 48 64 2>&1 | quiet > "$OUT/bench_cls.log"
    cat "$OUT/bench_cls.log"
    ;;
  4)
    timeout 150 python3 -m pytest -q -p no:cacheprovider -rfE tests/test_gpu_post.py tests/test_gpu.py > "$OUT/tests_full.log" 2>&1
    tail -3 "$OUT/tests_full.log"; grep -E "^(FAILED|ERROR|E  )" "$OUT/tests_full.log" | head -20
    timeout 220 python3 bench/gpu_bench.py --warmup --skip-naive --streams 96 112 128 --compare-eager 96 112 --compare-sync 112 2>&1 | quiet > "$OUT/bench_det.log"
    cat "$OUT/bench_det.log"
    timeout 120 python3 bench/gpu_bench.py --warmup --skip-base --classifiers 48 64 80 2>&1 | quiet > "$OUT/bench_cls.log"
    cat "$OUT/bench_cls.log"
    profile det 112
    tail -1 "$OUT/prof_run.log"
    ;;
  5)
    timeout 120 python3 -m pytest -q -p no:cacheprovider -rfE tests/test_gpu.py > "$OUT/tests_full.log" 2>&1
    tail -2 "$OUT/tests_full.log"; grep -E "^(FAILED|ERROR|E  )" "$OUT/tests_full.log" | head -20
    timeout 200 python3 bench/gpu_bench.py --warmup --skip-naive --streams 112 128 144 --compare-frame-detect 128 --compare-sync 128 2>&1 | quiet > "$OUT/bench_det.log"
    cat "$OUT/bench_det.log"
    timeout 100 python3 bench/gpu_bench.py --warmup --skip-base --classifiers 64 80 96 2>&1 | quiet > "$OUT/bench_cls.log"
    cat "$OUT/bench_cls.log"
    [ -n "$h265" ] && timeout 80 python3 bench/gpu_bench.py --warmup --skip-base --h265-clip "$h265" --h265 128 144 2>&1 | quiet > "$OUT/bench_h265.log"
    cat "$OUT/bench_h265.log"
    profile det 128
    tail -1 "$OUT/prof_run.log"
    ;;
  6)  # session 5: the merged GPU path re-verified, NVIDIA's CuPy app, a short benchmark
    timeout 200 python3 -m pytest -q -p no:cacheprovider -rfE tests/test_gpu.py tests/test_gpu_post.py \
      tests/test_torch_backend.py > "$OUT/tests_full.log" 2>&1
    tail -3 "$OUT/tests_full.log"; grep -E "^(FAILED|ERROR|E  )" "$OUT/tests_full.log" | head -30
    python3 -c "import cupy; print('cupy', cupy.__version__)"
    timeout 90 python3 scripts/nvidia_samples.py --repo build/nvapps --timeout 60 \
      --only deepstream-imagedata-multistream-cupy > "$OUT/cupy_app.log" 2>&1
    tail -5 "$OUT/cupy_app.log"
    timeout 150 python3 bench/gpu_bench.py --warmup --skip-naive --streams 96 112 2>&1 | quiet > "$OUT/bench_det.log"
    cat "$OUT/bench_det.log"
    timeout 100 python3 bench/gpu_bench.py --warmup --skip-base --classifiers 48 64 2>&1 | quiet > "$OUT/bench_cls.log"
    cat "$OUT/bench_cls.log"
    ;;
  7)  # session 5, call 2: the fixes re-verified, NVIDIA's CuPy app as a test and as the sample runner runs it
    export ESTUARY_NVIDIA_APPS=$PWD/build/nvapps
    timeout 200 python3 -m pytest -q -p no:cacheprovider -rfEs tests/test_gpu.py tests/test_gpu_post.py \
      tests/test_torch_backend.py tests/test_nvidia_cupy_app.py > "$OUT/tests_full.log" 2>&1
    tail -3 "$OUT/tests_full.log"; grep -E "^(FAILED|ERROR|E  |SKIPPED)" "$OUT/tests_full.log" | head -30
    timeout 90 python3 scripts/nvidia_samples.py --repo build/nvapps --timeout 80 \
      --only deepstream-imagedata-multistream-cupy > "$OUT/cupy_app.log" 2>&1
    tail -5 "$OUT/cupy_app.log"
    timeout 150 python3 bench/gpu_bench.py --warmup --skip-naive --streams 96 112 128 2>&1 | quiet > "$OUT/bench_det.log"
    cat "$OUT/bench_det.log"
    timeout 100 python3 bench/gpu_bench.py --warmup --skip-base --classifiers 48 64 2>&1 | quiet > "$OUT/bench_cls.log"
    cat "$OUT/bench_cls.log"
    ;;
  8)  # NVIDIA's CuPy app only (test + sample runner), the cuda stand-in's GPU case
    export ESTUARY_NVIDIA_APPS=$PWD/build/nvapps
    timeout 200 python3 -m pytest -q -p no:cacheprovider -rfEs tests/test_nvidia_cupy_app.py tests/test_cuda_compat.py \
      > "$OUT/tests_cupy.log" 2>&1
    tail -3 "$OUT/tests_cupy.log"; grep -E "^(FAILED|ERROR|E  |SKIPPED)" "$OUT/tests_cupy.log" | head -30
    timeout 90 python3 scripts/nvidia_samples.py --repo build/nvapps --timeout 80 \
      --only deepstream-imagedata-multistream-cupy > "$OUT/cupy_app.log" 2>&1
    tail -5 "$OUT/cupy_app.log"
    ;;
  9)  # session 5, measurement: multi-stream tracker step and batched classifier crops, baselines in the same run
    export ESTUARY_NVIDIA_APPS=$PWD/build/nvapps
    timeout 200 python3 -m pytest -q -p no:cacheprovider -rfEs tests/test_gpu.py tests/test_crop_batch.py \
      tests/test_tracker_many.py tests/test_nvidia_cupy_app.py tests/test_cuda_compat.py > "$OUT/tests_full.log" 2>&1
    tail -2 "$OUT/tests_full.log"; grep -E "^(FAILED|ERROR|E  |SKIPPED)" "$OUT/tests_full.log" | head -20
    timeout 150 python3 bench/gpu_bench.py --warmup --skip-naive --streams 128 144 --compare-tracker 128 144 2>&1 | quiet > "$OUT/bench_det.log"
    cat "$OUT/bench_det.log"
    timeout 200 python3 bench/gpu_bench.py --warmup --skip-base --classifiers 64 80 96 --compare-old 64 80 96 2>&1 | quiet > "$OUT/bench_cls.log"
    cat "$OUT/bench_cls.log"
    profile det 128
    tail -1 "$OUT/prof_run.log"; head -45 "$OUT/spy_summary.txt"
    ;;
  10)  # session 5, call 7 (its third bench mode, classifiers on their own CUDA streams, measured no gain and was dropped)
    export ESTUARY_NVIDIA_APPS=$PWD/build/nvapps
    timeout 200 python3 -m pytest -q -p no:cacheprovider -rfEs tests/test_gpu.py tests/test_nvidia_cupy_app.py \
      > "$OUT/tests_full.log" 2>&1
    tail -2 "$OUT/tests_full.log"; grep -E "^(FAILED|ERROR|E  |SKIPPED)" "$OUT/tests_full.log" | head -20
    timeout 300 python3 bench/gpu_bench.py --warmup --skip-base --classifiers 64 80 96 --compare-old 64 80 96 \
      2>&1 | quiet > "$OUT/bench_cls.log"
    cat "$OUT/bench_cls.log"
    ;;
  11)  # the GPU tests once more
    export ESTUARY_NVIDIA_APPS=$PWD/build/nvapps
    timeout 200 python3 -m pytest -q -p no:cacheprovider -rfEs tests/test_gpu.py tests/test_gpu_post.py tests/test_torch_backend.py \
      tests/test_nvidia_cupy_app.py tests/test_cuda_compat.py tests/test_crop_batch.py tests/test_tracker_many.py > "$OUT/tests_full.log" 2>&1
    tail -2 "$OUT/tests_full.log"; grep -E "^(FAILED|ERROR|E  |SKIPPED)" "$OUT/tests_full.log" | head -20
    timeout 100 python3 bench/gpu_bench.py --warmup --skip-base --classifiers 80 --compare-old 80 2>&1 | quiet > "$OUT/bench_cls.log"
    cat "$OUT/bench_cls.log"
    ;;
  12)  # the uridecodebin test after the ESTUARY_NVDEC_CUDA=0 fix, and the CuPy app once more
    export ESTUARY_NVIDIA_APPS=$PWD/build/nvapps
    timeout 150 python3 -m pytest -q -p no:cacheprovider -rfEs tests/test_gpu.py tests/test_nvidia_cupy_app.py > "$OUT/tests_full.log" 2>&1
    tail -2 "$OUT/tests_full.log"; grep -E "^(FAILED|ERROR|E  )" "$OUT/tests_full.log" | head -20
    ;;
  13)  # the branch rebased on main (array metadata): GPU tests, the CuPy app, detector+tracker at 128
    export ESTUARY_NVIDIA_APPS=$PWD/build/nvapps
    timeout 200 python3 -m pytest -q -p no:cacheprovider -rfEs tests/test_gpu.py tests/test_gpu_post.py tests/test_torch_backend.py \
      tests/test_nvidia_cupy_app.py tests/test_cuda_compat.py tests/test_crop_batch.py tests/test_tracker_many.py > "$OUT/tests_full.log" 2>&1
    tail -2 "$OUT/tests_full.log"; grep -E "^(FAILED|ERROR|E  )" "$OUT/tests_full.log" | head -20
    timeout 120 python3 bench/gpu_bench.py --warmup --skip-naive --streams 128 --compare-tracker 128 2>&1 | quiet > "$OUT/bench_det.log"
    cat "$OUT/bench_det.log"
    ;;
  14)  # H.265 with the session-5 code: NVDEC ceiling and detector+tracker (the clip: bash bench/gpu_session.sh 14 CLIP)
    timeout 150 python3 bench/gpu_bench.py --warmup --skip-base --h265-clip "$h265" --h265 128 144 160 2>&1 | quiet > "$OUT/bench_h265.log"
    cat "$OUT/bench_h265.log"
    ;;
  15)  # session 6, call 1: do processes add up on one GPU now? (classifier workload split over P processes)
    timeout 120 python3 bench/gpu_bench.py --warmup --skip-naive --streams 128 2>&1 | quiet > "$OUT/bench_det.log"
    cat "$OUT/bench_det.log"
    timeout 90 python3 bench/gpu_bench.py --skip-base --classifiers 64 --processes 1 2>&1 | quiet > "$OUT/bench_p1.log"
    cat "$OUT/bench_p1.log"
    timeout 100 python3 bench/gpu_bench.py --skip-base --classifiers 96 128 --processes 2 2>&1 | quiet > "$OUT/bench_p2.log"
    cat "$OUT/bench_p2.log"
    timeout 100 python3 bench/gpu_bench.py --skip-base --classifiers 128 150 --processes 3 2>&1 | quiet > "$OUT/bench_p3.log"
    cat "$OUT/bench_p3.log"
    timeout 100 python3 bench/gpu_bench.py --skip-base --classifiers 150 --proc-det 160 --processes 4 2>&1 | quiet > "$OUT/bench_p4.log"
    cat "$OUT/bench_p4.log"
    profile cls 64
    tail -1 "$OUT/prof_run.log"
    ;;
  16)  # session 6, call 2: the classifiers' objects in one padded call (CUDA graphs), A/B; processes
    timeout 150 python3 -m pytest -q -p no:cacheprovider -rfE tests/test_gpu.py tests/test_secondary_objects.py tests/test_crop_batch.py > "$OUT/tests.log" 2>&1
    tail -2 "$OUT/tests.log"; grep -E "^(FAILED|ERROR|E  )" "$OUT/tests.log" | head -20
    timeout 150 python3 bench/gpu_bench.py --warmup --skip-base --classifiers 64 96 --compare-old 64 96 2>&1 | quiet > "$OUT/bench_cls.log"
    cat "$OUT/bench_cls.log"
    timeout 80 python3 bench/gpu_bench.py --skip-base --classifiers 150 --processes 3 2>&1 | quiet > "$OUT/bench_p3.log"
    cat "$OUT/bench_p3.log"
    timeout 80 python3 bench/gpu_bench.py --skip-base --classifiers 150 --processes 5 2>&1 | quiet > "$OUT/bench_p5.log"
    cat "$OUT/bench_p5.log"
    profile cls 96
    tail -1 "$OUT/prof_run.log"
    ;;
  17)  # session 6, call 3: + the classifiers' own CUDA stream; A/B, processes, profile
    timeout 200 python3 -m pytest -q -p no:cacheprovider -rfE tests/test_gpu.py tests/test_secondary_objects.py > "$OUT/tests.log" 2>&1
    tail -2 "$OUT/tests.log"; grep -E "^(FAILED|ERROR|E  )" "$OUT/tests.log" | head -20
    timeout 150 python3 bench/gpu_bench.py --warmup --skip-base --classifiers 64 96 --compare-old 64 96 2>&1 | quiet > "$OUT/bench_cls.log"
    cat "$OUT/bench_cls.log"
    timeout 80 python3 bench/gpu_bench.py --skip-base --classifiers 150 --processes 3 2>&1 | quiet > "$OUT/bench_p3.log"
    cat "$OUT/bench_p3.log"
    timeout 80 python3 bench/gpu_bench.py --skip-base --classifiers 150 --processes 4 2>&1 | quiet > "$OUT/bench_p4.log"
    cat "$OUT/bench_p4.log"
    profile cls 96
    tail -1 "$OUT/prof_run.log"
    ;;
  18)  # session 6, call 4: cap 64 + high-priority stream; processes; does a wait per batch stop processes adding up?
    h265=build/h265/bikes_1080p_h265.mp4
    timeout 200 python3 -m pytest -q -p no:cacheprovider -rfE tests/test_gpu.py tests/test_secondary_objects.py > "$OUT/tests.log" 2>&1
    tail -2 "$OUT/tests.log"; grep -E "^(FAILED|ERROR|E  )" "$OUT/tests.log" | head -20
    timeout 150 python3 bench/gpu_bench.py --warmup --skip-base --classifiers 64 96 --compare-old 64 96 2>&1 | quiet > "$OUT/bench_cls.log"
    cat "$OUT/bench_cls.log"
    timeout 90 python3 bench/gpu_bench.py --skip-base --classifiers 150 --proc-det 160 --processes 4 2>&1 | quiet > "$OUT/bench_p4.log"
    cat "$OUT/bench_p4.log"
    ESTUARY_INFER_SYNC=1 timeout 60 python3 bench/gpu_bench.py --skip-base --proc-det 160 --processes 4 2>&1 | quiet > "$OUT/bench_p4sync.log"
    cat "$OUT/bench_p4sync.log"
    timeout 40 python3 bench/gpu_bench.py --skip-base --h265-clip $h265 2>&1 | quiet > "$OUT/bench_h265.log"
    timeout 90 python3 bench/gpu_bench.py --skip-base --proc-clip $h265 --classifiers 150 --proc-det 192 --processes 4 2>&1 | quiet >> "$OUT/bench_h265.log"
    cat "$OUT/bench_h265.log"
    ;;
  19)  # session 6, final call: GPU tests, channels-last A/B, the figures (H.264 and H.265, processes)
    h265=build/h265/bikes_1080p_h265.mp4
    export ESTUARY_NVIDIA_APPS=$PWD/build/nvapps
    timeout 200 python3 -m pytest -q -p no:cacheprovider -rfEs tests/test_gpu.py tests/test_torch_backend.py tests/test_secondary_objects.py \
      tests/test_gpu_post.py tests/test_crop_batch.py tests/test_tracker_many.py tests/test_nvidia_cupy_app.py > "$OUT/tests.log" 2>&1
    tail -2 "$OUT/tests.log"; grep -E "^(FAILED|ERROR|E  |SKIPPED)" "$OUT/tests.log" | head -20
    for cl in 0 1; do ESTUARY_CHANNELS_LAST=$cl timeout 40 python3 bench/gpu_bench.py --skip-base --infer-only 64 2>&1 | quiet | sed "s/^/channels-last=$cl /"; done > "$OUT/bench_layout.log"
    cat "$OUT/bench_layout.log"
    timeout 60 python3 bench/gpu_bench.py --warmup --skip-naive --streams 128 2>&1 | quiet > "$OUT/bench_det.log"
    cat "$OUT/bench_det.log"
    timeout 90 python3 bench/gpu_bench.py --skip-base --classifiers 64 96 --compare-old 64 2>&1 | quiet > "$OUT/bench_cls.log"
    ESTUARY_CHANNELS_LAST=0 timeout 40 python3 bench/gpu_bench.py --skip-base --classifiers 64 2>&1 | quiet | sed "s/^/channels-last=0 /" >> "$OUT/bench_cls.log"
    cat "$OUT/bench_cls.log"
    timeout 90 python3 bench/gpu_bench.py --skip-base --classifiers 150 --proc-det 160 --processes 4 2>&1 | quiet > "$OUT/bench_p.log"
    ESTUARY_CHANNELS_LAST=0 timeout 50 python3 bench/gpu_bench.py --skip-base --classifiers 150 --processes 4 2>&1 | quiet | sed "s/^/channels-last=0 /" >> "$OUT/bench_p.log"
    timeout 50 python3 bench/gpu_bench.py --skip-base --classifiers 150 --processes 6 2>&1 | quiet >> "$OUT/bench_p.log"
    cat "$OUT/bench_p.log"
    timeout 40 python3 bench/gpu_bench.py --skip-base --h265-clip $h265 2>&1 | quiet > "$OUT/bench_h265.log"
    timeout 50 python3 bench/gpu_bench.py --skip-base --proc-clip $h265 --classifiers 150 --processes 4 2>&1 | quiet >> "$OUT/bench_h265.log"
    cat "$OUT/bench_h265.log"
    ;;
  20)  # next session, first call: verify what session 6 changed after its last GPU call (classifiers
      # on tables, channels-last for the detector only, capture lock, cap 64) and measure it;
      # the H.265 clip is in .gpu/data/media since prepare.sh makes it
    export ESTUARY_NVIDIA_APPS=$PWD/build/nvapps
    timeout 200 python3 -m pytest -q -p no:cacheprovider -rfEs tests/test_gpu.py tests/test_torch_backend.py \
      tests/test_secondary_objects.py tests/test_secondary_rows.py tests/test_gpu_post.py tests/test_crop_batch.py \
      tests/test_tracker_many.py tests/test_nvidia_cupy_app.py > "$OUT/tests.log" 2>&1
    tail -2 "$OUT/tests.log"; grep -E "^(FAILED|ERROR|E  |SKIPPED)" "$OUT/tests.log" | head -20
    timeout 90 python3 bench/gpu_bench.py --skip-naive --streams 128 2>&1 | quiet > "$OUT/bench_det.log"
    cat "$OUT/bench_det.log"
    timeout 100 python3 bench/gpu_bench.py --skip-base --h265-clip '' --classifiers 64 96 --compare-old 64 2>&1 | quiet > "$OUT/bench_cls.log"
    cat "$OUT/bench_cls.log"
    timeout 120 python3 bench/gpu_bench.py --skip-base --h265-clip '' --classifiers 150 --proc-det 160 --processes 4 2>&1 | quiet > "$OUT/bench_p.log"
    cat "$OUT/bench_p.log"
    ;;
  21)  # the GPU-vs-onnxruntime classifier check on the carried FP16-weight model; object and
      # classifier-result counts per layout/path (one stream); long runs (4 loops of the clip)
    timeout 120 python3 -m pytest -q -p no:cacheprovider -rfEs tests/test_torch_backend.py -k agreement > "$OUT/tests.log" 2>&1
    tail -2 "$OUT/tests.log"; grep -E "^(FAILED|ERROR|E  )" "$OUT/tests.log" | head
    for v in "" ESTUARY_CHANNELS_LAST=0 ESTUARY_CHANNELS_LAST=1 "ESTUARY_BATCH_OBJECTS=0 ESTUARY_OBJECT_STREAM=0"; do
      echo "== $v"; env $v timeout 60 python3 bench/gpu_bench.py --skip-base --h265-clip '' --classifiers 1 8 --processes 1 --count 2>&1 | quiet | grep proc
    done
    timeout 150 python3 bench/gpu_bench.py --skip-base --h265-clip '' --loop 4 --frames 1200 --classifiers 150 --proc-det 160 --processes 4 2>&1 | quiet > "$OUT/bench_p.log"
    cat "$OUT/bench_p.log"
    ;;
  22)  # which setting changes the classifier results at 8 streams (dumps compared afterwards)
    timeout 100 python3 -m pytest -q -p no:cacheprovider -rfEs tests/test_torch_backend.py -k "agrees_with_onnxruntime or agreement" > "$OUT/tests.log" 2>&1
    tail -2 "$OUT/tests.log"; grep -E "^(FAILED|ERROR|E  )" "$OUT/tests.log" | head
    timeout 40 python3 bench/cls_dump.py run 1 242 "$OUT/d1.jsonl" 2>&1 | quiet | tail -1
    for v in default ESTUARY_CHANNELS_LAST=0 ESTUARY_BATCH_DETECT=0 ESTUARY_CUDA_GRAPHS=0 "ESTUARY_BATCH_OBJECTS=0 ESTUARY_OBJECT_STREAM=0"; do
      tag=$(echo "$v" | tr ' =' '__')
      env $([ "$v" = default ] || echo "$v") timeout 50 python3 bench/cls_dump.py run 8 242 "$OUT/d8_$tag.jsonl" 2>&1 | quiet | tail -1
    done
    ;;
  23)  # warm-up (graphs captured at the first batch) A/B on long 4-process runs; the classifier
      # in each layout against onnxruntime, and its speed in each layout
    timeout 150 python3 -m pytest -q -p no:cacheprovider -rfEs tests/test_torch_backend.py tests/test_gpu.py \
      -k "agrees_with_onnxruntime or agreement or warm_up or cuda_graph" > "$OUT/tests.log" 2>&1
    tail -2 "$OUT/tests.log"; grep -E "^(FAILED|ERROR|E  )" "$OUT/tests.log" | head
    timeout 60 python3 - <<'PY' 2>&1 | quiet
import torch
from estuary import data
from estuary.infer.torch_backend import TorchBackend
for cl in (False, True):
    be = TorchBackend(data.model_path("mobilenet_v2.onnx"), device="cuda", channels_last=cl)
    be.enable_cuda_graphs()
    for b in (8, 64):
        x = torch.rand((b, 3, 224, 224), device="cuda").half()
        for _ in range(5):
            be.run(x, as_numpy=False)
        torch.cuda.synchronize()
        a, e = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        a.record()
        for _ in range(50):
            be.run(x, as_numpy=False)
        e.record(); e.synchronize()
        ms = a.elapsed_time(e) / 50
        print(f"MobileNetV2 alone, channels-last={cl}, batch {b}: {ms:.3f} ms, {b / ms * 1000:.0f} crops/s", flush=True)
PY
    for w in 1 0; do
      ESTUARY_WARM_UP=$w timeout 120 python3 bench/gpu_bench.py --skip-base --h265-clip '' --loop 4 --frames 1200 --classifiers 150 --processes 4 2>&1 | quiet | grep proc | sed "s/^/warm-up=$w: /"
    done
    ;;
  24)  # classifiers channels-last: one process at 64, and 150 streams over 4 processes (long run),
      # with where the start-up goes (frames in each first second, capture times)
    timeout 80 python3 bench/gpu_bench.py --skip-base --h265-clip '' --classifiers 64 2>&1 | quiet
    timeout 120 python3 bench/gpu_bench.py --skip-base --h265-clip '' --loop 4 --frames 1200 --classifiers 150 --processes 4 2>&1 | quiet
    ;;
  25)  # the GPU tests on this code; first-run cost of each new batch shape (fresh process); the
      # start-time warm-up A/B on long 4-process runs with two classifiers
    export ESTUARY_NVIDIA_APPS=$PWD/build/nvapps
    timeout 200 python3 -m pytest -q -p no:cacheprovider -rfEs tests/test_gpu.py tests/test_torch_backend.py \
      tests/test_secondary_objects.py tests/test_secondary_rows.py tests/test_gpu_post.py tests/test_crop_batch.py \
      tests/test_tracker_many.py tests/test_nvidia_cupy_app.py > "$OUT/tests.log" 2>&1
    tail -2 "$OUT/tests.log"; grep -E "^(FAILED|ERROR|E  |SKIPPED)" "$OUT/tests.log" | head -20
    timeout 90 python3 - <<'PY' 2>&1 | quiet
import time, torch
from estuary import data
from estuary.infer.torch_backend import TorchBackend
for model, sizes, cl in (("mobilenet_v2.onnx", (1, 2, 4, 8, 16, 32, 64), True), ("mobilenet_v2.onnx", (1, 4, 16), False),
                         ("yolov3-tiny.onnx", (38, 40), True)):
    be = TorchBackend(data.model_path(model), device="cuda", channels_last=cl)
    c, h, w = be.input_shape[1:]
    row = []
    for b in sizes:
        x = torch.zeros((b, c, h, w), device="cuda").half()
        ts = []
        for _ in range(2):
            torch.cuda.synchronize(); t = time.perf_counter()
            be.run(x, as_numpy=False); torch.cuda.synchronize()
            ts.append((time.perf_counter() - t) * 1000)
        row.append(f"{b}: {ts[0]:.0f}/{ts[1]:.1f}")
    print(f"{model} channels-last={cl}, first/second run ms per batch size: " + ", ".join(row), flush=True)
PY
    for w in 1 0; do
      ESTUARY_WARM_UP=$w timeout 120 python3 bench/gpu_bench.py --skip-base --h265-clip '' --loop 4 --frames 1200 --classifiers 150 --processes 4 2>&1 | quiet | grep -v largest | sed "s/^/warm-up=$w: /"
    done
    ;;
  26)  # 160 streams with two classifiers, H.264 and H.265, over 4 processes (long runs)
    timeout 110 python3 bench/gpu_bench.py --skip-base --h265-clip '' --loop 4 --frames 1200 --classifiers 160 --processes 4 2>&1 | quiet | grep -v largest
    timeout 110 python3 bench/gpu_bench.py --skip-base --h265-clip '' --loop 4 --frames 1200 --classifiers 160 --processes 4 \
      --proc-clip .gpu/data/media/bikes_1080p_h265.mp4 2>&1 | quiet | grep -v largest
    ;;
  27)  # (carry .gpu and build/nvapps) the GPU tests; the issue's figure in one run: both NVDEC ceilings, then 150 and 160 streams with two
      # classifiers over 4 processes on H.264 and H.265 (long runs), the verdict; then a profile of
      # one 40-stream process (a quarter of the load)
    export ESTUARY_NVIDIA_APPS=$PWD/build/nvapps
    timeout 150 python3 -m pytest -q -p no:cacheprovider -rfEs tests/test_gpu.py tests/test_torch_backend.py \
      tests/test_secondary_objects.py tests/test_secondary_rows.py tests/test_gpu_post.py tests/test_crop_batch.py \
      tests/test_tracker_many.py tests/test_nvidia_cupy_app.py > "$OUT/tests.log" 2>&1
    tail -2 "$OUT/tests.log"; grep -E "^(FAILED|ERROR|E  |SKIPPED)" "$OUT/tests.log" | head -20
    timeout 300 python3 bench/gpu_bench.py --summary --skip-base --loop 4 --frames 1200 --classifiers 150 160 \
      --processes 4 --proc-h265 2>&1 | quiet | tee "$OUT/bench_summary.log" | grep -v "^    "
    profile cls 40
    tail -1 "$OUT/prof_run.log"; head -40 "$OUT/spy_summary.txt"
    ;;
  28)  # (carry .gpu) the issue's run again (160 streams, 4 processes, both codecs) with py-spy on one
      # of the four processes in its steady state: the profile of the measured run itself
    python3 -m pip install -q --no-index --no-deps --target /tmp/spy .gpu/pyspy/*.whl
    timeout 300 python3 bench/gpu_bench.py --summary --skip-base --loop 4 --frames 1200 --classifiers 160 \
      --processes 4 --proc-h265 --spy /tmp/spy/bin/py-spy "$OUT/spy" 2>&1 | quiet | tee "$OUT/bench_summary.log" | grep -v "^    "
    for f in "$OUT"/spy_*.txt; do python3 bench/spy_summary.py "$f" 45 > "${f%.txt}_summary.txt" 2>&1; head -75 "${f%.txt}_summary.txt"; done
    ;;
  x2)  # 2 GPUs: one pipeline process per GPU (estuary.multigpu), 240 frames a stream
    timeout 400 python3 - > "$OUT/bench_x2.log" 2>&1 <<'PY'
import sys; sys.path.insert(0, "bench")
from multigpu_bench import run
for name, slots, n in [("1 GPU, 1 worker", "0", 96), ("2 GPUs, 1 worker each", "0,1", 192),
                       ("2 GPUs, 1 worker each", "0,1", 224)]:
    agg = run(slots, n, 240)
    print(name, n, agg, flush=True)
PY
    cat "$OUT/bench_x2.log"
    ;;
  *) "$@" ;;
esac
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader > "$OUT/gpu.txt" 2>&1
