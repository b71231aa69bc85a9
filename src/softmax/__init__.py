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
    "Chunks": "softmax.backends._iterator",
    "ModelFileError": "softmax.io",
    "MultiLabelLogisticRegression": "softmax.estimators",
    "RegularizationPath": "softmax.estimators",
    "SeparationWarning": "softmax.estimators",
    "SoftmaxRegression": "softmax.estimators",
    "SoftmaxRegressionCV": "softmax.estimators",
    "TemperatureScaling": "softmax.estimators",
    "load": "softmax.io",
    "regularization_path": "softmax.estimators",
    "save": "softmax.io",
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
    "Chunks",
    "ModelFileError",
    "MultiLabelLogisticRegression",
    "RegularizationPath",
    "SeparationWarning",
    "SoftmaxRegression",
    "SoftmaxRegressionCV",
    "TemperatureScaling",
    "__version__",
    "binary_cross_entropy",
    "binary_cross_entropy_grad",
    "binary_cross_entropy_with_logits",
    "binary_cross_entropy_with_logits_grad",
    "cross_entropy",
    "cross_entropy_grad",
    "entropy",
    "kl_divergence",
    "load",
    "log_sigmoid",
    "log_softmax",
    "log_softmax_vjp",
    "logsumexp",
    "nll_loss",
    "nll_loss_grad",
    "regularization_path",
    "save",
    "sigmoid",
    "softmax",
    "softmax_vjp",
]
