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


@pytest.mark.parametrize(("n_classes", "kernel_threads"), [(3, "all"), (20, 1)])
def test_fit_threads_follow_who_carries_the_passes(monkeypatch, n_classes, kernel_threads):
    """Few classes: the fused kernels carry the passes (all their threads, BLAS on
    one); many classes on dense data: the GEMMs do, and the kernels get one thread."""
    import numba

    from softmax import SoftmaxRegression

    if numba.config.NUMBA_NUM_THREADS < 2:
        pytest.skip("one core: nothing to limit")
    rng = np.random.default_rng(0)
    X = rng.standard_normal((30_000, 64))  # above the single-thread size for both
    y = rng.integers(0, n_classes, X.shape[0])
    seen = []
    original = Objective.value_and_grad

    def recording(self, w):
        seen.append(numba.get_num_threads())
        return original(self, w)

    monkeypatch.setattr(Objective, "value_and_grad", recording)
    SoftmaxRegression(solver="lbfgs", tol=1e-2).fit(X, y)
    expected = numba.config.NUMBA_NUM_THREADS if kernel_threads == "all" else 1
    assert seen and set(seen) == {expected}


@pytest.mark.parametrize(
    ("n_samples", "n_params", "work", "expected"),
    [
        (150, 15, None, "newton-cholesky"),  # iris: the Hessian costs nothing
        (1_797, 650, None, "newton-cg"),  # digits: fewer passes than Hessians
        (500_000, 385, None, "newton-cg"),  # W5: a subsample preconditions CG
        (200_000, 2_010, None, "lbfgs"),  # W2: fewer passes than plain Newton-CG
        (50_000, 513_000, None, "lbfgs"),  # W3: an evaluation dwarfs L-BFGS's own work
        (100_000, 1_000_020, 6.1e6 * 20, "newton-cg"),  # W4: L-BFGS-B's work rivals a pass
    ],
)
def test_auto_solver(n_samples, n_params, work, expected):
    from softmax.estimators._fitting import auto_solver

    assert auto_solver(n_samples, n_params, True, work) == expected
    assert auto_solver(n_samples, n_params, False, work) == "prox-newton"


def test_work_per_pass_counts_stored_values_of_sparse_data():
    from softmax.estimators._fitting import work_per_pass

    csr = sp.random(1000, 50, density=0.1, format="csr", random_state=0)
    assert work_per_pass(_objective(Multinomial(3), csr), 1000) == csr.nnz * 3
    dense = csr.toarray()
    assert work_per_pass(_objective(Multinomial(3), dense), 1000) == 1000 * 153
