"""A checkpoint's metadata (the JSON inside ``checkpoint-last.npz``): its schema, checked on load.

    meta = parse(arrays["meta"], path, arrays)      # a dict, or a DataError naming the file and field

Every field is checked for its type and range before any of it is used, so a damaged or hand-edited
checkpoint is refused in one line ("<file>: field state.epoch must be an integer >= 0, got 'x'")
instead of a ``KeyError`` deep in the resume, or a run that trains with nonsense. The schema:

    format        1
    run           the run's name (a string)
    fingerprint   {"config": {...}, "seed": int >= 0, "subset": int >= 1 or null, "used_sample": bool}
    state         the loop's position: epoch, batch, iteration, stopped_early_at (ints >= 0),
                  wall_time_s (a number >= 0), finished (bool), window [sum, count], running [loss sum,
                  correct, seen], best null or [epoch >= 1, value], early null or [value, epochs >= 0],
                  history {"iteration_loss": [[iteration >= 1, loss], ...], "epochs": [{...}, ...]},
                  epoch_lr null or a number >= 0 (absent from checkpoints of older versions)
    rng           null, a NumPy bit generator's state (checked by loading it into a fresh one), or
                  CuPy's cuRAND states {"cuda_bit_generator", "dtype", "size", "bytes"}
    optimizer     the optimiser's state skeleton: {"__dict__": [[key, value], ...]}, each value a
                  number, bool, string, null, list, or {"__array__": name of an array in the file}
    schedule      null, or a skeleton like the optimiser's

Ranges that only the optimiser knows (``lr >= 0`` and the like) are checked by its
``load_state_dict``; the resume names the file when it refuses.
"""
import math

import numpy as np

from tinygrad_lite.errors import DataError
from tinygrad_lite.files import loads_json

FORMAT = 1


class _Invalid(Exception):
    def __init__(self, field, expected, value):
        super().__init__(field, expected, value)
        self.field, self.expected, self.value = field, expected, value


def parse(array, path, arrays):
    """The metadata stored in the uint8 ``array`` of the checkpoint at ``path``, validated.
    ``arrays``: the checkpoint's arrays (or just their names), which the state skeletons may name."""
    try:
        meta = loads_json(np.asarray(array, dtype=np.uint8).tobytes(), f"{path}: its metadata")
    except DataError as exc:
        raise DataError(f"{exc}; not a checkpoint this program wrote, or a damaged one") from None
    validate(meta, path, arrays)
    return meta


def validate(meta, path, arrays=None):
    """Raise ``DataError`` naming ``path`` and the first field of ``meta`` that breaks the schema.

    ``arrays``: the checkpoint's arrays, which every ``{"__array__": name}`` must name."""
    try:
        _check_meta(meta, {} if arrays is None else arrays)
    except _Invalid as bad:
        value = repr(bad.value)
        value = value if len(value) <= 60 else value[:57] + "..."
        raise DataError(f"{path}: field {bad.field} must be {bad.expected}, got {value}; the checkpoint "
                        f"is damaged or not one this program wrote (run without --resume to start over)") from None


# ---- the schema -----------------------------------------------------------------------------------

def _check_meta(meta, arrays):
    _fields(meta, "metadata", required=("format", "run", "fingerprint", "state", "rng", "optimizer",
                                        "schedule"))
    if meta["format"] != FORMAT or isinstance(meta["format"], bool):
        raise _Invalid("format", f"{FORMAT}", meta["format"])
    _string(meta["run"], "run")
    _fingerprint(meta["fingerprint"], "fingerprint")
    _state(meta["state"], "state")
    _rng(meta["rng"], "rng")
    _skeleton(meta["optimizer"], "optimizer", arrays)
    if meta["schedule"] is not None:
        _skeleton(meta["schedule"], "schedule", arrays)


def _fingerprint(value, field):
    _fields(value, field, required=("config", "seed", "subset", "used_sample"))
    _fields(value["config"], f"{field}.config")
    _integer(value["seed"], f"{field}.seed", 0)
    if value["subset"] is not None:
        _integer(value["subset"], f"{field}.subset", 1)
    _boolean(value["used_sample"], f"{field}.used_sample")


STATE_FIELDS = ("epoch", "batch", "iteration", "wall_time_s", "finished", "stopped_early_at", "window",
                "running", "best", "early", "history", "epoch_lr")
NEWER_STATE_FIELDS = ("epoch_lr",)           # absent from the checkpoints of older versions


def _state(state, field):
    _fields(state, field, required=[key for key in STATE_FIELDS if key not in NEWER_STATE_FIELDS], exactly=True,
            optional=NEWER_STATE_FIELDS)
    if state.get("epoch_lr") is not None:
        _number(state["epoch_lr"], f"{field}.epoch_lr", 0)
    for key in ("epoch", "batch", "iteration", "stopped_early_at"):
        _integer(state[key], f"{field}.{key}", 0)
    _number(state["wall_time_s"], f"{field}.wall_time_s", 0)
    _boolean(state["finished"], f"{field}.finished")
    _sequence(state["window"], f"{field}.window", [_number, _counter])
    _sequence(state["running"], f"{field}.running", [_number, _counter, _counter])
    if state["best"] is not None:
        _sequence(state["best"], f"{field}.best", [_epoch_number, _number])
    if state["early"] is not None:
        _sequence(state["early"], f"{field}.early", [_number, _counter])
    history = state["history"]
    _fields(history, f"{field}.history", required=("iteration_loss", "epochs"))
    for key, points in history.items():
        if key == "epochs":
            _list(points, f"{field}.history.epochs")
            for i, row in enumerate(points):
                _fields(row, f"{field}.history.epochs.{i}")
        else:
            _list(points, f"{field}.history.{key}")
            for i, point in enumerate(points):
                _sequence(point, f"{field}.history.{key}.{i}", [_epoch_number, _number])


def _rng(state, field):
    if state is None:
        return
    _fields(state, field)
    if "cuda_bit_generator" in state:           # CuPy's cuRAND states (experiments.checkpoint.generator_state)
        _fields(state, field, required=("cuda_bit_generator", "dtype", "size", "bytes"), exactly=True)
        for key in ("cuda_bit_generator", "dtype", "bytes"):
            _string(state[key], f"{field}.{key}")
        _integer(state["size"], f"{field}.size", 0)
        return
    _fields(state, field, required=("bit_generator",))
    _string(state["bit_generator"], f"{field}.bit_generator")
    generator = getattr(np.random, state["bit_generator"], None)
    if not (isinstance(generator, type) and issubclass(generator, np.random.BitGenerator)):
        raise _Invalid(f"{field}.bit_generator", "the name of a NumPy bit generator", state["bit_generator"])
    try:
        generator().state = state
    except (ValueError, TypeError, KeyError, OverflowError) as exc:
        raise _Invalid(field, f"a valid {state['bit_generator']} state ({exc})", state) from None


def _skeleton(value, field, arrays):
    """The optimiser's (or schedule's) state as ``checkpoint._flatten`` writes it."""
    if isinstance(value, dict) and "__array__" in value:
        if set(value) != {"__array__"} or value["__array__"] not in arrays:
            raise _Invalid(field, "the name of an array stored in the checkpoint", value)
    elif isinstance(value, dict):
        _fields(value, field, required=("__dict__",), exactly=True)
        _list(value["__dict__"], f"{field}.__dict__")
        for i, item in enumerate(value["__dict__"]):
            if not (isinstance(item, list) and len(item) == 2 and isinstance(item[0], str)):
                raise _Invalid(f"{field}.__dict__.{i}", "a [key, value] pair", item)
            _skeleton(item[1], f"{field}.{item[0]}", arrays)
    elif isinstance(value, list):
        for i, item in enumerate(value):
            _skeleton(item, f"{field}.{i}", arrays)
    elif isinstance(value, float) and not math.isfinite(value):
        raise _Invalid(field, "a finite number", value)
    elif not (value is None or isinstance(value, (bool, int, float, str))):
        raise _Invalid(field, "a number, bool, string, null, list or stored array", value)


# ---- the checks ---------------------------------------------------------------------------------

def _fields(value, field, required=(), exactly=False, optional=()):
    if not isinstance(value, dict):
        raise _Invalid(field, "a JSON object", value)
    for key in required:
        if key not in value:
            raise _Invalid(f"{field}.{key}" if field != "metadata" else key, "present", "nothing")
    if exactly:
        extra = sorted(set(value) - set(required) - set(optional))
        if extra:
            raise _Invalid(f"{field}.{extra[0]}", "absent (not a field of this format)", value[extra[0]])


def _integer(value, field, low):
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise _Invalid(field, f"an integer >= {low}", value)


def _counter(value, field):
    _integer(value, field, 0)


def _epoch_number(value, field):
    _integer(value, field, 1)


def _number(value, field, low=None):
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise _Invalid(field, "a finite number" + ("" if low is None else f" >= {low}"), value)
    if low is not None and value < low:
        raise _Invalid(field, f"a finite number >= {low}", value)


def _boolean(value, field):
    if not isinstance(value, bool):
        raise _Invalid(field, "true or false", value)


def _string(value, field):
    if not isinstance(value, str):
        raise _Invalid(field, "a string", value)


def _list(value, field):
    if not isinstance(value, list):
        raise _Invalid(field, "a list", value)


def _sequence(value, field, checks):
    if not isinstance(value, list) or len(value) != len(checks):
        raise _Invalid(field, f"a list of {len(checks)}", value)
    for i, (item, check) in enumerate(zip(value, checks)):
        check(item, f"{field}.{i}")
