"""Example runs: not replays of the coursework (``experiments.coursework``), but small trainings that
put the framework's newer pieces to work on real data, scratch beside torch, as any run is.

``E-bn-cnn``: a Fashion-MNIST CNN with batch normalisation after every conv and the hidden dense
layer (``nn.BatchNorm2d`` / ``nn.BatchNorm1d``, running statistics in evaluation), trained by AdamW.
``tinygrad-lite parity E-bn-cnn`` shows its scratch and torch losses step for step.
"""
from .config import RunConfig

DOCUMENT = "examples (not a coursework replay)"

RUNS = [
    RunConfig(name="E-bn-cnn", document=DOCUMENT,
              title="CNN conv16-BN-ReLU-pool, conv32-BN-ReLU-pool, dense128-BN-ReLU, AdamW lr 0.001",
              dataset="fashion-mnist",
              layers=(("conv", 16, 3, 1, 1, False), ("batchnorm",), ("relu",), ("maxpool", 2),
                      ("conv", 32, 3, 1, 1, False), ("batchnorm",), ("relu",), ("maxpool", 2),
                      ("flatten",), ("dense", 128, False), ("batchnorm",), ("relu",), ("dense", 10)),
              epochs=5, batch_size=64, optimizer="adamw", lr=1e-3,
              choices=("an example of batch norm and AdamW, no document behind it: every setting is ours",
                       "no bias in the layers before batch norm (its mean subtraction would cancel it, and "
                       "the bias's gradient would be rounding noise, which Adam's scaling blows up)",
                       "the first 50,000 training images train, the last 10,000 validate",
                       "pixels /255; PyTorch's default init; AdamW's default weight decay 0.01"),
              minutes_cpu=6.0),
]
