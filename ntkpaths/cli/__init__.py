"""The ``ntkpaths`` command line: parse, build a config, call the public API.

Commands live in :mod:`.run` (sweep, train, study), :mod:`.show` (plot,
info, report) and :mod:`.paths` (a network someone hands over); :func:`main` turns every failure a user or the machine
can cause into one line on stderr and exit code 2.
"""
from __future__ import annotations

import re
import signal
import sys

import typer

from ..config import ConfigError, NtkpathsError
from . import run, show  # noqa: F401  (they register their commands on the app)
from . import paths  # noqa: F401  (`ntkpaths paths`, with its readers)
from . import minima  # noqa: F401  (`ntkpaths minima`, the critical-point census)
from .common import app, err_console

__all__ = ["app", "main"]


def _fail(message: str) -> None:
    """One line on stderr, exit code 2."""
    err_console.print(f"error: {' '.join(message.split())}", markup=False, highlight=False, soft_wrap=True)
    sys.exit(2)


def _first_line(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return lines[0] if lines else type(exc).__name__


def _command(argv: list[str] | None):
    """The click command that ``argv`` names, or None."""
    import typer.main

    args = sys.argv[1:] if argv is None else argv
    group = typer.main.get_command(app)
    name = next((a for a in args if not a.startswith("-")), None)
    return group.commands.get(name) if name else None


def _options(argv: list[str] | None) -> set[str]:
    """The long options of the command ``argv`` names (empty when it names none)."""
    command = _command(argv)
    return {opt for p in command.params for opt in p.opts} if command else set()


def _check_ascii_numbers(argv: list[str] | None) -> None:
    """Refuse numbers written with digits other than 0-9: Python's int() would take '１６' silently."""
    args = sys.argv[1:] if argv is None else argv
    for i, arg in enumerate(args):
        value = arg.partition("=")[2] if arg.startswith("--") else arg
        if not value.isascii() and all(_is_number(v) for v in value.split(",")):
            option = arg.partition("=")[0] if arg.startswith("--") else (args[i - 1] if i else "a value")
            raise ConfigError(f"{option} must be written with the digits 0-9, got {value!r}")


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


# What to try after running out of memory, and the option each piece of advice needs.
_MEMORY_ADVICE = (("--nets", "fewer --nets"), ("--runs", "fewer --runs"), ("--widths", "smaller --widths"),
                  ("--workers", "fewer --workers"), ("--method", "--method implicit"))


def _memory_advice(argv: list[str] | None) -> str:
    args = sys.argv[1:] if argv is None else argv
    given = " ".join(args)
    tips = [tip for option, tip in _MEMORY_ADVICE if option in _options(argv) and tip not in given
            and not (option == "--method" and "--method=implicit" in given)]
    return f"; use {', '.join(tips[:-1])}{' or ' if len(tips) > 1 else ''}{tips[-1]}" if tips else ""


# Advice to resume, which the lower layers give but only some commands can follow (a study keeps no store).
_RESUME_ADVICE = re.compile(r"[;,]?\s*(finished work is kept:?\s*)?rerun with --resume")


def _terminate(signum, frame):
    raise KeyboardInterrupt  # so that clusters close and the store stays resumable


def main(argv: list[str] | None = None) -> None:
    """Console entry point: user errors become one line on stderr and exit code 2."""
    previous = signal.signal(signal.SIGTERM, _terminate)
    # A shell starts background jobs with SIGINT ignored, and Python keeps that; an explicit
    # SIGINT (kill -INT) must still stop a sweep resumably.
    previous_int = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        _check_ascii_numbers(argv)
        rv = app(args=argv, prog_name="ntkpaths", standalone_mode=False)
    except (NtkpathsError, typer.TyperException) as exc:
        if type(exc).__name__ == "NoArgsIsHelpError":  # `ntkpaths` alone: the help it printed is the answer
            sys.exit(0)
        message = exc.format_message() if hasattr(exc, "format_message") else str(exc)
        _fail(message if "--resume" in _options(argv) else _RESUME_ADVICE.sub("", message))
    except OSError as exc:  # the environment: a full disk, a vanished folder, a lost connection
        where = f"{exc.filename}: " if getattr(exc, "filename", None) else ""
        resumable = "--resume" in _options(argv)
        _fail(f"{where}{exc.strerror or _first_line(exc)}"
              + (" (finished work is kept; rerun with --resume)" if resumable else ""))
    except MemoryError:
        _fail("out of memory" + _memory_advice(argv))
    except (KeyboardInterrupt, typer.Abort):
        rv = 130
    finally:
        signal.signal(signal.SIGTERM, previous)
        signal.signal(signal.SIGINT, previous_int)
    if rv == 130:
        resumable = "--resume" in _options(argv)
        err_console.print("interrupted" + ("; finished blocks are kept: rerun the same command with --resume"
                                           if resumable else ""), markup=False)
    sys.exit(rv if isinstance(rv, int) else 0)

