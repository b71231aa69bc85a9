"""The HTML report: one self-contained file, every plot embedded, every metric present."""

from __future__ import annotations

import numpy as np
import pytest
from _html_checks import check_report
from sklearn.datasets import load_iris

from softmax import SoftmaxRegression
from softmax.report import classification_metrics, write_html_report


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
