"""scikit-learn compatible estimators built on the objectives and solvers."""

from softmax.estimators._softmax_regression import SeparationWarning, SoftmaxRegression

__all__ = ["SeparationWarning", "SoftmaxRegression"]
