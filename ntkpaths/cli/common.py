"""What every command shares: the typer app, the consoles, list parsing and progress."""
from __future__ import annotations

import time
from pathlib import Path

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

# Only the light modules at import time: `ntkpaths --help` must not pay for
# xarray, dask, zarr or matplotlib. Commands import what they use.
from ..config import INPUT_KINDS, ConfigError, InputConfig, SweepConfig

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    help="Monte Carlo tests of ReLU path activation claims in the NTK regime.",
)
console = Console()
err_console = Console(stderr=True)

DEFAULT_WIDTHS = ",".join(str(w) for w in SweepConfig.widths)


def _parse_list(option: str, text: str, kind=int) -> tuple:
    if kind is not str and not text.isascii():  # int() would take full-width or other scripts' digits
        raise ConfigError(f"{option} must be written with the digits 0-9, got {text!r}")
    try:
        return tuple(kind(v) for v in text.split(",") if v.strip())
    except ValueError:
        noun = {"int": "integers", "float": "numbers"}.get(kind.__name__, "values")
        raise ConfigError(f"{option} must be comma-separated {noun}, got {text!r}") from None


def _input_config(inputs: str, n_inputs: int, scale: float) -> tuple[InputConfig, int | None]:
    """The input config, and the input dim a file fixes (None for generated inputs)."""
    if inputs in INPUT_KINDS and inputs != "file":
        return InputConfig(kind=inputs, count=n_inputs, scale=scale), None
    if Path(inputs).suffix in (".npy", ".csv") or Path(inputs).exists():
        cfg, x = InputConfig.from_file(inputs)
        return cfg, x.shape[1]
    kinds = ", ".join(k for k in INPUT_KINDS if k != "file")
    raise ConfigError(f"unknown input kind {inputs!r}; choose one of: {kinds}, or give a .npy/.csv file")


def _progress(unit: str = "networks"):
    """A live bar on a terminal; in a log (stderr not a terminal), a plain line now and then.

    ``unit`` names what the bars count; ``add_task(..., unit=...)`` can name another for one bar.
    """
    if not err_console.is_terminal:
        return _LogProgress(unit)
    # Transient: the bar leaves the terminal when the work ends, so an error is the only line left
    # on stderr; the summary printed afterwards gives the counts and the time.
    return _UnitProgress(unit, TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                         TextColumn("{task.fields[unit]}"), TimeElapsedColumn(), TextColumn("eta"),
                         TimeRemainingColumn(), console=err_console, transient=True)


class _UnitProgress(Progress):
    """A rich Progress whose bars each name what they count."""

    def __init__(self, unit: str, *columns, **kwargs):
        super().__init__(*columns, **kwargs)
        self.unit = unit

    def add_task(self, description: str, *args, unit: str | None = None, **fields) -> int:
        return super().add_task(description, *args, unit=unit or self.unit, **fields)


class _LogProgress:
    """Progress for logs: 'label: done/total unit (x%), elapsed' at most every EVERY_S seconds."""

    EVERY_S = 30.0

    def __init__(self, unit: str):
        self.unit, self.labels = unit, []
        self.started = self.last = time.monotonic()

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        return None

    def add_task(self, description: str, total=None, unit: str | None = None) -> int:
        self.labels.append((description, unit or self.unit))
        return len(self.labels) - 1

    def update(self, job: int, completed: int, total=None) -> None:
        now = time.monotonic()
        if now - self.last < self.EVERY_S or not total:
            return
        self.last = now
        label, unit = self.labels[job]
        err_console.print(f"{label}: {completed}/{total} {unit} ({completed / total:.0%}), "
                          f"{now - self.started:.0f} s", markup=False, highlight=False)


def _print_dashboard(client) -> None:
    if "dashboard" in client.scheduler_info().get("services", {}):
        err_console.print(f"dask dashboard: {client.dashboard_link}")
