"""ONNX checks and upload shared by the trainers.

The model contract: one float32 input named `features`, shape [N, F], columns in the order
of `featureColumns`; one output `probability` (float32 [N]), the probability of the positive
class. Converters emit `label` and `probabilities` [N, 2]; `single_probability_output` turns that
into the one output (column 1 of `probabilities`), which serving tools (MLflow's pyfunc, which
makes one DataFrame column of each output) take as they are. Models registered before this
contract have the two outputs; `onnx_scores` reads both forms.
"""
from __future__ import annotations

import hashlib
import json
from typing import Any, Callable

import numpy as np

from .data import Matrix
from .errors import Deterministic
from .metrics import auc, logloss
from .s3 import S3

INPUT_NAME = "features"
PROBABILITY_OUTPUT = "probability"
PROBABILITY_INDEX = 0
#: The converters' class-probability output, [N, 2]; column 1 is the positive class.
CONVERTER_PROBABILITIES = "probabilities"


def input_schema(columns: list[str]) -> dict[str, Any]:
    return {"name": INPUT_NAME, "dtype": "float32", "shape": [None, len(columns)], "columns": list(columns)}


def outputs() -> dict[str, Any]:
    return {"probability": PROBABILITY_OUTPUT, "probabilityIndex": PROBABILITY_INDEX}


def result_fields(inp: Any, *, onnx_uri: str, sha256: str, metrics: dict[str, Any], trained_rows: int, valid_rows: int,
                  params: dict[str, Any], trainer: dict[str, Any],
                  mlflow_model: dict[str, Any] | None = None) -> dict[str, Any]:
    """The fields every trainer's `result` line carries (mlo.trainer/v1); a trainer adds its own."""
    return {
        "onnxUri": onnx_uri,
        **({"mlflowModel": mlflow_model} if mlflow_model is not None else {}),
        "metrics": metrics,
        "inputSchema": input_schema(inp.feature_columns),
        "outputs": outputs(),
        "trainedRows": trained_rows,
        "validRows": valid_rows,
        "sha256": sha256,
        "params": params,
        "seed": inp.seed,
        "device": "cpu",
        "trainer": trainer,
    }


def final_metrics(train: Matrix, p_train: np.ndarray, valid: Matrix, p_valid: np.ndarray) -> dict[str, float]:
    """The metrics every trainer reports of its final model, from its probabilities on both windows."""
    return {
        "valid_auc": auc(valid.y, p_valid),
        "valid_logloss": logloss(valid.y, p_valid),
        "train_auc": auc(train.y, p_train),
        "train_logloss": logloss(train.y, p_train),
        "valid_positive_rate": float(valid.y.mean()),
    }


def convert_to_onnx(convert: Any, model: Any, tensor_type: Any, n_features: int,
                    rewrite: Callable[[Any], Any] | None = None, **options: Any) -> bytes:
    """Converts a fitted model with a converter (onnxmltools, skl2onnx) to the contract's ONNX model, canonical bytes.

    `tensor_type` is the converter's own FloatTensorType; the one input is `features`, float32 [None, n_features].
    `rewrite`, if given, edits the converted ModelProto in place before it is serialized.
    """
    proto = convert(model, initial_types=[(INPUT_NAME, tensor_type([None, n_features]))], **options)
    if rewrite is not None:
        rewrite(proto)
    single_probability_output(proto)
    return canonical_bytes(proto)


def single_probability_output(model: Any) -> None:
    """Makes column 1 of the converter's `probabilities` [N, 2] the graph's one output, `probability` [N].

    A Gather of index 1 on axis 1 (opset 1 onwards, so no opset changes) reads the column; the
    converter's `label` stays computed inside the graph but is no longer an output. Edits the
    ModelProto in place; a graph without the converter's output is a deterministic failure.
    """
    from onnx import TensorProto, helper

    graph = model.graph
    outs = [o.name for o in graph.output]
    if CONVERTER_PROBABILITIES not in outs:
        raise Deterministic(f"the converted ONNX has outputs {outs}, none is '{CONVERTER_PROBABILITIES}' "
                            "(another converter version?); pin the converters to the versions in requirements.txt")
    taken = {n.name for n in graph.node} | {i.name for i in graph.initializer}
    index = "mlo_positive_class"
    while index in taken:
        index += "_"
    graph.initializer.append(helper.make_tensor(index, TensorProto.INT64, [], [1]))
    graph.node.append(helper.make_node("Gather", [CONVERTER_PROBABILITIES, index], [PROBABILITY_OUTPUT], axis=1,
                                       name="mlo_probability"))
    del graph.output[:]
    graph.output.append(helper.make_tensor_value_info(PROBABILITY_OUTPUT, TensorProto.FLOAT, ["N"]))
    if not any(o.domain in ("", "ai.onnx") for o in model.opset_import):
        op = model.opset_import.add()
        op.domain = ""
        op.version = 9


def canonical_bytes(model: Any) -> bytes:
    """Serializes an ONNX ModelProto reproducibly and with the contract's shapes.

    Converters build `opset_import` from a Python set, whose order changes with the process's
    hash seed; sorting it makes the bytes (and so the content-hashed key) a function of the
    model alone (skl2onnx also lists the default domain twice: duplicates are dropped). The batch dimension of every output is made symbolic (some converters
    declare `label` as [1]).
    """
    imports = sorted({(o.domain, o.version) for o in model.opset_import})
    del model.opset_import[:]
    for domain, version in imports:
        o = model.opset_import.add()
        o.domain = domain
        o.version = version
    for out in model.graph.output:
        dims = out.type.tensor_type.shape.dim
        if len(dims) > 0:
            dims[0].Clear()
            dims[0].dim_param = "N"
    dims = model.graph.input[0].type.tensor_type.shape.dim
    if len(dims) > 0:
        dims[0].Clear()
        dims[0].dim_param = "N"
    return model.SerializeToString(deterministic=True)


def onnx_scores(onnx_bytes: bytes, X: np.ndarray) -> np.ndarray:
    """Positive-class probabilities from the ONNX model (single-threaded onnxruntime on CPU)."""
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    so.inter_op_num_threads = 1
    so.log_severity_level = 3
    sess = ort.InferenceSession(onnx_bytes, so, providers=["CPUExecutionProvider"])
    names = [o.name for o in sess.get_outputs()]
    feed = {INPUT_NAME: X.astype(np.float32, copy=False)}
    if PROBABILITY_OUTPUT in names:
        got = np.asarray(sess.run([PROBABILITY_OUTPUT], feed)[0], dtype=np.float64)
        return got.reshape(len(X)) if got.size == len(X) else got[:, 1]
    # A model exported before the single output: column 1 of `probabilities` [N, 2].
    got = sess.run([CONVERTER_PROBABILITIES], feed)[0]
    return np.asarray(got, dtype=np.float64)[:, 1]


def check_onnx(onnx_bytes: bytes, X: np.ndarray, expected: np.ndarray, tol: float, what: str,
               params: dict[str, Any] | None = None) -> float:
    """Checks the ONNX model's structure and that it reproduces `expected` within `tol`; returns the largest
    difference. Raises Deterministic otherwise: a deterministic trainer fails the same way on every retry."""
    import onnx

    model = onnx.load_from_string(onnx_bytes)
    try:
        onnx.checker.check_model(model)
    except onnx.checker.ValidationError as e:
        raise Deterministic(f"the exported ONNX model is invalid ({e}); the trainer's converter is broken, "
                            "fix the trainer") from None
    ins = [i.name for i in model.graph.input]
    outs = [o.name for o in model.graph.output]
    shape = [d.dim_param or d.dim_value for d in model.graph.output[0].type.tensor_type.shape.dim] if outs else []
    if ins != [INPUT_NAME] or outs != [PROBABILITY_OUTPUT] or len(shape) != 1:
        raise Deterministic(f"the exported ONNX has inputs {ins} and outputs {outs} (shape {shape}); "
                            f"expected input '{INPUT_NAME}' and one output '{PROBABILITY_OUTPUT}' [N]; "
                            "the trainer's converter is broken, fix the trainer")
    got = onnx_scores(onnx_bytes, X)
    err = np.abs(got - expected)
    err[~np.isfinite(err)] = np.inf
    diff = float(err.max()) if err.size else 0.0
    if diff > tol:
        worst = int(np.argmax(err))
        raise Deterministic(
            f"the ONNX export does not reproduce {what} on the validation rows: max |diff| {diff:.3g} > {tol:g} "
            f"(row {worst}: onnx {got[worst]:.9f}, model {expected[worst]:.9f}); not uploading. "
            f"The same snapshot, params and seed fail the same way, so this is not retried: "
            f"change the model spec's training.params (now {_params_text(params)}) or training.seed, "
            "or report the trainer, input.json and snapshot as a defect of the trainer's ONNX export"
        )
    return diff


def _params_text(params: dict[str, Any] | None) -> str:
    return json.dumps(params, sort_keys=True, default=str) if params else "{}"


def publish_onnx(s3: S3, inp: Any, onnx_bytes: bytes, *, valid: Matrix, p_valid: np.ndarray, tol: float, what: str,
                 metrics: dict[str, float], params: dict[str, Any] | None = None,
                 trainer: dict[str, Any] | None = None) -> tuple[str, str, dict[str, Any]]:
    """Checks the ONNX model against the trainer's own validation probabilities (`what`), records the
    largest difference as `metrics["onnx_max_abs_diff"]`, then uploads it and the same model as an MLflow
    model directory (`common/mlflow_model.py`, input example from the validation rows); returns
    (uri, sha256, the result line's `mlflowModel`). `params` (input.json's, i.e. the model spec's
    training.params) are named in the message when the check fails; `trainer` goes into the MLflow model's metadata."""
    from . import mlflow_model

    metrics["onnx_max_abs_diff"] = check_onnx(onnx_bytes, valid.X, p_valid, tol, what, params)
    uri, sha = upload_onnx(s3, inp.output_prefix, onnx_bytes)
    extra = {"onnxUri": uri, **({"trainer": trainer} if trainer else {})}
    mlflow_dir = mlflow_model.publish(s3, inp.output_prefix, onnx_bytes, inp.feature_columns, valid.X, extra)
    return uri, sha, mlflow_dir


def upload_onnx(s3: S3, output_prefix: str, onnx_bytes: bytes) -> tuple[str, str]:
    """Writes the model under `<outputPrefix>model-<sha256[:16]>.onnx` (one PUT); returns (uri, sha256).

    The key is the content hash, so a retried run of a deterministic trainer writes the same key
    with the same bytes, and a reader never sees a partial model.
    """
    sha = hashlib.sha256(onnx_bytes).hexdigest()
    uri = f"{output_prefix}model-{sha[:16]}.onnx"
    s3.put_bytes(
        uri, onnx_bytes, content_type="application/octet-stream", metadata={"sha256": sha, "contract": "mlo.trainer/v1"}
    )
    return uri, sha
