"""The ``softmax`` command: fit, predict, evaluate, info, export and demo.

Run ``softmax --help`` (or ``python -m softmax --help``).  Every user error
is printed as one line on stderr (``error: <what> <what to do>``) with exit
code 1 (2 for a malformed command line); ``--debug`` shows the traceback.
Nothing is overwritten without ``--force``.  Progress goes to stderr, results
to stdout.

This module needs the ``cli`` extra (typer, rich, pandas, pyarrow, matplotlib).
"""

from __future__ import annotations

import datetime as _dt
import math
import sys
import time
import traceback
import warnings
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import typer

from softmax._cli_support import (
    MISSING_POLICIES,
    PredictionWriter,
    Progress,
    UserError,
    align_labels,
    check_junk,
    check_missing_for_model,
    check_model_columns,
    expand_columns,
    labels_from_series,
    missing_counts,
    missing_error,
    output_format,
    read_tables,
    resolve_data,
    select_columns,
)

__all__ = ["app", "main"]

DEFAULT_MODEL = "model.safetensors"

app = typer.Typer(
    name="softmax",
    help="Fit, apply, evaluate and export softmax-regression models on data files.",
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


# --------------------------------------------------------------------------- #
# shared options and helpers
# --------------------------------------------------------------------------- #
Force = Annotated[bool, typer.Option("--force", help="Overwrite existing output files.")]
Quiet = Annotated[bool, typer.Option("--quiet", "-q", help="Print nothing but errors.")]
Debug = Annotated[bool, typer.Option("--debug", help="Show the traceback of an error.")]
Format = Annotated[
    str | None,
    typer.Option("--format", help="csv, parquet or svmlight; default: by file name ending."),
]


def _consoles() -> tuple[Any, Any]:
    from rich.console import Console

    # Off a terminal rich assumes 80 columns and wraps long lines mid-word;
    # logs and pipes read better unwrapped.
    out, err = Console(), Console(stderr=True)
    if not out.is_terminal:
        out = Console(width=120, soft_wrap=False)
    if not err.is_terminal:
        err = Console(stderr=True, width=120)
    return out, err


def _version_callback(value: bool) -> None:
    if value:
        from softmax import __version__

        typer.echo(f"softmax {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_version_callback, is_eager=True, help="Show the version."
        ),
    ] = False,
) -> None:
    """Fit, apply, evaluate and export softmax-regression models on data files."""


def _is_pipeline(model: Any) -> bool:
    from sklearn.pipeline import Pipeline

    return isinstance(model, Pipeline)


def _estimator(model: Any) -> Any:
    return model.named_steps["model"] if _is_pipeline(model) else model


_SOFTMAX_KINDS = ("SoftmaxRegression", "SoftmaxRegressionCV")


def _overflow_warning(messages: list[str]) -> None:
    """One line for NumPy's floating-point warnings of a prediction (if any)."""
    if messages:
        print(
            f"warning: {messages[0]} while predicting: some rows hold values far outside "
            "the training data's range; their probabilities are limits (0 or 1) or NaN",
            file=sys.stderr,
        )


def _load(path: str, *, kinds: tuple[str, ...] | None = None) -> tuple[Any, dict[str, Any]]:
    """The model in ``path`` and its metadata; ``kinds``: the estimators the
    command handles (the others are refused, as usable from Python)."""
    from softmax.io import load, read_metadata

    if not Path(path).exists():
        raise FileNotFoundError(f"no such model file: {path!r}; check the path")
    meta = read_metadata(path)
    model = load(path)
    kind = type(_estimator(model)).__name__
    if kinds is not None and kind not in kinds:
        raise UserError(
            f"{Path(path).name} holds a {kind}; this command handles "
            + (
                "softmax models (SoftmaxRegression, as `softmax fit` writes them)"
                if kinds == _SOFTMAX_KINDS
                else ", ".join(kinds)
            )
            + ": use it from Python with softmax.load"
        )
    return model, meta


def _record(meta: dict[str, Any]) -> dict[str, Any]:
    """The CLI's training record from a model file's metadata ({} if none)."""
    rec = meta.get("metadata")
    return rec if isinstance(rec, dict) else {}


def _fmt(x: Any, digits: int = 4) -> str:
    if x is None:
        return "-"
    if isinstance(x, float):
        return f"{x:.{digits}f}"
    return str(x)


def _split(n: int, y: np.ndarray, test_size: float, seed: int) -> tuple[Any, Any, bool]:
    """Train / held-out row indices, stratified when every class allows it.

    A class none of whose rows landed in the training part (one row, not
    stratified) would be unknown to the model that is scored on the held-out
    rows: its rows train instead."""
    from sklearn.model_selection import train_test_split

    idx = np.arange(n)
    if test_size == 0:
        return idx, idx[:0], False
    n_test = math.ceil(test_size * n)
    _, counts = np.unique(y, return_counts=True)
    if n_test < 1 or n - n_test < 2:
        raise UserError(
            f"--test-size {test_size:g} of {n} rows leaves {n - n_test} for training and "
            f"{n_test} held out; use a smaller --test-size or --test-size 0"
        )
    stratify = counts.min() >= 2 and n_test >= counts.size and n - n_test >= counts.size
    tr, te = train_test_split(
        idx, test_size=test_size, random_state=seed, stratify=y if stratify else None
    )
    unseen = ~np.isin(y[te], y[tr])
    tr, te = np.concatenate([tr, te[unseen]]), te[~unseen]
    return np.sort(tr), np.sort(te), bool(stratify)


def _warning_lines(caught: list[warnings.WarningMessage]) -> list[str]:
    lines: list[str] = []
    for w in caught:
        text = " ".join(str(w.message).split())
        if text not in lines:
            lines.append(text)
    return lines


# --------------------------------------------------------------------------- #
# fit
# --------------------------------------------------------------------------- #
def _fit(
    data: str,
    *,
    target: str | None,
    output: str,
    features: list[str],
    drop: list[str],
    C: float,
    penalty: str,
    class_weight: str | None,
    test_size: float,
    seed: int,
    max_iter: int,
    tol: float,
    solver: str,
    missing: str,
    unknown: str,
    fmt: str | None,
    force: bool,
    quiet: bool,
    dask: str | None = None,
    workers: int | None = None,
) -> dict[str, Any]:
    from softmax._atomic import check_writable
    from softmax.estimators import SoftmaxRegression
    from softmax.io import TabularEncoder

    _, err = _consoles()
    if missing not in MISSING_POLICIES:
        raise UserError(f"--missing {missing!r} is not one of {', '.join(MISSING_POLICIES)}")
    if unknown not in ("error", "ignore"):
        raise UserError(f"--unknown {unknown!r} is not one of error, ignore")
    if not 0 <= test_size < 1:
        raise UserError(f"--test-size must be in [0, 1), got {test_size:g}")
    if not 0 <= seed < 2**32:
        raise UserError(f"--seed must be a whole number in [0, 2**32), got {seed}")
    pen: str | None = None if penalty.lower() in ("none", "null") else penalty
    cw: str | None = None if class_weight in (None, "none") else class_weight
    if cw not in (None, "balanced"):
        raise UserError(f"--class-weight {class_weight!r} is not one of balanced, none")
    clf = SoftmaxRegression(
        penalty=pen, C=C, class_weight=cw, tol=tol, max_iter=max_iter, solver=solver
    )
    kind, _, _ = clf._check_params()  # a bad --C / --penalty / --solver fails before any work
    if workers is not None and workers < 1:
        raise UserError(f"--workers must be a positive whole number, got {workers}")
    if workers is not None and dask is None:
        raise UserError("--workers applies to Dask fits; add --dask")
    if dask is not None and not kind.smooth:
        raise UserError(
            f"--dask fits take --penalty l2 or none, got --penalty {penalty}; fit in memory "
            "(without --dask) for this penalty"
        )
    check_writable(output, overwrite=force)

    t0 = time.perf_counter()
    files, data_fmt = resolve_data(data, fmt)
    source = Path(data).name if len(files) == 1 or Path(data).is_dir() else data
    record: dict[str, Any] = {
        "created_by": "softmax fit",
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "data": {"file": source} | ({"files": len(files)} if len(files) > 1 else {}),
        "missing": missing,
    }
    if dask is not None:
        from softmax._cli_dask import import_dask

        import_dask()  # a clear error before anything else when dask is not installed
        return _fit_dask(
            files,
            data_fmt,
            source=source,
            record=record,
            clf=clf,
            address=dask,
            workers=workers,
            target=target,
            output=output,
            features=features,
            drop=drop,
            test_size=test_size,
            seed=seed,
            missing=missing,
            unknown=unknown,
            force=force,
            quiet=quiet,
            t0=t0,
        )
    # How an svmlight file numbers its features, kept for predict and evaluate to
    # read other files the same way (one that never uses feature 0 is not 1-based).
    zero_based = None
    if data_fmt == "svmlight":
        from softmax.io._readers import svmlight_zero_based

        zero_based = svmlight_zero_based(files[0])
    # The target as written (class codes such as 01 are not numbers).
    table = read_tables(
        files, data_fmt, text_columns=[target] if target else [], zero_based=zero_based
    )
    if isinstance(table, tuple):  # svmlight: sparse X and labels, no columns to encode
        if features or drop:
            raise UserError("--features and --drop do not apply to svmlight files (no columns)")
        X, y = table
        record["data"].update(format="svmlight", n_rows=int(X.shape[0]), zero_based=zero_based)
        record["target"] = None
        feature_names = [f"x{i}" for i in range(X.shape[1])]
        encoder = None
    else:
        df = table
        df.columns = [str(c) for c in df.columns]
        cols = select_columns(
            df.columns, target=target, features=features, drop=drop, source=source
        )
        assert target is not None
        record["data"].update(format="table", n_rows=int(df.shape[0]))
        n_rows = df.shape[0]
        y_missing = df[target].isna()
        if y_missing.any():
            if missing == "error":
                raise UserError(
                    f"target column {target!r} has {int(y_missing.sum())} missing value(s); "
                    "pass --missing drop (or impute) to skip those rows"
                )
            df = df.loc[~y_missing]
        check_junk(df, cols)
        counts = missing_counts(df, cols)
        if counts and missing == "error":
            raise missing_error(counts, source)
        if counts and missing == "drop":
            df = df.dropna(subset=cols)
        if df.shape[0] == 0:
            raise UserError(f"no rows of {source} are left after dropping missing values")
        record["data"]["rows_dropped"] = int(n_rows - df.shape[0])
        record["target"] = target
        record["features"] = cols
        y = labels_from_series(df[target])
        X = df[cols]
        encoder = TabularEncoder(impute=missing == "impute", unknown=unknown)

    classes = np.unique(y)
    if classes.size < 2:
        what = f"target column {target!r}" if target else "the labels"
        raise UserError(
            f"{what} of {source} has only one class ({classes.tolist()[0]!r}); a classifier "
            "needs at least 2 classes"
        )
    tr, te, stratified = _split(y.shape[0], y, test_size, seed)

    def rows(A: Any, idx: Any) -> Any:
        return A.iloc[idx] if hasattr(A, "iloc") else A[idx]

    X_tr, y_tr = rows(X, tr), y[tr]
    if np.unique(y_tr).size < 2:
        raise UserError("the training split has only one class; use a smaller --test-size")
    if encoder is not None:
        from sklearn.pipeline import Pipeline

        model: Any = Pipeline([("encoder", encoder), ("model", clf)])
    else:
        model = clf
    t_read = time.perf_counter() - t0
    if not quiet:
        err.print(
            f"[dim]read {source}: {y.shape[0]} rows used, {len(feature_names_of(X))} columns; "
            f"fitting on {tr.size}, holding out {te.size}[/dim]",
            highlight=False,
        )
    if encoder is not None:
        fit_seconds, warned = _run_fit(
            lambda cb: model.fit(X_tr, y_tr, model__callback=cb), err, quiet
        )
    else:
        fit_seconds, warned = _run_fit(lambda cb: model.fit(X_tr, y_tr, callback=cb), err, quiet)
    if encoder is not None:
        feature_names = [str(n) for n in encoder.get_feature_names_out()]

    def scores(idx: Any) -> dict[str, Any] | None:
        if idx.size == 0:
            return None
        return _scores(y[idx], model.predict_proba(rows(X, idx)), clf.classes_)

    record["split"] = {
        "test_size": test_size,
        "seed": seed,
        "stratified": stratified,
        "n_train": int(tr.size),
        "n_test": int(te.size),
    }
    return _finish_fit(
        model,
        clf,
        record,
        train_m=scores(tr),
        test_m=scores(te),
        feature_names=feature_names,
        n_columns=int(X.shape[1]),
        stratified=stratified,
        fit_seconds=fit_seconds,
        t_read=t_read,
        warned=warned,
        source=source,
        output=output,
        force=force,
        quiet=quiet,
    )


def _run_fit(fit: Any, err: Any, quiet: bool) -> tuple[float, list[str]]:
    """Run ``fit(callback)`` with progress on stderr; its seconds and warnings (printed)."""
    t1 = time.perf_counter()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with Progress(err, quiet=quiet) as progress:
            fit(progress.update)
    fit_seconds = time.perf_counter() - t1
    warned = _warning_lines(caught)
    for line in warned:
        print(f"warning: {line}", file=sys.stderr)
    return fit_seconds, warned


def _fit_dask(
    files: list[str],
    fmt: str,
    *,
    source: str,
    record: dict[str, Any],
    clf: Any,
    address: str,
    workers: int | None,
    target: str | None,
    output: str,
    features: list[str],
    drop: list[str],
    test_size: float,
    seed: int,
    missing: str,
    unknown: str,
    force: bool,
    quiet: bool,
    t0: float,
) -> dict[str, Any]:
    """``softmax fit --dask``: read, split, encode and fit on a Dask cluster (``_cli_dask``)."""
    import dask
    from sklearn.pipeline import Pipeline

    from softmax import _cli_dask as cd
    from softmax.io import TabularEncoder

    _, err = _consoles()
    if fmt == "svmlight":
        raise UserError("--dask reads CSV or Parquet files; fit svmlight files without --dask")
    with cd.connect(address, workers) as client:
        if not quiet:
            n_workers = len(client.scheduler_info().get("workers", {}))
            where = "a local cluster" if address == cd.LOCAL else f"{address}"
            err.print(
                f"[dim]dask: {where}, {n_workers} workers, ready after "
                f"{time.perf_counter() - t0:.1f} s[/dim]",
                highlight=False,
            )
        t0 = time.perf_counter()  # the read time leaves out the cluster's start
        ddf = cd.read_dask(files, fmt, text_columns=[target] if target else [])
        ddf.columns = [str(c) for c in ddf.columns]
        cols = select_columns(
            list(ddf.columns), target=target, features=features, drop=drop, source=source
        )
        assert target is not None
        ddf = ddf[[*cols, target]]
        # The junk check reads the first rows only (the whole data may be large).
        check_junk(ddf.partitions[0].head(1000), cols)
        kept = ddf
        if missing != "error":
            kept = kept.dropna(subset=[target])
        if missing == "drop":
            kept = kept.dropna(subset=cols)
        if test_size > 0:
            train, test = kept.random_split([1 - test_size, test_size], random_state=seed)
        else:
            train, test = kept, None
        categorical = [c for c in cols if not _is_numeric_meta(ddf._meta[c])]
        numeric = [c for c in cols if c not in categorical]
        # One pass for the summaries; the medians (dask expressions, not delayed
        # objects) in a second one, and only when imputing.
        whole_parts, train_parts, test_parts = dask.compute(
            cd.summarise(ddf, [], target),
            cd.summarise(train, categorical, target),
            cd.summarise(test, [], target) if test is not None else [],
        )
        medians = (
            dask.compute({c: train[c].dropna().quantile(0.5) for c in numeric})[0]
            if missing == "impute"
            else {}
        )
        whole, tr = cd.combine(whole_parts), cd.combine(train_parts)
        n_test = cd.combine(test_parts)["rows"] if test is not None else 0
        y_missing = whole["missing"].get(target, 0)
        if y_missing and missing == "error":
            raise UserError(
                f"target column {target!r} has {y_missing} missing value(s); "
                "pass --missing drop (or impute) to skip those rows"
            )
        counts = {c: whole["missing"][c] for c in cols if whole["missing"].get(c)}
        if counts and missing == "error":
            raise missing_error(counts, source)
        n_used = tr["rows"] + n_test
        if n_used == 0:
            raise UserError(f"no rows of {source} are left after dropping missing values")
        if tr["rows"] < 2:
            raise UserError(
                f"--test-size {test_size:g} leaves {tr['rows']} row(s) of {source} for "
                "training; use a smaller --test-size"
            )
        kind = cd.label_kind(tr["labels"])
        labels = np.unique(cd._labels(tr["labels"], kind).to_numpy())
        if labels.size < 2:
            raise UserError(
                f"the training rows of {source} have only one class in {target!r} "
                f"({labels[0]!r}); a classifier needs at least 2 classes"
            )
        medians = {c: float(v) for c, v in medians.items()}
        for c, v in medians.items():
            if math.isnan(v):
                raise ValueError(f"column {c!r} has only missing values; cannot impute")
        encoder = TabularEncoder.from_dict(
            cd.encoder_state(
                cols,
                ddf._meta,
                tr["categories"],
                medians,
                impute=missing == "impute",
                unknown=unknown,
            )
        )
        X_tr = cd.encode_partitions(train[cols], encoder)
        y_tr = cd.label_partitions(train[target], kind)
        record["data"].update(format=fmt, n_rows=int(whole["rows"]), dask=True)
        record["data"]["rows_dropped"] = int(whole["rows"] - n_used)
        record["target"] = target
        record["features"] = cols
        t_read = time.perf_counter() - t0
        if not quiet:
            err.print(
                f"[dim]read {source}: {n_used} rows used, {len(cols)} columns, "
                f"{ddf.npartitions} partitions; fitting on {tr['rows']}, holding out "
                f"{n_test}[/dim]",
                highlight=False,
            )
        fit_seconds, warned = _run_fit(lambda cb: clf.fit(X_tr, y_tr, callback=cb), err, quiet)

        def scores(part: Any) -> dict[str, Any] | None:
            if part is None:
                return None
            # Only the probabilities and labels come to the client, for the metrics.
            X_part = cd.encode_partitions(part[cols], encoder)
            with warnings.catch_warnings():
                # An array from the fit's graph and a dataframe expression in one
                # compute: dask materialises the expression, which is what we want.
                warnings.filterwarnings("ignore", "Computing mixed collections", UserWarning)
                proba, y_part = dask.compute(
                    clf.predict_proba(X_part), cd.label_partitions(part[target], kind)
                )
            return _scores(y_part.to_numpy(), proba, clf.classes_)

        train_m = scores(train)
        test_m = scores(test) if n_test else None
    record["split"] = {
        "test_size": test_size,
        "seed": seed,
        "stratified": False,
        "method": "dask random_split",
        "n_train": int(tr["rows"]),
        "n_test": int(n_test),
    }
    model = Pipeline([("encoder", encoder), ("model", clf)])
    return _finish_fit(
        model,
        clf,
        record,
        train_m=train_m,
        test_m=test_m,
        feature_names=[str(n) for n in encoder.get_feature_names_out()],
        n_columns=len(cols),
        stratified=False,
        fit_seconds=fit_seconds,
        t_read=t_read,
        warned=warned,
        source=source,
        output=output,
        force=force,
        quiet=quiet,
    )


def _is_numeric_meta(series: Any) -> bool:
    from softmax.io._tabular import _is_numeric

    return _is_numeric(series)


def _scores(y: Any, proba: Any, classes: Any) -> dict[str, Any]:
    from softmax.report import classification_metrics

    m = classification_metrics(y, proba, classes)
    return {
        k: m[k]
        for k in ("n_samples", "accuracy", "balanced_accuracy", "log_loss", "brier_score", "ece")
    }


def _finish_fit(
    model: Any,
    clf: Any,
    record: dict[str, Any],
    *,
    train_m: dict[str, Any] | None,
    test_m: dict[str, Any] | None,
    feature_names: list[str],
    n_columns: int,
    stratified: bool,
    fit_seconds: float,
    t_read: float,
    warned: list[str],
    source: str,
    output: str,
    force: bool,
    quiet: bool,
) -> dict[str, Any]:
    """Record the fit, save the model and print the summary table."""
    from softmax.io import save

    assert train_m is not None  # the training split is never empty
    n_train, n_test = record["split"]["n_train"], record["split"]["n_test"]
    record["fit"] = {
        "seconds": round(fit_seconds, 4),
        "read_seconds": round(t_read, 4),
        "n_iter": int(clf.n_iter_[0]),
        "converged": bool(clf.converged_),
        "solver": str(clf.solver_),
        "objective_history": [float(v) for v in clf.objective_history_],
        "warnings": warned,
    }
    record["train_metrics"] = train_m
    record["test_metrics"] = test_m
    save(model, output, metadata=record, overwrite=force)

    if not quiet:
        from rich.table import Table

        out, _ = _consoles()
        t = Table(title=f"softmax fit {source}", show_header=False, title_justify="left")
        t.add_column(style="bold")
        t.add_column()
        t.add_row(
            "classes",
            f"{clf.classes_.size}: "
            + ", ".join(map(str, clf.classes_[:10]))
            + (" ..." if clf.classes_.size > 10 else ""),
        )
        t.add_row("features", f"{len(feature_names)} (from {n_columns} columns)")
        t.add_row(
            "rows", f"{n_train} train, {n_test} held out" + (" (stratified)" if stratified else "")
        )
        t.add_row(
            "solver",
            f"{clf.solver_}, {int(clf.n_iter_[0])} iterations, "
            + ("converged" if clf.converged_ else "NOT converged"),
        )
        t.add_row("time", f"{fit_seconds:.2f} s fit, {t_read:.2f} s read")
        t.add_row(
            "train", f"accuracy {_fmt(train_m['accuracy'])}, log-loss {_fmt(train_m['log_loss'])}"
        )
        if test_m is not None:
            t.add_row(
                "held out",
                f"accuracy {_fmt(test_m['accuracy'])}, log-loss {_fmt(test_m['log_loss'])}",
            )
        t.add_row("model", output)
        out.print(t)
    return record


def feature_names_of(X: Any) -> list[str]:
    """Column names of a DataFrame, ``x0, x1, ...`` for an array."""
    if hasattr(X, "columns"):
        return [str(c) for c in X.columns]
    return [f"x{i}" for i in range(X.shape[1])]


@app.command()
def fit(
    data: Annotated[str, typer.Argument(help="CSV, Parquet or svmlight file.")],
    target: Annotated[
        str | None, typer.Option("--target", "-t", help="Column to predict (not for svmlight).")
    ] = None,
    output: Annotated[str, typer.Option("--output", "-o", help="Model file to write.")] = (
        DEFAULT_MODEL
    ),
    features: Annotated[
        list[str] | None,
        typer.Option(
            "--features",
            help="Feature columns (repeat or comma-separate); default: all but the target.",
        ),
    ] = None,
    drop: Annotated[list[str] | None, typer.Option("--drop", help="Columns to leave out.")] = None,
    C: Annotated[float, typer.Option("--C", help="Inverse regularisation strength.")] = 1.0,
    penalty: Annotated[str, typer.Option("--penalty", help="l2, l1 or none.")] = "l2",
    class_weight: Annotated[
        str | None, typer.Option("--class-weight", help="balanced or none.")
    ] = None,
    test_size: Annotated[
        float, typer.Option("--test-size", help="Share of rows held out (0 for none).")
    ] = 0.2,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the held-out split.")] = 0,
    max_iter: Annotated[int, typer.Option("--max-iter", help="Solver iterations at most.")] = 1000,
    tol: Annotated[float, typer.Option("--tol", help="Stopping tolerance.")] = 1e-8,
    solver: Annotated[
        str, typer.Option("--solver", help="auto, newton-cholesky, newton-cg or lbfgs.")
    ] = "auto",
    missing: Annotated[
        str,
        typer.Option(
            "--missing",
            help="Missing values: error, drop (the rows) or impute "
            "(median / most frequent, also at prediction time).",
        ),
    ] = "error",
    unknown: Annotated[
        str,
        typer.Option(
            "--unknown",
            help="A category unseen in training, at prediction time: "
            "error, or ignore (all-zero one-hot).",
        ),
    ] = "error",
    dask: Annotated[
        str | None,
        typer.Option(
            "--dask",
            metavar="[ADDRESS]",
            help="Fit on Dask: a local cluster, or the scheduler at ADDRESS "
            "(e.g. tcp://host:8786). Put it after DATA, or write --dask=ADDRESS.",
        ),
    ] = None,
    workers: Annotated[
        int | None,
        typer.Option(
            "--workers", help="Worker processes of the local Dask cluster (default: CPUs)."
        ),
    ] = None,
    fmt: Format = None,
    force: Force = False,
    quiet: Quiet = False,
    debug: Debug = False,
) -> None:
    """Fit a softmax-regression model to DATA and write it to a model file.

    DATA is a CSV, Parquet or svmlight file, a folder of Parquet files, or a glob
    (quote it: 'data/part-*.parquet').
    """
    _fit(
        data,
        target=target,
        output=output,
        features=expand_columns(features),
        drop=expand_columns(drop),
        C=C,
        penalty=penalty,
        class_weight=class_weight,
        test_size=test_size,
        seed=seed,
        max_iter=max_iter,
        tol=tol,
        solver=solver,
        missing=missing,
        unknown=unknown,
        fmt=fmt,
        force=force,
        quiet=quiet,
        dask=dask,
        workers=workers,
    )


# --------------------------------------------------------------------------- #
# predict
# --------------------------------------------------------------------------- #
def _predict(
    model_path: str,
    data: str,
    *,
    output: str | None,
    proba: bool,
    id_col: str | None,
    fmt: str | None,
    force: bool,
    quiet: bool,
    chunk_rows: int = 100_000,
) -> int:
    import pandas as pd

    from softmax._atomic import atomic_path, check_writable
    from softmax.io import infer_format, iter_table

    if output:
        check_writable(output, overwrite=force)
    out_fmt = output_format(output) if output else "csv"
    model, _meta = _load(model_path, kinds=_SOFTMAX_KINDS)
    clf = _estimator(model)
    classes = clf.classes_
    in_fmt = infer_format(data, fmt)
    source = Path(data).name
    pipeline = _is_pipeline(model)
    if pipeline and in_fmt == "svmlight":
        raise UserError(
            f"this model reads named columns, but {source} is an svmlight file; give a CSV "
            "or Parquet file with the model's columns"
        )
    if not pipeline and in_fmt != "svmlight":
        raise UserError(
            "this model has no column encoding (it was fitted on svmlight data, or saved "
            f"from Python without a TabularEncoder), so it reads svmlight files; {source} is "
            f"{in_fmt}: give an svmlight file"
        )
    if id_col is not None and not pipeline:
        raise UserError("--id needs a CSV or Parquet file; svmlight rows have no id column")

    trained_target = _record(_meta).get("target")
    ignored: list[str] = []
    overflow: list[str] = []  # NumPy's floating-point warnings, one note at the end

    def probabilities(predictor: Any, X: Any) -> np.ndarray:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", RuntimeWarning)
            P = np.asarray(predictor.predict_proba(X))
        overflow.extend(str(w.message) for w in caught if issubclass(w.category, RuntimeWarning))
        return P

    def frames(path: Path | None) -> int:
        writer = PredictionWriter(path, out_fmt)
        try:
            if pipeline:
                encoder = model.named_steps["encoder"]
                # Categorical columns are read as text in every chunk, so that a chunk
                # whose values all look like numbers encodes like the others.
                text = {c.name: str for c in encoder.columns_ if c.kind == "categorical"}
                chunks = iter_table(
                    data, format=fmt, chunk_rows=chunk_rows, dtype=text if in_fmt == "csv" else None
                )
            else:
                chunks = iter_table(
                    data, format=fmt, n_features=clf.n_features_in_,
                    zero_based=_record(_meta).get("data", {}).get("zero_based"),
                )  # fmt: skip
            first = True
            for chunk in chunks:
                if pipeline:
                    chunk.columns = [str(c) for c in chunk.columns]
                    if first:
                        extra = check_model_columns(chunk, encoder, source)
                        if id_col is not None and id_col not in chunk.columns:
                            raise UserError(
                                f"unknown --id column {id_col!r}; the columns of {source} "
                                f"are: {', '.join(chunk.columns)}"
                            )
                        ignored.extend(c for c in extra if c not in (id_col, trained_target))
                    check_missing_for_model(chunk, encoder, source)
                    P = probabilities(model, chunk)
                    result = pd.DataFrame(index=range(chunk.shape[0]))
                    if id_col is not None:
                        result[id_col] = chunk[id_col].to_numpy()
                else:
                    X, _ = chunk
                    P = probabilities(clf, X)
                    result = pd.DataFrame(index=range(X.shape[0]))
                first = False
                result["predicted"] = classes[np.argmax(P, axis=1)]
                if proba:
                    for k, c in enumerate(classes):
                        result[f"proba_{c}"] = P[:, k]
                writer.write(result)
        finally:
            writer.close()
        return writer.rows

    if output is None:
        n = frames(None)
        _overflow_warning(overflow)
        if ignored and not quiet:
            print(
                f"note: ignored column(s) the model does not use: {', '.join(ignored)}",
                file=sys.stderr,
            )
    else:
        with atomic_path(output, overwrite=force) as tmp:
            n = frames(tmp)
        _overflow_warning(overflow)
        if not quiet:
            if ignored:
                print(
                    f"note: ignored column(s) the model does not use: {', '.join(ignored)}",
                    file=sys.stderr,
                )
            print(f"wrote {n} predictions to {output}", file=sys.stderr)
    return n


@app.command()
def predict(
    model: Annotated[str, typer.Argument(help="Model file written by `softmax fit`.")],
    data: Annotated[str, typer.Argument(help="CSV, Parquet or svmlight file.")],
    output: Annotated[
        str | None,
        typer.Option("--output", "-o", help="*.csv or *.parquet; default: CSV on stdout."),
    ] = None,
    proba: Annotated[
        bool, typer.Option("--proba", help="Add one probability column per class.")
    ] = False,
    id_col: Annotated[
        str | None, typer.Option("--id", help="Column copied to the output to identify rows.")
    ] = None,
    fmt: Format = None,
    force: Force = False,
    quiet: Quiet = False,
    debug: Debug = False,
) -> None:
    """Predict the class of every row of DATA (streamed in chunks)."""
    _predict(
        model, data, output=output, proba=proba, id_col=id_col, fmt=fmt, force=force, quiet=quiet
    )


# --------------------------------------------------------------------------- #
# evaluate
# --------------------------------------------------------------------------- #
def _evaluate(
    model_path: str,
    data: str,
    *,
    target: str | None,
    report: str | None,
    fmt: str | None,
    force: bool,
    quiet: bool,
    missing: str = "error",
) -> dict[str, Any]:
    from softmax._atomic import check_writable
    from softmax.io import read_table
    from softmax.report import classification_metrics, write_html_report

    if missing not in ("error", "drop"):
        raise UserError(f"--missing {missing!r} is not one of error, drop")
    if report:
        check_writable(report, overwrite=force)
    model, meta = _load(model_path, kinds=_SOFTMAX_KINDS)
    clf = _estimator(model)
    record = _record(meta)
    label_column = target or record.get("target")
    table = read_table(
        data,
        format=fmt,
        text_columns=[label_column] if label_column else [],
        zero_based=record.get("data", {}).get("zero_based"),  # as the training file's
    )
    source = Path(data).name
    dropped = 0
    if isinstance(table, tuple):
        if _is_pipeline(model):
            raise UserError(
                f"this model reads named columns, but {source} is an svmlight file; give a "
                "CSV or Parquet file with the model's columns"
            )
        X, y = table
        if X.shape[1] > clf.n_features_in_:
            raise UserError(
                f"{source} has {X.shape[1]} features but the model was trained on "
                f"{clf.n_features_in_}"
            )
        if X.shape[1] < clf.n_features_in_:
            X.resize((X.shape[0], clf.n_features_in_))
        target_name = "label"
    else:
        if not _is_pipeline(model):
            raise UserError(
                "this model has no column encoding (it was fitted on svmlight data, or saved "
                f"from Python without a TabularEncoder), so it reads svmlight files; {source} "
                "is a table: give an svmlight file"
            )
        df = table
        df.columns = [str(c) for c in df.columns]
        target = target or record.get("target")
        if target is None:
            raise UserError(f"--target is required: name the column of {source} with the labels")
        if target not in df.columns:
            raise UserError(
                f"unknown target column {target!r} in {source}; its columns are: "
                f"{', '.join(df.columns)}"
            )
        y_missing = df[target].isna()
        dropped = int(y_missing.sum())
        df = df.loc[~y_missing]
        if df.shape[0] == 0:
            raise UserError(f"target column {target!r} of {source} has no values")
        encoder = model.named_steps["encoder"]
        check_model_columns(df, encoder, source)
        if missing == "drop":
            no_fill = [c.name for c in encoder.columns_ if c.fill is None]
            n_before = df.shape[0]
            df = df.dropna(subset=no_fill)
            dropped += n_before - df.shape[0]
            if df.shape[0] == 0:
                raise UserError(f"no rows of {source} are complete; nothing to evaluate")
        check_missing_for_model(df, encoder, source, hint="pass --missing drop to skip them, ")
        y = labels_from_series(df[target])
        X = df
        target_name = target
    y = align_labels(y, clf.classes_, source, target_name)
    proba = model.predict_proba(X)
    metrics = classification_metrics(y, proba, clf.classes_)
    metrics["rows_left_out"] = dropped

    if report:
        fit_rec = record.get("fit") or {}
        history = fit_rec.get("objective_history") or getattr(clf, "objective_history_", None)
        feature_names = meta.get("feature_names") or [f"x{i}" for i in range(clf.coef_.shape[1])]
        details = {
            "model file": Path(model_path).name,
            "evaluated on": f"{source} ({metrics['n_samples']} rows)",
            "trained on": (record.get("data") or {}).get("file", "-"),
            "target": target_name,
            "classes": ", ".join(map(str, clf.classes_)),
            "features": len(feature_names),
            "hyperparameters": ", ".join(
                f"{k}={v}"
                for k, v in sorted((meta.get("hyperparameters") or {}).items())
                if k in ("C", "penalty", "class_weight", "solver", "tol", "max_iter")
            ),
            "library version": meta.get("library_version", "-"),
            "written": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        }
        write_html_report(
            report,
            metrics=metrics,
            y_true=y,
            proba=proba,
            classes=clf.classes_,
            objective_history=history,
            coef=clf.coef_,
            feature_names=feature_names,
            title=f"softmax evaluation: {Path(model_path).name} on {source}",
            details=details,
            overwrite=force,
        )
    if not quiet:
        _print_metrics(metrics, source, report, dropped)
    return metrics


def _print_metrics(m: dict[str, Any], source: str, report: str | None, dropped: int) -> None:
    from rich.table import Table

    out, _ = _consoles()
    t = Table(title=f"evaluation on {source} ({m['n_samples']} rows)", title_justify="left")
    t.add_column("metric")
    t.add_column("value", justify="right")
    for key, label in (
        ("accuracy", "accuracy"),
        ("balanced_accuracy", "balanced accuracy"),
        ("log_loss", "log-loss"),
        ("brier_score", "Brier score"),
        ("ece", "expected calibration error"),
    ):
        t.add_row(label, _fmt(m[key]))
    out.print(t)
    pc = Table(title="per class", title_justify="left")
    for col in ("class", "precision", "recall", "F1", "support"):
        pc.add_column(col, justify="left" if col == "class" else "right")
    for r in m["per_class"]:
        pc.add_row(
            r["class"], _fmt(r["precision"]), _fmt(r["recall"]), _fmt(r["f1"]), str(r["support"])
        )
    out.print(pc)
    cm = Table(
        title="confusion matrix",
        caption="rows: true class; columns: predicted class",
        title_justify="left",
        caption_justify="left",
    )
    cm.add_column("")
    for c in m["classes"]:
        cm.add_column(c, justify="right")
    for c, row in zip(m["classes"], m["confusion_matrix"], strict=True):
        cm.add_row(c, *map(str, row))
    out.print(cm)
    if dropped:
        out.print(
            f"{dropped} row(s) without a label or with missing values were left out",
            highlight=False,
        )
    if report:
        out.print(f"report written to {report}", highlight=False)


@app.command()
def evaluate(
    model: Annotated[str, typer.Argument(help="Model file written by `softmax fit`.")],
    data: Annotated[str, typer.Argument(help="CSV, Parquet or svmlight file with labels.")],
    target: Annotated[
        str | None,
        typer.Option("--target", "-t", help="Label column; default: the one used in training."),
    ] = None,
    report: Annotated[
        str | None, typer.Option("--report", help="Write a self-contained HTML report here.")
    ] = None,
    missing: Annotated[
        str,
        typer.Option(
            "--missing",
            help="Rows with missing values the model cannot fill: error, or drop them.",
        ),
    ] = "error",
    fmt: Format = None,
    force: Force = False,
    quiet: Quiet = False,
    debug: Debug = False,
) -> None:
    """Accuracy, log-loss, Brier score, calibration, per-class table and confusion matrix."""
    _evaluate(
        model,
        data,
        target=target,
        report=report,
        fmt=fmt,
        force=force,
        quiet=quiet,
        missing=missing,
    )


# --------------------------------------------------------------------------- #
# info, export
# --------------------------------------------------------------------------- #
@app.command()
def info(
    model: Annotated[str, typer.Argument(help="Model file.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print the metadata as JSON.")] = False,
    debug: Debug = False,
) -> None:
    """Classes, features and encodings, hyperparameters, training record, versions."""
    import json

    from rich.table import Table

    from softmax.io import read_metadata

    if not Path(model).exists():
        raise FileNotFoundError(f"no such model file: {model!r}; check the path")
    meta = read_metadata(model)
    if as_json:
        typer.echo(json.dumps(meta, indent=2))
        return
    out, _ = _consoles()
    rec = _record(meta)
    t = Table(title=f"model file {model}", show_header=False, title_justify="left")
    t.add_column(style="bold")
    t.add_column()
    t.add_row("kind", str(meta.get("kind")))
    t.add_row("format version", str(meta.get("format_version")))
    t.add_row("library version", str(meta.get("library_version")))
    classes = meta.get("classes") or []
    t.add_row("classes", f"{len(classes)}: {', '.join(map(str, classes))}")
    names = meta.get("feature_names")
    # Without names (svmlight data, NumPy arrays), the count the model was fitted on.
    t.add_row("features", str(len(names) if names else meta.get("n_features_in", "-")))
    hp = meta.get("hyperparameters") or {}
    t.add_row("hyperparameters", ", ".join(f"{k}={v}" for k, v in sorted(hp.items())))
    if rec:
        data = rec.get("data") or {}
        target = rec.get("target")
        where = f", target {target}" if target else f" ({data.get('format', 'its own labels')})"
        t.add_row("trained on", f"{data.get('file', '-')}{where}")
        split = rec.get("split") or {}
        t.add_row(
            "rows",
            f"{split.get('n_train', '-')} train, {split.get('n_test', '-')} "
            f"held out; missing values: {rec.get('missing', '-')}",
        )
        f = rec.get("fit") or {}
        t.add_row(
            "fit",
            f"{f.get('solver')}, {f.get('n_iter')} iterations, "
            f"{'converged' if f.get('converged') else 'not converged'}, "
            f"{f.get('seconds')} s",
        )
        for key, label in (("train_metrics", "train"), ("test_metrics", "held out")):
            m = rec.get(key)
            if m:
                t.add_row(
                    label,
                    f"accuracy {_fmt(m.get('accuracy'))}, log-loss "
                    f"{_fmt(m.get('log_loss'))}, Brier {_fmt(m.get('brier_score'))}, "
                    f"ECE {_fmt(m.get('ece'))}",
                )
        t.add_row("created", str(rec.get("created", "-")))
    out.print(t)
    enc = meta.get("encoder")
    if enc:
        et = Table(title="input columns and their encoding", title_justify="left")
        for col in ("column", "kind", "categories", "fill (missing)"):
            et.add_column(col)
        for c in enc.get("columns", []):
            cats = c.get("categories") or []
            et.add_row(
                c["name"],
                c["kind"],
                ", ".join(cats[:8]) + (" ..." if len(cats) > 8 else ""),
                "-" if c.get("fill") is None else str(c["fill"]),
            )
        out.print(et)
        out.print(f"unseen categories at prediction time: {enc.get('unknown')}", highlight=False)
    else:
        names = meta.get("feature_names") or [
            f"x{i}" for i in range(int(meta.get("n_features_in") or 0))
        ]
        out.print(
            f"features: {', '.join(map(str, names[:20]))}" + (" ..." if len(names) > 20 else ""),
            highlight=False,
        )


@app.command()
def export(
    model: Annotated[str, typer.Argument(help="Model file.")],
    onnx: Annotated[str, typer.Option("--onnx", help="ONNX file to write.")],
    force: Force = False,
    quiet: Quiet = False,
    debug: Debug = False,
) -> None:
    """Export the model (with its column encoding) as an ONNX graph."""
    from softmax._atomic import check_writable
    from softmax.io import export_onnx
    from softmax.io._onnx import _EXPORTABLE

    check_writable(onnx, overwrite=force)
    loaded, _ = _load(model, kinds=tuple(_EXPORTABLE))
    export_onnx(loaded, onnx, overwrite=force)
    if not quiet:
        print(
            f"wrote {onnx}: inputs "
            + ("one per column" if _is_pipeline(loaded) else "'X' float32")
            + "; outputs 'label' (class index) and 'probabilities'",
            file=sys.stderr,
        )


# --------------------------------------------------------------------------- #
# demo
# --------------------------------------------------------------------------- #
DEMO_FILES = ("train.csv", "test.csv", "model.safetensors", "report.html", "predictions.csv")


@app.command()
def demo(
    output_dir: Annotated[
        str, typer.Option("--output-dir", "-d", help="Folder for the files it writes.")
    ] = "demo-output",
    force: Force = False,
    quiet: Quiet = False,
    debug: Debug = False,
) -> None:
    """Fit, evaluate and report on the bundled Palmer penguins data (344 penguins, 3 species)."""
    from sklearn.model_selection import train_test_split

    from softmax._atomic import atomic_path
    from softmax.datasets import load_penguins

    folder = Path(output_dir)
    if folder.exists() and not folder.is_dir():
        raise UserError(f"--output-dir {output_dir!r} is a file; give a folder")
    existing = [f for f in DEMO_FILES if (folder / f).exists()]
    if existing and not force:
        raise FileExistsError(
            f"{folder / existing[0]} already exists; pass --force to overwrite the demo's "
            "files or choose another --output-dir"
        )
    folder.mkdir(parents=True, exist_ok=True)
    out, _ = _consoles()
    df = load_penguins()
    train, test = train_test_split(df, test_size=0.25, random_state=0, stratify=df["species"])
    paths = {name: str(folder / name) for name in DEMO_FILES}
    for name, part in (("train.csv", train), ("test.csv", test)):
        with atomic_path(paths[name], overwrite=True) as tmp:
            part.to_csv(tmp, index=False)
    if not quiet:
        n_incomplete = int(df.isna().any(axis=1).sum())
        out.print(
            f"[bold]softmax demo[/bold]: Palmer penguins ({df.shape[0]} rows, "
            f"{n_incomplete} with missing values): predict species from island, bill, "
            f"flipper, mass, sex, year.\n{train.shape[0]} rows to train, "
            f"{test.shape[0]} held out for evaluation.",
            highlight=False,
        )
        out.print(
            f"$ softmax fit {paths['train.csv']} --target species --missing impute "
            f"--test-size 0 -o {paths['model.safetensors']}",
            highlight=False,
            style="dim",
        )
    _fit(
        paths["train.csv"],
        target="species",
        output=paths["model.safetensors"],
        features=[],
        drop=[],
        C=1.0,
        penalty="l2",
        class_weight=None,
        test_size=0.0,
        seed=0,
        max_iter=1000,
        tol=1e-8,
        solver="auto",
        missing="impute",
        unknown="error",
        fmt=None,
        force=True,
        quiet=quiet,
    )
    if not quiet:
        out.print(
            f"$ softmax evaluate {paths['model.safetensors']} {paths['test.csv']} "
            f"--target species --report {paths['report.html']}",
            highlight=False,
            style="dim",
        )
    _evaluate(
        paths["model.safetensors"],
        paths["test.csv"],
        target="species",
        report=paths["report.html"],
        fmt=None,
        force=True,
        quiet=quiet,
    )
    _predict(
        paths["model.safetensors"],
        paths["test.csv"],
        output=paths["predictions.csv"],
        proba=True,
        id_col=None,
        fmt=None,
        force=True,
        quiet=True,
    )
    if not quiet:
        out.print(f"\nFiles in {folder}/:", highlight=False)
        for name, what in (
            ("report.html", "the evaluation report with plots; open it in a browser"),
            (
                "model.safetensors",
                "the model (try: softmax info " + paths["model.safetensors"] + ")",
            ),
            ("predictions.csv", "predicted species and probabilities for test.csv"),
            ("train.csv", "the training rows"),
            ("test.csv", "the held-out rows"),
        ):
            out.print(f"  {paths[name]:<40} {what}", highlight=False)
        out.print(f"\nOpen {(folder / 'report.html').resolve().as_uri()}", highlight=False)


# --------------------------------------------------------------------------- #
# entry point
# --------------------------------------------------------------------------- #
def _one_line(exc: BaseException) -> str:
    if isinstance(exc, OSError) and exc.filename is not None and exc.strerror:
        text = f"{exc.strerror}: {exc.filename!r}"
        if isinstance(exc, PermissionError):
            text += "; choose a path you can write"
    else:
        text = str(exc) or type(exc).__name__
    if isinstance(exc, KeyError):
        text = f"unknown key {text}"
    return " ".join(text.split())


def _framework_exit(exc: Exception, debug: bool) -> int | None:
    """Exit code for Typer's own exceptions (help, --version, usage errors), else None.

    They come from click, or from the copy of click that recent Typer versions
    vendor, so they are told apart by name and attributes rather than by class.
    """
    kind = type(exc).__name__
    if kind == "Exit" and hasattr(exc, "exit_code"):
        return int(exc.exit_code)
    if kind == "Abort":
        print("error: aborted", file=sys.stderr)
        return 130
    if not (hasattr(exc, "format_message") and hasattr(exc, "exit_code")):
        return None
    if kind == "NoArgsIsHelpError":  # bare `softmax`: the help text
        print(exc.format_message())
        return 0
    if debug:
        traceback.print_exc()
    ctx = getattr(exc, "ctx", None)
    hint = f" (see '{ctx.command_path} --help')" if ctx is not None else ""
    print(f"error: {' '.join(exc.format_message().split())}{hint}", file=sys.stderr)
    return int(exc.exit_code)


def _looks_like_address(arg: str) -> bool:
    """``tcp://host:8786``, ``host:8786``: what a Dask scheduler address looks like."""
    if "://" in arg:
        return True
    host, sep, port = arg.rpartition(":")
    return bool(sep and host and port.isdigit())


def _dask_value(args: list[str]) -> list[str]:
    """``--dask`` with no address becomes ``--dask=local``.

    Click options take a value or none, not an optional one; ``--dask`` is
    followed by an address only when the next word looks like one, so that
    ``softmax fit --dask data/ -t y`` keeps ``data/`` as DATA.
    """
    from softmax._cli_dask import LOCAL

    out: list[str] = []
    i = 0
    while i < len(args):
        arg = args[i]
        if arg == "--":
            out.extend(args[i:])
            break
        if arg == "--dask":
            nxt = args[i + 1] if i + 1 < len(args) else None
            if nxt is not None and _looks_like_address(nxt):
                out.append(f"--dask={nxt}")
                i += 2
                continue
            arg = f"--dask={LOCAL}"
        out.append(arg)
        i += 1
    return out


def main(argv: list[str] | None = None) -> int:
    """Run the command line; returns the exit code.

    0: success; 1: bad input (one line on stderr); 2: malformed command line;
    3: an internal error (a bug; ``--debug`` shows the traceback); 130: interrupted.
    """
    args = _dask_value(list(sys.argv[1:] if argv is None else argv))
    debug = "--debug" in args
    command = typer.main.get_command(app)
    try:
        rv = command.main(args=args, prog_name="softmax", standalone_mode=False)
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:
        code = _framework_exit(exc, debug)
        if code is not None:
            return code
        if debug:
            traceback.print_exc()
        if isinstance(exc, ModuleNotFoundError):
            print(
                f"error: this needs the module {exc.name!r}; install it with "
                "pip install 'softmax[cli,onnx]'",
                file=sys.stderr,
            )
            return 1
        if isinstance(exc, ValueError | OSError | LookupError | ImportError):
            # Bad input (files, columns, values, model files): one line, what to do.
            print(f"error: {_one_line(exc)}", file=sys.stderr)
            return 1
        # A bug: still one line; the traceback on request.
        print(
            f"error: internal error ({type(exc).__name__}: {_one_line(exc)}); rerun with "
            "--debug for the traceback and report it",
            file=sys.stderr,
        )
        return 3
    return int(rv) if isinstance(rv, int) else 0
