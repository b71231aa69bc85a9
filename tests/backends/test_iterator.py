"""Out-of-core fits from Chunks sources (arrays, memmaps, Parquet) against in-memory fits."""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest
import scipy.sparse as sp

from softmax import SoftmaxRegression
from softmax.backends._iterator import Chunks


def _data(rng, n=300, d=5, n_classes=3):
    X = rng.normal(size=(n, d)) * np.geomspace(0.2, 5, d) + 1.0
    W = rng.normal(size=(n_classes, d))
    y = np.argmax(X @ W.T + rng.gumbel(size=(n, n_classes)) * 3, axis=1)
    return X, y


@pytest.mark.parametrize("class_weight", [None, "balanced"])
def test_fit_from_memmap_chunks_equals_in_memory(rng, tmp_path, class_weight):
    X, y = _data(rng)
    sw = rng.uniform(0.5, 1.5, size=y.shape[0])
    mm = np.lib.format.open_memmap(tmp_path / "X.npy", mode="w+", dtype=np.float64, shape=X.shape)
    mm[:] = X
    mm.flush()
    mm = np.load(tmp_path / "X.npy", mmap_mode="r")
    ref = SoftmaxRegression(class_weight=class_weight).fit(X, y, sample_weight=sw)
    clf = SoftmaxRegression(class_weight=class_weight).fit(
        Chunks.from_arrays(mm, y, sw, chunk_rows=70)
    )
    np.testing.assert_allclose(clf.coef_, ref.coef_, atol=1e-8)
    np.testing.assert_allclose(clf.intercept_, ref.intercept_, atol=1e-8)
    np.testing.assert_array_equal(clf.predict(X), ref.predict(X))


@pytest.mark.parametrize("solver", ["lbfgs", "newton-cg"])
def test_fit_from_sparse_chunks_equals_in_memory(rng, solver):
    X, y = _data(rng)
    X[rng.random(X.shape) < 0.7] = 0
    Xs = sp.csr_matrix(X)
    ref = SoftmaxRegression(solver=solver, C=10.0).fit(Xs, y)
    clf = SoftmaxRegression(solver=solver, C=10.0).fit(Chunks.from_arrays(Xs, y, chunk_rows=64))
    np.testing.assert_allclose(clf.coef_, ref.coef_, atol=1e-8)


@pytest.mark.slow
def test_fit_from_parquet_row_groups_with_bounded_memory(rng, tmp_path):
    """Several times more data than the memory the fit may use beyond one row group."""
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    n, d, group = 64_000, 8, 2_000
    X, y = _data(rng, n=n, d=d)
    for f in range(2):
        rows = slice(f * n // 2, (f + 1) * n // 2)
        cols = {f"x{j}": X[rows, j] for j in range(d)}
        table = pa.table({**cols, "label": y[rows]})
        pq.write_table(table, tmp_path / f"part-{f}.parquet", row_group_size=group)
    ref = SoftmaxRegression(solver="lbfgs").fit(X, y)
    data_bytes = X.nbytes
    del X
    source = Chunks.from_parquet(tmp_path, target="label")
    tracemalloc.start()
    try:
        clf = SoftmaxRegression(solver="lbfgs").fit(source)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    # NumPy allocations during the fit stay at a few row groups (group * d * 8 =
    # 128 kB each) plus a fixed ~0.4 MB (e.g. threadpoolctl's library scan), far
    # below the data (4 MB).
    assert peak < data_bytes / 4, (peak, data_bytes)
    np.testing.assert_allclose(clf.coef_, ref.coef_, atol=1e-8)
    assert list(clf.classes_) == [0, 1, 2]


def test_parquet_feature_columns_and_errors(rng, tmp_path):
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    X, y = _data(rng, n=100)
    table = pa.table({"a": X[:, 0], "b": X[:, 1], "w": np.ones(100), "label": y.astype(str)})
    pq.write_table(table, tmp_path / "d.parquet", row_group_size=30)
    ref = SoftmaxRegression().fit(X[:, :2], y.astype(str))
    clf = SoftmaxRegression().fit(
        Chunks.from_parquet(tmp_path / "d.parquet", "label", ["a", "b"], sample_weight="w")
    )
    np.testing.assert_allclose(clf.coef_, ref.coef_, atol=1e-8)
    with pytest.raises(ValueError, match="target='nope'"):
        SoftmaxRegression().fit(Chunks.from_parquet(tmp_path, "nope"))
    with pytest.raises(ValueError, match="no Parquet files"):
        Chunks.from_parquet([], "label")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="no Parquet files"):
        Chunks.from_parquet(tmp_path / "empty", "label")


def test_parquet_files_are_matched_by_column_name(rng, tmp_path):
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    X, y = _data(rng, n=120)
    cols = {"a": X[:, 0], "b": X[:, 1] * 10, "c": X[:, 2] * 100, "label": y}
    first = pa.table({k: v[:60] for k, v in cols.items()})
    # The same columns in another order: matched by name, not by position.
    second = pa.table({k: cols[k][60:] for k in ("c", "label", "a", "b")})
    pq.write_table(first, tmp_path / "part-0.parquet")
    pq.write_table(second, tmp_path / "part-1.parquet")
    ref = SoftmaxRegression().fit(np.column_stack([cols["a"], cols["b"], cols["c"]]), y)
    clf = SoftmaxRegression().fit(Chunks.from_parquet(tmp_path, "label"))
    np.testing.assert_allclose(clf.coef_, ref.coef_, atol=1e-8)
    # Other columns in a later file: refused, naming it.
    pq.write_table(pa.table({"a": cols["a"][:10], "z": cols["b"][:10], "label": y[:10]}),
                   tmp_path / "part-2.parquet")  # fmt: skip
    with pytest.raises(ValueError, match=r"part-2\.parquet' has the columns"):
        SoftmaxRegression().fit(Chunks.from_parquet(tmp_path, "label"))


def test_chunk_source_errors(rng):
    X, y = _data(rng, n=50)
    with pytest.raises(TypeError, match="callable"):
        Chunks([(X, y)])
    with pytest.raises(ValueError, match="expected a tuple"):
        SoftmaxRegression().fit(Chunks(lambda: [X]))
    with pytest.raises(ValueError, match="y has shape"):
        SoftmaxRegression().fit(Chunks(lambda: [(X, y[:10])]))
    with pytest.raises(ValueError, match="same columns"):
        SoftmaxRegression().fit(Chunks(lambda: [(X, y), (X[:, :2], y)]))
    with pytest.raises(ValueError, match="pass y=None"):
        SoftmaxRegression().fit(Chunks.from_arrays(X, y), y)
    with pytest.raises(ValueError, match="no chunks"):
        SoftmaxRegression().fit(Chunks(lambda: []))
    with pytest.raises(ValueError, match="chunk_rows"):
        Chunks.from_arrays(X, y, chunk_rows=0)
    Xbad = X.copy()
    Xbad[40, 2] = np.inf
    with pytest.raises(ValueError, match="inf in column 2"):
        SoftmaxRegression().fit(Chunks.from_arrays(Xbad, y, chunk_rows=20))
    # One iterator for every pass: the first consumes it (the fit had ended at
    # the zero model, "converged", from passes over no rows).
    once = iter([(X[:25], y[:25]), (X[25:], y[25:])])
    with pytest.raises(ValueError, match="yielded 0 rows on this pass and 50 on the first"):
        SoftmaxRegression().fit(Chunks(lambda: once))


def test_subsample_hessian_is_the_in_memory_one_on_every_kth_row(rng):
    from softmax.backends._fit import ChunkedObjective
    from softmax.backends._iterator import IteratorExecutor
    from softmax.objective import L2, Multinomial, Objective, Standardization

    X, y = _data(rng)
    sw = rng.uniform(0.5, 1.5, size=y.shape[0])
    ex = IteratorExecutor(Chunks.from_arrays(X, y, sw, chunk_rows=70))
    ex.encode(ex.stats().classes, np.ones(3), False)
    scaling = Standardization.from_data(X, 3, True, 0.01)
    obj = ChunkedObjective(Multinomial(3), L2(0.01), ex, 5, float(sw.sum()), scaling, 300)
    sub = obj.subsample(100)  # every 3rd row of each chunk of 70
    rows = np.concatenate([np.arange(lo, min(lo + 70, 300))[::3] for lo in range(0, 300, 70)])
    ref = Objective(Multinomial(3), L2(0.01), X[rows], y[rows], sw[rows], scaling)
    assert sub.total_weight == pytest.approx(ref.total_weight, rel=1e-14)
    w = rng.normal(size=ref.n_params)
    H0, H1 = ref.hessian(w), sub.hessian(w)
    np.testing.assert_allclose(H1, H0, rtol=1e-12, atol=1e-12 * np.abs(H0).max())


def test_a_chunked_refit_drops_the_in_memory_fit_s_inference(rng):
    X, y = _data(rng)
    model = SoftmaxRegression(penalty=None).fit(X, y)
    model.summary()
    model.fit(Chunks.from_arrays(X[::-1], y[::-1], chunk_rows=70))
    with pytest.raises(ValueError, match="no inference for these coefficients"):
        model.summary()


@pytest.mark.parametrize("offset", [1e7, 1e15])
def test_columns_far_from_zero_are_centred_chunk_by_chunk(rng, offset):
    # As in memory: a timestamp-like column had left the chunked fit at max_iter.
    X, y = _data(rng, n=300)
    X[:, 2] += offset
    ref = SoftmaxRegression().fit(X, y)
    clf = SoftmaxRegression().fit(Chunks.from_arrays(X, y, chunk_rows=70))
    assert clf.converged_
    np.testing.assert_allclose(clf.coef_, ref.coef_, rtol=1e-7, atol=1e-10)
    np.testing.assert_allclose(clf.intercept_, ref.intercept_, rtol=1e-6)
