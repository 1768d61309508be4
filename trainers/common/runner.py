"""The command-line frame every trainer shares: `<command…> --input <path to input.json>`.

It guards stdout (JSON lines only), parses and validates input.json, runs the trainer and
maps failures to the contract's exit codes, ending stderr with one summary line:

    mlo-trainer: bad input: <what is wrong, the field, the fix>      (exit 2)
    mlo-trainer: deterministic failure: <what fails the same way, the fix> (exit 3)
    mlo-trainer: transient: <what was unreachable>                   (exit 75)
    mlo-trainer: crash: <exception type>: <message>                  (exit 1)
"""
from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
import traceback
from typing import Callable, NoReturn

from .contract import TrainerInput, parse_input
from . import tracing
from .emit import guard_stdout
from .errors import EXIT_BAD_INPUT, EXIT_CRASH, EXIT_OK, BadInput, TrainerError


def _summary(kind: str, message: str) -> None:
    # One line: the activity shows the last lines of stderr to the user.
    sys.stderr.write(f"mlo-trainer: {kind}: {' '.join(message.split())}\n")
    sys.stderr.flush()


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:  # exit 2 with the contract's summary line
        self.print_usage(sys.stderr)
        _summary("bad input", f"{message}; invoke as <command…> --input <path to input.json>")
        sys.exit(EXIT_BAD_INPUT)


def _stop_group() -> None:
    """Ends this trainer and everything it started: its process group when it leads one, else itself."""
    if os.getpgrp() == os.getpid():
        os.killpg(os.getpid(), signal.SIGKILL)
    os.kill(os.getpid(), signal.SIGKILL)


def _hold_stdin_lease() -> None:
    """With `stdinLease`, stdin is a pipe the activity holds open while it waits for this trainer.

    End of file means the worker is gone (killed, out of memory): nothing will read the results,
    and a retry may already train elsewhere, so the trainer stops at once, with everything it started.
    A daemon thread blocks on the read (LightGBM and numpy release the GIL while they compute).
    """

    def watch() -> None:
        try:
            while os.read(0, 4096):
                pass  # the activity writes nothing; bytes, if any, are ignored
        except OSError:
            pass
        try:
            _summary("crash", "stdin closed: the worker that started this trainer is gone; stopping")
        except OSError:
            pass  # stderr's reader is gone too
        _stop_group()

    threading.Thread(target=watch, name="mlo-stdin-lease", daemon=True).start()


def run(trainer: str, main: Callable[[TrainerInput], None]) -> NoReturn:
    guard_stdout()
    parser = _Parser(
        prog=trainer, description=f"mlo trainer {trainer} (contract mlo.trainer/v1, see trainers/README.md)"
    )
    parser.add_argument("--input", required=True, help="path to input.json")
    args = parser.parse_args()
    code = EXIT_OK
    try:
        try:
            with open(args.input, encoding="utf-8") as f:
                text = f.read()
        except OSError as e:
            raise BadInput(f"cannot read --input {args.input}: {e.strerror}") from None
        inp = parse_input(text, f"input {args.input}")
        if inp.stdin_lease:
            _hold_stdin_lease()
        attributes = {"mlo.trainer": trainer, "mlo.device": inp.device, "mlo.seed": inp.seed}
        if inp.resume is not None:
            attributes["mlo.resume_step"] = inp.resume.step
        with tracing.span(f"train {trainer}", attributes):
            main(inp)
    except TrainerError as e:
        if e.details and len(e.details) > 1:
            for d in e.details:
                sys.stderr.write(f"  - {d}\n")
        _summary(e.kind, e.message)
        code = e.exit_code
    except KeyboardInterrupt:
        _summary("crash", "interrupted")
        code = 130
    except Exception as e:  # noqa: BLE001 - an unexpected failure is a crash, retried by policy
        traceback.print_exc(file=sys.stderr)
        _summary("crash", f"{type(e).__name__}: {e}")
        code = EXIT_CRASH
    tracing.shutdown()
    sys.stderr.flush()
    sys.exit(code)
