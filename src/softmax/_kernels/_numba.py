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

Two paths, both doing each row's arithmetic in the same order (so the
bits do not depend on the path; a test forces one path and compares):

* **one row at a time** (rows longer than ``_COLS32`` / ``_COLS64``): a pass
  for the max, one for ``e`` (into ``out``), NumPy's pairwise sum over
  ``out``, one for the result; rows are distributed over numba's threads.
* **transposed blocks** (short rows): a block of ``k`` rows (about ``_BLOCK``
  elements) is transposed into an ``(n, k)`` buffer with 8 x 8 vector tiles,
  so that the per-row max, the per-row pairwise sum (the same additions, in
  the same order, for each row) and the per-row scalars are vertical: one
  vector operation serves 8 (float32) or 4 (float64) rows.  The result is
  transposed back; rows whose max is not finite are redone one at a time.

What makes LLVM vectorise (each measured on the loops it touches: 1.2x-5x):

* loops index views of their row from 0 with ``range`` counters: numba
  wraps negative indices around, and ``x[lo + j]`` keeps that select (LLVM
  cannot prove ``lo + j >= 0``) and stays scalar;
* NumPy's 8 pairwise accumulators and the 8-lane max are one ``<8 x float>``
  operation a block, written in LLVM IR (``_make_lanes``): LLVM does not
  vectorise 8 scalar accumulators carried around a loop;
* selects are ``_sel`` (a Python conditional expression becomes branches), and
  an in-place ``a[r] = v if v > a[r] else a[r]`` is avoided: LLVM makes it a
  masked store, which is slow;
* ``t is None`` for ``T == 1`` compiles a specialisation without the division
  by ``T``, which LLVM would otherwise compute everywhere and select away;
* log_softmax's maxima are marked ``-0.0`` in the ``e`` pass and counted
  afterwards rather than counted inside the loop.

``exp`` and the divisions remain the main costs.  ``log1p`` is libm's, one
call per row (it dominates log_softmax of very short rows).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from llvmlite import ir
from numba import njit, prange, types
from numba.core import cgutils
from numba.extending import intrinsic, overload

__all__ = ["log_softmax_picked_rows", "log_softmax_rows", "softmax_rows"]


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


def _make_lanes(op):
    """Intrinsic ``(a, nblk)``: lane ``q`` (0..7) reduces ``a[q], a[q + 8], ...``
    over ``nblk`` blocks of 8 in order, one ``<8 x float>`` operation a block,
    then the lanes combine as ``((l0 . l1) . (l2 . l3)) . ((l4 . l5) . (l6 . l7))``.

    ``op`` "add": NumPy's 8 pairwise accumulators.  ``op`` "max": ``v if v > m
    else m``, the comparison of ``_row_max``.  Written in LLVM IR because LLVM
    does not vectorise eight scalar accumulators (a loop-carried bundle).
    """

    @intrinsic
    def lanes(typingctx, a, nblk):  # pragma: no cover - compiled
        if not (
            isinstance(a, types.Array)
            and a.ndim == 1
            and a.layout == "C"
            and isinstance(a.dtype, types.Float)
            and isinstance(nblk, types.Integer)
        ):
            return None
        sig = a.dtype(a, nblk)

        def combine(builder, p, q):
            if op == "add":
                return builder.fadd(p, q)
            return builder.select(builder.fcmp_ordered(">", q, p), q, p)

        def codegen(context, builder, signature, args):
            arr = context.make_array(signature.args[0])(context, builder, args[0])
            fty = context.get_value_type(signature.args[0].dtype)
            vty = ir.VectorType(fty, 8)
            align = context.get_abi_sizeof(fty)
            vptr = builder.bitcast(arr.data, vty.as_pointer())
            acc = cgutils.alloca_once(builder, vty)
            builder.store(builder.load(vptr, align=align), acc)
            one = ir.Constant(args[1].type, 1)
            with cgutils.for_range(builder, builder.sub(args[1], one)) as loop:
                v = builder.load(builder.gep(vptr, [builder.add(loop.index, one)]), align=align)
                builder.store(combine(builder, builder.load(acc), v), acc)
            v = builder.load(acc)
            x = [builder.extract_element(v, ir.Constant(ir.IntType(32), q)) for q in range(8)]
            lo = combine(builder, combine(builder, x[0], x[1]), combine(builder, x[2], x[3]))
            hi = combine(builder, combine(builder, x[4], x[5]), combine(builder, x[6], x[7]))
            return combine(builder, lo, hi)

        return sig, codegen

    return lanes


_lanes_sum = _make_lanes("add")
_lanes_max = _make_lanes("max")


@intrinsic
def _tr8(typingctx, src, s0, ss, dst, d0, ds):  # pragma: no cover - compiled
    """Transpose an 8 x 8 tile: ``dst[d0 + q * ds + i] = src[s0 + i * ss + q]``.

    Eight vector loads, shuffles, eight vector stores (in order of ``q``, so a
    later row overwrites what an earlier one wrote past its end).  The caller
    keeps every index inside its arrays; there are no checks.
    """
    if not (
        isinstance(src, types.Array)
        and src.ndim == 1
        and src.layout == "C"
        and isinstance(src.dtype, types.Float)
        and dst == src
    ):
        return None
    sig = types.none(src, s0, ss, dst, d0, ds)

    def codegen(context, builder, signature, args):
        aty = signature.args[0]
        fty = context.get_value_type(aty.dtype)
        vty = ir.VectorType(fty, 8)
        align = context.get_abi_sizeof(fty)
        src_p = context.make_array(aty)(context, builder, args[0]).data
        dst_p = context.make_array(aty)(context, builder, args[3]).data
        s0, ss, d0, ds = args[1], args[2], args[4], args[5]

        def at(base, off, stride, i):
            off = builder.add(off, builder.mul(stride, ir.Constant(stride.type, i)))
            return builder.bitcast(builder.gep(base, [off]), vty.as_pointer())

        def shuf(a, b, idx):
            return builder.shuffle_vector(
                a, b, ir.Constant(ir.VectorType(ir.IntType(32), 8), list(idx))
            )

        a = [builder.load(at(src_p, s0, ss, i), align=align) for i in range(8)]
        lo, hi = [0, 8, 1, 9, 4, 12, 5, 13], [2, 10, 3, 11, 6, 14, 7, 15]
        t = []
        for i in range(0, 8, 2):
            t += [shuf(a[i], a[i + 1], lo), shuf(a[i], a[i + 1], hi)]
        lo2, hi2 = [0, 1, 8, 9, 4, 5, 12, 13], [2, 3, 10, 11, 6, 7, 14, 15]
        # t0..t7 = (a0a1 lo, a0a1 hi, a2a3 lo, a2a3 hi, a4a5 lo, a4a5 hi, a6a7 lo, a6a7 hi)
        u = [
            shuf(t[0], t[2], lo2),
            shuf(t[0], t[2], hi2),
            shuf(t[1], t[3], lo2),
            shuf(t[1], t[3], hi2),
            shuf(t[4], t[6], lo2),
            shuf(t[4], t[6], hi2),
            shuf(t[5], t[7], lo2),
            shuf(t[5], t[7], hi2),
        ]
        first, second = [0, 1, 2, 3, 8, 9, 10, 11], [4, 5, 6, 7, 12, 13, 14, 15]
        cols = [None] * 8
        for q in range(4):
            cols[q] = shuf(u[q], u[q + 4], first)
            cols[q + 4] = shuf(u[q], u[q + 4], second)
        for q in range(8):
            builder.store(cols[q], at(dst_p, d0, ds, q), align=align)
        return context.get_dummy_value()

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


def _count(c, like):  # pragma: no cover - replaced by the overload below
    raise NotImplementedError


@overload(_count, inline="always")
def _ov_count(c, like):
    """The integer ``c`` as the float ``like``'s type, as if counted by adding ones
    to a float one at a time (which stops at 2**24 in float32, 2**53 in float64)."""
    if not isinstance(like, types.Float):
        return None
    f = np.float32 if like == types.float32 else np.float64
    top = 2**24 if like == types.float32 else 2**53

    def impl(c, like):
        return f(min(c, top))

    return impl


def _neg_zeros(a):  # pragma: no cover - replaced by the overload below
    raise NotImplementedError


@overload(_neg_zeros)
def _ov_neg_zeros(a):
    """The number of entries of the float array ``a`` that are -0.0 (bitwise)."""
    if not (isinstance(a, types.Array) and isinstance(a.dtype, types.Float)):
        return None
    ity = np.int32 if a.dtype == types.float32 else np.int64
    sign = ity(np.iinfo(ity).min)

    def impl(a):
        bits = a.view(ity)
        c = 0
        for j in range(bits.shape[0]):
            c += bits[j] == sign
        return c

    return impl


_OPTS: dict[str, Any] = {"cache": True, "error_model": "numpy", "nogil": True}


@njit(**_OPTS)
def vexp(x, out):  # pragma: no cover - compiled; for tests and measurements
    """``out[i] = exp(x[i])`` for ``x[i] <= 0`` (the kernels' exp)."""
    for i in range(x.shape[0]):
        out[i] = _exp(x[i])


# --------------------------------------------------------------------------- #
# one row at a time.  Every function takes views of its row and indexes them
# from 0 with ``range`` counters: numba wraps negative indices around, and only
# an index LLVM can prove non-negative loses that select and lets the loop
# vectorise (``x[lo + j]`` does not: ``lo`` might be negative as far as LLVM knows).
# --------------------------------------------------------------------------- #
@njit(**_OPTS)
def _row_max(x):  # pragma: no cover - compiled
    """Max of the row ``x`` if it holds no NaN.

    With a NaN the result is NaN (always if ``x[0]`` is NaN) or some finite
    value: comparisons skip a NaN, and which lanes it stalls depends on its
    place; a non-finite result is replaced by the NaN.  A finite result is only
    a shift: the NaN spreads over the row through the caller's arithmetic.
    """
    n = x.shape[0]
    m = x[0]
    i = 1
    if n >= 16:
        i = n - n % 8
        m = _lanes_max(x, i // 8)
    for j in range(i, n):
        m = x[j] if x[j] > m else m
    # NaN never wins a comparison: look for it only where the max says "maybe"
    # (a NaN at x[0] with nothing larger, or a non-finite max).
    if not (abs(m) < np.inf):
        for j in range(n):
            if x[j] != x[j]:
                return x[j]
    return m


@njit(**_OPTS)
def _pairwise_sum(a):  # pragma: no cover - compiled
    """``np.sum(a)`` in NumPy's exact order (pairwise, 8 accumulators)."""
    n = a.shape[0]
    if n < 8:
        res = a[0]
        for i in range(1, n):
            res += a[i]
        return res
    if n <= 128:
        stop = n - n % 8
        res = _lanes_sum(a, stop // 8)
        for i in range(stop, n):
            res += a[i]
        return res
    n2 = n // 2
    n2 -= n2 % 8
    return _pairwise_sum(a[:n2]) + _pairwise_sum(a[n2:])


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
    if t is not None:  # t is None for T == 1: no division compiled in (not even a select)
        d = d / t
        err = _sel(abs(d) < np.inf, err / t, zero)
    return d, err


@njit(**_OPTS)
def _special_row(x, out, m, log, zero, one):  # pragma: no cover - compiled
    """A row whose max is +inf, -inf or NaN, exactly as the reference does it."""
    n = x.shape[0]
    if m != m:  # NaN spreads over its row
        for j in range(n):
            out[j] = m
    elif m < zero:  # all -inf: softmax 0, log_softmax -inf
        for j in range(n):
            out[j] = m if log else zero
    else:  # +inf entries share the probability
        count = zero
        for j in range(n):
            if x[j] == m:
                count += one
        if log:
            ls = zero - math.log1p(count - one)  # +0.0 for one maximum, as the reference
            for j in range(n):
                out[j] = ls if x[j] == m else -m
        else:
            p = one / count
            for j in range(n):
                out[j] = p if x[j] == m else zero


@njit(**_OPTS)
def _long_log_norm(x, buf, m, zero, one, t):  # pragma: no cover - compiled
    """``log1p((count - 1) + rest)`` of the finite-max row ``x`` (``buf``: scratch of its length).

    ``count`` is the number of maxima, ``rest`` the pairwise sum of the other
    ``exp(d) (1 + err)``: the row's log-sum-exp minus its max, which
    log_softmax subtracts from every ``d``.
    """
    n = x.shape[0]
    # The maxima (d == 0) must add 0 to the rest of the sum: they are
    # stored as -0.0, which e never is (e >= +0), and counted afterwards
    # (counting inside this loop costs more than the extra pass).  A -0.0
    # instead of +0.0 changes no sum of non-negative terms but an all-zero
    # one, and (count - 1) + rest gives +0.0 for that either way.
    nz = -zero
    for j in range(n):
        d, err = _shifted(x[j], m, zero, t)
        e = _exp(d)
        e = e + e * err
        buf[j] = _sel(d == zero, nz, e)
    cnt = _neg_zeros(buf)
    return math.log1p((_count(cnt, zero) - one) + _pairwise_sum(buf))


@njit(**_OPTS)
def _long_row(x, out, log, zero, one, t):  # pragma: no cover - compiled
    """One row ``x`` (a view) into ``out``."""
    n = x.shape[0]
    m = _row_max(x)
    if not (abs(m) < np.inf):
        _special_row(x, out, m, log, zero, one)
        return
    if log:
        ls = _long_log_norm(x, out, m, zero, one, t)
        for j in range(n):
            d, err = _shifted(x[j], m, zero, t)
            out[j] = (d - ls) + err
    else:
        for j in range(n):
            d, err = _shifted(x[j], m, zero, t)
            e = _exp(d)
            out[j] = e + e * err
        s = _pairwise_sum(out)
        for j in range(n):
            out[j] = out[j] / s


# --------------------------------------------------------------------------- #
# short rows, a block at a time, transposed: column r of the (n, k) buffers is
# row r of the block, so the per-row reductions (max, pairwise sum) and the
# per-row scalars are vertical: one vector operation serves 4-8 rows.  Each
# row still sees exactly the comparisons and additions of ``_row_max`` and
# ``_pairwise_sum`` in their order, so the bits are the same.
# --------------------------------------------------------------------------- #
# Rows up to this long go through the transposed path (float32, float64):
# measured crossovers with the one-row-at-a-time path, which wins from about
# 40 / 24 elements on (its loops get long enough to vectorise well).
_COLS32, _COLS64 = 32, 16


@njit(**_OPTS)
def _cols_max(T, n, k, acc, m, mb):  # pragma: no cover - compiled
    """``m[r]`` = ``_row_max``'s comparisons over ``T[:n, r]``, before its NaN scan.

    Each step writes to another buffer than it reads (``acc[0]`` / ``acc[1]``,
    ``m`` / ``mb``): LLVM turns ``a[r] = a[r] if a[r] >= v else v`` in place
    into a masked store, which is slow.
    """
    a, b = m, mb
    if n < 16:
        t0 = T[0]
        for r in range(k):
            a[r] = t0[r]
        for j in range(1, n):
            tj = T[j]
            for r in range(k):
                b[r] = _sel(tj[r] > a[r], tj[r], a[r])
            a, b = b, a
    else:
        A, B = acc[0], acc[1]
        for q in range(8):
            aq, tq = A[q], T[q]
            for r in range(k):
                aq[r] = tq[r]
        stop = n - n % 8
        for i in range(8, stop, 8):
            for q in range(8):
                aq, bq, tq = A[q], B[q], T[i + q]
                for r in range(k):
                    bq[r] = _sel(tq[r] > aq[r], tq[r], aq[r])
            A, B = B, A
        a0, a1, a2, a3, a4, a5, a6, a7 = A[0], A[1], A[2], A[3], A[4], A[5], A[6], A[7]
        for r in range(k):
            m0 = _sel(a1[r] > a0[r], a1[r], a0[r])
            m2 = _sel(a3[r] > a2[r], a3[r], a2[r])
            m4 = _sel(a5[r] > a4[r], a5[r], a4[r])
            m6 = _sel(a7[r] > a6[r], a7[r], a6[r])
            m0 = _sel(m2 > m0, m2, m0)
            m4 = _sel(m6 > m4, m6, m4)
            a[r] = _sel(m4 > m0, m4, m0)
        for j in range(stop, n):
            tj = T[j]
            for r in range(k):
                b[r] = _sel(tj[r] > a[r], tj[r], a[r])
            a, b = b, a
    if (n - (n - n % 8 if n >= 16 else 1)) % 2 == 1:  # the result is in mb
        for r in range(k):
            m[r] = mb[r]


@njit(**_OPTS)
def _cols_sum(E, n, k, acc2, s):  # pragma: no cover - compiled
    """``s[r]`` = ``_pairwise_sum(E[:n, r])`` (n <= 128), the same additions in order."""
    if n < 8:
        e0 = E[0]
        for r in range(k):
            s[r] = e0[r]
        for j in range(1, n):
            ej = E[j]
            for r in range(k):
                s[r] += ej[r]
        return
    acc = acc2[0]
    for q in range(8):
        aq, eq = acc[q], E[q]
        for r in range(k):
            aq[r] = eq[r]
    stop = n - n % 8
    for i in range(8, stop, 8):
        for q in range(8):
            aq, eq = acc[q], E[i + q]
            for r in range(k):
                aq[r] += eq[r]
    a0, a1, a2, a3, a4, a5, a6, a7 = acc[0], acc[1], acc[2], acc[3], acc[4], acc[5], acc[6], acc[7]
    for r in range(k):
        s[r] = ((a0[r] + a1[r]) + (a2[r] + a3[r])) + ((a4[r] + a5[r]) + (a6[r] + a7[r]))
    for j in range(stop, n):
        ej = E[j]
        for r in range(k):
            s[r] += ej[r]


@njit(**_OPTS)
def _transpose_in(x, n, T):  # pragma: no cover - compiled
    """``T[j, r] = x[r * n + j]``: the rows (length ``n``) of the view ``x`` as columns of ``T``."""
    k = x.shape[0] // n
    size = k * n
    tf = T.reshape(T.size)  # flat view for the tiles
    R = T.shape[1]
    kt = k - k % 8
    # 8 x 8 tiles; a tile's columns >= n are the next rows' entries (they
    # land in the padding rows of T), never read past x.
    for r0 in range(0, kt, 8):
        for j0 in range(0, n, 8):
            if (r0 + 7) * n + j0 + 8 <= size:
                _tr8(x, r0 * n + j0, n, tf, j0 * R + r0, R)
            else:
                for i in range(8):
                    xr = x[(r0 + i) * n : (r0 + i + 1) * n]
                    for j in range(j0, min(n, j0 + 8)):
                        T[j, r0 + i] = xr[j]
    for r in range(kt, k):
        xr = x[r * n : (r + 1) * n]
        for j in range(n):
            T[j, r] = xr[j]


@njit(**_OPTS)
def _cols_log_norm(T, E, n, k, zero, one, t, acc, m, s, c):  # pragma: no cover - compiled
    """``s[r]`` = ``_long_log_norm`` of column ``r`` of ``T[:n, :k]`` (max ``m[r]``), in its order.

    ``E`` receives the ``exp(d) (1 + err)`` (+0.0 at the maxima, which ``c``
    counts here: vertically the count is cheap).
    """
    for r in range(k):
        c[r] = zero
    for j in range(n):
        tj, ej = T[j], E[j]
        for r in range(k):
            d, err = _shifted(tj[r], m[r], zero, t)
            e = _exp(d)
            e = e + e * err
            ej[r] = _sel(d == zero, zero, e)
            c[r] += _sel(d == zero, one, zero)
    _cols_sum(E, n, k, acc, s)
    for r in range(k):
        s[r] = math.log1p((c[r] - one) + s[r])


@njit(**_OPTS)
def _short_rows(x, out, n, log, zero, one, t, T, E, acc, m, s, c):  # pragma: no cover
    """The rows of length ``n`` in the views ``x``, ``out``.

    Buffers: ``T``, ``E`` (n rounded up to 8, >= k), ``acc`` (2, 8, >= k),
    ``m``, ``s``, ``c`` (>= k,).
    """
    k = x.shape[0] // n
    size = k * n
    ef = E.reshape(E.size)  # flat view for the tiles
    R = T.shape[1]
    kt = k - k % 8
    _transpose_in(x, n, T)
    _cols_max(T, n, k, acc, m, c)
    if log:
        _cols_log_norm(T, E, n, k, zero, one, t, acc, m, s, c)
        for j in range(n):
            tj, ej = T[j], E[j]
            for r in range(k):
                d, err = _shifted(tj[r], m[r], zero, t)
                ej[r] = (d - s[r]) + err
    else:
        for j in range(n):
            tj, ej = T[j], E[j]
            for r in range(k):
                d, err = _shifted(tj[r], m[r], zero, t)
                e = _exp(d)
                ej[r] = e + e * err
        _cols_sum(E, n, k, acc, s)
        for j in range(n):
            ej = E[j]
            for r in range(k):
                ej[r] = ej[r] / s[r]
    # transpose out: a tile's rows are stored in order and may spill past
    # their end into the following rows; column groups go right to left, so
    # every spill is overwritten later by the row it fell on (spills stay in out).
    for r0 in range(0, kt, 8):
        for g in range((n + 7) // 8):
            j0 = ((n + 7) // 8 - 1 - g) * 8
            if (r0 + 7) * n + j0 + 8 <= size:
                _tr8(ef, j0 * R + r0, R, out, r0 * n + j0, n)
            else:
                for i in range(8):
                    orow = out[(r0 + i) * n : (r0 + i + 1) * n]
                    for j in range(j0, min(n, j0 + 8)):
                        orow[j] = E[j, r0 + i]
    for r in range(kt, k):
        orow = out[r * n : (r + 1) * n]
        for j in range(n):
            orow[j] = E[j, r]
    for r in range(k):
        if not (abs(m[r]) < np.inf):
            xr, orow = x[r * n : (r + 1) * n], out[r * n : (r + 1) * n]
            _special_row(xr, orow, _row_max(xr), log, zero, one)


# --------------------------------------------------------------------------- #
# the kernels: x, out flat C-contiguous (not sharing memory), rows of n
# --------------------------------------------------------------------------- #
_BLOCK = 4096  # elements per block of short rows: its buffers stay in L1 / L2
_CHUNK = 16  # blocks per parallel task (one set of buffers each)


@njit(**_OPTS)
def _short_scratch(x, n, per_block):  # pragma: no cover - compiled
    """Per-thread buffers of the transposed short-row path, ``T`` and ``E`` padded
    to whole 8 x 8 tiles: ``(T, E, acc, m, s, cnt)``."""
    n8 = (n + 7) // 8 * 8
    T = np.empty((n8, per_block), x.dtype)
    E = np.empty((n8, per_block), x.dtype)
    acc = np.empty((2, 8, per_block), x.dtype)
    m = np.empty(per_block, x.dtype)
    s = np.empty(per_block, x.dtype)
    cnt = np.empty(per_block, x.dtype)
    return T, E, acc, m, s, cnt


@njit(parallel=True, **_OPTS)
def _rows(x, out, n, log, zero, one, t, cols):  # pragma: no cover - compiled
    nrows = x.shape[0] // n
    if n > cols:
        for r in prange(nrows):
            lo = r * n
            _long_row(x[lo : lo + n], out[lo : lo + n], log, zero, one, t)
    else:
        per_block = max(8, (_BLOCK // n) // 8 * 8)
        nblocks = (nrows + per_block - 1) // per_block
        nchunks = (nblocks + _CHUNK - 1) // _CHUNK
        for c in prange(nchunks):
            T, E, acc, m, s, cnt = _short_scratch(x, n, per_block)
            for b in range(c * _CHUNK, min(nblocks, (c + 1) * _CHUNK)):
                lo = b * per_block * n
                hi = min(nrows, (b + 1) * per_block) * n
                _short_rows(x[lo:hi], out[lo:hi], n, log, zero, one, t, T, E, acc, m, s, cnt)


def softmax_rows(x: np.ndarray, out: np.ndarray, n: int, temperature: float = 1.0) -> None:
    """Softmax over consecutive rows of length ``n`` of the flat array ``x``, into ``out``
    (``out`` must not share memory with ``x``)."""
    f = x.dtype.type
    t = None if f(temperature) == 1 else f(temperature)  # None: no division compiled in
    _rows(x, out, n, False, f(0.0), f(1.0), t, _COLS32 if f is np.float32 else _COLS64)


def log_softmax_rows(x: np.ndarray, out: np.ndarray, n: int, temperature: float = 1.0) -> None:
    """Log-softmax over consecutive rows of length ``n`` of the flat array ``x``, into ``out``
    (``out`` must not share memory with ``x``)."""
    f = x.dtype.type
    t = None if f(temperature) == 1 else f(temperature)  # None: no division compiled in
    _rows(x, out, n, True, f(0.0), f(1.0), t, _COLS32 if f is np.float32 else _COLS64)


# --------------------------------------------------------------------------- #
# log_softmax at one entry per row (cross-entropy with integer labels)
# --------------------------------------------------------------------------- #
# ``picked[i]`` is ``log_softmax(x)[i, y[i]]`` bit for bit (the same max, the
# same normaliser from the same helpers, then the same ``(d - ls) + err`` for
# that one entry), without writing the other n - 1 entries of the row, nor
# transposing them back: cross-entropy reads x once and writes a vector.
@njit(**_OPTS)
def _special_picked(x, j, m, zero, one):  # pragma: no cover - compiled
    """Entry ``j`` of ``_special_row``'s log output for the row ``x`` of max ``m``."""
    if m != m or m < zero:  # NaN: NaN; all -inf: -inf (m itself in both cases)
        return m
    count = zero
    for i in range(x.shape[0]):
        if x[i] == m:
            count += one
    ls = zero - math.log1p(count - one)  # +0.0 for one maximum, as the reference
    return ls if x[j] == m else -m


@njit(**_OPTS)
def _long_picked(x, j, buf, zero, one, t):  # pragma: no cover - compiled
    """``log_softmax(x)[j]`` of one row ``x`` (``buf``: scratch of its length)."""
    m = _row_max(x)
    if not (abs(m) < np.inf):
        return _special_picked(x, j, m, zero, one)
    ls = _long_log_norm(x, buf, m, zero, one, t)
    d, err = _shifted(x[j], m, zero, t)
    return (d - ls) + err


@njit(**_OPTS)
def _short_picked(x, y, picked, n, zero, one, t, T, E, acc, m, s, c):  # pragma: no cover
    """``_short_rows``' log output of the rows in the view ``x``, only at columns ``y``."""
    k = x.shape[0] // n
    _transpose_in(x, n, T)
    _cols_max(T, n, k, acc, m, c)
    _cols_log_norm(T, E, n, k, zero, one, t, acc, m, s, c)
    for r in range(k):
        d, err = _shifted(T[y[r], r], m[r], zero, t)
        picked[r] = (d - s[r]) + err
    for r in range(k):
        if not (abs(m[r]) < np.inf):
            xr = x[r * n : (r + 1) * n]
            picked[r] = _special_picked(xr, y[r], _row_max(xr), zero, one)


_ROW_CHUNK = 16  # long rows per parallel task (one scratch row each)


@njit(parallel=True, **_OPTS)
def _picked_rows(x, y, picked, n, zero, one, t, cols):  # pragma: no cover - compiled
    nrows = y.shape[0]
    if n > cols:
        nchunks = (nrows + _ROW_CHUNK - 1) // _ROW_CHUNK
        for c in prange(nchunks):
            buf = np.empty(n, x.dtype)
            for r in range(c * _ROW_CHUNK, min(nrows, (c + 1) * _ROW_CHUNK)):
                lo = r * n
                picked[r] = _long_picked(x[lo : lo + n], y[r], buf, zero, one, t)
    else:
        per_block = max(8, (_BLOCK // n) // 8 * 8)
        nblocks = (nrows + per_block - 1) // per_block
        nchunks = (nblocks + _CHUNK - 1) // _CHUNK
        for c in prange(nchunks):
            T, E, acc, m, s, cnt = _short_scratch(x, n, per_block)
            for b in range(c * _CHUNK, min(nblocks, (c + 1) * _CHUNK)):
                r0 = b * per_block
                r1 = min(nrows, (b + 1) * per_block)
                xb, yb, pb = x[r0 * n : r1 * n], y[r0:r1], picked[r0:r1]
                _short_picked(xb, yb, pb, n, zero, one, t, T, E, acc, m, s, cnt)


def log_softmax_picked_rows(
    x: np.ndarray, labels: np.ndarray, picked: np.ndarray, n: int, temperature: float = 1.0
) -> None:
    """``picked[i] = log_softmax_rows(x)[i * n + labels[i]]`` for the consecutive rows of
    length ``n`` of the flat array ``x``, bit for bit, without the other entries.

    ``labels`` (int64, one per row) must lie in ``[0, n)``: they are not checked.
    """
    f = x.dtype.type
    t = None if f(temperature) == 1 else f(temperature)  # None: no division compiled in
    _picked_rows(x, labels, picked, n, f(0.0), f(1.0), t, _COLS32 if f is np.float32 else _COLS64)
