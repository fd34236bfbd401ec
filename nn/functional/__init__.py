"""Stateless functions behind the layers: ``nn.functional.conv2d(x, w, b)``, ``cross_entropy(logits, y)``."""
from tinygrad_lite.ops.indexing import one_hot

from .activations import (celu, elu, gelu, hardsigmoid, hardswish, hardtanh, identity, leaky_relu, linear,
                          log_softmax, logsigmoid, mish, relu, relu6, selu, sigmoid, silu, softmax, softmin, softplus,
                          softsign, swish, tanh)
from .attention import scaled_dot_product_attention
from .conv import col2im, conv1d, conv2d, conv2d_simple, conv_transpose2d, im2col
from .dropout import dropout
from .embedding import embedding
from .fold import fold, unfold
from .losses import (binary_cross_entropy, binary_cross_entropy_with_logits, cross_entropy, huber_loss, kl_div,
                     l1_loss, l1_penalty, l2_penalty, mse_loss, nll_loss, smooth_l1_loss)
from .normalization import batch_norm, layer_norm, normalize
from .padding import pad
from .pooling import adaptive_avg_pool2d, avg_pool2d, global_avg_pool2d, max_pool2d
from .special import erf
from .upsampling import interpolate
