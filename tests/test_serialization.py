"""Saving and loading: round trips, torch interop, atomic writes, and bad files refused."""
import io
import os
import subprocess
import sys
import time
import tracemalloc
import zipfile

import numpy as np
import pytest

import nn
import tinygrad_lite as tl
from nn.serialization import decode_json, encode_json, load_arrays, save_arrays
from tests.bounds import U32, assert_within, gamma
from tinygrad_lite.npz import npz_members
from tests.torch_oracle import random_array

torch = pytest.importorskip("torch", reason="torch is the oracle of these tests: pip install '.[dev]'")


def mlp():
    return nn.Sequential(nn.Dense(6, 5), nn.ReLU(), nn.Dense(5, 4), nn.Sigmoid(), nn.Dense(4, 3))


def torch_mlp():
    return torch.nn.Sequential(torch.nn.Linear(6, 5), torch.nn.ReLU(), torch.nn.Linear(5, 4),
                               torch.nn.Sigmoid(), torch.nn.Linear(4, 3))


def to_torch_state(state):
    """The whole conversion: the names and layouts already agree."""
    return {k: torch.from_numpy(v) for k, v in state.items()}


def test_save_load_round_trip(tmp_path):
    model = mlp()
    model.save(tmp_path / "model.npz")
    copy = mlp().load(tmp_path / "model.npz")
    for (k, a), b in zip(model.named_parameters(), copy.parameters()):
        np.testing.assert_array_equal(a.numpy(), b.numpy(), err_msg=k)
        assert b.dtype == np.float32
    with np.load(tmp_path / "model.npz", allow_pickle=False) as plain:     # a plain npz for anyone
        assert sorted(plain.files) == sorted(model.state_dict())
    assert [f for f in os.listdir(tmp_path)] == ["model.npz"]              # no temporary left behind


def test_scratch_weights_in_torch_give_the_same_outputs():
    ours = mlp().double()
    theirs = torch_mlp().double()
    theirs.load_state_dict(to_torch_state(ours.state_dict()))
    x = random_array((7, 6))
    np.testing.assert_allclose(ours(tl.Tensor(x)).numpy(), theirs(torch.from_numpy(x)).detach().numpy(),
                               rtol=1e-12, atol=1e-14)


def test_torch_weights_in_scratch_give_the_same_outputs():
    theirs = torch_mlp()
    ours = mlp()
    ours.load_state_dict({k: v.detach().numpy() for k, v in theirs.state_dict().items()})
    x = random_array((7, 6), dtype="float32")
    assert_within(ours(tl.Tensor(x)).numpy(), theirs(torch.from_numpy(x)).detach().numpy(),
                  2 * float32_mlp_error_bound(ours, x), "float32 outputs")


def float32_mlp_error_bound(model, x):
    """How far ``mlp()``'s float32 output may lie from the exact one, whatever order each layer's
    BLAS sums in: a Dense layer of k inputs errs by gamma(k + 1) (|W| |h| + |b|) and passes the error
    it is given on times |W|; ReLU passes it unchanged, sigmoid (slope <= 1/4) a quarter of it plus a
    few roundings (4 u of its output)."""
    h, error = np.abs(x.astype(np.float64)), np.zeros(x.shape)
    for layer in model:
        if isinstance(layer, nn.Dense):
            w, b = np.abs(layer.weight.numpy().astype(np.float64)), np.abs(layer.bias.numpy().astype(np.float64))
            error = gamma(w.shape[1] + 1) * (h @ w.T + b) + error @ w.T
            h = h @ w.T + b                   # a bound on |the layer's output|
        elif isinstance(layer, nn.Sigmoid):
            error, h = error / 4 + 4 * U32, np.ones_like(h)
    return error


def test_interrupted_save_leaves_the_original_intact(tmp_path, monkeypatch):
    path = tmp_path / "model.npz"
    model = mlp()
    model.save(path)
    original = path.read_bytes()

    def write_half_then_fail(file, **arrays):
        file.write(b"PK\x03\x04 half an archive")
        raise KeyboardInterrupt("simulated interruption in the middle of a save")
    monkeypatch.setattr(np, "savez", write_half_then_fail)
    with pytest.raises(KeyboardInterrupt):
        mlp().save(path)
    monkeypatch.undo()
    assert path.read_bytes() == original
    assert os.listdir(tmp_path) == ["model.npz"]
    fresh = mlp().load(path)
    np.testing.assert_array_equal(fresh[0].weight.numpy(), model[0].weight.numpy())


def test_killed_writer_process_leaves_the_original_intact(tmp_path):
    """A process killed (SIGKILL) in the middle of writing cannot corrupt the saved file: the target
    still holds either the old archive or a complete new one (only a stray *.tmp may remain)."""
    path = tmp_path / "big.npz"
    save_arrays(path, {"a": np.zeros(3)})
    original = path.read_bytes()
    repo = os.path.dirname(os.path.dirname(os.path.abspath(nn.__file__)))
    script = (f"import sys, numpy as np; sys.path.insert(0, {repo!r});"
              "from nn.serialization import save_arrays; big = {'a': np.ones(5_000_000)};"
              f"[save_arrays({str(path)!r}, big) for _ in range(1000)]")
    proc = subprocess.Popen([sys.executable, "-c", script])
    try:
        deadline = time.monotonic() + 60
        while not any(n.endswith(".tmp") for n in os.listdir(tmp_path)) and time.monotonic() < deadline:
            time.sleep(0.002)
        assert proc.poll() is None, "the writer ended before it could be interrupted"
        proc.kill()
    finally:
        proc.wait()
    content = load_arrays(path)["a"]
    assert path.read_bytes() == original or (content.shape == (5_000_000,) and (content == 1).all())


def test_truncated_file_is_refused(tmp_path):
    path = tmp_path / "model.npz"
    mlp().save(path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(tl.DataError, match=r"model\.npz: truncated or corrupted"):
        mlp().load(path)


def test_tampered_bytes_fail_the_checksum(tmp_path):
    path = tmp_path / "model.npz"
    save_arrays(path, {"w": np.arange(1000.0)})
    data = bytearray(path.read_bytes())
    data[len(data) // 3] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(tl.DataError, match=r"model\.npz: truncated or corrupted"):
        load_arrays(path)


def test_pickled_object_arrays_are_never_loaded(tmp_path):
    path = tmp_path / "evil.npz"
    np.savez(path, **{"0.weight": np.array([{"payload": 1}], dtype=object)})
    with pytest.raises(tl.DataError, match=r"evil\.npz: holds pickled \(object\) data"):
        mlp().load(path)


def test_files_of_other_formats_are_refused(tmp_path):
    text = tmp_path / "notes.txt"
    text.write_text("not weights")
    with pytest.raises(tl.DataError, match=r"notes\.txt: not an \.npz archive"):
        load_arrays(text)
    npy = tmp_path / "single.npy"
    np.save(npy, np.zeros(3))
    with pytest.raises(tl.DataError, match=r"single\.npy: not an \.npz archive"):
        load_arrays(npy)
    other_zip = tmp_path / "other.npz"
    with zipfile.ZipFile(other_zip, "w") as z:
        z.writestr("readme.txt", "hello")
    with pytest.raises(tl.DataError, match=r"other\.npz: member 'readme.txt' is not a \.npy array"):
        load_arrays(other_zip)
    with pytest.raises(tl.DataError, match=r"missing\.npz: no such file"):
        load_arrays(tmp_path / "missing.npz")


def _npy_header(shape, dtype="<f4"):
    """The bytes of a .npy header declaring ``shape``, as ``np.save`` writes it."""
    buffer = io.BytesIO()
    np.lib.format.write_array_header_1_0(buffer, {"descr": dtype, "fortran_order": False, "shape": shape})
    return buffer.getvalue()


def test_an_array_declaring_more_than_its_file_holds_is_refused_before_allocating(tmp_path):
    """The 242-byte checkpoint whose member declares shape (10^6, 10^6): 3.6 TiB np.load would ask for."""
    path = tmp_path / "checkpoint-last.npz"
    with zipfile.ZipFile(path, "w") as archive:                    # stored, as np.savez writes
        archive.writestr("model.0.weight.npy", _npy_header((10**6, 10**6)) + bytes(8))
    assert path.stat().st_size < 400
    tracemalloc.start()
    try:
        with pytest.raises(tl.DataError, match=r"checkpoint-last\.npz: member 'model\.0\.weight\.npy' "
                                               r"declares shape \(1000000, 1000000\) of float32 "
                                               r"\(4000000000128 bytes\).*refused before allocating"):
            load_arrays(path)
        assert tracemalloc.get_traced_memory()[1] < 1 << 20
    finally:
        tracemalloc.stop()
    with zipfile.ZipFile(path, "w") as archive:          # the zip directory lying as well: too big for the file
        archive.writestr("w.npy", _npy_header((10**6, 10**6)) + bytes(8))
    data = bytearray(path.read_bytes())
    for at in (18, 22):                                  # the local header's sizes, then the directory's
        data[at:at + 4] = (2**32 - 2).to_bytes(4, "little")
    start = data.rindex(b"PK\x01\x02")
    for at in (start + 20, start + 24):
        data[at:at + 4] = (2**32 - 2).to_bytes(4, "little")
    path.write_bytes(bytes(data))
    with pytest.raises(tl.DataError, match=r"checkpoint-last\.npz: .*refused before"):
        load_arrays(path)


def test_a_deflated_member_is_refused_beyond_the_expected_size(tmp_path):
    """256 MiB of zeros deflated into a ~250 KB 'model file': ``Module.load`` expects at most its own size."""
    path = tmp_path / "model.npz"
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        with archive.open("0.weight.npy", "w", force_zip64=True) as member:
            member.write(_npy_header((1 << 26,)))
            for _ in range(256):
                member.write(bytes(1 << 20))
    assert path.stat().st_size < 1 << 20
    tracemalloc.start()
    try:
        with pytest.raises(tl.DataError, match=r"model\.npz: its arrays declare 268435584 bytes, more than "
                                               r"the \d+ expected here; refused before reading"):
            mlp().load(path)
        assert tracemalloc.get_traced_memory()[1] < 8 << 20
    finally:
        tracemalloc.stop()


def test_arrays_asked_for_by_name_are_read_alone_and_members_listed_unread(tmp_path):
    """A checkpoint's metadata is read without its other arrays (is the run finished? which settings?):
    a 64 MiB deflated member beside it is checked, never inflated."""
    path = tmp_path / "checkpoint-last.npz"
    save_arrays(path, {"meta": encode_json({"epoch": 3}), "w": np.arange(6.0).reshape(2, 3)})
    with zipfile.ZipFile(path, "a", compression=zipfile.ZIP_DEFLATED) as archive:
        with archive.open("big.npy", "w", force_zip64=True) as member:
            member.write(_npy_header((1 << 24,)))
            for _ in range(64):
                member.write(bytes(1 << 20))
    tracemalloc.start()
    try:
        members = npz_members(path)
        meta = load_arrays(path, max_bytes=1 << 20, names=["meta"])
        assert tracemalloc.get_traced_memory()[1] < 1 << 20
    finally:
        tracemalloc.stop()
    assert members == {"meta": ((12,), np.dtype(np.uint8)), "w": ((2, 3), np.dtype(np.float64)),
                       "big": ((1 << 24,), np.dtype(np.float32))}
    assert list(meta) == ["meta"] and decode_json(meta["meta"]) == {"epoch": 3}
    with pytest.raises(tl.DataError, match=rf"^{path}: has no array named 'nowhere' "
                                           rf"\(it holds \['big', 'meta', 'w'\]\)"):
        load_arrays(path, names=["meta", "nowhere"])
    with pytest.raises(tl.DataError, match=r"its arrays declare 67108992 bytes, more than the 1048576 expected"):
        load_arrays(path, max_bytes=1 << 20, names=["big"])


def test_keys_that_do_not_fit_are_refused_with_their_names(tmp_path):
    path = tmp_path / "small.npz"
    nn.Sequential(nn.Dense(6, 5)).save(path)
    with pytest.raises(tl.DataError, match=r"missing keys \['2.weight', '2.bias', '4.weight', '4.bias'\]"):
        mlp().load(path)
    path2 = tmp_path / "wide.npz"
    nn.Sequential(nn.Dense(6, 9), nn.ReLU(), nn.Dense(9, 4), nn.Sigmoid(), nn.Dense(4, 3)).save(path2)
    with pytest.raises(tl.ShapeError, match=r"0.weight: model \(5, 6\), state_dict \(9, 6\)"):
        mlp().load(path2)
    state = mlp().state_dict()
    state["5.weight"] = np.zeros(2)
    save_arrays(tmp_path / "extra.npz", state)
    with pytest.raises(tl.DataError, match=r"unexpected keys \['5.weight'\]"):
        mlp().load(tmp_path / "extra.npz")


def test_object_arrays_are_not_saved_and_json_metadata_round_trips(tmp_path):
    with pytest.raises(TypeError, match="entry 'meta' is an object array"):
        save_arrays(tmp_path / "x.npz", {"meta": np.array([None], dtype=object)})
    assert not os.listdir(tmp_path)
    meta = {"epoch": 3, "lr": 0.01, "history": [0.5, 0.25], "name": "mnist-mlp"}
    save_arrays(tmp_path / "ckpt.npz", {"meta.json": encode_json(meta), "step": 7})
    loaded = load_arrays(tmp_path / "ckpt.npz")
    assert decode_json(loaded["meta.json"]) == meta and loaded["step"] == 7
