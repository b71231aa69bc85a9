"""Resumable fits: checkpoints of the L-BFGS state, resumed to the same coefficients."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.exceptions import ConvergenceWarning

from softmax import SoftmaxRegression
from softmax.backends._fit import ChunkedObjective


def _data(rng, n=400, d=6):
    X = rng.normal(size=(n, d)) * np.geomspace(0.5, 4, d) + 0.5
    W = rng.normal(size=(3, d))
    y = np.argmax(X @ W.T + rng.gumbel(size=(n, 3)) * 2, axis=1)
    return X, y


class _Lost(Exception):
    """Stands for a cluster that went away in the middle of a fit."""


def _interrupt_at(monkeypatch, n_calls):
    original = ChunkedObjective.value_and_grad
    calls = [0]

    def failing(self, w):
        calls[0] += 1
        if calls[0] == n_calls:
            raise _Lost("the scheduler is gone")
        return original(self, w)

    monkeypatch.setattr(ChunkedObjective, "value_and_grad", failing)
    return calls


def test_resumed_fit_ends_at_the_same_coefficients(rng, tmp_path, monkeypatch):
    X, y = _data(rng)
    clean = SoftmaxRegression(tol=1e-10).fit(X, y, checkpoint=tmp_path / "clean.npz")
    assert clean.converged_ and clean.solver_ == "lbfgs" and clean.n_iter_[0] > 12
    # The resumable L-BFGS reaches the optimum of the usual fit.
    ref = SoftmaxRegression(tol=1e-10).fit(X, y)
    np.testing.assert_allclose(clean.coef_, ref.coef_, atol=1e-7)

    path = tmp_path / "fit.npz"
    _interrupt_at(monkeypatch, 12)
    with pytest.raises(RuntimeError, match="call fit again with the same checkpoint") as err:
        SoftmaxRegression(tol=1e-10).fit(X, y, checkpoint=path, checkpoint_every=5)
    assert isinstance(err.value.__cause__, _Lost)
    assert path.exists() and not list(tmp_path.glob("*.tmp"))
    with np.load(path, allow_pickle=False) as z:
        saved_iter = int(z["n_iter"])
    assert 0 < saved_iter < clean.n_iter_[0]
    monkeypatch.undo()

    resumed = SoftmaxRegression(tol=1e-10).fit(X, y, checkpoint=path, checkpoint_every=5)
    np.testing.assert_array_equal(resumed.coef_, clean.coef_)
    np.testing.assert_array_equal(resumed.intercept_, clean.intercept_)
    assert resumed.n_iter_[0] == clean.n_iter_[0]
    assert resumed.objective_history_ == clean.objective_history_


def test_foreign_checkpoint_is_refused(rng, tmp_path):
    X, y = _data(rng, n=100)
    path = tmp_path / "c.npz"
    with pytest.warns(ConvergenceWarning):  # stopped early on purpose
        SoftmaxRegression(max_iter=3).fit(X, y, checkpoint=path)
    with pytest.raises(ValueError, match="other data or with other parameters"):
        SoftmaxRegression(C=0.5).fit(X, y, checkpoint=path)
    X2 = X.copy()
    X2[0, 0] += 1e-9
    with pytest.raises(ValueError, match="other data"):
        SoftmaxRegression().fit(X2, y, checkpoint=path)
    # The same X, the same class counts and weights, labels moved between rows:
    # the same statistics, other data (the contents' digest tells them apart).
    y2 = y.copy()
    i, j = np.flatnonzero(y2 != y2[0])[0], 0
    y2[i], y2[j] = y2[j], y2[i]
    with pytest.raises(ValueError, match="other data"):
        SoftmaxRegression().fit(X, y2, checkpoint=path)
    w = np.ones(X.shape[0])
    w[[0, 1]] = [2.0, 0.0]  # the same total weight per class only if rows 0, 1 share a class
    if y[0] == y[1]:
        with pytest.raises(ValueError, match="other data"):
            SoftmaxRegression().fit(X, y, sample_weight=w, checkpoint=path)
    # max_iter is not part of the fingerprint: the fit continues.
    clf = SoftmaxRegression().fit(X, y, checkpoint=path)
    assert clf.converged_
    (tmp_path / "junk.npz").write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match="not a readable checkpoint"):
        SoftmaxRegression().fit(X, y, checkpoint=tmp_path / "junk.npz")


def test_checkpoint_argument_errors(rng, tmp_path):
    X, y = _data(rng, n=50)
    with pytest.raises(ValueError, match="solver='newton-cg' cannot be resumed"):
        SoftmaxRegression(solver="newton-cg").fit(X, y, checkpoint=tmp_path / "a.npz")
    with pytest.raises(ValueError, match="checkpoint_every"):
        SoftmaxRegression().fit(X, y, checkpoint=tmp_path / "a.npz", checkpoint_every=0)
    for kw in ({}, {"checkpoint": tmp_path / "a.npz"}):
        with pytest.raises(ValueError, match="requires y to be passed"):
            SoftmaxRegression().fit(X, **kw)


@pytest.mark.dask
def test_dask_fit_resumes(rng, tmp_path, monkeypatch):
    da = pytest.importorskip("dask.array")
    X, y = _data(rng)
    Xd, yd = da.from_array(X, chunks=(100, 6)), da.from_array(y, chunks=100)
    clean = SoftmaxRegression().fit(Xd, yd, checkpoint=tmp_path / "clean.npz")
    _interrupt_at(monkeypatch, 12)
    with pytest.raises(RuntimeError, match="resume"):
        SoftmaxRegression().fit(Xd, yd, checkpoint=tmp_path / "d.npz", checkpoint_every=3)
    monkeypatch.undo()
    resumed = SoftmaxRegression().fit(Xd, yd, checkpoint=tmp_path / "d.npz")
    np.testing.assert_array_equal(resumed.coef_, clean.coef_)
