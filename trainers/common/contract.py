"""Parsing and validation of the trainer's input (mlo.trainer/v1, see trainers/README.md).

Every problem is collected and reported at once, each naming the field and the fix, and
raised as BadInput (exit code 2).
"""
from __future__ import annotations

import datetime as dt
import json
import math
import re
from dataclasses import dataclass
from typing import Any, Callable

from .errors import BadInput

CONTRACT = "mlo.trainer/v1"
_S3_URI = re.compile(r"^s3://[a-z0-9][a-z0-9.\-]{1,61}[a-z0-9]/.*$")
_DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_DEVICE = re.compile(r"^(cpu|cuda(:\d+)?)$")


@dataclass(frozen=True)
class DayRange:
    """Days [from, to): from inclusive, to exclusive (YYYY-MM-DD, UTC)."""

    start: str
    end: str

    def contains(self, day: str) -> bool:
        return self.start <= day < self.end

    def overlaps(self, other: "DayRange") -> bool:
        return self.start < other.end and other.start < self.end

    def __str__(self) -> str:
        return f"[{self.start}, {self.end})"


@dataclass(frozen=True)
class Resume:
    uri: str
    step: int


@dataclass(frozen=True)
class TrainerInput:
    manifest_uri: str
    feature_columns: list[str]
    label_column: str
    train: DayRange
    validation: DayRange
    params: dict[str, Any]
    seed: int
    output_prefix: str
    checkpoint_prefix: str | None
    resume: Resume | None
    device: str
    stdin_lease: bool = False


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _day_range(raw: Any, field: str, problems: list[str]) -> DayRange | None:
    if not isinstance(raw, dict):
        problems.append(f'{field}: expected an object {{"from": "YYYY-MM-DD", "to": "YYYY-MM-DD"}} '
                        '(from inclusive, to exclusive)')
        return None
    ok = True
    for k in ("from", "to"):
        v = raw.get(k)
        if not isinstance(v, str) or not _DAY.match(v):
            problems.append(f"{field}.{k}: expected a day YYYY-MM-DD, got {json.dumps(v)}")
            ok = False
            continue
        try:
            dt.date.fromisoformat(v)
        except ValueError:
            problems.append(f"{field}.{k}: {v} is not a calendar day")
            ok = False
    if not ok:
        return None
    r = DayRange(raw["from"], raw["to"])
    if r.start >= r.end:
        problems.append(f"{field}: from ({r.start}) must be before to ({r.end}); "
                        "to is exclusive, so one day is from=D, to=D+1")
        return None
    return r


def _s3_uri(raw: Any, field: str, problems: list[str], *, prefix: bool = False) -> str | None:
    if not isinstance(raw, str) or not _S3_URI.match(raw):
        what = "an S3 prefix s3://<bucket>/<key prefix>/" if prefix else "an S3 URI s3://<bucket>/<key>"
        problems.append(f"{field}: expected {what}, got {json.dumps(raw)}")
        return None
    if prefix and not raw.endswith("/"):
        raw = raw + "/"
    return raw


def parse_input(raw_text: str, source: str) -> TrainerInput:
    try:
        raw = json.loads(raw_text)
    except json.JSONDecodeError as e:
        raise BadInput(f"{source} is not valid JSON ({e.msg} at line {e.lineno} column {e.colno}); "
                       "write the input as one JSON object") from None
    if not isinstance(raw, dict):
        raise BadInput(f"{source} must hold one JSON object, got {type(raw).__name__}")
    problems: list[str] = []

    if raw.get("contract") != CONTRACT:
        problems.append(f'contract: expected "{CONTRACT}", got {json.dumps(raw.get("contract"))}; '
                        f'this trainer speaks {CONTRACT} only')

    manifest_uri = _s3_uri(raw.get("manifestUri"), "manifestUri", problems)

    fc = raw.get("featureColumns")
    feature_columns: list[str] = []
    if not isinstance(fc, list) or len(fc) == 0 or not all(isinstance(c, str) and c for c in fc):
        problems.append("featureColumns: expected a non-empty array of column names, in the model's input order")
    else:
        seen: set[str] = set()
        for i, c in enumerate(fc):
            if c in seen:
                problems.append(f"featureColumns[{i}]: {json.dumps(c)} is listed twice; each column may appear once")
            seen.add(c)
        feature_columns = list(fc)

    label = raw.get("labelColumn")
    if not isinstance(label, str) or not label:
        problems.append('labelColumn: expected a column name, e.g. "label"')
    elif label in feature_columns:
        problems.append(f"labelColumn: {json.dumps(label)} is also in featureColumns; "
                        "the label must not be a model input")

    train = _day_range(raw.get("train"), "train", problems)
    validation = _day_range(raw.get("validation"), "validation", problems)
    if train and validation and train.overlaps(validation):
        problems.append(f"validation: window {validation} overlaps the training window {train}; "
                        "use an out-of-time window that does not overlap")

    params = raw.get("params", {})
    if params is None:
        params = {}
    if not isinstance(params, dict):
        problems.append("params: expected an object of trainer parameters, e.g. {\"learning_rate\": 0.05}")
        params = {}

    seed = raw.get("seed")
    if not _is_int(seed) or not (0 <= seed <= 2**31 - 1):
        problems.append(f"seed: expected an integer 0..2147483647, got {json.dumps(seed)}")

    output_prefix = _s3_uri(raw.get("outputPrefix"), "outputPrefix", problems, prefix=True)
    checkpoint_prefix = None
    if raw.get("checkpointPrefix") is not None:
        checkpoint_prefix = _s3_uri(raw.get("checkpointPrefix"), "checkpointPrefix", problems, prefix=True)

    resume = None
    r = raw.get("resume")
    if r is not None:
        if not isinstance(r, dict):
            problems.append('resume: expected null or {"uri": "s3://…/step-<n>.txt", "step": n}')
        else:
            ruri = _s3_uri(r.get("uri"), "resume.uri", problems)
            rstep = r.get("step")
            if not _is_int(rstep) or rstep < 1:
                problems.append("resume.step: expected a positive integer (the checkpoint's step), "
                                f"got {json.dumps(rstep)}")
            elif ruri:
                resume = Resume(ruri, rstep)

    device = raw.get("device", "cpu")
    if not isinstance(device, str) or not _DEVICE.match(device):
        problems.append(f'device: expected "cpu" or "cuda:<n>", got {json.dumps(device)}')
        device = "cpu"

    stdin_lease = raw.get("stdinLease", False)
    if not isinstance(stdin_lease, bool):
        problems.append(f"stdinLease: expected true or false, got {json.dumps(stdin_lease)}")
        stdin_lease = False

    if problems:
        raise BadInput(f"{source} does not follow {CONTRACT}: " + "; ".join(problems), problems)
    assert manifest_uri and train and validation and output_prefix and isinstance(label, str) and _is_int(seed)
    return TrainerInput(
        manifest_uri=manifest_uri,
        feature_columns=feature_columns,
        label_column=label,
        train=train,
        validation=validation,
        params=params,
        seed=int(seed),
        output_prefix=output_prefix,
        checkpoint_prefix=checkpoint_prefix,
        resume=resume,
        device=device,
        stdin_lease=stdin_lease,
    )


# ---- params ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Param:
    """One trainer parameter: its default, its kind and a range check that returns a message or None."""

    default: Any
    kind: str  # "int" | "float" | "bool" | "str" | "any"; a trailing "?" also allows null
    check: Callable[[Any], str | None] | None = None
    doc: str = ""


def between(lo: float, hi: float, *, lo_open: bool = False, hi_open: bool = False) -> Callable[[Any], str | None]:
    def check(v: Any) -> str | None:
        lo_ok = v > lo if lo_open else v >= lo
        hi_ok = v < hi if hi_open else v <= hi
        if lo_ok and hi_ok:
            return None
        return f"must be in {'(' if lo_open else '['}{lo}, {hi}{')' if hi_open else ']'}"

    return check


def one_of(*choices: Any) -> Callable[[Any], str | None]:
    def check(v: Any) -> str | None:
        return None if v in choices else f"must be one of {', '.join(json.dumps(c) for c in choices)}"

    return check


def resolve_params(given: dict[str, Any], spec: dict[str, Param], trainer: str) -> dict[str, Any]:
    """Defaults merged with the given params; unknown names and bad values are BadInput (all at once)."""
    problems: list[str] = []
    out: dict[str, Any] = {}
    for name in given:
        if name not in spec:
            problems.append(f"params.{name}: unknown parameter for the {trainer} trainer; "
                            f"known: {', '.join(sorted(spec))}")
    for name, p in spec.items():
        v = given.get(name, p.default)
        if name in given:
            kind = p.kind
            nullable = kind.endswith("?")
            kind = kind.rstrip("?")
            if v is None and nullable:
                pass
            elif kind == "int" and not (_is_int(v) or (isinstance(v, float) and v.is_integer())):
                problems.append(f"params.{name}: expected an integer, got {json.dumps(v)}")
                continue
            elif kind == "float" and not (isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)):
                problems.append(f"params.{name}: expected a number, got {json.dumps(v)}")
                continue
            elif kind == "bool" and not isinstance(v, bool):
                problems.append(f"params.{name}: expected true or false, got {json.dumps(v)}")
                continue
            elif kind == "any":
                pass
            elif kind == "str" and not isinstance(v, str):
                problems.append(f"params.{name}: expected a string, got {json.dumps(v)}")
                continue
            if v is not None and kind == "int":
                v = int(v)
            if v is not None and kind == "float":
                v = float(v)
            if v is not None and p.check is not None:
                msg = p.check(v)
                if msg:
                    problems.append(f"params.{name}: {json.dumps(v)} {msg}")
                    continue
        out[name] = v
    if problems:
        raise BadInput("bad params: " + "; ".join(problems), problems)
    return out
