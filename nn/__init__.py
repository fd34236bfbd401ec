"""Neural-network building blocks on ``tinygrad_lite.Tensor``: modules, layers, losses, init, optimisers.

Parameter layouts and constructor arguments follow ``torch.nn``, so weights move between the two
without thought: ``Dense.weight`` is (out_features, in_features), ``Conv2d.weight`` (out, in, kh, kw).
"""
from . import functional, init, optim, transformer, utils
from .attention import MultiheadAttention
from .conv import Conv1d, Conv2d, ConvTranspose2d
from .embedding import Embedding
from .fold import Fold, Unfold
from .layers import (CELU, ELU, GELU, SELU, Dense, Dropout, Flatten, Hardsigmoid, Hardswish, Hardtanh,
                     Identity, LeakyReLU, Linear, LogSigmoid, LogSoftmax, Mish, ReLU, ReLU6, Sigmoid, SiLU,
                     Softmax, Softmin, Softplus, Softsign, Tanh)
from .loss import (BCELoss, BCEWithLogitsLoss, CrossEntropyLoss, HuberLoss, KLDivLoss, L1Loss, MSELoss, NLLLoss,
                   SmoothL1Loss)
from .module import Module, Parameter, Sequential
from .normalization import BatchNorm1d, BatchNorm2d, LayerNorm
from .pooling import AdaptiveAvgPool2d, AvgPool2d, GlobalAvgPool2d, MaxPool2d
from .transformer import TransformerEncoderLayer
from .upsampling import Upsample
