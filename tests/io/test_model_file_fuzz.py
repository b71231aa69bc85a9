"""Fuzzing the loader: hundreds of mutated model files, only ModelFileError comes out.

Every case goes through both ``softmax.load`` and ``read_metadata``; each must
either succeed (a mutation of the data bytes can leave a valid model) or raise
ModelFileError.  Paths that are not files raise FileNotFoundError /
IsADirectoryError, as ``open`` does (documented).  Pickle is booby-trapped
for the whole module so that any attempt to unpickle fails the test.
"""

from __future__ import annotations

import copy
import io
import json
import pickle
import struct

import numpy as np
import pytest
from _io_helpers import fitted_kinds, fitted_model, fitted_pipeline, join, split
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import softmax
from softmax import ModelFileError
from softmax.io import FORMAT_VERSION, read_metadata


class Executed(Exception):
    """Raised by the booby traps: something tried to run code from a file."""


@pytest.fixture(autouse=True)
def no_unpickling(monkeypatch):
    def trap(*args, **kwargs):
        raise Executed("the loader tried to unpickle")

    monkeypatch.setattr(pickle, "load", trap)
    monkeypatch.setattr(pickle, "loads", trap)
    monkeypatch.setattr(pickle, "Unpickler", trap)
    monkeypatch.setattr(np, "load", trap)


@pytest.fixture(scope="module")
def blobs(tmp_path_factory):
    rng = np.random.default_rng(7)
    folder = tmp_path_factory.mktemp("fuzz")
    pipe, _, _ = fitted_pipeline(rng, n=40)
    binary, _ = fitted_model(rng, n_classes=2)
    out = {}
    models = {"pipeline": pipe, "binary": binary}
    # One file of each further kind (SoftmaxRegressionCV, multi-label, temperature
    # scaling on logits and wrapping a model): the same attacks apply to them all.
    models.update({name: model for name, (model, _) in fitted_kinds(rng).items()})
    for name, model in models.items():
        softmax.save(model, folder / name, metadata={"note": "fuzz", "list": [1, 2.5, None]})
        out[name] = (folder / name).read_bytes()
    return out


def check(path, blob: bytes, what: str) -> int:
    """Write ``blob``, run both readers; 1 if a reader accepted it, 0 if both refused."""
    path.write_bytes(blob)
    accepted = 0
    for reader in (softmax.load, read_metadata):
        try:
            reader(path)
            accepted = 1
        except ModelFileError as exc:
            assert str(exc), what
        except Exception as exc:  # pragma: no cover - the failure we are looking for
            pytest.fail(f"{what}: {type(exc).__name__}: {exc}")
    return accepted


def test_valid_files_are_accepted(tmp_path, blobs):
    for name, blob in blobs.items():
        assert check(tmp_path / "m", blob, name) == 1


def test_truncated_at_many_offsets(tmp_path, blobs):
    for name, blob in blobs.items():
        offsets = sorted(set(range(0, 24)) | set(range(0, len(blob), 7)))
        for cut in offsets:
            assert check(tmp_path / "m", blob[:cut], f"{name} cut at {cut}") == 0
        # Appending bytes is as wrong as removing them.
        assert check(tmp_path / "m", blob + b"\x00", f"{name} + 1 byte") == 0


def test_bit_flips_and_byte_overwrites(tmp_path, blobs):
    rng = np.random.default_rng(0)
    for name, blob in blobs.items():
        n = len(blob)
        for _ in range(150):
            data = bytearray(blob)
            for _ in range(rng.integers(1, 4)):
                pos = int(rng.integers(0, n))
                if rng.random() < 0.5:
                    data[pos] ^= 1 << int(rng.integers(0, 8))
                else:
                    data[pos] = int(rng.integers(0, 256))
            check(tmp_path / "m", bytes(data), f"{name} mutated")
        # Flips in the 8-byte length prefix are always refused.
        for bit in range(64):
            data = bytearray(blob)
            data[bit // 8] ^= 1 << (bit % 8)
            assert check(tmp_path / "m", bytes(data), f"{name} length bit {bit}") == 0


HOSTILE_VALUES = [
    None,
    True,
    0,
    -1,
    2**63,
    10**400,
    1.5,
    float("nan"),
    float("inf"),
    -float("inf"),
    "",
    "x" * 10_000,
    "os.system('touch PWNED')",
    [],
    [None],
    [1, 2, 3],
    ["a", "a"],
    [[1, 2], [3]],
    {},
    {"__class__": "os.system"},
    {"py/object": "os.system"},
    [[[[[[[[[[[]]]]]]]]]]],
]


def mutate_document(doc, rng) -> tuple[dict, str]:
    """Replace one (possibly nested) field of the document with a hostile value."""
    doc = copy.deepcopy(doc)
    holders = [doc]
    for key in ("hyperparameters", "solver", "encoder", "pipeline", "fitted"):
        if isinstance(doc.get(key), dict):
            holders.append(doc[key])
    inner = doc["hyperparameters"].get("estimator")
    if isinstance(inner, dict):  # a wrapped model's document, and its parts
        holders.append(inner)
        holders.extend(v for v in inner.values() if isinstance(v, dict))
    if isinstance(doc.get("encoder"), dict):
        holders.extend(c for c in doc["encoder"]["columns"])
    holder = holders[int(rng.integers(0, len(holders)))]
    key = sorted(holder)[int(rng.integers(0, len(holder)))]
    value = HOSTILE_VALUES[int(rng.integers(0, len(HOSTILE_VALUES)))]
    action = rng.random()
    if action < 0.1:
        del holder[key]
        return doc, f"deleted {key}"
    holder[key] = value
    return doc, f"{key} = {str(value)[:40]}"


def test_hostile_json_documents(tmp_path, blobs):
    rng = np.random.default_rng(1)
    for name, blob in blobs.items():
        header, doc, data = split(blob)
        accepted = 0
        for _ in range(200):
            bad, what = mutate_document(doc, rng)
            accepted += check(tmp_path / "m", join(header, bad, data), f"{name}: {what}")
        assert accepted < 100  # most hostile values must be refused


HOSTILE_TENSOR_EDITS = [
    ("huge shape", lambda e: e.update(shape=[2**62, 2**62])),
    ("huge shape 1-D", lambda e: e.update(shape=[2**40 - 1])),
    ("negative dim", lambda e: e.update(shape=[-1, 3])),
    ("float dim", lambda e: e.update(shape=[1.5])),
    ("bool dim", lambda e: e.update(shape=[True])),
    ("deep shape", lambda e: e.update(shape=[1] * 64)),
    ("negative offset", lambda e: e.update(data_offsets=[-8, 0])),
    ("reversed offsets", lambda e: e.update(data_offsets=[16, 8])),
    ("far offsets", lambda e: e.update(data_offsets=[2**62, 2**62 + 8])),
    ("three offsets", lambda e: e.update(data_offsets=[0, 8, 16])),
    (
        "shifted (overlapping)",
        lambda e: e.update(data_offsets=[e["data_offsets"][0] + 8, e["data_offsets"][1] + 8]),
    ),
    ("dtype", lambda e: e.update(dtype="F16")),
    ("dtype object", lambda e: e.update(dtype={"x": 1})),
    ("no shape", lambda e: e.pop("shape")),
    ("extra key", lambda e: e.update(code="print(1)")),
]


def test_hostile_tensor_headers(tmp_path, blobs):
    for name, blob in blobs.items():
        header, doc, data = split(blob)
        for tensor in header:
            for what, edit in HOSTILE_TENSOR_EDITS:
                h = copy.deepcopy(header)
                edit(h[tensor])
                assert check(tmp_path / "m", join(h, doc, data), f"{name}/{tensor}: {what}") == 0
        for what, h in [
            *([("no tensors", {})] if header else []),  # a logits model has none
            (
                "extra tensor",
                {**header, "evil": {"dtype": "F64", "shape": [0], "data_offsets": [0, 0]}},
            ),
            ("header is a list", None),
        ]:
            if h is None:
                raw = b"[1, 2, 3]"
                bad = struct.pack("<Q", len(raw)) + raw + data
            else:
                bad = join(h, doc, data)
            assert check(tmp_path / "m", bad, f"{name}: {what}") == 0


def test_structural_attacks(tmp_path, blobs):
    blob = blobs["binary"]
    header, doc, data = split(blob)
    deep = "[" * 100_000 + "]" * 100_000
    cases = {
        "deeply nested document": join(header, doc, data, raw_doc=deep),
        "deeply nested metadata": join(
            header, doc, data, raw_doc=json.dumps(doc)[:-1] + ', "z": ' + deep + "}"
        ),
        "deeply nested header": struct.pack("<Q", len(deep)) + deep.encode() + data,
        "document not JSON": join(header, doc, data, raw_doc="{not json"),
        "document is a list": join(header, doc, data, raw_doc="[]"),
        "duplicate keys": join(header, doc, data, raw_doc='{"kind": 1, "kind": 2}'),
        "NaN document": join(header, doc, data, raw_doc="NaN"),
        "invalid UTF-8 header": struct.pack("<Q", 4) + b'{"\xff"' + data,
        "newer format": join(header, {**doc, "format_version": FORMAT_VERSION + 1}, data),
        "format zero": join(header, {**doc, "format_version": 0}, data),
        "format as string": join(header, {**doc, "format_version": "1"}, data),
        "header length 2**64-1": b"\xff" * 8 + blob[8:],
        "header length 0": b"\x00" * 8 + blob[8:],
        "empty file": b"",
        "only the length": blob[:8],
    }
    for what, bad in cases.items():
        assert check(tmp_path / "m", bad, what) == 0, what


class _Payload:
    def __reduce__(self):
        import os

        return (os.system, ("touch PWNED",))


def test_pickle_and_joblib_payloads(tmp_path, blobs, monkeypatch):
    monkeypatch.chdir(tmp_path)
    joblib = pytest.importorskip("joblib")
    payloads = {}
    for protocol in range(0, pickle.HIGHEST_PROTOCOL + 1):
        payloads[f"pickle protocol {protocol}"] = pickle.dumps(_Payload(), protocol=protocol)
    for compress in (0, 3, ("gzip", 3), ("bz2", 3), ("lzma", 3)):
        buf = io.BytesIO()
        joblib.dump({"coef": np.ones(3)}, buf, compress=compress)  # pickles, never unpickles
        payloads[f"joblib {compress}"] = buf.getvalue()
    # A valid header whose data is a pickle: the bytes are only ever numbers.
    header, doc, data = split(blobs["binary"])
    evil = pickle.dumps(_Payload(), protocol=2)
    payloads["pickle in data"] = join(header, doc, (evil + data)[: len(data)])
    for what, blob in payloads.items():
        check(tmp_path / "m", blob, what)
    assert not (tmp_path / "PWNED").exists()


def test_random_bytes(tmp_path):
    rng = np.random.default_rng(2)
    for size in list(range(0, 20)) + [int(s) for s in rng.integers(20, 4000, size=80)]:
        blob = rng.integers(0, 256, size=size, dtype=np.uint8).tobytes()
        assert check(tmp_path / "m", blob, f"{size} random bytes") == 0
        # ... and random bytes behind a plausible length prefix
        prefixed = struct.pack("<Q", min(size, 3000)) + blob
        assert check(tmp_path / "m", prefixed, f"{size} random bytes, prefixed") == 0


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(junk=st.binary(max_size=300), cut=st.integers(0, 2000), at=st.integers(0, 2000))
def test_hypothesis_splices(tmp_path, blobs, junk, cut, at):
    blob = blobs["pipeline"]
    spliced = blob[: at % len(blob)] + junk + blob[at % len(blob) + cut % 50 :]
    check(tmp_path / "m", spliced, f"splice {len(junk)} bytes at {at}")


def test_paths_that_are_not_files(tmp_path):
    with pytest.raises(IsADirectoryError):
        softmax.load(tmp_path)
    with pytest.raises(FileNotFoundError):
        read_metadata(tmp_path / "missing")
