#!/usr/bin/env python3
"""Compares a GBDT trainer's ONNX model with its LightGBM model on every row of every day of a snapshot.

    .venv/bin/python trainers/tools/gbdt_onnx_fidelity.py --booster s3://…/step-200.txt \\
        --onnx s3://…/model-….onnx --manifest s3://…/manifest.json

The trainer checks its export on the validation rows before uploading it; this checks it
independently, on all rows of all partitions the manifest lists (labeled or not, training and
validation days alike), with LightGBM's own probabilities on the float32 features as the
reference. `--booster` is a LightGBM model string, e.g. the checkpoint the trainer writes at its
last round. Prints one JSON object: rows, days, maxAbsDiff, maxRelDiff, worst (day, row, onnx,
lightgbm), and per day the largest |diff|. Exits 0 when maxAbsDiff <= --tol (default 1e-5), 3 when not.

Environment: MLO_S3_ENDPOINT, AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY, AWS_DEFAULT_REGION.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402

from common.data import _read_ipc, load_manifest, manifest_feature_names  # noqa: E402
from common.errors import EXIT_DETERMINISTIC  # noqa: E402
from common.model import onnx_scores  # noqa: E402
from common.s3 import S3  # noqa: E402


def partition_features(s3: S3, uri: str, columns: list[str]) -> np.ndarray:
    """A partition's feature columns as float32 [rows, F], nulls as NaN (the trainers' reading)."""
    import pyarrow as pa

    t = _read_ipc(s3.get_bytes(uri, "a snapshot partition"), uri)
    cols = [t.column(c).cast(pa.float64()).to_numpy(zero_copy_only=False) for c in columns]
    return np.column_stack(cols).astype(np.float32)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--booster", required=True, help="s3:// URI of a LightGBM model string")
    ap.add_argument("--onnx", required=True, help="s3:// URI of the exported ONNX model")
    ap.add_argument("--manifest", required=True, help="s3:// URI of the feature snapshot manifest")
    ap.add_argument("--columns", help="comma-separated feature columns in model order (default: the manifest's)")
    ap.add_argument("--tol", type=float, default=1e-5)
    args = ap.parse_args()

    import lightgbm as lgb

    s3 = S3()
    booster = lgb.Booster(model_str=s3.get_bytes(args.booster, "the LightGBM model").decode("utf-8"))
    onnx_bytes = s3.get_bytes(args.onnx, "the ONNX model")
    manifest = load_manifest(s3, args.manifest)
    columns = args.columns.split(",") if args.columns else manifest_feature_names(manifest)
    rows = 0
    per_day: dict[str, float] = {}
    worst = {"absDiff": -1.0}
    max_rel = 0.0
    for part in sorted(manifest["partitions"], key=lambda p: p["day"]):
        X = partition_features(s3, part["uri"], columns)
        expected = booster.predict(X)
        got = onnx_scores(onnx_bytes, X)
        err = np.abs(got - expected)
        err[~np.isfinite(err)] = np.inf
        rows += len(X)
        i = int(np.argmax(err))
        per_day[part["day"]] = float(err[i])
        max_rel = max(max_rel, float(np.max(err / np.maximum(expected, 1e-12))))
        if err[i] > worst["absDiff"]:
            worst = {"absDiff": float(err[i]), "day": part["day"], "row": i, "onnx": float(got[i]),
                     "lightgbm": float(expected[i])}
    out = {"rows": rows, "days": len(per_day), "maxAbsDiff": worst["absDiff"], "maxRelDiff": max_rel,
           "worst": worst, "perDay": per_day}
    print(json.dumps(out))
    return 0 if worst["absDiff"] <= args.tol else EXIT_DETERMINISTIC


if __name__ == "__main__":
    sys.exit(main())
