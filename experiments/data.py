"""A run's data, ready to train on: load, split (training set only), normalise, subset, reshape.

    data = prepare(config, seed=0, subset=None)
    data.x_train, data.y_train, data.x_val, data.y_val, data.x_test, data.y_test   # NumPy arrays

Order of the steps, so that nothing about the validation or test set leaks into training:
1. load the full set (``tinygrad_lite.datasets``); when it cannot be found or fetched, fall back to
   the bundled sample and say so (``data.used_sample``, a note on stderr). Never when a copy exists
   but fails verification (that ``CorruptDataError`` is raised), nor when ``root`` (``--data``) names
   the folder (the only place then looked at); ``sample=True`` (``--sample``) asks for the sample;
2. split the 60,000 training images by ``config.split`` (the test set is never split);
3. ``subset``: keep N training images, a seeded stratified draw (the validation and test sets are
   cut to at most N images too, so a quick look stays quick; stated in ``data.notes``);
4. normalise by ``config.normalisation``; the z-score uses the training split's mean and std only;
5. reshape to (N, 784) for an MLP, (N, 1, 28, 28) for a CNN (the first layer decides);
6. ``features_from`` runs: pass every split through the trained backbone's layers up to and
   including ``flatten`` (batched, in eval mode, under ``no_grad``) and train on those features.

A made-up sequence task (``config.dataset`` in ``experiments.sequences.TASKS``: 'sort', 'add') is
drawn instead (``prepare_sequences``): token arrays, nothing loaded, split, normalised or reshaped.

Environment: ``TINYGRAD_LITE_NO_SAMPLE=1`` turns the sample fallback off (missing data is then an
error), ``TINYGRAD_LITE_OFFLINE=1`` never downloads.
"""
import os
import sys
from dataclasses import dataclass, field

import numpy as np

import tinygrad_lite as tl
from tinygrad_lite import datasets
from tinygrad_lite.backend import as_numpy
from tinygrad_lite.errors import CorruptDataError, DataError

from . import sequences

ENV_NO_SAMPLE = "TINYGRAD_LITE_NO_SAMPLE"
ENV_OFFLINE = "TINYGRAD_LITE_OFFLINE"
FULL_TRAIN_SIZE = 60000
FEATURE_BATCH = 500


@dataclass
class RunData:
    """The arrays a run trains and is evaluated on, and how they were made."""
    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    class_names: list
    used_sample: bool = False
    notes: list = field(default_factory=list)    # every data decision, for the report
    subset_applied: bool = False                 # --subset cut at least one split (not just asked for)
    target: str = "class"                        # what y holds: a row of experiments.targets.TARGETS
    task: object = None                          # the experiments.sequences.SequenceTask, or None

    @property
    def input_shape(self):
        """The shape of one input, without the batch axis: (784,), (1, 28, 28) or (features,)."""
        return tuple(self.x_train.shape[1:])

    def splits(self):
        """(name, x, y) of the training, validation and test splits, in that order."""
        return [("train", self.x_train, self.y_train), ("val", self.x_val, self.y_val),
                ("test", self.x_test, self.y_test)]


def _flag(name):
    return os.environ.get(name, "").strip().lower() not in ("", "0", "false", "no")


_loaded = {}     # (dataset, root, sample, environment) -> what load returned: a process reads a set once


def load(dataset, root=None, sample=False):
    """``((x_train, y_train), (x_test, y_test)), used_sample``: the bundled sample when ``sample`` is
    true, or when the full set is missing everywhere (no ``root`` given, fallback not turned off).

    Raises ``CorruptDataError`` when a copy exists but fails verification, and ``DataError`` when the
    full set is not in ``root`` or is missing and the fallback is off (``TINYGRAD_LITE_NO_SAMPLE``).
    The arrays are shared between calls: treat them as read-only.
    """
    key = (dataset, None if root is None else str(root), bool(sample),
           os.environ.get(datasets.sources.ENV_DATA), _flag(ENV_NO_SAMPLE), _flag(ENV_OFFLINE))
    if key not in _loaded:
        _loaded[key] = _load(dataset, root, sample)
    return _loaded[key]


def used_sample(config, root=None, sample=False):
    """Whether ``config``'s data comes from the bundled sample (never for a made-up sequence task)."""
    return config.dataset not in sequences.TASKS and load(config.dataset, root, sample)[1]


def _load(dataset, root, sample):
    if sample:
        data = datasets.load_sample(dataset)
        print(f"NOTE: --sample: this run uses the small bundled SAMPLE of {dataset} ({len(data[0][0])} "
              f"training and {len(data[1][0])} test images); its numbers are NOT comparable with the "
              f"document's.", file=sys.stderr)
        return data, True
    try:
        return datasets.load_dataset(dataset, root, download=not _flag(ENV_OFFLINE)), False
    except CorruptDataError as exc:
        raise CorruptDataError(f"{str(exc).splitlines()[0]}; or pass --sample to train on the bundled "
                               f"sample") from exc
    except DataError as exc:
        if root is not None:
            raise DataError(f"--data {root}: {str(exc).splitlines()[0]} (an explicit data folder is the "
                            f"only place looked at; pass --sample to train on the bundled sample)") from exc
        if _flag(ENV_NO_SAMPLE):
            raise DataError(f"{str(exc).splitlines()[0]} (searched ${datasets.sources.ENV_DATA}, the user "
                            f"cache{'' if _flag(ENV_OFFLINE) else ' and the mirrors'}; the sample "
                            f"fallback is off because {ENV_NO_SAMPLE} is set)") from exc
    data = datasets.load_sample(dataset)
    print(f"NOTE: the full {dataset} data set could not be found or downloaded, so this run uses the "
          f"small bundled SAMPLE ({len(data[0][0])} training and {len(data[1][0])} test images). Its numbers are NOT "
          f"comparable with the document's. Set TINYGRAD_LITE_DATA to a folder holding {dataset}/ "
          f"for the real thing.", file=sys.stderr)
    return data, True


def split(config, x, y, seed, notes):
    """The config's split of the training set, scaled down in proportion on the sample."""
    kind, amount = config.split
    if kind == "first_last":
        n_val = amount
        if len(x) != FULL_TRAIN_SIZE:
            n_val = max(1, round(amount * len(x) / FULL_TRAIN_SIZE))
            notes.append(f"split: last {n_val} of {len(x)} training images validate "
                         f"({amount} of {FULL_TRAIN_SIZE} scaled to this data)")
        return datasets.split_first_last(x, y, n_val)
    if kind == "random":
        return datasets.split_random(x, y, amount, seed)
    if kind == "stratified":
        return datasets.split_stratified(x, y, amount, seed)
    raise ValueError(f"config {config.name}: split must be ('first_last', n), ('random', fraction) or "
                     f"('stratified', fraction), got {config.split!r}")


def _subset(x, y, n, seed):
    """A seeded, class-stratified draw of ``n`` rows (all rows when ``n >= len(x)``), in original order."""
    if n >= len(x):
        return x, y
    rows = datasets.stratified_indices(y, n, np.random.default_rng(seed))
    return x[rows], y[rows]


def prepare(config, seed=0, subset=None, root=None, backbone=None, sample=False):
    """The ``RunData`` of ``config``. ``backbone``: the trained model of ``config.features_from``;
    ``root``, ``sample``: where the data comes from (see ``load``)."""
    if subset is not None and (isinstance(subset, bool) or not isinstance(subset, int) or subset < 1):
        raise ValueError(f"subset must be a positive int (the number of training images), got {subset!r}")
    if config.dataset in sequences.TASKS:
        return prepare_sequences(config, seed, subset)
    notes = []
    ((x_all, y_all), (x_test, y_test)), used_sample = load(config.dataset, root, sample)
    (x_train, y_train), (x_val, y_val) = split(config, x_all, y_all, seed, notes)
    subset_applied = False
    if subset is not None:
        sizes = (len(x_train), len(x_val), len(x_test))
        x_train, y_train = _subset(x_train, y_train, subset, seed)
        x_val, y_val = _subset(x_val, y_val, subset, seed + 1)
        x_test, y_test = _subset(x_test, y_test, subset, seed + 2)
        subset_applied = (len(x_train), len(x_val), len(x_test)) != sizes
        if subset_applied:
            notes.append(f"--subset {subset}: {len(x_train)} training, {len(x_val)} validation and "
                         f"{len(x_test)} test images (seeded, class-stratified draws)")
        else:
            notes.append(f"--subset {subset}: no split is larger, so all {len(x_train)} training, "
                         f"{len(x_val)} validation and {len(x_test)} test images are used")
    x_train, x_val, x_test = normalise(config, x_train, x_val, x_test, notes)
    shape = (1, 28, 28) if _first_layer(config) == "conv" or config.features_from else (784,)
    x_train, x_val, x_test = (x.reshape((len(x),) + shape) for x in (x_train, x_val, x_test))
    data = RunData(x_train, y_train.astype(np.int64), x_val, y_val.astype(np.int64), x_test,
                   y_test.astype(np.int64), datasets.CLASS_NAMES[config.dataset], used_sample, notes,
                   subset_applied)
    if config.features_from:
        data = to_features(data, backbone, config.features_from)
    return data


def prepare_sequences(config, seed=0, subset=None):
    """The ``RunData`` of a made-up sequence task: token inputs x (N, T) and targets y (N, T)
    (``experiments.sequences``), each split cut to ``subset`` problems when asked."""
    task = sequences.TASKS[config.dataset]
    if config.normalisation != "none":
        raise ValueError(f"config {config.name}: a sequence task's inputs are tokens; normalisation must be "
                         f"'none', got {config.normalisation!r}")
    splits = sequences.draw_splits(config, seed)
    sizes = {name: len(x) for name, (x, _) in splits.items()}
    notes = [f"{sizes['train']} training, {sizes['val']} validation and {sizes['test']} test problems, all "
             f"different (one draw seeded {seed}); the answers are scored, the prompts are not"]
    subset_applied = subset is not None and subset < max(sizes.values())
    if subset is not None:
        splits = {name: (x[:subset], y[:subset]) for name, (x, y) in splits.items()}
        notes.append(f"--subset {subset}: at most {subset} problems per split")
    (x_train, y_train), (x_val, y_val), (x_test, y_test) = splits.values()
    return RunData(x_train, y_train, x_val, y_val, x_test, y_test, list(task.vocabulary), False, notes,
                   subset_applied, target="tokens", task=task)


def normalise(config, x_train, x_val, x_test, notes):
    mode = config.normalisation
    mean = std = None
    if mode == "zscore":
        mean, std = datasets.fit_zscore(x_train)
        notes.append(f"z-score with the training split's mean {mean:.4f} and std {std:.4f} (of x/255)")
    return tuple(datasets.normalize(x, mode, mean, std) for x in (x_train, x_val, x_test))


def _first_layer(config):
    kinds = [spec[0] for spec in config.layers if spec[0] not in ("flatten",)]
    return kinds[0] if kinds else ""


def feature_extractor(backbone_model, backbone_layers):
    """The backbone's modules up to and including its ``flatten`` layer, as a function of a Tensor."""
    kinds = [spec[0] for spec in backbone_layers]
    if "flatten" not in kinds:
        raise ValueError("features_from needs a backbone with a ('flatten',) layer; it has none")
    modules = list(backbone_model)[:kinds.index("flatten") + 1]

    def extract(x):
        for module in modules:
            x = module(x)
        return x
    return extract


def to_features(data, backbone, backbone_name):
    """``data`` with every split replaced by the backbone's flattened features (float32)."""
    if backbone is None:
        raise ValueError(f"this run trains on the features of {backbone_name}; pass its trained model "
                         f"(and layer specs) as backbone=(model, layers)")
    model, layers = backbone
    extract = feature_extractor(model, layers)
    device = next(iter(model.parameters())).device
    model.eval()
    out = []
    with tl.no_grad():
        for x in (data.x_train, data.x_val, data.x_test):
            parts = [as_numpy(extract(tl.Tensor(x[i:i + FEATURE_BATCH], device=device)).data)
                     for i in range(0, len(x), FEATURE_BATCH)]
            out.append(np.concatenate(parts).astype(np.float32, copy=False))
    notes = data.notes + [f"inputs: the {out[0].shape[1]} flattened features of {backbone_name}'s "
                          f"trained backbone"]
    return RunData(out[0], data.y_train, out[1], data.y_val, out[2], data.y_test, data.class_names,
                   data.used_sample, notes, data.subset_applied)
