"""Regenerate the golden model file and its expected predictions.

Run from the repository root (only when the format version changes; keep the
old golden files so later versions prove they still read them):

    PYTHONPATH=src python tests/io/data/make_golden.py

Writes ``golden_v{FORMAT_VERSION}.safetensors`` (a Pipeline of a TabularEncoder
with imputation and a SoftmaxRegression with string classes) and
``golden_v{FORMAT_VERSION}.json`` (the input rows, the coefficients and the
expected predictions and probabilities, floats written with repr so they
round-trip exactly).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.pipeline import Pipeline

import softmax
from softmax.io import FORMAT_VERSION, TabularEncoder

HERE = Path(__file__).parent


def golden_frame() -> tuple[pd.DataFrame, np.ndarray]:
    """30 rows: two numeric columns, a boolean, a categorical with missing values."""
    rng = np.random.default_rng(20240607)
    n = 30
    length = np.round(rng.normal(40.0, 5.0, size=n), 1)
    depth = np.round(rng.normal(17.0, 2.0, size=n), 1)
    island = rng.choice(["Biscoe", "Dream", "Torgersen"], size=n).astype(object)
    male = rng.random(n) < 0.5
    score = np.stack([length - 40, depth - 17, (island == "Dream") * 2.0], axis=1)
    y = np.array(["Adelie", "Chinstrap", "Gentoo"])[np.argmax(score + rng.gumbel(size=(n, 3)), 1)]
    df = pd.DataFrame({"length": length, "depth": depth, "island": island, "male": male})
    df.loc[[3, 11], "length"] = np.nan
    df.loc[[5, 17, 23], "island"] = None
    return df, y


def main() -> None:
    df, y = golden_frame()
    pipe = Pipeline(
        [("encoder", TabularEncoder(impute=True)), ("model", softmax.SoftmaxRegression(C=0.5))]
    ).fit(df, y)
    stem = HERE / f"golden_v{FORMAT_VERSION}"
    softmax.save(
        pipe, stem.with_suffix(".safetensors"), metadata={"purpose": "golden"}, overwrite=True
    )
    model = pipe[-1]
    expected = {
        "format_version": FORMAT_VERSION,
        "library_version": softmax.__version__,
        "input": {
            col: [None if pd.isna(v) else (bool(v) if col == "male" else v) for v in df[col]]
            for col in df.columns
        },
        "classes": model.classes_.tolist(),
        "coef": model.coef_.tolist(),
        "intercept": model.intercept_.tolist(),
        "predictions": pipe.predict(df).tolist(),
        "probabilities": pipe.predict_proba(df).tolist(),
    }
    stem.with_suffix(".json").write_text(json.dumps(expected, indent=1) + "\n")
    print(f"wrote {stem}.safetensors and {stem}.json")


if __name__ == "__main__":
    main()
