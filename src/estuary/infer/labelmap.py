"""Classifier label maps: report a classifier's outputs as the few classes an application asks
about, instead of all of the classes the network was trained on.

The bundled secondary classifier is an ImageNet-1k MobileNetV2; the demo wants vehicle types.
:func:`vehicle_types` is a ``parse-classifier-func-name`` hook that adds up the probabilities of
the ImageNet classes of each vehicle type (``estuary.data.VEHICLE_TYPES``: e.g. 656 minivan,
734 police van and 757 recreational vehicle are all ``van``) and reports the most likely type,
or nothing when no vehicle type reaches ``classifier-threshold`` (a crop of a sign, a person or
a road is not a "cassette player"). Use it from an nvinfer config::

    parse-classifier-func-name=estuary.infer.labelmap:vehicle_types

:func:`grouped` does the same for any map of class index → reported label.
"""

from __future__ import annotations

import numpy as np

__all__ = ["grouped", "vehicle_types", "VEHICLE_TYPE_LABELS"]


def _vehicle_map() -> dict:
    from estuary.data import VEHICLE_TYPES
    return VEHICLE_TYPES


#: the labels :func:`vehicle_types` reports, in class-id order
VEHICLE_TYPE_LABELS = tuple(sorted(set(_vehicle_map().values())))


def grouped(probs: np.ndarray, groups: dict, labels: tuple, threshold: float | None) -> list:
    """Per row of ``probs`` (N, classes): the label of ``labels`` whose classes (``groups``: class
    index → label) have the largest total probability, as a Classification, or None below
    ``threshold``."""
    from estuary.infer.engine import Classification
    from estuary.infer.parsers import softmax_if_needed
    p = softmax_if_needed(np.asarray(probs))
    idx = np.array([i for i in groups if i < p.shape[1]], np.int64)
    which = np.array([labels.index(groups[i]) for i in idx], np.int64)
    totals = np.zeros((p.shape[0], len(labels)), np.float32)
    np.add.at(totals.T, which, p[:, idx].T)
    out = []
    for row in totals:
        k = int(row.argmax())
        if row[k] <= 0 or row[k] < (threshold or 0.0):
            out.append(None)
        else:
            out.append(Classification(k, float(row[k]), labels[k]))
    return out


def vehicle_types(outputs: dict, labels, threshold: float | None) -> list:
    """``parse-classifier-func-name`` hook: ImageNet-1k probabilities → vehicle types only."""
    return grouped(next(iter(outputs.values())), _vehicle_map(), VEHICLE_TYPE_LABELS, threshold)
