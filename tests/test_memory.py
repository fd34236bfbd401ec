"""Memory stays flat: the graph is freed by reference counting alone, and long trainings do not grow.

The engine keeps no reference cycles: an output owns its creator, the creator holds its inputs and a
*weak* reference back to the output, and ``backward()`` releases every function it ran (their saved
arrays included). So with the cyclic garbage collector switched off, every intermediate tensor and
array of a step is freed the moment nothing refers to it any more, which is what keeps a training
loop's memory flat (no waiting for a gc pass that may come late, or never, in a tight loop).

The soak tests train, in a fresh process, the report-A MLP (784-500-250-100-10 sigmoid, batch 64,
SGD) for 3,000 steps and a small CNN (8 and 16 channels of 3x3 on 28x28, batch 32) for 1,000 steps,
on SYNTHETIC data of MNIST's shape (standard-normal pixels, random labels: memory does not depend on
the values), and check that resident memory after the first 100 steps grows by less than 5% (against
the high-water mark at step 100, so that the size of one step's temporaries is not mistaken for
growth) and that the number of live Tensors does not change at all.
"""
import gc
import json
import os
import resource
import subprocess
import sys
import weakref
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]
if __name__ == "__main__":                       # the soak child process: python tests/test_memory.py ...
    sys.path.insert(0, str(REPO))

import nn  # noqa: E402  (after sys.path: the soak child runs this file)
import nn.functional as F  # noqa: E402  (after sys.path: the soak child runs this file)
import tinygrad_lite as tl  # noqa: E402  (after sys.path: the soak child runs this file)
from tinygrad_lite.dataloader import DataLoader, TensorDataset  # noqa: E402  (after sys.path: the soak child runs this file)


@contextmanager
def gc_disabled():
    """Only reference counting frees objects inside the block."""
    was_enabled = gc.isenabled()
    gc.collect()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def small_cnn(dropout=0.0):
    return nn.Sequential(nn.Conv2d(1, 8, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Conv2d(8, 16, 3, padding=1), nn.ReLU(), nn.AvgPool2d(2),
                         nn.Flatten(), nn.Dropout(dropout), nn.Dense(16 * 7 * 7, 10))


def report_a_mlp():
    """The report-A baseline: sigmoid 784-500-250-100-10, Glorot uniform weights."""
    sizes = (784, 500, 250, 100, 10)
    layers = []
    for n_in, n_out in zip(sizes, sizes[1:]):
        layers += [nn.Dense(n_in, n_out, init="glorot_uniform"), nn.Sigmoid()]
    return nn.Sequential(*layers[:-1])


def forward_keeping_weakrefs(model, x, y):
    """Run ``model`` layer by layer; return the loss and weak references to every intermediate tensor,
    to the function that made it, and to the arrays those functions saved for backward."""
    owned_elsewhere = {id(t.data) for t in (x, y, *model.parameters())}

    def saved_by(fn):
        return [weakref.ref(fn)] + [weakref.ref(v) for v in vars(fn).values()
                                    if isinstance(v, np.ndarray) and id(v) not in owned_elsewhere]
    refs = []
    h = x
    for layer in model:
        h = layer(h)
        refs.append(weakref.ref(h))
        if h.grad_fn is not None:
            refs += saved_by(h.grad_fn)
    loss = F.cross_entropy(h, y)
    return loss, refs + saved_by(loss.grad_fn)


def alive(refs):
    return [r() for r in refs if r() is not None]


def batch(n=4):
    rng = np.random.default_rng(0)
    return (tl.Tensor(rng.standard_normal((n, 1, 28, 28)).astype(np.float32)),
            tl.Tensor(rng.integers(0, 10, n)))


def test_backward_frees_every_intermediate_by_refcounting_alone():
    model = small_cnn(dropout=0.5)
    x, y = batch()
    with gc_disabled():
        loss, refs = forward_keeping_weakrefs(model, x, y)
        assert len(alive(refs)) == len(refs) > 20          # the graph, its tensors and saved arrays
        saved_arrays = [r for r in refs if isinstance(r(), np.ndarray)]
        assert saved_arrays, "expected conv2d's im2col matrix and the loss's log-probabilities"
        loss.backward()
        # the loss is still referenced here, and so its (released, emptied) creator; the rest is gone
        left = [o for o in alive(refs) if o is not loss.grad_fn]
        assert left == [], f"kept alive after backward: {[type(o).__name__ for o in left]}"
        assert not hasattr(loss.grad_fn, "inputs")
        assert all(p.grad is not None for p in model.parameters())


def test_a_retained_graph_is_freed_when_the_loss_is_dropped():
    model = small_cnn()
    x, y = batch()
    with gc_disabled():
        loss, refs = forward_keeping_weakrefs(model, x, y)
        loss.backward(retain_graph=True)
        assert len(alive(refs)) == len(refs)               # retained, as asked
        del loss
        assert alive(refs) == [], f"kept alive: {[type(o).__name__ for o in alive(refs)]}"


def test_a_double_backward_graph_is_freed_with_the_gradients():
    """create_graph=True: the gradients' graph points into the forward graph; dropping the loss and
    the gradients frees both, still without the cycle collector."""
    model = report_a_mlp()[:3]                              # Dense, Sigmoid, Dense
    x = tl.Tensor(np.random.default_rng(0).standard_normal((3, 784)).astype(np.float32), requires_grad=True)
    y = tl.Tensor(np.array([1, 0, 1]))
    with gc_disabled():
        loss, refs = forward_keeping_weakrefs(model, x, y)
        loss.backward(create_graph=True)
        penalty = (x.grad * x.grad).sum()                   # a gradient penalty: second order
        refs.append(weakref.ref(penalty))
        x.grad = None
        model.zero_grad()
        penalty.backward()
        del loss, penalty
        x.grad = None
        model.zero_grad()
        assert alive(refs) == [], f"kept alive: {[type(o).__name__ for o in alive(refs)]}"


def test_training_steps_create_no_reference_cycles():
    """Whole steps (loader, forward, backward, optimiser, zero_grad, reading the loss): the cycle
    collector finds nothing to collect afterwards, so nothing waits for it."""
    model = small_cnn(dropout=0.3)
    optimizer = nn.optim.Adam(model.parameters(), lr=1e-3)
    x, y = batch(24)
    loader = DataLoader(TensorDataset(x, y), batch_size=8, shuffle=True, seed=0)
    with gc_disabled():
        gc.set_debug(gc.DEBUG_SAVEALL)
        try:
            for _ in range(2):
                for xb, yb in loader:
                    loss = F.cross_entropy(model(xb), yb)
                    optimizer.zero_grad()
                    loss.backward()
                    optimizer.step()
                    loss.item()
            del loss
            found = gc.collect()
            leaked = [type(o).__name__ for o in gc.garbage]
        finally:
            gc.set_debug(0)
            gc.garbage.clear()
    assert found == 0, f"reference cycles left by training steps: {leaked[:20]}"


# ---- soak tests (a child process each) -----------------------------------------------------------

def resident_bytes():
    """This process's resident set size now, from /proc/self/statm (Linux)."""
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def peak_resident_bytes():
    """The most resident memory this process has held so far (the kernel's high-water mark)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def live_tensors():
    return sum(1 for o in gc.get_objects() if isinstance(o, tl.Tensor))


def soak(kind, steps, measure_from=100, every=100):
    """Train ``kind`` ('mlp' or 'cnn') for ``steps`` steps on synthetic MNIST-shaped data; return the
    resident memory and live-tensor count at step ``measure_from`` and every ``every`` steps after."""
    tl.manual_seed(0)
    rng = np.random.default_rng(0)
    shape, batch_size, model = (((784,), 64, report_a_mlp()) if kind == "mlp"
                                else ((1, 28, 28), 32, small_cnn(dropout=0.25)))
    n = 50 * batch_size
    x = rng.standard_normal((n,) + shape, dtype=np.float32)
    y = rng.integers(0, 10, n)
    loader = DataLoader(TensorDataset(x, y), batch_size, shuffle=True, seed=0)
    optimizer = nn.optim.SGD(model.parameters(), lr=0.01)
    samples, losses, step = [], [], 0
    while step < steps:
        for xb, yb in loader:
            loss = F.cross_entropy(model(xb), yb)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            step += 1
            if step % 50 == 0:
                losses.append(loss.item())          # read back now and then, as the training loop does
            if step >= measure_from and step % every == 0:
                samples.append({"step": step, "rss": resident_bytes(), "peak": peak_resident_bytes(),
                                "tensors": live_tensors()})
            if step == steps:
                break
    return {"samples": samples, "final_loss": losses[-1]}


def run_soak(kind, steps):
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1", MKL_NUM_THREADS="1",
               PYTHONPATH=str(REPO))
    done = subprocess.run([sys.executable, __file__, kind, str(steps)], env=env, capture_output=True,
                          text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def assert_flat(result, steps):
    """Resident memory after step 100 stays within 5% of what the process held by then (its
    high-water mark at step 100: a reading at one instant would depend on where in a step it falls),
    measured both as the high-water mark and as the resident size at every later sample."""
    samples = result["samples"]
    assert samples[0]["step"] == 100 and samples[-1]["step"] == steps
    base = samples[0]["peak"]
    growth = (max(max(s["peak"], s["rss"]) for s in samples) - base) / base
    trace = ", ".join(f"{s['step']}: {s['rss'] / 2**20:.1f} (peak {s['peak'] / 2**20:.1f}) MiB"
                      for s in samples[::3])
    assert growth < 0.05, f"resident memory grew {growth:.1%} after step 100 ({trace})"
    counts = [s["tensors"] for s in samples]
    assert len(set(counts)) == 1, f"live tensors changed during training: {counts}"
    assert np.isfinite(result["final_loss"])


@pytest.mark.slow
def test_report_a_mlp_memory_is_flat_over_3000_steps():
    assert_flat(run_soak("mlp", 3000), 3000)


@pytest.mark.slow
def test_small_cnn_memory_is_flat_over_1000_steps():
    assert_flat(run_soak("cnn", 1000), 1000)


if __name__ == "__main__":
    print(json.dumps(soak(sys.argv[1], int(sys.argv[2]))))
