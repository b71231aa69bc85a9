"""The report's plots, drawn with matplotlib's object API on the Agg canvas.

Every function returns a :class:`matplotlib.figure.Figure` built without
pyplot, so no global backend or figure registry is touched (safe in scripts,
notebooks and threads alike); :func:`figure_to_png` renders one to PNG bytes.
matplotlib is imported inside the functions.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from typing import Any

import numpy as np

__all__ = [
    "figure_to_png",
    "plot_coefficients",
    "plot_confusion_matrix",
    "plot_objective_history",
    "plot_probability_distributions",
    "plot_reliability_diagram",
]


def _figure(width: float, height: float) -> Any:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def figure_to_png(fig: Any, *, dpi: int = 96) -> bytes:
    """Render ``fig`` to PNG bytes (Agg)."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi)
    return buf.getvalue()


def plot_confusion_matrix(confusion: Any, classes: Sequence[str]) -> Any:
    """Heat map of the confusion matrix (rows: true class, columns: predicted), with counts."""
    cm = np.asarray(confusion, dtype=np.int64)
    k = len(classes)
    size = min(3.0 + 0.6 * k, 12.0)
    fig = _figure(size + 1.0, size)
    ax = fig.add_subplot()
    # Colour by the share of the true class so small classes are readable too.
    totals = cm.sum(axis=1, keepdims=True)
    share = np.divide(cm, totals, out=np.zeros(cm.shape), where=totals > 0)
    im = ax.imshow(share, cmap="Blues", vmin=0.0, vmax=1.0)
    fig.colorbar(im, ax=ax, label="share of the true class")
    ax.set_xticks(range(k), labels=list(classes), rotation=45 if k > 4 else 0, ha="right")
    ax.set_yticks(range(k), labels=list(classes))
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class")
    ax.set_title("Confusion matrix")
    if k <= 30:
        for i in range(k):
            for j in range(k):
                ax.text(
                    j,
                    i,
                    str(cm[i, j]),
                    ha="center",
                    va="center",
                    color="white" if share[i, j] > 0.5 else "black",
                    fontsize=9,
                )
    return fig


def plot_reliability_diagram(diagram: Any) -> Any:
    """Reliability diagram: accuracy against mean confidence per confidence bin.

    ``diagram`` is a :class:`softmax.metrics.ReliabilityDiagram`; a perfectly
    calibrated model lies on the diagonal.  The lower panel shows how many
    samples fall in each bin.
    """
    edges = np.asarray(diagram.bin_edges, dtype=np.float64)
    counts = np.asarray(diagram.counts, dtype=np.float64)
    acc = np.asarray(diagram.accuracy, dtype=np.float64)
    conf = np.asarray(diagram.mean_confidence, dtype=np.float64)
    filled = counts > 0
    widths = np.diff(edges)
    fig = _figure(5.5, 6.0)
    top, bottom = fig.subplots(2, 1, sharex=True, height_ratios=[3, 1])
    top.plot([0, 1], [0, 1], ls="--", color="grey", lw=1, label="perfect calibration")
    top.bar(
        edges[:-1][filled],
        acc[filled],
        width=widths[filled],
        align="edge",
        color="#4c72b0",
        alpha=0.7,
        edgecolor="white",
        label="accuracy in bin",
    )
    top.plot(conf[filled], acc[filled], "o", color="#c44e52", ms=4, label="(confidence, accuracy)")
    top.set_xlim(0, 1)
    top.set_ylim(0, 1)
    top.set_ylabel("accuracy")
    top.set_title("Reliability diagram (top-label)")
    top.legend(loc="upper left", fontsize=8)
    bottom.bar(edges[:-1], counts, width=widths, align="edge", color="grey", edgecolor="white")
    bottom.set_xlabel("confidence (largest predicted probability)")
    bottom.set_ylabel("samples")
    return fig


def plot_objective_history(history: Sequence[float]) -> Any:
    """Training objective per iteration, as the gap to the final value on a log scale.

    The gap :math:`f_k - f_{\\min}` shows the solver's rate of convergence
    (straight line: linear; bending down: superlinear).  Gaps of exactly 0 (the
    best iterate) cannot be drawn on a log axis and are left out.
    """
    f = np.asarray(history, dtype=np.float64)
    fig = _figure(6.0, 4.0)
    ax = fig.add_subplot()
    if f.size == 0:
        ax.text(0.5, 0.5, "no objective history recorded", ha="center", va="center")
        ax.set_axis_off()
        return fig
    gap = f - np.min(f)
    it = np.arange(f.size)
    positive = gap > 0
    if positive.any():
        ax.semilogy(it[positive], gap[positive], "o-", ms=3, color="#4c72b0")
        ax.set_ylabel("objective − final objective")
    else:
        ax.plot(it, f, "o-", ms=3, color="#4c72b0")
        ax.set_ylabel("objective")
    ax.set_xlabel("iteration")
    ax.set_title(f"Training objective ({f.size - 1} iterations, final {f[-1]:.6g})")
    ax.grid(True, which="both", alpha=0.3)
    return fig


def plot_probability_distributions(y_true: Any, proba: Any, classes: Sequence[str]) -> Any:
    """Per class k: histograms of the predicted P(k) for samples of class k and of the others.

    A good model puts the first near 1 and the second near 0.  ``y_true`` holds
    indices into ``classes`` (or labels equal to its entries).
    """
    proba = np.asarray(proba, dtype=np.float64)
    names = [str(c) for c in classes]
    y = np.asarray(y_true)
    if y.dtype.kind not in "iu":
        y = np.array([names.index(str(v)) for v in y], dtype=np.intp)
    k = len(names)
    shown = min(k, 12)  # beyond a dozen panels the page is unreadable
    cols = min(shown, 3)
    rows = -(-shown // cols)
    fig = _figure(3.6 * cols, 2.8 * rows)
    axes = np.atleast_1d(fig.subplots(rows, cols, squeeze=False)).ravel()
    bins = np.linspace(0.0, 1.0, 21)
    for j, ax in enumerate(axes):
        if j >= shown:
            ax.set_axis_off()
            continue
        is_j = y == j
        ax.hist(proba[is_j, j], bins=bins, alpha=0.7, color="#55a868", label=f"true {names[j]}")
        ax.hist(proba[~is_j, j], bins=bins, alpha=0.6, color="#c44e52", label="other classes")
        ax.set_title(f"P({names[j]})", fontsize=10)
        ax.set_xlim(0, 1)
        ax.legend(fontsize=7)
    fig.suptitle("Predicted probability of each class")
    return fig


def plot_coefficients(
    coef: Any, feature_names: Sequence[str], classes: Sequence[str], *, top: int = 10
) -> Any:
    """Per class: the ``top`` coefficients of largest magnitude, as horizontal bars.

    For two classes there is a single row of coefficients, the log-odds of the
    second class.  Coefficients are on the features' original scale.
    """
    W = np.atleast_2d(np.asarray(coef, dtype=np.float64))
    names = [str(n) for n in feature_names]
    labels = [str(c) for c in classes]
    if W.shape[0] == 1 and len(labels) == 2:
        titles = [f"log-odds of {labels[1]} vs {labels[0]}"]
    else:
        titles = [f"class {c}" for c in labels]
    shown = min(W.shape[0], 12)
    n_top = min(top, W.shape[1])
    cols = min(shown, 3)
    rows = -(-shown // cols)
    fig = _figure(4.2 * cols, 0.35 * n_top * rows + 1.2 * rows)
    axes = np.atleast_1d(fig.subplots(rows, cols, squeeze=False)).ravel()
    for j, ax in enumerate(axes):
        if j >= shown or n_top == 0:
            ax.set_axis_off()
            continue
        order = np.argsort(-np.abs(W[j]), kind="stable")[:n_top][::-1]
        values = W[j, order]
        ax.barh(range(n_top), values, color=np.where(values >= 0, "#4c72b0", "#c44e52").tolist())
        ax.set_yticks(range(n_top), labels=[names[i] for i in order], fontsize=8)
        ax.axvline(0, color="black", lw=0.8)
        ax.set_title(titles[j], fontsize=10)
    fig.suptitle(f"Largest coefficients per class (top {n_top})")
    return fig
