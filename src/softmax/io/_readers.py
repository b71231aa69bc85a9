"""Reading data files for the command line: CSV, Parquet and svmlight / libsvm.

pandas, pyarrow and scikit-learn's svmlight reader are imported inside the
functions, so that ``import softmax.io`` stays light.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

__all__ = ["FORMATS", "infer_format", "iter_table", "read_svmlight", "read_table"]

#: The formats :func:`read_table` knows, and the file name endings that select them.
FORMATS: dict[str, tuple[str, ...]] = {
    "csv": (".csv", ".csv.gz", ".csv.bz2", ".csv.zip", ".csv.xz", ".txt", ".tsv"),
    "parquet": (".parquet", ".pq", ".parq"),
    "svmlight": (".svm", ".svmlight", ".libsvm"),
}

# Strings pandas reads as missing; "NA" (R's spelling, used by the penguins
# table) is among pandas' defaults.  Nothing is added: a literal "None" or
# "null" in a categorical column stays a category.


def infer_format(path: str | os.PathLike[str], format: str | None = None) -> str:
    """The format of ``path``: ``format`` when given, else chosen by its ending.

    Raises
    ------
    ValueError
        ``format`` is not one of :data:`FORMATS`, or the ending is unknown.
    """
    if format is not None:
        fmt = format.lower()
        if fmt == "libsvm":
            fmt = "svmlight"
        if fmt not in FORMATS:
            raise ValueError(f"unknown format={format!r}; use one of {', '.join(sorted(FORMATS))}")
        return fmt
    name = Path(path).name.lower()
    for fmt, endings in FORMATS.items():
        if name.endswith(endings):
            return fmt
    known = ", ".join(e for endings in FORMATS.values() for e in endings)
    raise ValueError(
        f"cannot tell the format of {str(path)!r} from its name; name it with one of "
        f"{known}, or pass the format explicitly (csv, parquet or svmlight)"
    )


def _check_file(path: str | os.PathLike[str]) -> Path:
    p = Path(path)
    if not p.exists():
        raise FileNotFoundError(f"no such file: {str(path)!r}; check the path")
    if p.is_dir():
        raise ValueError(f"{str(path)!r} is a directory, not a data file")
    return p


def _csv_sep(path: Path) -> str:
    # A .tsv file is tab separated; otherwise let pandas' default (",") stand.
    return "\t" if path.name.lower().endswith(".tsv") else ","


def _read_csv_error(path: Path, exc: Exception) -> ValueError:
    detail = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return ValueError(
        f"cannot read {str(path)!r} as CSV ({detail}); check that it is a comma-separated "
        "text file with one header line and the same number of fields on every line"
    )


def read_table(
    path: str | os.PathLike[str],
    *,
    format: str | None = None,
    text_columns: Any = (),
    zero_based: bool | None = None,
) -> Any:
    """Read a whole data file.

    Parameters
    ----------
    path : str or path-like
        A CSV (``.csv``, optionally compressed, ``.tsv``), Parquet (``.parquet``)
        or svmlight / libsvm (``.svm``, ``.svmlight``, ``.libsvm``) file.
    format : {"csv", "parquet", "svmlight"}, optional
        Overrides the choice by file name ending.
    text_columns : iterable of str, optional
        CSV columns read as text, not as numbers: class codes such as ``01``
        keep their form (names that are not columns are ignored).
    zero_based : bool, optional
        svmlight only: whether feature indices start at 0 (default: whether
        the file uses the index 0 anywhere, :func:`svmlight_zero_based`).

    Returns
    -------
    pandas.DataFrame or tuple (scipy.sparse.csr_matrix, numpy.ndarray)
        A DataFrame for CSV and Parquet (strings ``NA``, ``NaN`` and empty
        fields are missing values); ``(X, y)`` for svmlight, with sparse X and
        the labels (integers when every label is a whole number).

    Raises
    ------
    FileNotFoundError
        ``path`` does not exist.
    ValueError
        Unknown format, an empty, binary or malformed file.
    """
    p = _check_file(path)
    fmt = infer_format(p, format)
    if fmt == "svmlight":
        return read_svmlight(p, zero_based=zero_based)
    import pandas as pd

    if fmt == "parquet":
        try:
            return pd.read_parquet(p)
        except Exception as exc:  # pyarrow raises its own types
            raise ValueError(
                f"cannot read {str(p)!r} as Parquet ({exc}); check that the file is a "
                "complete Parquet file"
            ) from exc
    try:
        text = {c: str for c in text_columns}
        df = pd.read_csv(p, sep=_csv_sep(p), low_memory=False, dtype=text or None)
    except pd.errors.EmptyDataError as exc:
        raise ValueError(f"{str(p)!r} is empty; a CSV file needs a header line and rows") from exc
    except (pd.errors.ParserError, UnicodeDecodeError, ValueError) as exc:
        raise _read_csv_error(p, exc) from exc
    _check_csv_frame(p, df)
    return df


def _check_csv_frame(path: Path, df: Any) -> None:
    """Reject header-only files and duplicated column names."""
    if df.shape[0] == 0:
        raise ValueError(f"{str(path)!r} has a header but no rows")
    cols = [str(c) for c in df.columns]
    mangled = [c for c in cols if "." in c and c.rsplit(".", 1)[0] in cols]
    if mangled:
        raise ValueError(
            f"{str(path)!r} has duplicated column names ({', '.join(mangled)}); rename them"
        )


def svmlight_zero_based(path: str | os.PathLike[str]) -> bool:
    """Whether an svmlight / libsvm file numbers its features from 0: some line
    has the index 0 (the standard numbering, libsvm's, starts at 1).  The whole
    file is scanned, so that every piece of it is read alike."""
    import re

    # " 0:" after whitespace: the label comes first (no colon), a qid reads
    # "qid:5" and a value "3:0" (a colon before it), comments follow a "#".
    zero = re.compile(rb"\s0+:")
    with open(_check_file(path), "rb") as f:
        for line in f:
            if zero.search(line.split(b"#", 1)[0]):
                return True
    return False


def read_svmlight(
    path: str | os.PathLike[str],
    *,
    n_features: int | None = None,
    offset: int = 0,
    length: int = -1,
    zero_based: bool | None = None,
) -> tuple[Any, Any]:
    """Read an svmlight / libsvm file into sparse ``X`` (float64 CSR) and labels ``y``.

    ``n_features`` fixes the width (needed at prediction time, where a chunk
    may not mention the last feature); ``offset`` and ``length`` read the lines
    that start in the byte range ``[offset, offset + length)`` (scikit-learn's
    :func:`~sklearn.datasets.load_svmlight_file` semantics), which is how
    :func:`iter_table` streams such files.  ``zero_based``: whether feature
    indices start at 0; by default :func:`svmlight_zero_based` of the whole
    file (scikit-learn guesses per piece read, and a file or piece that never
    uses the first feature was read shifted by one column).
    """
    import numpy as np
    from sklearn.datasets import load_svmlight_file

    p = _check_file(path)
    if zero_based is None:
        zero_based = svmlight_zero_based(p)
    try:
        X, y = load_svmlight_file(
            str(p), n_features=n_features, offset=offset, length=length, dtype=np.float64,
            zero_based=bool(zero_based),
        )  # fmt: skip
    except (ValueError, UnicodeDecodeError) as exc:
        raise ValueError(
            f"cannot read {str(p)!r} as svmlight/libsvm ({exc}); each line must be "
            "'<label> <index>:<value> ...'"
        ) from exc
    if X.shape[0] == 0 and offset == 0:
        raise ValueError(f"{str(p)!r} has no rows")
    if y.size and np.all(np.isfinite(y)) and np.all(y == np.round(y)):
        y = y.astype(np.int64)
    return X.tocsr(), y


def iter_table(
    path: str | os.PathLike[str],
    *,
    format: str | None = None,
    chunk_rows: int = 100_000,
    n_features: int | None = None,
    chunk_bytes: int = 32 * 2**20,
    dtype: Any = None,
    zero_based: bool | None = None,
) -> Iterator[Any]:
    """Read a data file in pieces, holding one piece in memory at a time.

    Yields DataFrames of at most ``chunk_rows`` rows for CSV (pandas
    ``chunksize``) and Parquet (pyarrow ``iter_batches``); for svmlight it
    yields ``(X, y)`` pairs, one per ``chunk_bytes`` of the file, with
    ``n_features`` columns.  ``dtype`` is passed to :func:`pandas.read_csv`
    (e.g. ``{"island": str}``, so that a categorical column reads the same in
    every chunk).  ``zero_based``: see :func:`read_svmlight` (one answer for the
    whole file).  Errors are those of :func:`read_table`.
    """
    p = _check_file(path)
    fmt = infer_format(p, format)
    if fmt == "svmlight":
        size = p.stat().st_size
        if size == 0:
            raise ValueError(f"{str(p)!r} is empty")
        if zero_based is None:
            zero_based = svmlight_zero_based(p)
        for start in range(0, size, chunk_bytes):
            X, y = read_svmlight(
                p, n_features=n_features, offset=start, length=chunk_bytes, zero_based=zero_based
            )
            if X.shape[0]:
                yield X, y
        return
    import pandas as pd

    if fmt == "parquet":
        import pyarrow.parquet as pq

        try:
            pf = pq.ParquetFile(p)
            batches = pf.iter_batches(batch_size=chunk_rows)
            for batch in batches:
                yield batch.to_pandas()
        except (OSError, ValueError) as exc:
            import pyarrow as pa

            if not isinstance(exc, pa.ArrowException | OSError):
                raise
            raise ValueError(
                f"cannot read {str(p)!r} as Parquet ({exc}); check that the file is a "
                "complete Parquet file"
            ) from exc
        return
    try:
        reader = pd.read_csv(
            p, sep=_csv_sep(p), chunksize=chunk_rows, low_memory=False, dtype=dtype
        )
        first = True
        with reader:
            for chunk in reader:
                if first:
                    _check_csv_frame(p, chunk)
                    first = False
                yield chunk
        if first:
            raise ValueError(f"{str(p)!r} has a header but no rows")
    except pd.errors.EmptyDataError as exc:
        raise ValueError(f"{str(p)!r} is empty; a CSV file needs a header line and rows") from exc
    except (pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise _read_csv_error(p, exc) from exc
