"""``softmax fit --dask``: read, encode and split the data with Dask, on a cluster.

The data never comes to the client whole: the files are read on the workers
(``dask.dataframe.read_parquet`` / ``read_csv``), the rows are split with
``random_split``, and one pass over the training partitions gives what the
column encoding needs (every category of each categorical column, the most
frequent one, the missing counts, the labels).  The encoding is then applied
per partition and the estimator fits the encoded Dask DataFrame on the
workers (``docs/dask.md``).  Only the predicted probabilities, for the
training and held-out metrics, are gathered.

Imputed medians are Dask's approximate quantile (exact when the data is one
partition); the in-memory fit uses the exact median.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np

from softmax._cli_support import UserError, labels_from_series

__all__ = [
    "LOCAL",
    "combine",
    "connect",
    "encode_partitions",
    "encoder_state",
    "import_dask",
    "label_kind",
    "label_partitions",
    "read_dask",
    "summarise",
]

#: The value of ``--dask`` without an address: a local cluster.
LOCAL = "local"
#: Seconds to wait for a scheduler given by address.
CONNECT_TIMEOUT = 5


def import_dask() -> Any:
    """``dask.dataframe``, or a UserError naming the extra to install."""
    try:
        import dask.dataframe as dd
        import distributed  # noqa: F401
    except ImportError as exc:
        raise UserError(
            f"--dask needs dask and distributed ({exc}); install them with "
            "pip install 'softmax[dask]'"
        ) from exc
    return dd


@contextlib.contextmanager
def connect(address: str, workers: int | None) -> Iterator[Any]:
    """A ``distributed.Client``: a new local cluster, or the scheduler at ``address``.

    The local cluster has ``workers`` processes (default: one per CPU) of one
    thread each, no dashboard, and is closed on exit.
    """
    from distributed import Client, LocalCluster

    if address == LOCAL:
        n = workers if workers is not None else (os.cpu_count() or 1)
        cluster = LocalCluster(
            n_workers=n,
            threads_per_worker=1,
            processes=True,
            dashboard_address=None,
            silence_logs=logging.ERROR,
        )
        try:
            with Client(cluster) as client:
                yield client
        finally:
            cluster.close()
        return
    if workers is not None:
        raise UserError(
            f"--workers applies to a local cluster (--dask without an address); the cluster at "
            f"{address!r} has its own workers"
        )
    try:
        client = Client(address, timeout=f"{CONNECT_TIMEOUT}s")
    except (OSError, ValueError, TypeError) as exc:
        detail = " ".join(str(exc).split()) or type(exc).__name__
        raise UserError(
            f"cannot reach the Dask scheduler at {address!r} within {CONNECT_TIMEOUT} s "
            f"({detail}); check the address and that the scheduler is running"
        ) from exc
    with client:
        yield client


def read_dask(files: Sequence[str], fmt: str, text_columns: Sequence[str] = ()) -> Any:
    """A Dask DataFrame of the CSV or Parquet files (one partition per file or row
    group); ``text_columns`` of a CSV are read as text (the target, as in memory)."""
    dd = import_dask()
    if fmt == "svmlight":
        raise UserError("--dask reads CSV or Parquet files; svmlight is read in memory only")
    try:
        if fmt == "parquet":
            return dd.read_parquet(list(files))
        sep = "\t" if files[0].lower().endswith(".tsv") else ","
        # assume_missing: a whole-number column with a missing value in a later
        # block must not fail the read as int64.
        text = {c: "object" for c in text_columns}
        return dd.read_csv(list(files), sep=sep, assume_missing=True, dtype=text or None)
    except (OSError, ValueError) as exc:
        raise UserError(f"cannot read {files[0]!r} with Dask ({exc})") from exc


def _partition_summary(df: Any, categorical: Sequence[str], target: str) -> dict[str, Any]:
    """What one partition tells the encoder: category counts, missing counts, labels."""
    from softmax.io._tabular import _string_values

    cats = {}
    for name in categorical:
        strings, missing = _string_values(df[name])
        values, counts = np.unique(strings[~missing].astype(str), return_counts=True)
        cats[name] = dict(zip(values.tolist(), counts.tolist(), strict=True))
    labels = df[target].dropna()
    return {
        "rows": int(df.shape[0]),
        "missing": {str(k): int(v) for k, v in df.isna().sum().items()},
        "categories": cats,
        "labels": labels.unique(),
    }


def summarise(ddf: Any, categorical: Sequence[str], target: str) -> Any:
    """A lazy list of per-partition summaries (computed with the rest in one pass)."""
    import dask

    return [
        dask.delayed(_partition_summary)(part, list(categorical), target)
        for part in ddf.to_delayed()
    ]


def combine(parts: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """The per-partition summaries added up."""
    import pandas as pd

    rows = sum(p["rows"] for p in parts)
    missing: dict[str, int] = {}
    cats: dict[str, dict[str, int]] = {}
    for p in parts:
        for k, v in p["missing"].items():
            missing[k] = missing.get(k, 0) + v
        for name, counts in p["categories"].items():
            total = cats.setdefault(name, {})
            for value, n in counts.items():
                total[value] = total.get(value, 0) + n
    labels = [p["labels"] for p in parts if len(p["labels"])]
    uniq = pd.Series(np.concatenate(labels) if labels else []).drop_duplicates()
    return {"rows": rows, "missing": missing, "categories": cats, "labels": uniq}


def encoder_state(
    columns: Sequence[str],
    meta: Any,
    categories: dict[str, dict[str, int]],
    medians: dict[str, float],
    *,
    impute: bool,
    unknown: str,
) -> dict[str, Any]:
    """The :meth:`TabularEncoder.to_dict` state the in-memory fit would learn."""
    from softmax.io._tabular import _is_numeric

    entries: list[dict[str, Any]] = []
    for name in columns:
        if _is_numeric(meta[name]):
            entries.append({"name": name, "kind": "numeric", "fill": medians.get(name)})
            continue
        counts = categories.get(name) or {}
        if not counts:
            raise UserError(
                f"column {name!r} has only missing values; it has no categories to encode "
                f"(leave it out with --drop {name})"
            )
        cats = sorted(counts)
        # The most frequent category, ties to the smallest (as the in-memory encoder).
        top = max(counts.values())
        mode = min(c for c in cats if counts[c] == top)
        entries.append(
            {
                "name": name,
                "kind": "categorical",
                "categories": cats,
                "fill": mode if impute else None,
            }
        )
    return {"columns": entries, "unknown": unknown}


def label_kind(labels: Any) -> str:
    """How labels are read in memory (``labels_from_series``): bool, int, float or str."""
    kind = labels_from_series(labels).dtype.kind
    return {"b": "bool", "i": "int", "f": "float"}.get(kind, "str")


def _labels(series: Any, kind: str) -> Any:
    import pandas as pd

    if kind == "bool":
        return series.astype(bool)
    if kind == "int":  # numbers, or their canonical text (a CSV target is read as text)
        return series.astype(np.float64).astype(np.int64)
    if kind == "float":
        return series.astype(np.float64)
    return pd.Series(
        [str(v) for v in series.to_numpy(dtype=object)], index=series.index, dtype=object
    )


def label_partitions(series: Any, kind: str) -> Any:
    """The target column as labels, partition by partition, the in-memory way."""
    import pandas as pd

    dtype = {"bool": bool, "int": np.int64, "float": np.float64, "str": object}[kind]
    return series.map_partitions(_labels, kind, meta=pd.Series([], dtype=dtype, name=series.name))


def _encode(df: Any, encoder: Any, n_out: int) -> Any:
    import pandas as pd

    return pd.DataFrame(encoder.transform(df), index=df.index, columns=range(n_out))


def encode_partitions(ddf: Any, encoder: Any) -> Any:
    """The encoded features, partition by partition: float64 columns named 0, 1, ...

    Integer column names keep the model free of feature names, as after the
    in-memory pipeline's encoder (whose output is an array).
    """
    import pandas as pd

    n_out = len(encoder.get_feature_names_out())
    meta = pd.DataFrame({i: pd.Series([], dtype=np.float64) for i in range(n_out)})
    return ddf.map_partitions(_encode, encoder, n_out, meta=meta)
