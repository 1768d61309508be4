#!/usr/bin/env python3
"""Writes a small synthetic, learnable feature snapshot to S3 and prints its manifest URI.

    .venv/bin/python trainers/tools/make_fixture_snapshot.py s3://mlo/tmp/fixture-1/ [--seed 7]
        [--days 7] [--rows-per-day 3000] [--start 2025-01-01] [--immature-days 2]

Layout (the same as a feature backfill writes, lib/features/manifest.ts):
    <prefix>partitions/day=<YYYY-MM-DD>/<hash16>.arrow   one Arrow IPC file per day
    <prefix>manifest-<hash16>.json                       kind mlo.feature-snapshot/v1, written last

Columns: payment_id Int64, ts Timestamp(ms, UTC), label Float64 (null = not mature),
country and channel (strings, for slices) and 8 Float64 features (one with ~3% nulls).
Labels come from a logistic model of the features, so a classifier reaches AUC ≈ 0.85.
The bytes are a function of the arguments alone (same seed → same objects and manifest).
The last --immature-days days have null labels after the label cut-off (noon of the first
immature day), as real labels that have not matured.

Environment: MLO_S3_ENDPOINT (default http://127.0.0.1:7070, the dev stack),
AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY (default the dev stack's), AWS_DEFAULT_REGION.
"""
from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402
import pyarrow as pa  # noqa: E402
import pyarrow.ipc as ipc  # noqa: E402

from common.errors import TrainerError  # noqa: E402
from common.s3 import S3  # noqa: E402

GENERATOR = "mlo.fixture-snapshot/1"
FEATURES = [
    "amount_log",
    "amount_zscore_card",
    "card_tx_count_1h",
    "card_tx_count_24h",
    "card_amount_sum_24h",
    "merchant_distinct_7d",
    "geo_mismatch",
    "account_age_days_log",
]
COUNTRIES = ["US", "GB", "DE", "FR", "BR", "IN"]
CHANNELS = ["web", "app", "pos"]


def sha256_json(obj: object) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def draw_features(rng: np.random.Generator, n: int, web: np.ndarray) -> tuple[list[np.ndarray], np.ndarray, np.ndarray]:
    """Draws n rows: the FEATURES (Float64, in that order), labels from a logistic model of them and of
    `web` (bool per row, the channel with more fraud), and the rows where card_amount_sum_24h is null.

    Also the scoring benchmark's data (scripts/bench/scoring.ts): keep the order of the draws.
    """
    amount_log = rng.normal(3.5, 1.2, n)
    amount_z = rng.normal(0, 1, n)
    cnt_1h = rng.poisson(0.6, n).astype(np.float64)
    cnt_24h = cnt_1h + rng.poisson(3.0, n)
    sum_24h = np.exp(amount_log) * (1 + cnt_24h) * rng.lognormal(0, 0.3, n)
    merch_7d = rng.poisson(4.0, n).astype(np.float64)
    geo = (rng.random(n) < 0.12).astype(np.float64)
    age_log = np.log1p(rng.exponential(400, n))
    logit = (
        -3.2
        + 0.55 * (amount_log - 3.5)
        + 0.7 * amount_z
        + 0.65 * cnt_1h
        + 1.5 * geo
        - 0.45 * (age_log - 5.5)
        + 0.08 * merch_7d
        + 0.6 * web
        + 0.5 * geo * (amount_z > 1)
    )
    y = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(np.float64)
    sum_null = rng.random(n) < 0.03
    return [amount_log, amount_z, cnt_1h, cnt_24h, sum_24h, merch_7d, geo, age_log], y, sum_null


def make_day(seed: int, day_index: int, day: dt.date, n: int, cutoff_ms: int | None) -> tuple[pa.Table, int, int]:
    rng = np.random.default_rng([seed, day_index])
    day_start_ms = int(dt.datetime(day.year, day.month, day.day, tzinfo=dt.timezone.utc).timestamp() * 1000)
    ts = day_start_ms + np.sort(rng.integers(0, 86_400_000, size=n))
    country = rng.choice(len(COUNTRIES), size=n, p=[0.4, 0.15, 0.15, 0.1, 0.1, 0.1])
    channel = rng.choice(len(CHANNELS), size=n, p=[0.5, 0.35, 0.15])
    features, y, sum_null = draw_features(rng, n, channel == 0)
    label_valid = np.ones(n, dtype=bool) if cutoff_ms is None else ts < cutoff_ms
    ids = np.int64(day_index + 1) * 1_000_000 + np.arange(n, dtype=np.int64)
    cols = {
        "payment_id": pa.array(ids, pa.int64()),
        "ts": pa.array(ts, pa.timestamp("ms", tz="UTC")),
        "label": pa.array(y, pa.float64(), mask=~label_valid),
        "country": pa.array([COUNTRIES[i] for i in country], pa.string()),
        "channel": pa.array([CHANNELS[i] for i in channel], pa.string()),
    }
    for name, values in zip(FEATURES, features):
        cols[name] = pa.array(values, pa.float64(), mask=sum_null if name == "card_amount_sum_24h" else None)
    table = pa.table(cols)
    labeled = int(label_valid.sum())
    positives = int(y[label_valid].sum())
    return table, labeled, positives


def ipc_file_bytes(table: pa.Table) -> bytes:
    sink = pa.BufferOutputStream()
    with ipc.new_file(sink, table.schema) as w:
        w.write_table(table)
    return sink.getvalue().to_pybytes()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("prefix", help="S3 prefix to write under, s3://<bucket>/<prefix>/")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--days", type=int, default=7)
    ap.add_argument("--rows-per-day", type=int, default=3000)
    ap.add_argument("--start", default="2025-01-01", help="first day, YYYY-MM-DD")
    ap.add_argument("--immature-days", type=int, default=2, help="trailing days with null labels after the cut-off")
    ap.add_argument("--model", default="fixture-model")
    a = ap.parse_args()
    if not a.prefix.startswith("s3://"):
        ap.error("prefix must be s3://<bucket>/<prefix>/")
    prefix = a.prefix if a.prefix.endswith("/") else a.prefix + "/"
    os.environ.setdefault("MLO_S3_ENDPOINT", "http://127.0.0.1:7070")
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "mlo-dev")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "mlo-dev-secret")
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    start = dt.date.fromisoformat(a.start)
    days = [start + dt.timedelta(days=i) for i in range(a.days)]
    first_immature = a.days - max(0, min(a.immature_days, a.days))
    cutoff = dt.datetime.combine(start + dt.timedelta(days=first_immature), dt.time(12), tzinfo=dt.timezone.utc)
    cutoff_ms = int(cutoff.timestamp() * 1000)

    feature_defs = [{"name": f, "type": "float64"} for f in FEATURES]
    feature_set_hash = sha256_json({"generator": GENERATOR, "features": feature_defs})
    s3 = S3()
    partitions = []
    for i, day in enumerate(days):
        immature = i >= first_immature
        table, labeled, positives = make_day(a.seed, i, day, a.rows_per_day, cutoff_ms if immature else None)
        phash = sha256_json({"generator": GENERATOR, "seed": a.seed, "day": day.isoformat(), "rows": a.rows_per_day,
                             "cutoff": cutoff_ms if immature else None, "featureSetHash": feature_set_hash})
        uri = f"{prefix}partitions/day={day.isoformat()}/{phash[:16]}.arrow"
        s3.put_bytes(uri, ipc_file_bytes(table), content_type="application/vnd.apache.arrow.file")
        partitions.append({"day": day.isoformat(), "uri": uri, "rows": table.num_rows, "labeledRows": labeled,
                           "positives": positives, "hash": phash})
        print(f"wrote {uri}: {table.num_rows} rows, {labeled} labeled, {positives} positives", file=sys.stderr)
    body = {
        "kind": "mlo.feature-snapshot/v1",
        "model": a.model,
        "featureSetHash": feature_set_hash,
        "window": {"from": days[0].isoformat(), "to": (days[-1] + dt.timedelta(days=1)).isoformat()},
        "labelCutoff": cutoff.isoformat().replace("+00:00", "Z"),
        "columns": {"id": "payment_id", "timestamp": "ts", "label": "label", "features": feature_defs,
                    "slices": ["country", "channel"]},
        "partitions": partitions,
        "rows": sum(p["rows"] for p in partitions),
        "labeledRows": sum(p["labeledRows"] for p in partitions),
        "positives": sum(p["positives"] for p in partitions),
    }
    h = sha256_json({"generator": GENERATOR, "featureSetHash": feature_set_hash,
                     "partitions": [p["hash"] for p in partitions], "labelCutoff": body["labelCutoff"]})
    manifest = {"kind": body["kind"], "model": body["model"], "featureSetHash": feature_set_hash, "hash": h,
                **{k: v for k, v in body.items() if k not in ("kind", "model", "featureSetHash")}}
    muri = f"{prefix}manifest-{h[:16]}.json"
    s3.put_bytes(muri, json.dumps(manifest, indent=2).encode(), content_type="application/json")
    print(muri)
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except TrainerError as e:
        print(f"make_fixture_snapshot: {e.message}", file=sys.stderr)
        sys.exit(e.exit_code)
