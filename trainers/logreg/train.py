#!/usr/bin/env python3
"""Logistic-regression baseline (scikit-learn), trainer contract mlo.trainer/v1 (see trainers/README.md).

    .venv/bin/python trainers/logreg/train.py --input input.json

Pipeline: SimpleImputer (missing features) → StandardScaler → LogisticRegression (lbfgs),
exported with skl2onnx (zipmap off). Training is one fit of a few seconds, so there are no
checkpoints: `checkpointPrefix` is unused and a run with `resume` starts from the beginning
(and ends with the same model, the fit being deterministic).
"""
from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402

from common import BadInput, Param, TrainerInput, between, one_of, resolve_params  # noqa: E402
from common import emit  # noqa: E402
from common.data import load_train_valid  # noqa: E402
from common.model import convert_to_onnx, final_metrics, publish_onnx, result_fields  # noqa: E402
from common.runner import run  # noqa: E402
from common.s3 import S3  # noqa: E402

TRAINER = "logreg"
ONNX_TOLERANCE = 1e-5
ONNX_OPSET = {"": 15, "ai.onnx.ml": 3}
STEPS = 3


def _class_weight(v: Any) -> str | None:
    if v == "balanced":
        return None
    if isinstance(v, dict) and set(v) == {"0", "1"} and all(
        isinstance(w, (int, float)) and not isinstance(w, bool) and w > 0 for w in v.values()
    ):
        return None
    return 'must be null, "balanced" or {"0": <weight>, "1": <weight>} with positive weights'


PARAMS: dict[str, Param] = {
    "C": Param(1.0, "float", between(0, 1e12, lo_open=True), "inverse L2 regularization strength"),
    "class_weight": Param(None, "any?", _class_weight),
    "max_iter": Param(1000, "int", between(1, 1_000_000)),
    "tol": Param(1e-6, "float", between(0, 1, lo_open=True)),
    "impute_strategy": Param("median", "str", one_of("median", "mean")),
}


def main(inp: TrainerInput) -> None:
    p = resolve_params(inp.params, PARAMS, TRAINER)
    if inp.resume is not None:
        emit.log(f"resume from step {inp.resume.step} ignored: "
                 "the logreg trainer has no checkpoints and trains from the start")
    if inp.device != "cpu":
        emit.log(f"device {inp.device} requested; scikit-learn trains on the CPU")
    s3 = S3()
    train, valid = load_train_valid(s3, inp)
    emit.progress(1, STEPS, {"train_rows": train.rows, "valid_rows": valid.rows}, phase="loaded")

    all_missing = [c for j, c in enumerate(inp.feature_columns) if np.isnan(train.X[:, j]).all()]
    if all_missing:
        raise BadInput(f"featureColumns: {', '.join(all_missing)} is null on every training row; "
                       "drop it or fix the snapshot")

    # Imported once the inputs are checked (scikit-learn takes seconds to import).
    import sklearn
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler
    from threadpoolctl import threadpool_limits

    cw = p["class_weight"]
    if isinstance(cw, dict):
        cw = {int(k): float(v) for k, v in cw.items()}
    logreg = LogisticRegression(
        C=p["C"], class_weight=cw, max_iter=p["max_iter"], tol=p["tol"], solver="lbfgs", random_state=inp.seed
    )
    pipe = Pipeline(
        [
            ("impute", SimpleImputer(strategy=p["impute_strategy"])),
            ("scale", StandardScaler()),
            ("clf", logreg),
        ]
    )
    # The model is fitted on the float32 inputs the ONNX model will see; one BLAS thread keeps sums in one order.
    Xtr = train.X.astype(np.float64)
    Xva = valid.X.astype(np.float64)
    with threadpool_limits(limits=1):
        pipe.fit(Xtr, train.y.astype(np.int64))
        p_valid = pipe.predict_proba(Xva)[:, 1]
        p_train = pipe.predict_proba(Xtr)[:, 1]
    clf = pipe.named_steps["clf"]
    n_iter = int(np.max(clf.n_iter_))
    metrics = {**final_metrics(train, p_train, valid, p_valid), "iterations": float(n_iter)}
    if n_iter >= p["max_iter"]:
        emit.log(f"lbfgs stopped at max_iter={p['max_iter']} before converging; "
                 "raise params.max_iter or lower params.C")
    emit.progress(2, STEPS, {k: metrics[k] for k in ("train_logloss", "valid_logloss", "valid_auc")}, phase="fitted")

    onnx_bytes = export_onnx(pipe, len(inp.feature_columns))
    trainer = {"name": TRAINER, "library": "scikit-learn", "version": sklearn.__version__}
    onnx_uri, sha, mlflow_dir = publish_onnx(s3, inp, onnx_bytes, valid=valid, p_valid=p_valid, tol=ONNX_TOLERANCE,
                                             what="scikit-learn's probabilities", metrics=metrics, params=inp.params,
                                             trainer=trainer)
    emit.progress(3, STEPS, {"onnx_max_abs_diff": metrics["onnx_max_abs_diff"]}, phase="exported")
    emit.log(f"wrote {onnx_uri} ({len(onnx_bytes)} bytes, valid AUC {metrics['valid_auc']:.4f}) "
             f"and the MLflow model {mlflow_dir['uri']}")
    coef = clf.coef_[0]
    out = result_fields(inp, onnx_uri=onnx_uri, sha256=sha, metrics=metrics, trained_rows=train.rows,
                        valid_rows=valid.rows, params=p, trainer=trainer, mlflow_model=mlflow_dir)
    out["coefficients"] = {c: float(w) for c, w in zip(inp.feature_columns, coef)}
    emit.result(out)


def export_onnx(pipe: Any, n_features: int) -> bytes:
    from skl2onnx import convert_sklearn
    from skl2onnx.common.data_types import FloatTensorType
    from sklearn.linear_model import LogisticRegression

    return convert_to_onnx(convert_sklearn, pipe, FloatTensorType, n_features, name="mlo-logreg",
                           options={LogisticRegression: {"zipmap": False}}, target_opset=ONNX_OPSET)


if __name__ == "__main__":
    run(TRAINER, main)
