"""Read a PyTorch checkpoint (``torch.save`` legacy or zip format) into numpy arrays, without
torch: the pickle is read with a restricted unpickler that only rebuilds tensors."""

from __future__ import annotations

import collections
import io
import pickle
import struct
import zipfile

import numpy as np

from estuary.errors import ModelError

__all__ = ["load_state_dict"]

_DTYPES = {"FloatStorage": np.float32, "HalfStorage": np.float16, "DoubleStorage": np.float64,
           "LongStorage": np.int64, "IntStorage": np.int32, "ByteStorage": np.uint8,
           "CharStorage": np.int8, "BoolStorage": np.bool_, "ShortStorage": np.int16}


class _StorageType:
    def __init__(self, name):
        self.dtype = np.dtype(_DTYPES[name])


class _Lazy:
    __slots__ = ("key", "offset", "size", "stride")

    def __init__(self, key, offset, size, stride):
        self.key, self.offset, self.size, self.stride = key, offset, tuple(size), tuple(stride)


def _rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad=False,
                       backward_hooks=None, metadata=None):
    return _Lazy(storage, storage_offset, size, stride)


class _Unpickler(pickle.Unpickler):
    def find_class(self, module, name):
        if module == "torch._utils" and name == "_rebuild_tensor_v2":
            return _rebuild_tensor_v2
        if module == "torch" and name in _DTYPES:
            return _StorageType(name)
        if module == "collections" and name == "OrderedDict":
            return collections.OrderedDict
        raise ModelError(f"checkpoint needs {module}.{name}, which a plain state dict does not")

    def persistent_load(self, pid):
        typename, storage_type, key, location, *rest = pid
        return (key, storage_type.dtype)


def _materialise(obj, storages):
    if isinstance(obj, _Lazy):
        key, dtype = obj.key
        base = storages[key]
        item = base.dtype.itemsize
        return np.lib.stride_tricks.as_strided(
            base[obj.offset:], shape=obj.size, strides=tuple(s * item for s in obj.stride)).copy()
    if isinstance(obj, dict):
        return collections.OrderedDict((k, _materialise(v, storages)) for k, v in obj.items())
    return obj


def load_state_dict(path: str) -> dict[str, np.ndarray]:
    """The tensors of a checkpoint as numpy arrays, keyed by name."""
    if zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as z:
            pkl = next(n for n in z.namelist() if n.endswith("data.pkl"))
            root = pkl[: -len("data.pkl")]
            obj = _Unpickler(io.BytesIO(z.read(pkl))).load()
            keys, dtypes = set(), {}
            _collect(obj, keys, dtypes)
            storages = {k: np.frombuffer(z.read(f"{root}data/{k}"), dtypes[k]) for k in keys}
        return _materialise(obj, storages)
    with open(path, "rb") as f:
        # every pickle of the file goes through the restricted unpickler: a plain pickle.load
        # of the header would run whatever code a crafted checkpoint names
        for _ in range(3):  # magic number, protocol version, sys info
            _Unpickler(f).load()
        obj = _Unpickler(f).load()
        keys = _Unpickler(f).load()
        dtypes = {}
        _collect(obj, set(), dtypes)
        storages = {}
        for k in keys:
            (n,) = struct.unpack("<q", f.read(8))
            dt = np.dtype(dtypes.get(k, np.float32))
            storages[k] = np.frombuffer(f.read(n * dt.itemsize), dt)
    return _materialise(obj, storages)


def _collect(obj, keys, dtypes):
    if isinstance(obj, _Lazy):
        key, dtype = obj.key
        keys.add(key)
        dtypes[key] = dtype
    elif isinstance(obj, dict):
        for v in obj.values():
            _collect(v, keys, dtypes)
