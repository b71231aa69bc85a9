"""Checks of an HTML report shared by the report and command-line tests."""

from __future__ import annotations

import base64
from html.parser import HTMLParser

import numpy as np

PNG = b"\x89PNG\r\n\x1a\n"


class ReportParser(HTMLParser):
    """Collects images, inline svgs, links/scripts and the visible text."""

    def __init__(self) -> None:
        super().__init__()
        self.images: list[tuple[str, str]] = []
        self.svgs = 0
        self.external: list[str] = []
        self.text: list[str] = []
        self.tables = 0

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "img":
            self.images.append((a.get("src", ""), a.get("alt", "")))
        if tag == "svg":
            self.svgs += 1
        if tag == "table":
            self.tables += 1
        if tag in ("script", "link", "iframe"):
            self.external.append(tag)
        for key in ("src", "href"):
            if a.get(key) and not a[key].startswith("data:"):
                self.external.append(a[key])

    def handle_data(self, data):
        self.text.append(data)


def parse_report(text: str) -> ReportParser:
    p = ReportParser()
    p.feed(text)
    return p


def check_report(text: str, metrics: dict, *, n_plots: int = 5) -> ReportParser:
    """Shared by the CLI tests: every plot embedded as PNG, every metric shown."""
    p = parse_report(text)
    assert p.external == []
    assert len(p.images) + p.svgs == n_plots
    for src, alt in p.images:
        assert src.startswith("data:image/png;base64,"), src[:40]
        assert base64.b64decode(src.split(",", 1)[1]).startswith(PNG)
        assert alt
    alts = " ".join(alt for _, alt in p.images)
    for plot in ("confusion matrix", "reliability diagram", "probability distributions"):
        assert plot in alts
    if n_plots == 5:
        assert "objective" in alts and "coefficients" in alts
    visible = " ".join(p.text)
    for label in (
        "Accuracy",
        "Balanced accuracy",
        "Log-loss",
        "Brier score",
        "Expected calibration error",
        "precision",
        "recall",
        "F1",
        "Confusion matrix",
    ):
        assert label in visible, label
    for key in ("accuracy", "balanced_accuracy", "log_loss", "brier_score", "ece"):
        assert f"{metrics[key]:.4f}" in visible, key
    for row in metrics["per_class"]:
        assert row["class"] in visible
        assert f"{row['f1']:.4f}" in visible
    for count in np.ravel(metrics["confusion_matrix"]):
        assert str(count) in visible
    return p
