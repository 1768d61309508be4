"""Exact float32 decisions in the ONNX export of a LightGBM model.

LightGBM compares a feature, as a double, with a double threshold: `x <= t` goes left. ONNX's
TreeEnsembleClassifier compares float32 with float32 thresholds, and onnxmltools rounds each
threshold to the *nearest* float32, so a float32 feature lying between `t` and its rounded value
goes the other way (a different leaf, a probability off by far more than the check's 1e-5).

The model's inputs are float32 (trainers/README.md §2), so every `x` LightGBM ever sees is a
float32 value. For such `x`, `x <= t` holds exactly when `x <= floor32(t)`, the largest float32 not
above `t`: one direction because floor32(t) <= t, the other because a float32 `x <= t` is at most
the largest float32 not above `t`. Rounding every threshold down is therefore exact, whatever `t`.

Missing values follow LightGBM's rules, not onnxmltools' guesses:
  * missing type NaN: a NaN goes the node's default direction (`default_left`);
  * missing type None (no NaN seen in training): LightGBM turns a NaN into 0.0 and compares it,
    so a NaN goes left exactly when `0.0 <= t`.
Missing type Zero (`zero_as_missing`) routes small values in (-1e-35, 1e-35) to the default
direction, which one ONNX comparison cannot express, and categorical splits (`==`) are not exported
exactly by onnxmltools; neither occurs with the trainer's parameters (numeric float32 features,
`zero_as_missing` off), and an export that meets one fails as a deterministic failure.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from common.errors import Deterministic


def floor_float32(t: float) -> float:
    """The largest float32 value not above `t` (as a Python float, exact)."""
    with np.errstate(over="ignore"):
        f = np.float32(t)
    if float(f) > t:
        f = np.nextafter(f, np.float32(-np.inf))
    return float(f)


def nan_goes_left(node: dict[str, Any]) -> bool:
    """Whether LightGBM sends a NaN feature value down the left (`<=`) branch of this split."""
    missing = node["missing_type"]
    if missing == "NaN":
        return bool(node["default_left"])
    if missing == "None":
        return 0.0 <= float(node["threshold"])
    raise Deterministic(
        f"a split on feature {node['split_feature']} treats zero as missing (missing_type {missing}), which the ONNX "
        "tree ensemble cannot express; leave zero_as_missing off"
    )


class _Nodes:
    """The TreeEnsembleClassifier's per-node attributes, addressed by (tree id, node id)."""

    NEEDED = ("nodes_treeids", "nodes_nodeids", "nodes_modes", "nodes_featureids", "nodes_values",
              "nodes_truenodeids", "nodes_falsenodeids", "nodes_missing_value_tracks_true")

    def __init__(self, op: Any):
        self.attrs = {a.name: a for a in op.attribute}
        missing = [name for name in self.NEEDED if name not in self.attrs]
        if missing:
            raise Deterministic(f"the ONNX tree ensemble lacks {', '.join(missing)} (another converter version?); "
                                "pin onnxmltools to the version in requirements.txt")
        ids = zip(self.attrs["nodes_treeids"].ints, self.attrs["nodes_nodeids"].ints)
        self.pos = {key: i for i, key in enumerate(ids)}
        self.modes = [m.decode() for m in self.attrs["nodes_modes"].strings]
        children = set()
        for i, tree in enumerate(self.attrs["nodes_treeids"].ints):
            if self.modes[i] != "LEAF":
                children.add((tree, self.attrs["nodes_truenodeids"].ints[i]))
                children.add((tree, self.attrs["nodes_falsenodeids"].ints[i]))
        self.roots: dict[int, int] = {}
        for key, i in self.pos.items():
            if key not in children:
                self.roots.setdefault(key[0], i)

    def child(self, i: int, which: str) -> int:
        tree = self.attrs["nodes_treeids"].ints[i]
        return self.pos[(tree, self.attrs[f"nodes_{which}nodeids"].ints[i])]


def make_decisions_exact(model: Any, dump: dict[str, Any]) -> int:
    """Rewrites the thresholds and missing-value directions of the ONNX model's tree ensemble from the
    booster's own trees (`Booster.dump_model()`), walking both trees together; returns the splits rewritten.

    Raises Deterministic when the two do not have the same shape (a converter that changed the trees)."""
    ops = [n for n in model.graph.node if n.op_type == "TreeEnsembleClassifier"]
    if len(ops) != 1:
        raise Deterministic(f"the ONNX export has {len(ops)} TreeEnsembleClassifier nodes, expected 1")
    nodes = _Nodes(ops[0])
    trees = dump["tree_info"]
    if len(nodes.roots) != len(trees):
        raise Deterministic(f"the ONNX export has {len(nodes.roots)} trees, the LightGBM model {len(trees)}")
    values = list(nodes.attrs["nodes_values"].floats)
    tracks = list(nodes.attrs["nodes_missing_value_tracks_true"].ints)
    features = nodes.attrs["nodes_featureids"].ints
    splits = 0
    for t, tree in enumerate(trees):
        stack = [(tree["tree_structure"], nodes.roots[t])]
        while stack:
            node, i = stack.pop()
            if "split_index" not in node:
                if nodes.modes[i] != "LEAF":
                    raise Deterministic(f"tree {t}: the ONNX export splits where LightGBM has a leaf")
                continue
            if nodes.modes[i] != "BRANCH_LEQ" or node["decision_type"] != "<=" or features[i] != node["split_feature"]:
                raise Deterministic(
                    f"tree {t}: the split {node['decision_type']} on feature {node['split_feature']} is exported as "
                    f"{nodes.modes[i]} on feature {features[i]}; only numeric splits are exported exactly"
                )
            values[i] = floor_float32(float(node["threshold"]))
            tracks[i] = 1 if nan_goes_left(node) else 0
            splits += 1
            stack.append((node["left_child"], nodes.child(i, "true")))
            stack.append((node["right_child"], nodes.child(i, "false")))
    del nodes.attrs["nodes_values"].floats[:]
    nodes.attrs["nodes_values"].floats.extend(values)
    del nodes.attrs["nodes_missing_value_tracks_true"].ints[:]
    nodes.attrs["nodes_missing_value_tracks_true"].ints.extend(tracks)
    return splits
