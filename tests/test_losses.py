"""Tests of softmax.losses: PyTorch parity, gradients, identities, properties, bad input."""

from __future__ import annotations

import array_api_strict as xps
import hypothesis.extra.numpy as hnp
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

import softmax as sm
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

RTOL = 1e-12
ATOL = 1e-14
REDUCTIONS = ["none", "sum", "mean"]
IGNORE = -100

# (logits shape, class axis): (N, K); (N, C, d) with PyTorch's class axis 1;
# (N, d, K) with the classes last.
SHAPES = [((7, 5), -1), ((4, 5, 3), 1), ((4, 3, 5), -1)]


def _case(shape, axis, kind, ignore, seed=0):
    rng = np.random.default_rng(seed)
    z = rng.normal(scale=2.0, size=shape)
    k = shape[axis]
    row_shape = tuple(n for i, n in enumerate(shape) if i != axis % len(shape))
    if kind == "int":
        t = rng.integers(0, k, size=row_shape)
        if ignore:
            t.reshape(-1)[::3] = IGNORE
    else:
        t = rng.uniform(size=shape)
        t /= t.sum(axis=axis, keepdims=True)
    w = rng.uniform(0.2, 3.0, size=k)
    return z, t, w


def _torch_ce(z, t, *, axis, weight, ignore_index, eps, reduction, grad_output=None):
    """PyTorch's cross_entropy and its autograd gradient, class axis moved to 1."""
    zt = torch.tensor(np.moveaxis(z, axis, 1) if z.ndim > 1 else z, requires_grad=True)
    tt = torch.tensor(t if t.dtype.kind == "i" or t.ndim < 2 else np.moveaxis(t, axis, 1))
    kwargs = {"reduction": reduction, "label_smoothing": eps}
    if weight is not None:
        kwargs["weight"] = torch.tensor(weight)
    if ignore_index is not None:
        kwargs["ignore_index"] = ignore_index
    loss = F.cross_entropy(zt, tt, **kwargs)
    loss.backward(None if grad_output is None else torch.tensor(grad_output))
    grad = zt.grad.numpy()
    return loss.detach().numpy(), (np.moveaxis(grad, 1, axis) if z.ndim > 1 else grad)


def _fd_grad(f, x, h=1e-3):
    """5-point central finite differences of the scalar function f at x."""
    g = np.empty_like(x)
    for i in np.ndindex(x.shape):
        vals = []
        for step in (-2, -1, 1, 2):
            xx = x.copy()
            xx[i] += step * h
            vals.append(float(f(xx)))
        g[i] = (vals[0] - 8 * vals[1] + 8 * vals[2] - vals[3]) / (12 * h)
    return g


# --------------------------------------------------------------------------- #
# PyTorch parity
# --------------------------------------------------------------------------- #
@pytest.mark.parametrize(("shape", "axis"), SHAPES)
@pytest.mark.parametrize("use_weight", [False, True])
@pytest.mark.parametrize("eps", [0.0, 0.1])
@pytest.mark.parametrize("reduction", REDUCTIONS)
# PyTorch has no ignore_index for probability targets.
@pytest.mark.parametrize(("kind", "use_ignore"), [("int", False), ("int", True), ("prob", False)])
def test_cross_entropy_matches_torch(shape, axis, use_weight, use_ignore, eps, reduction, kind):
    z, t, w = _case(shape, axis, kind, use_ignore)
    weight = w if use_weight else None
    ignore_index = IGNORE if use_ignore else None
    row_shape = z.shape[: axis % z.ndim] + z.shape[axis % z.ndim + 1 :]
    g = np.random.default_rng(1).normal(size=row_shape) if reduction == "none" else None
    expected, expected_grad = _torch_ce(
        z, t, axis=axis, weight=weight, ignore_index=ignore_index, eps=eps,
        reduction=reduction, grad_output=g,
    )  # fmt: skip
    kwargs = {
        "axis": axis,
        "weight": weight,
        "ignore_index": ignore_index,
        "label_smoothing": eps,
        "reduction": reduction,
    }
    got = cross_entropy(z, t, **kwargs)
    assert isinstance(got, np.ndarray)
    assert got.shape == expected.shape
    np.testing.assert_allclose(got, expected, rtol=RTOL, atol=ATOL)
    grad = cross_entropy_grad(z, t, grad_output=g, **kwargs)
    assert grad.shape == z.shape
    np.testing.assert_allclose(grad, expected_grad, rtol=RTOL, atol=ATOL)


@pytest.mark.parametrize(("shape", "axis"), SHAPES)
@pytest.mark.parametrize("use_weight", [False, True])
@pytest.mark.parametrize("use_ignore", [False, True])
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_nll_loss_matches_torch(shape, axis, use_weight, use_ignore, reduction):
    z, t, w = _case(shape, axis, "int", use_ignore, seed=3)
    lp = sm.log_softmax(z, axis=axis)
    weight = w if use_weight else None
    kwargs = {"weight": weight, "ignore_index": IGNORE if use_ignore else None}
    kwargs = {k: v for k, v in kwargs.items() if v is not None}
    lpt = torch.tensor(np.moveaxis(lp, axis, 1), requires_grad=True)
    tkw = {k: (torch.tensor(v) if k == "weight" else v) for k, v in kwargs.items()}
    expected = F.nll_loss(lpt, torch.tensor(t), reduction=reduction, **tkw)
    g = np.random.default_rng(2).normal(size=t.shape) if reduction == "none" else None
    expected.backward(None if g is None else torch.tensor(g))
    got = nll_loss(lp, t, axis=axis, reduction=reduction, **kwargs)
    np.testing.assert_allclose(got, expected.detach().numpy(), rtol=RTOL, atol=ATOL)
    grad = nll_loss_grad(lp, t, axis=axis, reduction=reduction, grad_output=g, **kwargs)
    np.testing.assert_allclose(grad, np.moveaxis(lpt.grad.numpy(), 1, axis), rtol=RTOL)


def test_cross_entropy_unbatched_matches_torch():
    z = np.array([0.3, -1.2, 2.0, 0.1])
    for t in (np.array(2), np.array([0.1, 0.2, 0.3, 0.4])):
        for reduction in ("sum", "mean"):
            expected, expected_grad = _torch_ce(
                z, t, axis=-1, weight=None, ignore_index=None, eps=0.1, reduction=reduction
            )
            got = cross_entropy(z, t, label_smoothing=0.1, reduction=reduction)
            np.testing.assert_allclose(got, expected, rtol=RTOL)
            grad = cross_entropy_grad(z, t, label_smoothing=0.1, reduction=reduction)
            np.testing.assert_allclose(grad, expected_grad, rtol=RTOL)


def test_ignore_index_inside_class_range_matches_torch():
    z, t, w = _case((9, 4), -1, "int", False, seed=5)
    for reduction in REDUCTIONS:
        g = np.ones(9) if reduction == "none" else None
        expected, eg = _torch_ce(
            z, t, axis=-1, weight=w, ignore_index=1, eps=0.1, reduction=reduction, grad_output=g
        )
        kw = {"weight": w, "ignore_index": 1, "label_smoothing": 0.1, "reduction": reduction}
        np.testing.assert_allclose(cross_entropy(z, t, **kw), expected, rtol=RTOL)
        np.testing.assert_allclose(cross_entropy_grad(z, t, grad_output=g, **kw), eg, rtol=RTOL)


def test_all_ignored_mean_is_nan_like_torch():
    z = np.random.default_rng(0).normal(size=(3, 4))
    t = np.full(3, IGNORE)
    expected, expected_grad = _torch_ce(
        z, t, axis=-1, weight=None, ignore_index=IGNORE, eps=0.0, reduction="mean"
    )
    assert np.isnan(expected)
    got = cross_entropy(z, t, ignore_index=IGNORE)
    assert np.isnan(got)
    grad = cross_entropy_grad(z, t, ignore_index=IGNORE)
    np.testing.assert_array_equal(grad, expected_grad)  # zeros
    none = cross_entropy(z, t, ignore_index=IGNORE, reduction="none")
    np.testing.assert_array_equal(none, np.zeros(3))


@pytest.mark.parametrize("use_weight", [False, True])
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_binary_cross_entropy_matches_torch(use_weight, reduction):
    rng = np.random.default_rng(4)
    p = rng.uniform(0.01, 0.99, size=(6, 3))
    p[0, :] = [0.0, 1.0, 0.5]  # the clamp of the logs at -100
    t = rng.uniform(size=(6, 3))
    t[0, :] = [1.0, 0.0, 1.0]
    w = rng.uniform(0.5, 2.0, size=(3,)) if use_weight else None
    pt = torch.tensor(p, requires_grad=True)
    expected = F.binary_cross_entropy(
        pt, torch.tensor(t), weight=None if w is None else torch.tensor(w), reduction=reduction
    )
    g = rng.normal(size=p.shape) if reduction == "none" else None
    expected.backward(None if g is None else torch.tensor(g))
    got = binary_cross_entropy(p, t, weight=w, reduction=reduction)
    np.testing.assert_allclose(got, expected.detach().numpy(), rtol=RTOL)
    grad = binary_cross_entropy_grad(p, t, weight=w, reduction=reduction, grad_output=g)
    np.testing.assert_allclose(grad, pt.grad.numpy(), rtol=RTOL)


def test_binary_cross_entropy_clamp_at_p_zero_and_one():
    p = np.array([0.0, 0.0, 1.0, 1.0])
    t = np.array([0.0, 1.0, 0.0, 1.0])
    expected = F.binary_cross_entropy(torch.tensor(p), torch.tensor(t), reduction="none")
    got = binary_cross_entropy(p, t, reduction="none")
    np.testing.assert_array_equal(got, expected.numpy())
    np.testing.assert_array_equal(got, [0.0, 100.0, 100.0, 0.0])


@pytest.mark.parametrize("use_weight", [False, True])
@pytest.mark.parametrize("use_pos_weight", [False, True])
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_bce_with_logits_matches_torch(use_weight, use_pos_weight, reduction):
    rng = np.random.default_rng(6)
    z = rng.normal(scale=3.0, size=(5, 4))
    t = rng.uniform(size=(5, 4))
    t[0] = [0.0, 1.0, 0.0, 1.0]
    w = rng.uniform(0.5, 2.0, size=(5, 1)) if use_weight else None
    pw = rng.uniform(0.5, 3.0, size=(4,)) if use_pos_weight else None
    zt = torch.tensor(z, requires_grad=True)
    expected = F.binary_cross_entropy_with_logits(
        zt,
        torch.tensor(t),
        weight=None if w is None else torch.tensor(w),
        pos_weight=None if pw is None else torch.tensor(pw),
        reduction=reduction,
    )
    g = rng.normal(size=z.shape) if reduction == "none" else None
    expected.backward(None if g is None else torch.tensor(g))
    kw = {"weight": w, "pos_weight": pw, "reduction": reduction}
    got = binary_cross_entropy_with_logits(z, t, **kw)
    np.testing.assert_allclose(got, expected.detach().numpy(), rtol=1e-11)
    grad = binary_cross_entropy_with_logits_grad(z, t, grad_output=g, **kw)
    np.testing.assert_allclose(grad, zt.grad.numpy(), rtol=1e-11, atol=ATOL)


def test_bce_with_logits_finite_at_large_logits():
    z = np.array([-1e4, -1e4, 1e4, 1e4, 0.0])
    t = np.array([0.0, 1.0, 0.0, 1.0, 0.5])
    pw = np.array(2.0)
    got = binary_cross_entropy_with_logits(z, t, pos_weight=pw, reduction="none")
    assert np.all(np.isfinite(got))
    expected = F.binary_cross_entropy_with_logits(
        torch.tensor(z), torch.tensor(t), pos_weight=torch.tensor(pw), reduction="none"
    )
    np.testing.assert_allclose(got, expected.numpy(), rtol=RTOL)
    np.testing.assert_allclose(got[:4], [0.0, 2e4, 1e4, 0.0])
    grad = binary_cross_entropy_with_logits_grad(z, t, pos_weight=pw, reduction="sum")
    np.testing.assert_allclose(grad[:4], [0.0, -2.0, 1.0, 0.0])


def test_bce_with_logits_equals_bce_of_sigmoid():
    rng = np.random.default_rng(7)
    z = rng.uniform(-5, 5, size=(8, 3))  # where 1 - sigmoid(z) keeps its digits
    t = rng.uniform(size=(8, 3))
    for reduction in REDUCTIONS:
        a = binary_cross_entropy_with_logits(z, t, reduction=reduction)
        b = binary_cross_entropy(sm.sigmoid(z), t, reduction=reduction)
        np.testing.assert_allclose(a, b, rtol=1e-11)


# --------------------------------------------------------------------------- #
# finite differences
# --------------------------------------------------------------------------- #
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("kind", ["int", "prob"])
def test_cross_entropy_grad_finite_differences(reduction, kind):
    z, t, w = _case((3, 2, 4), 1, kind, kind == "int", seed=8)
    s = np.random.default_rng(9).uniform(0.5, 2.0, size=(3, 4))
    g = np.random.default_rng(10).normal(size=(3, 4)) if reduction == "none" else None
    kw = {
        "axis": 1,
        "weight": w,
        "ignore_index": IGNORE if kind == "int" else None,
        "label_smoothing": 0.1,
        "reduction": reduction,
        "sample_weight": s,
    }

    def f(x):
        loss = cross_entropy(x, t, **kw)
        return np.sum(loss * g) if g is not None else loss

    expected = _fd_grad(f, z)
    np.testing.assert_allclose(cross_entropy_grad(z, t, grad_output=g, **kw), expected, atol=1e-9)


def test_nll_loss_grad_finite_differences():
    z, t, w = _case((5, 3), -1, "int", True, seed=11)
    lp = sm.log_softmax(z)
    s = np.arange(1.0, 6.0)
    kw = {"weight": w, "ignore_index": IGNORE, "sample_weight": s}
    expected = _fd_grad(lambda x: nll_loss(x, t, **kw), lp)
    np.testing.assert_allclose(nll_loss_grad(lp, t, **kw), expected, atol=1e-9)


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_binary_grads_finite_differences(reduction):
    rng = np.random.default_rng(12)
    p = rng.uniform(0.1, 0.9, size=(4, 3))
    z = rng.normal(size=(4, 3))
    t = rng.uniform(size=(4, 3))
    w = rng.uniform(0.5, 2.0, size=(3,))
    s = rng.uniform(0.5, 2.0, size=(4,))
    g = rng.normal(size=(4, 3)) if reduction == "none" else None
    kw = {"weight": w, "reduction": reduction, "sample_weight": s}

    def wrap(f, **extra):
        def scalar(x):
            loss = f(x, t, **kw, **extra)
            return np.sum(loss * g) if g is not None else loss

        return scalar

    got = binary_cross_entropy_grad(p, t, grad_output=g, **kw)
    np.testing.assert_allclose(got, _fd_grad(wrap(binary_cross_entropy), p, h=1e-4), atol=1e-8)
    pw = np.array([0.5, 1.0, 3.0])
    got = binary_cross_entropy_with_logits_grad(z, t, pos_weight=pw, grad_output=g, **kw)
    expected = _fd_grad(wrap(binary_cross_entropy_with_logits, pos_weight=pw), z)
    np.testing.assert_allclose(got, expected, atol=1e-9)


# --------------------------------------------------------------------------- #
# identities
# --------------------------------------------------------------------------- #
@pytest.mark.parametrize(("shape", "axis"), SHAPES)
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_cross_entropy_is_nll_of_log_softmax_bitwise(shape, axis, reduction):
    z, t, w = _case(shape, axis, "int", True, seed=13)
    s = np.random.default_rng(14).uniform(size=t.shape)
    for kw in ({}, {"weight": w, "ignore_index": IGNORE, "sample_weight": s}):
        if "ignore_index" not in kw:
            t = np.where(t == IGNORE, 0, t)
        a = cross_entropy(z, t, axis=axis, reduction=reduction, **kw)
        b = nll_loss(sm.log_softmax(z, axis=axis), t, axis=axis, reduction=reduction, **kw)
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("eps", [0.0, 0.1])
# Not (weight, "mean"): documented to divide by sum(w[y]) for labels, by N for targets.
@pytest.mark.parametrize(
    ("use_weight", "reduction"),
    [(False, "none"), (False, "sum"), (False, "mean"), (True, "none"), (True, "sum")],
)
def test_labels_equal_their_one_hot_targets(use_weight, eps, reduction):
    z, t, w = _case((4, 3, 5), 1, "int", False, seed=15)
    one_hot = np.moveaxis(np.eye(3)[t], -1, 1)
    s = np.random.default_rng(16).uniform(size=t.shape)
    kw = {
        "axis": 1,
        "weight": w if use_weight else None,
        "label_smoothing": eps,
        "reduction": reduction,
        "sample_weight": s if reduction != "mean" else None,
    }
    a = cross_entropy(z, t, **kw)
    b = cross_entropy(z, one_hot, **kw)
    np.testing.assert_allclose(a, b, rtol=1e-14, atol=1e-14)
    ga = cross_entropy_grad(
        z, t, grad_output=np.ones(t.shape) if reduction == "none" else None, **kw
    )
    gb = cross_entropy_grad(
        z, one_hot, grad_output=np.ones(t.shape) if reduction == "none" else None, **kw
    )
    np.testing.assert_allclose(ga, gb, rtol=1e-14, atol=1e-15)


@pytest.mark.parametrize("reduction", ["sum", "mean"])
def test_sample_weight_two_equals_duplicated_row(reduction):
    z, t, w = _case((5, 4), -1, "int", False, seed=17)
    s = np.ones(5)
    s[2] = 2.0
    zd, td = np.concatenate([z, z[2:3]]), np.concatenate([t, t[2:3]])
    kw = {"weight": w, "label_smoothing": 0.1, "reduction": reduction}
    np.testing.assert_allclose(
        cross_entropy(z, t, sample_weight=s, **kw), cross_entropy(zd, td, **kw), rtol=1e-14
    )
    _, p, _ = _case((5, 4), -1, "prob", False, seed=18)
    pd = np.concatenate([p, p[2:3]])
    np.testing.assert_allclose(
        cross_entropy(z, p, sample_weight=s, **kw), cross_entropy(zd, pd, **kw), rtol=1e-14
    )
    # Binary losses: the rows are the leading axis, the 4 columns are labels.
    q = sm.sigmoid(z)
    qd = np.concatenate([q, q[2:3]])
    y = (p > 0.25).astype(float)
    yd = np.concatenate([y, y[2:3]])
    bkw = {"weight": w, "reduction": reduction}
    np.testing.assert_allclose(
        binary_cross_entropy(q, y, sample_weight=s, **bkw),
        binary_cross_entropy(qd, yd, **bkw),
        rtol=1e-14,
    )
    np.testing.assert_allclose(
        binary_cross_entropy_with_logits(z, y, sample_weight=s, pos_weight=w, **bkw),
        binary_cross_entropy_with_logits(zd, yd, pos_weight=w, **bkw),
        rtol=1e-14,
    )


def test_sample_weight_mean_semantics():
    z, t, w = _case((6, 3), -1, "int", True, seed=19)
    s = np.random.default_rng(20).uniform(0.5, 2.0, size=6)
    none = cross_entropy(z, t, weight=w, ignore_index=IGNORE, reduction="none")
    counted = t != IGNORE
    expected = np.sum(s * none) / np.sum((s * w[np.where(counted, t, 0)])[counted])
    got = cross_entropy(z, t, weight=w, ignore_index=IGNORE, sample_weight=s)
    np.testing.assert_allclose(got, expected, rtol=1e-14)
    _, p, _ = _case((6, 3), -1, "prob", False, seed=21)
    none = cross_entropy(z, p, weight=w, reduction="none")
    got = cross_entropy(z, p, weight=w, sample_weight=s)
    np.testing.assert_allclose(got, np.sum(s * none) / np.sum(s), rtol=1e-14)
    y = (p > 0.3).astype(float)
    none = binary_cross_entropy_with_logits(z, y, reduction="none")
    got = binary_cross_entropy_with_logits(z, y, sample_weight=s)
    np.testing.assert_allclose(got, np.sum(s[:, None] * none) / (3 * np.sum(s)), rtol=1e-14)


def test_zero_probability_target_at_minus_inf_logit_is_finite():
    z = np.array([[0.0, -np.inf, 1.0]])
    t = np.array([[0.5, 0.0, 0.5]])
    assert np.isfinite(cross_entropy(z, t))
    assert np.isfinite(cross_entropy(z, np.array([2]), weight=np.array([1.0, 0.0, 1.0])))
    assert np.isinf(cross_entropy(z, np.array([1])))


# --------------------------------------------------------------------------- #
# properties
# --------------------------------------------------------------------------- #
_logits = hnp.arrays(
    np.float64,
    hnp.array_shapes(min_dims=2, max_dims=2, min_side=1, max_side=6),
    elements=st.floats(-30, 30),
)


@settings(max_examples=50, deadline=None)
@given(z=_logits, shift=st.floats(-100, 100), data=st.data())
def test_cross_entropy_shift_invariant(z, shift, data):
    t = data.draw(hnp.arrays(np.int64, z.shape[:1], elements=st.integers(0, z.shape[1] - 1)))
    a = cross_entropy(z, t, label_smoothing=0.1, reduction="none")
    b = cross_entropy(z + shift, t, label_smoothing=0.1, reduction="none")
    np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-9)


@settings(max_examples=50, deadline=None)
@given(z=_logits, data=st.data())
def test_cross_entropy_grad_rows_sum_to_zero(z, data):
    t = data.draw(hnp.arrays(np.int64, z.shape[:1], elements=st.integers(0, z.shape[1] - 1)))
    w = data.draw(hnp.arrays(np.float64, z.shape[1:], elements=st.floats(0, 10)))
    g = cross_entropy_grad(z, t, weight=w, label_smoothing=0.2, reduction="sum")
    np.testing.assert_allclose(g.sum(axis=1), 0.0, atol=1e-12 * max(1.0, float(w.sum())))


@settings(max_examples=50, deadline=None)
@given(z=_logits, data=st.data())
def test_cross_entropy_at_least_target_entropy(z, data):
    raw = data.draw(hnp.arrays(np.float64, z.shape, elements=st.floats(0.01, 1.0)))
    t = raw / raw.sum(axis=1, keepdims=True)
    loss = cross_entropy(z, t, reduction="none")
    assert np.all(loss >= sm.entropy(t) - 1e-12 * (1 + np.abs(loss)))


@settings(max_examples=50, deadline=None)
@given(
    z=hnp.arrays(np.float64, hnp.array_shapes(max_dims=2), elements=st.floats(-1e4, 1e4)),
    data=st.data(),
)
def test_bce_with_logits_nonnegative_and_matches_torch(z, data):
    t = data.draw(hnp.arrays(np.float64, z.shape, elements=st.floats(0, 1)))
    got = binary_cross_entropy_with_logits(z, t, reduction="none")
    assert np.all(np.isfinite(got)) and np.all(got >= 0)
    expected = F.binary_cross_entropy_with_logits(
        torch.tensor(z), torch.tensor(t), reduction="none"
    ).numpy()
    # PyTorch's (1 - t) z + softplus(-z) cancels where the loss is tiny.
    assert np.all(np.abs(got - expected) <= 1e-12 * (np.abs(expected) + 1 + np.abs(z)))


# --------------------------------------------------------------------------- #
# array libraries and dtypes
# --------------------------------------------------------------------------- #
def _calls(z, t_int, t_prob, q, y):
    return [
        cross_entropy(z, t_int),
        cross_entropy(z, t_prob, reduction="none"),
        cross_entropy_grad(z, t_int, weight=[1.0, 2.0, 3.0], label_smoothing=0.1),
        nll_loss(z, t_int, reduction="sum"),
        nll_loss_grad(z, t_int),
        binary_cross_entropy(q, y),
        binary_cross_entropy_grad(q, y),
        binary_cross_entropy_with_logits(z, y, pos_weight=[1.0, 2.0, 3.0]),
        binary_cross_entropy_with_logits_grad(z, y, reduction="sum"),
    ]


_Z = [[0.5, -1.0, 2.0], [1.0, 0.0, -0.5]]
_P = [[0.2, 0.3, 0.5], [1.0, 0.0, 0.0]]
_Q = [[0.2, 0.9, 0.5], [0.7, 0.1, 0.4]]
_Y = [[0.0, 1.0, 1.0], [1.0, 0.0, 0.0]]


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.bfloat16])
def test_torch_in_torch_out(dtype):
    args = (
        torch.tensor(_Z, dtype=dtype),
        torch.tensor([2, 0]),
        torch.tensor(_P, dtype=dtype),
        torch.tensor(_Q, dtype=dtype),
        torch.tensor(_Y, dtype=dtype),
    )
    reference = _calls(np.array(_Z), np.array([2, 0]), np.array(_P), np.array(_Q), np.array(_Y))
    for got, ref in zip(_calls(*args), reference, strict=True):
        assert isinstance(got, torch.Tensor)
        assert got.dtype == dtype
        rtol = {torch.float32: 1e-6, torch.float64: 1e-14, torch.bfloat16: 1e-2}[dtype]
        np.testing.assert_allclose(got.double().numpy(), ref, rtol=rtol, atol=rtol)


def test_array_api_strict_in_strict_out():
    args = (
        xps.asarray(_Z),
        xps.asarray([2, 0]),
        xps.asarray(_P),
        xps.asarray(_Q),
        xps.asarray(_Y),
    )
    reference = _calls(np.array(_Z), np.array([2, 0]), np.array(_P), np.array(_Q), np.array(_Y))
    for got, ref in zip(_calls(*args), reference, strict=True):
        assert isinstance(got, type(xps.asarray(0.0)))
        assert got.dtype == xps.float64
        np.testing.assert_allclose(np.from_dlpack(got), ref, rtol=1e-14)


@pytest.mark.parametrize("dtype", [np.float32, np.float16])
def test_numpy_dtype_is_kept(dtype):
    args = (
        np.array(_Z, dtype=dtype),
        np.array([2, 0]),
        np.array(_P, dtype=dtype),
        np.array(_Q, dtype=dtype),
        np.array(_Y, dtype=dtype),
    )
    reference = _calls(np.array(_Z), np.array([2, 0]), np.array(_P), np.array(_Q), np.array(_Y))
    for got, ref in zip(_calls(*args), reference, strict=True):
        assert isinstance(got, np.ndarray)
        assert got.dtype == dtype
        np.testing.assert_allclose(got, ref, rtol=2e-3 if dtype == np.float16 else 1e-6, atol=1e-3)


def test_reduced_results_are_0d_arrays():
    for reduction in ("sum", "mean"):
        out = cross_entropy(_Z, [2, 0], reduction=reduction)
        assert isinstance(out, np.ndarray) and out.shape == ()
        out = binary_cross_entropy(_Q, _Y, reduction=reduction)
        assert isinstance(out, np.ndarray) and out.shape == ()


def test_exported():
    for name in (
        "binary_cross_entropy",
        "binary_cross_entropy_grad",
        "binary_cross_entropy_with_logits",
        "binary_cross_entropy_with_logits_grad",
        "cross_entropy",
        "cross_entropy_grad",
        "nll_loss",
        "nll_loss_grad",
    ):
        assert name in sm.__all__ and callable(getattr(sm, name))


# --------------------------------------------------------------------------- #
# bad input
# --------------------------------------------------------------------------- #
_z = np.zeros((3, 4))
_t = np.array([0, 1, 3])
_p = np.full((3, 4), 0.25)
_q = np.full((3, 2), 0.5)


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: cross_entropy(_z, np.array([0, 4, 1])), r"target.*\b4\b.*\[0, 4\)"),
        (lambda: cross_entropy(_z, np.array([0, -1, 1])), r"target.*-1"),
        (lambda: cross_entropy(_z, np.array([0, -5, 1]), ignore_index=-100), r"target.*-5"),
        (lambda: nll_loss(_z, np.array([0, 7, 1])), r"target.*7"),
        (lambda: cross_entropy(_z, _t, weight=[1.0, -2.0, 1.0, 1.0]), r"weight.*-2\.0"),
        (lambda: cross_entropy(_z, _t, weight=[1.0, np.nan, 1.0, 1.0]), r"weight.*nan"),
        (lambda: cross_entropy(_z, _t, weight=[1.0, np.inf, 1.0, 1.0]), r"weight.*inf"),
        (lambda: cross_entropy(_z, _t, weight=[1.0, 1.0]), r"weight.*\(2,\).*\(4,\)"),
        (lambda: cross_entropy(_z, _t, sample_weight=[1.0, -1.0, 1.0]), r"sample_weight.*-1"),
        (lambda: cross_entropy(_z, _t, sample_weight=[1.0, 1.0]), r"sample_weight.*\(2,\)"),
        (lambda: cross_entropy(_z, np.array([0, 1])), r"target.*\(2,\).*\(3, 4\)"),
        (lambda: cross_entropy(_z, np.zeros((3, 3))), r"target.*\(3, 3\).*\(3, 4\)"),
        (lambda: cross_entropy(_z, np.array([0.0, 1.0, 2.0])), r"target.*cast.*int"),
        (lambda: cross_entropy(_z, -_p), r"target.*-0\.25"),
        (lambda: cross_entropy(_z, _p, ignore_index=0), r"ignore_index"),
        (lambda: nll_loss(_z, _p), r"target.*integer"),
        (lambda: cross_entropy(_z, np.array([True, False, True])), r"target.*bool"),
        (
            lambda: cross_entropy(_z, _t, reduction="avg"),
            r"reduction.*'none', 'sum', 'mean'.*'avg'",
        ),
        (lambda: nll_loss(_z, _t, reduction="avg"), r"reduction.*'avg'"),
        (lambda: cross_entropy(_z, _t, label_smoothing=1.5), r"label_smoothing.*1\.5"),
        (lambda: cross_entropy(_z, _t, label_smoothing=-0.1), r"label_smoothing.*-0\.1"),
        (lambda: cross_entropy(_z, _t, axis=2), r"axis"),
        (lambda: cross_entropy(np.array(1.0), np.array(0)), r"logits"),
        (lambda: cross_entropy_grad(_z, _t, reduction="none"), r"grad_output"),
        (lambda: cross_entropy_grad(_z, _t, grad_output=np.ones(2)), r"grad_output.*\(2,\)"),
        (lambda: binary_cross_entropy(_q + 1.0, _q), r"probs.*1\.5"),
        (lambda: binary_cross_entropy(-_q, _q), r"probs.*-0\.5"),
        (lambda: binary_cross_entropy(_q, _q * 3), r"target.*1\.5"),
        (lambda: binary_cross_entropy_with_logits(_q, -_q), r"target.*-0\.5"),
        (lambda: binary_cross_entropy(_q, np.zeros((3, 3))), r"target.*\(3, 3\).*\(3, 2\)"),
        (lambda: binary_cross_entropy(_q, _q, weight=[1.0, 2.0, 3.0]), r"weight.*\(3,\)"),
        (lambda: binary_cross_entropy(_q, _q, weight=[1.0, -2.0]), r"weight.*-2"),
        (lambda: binary_cross_entropy(_q, _q, reduction="mea"), r"reduction.*'mea'"),
        (lambda: binary_cross_entropy(_q, _q, sample_weight=[1.0, 2.0]), r"sample_weight.*\(2,\)"),
        (lambda: binary_cross_entropy(_q, _q, sample_weight=[1, np.nan, 1]), r"sample_weight.*nan"),
        (lambda: binary_cross_entropy_with_logits(_q, _q, pos_weight=[1, -1.0]), r"pos_weight.*-1"),
        (lambda: binary_cross_entropy_with_logits(_q, _q, pos_weight=[1, 2, 3]), r"pos_weight"),
        (lambda: binary_cross_entropy_with_logits_grad(_q, _q, reduction="none"), r"grad_output"),
    ],
)
def test_bad_input_raises_value_error_naming_the_argument(call, match):
    with pytest.raises(ValueError, match=match):
        call()


# --------------------------------------------------------------------------- #
# the fused path (numba kernel: log_softmax at the labels only)
# --------------------------------------------------------------------------- #
_kernels = sm._kernels
# (logits shape, class axis), all at least MIN_SIZE elements: short rows (the
# kernel's transposed blocks), long rows, 3-D with the classes last.
FUSED_SHAPES = [((_kernels.MIN_SIZE, 10), -1), ((200, 129), 1), ((4, 100, 33), -1)]
FUSED_KW = [
    {},
    {"weight": "w", "ignore_index": IGNORE, "sample_weight": "s"},
    {"ignore_index": 3},
    {"sample_weight": "s"},
]


def _fused_case(shape, dtype, kw, seed):
    z, t, w = _case(shape, -1, "int", "ignore_index" in kw, seed=seed)
    z = (z * 3).astype(dtype)
    z.reshape(-1, shape[-1])[5] = -np.inf  # an all -inf row (NaN loss if picked)
    z.reshape(-1, shape[-1])[6, 2] = np.inf
    if "ignore_index" not in kw or kw["ignore_index"] != IGNORE:
        t = np.where(t == IGNORE, 0, t)
    s = np.random.default_rng(seed + 1).uniform(size=t.shape)
    kwargs = {k: {"w": w, "s": s}.get(v, v) if isinstance(v, str) else v for k, v in kw.items()}
    return z, t, kwargs


@pytest.fixture
def fused_calls(monkeypatch):
    """Counts the fused kernel's answers (an array, or None when it does not apply)."""
    calls = []
    real = _kernels.log_softmax_picked

    def spy(*args):
        out = real(*args)
        calls.append(out is not None)
        return out

    monkeypatch.setattr(_kernels, "log_softmax_picked", spy)
    return calls


@pytest.mark.parametrize(("shape", "axis"), FUSED_SHAPES, ids=str)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("kw", FUSED_KW, ids=lambda kw: "-".join(kw) or "plain")
def test_fused_cross_entropy_is_nll_of_log_softmax_bitwise(
    fused_calls, shape, axis, dtype, reduction, kw
):
    pytest.importorskip("numba")
    z, t, kwargs = _fused_case(shape, dtype, kw, seed=21)
    got = cross_entropy(z, t, axis=axis, reduction=reduction, **kwargs)
    assert fused_calls == [_kernels.available()]
    want = nll_loss(sm.log_softmax(z, axis=axis), t, axis=axis, reduction=reduction, **kwargs)
    assert got.dtype == want.dtype == dtype and got.shape == want.shape
    np.testing.assert_array_equal(
        np.atleast_1d(got).view(np.uint8), np.atleast_1d(want).view(np.uint8)
    )


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_fused_cross_entropy_matches_numpy_reference_and_torch(monkeypatch, dtype):
    # The NumPy reference (no kernels) and PyTorch agree with the fused path
    # to rounding (their exp differs from the kernel's in the last bits).
    z, t, kwargs = _fused_case((_kernels.MIN_SIZE, 10), dtype, FUSED_KW[1], seed=5)
    z[5:7] = 0.0  # finite rows only: PyTorch gives NaN where we give 0 * inf = 0
    fused = cross_entropy(z, t, reduction="none", **kwargs)
    with monkeypatch.context() as m:
        m.setattr(_kernels, "applies", lambda x, axis: False)
        ref = cross_entropy(z, t, reduction="none", **kwargs)
    rtol = 1e-5 if dtype is np.float32 else 1e-13
    np.testing.assert_allclose(fused, ref, rtol=rtol, atol=rtol)
    got_mean = cross_entropy(z, t, weight=kwargs["weight"], ignore_index=IGNORE)
    want = F.cross_entropy(
        torch.from_numpy(z.astype(np.float64)),
        torch.from_numpy(t),
        weight=torch.from_numpy(kwargs["weight"]),
    )
    np.testing.assert_allclose(float(got_mean), float(want), rtol=rtol)


def test_fused_cross_entropy_checks_labels_first(fused_calls):
    z = np.zeros((_kernels.MIN_SIZE, 10), np.float32)
    t = np.zeros(_kernels.MIN_SIZE, np.int64)
    t[-1] = 10
    with pytest.raises(ValueError, match=r"class label 10, outside \[0, 10\)"):
        cross_entropy(z, t)
    t[-1] = -1
    with pytest.raises(ValueError, match=r"class label -1, outside \[0, 10\) \(or ignore_index"):
        cross_entropy(z, t, ignore_index=IGNORE)
    assert fused_calls == []  # refused before the kernel


def test_fused_path_only_where_it_applies(fused_calls):
    pytest.importorskip("numba")
    z, t, _ = _fused_case((_kernels.MIN_SIZE, 10), np.float64, {}, seed=3)
    cross_entropy(z, t, label_smoothing=0.1)  # needs every log-probability: general path
    cross_entropy(z, np.eye(10)[t])  # probability targets: general path
    assert fused_calls == []
    cross_entropy(np.asfortranarray(z), t)  # the kernel declines, the general path runs
    cross_entropy(z.T, t, axis=0)
    assert fused_calls == [False, False]
