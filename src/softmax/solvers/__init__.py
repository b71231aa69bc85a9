"""Solvers by name.  Each takes
``(value_and_grad, x0, *, hessp, hessian, tol, max_iter, callback)``
and returns a :class:`SolverResult`; none sees the data or an estimator.
The proximal solvers (``PROXIMAL``) also take ``nonsmooth`` (see
:mod:`softmax.solvers._proximal`) and are the only ones for non-smooth penalties.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from softmax.solvers._newton import newton_cg, newton_cholesky
from softmax.solvers._proximal import fista, prox_newton
from softmax.solvers._result import SolverResult
from softmax.solvers._scipy import lbfgs

__all__ = [
    "PROXIMAL",
    "SOLVERS",
    "SolverResult",
    "fista",
    "get_solver",
    "lbfgs",
    "newton_cg",
    "newton_cholesky",
    "prox_newton",
]

SOLVERS: dict[str, Callable[..., SolverResult]] = {
    "lbfgs": lbfgs,
    "newton-cg": newton_cg,
    "newton-cholesky": newton_cholesky,
    "prox-newton": prox_newton,
    "fista": fista,
}

#: The solvers that accept a non-smooth term (``nonsmooth=``).
PROXIMAL = frozenset({"prox-newton", "fista"})


def get_solver(name: str) -> Callable[..., Any]:
    """The solver registered under ``name``; ValueError listing the known ones otherwise."""
    try:
        return SOLVERS[name]
    except KeyError:
        raise ValueError(f"solver={name!r} is not one of {sorted([*SOLVERS, 'auto'])}") from None
