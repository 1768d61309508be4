#!/usr/bin/env python3
"""LightGBM binary classifier, trainer contract mlo.trainer/v1 (see trainers/README.md).

    .venv/bin/python trainers/gbdt/train.py --input input.json

Progress every `progress_every` rounds, a checkpoint (the booster's model string at
`<checkpointPrefix>step-<n>.txt`) every `checkpoint_every` rounds; with `resume` it loads that
checkpoint and boosts only the remaining rounds. A resumed run ends with the same model as an
uninterrupted one with the same seed (identical trees, identical ONNX bytes) unless bagging is on:
  * the column-sampling stream (feature_fraction) is re-seeded from (seed, round) before every
    round, so round n draws the same columns whether the process started at round 0 or at a
    checkpoint (LightGBM keeps one stream for the whole process otherwise);
  * the early-stopping state (best round, best score) is rebuilt on resume from the
    checkpoint's trees, with the same arithmetic as the uninterrupted run;
  * a checkpoint stores the trees with round-trip precision, so its scores on the training
    rows (the resumed run's starting scores) equal the uninterrupted run's.
Bagging (bagging_fraction < 1 with bagging_freq > 0) is off by default: LightGBM cannot re-seed
its bagging streams between rounds (and changing parameters mid-training is unsafe while bagging
is on: its sampler keeps a pointer to the replaced config), so with bagging on nothing is
re-seeded, an uninterrupted run is still reproducible, and a resumed run is a valid
continuation that differs from it.

The ONNX export decides every split as LightGBM does on the float32 inputs both see: thresholds
are rounded down to float32 and NaNs follow LightGBM's missing-value rules (gbdt/onnx_trees.py), so
the export differs from LightGBM's probabilities only by float32 summation (measured: at most 7.5e-7 on the sample data).
"""
from __future__ import annotations

import hashlib
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402

from common import BadInput, Param, TrainerInput, between, one_of, resolve_params  # noqa: E402
from common import checkpoint, emit  # noqa: E402
from common.data import load_train_valid  # noqa: E402
from common.metrics import auc, logloss, sigmoid  # noqa: E402
from common.model import convert_to_onnx, final_metrics, publish_onnx, result_fields  # noqa: E402
from common.runner import run  # noqa: E402
from common.s3 import S3  # noqa: E402

TRAINER = "gbdt"
ONNX_TOLERANCE = 1e-5
ONNX_OPSET = 15

PARAMS: dict[str, Param] = {
    "rounds": Param(300, "int", between(1, 100_000), "boosting rounds (trees)"),
    "learning_rate": Param(0.05, "float", between(0, 1, lo_open=True)),
    "num_leaves": Param(31, "int", between(2, 131_072)),
    "max_depth": Param(-1, "int", between(-1, 64), "-1 = no limit"),
    "min_data_in_leaf": Param(20, "int", between(1, 10**9)),
    "min_sum_hessian_in_leaf": Param(1e-3, "float", between(0, 1e12)),
    "min_gain_to_split": Param(0.0, "float", between(0, 1e12)),
    "lambda_l1": Param(0.0, "float", between(0, 1e12)),
    "lambda_l2": Param(0.0, "float", between(0, 1e12)),
    "feature_fraction": Param(0.9, "float", between(0, 1, lo_open=True), "columns sampled per tree"),
    "feature_fraction_bynode": Param(1.0, "float", between(0, 1, lo_open=True), "columns sampled per split"),
    "bagging_fraction": Param(1.0, "float", between(0, 1, lo_open=True), "rows sampled per bag; 1.0 = bagging off"),
    "bagging_freq": Param(0, "int", between(0, 100_000), "draw a new bag every k rounds; 0 = bagging off"),
    "max_bin": Param(255, "int", between(2, 65_535)),
    "scale_pos_weight": Param(1.0, "float", between(0, 1e6, lo_open=True)),
    "is_unbalance": Param(False, "bool"),
    "early_stopping_rounds": Param(
        None, "int?", between(1, 100_000), "stop after k rounds without improvement on validation"
    ),
    "early_stopping_metric": Param("logloss", "str", one_of("logloss", "auc")),
    "checkpoint_every": Param(50, "int", between(1, 100_000)),
    "progress_every": Param(10, "int", between(1, 100_000)),
    "num_threads": Param(4, "int", between(1, 256), "fixed, for reproducible histograms across machines"),
}


def round_seed(seed: int, stream: str, rnd: int) -> int:
    """A seed for one random stream at one boosting round, a pure function of (seed, stream, round)."""
    h = hashlib.sha256(f"{seed}:{stream}:{rnd}".encode()).digest()
    return int.from_bytes(h[:4], "little") & 0x7FFFFFFF


def lgb_params(p: dict[str, Any], seed: int) -> dict[str, Any]:
    return {
        "objective": "binary",
        "boosting": "gbdt",
        "metric": ["binary_logloss"],
        "verbosity": -1,
        "deterministic": True,
        "force_row_wise": True,
        "num_threads": p["num_threads"],
        "seed": seed,
        "data_random_seed": seed,
        "objective_seed": seed,
        "extra_seed": seed,
        "drop_seed": seed,
        "feature_fraction_seed": round_seed(seed, "feature_fraction", 0),
        "bagging_seed": round_seed(seed, "bagging", 0),
        "learning_rate": p["learning_rate"],
        "num_leaves": p["num_leaves"],
        "max_depth": p["max_depth"],
        "min_data_in_leaf": p["min_data_in_leaf"],
        "min_sum_hessian_in_leaf": p["min_sum_hessian_in_leaf"],
        "min_gain_to_split": p["min_gain_to_split"],
        "lambda_l1": p["lambda_l1"],
        "lambda_l2": p["lambda_l2"],
        "feature_fraction": p["feature_fraction"],
        "feature_fraction_bynode": p["feature_fraction_bynode"],
        "bagging_fraction": p["bagging_fraction"],
        "bagging_freq": p["bagging_freq"],
        "max_bin": p["max_bin"],
        "scale_pos_weight": p["scale_pos_weight"],
        "is_unbalance": p["is_unbalance"],
    }


class EarlyStopping:
    """Best round and score over the validation metric, fed one round at a time (also on resume)."""

    def __init__(self, rounds: int | None, metric: str):
        self.patience = rounds
        self.metric = metric
        self.best_step = 0
        self.best_score = float("inf") if metric == "logloss" else float("-inf")

    def score(self, y: np.ndarray, raw: np.ndarray) -> float:
        return logloss(y, sigmoid(raw)) if self.metric == "logloss" else auc(y, raw)

    def update(self, step: int, score: float) -> bool:
        """Records round `step` (1-based); True when training should stop."""
        better = score < self.best_score if self.metric == "logloss" else score > self.best_score
        if better or self.best_step == 0:
            self.best_step, self.best_score = step, score
        return self.patience is not None and step - self.best_step >= self.patience


def feature_names(cols: list[str]) -> list[str]:
    # LightGBM refuses JSON special characters in feature names; the ONNX input is positional anyway.
    ok = all(not any(ch in c for ch in '[]{}":, ') for c in cols)
    return list(cols) if ok else [f"f{i}" for i in range(len(cols))]


def main(inp: TrainerInput) -> None:
    p = resolve_params(inp.params, PARAMS, TRAINER)
    if p["is_unbalance"] and p["scale_pos_weight"] != 1.0:
        raise BadInput("params: is_unbalance and scale_pos_weight are exclusive; set one of them")
    bagging = p["bagging_freq"] > 0 and p["bagging_fraction"] < 1.0
    if bagging and inp.resume is not None:
        emit.log("bagging is on: the resumed model is a valid continuation but not identical to an uninterrupted run "
                 "(see trainers/README.md)")
    if inp.device != "cpu":
        emit.log(f"device {inp.device} requested; this trainer trains LightGBM on the CPU (deterministic), "
                 "which serves any device")
    rounds = p["rounds"]
    s3 = S3()

    train, valid = load_train_valid(s3, inp)
    emit.log(f"train {inp.train}: {train.rows} labeled rows ({train.positives} positive) of {train.rows_read}; "
             f"validation {inp.validation}: {valid.rows} labeled rows ({valid.positives} positive)")

    # Inputs are checked before LightGBM is imported (it takes seconds), so bad input fails fast.
    import lightgbm as lgb

    init_booster = None
    start = 0
    if inp.resume is not None:
        text = checkpoint.read(s3, inp.resume).decode("utf-8", errors="replace")
        try:
            init_booster = lgb.Booster(model_str=text)
        except lgb.basic.LightGBMError as e:
            raise BadInput(f"resume.uri {inp.resume.uri} is not a LightGBM model string ({e}); "
                           "resume from a checkpoint this trainer wrote") from None
        start = init_booster.current_iteration()
        if start != inp.resume.step:
            raise BadInput(f"resume.step is {inp.resume.step} but the checkpoint {inp.resume.uri} holds {start} "
                           "rounds; pass the step of its checkpoint line")
        if start > rounds:
            raise BadInput(f"resume.step {start} is beyond params.rounds {rounds}; "
                           "resume with the same params as the interrupted run")
        if (
            init_booster.num_feature() != len(inp.feature_columns)
            or init_booster.feature_name() != feature_names(inp.feature_columns)
        ):
            raise BadInput(f"the checkpoint {inp.resume.uri} was trained on other feature columns "
                           f"({', '.join(init_booster.feature_name())}); resume with the same featureColumns")

    names = feature_names(inp.feature_columns)
    params = lgb_params(p, inp.seed)
    dtrain = lgb.Dataset(train.X, label=train.y, feature_name=names, free_raw_data=False, params=params)

    stopper = EarlyStopping(p["early_stopping_rounds"], p["early_stopping_metric"])
    valid_raw = np.zeros(valid.rows, dtype=np.float64)
    stopped = False
    if init_booster is not None:
        # Rebuild the validation scores and the early-stopping state of rounds 1..start, tree by tree,
        # exactly as the uninterrupted run computed them.
        for i in range(start):
            valid_raw += init_booster.predict(valid.X, start_iteration=i, num_iteration=1, raw_score=True)
            if stopper.update(i + 1, stopper.score(valid.y, valid_raw)):
                stopped = True
                break
        emit.log(f"resuming from {inp.resume.uri if inp.resume else ''} at round {start} of {rounds}")

    # Re-seeding goes through Booster.reset_parameter, which is safe only with bagging off.
    reseed = (p["feature_fraction"] < 1.0 or p["feature_fraction_bynode"] < 1.0) and not bagging

    def before_round(env: Any) -> None:
        # env.iteration: 0-based index of the round about to be boosted (absolute, also when resumed)
        ff_seed = round_seed(inp.seed, "feature_fraction", env.iteration + 1)
        env.model.reset_parameter({"feature_fraction_seed": ff_seed})

    before_round.before_iteration = True  # type: ignore[attr-defined]
    before_round.order = 0  # type: ignore[attr-defined]

    converged = False

    def no_split() -> BadInput:
        return BadInput(
            f"LightGBM finds no split on the {train.rows} training rows: "
            "the feature columns are constant there, or params "
            f"(min_data_in_leaf {p['min_data_in_leaf']}, min_gain_to_split {p['min_gain_to_split']}, …) allow none; "
            "check the features or relax the params"
        )

    def after_round(env: Any) -> None:
        nonlocal valid_raw
        i = env.iteration
        step = i + 1
        if env.model.current_iteration() < step:
            # LightGBM found no split with positive gain and added no tree: boosting has converged.
            if (
                env.model.current_iteration() <= 1
                and env.model.dump_model(num_iteration=1)["tree_info"][0]["num_leaves"] <= 1
            ):
                raise no_split()
            emit.log(f"no split improves the model at round {step}; "
                     f"stopping with {env.model.current_iteration()} rounds")
            nonlocal converged
            converged = True
            raise lgb.callback.EarlyStopException(env.model.current_iteration() - 1, [])
        valid_raw += env.model.predict(valid.X, start_iteration=i, num_iteration=1, raw_score=True)
        stop = stopper.update(step, stopper.score(valid.y, valid_raw))
        if step % p["progress_every"] == 0 or step == rounds or stop:
            train_ll = next((v for (_, name, v, _) in env.model.eval_train() if name == "binary_logloss"), float("nan"))
            metrics = {
                "train_logloss": train_ll,
                "valid_logloss": logloss(valid.y, sigmoid(valid_raw)),
                "valid_auc": auc(valid.y, valid_raw),
            }
            if stopper.patience is not None:
                metrics["best_iteration"] = stopper.best_step
            emit.progress(step, rounds, metrics)
        # Also at the last round: a crash during export then resumes with nothing left to boost.
        if inp.checkpoint_prefix and (step % p["checkpoint_every"] == 0 or step == rounds) and not stop:
            checkpoint.write(s3, inp.checkpoint_prefix, step, env.model.model_to_string().encode("utf-8"),
                             content_type="text/plain")
        if stop:
            raise lgb.callback.EarlyStopException(stopper.best_step - 1, [])

    after_round.order = 100  # type: ignore[attr-defined]

    if stopped or start == rounds:
        assert init_booster is not None
        booster = init_booster
    else:
        try:
            booster = lgb.train(
                params,
                dtrain,
                num_boost_round=rounds - start,
                init_model=init_booster,
                callbacks=[before_round, after_round] if reseed else [after_round],
                keep_training_booster=True,
            )
        except lgb.basic.LightGBMError as e:
            if "num_features()" in str(e):
                raise no_split() from None
            raise
    final_rounds = booster.current_iteration()
    if stopper.patience is not None and not converged:
        final_rounds = stopper.best_step
    model_text = booster.model_to_string(num_iteration=final_rounds)
    final = lgb.Booster(model_str=model_text)

    p_valid = final.predict(valid.X)
    p_train = final.predict(train.X)
    metrics = {**final_metrics(train, p_train, valid, p_valid), "rounds": float(final_rounds)}

    onnx_bytes = export_onnx(final, len(inp.feature_columns))
    trainer = {"name": TRAINER, "library": "lightgbm", "version": lgb.__version__}
    onnx_uri, sha, mlflow_dir = publish_onnx(s3, inp, onnx_bytes, valid=valid, p_valid=p_valid, tol=ONNX_TOLERANCE,
                                             what="LightGBM's probabilities", metrics=metrics, params=inp.params,
                                             trainer=trainer)
    emit.log(f"wrote {onnx_uri} ({len(onnx_bytes)} bytes, {final_rounds} trees, valid AUC {metrics['valid_auc']:.4f}) "
             f"and the MLflow model {mlflow_dir['uri']}")
    out = result_fields(inp, onnx_uri=onnx_uri, sha256=sha, metrics=metrics, trained_rows=train.rows,
                        valid_rows=valid.rows, params=p, trainer=trainer, mlflow_model=mlflow_dir)
    if stopper.patience is not None:
        out["bestIteration"] = final_rounds
    if inp.resume is not None:
        out["resumedFrom"] = {"uri": inp.resume.uri, "step": inp.resume.step}
    emit.result(out)


def export_onnx(booster: Any, n_features: int) -> bytes:
    """The booster as ONNX, with every split decided exactly as LightGBM decides it on float32 inputs
    (thresholds rounded down to float32, LightGBM's missing-value directions; see gbdt/onnx_trees.py)."""
    from onnxmltools.convert import convert_lightgbm
    from onnxmltools.convert.common.data_types import FloatTensorType

    from gbdt.onnx_trees import make_decisions_exact

    dump = booster.dump_model()
    return convert_to_onnx(convert_lightgbm, booster, FloatTensorType, n_features, name="mlo-gbdt", zipmap=False,
                           target_opset=ONNX_OPSET, rewrite=lambda proto: make_decisions_exact(proto, dump))


if __name__ == "__main__":
    run(TRAINER, main)
