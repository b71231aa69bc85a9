"""The softmax family and softmax regression at work, on data that ships with scikit-learn.

Run with ``make demo`` (or ``python examples/demo.py`` inside the project's venv).
"""

from __future__ import annotations

import time
import warnings

import numpy as np
from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split

import softmax
from softmax import SoftmaxRegression


def show_functions() -> None:
    print("== The softmax family: exact where naive formulas fail ==")
    logits = np.array([1000.0, 999.0, -1000.0])
    with np.errstate(over="ignore", invalid="ignore"):
        naive = np.exp(logits) / np.exp(logits).sum()
    print(f"logits                      {logits}")
    print(f"naive exp/sum               {naive}")
    print(f"softmax.softmax             {softmax.softmax(logits)}")
    print(f"softmax.log_softmax         {softmax.log_softmax(logits)}")
    print(f"softmax.logsumexp           {softmax.logsumexp(logits)!r}")
    print(f"temperature 10              {softmax.softmax(logits / 100, temperature=10)}")
    print(f"log_sigmoid(-1000)          {softmax.log_sigmoid(-1000.0)!r}")
    labels = np.array([0, 1])
    z = np.array([[2.0, 0.5, -1.0], [0.1, 0.2, 3.0]])
    print(f"cross_entropy               {float(softmax.cross_entropy(z, labels)):.6f}")
    print(f"  its gradient P - Y (mean) {softmax.cross_entropy_grad(z, labels).round(4).tolist()}")
    print()


def objective(X, y, coef, intercept, C):
    """scikit-learn's objective C * sum(cross-entropy) + 0.5 ||W||^2."""
    logp = softmax.log_softmax(X @ coef.T + intercept)
    return -C * logp[np.arange(len(y)), y].sum() + 0.5 * np.sum(coef**2)


def show_regression() -> None:
    print("== Softmax regression on the digits data (1797 images, 64 raw pixel features) ==")
    X, y = load_digits(return_X_y=True)
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.25, random_state=0)
    rows = []
    for name, model in [
        ("softmax.SoftmaxRegression()", SoftmaxRegression()),
        ("sklearn LogisticRegression()", LogisticRegression()),
        (
            "sklearn newton-cholesky, tol=1e-10",
            LogisticRegression(solver="newton-cholesky", tol=1e-10),
        ),
    ]:
        start = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            model.fit(X_train, y_train)
        seconds = time.perf_counter() - start
        f = objective(X_train, y_train, model.coef_, model.intercept_, 1.0)
        rows.append((name, seconds, f, model.score(X_test, y_test)))
    best = min(r[2] for r in rows)
    print(f"{'model':36s} {'fit s':>7s} {'objective':>14s} {'rel. gap':>9s} {'test acc':>8s}")
    for name, seconds, f, acc in rows:
        print(f"{name:36s} {seconds:7.3f} {f:14.6f} {(f - best) / best:9.1e} {acc:8.4f}")
    model = SoftmaxRegression().fit(X_train, y_train)
    proba = model.predict_proba(X_test[:1])[0]
    print(
        f"\nfirst test image: true {y_test[0]}, predicted {model.predict(X_test[:1])[0]}, "
        f"p = {proba.max():.4f}; iterations: {model.n_iter_[0]} ({model.solver_})"
    )


if __name__ == "__main__":
    show_functions()
    show_regression()
