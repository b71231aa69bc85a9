"""The inner solver of proximal Newton that knows the data fit.

:func:`softmax.solvers.prox_newton` minimises a quadratic model of the smooth
part plus the non-smooth penalty at each outer step.  Its generic inner solver
sees the Hessian only through products, each a pass over the data.  Two
solvers that use the data's structure do better where they apply:

* sparse data with an L1 (or elastic-net) penalty on the multinomial or
  binomial fit: coordinate descent over the data
  (:mod:`softmax.objective._coordinate_descent`);
* otherwise, while the model's features in use are few: the model restricted
  to them, with its Hessian formed (:mod:`softmax.objective._working_set`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from softmax.objective._coordinate_descent import coordinate_descent_solver
from softmax.objective._working_set import working_set_solver

__all__ = ["newton_model_solver"]


def newton_model_solver(
    objective: Any, nonsmooth: Any
) -> Callable[[np.ndarray, np.ndarray, float], np.ndarray | None] | None:
    """``solve(x, g, tol) -> z`` (None for a step it leaves to the generic inner
    solver), or None where neither solver applies."""
    return coordinate_descent_solver(objective, nonsmooth) or working_set_solver(
        objective, nonsmooth
    )
