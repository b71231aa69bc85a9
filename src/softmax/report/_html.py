"""One self-contained HTML evaluation report: inline CSS, plots as inline PNG."""

from __future__ import annotations

import base64
import html
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["render_html_report", "write_html_report"]

# No external stylesheet, font, script or image: the file opens offline.
_CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; margin: 2em auto;
       max-width: 1100px; color: #222; padding: 0 1em; }
h1 { font-size: 1.6em; margin-bottom: 0.2em; }
h2 { font-size: 1.2em; border-bottom: 1px solid #ddd; padding-bottom: 0.2em; margin-top: 1.6em; }
.sub { color: #666; margin-top: 0; }
table { border-collapse: collapse; margin: 0.6em 0; font-variant-numeric: tabular-nums; }
th, td { border: 1px solid #ddd; padding: 0.25em 0.7em; text-align: right; }
th { background: #f4f6f8; } td.l, th.l { text-align: left; }
figure { margin: 1em 0; } figure img { max-width: 100%; height: auto; }
figcaption { color: #555; font-size: 0.9em; }
.grid { display: flex; flex-wrap: wrap; gap: 1.5em; align-items: flex-start; }
"""

_METRIC_ROWS = (
    ("accuracy", "Accuracy", "share of correct predictions"),
    ("balanced_accuracy", "Balanced accuracy", "mean recall over classes"),
    ("log_loss", "Log-loss", "mean negative log-likelihood (lower is better)"),
    ("brier_score", "Brier score", "mean squared error of the probabilities, in [0, 2]"),
    ("ece", "Expected calibration error", "top-label, 15 equal-width bins"),
    ("mce", "Maximum calibration error", "largest gap over non-empty bins"),
)


def _e(value: Any) -> str:
    return html.escape(str(value), quote=True)


def _fmt(x: Any) -> str:
    if isinstance(x, float):
        return f"{x:.4f}"
    return _e(x)


def _img(png: bytes, alt: str, caption: str) -> str:
    data = base64.b64encode(png).decode("ascii")
    return (
        f'<figure><img src="data:image/png;base64,{data}" alt="{_e(alt)}">'
        f"<figcaption>{_e(caption)}</figcaption></figure>"
    )


def _table(header: Sequence[str], rows: Sequence[Sequence[Any]], *, left: int = 1) -> str:
    def cell(tag: str, i: int, v: Any) -> str:
        cls = ' class="l"' if i < left else ""
        return f"<{tag}{cls}>{_fmt(v)}</{tag}>"

    head = "".join(cell("th", i, h) for i, h in enumerate(header))
    body = "".join(
        "<tr>" + "".join(cell("td", i, v) for i, v in enumerate(r)) + "</tr>" for r in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def render_html_report(
    *,
    metrics: Mapping[str, Any],
    y_true: Any,
    proba: Any,
    classes: Sequence[Any],
    objective_history: Sequence[float] | None = None,
    coef: Any = None,
    feature_names: Sequence[str] | None = None,
    title: str = "softmax evaluation report",
    details: Mapping[str, Any] | None = None,
) -> str:
    """The report as an HTML string (see :func:`write_html_report` for the parameters)."""
    from softmax.metrics import reliability_diagram
    from softmax.report._plots import (
        figure_to_png,
        plot_coefficients,
        plot_confusion_matrix,
        plot_objective_history,
        plot_probability_distributions,
        plot_reliability_diagram,
    )

    names = [str(c) for c in classes]
    classes_arr = np.asarray(classes)
    proba = np.asarray(proba, dtype=np.float64)
    y_true = np.asarray(y_true)
    parts: list[str] = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{_e(title)}</title><style>{_CSS}</style></head><body>",
        f"<h1>{_e(title)}</h1>",
    ]
    if details:
        parts.append('<p class="sub">Model and data</p>')
        parts.append(_table(["", ""], [(k, v) for k, v in details.items()], left=2))

    parts.append(f"<h2>Metrics ({metrics['n_samples']} samples, {len(names)} classes)</h2>")
    rows = [(label, metrics[key], note) for key, label, note in _METRIC_ROWS if key in metrics]
    parts.append(_table(["metric", "value", "meaning"], rows, left=1))

    parts.append("<h2>Per class</h2>")
    parts.append(
        _table(
            ["class", "precision", "recall", "F1", "support"],
            [
                (r["class"], r["precision"], r["recall"], r["f1"], r["support"])
                for r in metrics["per_class"]
            ],
        )
    )
    parts.append(
        '<h2>Confusion matrix</h2><p class="sub">rows: true class; columns: predicted class</p>'
    )
    cm = metrics["confusion_matrix"]
    parts.append(
        _table(["true \\ predicted", *names], [(n, *row) for n, row in zip(names, cm, strict=True)])
    )

    figures: list[str] = []
    figures.append(
        _img(
            figure_to_png(plot_confusion_matrix(cm, names)),
            "confusion matrix heat map",
            "Confusion matrix; colour is the share of each true class.",
        )
    )
    diagram = reliability_diagram(y_true, proba, labels=classes_arr)
    figures.append(
        _img(
            figure_to_png(plot_reliability_diagram(diagram)),
            "reliability diagram",
            "Reliability diagram: a calibrated model follows the diagonal.",
        )
    )
    index = {str(c): i for i, c in enumerate(classes_arr)}
    y_idx = np.array([index[str(v)] for v in y_true], dtype=np.intp)
    figures.append(
        _img(
            figure_to_png(plot_probability_distributions(y_idx, proba, names)),
            "per-class predicted probability distributions",
            "Predicted probability of each class, for samples of that class and of the others.",
        )
    )
    if objective_history is not None:
        figures.append(
            _img(
                figure_to_png(plot_objective_history(objective_history)),
                "training objective per iteration",
                "Training objective per solver iteration (gap to the final value, log scale).",
            )
        )
    if coef is not None and feature_names is not None:
        figures.append(
            _img(
                figure_to_png(plot_coefficients(coef, feature_names, names)),
                "largest coefficients per class",
                "Largest coefficients per class, on the features' original scale.",
            )
        )
    parts.append("<h2>Plots</h2>")
    parts.append('<div class="grid">' + "".join(figures) + "</div>")
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"


def write_html_report(
    path: str | os.PathLike[str],
    *,
    metrics: Mapping[str, Any],
    y_true: Any,
    proba: Any,
    classes: Sequence[Any],
    objective_history: Sequence[float] | None = None,
    coef: Any = None,
    feature_names: Sequence[str] | None = None,
    title: str = "softmax evaluation report",
    details: Mapping[str, Any] | None = None,
    overwrite: bool = False,
) -> Path:
    """Write one self-contained HTML report (no network needed to view it), atomically.

    Parameters
    ----------
    path : str or path-like
        Where to write; an existing file is replaced only with ``overwrite``.
    metrics : mapping
        :func:`softmax.report.classification_metrics` of ``y_true`` and ``proba``.
    y_true : array-like of shape (n_samples,)
        True labels (entries of ``classes``).
    proba : array-like of shape (n_samples, n_classes)
        Predicted probabilities, columns in the order of ``classes``.
    classes : sequence
        The model's classes.
    objective_history : sequence of float, optional
        Training objective per iteration; adds the convergence plot.
    coef : array-like of shape (n_classes or 1, n_features), optional
        With ``feature_names``, adds the largest-coefficients plot.
    feature_names : sequence of str, optional
    title : str
    details : mapping, optional
        Shown as a key / value table at the top (model file, data file, ...).
    overwrite : bool, default=False

    Returns
    -------
    pathlib.Path
        The path written.

    Raises
    ------
    FileExistsError
        ``path`` exists and ``overwrite`` is False.
    ValueError
        The folder of ``path`` does not exist or is not writable.
    """
    from softmax._atomic import atomic_path, check_writable

    check_writable(path, overwrite=overwrite)  # before the (slow) plotting
    text = render_html_report(
        metrics=metrics,
        y_true=y_true,
        proba=proba,
        classes=classes,
        objective_history=objective_history,
        coef=coef,
        feature_names=feature_names,
        title=title,
        details=details,
    )
    with atomic_path(path, overwrite=overwrite) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return Path(path)
