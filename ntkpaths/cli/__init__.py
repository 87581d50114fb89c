"""The ``ntkpaths`` command line: parse, build a config, call the public API.

Commands live in :mod:`.run` (sweep, train, study) and :mod:`.show` (plot,
info, report, paths); :func:`main` turns every failure a user or the machine
can cause into one line on stderr and exit code 2.
"""
from __future__ import annotations

import signal
import sys

import typer

from ..config import NtkpathsError
from . import run, show  # noqa: F401  (they register their commands on the app)
from . import minima  # noqa: F401
from .common import app, err_console

__all__ = ["app", "main"]


def _fail(message: str) -> None:
    """One line on stderr, exit code 2."""
    err_console.print(f"error: {' '.join(message.split())}", markup=False, highlight=False, soft_wrap=True)
    sys.exit(2)


def _first_line(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return lines[0] if lines else type(exc).__name__


def _terminate(signum, frame):
    raise KeyboardInterrupt  # so that clusters close and the store stays resumable


def main(argv: list[str] | None = None) -> None:
    """Console entry point: user errors become one line on stderr and exit code 2."""
    previous = signal.signal(signal.SIGTERM, _terminate)
    # A shell starts background jobs with SIGINT ignored, and Python keeps that; an explicit
    # SIGINT (kill -INT) must still stop a sweep resumably.
    previous_int = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        rv = app(args=argv, prog_name="ntkpaths", standalone_mode=False)
    except (NtkpathsError, typer.TyperException) as exc:
        if type(exc).__name__ == "NoArgsIsHelpError":  # `ntkpaths` alone: the help it printed is the answer
            sys.exit(0)
        message = exc.format_message() if hasattr(exc, "format_message") else str(exc)
        _fail(message)
    except OSError as exc:  # the environment: a full disk, a vanished folder, a lost connection
        where = f"{exc.filename}: " if getattr(exc, "filename", None) else ""
        _fail(f"{where}{exc.strerror or _first_line(exc)} (finished work is kept; rerun with --resume "
              "where the command has it)")
    except MemoryError:
        _fail("out of memory; use smaller widths, fewer --workers, or --method implicit")
    except (KeyboardInterrupt, typer.Abort):
        rv = 130
    finally:
        signal.signal(signal.SIGTERM, previous)
        signal.signal(signal.SIGINT, previous_int)
    if rv == 130:
        err_console.print("interrupted; finished blocks are kept: rerun the same command with --resume", markup=False)
    sys.exit(rv if isinstance(rv, int) else 0)

