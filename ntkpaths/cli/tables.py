"""Summary tables the commands print."""
from __future__ import annotations

import itertools

from rich.table import Table

CELL_DIMS = ("family", "input_dim", "width")
HEADERS = {"input_dim": "input\ndim"}  # short headers: a narrow console must not cut them


def _columns(table: Table, names, justify: str = "right") -> Table:
    """Add columns that never cut a number: a narrow console folds or wraps cells instead of an
    ellipsis (headers carry their own line breaks, so they stay short)."""
    for name in names:
        table.add_column(name, justify=justify, overflow="fold")
    return table


def _cells(ds) -> list[dict]:
    """Selectors of every sweep cell: width, with family and input_dim when they are dimensions."""
    dims = [d for d in CELL_DIMS if d in ds.dims]
    return [dict(zip(dims, key)) for key in itertools.product(*(ds[d].values for d in dims))]


def _label(sel: dict) -> list[str]:
    return [str(sel[d]) for d in CELL_DIMS if d in sel]


def _summary_table(ds) -> Table:
    from .. import aggregate

    z = aggregate.z_scores(ds)
    deepest = int(ds["depth"].max())
    table = Table(title=f"P(path active) at depth {deepest} (every depth: ntkpaths info)")
    keys = [HEADERS.get(d, d) for d in CELL_DIMS if d in ds.dims]
    _columns(table, (*keys, "nets", "p_active", "se", "2^-H", "max\n|z|"))
    if "weight_slope" in ds:
        _columns(table, ["E\\[t|Z]\nlayer 2"])
    for sel in _cells(ds):
        cell = ds.sel(sel).sel(depth=deepest)
        row = [*_label(sel), str(int(cell.n_networks)), f"{float(cell.p_active):.5g}",
               f"{float(cell.p_active_se):.2g}", f"{float(cell.p_theory):.5g}", f"{float(abs(z.sel(sel)).max()):.2f}"]
        if "weight_slope" in ds and deepest > 1:
            slope = cell.sel(layer=2)
            row.append(f"{float(slope.weight_slope):.4f} ± {float(slope.weight_slope_se):.1g}")
        table.add_row(*row)
    return table


def _verdict_table(ds, rows=None) -> Table:
    """The dataset's verdict rows, computed by its study kind."""
    if rows is None:
        from .. import study as study_mod

        kind = study_mod.kind_of_dataset(ds)
        rows = kind.verdicts(ds, kind.claims)
    table = _columns(Table(title="verdicts"), ("claim", "type", "measured ± se", "statistic", "verdict"),
                     justify="left")
    for row in rows:
        table.add_row(row.claim, row.kind, row.measured, row.statistic, row.word)
    return table


def _train_table(ds) -> Table:
    table = Table(title=f"After {int(ds.step[-1])} steps (mean ± se over runs; every checkpoint: the dataset)")
    _columns(table, ("depth", "width", "runs", "loss", "reached", "flips\n(last\nlayer)", "p_active\n/ 2^-H",
                     "NTK\nchange"))
    for d in ds["depth"].values:
        for w in ds["width"].values:
            cell = ds.sel(depth=d, width=w).isel(step=-1)
            ratio = cell.p_active_mean.sel(prefix=d) / cell.p_theory.sel(prefix=d)
            ratio_se = cell.p_active_se.sel(prefix=d) / cell.p_theory.sel(prefix=d)
            table.add_row(str(d), str(w), str(int(cell.n_runs)), _pm(cell.loss_mean, cell.loss_se),
                          f"{float(cell.reached_minimum_fraction):.0%}",
                          _pm(cell.flip_fraction_mean.sel(layer=d), cell.flip_fraction_se.sel(layer=d)),
                          _pm(ratio, ratio_se), _pm(cell.ntk_change_mean, cell.ntk_change_se))
    return table


def _rate_table(ds) -> Table:
    """Per cell: the critical rate 2/lambda_max(Theta_0/N), the rate used, the runs' regimes and loss peaks."""
    table = _columns(Table(title="Learning rate and regime (mean ± se over runs; loss peak = max over steps of "
                                 "L_t/L_0)"), ("depth", "width", "critical\nlr", "lr", "regime", "loss\npeak"))
    for d in ds["depth"].values:
        for w in ds["width"].values:
            table.add_row(str(d), str(w), *_rate_columns(ds.sel(depth=d, width=w)))
    return table


REGIME_WORDS = {0: "below", 1: "catapult", 2: "diverged"}


def _rate_columns(cell) -> list[str]:
    """Critical rate, rate used, regime counts and loss peak of one cell; "—" for datasets that lack them."""
    if "critical_lr" not in cell:
        return ["—", f"{json_lr(cell)}", "unknown", "—"]
    codes = [int(v) for v in cell["regime"].values] if "regime" in cell else []
    counts = ", ".join(f"{codes.count(c)} {word}" for c, word in REGIME_WORDS.items() if codes.count(c))
    return [_pm(cell.critical_lr_mean, cell.critical_lr_se), _pm(cell.lr_mean, cell.lr_se), counts or "unknown",
            _pm(cell.loss_peak_mean, cell.loss_peak_se)]


def json_lr(ds) -> str:
    """The configured learning rate of a dataset written before per-run rates were recorded."""
    import json

    return f"{json.loads(ds.attrs['config']).get('lr')}"


def regime_runs(ds) -> list[str]:
    """One line per regime: how many runs, and which cells, for datasets that record it."""
    if "regime" not in ds:
        return []
    flags = ds["regime"].stack(cell=("depth", "width", "run"))
    lines = []
    for code, word in REGIME_WORDS.items():
        cells = sorted({(int(d), int(w)) for (d, w, _), v in zip(flags["cell"].values, flags.values) if v == code})
        if cells and code:
            lines.append(f"{int((flags == code).sum())} run(s) {word}, in (depth, width) " +
                         ", ".join(f"({d}, {w})" for d, w in cells))
    return lines


def _pm(value, se) -> str:
    value, se = float(value), float(se)
    return f"{value:.3g}" if not se == se else f"{value:.3g} ± {se:.2g}"


def _diverged_runs(ds) -> list[str]:
    flags = ds["diverged"].stack(cell=("depth", "width", "run"))
    return [f"depth {d} width {w} run {r}" for (d, w, r), v in zip(flags["cell"].values, flags.values) if v == 1]
