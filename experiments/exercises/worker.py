"""The side of a check that runs the student's code: it computes, it never judges.

A check (``checks``) is a list of requests, each a ``kind`` below with JSON arguments and NumPy
arrays, e.g. "run ``Mul.backward`` on these inputs with this incoming gradient". ``execute`` answers
one request with plain arrays and JSON values, or with a description of the exception the student's
code raised (the frames inside the blank functions marked, so the explanation can point at the
student's line). The teacher's process draws the inputs, computes the expected values and compares.

``exercise check`` calls ``execute`` in its own process (the student's copy is the code). ``exercise
grade`` runs this file as the program of a sandboxed worker (``main``): the teacher's framework with
the student's bodies grafted in (``graft.GraftFinder``), the job (requests and inputs) read from a
read-only folder, and the answers written back as length-prefixed ``.npz`` frames on a pipe, one per
task, so a task that hangs or crashes costs only itself. Nothing here is trusted by the teacher: a
frame is data, read bounded, never unpickled.

Standard library and NumPy only at import time: the framework is imported by the kinds themselves.
"""
import importlib
import io
import json
import linecache
import os
import struct
import sys
import traceback

import numpy as np

if __package__:
    from . import graft
else:                        # in the sandbox this file is a top-level module beside graft.py
    import graft

FRAME_HEADER = struct.Struct(">Q")      # each frame: its length in 8 bytes, then an uncompressed .npz
META = "__meta__"                       # the frame's JSON part, stored as a uint8 array
MAX_MESSAGE = 500                       # characters of an exception's message sent back
MAX_FRAMES = 30                         # traceback frames sent back (the innermost)


class BadAnswer(Exception):
    """The student's function returned, but not something the check can read (not an array...)."""


def _resolve(spec):
    """'package.module:Qual.name' -> the object."""
    module, _, qualname = spec.partition(":")
    found = importlib.import_module(module)
    for part in qualname.split("."):
        found = getattr(found, part)
    return found


def _value(item, arrays):
    """JSON arguments with arrays by reference: {"array": name} -> the array; lists -> tuples."""
    if isinstance(item, dict) and set(item) == {"array"}:
        return arrays[item["array"]].copy()
    if isinstance(item, list):
        return tuple(_value(v, arrays) for v in item)
    return item


def _array(value, what):
    """A returned value as a float64 array, or ``BadAnswer`` naming what it was."""
    import tinygrad_lite as tl
    if isinstance(value, tl.Tensor):
        value = value.numpy()
    try:
        array = np.asarray(value)
        if array.dtype.kind not in "biuf":
            raise TypeError(f"dtype {array.dtype}")
        return array.astype(np.float64)
    except Exception as error:      # anything a student may return
        raise BadAnswer(f"{what} is a {type(value).__name__}, not an array of numbers ({error}); return a "
                        f"Tensor") from None


def op_backward(args, arrays, shared):
    """``op(*init)`` called on the inputs (each a Tensor that requires grad), then its ``backward``
    on ``gy`` with graph building off, as the engine runs it: {"g<k>": gradient of input k}."""
    import tinygrad_lite as tl
    fn = _resolve(args["op"])(*_value(args.get("init", []), arrays))
    inputs = [tl.Tensor(arrays[name].copy(), requires_grad=True) for name in args["inputs"]]
    output = fn(*inputs)        # kept alive: backward may read self.output()
    with tl.no_grad():
        grads = fn.backward(tl.Tensor(arrays["gy"].copy()))
    del output
    if not isinstance(grads, (tuple, list)):
        grads = (grads,)
    what = args["op"].split(":")[1] + ".backward"
    out = {f"g{k}": _array(g, f"the gradient {what} returned for input {k}") for k, g in enumerate(grads)
           if g is not None}
    return out, {"returned": len(grads)}


def op_forward(args, arrays, shared):
    """``op(*init).forward(*inputs)`` on arrays: {"y": the output}."""
    fn = _resolve(args["op"])(*_value(args.get("init", []), arrays))
    what = args["op"].split(":")[1] + ".forward"
    return {"y": _array(fn.forward(*[arrays[n].copy() for n in args["inputs"]]), f"what {what} returned")}, {}


def call(args, arrays, shared):
    """``function(*args, **kwargs)`` with arrays by reference: {"y": the result}."""
    function = _resolve(args["function"])
    result = function(*_value(args.get("args", []), arrays), **{k: _value(v, arrays) for k, v in
                                                                args.get("kwargs", {}).items()})
    return {"y": _array(result, f"what {args['function'].split(':')[1]} returned")}, {}


def optimiser_steps(args, arrays, shared):
    """One parameter p0 stepped by ``optimiser(params, **kwargs)`` with each of ``grads`` in turn:
    {"p": the parameter after every step, stacked}."""
    import tinygrad_lite as tl
    param = tl.Tensor(arrays["p0"].copy(), requires_grad=True)
    optimiser = _resolve(args["optimiser"])([param], **args.get("kwargs", {}))
    after = []
    for g in arrays["grads"]:
        param.grad = tl.Tensor(g.copy())
        optimiser.step()
        after.append(_array(param.data, "the parameter after a step").copy())
    return {"p": np.stack(after)}, {}


def backward_walk(args, arrays, shared):
    """x -> a = Counted(x), b = a + a, c = Counted(b) + b; ``c.backward(seed)``: {"grad": x.grad} and
    how many times the Counted ops' backward ran."""
    import tinygrad_lite as tl

    class Counted(tl.Function):
        """y = x (counts its backward calls)"""
        calls = 0

        def forward(self, x):
            return x.copy()

        def backward(self, gy):
            Counted.calls += 1
            return gy

    x = tl.Tensor(arrays["x"].copy(), requires_grad=True)
    a = Counted()(x)
    b = a + a
    c = Counted()(b) + b
    c.backward(tl.Tensor(arrays["seed"].copy()))
    out = {} if x.grad is None else {"grad": _array(x.grad, "x.grad")}
    return out, {"calls": Counted.calls}


EXPRESSIONS = {"(x*x + x) * (x*x)": lambda t: (t * t + t) * (t * t)}


def expression_gradient(args, arrays, shared):
    """x.grad after ``expression(x).backward(seed)``: {"grad": ...}."""
    import tinygrad_lite as tl
    x = tl.Tensor(arrays["x"].copy(), requires_grad=True)
    EXPRESSIONS[args["expression"]](x).backward(tl.Tensor(arrays["seed"].copy()))
    return ({} if x.grad is None else {"grad": _array(x.grad, "x.grad")}), {}


def max_pool_backward(args, arrays, shared):
    """The max-pool op's backward on ``gy`` (it routes through RouteToWinner): {"gx": ...}."""
    import nn
    import tinygrad_lite as tl
    output = nn.functional.max_pool2d(tl.Tensor(arrays["x"].copy(), requires_grad=True), tuple(args["kernel"]),
                                      tuple(args["stride"]))
    with tl.no_grad():
        got = output._creator.backward(tl.Tensor(arrays["gy"].copy()))
    if isinstance(got, (tuple, list)) and len(got) == 1:
        got = got[0]
    return ({} if got is None else {"gx": _array(got, "the max-pool gradient")}), {}


def train_run(args, arrays, shared):
    """Train the run ``args["run"]`` for ``epochs`` with the student's step, seeded, on ``shared``'s
    training and validation arrays (no test set is given): {"<name>": final weight}."""
    from experiments.data import RunData
    from experiments.registry import RUNS
    from experiments.train import train
    from tinygrad_lite import backend
    import dataclasses
    config = dataclasses.replace(RUNS[args["run"]], epochs=args["epochs"])
    x_train, y_train, x_val, y_val = (shared(name) for name in ("x_train", "y_train", "x_val", "y_val"))
    data = RunData(x_train, y_train, x_val, y_val, x_val, y_val, [str(i) for i in range(10)])
    result = train(config, data, seed=args["seed"], progress=False)
    state = result.model.state_dict()
    return {name: _array(backend.as_numpy(getattr(value, "data", value)), name) for name, value in state.items()}, {}


KINDS = {"backward": op_backward, "forward": op_forward, "call": call, "optimiser": optimiser_steps,
         "walk": backward_walk, "gradient": expression_gradient, "max_pool_backward": max_pool_backward,
         "train": train_run}


def target_codes(targets):
    """{code object: target} for every function in ``targets`` ('path.py::Qual.name') and the
    functions nested in it, as imported now (grafted in the sandbox, the copy's own in ``check``)."""
    codes = {}
    for target in targets:
        path, qualname = graft.split_target(target)
        try:
            function = _resolve(f"{graft.module_name(path)}:{qualname}")
        except Exception:       # a module that does not import: no frames to mark
            continue
        for code in graft.code_objects(getattr(function, "__func__", function)):
            codes[code] = target
    return codes


def describe_error(error, codes):
    """An exception as JSON: type, message, the blank task whose stub raised it (if one did), and the
    innermost frames, each marked with the blank function it is in (``codes``), if any."""
    frames = []
    for frame, line in traceback.walk_tb(error.__traceback__):
        code = frame.f_code
        target = codes.get(code)
        frames.append({"file": code.co_filename, "line": line,
                       "function": getattr(code, "co_qualname", code.co_name), "target": target,
                       "text": linecache.getline(code.co_filename, line).strip()[:200] if target else ""})
    try:
        message = str(error)
    except Exception:       # a student's exception whose __str__ raises
        message = "(its message could not be printed)"
    return {"type": type(error).__name__[:100], "message": message[:MAX_MESSAGE],
            "blank": graft.blank_task(error), "bad_answer": isinstance(error, BadAnswer),
            "frames": frames[-MAX_FRAMES:]}


def execute(kind, args, arrays, shared, codes):
    """One request: ``{"ok": True, "arrays": {...}, "values": {...}}`` or ``{"ok": False, "error":
    describe_error(...)}``; never raises for what the student's code does."""
    try:
        out, values = KINDS[kind](args, arrays, shared)
        return {"ok": True, "arrays": out, "values": values}
    except Exception as error:      # the student's code may raise anything
        return {"ok": False, "error": describe_error(error, codes)}


def run_task(task, arrays, shared, codes):
    """{request id: reply} for every request of one task of a job (see ``grade.write_job``)."""
    return {request["id"]: execute(request["kind"], request["args"],
                                   {name: arrays[f"{request['id']}/{name}"] for name in request["arrays"]},
                                   shared, codes)
            for request in task["requests"]}


def encode_frame(meta, arrays):
    """A frame's bytes: the length, then an .npz of ``arrays`` and the JSON ``meta``."""
    buffer = io.BytesIO()
    blob = np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8)
    np.savez(buffer, **{META: blob}, **arrays)
    payload = buffer.getvalue()
    return FRAME_HEADER.pack(len(payload)) + payload


def _write_all(fd, data):
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def reply_frame(task_number, replies):
    """The frame of one task's replies: arrays named '<request id>/<name>', the rest in the meta."""
    arrays, meta = {}, {"task": task_number, "replies": {}}
    for request_id, reply in replies.items():
        entry = {key: value for key, value in reply.items() if key != "arrays"}
        if reply["ok"]:
            entry["arrays"] = sorted(reply["arrays"])
            arrays.update({f"{request_id}/{name}": value for name, value in reply["arrays"].items()})
        meta["replies"][request_id] = entry
    return encode_frame(meta, arrays)


def main(job_dir, framework, copy_root, data_dir, reply_fd):
    """The sandboxed worker: graft, then answer the job's tasks in order, one frame each."""
    with open(os.path.join(job_dir, "job.json"), encoding="utf-8") as f:
        job = json.load(f)
    with np.load(os.path.join(job_dir, "inputs.npz"), allow_pickle=False) as stored:
        arrays = {name: stored[name] for name in stored.files}
    finder = graft.GraftFinder(framework, copy_root, job["targets"], job.get("unread"))
    sys.meta_path.insert(0, finder)
    for target in job["targets"]:
        importlib.import_module(graft.module_name(graft.split_target(target)[0]))
    _write_all(reply_fd, encode_frame({"graft": finder.report}, {}))
    codes = target_codes(job["targets"])
    cache = {}

    def shared(name):
        if name not in cache:
            cache[name] = np.load(os.path.join(data_dir, f"{name}.npy"), allow_pickle=False)
        return cache[name]

    with open(os.path.join(job_dir, "todo.json"), encoding="utf-8") as f:
        todo = json.load(f)                             # after a failed task, a fresh worker does the rest
    for task in [t for n in todo for t in job["tasks"] if t["number"] == n]:
        _write_all(reply_fd, reply_frame(task["number"], run_task(task, arrays, shared, codes)))
