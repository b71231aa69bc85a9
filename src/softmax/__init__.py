"""softmax: the softmax function family, its losses, and softmax regression.

The public API is the list in ``__all__``; everything else is private.
"""

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
    "entropy",
    "kl_divergence",
    "log_sigmoid",
    "log_softmax",
    "log_softmax_vjp",
    "logsumexp",
    "sigmoid",
    "softmax",
    "softmax_vjp",
]
