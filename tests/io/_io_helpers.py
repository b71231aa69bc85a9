"""Shared builders for the io tests: small fitted models and a model-file rewriter."""

from __future__ import annotations

import json
import struct
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
from sklearn.pipeline import Pipeline

from softmax import (
    MultiLabelLogisticRegression,
    SoftmaxRegression,
    SoftmaxRegressionCV,
    TemperatureScaling,
)
from softmax.io import TabularEncoder


def mixed_data(rng: np.random.Generator, n: int = 80, missing: bool = True):
    """A DataFrame with numeric, boolean and string columns (some missing) and a string target."""
    x1 = rng.normal(size=n)
    x2 = rng.integers(-3, 4, size=n)
    color = rng.choice(["red", "green", "blue"], size=n)
    logits = np.stack([x1, 0.5 * x2, (color == "red") * 1.5], axis=1)
    logits += rng.gumbel(size=logits.shape)
    y = np.array(["ant", "bee", "cat"])[np.argmax(logits, axis=1)]
    df = pd.DataFrame(
        {"x1": x1, "x2": x2, "color": color.astype(object), "wet": rng.random(n) < 0.5}
    )
    if missing:
        df.loc[rng.random(n) < 0.1, "x1"] = np.nan
        df.loc[rng.random(n) < 0.1, "color"] = None
    return df, y


def fitted_pipeline(rng: np.random.Generator, n: int = 80) -> tuple[Pipeline, pd.DataFrame, Any]:
    df, y = mixed_data(rng, n)
    pipe = Pipeline(
        [("encoder", TabularEncoder(impute=True)), ("model", SoftmaxRegression(C=2.0))]
    ).fit(df, y)
    return pipe, df, y


def fitted_model(rng: np.random.Generator, n_classes: int = 3, **params) -> tuple[Any, Any]:
    X = rng.normal(size=(40, 4))
    y = np.arange(40) % n_classes
    X[:, 0] += y
    return SoftmaxRegression(**params).fit(X, y), X


def split(blob: bytes) -> tuple[dict[str, Any], dict[str, Any], bytes]:
    """``(header without metadata, model document, data)`` of a model file's bytes."""
    (n,) = struct.unpack("<Q", blob[:8])
    header = json.loads(blob[8 : 8 + n])
    doc = json.loads(header.pop("__metadata__")["softmax"])
    return header, doc, blob[8 + n :]


def join(header: dict[str, Any], doc: Any, data: bytes, *, raw_doc: str | None = None) -> bytes:
    """Reassemble a model file from its parts (no validation: for hostile inputs)."""
    text = raw_doc if raw_doc is not None else json.dumps(doc)
    full = {"__metadata__": {"softmax": text}, **header}
    h = json.dumps(full).encode()
    return struct.pack("<Q", len(h)) + h + data


def rewrite(blob: bytes, edit: Callable[[dict[str, Any], dict[str, Any]], Any]) -> bytes:
    """Apply ``edit(header, doc)`` in place and reassemble."""
    header, doc, data = split(blob)
    edit(header, doc)
    return join(header, doc, data)


def fitted_kinds(rng: np.random.Generator) -> dict[str, tuple[Any, Any]]:
    """One small fitted model of each kind beyond SoftmaxRegression: ``name -> (model, X)``
    (``X`` is what the model predicts from: features, or logits)."""
    X = rng.normal(size=(60, 3))
    y = np.array(["a", "b", "c"])[np.arange(60) % 3]
    X[:, 0] += np.arange(60) % 3
    cv = SoftmaxRegressionCV(Cs=[0.1, 1.0, 10.0], cv=3, penalty="elasticnet", l1_ratios=[0.5, 1.0])
    cv.fit(X, y)
    Y = (X + rng.normal(size=X.shape) > 0.5).astype(int)
    multilabel = MultiLabelLogisticRegression(threshold=[0.3, 0.5, 0.6], pos_weight=2.0).fit(X, Y)
    z = rng.normal(size=(80, 3)) * 3
    names = np.array(["z", "x", "y"])  # classes in column order, not sorted
    labels = names[np.argmax(z / 2 + rng.gumbel(size=z.shape), axis=1)]
    logits = TemperatureScaling(classes=list(names)).fit(z, labels)
    wrapper = TemperatureScaling(SoftmaxRegression(C=0.5).fit(X, y)).fit(X, y)
    return {
        "cv": (cv, X),
        "multilabel": (multilabel, X),
        "logits": (logits, z),
        "wrapper": (wrapper, X),
    }
