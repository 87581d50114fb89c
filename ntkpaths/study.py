"""Declarative studies: one TOML file per scientific question.

A study's ``[study]`` table names it, its ``kind``, the claims to judge and
the figures to draw; one more table describes the job. ``run_study`` writes
``dataset.zarr``, ``figures/`` and ``report.md`` into one folder.

Kinds: ``sweep`` (the default; below), ``train`` (gradient-descent runs,
:mod:`ntkpaths.training.study`) and ``reparametrisation``
(:mod:`ntkpaths.reparam`). A sweep study names a sweep and the network
families to run it on (each becomes a value of the dataset's ``family``
dimension). Every family uses the same seed, so families are compared on
common random numbers.

Example::

    [study]
    name = "theorem1-path-probability"
    title = "Is P(path active) = 2^-H?"
    claims = ["theorem1"]
    figures = ["families"]

    [sweep]
    depth = 12
    widths = [8, 64, 512]
    rel_se = 0.01

    [families.he-fan-in]
    init = "he-fan-in"

    [smoke]          # overrides for a tiny run (tests, --smoke)
    depth = 3
    widths = [8]
    nets = 10
"""
from __future__ import annotations

import importlib
import json
import tomllib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import xarray as xr

from . import plot, report, store
from .config import ConfigError, InputConfig, NetworkConfig, SweepConfig, parse_angles
from .sweep import preflight, run_sweep


def _int(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _num(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _list_of(check, noun):
    return (lambda v: isinstance(v, list) and all(check(x) for x in v)), f"a list of {noun}"


_STR = (lambda v: isinstance(v, str)), "a string"
_INT = _int, "an integer"
_NUM = _num, "a number"
SCHEMA = {
    "study": {"name": _STR, "title": _STR, "question": _STR, "kind": _STR,
              "claims": _list_of(lambda v: isinstance(v, str), "strings"),
              "figures": _list_of(lambda v: isinstance(v, str), "strings")},
    "sweep": {"depth": _INT, "widths": _list_of(_int, "integers"), "nets": _INT, "seed": _INT,
              "input_dims": _list_of(_int, "integers"), "angles": _list_of(lambda v: _num(v) or isinstance(v, str), "angles"),
              "stats": _list_of(lambda v: isinstance(v, str), "strings"), "method": _STR, "rel_se": _NUM,
              "max_nets": _INT, "nets_per_task": _INT, "n_inputs": _INT, "inputs": _STR, "input_scale": _NUM},
    "family": {"init": _STR, "gain": _NUM, "weight_dist": _STR, "bias_std": _NUM, "bias_mean": _NUM,
               "weight_mean": _NUM, "weight_df": _NUM, "weight_density": _NUM, "dtype": _STR,
               "max_width": _INT},
}
SCHEMA["smoke"] = SCHEMA["sweep"]


@dataclass(frozen=True)
class Study:
    path: Path
    name: str
    title: str
    question: str
    claims: tuple[str, ...]
    figures: tuple[str, ...]
    sweep: dict                # the job's table (``[sweep]``, ``[train]``, ...)
    families: dict[str, dict]  # sweep studies only
    smoke: dict = field(default_factory=dict)
    kind: str = "sweep"


@dataclass(frozen=True)
class Kind:
    """What a kind of study needs: its job table, the keys it allows, its claims and figures,
    a check of the whole job before any work, the run itself, and its verdicts.

    ``prepare(study, smoke, scheduler, workers)`` checks the whole job before any work
    (one-line errors) and returns its configs;
    ``run(study, smoke, scheduler, workers, progress)`` returns the dataset;
    ``verdicts(ds, claims)`` returns verdict rows.
    """

    table: str
    schema: dict
    claims: tuple[str, ...]
    figures: tuple[str, ...]
    prepare: Callable
    run: Callable
    verdicts: Callable


_KIND_MODULES = {"train": "ntkpaths.training.study", "reparametrisation": "ntkpaths.reparam",
                 "minima": "ntkpaths.minima.study"}


_SCHEMA_KINDS = {"ntkpaths.sweep": "sweep", "ntkpaths.train": "train", "ntkpaths.reparam": "reparametrisation",
                 "ntkpaths.minima": "minima"}


def kind_of_dataset(ds: xr.Dataset) -> Kind:
    """The Kind that judges a dataset, from its schema."""
    return kind_of(_SCHEMA_KINDS.get(str(ds.attrs.get("schema", "")).split("/")[0], "sweep"))


def kind_of(name: str) -> Kind:
    """The Kind called ``name``; kinds other than sweep load on first use (they import JAX)."""
    if name == "sweep":
        return SWEEP_KIND
    if name not in _KIND_MODULES:
        raise ConfigError(f"unknown study kind {name!r}; choose one of: sweep, {', '.join(_KIND_MODULES)}")
    return importlib.import_module(_KIND_MODULES[name]).KIND


def _check_table(where: str, table, schema: dict) -> None:
    if not isinstance(table, dict):
        raise ConfigError(f"{where} must be a table")
    for key, value in table.items():
        if key not in schema:
            raise ConfigError(f"unknown key {where}.{key}; allowed: {', '.join(schema)}")
        check, noun = schema[key]
        if not check(value):
            raise ConfigError(f"{where}.{key} must be {noun}, got {value!r}")


def load_study(path: str | Path) -> Study:
    """Read and validate a study file; errors name the bad key in one line."""
    path = Path(path)
    try:
        doc = tomllib.loads(path.read_text())
    except OSError as exc:
        raise ConfigError(f"cannot read study {path}: {exc.strerror or exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path} is not valid TOML: {exc}") from None
    try:
        return _parse(path, doc)
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}") from None


def _parse(path: Path, doc: dict) -> Study:
    meta = doc.get("study", {})
    _check_table("study", meta, SCHEMA["study"])
    kind = kind_of(meta.get("kind", "sweep"))
    sections = ("study", kind.table, "smoke") + (("families",) if kind is SWEEP_KIND else ())
    for key in doc:
        if key not in sections:
            raise ConfigError(f"unknown key {key}; allowed: {', '.join(sections)}")
    for section in (kind.table, "smoke"):
        _check_table(section, doc.get(section, {}), kind.schema)
    families = _families(doc) if kind is SWEEP_KIND else {}
    job = doc.get(kind.table, {})
    if "widths" in job and not job["widths"]:
        raise ConfigError(f"{kind.table}.widths is empty: the {kind.table} has no cells")
    claims = tuple(meta.get("claims", kind.claims))
    for claim in claims:
        if claim not in kind.claims:
            raise ConfigError(f"unknown claim {claim!r} in study.claims; choose from {', '.join(kind.claims)}")
    figures = tuple(meta.get("figures", ()))
    for fig in figures:
        if fig not in kind.figures:
            raise ConfigError(f"unknown figure {fig!r} in study.figures; choose from {', '.join(kind.figures)}")
    return Study(path=path, name=meta.get("name", path.stem), title=meta.get("title", path.stem),
                 question=meta.get("question", ""), claims=claims, figures=figures, sweep=job,
                 families=families, smoke=doc.get("smoke", {}), kind=meta.get("kind", "sweep"))


def _families(doc: dict) -> dict[str, dict]:
    families = doc.get("families", {"he-fan-in": {}})
    if not isinstance(families, dict) or not families:
        raise ConfigError("families is empty: give at least one [families.NAME] table")
    for name, table in families.items():
        _check_table(f"families.{name}", table, SCHEMA["family"])
    return families


def prepare(study: Study, smoke: bool = False, scheduler: str | None = None, workers: int | None = None):
    """Every config the study will run, checked before any work (one-line errors name the key)."""
    return kind_of(study.kind).prepare(study, smoke, scheduler, workers)


def _prepare_sweeps(study: Study, smoke: bool, scheduler, workers) -> dict[str, SweepConfig]:
    configs = sweep_configs(study, smoke)
    for cfg in configs.values():
        preflight(cfg, scheduler, workers)
    return configs


def sweep_configs(study: Study, smoke: bool = False) -> dict[str, SweepConfig]:
    """One SweepConfig per family."""
    s = dict(study.sweep) | (study.smoke if smoke else {})
    if smoke and "nets" in study.smoke and "rel_se" not in study.smoke:
        s.pop("rel_se", None)  # a smoke run draws a fixed, small number of networks
    inputs = InputConfig(kind=s.get("inputs", "uniform"), count=s.get("n_inputs", InputConfig.count),
                         scale=s.get("input_scale", 1.0))
    base = {k: s[k] for k in ("depth", "nets", "seed", "method", "rel_se", "max_nets", "nets_per_task") if k in s}
    for key in ("widths", "input_dims", "stats"):
        if key in s:
            base[key] = tuple(s[key])
    if "angles" in s:
        base["angles"] = parse_angles(",".join(str(a) for a in s["angles"]))
    base.setdefault("seed", 0)
    _validated(study, "smoke and sweep" if smoke else "sweep", lambda: SweepConfig(inputs=inputs, **base))
    return {name: _validated(study, f"families.{name}", lambda fam=fam: _family_config(fam, inputs, base, smoke))
            for name, fam in study.families.items()}


def _family_config(family: dict, inputs: InputConfig, base: dict, smoke: bool) -> SweepConfig:
    """A family's sweep: its network, and the sweep's widths up to its ``max_width`` (for costly laws).

    Cells above ``max_width`` are NaN in the combined dataset, so verdicts skip them. A smoke run keeps
    at least its smallest width.
    """
    family = dict(family)
    cap = family.pop("max_width", None)
    widths = base.get("widths", SweepConfig.widths)
    if cap is not None:
        widths = tuple(w for w in widths if w <= cap) or ((min(widths),) if smoke else ())
    return SweepConfig(network=NetworkConfig(**family), inputs=inputs, **(base | {"widths": widths}))


def _validated(study: Study, where: str, make: Callable[[], SweepConfig]) -> SweepConfig:
    try:
        return make()
    except ConfigError as exc:
        raise ConfigError(f"{study.path}: {where}: {exc}") from None


def run_study(study: Study, out_dir: Path, *, smoke: bool = False, scheduler: str | None = None,
              workers: int | None = None, progress: Callable[[str, int, int], None] | None = None,
              reuse: bool = False) -> Path:
    """Run the study, then write dataset.zarr, figures/ and report.md into ``out_dir``.

    ``progress(label, done, total)`` is called as work finishes. With
    ``reuse``, redraw the figures and the report from the existing dataset.
    """
    kind = kind_of(study.kind)
    if reuse:
        ds = store.load(out_dir / "dataset.zarr").load()
    else:
        check_output(out_dir, smoke)
        ds = kind.run(study, smoke, scheduler, workers, progress)
        ds.attrs["study"] = study.name
        ds.attrs["smoke"] = int(smoke)
        store.write(ds, out_dir / "dataset.zarr", overwrite=True)
    figures = plot.make_figures(ds, out_dir / "figures", names=study.figures)
    title, question = study.title, study.question
    if ds.attrs.get("smoke"):
        title = f"SMOKE RUN: {title}"
        question = (f"{SMOKE_NOTE} {question}").strip()
    return report.write_report(ds, out_dir / "report.md", title=title, question=question,
                               rows=kind.verdicts(ds, study.claims), figures=figures)


SMOKE_NOTE = ("(This is a smoke run: the study's tiny [smoke] size, which checks the pipeline. Its verdicts "
              "are not the study's results.)")


def default_folder(study: Study, smoke: bool = False) -> Path:
    """Where a study writes by default: ``data/NAME``, or ``data/NAME-smoke`` for a smoke run, so that a
    smoke run never replaces the full results."""
    return Path("data") / (study.name + ("-smoke" if smoke else ""))


def check_output(out_dir: Path, smoke: bool) -> None:
    """Refuse, before any work, a smoke run into a folder that holds a full run's dataset or report
    (the dataset of committed results is not in git, their report is)."""
    if not smoke:
        return
    attrs = store.io._attrs(out_dir / "dataset.zarr")
    full_data = attrs.get("schema") in store.SCHEMAS and not attrs.get("smoke")
    report_path = out_dir / "report.md"
    full_report = report_path.is_file() and not report_path.read_text(errors="replace").startswith("# SMOKE RUN")
    if full_data or full_report:
        raise store.StoreError(f"{out_dir} holds the full results of a study; a smoke run would replace "
                               f"them: choose another --out")


def _run_sweeps(study: Study, smoke: bool, scheduler, workers, progress) -> xr.Dataset:
    configs = sweep_configs(study, smoke)
    parts = []
    for name, cfg in configs.items():
        tick = (lambda done, total, name=name: progress(name, done, total)) if progress else None
        parts.append(run_sweep(cfg, scheduler=scheduler, workers=workers, progress=tick))
    return combine(parts, list(configs), configs, study)


def combine(parts: list[xr.Dataset], names: list[str], configs: dict[str, SweepConfig], study: Study) -> xr.Dataset:
    """Stack the families along a ``family`` dimension (alone: no new dimension)."""
    if len(parts) == 1:
        ds = parts[0]
    else:
        ds = xr.concat(parts, dim=pd.Index(names, name="family"), combine_attrs="override",
                       data_vars="all", coords="different", compat="equals", join="outer")
        ds.attrs["family_configs"] = json.dumps({n: c.to_dict() for n, c in configs.items()})
    return ds


SWEEP_KIND = Kind(table="sweep", schema=SCHEMA["sweep"], claims=report.CLAIMS, figures=tuple(plot.FIGURES),
                  prepare=_prepare_sweeps, run=_run_sweeps, verdicts=report.verdicts)
