"""Markdown reports: the configuration, then a verdict table, then figures."""
from __future__ import annotations

import json
from pathlib import Path

import xarray as xr

from . import verdict
from .config import SweepConfig
from .verdict import Verdict

CLAIMS = ("theorem1", "theorem2", "theorem3")


def verdicts(ds: xr.Dataset, claims: tuple[str, ...] = CLAIMS, alpha: float = verdict.ALPHA) -> list[Verdict]:
    """Every verdict the dataset's variables allow, for the chosen claims."""
    rows: list[Verdict] = []
    if "theorem1" in claims:
        if "family" in ds.dims:
            twins = same_law_as(ds)
            rows += [verdict.theorem1(ds.sel(family=f), str(f), alpha, note=_twin_note(twins.get(str(f))))
                     for f in ds["family"].values]
        else:
            rows.append(verdict.theorem1(ds, ds.attrs.get("init", ""), alpha))
    if "theorem2" in claims and "weight_slope" in ds:
        one = ds.isel(input_dim=-1) if "input_dim" in ds.dims else ds
        rows += verdict.weight_independence(one, alpha)
        rows += verdict.weight_exact(one, alpha)
        if one.sizes["width"] >= 3:
            rows += verdict.weight_exponent(one, alpha)
    if "theorem3" in claims:
        if "weight_slope" in ds and "input_dim" in ds.dims and ds.sizes["input_dim"] >= 3:
            rows += verdict.input_exponent(ds, alpha)
        if "joint_active" in ds:
            rows += verdict.joint_activation(ds, alpha)
    return rows


def same_law_as(ds: xr.Dataset) -> dict[str, tuple[str, bool]]:
    """Family -> (first earlier family identical to it in law, whether it is the very same sample).

    Without biases a positive factor per layer changes no activation
    (positive-scale invariance), so He fan-in, He fan-out, the NTK
    parametrisation and every gain share one law; drawn from one seed with
    the same sampler and dtype they are the same sample.
    """
    if "family_configs" not in ds.attrs:
        return {}
    configs = {name: SweepConfig.from_dict(cfg) for name, cfg in json.loads(ds.attrs["family_configs"]).items()}
    first: dict[tuple, str] = {}
    twins = {}
    for name, cfg in configs.items():
        key = cfg.network.law_key()
        if key in first:
            other = configs[first[key]]
            same = (cfg.seed, cfg.sampler, cfg.network.dtype) == (other.seed, other.sampler, other.network.dtype)
            twins[name] = (first[key], same)
        else:
            first[key] = name
    return twins


def _twin_note(twin: tuple[str, bool] | None) -> str:
    if twin is None:
        return ""
    name, same = twin
    return f"identical in law to {name}" + (" and drawn from the same seed: the same sample, not a new test"
                                             if same else "")


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def _table(rows: list[Verdict]) -> str:
    head = ("| claim | type | conditions | measured ± se | prediction | statistic | verdict |\n"
            "|---|---|---|---|---|---|---|\n")
    return head + "\n".join(
        "| " + " | ".join(_cell(t) for t in (r.claim, r.kind, r.conditions, r.measured, r.prediction, r.statistic))
        + (f" | **{r.word}** |" if r.outcome != "described" else " | — |") for r in rows)


def _identities(rows: list[Verdict]) -> list[str]:
    """Rows that hold by construction, as a list under the table: regression checks, not verdicts."""
    if not rows:
        return []
    lines = ["### Identities checked", "",
             "These hold by construction; they are regression checks of the code, not tests of a claim.", ""]
    for r in rows:
        word = "holds" if r.agrees else ("FAILS" if r.outcome == "disagrees" else r.outcome)
        lines.append(f"- **{word}**: {r.claim} ({r.conditions}): {r.measured}; {r.statistic}")
    return lines + [""]


def _config_lines(ds: xr.Dataset) -> list[str]:
    configs = json.loads(ds.attrs["family_configs"]) if "family_configs" in ds.attrs else {"": json.loads(ds.attrs["config"])}
    first = next(iter(configs.values()))
    if "network" not in first:  # not a sweep: one flat configuration
        return ["- " + ", ".join(f"{k} = {_fmt(v)}" for k, v in first.items() if v is not None)]
    lines = []
    for name, cfg in configs.items():
        net = cfg["network"]
        prefix = f"- **{name}**: " if name else "- "
        lines.append(prefix + ", ".join(f"{k} = {_fmt(v)}" for k, v in net.items()))
    sweep = {k: v for k, v in first.items() if k != "network"}
    return ["- sweep: " + ", ".join(f"{k} = {_fmt(v)}" for k, v in sweep.items())] + lines


def _fmt(value) -> str:
    """Short, readable config values (floats to 4 significant digits)."""
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_fmt(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {_fmt(v)}" for k, v in value.items() if v is not None) + "}"
    return str(value)


def render(ds: xr.Dataset, *, title: str, question: str = "", claims: tuple[str, ...] = CLAIMS,
           figures: list[Path] | None = None, alpha: float = verdict.ALPHA, relative_to: Path | None = None,
           rows: list[Verdict] | None = None) -> str:
    """The report as markdown text; ``rows`` default to the sweep verdicts of ``claims``."""
    rows = verdicts(ds, claims, alpha) if rows is None else rows
    parts = [f"# {title}", ""]
    if question:
        parts += [f"**Question.** {question}", ""]
    parts += ["## Configuration", "", *_config_lines(ds), "",
              f"Seed entropy {ds.attrs.get('seed_entropy')}; ntkpaths {ds.attrs.get('ntkpaths_version')}; "
              f"created {ds.attrs.get('created')}.", "",
              "## Verdicts", "",
              f"Significance level {alpha} per claim, Bonferroni-corrected over the cells each row tests. "
              "Verdicts are computed from the data when this report is written; a row with nothing to "
              "test says \"untestable\" and why. Types: a *limit* is tested as a trend in width (never "
              "against an exact constant at one width), a *bound* one-sided, a *prediction* two-sided with "
              "its source; a *description* tests nothing; a *budget* row can confirm a claim but not refute "
              "it.", "", _table([r for r in rows if r.kind != "identity"]), "",
              *_identities([r for r in rows if r.kind == "identity"])]
    twins = same_law_as(ds) if "family" in ds.dims else {}
    if twins:
        parts += ["## Families identical in law", "",
                  "Without biases, multiplying a layer's weights by a positive number changes no activation "
                  "(positive-scale invariance), so these families give the same activation patterns in law; "
                  "drawn from one seed with the same sampler they are the same random draws (identical "
                  "patterns, up to rounding in the implicit sampler's factorisations), and their rows above "
                  "are not independent confirmations:", ""]
        parts += [f"- **{name}** = **{twin}**" + (" (same sample)" if same else " (independent sample)")
                  for name, (twin, same) in twins.items()] + [""]
    if figures:
        parts += ["## Figures", ""]
        for fig in figures:
            rel = fig.relative_to(relative_to) if relative_to else fig
            parts += [f"![{fig.stem}]({rel.as_posix()})", ""]
    return "\n".join(parts)


def write_report(ds: xr.Dataset, path: Path, **kwargs) -> Path:
    """Render and write the markdown report."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render(ds, relative_to=path.parent, **kwargs))
    return path
