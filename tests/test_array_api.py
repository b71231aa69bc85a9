"""Arrays of other libraries come back as their own type, device and dtype (no NumPy detour)."""

from __future__ import annotations

import array_api_strict as xps
import numpy as np
import pytest
import torch
from numpy.testing import assert_allclose

import softmax as S

TORCH_DTYPES = [torch.float32, torch.float64, torch.float16, torch.bfloat16]
TORCH_TOL = {
    torch.float32: 2e-6,
    torch.float64: 1e-13,
    torch.float16: 2e-3,
    torch.bfloat16: 1.6e-2,
}


def _calls(x):
    """Every public function applied to ``x`` (a 2-d array of a non-NumPy library)."""
    p = S.softmax(x)
    return {
        "softmax": p,
        "softmax_axis0_T": S.softmax(x, axis=0, temperature=2.0),
        "softmax_where": S.softmax(x, where=[True, False, True, True]),
        "log_softmax": S.log_softmax(x, axis=(0, 1)),
        "logsumexp": S.logsumexp(x, keepdims=True),
        "logsumexp_b": S.logsumexp(x, b=x * 0 + 2, return_sign=True)[1],
        "sigmoid": S.sigmoid(x),
        "log_sigmoid": S.log_sigmoid(x),
        "entropy": S.entropy(p),
        "kl_divergence": S.kl_divergence(p, p),
        "softmax_vjp": S.softmax_vjp(p, x),
        "log_softmax_vjp": S.log_softmax_vjp(S.log_softmax(x), x),
    }


@pytest.mark.parametrize("dtype", TORCH_DTYPES, ids=str)
def test_torch_in_torch_out(dtype, rng):
    x64 = rng.standard_normal((3, 4)) * 3
    x = torch.tensor(x64, dtype=dtype)
    for name, out in _calls(x).items():
        assert isinstance(out, torch.Tensor), name
        assert out.dtype == dtype, name
        assert out.device == x.device, name
    xr = x.to(torch.float64)  # the values torch was given, compared in float64
    tol = TORCH_TOL[dtype]
    ref = {
        S.softmax: torch.softmax(xr, -1),
        S.log_softmax: torch.log_softmax(xr, -1),
        S.logsumexp: torch.logsumexp(xr, -1),
        S.sigmoid: torch.sigmoid(xr),
        S.log_sigmoid: torch.nn.functional.logsigmoid(xr),
    }
    for func, want in ref.items():
        got = func(x).to(torch.float64).numpy()
        assert_allclose(got, want.numpy(), rtol=tol, atol=tol)


@pytest.mark.parametrize("dtype", [torch.int32, torch.int64, torch.bool, torch.uint8])
def test_torch_integer_and_bool_give_float64(dtype):
    x = torch.tensor([[1, 0, 1]]).to(dtype)
    for func in (S.softmax, S.log_softmax, S.logsumexp, S.sigmoid, S.log_sigmoid):
        out = func(x)
        assert isinstance(out, torch.Tensor) and out.dtype == torch.float64


def test_torch_edge_cases():
    inf, nan = float("inf"), float("nan")
    x = torch.tensor([[-inf, -inf], [inf, inf], [nan, 0.0], [1e4, -1e4]], dtype=torch.float32)
    p = S.softmax(x)
    assert torch.equal(p[0], torch.zeros(2)) and torch.equal(p[1], torch.full((2,), 0.5))
    assert torch.isnan(p[2]).all() and torch.equal(p[3], torch.tensor([1.0, 0.0]))
    lse = S.logsumexp(x)
    assert lse[0] == -inf and lse[1] == inf and torch.isnan(lse[2]) and lse[3] == 1e4
    assert S.softmax(torch.zeros((0, 3))).shape == (0, 3)
    assert S.logsumexp(torch.zeros((3, 0))).tolist() == [-inf] * 3
    assert S.softmax(torch.tensor(2.0)).shape == ()
    where = torch.tensor([True, False])
    assert S.softmax(torch.tensor([1.0, 2.0]), where=where).tolist() == [1.0, 0.0]


def test_mixing_numpy_and_torch_arrays_is_a_type_error():
    with pytest.raises(TypeError):
        S.softmax(torch.ones(3), where=np.ones(3, dtype=bool))
    with pytest.raises(TypeError):
        S.kl_divergence(torch.ones(3) / 3, np.ones(3) / 3)


# --------------------------------------------------------------------------- #
# autograd flows through our functions (they use torch ops only)
# --------------------------------------------------------------------------- #
AUTOGRAD = [
    (lambda t: S.softmax(t, axis=1), lambda t: torch.softmax(t, 1)),
    (lambda t: S.softmax(t, axis=0, temperature=3.0), lambda t: torch.softmax(t / 3.0, 0)),
    (lambda t: S.log_softmax(t), lambda t: torch.log_softmax(t, -1)),
    (lambda t: S.logsumexp(t, axis=(0, 1)), lambda t: torch.logsumexp(t, (0, 1))),
    (S.sigmoid, torch.sigmoid),
    (S.log_sigmoid, torch.nn.functional.logsigmoid),
    (
        lambda t: S.entropy(S.softmax(t)),
        lambda t: -(torch.softmax(t, -1) * torch.log_softmax(t, -1)).sum(-1),
    ),
]


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32, torch.float16])
@pytest.mark.parametrize("pair", range(len(AUTOGRAD)))
def test_autograd_matches_torch(pair, dtype, rng):
    ours, theirs = AUTOGRAD[pair]
    x = torch.tensor(rng.standard_normal((3, 5)) * 2, dtype=dtype)
    a = x.clone().requires_grad_(True)
    b = x.clone().to(torch.float64).requires_grad_(True)
    out = ours(a)
    assert out.requires_grad and out.dtype == dtype
    v = torch.tensor(rng.standard_normal(tuple(out.shape)), dtype=torch.float64)
    (out.to(torch.float64) * v).sum().backward()
    (theirs(b) * v).sum().backward()
    assert a.grad is not None and a.grad.dtype == dtype
    tol = {torch.float64: 1e-12, torch.float32: 1e-5, torch.float16: 5e-3}[dtype]
    assert_allclose(a.grad.to(torch.float64).numpy(), b.grad.numpy(), rtol=tol, atol=tol)


def test_autograd_with_mask_and_inf():
    x = torch.tensor([[1.0, 2.0, float("-inf")], [0.5, 3.0, -1.0]], requires_grad=True)
    mask = torch.tensor([[True, True, True], [True, False, True]])
    S.softmax(x, where=mask)[:, 0].sum().backward()
    assert torch.isfinite(x.grad).all()
    ref = x.detach().clone().masked_fill(~mask, float("-inf")).requires_grad_(True)
    torch.softmax(ref, -1)[:, 0].sum().backward()
    assert_allclose(x.grad.numpy(), torch.nan_to_num(ref.grad).numpy(), rtol=1e-6, atol=1e-7)


def test_vjp_functions_match_autograd_on_torch():
    x = torch.randn(4, 6, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    v = torch.randn(4, 6, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    t = x.clone().requires_grad_(True)
    (g,) = torch.autograd.grad(torch.softmax(t, -1), t, v)
    got = S.softmax_vjp(S.softmax(x), v)
    assert isinstance(got, torch.Tensor)
    assert_allclose(got.numpy(), g.numpy(), rtol=1e-12, atol=1e-15)


# --------------------------------------------------------------------------- #
# array-api-strict
# --------------------------------------------------------------------------- #
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("device", [None, "device1"])
def test_array_api_strict_in_strict_out(dtype, device, rng):
    dev = xps.Device(device) if device else None
    x64 = rng.standard_normal((3, 4)) * 3
    x = xps.asarray(x64, dtype=getattr(xps, dtype), device=dev)
    for name, out in _calls(x).items():
        assert isinstance(out, type(x)), name
        assert out.dtype == x.dtype, name
        assert out.device == x.device, name
    got = np.asarray(xps.asarray(S.softmax(x), device=xps.Device("CPU_DEVICE")))
    want = torch.softmax(
        torch.tensor(
            np.asarray(xps.asarray(x, device=xps.Device("CPU_DEVICE"))), dtype=torch.float64
        ),
        -1,
    ).numpy()
    assert_allclose(got, want, rtol=1e-6 if dtype == "float32" else 1e-13)


def test_array_api_strict_integer_edge_and_empty():
    out = S.softmax(xps.asarray([1, 2, 3]))
    assert out.dtype == xps.float64
    assert S.logsumexp(xps.zeros((3, 0))).shape == (3,)
    assert S.softmax(xps.asarray(2.0)).shape == ()
    inf = float("inf")
    p = S.softmax(xps.asarray([[-inf, -inf], [inf, 0.0]]))
    assert isinstance(p, type(xps.asarray(0.0)))
    assert xps.all(p == xps.asarray([[0.0, 0.0], [1.0, 0.0]]))
    with pytest.raises(TypeError):
        S.softmax(xps.asarray([1 + 1j]))
