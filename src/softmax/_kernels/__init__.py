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

import operator
import threading
from typing import Any

import numpy as np

__all__ = ["MIN_SIZE", "applies", "log_softmax", "softmax"]

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
