"""Fused CPU kernels for the row-wise hot paths (optional; the NumPy code in
``softmax.special`` is the reference and the fallback).

``applies(x, axis)`` says whether a fused kernel handles this call; the
kernels must return what the reference returns (tests check it: float64
within 2 ulp, special values exactly).  The kernels live in ``_numba.py`` and
need numba (the ``fast`` extra); numba is imported on the first call that
could use it, never at ``import softmax``.  If numba is missing or the kernels
fail to compile, ``applies`` answers False from then on and the reference runs.
"""

from __future__ import annotations

import contextlib
import operator
import threading
from collections.abc import Iterator
from typing import Any

import numpy as np

__all__ = ["MIN_SIZE", "applies", "fused_multinomial", "log_softmax", "softmax", "threads_for"]

#: Smallest ``x.size`` handed to the kernel: below it the reference's few
#: NumPy calls cost about as much as starting numba's threads (measured with
#: ``benchmarks/bench_functions.py``; the kernel is 3x faster at 2**15).  On
#: 10**7 elements one kernel thread is about 7x (float64) to 10x (float32)
#: faster than the reference, rows of 10 or 1000 (the kernel's own work, not
#: thread start-up, so the crossover stays where it was).
MIN_SIZE = 2**13

_DTYPES = (np.float32, np.float64)
_lock = threading.Lock()
_impl: Any = None  # the loaded ``_numba`` module once it works
_state = "unknown"  # "unknown" -> "ok" | "broken"


def _load() -> bool:
    """Import numba and compile (or load from the on-disk cache) once."""
    global _impl, _state
    with _lock:
        if _state != "unknown":
            return _state == "ok"
        try:
            from softmax._kernels import _numba as impl

            for dtype in _DTYPES:  # compile both dtypes now: failures surface here
                x = np.zeros(16, dtype)
                impl.softmax_rows(x, np.empty_like(x), 4)
                impl.log_softmax_rows(x, np.empty_like(x), 4)
        except Exception:  # numba missing, too old, or LLVM refusing the code
            _state = "broken"
            return False
        _impl, _state = impl, "ok"
        return True


def applies(x: Any, axis: Any) -> bool:
    """True when a fused kernel can handle ``x`` normalised over ``axis``."""
    if type(x) is not np.ndarray or x.dtype.type not in _DTYPES or not x.dtype.isnative:
        return False
    if x.ndim < 1 or x.size < MIN_SIZE or x.shape[-1] == 0:
        return False
    if isinstance(axis, bool):
        return False
    try:
        a = operator.index(axis)
    except TypeError:
        return False
    if a not in (-1, x.ndim - 1) or not (x.flags.c_contiguous and x.flags.aligned):
        return False
    return _state == "ok" or (_state == "unknown" and _load())


def _run(x: np.ndarray, temperature: float, log: bool) -> np.ndarray:
    # The kernels read their input again after writing: never in place.
    out = np.empty_like(x)
    n = x.shape[-1]
    rows = _impl.log_softmax_rows if log else _impl.softmax_rows
    rows(x.reshape(-1), out.reshape(-1), n, temperature)
    return out


def softmax(x: Any, temperature: float) -> Any:
    """Softmax over the last axis of a C-contiguous float32/float64 array."""
    return _run(x, temperature, log=False)


def log_softmax(x: Any, temperature: float) -> Any:
    """Log-softmax over the last axis of a C-contiguous float32/float64 array."""
    return _run(x, temperature, log=True)


# --------------------------------------------------------------------------- #
# Fused row passes of the dense multinomial data fit (``_numba_linear``)
# --------------------------------------------------------------------------- #
#: Most classes the fused data-fit pass takes: it keeps a row's logits in
#: registers and cache; with many classes the BLAS GEMMs of the reference win
#: (measured on one thread: 500k x 54 x 7 3.4x faster fused, 200k x 200 x 10
#: 1.7x, 100k x 100 x 32 even with BLAS: its gradient 1.4x faster, its
#: Hessian-vector product 1.2x slower).
MAX_FUSED_CLASSES = 16

#: Rows per block of the fused pass (a block of X and its logits stay in L2)
#: and the number of partial sums (fixed, so results do not depend on threads).
FUSED_BLOCK_ROWS = 256
FUSED_PARTS = 64

_linear_impl: Any = None
_linear_state = "unknown"


def _load_linear() -> bool:
    global _linear_impl, _linear_state
    with _lock:
        if _linear_state != "unknown":
            return _linear_state == "ok"
        try:
            from softmax._kernels import _numba_linear as impl
        except Exception:  # numba missing or refusing the code
            _linear_state = "broken"
            return False
        _linear_impl, _linear_state = impl, "ok"
        return True


def fused_multinomial(X: Any, n_classes: int) -> Any:
    """The fused kernels module when it handles the multinomial data fit on ``X``
    (dense, C-contiguous float32/float64, at most :data:`MAX_FUSED_CLASSES`
    classes, at least :data:`MIN_SIZE` elements); None otherwise."""
    if type(X) is not np.ndarray or X.ndim != 2 or X.dtype.type not in _DTYPES:
        return None
    if not (X.flags.c_contiguous and X.flags.aligned and X.dtype.isnative):
        return None
    if n_classes > MAX_FUSED_CLASSES or X.size < MIN_SIZE or X.shape[1] == 0:
        return None
    if _linear_state == "ok" or (_linear_state == "unknown" and _load_linear()):
        return _linear_impl
    return None


# --------------------------------------------------------------------------- #
# Threads for small problems
# --------------------------------------------------------------------------- #
#: Below this many multiply-adds per pass over the data (``n_samples *
#: n_params``) a fit runs on one thread: starting and joining threads (BLAS and
#: numba) at every evaluation then costs more than it saves, and on a busy
#: machine a descheduled thread stalls every parallel region.  digits (1 797
#: rows, 650 parameters: 1.2e6) is below it — its Newton-Cholesky fit takes
#: 0.55 s on one thread and 1.3-1.7 s with two, although forming its Hessian
#: is 7.6e8 multiply-adds — and 200k x 54 x 7 (7.7e7) is not.
SINGLE_THREAD_WORK = 4_000_000


@contextlib.contextmanager
def threads_for(work: float) -> Iterator[None]:
    """Run the body on one thread (BLAS and numba) when ``work`` is below
    :data:`SINGLE_THREAD_WORK`; otherwise leave the thread counts alone."""
    if work >= SINGLE_THREAD_WORK:
        yield
        return
    from threadpoolctl import threadpool_limits

    numba_threads = None
    # Import the kernels now (not at their first call, inside the body) so that
    # numba's pool can be limited too; without numba there is nothing to limit.
    if _linear_state == "ok" or (_linear_state == "unknown" and _load_linear()):
        import numba

        numba_threads = numba.get_num_threads()
        numba.set_num_threads(1)
    try:
        with threadpool_limits(limits=1):
            yield
    finally:
        if numba_threads is not None:
            numba.set_num_threads(numba_threads)
