"""stdout of a trainer carries JSON lines only; everything else goes to stderr.

`guard_stdout()` moves the process's file descriptor 1 onto stderr, so whatever a library
prints (Python `print`, LightGBM's C++ logger, OpenMP warnings) lands on stderr, and keeps
a private duplicate of the original stdout for the JSON lines written by `emit`.
"""
from __future__ import annotations

import json
import math
import os
import sys
from typing import Any

_json_out: Any = None


def guard_stdout() -> None:
    global _json_out
    if _json_out is not None:
        return
    sys.stdout.flush()
    fd = os.dup(1)
    os.dup2(2, 1)
    _json_out = os.fdopen(fd, "w", encoding="utf-8", buffering=1)
    # Python-level writes to sys.stdout now reach fd 1, which is stderr.
    sys.stdout = os.fdopen(os.dup(2), "w", encoding="utf-8", buffering=1)


def _clean(v: Any) -> Any:
    """JSON has no NaN/Infinity: non-finite numbers become null; numpy scalars become Python ones."""
    if isinstance(v, dict):
        return {str(k): _clean(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_clean(x) for x in v]
    if hasattr(v, "item") and callable(v.item) and not isinstance(v, (str, bytes)):
        try:
            v = v.item()
        except (TypeError, ValueError):
            pass
    if isinstance(v, float) and not math.isfinite(v):
        return None
    return v


def emit(obj: dict[str, Any]) -> None:
    out = _json_out if _json_out is not None else sys.stdout
    out.write(json.dumps(_clean(obj), separators=(",", ":"), allow_nan=False) + "\n")
    out.flush()


def progress(step: int, total: int, metrics: dict[str, Any] | None = None, **extra: Any) -> None:
    emit({"type": "progress", "step": int(step), "total": int(total), "metrics": metrics or {}, **extra})


def checkpoint(uri: str, step: int) -> None:
    emit({"type": "checkpoint", "uri": uri, "step": int(step)})


def result(payload: dict[str, Any]) -> None:
    emit({"type": "result", **payload})


def log(message: str) -> None:
    """A human-readable line for the log (stderr)."""
    sys.stderr.write(f"mlo-trainer: {message}\n")
    sys.stderr.flush()
