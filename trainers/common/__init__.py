"""Shared code of mlo's Python trainers (contract mlo.trainer/v1, see trainers/README.md)."""
from .contract import CONTRACT, DayRange, Param, Resume, TrainerInput, between, one_of, parse_input, resolve_params
from .errors import (
    EXIT_BAD_INPUT,
    EXIT_CRASH,
    EXIT_DETERMINISTIC,
    EXIT_OK,
    EXIT_TEMPFAIL,
    BadInput,
    Crash,
    Deterministic,
    TrainerError,
    Transient,
)

__all__ = [
    "CONTRACT",
    "DayRange",
    "Param",
    "Resume",
    "TrainerInput",
    "between",
    "one_of",
    "parse_input",
    "resolve_params",
    "EXIT_BAD_INPUT",
    "EXIT_CRASH",
    "EXIT_DETERMINISTIC",
    "EXIT_OK",
    "EXIT_TEMPFAIL",
    "BadInput",
    "Crash",
    "Deterministic",
    "TrainerError",
    "Transient",
]
