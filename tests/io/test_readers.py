"""Reading CSV, Parquet and svmlight files, whole and in chunks, and their error messages."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from sklearn.datasets import dump_svmlight_file, load_svmlight_file

from softmax.io import infer_format, iter_table, read_table


@pytest.fixture
def frame(rng):
    n = 57
    df = pd.DataFrame(
        {
            "num": rng.normal(size=n),
            "count": rng.integers(0, 9, size=n),
            "cat": rng.choice(["a", "b", "c"], size=n),
            "y": rng.choice(["p", "q"], size=n),
        }
    )
    df.loc[3, "num"] = np.nan
    df.loc[5, "cat"] = None
    return df


def test_csv_round_trip(tmp_path, frame):
    path = tmp_path / "d.csv"
    frame.to_csv(path, index=False)
    got = read_table(path)
    pd.testing.assert_frame_equal(got, pd.read_csv(path))
    assert got["num"].isna().sum() == 1 and got["cat"].isna().sum() == 1
    assert got.shape == frame.shape


def test_na_strings_are_missing(tmp_path):
    path = tmp_path / "d.csv"
    path.write_text("a,b\n1,NA\n2,x\n,y\n")
    got = read_table(path)
    assert got["a"].isna().tolist() == [False, False, True]
    assert got["b"].isna().tolist() == [True, False, False]


def test_tsv_and_explicit_format(tmp_path):
    (tmp_path / "d.tsv").write_text("a\tb\n1\t2\n")
    assert read_table(tmp_path / "d.tsv").columns.tolist() == ["a", "b"]
    (tmp_path / "data.dat").write_text("a,b\n1,2\n")
    assert read_table(tmp_path / "data.dat", format="csv").shape == (1, 2)


def test_parquet_round_trip(tmp_path, frame):
    path = tmp_path / "d.parquet"
    frame.to_parquet(path)
    got = read_table(path)
    assert got.shape == frame.shape
    np.testing.assert_array_equal(got["num"].to_numpy(), frame["num"].to_numpy())


def test_svmlight_matches_sklearn(tmp_path, rng):
    X = sp.random(40, 7, density=0.3, format="csr", random_state=0)
    y = rng.integers(0, 3, size=40)
    path = tmp_path / "d.svm"
    dump_svmlight_file(X, y, str(path))
    Xr, yr = read_table(path)
    X_ref, y_ref = load_svmlight_file(str(path))
    assert sp.issparse(Xr) and Xr.format == "csr"
    np.testing.assert_allclose(Xr.toarray(), X_ref.toarray())
    assert yr.dtype == np.int64  # whole-number labels become integers
    np.testing.assert_array_equal(yr, y_ref.astype(np.int64))


def test_chunks_cover_the_file(tmp_path, frame):
    csv = tmp_path / "d.csv"
    frame.to_csv(csv, index=False)
    chunks = list(iter_table(csv, chunk_rows=10))
    assert [c.shape[0] for c in chunks] == [10, 10, 10, 10, 10, 7]
    pd.testing.assert_frame_equal(
        pd.concat(chunks, ignore_index=True), read_table(csv), check_dtype=False
    )
    pq = tmp_path / "d.parquet"
    frame.to_parquet(pq)
    chunks = list(iter_table(pq, chunk_rows=25))
    assert [c.shape[0] for c in chunks] == [25, 25, 7]
    pd.testing.assert_frame_equal(pd.concat(chunks, ignore_index=True), read_table(pq))


def test_csv_chunks_read_text_columns_as_text(tmp_path):
    path = tmp_path / "d.csv"
    path.write_text("code,v\n1,0.5\n2,0.1\nA,0.3\n")
    first = next(iter_table(path, chunk_rows=2, dtype={"code": str}))
    assert first["code"].tolist() == ["1", "2"]


def test_svmlight_chunks_cover_the_file(tmp_path, rng):
    X = sp.random(300, 5, density=0.5, format="csr", random_state=1)
    y = rng.integers(0, 2, size=300)
    path = tmp_path / "d.svm"
    dump_svmlight_file(X, y, str(path))
    parts = list(iter_table(path, n_features=5, chunk_bytes=700))
    assert len(parts) > 3
    X_all = sp.vstack([p[0] for p in parts])
    np.testing.assert_allclose(X_all.toarray(), X.toarray(), rtol=1e-12)
    np.testing.assert_array_equal(np.concatenate([p[1] for p in parts]), y)


@pytest.mark.parametrize(
    ("name", "fmt"),
    [("a.csv", "csv"), ("a.CSV.gz", "csv"), ("x.parquet", "parquet"), ("x.libsvm", "svmlight")],
)
def test_infer_format(name, fmt):
    assert infer_format(name) == fmt


def test_unknown_format(tmp_path):
    (tmp_path / "d.xlsx").write_bytes(b"PK")
    with pytest.raises(ValueError, match=r"cannot tell the format of .*d\.xlsx"):
        read_table(tmp_path / "d.xlsx")
    with pytest.raises(ValueError, match="unknown format='json'"):
        infer_format("d.csv", "json")


def test_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"no such file: .*nope\.csv"):
        read_table(tmp_path / "nope.csv")
    with pytest.raises(FileNotFoundError):
        list(iter_table(tmp_path / "nope.parquet"))


@pytest.mark.parametrize(
    ("content", "match"),
    [
        (b"", "is empty"),
        (b"a,b\n", "has a header but no rows"),
        (b"a,b\n1,2\n3,4,5\n", "cannot read .* as CSV .*Expected 2 fields"),
        (b"a,b\n\xff\xfe\x00\x81,\x92\n", "cannot read .* as CSV"),
        (b"a,a\n1,2\n", "duplicated column names"),
    ],
)
def test_malformed_csv(tmp_path, content, match):
    path = tmp_path / "d.csv"
    path.write_bytes(content)
    with pytest.raises(ValueError, match=match):
        read_table(path)
    with pytest.raises(ValueError, match=match):
        list(iter_table(path, chunk_rows=1))


def test_malformed_parquet_and_svmlight(tmp_path):
    (tmp_path / "d.parquet").write_bytes(b"not parquet at all")
    with pytest.raises(ValueError, match=r"cannot read .* as Parquet"):
        read_table(tmp_path / "d.parquet")
    with pytest.raises(ValueError, match=r"cannot read .* as Parquet"):
        list(iter_table(tmp_path / "d.parquet"))
    (tmp_path / "d.svm").write_text("1 3:x\n")
    with pytest.raises(ValueError, match=r"cannot read .* as svmlight"):
        read_table(tmp_path / "d.svm")


def test_directory_is_rejected(tmp_path):
    (tmp_path / "d.csv").mkdir()
    with pytest.raises(ValueError, match="is a directory"):
        read_table(tmp_path / "d.csv")
