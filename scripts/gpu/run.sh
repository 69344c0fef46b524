#!/usr/bin/env bash
# On the GPU machine: install the carried GStreamer into /opt/gst (never over system files),
# build PyGObject for the machine's python3, point Estuary at the carried data, run "$@".
set -euo pipefail
cd "$(dirname "$0")/../.."
bash .gpu/install.sh >/tmp/gst-install.log 2>&1 || { cat /tmp/gst-install.log; exit 1; }
. .gpu/env.sh
export PYTHONPATH=$PWD/src${PYTHONPATH:+:$PYTHONPATH} ESTUARY_DATA=$PWD/.gpu/data PYTHONUNBUFFERED=1
export GST_DEBUG=${GST_DEBUG:-0}
python3 -c "import pytest" 2>/dev/null || python3 -m pip install -q --no-index --find-links .gpu/wheels pytest
python3 -c "import sys, gi; from gi.repository import Gst; Gst.init(None); print('python', sys.version.split()[0], '| PyGObject', gi.__version__, '| GStreamer', Gst.version_string())"
"$@"
