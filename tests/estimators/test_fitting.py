"""``softmax.estimators._fitting``: which fits hand the cores to the numba kernels."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from softmax import _kernels
from softmax.estimators._fitting import _kernel_passes
from softmax.objective import Binomial, Multinomial, Objective
from softmax.objective._penalties import L2

pytest.importorskip("numba")


def _objective(datafit, X):
    n = X.shape[0]
    return Objective(datafit, L2(1.0), X, np.zeros(n, dtype=int), np.ones(n))


def test_kernel_passes_follow_the_kernels_dispatch():
    dense = np.ones((_kernels.MIN_SIZE, 8))
    csr = sp.random(_kernels.MIN_SIZE, 8, density=0.5, format="csr", random_state=0)
    assert _kernel_passes(_objective(Multinomial(3), dense))
    assert _kernel_passes(_objective(Multinomial(3), csr))
    assert _kernel_passes(_objective(Binomial(), csr))  # its logits: the CSR kernel
    # BLAS carries these: dense binomial, many classes, tiny data.
    assert not _kernel_passes(_objective(Binomial(), dense))
    assert not _kernel_passes(_objective(Multinomial(_kernels.MAX_FUSED_CLASSES + 1), dense))
    assert not _kernel_passes(_objective(Multinomial(3), dense[:10]))
