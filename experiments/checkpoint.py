"""A run folder's training files: their names, their format, saving, loading and the resume position.

    checkpoint-last.npz   after every epoch and on a requested stop: model, optimiser and schedule
                          state, the dropout generator's state, the loop's position and history
    checkpoint-best.npz   the weights of the best epoch so far (``select_best_by`` runs)
    model.npz             the final weights; model-meta.npz their fingerprint (``load_trained``: the
                          model of a finished run, a backbone's, when the fingerprint matches)

A checkpoint is an .npz of arrays with the metadata as JSON inside (never pickle). The *fingerprint*
(the config without its descriptive fields, the seed, the subset, whether the bundled sample was
used) is what must match for a checkpoint to be resumed or a finished run's weights to be reused.

Every file here is read with a bound on what its arrays may declare, checked before any is read
(``tinygrad_lite.npz``): a resume expects the model's state and its optimiser's buffers
(``max_checkpoint_bytes``), checkpoint-best.npz the model's state, and a look at the metadata alone
(is it finished? which settings?) reads the metadata alone, within the bound of a JSON file.
"""
import base64
import json
from pathlib import Path

import numpy as np

import tinygrad_lite as tl
from nn.serialization import decode_json, encode_json, load_arrays, save_arrays
from tinygrad_lite import backend
from tinygrad_lite.errors import DataError
from tinygrad_lite.files import JSON_MAX_BYTES
from tinygrad_lite.npz import npz_members

from . import checkpoint_meta
from .models import build

LAST, BEST, FINAL_MODEL, FINAL_META = "checkpoint-last.npz", "checkpoint-best.npz", "model.npz", "model-meta.npz"
CHECKPOINT_FORMAT = checkpoint_meta.FORMAT
OPTIMIZER_BUFFERS = 3     # the most arrays an optimiser keeps a parameter (RMSprop, centred, momentum)


def _flatten(obj, prefix, arrays):
    """A JSON skeleton of ``obj`` with every array moved into ``arrays`` (replaced by its key)."""
    if isinstance(obj, dict):
        return {"__dict__": [[str(k), _flatten(v, f"{prefix}.{k}", arrays)] for k, v in obj.items()]}
    if isinstance(obj, (list, tuple)):
        return [_flatten(v, f"{prefix}.{i}", arrays) for i, v in enumerate(obj)]
    if isinstance(obj, tl.Tensor):
        obj = obj.data
    if isinstance(obj, (bool, int, float, str)) or obj is None:
        return obj
    arrays[prefix] = np.array(backend.as_numpy(obj), copy=True)
    return {"__array__": prefix}


def _unflatten(skeleton, arrays):
    if isinstance(skeleton, dict) and "__array__" in skeleton:
        return arrays[skeleton["__array__"]]
    if isinstance(skeleton, dict):
        return {k: _unflatten(v, arrays) for k, v in skeleton["__dict__"]}
    if isinstance(skeleton, list):
        return [_unflatten(v, arrays) for v in skeleton]
    return skeleton


def save_checkpoint(path, model, optimizer, schedule, meta):
    arrays = {f"model.{k}": v for k, v in model.state_dict().items()}
    meta = dict(meta, format=CHECKPOINT_FORMAT,
                optimizer=_flatten(optimizer.state_dict(), "optimizer", arrays),
                schedule=None if schedule is None else _flatten(schedule.state_dict(), "schedule", arrays))
    arrays["meta"] = encode_json(meta)
    save_arrays(path, arrays)


def max_checkpoint_bytes(model):
    """The most a checkpoint of ``model`` can declare: its state, as many optimiser buffers again as an
    optimiser keeps (``OPTIMIZER_BUFFERS``), and the metadata (a JSON file's bound)."""
    return model.max_state_bytes(copies=1 + OPTIMIZER_BUFFERS) + JSON_MAX_BYTES


def load_checkpoint(path, max_bytes=None):
    """(model state dict, optimiser state, schedule state, meta) from a ``save_checkpoint`` file.

    The arrays are refused unread when they declare more than ``max_bytes`` together (a resume passes
    ``max_checkpoint_bytes(model)``). The metadata is validated against its schema first
    (``checkpoint_meta``): a damaged or foreign checkpoint raises one ``DataError`` naming the file
    and the field, and nothing else."""
    arrays = load_arrays(path, max_bytes)
    if "meta" not in arrays:
        raise DataError(f"{path}: not a training checkpoint (no 'meta' entry)")
    meta = checkpoint_meta.parse(arrays["meta"], path, arrays)
    model_state = {k[len("model."):]: v for k, v in arrays.items() if k.startswith("model.")}
    optimizer_state = _unflatten(meta.pop("optimizer"), arrays)
    schedule_state = meta.pop("schedule")
    schedule_state = None if schedule_state is None else _unflatten(schedule_state, arrays)
    return model_state, optimizer_state, schedule_state, meta


def load_meta(path):
    """The validated metadata of the checkpoint at ``path``, read without its other arrays."""
    members = npz_members(path)
    if "meta" not in members:
        raise DataError(f"{path}: not a training checkpoint (no 'meta' entry)")
    meta = load_arrays(path, max_bytes=JSON_MAX_BYTES, names=["meta"])["meta"]
    return checkpoint_meta.parse(meta, path, members)


def read_meta(path):
    """The metadata of the .npz at ``path`` (a checkpoint or model-meta.npz), or None when unreadable."""
    try:
        return decode_json(load_arrays(path, max_bytes=JSON_MAX_BYTES, names=["meta"])["meta"],
                           f"{path}: its metadata")
    except (DataError, KeyError, ValueError, TypeError):      # TypeError: metadata that is not an object
        return None


def fingerprint(config, seed, subset, used_sample):
    """What must match for a checkpoint to be resumed (or a backbone's weights to be reused)."""
    return json.loads(json.dumps({"config": {k: v for k, v in config.to_dict().items()
                                             if k not in ("title", "reported", "choices", "minutes_cpu")},
                                  "seed": seed, "subset": subset, "used_sample": used_sample}))


def differences(saved, current):
    """'key (checkpoint a, now b)' for every leaf where two fingerprints differ."""
    out = []
    for key in sorted(set(saved) | set(current)):
        a, b = saved.get(key), current.get(key)
        if isinstance(a, dict) and isinstance(b, dict):
            out += [f"{key}.{d}" for d in differences(a, b)]
        elif a != b:
            out.append(f"{key} (checkpoint {a!r}, now {b!r})")
    return out


def _restore(path, what, target, state_dict):
    """``target.load_state_dict(state_dict)``, its refusal (a shape, an lr of -1) naming the checkpoint."""
    try:
        target.load_state_dict(state_dict)
    except (ValueError, TypeError, KeyError) as exc:      # DataError and ShapeError are ValueErrors
        raise DataError(f"{path}: its {what} is refused: {exc}") from None


def resume(path, run_fingerprint, model, optimizer, schedule, device):
    """Load the checkpoint at ``path`` into model, optimiser, schedule and the dropout generator;
    return ``(meta, restored)``: its metadata (``meta["state"]`` is the loop's position) and whether the
    generator took its saved state (``set_rng_state``). Refuses other settings' checkpoints."""
    model_state, optimizer_state, schedule_state, meta = load_checkpoint(path, max_checkpoint_bytes(model))
    diff = differences(meta["fingerprint"], run_fingerprint)
    if diff:
        raise DataError(f"--resume: the checkpoint {path} was made with other settings: "
                        f"{'; '.join(diff)}; use the same options, or run without --resume")
    _restore(path, "model weights", model, model_state)
    _restore(path, "optimiser state", optimizer, optimizer_state)
    if schedule is not None:
        _restore(path, "learning-rate schedule state", schedule, schedule_state)
    return meta, set_rng_state(device, meta["rng"])


def save_final(run_dir, model, run_fingerprint):
    """model.npz and its fingerprint (model-meta.npz) in ``run_dir``."""
    model.save(Path(run_dir) / FINAL_MODEL)
    save_arrays(Path(run_dir) / FINAL_META, {"meta": encode_json({"fingerprint": run_fingerprint})})


def final_weights(run_dir, expected_fingerprint):
    """The path of a finished run's model.npz when it was trained with these settings, else None."""
    run_dir = Path(run_dir)
    weights, meta_path = run_dir / FINAL_MODEL, run_dir / FINAL_META
    if not (weights.is_file() and meta_path.is_file()):
        return None
    meta = read_meta(meta_path)
    if meta is None or meta.get("fingerprint") != expected_fingerprint:
        return None
    return weights


def load_trained(config, input_shape, run_dir, expected_fingerprint, device="cpu"):
    """The final model of a finished run in ``run_dir`` if it was trained with the same settings, else None."""
    weights = final_weights(run_dir, expected_fingerprint)
    if weights is None:
        return None
    model = build(config.layers, input_shape, config.init)
    model.load(weights)
    return model.to(device)


def finished(run_dir, expected_fingerprint):
    """True when the last checkpoint in ``run_dir`` says training finished with these settings."""
    path = Path(run_dir) / LAST
    try:
        meta = load_meta(path) if path.is_file() else None   # validated: a damaged one is not "finished"
    except DataError:
        meta = None
    return bool(meta and meta.get("state", {}).get("finished")
                and meta.get("fingerprint") == expected_fingerprint)


# ---- the dropout generator's state, as JSON inside a checkpoint ---------------------------------

def rng_state(device="cpu"):
    """The state of ``backend.rng(device)`` (the dropout generator) as JSON-able data, from which
    ``set_rng_state`` resumes its draws bit for bit; None where the generator cannot say."""
    return generator_state(backend.rng(device))


def set_rng_state(device, state):
    """Put ``backend.rng(device)`` back into a state ``rng_state`` returned; True when its next draws
    are the ones the saved generator would have made, False when it cannot take that state (None, or
    saved by another kind or size of generator, e.g. on another GPU model)."""
    return set_generator_state(backend.rng(device), state)


def generator_state(generator):
    """A NumPy or CuPy ``Generator``'s state as JSON-able data (None where it cannot be read).

    NumPy: ``generator.bit_generator.state``, a dict of ints. CuPy: there ``bit_generator.state`` is a
    *method* returning a device pointer, so the cuRAND states themselves are saved: the raw bytes of
    the bit generator's state buffer ``_state`` (one cuRAND state per GPU thread, about 1.5 MB),
    base64-encoded, with the generator's class name and the buffer's size to check on restoring.
    """
    bits = generator.bit_generator
    state = bits.state
    if isinstance(state, dict):
        return state
    buffer = getattr(bits, "_state", None)
    if not (callable(state) and hasattr(buffer, "dtype") and hasattr(buffer, "size")):
        return None
    raw = np.ascontiguousarray(backend.as_numpy(buffer))
    return {"cuda_bit_generator": type(bits).__name__, "dtype": str(raw.dtype), "size": int(raw.size),
            "bytes": base64.b64encode(raw.tobytes()).decode("ascii")}


def set_generator_state(generator, state):
    """Restore a state ``generator_state`` read; True when it was taken, False when it does not fit."""
    if not isinstance(state, dict):
        return False
    bits = generator.bit_generator
    if "cuda_bit_generator" in state:
        buffer = getattr(bits, "_state", None)
        if (type(bits).__name__ != state["cuda_bit_generator"] or not hasattr(buffer, "dtype")
                or str(buffer.dtype) != state["dtype"] or int(buffer.size) != state["size"]):
            return False
        raw = np.frombuffer(base64.b64decode(state["bytes"]), dtype=buffer.dtype)
        buffer[...] = backend.array_module(buffer).asarray(raw).reshape(buffer.shape)
        return True
    if not isinstance(bits.state, dict):
        return False
    try:
        bits.state = state
    except (TypeError, ValueError, KeyError):   # another NumPy bit generator's state
        return False
    return True
