"""Example runs: not replays of the coursework (``experiments.coursework``), but small trainings that
put the framework's newer pieces to work on real data, scratch beside torch, as any run is.

``E-bn-cnn``: a Fashion-MNIST CNN with batch normalisation after every conv and the hidden dense
layer (``nn.BatchNorm2d`` / ``nn.BatchNorm1d``, running statistics in evaluation), trained by AdamW.
``tinygrad-lite parity E-bn-cnn`` shows its scratch and torch losses step for step.

``E-gpt-sort`` and ``E-gpt-add``: a tiny GPT (``experiments.gpt``: token and position embeddings, two
causal pre-LayerNorm blocks, a head) trained by AdamW with a warm-up and a cosine decay on minGPT's
made-up tasks (``experiments.sequences``): sort six digits, add two 2-digit numbers.
"""
from .config import RunConfig

DOCUMENT = "examples (not a coursework replay)"

GPT_CHOICES = (
    "an example of attention, no document behind it: every setting is ours",
    "problems drawn once (seed 0), all different, then cut into training, validation and test problems (the "
    "split's sizes): a test problem is one the model never saw",
    "accuracy counts a problem right only when every answer token is (what greedy generation answers)",
    "a linear warm-up over 100 steps, then a cosine decay to 0 at the run's last step, stepped every step",
    "no dropout: every problem is new and the torch twin's attention draws its own masks, which cannot be replayed",
    "PyTorch's default initialisation (embeddings N(0, 1), attention's in-projection Xavier); AdamW's default "
    "weight decay 0.01 on every parameter; GELU's tanh form, as GPT-2 and minGPT",
)

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
    RunConfig(name="E-gpt-sort", document=DOCUMENT,
              title="GPT, 2 blocks of 4 heads, width 48: sort six digits; AdamW, warm-up and cosine",
              dataset="sort",
              layers=(("tokens", 10, 48, 11), ("block", 4, 192), ("block", 4, 192), ("layernorm",), ("dense", 10)),
              epochs=6, batch_size=64, optimizer="adamw", lr=1e-3, schedule=("warmup_cosine", 100),
              split=("generated", 10000, 1000, 1000), normalisation="none", log_every=50,
              choices=GPT_CHOICES + ("sort: six digits 0-9, 10^6 different problems (minGPT's demo sorts digits "
                                     "0-2)",),
              minutes_cpu=1.0),
    RunConfig(name="E-gpt-add", document=DOCUMENT,
              title="GPT, 2 blocks of 4 heads, width 48: add two 2-digit numbers; AdamW, warm-up and cosine",
              dataset="add",
              layers=(("tokens", 10, 48, 6), ("block", 4, 192), ("block", 4, 192), ("layernorm",), ("dense", 10)),
              epochs=12, batch_size=64, optimizer="adamw", lr=2e-3, schedule=("warmup_cosine", 100),
              split=("generated", 8000, 1000, 1000), normalisation="none", log_every=50,
              choices=GPT_CHOICES + ("add: a + b for a, b in 0-99, the sum's 3 digits lowest first (minGPT's "
                                     "AdditionDataset): 10,000 problems, 8,000 of them for training",),
              minutes_cpu=1.5),
]
