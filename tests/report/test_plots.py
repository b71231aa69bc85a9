"""The plots draw what they are given (checked on the matplotlib artists)."""

from __future__ import annotations

import numpy as np
import pytest

from softmax.metrics import reliability_diagram
from softmax.report import (
    figure_to_png,
    plot_coefficients,
    plot_confusion_matrix,
    plot_objective_history,
    plot_probability_distributions,
    plot_reliability_diagram,
)


def test_confusion_matrix_annotates_counts():
    cm = [[5, 1], [0, 7]]
    fig = plot_confusion_matrix(cm, ["a", "b"])
    ax = fig.axes[0]
    assert sorted(t.get_text() for t in ax.texts) == ["0", "1", "5", "7"]
    np.testing.assert_allclose(ax.images[0].get_array(), [[5 / 6, 1 / 6], [0, 1]])
    assert figure_to_png(fig).startswith(b"\x89PNG")


def test_objective_history_plots_the_gap_on_a_log_axis():
    f = [1.0, 0.5, 0.3, 0.25]
    ax = plot_objective_history(f).axes[0]
    assert ax.get_yscale() == "log"
    x, y = ax.lines[0].get_data()
    np.testing.assert_allclose(y, [0.75, 0.25, 0.05])  # the 0 gap is left out
    np.testing.assert_array_equal(x, [0, 1, 2])
    assert plot_objective_history([]).axes[0].texts  # says there is nothing


def test_reliability_diagram_bars_are_the_bin_accuracies(rng):
    P = rng.dirichlet([1, 1, 1], size=300)
    y = rng.integers(0, 3, size=300)
    d = reliability_diagram(y, P, n_bins=10)
    top = plot_reliability_diagram(d).axes[0]
    heights = [b.get_height() for b in top.patches]
    np.testing.assert_allclose(heights, d.accuracy[d.counts > 0])


def test_probability_distributions_one_panel_per_class(rng):
    P = rng.dirichlet([1, 1, 1, 1], size=50)
    y = rng.integers(0, 4, size=50)
    fig = plot_probability_distributions(y, P, ["a", "b", "c", "d"])
    titles = [ax.get_title() for ax in fig.axes if ax.get_title()]
    assert titles == ["P(a)", "P(b)", "P(c)", "P(d)"]
    # each panel's two histograms hold all 50 samples
    first = fig.axes[0]
    assert sum(p.get_height() for p in first.patches) == pytest.approx(50)


def test_coefficients_shows_the_largest():
    W = np.array([[0.1, -3.0, 2.0, 0.0], [1.0, 0.0, 0.0, -0.5]])
    fig = plot_coefficients(W, ["w", "x", "y", "z"], ["p", "q"], top=2)
    labels = [[t.get_text() for t in ax.get_yticklabels()] for ax in fig.axes[:2]]
    assert labels == [["y", "x"], ["z", "w"]]
    binary = plot_coefficients(W[:1], ["w", "x", "y", "z"], ["p", "q"])
    assert "log-odds of q" in binary.axes[0].get_title()
