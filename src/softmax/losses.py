r"""Losses built on the softmax family: cross-entropy, NLL and binary cross-entropy.

Every loss here has PyTorch's semantics (``torch.nn.functional``) for the
arguments PyTorch has, is written once on top of :mod:`softmax.special`
(``log_softmax``, ``softmax``, ``log_sigmoid``, ``sigmoid``), and comes with
its analytic gradient (``*_grad``).  The conventions of :mod:`softmax.special`
hold: arrays of any library ``array-api-compat`` supports come back in that
library; float16/bfloat16 are computed in float32 and returned in their own
dtype; ``"sum"`` and ``"mean"`` give 0-d arrays.

Two extensions to PyTorch's arguments:

* ``sample_weight`` multiplies each row's loss (a row is one slice along the
  class axis for the categorical losses, one leading index for the binary
  ones); ``"mean"`` then divides by the total weight, so that an integer
  sample weight is the same as repeating the row.
* The gradients take an optional ``grad_output`` cotangent, which turns them
  into vector-Jacobian products; it is required for ``reduction="none"``.

A term whose coefficient is 0 contributes 0 even where the log-probability is
``-inf`` (the ``0 log 0 = 0`` convention of :func:`softmax.special.entropy`),
where PyTorch gives NaN; this is the only departure from PyTorch's values.

References
----------
.. [1] PyTorch documentation, ``torch.nn.functional.cross_entropy``,
   ``nll_loss``, ``binary_cross_entropy``, ``binary_cross_entropy_with_logits``,
   https://pytorch.org/docs/stable/nn.functional.html
.. [2] C. Szegedy, V. Vanhoucke, S. Ioffe, J. Shlens, Z. Wojna, "Rethinking the
   Inception architecture for computer vision", CVPR (2016) (label smoothing).
"""

from __future__ import annotations

import math
import operator
from collections.abc import Callable
from typing import Any

import numpy as np
from array_api_compat import array_namespace, is_array_api_obj
from array_api_compat import device as _device

from softmax import _kernels
from softmax._array_api import as_float_array, get_namespace, restore_dtype
from softmax.special import _quiet, log_sigmoid, log_softmax, sigmoid, softmax

__all__ = [
    "binary_cross_entropy",
    "binary_cross_entropy_grad",
    "binary_cross_entropy_with_logits",
    "binary_cross_entropy_with_logits_grad",
    "cross_entropy",
    "cross_entropy_grad",
    "nll_loss",
    "nll_loss_grad",
]

_REDUCTIONS = ("none", "sum", "mean")
# PyTorch clamps each log of binary_cross_entropy at -100 so that p = 0 or 1
# gives a large finite loss instead of inf, and its gradient divides by
# max(p (1 - p), 1e-12) for the same reason -- a 1e-12 rounded to float32
# (9.99999996e-13), which we copy so that the gradients agree at p = 0 or 1.
_BCE_LOG_MIN = -100.0
_BCE_GRAD_EPS = float(np.float32(1e-12))


# --------------------------------------------------------------------------- #
# argument checks
# --------------------------------------------------------------------------- #
def _const(xp: Any, value: float, like: Any) -> Any:
    """A 0-d array of ``like``'s dtype and device (strict libraries refuse bare scalars)."""
    return xp.asarray(value, dtype=like.dtype, device=_device(like))


def _shape(a: Any) -> tuple[int, ...]:
    return tuple(int(n) for n in a.shape)


def _size(shape: tuple[int, ...]) -> int:
    return math.prod(shape)


def _check_reduction(reduction: Any) -> str:
    if not isinstance(reduction, str) or reduction not in _REDUCTIONS:
        raise ValueError(f"reduction must be one of 'none', 'sum', 'mean', got {reduction!r}")
    return reduction


def _check_axis(axis: Any, ndim: int, name: str) -> int:
    try:
        a = operator.index(axis)
    except TypeError:
        raise TypeError(f"axis must be an int, got {axis!r}") from None
    if not -ndim <= a < ndim:
        raise ValueError(f"axis {axis!r} is out of bounds for {name} of dimension {ndim}")
    return a % ndim


def _check_label_smoothing(value: Any) -> float:
    try:
        eps = float(value)
    except (TypeError, ValueError):
        raise TypeError(f"label_smoothing must be a real number, got {value!r}") from None
    if not 0.0 <= eps <= 1.0:  # NaN fails too
        raise ValueError(f"label_smoothing must be in [0, 1], got {value!r}")
    return eps


def _check_ignore_index(value: Any) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool):
        raise TypeError(f"ignore_index must be an int or None, got {value!r}")
    try:
        return operator.index(value)
    except TypeError:
        raise TypeError(f"ignore_index must be an int or None, got {value!r}") from None


def _first_bad(xp: Any, values: Any, bad: Any) -> tuple[int, Any]:
    """Flat index and value of the first entry where ``bad`` holds (for error messages)."""
    flat_bad = xp.reshape(bad, (-1,))
    i = int(xp.argmax(xp.astype(flat_bad, xp.int8)))
    v = xp.reshape(values, (-1,))[i]
    return i, (int(v) if xp.isdtype(values.dtype, "integral") else float(v))


def _param(xp: Any, value: Any, like: Any, name: str) -> Any:
    """``value`` as an array of ``like``'s namespace, dtype and device, checked finite >= 0.

    Weights are small parameter arrays, so lists and NumPy arrays are accepted
    next to any library's logits.
    """
    if not (is_array_api_obj(value) and array_namespace(value) is xp):
        value = np.asarray(value)
    try:
        arr = xp.asarray(value, dtype=like.dtype, device=_device(like))
    except (TypeError, ValueError, RuntimeError) as exc:
        raise ValueError(f"{name} must be an array of real numbers, got {value!r}") from exc
    bad = ~((arr >= 0) & xp.isfinite(arr))  # NaN is not >= 0
    if bool(xp.any(bad)):
        i, v = _first_bad(xp, arr, bad)
        raise ValueError(f"{name} must be finite and >= 0, got {v!r} (at flat index {i})")
    return arr


def _grad_output(xp: Any, grad_output: Any, like: Any, reduction: str, shape: tuple) -> Any:
    """The cotangent of the loss: required for "none" (its shape), a scalar otherwise."""
    if grad_output is None:
        if reduction == "none":
            raise ValueError(
                'grad_output is required with reduction="none": the gradient of a '
                f"vector-valued loss needs a cotangent of the loss's shape {shape}"
            )
        return _const(xp, 1.0, like)
    if not (is_array_api_obj(grad_output) and array_namespace(grad_output) is xp):
        grad_output = np.asarray(grad_output)
    g = xp.asarray(grad_output, dtype=like.dtype, device=_device(like))
    want = shape if reduction == "none" else ()
    if _shape(g) != want:
        raise ValueError(
            f"grad_output of shape {_shape(g)} does not match the loss of shape {want} "
            f"(reduction={reduction!r})"
        )
    return g


def _times(xp: Any, coef: Any, value: Any) -> Any:
    """``coef * value``, but 0 where ``coef == 0`` even if ``value`` is infinite."""
    return xp.where(coef == 0, _const(xp, 0.0, value), coef * value)


def _mean_or_sum(xp: Any, loss: Any, reduction: str, denominator: Callable[[], Any]) -> Any:
    if reduction == "none":
        return loss
    total = xp.sum(loss)
    # 0/0 (all rows ignored, or no rows) gives NaN, as PyTorch does.
    out = total if reduction == "sum" else total / denominator()
    # NumPy reductions give scalars; the API promises 0-d arrays.
    return xp.asarray(out)


# --------------------------------------------------------------------------- #
# categorical losses: validated input, class axis moved last
# --------------------------------------------------------------------------- #
class _Categorical:
    """Inputs of cross_entropy / nll_loss and their gradients, validated once.

    ``x`` keeps its layout (so that ``log_softmax(x, axis)`` is bit for bit the
    call the user makes); the per-row arrays (``labels``, ``counted``,
    ``sample_weight``) have the shape of ``x`` without the class axis, and
    ``targets`` is moved to have the classes last.
    """

    def __init__(
        self,
        input: Any,
        target: Any,
        *,
        name: str,
        axis: Any,
        weight: Any,
        ignore_index: Any,
        label_smoothing: Any,
        reduction: Any,
        sample_weight: Any,
        allow_targets: bool,
    ) -> None:
        self.reduction = _check_reduction(reduction)
        self.eps = _check_label_smoothing(label_smoothing)
        ignore_index = _check_ignore_index(ignore_index)
        xp, (x, target) = get_namespace(input, target)
        x, self.out_dtype = as_float_array(xp, x)
        if x.ndim == 0:
            raise ValueError(f"{name} must have a class axis, got a 0-d array")
        self.xp, self.x, self.name = xp, x, name
        self.axis = _check_axis(axis, x.ndim, name)
        shape = _shape(x)
        self.n_classes = k = shape[self.axis]
        self.row_shape = row_shape = shape[: self.axis] + shape[self.axis + 1 :]
        tshape = _shape(target)

        self.labels: Any = None
        self.counted: Any = None
        self.targets: Any = None
        if xp.isdtype(target.dtype, "bool"):
            raise ValueError(
                "target must hold integer class labels or floating probabilities, got dtype bool"
            )
        if xp.isdtype(target.dtype, "integral"):
            if tshape != row_shape:
                raise ValueError(
                    f"target of shape {tshape} (integer class labels) does not match {name} "
                    f"of shape {shape}: expected {row_shape}, the shape without axis {self.axis}"
                )
            labels = xp.astype(target, xp.int64)
            if ignore_index is not None:
                self.counted = labels != ignore_index
            # Two reductions, no temporaries, in the common case that every
            # label is in range; the mask of bad labels only when one is not.
            n_labels = math.prod(row_shape)
            in_range = n_labels == 0 or (int(xp.min(labels)) >= 0 and int(xp.max(labels)) < k)
            if not in_range:
                valid = (labels >= 0) & (labels < k)
                if self.counted is not None:
                    valid = valid | ~self.counted
            if not in_range and bool(xp.any(~valid)):
                _, v = _first_bad(xp, labels, ~valid)
                extra = "" if ignore_index is None else f" (or ignore_index={ignore_index})"
                raise ValueError(
                    f"target holds class label {v}, outside [0, {k}){extra}; n_classes = "
                    f"{name}.shape[{self.axis}] = {k}"
                )
            zero = xp.asarray(0, dtype=xp.int64, device=_device(labels))
            # Ignored rows gather class 0 (always valid) and are masked out afterwards.
            self.labels = labels if self.counted is None else xp.where(self.counted, labels, zero)
        else:
            if tshape == row_shape:
                raise ValueError(
                    f"target has dtype {target.dtype} and the shape {tshape} of class labels: "
                    "cast it to an integer dtype for class labels, or give probability targets "
                    f"of {name}'s shape {shape}"
                )
            if tshape != shape:
                raise ValueError(
                    f"target of shape {tshape} does not match {name} of shape {shape}: expected "
                    f"integer class labels of shape {row_shape} or probabilities of shape {shape}"
                )
            if not allow_targets:
                raise ValueError(
                    f"target must hold integer class labels of shape {row_shape}, got a "
                    f"floating array of {name}'s shape: use cross_entropy for probability targets"
                )
            if ignore_index is not None:
                raise ValueError(
                    f"ignore_index={ignore_index} is only supported with integer class labels, "
                    "not with probability targets"
                )
            t, _ = as_float_array(xp, target)
            t = xp.astype(t, x.dtype)
            bad = ~((t >= 0) & xp.isfinite(t))
            if bool(xp.any(bad)):
                i, v = _first_bad(xp, t, bad)
                raise ValueError(
                    f"target (probabilities) must be finite and >= 0, got {v!r} (at flat index {i})"
                )
            self.targets = self.to_last(t)

        self.weight = None
        if weight is not None:
            w = _param(xp, weight, x, "weight")
            if _shape(w) != (k,):
                raise ValueError(
                    f"weight of shape {_shape(w)} does not match n_classes = {k}: "
                    f"expected shape ({k},)"
                )
            self.weight = w
        self.sample_weight = None
        if sample_weight is not None:
            s = _param(xp, sample_weight, x, "sample_weight")
            if _shape(s) != row_shape:
                raise ValueError(
                    f"sample_weight of shape {_shape(s)} does not match {name} of shape {shape}: "
                    f"expected {row_shape}, the shape without axis {self.axis}"
                )
            self.sample_weight = s

    # -- layout -------------------------------------------------------------
    def to_last(self, a: Any) -> Any:
        last = self.x.ndim - 1
        return a if self.axis == last else self.xp.moveaxis(a, self.axis, last)

    def from_last(self, a: Any) -> Any:
        last = self.x.ndim - 1
        return a if self.axis == last else self.xp.moveaxis(a, last, self.axis)

    def finish(self, a: Any) -> Any:
        return restore_dtype(self.xp, a, self.out_dtype)

    # -- pieces shared by the losses and their gradients ---------------------
    def label_weight(self) -> Any | None:
        """``weight[target]`` per row (None without class weights), no one-hot matrix."""
        if self.weight is None:
            return None
        xp = self.xp
        flat = xp.reshape(self.labels, (-1,))
        return xp.reshape(xp.take(self.weight, flat, axis=0), self.row_shape)

    def class_weight_last(self) -> Any:
        """Class weights shaped to broadcast against a classes-last array."""
        return self.xp.reshape(self.weight, (1,) * (self.x.ndim - 1) + (self.n_classes,))

    def row_factor(self, grad_output: Any) -> Any:
        """Per-row multiplier of the gradient: sample weight * cotangent / denominator."""
        xp = self.xp
        f = grad_output if self.sample_weight is None else self.sample_weight * grad_output
        if self.reduction == "mean":
            f = f / self.denominator()
        f = xp.broadcast_to(f, self.row_shape)
        if self.counted is not None:
            # Ignored rows get an exact zero, as PyTorch's backward does, even
            # when every row is ignored and the denominator is 0.
            f = xp.where(self.counted, f, _const(xp, 0.0, f))
        return f

    def denominator(self) -> Any:
        """What "mean" divides by (see the docstring of :func:`cross_entropy`)."""
        xp, x = self.xp, self.x
        if self.targets is not None:
            if self.sample_weight is None:
                return _const(xp, float(_size(self.row_shape)), x)
            return xp.sum(self.sample_weight)
        w = self.label_weight()
        if w is None and self.sample_weight is None:
            if self.counted is None:
                return _const(xp, float(_size(self.row_shape)), x)
            return xp.sum(xp.astype(self.counted, x.dtype))
        if w is None:
            w = self.sample_weight
        elif self.sample_weight is not None:
            w = w * self.sample_weight
        if self.counted is not None:
            w = xp.where(self.counted, w, _const(xp, 0.0, w))
        return xp.sum(w)

    def loss(self, log_proba: Any) -> Any:
        """The reduced loss from log-probabilities in ``x``'s layout."""
        xp = self.xp
        lp = self.to_last(log_proba)
        if self.targets is None:
            idx = xp.expand_dims(self.labels, axis=-1)
            picked = xp.squeeze(xp.take_along_axis(lp, idx, axis=-1), axis=-1)
            return self.label_loss(picked, lp)
        loss = -xp.sum(_times(xp, self.soft_coef(), lp), axis=-1)
        return self.reduce(loss)

    def label_loss(self, picked: Any, lp: Any = None) -> Any:
        """The reduced loss from the log-probabilities ``picked`` at the labels.

        ``lp`` (all log-probabilities, classes last) is needed only with label
        smoothing.  :func:`cross_entropy`'s fused path hands in ``picked``
        straight from the kernel; every operation after it is the one
        :meth:`loss` does, so both give the same bits.
        """
        xp = self.xp
        k = self.n_classes
        w = self.label_weight()
        nll = -picked if w is None else -_times(xp, w, picked)
        if self.eps == 0:
            loss = nll
        else:
            # PyTorch: (1 - eps) * nll + eps / K * sum_c w_c (-log p_c), both
            # parts with the same denominator.
            terms = lp if self.weight is None else _times(xp, self.class_weight_last(), lp)
            smooth = -xp.sum(terms, axis=-1)
            loss = (self.eps / k) * smooth
            if self.eps < 1:
                loss = (1 - self.eps) * nll + loss
        if self.counted is not None:
            loss = xp.where(self.counted, loss, _const(xp, 0.0, loss))
        return self.reduce(loss)

    def reduce(self, loss: Any) -> Any:
        """Per-row loss -> sample-weighted and reduced, in the caller's dtype."""
        xp = self.xp
        if self.sample_weight is not None:
            loss = _times(xp, self.sample_weight, loss)
        return self.finish(_mean_or_sum(xp, loss, self.reduction, self.denominator))

    def soft_coef(self) -> Any:
        """Smoothed, class-weighted probability targets (classes last)."""
        t = self.targets
        if self.eps > 0:
            t = t * (1 - self.eps) + self.eps / self.n_classes
        return t if self.weight is None else t * self.class_weight_last()

    def coef(self) -> Any:
        """The dense effective target t' with loss = -sum_c t'_c log p_c (classes last).

        Only the gradients use it: their output is dense anyway.
        """
        xp, x = self.xp, self.x
        if self.targets is not None:
            return self.soft_coef()
        classes = xp.arange(self.n_classes, dtype=xp.int64, device=_device(x))
        hit = classes == xp.expand_dims(self.labels, axis=-1)
        w = self.label_weight()
        on = _const(xp, 1.0 - self.eps, x)
        if w is not None:
            on = on * xp.expand_dims(w, axis=-1)
        t = xp.where(hit, on, _const(xp, 0.0, x))
        if self.eps > 0:
            uniform = _const(xp, self.eps / self.n_classes, x)
            t = t + (uniform if self.weight is None else uniform * self.class_weight_last())
        return t


# Parameter descriptions shared by several losses, written once and substituted into their
# docstrings (``%(name)s``), as SciPy's ``doccer`` does.
_DOCS = {
    "axis": r"""axis : int, default -1
        The class axis of the input (``axis=1`` is PyTorch's ``(N, C, d1, ...)``
        layout).""",
    "class_weight": r"""weight : array_like, optional
        Class weights, shape ``(n_classes,)``, finite and >= 0.""",
    "ignore_index": r"""ignore_index : int, optional
        Integer labels equal to it contribute neither to the loss nor to the
        denominator of ``"mean"``; their ``"none"`` loss (and gradient) is 0.
        Not allowed with probability targets.""",
    "categorical_reduction": r"""reduction : {"mean", "sum", "none"}, default "mean"
        ``"none"``: the loss per row (shape of the input without ``axis``);
        ``"sum"``: its sum; ``"mean"``: its weighted mean (see above).""",
    "row_weight": r"""sample_weight : array_like, optional
        Weight of each row, shape of the input without ``axis``, finite and >= 0.""",
    "loss_returns": r"""Returns
    -------
    loss : array
        0-d for ``"sum"`` and ``"mean"``; library and floating dtype of the input.""",
    "elementwise_weight": r"""weight : array_like, optional
        Elementwise weights, broadcast to the input's shape (as in PyTorch),
        finite and >= 0.""",
    "binary_reduction": r"""reduction : {"mean", "sum", "none"}, default "mean"
        ``"none"``: the elementwise loss; ``"sum"``: its sum; ``"mean"``: its
        mean over all elements, or with ``sample_weight``
        :math:`\sum_{ij} s_i \ell_{ij} / (n_\text{labels} \sum_i s_i)`.""",
    "binary_sample_weight": r"""sample_weight : array_like, optional
        One weight per row, shape ``(n_samples,)`` = the input's leading axis,
        finite and >= 0; broadcast over the other axes (the labels).""",
}


def _doc(func: Callable[..., Any]) -> Callable[..., Any]:
    """Substitute the shared parameter descriptions into ``func``'s docstring."""
    func.__doc__ = func.__doc__ % _DOCS if func.__doc__ else func.__doc__
    return func


@_quiet
@_doc
def cross_entropy(
    logits: Any,
    target: Any,
    *,
    axis: int = -1,
    weight: Any = None,
    ignore_index: int | None = None,
    label_smoothing: float = 0.0,
    reduction: str = "mean",
    sample_weight: Any = None,
) -> Any:
    r"""Cross-entropy, :math:`\ell_n = -\sum_c t'_{nc} \log \operatorname{softmax}(z_n)_c`.

    The semantics are those of ``torch.nn.functional.cross_entropy`` [1]_,
    plus ``sample_weight``.  With :math:`w` the class weights (1 without
    ``weight``), :math:`s` the sample weights (1 without ``sample_weight``),
    :math:`\varepsilon` = ``label_smoothing`` and :math:`K` = n_classes:

    * **Integer class labels** :math:`y` (``target`` of the logits' shape
      without ``axis``, integer dtype):
      :math:`\ell_n = s_n\,[(1-\varepsilon)\, w_{y_n}(-\log p_{n y_n})
      + \tfrac{\varepsilon}{K}\sum_c w_c (-\log p_{nc})]`, 0 for ignored rows.
      ``"mean"`` divides the sum by :math:`\sum_n s_n w_{y_n}` over the rows not
      ignored (PyTorch's weighted mean, also with smoothing).  If every row is
      ignored that is 0/0 and the mean is NaN, as in PyTorch.
    * **Probability targets** :math:`t` (``target`` of the logits' shape,
      floating dtype, entries >= 0, rows not required to sum to 1):
      :math:`\ell_n = -s_n \sum_c w_c\,((1-\varepsilon) t_{nc} + \varepsilon/K)
      \log p_{nc}`; ``"mean"`` divides by :math:`\sum_n s_n` (the number of
      rows without ``sample_weight``), *not* by the class weights, as in PyTorch.

    Label smoothing [2]_ replaces the target by a mix with the uniform
    distribution; with class weights the uniform part is class-weighted too.
    A floating ``target`` with the shape of class labels is refused (cast it
    to int): it would otherwise be silently truncated.  Integer labels are
    gathered (``take_along_axis``), never expanded into a one-hot matrix; for
    C-contiguous float32/float64 NumPy logits with the classes last, a fused
    kernel computes the log-probabilities at the labels only (the same bits).

    Parameters
    ----------
    logits : array_like
        Unnormalised log-probabilities, at least 1-D.
    target : array_like
        Integer class labels or probability targets, see above.
    %(axis)s
    %(class_weight)s
    %(ignore_index)s
    label_smoothing : float, default 0.0
        :math:`\varepsilon \in [0, 1]`.
    %(categorical_reduction)s
    %(row_weight)s

    %(loss_returns)s

    Raises
    ------
    ValueError
        Naming the argument and value: a label outside ``[0, n_classes)`` (other
        than ``ignore_index``), a negative or non-finite weight, sample weight or
        probability target, mismatched shapes, an unknown ``reduction``,
        ``label_smoothing`` outside [0, 1], ``ignore_index`` with probability
        targets, a floating target of the labels' shape.

    Examples
    --------
    >>> import softmax
    >>> round(float(softmax.cross_entropy([[0.0, 0.0]], [1])), 6)  # log 2
    0.693147
    """
    prep = _Categorical(
        logits,
        target,
        name="logits",
        axis=axis,
        weight=weight,
        ignore_index=ignore_index,
        label_smoothing=label_smoothing,
        reduction=reduction,
        sample_weight=sample_weight,
        allow_targets=True,
    )
    if prep.targets is None and prep.eps == 0:
        # Fused path (NumPy float32/float64, C-contiguous, classes last): the
        # kernel gives log_softmax at the labels only, the same bits as the
        # gather below, without the n_classes-wide array.
        picked = _kernels.log_softmax_picked(prep.x, prep.axis, prep.labels)
        if picked is not None:
            return prep.label_loss(picked)
    return prep.loss(log_softmax(prep.x, axis=prep.axis))


@_quiet
def cross_entropy_grad(
    logits: Any,
    target: Any,
    *,
    axis: int = -1,
    weight: Any = None,
    ignore_index: int | None = None,
    label_smoothing: float = 0.0,
    reduction: str = "mean",
    sample_weight: Any = None,
    grad_output: Any = None,
) -> Any:
    r"""Gradient of :func:`cross_entropy` in ``logits``, :math:`(p \sum_c t'_c - t')\, s / D`.

    :math:`t'` is the effective (smoothed, class-weighted) target of each row,
    :math:`p` = ``softmax(logits, axis)``, :math:`s` the sample weight and
    :math:`D` the denominator of ``"mean"`` (1 for ``"sum"``), all as in
    :func:`cross_entropy`; ignored rows get 0 (also when all are, where the
    mean itself is NaN: PyTorch's backward does the same).

    Parameters
    ----------
    logits, target, axis, weight, ignore_index, label_smoothing, reduction, sample_weight
        As in :func:`cross_entropy`.
    grad_output : array_like, optional
        The cotangent :math:`\partial L / \partial \ell` of the loss: a scalar
        for ``"sum"`` and ``"mean"`` (default 1), an array of the unreduced
        loss's shape for ``"none"`` (required there: the gradient of a vector
        is not defined without one).  The result is then the vector-Jacobian
        product, what ``loss.backward(grad_output)`` gives in PyTorch.

    Returns
    -------
    grad : array
        Same shape, library and dtype as ``logits``.

    Raises
    ------
    ValueError
        As :func:`cross_entropy`; ``grad_output`` missing for ``"none"`` or of
        the wrong shape.
    """
    prep = _Categorical(
        logits,
        target,
        name="logits",
        axis=axis,
        weight=weight,
        ignore_index=ignore_index,
        label_smoothing=label_smoothing,
        reduction=reduction,
        sample_weight=sample_weight,
        allow_targets=True,
    )
    xp = prep.xp
    g = _grad_output(xp, grad_output, prep.x, prep.reduction, prep.row_shape)
    p = prep.to_last(softmax(prep.x, axis=prep.axis))
    t = prep.coef()
    total = xp.sum(t, axis=-1, keepdims=True)
    grad = (p * total - t) * xp.expand_dims(prep.row_factor(g), axis=-1)
    return prep.finish(prep.from_last(grad))


@_quiet
@_doc
def nll_loss(
    log_probs: Any,
    target: Any,
    *,
    axis: int = -1,
    weight: Any = None,
    ignore_index: int | None = None,
    reduction: str = "mean",
    sample_weight: Any = None,
) -> Any:
    r"""Negative log-likelihood, :math:`\ell_n = -s_n w_{y_n} \log p_{n y_n}`.

    ``torch.nn.functional.nll_loss`` [1]_ plus ``sample_weight``: integer
    labels only, ``"mean"`` divides by :math:`\sum_n s_n w_{y_n}` over the rows
    not ignored (NaN if every row is ignored, as in PyTorch).
    ``cross_entropy(z, y)`` is bit for bit ``nll_loss(log_softmax(z, axis), y)``:
    both run the same code.

    Parameters
    ----------
    log_probs : array_like
        Log-probabilities, e.g. the output of :func:`softmax.log_softmax`; they
        are not checked or renormalised.
    target : array_like of int
        Class labels, the shape of ``log_probs`` without ``axis``.
    %(axis)s
    %(class_weight)s
    %(ignore_index)s
    %(categorical_reduction)s
    %(row_weight)s

    %(loss_returns)s

    Raises
    ------
    ValueError
        Naming the argument and value: a label outside ``[0, n_classes)`` (other
        than ``ignore_index``), a floating ``target``, a negative or non-finite
        weight or sample weight, mismatched shapes, an unknown ``reduction``.
    """
    prep = _Categorical(
        log_probs,
        target,
        name="log_probs",
        axis=axis,
        weight=weight,
        ignore_index=ignore_index,
        label_smoothing=0.0,
        reduction=reduction,
        sample_weight=sample_weight,
        allow_targets=False,
    )
    return prep.loss(prep.x)


@_quiet
def nll_loss_grad(
    log_probs: Any,
    target: Any,
    *,
    axis: int = -1,
    weight: Any = None,
    ignore_index: int | None = None,
    reduction: str = "mean",
    sample_weight: Any = None,
    grad_output: Any = None,
) -> Any:
    r"""Gradient of :func:`nll_loss`: :math:`-s_n w_{y_n} / D` at the label, 0 elsewhere.

    ``grad_output`` as in :func:`cross_entropy_grad`.  Returns an array of
    ``log_probs``' shape, library and dtype.
    """
    prep = _Categorical(
        log_probs,
        target,
        name="log_probs",
        axis=axis,
        weight=weight,
        ignore_index=ignore_index,
        label_smoothing=0.0,
        reduction=reduction,
        sample_weight=sample_weight,
        allow_targets=False,
    )
    xp = prep.xp
    g = _grad_output(xp, grad_output, prep.x, prep.reduction, prep.row_shape)
    grad = -prep.coef() * xp.expand_dims(prep.row_factor(g), axis=-1)
    return prep.finish(prep.from_last(grad))


# --------------------------------------------------------------------------- #
# binary losses: elementwise, rows along the leading axis
# --------------------------------------------------------------------------- #
class _Binary:
    """Inputs of the binary cross-entropies and their gradients, validated once."""

    def __init__(
        self,
        input: Any,
        target: Any,
        *,
        name: str,
        weight: Any,
        pos_weight: Any,
        reduction: Any,
        sample_weight: Any,
    ) -> None:
        self.reduction = _check_reduction(reduction)
        xp, (x, target) = get_namespace(input, target)
        x, self.out_dtype = as_float_array(xp, x)
        self.xp, self.x = xp, x
        self.shape = shape = _shape(x)
        if _shape(target) != shape:
            raise ValueError(
                f"target of shape {_shape(target)} does not match {name} of shape {shape}"
            )
        t, _ = as_float_array(xp, target)
        t = xp.astype(t, x.dtype)
        bad = ~((t >= 0) & (t <= 1))  # NaN fails too
        if bool(xp.any(bad)):
            i, v = _first_bad(xp, t, bad)
            raise ValueError(f"target must be in [0, 1], got {v!r} (at flat index {i})")
        self.t = t
        self.weight = self._broadcast(weight, "weight")
        self.pos_weight = self._broadcast(pos_weight, "pos_weight")
        self.sample_weight = None
        self.n_labels = _size(shape[1:])
        if sample_weight is not None:
            s = _param(xp, sample_weight, x, "sample_weight")
            if _shape(s) != shape[:1]:
                raise ValueError(
                    f"sample_weight of shape {_shape(s)} does not match {name} of shape "
                    f"{shape}: expected {shape[:1]}, one weight per row"
                )
            self.sample_weight = xp.reshape(s, shape[:1] + (1,) * (len(shape) - 1))

    def _broadcast(self, value: Any, name: str) -> Any:
        if value is None:
            return None
        xp = self.xp
        w = _param(xp, value, self.x, name)
        try:
            return xp.broadcast_to(w, self.shape)
        except (ValueError, RuntimeError, TypeError):
            raise ValueError(
                f"{name} of shape {_shape(w)} does not broadcast to shape {self.shape}"
            ) from None

    def check_probs(self) -> None:
        xp, x = self.xp, self.x
        bad = ~((x >= 0) & (x <= 1))
        if bool(xp.any(bad)):
            i, v = _first_bad(xp, x, bad)
            raise ValueError(f"probs must be in [0, 1], got {v!r} (at flat index {i})")

    def denominator(self) -> Any:
        xp, x = self.xp, self.x
        if self.sample_weight is None:
            return _const(xp, float(_size(self.shape)), x)
        return xp.sum(self.sample_weight) * self.n_labels

    def weighted(self, values: Any) -> Any:
        """Elementwise loss times ``weight`` and ``sample_weight``."""
        if self.weight is not None:
            values = self.weight * values
        if self.sample_weight is not None:
            values = self.sample_weight * values
        return values

    def reduce(self, loss: Any) -> Any:
        loss = self.weighted(loss)
        out = _mean_or_sum(self.xp, loss, self.reduction, self.denominator)
        return restore_dtype(self.xp, out, self.out_dtype)

    def chain(self, local: Any, grad_output: Any) -> Any:
        """Turn the elementwise derivative into the gradient of the reduced loss."""
        xp = self.xp
        g = _grad_output(xp, grad_output, self.x, self.reduction, self.shape)
        if self.reduction == "mean":
            g = g / self.denominator()
        return restore_dtype(xp, self.weighted(local) * g, self.out_dtype)


@_quiet
@_doc
def binary_cross_entropy(
    probs: Any,
    target: Any,
    *,
    weight: Any = None,
    reduction: str = "mean",
    sample_weight: Any = None,
) -> Any:
    r"""Binary cross-entropy, :math:`\ell = -w\,[t \log p + (1 - t) \log(1 - p)]`, elementwise.

    ``torch.nn.functional.binary_cross_entropy`` [1]_ plus ``sample_weight``:
    each log is clamped at -100, so ``p = 0`` or ``1`` gives a finite loss of
    at most 100 (times the weights).  Works for binary (``(n_samples,)``) and
    multi-label (``(n_samples, n_labels)``) input alike.  ``log(1 - p)`` is
    taken as ``log1p(-p)``.  For logits prefer
    :func:`binary_cross_entropy_with_logits`, which neither clamps nor loses
    digits in ``1 - p``.

    Parameters
    ----------
    probs : array_like
        Probabilities in [0, 1].
    target : array_like
        Targets in [0, 1], same shape as ``probs`` (soft labels allowed).
    %(elementwise_weight)s
    %(binary_reduction)s
    %(binary_sample_weight)s

    %(loss_returns)s

    Raises
    ------
    ValueError
        Naming the argument and value: ``probs`` or ``target`` outside [0, 1], a negative or
        non-finite weight, mismatched shapes, an unknown ``reduction``.
    """
    prep = _Binary(
        probs,
        target,
        name="probs",
        weight=weight,
        pos_weight=None,
        reduction=reduction,
        sample_weight=sample_weight,
    )
    prep.check_probs()
    xp, p, t = prep.xp, prep.x, prep.t
    floor = _const(xp, _BCE_LOG_MIN, p)
    log_p = xp.maximum(xp.log(p), floor)
    log_q = xp.maximum(xp.log1p(-p), floor)
    return prep.reduce(-(t * log_p + (1 - t) * log_q))


@_quiet
def binary_cross_entropy_grad(
    probs: Any,
    target: Any,
    *,
    weight: Any = None,
    reduction: str = "mean",
    sample_weight: Any = None,
    grad_output: Any = None,
) -> Any:
    r"""Gradient of :func:`binary_cross_entropy`, :math:`w (p - t) / \max(p(1-p), 10^{-12})`.

    PyTorch's formula (its backward ignores the clamp of the logs and bounds
    the denominator instead), times the sample weight and divided by the
    denominator of ``"mean"``.  ``grad_output`` as in
    :func:`cross_entropy_grad` (elementwise shape for ``"none"``).
    """
    prep = _Binary(
        probs,
        target,
        name="probs",
        weight=weight,
        pos_weight=None,
        reduction=reduction,
        sample_weight=sample_weight,
    )
    prep.check_probs()
    xp, p, t = prep.xp, prep.x, prep.t
    local = (p - t) / xp.maximum(p * (1 - p), _const(xp, _BCE_GRAD_EPS, p))
    return prep.chain(local, grad_output)


@_quiet
@_doc
def binary_cross_entropy_with_logits(
    logits: Any,
    target: Any,
    *,
    weight: Any = None,
    pos_weight: Any = None,
    reduction: str = "mean",
    sample_weight: Any = None,
) -> Any:
    r"""BCE of sigmoid, :math:`\ell = w[(1-t)\,\mathrm{sp}(z) + \mathrm{pw}\,t\,\mathrm{sp}(-z)]`.

    ``torch.nn.functional.binary_cross_entropy_with_logits`` [1]_ plus
    ``sample_weight``, with :math:`\mathrm{sp}` = softplus.  PyTorch writes it as
    :math:`(1-t) z + (1 + (\mathrm{pw}-1) t) \operatorname{softplus}(-z)`,
    which is the same function; the form above, with
    :math:`\operatorname{softplus}(\pm z) = -\log\sigma(\mp z)` from
    :func:`softmax.log_sigmoid`, never overflows (finite for
    :math:`|z| = 10^4` and beyond) and does not cancel when the loss is tiny.

    Parameters
    ----------
    logits : array_like
        Logits, any shape.
    target : array_like
        Targets in [0, 1], same shape as ``logits``.
    pos_weight : array_like, optional
        Weight of the positive term, broadcast against the input like NumPy
        (a ``(n_labels,)`` array weights each label, i.e. the last axis),
        finite and >= 0.
    %(elementwise_weight)s
    %(binary_reduction)s
    %(binary_sample_weight)s

    %(loss_returns)s

    Raises
    ------
    ValueError
        Naming the argument and value: ``target`` outside [0, 1], a negative or
        non-finite weight, mismatched shapes, an unknown ``reduction``.
    """
    prep = _Binary(
        logits,
        target,
        name="logits",
        weight=weight,
        pos_weight=pos_weight,
        reduction=reduction,
        sample_weight=sample_weight,
    )
    xp, z, t = prep.xp, prep.x, prep.t
    pos = t if prep.pos_weight is None else prep.pos_weight * t
    # _times: a zero coefficient drops its term even at z = -+inf (no 0 * inf).
    loss = -(_times(xp, pos, log_sigmoid(z)) + _times(xp, 1 - t, log_sigmoid(-z)))
    return prep.reduce(loss)


@_quiet
def binary_cross_entropy_with_logits_grad(
    logits: Any,
    target: Any,
    *,
    weight: Any = None,
    pos_weight: Any = None,
    reduction: str = "mean",
    sample_weight: Any = None,
    grad_output: Any = None,
) -> Any:
    r"""Gradient of BCE with logits, :math:`w[\sigma(z)(1 + (\mathrm{pw}-1)t) - \mathrm{pw}\,t]`.

    Computed as the equal :math:`(1-t)\sigma(z) - \mathrm{pw}\,t\,\sigma(-z)`,
    which keeps its digits when :math:`\sigma(z) \approx t`; times the sample
    weight and divided by the denominator of ``"mean"``.  ``grad_output`` as in
    :func:`cross_entropy_grad` (elementwise shape for ``"none"``).
    """
    prep = _Binary(
        logits,
        target,
        name="logits",
        weight=weight,
        pos_weight=pos_weight,
        reduction=reduction,
        sample_weight=sample_weight,
    )
    z, t = prep.x, prep.t
    pos = t if prep.pos_weight is None else prep.pos_weight * t
    local = (1 - t) * sigmoid(z) - pos * sigmoid(-z)
    return prep.chain(local, grad_output)
