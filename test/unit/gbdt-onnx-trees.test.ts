/**
 * The GBDT trainer's ONNX export (trainers/gbdt/onnx_trees.py) decides every split as LightGBM
 * does on float32 inputs. A small LightGBM model is probed at every split with the float32 values
 * that straddle its threshold (the largest float32 not above it, the next one up, the nearest one)
 * and with NaN, on features with and without missing values in training; the export must match
 * LightGBM's probabilities there, while onnxmltools' export alone (thresholds rounded to nearest)
 * does not. Splits one ONNX comparison cannot express (zero as missing, categorical) are refused as
 * deterministic failures.
 */
import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { PROJECT_ROOT } from '../../lib/infra/config';
import { VENV_PYTHON as PYTHON } from '../helpers/python';

const SCRIPT = String.raw`
import json, sys
sys.path.insert(0, 'trainers')
import numpy as np, lightgbm as lgb
from gbdt.train import export_onnx
from gbdt.onnx_trees import floor_float32
from common.model import onnx_scores, convert_to_onnx
from onnxmltools.convert import convert_lightgbm
from onnxmltools.convert.common.data_types import FloatTensorType

rng = np.random.default_rng(7)
n, F = 20000, 4
X = rng.normal(size=(n, F)).astype(np.float32)
X[:, 0] = (X[:, 0] * 1e4 + 3e4).astype(np.float32)   # large values: float32 spacing ~ 0.002-0.004
X[rng.random(n) < 0.1, 1] = np.nan                     # feature 1: NaNs in training (missing type NaN)
logit = 0.0003 * (X[:, 0] - 3e4) + np.nan_to_num(X[:, 1]) - X[:, 2] + 0.5 * X[:, 3] * X[:, 2]
y = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(np.float64)
params = {"objective": "binary", "verbosity": -1, "num_leaves": 15, "learning_rate": 0.1, "max_bin": 1023,
          "min_data_in_leaf": 5, "deterministic": True, "num_threads": 1, "seed": 1}
b = lgb.train(params, lgb.Dataset(X, label=y, params=params), num_boost_round=60)

# Adversarial rows: for every split, a training row with the split's feature set to the float32
# values next to the threshold (the largest below or equal, the smallest above, the nearest) and NaN.
rows, missing = [], {}
def walk(node):
    if "split_index" not in node:
        return
    f, t = node["split_feature"], float(node["threshold"])
    missing[node["missing_type"]] = missing.get(node["missing_type"], 0) + 1
    lo = np.float32(floor_float32(t))
    for v in (lo, np.nextafter(lo, np.float32(np.inf)), np.float32(t), np.float32(np.nan)):
        r = X[rng.integers(n)].copy(); r[f] = v; rows.append(r)
    walk(node["left_child"]); walk(node["right_child"])
for tree in b.dump_model()["tree_info"]:
    walk(tree["tree_structure"])
A = np.array(rows, dtype=np.float32)
expected = b.predict(A)
exact = np.abs(onnx_scores(export_onnx(b, F), A) - expected)
plain_bytes = convert_to_onnx(convert_lightgbm, b, FloatTensorType, F, zipmap=False, target_opset=15)
plain = np.abs(onnx_scores(plain_bytes, A) - expected)
print(json.dumps({
    "rows": len(A), "missingTypes": missing,
    "exactMaxAbsDiff": float(exact.max()), "plainMaxAbsDiff": float(plain.max()),
    # JSON has no infinities: those are written as "inf" / "-inf"
    "floor": [v if np.isfinite(v) else repr(v) for v in
              (floor_float32(x) for x in (1.0, 0.1, -0.1, 1e-35, 3.5e38, -3.5e38, float("inf")))],
    "nearest": [float(np.float32(x)) for x in (0.1, -0.1, 1e-35)],
}))
`;

type Probe = {
  rows: number;
  missingTypes: Record<string, number>;
  exactMaxAbsDiff: number;
  plainMaxAbsDiff: number;
  floor: (number | string)[];
  nearest: number[];
};

describe('GBDT ONNX export: exact float32 decisions', () => {
  it('reproduces LightGBM at every threshold and for NaN, where rounding thresholds to nearest does not', () => {
    const r = spawnSync(PYTHON, ['-c', SCRIPT], { cwd: PROJECT_ROOT, encoding: 'utf8', timeout: 60_000 });
    expect(r.status, r.stderr).toBe(0);
    const p = JSON.parse(r.stdout) as Probe;
    expect(p.rows).toBeGreaterThan(1000);
    expect(p.missingTypes.NaN).toBeGreaterThan(0);
    expect(p.missingTypes.None).toBeGreaterThan(0);
    // Only float32 summation of the leaf values separates the two (measured 1.6e-7).
    expect(p.exactMaxAbsDiff).toBeLessThan(1e-6);
    // The same model exported with thresholds rounded to the nearest float32 takes other branches.
    expect(p.plainMaxAbsDiff).toBeGreaterThan(1e-3);
    // Rounded down, never up: 0.1 and 1e-35 round up to the nearest float32, -0.1 rounds down.
    const [, up01, down01, tiny, , , inf] = p.floor;
    const [near01, nearMinus01, nearTiny] = p.nearest;
    expect(p.floor[0]).toBe(1);
    expect(up01).toBeLessThan(0.1);
    expect(near01).toBeGreaterThan(0.1);
    expect(down01).toBe(nearMinus01);
    expect(tiny).toBeLessThan(1e-35);
    expect(nearTiny).toBeGreaterThan(1e-35);
    expect(p.floor[4]).toBe(3.4028234663852886e38); // the largest finite float32
    expect(p.floor[5]).toBe('-inf');
    expect(inf).toBe('inf');
  });
  it('refuses, as a deterministic failure, the splits one ONNX comparison cannot express', () => {
    const script = String.raw`
import sys
sys.path.insert(0, 'trainers')
import numpy as np, lightgbm as lgb
from gbdt.train import export_onnx
from common.errors import Deterministic
rng = np.random.default_rng(1)
X = rng.normal(size=(2000, 2)).astype(np.float32)
X[rng.random(2000) < 0.3, 0] = 0
y = (X[:, 0] + X[:, 1] > 0).astype(float)
base = {"objective": "binary", "verbosity": -1, "num_threads": 1}
cases = [
    ({**base, "zero_as_missing": True}, X, "auto"),
    (base, np.column_stack([np.floor(np.abs(X[:, 0]) * 3), X[:, 1]]).astype(np.float32), [0]),
]
for params, data, categorical in cases:
    b = lgb.train(params, lgb.Dataset(data, label=y, params=params, categorical_feature=categorical), 3)
    try:
        export_onnx(b, 2)
        print("exported")
    except Deterministic as e:
        print(e.message)
`;
    const r = spawnSync(PYTHON, ['-c', script], { cwd: PROJECT_ROOT, encoding: 'utf8', timeout: 60_000 });
    expect(r.status, r.stderr).toBe(0);
    const [zero, categorical] = r.stdout.trim().split('\n');
    expect(zero).toMatch(/treats zero as missing \(missing_type Zero\), which the ONNX tree ensemble cannot express/);
    expect(categorical).toMatch(/the split == on feature 0 is exported as BRANCH_EQ .*only numeric splits/);
  });
});
