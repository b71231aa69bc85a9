"""The HTML report: one self-contained file, every plot embedded, every metric present."""

from __future__ import annotations

import base64
from html.parser import HTMLParser

import numpy as np
import pytest
from sklearn.datasets import load_iris

from softmax import SoftmaxRegression
from softmax.report import classification_metrics, write_html_report

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


@pytest.fixture(scope="module")
def fitted():
    X, y = load_iris(return_X_y=True)
    names = np.array(["setosa", "versicolor", "virginica"], dtype=object)[y]
    clf = SoftmaxRegression().fit(X, names)
    P = clf.predict_proba(X)
    return clf, names, P, classification_metrics(names, P, clf.classes_)


def test_report_is_self_contained_and_complete(tmp_path, fitted):
    clf, y, P, metrics = fitted
    path = write_html_report(
        tmp_path / "r.html",
        metrics=metrics,
        y_true=y,
        proba=P,
        classes=clf.classes_,
        objective_history=clf.objective_history_,
        coef=clf.coef_,
        feature_names=["sepal length", "sepal width", "petal length", "petal width"],
        details={"model file": "iris <model>"},
    )
    text = path.read_text(encoding="utf-8")
    assert text.startswith("<!DOCTYPE html>")
    assert "http://" not in text and "https://" not in text
    p = check_report(text, metrics)
    assert "iris <model>" in " ".join(p.text)  # escaped, shown as text
    assert "<model>" not in text
    assert p.tables >= 3
    assert [f.name for f in tmp_path.iterdir()] == ["r.html"]  # no temporary left


def test_optional_plots_left_out(tmp_path, fitted):
    clf, y, P, metrics = fitted
    path = write_html_report(
        tmp_path / "r.html", metrics=metrics, y_true=y, proba=P, classes=clf.classes_
    )
    check_report(path.read_text(encoding="utf-8"), metrics, n_plots=3)


def test_no_overwrite_without_permission(tmp_path, fitted):
    clf, y, P, metrics = fitted
    target = tmp_path / "r.html"
    target.write_text("keep me")
    kwargs = dict(metrics=metrics, y_true=y, proba=P, classes=clf.classes_)
    with pytest.raises(FileExistsError, match="--force"):
        write_html_report(target, **kwargs)
    assert target.read_text() == "keep me"
    write_html_report(target, overwrite=True, **kwargs)
    assert target.read_text().startswith("<!DOCTYPE html>")
    with pytest.raises(ValueError, match="does not exist"):
        write_html_report(tmp_path / "nope" / "r.html", **kwargs)
