"""``tl.save(obj, path)`` and ``tl.load(path)``: torch's two calls, in the project's ``.npz`` format.

    tl.save({"model": model.state_dict(), "optimizer": opt.state_dict(), "epoch": 3}, "ckpt.npz")
    checkpoint = tl.load("ckpt.npz")
    model.load_state_dict(checkpoint["model"])

``obj`` is a Tensor, a NumPy array, or dicts (str or int keys), lists and tuples of them, nested, with
numbers, strings, booleans and None among them. Each array becomes one member of an uncompressed
``.npz`` (``a0.npy``, ``a1.npy``, ...); the structure (nesting, keys, which arrays were Tensors,
their ``requires_grad`` and device) is one more member, JSON text as bytes. Nothing is pickled, so
anyone can read the arrays with ``np.load(path)``, and loading never runs code from the file.

Reading is bounded, as every file read here (docs/reliability.md): ``tinygrad_lite.npz.read_npz``
checks every array's declared size against the file before allocating it, and the total against
``max_bytes`` (by default the file's own size, which an uncompressed archive cannot exceed); the
structure (JSON read by ``files.loads_json``, its depth counted before parsing) nests at most
``MAX_DEPTH`` levels and must name exactly the arrays the file holds. Any
other file is refused with a ``DataError`` naming it. An ``.npz`` without a structure (``np.savez``'s,
``Module.save``'s) loads as a dict name -> NumPy array.
"""
import json
import os

import numpy as np

from . import backend
from .core import Tensor
from .errors import DataError, DeviceError
from .files import atomic_write, loads_json
from .npz import read_npz

FORMAT = "tinygrad_lite.save"
STRUCTURE = "__tinygrad_lite_structure__"
MAX_DEPTH = 32
JSON_DEPTH = 3 * MAX_DEPTH + 2      # a level of nesting is 3 of JSON ({"dict": [[key, node]]}); header, leaf 1 each
SCALARS = (bool, int, float, str, type(None))


def save(obj, path):
    """Write ``obj`` (see the module docstring) to ``path`` atomically, exactly there (no suffix is
    added). Raises ``TypeError`` naming the place of anything else (a Module: save its
    ``state_dict()``), and ``ValueError`` beyond ``MAX_DEPTH`` levels of nesting."""
    path = os.fspath(path)
    arrays = {}
    tree = _encode(obj, arrays, [])
    header = {"format": FORMAT, "version": 1, "tree": tree}
    members = {STRUCTURE: np.frombuffer(json.dumps(header).encode("utf-8"), dtype=np.uint8), **arrays}
    with atomic_write(path) as f:
        np.savez(f, **members)
    return path


def load(path, map_location=None, max_bytes=None):
    """What ``save`` wrote to ``path``: the same nesting, Tensors as Tensors (with their
    ``requires_grad``, on their device, or on ``map_location`` when given: 'cpu' or 'cuda'), arrays as
    NumPy arrays. ``max_bytes`` bounds the arrays' total size (default: the file's size). A file that
    is missing, not an ``.npz``, holds pickled data, declares more than it holds or more than
    ``max_bytes``, or whose structure is not one ``save`` writes, raises ``DataError`` naming it."""
    path = os.fspath(path)
    if max_bytes is None and os.path.isfile(path):
        max_bytes = os.path.getsize(path)
    arrays = read_npz(path, max_bytes)
    if STRUCTURE not in arrays:
        return arrays                       # a plain .npz: name -> array
    header = _structure(path, arrays.pop(STRUCTURE))
    used = set()
    obj = _decode(path, header["tree"], arrays, used, map_location, [])
    unused = sorted(set(arrays) - used)
    if unused:
        raise DataError(f"{path}: holds arrays its structure does not name ({', '.join(unused[:5])}); "
                        f"not a file tl.save wrote")
    return obj


def _encode(obj, arrays, where):
    """The JSON node for ``obj``; its arrays are added to ``arrays`` as a0, a1, ..."""
    if len(where) > MAX_DEPTH:
        raise ValueError(f"tl.save: {_place(where)} is nested more than {MAX_DEPTH} levels deep")
    if isinstance(obj, (Tensor, np.ndarray)) or backend.is_cupy_array(obj):
        data = obj.data if isinstance(obj, Tensor) else obj
        array = np.asarray(backend.as_numpy(data))
        if array.dtype.hasobject:
            raise TypeError(f"tl.save: {_place(where)} is an object array ({array.dtype}); only arrays of "
                            f"numbers, booleans and strings are saved (never pickled)")
        name = f"a{len(arrays)}"
        arrays[name] = array
        if not isinstance(obj, Tensor):
            return {"ndarray": name}
        return {"tensor": name, "requires_grad": bool(obj.requires_grad), "device": obj.device}
    if isinstance(obj, dict):
        bad = [k for k in obj if isinstance(k, bool) or not isinstance(k, (str, int))]
        if bad:
            raise TypeError(f"tl.save: the dict at {_place(where)} has a key {bad[0]!r} of type "
                            f"{type(bad[0]).__name__}; keys must be str or int")
        return {"dict": [[k, _encode(v, arrays, where + [k])] for k, v in obj.items()]}
    if isinstance(obj, (list, tuple)):
        kind = "list" if isinstance(obj, list) else "tuple"
        return {kind: [_encode(v, arrays, where + [i]) for i, v in enumerate(obj)]}
    if isinstance(obj, np.generic):
        obj = obj.item()
    if isinstance(obj, SCALARS):
        return {"value": obj}
    hint = "; save its state_dict() instead" if hasattr(obj, "state_dict") else ""
    raise TypeError(f"tl.save: cannot save a {type(obj).__name__} at {_place(where)}: only Tensors, "
                    f"arrays, numbers, strings, None, and dicts, lists and tuples of them{hint}")


def _structure(path, raw):
    """The header of a tl.save file, checked: {"format", "version", "tree"}."""
    if raw.dtype != np.uint8 or raw.ndim != 1:
        raise DataError(f"{path}: its structure member is a {raw.dtype} array of shape {raw.shape}, "
                        f"expected bytes; not a file tl.save wrote")
    header = loads_json(raw.tobytes(), f"{path}: its structure", max_depth=JSON_DEPTH)
    if not (isinstance(header, dict) and header.get("format") == FORMAT and header.get("version") == 1
            and "tree" in header):
        raise DataError(f"{path}: its structure is not tl.save's (format {FORMAT!r}, version 1)")
    return header


def _decode(path, node, arrays, used, map_location, where):
    """The object JSON ``node`` stands for, every field checked (``DataError`` naming the place)."""
    if len(where) > MAX_DEPTH:
        raise DataError(f"{path}: its structure nests more than {MAX_DEPTH} levels; refused")
    if not isinstance(node, dict) or len(node) == 0:
        raise DataError(f"{path}: bad structure at {_place(where)}: {str(node)[:80]!r}")
    kind = next(iter(node))
    if kind in ("tensor", "ndarray"):
        return _decode_array(path, node, kind, arrays, used, map_location, where)
    value = node.get(kind)
    if len(node) != 1:
        raise DataError(f"{path}: bad structure at {_place(where)}: unexpected fields {sorted(node)}")
    if kind == "value" and isinstance(value, SCALARS):
        return value
    if kind in ("list", "tuple") and isinstance(value, list):
        items = [_decode(path, v, arrays, used, map_location, where + [i]) for i, v in enumerate(value)]
        return items if kind == "list" else tuple(items)
    if kind == "dict" and isinstance(value, list):
        out = {}
        for item in value:
            if not (isinstance(item, list) and len(item) == 2 and isinstance(item[0], (str, int))
                    and not isinstance(item[0], bool)):
                raise DataError(f"{path}: bad dict entry at {_place(where)}: {str(item)[:80]!r}")
            out[item[0]] = _decode(path, item[1], arrays, used, map_location, where + [item[0]])
        return out
    raise DataError(f"{path}: bad structure at {_place(where)}: {kind!r} is not a kind tl.save writes")


def _decode_array(path, node, kind, arrays, used, map_location, where):
    name = node[kind]
    fields = {"ndarray"} if kind == "ndarray" else {"tensor", "requires_grad", "device"}
    if set(node) != fields or not isinstance(name, str) or name not in arrays or name in used:
        raise DataError(f"{path}: bad {kind} at {_place(where)}: {str(node)[:80]!r} (its array is missing, "
                        f"used twice, or the entry has unexpected fields)")
    used.add(name)
    array = arrays[name]
    if kind == "ndarray":
        return array
    requires_grad, device = node["requires_grad"], node["device"]
    if not isinstance(requires_grad, bool) or device not in ("cpu", "cuda"):
        raise DataError(f"{path}: bad tensor at {_place(where)}: requires_grad {requires_grad!r}, "
                        f"device {device!r}")
    if requires_grad and array.dtype.kind != "f":
        raise DataError(f"{path}: the tensor at {_place(where)} requires grad but holds {array.dtype} values")
    try:
        return Tensor(array, requires_grad=requires_grad, device=map_location or device)
    except DeviceError as exc:
        raise DeviceError(f"{path}: the tensor at {_place(where)} was saved on {device!r}, which is not "
                          f"available here ({exc}); load it with tl.load(path, map_location='cpu')") from None


def _place(where):
    """['model', '0.weight'] -> "obj['model']['0.weight']"."""
    return "obj" + "".join(f"[{key!r}]" for key in where)
