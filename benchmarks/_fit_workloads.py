"""Workloads for ``bench_fit.py``: deterministic data sets for fitting at ``C = 1``.

Each workload is a :class:`Workload` whose ``make(quick)`` returns ``(X, y)``
with integer labels ``0 .. n_classes - 1``; ``quick=True`` gives a version
about 50 times smaller (a smoke test).  Every generator uses a fixed seed, so
two calls give the same data.

- W1: scikit-learn's digits, unscaled (1 797 x 64, 10 classes).
- W2: dense ``make_classification`` (200k x 200, 10 classes).
- W3: a linear probe on embeddings (50k x 512, 1 000 classes): Gaussian class
  means plus noise, mixed by a random matrix with decaying singular values;
  ``W3-f64`` and ``W3-f32`` hold the same data in two dtypes.
- W4: tf-idf-like sparse CSR (100k x 50k, about 60 nonzeros per row, 20
  classes): Zipf-distributed word ids, class-dependent topics, l2-normalised
  sublinear tf-idf rows.
- W5: covtype-like (500k x 54, 7 classes with covtype's imbalance): ten
  unscaled continuous columns of very different scales, then 4 + 40 one-hot
  indicator columns (wilderness area, soil type).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.sparse as sp

__all__ = ["WORKLOADS", "C", "Workload", "select"]

#: Inverse regularisation strength of every workload.
C = 1.0

#: covtype's class proportions (581 012 rows).
COVTYPE_PROPORTIONS = np.array([211840, 283301, 35754, 2747, 9493, 17367, 20510]) / 581012


@dataclass(frozen=True)
class Workload:
    """A named data set; ``make(quick)`` returns ``(X, y)``."""

    name: str
    description: str
    make: Callable[[bool], tuple[Any, np.ndarray]]


def digits(quick: bool) -> tuple[np.ndarray, np.ndarray]:
    """W1: load_digits, unscaled pixel counts 0..16 (already small: same when quick)."""
    from sklearn.datasets import load_digits

    X, y = load_digits(return_X_y=True)
    return np.ascontiguousarray(X, dtype=np.float64), y.astype(np.int64)


def dense_classification(quick: bool) -> tuple[np.ndarray, np.ndarray]:
    """W2: make_classification, 200k x 200, 10 classes, 50 informative features."""
    from sklearn.datasets import make_classification

    n_samples, n_features, n_informative = (4_000, 40, 20) if quick else (200_000, 200, 50)
    X, y = make_classification(
        n_samples=n_samples,
        n_features=n_features,
        n_informative=n_informative,
        n_redundant=n_informative // 5,
        n_classes=10,
        n_clusters_per_class=2,
        class_sep=1.0,
        random_state=0,
    )
    return np.ascontiguousarray(X), y.astype(np.int64)


def embedding_probe(quick: bool, dtype: Any = np.float64) -> tuple[np.ndarray, np.ndarray]:
    """W3: x = A (mu_y + noise): 1 000 Gaussian class means, noise, a mixing matrix.

    The class means have per-coordinate standard deviation 0.15 against unit
    noise (overlapping classes, as in a probe on frozen embeddings); ``A`` has
    singular values decaying geometrically from 1 to 0.1, so the features are
    correlated and unequally scaled.
    """
    n_samples, n_features, n_classes = (1_000, 64, 50) if quick else (50_000, 512, 1_000)
    rng = np.random.default_rng(3)
    means = 0.15 * rng.standard_normal((n_classes, n_features))
    y = rng.integers(n_classes, size=n_samples)
    Z = means[y] + rng.standard_normal((n_samples, n_features))
    q, _ = np.linalg.qr(rng.standard_normal((n_features, n_features)))
    A = q * np.geomspace(1.0, 0.1, n_features)
    X = Z @ A.T
    return np.ascontiguousarray(X, dtype=dtype), y.astype(np.int64)


def _zipf_weights(n: int, exponent: float) -> np.ndarray:
    """Probabilities proportional to ``1 / rank**exponent`` over ``n`` ranks."""
    w = 1.0 / np.arange(1, n + 1) ** exponent
    return w / w.sum()


def tfidf(quick: bool) -> tuple[sp.csr_matrix, np.ndarray]:
    """W4: 100k x 50k (quick: 2 000 x 5 000) tf-idf rows, see :func:`make_tfidf`."""
    return make_tfidf(*((2_000, 5_000) if quick else (100_000, 50_000)))


def make_tfidf(n_samples: int, n_features: int) -> tuple[sp.csr_matrix, np.ndarray]:
    """Sparse tf-idf rows from Zipf words and class topics, 20 classes.

    Each document has ``1 + Poisson(82)`` tokens (about 60 distinct words);
    a token is drawn from the global Zipf(1.1) vocabulary with probability
    0.75, else from its class's topic (400 words of the vocabulary, Zipf(1.0)
    within the topic).  Counts become ``(1 + log tf) * idf`` and rows are
    l2-normalised.
    """
    n_classes, topic_size, p_topic = 20, 400, 0.25
    rng = np.random.default_rng(4)
    y = rng.integers(n_classes, size=n_samples)
    lengths = 1 + rng.poisson(82, size=n_samples)
    rows = np.repeat(np.arange(n_samples), lengths)
    n_tokens = rows.shape[0]
    words = rng.choice(n_features, size=n_tokens, p=_zipf_weights(n_features, 1.1))
    topics = np.stack(
        [rng.choice(n_features, size=topic_size, replace=False) for _ in range(n_classes)]
    )
    from_topic = rng.random(n_tokens) < p_topic
    rank = rng.choice(topic_size, size=int(from_topic.sum()), p=_zipf_weights(topic_size, 1.0))
    words[from_topic] = topics[y[rows[from_topic]], rank]
    counts = sp.csr_matrix(
        (np.ones(n_tokens), (rows, words)), shape=(n_samples, n_features)
    )  # duplicates are summed: term frequencies
    counts.sum_duplicates()
    df = np.bincount(counts.indices, minlength=n_features)
    idf = np.log((1.0 + n_samples) / (1.0 + df)) + 1.0
    counts.data = (1.0 + np.log(counts.data)) * idf[counts.indices]
    norms = np.sqrt(np.asarray(counts.multiply(counts).sum(axis=1)).ravel())
    X = sp.diags(1.0 / norms) @ counts
    return sp.csr_matrix(X), y.astype(np.int64)


def covtype_like(quick: bool) -> tuple[np.ndarray, np.ndarray]:
    """W5: 10 continuous columns on covtype's scales, then 4 + 40 one-hot columns.

    Class proportions follow covtype (36 %, 49 %, 6 %, 0.5 %, 1.6 %, 3 %,
    3.5 %).  The continuous columns are Gaussian with class-dependent means
    (elevation in metres separates the classes most, as in covtype), left
    unscaled; wilderness area and soil type are drawn from class-dependent
    categorical distributions.
    """
    n_samples = 10_000 if quick else 500_000
    rng = np.random.default_rng(5)
    n_classes = COVTYPE_PROPORTIONS.shape[0]
    y = rng.choice(n_classes, size=n_samples, p=COVTYPE_PROPORTIONS)
    # elevation, aspect, slope, 3 distances, 3 hillshades, fire-point distance
    centre = np.array([2950, 155, 14, 270, 46, 2350, 212, 223, 142, 1980], dtype=float)
    spread = np.array([280, 110, 7.5, 210, 58, 1560, 27, 20, 38, 1320], dtype=float)
    elevation = np.array([3130, 2920, 2390, 2220, 2790, 2420, 3360], dtype=float)
    shift = 0.3 * rng.standard_normal((n_classes, centre.shape[0])) * spread
    shift[:, 0] = elevation - centre[0]
    continuous = (
        centre + shift[y] + rng.standard_normal((n_samples, centre.shape[0])) * (0.6 * spread)
    )
    continuous[:, 0] = elevation[y] + 150.0 * rng.standard_normal(n_samples)
    continuous[:, 6:9] = np.clip(continuous[:, 6:9], 0, 255)
    continuous[:, 1] = np.mod(continuous[:, 1], 360)  # aspect in degrees
    nonnegative = [2, 3, 5, 9]  # slope and distances (vertical distance may be < 0)
    continuous[:, nonnegative] = np.maximum(continuous[:, nonnegative], 0)
    blocks = [continuous]
    for n_levels, concentration in ((4, 1.0), (40, 0.3)):
        probs = rng.dirichlet(np.full(n_levels, concentration), size=n_classes)
        level = _categorical(rng, probs[y])
        blocks.append(np.eye(n_levels)[level])
    return np.ascontiguousarray(np.hstack(blocks)), y.astype(np.int64)


def _categorical(rng: np.random.Generator, probs: np.ndarray) -> np.ndarray:
    """One draw per row from the categorical distribution in each row of ``probs``."""
    u = rng.random((probs.shape[0], 1))
    level = (np.cumsum(probs, axis=1) < u).sum(axis=1)
    return np.minimum(level, probs.shape[1] - 1)


WORKLOADS: dict[str, Workload] = {
    w.name: w
    for w in [
        Workload("W1", "scikit-learn digits, unscaled (1 797 x 64, 10 classes)", digits),
        Workload(
            "W2",
            "dense make_classification (200 000 x 200, 10 classes, 50 informative)",
            dense_classification,
        ),
        Workload(
            "W3-f64",
            "linear probe on embeddings (50 000 x 512, 1 000 classes), float64",
            embedding_probe,
        ),
        Workload(
            "W3-f32",
            "linear probe on embeddings (50 000 x 512, 1 000 classes), float32",
            lambda quick: embedding_probe(quick, np.float32),
        ),
        Workload(
            "W4",
            "tf-idf-like sparse CSR (100 000 x 50 000, ~60 nonzeros per row, 20 classes)",
            tfidf,
        ),
        Workload(
            "W5",
            "covtype-like, unscaled, imbalanced (500 000 x 54, 7 classes)",
            covtype_like,
        ),
    ]
}


def select(spec: str | None) -> list[Workload]:
    """Workloads named in a comma-separated ``spec`` ("W1,W3"); a name selects
    every workload it prefixes ("W3" -> W3-f64 and W3-f32).  None: all."""
    if not spec:
        return list(WORKLOADS.values())
    chosen: list[Workload] = []
    for part in (p.strip() for p in spec.split(",") if p.strip()):
        hits = [w for name, w in WORKLOADS.items() if name.upper().startswith(part.upper())]
        if not hits:
            raise SystemExit(f"unknown workload {part!r}; known: {', '.join(WORKLOADS)}")
        chosen += [w for w in hits if w not in chosen]
    return chosen
