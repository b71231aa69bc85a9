"""scikit-learn compatible estimators built on the objectives and solvers."""

from softmax.estimators._cv import SoftmaxRegressionCV
from softmax.estimators._path import RegularizationPath, regularization_path
from softmax.estimators._softmax_regression import SeparationWarning, SoftmaxRegression

__all__ = [
    "RegularizationPath",
    "SeparationWarning",
    "SoftmaxRegression",
    "SoftmaxRegressionCV",
    "regularization_path",
]
