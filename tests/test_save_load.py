"""``tl.save`` / ``tl.load``: round trips of tensors and nested dicts (a model's and an optimiser's state
in one file, as torch users write checkpoints), then hostile files: never unpickled, every read bounded
before allocation, a structure that is not ours refused naming the file."""
import io
import json
import pickle
import tracemalloc
import zipfile

import numpy as np
import pytest

import nn
import nn.functional as F
import tinygrad_lite as tl
from tests.test_hostile_input import Payload, no_unpickling  # noqa: F401  (a fixture: pickle.load fails the test)
from tinygrad_lite import saving
from tinygrad_lite.errors import DataError, DeviceError


def test_a_tensor_round_trips_with_dtype_and_requires_grad(tmp_path):
    for value, requires_grad in ((np.arange(6, dtype=np.float32).reshape(2, 3), True),
                                 (np.array([1, 2, 3], np.int64), False), (np.array(2.5), False),
                                 (np.zeros((0, 4), np.float16), False), (np.array([True, False]), False)):
        path = tmp_path / "t.pt"
        assert tl.save(tl.Tensor(value, requires_grad=requires_grad), path) == str(path)
        back = tl.load(path)
        assert isinstance(back, tl.Tensor) and back.requires_grad == requires_grad
        assert back.dtype == np.asarray(value).dtype and back.shape == np.shape(value)
        np.testing.assert_array_equal(back.numpy(), value)


def test_a_checkpoint_of_nested_dicts_resumes_training_exactly(tmp_path):
    """torch's idiom: save the model's and the optimiser's state with the epoch, load both into fresh
    objects, and the next step equals the uninterrupted one bit for bit."""
    def make():
        tl.manual_seed(0)
        model = nn.Sequential(nn.Linear(4, 5), nn.ReLU(), nn.Linear(5, 3))
        return model, nn.optim.Adam(model.parameters(), lr=0.01)
    x, y = tl.randn(8, 4), np.arange(8) % 3

    def step(model, optimizer):
        optimizer.zero_grad()
        F.cross_entropy(model(x), y).backward()
        optimizer.step()
    model, optimizer = make()
    step(model, optimizer)
    checkpoint = {"model": model.state_dict(), "optimizer": optimizer.state_dict(), "epoch": 1,
                  "history": [0.5, {"lr": 0.01, "note": "adam", "best": None}], "shape": (2, 3),
                  7: tl.Tensor([1.0, 2.0], requires_grad=True)}
    tl.save(checkpoint, tmp_path / "ckpt.npz")
    back = tl.load(tmp_path / "ckpt.npz")
    assert list(back) == list(checkpoint) and list(back["model"]) == list(checkpoint["model"])
    assert back["epoch"] == 1 and back["history"] == [0.5, {"lr": 0.01, "note": "adam", "best": None}]
    assert back["shape"] == (2, 3) and isinstance(back["shape"], tuple)
    assert back[7].requires_grad and back[7].numpy().tolist() == [1.0, 2.0]
    fresh, fresh_optimizer = make()
    fresh.load_state_dict(back["model"])
    fresh_optimizer.load_state_dict(back["optimizer"])
    step(model, optimizer)
    step(fresh, fresh_optimizer)
    for (name, p), q in zip(model.named_parameters(), fresh.parameters()):
        assert p.numpy().tobytes() == q.numpy().tobytes(), name
    with np.load(tmp_path / "ckpt.npz", allow_pickle=False) as plain:     # plain arrays, for anyone
        assert {"a0", saving.STRUCTURE} <= set(plain.files)


def test_a_plain_npz_loads_as_a_dict_of_arrays(tmp_path):
    model = nn.Sequential(nn.Linear(3, 2))
    model.save(tmp_path / "model.npz")
    state = tl.load(tmp_path / "model.npz")
    assert list(state) == ["0.weight", "0.bias"] and isinstance(state["0.weight"], np.ndarray)
    nn.Sequential(nn.Linear(3, 2)).load_state_dict(state)


def test_what_cannot_be_saved_is_named_and_nothing_is_written(tmp_path):
    path = tmp_path / "keep.npz"
    tl.save({"w": tl.ones(2)}, path)
    before = path.read_bytes()
    cases = [({"model": nn.Linear(2, 2)}, TypeError, r"cannot save a Dense at obj\['model'\].*state_dict\(\)"),
             ({"a": [1, {2.5: 3}]}, TypeError, r"the dict at obj\['a'\]\[1\] has a key 2.5 of type float"),
             ({"o": np.array([object()])}, TypeError, r"obj\['o'\] is an object array"),
             ({"s": {1, 2}}, TypeError, r"cannot save a set at obj\['s'\]")]
    deep = []
    for _ in range(saving.MAX_DEPTH + 1):
        deep = [deep]
    cases.append((deep, ValueError, f"nested more than {saving.MAX_DEPTH} levels deep"))
    for obj, error, match in cases:
        with pytest.raises(error, match=match):
            tl.save(obj, path)
        assert path.read_bytes() == before                      # the old file is untouched
    assert sorted(p.name for p in tmp_path.iterdir()) == ["keep.npz"]     # no temporary left behind


# ---- hostile files -------------------------------------------------------------------------------

def npz_bytes(**arrays):
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    return buffer.getvalue()


def structure(tree, fmt=saving.FORMAT):
    return np.frombuffer(json.dumps({"format": fmt, "version": 1, "tree": tree}).encode(), np.uint8)


S = saving.STRUCTURE
HOSTILE = {
    "a raw pickle (torch.save's format)": (lambda: pickle.dumps({"w": Payload()}), "not an .npz archive"),
    "an object array": (lambda: npz_bytes(**{S: structure({"ndarray": "a0"}), "a0": np.array([Payload()])}),
                        "pickled"),
    "empty": (lambda: b"", "not an .npz archive"),
    "a structure that is not JSON": (lambda: npz_bytes(**{S: np.frombuffer(b"{[", np.uint8)}),
                                     "its structure is not valid JSON"),
    "another format's structure": (lambda: npz_bytes(**{S: structure({"value": 1}, fmt="other")}),
                                   "not tl.save's"),
    "a structure as floats": (lambda: npz_bytes(**{S: np.zeros(3)}), "expected bytes"),
    "an unknown kind": (lambda: npz_bytes(**{S: structure({"module": "x"})}), "'module' is not a kind"),
    "a missing array": (lambda: npz_bytes(**{S: structure({"ndarray": "a1"})}), "its array is missing"),
    "an array used twice": (lambda: npz_bytes(**{S: structure({"list": [{"ndarray": "a0"}, {"ndarray": "a0"}]}),
                                                "a0": np.zeros(2)}), "used twice"),
    "an array not named": (lambda: npz_bytes(**{S: structure({"ndarray": "a0"}), "a0": np.zeros(2),
                                                "a1": np.zeros(2)}), "does not name \\(a1\\)"),
    "an int tensor requiring grad": (lambda: npz_bytes(**{S: structure({"tensor": "a0", "requires_grad": True,
                                                                        "device": "cpu"}),
                                                          "a0": np.zeros(2, np.int64)}),
                                     "requires grad but holds int64"),
    "a bad dict entry": (lambda: npz_bytes(**{S: structure({"dict": [[1.5, {"value": 1}]]})}), "bad dict entry"),
    "a structure nested too deep": (lambda: npz_bytes(**{S: structure(nested(saving.MAX_DEPTH + 5))}),
                                    f"nests more than {saving.MAX_DEPTH} levels"),
    "JSON nested beyond Python's recursion": (
        lambda: npz_bytes(**{S: np.frombuffer(b"[" * 100_000 + b"]" * 100_000, np.uint8)}),
        f"its structure is JSON nested more than {saving.JSON_DEPTH} levels deep; refused before parsing"),
}


def nested(depth):
    tree = {"value": 0}
    for _ in range(depth):
        tree = {"list": [tree]}
    return tree


@pytest.mark.usefixtures("no_unpickling")
@pytest.mark.parametrize("kind", sorted(HOSTILE))
def test_a_file_that_is_not_ours_is_refused_naming_it_without_unpickling(kind, tmp_path):
    make, match = HOSTILE[kind]
    path = tmp_path / "checkpoint.pt"
    path.write_bytes(make())
    with pytest.raises(DataError, match=match) as caught:
        tl.load(path)
    assert str(path) in str(caught.value)


def test_a_deflate_bomb_is_refused_within_the_files_size_before_it_inflates(tmp_path):
    """256 MiB of zeros deflated into ~250 KB: tl.load expects no more than the file's own size
    (tl.save stores uncompressed), so it refuses before inflating, using little memory."""
    path = tmp_path / "bomb.npz"
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        with archive.open("a0.npy", "w", force_zip64=True) as member:
            header = io.BytesIO()
            np.lib.format.write_array_header_1_0(header, {"descr": "|u1", "fortran_order": False,
                                                          "shape": (1 << 28,)})
            member.write(header.getvalue())
            for _ in range(256):
                member.write(bytes(1 << 20))
    assert path.stat().st_size < 1 << 20
    tracemalloc.start()
    try:
        with pytest.raises(DataError, match=r"bomb\.npz: its arrays declare \d+ bytes, more than the \d+ "
                                            r"expected here; refused before reading"):
            tl.load(path)
        assert tracemalloc.get_traced_memory()[1] < 8 << 20
    finally:
        tracemalloc.stop()
    assert tl.load(path, max_bytes=1 << 29)["a0"].shape == (1 << 28,)     # asked for on purpose: read


def test_a_tensor_saved_on_a_gpu_loads_where_asked(tmp_path):
    path = tmp_path / "gpu.npz"
    path.write_bytes(npz_bytes(**{S: structure({"tensor": "a0", "requires_grad": False, "device": "cuda"}),
                                  "a0": np.ones(2, np.float32)}))
    if not tl.cuda_available():
        with pytest.raises(DeviceError, match=r"saved on 'cuda'.*tl.load\(path, map_location='cpu'\)"):
            tl.load(path)
    back = tl.load(path, map_location="cpu")
    assert back.device == "cpu" and back.numpy().tolist() == [1.0, 1.0]
