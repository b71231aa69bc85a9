"""The inner solver of proximal Newton on a working set of features, with their
Hessian formed.

A sparse model uses few features: on ``make_classification`` data (W2,
200k x 200, 10 classes) an elastic-net path never uses more than 60.  The
proximal-Newton model restricted to those features has at most
``K * (60 + 1)`` parameters, so its Hessian can be formed (one pass over the
rows of those columns) and the model minimised with matrix-vector products
that never touch the data -- where the generic inner solver pays a pass over
all of ``X`` for each of its tens of Hessian-vector products per step.

The working set is every feature with a nonzero coefficient, plus those whose
zero violates the model's optimality condition at ``d = 0`` (the gradient
``g`` is then the model's).  After the restricted solve, one Hessian-vector
product of the full model checks the features left out; those that violate
it join the set and the model is solved again (glmnet's strong-set loop).
A set too large for the fixed bounds leaves its step to the generic inner
solver, and is formed at the next step once that solver's products cost more
(:meth:`_WorkingSet._affordable`).
The restriction is exact: a feature outside the set has zero coefficients, so
the logits and the Hessian of the restricted objective are the full ones.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from softmax.objective._composite import ProxTerm
from softmax.objective._datafit import Multinomial
from softmax.objective._objective import Objective
from softmax.solvers._proximal import _largest_eigenvalue, _solve_model

__all__ = ["working_set_solver"]

#: Largest restricted model whose Hessian is formed: parameters, and
#: multiply-adds to form it (``n_samples * n_params**2``; W2's 610 parameters
#: on 200k rows take 7.4e10, about a second, against about 5 s of
#: Hessian-vector products per step for the generic inner solver).
MAX_PARAMS = 1000
MAX_WORK = 2e11
#: Past those bounds the Hessian is still formed, up to this many parameters
#: (a 72 MB matrix), once the generic inner solver's Hessian-vector products
#: in the previous outer step cost more than forming it would (as one buys
#: skis once the rent paid would have bought them).  On W2's elastic-net
#: path the last C keep 142-200 features (1 430-2 010 parameters), where the
#: generic inner solver spent hundreds of products per step.
MAX_PARAMS_RENTED = 3000
#: Rounds of "solve, check the features left out" per outer step; inner steps
#: (matrix-vector products with the formed Hessian) and rounds of the inner
#: solver's two phases per solve.
MAX_ROUNDS = 10
MAX_INNER = 20_000
MAX_INNER_ROUNDS = 50


def working_set_solver(
    objective: Any, nonsmooth: Any
) -> Callable[[np.ndarray, np.ndarray, float], np.ndarray | None] | None:
    """``solve(x, g, tol) -> z``: the minimiser of the proximal-Newton model at ``x``
    on a working set of features, or None for a step where the set is too large
    (the caller's generic inner solver then runs); None where it does not apply
    (not the in-memory :class:`Objective`, or a data fit without a Hessian)."""
    if type(objective) is not Objective or nonsmooth is None:
        return None
    if not hasattr(objective.datafit, "hessian"):
        return None
    return _WorkingSet(objective, nonsmooth)


class _WorkingSet:
    def __init__(self, objective: Objective, prox: ProxTerm) -> None:
        self.objective, self.prox = objective, prox
        self.K = objective.datafit.n_rows
        self.p = objective.n_features
        # The softmax's intercepts: the objective is invariant to a common shift.
        self.shift_invariant = isinstance(objective.datafit, Multinomial) and (
            objective.fit_intercept
        )
        # The objective's count of Hessian-vector products when a step was last
        # left to the generic inner solver (None: none was yet).
        self._products_mark: int | None = None

    def _affordable(self, n_samples: int, n_params: int) -> bool:
        """Whether the restricted model's Hessian is formed: within the fixed
        bounds, or within :data:`MAX_PARAMS_RENTED` once the last step left to
        the generic inner solver spent more on products than it costs."""
        if n_params <= MAX_PARAMS and n_samples * n_params**2 <= MAX_WORK:
            return True
        if self._products_mark is None or n_params > MAX_PARAMS_RENTED:
            return False
        spent = self.objective.n_hessp - self._products_mark
        product = 4.0 * n_samples * self.objective.n_params  # two passes, as in a fit
        return spent * product >= n_samples * n_params**2 / 2.0

    def _violating(self, x: np.ndarray, model_grad: np.ndarray, tol: float) -> np.ndarray:
        """Features with a coefficient that is nonzero or not optimal at zero."""
        r = self.prox.min_norm_subgradient(x, model_grad)
        n_coef = self.K * self.p
        W = x[:n_coef].reshape(self.K, self.p)
        R = r[:n_coef].reshape(self.K, self.p)
        return (W != 0).any(axis=0) | (np.abs(R) > tol).any(axis=0)

    def _restricted(self, features: np.ndarray) -> tuple[Objective, ProxTerm, np.ndarray]:
        """The objective and penalty on ``features`` alone, and where their
        parameters sit in the full vector."""
        objective, K, p = self.objective, self.K, self.p
        if features.shape[0] == p:  # the full model itself: no copy of X
            return objective, self.prox, np.arange(objective.n_params)
        sub = objective.columns(features)
        penalty = self.prox.original_penalty.restricted(features)
        prox = ProxTerm(penalty, K, features.shape[0], objective.fit_intercept, sub.standardization)
        idx = (np.arange(K)[:, None] * p + features[None, :]).ravel()
        if objective.fit_intercept:
            idx = np.concatenate([idx, K * p + np.arange(K)])
        return sub, prox, idx

    def __call__(self, x: np.ndarray, g: np.ndarray, tol: float) -> np.ndarray | None:
        n_samples = self.objective.X.shape[0]
        in_set = self._violating(x, g, tol)
        if not in_set.any():
            in_set[np.argmax(np.abs(g[: self.K * self.p]).reshape(self.K, self.p).max(0))] = True
        z = x
        for _ in range(MAX_ROUNDS):
            features = np.flatnonzero(in_set)
            n_params = self.K * (features.shape[0] + int(self.objective.fit_intercept))
            if not self._affordable(n_samples, n_params):
                self._products_mark = self.objective.n_hessp
                return None
            if n_params > MAX_PARAMS and 2 * features.shape[0] > self.p:
                if self._affordable(n_samples, self.objective.n_params):
                    # Most columns: the full model (exact all the same) rather
                    # than a copy of most of X.
                    in_set[:] = True
                    features = np.arange(self.p)
            sub, prox, idx = self._restricted(features)
            n_params = idx.shape[0]
            H = sub.hessian(x[idx])
            if n_params <= MAX_PARAMS:
                lam = float(np.linalg.eigvalsh(H)[-1])
            else:  # eigvalsh is O(n_params**3): 1-2 s at 2 000 parameters
                lam = _largest_eigenvalue(H.__matmul__, np.ones(n_params), 50)[0]
            L = 1.05 * max(lam, 1e-12)
            # Products with the formed Hessian cost next to nothing: many rounds,
            # and conjugate gradients run to their end.
            g_sub = g[idx]
            if self.shift_invariant:
                # A shift of every intercept changes nothing (H is singular along
                # it), but a gradient rounded in float32 has a component there that
                # conjugate gradients would follow to 1e5 and beyond.
                g_sub = g_sub.copy()
                g_sub[-self.K :] -= g_sub[-self.K :].mean()
            z_sub, *_ = _solve_model(
                x[idx], g_sub, H.__matmul__, prox, L, tol, MAX_INNER,
                rounds=MAX_INNER_ROUNDS, max_cg=n_params,
            )  # fmt: skip
            if self.shift_invariant:
                z_sub[-self.K :] -= (z_sub[-self.K :] - x[idx][-self.K :]).mean()
            z = x.copy()
            z[idx] = z_sub
            # The features left out, all at once: one product with the full Hessian.
            model_grad = g + self.objective.hessp(x, z - x)
            new = self._violating(z, model_grad, tol) & ~in_set
            if not new.any():
                break
            in_set |= new
        return z
