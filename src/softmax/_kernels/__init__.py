"""Fused CPU kernels for the row-wise hot paths (optional; the NumPy code in
``softmax.special`` is the reference and the fallback).

``applies(x, axis)`` says whether a fused kernel handles this call; the
kernels must return exactly what the reference returns (tests check it).
"""

from __future__ import annotations

from typing import Any

__all__ = ["applies", "log_softmax", "softmax"]


def applies(x: Any, axis: Any) -> bool:
    """True when a fused kernel can handle ``x`` normalised over ``axis``."""
    return False


def softmax(x: Any, temperature: float) -> Any:  # pragma: no cover - no kernel yet
    raise NotImplementedError


def log_softmax(x: Any, temperature: float) -> Any:  # pragma: no cover - no kernel yet
    raise NotImplementedError
