"""The command line's building blocks: column checks, progress display, output writers.

Kept apart from :mod:`softmax.cli` (which only declares the commands) so they
can be tested and reused without Typer.  Every check raises :class:`UserError`
with a message that says what is wrong and what to do; the command line
prints it as one line.
"""

from __future__ import annotations

import glob
import math
import sys
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

__all__ = [
    "MISSING_POLICIES",
    "PredictionWriter",
    "Progress",
    "UserError",
    "align_labels",
    "check_junk",
    "check_missing_for_model",
    "expand_columns",
    "labels_from_series",
    "output_format",
    "read_tables",
    "resolve_data",
    "select_columns",
]

MISSING_POLICIES = ("error", "drop", "impute")


class UserError(ValueError):
    """Bad input from the user: printed as ``error: <message>``, exit code 1."""


def _names(cols: Iterable[Any], limit: int = 20) -> str:
    cols = [str(c) for c in cols]
    shown = ", ".join(cols[:limit])
    return shown + (f", ... ({len(cols)} in all)" if len(cols) > limit else "")


def expand_columns(values: Sequence[str] | None) -> list[str]:
    """``--features a,b --features c`` -> ``["a", "b", "c"]`` (order kept, duplicates dropped)."""
    out: list[str] = []
    for v in values or ():
        for name in str(v).split(","):
            name = name.strip()
            if name and name not in out:
                out.append(name)
    return out


def select_columns(
    columns: Sequence[str],
    *,
    target: str | None,
    features: Sequence[str],
    drop: Sequence[str],
    source: str,
) -> list[str]:
    """The feature columns: ``features`` (or every column but the target) minus ``drop``."""
    columns = [str(c) for c in columns]
    if target is None:
        raise UserError(
            f"--target is required: name the column of {source} to predict "
            f"(columns: {_names(columns)})"
        )
    if target not in columns:
        raise UserError(
            f"unknown target column {target!r} in {source}; its columns are: {_names(columns)}"
        )
    for option, names in (("--features", features), ("--drop", drop)):
        unknown = [n for n in names if n not in columns]
        if unknown:
            raise UserError(
                f"unknown column(s) {_names(unknown)} in {option}; the columns of {source} "
                f"are: {_names(columns)}"
            )
    if target in features:
        raise UserError(f"the target column {target!r} cannot also be in --features; remove it")
    chosen = list(features) if features else [c for c in columns if c != target]
    chosen = [c for c in chosen if c not in drop]
    if not chosen:
        raise UserError("no feature columns are left after --features/--drop; keep at least one")
    return chosen


def check_junk(df: Any, columns: Sequence[str]) -> None:
    """Reject a text column that is mostly numbers but has some non-numbers.

    Such a column (a typo, "n/a", "12,5") would otherwise be one-hot encoded
    as hundreds of categories without a word.  A column counts as meant to be
    numeric when at least 80% of its non-missing values parse as numbers (a
    column of codes such as "1", "2", "A", "B" stays categorical).
    """
    import pandas as pd
    from pandas.api import types

    for name in columns:
        series = df[name]
        if types.is_numeric_dtype(series.dtype) or types.is_bool_dtype(series.dtype):
            continue
        present = series.dropna()
        if present.empty:
            continue
        parsed = pd.to_numeric(present.astype(object), errors="coerce")
        n_num = int(parsed.notna().sum())
        if 0 < n_num < present.shape[0] and n_num >= 0.8 * present.shape[0]:
            bad = present[parsed.isna()]
            examples = ", ".join(repr(str(v)) for v in bad.unique()[:3])
            raise UserError(
                f"column {name!r} looks numeric but has {bad.shape[0]} non-numeric value(s), "
                f"e.g. {examples} (first at data row {int(bad.index[0]) + 1}); fix them, leave "
                f"them empty to mark them missing, or leave the column out with --drop {name}"
            )


def missing_counts(df: Any, columns: Sequence[str]) -> dict[str, int]:
    counts = df[list(columns)].isna().sum()
    return {str(k): int(v) for k, v in counts.items() if v}


def _counts_text(counts: dict[str, int]) -> str:
    return ", ".join(f"{k} ({v})" for k, v in counts.items())


def missing_error(counts: dict[str, int], source: str) -> UserError:
    return UserError(
        f"{source} has missing values in {len(counts)} column(s): {_counts_text(counts)}; pass "
        "--missing drop to skip those rows, or --missing impute to fill them (median / most "
        "frequent value)"
    )


def check_missing_for_model(df: Any, encoder: Any, source: str, *, hint: str = "") -> None:
    """Reject missing values the model cannot fill and (policy ``error``) unseen categories.

    Missing values are accepted only where the model learnt a fill value
    (``fit --missing impute``).  A category not seen in training is an error
    unless the model was fitted with ``--unknown ignore`` (all-zero one-hot).
    """
    no_fill = [c.name for c in encoder.columns_ if c.fill is None]
    counts = missing_counts(df, no_fill) if no_fill else {}
    if counts:
        raise UserError(
            f"{source} has missing values in {_counts_text(counts)}, which this model cannot "
            f"fill (it was trained without --missing impute); {hint}fill or remove those rows, "
            "or refit with --missing impute"
        )
    if encoder.unknown != "error":
        return
    for col in encoder.columns_:
        if col.kind != "categorical":
            continue
        present = df[col.name].dropna()
        texts = {str(v) for v in present.astype(object).unique()}
        unseen = sorted(texts - set(col.categories))
        if unseen:
            raise UserError(
                f"column {col.name!r} of {source} has {len(unseen)} categor"
                f"{'y' if len(unseen) == 1 else 'ies'} the model never saw: {_names(unseen, 5)} "
                f"(known: {_names(col.categories, 10)}); fix the values, or refit with "
                "--unknown ignore to encode unseen categories as all zeros"
            )


def check_model_columns(df: Any, encoder: Any, source: str) -> list[str]:
    """The model's input columns, all of which ``df`` must have; returns the ignored extras."""
    needed = [str(c) for c in encoder.feature_names_in_]
    have = {str(c) for c in df.columns}
    absent = [c for c in needed if c not in have]
    if absent:
        raise UserError(
            f"{source} lacks column(s) {_names(absent)} that the model needs (it was trained "
            f"on: {_names(needed)}); add them or use the model that matches this data"
        )
    return [str(c) for c in df.columns if str(c) not in set(needed)]


def labels_from_series(series: Any) -> np.ndarray:
    """Target labels as numpy: whole numbers as int64, booleans as bool, the rest as str.

    Text (a CSV target is read as text) whose every value is a number written
    the canonical way (``3``, ``-1``, ``2.5``) is taken as numbers; codes such
    as ``01`` keep the whole column as text (``01``, ``1`` and ``1.0`` are then
    three classes, as written)."""
    from pandas.api import types

    if types.is_object_dtype(series.dtype) or types.is_string_dtype(series.dtype):
        texts = [str(v) for v in series.to_numpy(dtype=object)]
        if texts and all(_canonical_number(t) for t in texts):
            import pandas as pd

            series = pd.Series([float(t) for t in texts], index=series.index)
    if types.is_bool_dtype(series.dtype):
        return series.to_numpy(dtype=bool)
    if types.is_numeric_dtype(series.dtype):
        values = series.to_numpy(dtype=np.float64)
        if np.all(values == np.round(values)):
            return values.astype(np.int64)
        return values
    return np.array([str(v) for v in series.to_numpy(dtype=object)], dtype=object)


def _canonical_number(text: str) -> bool:
    """Whether ``text`` is a number as Python writes it (``7``, ``-2``, ``0.5``, ``1e+20``)."""
    try:
        value = float(text)
    except ValueError:
        return False
    if not math.isfinite(value):
        return False
    if value.is_integer() and "." not in text and "e" not in text.lower():
        return text == str(int(value))
    return text == repr(value)


def align_labels(y: Any, classes: np.ndarray, source: str, target: str) -> np.ndarray:
    """``y`` expressed as entries of ``classes`` (matching by ``str``), or a UserError.

    A model trained on labels 1, 2, 3 read as integers is evaluated on a file
    where they may read as floats or strings; matching the text form makes
    that work, and labels the model never saw are reported by name.
    """
    by_text = {str(c): c for c in classes.tolist()}
    y_list = np.asarray(y).tolist()
    texts = [str(v) for v in y_list]
    unknown = sorted({t for t in texts if t not in by_text})
    if unknown:
        # 2.0 read from a file for a model with class 2: try the integer form.
        fixed = []
        for v in y_list:
            if isinstance(v, float) and v.is_integer() and str(int(v)) in by_text:
                fixed.append(str(int(v)))
            else:
                fixed.append(str(v))
        texts = fixed
        unknown = sorted({t for t in texts if t not in by_text})
    if unknown:
        raise UserError(
            f"target column {target!r} of {source} has label(s) {_names(unknown, 5)} that the "
            f"model does not know (its classes: {_names(by_text)}); evaluate on data with the "
            "model's classes only"
        )
    out = np.empty(len(texts), dtype=classes.dtype)
    out[:] = [by_text[t] for t in texts]
    return out


_GLOB_CHARS = ("*", "?", "[")


def resolve_data(data: str, fmt: str | None = None) -> tuple[list[str], str]:
    """The files DATA names and their format: one file, a folder of Parquet files, or a glob.

    A folder means its Parquet files (``*.parquet``, ``*.pq``, ``*.parq``, not
    its sub-folders); a glob (``*``, ``?``, ``[``) means the files it matches.
    Files come sorted by name, so that rows keep one order between runs.
    Several files must share one format, CSV or Parquet.
    """
    from softmax.io import FORMATS, infer_format

    p = Path(data)
    if p.is_dir():
        endings = FORMATS["parquet"]
        files = sorted(str(f) for f in p.iterdir() if f.is_file() and f.name.endswith(endings))
        if not files:
            raise UserError(
                f"folder {data!r} has no Parquet files ({', '.join('*' + e for e in endings)}); "
                "give a folder of Parquet files, a glob or a file"
            )
        return files, "parquet" if fmt is None else infer_format(files[0], fmt)
    if not p.exists() and any(c in data for c in _GLOB_CHARS):
        files = sorted(f for f in glob.glob(data) if Path(f).is_file())
        if not files:
            raise UserError(f"no files match {data!r}; check the pattern and the folder")
    else:
        return [data], infer_format(data, fmt)
    kinds = {infer_format(f, fmt) for f in files}
    if len(kinds) > 1 or kinds == {"svmlight"}:
        raise UserError(
            f"{data!r} matches files of format(s) {', '.join(sorted(kinds))}; several files "
            "must all be CSV or all Parquet"
        )
    return files, kinds.pop()


def read_tables(files: Sequence[str], fmt: str, **options: Any) -> Any:
    """One file read with :func:`softmax.io.read_table` (``options`` are its
    keywords); several concatenated in name order."""
    from softmax.io import read_table

    if len(files) == 1:
        return read_table(files[0], format=fmt, **options)
    import pandas as pd

    return pd.concat([read_table(f, format=fmt, **options) for f in files], ignore_index=True)


def output_format(path: str) -> str:
    """``csv`` or ``parquet`` from an output file name."""
    name = path.lower()
    if name.endswith((".parquet", ".pq")):
        return "parquet"
    if name.endswith((".csv", ".csv.gz", ".txt", ".tsv")):
        return "csv"
    raise UserError(f"cannot tell the output format from {path!r}; name it *.csv or *.parquet")


class PredictionWriter:
    """Appends prediction chunks to a CSV or Parquet file, or CSV on stdout."""

    def __init__(self, path: Path | None, fmt: str) -> None:
        self.path = path
        self.fmt = fmt
        self._fh: Any = None
        self._pq: Any = None
        self._schema: Any = None
        self.rows = 0

    def write(self, df: Any) -> None:
        if self.fmt == "parquet":
            import pyarrow as pa
            import pyarrow.parquet as pq

            if self._pq is None:
                table = pa.Table.from_pandas(df, preserve_index=False)
                self._schema = table.schema
                self._pq = pq.ParquetWriter(str(self.path), self._schema)
            else:
                table = pa.Table.from_pandas(df, schema=self._schema, preserve_index=False)
            self._pq.write_table(table)
        else:
            header = self.rows == 0
            if self.path is None:
                df.to_csv(sys.stdout, index=False, header=header)
            else:
                if self._fh is None:
                    self._fh = open(self.path, "w", encoding="utf-8", newline="")
                sep = "\t" if str(self.path).lower().endswith(".tsv") else ","
                df.to_csv(self._fh, index=False, header=header, sep=sep)
        self.rows += df.shape[0]

    def close(self) -> None:
        if self._pq is not None:
            self._pq.close()
            self._pq = None
        if self._fh is not None:
            self._fh.close()
            self._fh = None
        if self.path is None:
            sys.stdout.flush()


class Progress:
    """Per-iteration progress of a fit: a live rich line on a terminal, log lines otherwise.

    Used as a context manager; :meth:`update` is the estimator's ``callback``.
    Output goes to stderr, so that stdout stays clean for results.
    """

    def __init__(self, console: Any, *, quiet: bool, label: str = "fitting") -> None:
        self.console = console
        self.quiet = quiet
        self.label = label
        self.live = not quiet and bool(console.is_terminal)
        self._progress: Any = None
        self._task: Any = None
        self._last_log = 0.0
        self._logged = -1
        self.last: tuple[int, float, float] | None = None

    def __enter__(self) -> Progress:
        if self.live:
            from rich.progress import Progress as RichProgress
            from rich.progress import SpinnerColumn, TextColumn, TimeElapsedColumn

            self._progress = RichProgress(
                SpinnerColumn(),
                TextColumn(f"[bold]{self.label}[/bold]"),
                TextColumn("iteration {task.fields[it]:>4}"),
                TextColumn("objective {task.fields[f]}"),
                TextColumn("gradient norm {task.fields[g]}"),
                TimeElapsedColumn(),
                console=self.console,
                transient=True,
            )
            self._progress.__enter__()
            self._task = self._progress.add_task(self.label, total=None, it=0, f="-", g="-")
        self._start = time.perf_counter()
        return self

    def update(self, it: int, f: float, gnorm: float) -> None:
        self.last = (it, f, gnorm)
        if self.quiet:
            return
        if self.live:
            self._progress.update(self._task, it=it, f=f"{f:.10g}", g=f"{gnorm:.2e}")
            return
        now = time.perf_counter()
        # Every iteration at first, then at most one line a second.
        if it <= 10 or now - self._last_log >= 1.0:
            self._log(it, f, gnorm)
            self._last_log = now
            self._logged = it

    def _log(self, it: int, f: float, gnorm: float) -> None:
        print(
            f"iteration {it:4d}  objective {f:.10g}  gradient norm {gnorm:.2e}",
            file=sys.stderr,
            flush=True,
        )

    def __exit__(self, *exc: Any) -> None:
        if self._progress is not None:
            self._progress.__exit__(*exc)
        elif not self.quiet and self.last is not None and self._logged != self.last[0]:
            self._log(*self.last)  # the final iteration, if throttling skipped it
