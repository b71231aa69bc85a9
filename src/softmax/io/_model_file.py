"""Model files: safetensors tensors + a JSON document in the safetensors metadata.

A model file is one safetensors file (``docs/model_files.md``)::

    8 bytes   little-endian u64 N, the header length
    N bytes   JSON header: {"__metadata__": {"softmax": "<JSON document>"},
                            "coef": {"dtype": "F64", "shape": [K, F], "data_offsets": [b, e]},
                            ...}
    rest      the tensors' bytes, back to back

Everything but the arrays (format and library versions, the estimator kind,
hyperparameters, classes, feature names, the encoder, the solver record and
the user's metadata) lives in the JSON document.  Nothing is ever unpickled
or executed: loading parses JSON and raw little-endian numbers, and checks
every field before it builds an estimator.  The header is read and checked
here (sizes, offsets, dtypes, shapes) before the safetensors library parses
the file, so hostile sizes are refused before any allocation.
"""

from __future__ import annotations

import contextlib
import hashlib
import itertools
import json
import math
import os
import re
import struct
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from numbers import Integral, Real
from typing import Any

import numpy as np

from softmax.io._atomic import atomic_write_bytes

__all__ = ["FORMAT_VERSION", "ModelFileError", "load", "read_metadata", "save"]

#: Version of the layout written by :func:`save`.  Readers accept every
#: version up to their own and refuse newer ones (see docs/model_files.md).
FORMAT_VERSION = 1
#: Headers longer than this are refused before they are read.
MAX_HEADER_BYTES = 100 * 1024 * 1024
_META_KEY = "softmax"
_DTYPES: dict[str, np.dtype] = {
    "F64": np.dtype("<f8"),
    "F32": np.dtype("<f4"),
}
_MAX_NDIM = 4


class ModelFileError(ValueError):
    """A file is not a valid softmax model file (corrupt, truncated, foreign or too new).

    The one error :func:`softmax.load` and :func:`softmax.io.read_metadata`
    raise for the *contents* of a file; a missing path or a directory raise
    :class:`FileNotFoundError` / :class:`IsADirectoryError` as ``open`` does.
    """


# --------------------------------------------------------------------------- #
# reading: bytes -> checked header -> checked document
# --------------------------------------------------------------------------- #
_SIGNATURES = (
    (b"\x80\x02", "a Python pickle (e.g. pickle.dump or joblib.dump)"),
    (b"\x80\x03", "a Python pickle (e.g. pickle.dump or joblib.dump)"),
    (b"\x80\x04", "a Python pickle (e.g. pickle.dump or joblib.dump)"),
    (b"\x80\x05", "a Python pickle (e.g. pickle.dump or joblib.dump)"),
    (b"PK\x03\x04", "a zip archive (e.g. a .npz, torch or skops file)"),
    (b"\x1f\x8b", "gzip-compressed data (e.g. a compressed joblib file)"),
    (b"\x78\x01", "zlib-compressed data (e.g. a compressed joblib file)"),
    (b"\x78\x9c", "zlib-compressed data (e.g. a compressed joblib file)"),
    (b"\x78\xda", "zlib-compressed data (e.g. a compressed joblib file)"),
    (b"\xfd7zXZ", "xz/lzma-compressed data (e.g. a compressed joblib file)"),
    (b"BZh", "bzip2-compressed data (e.g. a compressed joblib file)"),
    (b"\x93NUMPY", "a NumPy .npy file"),
    (b"\x08", "an ONNX or other protobuf file"),
)


def _foreign_hint(prefix: bytes) -> str:
    for magic, what in _SIGNATURES:
        if prefix.startswith(magic):
            return (
                f"; it looks like {what}, which softmax never reads (model files hold no "
                "pickled objects or code)"
            )
    return ""


def _fail(path: str, message: str) -> ModelFileError:
    return ModelFileError(f"{path!s} is not a valid softmax model file: {message}")


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    keys = [k for k, _ in pairs]
    if len(set(keys)) != len(keys):
        dup = sorted({k for k in keys if keys.count(k) > 1})[:3]
        raise ValueError(f"duplicate JSON key(s) {dup}")
    return dict(pairs)


def _parse_json(text: str | bytes, what: str, path: str) -> Any:
    try:
        if isinstance(text, bytes):
            text = text.decode("utf-8")
        return json.loads(text, object_pairs_hook=_no_duplicates)
    except RecursionError:
        raise _fail(path, f"{what} is nested too deeply") from None
    except (ValueError, UnicodeDecodeError) as exc:  # JSONDecodeError is a ValueError
        raise _fail(path, f"{what} is not valid UTF-8 JSON ({exc})") from None


def _is_int(x: Any) -> bool:
    return isinstance(x, Integral) and not isinstance(x, bool)


@dataclass(frozen=True)
class _TensorSpec:
    name: str
    dtype: str
    shape: tuple[int, ...]
    begin: int
    end: int


def _read_header(
    f: Any, path: str, size: int
) -> tuple[dict[str, _TensorSpec], dict[str, Any], int]:
    """Check and parse the header: ``(tensor specs, document, data length)``."""
    prefix = f.read(8)
    if size < 8 or len(prefix) < 8:
        raise _fail(path, f"the file has {size} bytes, fewer than the 8-byte header length")
    (n,) = struct.unpack("<Q", prefix)
    hint = _foreign_hint(prefix)
    if n > MAX_HEADER_BYTES:
        raise _fail(
            path, f"the declared header length {n} exceeds the limit of {MAX_HEADER_BYTES}{hint}"
        )
    if 8 + n > size:
        raise _fail(
            path,
            f"the declared header length {n} runs past the end of the file ({size} bytes); "
            f"the file is truncated or not a model file{hint}",
        )
    raw = f.read(n)
    if len(raw) != n:
        raise _fail(path, "the file changed size while it was read")
    if not raw.lstrip().startswith(b"{"):
        raise _fail(path, f"the header is not a JSON object{hint}")
    header = _parse_json(raw, "the header", path)
    if not isinstance(header, dict):
        raise _fail(path, "the header is not a JSON object")
    data_len = size - 8 - n
    meta = header.pop("__metadata__", None)
    if not isinstance(meta, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in meta.items()
    ):
        raise _fail(path, "the header has no '__metadata__' object of strings (not a softmax file)")
    if _META_KEY not in meta:
        raise _fail(
            path,
            f"the metadata has no {_META_KEY!r} entry (a safetensors file, not a softmax model)",
        )
    specs = {name: _tensor_spec(name, entry, path) for name, entry in header.items()}
    # Tensors must tile the data section exactly: sorted, contiguous, no
    # overlap, nothing left over (so declared shapes match the file's size).
    cursor = 0
    for spec in sorted(specs.values(), key=lambda s: (s.begin, s.end)):
        if spec.begin != cursor:
            raise _fail(
                path,
                f"tensor {spec.name!r} starts at byte {spec.begin}, expected {cursor} "
                "(overlapping or gapped data offsets)",
            )
        cursor = spec.end
    if cursor != data_len:
        raise _fail(
            path,
            f"the tensors declare {cursor} bytes of data but the file holds {data_len} "
            "(truncated or padded file)",
        )
    doc = _parse_json(meta[_META_KEY], "the model document", path)
    if not isinstance(doc, dict):
        raise _fail(path, "the model document is not a JSON object")
    _check_version(doc, path)
    return specs, doc, data_len


def _tensor_spec(name: str, entry: Any, path: str) -> _TensorSpec:
    where = f"tensor {name[:80]!r}"
    if not isinstance(entry, dict) or set(entry) != {"dtype", "shape", "data_offsets"}:
        raise _fail(path, f"{where} must have exactly 'dtype', 'shape' and 'data_offsets'")
    dtype, shape, offsets = entry["dtype"], entry["shape"], entry["data_offsets"]
    if dtype not in _DTYPES:
        raise _fail(path, f"{where} has dtype {str(dtype)[:20]!r}, expected one of {list(_DTYPES)}")
    if (
        not isinstance(shape, list)
        or len(shape) > _MAX_NDIM
        or not all(_is_int(d) and 0 <= d < 2**40 for d in shape)
    ):
        raise _fail(path, f"{where} has an invalid shape {str(shape)[:80]}")
    if (
        not isinstance(offsets, list)
        or len(offsets) != 2
        or not all(_is_int(o) and o >= 0 for o in offsets)
        or offsets[0] > offsets[1]
    ):
        raise _fail(path, f"{where} has invalid data_offsets {str(offsets)[:80]}")
    nbytes = math.prod(shape) * _DTYPES[dtype].itemsize  # Python ints: no overflow
    if nbytes != offsets[1] - offsets[0]:
        raise _fail(
            path,
            f"{where} declares shape {shape} ({nbytes} bytes) but data_offsets span "
            f"{offsets[1] - offsets[0]} bytes",
        )
    return _TensorSpec(name, dtype, tuple(shape), offsets[0], offsets[1])


def _check_version(doc: dict[str, Any], path: str) -> None:
    version: Any = doc.get("format_version")
    if not _is_int(version) or version < 1:
        raise _fail(path, f"'format_version' must be a positive integer, got {version!r:.80}")
    if version > FORMAT_VERSION:
        from softmax import __version__

        raise _fail(
            path,
            f"it was written by a newer version of softmax (format version {version}, "
            f"library {str(doc.get('library_version'))[:40]}); this softmax {__version__} "
            f"reads format versions up to {FORMAT_VERSION}: upgrade softmax to load it",
        )


def _open_checked(path: Any) -> tuple[Any, str, int]:
    """Open ``path`` for reading; FileNotFoundError / IsADirectoryError pass through."""
    shown = os.fspath(path)
    if os.path.isdir(shown):
        import errno

        raise IsADirectoryError(errno.EISDIR, "is a directory, not a model file", shown)
    f = open(shown, "rb")  # closed by the callers' try/finally
    size = os.fstat(f.fileno()).st_size
    return f, str(shown), size


def read_metadata(path: Any) -> dict[str, Any]:
    """The JSON document of a model file, without reading its tensors.

    Returns
    -------
    dict
        With at least ``format_version``, ``library_version``, ``kind``,
        ``hyperparameters``, ``classes``, ``classes_dtype``, ``n_features_in``,
        ``feature_names`` (list or None), ``encoder`` (dict or None),
        ``solver`` and ``metadata`` (the user's dict or None); ``fitted``
        (the kind's fitted scalars) for the kinds that have them.  The
        document is fully validated, as by :func:`load`.

    Raises
    ------
    ModelFileError
        If the file is not a valid model file.
    FileNotFoundError, IsADirectoryError, PermissionError
        For paths that cannot be opened as files.
    """
    f, shown, size = _open_checked(path)
    try:
        with _one_error(shown):
            specs, doc, _ = _read_header(f, shown, size)
            _decode_document(doc, specs, shown)  # validates; tensors are not needed for that
    finally:
        f.close()
    return doc


def load(path: Any) -> Any:
    """Load a model written by :func:`save`: a fitted estimator or Pipeline.

    Nothing in the file is executed: the tensors are raw little-endian numbers
    and everything else is JSON, all checked before the estimator is built.
    The result predicts bit-for-bit as the saved model did.

    Parameters
    ----------
    path : str or os.PathLike

    Returns
    -------
    estimator or sklearn.pipeline.Pipeline
        The same kind of object that was saved, fitted (see :func:`save`).

    Raises
    ------
    ModelFileError
        If the file is truncated, corrupted, foreign (pickle, joblib, arbitrary
        bytes), has an oversized header, or was written by a newer version.
    FileNotFoundError, IsADirectoryError, PermissionError
        For paths that cannot be opened as files.
    """
    f, shown, size = _open_checked(path)
    try:
        with _one_error(shown):
            specs, doc, _ = _read_header(f, shown, size)
            f.seek(0)
            blob = f.read()
    finally:
        f.close()
    with _one_error(shown):
        if len(blob) != size:
            raise _fail(shown, "the file changed size while it was read")
        decoded = _decode_document(doc, specs, shown)
        tensors = _parse_tensors(blob, specs, shown)
        model = decoded.build(tensors)  # its checks name what is wrong, where they can
        expected = doc.get("tensors_sha256")  # absent from files of versions before it
        if expected is not None and expected != _tensors_digest(tensors):
            raise _fail(
                shown, "its tensors do not match their SHA-256 checksum (the file is corrupted)"
            )
        return model


def _tensors_digest(tensors: dict[str, np.ndarray]) -> str:
    """SHA-256 (hex) of the tensors, by name, with their dtypes, shapes and
    little-endian bytes: a flipped bit in the data section changes it."""
    h = hashlib.sha256()
    for name in sorted(tensors):
        a = np.ascontiguousarray(tensors[name])
        a = a.astype(a.dtype.newbyteorder("<"), copy=False)
        h.update(json.dumps([name, a.dtype.str, list(a.shape)]).encode())
        h.update(a.view(np.uint8).tobytes() if a.size else b"")
    return h.hexdigest()


@contextlib.contextmanager
def _one_error(path: str) -> Iterator[None]:
    """Turn anything a hostile file could still provoke into ModelFileError.

    The checks above are meant to catch every defect with a precise message;
    this is the guarantee that a case they miss still raises the one
    documented error rather than, say, a KeyError.
    """
    try:
        yield
    except ModelFileError:
        raise
    except (ValueError, TypeError, KeyError, IndexError, AttributeError, OverflowError) as exc:
        raise _fail(path, f"{type(exc).__name__}: {str(exc)[:200]}") from None
    except RecursionError:
        raise _fail(path, "it is nested too deeply") from None


def _parse_tensors(blob: bytes, specs: dict[str, _TensorSpec], path: str) -> dict[str, np.ndarray]:
    from safetensors.numpy import load as st_load

    try:
        arrays = st_load(blob)
    except Exception as exc:  # the header was checked; this is belt and braces
        raise _fail(path, f"safetensors could not parse it ({type(exc).__name__}: {exc})") from None
    out: dict[str, np.ndarray] = {}
    for name, spec in specs.items():
        a = arrays.get(name)
        if a is None or a.shape != spec.shape or a.dtype.newbyteorder("<") != _DTYPES[spec.dtype]:
            raise _fail(path, f"tensor {name!r} does not match its header entry")
        out[name] = np.array(a, dtype=_DTYPES[spec.dtype].newbyteorder("="), order="C")
    return out


# --------------------------------------------------------------------------- #
# the document: generic fields, then a registry of estimator kinds
# --------------------------------------------------------------------------- #
@dataclass(frozen=True)
class _Codec:
    """How one estimator kind goes to and from (tensors, document fields).

    ``decode`` checks everything kind-specific, the tensor names and shapes
    included (:func:`_check_tensor_set`), before any tensor is read.
    """

    #: fitted estimator -> (tensors, kind-specific document fields)
    dump: Callable[[Any], tuple[dict[str, np.ndarray], dict[str, Any]]]
    #: (document, tensor specs, path) -> a builder taking the tensors
    decode: Callable[[dict[str, Any], dict[str, _TensorSpec], str], Callable[..., Any]]
    #: the estimator class, imported lazily
    cls: Callable[[], type]
    #: whether the document has a ``"fitted"`` object (fitted scalars of the kind)
    fitted: bool = False


@dataclass(frozen=True)
class _Decoded:
    build: Callable[[dict[str, np.ndarray]], Any]


_CODECS: dict[str, _Codec] = {}
_DOC_KEYS = {
    "format_version",
    "library_version",
    "kind",
    "hyperparameters",
    "classes",
    "classes_dtype",
    "n_features_in",
    "feature_names",
    "feature_names_in",
    "encoder",
    "pipeline",
    "solver",
    "metadata",
}
#: Keys present only for some kinds (absent from every SoftmaxRegression file,
#: so that those stay exactly as the first v1 files were).
_OPTIONAL_DOC_KEYS = {"fitted", "tensors_sha256"}


def _decode_document(doc: dict[str, Any], specs: dict[str, _TensorSpec], path: str) -> _Decoded:
    """Validate every field of ``doc`` against itself and the tensor specs."""
    # The kind first: a reader that predates a kind names it rather than its fields.
    kind = doc.get("kind")
    if not isinstance(kind, str) or kind not in _CODECS:
        raise _fail(path, f"unknown model kind {str(kind)[:80]!r}; known: {sorted(_CODECS)}")
    missing = sorted(_DOC_KEYS - set(doc))
    if missing:
        raise _fail(path, f"the model document lacks the key(s) {missing}")
    unknown = sorted(set(doc) - _DOC_KEYS - _OPTIONAL_DOC_KEYS)
    if unknown:
        raise _fail(path, f"the model document has unknown key(s) {[k[:40] for k in unknown[:5]]}")
    if not isinstance(doc["library_version"], str) or len(doc["library_version"]) > 100:
        raise _fail(path, "'library_version' must be a short string")
    if doc["metadata"] is not None and not isinstance(doc["metadata"], dict):
        raise _fail(path, "'metadata' must be a JSON object or null")
    codec = _CODECS[kind]
    if codec.fitted != ("fitted" in doc) or (codec.fitted and not isinstance(doc["fitted"], dict)):
        need = "needs a 'fitted' object" if codec.fitted else "has no 'fitted' key"
        raise _fail(path, f"a {kind} document {need}")
    build_model = codec.decode(doc, specs, path)
    build_pipeline = _decode_pipeline(doc, path)
    return _Decoded(lambda tensors: build_pipeline(build_model(tensors)))


def _decode_pipeline(doc: dict[str, Any], path: str) -> Callable[[Any], Any]:
    pipeline, encoder = doc["pipeline"], doc["encoder"]
    if pipeline is None:
        if encoder is not None:
            raise _fail(path, "an 'encoder' is only valid in a pipeline")
        return lambda model: model
    if (
        not isinstance(pipeline, dict)
        or set(pipeline) != {"steps"}
        or not isinstance(pipeline["steps"], list)
        or len(pipeline["steps"]) != 2
        or not all(isinstance(s, str) and s and "__" not in s for s in pipeline["steps"])
        or pipeline["steps"][0] == pipeline["steps"][1]
    ):
        raise _fail(path, "'pipeline' must be {\"steps\": [encoder step name, model step name]}")
    if encoder is None:
        raise _fail(path, "a pipeline needs its 'encoder'")
    from softmax.io._tabular import TabularEncoder

    try:
        enc = TabularEncoder.from_dict(encoder)
    except ValueError as exc:
        raise _fail(path, f"invalid encoder: {exc}") from None
    names = [str(n) for n in enc.get_feature_names_out()]
    if names != doc["feature_names"]:
        raise _fail(
            path,
            f"the encoder produces {len(names)} features that differ from the model's "
            f"feature_names ({str(doc['feature_names'])[:80]})",
        )
    steps = pipeline["steps"]

    def build(model: Any) -> Any:
        from sklearn.pipeline import Pipeline

        return Pipeline([(steps[0], enc), (steps[1], model)])

    return build


# --------------------------------------------------------------------------- #
# shared field checks
# --------------------------------------------------------------------------- #
_CLASS_DTYPE = re.compile(r"^(?:[<>|=]?(?:U[1-9][0-9]{0,5}|[iu][1248]|b1|f[48])|\|?O)$")


def _classes_to_json(classes: np.ndarray) -> tuple[list[Any], str]:
    dtype = classes.dtype
    if not _CLASS_DTYPE.match(dtype.str):
        raise ValueError(f"classes_ of dtype {dtype} cannot be saved; use ints, strings or bools")
    values = classes.tolist()
    if dtype.kind == "O" and not all(isinstance(v, str) for v in values):
        raise ValueError("classes_ of dtype object can be saved only when every class is a str")
    if dtype.kind == "f" and not all(math.isfinite(v) for v in values):
        raise ValueError("classes_ must be finite")
    return values, dtype.str


def _classes_from_json(
    values: Any, dtype_str: Any, path: str, *, minimum: int = 2, ordered: bool = True
) -> np.ndarray:
    """The classes (``minimum`` of them at least; sorted and unique when ``ordered``,
    else unique in the order given: the columns of a multi-label or logits model)."""
    if not isinstance(dtype_str, str) or not _CLASS_DTYPE.match(dtype_str):
        raise _fail(path, f"'classes_dtype' {str(dtype_str)[:40]!r} is not a supported dtype")
    if not isinstance(values, list) or len(values) < minimum:
        raise _fail(path, f"'classes' must be a list of at least {minimum} labels")
    dtype = np.dtype(dtype_str)
    kind = dtype.kind
    if kind in "UO":
        ok = all(isinstance(v, str) for v in values)
        ok = ok and (kind == "O" or all(len(v) <= dtype.itemsize // 4 for v in values))
    elif kind in "iu":
        info = np.iinfo(dtype)
        ok = all(_is_int(v) and info.min <= v <= info.max for v in values)
    elif kind == "b":
        ok = all(isinstance(v, bool) for v in values)
    else:
        ok = all(
            isinstance(v, Real) and not isinstance(v, bool) and math.isfinite(v) for v in values
        )
    if not ok:
        raise _fail(path, f"'classes' do not all fit their dtype {dtype_str!r}")
    classes = np.empty(len(values), dtype=dtype)
    classes[:] = values
    if ordered and not all(a < b for a, b in itertools.pairwise(values)):
        raise _fail(path, "'classes' must be sorted and unique")
    if not ordered and len({(type(v), v) for v in values}) != len(values):
        raise _fail(path, "'classes' must be unique")
    return classes


def _feature_names(value: Any, n: int, key: str, path: str) -> list[str] | None:
    if value is None:
        return None
    if not isinstance(value, list) or len(value) != n or not all(isinstance(v, str) for v in value):
        raise _fail(path, f"'{key}' must be null or a list of {n} strings")
    return value


def _hyperparameters_to_json(params: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in params.items():
        if key == "random_state" and not (value is None or _is_int(value)):
            value = None  # a RandomState instance; unused by the deterministic solvers
        if key == "class_weight" and isinstance(value, dict):
            value = {"pairs": [[_plain(k), _plain(v)] for k, v in value.items()]}
        if isinstance(value, list | tuple | np.ndarray):  # Cs, threshold, classes, ...
            value = [_plain(v) for v in np.asarray(value, dtype=object).ravel()]
            if not all(v is None or isinstance(v, bool | int | float | str) for v in value):
                raise ValueError(f"hyperparameter {key}={value!r} cannot be stored as JSON")
        value = _plain(value)
        if not (value is None or isinstance(value, bool | int | float | str | dict | list)):
            raise ValueError(f"hyperparameter {key}={value!r} cannot be stored as JSON")
        out[key] = value
    return out


def _plain(value: Any) -> Any:
    """NumPy scalars as the Python scalars JSON knows."""
    return value.item() if isinstance(value, np.generic) else value


def _check_hyperparameters(
    raw: Any, defaults: dict[str, Any], path: str, lists: tuple[str, ...] = ()
) -> dict[str, Any]:
    """Names among ``defaults``; JSON scalars, or flat lists of them for the keys in ``lists``."""
    if not isinstance(raw, dict):
        raise _fail(path, "'hyperparameters' must be a JSON object")
    unknown = sorted(set(raw) - set(defaults))
    if unknown:
        raise _fail(path, f"unknown hyperparameter(s) {[k[:40] for k in unknown[:5]]}")
    params: dict[str, Any] = {}
    for key, value in raw.items():
        if key == "class_weight" and isinstance(value, dict):
            pairs = value.get("pairs")
            if (
                set(value) != {"pairs"}
                or not isinstance(pairs, list)
                or not all(
                    isinstance(p, list)
                    and len(p) == 2
                    and isinstance(p[0], str | int | float | bool)
                    and isinstance(p[1], int | float)
                    and not isinstance(p[1], bool)
                    and math.isfinite(p[1])
                    and p[1] >= 0
                    for p in pairs
                )
            ):
                raise _fail(path, "hyperparameter 'class_weight' has an invalid class-weight table")
            value = {p[0]: p[1] for p in pairs}
        elif key in lists and isinstance(value, list):
            if len(value) > 1_000_000 or not all(
                isinstance(v, bool | int | float | str)
                and not (isinstance(v, float) and math.isnan(v))
                for v in value
            ):
                raise _fail(
                    path, f"hyperparameter {key!r} must be a flat list of numbers or labels"
                )
        elif not (value is None or isinstance(value, bool | int | float | str)):
            raise _fail(path, f"hyperparameter {key!r} has a value of type {type(value).__name__}")
        if isinstance(value, float) and math.isnan(value):
            raise _fail(path, f"hyperparameter {key!r} is NaN")
        params[key] = value
    return params


# --------------------------------------------------------------------------- #
# SoftmaxRegression, and the checks every linear kind shares
# --------------------------------------------------------------------------- #
def _check_tensor_set(
    kind: str, expected: dict[str, int], specs: dict[str, Any], path: str
) -> None:
    """The tensor names and their ndim, exactly."""
    shapes = {name: len(s.shape) for name, s in specs.items()}
    if shapes != expected:
        raise _fail(
            path,
            f"a {kind} file holds the tensors {expected} (name: ndim), "
            f"this one {dict(list(shapes.items())[:10])}",
        )


def _check_bools(params: dict[str, Any], keys: tuple[str, ...], path: str) -> None:
    for key in keys:
        if key in params and not isinstance(params[key], bool):
            raise _fail(path, f"hyperparameter {key!r} must be true or false")


def _probe(cls: type, params: dict[str, Any], path: str, *checks: str) -> Any:
    """``cls(**params)`` with its own parameter checks run (ModelFileError naming them)."""
    probe = cls(**params)
    try:
        for check in checks:
            getattr(probe, check)()
    except (ValueError, TypeError) as exc:
        raise _fail(path, f"invalid hyperparameters: {exc}") from None
    return probe


def _check_features(doc: dict[str, Any], path: str) -> tuple[int, list[str] | None]:
    """``(n_features_in, feature_names_in)``, consistent with ``feature_names``."""
    n_features = doc["n_features_in"]
    if not _is_int(n_features) or n_features < 1:
        raise _fail(path, f"'n_features_in' must be a positive integer, got {n_features!r:.40}")
    names_in = _feature_names(doc["feature_names_in"], n_features, "feature_names_in", path)
    feature_names = _feature_names(doc["feature_names"], n_features, "feature_names", path)
    if names_in is not None and feature_names != names_in:
        raise _fail(path, "'feature_names' must equal 'feature_names_in' when both are given")
    if doc["pipeline"] is None and feature_names != names_in:
        raise _fail(path, "'feature_names' of a bare model must equal its 'feature_names_in'")
    return n_features, names_in


def _check_linear_tensors(
    specs: dict[str, _TensorSpec], n_rows: int, n_features: int, what: str, path: str
) -> None:
    """``coef`` (n_rows, n_features), ``intercept`` (n_rows,) of its dtype, float64 history."""
    coef, intercept, history = specs["coef"], specs["intercept"], specs["objective_history"]
    if coef.shape != (n_rows, n_features):
        raise _fail(
            path,
            f"'coef' has shape {coef.shape}, expected {(n_rows, n_features)} for "
            f"{what} and {n_features} features",
        )
    if intercept.shape != (n_rows,):
        raise _fail(path, f"'intercept' has shape {intercept.shape}, expected {(n_rows,)}")
    if intercept.dtype != coef.dtype:
        raise _fail(path, "'intercept' and 'coef' must have the same dtype")
    if history.dtype != "F64":
        raise _fail(path, "'objective_history' must be float64")


_SOLVER_SHAPE = '\'solver\' must be {"n_iter": [int], "converged": bool, "solver": str}'


def _check_solver(solver: Any, path: str, n_iter: int = 1, fitted: bool = True) -> None:
    """The solver record; ``fitted=False``: ``converged`` and ``solver`` are null."""
    if (
        not isinstance(solver, dict)
        or set(solver) != {"n_iter", "converged", "solver"}
        or not isinstance(solver["n_iter"], list)
        or len(solver["n_iter"]) != n_iter
        or not all(_is_int(i) and 0 <= i < 2**31 for i in solver["n_iter"])
    ):
        raise _fail(path, _SOLVER_SHAPE)
    if fitted:
        if (
            not isinstance(solver["converged"], bool)
            or not isinstance(solver["solver"], str)
            or not 0 < len(solver["solver"]) <= 100
        ):
            raise _fail(path, _SOLVER_SHAPE)
    elif solver["converged"] is not None or solver["solver"] is not None:
        raise _fail(path, "'solver' of a model that was not refitted has null converged/solver")


def _dump_solver(est: Any, fitted: bool = True) -> dict[str, Any]:
    return {
        "n_iter": [int(i) for i in np.ravel(est.n_iter_)],
        "converged": bool(est.converged_) if fitted else None,
        "solver": str(est.solver_) if fitted else None,
    }


def _dump_linear(
    est: Any, params: dict[str, Any] | None = None
) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """The tensors and document fields of any fitted linear model (coef_, intercept_);
    ``params``: the hyperparameters to store, if not ``est.get_params(deep=False)``."""
    coef = np.ascontiguousarray(est.coef_)
    if coef.dtype not in (np.float32, np.float64):
        raise ValueError(f"coef_ has dtype {coef.dtype}; expected float32 or float64")
    classes, classes_dtype = _classes_to_json(np.asarray(est.classes_))
    names_in = getattr(est, "feature_names_in_", None)
    history = getattr(est, "objective_history_", [])
    tensors = {
        "coef": coef,
        "intercept": np.ascontiguousarray(est.intercept_, dtype=coef.dtype),
        "objective_history": np.asarray(history, dtype=np.float64).reshape(-1),
    }
    fields = {
        "hyperparameters": _hyperparameters_to_json(
            est.get_params(deep=False) if params is None else params
        ),
        "classes": classes,
        "classes_dtype": classes_dtype,
        "n_features_in": int(est.n_features_in_),
        "feature_names_in": None if names_in is None else [str(n) for n in names_in],
    }
    return tensors, fields


def _check_linear_values(tensors: dict[str, np.ndarray], path: str) -> None:
    for name in ("coef", "intercept"):
        if not np.isfinite(tensors[name]).all():
            raise _fail(path, f"'{name}' has non-finite values")
    if np.isnan(tensors["objective_history"]).any():
        raise _fail(path, "'objective_history' has NaN values")


def _set_linear(
    est: Any,
    tensors: dict[str, np.ndarray],
    classes: np.ndarray,
    n_features: int,
    names_in: list[str] | None,
) -> None:
    est.classes_ = classes
    est.coef_ = tensors["coef"]
    est.intercept_ = tensors["intercept"]
    est.n_features_in_ = n_features
    if names_in is not None:
        est.feature_names_in_ = np.array(names_in, dtype=object)


def _set_solver(est: Any, tensors: dict[str, np.ndarray], solver: dict[str, Any]) -> None:
    est.objective_history_ = [float(v) for v in tensors["objective_history"]]
    est.converged_ = solver["converged"]
    est.solver_ = solver["solver"]


def _softmax_regression_cls() -> type:
    from softmax.estimators import SoftmaxRegression

    return SoftmaxRegression


def _dump_softmax_regression(est: Any) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    tensors, fields = _dump_linear(est)
    fields["solver"] = _dump_solver(est)
    return tensors, fields


def _check_softmax_params(cls: type, doc: dict[str, Any], path: str, *checks: str) -> dict:
    """The hyperparameters of SoftmaxRegression (and its CV), checked as ``fit`` would."""
    defaults = cls().get_params(deep=False)
    lists = ("Cs", "l1_ratios") if "Cs" in defaults else ()
    params = _check_hyperparameters(doc["hyperparameters"], defaults, path, lists)
    _check_bools(params, ("fit_intercept", "warm_start", "refit"), path)
    if not (params.get("random_state") is None or _is_int(params["random_state"])):
        raise _fail(path, "hyperparameter 'random_state' must be an integer or null")
    cw = params.get("class_weight")
    if not (cw is None or cw == "balanced" or isinstance(cw, dict)):
        raise _fail(path, f"hyperparameter 'class_weight' = {str(cw)[:40]!r} is invalid")
    _probe(cls, params, path, *checks)
    return params


def _decode_softmax_regression(
    doc: dict[str, Any], specs: dict[str, _TensorSpec], path: str
) -> Callable[[dict[str, np.ndarray]], Any]:
    _check_tensor_set(
        "SoftmaxRegression", {"coef": 2, "intercept": 1, "objective_history": 1}, specs, path
    )
    cls = _softmax_regression_cls()
    params = _check_softmax_params(cls, doc, path, "_check_params")
    classes = _classes_from_json(doc["classes"], doc["classes_dtype"], path)
    n_features, names_in = _check_features(doc, path)
    n_rows = 1 if classes.shape[0] == 2 else classes.shape[0]
    _check_linear_tensors(specs, n_rows, n_features, f"{classes.shape[0]} classes", path)
    solver = doc["solver"]
    _check_solver(solver, path)

    def build(tensors: dict[str, np.ndarray]) -> Any:
        _check_linear_values(tensors, path)
        est = cls(**params)
        _set_linear(est, tensors, classes, n_features, names_in)
        est.n_iter_ = np.array(solver["n_iter"], dtype=np.int32)
        _set_solver(est, tensors, solver)
        return est

    return build


_CODECS["SoftmaxRegression"] = _Codec(
    dump=_dump_softmax_regression,
    decode=_decode_softmax_regression,
    cls=_softmax_regression_cls,
)


# --------------------------------------------------------------------------- #
# writing
# --------------------------------------------------------------------------- #
def _split_model(model: Any) -> tuple[Any, Any, list[str] | None]:
    """``(estimator, encoder or None, pipeline step names or None)``."""
    from sklearn.pipeline import Pipeline

    from softmax.io._tabular import TabularEncoder

    if isinstance(model, Pipeline):
        steps = model.steps
        if (
            len(steps) != 2
            or not isinstance(steps[0][1], TabularEncoder)
            or _kind_of(steps[1][1]) is None
        ):
            raise TypeError(
                "save supports a Pipeline of exactly (TabularEncoder, model) with model one of "
                f"{sorted(_CODECS)}, got steps "
                f"{[(name, type(step).__name__) for name, step in steps]}"
            )
        return steps[1][1], steps[0][1], [steps[0][0], steps[1][0]]
    if _kind_of(model) is None:
        raise TypeError(
            f"save supports {sorted(_CODECS)} and a Pipeline(TabularEncoder, one of them), "
            f"got model of type {type(model).__name__}"
        )
    return model, None, None


def _kind_of(est: Any) -> str | None:
    for kind, codec in _CODECS.items():
        if type(est) is codec.cls():
            return kind
    return None


def save(
    model: Any, path: Any, *, metadata: dict[str, Any] | None = None, overwrite: bool = False
) -> None:
    """Save a fitted model to one safe file (safetensors + JSON, never pickle).

    Parameters
    ----------
    model : estimator or Pipeline
        Fitted: a SoftmaxRegression, SoftmaxRegressionCV,
        MultiLabelLogisticRegression or TemperatureScaling (on logits, or
        wrapping a SoftmaxRegression or SoftmaxRegressionCV), or a Pipeline
        ``[("encoder", TabularEncoder), ("model", one of those)]`` (any step
        names).
    path : str or os.PathLike
        Conventionally ``*.safetensors``.
    metadata : dict, optional
        Any JSON-serialisable record to keep with the model (training data,
        metrics, ...); :func:`softmax.io.read_metadata` returns it.
    overwrite : bool, default=False
        Replace an existing file.

    Raises
    ------
    FileExistsError
        If ``path`` exists and ``overwrite`` is False.
    TypeError
        For an unsupported model type or non-JSON metadata.
    sklearn.exceptions.NotFittedError
        If the model is not fitted.

    Notes
    -----
    The write is atomic: the bytes go to a temporary file in the same
    directory, are fsynced and renamed over ``path``, so ``path`` holds
    either the old file or the complete new one, never a part.
    """
    from sklearn.utils.validation import check_is_fitted

    from softmax import __version__

    est, encoder, steps = _split_model(model)
    check_is_fitted(est)
    kind = _kind_of(est)
    assert kind is not None
    tensors, fields = _CODECS[kind].dump(est)
    if encoder is not None:
        check_is_fitted(encoder, "columns_")
        feature_names = [str(n) for n in encoder.get_feature_names_out()]
        names_in = fields["feature_names_in"]
        if len(feature_names) != fields["n_features_in"] or (
            names_in is not None and names_in != feature_names
        ):
            raise ValueError(
                f"the encoder produces {len(feature_names)} features but the model was "
                f"fitted on {fields['n_features_in']}; refit the pipeline"
            )
    else:
        feature_names = fields["feature_names_in"]
    if metadata is not None and not isinstance(metadata, dict):
        raise TypeError(f"metadata must be a dict or None, got {type(metadata).__name__}")
    doc = {
        "format_version": FORMAT_VERSION,
        "library_version": __version__,
        "kind": kind,
        **fields,
        "feature_names": feature_names,
        "encoder": None if encoder is None else encoder.to_dict(),
        "pipeline": None if steps is None else {"steps": steps},
        "metadata": metadata,
        "tensors_sha256": _tensors_digest(tensors),
    }
    try:
        text = json.dumps(doc, ensure_ascii=False)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"metadata must be JSON-serialisable: {exc}") from None
    from safetensors.numpy import save as st_save

    blob = st_save(tensors, metadata={_META_KEY: text})
    if struct.unpack("<Q", blob[:8])[0] > MAX_HEADER_BYTES:
        raise ValueError(f"the model's metadata exceeds {MAX_HEADER_BYTES} bytes once encoded")
    atomic_write_bytes(path, blob, overwrite=overwrite)


# The other kinds register themselves in _CODECS (they use the helpers above).
from softmax.io import _model_kinds  # noqa: E402, F401
