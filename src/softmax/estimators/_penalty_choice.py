"""Which penalty an estimator's ``penalty``, ``C`` and ``l1_ratio`` ask for.

``penalty`` names the family and ``l1_ratio`` the mix, with scikit-learn's
meaning (``C * loss_sum + (1 - r)/2 ||W||^2 + r * P(W)``):

* ``"l2"``: ridge when ``l1_ratio`` is None or 0; with ``l1_ratio`` in (0, 1]
  the elastic net (as in scikit-learn >= 1.8, where ``l1_ratio`` alone picks
  the penalty);
* ``"l1"``: the lasso, ``P = ||W||_1`` (``l1_ratio`` None or 1);
* ``"elasticnet"``: ``P = ||W||_1`` mixed with ridge (``l1_ratio`` required);
* ``"group_l1"``: the grouped lasso ``P = sum_j ||W[:, j]||_2`` (``l1_ratio``
  None or 1);
* ``"group_elasticnet"``: the grouped lasso mixed with ridge (``l1_ratio``
  required);
* ``None`` (or ``C = inf``): no penalty; ``l1_ratio`` is ignored.

The group penalties select features across classes (glmnet's grouped
multinomial lasso).  With two classes the model has one coefficient row, so
each group is one coefficient and the group penalties equal their element-wise
counterparts (``group_l1`` is then the lasso).
"""

from __future__ import annotations

from dataclasses import dataclass
from numbers import Real
from typing import Any

from softmax.estimators._validation import check_C
from softmax.objective import L2, ElasticNet, GroupElasticNet, NoPenalty

__all__ = ["PENALTIES", "PenaltyChoice", "choose_penalty"]

#: The accepted values of ``penalty`` (besides None).
PENALTIES = ("l2", "l1", "elasticnet", "group_l1", "group_elasticnet")


@dataclass(frozen=True)
class PenaltyChoice:
    """A resolved penalty: ``kind`` is ``"none"``, ``"l1"`` (element-wise) or
    ``"group"``, mixed with ridge by ``l1_ratio`` (0: pure ridge)."""

    kind: str
    l1_ratio: float

    @property
    def unpenalised(self) -> bool:
        return self.kind == "none"

    @property
    def smooth(self) -> bool:
        return self.kind == "none" or self.l1_ratio == 0.0

    def terms(self, alpha: float) -> tuple[Any, Any]:
        """``(smooth part, non-smooth part or None)`` for ``alpha = 1 / (C * S)``."""
        if self.kind == "none":
            return NoPenalty(), None
        if self.l1_ratio == 0.0:
            return L2(alpha), None
        mix = GroupElasticNet if self.kind == "group" else ElasticNet
        return mix(alpha, self.l1_ratio).split()


def check_l1_ratio(l1_ratio: Any, name: str = "l1_ratio") -> float | None:
    """``l1_ratio`` as a float in [0, 1] (or None); ValueError naming it otherwise."""
    if l1_ratio is None:
        return None
    if isinstance(l1_ratio, bool) or not isinstance(l1_ratio, Real):
        raise ValueError(f"{name} must be in [0, 1], got {name}={l1_ratio!r}")
    if not 0 <= float(l1_ratio) <= 1:  # also rejects NaN
        raise ValueError(f"{name} must be in [0, 1], got {name}={l1_ratio!r}")
    return float(l1_ratio)


def choose_penalty(penalty: Any, C: Any, l1_ratio: Any) -> PenaltyChoice:
    """Resolve ``penalty``, ``C`` and ``l1_ratio`` (see the module docstring)."""
    C = check_C(C)
    r = check_l1_ratio(l1_ratio)
    if penalty is not None and penalty not in PENALTIES:
        raise ValueError(f"penalty={penalty!r} is not one of {[*PENALTIES, None]}")
    if penalty is None or C == float("inf"):
        return PenaltyChoice("none", 0.0)
    if penalty == "l2":
        return PenaltyChoice("l1", r or 0.0)
    if penalty in ("l1", "group_l1"):
        if r is not None and r != 1.0:
            raise ValueError(
                f"penalty={penalty!r} is the pure (l1_ratio=1) penalty, got l1_ratio={l1_ratio!r};"
                f" use penalty={penalty.replace('l1', 'elasticnet')!r} to mix it with ridge"
            )
        return PenaltyChoice("group" if penalty == "group_l1" else "l1", 1.0)
    if r is None:
        raise ValueError(f"penalty={penalty!r} needs l1_ratio in [0, 1], got l1_ratio=None")
    return PenaltyChoice("group" if penalty == "group_elasticnet" else "l1", r)
