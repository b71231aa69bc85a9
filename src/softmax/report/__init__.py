"""Evaluation metrics, plots and the self-contained HTML report.

matplotlib is imported only by the plotting functions (Agg canvas, no pyplot).
"""

from softmax.report._html import render_html_report, write_html_report
from softmax.report._metrics import classification_metrics
from softmax.report._plots import (
    figure_to_png,
    plot_coefficients,
    plot_confusion_matrix,
    plot_objective_history,
    plot_probability_distributions,
    plot_reliability_diagram,
)

__all__ = [
    "classification_metrics",
    "figure_to_png",
    "plot_coefficients",
    "plot_confusion_matrix",
    "plot_objective_history",
    "plot_probability_distributions",
    "plot_reliability_diagram",
    "render_html_report",
    "write_html_report",
]
