"""``softmax.estimators._fitting``: which fits hand the cores to the numba kernels."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from softmax import SoftmaxRegression, _kernels
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


@pytest.mark.parametrize("layout", ["strided", "fortran"])
def test_dense_data_reaches_the_fused_kernels_in_rows(monkeypatch, layout):
    """A strided or column-major X (scikit-learn's digits is a strided view) is
    copied to row-major once, so that the fused kernels take its passes."""
    rng = np.random.default_rng(0)
    base = rng.standard_normal((2_000, 80))
    X = base[:, ::2] if layout == "strided" else np.asfortranarray(base[:, :40])
    y = rng.integers(0, 4, X.shape[0])
    seen = []
    original = Objective.value_and_grad

    def recording(self, w):
        seen.append(_kernel_passes(self))
        return original(self, w)

    monkeypatch.setattr(Objective, "value_and_grad", recording)
    model = SoftmaxRegression(tol=1e-4).fit(X, y)
    assert seen and all(seen)
    reference = SoftmaxRegression(tol=1e-4).fit(np.ascontiguousarray(X), y)
    np.testing.assert_array_equal(model.coef_, reference.coef_)


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


def _many_classes(rng, n=3000, d=12, k=_kernels.MAX_FUSED_CLASSES + 4):
    X = rng.standard_normal((n, d)) * np.geomspace(0.5, 5, d) + 1.0
    W = rng.standard_normal((k, d)) / np.geomspace(0.5, 5, d)
    y = np.argmax(X @ W.T + rng.gumbel(size=(n, k)), axis=1)
    return X, y


def test_float32_twin_only_where_gemms_carry_large_passes(monkeypatch):
    from softmax.estimators import _fitting

    rng = np.random.default_rng(0)
    X, y = _many_classes(rng)
    k = _kernels.MAX_FUSED_CLASSES + 4
    many = Objective(Multinomial(k), L2(1.0), X, y, np.ones(X.shape[0]))
    assert _fitting.float32_twin(many, "lbfgs") is None  # below the work threshold
    monkeypatch.setattr(_fitting, "MIXED_PRECISION_WORK", 0)
    twin = _fitting.float32_twin(many, "lbfgs")
    assert twin.X.dtype == np.float32 and np.array_equal(twin.X, X.astype(np.float32))
    assert twin.standardization is many.standardization and twin.labels is many.labels
    assert _fitting.float32_twin(many, "newton-cg") is not None
    assert _fitting.float32_twin(many, "newton-cholesky") is None
    # Not: the fused passes' data, float32 data, sparse data.
    few = Objective(Multinomial(3), L2(1.0), X, y % 3, np.ones(X.shape[0]))
    assert _fitting.float32_twin(few, "lbfgs") is None
    for data in (X.astype(np.float32), sp.csr_matrix(X)):
        assert _fitting.float32_twin(_objective(Multinomial(k), data), "lbfgs") is None
    monkeypatch.setattr(_fitting, "MIXED_PRECISION_MAX_BYTES", X.size * 4 - 1)
    assert _fitting.float32_twin(many, "lbfgs") is None  # the copy would be too large


@pytest.mark.parametrize("solver", ["lbfgs", "newton-cg"])
def test_float32_first_phase_ends_at_the_float64_solution(monkeypatch, solver):
    from softmax import SoftmaxRegression
    from softmax.estimators import _fitting

    rng = np.random.default_rng(1)
    X, y = _many_classes(rng)
    ref = SoftmaxRegression(solver=solver).fit(X, y)
    dtypes = []
    original = Objective.value_and_grad

    def recording(self, w):
        dtypes.append(self.X.dtype)
        return original(self, w)

    monkeypatch.setattr(Objective, "value_and_grad", recording)
    monkeypatch.setattr(_fitting, "MIXED_PRECISION_WORK", 0)
    iterations = []
    clf = SoftmaxRegression(solver=solver)
    clf.fit(X, y, callback=lambda it, f, g: iterations.append(it))
    # First the float32 copy, then float64 to the end.
    n32 = dtypes.count(np.float32)
    assert n32 > 1 and dtypes[:n32] == [np.float32] * n32
    assert dtypes[n32:] == [np.float64] * (len(dtypes) - n32) and len(dtypes) > n32
    # One count of iterations across both phases.
    assert iterations == list(range(1, clf.n_iter_[0] + 1))
    # Both stop at the float64 tolerance: the same optimum (this problem is
    # ill-conditioned enough that the coefficients themselves agree to 1e-4).
    assert _objective_value(clf, X, y) == pytest.approx(_objective_value(ref, X, y), rel=1e-10)
    np.testing.assert_allclose(clf.coef_, ref.coef_, atol=1e-4 * np.abs(ref.coef_).max())


def _objective_value(clf, X, y):
    """``sum_i -log p_i(y_i) + ||W||^2 / 2`` (C = 1) by SciPy, in float64."""
    from scipy.special import logsumexp

    Z = X @ clf.coef_.T + clf.intercept_
    nll = logsumexp(Z, axis=1) - Z[np.arange(len(y)), np.searchsorted(clf.classes_, y)]
    return float(nll.sum() + 0.5 * np.sum(clf.coef_**2))


def test_float32_precision():
    from softmax.estimators._fitting import float32_precision

    eps32 = float(np.finfo(np.float32).eps)
    assert float32_precision(10_000) == pytest.approx(eps32 / 100)
    assert float32_precision(10**40) == float(np.finfo(np.float64).eps)


def test_digits_newton_cg_is_preconditioned_by_its_whole_hessian(monkeypatch):
    # 1 797 x 64 unscaled, 10 classes (650 parameters): plain CG needed 762
    # Hessian-vector products; the whole data's Hessian, formed once CG has spent
    # what it costs and again when it no longer saves much, leaves 67.
    from sklearn.datasets import load_digits

    X, y = load_digits(return_X_y=True)
    ref = SoftmaxRegression(solver="newton-cholesky", tol=1e-12).fit(X, y)
    counts = {"hessp": 0, "hessian": 0}
    for name in counts:
        method = getattr(Objective, name)

        def counted(self, *args, _method=method, _name=name):
            counts[_name] += 1
            return _method(self, *args)

        monkeypatch.setattr(Objective, name, counted)
    clf = SoftmaxRegression(solver="newton-cg").fit(X, y)
    assert clf.converged_
    assert counts["hessp"] < 150 and 1 <= counts["hessian"] <= 4, counts
    np.testing.assert_allclose(clf.coef_, ref.coef_, atol=1e-5 * np.abs(ref.coef_).max())
