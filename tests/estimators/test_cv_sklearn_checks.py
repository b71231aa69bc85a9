"""scikit-learn's estimator checks for SoftmaxRegressionCV and the sparse SoftmaxRegression."""

from __future__ import annotations

from sklearn.utils.estimator_checks import parametrize_with_checks

from softmax import SoftmaxRegression, SoftmaxRegressionCV


@parametrize_with_checks(
    [
        SoftmaxRegressionCV(Cs=[0.1, 1.0], cv=2, penalty="elasticnet", l1_ratios=[0.5, 1.0]),
        SoftmaxRegression(penalty="l1"),
        SoftmaxRegression(penalty="group_elasticnet", l1_ratio=0.5),
    ],
)
def test_sklearn_compatible(estimator, check):
    check(estimator)
