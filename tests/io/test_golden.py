"""The golden model files under tests/io/data: every later version must still load them
and predict identically.  Regenerate (only for a new format version, keeping the old
files) with ``PYTHONPATH=src python tests/io/data/make_golden.py``."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.pipeline import Pipeline

import softmax
from softmax.io import TabularEncoder, read_metadata

DATA = Path(__file__).parent / "data"
GOLDEN = sorted(DATA.glob("golden_v*.safetensors"))


def test_there_is_a_golden_file():
    assert (DATA / "golden_v1.safetensors").is_file()


@pytest.mark.parametrize("path", GOLDEN, ids=lambda p: p.name)
def test_golden_file_loads_and_predicts_identically(path):
    expected = json.loads(path.with_suffix(".json").read_text())
    model = softmax.load(path)
    assert isinstance(model, Pipeline) and isinstance(model[0], TabularEncoder)
    est = model[-1]
    # The parameters are stored as raw IEEE numbers: exact.
    np.testing.assert_array_equal(est.coef_, np.array(expected["coef"]), strict=True)
    np.testing.assert_array_equal(est.intercept_, np.array(expected["intercept"]), strict=True)
    assert est.classes_.tolist() == expected["classes"]

    df = pd.DataFrame(expected["input"])
    df["length"] = df["length"].astype(float)  # None -> NaN
    assert df["island"].isna().sum() == 3 and df["length"].isna().sum() == 2
    np.testing.assert_array_equal(model.predict(df), np.array(expected["predictions"]))
    # Probabilities go through BLAS and exp: allow for a different platform's last bits.
    np.testing.assert_allclose(
        model.predict_proba(df), np.array(expected["probabilities"]), rtol=1e-12, atol=1e-15
    )
    meta = read_metadata(path)
    assert meta["format_version"] == expected["format_version"]
    assert meta["metadata"] == {"purpose": "golden"}
