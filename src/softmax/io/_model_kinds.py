"""Model-file codecs of the kinds beyond SoftmaxRegression (``docs/model_files.md``).

Each kind registers a :class:`~softmax.io._model_file._Codec` in the registry
of :mod:`softmax.io._model_file`: how a fitted estimator becomes tensors and
document fields, and how a document is checked (every field, every tensor
shape) before the estimator is rebuilt from the tensors.  New kinds are
additive: a file of an existing kind is written and read exactly as before.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from numbers import Real
from typing import Any

import numpy as np

from softmax.io._model_file import (
    _CODECS,
    _check_bools,
    _check_features,
    _check_hyperparameters,
    _check_linear_tensors,
    _check_linear_values,
    _check_softmax_params,
    _check_solver,
    _check_tensor_set,
    _classes_from_json,
    _classes_to_json,
    _Codec,
    _dump_linear,
    _dump_solver,
    _fail,
    _hyperparameters_to_json,
    _is_int,
    _set_linear,
    _set_solver,
    _TensorSpec,
)

__all__: list[str] = []

_Builder = Callable[[dict[str, np.ndarray]], Any]


def _real(value: Any) -> bool:
    return isinstance(value, Real) and not isinstance(value, bool) and not math.isnan(value)


def _check_fitted(doc: dict[str, Any], keys: set[str], path: str) -> dict[str, Any]:
    fitted = doc["fitted"]
    if set(fitted) != keys:
        raise _fail(path, f"'fitted' must have exactly the keys {sorted(keys)}")
    return fitted


# --------------------------------------------------------------------------- #
# SoftmaxRegressionCV
# --------------------------------------------------------------------------- #
def _cv_cls() -> type:
    from softmax.estimators import SoftmaxRegressionCV

    return SoftmaxRegressionCV


_CV_TENSORS = {
    "coef": 2,
    "intercept": 1,
    "objective_history": 1,
    "Cs": 1,
    "l1_ratios": 1,
    "scores": 3,
}


def _dump_cv(est: Any) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    params = est.get_params(deep=False)
    # A CV splitter or a scoring callable is code: only refitting needs it.
    if not (params["cv"] is None or _is_int(params["cv"])):
        params["cv"] = None
    if not (params["scoring"] is None or isinstance(params["scoring"], str)):
        params["scoring"] = None
    tensors, fields = _dump_linear(est, params)
    refitted = hasattr(est, "solver_")
    tensors["Cs"] = np.asarray(est.Cs_, dtype=np.float64)
    tensors["l1_ratios"] = np.asarray(est.l1_ratios_, dtype=np.float64)
    tensors["scores"] = np.ascontiguousarray(est.scores_, dtype=np.float64)
    fields["solver"] = _dump_solver(est, fitted=refitted)
    fields["fitted"] = {"C_": float(est.C_), "l1_ratio_": float(est.l1_ratio_)}
    return tensors, fields


def _decode_cv(doc: dict[str, Any], specs: dict[str, _TensorSpec], path: str) -> _Builder:
    _check_tensor_set("SoftmaxRegressionCV", _CV_TENSORS, specs, path)
    cls = _cv_cls()
    params = _check_softmax_params(cls, doc, path, "_grid", "_check_params_without_C")
    grid, ratios = cls(**params)._grid()
    classes = _classes_from_json(doc["classes"], doc["classes_dtype"], path)
    n_features, names_in = _check_features(doc, path)
    n_rows = 1 if classes.shape[0] == 2 else classes.shape[0]
    _check_linear_tensors(specs, n_rows, n_features, f"{classes.shape[0]} classes", path)
    scores = specs["scores"].shape
    if (
        scores[1:] != (len(ratios), grid.shape[0])
        or not 1 <= scores[0] <= 10_000
        or specs["Cs"].shape != (grid.shape[0],)
        or specs["l1_ratios"].shape != (len(ratios),)
    ):
        raise _fail(
            path,
            f"'scores' {scores}, 'Cs' {specs['Cs'].shape} and 'l1_ratios' "
            f"{specs['l1_ratios'].shape} do not match the grid of {grid.shape[0]} C and "
            f"{len(ratios)} l1_ratio",
        )
    if any(specs[name].dtype != "F64" for name in ("Cs", "l1_ratios", "scores")):
        raise _fail(path, "'Cs', 'l1_ratios' and 'scores' must be float64")
    solver = doc["solver"]
    refitted = not (isinstance(solver, dict) and solver.get("converged") is None)
    _check_solver(solver, path, n_iter=math.prod(scores), fitted=refitted)
    if not refitted and specs["objective_history"].shape != (0,):
        raise _fail(path, "a model that was not refitted has an empty 'objective_history'")
    fitted = _check_fitted(doc, {"C_", "l1_ratio_"}, path)
    if not (_real(fitted["C_"]) and fitted["C_"] > 0):
        raise _fail(path, f"'C_' must be a number > 0, got {str(fitted['C_'])[:40]}")
    if not (_real(fitted["l1_ratio_"]) and 0 <= fitted["l1_ratio_"] <= 1):
        raise _fail(path, f"'l1_ratio_' must be in [0, 1], got {str(fitted['l1_ratio_'])[:40]}")

    def build(tensors: dict[str, np.ndarray]) -> Any:
        _check_linear_values(tensors, path)
        if not np.array_equal(tensors["Cs"], grid):
            raise _fail(path, "'Cs' differs from the grid the hyperparameter 'Cs' gives")
        l1 = tensors["l1_ratios"]
        if not ((l1 >= 0) & (l1 <= 1)).all():
            raise _fail(path, "'l1_ratios' must be in [0, 1]")
        if np.isnan(tensors["scores"]).any():
            raise _fail(path, "'scores' has NaN values")
        if refitted and not (fitted["C_"] in grid and fitted["l1_ratio_"] in l1):
            raise _fail(path, "the refitted 'C_' and 'l1_ratio_' must be on the grid")
        est = cls(**params)
        _set_linear(est, tensors, classes, n_features, names_in)
        est.Cs_ = tensors["Cs"]
        est.l1_ratios_ = l1
        est.scores_ = tensors["scores"]
        est.n_iter_ = np.array(solver["n_iter"], dtype=np.intp).reshape(scores)
        est.C_ = float(fitted["C_"])
        est.l1_ratio_ = float(fitted["l1_ratio_"])
        if refitted:
            _set_solver(est, tensors, solver)
        return est

    return build


_CODECS["SoftmaxRegressionCV"] = _Codec(dump=_dump_cv, decode=_decode_cv, cls=_cv_cls, fitted=True)


# --------------------------------------------------------------------------- #
# MultiLabelLogisticRegression
# --------------------------------------------------------------------------- #
def _multilabel_cls() -> type:
    from softmax.estimators import MultiLabelLogisticRegression

    return MultiLabelLogisticRegression


def _dump_multilabel(est: Any) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    tensors, fields = _dump_linear(est)
    tensors["pos_weight"] = np.asarray(est.pos_weight_, dtype=np.float64)
    fields["solver"] = _dump_solver(est)
    return tensors, fields


def _decode_multilabel(doc: dict[str, Any], specs: dict[str, _TensorSpec], path: str) -> _Builder:
    kind = "MultiLabelLogisticRegression"
    expected = {"coef": 2, "intercept": 1, "objective_history": 1, "pos_weight": 1}
    _check_tensor_set(kind, expected, specs, path)
    cls = _multilabel_cls()
    defaults = cls().get_params(deep=False)
    params = _check_hyperparameters(
        doc["hyperparameters"], defaults, path, lists=("pos_weight", "threshold")
    )
    _check_bools(params, ("fit_intercept", "warm_start"), path)
    classes = _classes_from_json(
        doc["classes"], doc["classes_dtype"], path, minimum=1, ordered=False
    )
    n_labels = classes.shape[0]
    probe = cls(**params)
    probe.coef_ = np.zeros((n_labels, 1))  # _thresholds needs the number of labels
    try:
        from softmax.estimators._fitting import check_fit_params

        check_fit_params(probe, nonsmooth=False)
        probe._thresholds(probe.threshold)
        if probe.pos_weight != "balanced":
            probe._pos_weight(np.zeros((1, n_labels)), np.ones(1), classes)
    except (ValueError, TypeError) as exc:
        raise _fail(path, f"invalid hyperparameters: {exc}") from None
    n_features, names_in = _check_features(doc, path)
    _check_linear_tensors(specs, n_labels, n_features, f"{n_labels} labels", path)
    if specs["pos_weight"].shape != (n_labels,) or specs["pos_weight"].dtype != "F64":
        raise _fail(path, f"'pos_weight' must be float64 of shape {(n_labels,)}")
    solver = doc["solver"]
    _check_solver(solver, path)

    def build(tensors: dict[str, np.ndarray]) -> Any:
        _check_linear_values(tensors, path)
        pw = tensors["pos_weight"]
        if not (np.isfinite(pw) & (pw > 0)).all():
            raise _fail(path, "'pos_weight' must be finite and > 0")
        est = cls(**params)
        _set_linear(est, tensors, classes, n_features, names_in)
        est.pos_weight_ = pw
        est.n_iter_ = np.array(solver["n_iter"], dtype=np.int32)
        _set_solver(est, tensors, solver)
        return est

    return build


_CODECS["MultiLabelLogisticRegression"] = _Codec(
    dump=_dump_multilabel, decode=_decode_multilabel, cls=_multilabel_cls
)


# --------------------------------------------------------------------------- #
# TemperatureScaling: on logits, or wrapping a softmax model (nested)
# --------------------------------------------------------------------------- #
#: The kinds a TemperatureScaling may wrap; their tensors get this prefix.
_WRAPPABLE = ("SoftmaxRegression", "SoftmaxRegressionCV")
_PREFIX = "estimator."
_INNER_KEYS = {
    "kind",
    "hyperparameters",
    "classes",
    "classes_dtype",
    "n_features_in",
    "feature_names_in",
    "solver",
}


def _temperature_cls() -> type:
    from softmax.estimators import TemperatureScaling

    return TemperatureScaling


def _dump_temperature(est: Any) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    params = est.get_params(deep=False)
    inner = params.pop("estimator")
    hp = _hyperparameters_to_json(params)
    classes, classes_dtype = _classes_to_json(np.asarray(est.classes_))
    tensors: dict[str, np.ndarray] = {}
    if inner is None:
        n_features, names_in = int(est.n_features_in_), None
        hp["estimator"] = None
    else:
        inner_kind = next((k for k in _WRAPPABLE if type(inner) is _CODECS[k].cls()), None)
        if inner_kind is None:
            raise TypeError(
                "save supports a TemperatureScaling on logits (estimator=None) or wrapping "
                f"one of {list(_WRAPPABLE)}, got estimator of type {type(inner).__name__}"
            )
        inner_tensors, inner_fields = _CODECS[inner_kind].dump(inner)
        tensors = {_PREFIX + name: t for name, t in inner_tensors.items()}
        hp["estimator"] = {"kind": inner_kind, **inner_fields}
        n_features, names_in = inner_fields["n_features_in"], inner_fields["feature_names_in"]
    fields = {
        "hyperparameters": hp,
        "classes": classes,
        "classes_dtype": classes_dtype,
        "n_features_in": n_features,
        "feature_names_in": names_in,
        "solver": None,
        "fitted": {
            "temperature_": float(est.temperature_),
            "n_iter_": int(est.n_iter_),
            "loss_": float(est.loss_),
        },
    }
    return tensors, fields


def _decode_inner(
    doc: dict[str, Any], sub: Any, specs: dict[str, _TensorSpec], path: str
) -> _Builder:
    """The wrapped model: its document in ``hyperparameters.estimator``, its tensors
    under the prefix ``estimator.``, checked by its own kind's codec."""
    kind = sub.get("kind") if isinstance(sub, dict) else None
    if kind not in _WRAPPABLE:
        raise _fail(
            path,
            f"hyperparameter 'estimator' must be null or the document of one of "
            f"{list(_WRAPPABLE)}, got kind {str(kind)[:40]!r}",
        )
    codec = _CODECS[kind]
    keys = _INNER_KEYS | ({"fitted"} if codec.fitted else set())
    if set(sub) != keys or (codec.fitted and not isinstance(sub["fitted"], dict)):
        raise _fail(path, f"the wrapped {kind}'s document must have exactly {sorted(keys)}")
    outside = [name for name in specs if not name.startswith(_PREFIX)]
    if outside:
        raise _fail(path, f"a wrapping TemperatureScaling holds no tensor {outside[0][:40]!r}")
    for key in ("classes", "classes_dtype", "n_features_in", "feature_names_in"):
        if doc[key] != sub[key]:
            raise _fail(path, f"'{key}' differs from the wrapped {kind}'s")
    inner_doc = {**sub, **{k: doc[k] for k in ("feature_names", "pipeline", "encoder")}}
    return codec.decode(inner_doc, {n[len(_PREFIX) :]: s for n, s in specs.items()}, path)


def _decode_temperature(doc: dict[str, Any], specs: dict[str, _TensorSpec], path: str) -> _Builder:
    cls = _temperature_cls()
    raw = doc["hyperparameters"]
    if not isinstance(raw, dict) or "estimator" not in raw:
        raise _fail(path, "'hyperparameters' must be a JSON object with 'estimator'")
    defaults = cls().get_params(deep=False)
    defaults.pop("estimator")
    params = _check_hyperparameters(
        {k: v for k, v in raw.items() if k != "estimator"},
        defaults,
        path,
        lists=("classes", "temperature_bounds"),
    )
    if isinstance(params.get("temperature_bounds"), list):
        params["temperature_bounds"] = tuple(params["temperature_bounds"])
    probe = cls(**params)
    try:
        probe._check_params()
    except (ValueError, TypeError) as exc:
        raise _fail(path, f"invalid hyperparameters: {exc}") from None
    classes = _classes_from_json(doc["classes"], doc["classes_dtype"], path, ordered=False)
    n_features, names_in = _check_features(doc, path)
    if doc["solver"] is not None:
        raise _fail(path, "'solver' of a TemperatureScaling is null (see 'fitted')")
    fitted = _check_fitted(doc, {"temperature_", "n_iter_", "loss_"}, path)
    t = fitted["temperature_"]
    if not (_real(t) and 0 < t < math.inf):
        raise _fail(path, f"'temperature_' must be a finite number > 0, got {str(t)[:40]}")
    if not (_is_int(fitted["n_iter_"]) and 0 <= fitted["n_iter_"] < 2**31):
        raise _fail(path, "'n_iter_' must be a non-negative integer")
    if not (_real(fitted["loss_"]) and math.isfinite(fitted["loss_"])):
        raise _fail(path, "'loss_' must be a finite number")

    if raw["estimator"] is None:
        _check_tensor_set("TemperatureScaling", {}, specs, path)
        if n_features != classes.shape[0] or names_in is not None:
            raise _fail(
                path,
                f"a TemperatureScaling on logits has n_features_in = n_classes "
                f"({classes.shape[0]}) and no feature_names_in",
            )
        given = params.get("classes")
        if given is not None and given != classes.tolist():
            raise _fail(path, "the hyperparameter 'classes' differs from 'classes'")
        build_inner: _Builder | None = None
    else:
        if params.get("classes") is not None:
            raise _fail(path, "the hyperparameter 'classes' is only for estimator=null")
        build_inner = _decode_inner(doc, raw["estimator"], specs, path)

    def build(tensors: dict[str, np.ndarray]) -> Any:
        if build_inner is None:
            est = cls(**params)
            est.classes_ = classes
            est.n_features_in_ = n_features
        else:
            inner = build_inner({n[len(_PREFIX) :]: a for n, a in tensors.items()})
            est = cls(inner, **params)
            est.classes_ = np.asarray(inner.classes_)
        est.temperature_ = float(t)
        est.n_iter_ = int(fitted["n_iter_"])
        est.loss_ = float(fitted["loss_"])
        return est

    return build


_CODECS["TemperatureScaling"] = _Codec(
    dump=_dump_temperature, decode=_decode_temperature, cls=_temperature_cls, fitted=True
)
