"""D. Fashion-MNIST with Adam, keeping the model of the best validation accuracy:
``report-fashion-mlp-cnn-adam.txt``.

80/20 split of the training set after a seeded shuffle; after every epoch the model is evaluated on
the validation split and the epoch with the best validation accuracy is the one reported.
"""
from ..config import RunConfig, cnn, mlp

DOC = "report-fashion-mlp-cnn-adam.txt"
CHOICES = ("80/20 split drawn at random (seeded) from the training set",
           "pixels /255 (the report's normalisation is not stated)",
           "PyTorch's default init")

RUNS = [
    RunConfig(name="D-mlp-adam", document=DOC, title="MLP 784-256-128-10 ReLU, Adam lr 0.001, batch 100",
              dataset="fashion-mnist", layers=mlp([784, 256, 128, 10], "relu"), epochs=50,
              batch_size=100, optimizer="adam", lr=0.001, split=("random", 0.2), normalisation="unit",
              select_best_by="val_acc", reported={"test_acc": 0.8832},
              choices=CHOICES + ("hidden widths 256 and 128 (the report says two hidden layers)",),
              minutes_cpu=2.0),
    RunConfig(name="D-cnn-lenet", document=DOC,
              title="LeNet-style CNN (conv 5x5 6, avg-pool, conv 5x5 16, avg-pool, 120-84-10), Adam, batch 1024",
              dataset="fashion-mnist", layers=cnn([6, 16], 5, "avg", padding=0, hidden=(120, 84)),
              epochs=200, batch_size=1024, optimizer="adam", lr=0.001, split=("random", 0.2),
              normalisation="unit", select_best_by="val_acc", reported={"test_acc": 0.8966},
              choices=CHOICES + ("conv stride 1 with 2x2 average pooling (stride 2), LeNet-style, for the "
                                 "report's 'kernel 5, stride 2' convolutions",),
              minutes_cpu=50.0),
]
