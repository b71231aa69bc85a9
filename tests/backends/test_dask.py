"""The Dask backend against the in-memory path (the reference), on the local
scheduler and on a LocalCluster with worker processes."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from softmax import SoftmaxRegression
from softmax.objective import L2, Multinomial, Objective, Standardization

da = pytest.importorskip("dask.array")
distributed = pytest.importorskip("distributed")

from softmax.backends._dask import DaskExecutor  # noqa: E402
from softmax.backends._fit import ChunkedObjective  # noqa: E402

pytestmark = pytest.mark.dask

N_SAMPLES, N_FEATURES = 240, 6


def _data(rng, n=N_SAMPLES, d=N_FEATURES, n_classes=3, sparse=False):
    X = rng.normal(size=(n, d)) * np.geomspace(0.1, 10, d) + np.linspace(-2, 3, d)
    if sparse:
        X[rng.random(X.shape) < 0.6] = 0.0
    W = rng.normal(size=(n_classes, d)) / np.geomspace(0.1, 10, d)
    logits = (X - X.mean(0)) @ W.T + rng.gumbel(size=(n, n_classes))
    return X, np.argmax(logits, axis=1)


def _chunked(X, y, n_chunks, sparse):
    rows = -(-X.shape[0] // n_chunks)
    Xd = da.from_array(X, chunks=(rows, X.shape[1]))
    if sparse:
        Xd = Xd.map_blocks(sp.csr_matrix, meta=sp.csr_matrix((0, 0)))
    return Xd, da.from_array(y, chunks=(Xd.chunks[0],))


@pytest.fixture(scope="module")
def cluster_client():
    """A two-process LocalCluster, created once for the module."""
    cluster = distributed.LocalCluster(
        n_workers=2, processes=True, threads_per_worker=1, dashboard_address=":0"
    )
    client = distributed.Client(cluster)
    yield client
    client.close()
    cluster.close()


@pytest.mark.parametrize("sparse", [False, True])
@pytest.mark.parametrize("n_chunks", [1, 3, 8])
def test_objective_gradient_hessp_equal_in_memory(rng, n_chunks, sparse):
    X, y = _data(rng, sparse=sparse)
    Xin = sp.csr_matrix(X) if sparse else X
    sw = rng.uniform(0.5, 2.0, size=y.shape[0])
    datafit, penalty = Multinomial(3), L2(alpha=0.01)
    scaling = Standardization.from_data(Xin, 3, True, penalty.alpha)
    ref = Objective(datafit, penalty, Xin, y, sw, scaling)

    Xd, yd = _chunked(X, y, n_chunks, sparse)
    ex = DaskExecutor(Xd, yd, sw)
    stats = ex.stats()
    assert ex.n_chunks == n_chunks
    # Moments by the chunked pass equal NumPy's (they feed the standardisation).
    np.testing.assert_allclose(stats.mean, X.mean(0), rtol=1e-12)
    np.testing.assert_allclose(stats.var, X.var(0), rtol=1e-12)
    np.testing.assert_allclose(stats.weights, np.bincount(y, weights=sw), rtol=1e-12)
    ex.encode(stats.classes, np.ones(3), False)
    obj = ChunkedObjective(datafit, penalty, ex, N_FEATURES, float(sw.sum()), scaling)
    for _ in range(3):
        w = rng.normal(size=ref.n_params)
        v = rng.normal(size=ref.n_params)
        f0, g0 = ref.value_and_grad(w)
        f1, g1 = obj.value_and_grad(w)
        np.testing.assert_allclose(f1, f0, rtol=1e-12)
        np.testing.assert_allclose(g1, g0, rtol=1e-12, atol=1e-14 * np.abs(g0).max())
        h0, h1 = ref.hessp(w, v), obj.hessp(w, v)
        np.testing.assert_allclose(h1, h0, rtol=1e-12, atol=1e-14 * np.abs(h0).max())
    # The full Hessian's off-diagonal entries are differences (diag(p) - p p^T) that
    # cancel: compare them relative to the Hessian's scale.
    H0, H1 = ref.hessian(w), obj.hessian(w)
    np.testing.assert_allclose(H1, H0, rtol=1e-12, atol=1e-12 * np.abs(H0).max())


@pytest.mark.parametrize("sparse", [False, True])
def test_subsample_hessian_is_the_in_memory_one_on_every_kth_row(rng, sparse):
    """Newton-CG's preconditioner on Dask: the Hessian of every k-th row of each
    chunk (computed on the workers) against the in-memory objective on those rows."""
    X, y = _data(rng, sparse=sparse)
    sw = rng.uniform(0.5, 2.0, size=y.shape[0])
    datafit, penalty = Multinomial(3), L2(alpha=0.01)
    Xin = sp.csr_matrix(X) if sparse else X
    scaling = Standardization.from_data(Xin, 3, True, penalty.alpha)
    n_chunks, step = 3, 240 // 60
    Xd, yd = _chunked(X, y, n_chunks, sparse)
    ex = DaskExecutor(Xd, yd, sw)
    ex.encode(ex.stats().classes, np.ones(3), False)
    obj = ChunkedObjective(datafit, penalty, ex, N_FEATURES, float(sw.sum()), scaling, 240)
    sub = obj.subsample(60)
    rows = np.concatenate([np.arange(c * 80, (c + 1) * 80)[::step] for c in range(n_chunks)])
    ref = Objective(datafit, penalty, Xin[rows], y[rows], sw[rows], scaling)
    assert sub.total_weight == pytest.approx(ref.total_weight, rel=1e-14)
    w = rng.normal(size=ref.n_params)
    H0, H1 = ref.hessian(w), sub.hessian(w)
    np.testing.assert_allclose(H1, H0, rtol=1e-12, atol=1e-12 * np.abs(H0).max())


def test_gradient_matches_finite_differences(rng):
    X, y = _data(rng)
    Xd, yd = _chunked(X, y, 3, False)
    ex = DaskExecutor(Xd, yd)
    stats = ex.stats()
    ex.encode(stats.classes, np.ones(3), False)
    obj = ChunkedObjective(Multinomial(3), L2(alpha=0.1), ex, N_FEATURES, float(len(y)))
    w, d = rng.normal(size=obj.n_params) * 0.1, rng.normal(size=obj.n_params)
    h = 1e-6
    slope = (obj.value_and_grad(w + h * d)[0] - obj.value_and_grad(w - h * d)[0]) / (2 * h)
    np.testing.assert_allclose(slope, obj.value_and_grad(w)[1] @ d, rtol=1e-6)


@pytest.mark.parametrize("sparse", [False, True])
@pytest.mark.parametrize("n_chunks", [1, 3, 8])
def test_fit_equals_in_memory_fit(rng, n_chunks, sparse):
    X, y = _data(rng, sparse=sparse)
    ref = SoftmaxRegression(C=0.5).fit(sp.csr_matrix(X) if sparse else X, y)
    Xd, yd = _chunked(X, y, n_chunks, sparse)
    clf = SoftmaxRegression(C=0.5).fit(Xd, yd)
    np.testing.assert_allclose(clf.coef_, ref.coef_, rtol=0, atol=1e-8)
    np.testing.assert_allclose(clf.intercept_, ref.intercept_, rtol=0, atol=1e-8)
    assert clf.converged_ and clf.n_features_in_ == N_FEATURES


@pytest.mark.parametrize("solver", ["lbfgs", "newton-cg"])
def test_fit_binary_weighted_balanced(rng, solver):
    X, y = _data(rng, n_classes=2)
    labels = np.array(["no", "yes"], dtype=object)[y]
    sw = rng.uniform(0.0, 3.0, size=y.shape[0])
    kw = dict(C=2.0, class_weight="balanced", solver=solver)
    ref = SoftmaxRegression(**kw).fit(X, labels, sample_weight=sw)
    Xd, yd = _chunked(X, labels, 4, False)
    clf = SoftmaxRegression(**kw).fit(Xd, yd, sample_weight=da.from_array(sw, chunks=Xd.chunks[0]))
    assert list(clf.classes_) == ["no", "yes"]
    np.testing.assert_allclose(clf.coef_, ref.coef_, atol=1e-8)
    np.testing.assert_allclose(clf.intercept_, ref.intercept_, atol=1e-8)


def test_fit_float32_and_dict_class_weight(rng):
    X, y = _data(rng)
    X32 = X.astype(np.float32)
    kw = dict(class_weight={0: 2.0, 2: 0.5}, tol=1e-5)  # float32 cannot resolve 1e-8
    ref = SoftmaxRegression(**kw).fit(X32, y)
    clf = SoftmaxRegression(**kw).fit(*_chunked(X32, y, 3, False))
    assert clf.coef_.dtype == np.float32
    np.testing.assert_allclose(clf.coef_, ref.coef_, atol=1e-4)


def test_dataframe_and_series_input(rng):
    dd = pytest.importorskip("dask.dataframe")
    pd = pytest.importorskip("pandas")
    X, y = _data(rng)
    frame = pd.DataFrame(X, columns=[f"f{j}" for j in range(N_FEATURES)])
    ref = SoftmaxRegression().fit(frame, y)
    ddf = dd.from_pandas(frame, npartitions=3)
    ys = dd.from_pandas(pd.Series(y), npartitions=3)
    clf = SoftmaxRegression().fit(ddf, ys)
    assert list(clf.feature_names_in_) == list(frame.columns)
    np.testing.assert_allclose(clf.coef_, ref.coef_, atol=1e-8)
    proba = clf.predict_proba(ddf)
    assert isinstance(proba, da.Array)
    np.testing.assert_allclose(proba.compute(), ref.predict_proba(frame), atol=1e-8)
    np.testing.assert_array_equal(clf.predict(ddf).compute(), ref.predict(frame))


def test_predict_is_lazy_and_matches(rng):
    X, y = _data(rng)
    clf = SoftmaxRegression().fit(X, y)
    Xd = da.from_array(X, chunks=(50, 3))  # column chunks are merged
    out = {
        "predict_proba": clf.predict_proba(Xd),
        "predict_log_proba": clf.predict_log_proba(Xd),
        "decision_function": clf.decision_function(Xd),
        "predict": clf.predict(Xd),
    }
    for name, value in out.items():
        assert isinstance(value, da.Array), name
        assert value.shape == getattr(clf, name)(X).shape
        np.testing.assert_allclose(value.compute(), getattr(clf, name)(X), rtol=1e-12, atol=0)
    binary = SoftmaxRegression().fit(X, y == 1)
    assert binary.decision_function(Xd).compute().shape == (N_SAMPLES,)
    with pytest.raises(ValueError, match="features"):
        clf.predict(da.from_array(X[:, :3], chunks=(50, 3)))


def test_penalty_none_separable_warns(rng):
    from softmax import SeparationWarning

    X = rng.normal(size=(60, 2))
    y = (X[:, 0] > 0).astype(int)
    with pytest.warns(SeparationWarning):
        SoftmaxRegression(penalty=None).fit(*_chunked(X, y, 3, False))


def test_bad_input(rng):
    X, y = _data(rng)
    Xd = da.from_array(X, chunks=(80, N_FEATURES))
    with pytest.raises(ValueError, match="different row chunks"):
        SoftmaxRegression().fit(Xd, da.from_array(y, chunks=60))
    unknown = Xd[Xd[:, 0] > -np.inf]  # boolean indexing loses the chunk sizes
    with pytest.raises(ValueError, match=r"compute_chunk_sizes\(\)"):
        SoftmaxRegression().fit(unknown, y)
    Xnan = X.copy()
    Xnan[100, 4] = np.nan
    with pytest.raises(ValueError, match="NaN in column 4"):
        SoftmaxRegression().fit(*_chunked(Xnan, y, 3, False))
    with pytest.raises(ValueError, match="only one class"):
        SoftmaxRegression().fit(Xd, da.zeros(N_SAMPLES, chunks=80))
    with pytest.raises(ValueError, match="sample_weight"):
        SoftmaxRegression().fit(Xd, y, sample_weight=-np.ones(N_SAMPLES))
    with pytest.raises(ValueError, match="sample_weight has shape"):
        SoftmaxRegression().fit(Xd, y, sample_weight=np.ones(3))


def test_fit_on_local_cluster_with_processes(rng, cluster_client):
    X, y = _data(rng, sparse=True)
    Xs = sp.csr_matrix(X)
    ref = SoftmaxRegression().fit(Xs, y)
    clf = SoftmaxRegression().fit(*_chunked(X, y, 3, True))
    np.testing.assert_allclose(clf.coef_, ref.coef_, atol=1e-8)
    np.testing.assert_allclose(clf.intercept_, ref.intercept_, atol=1e-8)
    # The data stayed on the workers: the client's scheduler is the cluster's.
    assert distributed.default_client() is cluster_client


def test_objective_on_local_cluster_is_exact_and_deterministic(rng, cluster_client):
    X, y = _data(rng)
    datafit, penalty = Multinomial(3), L2(alpha=0.01)
    ref = Objective(datafit, penalty, X, y, np.ones(N_SAMPLES))
    ex = DaskExecutor(*_chunked(X, y, 8, False))
    stats = ex.stats()
    ex.encode(stats.classes, np.ones(3), False)
    obj = ChunkedObjective(datafit, penalty, ex, N_FEATURES, float(N_SAMPLES))
    w, v = rng.normal(size=ref.n_params), rng.normal(size=ref.n_params)
    f0, g0 = ref.value_and_grad(w)
    f1, g1 = obj.value_and_grad(w)
    np.testing.assert_allclose(f1, f0, rtol=1e-12)
    np.testing.assert_allclose(g1, g0, rtol=1e-12, atol=1e-14 * np.abs(g0).max())
    np.testing.assert_allclose(obj.hessp(w, v), ref.hessp(w, v), rtol=1e-12, atol=1e-14)
    # A fixed reduction tree: bitwise the same result whatever the scheduling.
    obj._cache_key = None
    f2, g2 = obj.value_and_grad(w)
    assert f2 == f1 and np.array_equal(g2, g1)


def _cluster_objective(rng, n_chunks=8):
    X, y = _data(rng)
    datafit, penalty = Multinomial(3), L2(alpha=0.01)
    ref = Objective(datafit, penalty, X, y, np.ones(N_SAMPLES))
    ex = DaskExecutor(*_chunked(X, y, n_chunks, False))
    ex.encode(ex.stats().classes, np.ones(3), False)
    return ref, ex, ChunkedObjective(datafit, penalty, ex, N_FEATURES, float(N_SAMPLES))


def _cached_probas():
    from softmax.backends._dask import _LAST_PROBA

    return set(_LAST_PROBA)


def _all_cached(client):
    return set().union(*client.run(_cached_probas).values())


def test_one_task_per_worker_and_products_after_another_evaluation(rng, cluster_client):
    ref, ex, obj = _cluster_objective(rng)
    submitted = []
    submit = cluster_client.submit

    def counting_submit(fn, *args, **kwargs):
        submitted.append(fn.__name__)
        return submit(fn, *args, **kwargs)

    w1, w2, v = (rng.normal(size=ref.n_params) for _ in range(3))
    _, _, cache1 = ex.value_and_grad(obj.datafit, w1)
    hit = ex.hessp(obj.datafit, w1, v, cache1)
    cluster_client.submit = counting_submit
    try:
        ex.value_and_grad(obj.datafit, w2)  # replaces the workers' cached probabilities
        # A product at w1 after the evaluation at w2: the workers recompute w1's.
        miss = ex.hessp(obj.datafit, w1, v, cache1)
    finally:
        del cluster_client.submit
    # One task per worker holding chunks, per request: not one per chunk.
    holders = {min(h) for h in cluster_client.who_has(ex.chunks).values()}
    assert submitted == ["_vg_group"] * len(holders) + ["_hessp_group"] * len(holders)
    assert np.array_equal(miss, hit)
    keys = {f"{ex._fit_id}/{c.key}" for c in ex.chunks}
    assert keys <= _all_cached(cluster_client)
    ex.close()
    assert not keys & _all_cached(cluster_client)


def test_large_vectors_and_results_give_the_same_bits(rng, cluster_client, monkeypatch):
    ref, ex, obj = _cluster_objective(rng, n_chunks=3)
    w, v = rng.normal(size=ref.n_params), rng.normal(size=ref.n_params)
    f0, g0 = obj.value_and_grad(w)
    h0 = obj.hessp(w, v)
    # Vectors sent ahead of the tasks, results added on the workers: same bits.
    monkeypatch.setattr("softmax.backends._dask.INLINE_BYTES", 0)
    monkeypatch.setattr("softmax.backends._dask.GATHER_BYTES", 0)
    obj._cache_key = None
    f1, g1 = obj.value_and_grad(w)
    assert f1 == f0 and np.array_equal(g1, g0)
    assert np.array_equal(obj.hessp(w, v), h0)
    ex.close()


def test_fit_leaves_no_cached_probabilities_on_the_workers(rng, cluster_client):
    X, y = _data(rng)
    before = _all_cached(cluster_client)
    SoftmaxRegression(solver="newton-cg").fit(*_chunked(X, y, 3, False))
    assert _all_cached(cluster_client) <= before


@pytest.mark.slow
def test_worker_killed_mid_fit_gives_the_same_coefficients(rng, monkeypatch):
    """SIGKILL a worker process during the fit: Dask recomputes its chunks from the
    graph (nothing was scattered) and the fixed reduction order gives the same result."""
    import os
    import signal

    X, y = _data(rng, n=600)
    ref = SoftmaxRegression(solver="lbfgs").fit(X, y)
    cluster = distributed.LocalCluster(
        n_workers=2, processes=True, threads_per_worker=1, dashboard_address=":0"
    )
    with distributed.Client(cluster) as client:
        clean = SoftmaxRegression(solver="lbfgs").fit(*_chunked(X, y, 8, False))
        calls = [0]
        original = DaskExecutor.value_and_grad

        def killing_value_and_grad(self, datafit, w):
            calls[0] += 1
            if calls[0] == 4:
                pid = next(iter(client.run(os.getpid).values()))
                os.kill(pid, signal.SIGKILL)
            return original(self, datafit, w)

        monkeypatch.setattr(DaskExecutor, "value_and_grad", killing_value_and_grad)
        faulty = SoftmaxRegression(solver="lbfgs").fit(*_chunked(X, y, 8, False))
    cluster.close()
    assert calls[0] > 4
    np.testing.assert_array_equal(faulty.coef_, clean.coef_)
    np.testing.assert_allclose(faulty.coef_, ref.coef_, atol=1e-8)


def test_classes_seen_in_only_some_chunks(rng):
    """Labels are encoded per chunk with the global classes, so a class that appears
    in a single chunk (sorted labels) gets the same column everywhere."""
    X, y = _data(rng)
    order = np.argsort(y, kind="stable")
    X, y = X[order], np.array(["ant", "bee", "cat"])[y[order]]
    ref = SoftmaxRegression().fit(X, y)
    clf = SoftmaxRegression().fit(*_chunked(X, y, 8, False))
    assert list(clf.classes_) == ["ant", "bee", "cat"]
    np.testing.assert_allclose(clf.coef_, ref.coef_, atol=1e-8)


def _kernel_threads_in_task():
    import numba

    from softmax.backends._dask import _worker_threads

    _worker_threads()
    return numba.get_num_threads()


def test_kernels_use_as_many_threads_as_the_worker_has(cluster_client):
    pytest.importorskip("numba")
    # The fixture's workers have one thread each; numba's pool has as many as cores.
    assert cluster_client.submit(_kernel_threads_in_task, pure=False).result() == 1


def test_columns_far_from_zero_are_centred_on_the_workers(rng):
    X, y = _data(rng)
    X[:, 1] += 1e8  # mean/std ~ 1e8: the Dask fit had stopped at max_iter
    ref = SoftmaxRegression().fit(X, y)
    clf = SoftmaxRegression().fit(*_chunked(X, y, 3, False))
    assert clf.converged_
    np.testing.assert_allclose(clf.coef_, ref.coef_, rtol=1e-7, atol=1e-10)
    np.testing.assert_allclose(clf.intercept_, ref.intercept_, rtol=1e-6)


def test_inf_in_a_dask_x_is_the_documented_error_not_a_warning(rng):
    # The statistics pass's RuntimeWarning had come first (an error under -W error).
    X, y = _data(rng)
    X[5, 1] = np.inf
    with pytest.raises(ValueError, match="inf in column 1"):
        SoftmaxRegression().fit(*_chunked(X, y, 4, False))
