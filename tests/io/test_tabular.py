"""TabularEncoder against scikit-learn's OneHotEncoder + SimpleImputer, round trips, bad input."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder

from softmax.io import TabularEncoder


def mixed_frame(rng: np.random.Generator, n: int = 60, missing: bool = False) -> pd.DataFrame:
    df = pd.DataFrame(
        {
            "x1": rng.normal(size=n),
            "color": rng.choice(["red", "green", "blue"], size=n),
            "n": rng.integers(0, 5, size=n),
            "size": pd.Categorical(rng.choice(["S", "M", "L", "XL"], size=n)),
            "flag": rng.random(n) < 0.3,
        }
    )
    if missing:
        df.loc[rng.random(n) < 0.15, "x1"] = np.nan
        df["color"] = df["color"].astype(object)
        df.loc[rng.random(n) < 0.15, "color"] = None
        df.loc[rng.random(n) < 0.1, "size"] = np.nan
    return df


def sklearn_reference(df: pd.DataFrame, impute: bool, unknown: str = "error") -> ColumnTransformer:
    """The same encoding from scikit-learn parts, columns in input order."""
    numeric = ["x1", "n", "flag"]

    def num(col):
        return make_pipeline(SimpleImputer(strategy="median")) if impute else "passthrough"

    def cat(col):
        cats = [sorted(df[col].dropna().astype(str).unique())]
        ohe = OneHotEncoder(
            categories=cats,
            handle_unknown="ignore" if unknown == "ignore" else "error",
            sparse_output=False,
        )
        steps = [SimpleImputer(strategy="most_frequent")] if impute else []
        return make_pipeline(*steps, ohe)

    transformers = [
        (c, num(c) if c in numeric else cat(c), [c])
        for c in df.columns  # input order, which TabularEncoder keeps
    ]
    return ColumnTransformer(transformers)


def as_str_frame(df: pd.DataFrame) -> pd.DataFrame:
    out = df.copy()
    for c in ("color", "size"):
        out[c] = out[c].astype(object).where(out[c].notna(), np.nan)
        out[c] = out[c].map(lambda v: v if not isinstance(v, str) else str(v))
    out["flag"] = out["flag"].astype(float)
    return out


@pytest.mark.parametrize("impute", [False, True])
def test_matches_sklearn_one_hot_and_imputer(rng, impute):
    df = mixed_frame(rng, missing=impute)
    enc = TabularEncoder(impute=impute).fit(df)
    ref = sklearn_reference(df, impute).fit(as_str_frame(df))
    np.testing.assert_array_equal(enc.transform(df), ref.transform(as_str_frame(df)))
    new = mixed_frame(rng, n=25, missing=impute)
    np.testing.assert_array_equal(enc.transform(new), ref.transform(as_str_frame(new)))


def test_feature_names_and_dtype(rng):
    df = mixed_frame(rng)
    enc = TabularEncoder().fit(df)
    names = list(enc.get_feature_names_out())
    assert names == [
        "x1",
        "color=blue",
        "color=green",
        "color=red",
        "n",
        "size=L",
        "size=M",
        "size=S",
        "size=XL",
        "flag",
    ]
    out = enc.transform(df)
    assert out.dtype == np.float64 and out.shape == (df.shape[0], len(names))
    assert list(enc.feature_names_in_) == list(df.columns) and enc.n_features_in_ == 5


def test_fill_values_are_median_and_most_frequent_smallest_on_ties():
    df = pd.DataFrame({"a": [1.0, 10.0, np.nan, 3.0], "b": ["q", "p", "q", "p"]})
    enc = TabularEncoder(impute=True).fit(df)
    d = enc.to_dict()
    assert d["columns"][0]["fill"] == 3.0  # median of 1, 3, 10
    assert d["columns"][1]["fill"] == "p"  # tie p/q -> smallest, as SimpleImputer
    out = enc.transform(pd.DataFrame({"a": [np.nan], "b": [None]}))
    np.testing.assert_array_equal(out, [[3.0, 1.0, 0.0]])


def test_column_order_and_extra_columns_do_not_matter(rng):
    df = mixed_frame(rng)
    enc = TabularEncoder().fit(df)
    shuffled = df[list(reversed(df.columns))].assign(extra=1.0)
    np.testing.assert_array_equal(enc.transform(shuffled), enc.transform(df))


def test_numbers_as_text_are_parsed_in_numeric_columns():
    enc = TabularEncoder().fit(pd.DataFrame({"a": [1.5, 2.0]}))
    out = enc.transform(pd.DataFrame({"a": ["3.25", "-1"]}))
    np.testing.assert_array_equal(out, [[3.25], [-1.0]])


@pytest.mark.parametrize("impute", [False, True])
def test_to_dict_from_dict_round_trip_through_json(rng, impute):
    df = mixed_frame(rng, missing=impute)
    enc = TabularEncoder(impute=impute, unknown="ignore").fit(df)
    d = json.loads(json.dumps(enc.to_dict(), allow_nan=False))
    back = TabularEncoder.from_dict(d)
    assert back.impute is impute and back.unknown == "ignore"
    assert back.to_dict() == enc.to_dict()
    new = mixed_frame(rng, n=30, missing=impute)
    np.testing.assert_array_equal(back.transform(new), enc.transform(new))
    np.testing.assert_array_equal(back.get_feature_names_out(), enc.get_feature_names_out())


def test_unknown_category_error_and_ignore():
    df = pd.DataFrame({"c": ["a", "b", "a"]})
    with pytest.raises(ValueError, match=r"column 'c' has 1 category not seen.*\['z'\]"):
        TabularEncoder().fit(df).transform(pd.DataFrame({"c": ["a", "z"]}))
    out = TabularEncoder(unknown="ignore").fit(df).transform(pd.DataFrame({"c": ["a", "z"]}))
    np.testing.assert_array_equal(out, [[1.0, 0.0], [0.0, 0.0]])


def test_whole_number_categories_match_in_either_form():
    # Categories learnt from integers; a batch with a missing value reads as
    # floats (1.0): they had all become unseen, encoded as zeros.
    train = pd.DataFrame({"store": pd.Categorical([1, 2, 3, 1]), "x": [0.0, 1.0, 2.0, 3.0]})
    enc = TabularEncoder(impute=True, unknown="ignore").fit(train)
    as_ints = enc.transform(pd.DataFrame({"store": [1, 3], "x": [0.0, 0.0]}))
    as_floats = enc.transform(pd.DataFrame({"store": [1.0, 3.0, None], "x": [0.0] * 3}))
    np.testing.assert_array_equal(as_floats[:2], as_ints)
    # and categories learnt from floats meet integers
    enc = TabularEncoder().fit(pd.DataFrame({"c": pd.Categorical([1.0, 2.5])}))
    np.testing.assert_array_equal(enc.transform(pd.DataFrame({"c": [1]})), [[1.0, 0.0]])
    # Other values stay unseen: 1.5 is not 1, True is not 1.
    with pytest.raises(ValueError, match="not seen at fit time"):
        TabularEncoder().fit(train).transform(pd.DataFrame({"store": [1.5], "x": [0.0]}))


def test_missing_values_without_impute_name_columns_and_counts():
    df = pd.DataFrame({"a": [1.0, np.nan, np.nan], "b": ["x", None, "y"], "c": [1, 2, 3]})
    with pytest.raises(ValueError, match=r"'a': 2, 'b': 1.*impute=True"):
        TabularEncoder().fit(df)
    enc = TabularEncoder().fit(df.dropna())
    with pytest.raises(ValueError, match=r"missing values in 1 column\(s\) \('a': 2\)"):
        enc.transform(df[["a", "c"]].assign(b="x"))


def test_missing_column_is_named():
    enc = TabularEncoder().fit(pd.DataFrame({"a": [1.0], "b": ["x"]}))
    with pytest.raises(ValueError, match=r"missing column\(s\) \['b'\]"):
        enc.transform(pd.DataFrame({"a": [2.0]}))


def test_non_numeric_junk_in_numeric_column():
    enc = TabularEncoder().fit(pd.DataFrame({"a": [1.0, 2.0]}))
    with pytest.raises(ValueError, match=r"column 'a' is numeric but has 1 non-numeric.*'oops'"):
        enc.transform(pd.DataFrame({"a": ["1.0", "oops"]}))


def test_infinite_values_are_rejected():
    with pytest.raises(ValueError, match=r"column 'a' has 1 infinite"):
        TabularEncoder().fit(pd.DataFrame({"a": [1.0, np.inf]}))


def test_bad_arguments():
    with pytest.raises(TypeError, match="pandas DataFrame"):
        TabularEncoder().fit(np.zeros((3, 2)))
    with pytest.raises(ValueError, match="unknown='maybe'"):
        TabularEncoder(unknown="maybe").fit(pd.DataFrame({"a": [1.0]}))
    with pytest.raises(ValueError, match="impute="):
        TabularEncoder(impute="yes").fit(pd.DataFrame({"a": [1.0]}))
    with pytest.raises(ValueError, match="only missing values"):
        TabularEncoder(impute=True).fit(pd.DataFrame({"a": [np.nan, np.nan]}))
    with pytest.raises(ValueError, match="0 rows"):
        TabularEncoder().fit(pd.DataFrame({"a": []}))


GOOD = {
    "columns": [
        {"name": "a", "kind": "numeric", "fill": 1.5},
        {"name": "b", "kind": "categorical", "categories": ["x", "y"], "fill": "y"},
    ],
    "unknown": "error",
}


@pytest.mark.parametrize(
    ("mutate", "match"),
    [
        (lambda d: d.update(unknown="x"), "'unknown'"),
        (lambda d: d.update(extra=1), "unknown key"),
        (lambda d: d.update(columns={}), "'columns' must be a list"),
        (lambda d: d["columns"].append(d["columns"][0]), "duplicate column"),
        (lambda d: d["columns"][0].update(name=""), "'name'"),
        (lambda d: d["columns"][0].update(name=3), "'name'"),
        (lambda d: d["columns"][0].update(kind="text"), "'kind'"),
        (lambda d: d["columns"][0].update(fill="1.5"), "numeric 'fill'"),
        (lambda d: d["columns"][0].update(fill=float("nan")), "numeric 'fill'"),
        (lambda d: d["columns"][0].update(fill=None), "every column has a fill"),
        (lambda d: d["columns"][1].update(categories=["y", "x"]), "sorted and unique"),
        (lambda d: d["columns"][1].update(categories=[]), "non-empty list"),
        (lambda d: d["columns"][1].update(categories=[1, 2]), "non-empty list"),
        (lambda d: d["columns"][1].update(fill="z"), "one of the categories"),
        (lambda d: d["columns"][1].pop("fill"), "keys must be"),
        (lambda d: d["columns"].__setitem__(0, [1]), "must be a dict"),
    ],
)
def test_from_dict_rejects_invalid(mutate, match):
    d = json.loads(json.dumps(GOOD))
    TabularEncoder.from_dict(d)  # the unmutated dict is valid
    mutate(d)
    with pytest.raises(ValueError, match=match):
        TabularEncoder.from_dict(d)


def test_from_dict_rejects_non_dict():
    with pytest.raises(ValueError, match="must be a dict"):
        TabularEncoder.from_dict([1, 2])
