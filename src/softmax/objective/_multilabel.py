"""The multi-label data fit: one independent sigmoid + binary cross-entropy per label.

Each row may carry any subset of ``n_labels`` labels.  The model has
``n_rows = n_labels`` coefficient rows in the flat layout defined in
:mod:`softmax.objective._datafit` (``w = [W.ravel(), b]``, ``W`` of shape
``(n_labels, n_features)``); row ``l`` holds the log-odds of label ``l``, as
``LogisticRegression.coef_`` does for one binary problem.  Unlike the
multinomial layout there is no shift redundancy: every label is identified by
its own data.

With targets ``Y`` in {0, 1} of shape ``(n_samples, n_labels)``, logits
``Z = X @ W.T + b``, sample weights ``s`` and per-label positive weights
``pw`` (1 when not given), the weighted loss sum is the BCE-with-logits of
:func:`softmax.binary_cross_entropy_with_logits` summed over rows and labels::

    L = -sum_il s_i c_il log sigmoid(sign_il z_il),
    sign = 2 Y - 1,  c_il = pw_l if Y_il = 1 else 1,

its gradient ``grad_W = R.T @ X``, ``grad_b = R.sum(0)`` with
``R = -s c sign sigmoid(-sign Z)`` (``= s [(1 - Y) sigmoid(Z) - pw Y sigmoid(-Z)]``),
and its Hessian is block diagonal over labels: for a direction ``(V, v_b)``,
``A = X @ V.T + v_b`` and ``H v = Q.T @ X`` with ``Q = s * D * A``,
``D = c sigmoid(Z) sigmoid(-Z)``.  ``docs/math.md`` derives them.  The label
problems are coupled only through the shared matrix products: one pair of
GEMMs per evaluation fits every label at once.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from softmax.objective._datafit import _gram, _linear, _pack, _transpose_product, unpack
from softmax.special import log_sigmoid, sigmoid

__all__ = ["MultiLabel"]


@dataclass(frozen=True, eq=False)
class MultiLabel:
    """Independent sigmoids: ``sum_i s_i sum_l BCE_with_logits(z_il, y_il; pw_l)``.

    Parameters
    ----------
    n_labels : int
        Number of labels (columns of the target matrix).
    fit_intercept : bool, default=True
    pos_weight : ndarray of shape (n_labels,), optional
        Weight of the positive term of each label's loss (PyTorch's
        ``pos_weight``); None means 1 for every label.

    Notes
    -----
    ``value_and_grad`` takes as ``labels`` the 0/1 target matrix of shape
    ``(n_samples, n_labels)`` (any real dtype).  Its third return value, which
    the :class:`~softmax.objective.Objective` caches and hands to
    :meth:`hessp` and :meth:`hessian` in place of probabilities, is the matrix
    of curvature weights ``D`` (module docstring), which already holds
    ``pos_weight``.
    """

    n_labels: int
    fit_intercept: bool = True
    pos_weight: np.ndarray | None = field(default=None)

    @property
    def n_rows(self) -> int:
        return self.n_labels

    def logits(self, X: Any, w: np.ndarray, dtype: np.dtype) -> np.ndarray:
        """``X @ W.T + b``, shape (n_samples, n_labels), in ``dtype``."""
        W, b = unpack(w, self.n_labels, X.shape[1], self.fit_intercept)
        return _linear(X, W, b, dtype)

    def value_and_grad(
        self, w: np.ndarray, X: Any, labels: np.ndarray, sample_weight: np.ndarray
    ) -> tuple[float, np.ndarray, np.ndarray]:
        """Weighted loss sum, its gradient (flat), and the curvature weights ``D``."""
        z = self.logits(X, w, X.dtype)
        # u = sign * z is the logit of the observed outcome: the loss is -log sigmoid(u).
        sign = 2.0 * np.asarray(labels, dtype=z.dtype) - 1.0
        u = sign * z
        log_p = log_sigmoid(u)  # log-probability of the observed outcome
        q = sigmoid(-u)  # its complement, kept to full relative accuracy
        s = sample_weight.astype(z.dtype, copy=False)[:, None]
        c = self._outcome_weights(labels, z.dtype)
        coef = s if c is None else s * c
        # The objective is accumulated in float64 whatever the data dtype.
        value = -float(np.sum(coef * log_p, dtype=np.float64))
        R = -(coef * sign) * q
        G = _transpose_product(X, R)
        g_b = R.sum(axis=0, dtype=np.float64) if self.fit_intercept else None
        # sigmoid(u) sigmoid(-u) = p (1 - p), without the cancellation in 1 - p.
        D = np.exp(log_p) * q
        if c is not None:
            D *= c
        return value, _pack(G, g_b), D

    def _outcome_weights(self, labels: np.ndarray, dtype: np.dtype) -> np.ndarray | None:
        """``c_il = pw_l`` where ``y_il = 1``, else 1 (None when there is no pos_weight)."""
        if self.pos_weight is None:
            return None
        pw = np.asarray(self.pos_weight, dtype=dtype)
        return np.where(np.asarray(labels) == 1, pw, np.ones((), dtype=dtype))

    def hessp(
        self, v: np.ndarray, X: Any, curvature: np.ndarray, sample_weight: np.ndarray
    ) -> np.ndarray:
        """Hessian-vector product at the point where ``curvature`` (``D``) was computed."""
        V, v_b = unpack(v, self.n_labels, X.shape[1], self.fit_intercept)
        A = _linear(X, V, v_b, curvature.dtype)
        A *= curvature
        A *= sample_weight[:, None].astype(A.dtype, copy=False)
        HV = _transpose_product(X, A)
        h_b = A.sum(axis=0, dtype=np.float64) if self.fit_intercept else None
        return _pack(HV, h_b)

    def hessian(
        self,
        X: Any,
        curvature: np.ndarray,
        sample_weight: np.ndarray,
        columns: Callable[[np.ndarray], np.ndarray] | None = None,
    ) -> np.ndarray:
        """The full Hessian of the weighted loss sum, shape ``(n_params, n_params)``.

        Block diagonal over labels: ``H_l = Xh.T diag(s D_l) Xh`` with
        ``Xh = [X, 1]`` (or ``X``), placed in the flat layout of
        :mod:`softmax.objective._datafit`; float64 (``columns``: see
        :meth:`softmax.objective.Multinomial.hessian`).
        """
        n_features, L = X.shape[1], self.n_labels
        d1 = n_features + int(self.fit_intercept)
        D = np.asarray(curvature, dtype=np.float64)
        s = np.asarray(sample_weight, dtype=np.float64)
        H = np.zeros((L * (n_features + int(self.fit_intercept)),) * 2)
        n_coef = L * n_features
        for label in range(L):
            B = _gram(X, s * D[:, label], self.fit_intercept, columns)
            idx = np.arange(label * n_features, (label + 1) * n_features)
            if self.fit_intercept:
                idx = np.append(idx, n_coef + label)
            H[np.ix_(idx, idx)] = B[:d1, :d1]
        return H
