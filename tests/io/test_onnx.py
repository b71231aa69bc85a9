"""export_onnx against onnxruntime: probabilities to 1e-5 (float32), identical labels."""

from __future__ import annotations

import json
import sys

import numpy as np
import pandas as pd
import pytest
from _io_helpers import fitted_pipeline, mixed_data
from sklearn.pipeline import Pipeline

from softmax import SoftmaxRegression
from softmax.io import TabularEncoder, export_onnx

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")


def session(path):
    return ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])


def column_feeds(df: pd.DataFrame, encoder: TabularEncoder) -> dict[str, np.ndarray]:
    """One [N, 1] input per column: float32 (NaN for missing) or string ('' for missing)."""
    feeds = {}
    for col in encoder.columns_:
        s = df[col.name]
        if col.kind == "numeric":
            feeds[col.name] = s.to_numpy(dtype=np.float32, na_value=np.nan).reshape(-1, 1)
        else:
            text = ["" if pd.isna(v) else str(v) for v in s.astype(object)]
            feeds[col.name] = np.array(text, dtype=object).reshape(-1, 1)
    return feeds


@pytest.mark.parametrize(
    ("labels", "dtype", "params"),
    [
        (np.array([0, 1, 2, 3]), np.float64, {}),
        (np.array(["no", "yes"]), np.float64, {"C": 0.3}),  # binary, string classes
        (np.array([5, 9]), np.float64, {"fit_intercept": False}),
        (np.array(["a", "b", "c"]), np.float32, {"tol": 1e-4}),
    ],
)
def test_plain_model_matches_predict_proba(tmp_path, rng, labels, dtype, params):
    n, k = 200, labels.shape[0]
    X = rng.normal(size=(n, 5)) * [1.0, 3.0, 0.2, 10.0, 1.0]
    idx = rng.integers(0, k, size=n)
    X[:, 0] += 1.5 * idx
    X32 = X.astype(np.float32)
    model = SoftmaxRegression(**params).fit(X32.astype(dtype), labels[idx])
    path = tmp_path / "m.onnx"
    export_onnx(model, path)
    label, proba = session(path).run(None, {"X": X32})
    assert proba.dtype == np.float32 and proba.shape == (n, k)
    assert label.dtype == np.int64 and label.shape == (n,)
    np.testing.assert_allclose(proba, model.predict_proba(X32.astype(dtype)), rtol=0, atol=1e-5)
    np.testing.assert_array_equal(model.classes_[label], model.predict(X32.astype(dtype)))
    props = {p.key: p.value for p in onnx.load(str(path)).metadata_props}
    assert json.loads(props["classes"]) == labels.tolist()


def test_graph_is_matmul_add_softmax(tmp_path, rng):
    X = rng.normal(size=(30, 2))
    model = SoftmaxRegression().fit(X, np.arange(30) % 3)
    export_onnx(model, tmp_path / "m.onnx")
    graph = onnx.load(str(tmp_path / "m.onnx")).graph
    ops = [n.op_type for n in graph.node]
    assert ops[:4] == ["Cast", "MatMul", "Add", "Softmax"]
    assert [i.name for i in graph.input] == ["X"]
    assert [o.name for o in graph.output] == ["label", "probabilities"]


def test_pipeline_with_missing_values_and_imputation(tmp_path, rng):
    pipe, df, _ = fitted_pipeline(rng, n=150)
    assert df.isna().any().any()  # the data has missing values the graph must impute
    new, _ = mixed_data(rng, n=120)
    path = tmp_path / "p.onnx"
    export_onnx(pipe, path)
    sess = session(path)
    assert [i.name for i in sess.get_inputs()] == ["x1", "x2", "color", "wet"]
    assert [i.type for i in sess.get_inputs()] == [
        "tensor(float)",
        "tensor(float)",
        "tensor(string)",
        "tensor(float)",
    ]
    for frame in (df, new):
        label, proba = sess.run(None, column_feeds(frame, pipe[0]))
        # float32 inputs: compare with the Python model on the same rounded numbers
        rounded = frame.assign(x1=frame["x1"].astype(np.float32).astype(np.float64))
        np.testing.assert_allclose(proba, pipe.predict_proba(rounded), rtol=0, atol=1e-5)
        np.testing.assert_array_equal(pipe[-1].classes_[label], pipe.predict(rounded))


def test_unseen_category_is_all_zero_like_unknown_ignore(tmp_path, rng):
    df, y = mixed_data(rng, n=100, missing=False)
    pipe = Pipeline(
        [("encoder", TabularEncoder(unknown="ignore")), ("model", SoftmaxRegression())]
    ).fit(df, y)
    export_onnx(pipe, tmp_path / "p.onnx")
    new = df.head(10).assign(color=["purple"] * 5 + ["red"] * 5)
    label, proba = session(tmp_path / "p.onnx").run(None, column_feeds(new, pipe[0]))
    rounded = new.assign(x1=new["x1"].astype(np.float32).astype(np.float64))
    np.testing.assert_allclose(proba, pipe.predict_proba(rounded), rtol=0, atol=1e-5)
    np.testing.assert_array_equal(pipe[-1].classes_[label], pipe.predict(rounded))


def test_overwrite_and_bad_models(tmp_path, rng):
    model = SoftmaxRegression().fit(rng.normal(size=(20, 2)), np.arange(20) % 2)
    export_onnx(model, tmp_path / "m.onnx")
    with pytest.raises(FileExistsError, match="overwrite=True"):
        export_onnx(model, tmp_path / "m.onnx")
    export_onnx(model, tmp_path / "m.onnx", overwrite=True)
    with pytest.raises(TypeError, match="got model of type"):
        export_onnx(object(), tmp_path / "x.onnx")
    df = pd.DataFrame({"c": ["", "a", "b", "a"]})
    pipe = Pipeline([("e", TabularEncoder()), ("m", SoftmaxRegression())]).fit(df, [0, 1, 0, 1])
    with pytest.raises(ValueError, match="empty string as a category"):
        export_onnx(pipe, tmp_path / "e.onnx")
    # A column named like an output or an inner value (onnx's checker had failed
    # with "not in SSA form").
    for name in ("label", "probabilities", "softmax/x"):
        df = pd.DataFrame({name: rng.normal(size=20), "other": rng.normal(size=20)})
        pipe = Pipeline([("e", TabularEncoder()), ("m", SoftmaxRegression())])
        pipe.fit(df, np.arange(20) % 2)
        with pytest.raises(ValueError, match=f"column '{name}' cannot name an input"):
            export_onnx(pipe, tmp_path / "n.onnx")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.onnx"]


def test_clear_error_without_onnx(tmp_path, rng, monkeypatch):
    model = SoftmaxRegression().fit(rng.normal(size=(20, 2)), np.arange(20) % 2)
    monkeypatch.setitem(sys.modules, "onnx", None)  # makes `import onnx` raise ImportError
    with pytest.raises(ImportError, match=r"softmax\[onnx\]"):
        export_onnx(model, tmp_path / "m.onnx")


@pytest.mark.parametrize(
    ("dtype", "params"),
    [
        (np.float64, {}),
        (np.float64, {"threshold": [0.0, 0.3, 0.9, 1.0], "pos_weight": "balanced"}),
        (np.float32, {"threshold": 0.7, "fit_intercept": False}),
    ],
)
def test_multilabel_model_matches_predict_and_predict_proba(tmp_path, rng, dtype, params):
    from softmax import MultiLabelLogisticRegression

    n = 300
    X32 = (rng.normal(size=(n, 5)) * [1.0, 3.0, 0.2, 10.0, 1.0]).astype(np.float32)
    Y = (X32[:, :4] * [1.0, 0.3, 5.0, 0.1] + rng.logistic(size=(n, 4)) > 0.2).astype(int)
    model = MultiLabelLogisticRegression(**params).fit(X32.astype(dtype), Y)
    export_onnx(model, tmp_path / "m.onnx")
    sess = session(tmp_path / "m.onnx")
    assert [o.name for o in sess.get_outputs()] == ["labels", "probabilities"]
    labels, proba = sess.run(None, {"X": X32})
    assert labels.dtype == np.int64 and labels.shape == (n, 4)
    assert proba.dtype == np.float32 and proba.shape == (n, 4)
    np.testing.assert_allclose(proba, model.predict_proba(X32.astype(dtype)), rtol=0, atol=1e-5)
    np.testing.assert_array_equal(labels, model.predict(X32.astype(dtype)))
    assert not np.allclose(proba.sum(axis=1), 1.0)  # independent sigmoids, not a softmax
    ops = [node.op_type for node in onnx.load(str(tmp_path / "m.onnx")).graph.node]
    assert "Sigmoid" in ops and "Softmax" not in ops


def test_multilabel_pipeline(tmp_path, rng):
    from softmax import MultiLabelLogisticRegression

    df, y = mixed_data(rng, n=150)
    Y = np.stack([y == "ant", y != "cat", df["wet"].to_numpy()], axis=1).astype(int)
    pipe = Pipeline(
        [("encoder", TabularEncoder(impute=True)), ("model", MultiLabelLogisticRegression())]
    ).fit(df, Y)
    export_onnx(pipe, tmp_path / "p.onnx")
    labels, proba = session(tmp_path / "p.onnx").run(None, column_feeds(df, pipe[0]))
    rounded = df.assign(x1=df["x1"].astype(np.float32).astype(np.float64))
    np.testing.assert_allclose(proba, pipe.predict_proba(rounded), rtol=0, atol=1e-5)
    np.testing.assert_array_equal(labels, pipe.predict(rounded))


def test_cv_model_exports_and_temperature_scaling_is_refused(tmp_path, rng):
    from softmax import SoftmaxRegressionCV, TemperatureScaling

    X = rng.normal(size=(90, 3))
    y = np.arange(90) % 3
    X[:, 0] += y
    cv = SoftmaxRegressionCV(Cs=[0.1, 1.0], cv=3).fit(X, y)
    export_onnx(cv, tmp_path / "cv.onnx")
    X32 = X.astype(np.float32)
    label, proba = session(tmp_path / "cv.onnx").run(None, {"X": X32})
    np.testing.assert_allclose(proba, cv.predict_proba(X32.astype(np.float64)), atol=1e-5)
    np.testing.assert_array_equal(cv.classes_[label], cv.predict(X32.astype(np.float64)))
    ts = TemperatureScaling(cv).fit(X, y)
    with pytest.raises(TypeError, match=r"export_onnx supports .* got model of type Temperature"):
        export_onnx(ts, tmp_path / "t.onnx")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cv.onnx"]
