"""What a run is: one frozen ``RunConfig`` per coursework run, readable on one screen.

An architecture is a tuple of layer specs, each a short tuple a student can read aloud:

    ("dense", 500)                      Dense to 500 features
    ("conv", 16, 3, 1, 1)               Conv2d to 16 channels, kernel 3, stride 1, padding 1
    ("dense", 128, False), ("conv", 16, 3, 1, 1, False)   the same without a bias (before batch norm)
    ("maxpool", 2) / ("avgpool", 2)     pooling, kernel 2 (stride = kernel)
    ("gap",)                            global average pooling to (N, C, 1, 1)
    ("flatten",)  ("dropout", 0.2)
    ("relu",) ("sigmoid",) ("tanh",) ("gelu",) ("leaky_relu", 0.01)
    ("batchnorm",)                      BatchNorm2d after a conv, BatchNorm1d after a dense layer
    ("tokens", 10, 48, 11)              a GPT's token + position embeddings: vocabulary 10, width 48, 11 positions
    ("block", 4, 192)                   a causal pre-LayerNorm block: 4 heads, a hidden layer of 192
    ("layernorm",)                      LayerNorm over the last axis (("dense", n) acts on the last axis too)

``experiments.models.build`` turns the tuple into an ``nn.Sequential``; the torch reference turns the
same tuple into a ``torch.nn.Sequential`` with the same parameter names.
"""
from dataclasses import asdict, dataclass, field, fields, replace

ACTIVATIONS = ("relu", "sigmoid", "tanh", "gelu", "leaky_relu")


def mlp(sizes, activation, dropout=0.0):
    """Layer specs of an MLP: ``mlp([784, 128, 10], "relu", dropout=0.2)`` (no activation after the last)."""
    layers = [("flatten",)]
    for width in sizes[1:-1]:
        layers += [("dense", width), (activation,) if activation != "leaky_relu" else ("leaky_relu", 0.01)]
        if dropout:
            layers.append(("dropout", dropout))
    layers.append(("dense", sizes[-1]))
    return tuple(layers)


def cnn(channels, kernels, pooling="max", padding=1, hidden=(128,), classes=10, pool_last=True,
        dropout=0.0):
    """A stack of conv -> ReLU -> pool blocks, then flatten and an MLP head.

    ``kernels`` is one int for every block or one per block; ``pooling`` is 'max', 'avg' or 'gap';
    ``pool_last=False`` leaves the last conv unpooled (report C's CNNs).
    """
    kernels = (kernels,) * len(channels) if isinstance(kernels, int) else tuple(kernels)
    layers = []
    for i, (width, k) in enumerate(zip(channels, kernels)):
        layers += [("conv", width, k, 1, padding), ("relu",)]
        if pool_last or i < len(channels) - 1:
            layers.append({"max": ("maxpool", 2), "avg": ("avgpool", 2), "gap": ("gap",)}[pooling])
    layers.append(("flatten",))
    for width in hidden:
        layers += [("dense", width), ("relu",)]
        if dropout:
            layers.append(("dropout", dropout))
    layers.append(("dense", classes))
    return tuple(layers)


@dataclass(frozen=True)
class RunConfig:
    """One replayed run. Every field has the coursework's value or an [ours] choice listed in ``choices``."""
    name: str                         # CLI name, e.g. "A-sigmoid"
    document: str                     # the coursework file it replays (see docs/coursework.md)
    title: str                        # one line for `tinygrad-lite list`
    dataset: str                      # "mnist", "fashion-mnist", or a made-up sequence task ("sort", "add")
    layers: tuple                     # layer specs (see the module docstring)
    epochs: int
    batch_size: int = 64
    optimizer: str = "sgd"            # a row of experiments.optimizers.OPTIMIZERS: "sgd", "adam", "adamw", ...
    lr: float = 0.01
    optimizer_options: dict = field(default_factory=dict)   # the optimiser's other keywords, e.g. {"momentum": 0.9};
                                                            # the rest keep nn.optim's defaults (AdamW's decay 0.01)
    schedule: tuple = ()              # () or a row of experiments.optimizers.SCHEDULES and its arguments:
                                      # ("inverse_time", k), ("step", step, gamma), ("exponential", gamma) (stepped
                                      # per epoch) or ("warmup_cosine", warmup steps) (per step, to 0 at the last)
    l2: float = 0.0                   # alpha of the L2 term added to the loss (weights only)
    init: str = "torch_default"       # name in nn.init.INITIALISERS
    split: tuple = ("first_last", 10000)   # or ("random", 0.2) / ("stratified", 0.2): from the training set only;
                                           # a sequence task: ("generated", n_train, n_val, n_test)
    normalisation: str = "unit"       # "unit" (/255), "symmetric" ([-1, 1]), "zscore" (/255 then training mean/std);
                                      # "none" for a sequence task's tokens
    early_stopping: tuple = ()        # () or ("val_loss" | "val_acc", patience)
    select_best_by: str = ""          # "" (keep the last epoch) or "val_acc" / "val_loss": restore the best epoch
    features_from: str = ""           # name of a CNN run whose flattened backbone features feed this model
    log_every: int = 200              # iterations between logged training losses (report A's plots)
    log_test_loss: bool = False       # also evaluate the test loss every log_every iterations (A's plots)
    reported: dict = field(default_factory=dict)   # the document's numbers, e.g. {"test_acc": 0.86}
    choices: tuple = ()               # every [ours] choice, stated in the report
    minutes_cpu: float = 1.0          # expected wall time on a 2-core CPU, for `tinygrad-lite list`

    def with_overrides(self, **changes):
        """A copy with some fields changed (a notebook's, a test's), keeping everything else; None keeps
        a field. The command line's changes go through ``Overrides``, applied once by the runner."""
        return replace(self, **{k: v for k, v in changes.items() if v is not None})

    def to_dict(self):
        return asdict(self)


@dataclass(frozen=True)
class Overrides:
    """What the command line changes in every run it trains (``--epochs``, ``--lr``, ``--batch-size``);
    None keeps the run's own value. Applied once, by ``experiments.runner.run``: below it only the
    resolved RunConfig travels. A new override is one field here (and its CLI option)."""
    epochs: int = None
    lr: float = None
    batch_size: int = None

    def apply(self, config):
        """``(resolved, changed)``: ``config`` with the overridden fields replaced, and
        {field: {"document": the run's own value, "used": the override}} for each that differs."""
        given = {f.name: getattr(self, f.name) for f in fields(self) if getattr(self, f.name) is not None}
        changed = {name: {"document": getattr(config, name), "used": value}
                   for name, value in given.items() if value != getattr(config, name)}
        return replace(config, **given), changed
