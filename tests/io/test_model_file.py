"""save / load / read_metadata: exact round trips, atomic writes, and clear errors."""

from __future__ import annotations

import json
import os
import pickle
import struct

import numpy as np
import pytest
from _io_helpers import fitted_model, fitted_pipeline, rewrite, split
from sklearn.exceptions import NotFittedError
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

import softmax
from softmax import ModelFileError, SoftmaxRegression
from softmax.io import FORMAT_VERSION, TabularEncoder, read_metadata


def assert_same_model(a, b, X):
    """Bit-for-bit: parameters, classes (values and dtype) and every prediction."""
    assert type(a) is type(b)
    np.testing.assert_array_equal(b.coef_, a.coef_, strict=True)
    np.testing.assert_array_equal(b.intercept_, a.intercept_, strict=True)
    np.testing.assert_array_equal(b.classes_, a.classes_, strict=True)
    assert b.get_params() == a.get_params()
    for method in ("predict", "predict_proba", "predict_log_proba", "decision_function"):
        np.testing.assert_array_equal(getattr(b, method)(X), getattr(a, method)(X), strict=True)
    assert b.n_features_in_ == a.n_features_in_
    np.testing.assert_array_equal(b.n_iter_, a.n_iter_, strict=True)
    assert b.objective_history_ == a.objective_history_
    assert (b.converged_, b.solver_) == (a.converged_, a.solver_)


@pytest.mark.parametrize(
    ("labels", "params"),
    [
        (np.array([0, 1, 2]), {}),
        (np.array([3, 7]), {"C": 0.1}),  # binary: one coefficient row
        (np.array(["no", "yes"]), {"fit_intercept": False}),
        (np.array(["a", "bb", "ccc", "dddd"]), {"class_weight": "balanced"}),
        (np.array(["x", "y", "z"], dtype=object), {"solver": "lbfgs"}),
        (np.array([False, True]), {"tol": 1e-6}),
        (np.array([-1.0, 0.0, 2.0]), {"class_weight": {-1.0: 2.0, 0.0: 1.0, 2.0: 0.5}}),
        (np.array([10, 20, 30], dtype=np.uint8), {"max_iter": 50}),
    ],
)
def test_round_trip_is_bit_for_bit(tmp_path, rng, labels, params):
    X = rng.normal(size=(60, 3))
    idx = np.arange(60) % labels.shape[0]
    X[:, 0] += idx
    model = SoftmaxRegression(**params).fit(X, labels[idx])
    path = tmp_path / "m.safetensors"
    softmax.save(model, path)
    back = softmax.load(path)
    assert back.classes_.dtype == model.classes_.dtype
    assert_same_model(model, back, X)


def test_float32_model_and_unpenalised_model_with_feature_names(tmp_path, rng):
    pd = pytest.importorskip("pandas")
    X = rng.normal(size=(80, 3))
    y = (X[:, 0] + rng.logistic(size=80) > 0).astype(int) + (X[:, 1] > 1)
    m32 = SoftmaxRegression(tol=1e-4).fit(X.astype(np.float32), y)
    softmax.save(m32, tmp_path / "a")
    back = softmax.load(tmp_path / "a")
    assert back.coef_.dtype == np.float32
    assert_same_model(m32, back, X.astype(np.float32))

    df = pd.DataFrame(X, columns=["u", "v", "w"])
    free = SoftmaxRegression(C=np.inf).fit(df, y)
    softmax.save(free, tmp_path / "b")
    back = softmax.load(tmp_path / "b")
    assert back.C == np.inf and list(back.feature_names_in_) == ["u", "v", "w"]
    assert_same_model(free, back, df)
    assert read_metadata(tmp_path / "b")["feature_names"] == ["u", "v", "w"]


def test_pipeline_round_trip(tmp_path, rng):
    pipe, df, _ = fitted_pipeline(rng)
    softmax.save(pipe, tmp_path / "p.safetensors", metadata={"target": "species", "n": 3})
    back = softmax.load(tmp_path / "p.safetensors")
    assert isinstance(back, Pipeline) and [n for n, _ in back.steps] == ["encoder", "model"]
    assert back[0].to_dict() == pipe[0].to_dict()
    np.testing.assert_array_equal(back.predict_proba(df), pipe.predict_proba(df), strict=True)
    np.testing.assert_array_equal(back.predict(df), pipe.predict(df), strict=True)
    assert_same_model(pipe[-1], back[-1], pipe[0].transform(df))


def test_read_metadata_is_the_contract(tmp_path, rng):
    pipe, _, y = fitted_pipeline(rng)
    record = {"data": "train.csv", "metrics": {"accuracy": 0.9}, "history": [1.0, 0.5]}
    softmax.save(pipe, tmp_path / "p", metadata=record)
    meta = read_metadata(tmp_path / "p")
    assert meta["format_version"] == FORMAT_VERSION
    assert meta["library_version"] == softmax.__version__
    assert meta["kind"] == "SoftmaxRegression"
    assert meta["hyperparameters"] == json.loads(json.dumps(pipe[-1].get_params()))
    assert meta["classes"] == sorted(set(y.tolist()))
    assert meta["feature_names"] == list(pipe[0].get_feature_names_out())
    assert meta["encoder"] == pipe[0].to_dict()
    assert meta["metadata"] == record
    assert meta["solver"]["converged"] is True
    json.dumps(meta, allow_nan=False)  # JSON-safe throughout


def test_overwrite_and_atomicity(tmp_path, rng, monkeypatch):
    model, X = fitted_model(rng)
    other, _ = fitted_model(rng, C=0.01)
    path = tmp_path / "m.safetensors"
    softmax.save(model, path)
    before = path.read_bytes()
    with pytest.raises(FileExistsError, match="overwrite=True"):
        softmax.save(other, path)
    assert path.read_bytes() == before

    # A failure half way (here: fsync) leaves the old file and no temporary file.
    def broken_fsync(fd):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", broken_fsync)
    with pytest.raises(OSError, match="No space left"):
        softmax.save(other, path, overwrite=True)
    monkeypatch.undo()
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.safetensors"]

    softmax.save(other, path, overwrite=True)
    assert_same_model(other, softmax.load(path), X)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.safetensors"]


def test_save_rejects_what_it_cannot_store(tmp_path, rng):
    with pytest.raises(NotFittedError):
        softmax.save(SoftmaxRegression(), tmp_path / "a")
    with pytest.raises(TypeError, match="StandardScaler"):
        softmax.save(StandardScaler(), tmp_path / "a")
    model, _X = fitted_model(rng)
    with pytest.raises(TypeError, match="Pipeline of exactly"):
        softmax.save(Pipeline([("s", StandardScaler()), ("m", model)]), tmp_path / "a")
    with pytest.raises(TypeError, match="JSON-serialisable"):
        softmax.save(model, tmp_path / "a", metadata={"f": object()})
    with pytest.raises(TypeError, match="metadata must be a dict"):
        softmax.save(model, tmp_path / "a", metadata=[1])
    with pytest.raises(IsADirectoryError):
        softmax.save(model, tmp_path, overwrite=True)
    assert not any(tmp_path.iterdir())


def test_paths_that_are_not_files(tmp_path):
    with pytest.raises(FileNotFoundError):
        softmax.load(tmp_path / "nope.safetensors")
    with pytest.raises(IsADirectoryError):
        softmax.load(tmp_path)
    with pytest.raises(IsADirectoryError):
        read_metadata(tmp_path)


def test_model_file_error_is_a_value_error():
    assert issubclass(ModelFileError, ValueError)
    assert softmax.ModelFileError is ModelFileError


@pytest.mark.parametrize(
    ("payload", "match"),
    [
        (pickle.dumps({"coef": [1.0]}), "pickle"),
        (pickle.dumps([1, 2, 3], protocol=2), "pickle"),
        (b"", "fewer than the 8-byte"),
        (b"\x00" * 7, "fewer than the 8-byte"),
        (b"PK\x03\x04" + b"\x00" * 40, "zip archive"),
        (b"hello world, this is text", "header length"),
    ],
)
def test_foreign_files(tmp_path, payload, match):
    path = tmp_path / "m"
    path.write_bytes(payload)
    with pytest.raises(ModelFileError, match=match):
        softmax.load(path)


def test_joblib_files_are_refused_and_nothing_runs(tmp_path, rng):
    joblib = pytest.importorskip("joblib")
    model, _ = fitted_model(rng)
    for compress in (0, 3):
        path = tmp_path / f"m{compress}.joblib"
        joblib.dump(model, path, compress=compress)
        with pytest.raises(ModelFileError, match="not a valid softmax model file"):
            softmax.load(path)


class _Boom:
    """Unpickling this would run os.system; the loader must never get there."""

    def __reduce__(self):
        return (os.system, ("touch PWNED",))


def test_malicious_pickle_is_not_executed(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "evil.safetensors"
    path.write_bytes(pickle.dumps(_Boom()))
    with pytest.raises(ModelFileError, match="pickle"):
        softmax.load(path)
    assert not (tmp_path / "PWNED").exists()


def test_newer_format_version_says_so(tmp_path, rng):
    model, _ = fitted_model(rng)
    softmax.save(model, tmp_path / "m")

    def newer(header, doc):
        doc["format_version"] = FORMAT_VERSION + 1
        doc["library_version"] = "99.0"

    (tmp_path / "n").write_bytes(rewrite((tmp_path / "m").read_bytes(), newer))
    for reader in (softmax.load, read_metadata):
        with pytest.raises(ModelFileError, match="written by a newer version of softmax"):
            reader(tmp_path / "n")


def test_plain_safetensors_file_is_not_a_model(tmp_path):
    from safetensors.numpy import save_file

    save_file({"w": np.ones(3)}, str(tmp_path / "w.safetensors"))
    with pytest.raises(ModelFileError, match="__metadata__"):
        softmax.load(tmp_path / "w.safetensors")


def test_oversized_header_is_refused_before_reading(tmp_path):
    path = tmp_path / "big"
    path.write_bytes(struct.pack("<Q", 200 * 1024 * 1024) + b"{}")
    with pytest.raises(ModelFileError, match="exceeds the limit"):
        softmax.load(path)


def _mutated(tmp_path, rng, edit):
    model, _ = fitted_model(rng)
    softmax.save(model, tmp_path / "m")
    (tmp_path / "x").write_bytes(rewrite((tmp_path / "m").read_bytes(), edit))
    return tmp_path / "x"


@pytest.mark.parametrize(
    ("edit", "match"),
    [
        (lambda h, d: d.update(classes=[0, 1, 1]), "sorted and unique"),
        (lambda h, d: d.update(classes=[0, 1]), "'coef' has shape"),
        (lambda h, d: d.update(classes=["a", "b", "c"]), "fit their dtype"),
        (lambda h, d: d.update(classes_dtype="V8"), "not a supported dtype"),
        (lambda h, d: d.update(n_features_in=5), "'coef' has shape"),
        (lambda h, d: d.update(kind="os.system"), "unknown model kind"),
        (lambda h, d: d.update(feature_names_in=["a"]), "feature_names_in"),
        (lambda h, d: d["hyperparameters"].update(C=-1.0), "invalid hyperparameters"),
        (lambda h, d: d["hyperparameters"].update(evil=1), "unknown hyperparameter"),
        (lambda h, d: d["hyperparameters"].update(C=[1]), "type list"),
        (lambda h, d: d["solver"].update(n_iter="3"), "'solver' must be"),
        (lambda h, d: d.pop("encoder"), "lacks the key"),
        (lambda h, d: d.update(extra=1), "unknown key"),
        (lambda h, d: d.update(encoder={"columns": [], "unknown": "error"}), "only valid in"),
        (lambda h, d: h["coef"].update(dtype="I64"), "dtype"),
        (lambda h, d: h["coef"].update(shape=[3, 5]), "data_offsets span"),
        (lambda h, d: h.update(extra=h.pop("coef")), "tensors"),
    ],
)
def test_invalid_documents(tmp_path, rng, edit, match):
    path = _mutated(tmp_path, rng, edit)
    with pytest.raises(ModelFileError, match=match):
        softmax.load(path)


def _saved_with_coef_offset(tmp_path, rng):
    """``(model, X, file bytes, offset of coef[0, 0] in them)`` of a saved model."""
    model, X = fitted_model(rng)
    softmax.save(model, tmp_path / "m")
    blob = (tmp_path / "m").read_bytes()
    header, _, data = split(blob)
    return model, X, blob, len(blob) - len(data) + header["coef"]["data_offsets"][0]


def test_non_finite_coefficients_are_refused(tmp_path, rng):
    _, _, blob, start = _saved_with_coef_offset(tmp_path, rng)
    bad = blob[:start] + struct.pack("<d", np.nan) + blob[start + 8 :]
    (tmp_path / "x").write_bytes(bad)
    with pytest.raises(ModelFileError, match="'coef' has non-finite"):
        softmax.load(tmp_path / "x")


def test_pipeline_encoder_must_match_model_features(tmp_path, rng):
    pipe, _, _ = fitted_pipeline(rng)
    softmax.save(pipe, tmp_path / "p")

    def drop_category(h, d):
        col = next(c for c in d["encoder"]["columns"] if c["kind"] == "categorical")
        col["categories"] = col["categories"][:-1]
        col["fill"] = col["categories"][0]

    (tmp_path / "x").write_bytes(rewrite((tmp_path / "p").read_bytes(), drop_category))
    with pytest.raises(ModelFileError, match="encoder produces"):
        softmax.load(tmp_path / "x")

    def bad_encoder(h, d):
        d["encoder"]["unknown"] = "explode"

    (tmp_path / "y").write_bytes(rewrite((tmp_path / "p").read_bytes(), bad_encoder))
    with pytest.raises(ModelFileError, match="invalid encoder"):
        softmax.load(tmp_path / "y")


def test_save_refuses_mismatched_pipeline(tmp_path, rng):
    pipe, df, _y = fitted_pipeline(rng)
    other = TabularEncoder().fit(df[["x2", "wet"]])
    broken = Pipeline([("encoder", other), ("model", pipe[-1])])
    with pytest.raises(ValueError, match="encoder produces"):
        softmax.save(broken, tmp_path / "p")


def test_file_is_plain_safetensors(tmp_path, rng):
    """Generic safetensors tools read the tensors and the JSON document."""
    from safetensors import safe_open

    model, _ = fitted_model(rng)
    softmax.save(model, tmp_path / "m.safetensors")
    with safe_open(str(tmp_path / "m.safetensors"), framework="numpy") as f:
        assert set(f.keys()) == {"coef", "intercept", "objective_history"}
        np.testing.assert_array_equal(f.get_tensor("coef"), model.coef_)
        doc = json.loads(f.metadata()["softmax"])
    assert doc["kind"] == "SoftmaxRegression" and doc["format_version"] == FORMAT_VERSION


def test_corrupted_tensor_bytes_are_refused_by_the_checksum(tmp_path, rng):
    model, X, blob, start = _saved_with_coef_offset(tmp_path, rng)
    flipped = bytearray(blob)
    flipped[start + 6] ^= 0x10  # one bit of coef[0, 0]'s exponent: still finite
    (tmp_path / "x").write_bytes(bytes(flipped))
    with pytest.raises(ModelFileError, match="SHA-256 checksum"):
        softmax.load(tmp_path / "x")
    # Files from before the checksum load as they did.
    (tmp_path / "old").write_bytes(rewrite(blob, lambda h, d: d.pop("tensors_sha256")))
    np.testing.assert_array_equal(softmax.load(tmp_path / "old").predict_proba(X),
                                  model.predict_proba(X))  # fmt: skip
