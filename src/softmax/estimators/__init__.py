"""scikit-learn compatible estimators built on the objectives and solvers."""

from softmax.estimators._softmax_regression import SeparationWarning, SoftmaxRegression
from softmax.estimators._temperature import TemperatureScaling

__all__ = ["SeparationWarning", "SoftmaxRegression", "TemperatureScaling"]
