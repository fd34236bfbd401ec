"""C. Fashion-MNIST: the 8-row MLP table and the 14-row pooling x filters x init table:
``report-fashion-mlp-cnn-pooling-init.txt``.

MLPs: /255 then z-score with the training split's statistics, 80/20 split, early stopping on the
validation loss (patience 5, at most 200 epochs). CNNs: 5 convs 3x3 (or 5x5), padding 'same', ReLU,
a pooling after every conv but the last, Dense(hidden) ReLU, Dense 10; pixels in [-1, 1]; 10 epochs.
Each CNN's flattened features then train the scratch MLP [features, hidden, 10].
"""
from ..config import RunConfig, cnn, mlp
from ..models import output_shape

DOC = "report-fashion-mlp-cnn-pooling-init.txt"
SPLIT = ("random", 0.2)
STOP = ("val_loss", 5)
MLP_CHOICES = ("plain SGD lr 0.001, batch 64 (the report writes plain gradient descent, batch not stated)",
               "80/20 split drawn at random (seeded) from the training set",
               "the model of the best validation-loss epoch is restored after early stopping")
CNN_CHOICES = ("Adam lr 0.001, batch 64 (optimiser not stated)",
               "80/20 split drawn at random (seeded) from the training set",
               "'random' init read as PyTorch's default (Kaiming uniform, a=sqrt(5)); He = Kaiming "
               "uniform for ReLU; Xavier = Glorot uniform")
SLOWER_THAN_REPORT = ("the report's log trains faster per epoch than batch 64 does, about as fast as batch 32 "
                      "(`--batch-size 32`; see experiments/RESULTS.md)",)
INITS = {"random": "torch_default", "he": "he_uniform", "xavier": "glorot_uniform"}


def _mlp(name, sizes, activation, dropout, test_acc, choices=()):
    return RunConfig(name=name, document=DOC, title=f"MLP {'-'.join(map(str, sizes))} {activation}, "
                     f"dropout {dropout}", dataset="fashion-mnist",
                     layers=mlp(sizes, activation, dropout=dropout), epochs=200, batch_size=64, lr=0.001,
                     split=SPLIT, normalisation="zscore", early_stopping=STOP, select_best_by="val_loss",
                     reported={"test_acc": test_acc}, choices=MLP_CHOICES + SLOWER_THAN_REPORT + choices,
                     minutes_cpu=6.0 if len(sizes) == 3 else 15.0)


MLP_RUNS = [
    _mlp("C-mlp-relu-drop", [784, 128, 10], "relu", 0.2, 0.8825),
    _mlp("C-mlp-relu", [784, 128, 10], "relu", 0.0, 0.8815),
    _mlp("C-mlp-gelu-drop", [784, 128, 10], "gelu", 0.2, 0.8835),
    _mlp("C-mlp-gelu", [784, 128, 10], "gelu", 0.0, 0.8787),
    _mlp("C-mlp-leaky-drop", [784, 128, 10], "leaky_relu", 0.2, 0.8796,
         choices=("'leaky-gelu' read as Leaky-ReLU(0.01)",)),
    _mlp("C-mlp-deep-relu-drop", [784, 400, 250, 100, 10], "relu", 0.2, 0.8855),
    _mlp("C-mlp-deep-leaky-drop", [784, 400, 250, 100, 10], "leaky_relu", 0.2, 0.8834),
    _mlp("C-mlp-256-gelu-drop", [784, 256, 128, 10], "gelu", 0.2, 0.8846),
]

NARROW, WIDE, WIDER = (16,) * 5, (16, 32, 64, 128, 256), (32, 64, 128, 256, 512)
# pooling, channels, kernel, init, hidden, CNN test %, CNN features + scratch MLP test %
TABLE = [
    ("max", NARROW, 3, "random", 32, 87.69, 88.68), ("avg", NARROW, 3, "random", 32, 82.93, 83.37),
    ("gap", NARROW, 3, "random", 32, 41.62, 41.29), ("max", WIDE, 3, "random", 512, 91.55, 91.79),
    ("avg", WIDE, 3, "random", 512, 90.52, 91.42), ("gap", WIDE, 3, "random", 512, 64.28, 67.42),
    ("max", WIDE, 3, "he", 512, 91.30, 91.69), ("avg", WIDE, 3, "he", 512, 90.92, 91.19),
    ("gap", WIDE, 3, "he", 512, 66.16, 67.61), ("max", WIDE, 3, "xavier", 512, 91.42, 91.79),
    ("avg", WIDE, 3, "xavier", 512, 90.34, 91.00), ("gap", WIDE, 3, "xavier", 512, 64.83, 65.80),
    ("max", WIDER, 3, "random", 1024, None, 92.37), ("max", WIDER, 5, "xavier", 1024, None, 92.35),
]


def _width(channels):
    return {NARROW: "16", WIDE: "wide", WIDER: "wider"}[channels]


def _cnn_pair(pool, channels, kernel, init, hidden, cnn_acc, features_acc):
    """The CNN of one table row and the scratch MLP trained on its flattened features."""
    tag = f"{pool}-{_width(channels)}{'-k5' if kernel == 5 else ''}-{init}"
    layers = cnn(channels, kernel, pool, padding=kernel // 2, hidden=(hidden,), pool_last=False)
    minutes = {NARROW: 5.0, WIDE: 14.0, WIDER: 28.0}[channels]
    if kernel == 5:
        minutes *= 2.5        # a 5x5 kernel costs about 25/9 the FLOPs of a 3x3 one
    if pool == "gap":
        minutes /= 5          # the map is 1x1 after the first pooling: only the first conv costs much
    choices = CNN_CHOICES + (("padding 2 for the 5x5 kernels (padding 1 would shrink the map to nothing)",)
                             if kernel == 5 else ())
    backbone = RunConfig(
        name=f"C-cnn-{tag}", document=DOC,
        title=f"CNN {pool}-pool, channels {','.join(map(str, channels))}, {kernel}x{kernel}, {init} init",
        dataset="fashion-mnist", layers=layers, epochs=10, batch_size=64, optimizer="adam", lr=0.001,
        init=INITS[init], split=SPLIT, normalisation="symmetric",
        reported={} if cnn_acc is None else {"test_acc": cnn_acc / 100}, choices=choices,
        minutes_cpu=minutes)
    features = output_shape(layers, (1, 28, 28))[layers.index(("flatten",))][0]
    head = RunConfig(
        name=f"C-cnnmlp-{tag}", document=DOC,
        title=f"C-cnn-{tag}'s {features} features -> scratch MLP {features}-{hidden}-10",
        dataset="fashion-mnist", layers=mlp([features, hidden, 10], "relu"), epochs=200, batch_size=64,
        lr=0.001, split=SPLIT, normalisation="symmetric", early_stopping=STOP, select_best_by="val_loss",
        features_from=backbone.name, reported={"test_acc": features_acc / 100},
        choices=MLP_CHOICES + ("the backbone's features are used as they are (no normalisation)",),
        minutes_cpu={NARROW: 1.0, WIDE: 6.0, WIDER: 4.0}[channels])
    return backbone, head


CNN_RUNS = [run for row in TABLE for run in _cnn_pair(*row)]
RUNS = MLP_RUNS + CNN_RUNS
