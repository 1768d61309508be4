"""Feature snapshots (lib/features/manifest.ts, kind mlo.feature-snapshot/v1) as training matrices.

A manifest lists day partitions, each one Arrow IPC or Parquet file (told apart by their magic
bytes; the manifest's `format` is "parquet" for the latter) with an id column (Int64), an event
time column (Timestamp ms, UTC), a label column (Float64 1/0, null while not mature), the
feature columns (Float64) and string slice columns. A window [from, to) selects partitions by
their `day`, leaving out warm-up days (`warmup: true`: an incomplete lookback). Rows with a null
label are dropped (their labels had not matured, or were unknown).
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import numpy as np

from .contract import DayRange, TrainerInput
from .errors import BadInput
from .s3 import S3

SNAPSHOT_KIND = "mlo.feature-snapshot/v1"


@dataclass
class Matrix:
    """Labeled rows of one window: X float32 [n, F] (NaN = missing), y float64 0/1, in partition order."""

    X: np.ndarray
    y: np.ndarray
    days: list[str]
    rows_read: int

    @property
    def rows(self) -> int:
        return int(self.y.shape[0])

    @property
    def positives(self) -> int:
        return int(self.y.sum())


def load_manifest(s3: S3, uri: str) -> dict[str, Any]:
    raw = s3.get_bytes(uri, "the feature snapshot manifest")
    try:
        m = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise BadInput(
            f"manifestUri {uri} is not JSON ({e}); point manifestUri at a feature snapshot manifest"
        ) from None
    problems: list[str] = []
    if not isinstance(m, dict):
        raise BadInput(f"manifestUri {uri} does not hold a JSON object")
    if m.get("kind") != SNAPSHOT_KIND:
        problems.append(f'kind is {json.dumps(m.get("kind"))}, expected "{SNAPSHOT_KIND}"')
    cols = m.get("columns")
    if (
        not isinstance(cols, dict)
        or not isinstance(cols.get("features"), list)
        or not isinstance(cols.get("label"), str)
    ):
        problems.append("columns must hold id, timestamp, label, features[] and slices[]")
    parts = m.get("partitions")
    if not isinstance(parts, list):
        problems.append("partitions must be an array")
    else:
        for i, p in enumerate(parts):
            if not isinstance(p, dict) or not isinstance(p.get("day"), str) or not isinstance(p.get("uri"), str):
                problems.append(f"partitions[{i}] must have a day (YYYY-MM-DD) and a uri (s3://…)")
    if problems:
        raise BadInput(f"manifestUri {uri} is not a valid feature snapshot manifest: " + "; ".join(problems), problems)
    return m


def manifest_feature_names(m: dict[str, Any]) -> list[str]:
    return [f["name"] if isinstance(f, dict) else str(f) for f in m["columns"]["features"]]


def check_columns(inp: TrainerInput, m: dict[str, Any]) -> None:
    known = manifest_feature_names(m)
    problems = []
    for i, c in enumerate(inp.feature_columns):
        if c not in known:
            problems.append(
                f"featureColumns[{i}]: {json.dumps(c)} is not a feature column of the snapshot {inp.manifest_uri} "
                f"(its features: {', '.join(known)}); fix the model spec's feature list or rebuild the snapshot"
            )
    if inp.label_column != m["columns"]["label"]:
        problems.append(
            f"labelColumn: {json.dumps(inp.label_column)} is not the snapshot's label column "
            f"{json.dumps(m['columns']['label'])}"
        )
    if problems:
        raise BadInput("; ".join(problems), problems)


def load_train_valid(s3: S3, inp: TrainerInput) -> tuple[Matrix, Matrix]:
    """The input's training and validation windows of its snapshot, its columns checked against the manifest."""
    m = load_manifest(s3, inp.manifest_uri)
    check_columns(inp, m)
    train = load_window(s3, inp, m, inp.train, "train")
    valid = load_window(s3, inp, m, inp.validation, "validation")
    return train, valid


def _read_partition(raw: bytes, uri: str) -> Any:
    """A snapshot partition file, Parquet (magic PAR1) or Arrow IPC (file or stream), as a pyarrow Table."""
    import pyarrow as pa
    import pyarrow.ipc as ipc

    buf = pa.py_buffer(raw)
    if raw[:4] == b"PAR1":
        import pyarrow.parquet as pq

        try:
            return pq.read_table(pa.BufferReader(buf))
        except (pa.ArrowInvalid, OSError) as e:
            raise BadInput(f"partition {uri} is not a readable Parquet file ({e}); "
                           "the snapshot is corrupt, rebuild it") from None
    try:
        return ipc.open_file(buf).read_all()
    except pa.ArrowInvalid:
        try:
            return ipc.open_stream(buf).read_all()
        except pa.ArrowInvalid as e:
            raise BadInput(f"partition {uri} is not an Arrow IPC file or stream ({e}); "
                           "the snapshot is corrupt, rebuild it") from None


def load_window(s3: S3, inp: TrainerInput, m: dict[str, Any], window: DayRange, field: str) -> Matrix:
    """Reads the partitions of `window` and returns the labeled rows. Raises BadInput if none."""
    import pyarrow as pa
    import pyarrow.compute as pc

    in_window = [p for p in m["partitions"] if window.contains(p["day"])]
    # Warm-up days (features.warmup: exclude) have an incomplete lookback: never trained on.
    parts = sorted((p for p in in_window if p.get("warmup") is not True), key=lambda p: p["day"])
    if in_window and not parts:
        raise BadInput(
            f"{field}: window {window} holds only warm-up days of the snapshot {inp.manifest_uri} "
            f"(their longest feature window reaches before the first raw day); "
            f"move the window later or load earlier raw events"
        )
    if not parts:
        days = sorted(p["day"] for p in m["partitions"])
        span = f"{days[0]} … {days[-1]}" if days else "none"
        raise BadInput(
            f"{field}: window {window} selects no partition of the snapshot {inp.manifest_uri} (its days: {span}); "
            f"choose a window inside the snapshot or rebuild the snapshot for this window"
        )
    xs: list[np.ndarray] = []
    ys: list[np.ndarray] = []
    rows_read = 0
    for p in parts:
        t = _read_partition(s3.get_bytes(p["uri"], f"partition {p['day']} listed in the manifest"), p["uri"])
        names = set(t.column_names)
        missing = [c for c in [*inp.feature_columns, inp.label_column] if c not in names]
        if missing:
            raise BadInput(
                f"partition {p['day']} ({p['uri']}) lacks column(s) {', '.join(missing)}; "
                "the snapshot does not match its manifest, rebuild it"
            )
        rows_read += t.num_rows
        label = t.column(inp.label_column)
        try:
            label = label.cast(pa.float64())
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            raise BadInput(f"labelColumn {inp.label_column} in {p['uri']} is {label.type}, "
                           "expected Float64 1/0 (null = not mature)") from None
        keep = pc.is_valid(label)
        t2 = t.filter(keep)
        y = t2.column(inp.label_column).cast(pa.float64()).to_numpy()
        if y.size and not np.all((y == 0.0) | (y == 1.0)):
            bad = np.unique(y[(y != 0.0) & (y != 1.0)])[:5]
            raise BadInput(f"labelColumn {inp.label_column} in {p['uri']} holds values other than 0/1 "
                           f"(e.g. {bad.tolist()}); the label must be binary")
        cols = []
        for c in inp.feature_columns:
            col = t2.column(c)
            try:
                col = col.cast(pa.float64())
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
                raise BadInput(
                    f"featureColumns: {c} in {p['uri']} is {col.type}, not numeric; features must be Float64"
                ) from None
            cols.append(col.to_numpy(zero_copy_only=False))  # nulls become NaN
        X = np.column_stack(cols).astype(np.float32) if cols else np.zeros((t2.num_rows, 0), np.float32)
        xs.append(X)
        ys.append(y.astype(np.float64))
    X = np.concatenate(xs, axis=0) if xs else np.zeros((0, len(inp.feature_columns)), np.float32)
    y = np.concatenate(ys) if ys else np.zeros(0, np.float64)
    if np.isinf(X).any():
        raise BadInput(f"{field}: feature values include ±Infinity; the snapshot's features must be finite or null")
    mat = Matrix(X=np.ascontiguousarray(X), y=y, days=[p["day"] for p in parts], rows_read=rows_read)
    if mat.rows == 0:
        raise BadInput(
            f"{field}: window {window} has {rows_read} rows but none with a mature label in {inp.manifest_uri}; "
            f"move the window earlier or wait for labels to mature"
        )
    pos = mat.positives
    if pos == 0 or pos == mat.rows:
        only = "1 (positive)" if pos else "0 (negative)"
        raise BadInput(
            f"{field}: window {window} has {mat.rows} labeled rows, all of class {only}; "
            "a binary classifier needs both classes, widen the window"
        )
    return mat


# Kept for callers that read a partition by its former name.
_read_ipc = _read_partition
