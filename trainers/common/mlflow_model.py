"""The trained model as a complete MLflow model (MLflow's `onnx` flavor), written offline.

Beside its ONNX file a trainer writes the same model as an MLflow model directory, so that
`mlflow.pyfunc.load_model("models:/<name>@champion")` and `mlflow models serve` take the
registered version as it is:

    MLmodel                    flavors `onnx` and `python_function` (loader `mlflow.onnx`), the signature
                               (the feature columns by name, in the model's input order, float32; output
                               `probability`), mlo's metadata (contract, input columns, ONNX sha256)
    model.onnx                 the ONNX model, the same bytes as `<outputPrefix>model-<hash>.onnx`
    input_example.json         a few validation rows, with their column names
    serving_input_example.json the same rows as a request body of `POST /invocations`
    requirements.txt           the trainer's mlflow, onnx, onnxruntime, numpy and pandas, pinned
    python_env.yaml, conda.yaml the trainer's Python and the same pins

`mlflow.onnx.save_model` writes it with no tracking server (trainers get no MLflow credentials);
the directory goes to S3 under `<outputPrefix>mlflow-model-<first 16 hex of the ONNX sha256>/`,
one PUT per file, `MLmodel` last, and the training activity copies it into the trial run's
`model/` artifacts, the registered version's source.
"""
from __future__ import annotations

import hashlib
import os
import tempfile
from importlib import metadata as importlib_metadata
from typing import Any

import numpy as np

from .errors import Deterministic
from .model import INPUT_NAME, PROBABILITY_OUTPUT
from .s3 import S3

#: Packages the model needs to be loaded and served (the onnx flavor's loader and pyfunc's DataFrames).
REQUIRED_PACKAGES = ("mlflow", "onnx", "onnxruntime", "numpy", "pandas")
MLMODEL = "MLmodel"
ONNX_FILE = "model.onnx"
EXAMPLE_ROWS = 5


def pinned_requirements() -> list[str]:
    """`<package>==<version>` of each required package, as installed where the trainer runs."""
    pins = []
    missing = []
    for name in REQUIRED_PACKAGES:
        try:
            pins.append(f"{name}=={importlib_metadata.version(name)}")
        except importlib_metadata.PackageNotFoundError:
            missing.append(name)
    if missing:
        raise Deterministic(f"the trainer's Python lacks {', '.join(missing)}, which the MLflow model pins; "
                            "install the pinned requirements.txt into the trainer's environment")
    return pins


def example_rows(X: np.ndarray, n: int = EXAMPLE_ROWS) -> np.ndarray:
    """Up to `n` rows of X for the input example: the first rows without a missing value (JSON has no NaN),
    else the first rows."""
    complete = np.flatnonzero(~np.isnan(X).any(axis=1))[:n]
    rows = X[complete] if len(complete) > 0 else X[:n]
    return rows.astype(np.float32)


def save(path: str, onnx_bytes: bytes, feature_columns: list[str], example: np.ndarray,
         extra_metadata: dict[str, Any] | None = None) -> list[str]:
    """Writes the MLflow model into the directory `path` (which must not exist); returns its files,
    relative to `path`, in upload order (`MLmodel` last)."""
    import mlflow.onnx
    import onnx
    import pandas as pd
    from mlflow.models import ModelSignature
    from mlflow.types import ColSpec, DataType, Schema

    sha = hashlib.sha256(onnx_bytes).hexdigest()
    signature = ModelSignature(
        inputs=Schema([ColSpec(DataType.float, c) for c in feature_columns]),
        outputs=Schema([ColSpec(DataType.float, PROBABILITY_OUTPUT)]),
    )
    meta = {
        "mlo": {
            "contract": "mlo.trainer/v1",
            "onnxSha256": sha,
            "input": INPUT_NAME,
            "inputColumns": list(feature_columns),
            "probabilityOutput": PROBABILITY_OUTPUT,
            **(extra_metadata or {}),
        }
    }
    mlflow.onnx.save_model(
        onnx.load_from_string(onnx_bytes),
        path,
        signature=signature,
        input_example=pd.DataFrame(example.astype(np.float32), columns=feature_columns),
        pip_requirements=pinned_requirements(),
        # onnxruntime as pinned is the CPU build; a GPU build would be another package (onnxruntime-gpu)
        onnx_execution_providers=["CPUExecutionProvider"],
        metadata=meta,
        save_as_external_data=False,
    )
    onnx_path = os.path.join(path, ONNX_FILE)
    with open(onnx_path, "rb") as f:
        written = f.read()
    if written != onnx_bytes:
        if len(written) != len(onnx_bytes):
            raise Deterministic(f"mlflow.onnx.save_model wrote a {len(written)}-byte {ONNX_FILE} for a "
                                f"{len(onnx_bytes)}-byte model; report the MLflow and onnx versions as a defect")
        # The same model serialized in another field order: keep the canonical bytes (the same size, so
        # MLmodel's model_size_bytes stays right) so that the file's sha256 is the model's.
        with open(onnx_path, "wb") as f:
            f.write(onnx_bytes)
    files = sorted(
        os.path.relpath(os.path.join(d, name), path).replace(os.sep, "/")
        for d, _, names in os.walk(path)
        for name in names
    )
    if MLMODEL not in files or ONNX_FILE not in files:
        raise Deterministic(f"mlflow.onnx.save_model wrote {files}, without {MLMODEL} or {ONNX_FILE}; "
                            "report the MLflow version as a defect")
    return [f for f in files if f != MLMODEL] + [MLMODEL]


def publish(s3: S3, output_prefix: str, onnx_bytes: bytes, feature_columns: list[str], X_example: np.ndarray,
            extra_metadata: dict[str, Any] | None = None) -> dict[str, Any]:
    """Writes the MLflow model and uploads it under `<outputPrefix>mlflow-model-<sha256[:16]>/`, one PUT per
    file and `MLmodel` last; returns the result line's `mlflowModel` field: `{uri, files, flavor}`."""
    sha = hashlib.sha256(onnx_bytes).hexdigest()
    uri = f"{output_prefix}mlflow-model-{sha[:16]}/"
    with tempfile.TemporaryDirectory(prefix="mlo-mlflow-model-") as tmp:
        path = os.path.join(tmp, "model")
        files = save(path, onnx_bytes, feature_columns, example_rows(X_example), extra_metadata)
        for rel in files:
            with open(os.path.join(path, rel), "rb") as f:
                body = f.read()
            s3.put_bytes(uri + rel, body, content_type=_content_type(rel),
                         metadata={"sha256": hashlib.sha256(body).hexdigest(), "contract": "mlo.trainer/v1"})
    return {"uri": uri, "files": files, "flavor": "onnx"}


def _content_type(rel: str) -> str:
    if rel.endswith(".json"):
        return "application/json"
    if rel.endswith((".yaml", ".yml")) or rel == MLMODEL:
        return "application/yaml"
    if rel.endswith(".txt"):
        return "text/plain"
    return "application/octet-stream"
