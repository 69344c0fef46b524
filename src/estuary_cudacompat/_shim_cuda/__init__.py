"""Estuary's stand-in for cuda-python's ``cuda`` package (see ``estuary_cudacompat``).

Only what DeepStream's Python apps call is here: ``cuda.cuInit``, ``cuda.cuDeviceGetCount``,
``cudart.cudaGetDeviceProperties`` and their neighbours, with cuda-python's calling convention
(every call returns a tuple whose first item is the result code). Anything else raises an
AttributeError that says so. ``ESTUARY_CUDA_SHIM = True`` tells it apart from the real package.
"""

ESTUARY_CUDA_SHIM = True
__version__ = "0.0.0+estuary.shim"
