"""Hostile input: wrong shapes, dtypes and types, bad data, bad files, a missing GPU.

Every case must raise an exception a user can catch by a documented type (``ValueError``,
``TypeError``, ``IndexError`` for indexing, or a ``tinygrad_lite.errors.TinygradLiteError``: ShapeError,
DataError, DeviceError) whose message names the argument (or the layer), the expected and the actual
value; never an AttributeError or a NumPy error from deep inside, and never a silently wrong result.
Files are never unpickled: these tests replace ``pickle.load`` / ``pickle.loads`` with a function
that fails the test, then feed the loaders pickles.

Cases already covered by the owners' own tests are not repeated here; docs/reliability.md lists them
(e.g. test_serialization.py for truncated and mis-keyed model files, test_dataloader.py for NaN
batches and empty data sets, test_cli.py for ``--device cuda`` on the command line).
"""
import io
import json
import pickle
import re
import struct
import tracemalloc
import zipfile
import zlib

import numpy as np
import pytest

import nn
import nn.functional as F
import tinygrad_lite as tl
from experiments import checkpoint, checkpoint_meta, cli
from experiments.registry import RUNS
from experiments.runner import Overrides, RunOptions, run
from experiments.config import RunConfig, mlp
from experiments.data import RunData
from experiments.checkpoint import LAST, load_checkpoint
from experiments.loop import NonFiniteLossError
from experiments.run_folder import TrainingInterrupted
from experiments.train import train
from nn.serialization import decode_json, encode_json, load_arrays, save_arrays
from tinygrad_lite.dataloader import DataLoader, TensorDataset
from tinygrad_lite.datasets import read_idx
from tinygrad_lite.errors import DataError, DeviceError, ShapeError, TinygradLiteError

DOCUMENTED = (ValueError, TypeError, IndexError, TinygradLiteError)


def zeros(*shape, dtype="float32"):
    return tl.Tensor(np.zeros(shape, dtype=dtype))


# ---- wrong shapes, dtypes and types into every public layer and function ------------------------
# (id, call, expected exception type, substrings the message must contain: what, expected, actual)

dense, conv = nn.Dense(4, 3), nn.Conv2d(3, 5, 3)
x_nchw = zeros(2, 3, 8, 8)

CASES = [
    # layers
    ("Dense features", lambda: dense(zeros(2, 5)), ShapeError, ["Dense(in_features=4", "(..., 4)", "(2, 5)"]),
    ("Dense ndarray", lambda: dense(np.zeros((2, 4), np.float32)), TypeError, ["Dense", "Tensor", "ndarray"]),
    ("Dense list", lambda: dense([[0.0] * 4]), TypeError, ["Dense", "Tensor", "list"]),
    ("Dense size", lambda: nn.Dense(4, 2.5), ValueError, ["out_features", "positive int", "2.5"]),
    ("Conv2d 3-D", lambda: conv(zeros(3, 8, 8)), ShapeError, ["Conv2d(3, 5", "(N, C, H, W)", "(3, 8, 8)"]),
    ("Conv2d channels", lambda: conv(zeros(2, 4, 8, 8)), ShapeError, ["4 channels", "(2, 4, 8, 8)", "expects 3"]),
    ("Conv2d kernel > input", lambda: conv(zeros(2, 3, 2, 2)), ShapeError, ["kernel size (3, 3)", "(2, 2)"]),
    ("Conv2d ndarray", lambda: conv(np.zeros((2, 3, 8, 8))), TypeError, ["Conv2d", "Tensor", "ndarray"]),
    ("MaxPool2d 3-D", lambda: nn.MaxPool2d(2)(zeros(3, 8, 8)), ShapeError, ["MaxPool2d", "4-D", "(3, 8, 8)"]),
    ("MaxPool2d kernel > input", lambda: nn.MaxPool2d(9)(x_nchw), ShapeError, ["(9, 9)", "(8, 8)"]),
    ("MaxPool2d kernel 0", lambda: nn.MaxPool2d(0), ValueError, ["kernel_size", "positive", "0"]),
    ("AvgPool2d 2-D", lambda: nn.AvgPool2d(2)(zeros(8, 8)), ShapeError, ["AvgPool2d", "4-D", "(8, 8)"]),
    ("AvgPool2d ndarray", lambda: nn.AvgPool2d(2)(np.zeros((1, 1, 4, 4))), TypeError, ["AvgPool2d", "ndarray"]),
    ("GlobalAvgPool2d 3-D", lambda: nn.GlobalAvgPool2d()(zeros(3, 8, 8)), ShapeError, ["4-D", "(3, 8, 8)"]),
    ("Dropout ndarray", lambda: nn.Dropout(0.5)(np.zeros(3)), TypeError, ["dropout", "Tensor", "ndarray"]),
    ("Dropout p", lambda: nn.Dropout(1.5), ValueError, ["p must be", "[0, 1]", "1.5"]),
    ("Flatten ndarray", lambda: nn.Flatten()(np.zeros((2, 3))), TypeError, ["Flatten", "Tensor", "ndarray"]),
    ("ReLU ndarray", lambda: nn.ReLU()(np.zeros(3)), TypeError, ["ReLU", "Tensor", "ndarray"]),
    ("Sequential item", lambda: nn.Sequential(lambda x: x), TypeError, ["Sequential", "Module", "function"]),
    # losses
    ("cross_entropy label", lambda: F.cross_entropy(zeros(3, 4), np.array([0, 4, 1])), ValueError,
     ["label 4", "position 1", "[0, 4)"]),
    ("cross_entropy float labels", lambda: F.cross_entropy(zeros(3, 4), np.array([0.0, 1.0, 2.0])), TypeError,
     ["integers", "float64"]),
    ("cross_entropy bool labels", lambda: F.cross_entropy(zeros(3, 4), np.array([True, False, True])),
     TypeError, ["integers", "bool"]),
    ("cross_entropy shapes", lambda: F.cross_entropy(zeros(3, 4), np.array([0, 1])), ShapeError, ["(3,)", "(2,)"]),
    ("cross_entropy ndarray logits", lambda: F.cross_entropy(np.zeros((3, 4)), np.array([0, 1, 2])), TypeError,
     ["Tensor", "ndarray"]),
    ("mse_loss shapes", lambda: F.mse_loss(zeros(3, 1), zeros(3)), ShapeError, ["(3, 1)", "(3,)"]),
    ("nll_loss label", lambda: F.nll_loss(zeros(3, 4), np.array([0, 9, 1])), ValueError, ["label 9", "[0, 4)"]),
    # tensor ops
    ("matmul", lambda: zeros(2, 3) @ zeros(4, 3), ShapeError, ["matmul", "(2, 3)", "(4, 3)"]),
    ("broadcast", lambda: zeros(2, 3) + zeros(4), ShapeError, ["add", "(2, 3)", "(4,)"]),
    ("compare broadcast", lambda: zeros(2) < zeros(3), ShapeError, ["(2,)", "(3,)"]),
    ("reshape", lambda: zeros(2, 3).reshape(4, 2), ShapeError, ["reshape", "(2, 3)", "(4, 2)"]),
    ("axis out of range", lambda: zeros(2, 3).sum(axis=2), ShapeError, ["sum", "[-2, 2)", "2"]),
    ("permute axis", lambda: zeros(2, 3).permute(0, 5), ShapeError, ["permutation of (0, 1)", "(0, 5)"]),
    ("transpose axis", lambda: zeros(2, 3).transpose(0, 5), ShapeError, ["axis2", "[-2, 2)", "5"]),
    ("unsqueeze axis", lambda: zeros(2, 3).unsqueeze(4), ShapeError, ["unsqueeze", "[-3, 3)", "4"]),
    ("float axis", lambda: zeros(2, 3).max(axis=1.0), TypeError, ["max", "axis", "1.0"]),
    ("max of empty", lambda: zeros(0, 3).max(), ShapeError, ["max", "empty", "(0, 3)"]),
    ("concatenate list", lambda: tl.concatenate([[1.0], [2.0]]), TypeError, ["concatenate", "Tensor", "list"]),
    ("string data", lambda: tl.Tensor(["1", "2"]), TypeError, ["Tensor", "numbers", "<U1"]),
    ("object array", lambda: tl.Tensor(np.array([1, None])), TypeError, ["dtype", "object"]),
    ("ragged list", lambda: tl.Tensor([[1, 2], [3]]), ValueError, ["Tensor", "rectangular"]),
    ("int requires grad", lambda: tl.Tensor([1, 2], requires_grad=True), TypeError, ["floating", "int64"]),
    ("exp of ndarray", lambda: tl.exp(np.zeros(3)), TypeError, ["Exp", "Tensor", "ndarray"]),
    ("arange step 0", lambda: tl.arange(0, 5, 0), ValueError, ["arange", "step", "0"]),
    ("index out of range", lambda: zeros(2, 3)[5], IndexError, ["5", "size 2"]),
    # optimisers
    ("SGD given a Module", lambda: nn.optim.SGD(dense, lr=0.1), TypeError, ["SGD", "model.parameters()", "Dense"]),
    ("SGD given a Tensor", lambda: nn.optim.SGD(dense.weight, lr=0.1), TypeError, ["params", "Parameter"]),
    ("SGD given arrays", lambda: nn.optim.SGD([np.zeros(3)], lr=0.1), TypeError, ["SGD", "Tensors", "ndarray"]),
    ("SGD no grad", lambda: nn.optim.SGD([zeros(3)], lr=0.1), ValueError, ["SGD", "require grad", "(3,)"]),
    ("SGD lr < 0", lambda: nn.optim.SGD(dense.parameters(), lr=-1), ValueError, ["lr", ">= 0", "-1"]),
    ("SGD lr nan", lambda: nn.optim.SGD(dense.parameters(), lr=float("nan")), ValueError, ["lr", "nan"]),
    ("SGD lr str", lambda: nn.optim.SGD(dense.parameters(), lr="0.1"), TypeError, ["lr", "number", "'0.1'"]),
    ("Adam lr None", lambda: nn.optim.Adam(dense.parameters(), lr=None), TypeError, ["Adam", "lr", "None"]),
    ("Adam betas", lambda: nn.optim.Adam(dense.parameters(), betas=(0.9, 1.0)), ValueError, ["betas", "(0.9, 1.0)"]),
    ("SGD momentum", lambda: nn.optim.SGD(dense.parameters(), lr=0.1, momentum=-0.5), ValueError,
     ["momentum", "-0.5"]),
]


@pytest.mark.parametrize("call, error, needles", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_arguments_raise_a_documented_error_naming_what_and_why(call, error, needles):
    with pytest.raises(DOCUMENTED) as caught:
        call()
    assert isinstance(caught.value, error), f"{type(caught.value).__name__}: {caught.value}"
    for needle in needles:
        assert needle in str(caught.value), f"{needle!r} missing from: {caught.value}"


# ---- bad data in a training run ------------------------------------------------------------------

def tiny_config(**changes):
    base = RunConfig(name="hostile", document="test", title="hostile input", dataset="mnist",
                     layers=mlp([12, 8, 10], "relu"), epochs=2, batch_size=8, optimizer="sgd", lr=0.1,
                     split=("first_last", 8), normalisation="zscore", log_every=2)
    return base.with_overrides(**changes)


def tiny_data(n=40, **arrays):
    rng = np.random.default_rng(0)
    data = dict(x_train=rng.standard_normal((n, 12)).astype(np.float32), y_train=rng.integers(0, 10, n),
                x_val=rng.standard_normal((8, 12)).astype(np.float32), y_val=rng.integers(0, 10, 8),
                x_test=rng.standard_normal((8, 12)).astype(np.float32), y_test=rng.integers(0, 10, 8))
    data.update(arrays)
    return RunData(class_names=[str(i) for i in range(10)], **data)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_nan_or_inf_in_the_training_data_names_the_batch(bad):
    data = tiny_data()
    data.x_train[13, 5] = bad                # row 13 lands in the batch where epoch 0's shuffle puts it
    order = DataLoader(TensorDataset(data.x_train, data.y_train), 8, shuffle=True, seed=0).epoch_order(0)
    batch = int(np.flatnonzero(order == 13)[0]) // 8 + 1     # messages count batches and epochs from 1
    with pytest.raises(DataError, match=rf"batch {batch} of 5 in epoch 1 \(both counted from 1\) holds NaN or Inf "
                                        r"values \(data rows \[13\]\)"):
        train(tiny_config(), data, seed=0, progress=False)


def test_training_on_data_that_overflows_names_the_epoch_and_batch():
    """Finite but absurd inputs (1e30) blow the weights up to inf and the loss to NaN a step later;
    the steps in between (inf gradients through the optimiser) raise no NumPy warning, and the loop
    then stops naming the first bad epoch and batch."""
    data = tiny_data()
    data.x_train[:] *= np.float32(1e30)
    with pytest.raises(NonFiniteLossError, match=r"loss is nan at epoch 1, batch [1-5] of 5 \(iteration \d\)"):
        train(tiny_config(), data, seed=0, progress=False, sync_every=4)


def test_labels_out_of_range_in_the_training_data_are_named():
    data = tiny_data(y_train=np.full(40, 10))
    with pytest.raises(ValueError, match=r"label 10 \(at position 0\) is outside \[0, 10\)"):
        train(tiny_config(), data, seed=0, progress=False)


def test_float_labels_in_the_training_data_are_named():
    data = tiny_data(y_train=np.zeros(40, dtype=np.float32))
    with pytest.raises(TypeError, match="class-label targets must be integers, got dtype float32"):
        train(tiny_config(), data, seed=0, progress=False)


def test_an_empty_training_set_is_refused_before_training():
    data = tiny_data(x_train=np.zeros((0, 12), np.float32), y_train=np.zeros(0, np.int64))
    with pytest.raises(ValueError, match=r"empty data set \(len\(dataset\)=0\)"):
        train(tiny_config(), data, seed=0, progress=False)


# ---- files: other formats and pickles, never unpickled -------------------------------------------

@pytest.fixture
def no_unpickling(monkeypatch):
    """Fail the test if anything calls pickle.load / pickle.loads (NumPy's allow_pickle path uses them)."""
    def forbidden(*args, **kwargs):
        pytest.fail("pickle.load/loads was called on a user's file")
    monkeypatch.setattr(pickle, "load", forbidden)
    monkeypatch.setattr(pickle, "loads", forbidden)


class Payload:
    """Unpickling this would run code: exactly what a malicious 'model file' does."""
    def __reduce__(self):
        return (pytest.fail, ("a pickle payload was executed",))


def png_bytes():
    """A valid 1x1 PNG: a different format under a model's or a data file's name."""
    def chunk(kind, body):
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 1, 1, 8, 0, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(b"\x00\x00")) + chunk(b"IEND", b""))


def object_array_npz():
    buffer = io.BytesIO()
    np.savez(buffer, **{"0.weight": np.array([Payload()], dtype=object)})
    return buffer.getvalue()


def object_array_npy():
    buffer = io.BytesIO()
    np.save(buffer, np.array([Payload()], dtype=object))
    return buffer.getvalue()


BAD_FILES = {
    "raw pickle": lambda: pickle.dumps({"0.weight": Payload()}),
    "npz with an object array": object_array_npz,
    "npy with an object array": object_array_npy,
    "png": png_bytes,
    "text": lambda: b"0.weight,0.bias\n1,2\n",
    "empty": lambda: b"",
}


@pytest.mark.parametrize("kind", sorted(BAD_FILES))
def test_a_model_file_that_is_not_ours_is_refused_without_unpickling(kind, tmp_path, no_unpickling):
    path = tmp_path / "model.npz"
    path.write_bytes(BAD_FILES[kind]())
    model = nn.Sequential(nn.Dense(3, 2))
    before = model.state_dict()
    with pytest.raises(DataError) as caught:
        model.load(path)
    assert str(path) in str(caught.value)
    assert all(np.array_equal(before[k], v) for k, v in model.state_dict().items())   # nothing changed


@pytest.mark.parametrize("kind", sorted(BAD_FILES))
def test_a_data_file_that_is_not_idx_is_refused_without_unpickling(kind, tmp_path, no_unpickling):
    path = tmp_path / "train-images-idx3-ubyte"
    path.write_bytes(BAD_FILES[kind]())
    with pytest.raises(DataError) as caught:
        read_idx(path)
    assert str(path) in str(caught.value)


def test_a_pickled_checkpoint_is_refused_by_resume_without_unpickling(tmp_path, no_unpickling, capsys):
    """``tinygrad-lite run ... --resume`` finding a pickle where its checkpoint should be: one line, exit 2."""
    run_dir = tmp_path / "A-sigmoid"
    run_dir.mkdir()
    (run_dir / LAST).write_bytes(object_array_npz())
    with pytest.raises(DataError, match="pickled"):
        load_checkpoint(run_dir / LAST)
    status = cli.main(["run", "A-sigmoid", "--resume", "--subset", "64", "--epochs", "1", "--no-torch",
                       "--no-progress", "--out", str(tmp_path)])
    err = capsys.readouterr().err
    assert status == 2 and "Traceback" not in err, err
    last = err.strip().splitlines()[-1]
    assert last.startswith("tinygrad-lite: error:") and LAST in last and "pickled" in last, err


def test_a_truncated_checkpoint_is_refused_naming_the_file(tmp_path):
    path = tmp_path / LAST
    save_arrays(path, {"meta": np.arange(100, dtype=np.uint8), "model.w": np.ones(1000)})
    path.write_bytes(path.read_bytes()[:-300])
    with pytest.raises(DataError, match=rf"{LAST}: truncated or corrupted"):
        load_checkpoint(path)


def test_a_checkpoint_of_another_kind_is_refused(tmp_path):
    """A valid .npz that is not a training checkpoint (e.g. a model file saved under its name)."""
    path = tmp_path / LAST
    nn.Sequential(nn.Dense(3, 2)).save(path)
    with pytest.raises(DataError, match="not a training checkpoint"):
        load_checkpoint(path)
    assert load_arrays(path)          # the file itself is fine


QUICK_RUN = ["run", "A-sigmoid", "--subset", "64", "--epochs", "2", "--no-torch", "--no-progress", "--no-report"]


@pytest.fixture(scope="module")
def stopped_run(data_root, tmp_path_factory):
    """A real checkpoint: A-sigmoid on 64 images, stopped after its first step (what --resume reads)."""
    out = tmp_path_factory.mktemp("stopped")
    with pytest.raises(TrainingInterrupted):
        run(RUNS["A-sigmoid"], RunOptions(overrides=Overrides(epochs=2), subset=64, torch=False, progress=False,
                                          report=False, out=str(out), root=str(data_root),
                                          step_hook=lambda epoch, batch, iteration: True))
    return out, load_arrays(out / "A-sigmoid" / LAST)


def _edited(meta, edit):
    meta = json.loads(json.dumps(meta))
    edit(meta)
    return meta


def _set_lr(meta, lr):
    for pair in meta["optimizer"]["__dict__"]:
        if pair[0] == "param_groups.0.lr":
            pair[1] = lr


BAD_METAS = {   # name: (the metadata as stored, words of the one line that refuses it)
    "format alone": (lambda meta: {"format": 1}, "field run must be present"),
    "a list": (lambda meta: [meta], "field metadata must be a JSON object"),
    "epoch 'x'": (lambda meta: _edited(meta, lambda m: m["state"].update(epoch="x")),
                  "field state.epoch must be an integer >= 0, got 'x'"),
    "negative batch": (lambda meta: _edited(meta, lambda m: m["state"].update(batch=-3)),
                       "field state.batch must be an integer >= 0, got -3"),
    "no fingerprint": (lambda meta: _edited(meta, lambda m: m.pop("fingerprint")),
                       "field fingerprint must be present"),
    "garbage rng state": (lambda meta: _edited(meta, lambda m: m["rng"].update(state={"state": "junk"})),
                          "field rng must be a valid PCG64 state"),
    "history of strings": (lambda meta: _edited(meta, lambda m: m["state"]["history"].update(epochs="x")),
                           "field state.history.epochs must be a list"),
    "an unknown array": (lambda meta: _edited(meta, lambda m: m["optimizer"]["__dict__"].append(
                             ["state.0.velocity", {"__array__": "nowhere"}])),
                         "field optimizer.state.0.velocity must be the name of an array stored"),
    "lr -1": (lambda meta: _edited(meta, lambda m: _set_lr(m, -1)), "lr must be >= 0, got -1"),
}


@pytest.mark.parametrize("kind", sorted(BAD_METAS))
def test_checkpoint_metadata_is_validated_and_refused_in_one_line_naming_file_and_field(
        kind, stopped_run, data_root, tmp_path, capsys):
    """Structurally wrong metadata (or an lr of -1) in the checkpoint --resume reads: no KeyError,
    AttributeError or TypeError traceback, no training with nonsense: one line, the file, the field."""
    good_out, arrays = stopped_run
    make, words = BAD_METAS[kind]
    meta = make(decode_json(arrays["meta"]))
    run_dir = tmp_path / "A-sigmoid"
    run_dir.mkdir()
    path = run_dir / LAST
    save_arrays(path, {**arrays, "meta": encode_json(meta)})
    status = cli.main(QUICK_RUN + ["--resume", "--out", str(tmp_path), "--data", str(data_root)])
    err = capsys.readouterr().err
    assert status == 2 and "Traceback" not in err, err
    last = err.strip().splitlines()[-1]
    assert last.startswith("tinygrad-lite: error:") and str(path) in last and words in last, err
    assert not (run_dir / "metrics.json").exists()


def test_checkpoint_metadata_that_is_not_json_names_the_file(stopped_run, tmp_path):
    _, arrays = stopped_run
    path = tmp_path / LAST
    save_arrays(path, {**arrays, "meta": np.frombuffer(b'{"format": 1, "run": ', dtype=np.uint8)})
    with pytest.raises(DataError, match=rf"{LAST}: its metadata is not valid JSON"):
        load_checkpoint(path)


DEEP = "@deep@"        # where the deeply nested JSON goes, in the metadata's text
DEEP_METAS = {         # name: (where it goes, how deep)
    "metadata nested 100,000 deep": (lambda meta: meta.update(notes=DEEP), 100_000),
    "optimiser skeleton nested 900 deep": (
        lambda meta: meta["optimizer"]["__dict__"].append(["state.0.extra", DEEP]), 900),
}


@pytest.mark.parametrize("kind", sorted(DEEP_METAS))
def test_checkpoint_metadata_nested_too_deep_is_refused_in_one_line_naming_the_file(
        kind, stopped_run, data_root, tmp_path, capsys):
    """JSON nested deeper than Python recurses (or than the schema's walk can): counted before parsing,
    refused in one line; it used to end in a RecursionError traceback."""
    _, arrays = stopped_run
    place, depth = DEEP_METAS[kind]
    meta = decode_json(arrays["meta"])
    place(meta)
    text = json.dumps(meta).replace(json.dumps(DEEP), "[" * depth + "]" * depth)
    run_dir = tmp_path / "A-sigmoid"
    run_dir.mkdir()
    path = run_dir / LAST
    save_arrays(path, {**arrays, "meta": np.frombuffer(text.encode(), dtype=np.uint8)})
    status = cli.main(QUICK_RUN + ["--resume", "--out", str(tmp_path), "--data", str(data_root)])
    err = capsys.readouterr().err
    assert status == 2 and "Traceback" not in err, err
    last = err.strip().splitlines()[-1]
    assert last.startswith(f"tinygrad-lite: error: {path}: its metadata is JSON nested more than 100 levels "
                           f"deep; refused before parsing"), err


def _add_deflated_zeros(path, name, nbytes):
    """Append to the .npz at ``path`` a deflated .npy member of ``nbytes`` zero bytes (~1/1000 on disk)."""
    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(header, {"descr": "|u1", "fortran_order": False, "shape": (nbytes,)})
    with zipfile.ZipFile(path, "a", compression=zipfile.ZIP_DEFLATED) as archive:
        with archive.open(f"{name}.npy", "w", force_zip64=True) as member:
            member.write(header.getvalue())
            for _ in range(nbytes >> 20):
                member.write(bytes(1 << 20))


def test_a_checkpoint_member_that_inflates_past_the_models_size_is_refused_unread(
        stopped_run, data_root, tmp_path, capsys):
    """The issue's 5 MB checkpoint-last.npz with an extra deflated member of 3 GiB of zeros made --resume
    read it all (3.3 GB RSS) and carry on; here 256 MiB, past what A-sigmoid's checkpoint can hold (its
    state, three optimiser buffers like it, the metadata): one line, exit 2, nothing allocated for it."""
    _, arrays = stopped_run
    run_dir = tmp_path / "A-sigmoid"
    run_dir.mkdir()
    path = run_dir / LAST
    save_arrays(path, arrays)
    _add_deflated_zeros(path, "extra", 256 << 20)
    assert path.stat().st_size < 8 << 20
    tracemalloc.start()
    try:
        status = cli.main(QUICK_RUN + ["--resume", "--out", str(tmp_path), "--data", str(data_root)])
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    err = capsys.readouterr().err
    assert status == 2 and "Traceback" not in err, err
    last = err.strip().splitlines()[-1]
    assert re.fullmatch(rf"tinygrad-lite: error: {re.escape(str(path))}: its arrays declare 2\d{{8}} bytes, "
                        rf"more than the \d+ expected here; refused before reading", last), err
    assert peak < 64 << 20, f"{peak} bytes allocated refusing the checkpoint"
    assert not (run_dir / "metrics.json").exists()
    tracemalloc.start()          # is it finished, with these settings? Only the metadata is read to say
    try:
        assert not checkpoint.finished(run_dir, decode_json(arrays["meta"])["fingerprint"])
        assert checkpoint.read_meta(path)["run"] == "A-sigmoid"
        assert tracemalloc.get_traced_memory()[1] < 4 << 20
    finally:
        tracemalloc.stop()


def test_the_real_checkpoint_passes_its_schema(stopped_run):
    """The schema describes what the loop saves: its state fields are the loop's, nothing is refused."""
    out, arrays = stopped_run
    meta = load_checkpoint(out / "A-sigmoid" / LAST)[3]
    assert set(meta["state"]) == set(checkpoint_meta.STATE_FIELDS)


# ---- a missing GPU -------------------------------------------------------------------------------

CUDA_CALLS = {
    "Tensor": lambda: tl.Tensor([1.0], device="cuda"),
    "factory": lambda: tl.zeros(2, device="cuda"),
    "Tensor.to": lambda: tl.Tensor([1.0]).to("cuda"),
    "Dense": lambda: nn.Dense(2, 3, device="cuda"),
    "Module.to": lambda: nn.Dense(2, 3).to("cuda"),
    "DataLoader": lambda: DataLoader(TensorDataset(np.zeros((3, 2)), np.zeros(3)), 2, device="cuda"),
}


@pytest.mark.parametrize("where", sorted(CUDA_CALLS))
def test_cuda_without_a_gpu_is_one_clear_device_error(where):
    if tl.cuda_available():
        pytest.skip("a CUDA GPU is present here, so device='cuda' is not an error")
    with pytest.raises(DeviceError) as caught:
        CUDA_CALLS[where]()
    message = str(caught.value)
    assert "cuda" in message and "device='cpu'" in message and "\n" not in message
    assert isinstance(caught.value, RuntimeError)         # DeviceError is also a RuntimeError, as torch's


def test_an_unknown_device_names_the_choices():
    with pytest.raises(DeviceError, match=r"device must be one of \('cpu', 'cuda'\), got 'gpu'"):
        nn.Dense(2, 3).to("gpu")
