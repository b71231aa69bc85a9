"""scikit-learn's own estimator checks, with no expected failures."""

from __future__ import annotations

import warnings

import pytest
from sklearn.utils.estimator_checks import check_classifiers_train, parametrize_with_checks

from softmax import SoftmaxRegression, SoftmaxRegressionCV
from softmax.estimators import SeparationWarning


@parametrize_with_checks([SoftmaxRegression()])
def test_sklearn_compatible(estimator, check):
    check(estimator)


@pytest.mark.parametrize(
    "estimator",
    [SoftmaxRegression(penalty=None), SoftmaxRegression(C=100.0), SoftmaxRegressionCV()],
    ids=repr,
)
def test_confident_float32_models_pass_the_training_check(estimator):
    # Probabilities that round to 1 in float32, whose exact log (-3e-8) the
    # check compares with log(predict_proba) = 0 to 1e-9.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SeparationWarning)  # the check's blobs are separable
        check_classifiers_train(
            type(estimator).__name__, estimator, readonly_memmap=True, X_dtype="float32"
        )
