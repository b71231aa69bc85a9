"""Which array library a call is in, and the dtype rules every function follows.

The public functions accept any array of a library that ``array-api-compat``
understands (NumPy, PyTorch, CuPy, JAX, Dask, array-api-strict) and return
arrays of that same library, on the same device.  Python lists and scalars are
taken as NumPy input.

Dtype rules (one place, used everywhere):

* float32 and float64 are computed and returned as they are;
* float16 and bfloat16 are computed in float32 and returned in the input dtype
  (their 5 to 8 bit exponents overflow in intermediate sums);
* integer and bool input are computed and returned in float64.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from array_api_compat import array_namespace, device, is_array_api_obj
from array_api_compat import numpy as _compat_numpy

__all__ = ["as_float_array", "get_namespace", "restore_dtype"]


def get_namespace(*arrays: Any) -> tuple[Any, list[Any]]:
    """Return the array namespace of ``arrays`` and the arrays themselves.

    The namespace is that of the array arguments (``array-api-compat`` raises
    ``TypeError`` if they come from different libraries).  Python scalars,
    lists and tuples are converted into that namespace, on the device of the
    first array, so that a boolean mask given as a list works with a PyTorch
    tensor; if no argument is an array, the namespace is NumPy, so that the
    familiar ``softmax.softmax([1, 2, 3])`` works.  ``None`` entries are
    passed through untouched.
    """
    present = [a for a in arrays if a is not None and is_array_api_obj(a)]
    if not present:
        return _compat_numpy, [a if a is None else np.asarray(a) for a in arrays]
    xp = array_namespace(*present)
    dev = device(present[0])
    converted = [
        a if a is None or is_array_api_obj(a) else xp.asarray(a, device=dev) for a in arrays
    ]
    return xp, converted


def _is_low_precision(xp: Any, dtype: Any) -> bool:
    names = ("float16", "bfloat16")
    return any(getattr(xp, n, None) is not None and dtype == getattr(xp, n) for n in names)


def as_float_array(xp: Any, x: Any) -> tuple[Any, Any]:
    """Return ``x`` in its compute dtype and the dtype to hand back.

    See the module docstring for the rules.
    """
    dtype = x.dtype
    if xp.isdtype(dtype, "real floating"):
        if _is_low_precision(xp, dtype):
            return xp.astype(x, xp.float32), dtype
        return x, dtype
    if xp.isdtype(dtype, ("integral", "bool")):
        return xp.astype(x, xp.float64), xp.float64
    if _is_low_precision(xp, dtype):  # bfloat16 is not "real floating" to some libraries
        return xp.astype(x, xp.float32), dtype
    raise TypeError(
        f"expected a real floating, integer or bool array, got dtype {dtype}; "
        "complex and object arrays are not supported"
    )


def restore_dtype(xp: Any, x: Any, dtype: Any) -> Any:
    """Cast a result back to the dtype the caller gave (no copy if it already is)."""
    return x if x.dtype == dtype else xp.astype(x, dtype)
