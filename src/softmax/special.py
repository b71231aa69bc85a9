"""The softmax family: softmax, log_softmax, logsumexp, sigmoid, log_sigmoid, entropy, KL.

Every function here is numerically stable for any input and follows one set of
conventions (``docs/math.md`` derives each formula):

* **Any array library.**  Arrays of NumPy, PyTorch, CuPy, JAX, array-api-strict
  and everything else ``array-api-compat`` supports come back as arrays of the
  same library on the same device; lists and scalars are NumPy input.
* **dtype.**  float32 -> float32, float64 -> float64, float16/bfloat16 computed
  in float32 and returned in their own dtype, integer and bool -> float64.
* **Edge cases have defined results, never a NaN the input did not contain.**
  ``-inf`` entries get probability 0; a row that is entirely ``-inf`` (or
  entirely masked by ``where``) has softmax 0, log_softmax ``-inf``, logsumexp
  ``-inf`` and entropy 0; ``+inf`` entries share the probability equally (the
  limit of the finite case); a NaN spreads to its own row (the slice reduced
  over) and nowhere else; zero-length axes and 0-d input are accepted.
* **Accuracy.**  The max-shift ``z - max(z)`` makes the exponentials
  overflow-free; its rounding error is recovered exactly (TwoSum) and fed back
  as ``exp(d) * (1 + err)``, and ``log(sum)`` is taken as ``log1p`` of the
  non-maximal terms, so float64 results are within a few ulp of an
  exact-arithmetic reference even on large spreads and near-ties.  A
  temperature divides the shifted logits ``(x - m) / T`` (never ``x / T``, which
  could overflow distinct logits into ties); that one division is not
  compensated, so for ``T != 1`` the bound grows to about ``|x - m| / T`` ulp.

References
----------
.. [1] P. Blanchard, D. J. Higham, N. J. Higham, "Accurately computing the
   log-sum-exp and softmax functions", IMA J. Numer. Anal. 41 (2021).
.. [2] J. S. Bridle, "Probabilistic interpretation of feedforward
   classification network outputs", Neurocomputing (1990).
"""

from __future__ import annotations

import functools
import math
import operator
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import numpy as np
from array_api_compat import device as _device

from softmax import _kernels
from softmax._array_api import as_float_array, get_namespace, restore_dtype

__all__ = [
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

Axis = int | Sequence[int] | None
_F = TypeVar("_F", bound=Callable[..., Any])


def _quiet(func: _F) -> _F:
    """Silence NumPy's floating-point warnings: every inf/NaN here is intended and handled."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        with np.errstate(all="ignore"):
            return func(*args, **kwargs)

    return wrapper  # type: ignore[return-value]


# --------------------------------------------------------------------------- #
# argument handling
# --------------------------------------------------------------------------- #
def _normalize_axis(axis: Axis, ndim: int) -> tuple[int, ...]:
    """Turn ``axis`` (int, tuple of ints or None for all) into sorted non-negative ints."""
    if axis is None:
        return tuple(range(ndim))
    axes = (axis,) if not isinstance(axis, Sequence) else tuple(axis)
    out = []
    for a in axes:
        try:
            a = operator.index(a)
        except TypeError:
            raise TypeError(f"axis must be an int, a tuple of ints or None, got {axis!r}") from None
        if not -ndim <= a < ndim:
            raise ValueError(f"axis {axis!r} is out of bounds for an array of dimension {ndim}")
        out.append(a % ndim)
    if len(set(out)) != len(out):
        raise ValueError(f"axis {axis!r} contains a repeated axis")
    return tuple(sorted(out))


def _check_temperature(temperature: float) -> float:
    # float() would accept "2.0", b"2" and True: a temperature must be a real number.
    bad = isinstance(temperature, (str, bytes, bool, np.bool_)) or (
        isinstance(getattr(temperature, "dtype", None), np.dtype)
        and temperature.dtype.kind not in "iuf"  # type: ignore[attr-defined]
    )
    try:
        if bad:
            raise TypeError
        t = float(temperature)
    except (TypeError, ValueError):
        raise TypeError(f"temperature must be a real number, got {temperature!r}") from None
    if not (t > 0 and math.isfinite(t)):
        raise ValueError(f"temperature must be a finite number > 0, got {temperature!r}")
    return t


def _normal_in(temperature: float, finfo: Any) -> bool:
    """Whether the temperature is a normal number of the computing dtype.

    One that is not (1e-50 or 1e40 in float32) would round to 0 or inf there
    (or lose bits, as a subnormal), and divide the maxima's ``x - m = 0`` into
    0/0 or the ``-inf`` entries into inf/inf: such a division runs in float64.
    """
    return float(finfo.smallest_normal) <= temperature <= float(finfo.max)


def _scalar(xp: Any, value: float, like: Any) -> Any:
    """A 0-d array of ``like``'s dtype and device (``where`` needs arrays in strict libraries)."""
    return xp.asarray(value, dtype=like.dtype, device=_device(like))


class _Prepared:
    """The input of a reduction-shaped call, validated and cast once."""

    __slots__ = ("axes", "empty", "out_dtype", "scalar_input", "temperature", "x", "xp")

    def __init__(
        self,
        x: Any,
        axis: Axis,
        temperature: float = 1.0,
        where: Any = None,
        b: Any = None,
    ) -> None:
        xp, (x, where) = get_namespace(x, where)
        x, self.out_dtype = as_float_array(xp, x)
        self.scalar_input = x.ndim == 0
        if self.scalar_input:
            # A 0-d input is a vector of length one: softmax -> 1, logsumexp -> x.
            x = xp.reshape(x, (1,))
            axis = -1 if axis is None or axis in (0, -1, (0,), (-1,)) else axis
        self.axes = _normalize_axis(axis, x.ndim)
        # The division by the temperature happens after the max-shift (see _shift):
        # x / T first would overflow distinct large logits into tied +inf ones.
        self.temperature = _check_temperature(temperature)
        if where is not None:
            where = xp.asarray(where)
            if where.dtype != xp.bool:
                raise TypeError(f"where must be a boolean array, got dtype {where.dtype}")
            try:
                where = xp.broadcast_to(where, x.shape)
            except (ValueError, RuntimeError):
                raise ValueError(
                    f"where of shape {tuple(where.shape)} does not broadcast to "
                    f"x of shape {tuple(x.shape)}"
                ) from None
            # Masked entries leave the normalisation: exactly what -inf does.
            x = xp.where(where, x, _scalar(xp, -math.inf, x))
        self.xp, self.x = xp, x
        self.empty = any(x.shape[a] == 0 for a in self.axes)

    def finish(self, result: Any, reduced: bool = False, keepdims: bool = False) -> Any:
        xp = self.xp
        result = restore_dtype(xp, result, self.out_dtype)
        if self.scalar_input:
            return xp.reshape(result, ())
        if reduced and not keepdims:
            result = xp.squeeze(result, axis=self.axes)
        return result


def _check_cotangent(xp: Any, v: Any, like: Any) -> Any:
    """The cotangent of a VJP: a real array of exactly the primal output's shape."""
    v, _ = as_float_array(xp, v)
    if tuple(v.shape) != tuple(like.shape):
        raise ValueError(
            f"cotangent of shape {tuple(v.shape)} does not match the shape "
            f"{tuple(like.shape)} of the softmax output"
        )
    return v


def _reduced_shape(shape: tuple[int, ...], axes: tuple[int, ...]) -> tuple[int, ...]:
    return tuple(1 if i in axes else n for i, n in enumerate(shape))


# --------------------------------------------------------------------------- #
# the shared kernel: compensated max-shift
# --------------------------------------------------------------------------- #
def _shift(
    xp: Any, x: Any, axes: tuple[int, ...], temperature: float = 1.0
) -> tuple[Any, Any, Any]:
    """Return ``(m, d, err)`` with ``d + err == (x - m) / T`` (exactly for ``T == 1``).

    ``m`` is the max over ``axes`` (keepdims).  Rows whose max is not finite are
    shifted by 0 instead, so that an all ``-inf`` row stays ``-inf`` (not NaN);
    rows with a ``+inf`` entry are replaced by their limit: 0 at the ``+inf``
    entries, ``-inf`` elsewhere, so the probability is shared equally among them.

    Dividing the shifted ``x - m <= 0`` by ``T`` (rather than ``x`` before the
    shift) cannot overflow into spurious ties, keeps the maxima at exactly 0 and
    sends ``T -> 0`` to the one-hot argmax.
    """
    m = xp.max(x, axis=axes, keepdims=True)
    finite_max = xp.isfinite(m)
    zero = _scalar(xp, 0.0, x)
    shift = xp.where(finite_max, m, zero)
    d = x - shift
    # TwoSum (Knuth / Moller): the exact rounding error of d = x + (-shift).
    # fl(x - m) is off by up to |x - m| * eps, i.e. up to 745 eps, which exp
    # turns into a relative error of the same size; feeding err back removes it.
    virtual = d - x
    err = (x - (d - virtual)) + (-shift - virtual)
    err = xp.where(xp.isfinite(d), err, zero)
    pos_inf_row = m == math.inf
    if bool(xp.any(pos_inf_row)):
        d = xp.where(pos_inf_row, xp.where(x == math.inf, zero, _scalar(xp, -math.inf, x)), d)
    if temperature != 1.0:
        if _normal_in(temperature, xp.finfo(d.dtype)):
            d, err = d / temperature, err / temperature
        else:  # in float64, rounded once: the exact limits (-inf, 0, ties shared)
            wide = xp.float64
            d = xp.astype(xp.astype(d, wide) / temperature, d.dtype)
            err = xp.astype(xp.astype(err, wide) / temperature, d.dtype)
        err = xp.where(xp.isfinite(d), err, zero)
    return m, d, err


def _exp_and_logsum(
    xp: Any, d: Any, err: Any, axes: tuple[int, ...], need_log: bool
) -> tuple[Any, Any, Any | None]:
    """``e = exp(d + err)``, ``s = sum(e)`` and, if asked, an accurate ``log(s)``.

    The maxima of the row contribute exactly 1 each (``d == 0``, ``err == 0``),
    so ``s = c + r`` with ``c`` the number of maxima and ``r`` the rest;
    ``log(s) = log1p((c - 1) + r)`` keeps the digits of a tiny ``r`` that
    ``log(1 + r)`` would round away.  ``log(s)`` of an all ``-inf`` row is
    ``log1p(-1) = -inf``.
    """
    e = xp.exp(d)
    e = e + e * err
    s = xp.sum(e, axis=axes, keepdims=True)
    if not need_log:
        return e, s, None
    is_max = d == 0
    zero = _scalar(xp, 0.0, e)
    rest = xp.sum(xp.where(is_max, zero, e), axis=axes, keepdims=True)
    count = xp.sum(xp.astype(is_max, e.dtype), axis=axes, keepdims=True)
    return e, s, xp.log1p((count - 1) + rest)


# --------------------------------------------------------------------------- #
# public functions
# --------------------------------------------------------------------------- #
@_quiet
def softmax(x: Any, axis: Axis = -1, *, temperature: float = 1.0, where: Any = None) -> Any:
    r"""Softmax, :math:`\sigma(x)_i = e^{x_i/T} / \sum_j e^{x_j/T}`, along ``axis``.

    Parameters
    ----------
    x : array_like
        Logits.  Any array of a library supported by ``array-api-compat``.
    axis : int, tuple of int or None, default -1
        Axis or axes normalised over (None: all of them).
    temperature : float, default 1.0
        :math:`T > 0`; small values sharpen towards one-hot argmax, large values
        flatten towards uniform.
    where : array_like of bool, optional
        Entries that take part; masked entries get probability 0 and do not
        enter the normalisation.

    Returns
    -------
    proba : array
        Same shape, library, device and (floating) dtype as ``x``; each slice
        along ``axis`` sums to 1, or is all zeros if every entry of it is
        ``-inf`` or masked.

    Raises
    ------
    ValueError
        ``temperature`` not a finite number > 0, ``axis`` out of range, ``where``
        not broadcastable.
    TypeError
        Complex or object input, non-boolean ``where``.

    Examples
    --------
    >>> import softmax
    >>> softmax.softmax([1.0, 2.0, 3.0]).round(4).tolist()
    [0.09, 0.2447, 0.6652]
    >>> softmax.softmax([0.0, float("inf"), float("inf")]).tolist()
    [0.0, 0.5, 0.5]
    """
    t = _check_temperature(temperature)
    if where is None and _kernels.applies(x, axis) and _normal_in(t, np.finfo(x.dtype)):
        return _kernels.softmax(x, t)
    prep = _Prepared(x, axis, temperature, where)
    xp, x = prep.xp, prep.x
    if prep.empty:
        return prep.finish(xp.zeros_like(x))
    _, d, err = _shift(xp, x, prep.axes, prep.temperature)
    e, s, _ = _exp_and_logsum(xp, d, err, prep.axes, need_log=False)
    # An all -inf row has s == 0: dividing by 1 instead gives zeros, not 0/0.
    s = xp.where(s == 0, _scalar(xp, 1.0, s), s)
    return prep.finish(e / s)


@_quiet
def log_softmax(x: Any, axis: Axis = -1, *, temperature: float = 1.0, where: Any = None) -> Any:
    r"""Log-softmax, :math:`x_i/T - \operatorname{logsumexp}(x/T)`, along ``axis``.

    Exact where ``log(softmax(x))`` underflows: ``log_softmax([0, -1000])`` is
    ``[0, -1000]``, not ``[0, -inf]``.  Parameters as in :func:`softmax`.

    Returns
    -------
    log_proba : array
        Same shape, library, device and floating dtype as ``x``.  Entries that
        are ``-inf`` or masked give ``-inf``; an all ``-inf`` row gives ``-inf``.

    Examples
    --------
    >>> import softmax
    >>> softmax.log_softmax([0.0, -1000.0]).tolist()
    [0.0, -1000.0]
    """
    t = _check_temperature(temperature)
    if where is None and _kernels.applies(x, axis) and _normal_in(t, np.finfo(x.dtype)):
        return _kernels.log_softmax(x, t)
    prep = _Prepared(x, axis, temperature, where)
    xp, x = prep.xp, prep.x
    if prep.empty:
        return prep.finish(xp.zeros_like(x))
    _, d, err = _shift(xp, x, prep.axes, prep.temperature)
    _, _, log_s = _exp_and_logsum(xp, d, err, prep.axes, need_log=True)
    # All -inf row: log_s == -inf; subtracting 0 keeps d == -inf instead of NaN.
    log_s = xp.where(log_s == -math.inf, _scalar(xp, 0.0, log_s), log_s)
    return prep.finish((d - log_s) + err)


def _weighted_log_sum(xp: Any, d: Any, err: Any, b: Any, axes: tuple[int, ...]) -> tuple[Any, Any]:
    """``(log|s|, sign(s))`` of ``s = sum(b * exp(d + err))`` over ``axes`` (keepdims).

    As without weights, the maxima (``d == 0``, ``e == 1`` exactly) are taken
    apart: with ``B`` their summed weights and ``r`` the rest of the sum over
    ``B``, ``log|s| = log|B| + log|1 + r|`` and ``log|1 + r|`` is ``log1p(r)``
    (``r > -1``): exact where ``s`` is close to ``B``, where ``log(s)`` keeps
    only the rounding of ``s`` (``logsumexp([0, -40], b=[1, 1])`` is
    ``4.2e-18``, not 0; SciPy does the same).  Where the maxima's weights
    cancel (``B == 0``), ``log|s|`` directly.
    """
    zero, one = _scalar(xp, 0.0, d), _scalar(xp, 1.0, d)
    e = xp.exp(d)
    at_max = d == zero
    B = xp.sum(xp.where(at_max, b, zero), axis=axes, keepdims=True)
    rest = xp.sum(xp.where(at_max, zero, b * (e + e * err)), axis=axes, keepdims=True)
    s = B + rest
    r = rest / xp.where(B == zero, one, B)
    log_1r = xp.where(r > -one, xp.log1p(r), xp.log(-one - r))  # log|1 + r|
    log_s = xp.where(B == zero, xp.log(xp.abs(s)), xp.log(xp.abs(B)) + log_1r)
    return log_s, xp.sign(s)


@_quiet
def logsumexp(
    x: Any,
    axis: Axis = -1,
    *,
    b: Any = None,
    keepdims: bool = False,
    return_sign: bool = False,
    where: Any = None,
) -> Any:
    r"""Log of the sum of exponentials, :math:`\log \sum_j b_j e^{x_j}`, along ``axis``.

    Parameters
    ----------
    x : array_like
        Input values.
    axis : int, tuple of int or None, default -1
        Axis or axes reduced (None: all).
    b : array_like, optional
        Weights (SciPy's ``b``), broadcast together with ``x`` before the
        reduction; entries with ``b == 0`` do not take part, even where ``x``
        is infinite or NaN.
    keepdims : bool, default False
        Keep the reduced axes with length one.
    return_sign : bool, default False
        With ``b`` negative somewhere the sum may be negative: return
        ``(log|sum|, sign)`` instead of NaN for a negative sum.
    where : array_like of bool, optional
        Entries that take part.

    Returns
    -------
    lse : array
        ``-inf`` for an empty, all ``-inf`` or fully masked slice; ``+inf`` if
        the slice holds ``+inf``; NaN only if the slice holds NaN (or, without
        ``return_sign``, if the weighted sum is negative).
    sign : array
        Only with ``return_sign``: the sign of the sum (0 for an empty sum,
        NaN where ``lse`` is NaN).

    Raises
    ------
    ValueError
        ``axis`` out of range, ``b`` or ``where`` not broadcastable.
    TypeError
        Complex or object ``x`` or ``b``, non-boolean ``where``.

    Examples
    --------
    >>> import softmax
    >>> float(softmax.logsumexp([1000.0, 1000.0]))  # 1000 + log 2
    1000.6931471805599
    """
    if b is not None:
        xp, (x, b) = get_namespace(x, b)
        b, _ = as_float_array(xp, b)
        try:
            x, b = xp.broadcast_arrays(x, b)
        except (ValueError, RuntimeError):
            raise ValueError(
                f"b of shape {tuple(b.shape)} does not broadcast with x of shape {tuple(x.shape)}"
            ) from None
    prep = _Prepared(x, axis, where=where)
    xp, x = prep.xp, prep.x
    if b is not None:
        b = xp.reshape(xp.astype(b, x.dtype), x.shape)
        x = xp.where(b == 0, _scalar(xp, -math.inf, x), x)
    if prep.empty:
        shape = _reduced_shape(tuple(x.shape), prep.axes)
        lse = xp.full(shape, -math.inf, dtype=x.dtype, device=_device(x))
        sign = xp.zeros(shape, dtype=x.dtype, device=_device(x))
    else:
        m, d, err = _shift(xp, x, prep.axes)
        if b is None:
            _, _, log_s = _exp_and_logsum(xp, d, err, prep.axes, need_log=True)
            sign = xp.where(log_s == -math.inf, _scalar(xp, 0.0, m), _scalar(xp, 1.0, m))
            sign = xp.where(xp.isnan(log_s), log_s, sign)
        else:
            log_s, sign = _weighted_log_sum(xp, d, err, b, prep.axes)
            if not return_sign:  # the log of a negative sum
                log_s = xp.where(sign < 0, _scalar(xp, math.nan, log_s), log_s)
        # m may be +-inf here (the shift used 0 for those rows): +inf + log(c) = +inf,
        # -inf + log(0) = -inf, as wanted.
        lse = m + log_s
    lse = prep.finish(lse, reduced=True, keepdims=keepdims)
    if return_sign:
        return lse, prep.finish(sign, reduced=True, keepdims=keepdims)
    return lse


@_quiet
def softmax_vjp(proba: Any, cotangent: Any, axis: int = -1) -> Any:
    r"""Vector-Jacobian product of softmax: :math:`p \odot (v - \langle p, v\rangle)`.

    The Jacobian of softmax is :math:`\operatorname{diag}(p) - p p^\top`
    (symmetric), so this is also the Jacobian-vector product.

    Parameters
    ----------
    proba : array
        The output of :func:`softmax` (not the logits).
    cotangent : array
        :math:`v = \partial L / \partial p`, same shape as ``proba``.
    axis : int, default -1
        The axis softmax normalised over.

    Returns
    -------
    array
        :math:`\partial L / \partial x`, same shape, library and dtype as
        the primal output.

    Raises
    ------
    ValueError
        ``cotangent`` of another shape, ``axis`` out of range.
    TypeError
        Complex or object input.
    """
    xp, (p, v) = get_namespace(proba, cotangent)
    p, dtype = as_float_array(xp, p)
    v = xp.astype(_check_cotangent(xp, v, p), p.dtype)
    inner = xp.sum(p * v, axis=axis, keepdims=True)
    return restore_dtype(xp, p * (v - inner), dtype)


@_quiet
def log_softmax_vjp(log_proba: Any, cotangent: Any, axis: int = -1) -> Any:
    r"""Vector-Jacobian product of log_softmax: :math:`v - p \sum_j v_j`.

    Parameters
    ----------
    log_proba : array
        The output of :func:`log_softmax`.
    cotangent : array
        :math:`v = \partial L / \partial \log p`, same shape.
    axis : int, default -1
        The axis log_softmax normalised over.

    Returns
    -------
    array
        :math:`\partial L / \partial x`, same shape, library and dtype as
        the primal output.

    Raises
    ------
    ValueError
        ``cotangent`` of another shape, ``axis`` out of range.
    TypeError
        Complex or object input.
    """
    xp, (lp, v) = get_namespace(log_proba, cotangent)
    lp, dtype = as_float_array(xp, lp)
    v = xp.astype(_check_cotangent(xp, v, lp), lp.dtype)
    total = xp.sum(v, axis=axis, keepdims=True)
    return restore_dtype(xp, v - xp.exp(lp) * total, dtype)


@_quiet
def sigmoid(x: Any) -> Any:
    r"""Logistic sigmoid, :math:`\sigma(t) = 1 / (1 + e^{-t})`, elementwise.

    Computed as :math:`1/(1+e)` for :math:`t \ge 0` and :math:`e/(1+e)` for
    :math:`t < 0` with :math:`e = e^{-|t|} \le 1`, which never overflows.
    ``sigmoid(t) == softmax([0, t])[1]``.
    """
    xp, (x,) = get_namespace(x)
    x, dtype = as_float_array(xp, x)
    e = xp.exp(-xp.abs(x))
    one = _scalar(xp, 1.0, e)
    out = xp.where(x >= 0, one / (one + e), e / (one + e))
    return restore_dtype(xp, out, dtype)


@_quiet
def log_sigmoid(x: Any) -> Any:
    r"""Log of the sigmoid, :math:`\log\sigma(t) = \min(t, 0) - \log(1 + e^{-|t|})`.

    Exact in the left tail (``log_sigmoid(-1000) == -1000``) and in the right
    tail (``log_sigmoid(40) == -4.2e-18``, not 0).
    """
    xp, (x,) = get_namespace(x)
    x, dtype = as_float_array(xp, x)
    out = xp.minimum(x, _scalar(xp, 0.0, x)) - xp.log1p(xp.exp(-xp.abs(x)))
    return restore_dtype(xp, out, dtype)


@_quiet
def entropy(p: Any, axis: Axis = -1) -> Any:
    r"""Shannon entropy in nats, :math:`H(p) = -\sum_i p_i \log p_i` (with :math:`0 \log 0 = 0`).

    ``p`` is taken as given (a probability vector along ``axis``, as
    :func:`softmax` returns); it is not renormalised.  An all-zero slice (the
    softmax of an all ``-inf`` row) has entropy 0; an empty slice has entropy 0.
    Equal to ``scipy.special.entr(p).sum(axis)``: a negative entry gives
    ``-inf``, a NaN entry NaN.
    """
    xp, (p,) = get_namespace(p)
    p, dtype = as_float_array(xp, p)
    scalar_input = p.ndim == 0
    if scalar_input:
        p = xp.reshape(p, (1,))
    axes = _normalize_axis(axis, p.ndim)
    safe = xp.where(p > 0, p, _scalar(xp, 1.0, p))
    # scipy.special.entr: 0 at p == 0, -inf at p < 0, NaN at NaN.
    other = xp.where(p == 0, _scalar(xp, 0.0, p), _scalar(xp, -math.inf, p))
    terms = xp.where(p > 0, -p * xp.log(safe), xp.where(xp.isnan(p), p, other))
    out = xp.sum(terms, axis=axes)
    out = restore_dtype(xp, out, dtype)
    return xp.reshape(out, ()) if scalar_input else out


@_quiet
def kl_divergence(p: Any, q: Any, axis: Axis = -1) -> Any:
    r"""Kullback-Leibler divergence, :math:`\mathrm{KL}(p\,\|\,q) = \sum_i p_i \log(p_i / q_i)`.

    Termwise as ``scipy.special.rel_entr``: :math:`p_i \log(p_i / q_i)` for
    :math:`p_i, q_i > 0`, 0 for :math:`p_i = 0 \le q_i`, :math:`+\infty`
    otherwise (:math:`q_i = 0 < p_i`, or a negative entry); NaN entries give
    NaN.  ``p`` and ``q`` broadcast together; the result equals
    ``scipy.special.rel_entr(p, q).sum(axis)``.  It is not clipped at 0: for
    probability vectors rounding may leave it a few ulp below 0.
    """
    xp, (p, q) = get_namespace(p, q)
    p, dtype = as_float_array(xp, p)
    q, _ = as_float_array(xp, q)
    q = xp.astype(q, p.dtype)
    p, q = xp.broadcast_arrays(p, q)
    scalar_input = p.ndim == 0
    if scalar_input:
        p, q = xp.reshape(p, (1,)), xp.reshape(q, (1,))
    axes = _normalize_axis(axis, p.ndim)
    one = _scalar(xp, 1.0, p)
    both = (p > 0) & (q > 0)
    ps, qs = xp.where(both, p, one), xp.where(both, q, one)
    # Near p == q, log1p((p - q) / q): p - q is exact there (Sterbenz), where
    # the rounded ratio p / q keeps only its rounding of log(p / q) ~ p / q - 1
    # (scipy.special.rel_entr does the same); log(p / q) further out, and
    # log p - log q where p / q would overflow or underflow.
    ratio = ps / qs
    normal = xp.isfinite(ratio) & (
        ratio >= _scalar(xp, float(xp.finfo(p.dtype).smallest_normal), p)
    )
    near = (ratio > _scalar(xp, 0.5, p)) & (ratio < _scalar(xp, 2.0, p))
    log_ratio = xp.where(
        near,
        xp.log1p((ps - qs) / qs),
        xp.where(normal, xp.log(xp.where(normal, ratio, one)), xp.log(ps) - xp.log(qs)),
    )
    other = xp.where((p == 0) & (q >= 0), _scalar(xp, 0.0, p), _scalar(xp, math.inf, p))
    terms = xp.where(both, p * log_ratio, other)
    terms = xp.where(xp.isnan(p) | xp.isnan(q), _scalar(xp, math.nan, p), terms)
    out = restore_dtype(xp, xp.sum(terms, axis=axes), dtype)
    return xp.reshape(out, ()) if scalar_input else out
