"""How blocks of rows are produced; the in-memory NumPy path is the reference."""

from softmax.backends._numpy import row_blocks

__all__ = ["row_blocks"]
