"""Every op as a function: ``tl.exp(x)``, ``tl.sum(x, axis=1)``, and as a Tensor method (``methods.py``).

| module        | ops |
|---------------|-----|
| elementwise   | add sub mul div neg pow exp log sqrt abs tanh sigmoid relu maximum minimum clip where |
| transcendental | sin cos tan sinh cosh asin acos atan log2 log10 log1p exp2 rsqrt lerp logaddexp |
| rounding      | sign floor ceil round trunc floor_divide divide (div, rounding_mode) remainder fmod copysign |
|               | (gradient 0, passed on or ±) |
| logical       | compare (==, <, ...) bitwise_and/or/xor/not bitwise_left/right_shift (<< >>) |
|               | isnan isinf isfinite isclose (not differentiable) |
| reduce        | sum mean max min var std var_mean std_mean prod logsumexp softmax log_softmax |
|               | (argmax argmin any all: not differentiable) |
| scan          | cumsum cumprod cummax cummin logcumsumexp |
| sorting       | sort topk (values differentiable; argsort: not differentiable) |
| shape         | reshape transpose permute swapaxes squeeze unsqueeze flatten broadcast_to getitem concatenate |
|               | stack pad |
| indexing      | flip roll tril triu masked_fill split chunk repeat repeat_interleave gather diagonal unflatten |
|               | masked_select scatter scatter_add scatter_reduce (one_hot nonzero: integer results) |
| linalg        | matmul |
| einsum        | einsum (its gradient is an einsum too) |
| convert       | astype to_device |
| dtypes        | torch's dtype rules: result_type, floating (not ops: what every op's result dtype follows) |
| limits        | MAX_ELEMENTS, the one bound on sizes an argument asks for (not an op) |
"""
from .convert import astype, to_device
from .einsum import einsum
from .elementwise import (abs, add, clip, exp, log, maximum, minimum, mul, neg, pow, relu, sigmoid, sqrt, sub, tanh,
                          where)
from .indexing import (chunk, diagonal, flip, gather, masked_fill, masked_select, nonzero, one_hot, repeat,
                       repeat_interleave, roll, scatter, scatter_add, scatter_reduce, split, tril, triu, unflatten)
from .linalg import matmul
from .logical import (bitwise_and, bitwise_left_shift, bitwise_not, bitwise_or, bitwise_right_shift, bitwise_xor,
                      compare, isclose, isfinite, isinf, isnan)
from .reduce import (all, any, argmax, argmin, log_softmax, logsumexp, max, mean, min, prod, softmax, std, std_mean,
                     sum, var, var_mean)
from .rounding import ceil, copysign, divide, floor, floor_divide, fmod, remainder, round, sign, trunc
from .scan import cummax, cummin, cumprod, cumsum, logcumsumexp
from .shape import (broadcast_to, concatenate, flatten, getitem, pad, permute, reshape, squeeze, stack, swapaxes,
                    transpose, unsqueeze)
from .sorting import argsort, sort, topk
from .transcendental import (acos, asin, atan, cos, cosh, exp2, lerp, log10, log1p, log2, logaddexp, rsqrt, sin, sinh,
                             tan)

cat = concatenate
div = divide              # torch's two names: div(a, b, rounding_mode=None)
from . import methods  # noqa: E402  (last: makes each op above a Tensor method)
