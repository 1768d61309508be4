"""ONNX checks and upload shared by the trainers.

The model contract: one float32 input named `features`, shape [None, F], columns in the order
of `featureColumns`; outputs `label` (int64 [N]) and `probabilities` (float32 [N, 2]) whose
column 1 is the probability of the positive class.
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
PROBABILITY_OUTPUT = "probabilities"
PROBABILITY_INDEX = 1


def input_schema(columns: list[str]) -> dict[str, Any]:
    return {"name": INPUT_NAME, "dtype": "float32", "shape": [None, len(columns)], "columns": list(columns)}


def outputs() -> dict[str, Any]:
    return {"probability": PROBABILITY_OUTPUT, "probabilityIndex": PROBABILITY_INDEX}


def result_fields(inp: Any, *, onnx_uri: str, sha256: str, metrics: dict[str, Any], trained_rows: int, valid_rows: int,
                  params: dict[str, Any], trainer: dict[str, Any]) -> dict[str, Any]:
    """The fields every trainer's `result` line carries (mlo.trainer/v1); a trainer adds its own."""
    return {
        "onnxUri": onnx_uri,
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
    return canonical_bytes(proto)


def canonical_bytes(model: Any) -> bytes:
    """Serializes an ONNX ModelProto reproducibly and with the contract's shapes.

    Converters build `opset_import` from a Python set, whose order changes with the process's
    hash seed; sorting it makes the bytes (and so the content-hashed key) a function of the
    model alone. The batch dimension of every output is made symbolic (some converters
    declare `label` as [1]).
    """
    imports = sorted(((o.domain, o.version) for o in model.opset_import))
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
    got = sess.run([PROBABILITY_OUTPUT], {INPUT_NAME: X.astype(np.float32, copy=False)})[0]
    return np.asarray(got, dtype=np.float64)[:, PROBABILITY_INDEX]


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
    if ins != [INPUT_NAME] or PROBABILITY_OUTPUT not in outs or "label" not in outs:
        raise Deterministic(f"the exported ONNX has inputs {ins} and outputs {outs}; "
                            f"expected input '{INPUT_NAME}' and outputs 'label', '{PROBABILITY_OUTPUT}'; "
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
                 metrics: dict[str, float], params: dict[str, Any] | None = None) -> tuple[str, str]:
    """Checks the ONNX model against the trainer's own validation probabilities (`what`), records the
    largest difference as `metrics["onnx_max_abs_diff"]`, then uploads it; returns (uri, sha256).
    `params` (input.json's, i.e. the model spec's training.params) are named in the message when the check fails."""
    metrics["onnx_max_abs_diff"] = check_onnx(onnx_bytes, valid.X, p_valid, tol, what, params)
    return upload_onnx(s3, inp.output_prefix, onnx_bytes)


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
