"""scikit-learn compatible estimators built on the objectives and solvers."""

from softmax.estimators._cv import SoftmaxRegressionCV
from softmax.estimators._fitting import SeparationWarning
from softmax.estimators._multilabel_logistic_regression import MultiLabelLogisticRegression
from softmax.estimators._path import RegularizationPath, regularization_path
from softmax.estimators._softmax_regression import SoftmaxRegression
from softmax.estimators._temperature import TemperatureScaling

__all__ = [
    "MultiLabelLogisticRegression",
    "RegularizationPath",
    "SeparationWarning",
    "SoftmaxRegression",
    "SoftmaxRegressionCV",
    "TemperatureScaling",
    "regularization_path",
]
