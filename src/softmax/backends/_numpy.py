"""Row blocks for in-memory data (dense or CSR)."""

from __future__ import annotations

from collections.abc import Iterator

__all__ = ["row_blocks"]

# Temporaries per block are block_rows * n_rows floats (logits, probabilities,
# residuals): 2**21 of them is 16 MB in float64, large enough for efficient
# GEMMs and small enough that a fit's extra memory does not grow with n_samples.
_BLOCK_ELEMENTS = 2**21


def row_blocks(n_samples: int, n_rows: int, block_rows: int | None = None) -> Iterator[slice]:
    """Consecutive row slices covering ``range(n_samples)``."""
    if block_rows is None:
        block_rows = max(1024, _BLOCK_ELEMENTS // max(n_rows, 1))
    if n_samples <= block_rows:
        yield slice(0, n_samples)
        return
    for start in range(0, n_samples, block_rows):
        yield slice(start, min(start + block_rows, n_samples))
