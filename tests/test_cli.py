"""The `softmax` command: the real entry point, its exit codes, output and files.

Most cases call :func:`softmax.cli.main` in-process (capturing stdout and
stderr), which is the same code path as the console script; a few run
``python -m softmax`` in a subprocess to check the real process (exit codes,
no traceback, the demo end to end).
"""

from __future__ import annotations

import io
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from sklearn.datasets import dump_svmlight_file
from sklearn.metrics import accuracy_score, log_loss

import softmax
from softmax.cli import _predict, main
from softmax.datasets import load_penguins, penguins_path

sys.path.insert(0, str(Path(__file__).parent / "report"))
from _html_checks import check_report

ROOT = Path(__file__).resolve().parents[1]


def run_subprocess(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        [str(ROOT / "src"), *([env["PYTHONPATH"]] if env.get("PYTHONPATH") else [])]
    )
    return subprocess.run(
        [sys.executable, "-m", "softmax", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def run(capsys, *args: str) -> tuple[int, str, str]:
    code = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


def assert_one_line_error(code: int, err: str, *fragments: str) -> None:
    assert code == 1, err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("error: ")
    assert "Traceback" not in err
    for f in fragments:
        assert f in lines[0], (f, lines[0])


# --------------------------------------------------------------------------- #
# data and a model shared by the tests of this module
# --------------------------------------------------------------------------- #
def make_table(rng: np.random.Generator, n: int) -> pd.DataFrame:
    x1 = rng.normal(size=n)
    x2 = rng.integers(-3, 4, size=n).astype(float)
    color = rng.choice(["red", "green", "blue"], size=n)
    logits = np.stack([2 * x1, x2, 2.0 * (color == "red")], axis=1) + rng.gumbel(size=(n, 3))
    y = np.array(["ant", "bee", "cat"])[np.argmax(logits, axis=1)]
    df = pd.DataFrame(
        {"row_id": np.arange(n) + 1000, "x1": x1, "x2": x2, "color": color, "label": y}
    )
    df.loc[rng.random(n) < 0.08, "x1"] = np.nan
    df.loc[rng.random(n) < 0.08, "color"] = None
    return df


@pytest.fixture(scope="module")
def work(tmp_path_factory):
    rng = np.random.default_rng(7)
    d = tmp_path_factory.mktemp("cli")
    make_table(rng, 240).to_csv(d / "train.csv", index=False)
    make_table(rng, 90).to_csv(d / "test.csv", index=False)
    code = main(
        [
            "fit",
            str(d / "train.csv"),
            "--target",
            "label",
            "--drop",
            "row_id",
            "--missing",
            "impute",
            "-o",
            str(d / "model.st"),
            "--quiet",
        ]
    )
    assert code == 0
    return d


# --------------------------------------------------------------------------- #
# fit
# --------------------------------------------------------------------------- #
def test_fit_prints_progress_and_summary_and_records_training(tmp_path, capsys, work):
    model = tmp_path / "m.st"
    code, out, err = run(
        capsys,
        "fit",
        work / "train.csv",
        "--target",
        "label",
        "--features",
        "x1,x2",
        "--features",
        "color",
        "--missing",
        "drop",
        "--test-size",
        "0.25",
        "--seed",
        "3",
        "--C",
        "2.5",
        "-o",
        model,
    )
    assert code == 0, err
    # not a terminal: plain per-iteration log lines on stderr
    iteration_lines = [line for line in err.splitlines() if line.startswith("iteration")]
    assert iteration_lines and "objective" in iteration_lines[0]
    assert "gradient norm" in iteration_lines[0]
    for word in ("classes", "ant, bee, cat", "features", "converged", "train", "held out"):
        assert word in out, word
    meta = softmax.io.read_metadata(model)
    assert meta["hyperparameters"]["C"] == 2.5
    rec = meta["metadata"]
    assert rec["target"] == "label" and rec["features"] == ["x1", "x2", "color"]
    assert rec["missing"] == "drop" and rec["data"]["rows_dropped"] > 0
    n_used = 240 - rec["data"]["rows_dropped"]
    assert rec["split"]["n_train"] + rec["split"]["n_test"] == n_used
    assert rec["split"]["n_test"] == int(np.ceil(0.25 * n_used))
    hist = rec["fit"]["objective_history"]
    assert len(hist) == rec["fit"]["n_iter"] + 1 and hist[-1] <= hist[0]
    assert len(iteration_lines) == rec["fit"]["n_iter"]
    # the recorded held-out metrics are those of the saved model on the held-out rows
    assert rec["train_metrics"]["accuracy"] > 0.5
    assert 0 < rec["test_metrics"]["log_loss"] < np.log(3)


def test_fit_matches_the_python_api(tmp_path, capsys, work):
    model = tmp_path / "m.st"
    code, _, err = run(
        capsys,
        "fit",
        work / "train.csv",
        "--target",
        "label",
        "--drop",
        "row_id",
        "--missing",
        "impute",
        "--test-size",
        "0",
        "--class-weight",
        "balanced",
        "--penalty",
        "none",
        "-o",
        model,
        "-q",
    )
    assert code == 0 and err == ""
    df = pd.read_csv(work / "train.csv")
    pipe = softmax.io.load(model)
    from sklearn.pipeline import Pipeline

    ref = Pipeline(
        [
            ("encoder", softmax.io.TabularEncoder(impute=True)),
            ("model", softmax.SoftmaxRegression(penalty=None, class_weight="balanced")),
        ]
    ).fit(df.drop(columns=["row_id", "label"]), df["label"].to_numpy(dtype=object))
    np.testing.assert_allclose(pipe.predict_proba(df), ref.predict_proba(df), atol=1e-7)


def test_quiet_prints_nothing(tmp_path, capsys, work):
    code, out, err = run(
        capsys,
        "fit",
        work / "train.csv",
        "--target",
        "label",
        "--missing",
        "impute",
        "-o",
        tmp_path / "m.st",
        "--quiet",
    )
    assert (code, out, err) == (0, "", "")


def test_fit_never_overwrites_without_force(tmp_path, capsys, work):
    model = tmp_path / "m.st"
    model.write_bytes(b"precious")
    args = ["fit", work / "train.csv", "--target", "label", "--missing", "impute", "-o", model]
    code, _, err = run(capsys, *args, "-q")
    assert_one_line_error(code, err, "already exists", "--force")
    assert model.read_bytes() == b"precious"
    code, _, err = run(capsys, *args, "-q", "--force")
    assert code == 0, err
    assert softmax.io.read_metadata(model)["classes"] == ["ant", "bee", "cat"]


def test_fit_keeps_a_class_too_rare_to_hold_out_for_training(tmp_path, capsys):
    # One row of class "dog": the split cannot be stratified, and a held-out
    # "dog" used to end the command after the fit (labels do not cover y_true).
    rng = np.random.default_rng(0)
    df = make_table(rng, 120).drop(columns=["color", "row_id"]).dropna()
    df.loc[df.index[7], "label"] = "dog"
    df.to_csv(tmp_path / "rare.csv", index=False)
    for seed in range(8):
        model = tmp_path / f"m{seed}.st"
        code, _, err = run(
            capsys, "fit", tmp_path / "rare.csv", "-t", "label", "-o", model, "--seed", seed, "-q"
        )
        assert code == 0, (seed, err)
        meta = softmax.io.read_metadata(model)
        assert meta["classes"] == ["ant", "bee", "cat", "dog"]


def test_class_codes_keep_their_written_form(tmp_path, capsys):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(90, 2))
    k = np.argmax(X @ rng.normal(size=(2, 3)), axis=1)
    for name, codes, classes in [
        ("codes", ["01", "02", "10"], ["01", "02", "10"]),  # were read as 1, 2, 10
        ("mixed", ["1", "01", "1.0"], ["01", "1", "1.0"]),  # were one class, 1
        ("numbers", ["3", "-1", "12"], [-1, 3, 12]),  # canonical numbers stay numbers
    ]:
        df = pd.DataFrame({"x1": X[:, 0], "x2": X[:, 1], "label": np.array(codes)[k]})
        df.to_csv(tmp_path / f"{name}.csv", index=False)
        model = tmp_path / f"{name}.st"
        data = tmp_path / f"{name}.csv"
        code, _, err = run(capsys, "fit", data, "-t", "label", "-o", model, "-q")
        assert code == 0, err
        assert softmax.io.read_metadata(model)["classes"] == classes
        code, _, err = run(capsys, "evaluate", model, data)
        assert code == 0, err


@pytest.mark.parametrize("zero_based", [False, True])
def test_svmlight_files_are_read_with_the_training_file_s_numbering(tmp_path, capsys, zero_based):
    # predict streamed files as 0-based (1-based libsvm files shifted by a column),
    # and evaluate guessed per file (one that never uses feature 0 read as 1-based).
    rng = np.random.default_rng(2)
    X = rng.normal(size=(300, 3))
    y = np.where(X[:, 0] - X[:, 1] + rng.normal(size=300) > 0, 1, 0)
    base = 0 if zero_based else 1

    def write(path, rows, cols):
        lines = [f"{y[i]} " + " ".join(f"{j + base}:{X[i, j]:.6f}" for j in cols) for i in rows]
        path.write_text("\n".join(lines) + "\n")

    write(tmp_path / "train.svm", range(300), range(3))
    # new rows without the first (0-based) or the last (1-based) feature
    write(tmp_path / "new.svm", range(40), [1, 2] if zero_based else [0, 1])
    model = tmp_path / "m.st"
    args = ["fit", tmp_path / "train.svm", "-o", model, "--test-size", "0", "-q"]
    assert run(capsys, *args)[0] == 0
    fitted = softmax.io.load(model)
    X_new = X[:40].copy()
    X_new[:, 0 if zero_based else 2] = 0.0
    expected = fitted.predict(np.round(X_new, 6))
    code, out, err = run(capsys, "predict", model, tmp_path / "new.svm", "-q")
    assert code == 0, err
    predicted = pd.read_csv(io.StringIO(out))["predicted"].to_numpy()
    np.testing.assert_array_equal(predicted, expected)
    code, out, err = run(capsys, "evaluate", model, tmp_path / "new.svm")
    assert code == 0, err
    assert f"{np.mean(expected == y[:40]):.4f}" in out
    code, out, err = run(capsys, "info", model)
    assert code == 0, err
    assert re.search(r"features\s*│\s*3\b", out), out  # no names: the count fitted on


def test_dask_reading_keeps_class_codes_as_written(tmp_path):
    # --dask parsed the CSV target as numbers: codes 07 and 7 became one class.
    pytest.importorskip("dask.dataframe")
    import pandas as pd

    from softmax import _cli_dask as cd

    pd.DataFrame({"a": [1.0, 2.0, 3.0], "code": ["07", "7", "10"]}).to_csv(
        tmp_path / "c.csv", index=False
    )
    ddf = cd.read_dask([str(tmp_path / "c.csv")], "csv", text_columns=["code"])
    labels = ddf["code"].compute()
    kind = cd.label_kind(labels)
    assert kind == "str"
    assert sorted(cd._labels(labels, kind).tolist()) == ["07", "10", "7"]
    # canonical numbers stay numbers, as in memory
    numbers = pd.Series(["3", "-1", "12"], dtype=object)
    assert cd.label_kind(numbers) == "int"
    assert cd._labels(numbers, "int").tolist() == [3, -1, 12]


def test_live_progress_on_a_terminal():
    import io

    from rich.console import Console

    from softmax._cli_support import Progress

    buf = io.StringIO()
    console = Console(file=buf, force_terminal=True, width=120)
    with Progress(console, quiet=False) as p:
        assert p.live
        for it in range(1, 4):
            p.update(it, 1.0 / it, 10.0**-it)
    text = buf.getvalue()
    assert "objective" in text and "gradient norm" in text


# --------------------------------------------------------------------------- #
# predict
# --------------------------------------------------------------------------- #
def test_predict_to_stdout_matches_the_model(capsys, work):
    code, out, err = run(capsys, "predict", work / "model.st", work / "test.csv", "--id", "row_id")
    assert code == 0, err
    got = pd.read_csv(__import__("io").StringIO(out))
    assert got.columns.tolist() == ["row_id", "predicted"]
    df = pd.read_csv(work / "test.csv")
    pipe = softmax.io.load(work / "model.st")
    np.testing.assert_array_equal(got["row_id"], df["row_id"])
    np.testing.assert_array_equal(got["predicted"], pipe.predict(df))
    assert "ignored column(s)" not in err  # the target and the id are expected


def test_predict_files_with_probabilities(tmp_path, capsys, work):
    df = pd.read_csv(work / "test.csv")
    pipe = softmax.io.load(work / "model.st")
    for name in ("p.csv", "p.parquet"):
        out = tmp_path / name
        code, _, err = run(
            capsys, "predict", work / "model.st", work / "test.csv", "-o", out, "--proba"
        )
        assert code == 0, err
        assert f"wrote 90 predictions to {out}" in err
        got = pd.read_csv(out) if name.endswith("csv") else pd.read_parquet(out)
        assert got.columns.tolist() == ["predicted", "proba_ant", "proba_bee", "proba_cat"]
        np.testing.assert_allclose(got.iloc[:, 1:].to_numpy(), pipe.predict_proba(df), rtol=1e-12)
        code, _, err = run(capsys, "predict", work / "model.st", work / "test.csv", "-o", out)
        assert_one_line_error(code, err, "already exists", "--force")


def test_predict_streams_in_chunks(tmp_path, work):
    """Chunked prediction (7 rows at a time) equals predicting the whole table."""
    whole, chunked = tmp_path / "a.parquet", tmp_path / "b.parquet"
    kwargs = dict(proba=True, id_col="row_id", fmt=None, force=False, quiet=True)
    assert (
        _predict(str(work / "model.st"), str(work / "test.csv"), output=str(whole), **kwargs) == 90
    )
    assert (
        _predict(
            str(work / "model.st"),
            str(work / "test.csv"),
            output=str(chunked),
            chunk_rows=7,
            **kwargs,
        )
        == 90
    )
    pd.testing.assert_frame_equal(pd.read_parquet(whole), pd.read_parquet(chunked))


def test_predict_reads_categorical_columns_as_text_in_every_chunk(tmp_path, capsys):
    # "code" holds numbers in the first rows and letters later: as text in
    # every chunk, "1" means the same category everywhere.
    df = pd.DataFrame({"code": ["1", "2", "a", "b"] * 10, "y": ["p", "q", "p", "q"] * 10})
    df.to_csv(tmp_path / "d.csv", index=False)
    model = tmp_path / "m.st"
    assert run(capsys, "fit", tmp_path / "d.csv", "--target", "y", "-o", model, "-q")[0] == 0
    kwargs = dict(proba=False, id_col=None, fmt=None, force=False, quiet=True)
    _predict(
        str(model), str(tmp_path / "d.csv"), output=str(tmp_path / "p.csv"), chunk_rows=2, **kwargs
    )
    got = pd.read_csv(tmp_path / "p.csv")["predicted"].tolist()
    assert got == df["y"].tolist()


# --------------------------------------------------------------------------- #
# evaluate, info, export
# --------------------------------------------------------------------------- #
def test_evaluate_with_report(tmp_path, capsys, work):
    report = tmp_path / "r.html"
    code, out, err = run(
        capsys,
        "evaluate",
        work / "model.st",
        work / "test.csv",
        "--target",
        "label",
        "--report",
        report,
    )
    assert code == 0, err
    df = pd.read_csv(work / "test.csv")
    pipe = softmax.io.load(work / "model.st")
    P = pipe.predict_proba(df)
    acc = accuracy_score(df["label"], pipe.predict(df))
    ll = log_loss(df["label"], P, labels=pipe.classes_)
    assert f"{acc:.4f}" in out and f"{ll:.4f}" in out
    for word in (
        "balanced accuracy",
        "Brier score",
        "calibration error",
        "precision",
        "confusion matrix",
    ):
        assert word in out, word
    from softmax.report import classification_metrics

    check_report(
        report.read_text(encoding="utf-8"),
        classification_metrics(df["label"].to_numpy(), P, pipe.classes_),
    )
    # the target defaults to the one used in training; no overwrite without --force
    code, _, err = run(capsys, "evaluate", work / "model.st", work / "test.csv", "--report", report)
    assert_one_line_error(code, err, "already exists")


def test_info(capsys, work):
    code, out, err = run(capsys, "info", work / "model.st")
    assert code == 0, err
    words = ("ant, bee, cat", "color", "categorical", "numeric", "blue, green, red", "C=1.0")
    words += ("library version", "format version", "train.csv", "accuracy")
    for word in words:
        assert word in out, word
    code, out, _ = run(capsys, "info", work / "model.st", "--json")
    meta = json.loads(out)
    assert meta["metadata"]["target"] == "label"
    assert meta["encoder"]["columns"][0]["name"] == "x1"


def test_export_onnx_matches_onnxruntime(tmp_path, capsys, work):
    ort = pytest.importorskip("onnxruntime")
    out = tmp_path / "m.onnx"
    code, _, err = run(capsys, "export", work / "model.st", "--onnx", out)
    assert code == 0, err
    df = pd.read_csv(work / "test.csv")
    pipe = softmax.io.load(work / "model.st")
    sess = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    feeds = {
        "x1": df[["x1"]].to_numpy(np.float32),
        "x2": df[["x2"]].to_numpy(np.float32),
        "color": np.array([["" if pd.isna(v) else v] for v in df["color"]], dtype=object),
    }
    label, proba = sess.run(None, feeds)
    np.testing.assert_allclose(proba, pipe.predict_proba(df), atol=1e-5)
    np.testing.assert_array_equal(pipe.classes_[label], pipe.predict(df))
    code, _, err = run(capsys, "export", work / "model.st", "--onnx", out)
    assert_one_line_error(code, err, "already exists")


def test_svmlight_fit_predict_evaluate(tmp_path, capsys, rng):
    X = sp.random(120, 6, density=0.6, format="csr", random_state=2)
    y = np.asarray(X @ rng.normal(size=6) > 0.3).astype(int).ravel()
    y[:3] = 2
    dump_svmlight_file(X, y, str(tmp_path / "d.svm"))
    model = tmp_path / "m.st"
    code, out, err = run(capsys, "fit", tmp_path / "d.svm", "-o", model, "-q")
    assert code == 0, err
    clf = softmax.io.load(model)
    code, out, err = run(capsys, "predict", model, tmp_path / "d.svm", "--proba")
    assert code == 0, err
    got = pd.read_csv(__import__("io").StringIO(out))
    np.testing.assert_allclose(got.iloc[:, 1:].to_numpy(), clf.predict_proba(X), rtol=1e-12)
    code, out, err = run(capsys, "evaluate", model, tmp_path / "d.svm")
    assert code == 0, err
    assert f"{accuracy_score(y, clf.predict(X)):.4f}" in out
    code, _, err = run(capsys, "predict", model, tmp_path / "d.svm", "--id", "x")
    assert_one_line_error(code, err, "--id")


# --------------------------------------------------------------------------- #
# bad input, as a user meets it: one line, what to do, exit code 1
# --------------------------------------------------------------------------- #
@pytest.fixture(scope="module")
def bad_files(work):
    d = work / "bad"
    d.mkdir()
    (d / "ragged.csv").write_text("a,b,y\n1,2,p\n3,4,q,9\n")
    (d / "binary.csv").write_bytes(b"\x89PNG\r\n\x1a\n\xff\xfe\x00\x00junk")
    rows = "".join(f"{i},{i % 3},{'pq'[i % 2]}\n" for i in range(20))
    (d / "junk.csv").write_text("a,b,y\n" + rows + "7,seven,p\n")
    (d / "one.csv").write_text("a,y\n1,p\n2,p\n3,p\n")
    (d / "ymiss.csv").write_text("a,y\n1,p\n2,\n3,q\n4,q\n")
    test = pd.read_csv(work / "test.csv")
    test.drop(columns=["x2"]).to_csv(d / "nox2.csv", index=False)
    unseen = test.copy()
    unseen.loc[0, "color"] = "purple"
    unseen.to_csv(d / "unseen.csv", index=False)
    text_in_numeric = test.copy().astype({"x1": object})
    text_in_numeric.loc[4, "x1"] = "oops"
    text_in_numeric.to_csv(d / "oops.csv", index=False)
    (d / "notamodel.st").write_bytes(b"PK\x03\x04 this is a zip, not a model")
    rng = np.random.default_rng(0)
    scaler = softmax.TemperatureScaling().fit(rng.normal(size=(60, 3)), rng.integers(0, 3, 60))
    softmax.save(scaler, d / "scaler.st")
    return d


BAD_CASES = {
    "missing data file": (["fit", "{d}/nope.csv", "--target", "y"], ["no such file", "nope.csv"]),
    "malformed csv": (["fit", "{d}/ragged.csv", "--target", "y"], ["cannot read", "CSV"]),
    "binary csv": (["fit", "{d}/binary.csv", "--target", "y"], ["cannot read", "CSV"]),
    "unknown format": (["fit", "{w}/model.st", "--target", "y"], ["cannot tell the format"]),
    "unknown target": (["fit", "{w}/train.csv", "--target", "nope"],
                       ["unknown target column 'nope'", "x1"]),
    "no target": (["fit", "{w}/train.csv"], ["--target is required"]),
    "unknown feature": (["fit", "{w}/train.csv", "--target", "label", "--features", "x1,zz"],
                        ["unknown column(s) zz in --features"]),
    "unknown drop": (["fit", "{w}/train.csv", "--target", "label", "--drop", "zz"],
                     ["unknown column(s) zz in --drop"]),
    "missing values": (["fit", "{w}/train.csv", "--target", "label"],
                       ["missing values", "x1 (", "color (", "--missing drop", "--missing impute"]),
    "missing target": (["fit", "{d}/ymiss.csv", "--target", "y"],
                       ["'y' has 1 missing", "--missing"]),
    "one class": (["fit", "{d}/one.csv", "--target", "y"], ["only one class", "'p'"]),
    "junk in numeric": (["fit", "{d}/junk.csv", "--target", "y"],
                        ["column 'b' looks numeric", "'seven'", "--drop b"]),
    "bad C": (["fit", "{w}/train.csv", "--target", "label", "--C", "-1"], ["C must be > 0"]),
    "bad missing policy": (["fit", "{w}/train.csv", "--target", "label", "--missing", "x"],
                           ["--missing 'x'"]),
    "unwritable output": (["fit", "{w}/train.csv", "--target", "label", "--missing", "impute",
                           "-o", "{d}/no/such/dir/m.st"], ["cannot write", "does not exist"]),
    "output under a file": (["fit", "{w}/train.csv", "--target", "label", "--missing", "impute",
                             "-o", "{w}/train.csv/m.st"], ["'{w}/train.csv' is a file"]),
    "output in a read-only file system": (["fit", "{w}/train.csv", "--target", "label",
                                           "--missing", "impute", "-o", "/proc/m.st"],
                                          ["cannot write '/proc/m.st'", "not writable"]),
    "bad seed": (["fit", "{w}/train.csv", "--target", "label", "--seed", "-1"],
                 ["--seed must be a whole number", "got -1"]),
    "export of another kind": (["export", "{d}/scaler.st", "--onnx", "{d}/s.onnx"],
                               ["holds a TemperatureScaling", "SoftmaxRegression"]),
    "output is a folder": (["predict", "{w}/model.st", "{w}/test.csv", "-o", "{d}"],
                           ["is a directory"]),
    "bad output format": (["predict", "{w}/model.st", "{w}/test.csv", "-o", "{d}/p.xlsx"],
                          ["*.csv or *.parquet"]),
    "missing model": (["predict", "{d}/nope.st", "{w}/test.csv"], ["no such model file"]),
    "not a model": (["predict", "{d}/notamodel.st", "{w}/test.csv"], ["not a valid softmax model"]),
    "data as model": (["info", "{w}/test.csv"], ["not a valid softmax model"]),
    "missing column at predict": (["predict", "{w}/model.st", "{d}/nox2.csv"],
                                  ["lacks column(s) x2", "the model needs"]),
    "unseen category": (["predict", "{w}/model.st", "{d}/unseen.csv"],
                        ["'color'", "purple", "--unknown ignore"]),
    "text in numeric at predict": (["predict", "{w}/model.st", "{d}/oops.csv"],
                                   ["'x1'", "oops"]),
    "unknown id": (["predict", "{w}/model.st", "{w}/test.csv", "--id", "zz"],
                   ["unknown --id column 'zz'"]),
    "svmlight for table model": (["predict", "{w}/model.st", "{d}/x.svm"],
                                 ["svmlight file", "CSV or Parquet"]),
    "unknown labels at evaluate": (["evaluate", "{w}/model.st", "{w}/test.csv", "--target",
                                    "color"], ["does not know", "blue"]),
}  # fmt: skip


@pytest.mark.parametrize("case", list(BAD_CASES))
def test_bad_input_is_one_line(case, capsys, work, bad_files):
    args, fragments = BAD_CASES[case]
    args = [a.format(d=bad_files, w=work) for a in args]
    code, out, err = run(capsys, *args)
    assert_one_line_error(code, err, *[f.format(d=bad_files, w=work) for f in fragments])
    assert out == ""


def test_predict_on_huge_values_warns_in_one_line(tmp_path, capsys, work):
    huge = pd.read_csv(work / "test.csv").dropna().drop(columns=["row_id"])
    huge["x1"] = 1e308  # finite, but its logits overflow
    huge.to_csv(tmp_path / "huge.csv", index=False)
    code, out, err = run(capsys, "predict", work / "model.st", tmp_path / "huge.csv")
    assert code == 0, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("warning: overflow"), err
    assert "far outside the training data's range" in lines[0]
    assert len(out.strip().splitlines()) == huge.shape[0] + 1


def test_missing_values_at_predict_need_an_imputing_model(tmp_path, capsys, work):
    model = tmp_path / "m.st"
    args = ["fit", work / "train.csv", "--target", "label", "--missing", "drop", "-o", model]
    assert run(capsys, *args, "-q")[0] == 0
    code, _, err = run(capsys, "predict", model, work / "test.csv")
    assert_one_line_error(code, err, "missing values", "--missing impute")
    # evaluate can leave the incomplete rows out on request
    code, _, err = run(capsys, "evaluate", model, work / "test.csv")
    assert_one_line_error(code, err, "missing values", "--missing drop")
    code, out, err = run(capsys, "evaluate", model, work / "test.csv", "--missing", "drop")
    assert code == 0, err
    df = pd.read_csv(work / "test.csv").dropna(subset=["x1", "color"])
    pipe = softmax.io.load(model)
    assert f"({df.shape[0]} rows)" in out and "left out" in out
    assert f"{accuracy_score(df['label'], pipe.predict(df)):.4f}" in out


def test_usage_error_is_one_line(capsys):
    code, _, err = run(capsys, "fit", "--C", "abc", "x.csv")
    assert code == 2
    assert len(err.strip().splitlines()) == 1 and err.startswith("error: ")
    assert "--help" in err


# --------------------------------------------------------------------------- #
# the real process
# --------------------------------------------------------------------------- #
def test_process_errors_version_and_debug(tmp_path):
    r = run_subprocess("fit", "nope.csv", "--target", "y", cwd=tmp_path)
    assert r.returncode == 1
    assert r.stderr.strip() == "error: no such file: 'nope.csv'; check the path"
    assert r.stdout == ""
    r = run_subprocess("fit", "nope.csv", "--target", "y", "--debug", cwd=tmp_path)
    assert r.returncode == 1 and "Traceback" in r.stderr
    assert r.stderr.strip().splitlines()[-1].startswith("error: no such file")
    r = run_subprocess("--version", cwd=tmp_path)
    assert r.returncode == 0 and r.stdout.strip() == f"softmax {softmax.__version__}"


def test_demo_end_to_end(tmp_path):
    r = run_subprocess("demo", "--output-dir", "out", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    out = tmp_path / "out"
    assert sorted(p.name for p in out.iterdir()) == sorted(
        ["model.safetensors", "predictions.csv", "report.html", "test.csv", "train.csv"]
    )
    assert "report.html" in r.stdout and "held out" in r.stdout
    assert "accuracy" in r.stdout and "Adelie" in r.stdout
    train, test = pd.read_csv(out / "train.csv"), pd.read_csv(out / "test.csv")
    assert train.shape[0] + test.shape[0] == 344
    meta = softmax.io.read_metadata(out / "model.safetensors")
    assert meta["classes"] == ["Adelie", "Chinstrap", "Gentoo"]
    assert meta["metadata"]["missing"] == "impute"
    pipe = softmax.io.load(out / "model.safetensors")
    P = pipe.predict_proba(test)
    preds = pd.read_csv(out / "predictions.csv")
    assert preds.shape[0] == test.shape[0]
    np.testing.assert_allclose(preds.iloc[:, 1:].to_numpy(), P, rtol=1e-9)
    assert accuracy_score(test["species"], preds["predicted"]) > 0.9
    from softmax.report import classification_metrics

    check_report(
        (out / "report.html").read_text(encoding="utf-8"),
        classification_metrics(test["species"].to_numpy(dtype=object), P, pipe.classes_),
    )
    # a second run refuses to overwrite the demo's files without --force
    r = run_subprocess("demo", "--output-dir", "out", cwd=tmp_path)
    assert r.returncode == 1 and "--force" in r.stderr and "Traceback" not in r.stderr


def test_bundled_penguins():
    df = load_penguins()
    assert df.shape == (344, 8)
    assert df.columns.tolist() == [
        "species",
        "island",
        "bill_length_mm",
        "bill_depth_mm",
        "flipper_length_mm",
        "body_mass_g",
        "sex",
        "year",
    ]
    assert df["species"].value_counts().to_dict() == {"Adelie": 152, "Gentoo": 124, "Chinstrap": 68}
    assert df["sex"].isna().sum() == 11 and df["bill_length_mm"].isna().sum() == 2
    assert penguins_path().is_file()


# --------------------------------------------------------------------------- #
# folders and globs of Parquet files; --dask
# --------------------------------------------------------------------------- #
def write_parts(folder: Path, n_parts: int = 3, n: int = 120) -> pd.DataFrame:
    """A Parquet file per part; the category 'violet' is only in the last part."""
    folder.mkdir()
    df = make_table(np.random.default_rng(11), n_parts * n).drop(columns="row_id").dropna()
    df = df.reset_index(drop=True)
    last = df.index[-n // 2 :]
    df.loc[last[:5], "color"] = "violet"
    bounds = np.linspace(0, df.shape[0], n_parts + 1).astype(int)
    for i in range(n_parts):
        df.iloc[bounds[i] : bounds[i + 1]].to_parquet(folder / f"part-{i}.parquet", index=False)
    return df


def test_fit_reads_a_folder_or_a_glob_of_parquet_files(tmp_path, capsys):
    df = write_parts(tmp_path / "parts")
    df.to_parquet(tmp_path / "all.parquet", index=False)
    (tmp_path / "parts" / "_SUCCESS").write_text("")  # not a Parquet file: ignored
    coefs = []
    for data in ("all.parquet", "parts", "parts/part-*.parquet"):
        out = tmp_path / f"m{len(coefs)}.st"
        args = ["fit", tmp_path / data, "-t", "label", "--test-size", "0", "-o", out, "-q"]
        code, _, err = run(capsys, *args)
        assert code == 0, err
        pipe = softmax.io.load(out)
        assert "color=violet" in pipe[0].get_feature_names_out()
        assert softmax.io.read_metadata(out)["metadata"]["data"]["n_rows"] == df.shape[0]
        coefs.append(pipe[-1].coef_)
    np.testing.assert_array_equal(coefs[0], coefs[1])
    np.testing.assert_array_equal(coefs[0], coefs[2])


DASK_BAD_CASES = {
    "glob matches nothing": (["fit", "{t}/nothing-*.parquet", "-t", "label"],
                             ["no files match", "nothing-*.parquet"]),
    "folder without parquet": (["fit", "{t}/empty", "-t", "label"], ["has no Parquet files"]),
    "l1 on dask": (["fit", "{t}/parts", "-t", "label", "--dask", "--penalty", "l1"],
                   ["--dask fits take --penalty l2 or none", "l1"]),
    "workers without dask": (["fit", "{t}/parts", "-t", "label", "--workers", "2"],
                             ["--workers applies to Dask fits"]),
    "bad workers": (["fit", "{t}/parts", "-t", "label", "--dask", "--workers", "0"],
                    ["--workers must be a positive"]),
    "svmlight on dask": (["fit", "{t}/x.svm", "--dask"], ["--dask reads CSV or Parquet"]),
    "unreachable scheduler": (["fit", "{t}/parts", "-t", "label", "--dask", "tcp://127.0.0.1:9"],
                              ["cannot reach the Dask scheduler at 'tcp://127.0.0.1:9'"]),
}  # fmt: skip


@pytest.mark.dask
@pytest.mark.parametrize("case", list(DASK_BAD_CASES))
def test_dask_and_folder_errors_are_one_line(case, tmp_path, capsys, monkeypatch):
    pytest.importorskip("distributed")
    import softmax._cli_dask as cli_dask

    monkeypatch.setattr(cli_dask, "CONNECT_TIMEOUT", 1)
    write_parts(tmp_path / "parts", n=20)
    (tmp_path / "empty").mkdir()
    dump_svmlight_file(np.eye(3), [0, 1, 0], str(tmp_path / "x.svm"))
    args, fragments = DASK_BAD_CASES[case]
    code, out, err = run(capsys, *[a.format(t=tmp_path) for a in args])
    assert_one_line_error(code, err, *fragments)
    assert out == ""


def test_dask_not_installed_names_the_extra(tmp_path, capsys, monkeypatch):
    write_parts(tmp_path / "parts", n=20)
    monkeypatch.setitem(sys.modules, "distributed", None)  # import distributed fails
    code, _, err = run(capsys, "fit", tmp_path / "parts", "-t", "label", "--dask")
    assert_one_line_error(code, err, "--dask needs dask", "pip install 'softmax[dask]'")


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["fit", "d", "--dask"], ["fit", "d", "--dask=local"]),
        (["fit", "--dask", "d", "-t", "y"], ["fit", "--dask=local", "d", "-t", "y"]),
        (["fit", "d", "--dask", "-t", "y"], ["fit", "d", "--dask=local", "-t", "y"]),
        (["fit", "d", "--dask", "tcp://h:8786"], ["fit", "d", "--dask=tcp://h:8786"]),
        (["fit", "d", "--dask", "h:8786"], ["fit", "d", "--dask=h:8786"]),
        (["fit", "d", "--dask=h:1"], ["fit", "d", "--dask=h:1"]),
        (["fit", "--", "--dask"], ["fit", "--", "--dask"]),
    ],
)
def test_dask_takes_an_optional_address(argv, expected):
    from softmax.cli import _dask_value

    assert _dask_value(argv) == expected


@pytest.mark.dask
def test_fit_on_a_local_dask_cluster_equals_the_in_memory_fit(tmp_path, capsys):
    """The one real cluster of this module: 2 worker processes, 3 Parquet files."""
    pytest.importorskip("distributed")
    df = write_parts(tmp_path / "parts")
    # In memory (in-process) on the same files.
    args = ["fit", tmp_path / "parts", "-t", "label", "--test-size", "0", "-q"]
    assert run(capsys, *args, "-o", tmp_path / "mem.st")[0] == 0
    r = run_subprocess(
        "fit", "parts", "--dask", "--workers", "2", "-t", "label", "--test-size", "0",
        "-o", "dask.st", cwd=tmp_path,
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert "dask: a local cluster, 2 workers" in r.stderr
    assert "iteration    1  objective" in r.stderr  # progress per iteration
    assert "warning" not in r.stderr.lower()
    mem, dsk = softmax.io.load(tmp_path / "mem.st"), softmax.io.load(tmp_path / "dask.st")
    # The categories are complete ('violet' is only in the last file) and equal.
    assert dsk[0].to_dict() == mem[0].to_dict()
    np.testing.assert_allclose(dsk[-1].coef_, mem[-1].coef_, rtol=0, atol=1e-6)
    np.testing.assert_allclose(dsk[-1].intercept_, mem[-1].intercept_, rtol=0, atol=1e-6)
    rec = softmax.io.read_metadata(tmp_path / "dask.st")["metadata"]
    assert rec["data"]["dask"] is True and rec["split"]["n_train"] == df.shape[0]
    # The model predicts like any other: the pipeline on a pandas DataFrame.
    X = df.drop(columns="label")
    np.testing.assert_allclose(dsk.predict_proba(X), mem.predict_proba(X), atol=1e-6)
    assert accuracy_score(df["label"], dsk.predict(X)) == rec["train_metrics"]["accuracy"]


def test_predict_and_evaluate_refuse_other_model_kinds_in_one_line(tmp_path, capsys):
    # A multi-label model file is valid (softmax.load reads it) but not a softmax
    # model: predict/evaluate say so instead of misreading it; info still works.
    rng = np.random.default_rng(0)
    X = rng.normal(size=(60, 3))
    Y = (X @ rng.normal(size=(3, 2)) + rng.normal(size=(60, 2)) > 0).astype(int)
    path = tmp_path / "ml.safetensors"
    softmax.save(softmax.MultiLabelLogisticRegression().fit(X, Y), path)
    data = tmp_path / "x.csv"
    pd.DataFrame(X, columns=["a", "b", "c"]).assign(y=Y[:, 0]).to_csv(data, index=False)
    code, _, err = run(capsys, "predict", str(path), str(data))
    assert_one_line_error(code, err, "MultiLabelLogisticRegression", "softmax.load")
    code, _, err = run(capsys, "evaluate", str(path), str(data), "--target", "y")
    assert_one_line_error(code, err, "MultiLabelLogisticRegression")
    code, out, _ = run(capsys, "info", str(path))
    assert code == 0 and "MultiLabelLogisticRegression" in out


def test_bare_model_on_a_table_says_it_reads_svmlight(tmp_path, capsys):
    rng = np.random.default_rng(1)
    X = rng.normal(size=(40, 3))
    path = tmp_path / "bare.safetensors"
    softmax.save(softmax.SoftmaxRegression().fit(X, (X[:, 0] > 0).astype(int)), path)
    data = tmp_path / "x.csv"
    pd.DataFrame(X, columns=["a", "b", "c"]).to_csv(data, index=False)
    code, _, err = run(capsys, "predict", str(path), str(data))
    assert_one_line_error(code, err, "no column encoding", "svmlight")
