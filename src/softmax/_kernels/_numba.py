"""Fused row-wise softmax / log_softmax in numba (imported lazily by ``softmax._kernels``).

The arithmetic is the reference's (``softmax.special``), step for step, so the
results agree to the last bit except for ``exp`` itself:

* ``m`` = row max; rows whose max is not finite are handled exactly as the
  reference does (``+inf`` rows share the probability, all ``-inf`` rows give
  0 / ``-inf``, a NaN fills its row with NaN);
* ``d = x - m`` with its exact rounding error ``err`` (TwoSum: additions only,
  compiled without fast-math, so nothing may reassociate it);
* ``e = exp(d)``, ``e = e + e * err``;
* row sums in NumPy's own pairwise order (blocks of 8 accumulators, halving
  above 128 elements), so ``sum`` is bitwise NumPy's given the same ``e``;
* ``e / s``, or ``(d - log1p((count - 1) + rest)) + err``.

``exp`` is an explicit, branch-free polynomial (Cody-Waite reduction by ln 2,
Taylor polynomial of degree 13 (float64) / 7 (float32), scaling by 2**k with
bit operations in two steps so that subnormal results are rounded once), so
that LLVM vectorises it without SVML.  Its domain here is ``d <= 0``: NaN stays
NaN, anything below the underflow threshold (``-inf`` included) gives 0.

Rows are processed in blocks of about ``_BLOCK`` elements (several short rows,
or one long row) so that every pass over a block hits the cache; blocks are
distributed over numba's threads with ``prange``.
"""

from __future__ import annotations

import math

import numpy as np
from llvmlite import ir
from numba import njit, prange, types
from numba.extending import intrinsic, overload

__all__ = ["log_softmax_rows", "softmax_rows"]

_BLOCK = 4096  # elements per block of short rows (fits L1 with its buffers)


# --------------------------------------------------------------------------- #
# 2**k from the bits of t = k + shifter (inline LLVM integer ops, vectorisable)
# --------------------------------------------------------------------------- #
def _make_scale(fty, ity, bits, shifter_bits, bias, mant):
    @intrinsic
    def scale(typingctx, t):  # pragma: no cover - compiled
        sig = fty(fty)

        def codegen(context, builder, signature, args):
            it = ir.IntType(bits)
            v = builder.bitcast(args[0], it)
            v = builder.add(v, ir.Constant(it, bias - shifter_bits))
            v = builder.shl(v, ir.Constant(it, mant))
            return builder.bitcast(v, ir.DoubleType() if bits == 64 else ir.FloatType())

        return sig, codegen

    return scale


# For t = k + shifter (k integer, small), return 2**(k + extra) with extra = 64 / 32.
_scale64 = _make_scale(types.float64, types.int64, 64, 0x4338000000000000, 1023 + 64, 52)
_scale32 = _make_scale(types.float32, types.int32, 32, 0x4B400000, 127 + 32, 23)


@intrinsic
def _fma(typingctx, a, b, c):  # pragma: no cover - compiled
    """a * b + c rounded once (llvm.fma; a libm call where the CPU has no FMA)."""
    if not (a == b == c and isinstance(a, types.Float)):
        return None
    sig = a(a, a, a)

    def codegen(context, builder, signature, args):
        ty = args[0].type
        fn = builder.module.declare_intrinsic("llvm.fma", [ty], ir.FunctionType(ty, [ty, ty, ty]))
        return builder.call(fn, args)

    return sig, codegen


@intrinsic
def _sel(typingctx, cond, a, b):  # pragma: no cover - compiled
    """``a if cond else b`` as one LLVM select (no branch, no phi for numba's inliner)."""
    if not (isinstance(cond, types.Boolean) and a == b):
        return None
    sig = a(cond, a, b)

    def codegen(context, builder, signature, args):
        return builder.select(args[0], args[1], args[2])

    return sig, codegen


# --------------------------------------------------------------------------- #
# exp for d <= 0
# --------------------------------------------------------------------------- #
_F64_C = [1.0 / math.factorial(k) for k in range(14)]


def _exp(d):  # pragma: no cover - replaced by the overload below
    raise NotImplementedError


@overload(_exp, inline="always")
def _ov_exp(d):
    if d == types.float64:
        shifter = 6755399441055744.0  # 1.5 * 2**52: t = d / ln2 + shifter rounds to k
        inv_ln2 = 1.4426950408889634
        ln2_hi = 6.93147180369123816490e-01  # 32 significant bits: k * ln2_hi is exact
        ln2_lo = 1.90821492927058770002e-10
        low = -746.0  # exp(-746) < 2**-1075 rounds to 0
        two_m64 = 2.0**-64
        c2, c3, c4, c5, c6, c7, c8, c9, c10, c11, c12, c13 = _F64_C[2:14]

        def exp64(d):
            # NaN stays NaN (the comparison is False); -inf and d < low clamp to low.
            d = _sel(d < low, low, d)
            t = d * inv_ln2 + shifter
            k = t - shifter
            r1 = _fma(-k, ln2_hi, d)  # exact
            r = _fma(-k, ln2_lo, r1)
            r_lo = _fma(-k, ln2_lo, r1 - r)  # r + r_lo = d - k ln2 to ~2**-100
            q = _fma(c13, r, c12)
            q = _fma(q, r, c11)
            q = _fma(q, r, c10)
            q = _fma(q, r, c9)
            q = _fma(q, r, c8)
            q = _fma(q, r, c7)
            q = _fma(q, r, c6)
            q = _fma(q, r, c5)
            q = _fma(q, r, c4)
            q = _fma(q, r, c3)
            q = _fma(q, r, c2)
            tail = _fma(r * r, q, r_lo)  # exp(r) - 1 - r, |tail| < 0.07
            hi = 1.0 + r  # Fast2Sum: hi + lo == 1 + r exactly
            lo = (1.0 - hi) + r
            p = hi + (lo + tail)  # one rounding of the final sum
            # p * 2**(k + 64) is exact (normal); * 2**-64 rounds once, also
            # into the subnormals.
            return (p * _scale64(t)) * two_m64

        return exp64
    if d == types.float32:
        f = np.float32
        shifter32 = f(12582912.0)  # 1.5 * 2**23
        inv_ln2_32 = f(1.4426950408889634)
        ln2_hi32 = f(0.693359375)  # 10 significant bits: k * ln2_hi is exact
        ln2_lo32 = f(-2.12194440e-4)
        low32 = f(-104.0)  # exp(-104) < 2**-150 rounds to 0
        two_m32 = f(2.0**-32)
        one32 = f(1.0)
        e2, e3, e4, e5, e6, e7 = (f(c) for c in _F64_C[2:8])

        def exp32(d):
            d = _sel(d < low32, low32, d)
            t = d * inv_ln2_32 + shifter32
            k = t - shifter32
            r = _fma(-k, ln2_hi32, d)
            r = _fma(-k, ln2_lo32, r)
            q = _fma(e7, r, e6)
            q = _fma(q, r, e5)
            q = _fma(q, r, e4)
            q = _fma(q, r, e3)
            q = _fma(q, r, e2)
            p = one32 + _fma(r * r, q, r)
            return (p * _scale32(t)) * two_m32

        return exp32
    return None


_OPTS = {"cache": True, "error_model": "numpy", "nogil": True}


@njit(**_OPTS)
def vexp(x, out):  # pragma: no cover - compiled; for tests and measurements
    """``out[i] = exp(x[i])`` for ``x[i] <= 0`` (the kernels' exp)."""
    for i in range(x.shape[0]):
        out[i] = _exp(x[i])


# --------------------------------------------------------------------------- #
# row pieces
# --------------------------------------------------------------------------- #
@njit(**_OPTS)
def _row_max(x, lo, n):  # pragma: no cover - compiled
    """Max of ``x[lo:lo+n]``; NaN if the slice holds a NaN."""
    m = x[lo]
    i = 1
    if n >= 16:
        m0, m1, m2, m3 = x[lo], x[lo + 1], x[lo + 2], x[lo + 3]
        m4, m5, m6, m7 = x[lo + 4], x[lo + 5], x[lo + 6], x[lo + 7]
        i = 8
        while i + 8 <= n:
            j = lo + i
            m0 = x[j] if x[j] > m0 else m0
            m1 = x[j + 1] if x[j + 1] > m1 else m1
            m2 = x[j + 2] if x[j + 2] > m2 else m2
            m3 = x[j + 3] if x[j + 3] > m3 else m3
            m4 = x[j + 4] if x[j + 4] > m4 else m4
            m5 = x[j + 5] if x[j + 5] > m5 else m5
            m6 = x[j + 6] if x[j + 6] > m6 else m6
            m7 = x[j + 7] if x[j + 7] > m7 else m7
            i += 8
        m0 = m1 if m1 > m0 else m0
        m2 = m3 if m3 > m2 else m2
        m4 = m5 if m5 > m4 else m4
        m6 = m7 if m7 > m6 else m6
        m0 = m2 if m2 > m0 else m0
        m4 = m6 if m6 > m4 else m4
        m = m4 if m4 > m0 else m0
    for j in range(lo + i, lo + n):
        m = x[j] if x[j] > m else m
    # NaN never wins a comparison: look for it only where the max says "maybe"
    # (a NaN at x[lo] with nothing larger, or a non-finite max).
    if not (abs(m) < np.inf):
        for j in range(lo, lo + n):
            if x[j] != x[j]:
                return x[j]
    return m


@njit(**_OPTS)
def _pairwise_sum(a, lo, n):  # pragma: no cover - compiled
    """``np.sum(a[lo:lo+n])`` in NumPy's exact order (pairwise, 8 accumulators)."""
    if n < 8:
        res = a[lo]
        for i in range(lo + 1, lo + n):
            res += a[i]
        return res
    if n <= 128:
        r0, r1, r2, r3 = a[lo], a[lo + 1], a[lo + 2], a[lo + 3]
        r4, r5, r6, r7 = a[lo + 4], a[lo + 5], a[lo + 6], a[lo + 7]
        i = 8
        stop = n - n % 8
        while i < stop:
            j = lo + i
            r0 += a[j]
            r1 += a[j + 1]
            r2 += a[j + 2]
            r3 += a[j + 3]
            r4 += a[j + 4]
            r5 += a[j + 5]
            r6 += a[j + 6]
            r7 += a[j + 7]
            i += 8
        res = ((r0 + r1) + (r2 + r3)) + ((r4 + r5) + (r6 + r7))
        for j in range(lo + i, lo + n):
            res += a[j]
        return res
    n2 = n // 2
    n2 -= n2 % 8
    return _pairwise_sum(a, lo, n2) + _pairwise_sum(a, lo + n2, n - n2)


@njit(inline="always", **_OPTS)
def _shifted(x, m, zero, t):  # pragma: no cover - compiled
    """``(d, err)`` with ``d + err == (x - m) / t`` (exactly for t == 1: TwoSum).

    As the reference: the rounding error of ``x - m`` is found exactly, then
    both parts are divided by the temperature; err = 0 where d is not finite.
    """
    d = x - m
    virtual = d - x
    err = (x - (d - virtual)) + (-m - virtual)
    err = _sel(abs(d) < np.inf, err, zero)
    if t != 1:  # loop-invariant: LLVM unswitches it out of the loops
        d = d / t
        err = _sel(abs(d) < np.inf, err / t, zero)
    return d, err


@njit(**_OPTS)
def _special_row(x, out, lo, n, m, log, zero, one):  # pragma: no cover - compiled
    """A row whose max is +inf, -inf or NaN, exactly as the reference does it."""
    if m != m:  # NaN spreads over its row
        for j in range(lo, lo + n):
            out[j] = m
    elif m < zero:  # all -inf: softmax 0, log_softmax -inf
        for j in range(lo, lo + n):
            out[j] = m if log else zero
    else:  # +inf entries share the probability
        count = zero
        for j in range(lo, lo + n):
            if x[j] == m:
                count += one
        if log:
            ls = -math.log1p(count - one)
            for j in range(lo, lo + n):
                out[j] = ls if x[j] == m else -m
        else:
            p = one / count
            for j in range(lo, lo + n):
                out[j] = p if x[j] == m else zero


# --------------------------------------------------------------------------- #
# the kernels: x, out flat C-contiguous (may be the same array), rows of n
# --------------------------------------------------------------------------- #
_LONG = 256  # rows at least this long are processed one at a time


@njit(**_OPTS)
def _long_row(x, out, lo, n, log, zero, one, t):  # pragma: no cover - compiled
    m = _row_max(x, lo, n)
    if not (abs(m) < np.inf):
        _special_row(x, out, lo, n, m, log, zero, one)
        return
    if log:
        count = zero
        for j in range(lo, lo + n):
            d, err = _shifted(x[j], m, zero, t)
            e = _exp(d)
            e = e + e * err
            out[j] = zero if d == zero else e
            count += one if d == zero else zero
        ls = math.log1p((count - one) + _pairwise_sum(out, lo, n))
        for j in range(lo, lo + n):
            d, err = _shifted(x[j], m, zero, t)
            out[j] = (d - ls) + err
    else:
        for j in range(lo, lo + n):
            d, err = _shifted(x[j], m, zero, t)
            e = _exp(d)
            out[j] = e + e * err
        s = _pairwise_sum(out, lo, n)
        for j in range(lo, lo + n):
            out[j] = out[j] / s


@njit(**_OPTS)
def _short_rows(x, out, lo0, nrows, n, log, zero, one, t, buf, buf2):  # pragma: no cover
    """Several short rows: per-row scalars are spread into buffers so that the
    expensive element-wise passes run flat over the whole block, vectorised."""
    size = nrows * n
    special = False
    for r in range(nrows):
        lo = r * n
        m = _row_max(x, lo0 + lo, n)
        if not (abs(m) < np.inf):
            special = True
            m = zero  # a harmless shift; the row is redone below
        for j in range(lo, lo + n):
            buf[j] = m
    if log:
        for i in range(size):
            d, err = _shifted(x[lo0 + i], buf[i], zero, t)
            e = _exp(d)
            e = e + e * err
            out[lo0 + i] = zero if d == zero else e
            buf2[i] = one if d == zero else zero
        for r in range(nrows):
            lo = r * n
            count = zero
            for j in range(lo, lo + n):
                count += buf2[j]
            ls = math.log1p((count - one) + _pairwise_sum(out, lo0 + lo, n))
            for j in range(lo, lo + n):
                buf2[j] = ls
        for i in range(size):
            d, err = _shifted(x[lo0 + i], buf[i], zero, t)
            out[lo0 + i] = (d - buf2[i]) + err
    else:
        for i in range(size):
            d, err = _shifted(x[lo0 + i], buf[i], zero, t)
            e = _exp(d)
            out[lo0 + i] = e + e * err
        for r in range(nrows):
            lo = r * n
            s = _pairwise_sum(out, lo0 + lo, n)
            for j in range(lo, lo + n):
                buf2[j] = s
        for i in range(size):
            out[lo0 + i] = out[lo0 + i] / buf2[i]
    if special:
        for r in range(nrows):
            lo = lo0 + r * n
            m = _row_max(x, lo, n)
            if not (abs(m) < np.inf):
                _special_row(x, out, lo, n, m, log, zero, one)


@njit(parallel=True, **_OPTS)
def _rows(x, out, n, log, zero, one, t):  # pragma: no cover - compiled
    nrows = x.shape[0] // n
    if n >= _LONG:
        for r in prange(nrows):
            _long_row(x, out, r * n, n, log, zero, one, t)
    else:
        per_block = max(1, _BLOCK // n)
        nblocks = (nrows + per_block - 1) // per_block
        for b in prange(nblocks):
            r0 = b * per_block
            k = min(nrows, r0 + per_block) - r0
            buf = np.empty(k * n, x.dtype)
            buf2 = np.empty(k * n, x.dtype)
            _short_rows(x, out, r0 * n, k, n, log, zero, one, t, buf, buf2)


def softmax_rows(x: np.ndarray, out: np.ndarray, n: int, temperature: float = 1.0) -> None:
    """Softmax over consecutive rows of length ``n`` of the flat array ``x``, into ``out``
    (``out`` must not share memory with ``x``)."""
    f = x.dtype.type
    _rows(x, out, n, False, f(0.0), f(1.0), f(temperature))


def log_softmax_rows(x: np.ndarray, out: np.ndarray, n: int, temperature: float = 1.0) -> None:
    """Log-softmax over consecutive rows of length ``n`` of the flat array ``x``, into ``out``
    (``out`` must not share memory with ``x``)."""
    f = x.dtype.type
    _rows(x, out, n, True, f(0.0), f(1.0), f(temperature))
