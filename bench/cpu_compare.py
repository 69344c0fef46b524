"""Estuary on the CPU against the decode and model ceilings, a naive OpenCV + ONNX Runtime loop
and Roboflow's InferencePipeline (issue #12). The code lives in :mod:`estuary.benchmark` so that
``estuary bench`` runs it too.

    .venv/bin/python bench/cpu_compare.py [--streams 1,2,4,8] [--modes ...] [--repeat 2]
"""

import sys

from estuary.benchmark import main

if __name__ == "__main__":
    sys.exit(main())
