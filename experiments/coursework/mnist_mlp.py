"""A. MNIST MLP from scratch: ``assignment-mnist-mlp.txt`` and ``report-mnist-mlp-scratch.txt``.

The assignment fixes the baseline (sigmoid 784-500-250-100-10, batch 64, lr 0.01, 15 epochs, Glorot
uniform, zero biases); the report trained on the first 50,000 training images, validated on the
last 10,000, and standardised the pixels after dividing by 255. Then tanh and ReLU, the best (ReLU,
as the report found) with Adam, and an L2 sweep on the ReLU network.
"""
from ..config import RunConfig, mlp

DOC = "assignment-mnist-mlp.txt + report-mnist-mlp-scratch.txt"
SIZES = [784, 500, 250, 100, 10]
COMMON_CHOICES = (
    "pixels /255 then standardised with ONE mean and std over all pixels of the 50,000-image "
    "training split (the report says 'standardised'; per-pixel statistics are not stated)",
    "split: first 50,000 training images train, last 10,000 validate (the report's 10,000 held out)",
    "plain mini-batch SGD, no momentum; every 200 iterations the training loss is logged as the mean "
    "of those 200 iterations and the test loss is evaluated on the whole test set",
)


def _run(name, title, activation, reported, optimizer="sgd", lr=0.01, l2=0.0, choices=(), minutes=2.0):
    return RunConfig(
        name=name, document=DOC, title=title, dataset="mnist",
        layers=mlp(SIZES, activation), epochs=15, batch_size=64, optimizer=optimizer, lr=lr, l2=l2,
        init="glorot_uniform", split=("first_last", 10000), normalisation="zscore", log_every=200, log_test_loss=True,
        reported=reported, choices=COMMON_CHOICES + tuple(choices), minutes_cpu=minutes)


L2_ALPHAS = (0.0, 1e-4, 1e-3, 1e-2)

RUNS = [
    _run("A-sigmoid", "sigmoid baseline, exactly as the assignment (784-500-250-100-10, SGD lr 0.01)",
         "sigmoid", {"train_acc": 0.85, "test_acc": 0.86, "train_loss": 0.4487, "val_loss": 0.4499}),
    _run("A-tanh", "tanh hidden layers, otherwise the baseline", "tanh",
         {"train_acc": 0.93, "test_acc": 0.93, "train_loss": 0.2275, "val_loss": 0.2076}),
    _run("A-relu", "ReLU hidden layers, otherwise the baseline", "relu",
         {"train_acc": 0.94, "test_acc": 0.94, "train_loss": 0.2233, "val_loss": 0.2131}),
    _run("A-relu-adam", "the best network (ReLU) trained with Adam", "relu", {"test_acc": 0.94},
         optimizer="adam", lr=0.001,
         choices=("Adam lr 0.001 (PyTorch's default; the report's Adam learning rate is not stated), "
                  "betas (0.9, 0.999), eps 1e-8",)),
] + [
    _run(f"A-relu-l2-{alpha:g}", f"ReLU + L2 penalty alpha={alpha:g} on the weights", "relu",
         {"train_acc": 0.78} if alpha == 1e-2 else {}, l2=alpha,
         choices=("L2 term alpha * sum of squared weights (biases excluded) added to the loss; the "
                  "report's alpha is cut off in the text ('alpha = 0.0...'); its 0.78 train accuracy "
                  "is shown beside alpha=0.01, our guess at the closest value",))
    for alpha in L2_ALPHAS
]
