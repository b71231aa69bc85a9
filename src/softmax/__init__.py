"""softmax: the softmax function family, its losses, and softmax regression.

The public API is the list in ``__all__``; everything else is private.
"""

from softmax.losses import (
    binary_cross_entropy,
    binary_cross_entropy_grad,
    binary_cross_entropy_with_logits,
    binary_cross_entropy_with_logits_grad,
    cross_entropy,
    cross_entropy_grad,
    nll_loss,
    nll_loss_grad,
)
from softmax.special import (
    entropy,
    kl_divergence,
    log_sigmoid,
    log_softmax,
    log_softmax_vjp,
    logsumexp,
    sigmoid,
    softmax,
    softmax_vjp,
)

__version__ = "0.1.0"

__all__ = [
    "__version__",
    "binary_cross_entropy",
    "binary_cross_entropy_grad",
    "binary_cross_entropy_with_logits",
    "binary_cross_entropy_with_logits_grad",
    "cross_entropy",
    "cross_entropy_grad",
    "entropy",
    "kl_divergence",
    "log_sigmoid",
    "log_softmax",
    "log_softmax_vjp",
    "logsumexp",
    "nll_loss",
    "nll_loss_grad",
    "sigmoid",
    "softmax",
    "softmax_vjp",
]
