"""scikit-learn compatible estimators built on the objectives and solvers."""

from softmax.estimators._fitting import SeparationWarning
from softmax.estimators._multilabel_logistic_regression import MultiLabelLogisticRegression
from softmax.estimators._softmax_regression import SoftmaxRegression

__all__ = ["MultiLabelLogisticRegression", "SeparationWarning", "SoftmaxRegression"]
