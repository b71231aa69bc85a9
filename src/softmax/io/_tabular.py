"""TabularEncoder: a pandas DataFrame of mixed columns to a float64 design matrix.

Numeric columns pass through; the others are one-hot encoded over the
categories seen at fit time.  The fitted state is a small JSON-safe dict
(:meth:`TabularEncoder.to_dict`), which is what model files store: no pickle.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from numbers import Real
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_is_fitted

__all__ = ["TabularEncoder"]

_UNKNOWN = ("error", "ignore")
_KINDS = ("numeric", "categorical")


@dataclass(frozen=True)
class _Column:
    """The fitted encoding of one input column."""

    name: str
    kind: str  # "numeric" or "categorical"
    categories: tuple[str, ...] = ()
    fill: float | str | None = None

    def output_names(self) -> list[str]:
        if self.kind == "numeric":
            return [self.name]
        return [f"{self.name}={c}" for c in self.categories]


def _require_dataframe(X: Any, method: str) -> Any:
    import pandas as pd

    if not isinstance(X, pd.DataFrame):
        raise TypeError(
            f"TabularEncoder.{method} expects a pandas DataFrame of feature columns, "
            f"got X of type {type(X).__name__}"
        )
    names = [str(c) for c in X.columns]
    if len(set(names)) != len(names):
        dup = sorted({n for n in names if names.count(n) > 1})
        raise ValueError(f"X has duplicate column names {dup}; column names must be unique")
    return X


def _is_numeric(series: Any) -> bool:
    from pandas.api import types

    return bool(
        types.is_bool_dtype(series.dtype)
        or (types.is_numeric_dtype(series.dtype) and not types.is_complex_dtype(series.dtype))
    )


def _numeric_values(series: Any, name: str) -> np.ndarray:
    """``series`` as float64 with NaN for missing; junk raises ValueError."""
    import pandas as pd

    if _is_numeric(series):
        values = series.to_numpy(dtype=np.float64, na_value=np.nan)
    else:
        # A numeric column read as text (e.g. a CSV with a stray "n/a"): coerce and
        # report the first entry that is neither a number nor missing.
        as_object = series.astype(object)
        missing = as_object.isna().to_numpy()
        values = pd.to_numeric(as_object, errors="coerce").to_numpy(
            dtype=np.float64, na_value=np.nan
        )
        junk = np.isnan(values) & ~missing
        if junk.any():
            examples = sorted({str(v) for v in as_object.to_numpy()[junk]})[:3]
            raise ValueError(
                f"column {name!r} is numeric but has {int(junk.sum())} non-numeric value(s), "
                f"e.g. {examples}; fix or drop them"
            )
    inf = np.isinf(values)
    if inf.any():
        raise ValueError(
            f"column {name!r} has {int(inf.sum())} infinite value(s); features must be finite"
        )
    return values


def _string_values(series: Any) -> tuple[np.ndarray, np.ndarray]:
    """``(strings, missing)``: each entry cast with ``str()``, and the missing mask."""
    as_object = series.astype(object)
    missing = as_object.isna().to_numpy()
    strings = np.array([str(v) for v in as_object.to_numpy()], dtype=object)
    return strings, missing


def _other_number_text(value: Any) -> str | None:
    """The other text of a whole number, ``"1"`` for ``1.0`` and ``"1.0"`` for ``1``
    (None for anything else)."""
    if isinstance(value, bool | np.bool_) or not isinstance(value, Real):
        return None
    number = float(value)
    if not (math.isfinite(number) and number.is_integer()):
        return None
    text = str(value)
    return str(int(number)) if ("." in text or "e" in text.lower()) else str(number)


def _most_frequent(strings: np.ndarray) -> str:
    """The most frequent string; ties go to the smallest (as SimpleImputer does)."""
    values, counts = np.unique(strings.astype(str), return_counts=True)
    return str(values[np.argmax(counts)])  # np.unique sorts, argmax takes the first max


class TabularEncoder(TransformerMixin, BaseEstimator):
    """One-hot encode the categorical columns of a DataFrame, pass numeric ones through.

    Numeric columns (integer, float, boolean dtypes) become one float64 feature
    each.  Every other column (object, string, category dtypes) is categorical:
    one 0/1 feature per category seen at fit time, the categories being the
    sorted ``str()`` of its values (a whole number finds its category in either
    form, ``1`` or ``1.0``: pandas turns integers into floats in a batch with a
    missing value).  Output columns follow the input columns'
    order; :meth:`get_feature_names_out` names them ``col`` and ``col=category``.

    Parameters
    ----------
    impute : bool, default=False
        Fill missing values (NaN, None, pd.NA) with the column's median
        (numeric) or most frequent category (categorical; ties go to the
        smallest), learnt at fit time.  When False, a missing value at fit or
        transform raises ValueError naming the columns and counts.
    unknown : {"error", "ignore"}, default="error"
        A category not seen at fit time raises ValueError ("error") or encodes
        as an all-zero one-hot row ("ignore").

    Attributes
    ----------
    columns_ : tuple of _Column
        The fitted encoding per input column (see :meth:`to_dict`).
    feature_names_in_ : ndarray of str, shape (n_features_in_,)
    n_features_in_ : int

    Notes
    -----
    At transform time columns are looked up by name: a missing column raises
    ValueError, extra columns are ignored, and the column order does not matter.
    A non-numeric value in a numeric column and an infinite value raise
    ValueError naming the column.
    """

    def __init__(self, *, impute: bool = False, unknown: str = "error") -> None:
        self.impute = impute
        self.unknown = unknown

    def _check_params(self) -> None:
        if not isinstance(self.impute, bool | np.bool_):
            raise ValueError(f"impute must be True or False, got impute={self.impute!r}")
        if self.unknown not in _UNKNOWN:
            raise ValueError(f"unknown must be 'error' or 'ignore', got unknown={self.unknown!r}")

    def fit(self, X: Any, y: Any = None) -> TabularEncoder:
        """Learn the column kinds, categories and (with ``impute``) fill values.

        Parameters
        ----------
        X : pandas.DataFrame of shape (n_samples, n_columns)
        y : ignored

        Returns
        -------
        self
        """
        self._check_params()
        X = _require_dataframe(X, "fit")
        if X.shape[0] == 0:
            raise ValueError("X has 0 rows; TabularEncoder needs at least one row to fit")
        columns: list[_Column] = []
        missing_counts: dict[str, int] = {}
        for key in X.columns:
            name, series = str(key), X[key]
            if _is_numeric(series):
                values = _numeric_values(series, name)
                n_missing = int(np.isnan(values).sum())
                fill = None
                if self.impute:
                    if n_missing == values.shape[0]:
                        raise ValueError(f"column {name!r} has only missing values; cannot impute")
                    fill = float(np.median(values[~np.isnan(values)]))
                columns.append(_Column(name, "numeric", (), fill))
            else:
                strings, missing = _string_values(series)
                n_missing = int(missing.sum())
                present = strings[~missing]
                if present.shape[0] == 0:
                    raise ValueError(
                        f"column {name!r} has only missing values; it has no categories to encode"
                    )
                categories = tuple(sorted({str(s) for s in present}))
                mode = _most_frequent(present) if self.impute else None
                columns.append(_Column(name, "categorical", categories, mode))
            if n_missing:
                missing_counts[name] = n_missing
        if missing_counts and not self.impute:
            raise ValueError(_missing_message(missing_counts))
        self._set_columns(columns)
        return self

    def _set_columns(self, columns: list[_Column]) -> None:
        self.columns_ = tuple(columns)
        self.feature_names_in_ = np.array([c.name for c in columns], dtype=object)
        self.n_features_in_ = len(columns)

    def transform(self, X: Any) -> np.ndarray:
        """Encode ``X``: float64 array of shape (n_samples, n_features_out).

        Parameters
        ----------
        X : pandas.DataFrame
            Must contain every fitted column (by name); extra columns are ignored.

        Returns
        -------
        ndarray of shape (n_samples, len(get_feature_names_out()))
        """
        check_is_fitted(self, "columns_")
        X = _require_dataframe(X, "transform")
        by_name = {str(c): c for c in X.columns}
        absent = [c.name for c in self.columns_ if c.name not in by_name]
        if absent:
            raise ValueError(
                f"X is missing column(s) {absent} that the encoder was fitted on "
                f"(expected columns: {[c.name for c in self.columns_]})"
            )
        blocks: list[np.ndarray] = []
        missing_counts: dict[str, int] = {}
        for col in self.columns_:
            series = X[by_name[col.name]]
            if col.kind == "numeric":
                values = _numeric_values(series, col.name)
                nan = np.isnan(values)
                if nan.any():
                    if col.fill is None:
                        missing_counts[col.name] = int(nan.sum())
                    else:
                        values = np.where(nan, col.fill, values)
                blocks.append(values[:, None])
            else:
                blocks.append(self._one_hot(col, series, missing_counts))
        if missing_counts:
            raise ValueError(_missing_message(missing_counts))
        if not blocks:
            return np.zeros((X.shape[0], 0))
        return np.ascontiguousarray(np.hstack(blocks), dtype=np.float64)

    def _one_hot(self, col: _Column, series: Any, missing_counts: dict[str, int]) -> np.ndarray:
        import pandas as pd

        strings, missing = _string_values(series)
        if missing.any():
            if col.fill is None:
                missing_counts[col.name] = int(missing.sum())
            else:
                strings = np.where(missing, col.fill, strings)
        index = pd.Index(col.categories, dtype=object)
        codes = index.get_indexer(strings)
        retry = np.flatnonzero((codes < 0) & ~missing)
        if retry.size:
            # Whole numbers in the other form: categories learnt from integers
            # ("1") meet floats ("1.0") once pandas has promoted a column that
            # holds a missing value, and the other way round.
            raw = series.astype(object).to_numpy()
            other = [_other_number_text(raw[i]) for i in retry]
            found = index.get_indexer([t if t is not None else "" for t in other])
            hit = (found >= 0) & np.array([t is not None for t in other])
            codes[retry[hit]] = found[hit]
        unseen = (codes < 0) & ~(missing & (col.fill is None))
        if unseen.any() and self.unknown == "error":
            values = sorted(set(strings[unseen].tolist()))
            shown = values[:5] + (["..."] if len(values) > 5 else [])
            raise ValueError(
                f"column {col.name!r} has {len(values)} "
                f"categor{'y' if len(values) == 1 else 'ies'} not seen at fit time: {shown}; "
                f"known: {list(col.categories)[:10]}"
                f"{' ...' if len(col.categories) > 10 else ''} (use unknown='ignore' to encode "
                "them as all zeros)"
            )
        out = np.zeros((strings.shape[0], len(col.categories)))
        rows = np.flatnonzero(codes >= 0)
        out[rows, codes[rows]] = 1.0
        return out

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:
        """Output feature names: ``col`` for numeric columns, ``col=category`` for one-hot ones."""
        check_is_fitted(self, "columns_")
        if input_features is not None and [str(f) for f in input_features] != [
            c.name for c in self.columns_
        ]:
            raise ValueError(
                f"input_features {list(input_features)} do not match the fitted columns "
                f"{[c.name for c in self.columns_]}"
            )
        return np.array([n for c in self.columns_ for n in c.output_names()], dtype=object)

    # ------------------------------------------------------------------ #
    # serialisation
    # ------------------------------------------------------------------ #
    def to_dict(self) -> dict[str, Any]:
        """The fitted state as a JSON-safe dict (the inverse of :meth:`from_dict`)."""
        check_is_fitted(self, "columns_")
        columns: list[dict[str, Any]] = []
        for c in self.columns_:
            entry: dict[str, Any] = {"name": c.name, "kind": c.kind}
            if c.kind == "categorical":
                entry["categories"] = list(c.categories)
            entry["fill"] = c.fill
            columns.append(entry)
        return {"columns": columns, "unknown": self.unknown}

    @classmethod
    def from_dict(cls, d: Any) -> TabularEncoder:
        """A fitted encoder from :meth:`to_dict`'s output; ValueError if ``d`` is invalid."""
        if not isinstance(d, dict):
            raise ValueError(f"encoder dict must be a dict, got {type(d).__name__}")
        extra = set(d) - {"columns", "unknown"}
        if extra:
            raise ValueError(f"encoder dict has unknown key(s) {sorted(extra)}")
        unknown = d.get("unknown")
        if unknown not in _UNKNOWN:
            raise ValueError(
                f"encoder dict: 'unknown' must be 'error' or 'ignore', got {unknown!r}"
            )
        raw = d.get("columns")
        if not isinstance(raw, list):
            raise ValueError(f"encoder dict: 'columns' must be a list, got {type(raw).__name__}")
        columns = [_column_from_dict(i, entry) for i, entry in enumerate(raw)]
        names = [c.name for c in columns]
        if len(set(names)) != len(names):
            raise ValueError(f"encoder dict: duplicate column names in {names}")
        fills = {c.fill is None for c in columns}
        if len(fills) > 1:
            raise ValueError(
                "encoder dict: either every column has a fill value (impute=True) or none has"
            )
        impute = bool(columns) and fills == {False}
        enc = cls(impute=impute, unknown=unknown)
        enc._set_columns(columns)
        return enc


def _column_from_dict(i: int, entry: Any) -> _Column:
    where = f"encoder dict: columns[{i}]"
    if not isinstance(entry, dict):
        raise ValueError(f"{where} must be a dict, got {type(entry).__name__}")
    name, kind, fill = entry.get("name"), entry.get("kind"), entry.get("fill")
    if not isinstance(name, str) or not name:
        raise ValueError(f"{where}: 'name' must be a non-empty string, got {name!r}")
    if kind not in _KINDS:
        raise ValueError(f"{where} ({name!r}): 'kind' must be one of {_KINDS}, got {kind!r}")
    allowed = {"name", "kind", "fill"} | ({"categories"} if kind == "categorical" else set())
    if set(entry) - allowed or "fill" not in entry:
        raise ValueError(f"{where} ({name!r}): keys must be {sorted(allowed)}, got {sorted(entry)}")
    if kind == "numeric":
        if fill is not None and (
            isinstance(fill, bool) or not isinstance(fill, Real) or not math.isfinite(fill)
        ):
            raise ValueError(f"{where} ({name!r}): numeric 'fill' must be a finite number or null")
        return _Column(name, kind, (), None if fill is None else float(fill))
    cats = entry.get("categories")
    if not isinstance(cats, list) or not cats or not all(isinstance(c, str) for c in cats):
        raise ValueError(f"{where} ({name!r}): 'categories' must be a non-empty list of strings")
    if cats != sorted(set(cats)):
        raise ValueError(f"{where} ({name!r}): 'categories' must be sorted and unique")
    if fill is not None and fill not in cats:
        raise ValueError(
            f"{where} ({name!r}): categorical 'fill' must be one of the categories, got {fill!r}"
        )
    return _Column(name, kind, tuple(cats), fill)


def _missing_message(counts: dict[str, int]) -> str:
    listed = ", ".join(f"{name!r}: {n}" for name, n in counts.items())
    return (
        f"X has missing values in {len(counts)} column(s) ({listed}); drop those rows or "
        "use TabularEncoder(impute=True)"
    )
