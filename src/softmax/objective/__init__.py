"""Objectives: data-fit terms, penalties, and their penalised composite.

The coefficient layout is documented once, in :mod:`softmax.objective._datafit`.
"""

from softmax.objective._composite import ProxTerm
from softmax.objective._datafit import Binomial, Multinomial, unpack
from softmax.objective._multilabel import MultiLabel
from softmax.objective._objective import Objective
from softmax.objective._penalties import (
    L1,
    L2,
    ElasticNet,
    GroupElasticNet,
    GroupL1,
    NoPenalty,
)
from softmax.objective._standardize import Standardization, initial_curvature

__all__ = [
    "L1",
    "L2",
    "Binomial",
    "ElasticNet",
    "GroupElasticNet",
    "GroupL1",
    "MultiLabel",
    "Multinomial",
    "NoPenalty",
    "Objective",
    "ProxTerm",
    "Standardization",
    "initial_curvature",
    "unpack",
]
