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

# The estimators pull in scikit-learn (about half a second); they are loaded on
# first use so that `import softmax` for the functions alone stays fast.
_LAZY = {
    "RegularizationPath": "softmax.estimators",
    "SeparationWarning": "softmax.estimators",
    "SoftmaxRegression": "softmax.estimators",
    "SoftmaxRegressionCV": "softmax.estimators",
    "regularization_path": "softmax.estimators",
}


def __getattr__(name: str) -> object:
    if name in _LAZY:
        import importlib

        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'softmax' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))


__all__ = [
    "RegularizationPath",
    "SeparationWarning",
    "SoftmaxRegression",
    "SoftmaxRegressionCV",
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
    "regularization_path",
    "sigmoid",
    "softmax",
    "softmax_vjp",
]
