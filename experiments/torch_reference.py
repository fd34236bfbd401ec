"""The PyTorch twin of every replayed model: the referee for the scratch framework.

``build_torch(layers, input_shape)`` reads the same layer specs as ``experiments.models.build`` and
returns a ``torch.nn.Sequential`` whose parameters have the same names ("1.weight", "1.bias", ...)
and shapes, so weights move across by name alone:

    scratch = models.build(config.layers, (1, 28, 28), config.init)
    twin = build_torch(config.layers, (1, 28, 28))
    copy_weights(scratch, twin)            # same starting point, same forward output

``train_torch(config, data, seed)`` trains the twin exactly as ``experiments.train`` trains the
scratch model (same split, same batch order from the DataLoader's ``epoch_order``, same loss with
the same L2 term, optimiser, schedule, early stopping and best-model selection) and returns the
results in the ``metrics.json`` schema: the "torch column" of every report.

This module (with tests and benchmarks) is the only place where torch is imported, and only when
one of these functions runs; without torch they raise an ImportError that says how to install it.
"""
import copy
import time
from collections import OrderedDict

import numpy as np

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


# ---- models --------------------------------------------------------------------------------------

def _masked_dropout_class():
    """``MaskedDropout``: torch dropout that can be handed the scratch model's mask (built lazily)."""
    torch = import_torch()

    class MaskedDropout(torch.nn.Module):
        """Inverted dropout, ``x * mask / (1 - p)`` while training, identity in eval mode.

        With ``self.mask`` set (an array of 0/1 of ``x``'s shape) it applies that mask: the parity
        runner draws one mask with NumPy and gives it to both frameworks. Else, with
        ``self.draw_mask`` set (a function of the shape), it applies a fresh ``draw_mask(shape)``
        each call; with neither it draws its own, like ``torch.nn.Dropout``.
        """

        def __init__(self, p):
            super().__init__()
            self.p = float(p)
            self.mask = None
            self.draw_mask = None

        def forward(self, x):
            if not self.training or self.p == 0.0:
                return x
            mask = self.mask
            if mask is None and self.draw_mask is not None:
                mask = self.draw_mask(tuple(x.shape))
            if mask is None:
                return torch.nn.functional.dropout(x, self.p, training=True)
            mask = torch.as_tensor(np.asarray(mask), dtype=x.dtype, device=x.device)
            if mask.shape != x.shape:
                raise ValueError(f"dropout mask must have the input's shape {tuple(x.shape)}, "
                                 f"got {tuple(mask.shape)}")
            return x * mask / (1.0 - self.p)

        def extra_repr(self):
            return f"p={self.p}"

    return MaskedDropout


def torch_layer(spec, in_shape, masked_dropout=False):
    """The torch module for one layer spec, given the shape (without batch) that reaches it."""
    torch = import_torch()
    tnn = torch.nn
    kind, args = spec[0], spec[1:]
    if kind == "dense":
        return tnn.Linear(in_shape[0], args[0])
    if kind == "conv":
        out, k, stride, pad = args
        return tnn.Conv2d(in_shape[0], out, k, stride=stride, padding=pad)
    if kind == "dropout":
        return _masked_dropout_class()(args[0]) if masked_dropout else tnn.Dropout(args[0])
    makers = {
        "flatten": lambda: tnn.Flatten(), "maxpool": lambda: tnn.MaxPool2d(args[0]),
        "avgpool": lambda: tnn.AvgPool2d(args[0]), "gap": lambda: tnn.AdaptiveAvgPool2d(1),
        "relu": lambda: tnn.ReLU(), "sigmoid": lambda: tnn.Sigmoid(), "tanh": lambda: tnn.Tanh(),
        "gelu": lambda: tnn.GELU(approximate="none"),
        "leaky_relu": lambda: tnn.LeakyReLU(*args),
    }
    if kind not in makers:
        raise ValueError(f"unknown layer spec {spec!r}; expected one of dense, conv, dropout, "
                         f"{', '.join(makers)}")
    return makers[kind]()


def build_torch(layers, input_shape, dtype="float32", masked_dropout=False):
    """A ``torch.nn.Sequential`` for ``layers`` on inputs of ``input_shape`` (no batch axis).

    Parameter names and shapes equal those of ``experiments.models.build(layers, input_shape)``.
    Weights start at torch's default init; ``copy_weights`` gives them the scratch model's values.
    ``masked_dropout=True`` makes every dropout a ``MaskedDropout`` that accepts a given mask.
    """
    from .models import output_shape
    torch = import_torch()
    shapes = [tuple(input_shape)] + output_shape(layers, input_shape)
    model = torch.nn.Sequential(*(torch_layer(spec, shapes[i], masked_dropout)
                                  for i, spec in enumerate(layers)))
    return model.to(torch_dtype(dtype))


# ---- weights -------------------------------------------------------------------------------------

def to_torch_state(state_dict, dtype="float32"):
    """A scratch ``state_dict()`` (name -> array) as a torch state dict (name -> tensor of ``dtype``).

    The ``nn`` layouts already equal torch's (Dense (out, in), Conv2d (out, in, kh, kw)), so only the
    container and the dtype change; the values are copied, never shared.
    """
    torch = import_torch()
    target = torch_dtype(dtype)
    out = OrderedDict()
    for name, value in state_dict.items():
        array = np.array(_host_array(value), copy=True)
        out[name] = torch.from_numpy(array).to(target)
    return out


def from_torch_state(torch_state_dict):
    """A torch state dict as a scratch one: name -> NumPy array, dtype kept. Inverse of ``to_torch_state``."""
    return OrderedDict((name, tensor.detach().cpu().numpy().copy())
                       for name, tensor in torch_state_dict.items())


def copy_weights(scratch_model, torch_model):
    """Give ``torch_model`` the scratch model's parameters (by name), in the torch model's dtype.

    Raises ValueError naming every missing, unexpected or mis-shaped parameter.
    """
    torch = import_torch()
    theirs = torch_model.state_dict()
    ours = scratch_model.state_dict()
    _check_same_parameters(ours, {k: tuple(v.shape) for k, v in theirs.items()})
    dtype = next(iter(theirs.values())).dtype if theirs else torch.float32
    torch_model.load_state_dict(to_torch_state(ours, dtype), strict=True)
    return torch_model


def _check_same_parameters(ours, their_shapes):
    our_shapes = {k: tuple(np.shape(_host_array(v))) for k, v in ours.items()}
    problems = []
    missing = sorted(set(their_shapes) - set(our_shapes))
    extra = sorted(set(our_shapes) - set(their_shapes))
    if missing:
        problems.append(f"missing in the scratch model: {missing}")
    if extra:
        problems.append(f"not in the torch model: {extra}")
    for name in sorted(set(our_shapes) & set(their_shapes)):
        if our_shapes[name] != their_shapes[name]:
            problems.append(f"{name}: scratch shape {our_shapes[name]}, torch shape {their_shapes[name]}")
    if problems:
        raise ValueError("the scratch and torch models do not have the same parameters: "
                         + "; ".join(problems))


def _host_array(value):
    """A NumPy array from a NumPy/CuPy array or a Tensor."""
    if hasattr(value, "numpy") and not isinstance(value, np.ndarray):
        value = value.numpy()
    if hasattr(value, "get") and not isinstance(value, np.ndarray):   # CuPy
        value = value.get()
    return np.asarray(value)


# ---- training: the torch column ------------------------------------------------------------------

def _resolve_torch_device(torch, device, notes):
    device = str(device)
    if device.startswith("cuda") and not torch.cuda.is_available():
        notes.append("torch reference: this torch build sees no CUDA device, so it ran on the CPU")
        return torch.device("cpu")
    return torch.device(device)


def l2_term(torch_model, alpha):
    """``alpha * sum of w^2`` over the weights (every parameter but the biases), as ``nn.functional.l2_penalty``."""
    weights = [p for name, p in torch_model.named_parameters()
               if not (name == "bias" or name.endswith(".bias"))]
    total = (weights[0] * weights[0]).sum()
    for w in weights[1:]:
        total = total + (w * w).sum()
    return total * alpha


def make_torch_optimizer(config, torch_model):
    """SGD (with ``config.momentum``) or Adam (torch's defaults), as ``experiments.train.make_optimizer``."""
    torch = import_torch()
    params = list(torch_model.parameters())
    if config.optimizer == "sgd":
        return torch.optim.SGD(params, lr=config.lr, momentum=config.momentum)
    if config.optimizer == "adam":
        return torch.optim.Adam(params, lr=config.lr)
    raise ValueError(f"config {config.name}: optimizer must be 'sgd' or 'adam', got {config.optimizer!r}")


def make_torch_schedule(config, optimizer):
    """The per-epoch schedule of ``config.schedule`` in torch (inverse-time decay as a LambdaLR), or None."""
    torch = import_torch()
    if not config.schedule:
        return None
    kind, *args = config.schedule
    sched = torch.optim.lr_scheduler
    if kind == "inverse_time":
        rate = args[0]
        return sched.LambdaLR(optimizer, lambda epoch: 1.0 / (1.0 + rate * epoch))
    if kind == "step":
        return sched.StepLR(optimizer, *args)
    if kind == "exponential":
        return sched.ExponentialLR(optimizer, *args)
    raise ValueError(f"config {config.name}: schedule must start with one of ['exponential', "
                     f"'inverse_time', 'step'], got {config.schedule!r}")


def evaluate_torch(torch_model, x, y, batch_size=1000):
    """(mean cross-entropy, accuracy, predicted labels) of ``torch_model`` on tensors x, y (eval mode)."""
    torch = import_torch()
    was_training = torch_model.training
    torch_model.eval()
    total, predictions = 0.0, []
    try:
        with torch.no_grad():
            for i in range(0, len(x), batch_size):
                logits = torch_model(x[i:i + batch_size])
                total += float(torch.nn.functional.cross_entropy(logits, y[i:i + batch_size],
                                                                 reduction="sum"))
                predictions.append(logits.argmax(dim=1))
    finally:
        torch_model.train(was_training)
    predicted = torch.cat(predictions).cpu().numpy()
    return total / len(x), float((predicted == y.cpu().numpy()).mean()), predicted


def scratch_initial_state(config, input_shape, seed):
    """``(weights, generator)``: the scratch model's initial weights for ``seed``, drawn exactly as
    ``experiments.train.train`` draws them, and a copy of the host generator as it is afterwards,
    i.e. where the scratch trainer's dropout masks come from (on the CPU)."""
    import tinygrad_lite as tl
    from .models import build
    tl.manual_seed(seed)
    weights = build(config.layers, input_shape, config.init).state_dict()
    return weights, copy.deepcopy(tl.backend.rng("cpu"))


def scratch_mask_drawer(generator, p, dtype):
    """``draw(shape)``: the keep-mask ``nn.functional.dropout`` draws on the CPU from ``generator``."""
    dtype = np.dtype(dtype)

    def draw(shape):
        return generator.random(shape, dtype=dtype) >= dtype.type(p)
    return draw


def _improved(higher_is_better, value, best):
    if best is None:
        return True
    return value > best if higher_is_better else value < best


def train_torch(config, data, seed=0, device="cpu", dtype="float32", initial_state=None, progress=True):
    """Train ``config``'s model in PyTorch on ``data`` (an ``experiments.data.RunData``) exactly as
    ``experiments.train.train`` trains the scratch model, and return its figures in the
    ``metrics.json`` schema::

        {"final": {"epoch_used", "train_loss", "train_acc", "val_loss", "val_acc", "test_loss", "test_acc"},
         "wall_time_s": ..., "history": {"iteration_loss": [[i, loss], ...], "epochs": [{...}, ...]},
         "device": ..., "dtype": ..., "torch_version": ..., "notes": [...]}

    Same starting weights (the scratch init for ``seed``, or ``initial_state``), same batches
    (``DataLoader(seed=seed).epoch_order(epoch)`` indexes the arrays), same loss
    ``cross_entropy + l2 * sum(w^2)`` (weights, not biases), same optimiser, per-epoch schedule, early
    stopping and best-epoch selection. Dropout masks: those the scratch trainer draws on the CPU
    (the same generator, in the same order), unless ``initial_state`` is given (then torch's own,
    seeded with ``seed``). On CUDA the scratch masks come from CuPy's generator, so they differ.
    Note: drawing the scratch init re-seeds ``tinygrad_lite`` (``tl.manual_seed(seed)``), as ``train`` does.
    """
    from tinygrad_lite.dataloader import DataLoader
    from .train import HIGHER_IS_BETTER
    torch = import_torch()
    notes = []
    target = torch_dtype(dtype)
    torch_device = _resolve_torch_device(torch, device, notes)
    start = time.perf_counter()
    torch.manual_seed(seed)
    generator = None
    if initial_state is None:
        initial_state, generator = scratch_initial_state(config, data.input_shape, seed)
    model = build_torch(config.layers, data.input_shape, target, masked_dropout=generator is not None)
    dtype_name = str(target).replace("torch.", "")
    for module in model.modules():
        if hasattr(module, "draw_mask"):
            module.draw_mask = scratch_mask_drawer(generator, module.p, dtype_name)
    _check_same_parameters(initial_state, {k: tuple(v.shape) for k, v in model.state_dict().items()})
    model.load_state_dict(to_torch_state(initial_state, target), strict=True)
    model.to(torch_device)
    optimizer = make_torch_optimizer(config, model)
    schedule = make_torch_schedule(config, optimizer)

    def tensors(x, y):
        x = torch.from_numpy(np.ascontiguousarray(x)).to(device=torch_device, dtype=target)
        return x, torch.from_numpy(np.asarray(y, dtype=np.int64)).to(torch_device)

    splits = {"train": tensors(data.x_train, data.y_train), "val": tensors(data.x_val, data.y_val),
              "test": tensors(data.x_test, data.y_test)}
    x_train, y_train = splits["train"]
    order_source = DataLoader(data.x_train, data.y_train, config.batch_size, shuffle=True, seed=seed,
                              check_finite=False)      # the scratch trainer's loader: its batch order
    n_batches, bs = len(order_source), config.batch_size
    log_every = min(config.log_every, n_batches)          # as the scratch trainer does
    history = {"iteration_loss": [], "epochs": []}
    iteration, window = 0, [0.0, 0]
    best, best_state, early, stopped_early_at = None, None, None, 0

    from .train import Progress
    bar = Progress(progress, f"{config.name} [torch]", config.epochs)
    model.train()
    for epoch in range(config.epochs):
        lr = float(optimizer.param_groups[0]["lr"])
        order = torch.from_numpy(order_source.epoch_order(epoch)).to(torch_device)
        losses = []
        bar.start(epoch, n_batches, 0)
        for batch in range(n_batches):
            rows = order[batch * bs:(batch + 1) * bs]
            xb, yb = x_train[rows], y_train[rows]
            loss = torch.nn.functional.cross_entropy(model(xb), yb)
            if config.l2:
                loss = loss + l2_term(model, config.l2)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            losses.append(loss.detach())
            bar.step()
            done = epoch * n_batches + batch + 1
            if config.log_test_loss and done % log_every == 0:
                history.setdefault("iteration_test_loss", []).append(
                    [done, evaluate_torch(model, *splits["test"])[0]])
        for value in torch.stack(losses).double().cpu().numpy():
            iteration += 1
            window[0] += float(value)
            window[1] += 1
            if not np.isfinite(value):
                raise FloatingPointError(f"{config.name} (torch reference): the training loss is {value} "
                                         f"at epoch {epoch + 1}, iteration {iteration}")
            if iteration % log_every == 0:
                history["iteration_loss"].append([iteration, window[0] / window[1]])
                window = [0.0, 0]
        row = {"epoch": epoch + 1, "lr": lr}
        for split, (x, y) in splits.items():
            row[f"{split}_loss"], row[f"{split}_acc"], _ = evaluate_torch(model, x, y)
        history["epochs"].append(row)
        if progress:
            bar.end(f"{config.name} [torch] epoch {epoch + 1}/{config.epochs}  lr {lr:.4g}  " + "  ".join(
                f"{s} loss {row[f'{s}_loss']:.4f} acc {row[f'{s}_acc']:.4f}" for s in splits))
        if schedule is not None:
            schedule.step()
        if config.select_best_by and _improved(HIGHER_IS_BETTER[config.select_best_by],
                                               row[config.select_best_by], None if best is None else best[1]):
            best = (epoch + 1, row[config.select_best_by])
            best_state = copy.deepcopy(model.state_dict())
        if config.early_stopping:
            metric, patience = config.early_stopping
            if early is None or _improved(HIGHER_IS_BETTER[metric], row[metric], early[0]):
                early = [row[metric], 0]
            else:
                early[1] += 1
                if early[1] >= patience:
                    stopped_early_at = epoch + 1
                    notes.append(f"torch reference: early stopping after epoch {epoch + 1}")
                    break

    bar.close()
    epoch_used = len(history["epochs"])
    if config.select_best_by and best is not None:
        epoch_used = best[0]
        model.load_state_dict(best_state)
    final = {"epoch_used": epoch_used}
    for split, (x, y) in splits.items():
        final[f"{split}_loss"], final[f"{split}_acc"], _ = evaluate_torch(model, x, y)
    return {"final": final, "wall_time_s": time.perf_counter() - start, "history": history,
            "stopped_early_at": stopped_early_at, "device": str(torch_device),
            "dtype": dtype_name, "torch_version": torch.__version__,
            "notes": notes}
