"""The per-chunk statistics and the fixed-order reduction, against NumPy."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import scipy.sparse as sp

from softmax.backends._chunks import chunk_stats, combine_stats, tree_reduce


def _data(rng, n=300, d=5, n_classes=3):
    X = rng.normal(size=(n, d)) * np.geomspace(0.2, 5, d) + 1.0
    W = rng.normal(size=(n_classes, d))
    y = np.argmax(X @ W.T + rng.gumbel(size=(n, n_classes)) * 3, axis=1)
    return X, y


def test_tree_reduce_groups_in_a_fixed_order():
    seen = []

    def combine(*xs):
        seen.append(xs)
        return "(" + "".join(xs) + ")"

    assert tree_reduce(list("abcdefghij"), combine, fan_in=4) == "((abcd)(efgh)(ij))"
    assert tree_reduce(["a"], combine) == "a"
    with pytest.raises(ValueError, match="no chunks"):
        tree_reduce([], combine)


@pytest.mark.parametrize("sparse", [False, True])
def test_chunk_stats_equal_numpy(rng, sparse):
    X, y = _data(rng)
    X[rng.random(X.shape) < 0.5] = 0
    sw = rng.uniform(size=y.shape[0])
    cuts = [0, 7, 100, 101, 300]
    parts = []
    for i, (a, b) in enumerate(itertools.pairwise(cuts)):
        Xc = sp.csr_matrix(X[a:b]) if sparse else X[a:b]
        parts.append(chunk_stats(Xc, y[a:b], sw[a:b], i))
    st = tree_reduce(parts, combine_stats, fan_in=2)
    assert st.n == 300
    np.testing.assert_allclose(st.mean, X.mean(0), rtol=1e-13)
    np.testing.assert_allclose(st.var, X.var(0), rtol=1e-12)
    classes, counts = np.unique(y, return_counts=True)
    np.testing.assert_array_equal(st.classes, classes)
    np.testing.assert_array_equal(st.counts, counts)
    np.testing.assert_allclose(st.weights, np.bincount(y, weights=sw), rtol=1e-13)


def test_dense_chunks_come_out_aligned_and_contiguous():
    """Arrays deserialised on a Dask worker can be unaligned; the fused kernels
    need aligned C-contiguous chunks, so those are copied (and only those)."""
    from softmax import _kernels
    from softmax.backends._chunks import as_float_chunk

    buf = np.zeros(8 * _kernels.MIN_SIZE * 2 + 1, np.uint8)
    X = np.frombuffer(buf[1:].data, dtype=np.float64).reshape(-1, 4)
    assert not X.flags.aligned
    out = as_float_chunk(X)
    assert out.flags.aligned and out.flags.c_contiguous
    np.testing.assert_array_equal(out, X)
    if _kernels.fused_multinomial(np.zeros((X.shape[0], 4)), 3) is not None:
        assert _kernels.fused_multinomial(out, 3) is not None
    good = np.zeros((6, 4))
    assert as_float_chunk(good) is good  # nothing copied
    assert as_float_chunk(np.asfortranarray(good)).flags.c_contiguous
