"""ONNX export: the fitted model (and its encoder) as one ONNX graph.

The graph computes in float64 internally (the inputs are float32 or string,
the probabilities float32), so it reproduces ``predict_proba`` to float32
rounding.  Built with ``onnx.helper`` from standard operators (MatMul, Add,
Softmax, ArgMax, IsNaN, Where, Equal, Concat, Cast) and the ``ai.onnx.ml``
LabelEncoder for categories, all supported by onnxruntime.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np

from softmax.io._atomic import atomic_write_bytes

__all__ = ["export_onnx"]

#: The estimators with a graph; SoftmaxRegressionCV predicts as a SoftmaxRegression.
_EXPORTABLE = ("SoftmaxRegression", "SoftmaxRegressionCV", "MultiLabelLogisticRegression")

#: Standard-domain opset of the exported graphs (onnxruntime >= 1.12 runs it).
OPSET = 17
ML_OPSET = 2
IR_VERSION = 8


def _import_onnx() -> Any:
    try:
        import onnx
    except ImportError as exc:
        raise ImportError(
            "export_onnx needs the 'onnx' package; install the extra with "
            "`pip install 'softmax[onnx]'`"
        ) from exc
    return onnx


def export_onnx(model: Any, path: Any, *, overwrite: bool = False) -> None:
    """Write ``model`` as an ONNX graph computing ``softmax(X Wᵀ + b)`` (a sigmoid per label
    for a multi-label model).

    Parameters
    ----------
    model : estimator or Pipeline(TabularEncoder, estimator)
        Fitted SoftmaxRegression, SoftmaxRegressionCV or
        MultiLabelLogisticRegression.
    path : str or os.PathLike
        Conventionally ``*.onnx``; written atomically.
    overwrite : bool, default=False
        Replace an existing file.

    Notes
    -----
    Inputs: for a SoftmaxRegression one input ``"X"``, float32
    ``[N, n_features]``; for a Pipeline one input per original column, named
    as the column, float32 ``[N, 1]`` for numeric columns and string
    ``[N, 1]`` for categorical ones.  The graph imputes (with the encoder's
    fill values: NaN in a numeric column, the empty string in a categorical
    one) and one-hot encodes itself.  Unlike the Python encoder it cannot
    raise: an unseen category encodes as all zeros (as ``unknown="ignore"``)
    and, without imputation, a NaN propagates to the outputs.

    Outputs: ``"label"`` (int64 ``[N]``, the index into the classes) and
    ``"probabilities"`` (float32 ``[N, n_classes]``).  A
    MultiLabelLogisticRegression has ``"labels"`` (int64 0/1 ``[N, n_labels]``,
    ``predict``: the probability above the ``threshold``) and
    ``"probabilities"`` (float32 ``[N, n_labels]``, a Sigmoid per label).  The model's
    ``metadata_props`` hold ``"classes"`` (JSON list), ``"classes_dtype"``,
    ``"feature_names"`` and ``"inputs"`` (JSON: name and kind per input).

    Raises
    ------
    ImportError
        If onnx is not installed (the ``softmax[onnx]`` extra).
    FileExistsError
        If ``path`` exists and ``overwrite`` is False.
    TypeError
        For an unsupported model type (TemperatureScaling among them).
    ValueError
        If a categorical column has the empty string as a category (it is
        the graph's marker for a missing value), or a column is named like an
        output (``label``, ``labels``, ``probabilities``) or ``softmax/...``.
    """
    from sklearn.utils.validation import check_is_fitted

    from softmax import __version__
    from softmax.io._model_file import _classes_to_json, _split_model

    est, encoder, _ = _split_model(model)
    kind = type(est).__name__
    if kind not in _EXPORTABLE:
        raise TypeError(
            f"export_onnx supports {list(_EXPORTABLE)} (bare or after a TabularEncoder), "
            f"got model of type {kind}"
        )
    multilabel = kind == "MultiLabelLogisticRegression"
    check_is_fitted(est)
    onnx = _import_onnx()
    from onnx import TensorProto, helper, numpy_helper

    nodes: list[Any] = []
    inits: list[Any] = []
    inputs: list[Any] = []
    input_kinds: list[dict[str, str]] = []

    def const(name: str, value: np.ndarray) -> str:
        inits.append(numpy_helper.from_array(value, name=name))
        return name

    def node(op: str, ins: list[str], out: str, domain: str = "", **attrs: Any) -> str:
        nodes.append(
            helper.make_node(op, ins, [out], name=f"softmax/{out}", domain=domain, **attrs)
        )
        return out

    n_features = int(est.n_features_in_)
    if encoder is None:
        inputs.append(helper.make_tensor_value_info("X", TensorProto.FLOAT, ["N", n_features]))
        input_kinds.append({"name": "X", "kind": "matrix"})
        features = node("Cast", ["X"], "softmax/X_double", to=TensorProto.DOUBLE)
        names = getattr(est, "feature_names_in_", None)
        feature_names = None if names is None else [str(n) for n in names]
    else:
        # The inputs are named after the columns: a column may not take the name
        # of an output or of the graph's own values (ONNX names each value once).
        reserved = ("labels", "probabilities") if multilabel else ("label", "probabilities")
        for col in encoder.columns_:
            if col.name in reserved or col.name.startswith("softmax/"):
                raise ValueError(
                    f"column {col.name!r} cannot name an input of the ONNX graph: the outputs "
                    f"are {list(reserved)} and the graph's own values are named 'softmax/...'; "
                    "rename the column and refit"
                )
        blocks = []
        for i, col in enumerate(encoder.columns_):
            tag = f"softmax/c{i}"
            if col.kind == "numeric":
                inputs.append(helper.make_tensor_value_info(col.name, TensorProto.FLOAT, ["N", 1]))
                x = node("Cast", [col.name], f"{tag}/double", to=TensorProto.DOUBLE)
                if col.fill is not None:
                    nan = node("IsNaN", [x], f"{tag}/isnan")
                    fill = const(f"{tag}/fill", np.array([[col.fill]], dtype=np.float64))
                    x = node("Where", [nan, fill, x], f"{tag}/imputed")
                blocks.append(x)
            else:
                if "" in col.categories:
                    raise ValueError(
                        f"column {col.name!r} has the empty string as a category; the ONNX "
                        "graph uses '' for a missing value, so it cannot be exported"
                    )
                inputs.append(helper.make_tensor_value_info(col.name, TensorProto.STRING, ["N", 1]))
                keys = list(col.categories)
                values = list(range(len(keys)))
                if col.fill is not None:  # '' (missing) maps to the fill's index
                    keys.append("")
                    values.append(col.categories.index(col.fill))
                idx = node(
                    "LabelEncoder",
                    [col.name],
                    f"{tag}/index",
                    domain="ai.onnx.ml",
                    keys_strings=keys,
                    values_int64s=values,
                    default_int64=-1,
                )
                arange = const(f"{tag}/range", np.arange(len(col.categories), dtype=np.int64))
                hot = node("Equal", [idx, arange], f"{tag}/equal")  # [N,1] vs [K] -> [N,K]
                blocks.append(node("Cast", [hot], f"{tag}/onehot", to=TensorProto.DOUBLE))
            input_kinds.append({"name": col.name, "kind": col.kind})
        features = node("Concat", blocks, "softmax/features", axis=1)
        feature_names = [str(n) for n in encoder.get_feature_names_out()]

    coef = np.asarray(est.coef_, dtype=np.float64)
    intercept = np.asarray(est.intercept_, dtype=np.float64)
    if coef.shape[0] == 1 and not multilabel:
        # Two classes: logits [0, z] give softmax = [sigmoid(-z), sigmoid(z)], and
        # ArgMax picks class 0 on a tie z = 0, exactly as predict does.
        coef = np.vstack([np.zeros_like(coef), coef])
        intercept = np.concatenate([[0.0], intercept])
    weights = const("softmax/coef_T", np.ascontiguousarray(coef.T))
    bias = const("softmax/intercept", intercept)
    product = node("MatMul", [features, weights], "softmax/product")
    logits = node("Add", [product, bias], "softmax/logits")
    n_classes = coef.shape[0]
    if multilabel:
        # p > t  <=>  z > logit(t), compared on the logits as predict does.
        cut = const("softmax/threshold_logit", est._thresholds(est.threshold))
        proba = node("Sigmoid", [logits], "softmax/proba_double")
        above = node("Greater", [logits, cut], "softmax/above")
        node("Cast", [above], "labels", to=TensorProto.INT64)
        first = helper.make_tensor_value_info("labels", TensorProto.INT64, ["N", n_classes])
    else:
        proba = node("Softmax", [logits], "softmax/proba_double", axis=1)
        node("ArgMax", [logits], "label", axis=1, keepdims=0)
        first = helper.make_tensor_value_info("label", TensorProto.INT64, ["N"])
    node("Cast", [proba], "probabilities", to=TensorProto.FLOAT)
    outputs = [
        first,
        helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, ["N", n_classes]),
    ]
    graph = helper.make_graph(nodes, "softmax_regression", inputs, outputs, initializer=inits)
    onnx_model = helper.make_model(
        graph,
        opset_imports=[helper.make_opsetid("", OPSET), helper.make_opsetid("ai.onnx.ml", ML_OPSET)],
        producer_name="softmax",
        producer_version=__version__,
        doc_string=(
            "Multi-label logistic regression: probabilities = sigmoid(features @ coef.T + "
            "intercept), labels = probabilities > threshold"
            if multilabel
            else "Softmax regression: probabilities = softmax(features @ coef.T + intercept)"
        ),
    )
    onnx_model.ir_version = IR_VERSION
    classes, classes_dtype = _classes_to_json(np.asarray(est.classes_))
    helper.set_model_props(
        onnx_model,
        {
            "classes": json.dumps(classes),
            "classes_dtype": classes_dtype,
            "feature_names": json.dumps(feature_names),
            "inputs": json.dumps(input_kinds),
        },
    )
    onnx.checker.check_model(onnx_model, full_check=True)
    atomic_write_bytes(path, onnx_model.SerializeToString(), overwrite=overwrite)
