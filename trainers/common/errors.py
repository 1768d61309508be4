"""Exit codes of the trainer contract (mlo.trainer/v1) and the exceptions that map to them.

    0   success: exactly one `result` line was printed
    2   bad input: never retried (input.json, snapshot, columns, windows, params, credentials)
    3   deterministic failure: never retried; the same input fails the same way (e.g. an ONNX export
        that does not reproduce the trained model)
    75  transient failure (EX_TEMPFAIL): retried (S3 unreachable, 5xx, throttling, timeouts)
    *   anything else is a crash: retried by the activity's retry policy

The last line of stderr is always one summary line, `mlo-trainer: <kind>: <message>`, which
the activity shows to the user; anything above it (tracebacks, library logs) is detail.
"""
from __future__ import annotations

EXIT_OK = 0
EXIT_CRASH = 1
EXIT_BAD_INPUT = 2
EXIT_DETERMINISTIC = 3
EXIT_TEMPFAIL = 75


class TrainerError(Exception):
    """An error with a known exit code and a message for the user."""

    exit_code = EXIT_CRASH
    kind = "error"

    def __init__(self, message: str, details: list[str] | None = None):
        super().__init__(message)
        self.message = message
        self.details = list(details or [])


class BadInput(TrainerError):
    """Bad input or a broken contract. Retrying cannot help; the message names the field and the fix."""

    exit_code = EXIT_BAD_INPUT
    kind = "bad input"


class Transient(TrainerError):
    """A dependency was unreachable or failed transiently. The activity retries the run."""

    exit_code = EXIT_TEMPFAIL
    kind = "transient"


class Deterministic(TrainerError):
    """A failure that the same input reproduces every time (an export that does not reproduce the model,
    a model the export cannot express). Retrying cannot help; the message says what to change."""

    exit_code = EXIT_DETERMINISTIC
    kind = "deterministic failure"


class Crash(TrainerError):
    """An unexpected failure that a retry may not repeat."""

    exit_code = EXIT_CRASH
    kind = "crash"
