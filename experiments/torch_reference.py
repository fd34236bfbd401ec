"""PyTorch in the training loop: the referee for the scratch framework.

``TorchAdapter`` is torch's side of ``experiments.loop`` (the scratch side is
``experiments.train.ScratchAdapter``): the twin model of ``experiments.models.build_torch`` (same
parameter names and shapes, so weights move across by name alone), torch's optimiser and schedule
built from the same rows of ``experiments.optimizers`` as the scratch ones (same options), batches
taken from the arrays in the scratch DataLoader's ``epoch_order``.

    scratch = models.build(config.layers, (1, 28, 28), config.init)
    twin = models.build_torch(config.layers, (1, 28, 28))
    copy_weights(scratch, twin)            # same starting point, same forward output

``train_torch(config, data, seed)`` trains the twin exactly as ``experiments.train.train`` trains the
scratch model and returns the results in the ``metrics.json`` schema: the "torch column" of every
report. Dropout masks are the scratch trainer's: ``replay_masks`` makes every dropout layer draw
them from a copy of the scratch generator, in the same order (``experiments.parity`` shares them the
same way).

This module (with tests and benchmarks) is the only place where torch is imported, and only when
one of these functions runs; without torch they raise an ImportError that says how to install it.
"""
import copy
import time
from collections import OrderedDict

import numpy as np

from tinygrad_lite import backend
from tinygrad_lite.dataloader import DataLoader, TensorDataset

from .adapter import Step
from .loop import EpochLoop
from .models import build_torch
from .optimizers import build_optimizer, build_schedule
from .progress import Progress
from .targets import TARGETS
from .train import scratch_model

TORCH_VERSION = "2.13.0"


def import_torch():
    """``torch``, or an ImportError that says what to install."""
    try:
        import torch
    except ImportError as e:
        raise ImportError(
            "PyTorch is needed for the torch reference (the torch column and `tinygrad-lite parity`) "
            f"but is not installed: pip install torch=={TORCH_VERSION} (CPU wheel), or run with "
            "--no-torch") from e
    return torch


def torch_dtype(dtype):
    """``torch.float32`` / ``torch.float64`` for a NumPy dtype, a name, or a torch dtype."""
    torch = import_torch()
    if isinstance(dtype, torch.dtype):
        return dtype
    name = np.dtype(dtype).name
    table = {"float32": torch.float32, "float64": torch.float64, "float16": torch.float16}
    if name not in table:
        raise ValueError(f"dtype must be float32 or float64 (or float16), got {dtype!r}")
    return table[name]


# ---- dropout masks and weights -------------------------------------------------------------------

def replay_masks(torch_model, generator):
    """Make every ``torch.nn.Dropout`` of ``torch_model`` apply the keep-masks that the scratch
    ``nn.functional.dropout`` draws on the CPU from ``generator`` (``random(shape, dtype) >= p``),
    ``x * mask / (1 - p)`` while training, the identity in eval mode."""
    torch = import_torch()

    class ReplayedDropout(torch.nn.Module):
        def __init__(self, p):
            super().__init__()
            self.p = float(p)

        def forward(self, x):
            if not self.training or self.p == 0.0:
                return x
            dtype = np.dtype(str(x.dtype).replace("torch.", ""))
            mask = generator.random(tuple(x.shape), dtype=dtype) >= dtype.type(self.p)
            return x * torch.as_tensor(mask, dtype=x.dtype, device=x.device) / (1.0 - self.p)

        def extra_repr(self):
            return f"p={self.p} (the scratch generator's masks)"

    for index, module in enumerate(torch_model):
        if isinstance(module, torch.nn.Dropout):
            torch_model[index] = ReplayedDropout(module.p)
    return torch_model


def to_torch_state(state_dict, dtype="float32"):
    """A scratch ``state_dict()`` (name -> array) as a torch state dict (name -> tensor of ``dtype``).

    The ``nn`` layouts already equal torch's (Dense (out, in), Conv2d (out, in, kh, kw)), so only the
    container and the dtype change; the values are copied, never shared.
    """
    torch = import_torch()
    target = torch_dtype(dtype)
    return OrderedDict((name, torch.from_numpy(np.array(backend.as_numpy(value), copy=True)).to(target))
                       for name, value in state_dict.items())


def from_torch_state(torch_state_dict):
    """A torch state dict as a scratch one: name -> NumPy array, dtype kept. Inverse of ``to_torch_state``."""
    return OrderedDict((name, tensor.detach().cpu().numpy().copy())
                       for name, tensor in torch_state_dict.items())


def load_weights(torch_model, state_dict):
    """Give ``torch_model`` the scratch ``state_dict``'s values (by name), in the torch model's dtype.

    Raises ValueError naming every missing, unexpected or mis-shaped parameter.
    """
    theirs = torch_model.state_dict()
    our_shapes = {k: tuple(np.shape(backend.as_numpy(v))) for k, v in state_dict.items()}
    their_shapes = {k: tuple(v.shape) for k, v in theirs.items()}
    problems = []
    if sorted(set(their_shapes) - set(our_shapes)):
        problems.append(f"missing in the scratch model: {sorted(set(their_shapes) - set(our_shapes))}")
    if sorted(set(our_shapes) - set(their_shapes)):
        problems.append(f"not in the torch model: {sorted(set(our_shapes) - set(their_shapes))}")
    problems += [f"{name}: scratch shape {our_shapes[name]}, torch shape {their_shapes[name]}"
                 for name in sorted(set(our_shapes) & set(their_shapes)) if our_shapes[name] != their_shapes[name]]
    if problems:
        raise ValueError("the scratch and torch models do not have the same parameters: " + "; ".join(problems))
    dtype = next(iter(theirs.values())).dtype if theirs else "float32"
    torch_model.load_state_dict(to_torch_state(state_dict, dtype), strict=True)
    return torch_model


def copy_weights(scratch_model, torch_model):
    """Give ``torch_model`` the scratch model's parameters (see ``load_weights``)."""
    return load_weights(torch_model, scratch_model.state_dict())


# ---- the adapter ---------------------------------------------------------------------------------

def l2_term(torch_model, alpha):
    """``nn.functional.l2_penalty`` for a torch model: ``alpha * sum of w^2`` over every parameter but
    the biases, summed in the same order."""
    weights = [p for name, p in torch_model.named_parameters() if not (name == "bias" or name.endswith(".bias"))]
    total = (weights[0] * weights[0]).sum()
    for w in weights[1:]:
        total = total + (w * w).sum()
    return total * alpha


class TorchAdapter:
    """The torch twin, its optimiser and the data as tensors, for ``experiments.loop.EpochLoop`` (an
    ``experiments.adapter.Adapter``).

    ``initial_state``: the scratch weights to start from; ``seed``: the batch order's; ``masks``: a NumPy
    generator to replay the scratch dropout masks from (else torch draws its own). ``notes`` collects
    what it had to change (a CUDA device that this torch build cannot see runs on the CPU).
    """

    def __init__(self, config, data, initial_state, seed=0, device="cpu", dtype="float32", masks=None,
                 notes=None):
        torch = self.torch = import_torch()
        self.config, self.dtype = config, torch_dtype(dtype)
        self.device = torch.device(str(device))
        if str(device).startswith("cuda") and not torch.cuda.is_available():
            (notes if notes is not None else []).append(
                "torch reference: this torch build sees no CUDA device, so it ran on the CPU")
            self.device = torch.device("cpu")
        self.target = TARGETS[data.target]
        self.model = build_torch(config.layers, data.input_shape, self.dtype)
        if masks is not None:
            replay_masks(self.model, masks)
        load_weights(self.model, initial_state).to(self.device)
        input_dtype = self.dtype if data.x_train.dtype.kind == "f" else torch.int64     # tokens stay integers
        self.splits = {name: (torch.from_numpy(np.ascontiguousarray(x)).to(device=self.device, dtype=input_dtype),
                              torch.from_numpy(np.asarray(y, dtype=np.int64)).to(self.device))
                       for name, x, y in data.splits()}
        self.order = DataLoader(TensorDataset(data.x_train, data.y_train), config.batch_size, shuffle=True, seed=seed,
                                check_finite=False)      # the scratch trainer's loader: its batch order
        self.n_batches = len(self.order)
        self.optimizer = build_optimizer(config, list(self.model.parameters()), torch=torch)
        self.schedule = build_schedule(config, self.optimizer, self.n_batches, torch=torch)
        self.model.train()

    def batches(self, epoch):
        x, y = self.splits["train"]
        order = self.torch.from_numpy(self.order.epoch_order(epoch)).to(self.device)
        bs = self.config.batch_size
        return ((x[order[i * bs:(i + 1) * bs]], y[order[i * bs:(i + 1) * bs]]) for i in range(self.n_batches))

    def step(self, batch, iteration):
        xb, yb = batch
        logits = self.model(xb)
        loss = self.target.loss(self.torch.nn.functional, logits, yb)
        if self.config.l2:
            loss = loss + l2_term(self.model, self.config.l2)
        self.optimizer.zero_grad()
        loss.backward()
        self.optimizer.step()
        return Step(loss.detach(), logits.detach(), self.target.correct(logits.detach(), yb), len(yb))

    def evaluate(self, x, y, batch_size=1000):
        """(mean cross-entropy, accuracy, predictions) on tensors x, y, in eval mode."""
        torch, was_training, target = self.torch, self.model.training, self.target
        self.model.eval()
        total, predictions, correct = 0.0, [], 0
        try:
            with torch.no_grad():
                for i in range(0, len(x), batch_size):
                    logits, labels = self.model(x[i:i + batch_size]), y[i:i + batch_size]
                    total += float(target.loss(torch.nn.functional, logits, labels, reduction="sum"))
                    predictions.append(target.predicted(logits, labels))
                    correct += int(target.correct(logits, labels))
        finally:
            self.model.train(was_training)
        predicted = torch.cat(predictions).cpu().numpy()
        return total / target.scored(y), correct / len(x), predicted

    def schedule_step(self):
        if self.schedule is not None:
            self.schedule.step()

    def state_dict(self):
        return copy.deepcopy(self.model.state_dict())

    def load_state_dict(self, state):
        self.model.load_state_dict(state)

    def lr(self):
        return float(self.optimizer.param_groups[0]["lr"])

    def host(self, values):
        return self.torch.stack(values).cpu().numpy()


def train_torch(config, data, seed=0, device="cpu", dtype="float32", initial_state=None, progress=True):
    """Train ``config``'s model in PyTorch on ``data`` (an ``experiments.data.RunData``) exactly as
    ``experiments.train.train`` trains the scratch model, and return its figures in the
    ``metrics.json`` schema::

        {"final": {"epoch_used", "train_loss", "train_acc", "val_loss", "val_acc", "test_loss", "test_acc"},
         "wall_time_s": ..., "history": {"iteration_loss": [[i, loss], ...], "epochs": [{...}, ...]},
         "device": ..., "dtype": ..., "torch_version": ..., "notes": [...]}

    Same starting weights (the scratch init for ``seed``, or ``initial_state``), same batches, same
    loss, optimiser, schedule, early stopping and best-epoch selection (``experiments.loop``). Dropout
    masks: those the scratch trainer draws on the CPU, unless ``initial_state`` is given (then
    torch's own, seeded with ``seed``). On CUDA the scratch masks come from CuPy's generator, so they
    differ. Note: drawing the scratch init re-seeds ``tinygrad_lite``, as ``train`` does.
    """
    torch = import_torch()
    notes, start = [], time.perf_counter()
    torch.manual_seed(seed)
    masks = None
    if initial_state is None:
        model = scratch_model(config, data.input_shape, seed)
        initial_state, masks = model.state_dict(), copy.deepcopy(backend.rng("cpu"))
    adapter = TorchAdapter(config, data, initial_state, seed, device, dtype, masks, notes)
    loop = EpochLoop(config, adapter, progress=Progress(f"{config.name} [torch]", config.epochs,
                                                        bar=progress, quiet=not progress)).run()
    if loop.state.stopped_early_at:
        notes.append(f"torch reference: early stopping after epoch {loop.state.stopped_early_at}")
    final, _ = loop.finish()
    return {"final": final, "wall_time_s": time.perf_counter() - start, "history": loop.state.history,
            "stopped_early_at": loop.state.stopped_early_at, "device": str(adapter.device),
            "dtype": str(adapter.dtype).replace("torch.", ""), "torch_version": torch.__version__,
            "notes": notes}
