"""Figures: metric trajectories with 95% confidence bands, theory overlays and (for skewed
metrics) the median with its 10-90% band; phase-diagram heatmaps of the last generation.

Drawing and saving are separate: ``trajectories_figure``, ``phase_figure`` and ``grid_figure``
return a matplotlib ``Figure`` (a notebook shows it inline; no pyplot state, no GUI window);
``save_figure`` writes it in the formats and resolution of ``--figure-format`` / ``--dpi``.

Rules, the same for every study:

* one y-scale per metric row, shared by its panels: logarithmic when every finite value drawn
  in the row is positive and they span more than two decades, linear otherwise;
* a metric whose mean is one number at every grid point and generation is left out (a note
  under the title names it);
* skewed metrics: where per-seed values are at hand (quantiles 0.1, 0.5 and 0.9 requested, or
  the metric's per-seed arrays kept), a metric is drawn with its median and 10-90% band beside
  the mean when, somewhere in the panel, |mean - median| exceeds a quarter of the 10-90% width
  (a symmetric distribution has them equal; for replace at n = 10 the mean of the variance is
  carried by a few seeds and the median sits far below it). Indicators (every quantile 0 or 1)
  keep the mean alone: their median only jumps between 0 and 1.
"""

from __future__ import annotations

import contextlib
import contextvars
import itertools
import textwrap
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from .engine.params import ConfigError
from .results import Result

if TYPE_CHECKING:  # matplotlib loads when a figure is drawn, not with the CLI (0.4 s)
    from matplotlib.figure import Figure

MAX_PANELS = 16
FORMATS = ("png", "pdf", "svg")
DEFAULT_DPI = 150
SKEW_RULE = 0.25  # |mean - median| > SKEW_RULE x (q90 - q10) somewhere: draw the median band

def new_figure(**kwargs) -> Figure:
    """A matplotlib ``Figure`` (no pyplot state); matplotlib is imported on the first call."""
    from matplotlib.figure import Figure

    return Figure(**kwargs)


_settings: contextvars.ContextVar[tuple[tuple[str, ...], int]] = contextvars.ContextVar(
    "figure_settings", default=(("png",), DEFAULT_DPI))


def figure_options(formats: str | list[str] | tuple[str, ...] | None = None, dpi: int | None = None
                   ) -> tuple[tuple[str, ...], int]:
    """Checked ``--figure-format`` (comma list of png, pdf, svg) and ``--dpi`` (ConfigError)."""
    items = formats.split(",") if isinstance(formats, str) else list(formats or ["png"])
    items = [f.strip().lower().lstrip(".") for f in items if f.strip()]
    bad = [f for f in items if f not in FORMATS]
    if bad or not items:
        raise ConfigError(f"figure-format={formats}: must be a comma list of {', '.join(FORMATS)}")
    dpi = DEFAULT_DPI if dpi is None else dpi
    if isinstance(dpi, bool) or not isinstance(dpi, (int, np.integer)) or not 20 <= dpi <= 1200:
        raise ConfigError(f"dpi={dpi}: must be an integer from 20 to 1200")
    return tuple(dict.fromkeys(items)), int(dpi)


@contextlib.contextmanager
def figure_settings(formats: tuple[str, ...], dpi: int):
    """Within the block, ``save_figure`` writes these formats at this dpi (the CLI sets it
    around the standard and the presets' own figures)."""
    token = _settings.set(figure_options(formats, dpi))
    try:
        yield
    finally:
        _settings.reset(token)


def save_figure(fig: Figure, path: str | Path, formats: tuple[str, ...] | None = None,
                dpi: int | None = None) -> list[Path]:
    """Write ``fig`` to ``path`` with each format's suffix (``path``'s own suffix is replaced)."""
    chosen, chosen_dpi = _settings.get()
    formats, dpi = figure_options(formats or chosen, dpi or chosen_dpi)
    stem = Path(path).with_suffix("")
    written = []
    for fmt in formats:
        target = stem.with_name(f"{stem.name}.{fmt}")
        fig.savefig(target, dpi=dpi, bbox_inches="tight")
        written.append(target)
    return written


def _log_scale(values: np.ndarray) -> bool:
    finite = values[np.isfinite(values)]
    return finite.size > 0 and finite.min() > 0 and finite.max() / finite.min() > 100


def _constant(result: Result, metric: str) -> bool:
    mean = result.mean(metric)
    finite = mean[np.isfinite(mean)]
    return finite.size == mean.size and finite.size > 0 and np.all(finite == finite.flat[0])


def _panels(result: Result) -> list[tuple[tuple[int, ...], str]]:
    """Index tuples over grid axes 1.. with a title, capped at MAX_PANELS."""
    axes = [result.dims[i] for i in range(1, len(result.dims) - 1)]
    ranges = [range(len(result.coords[a])) for a in axes]
    out = []
    for combo in itertools.islice(itertools.product(*ranges), MAX_PANELS):
        title = ", ".join(f"{a}={result.coords[a][i]}" for a, i in zip(axes, combo))
        out.append((combo, title))
    return out


def spread(result: Result, metric: str) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """(q10, median, q90) over seeds, grid-shaped like the means, from the requested quantiles
    or the kept per-seed arrays; None when neither holds them."""
    stored = [result.stored_quantile(metric, p) for p in (0.1, 0.5, 0.9)]
    if all(values is not None for values in stored):
        return tuple(np.asarray(values, np.float64) for values in stored)
    if metric in result.per_seed:
        values = np.asarray(result.per_seed[metric], np.float64)
        with np.errstate(invalid="ignore"), _quiet():
            q = np.nanquantile(values, [0.1, 0.5, 0.9], axis=-2)
        return q[0], q[1], q[2]
    return None


@contextlib.contextmanager
def _quiet():
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        yield


def skewed(mean: np.ndarray, band: tuple[np.ndarray, np.ndarray, np.ndarray] | None) -> bool:
    """The documented rule: |mean - median| > SKEW_RULE x (q90 - q10) somewhere."""
    if band is None:
        return False
    low, median, high = band
    if all(np.all(np.isin(b[np.isfinite(b)], (0.0, 1.0))) for b in band):
        return False  # an indicator: the mean is the fraction, its median says nothing more
    with np.errstate(invalid="ignore"):
        gap = np.abs(mean - median) > SKEW_RULE * (high - low)
    return bool(np.any(gap & np.isfinite(mean) & np.isfinite(median)))


def _title(text: str, width: int) -> str:
    return "\n".join(textwrap.wrap(text, width)) if text else text


def trajectories_figure(result: Result, metrics: list[str] | None = None) -> Figure:
    """One row per metric, one panel per combination of grid axes 1.., one line per value of
    the first grid axis: mean ± 1.96 SE, theory dashed, median and 10-90% band where skewed."""
    requested = list(metrics or result.metrics)
    shown = [m for m in requested if not _constant(result, m)] or requested[:1]
    dropped = [m for m in requested if m not in shown]
    grid_dims = result.dims[:-1]
    panels = _panels(result) if grid_dims else [((), "")]
    lines = result.coords[grid_dims[0]] if grid_dims else [None]
    generations = np.asarray(result.coords["generation"])
    fig = new_figure(figsize=(3.6 * len(panels) + 1, 2.6 * len(shown) + 0.6), layout="constrained")
    axes = fig.subplots(len(shown), len(panels), squeeze=False, sharex=True, sharey="row")
    colors = matplotlib_colors(len(lines))
    for row, metric in enumerate(shown):
        mean, stderr = result.mean(metric), result.stderr(metric)
        theory = result.theory.get(metric)
        band = spread(result, metric)
        median_too = skewed(mean, band)
        drawn = []
        for col, (combo, title) in enumerate(panels):
            ax = axes[row, col]
            for k, label in enumerate(lines):
                index = ((k,) if grid_dims else ()) + combo
                m, s = mean[index], stderr[index]
                name = f"{grid_dims[0]}={label}" if grid_dims else "mean"
                ax.plot(generations, m, color=colors[k], lw=1.4, label=name)
                ax.fill_between(generations, m - 1.96 * s, m + 1.96 * s, color=colors[k], alpha=0.25, lw=0)
                drawn.append(m)
                if median_too:
                    low, median, high = (b[index] for b in band)
                    ax.plot(generations, median, color=colors[k], lw=1.0, ls=":",
                            label="median, 10-90%" if k == 0 else None)
                    ax.fill_between(generations, low, high, color=colors[k], alpha=0.08, lw=0)
                    drawn += [median, low, high]
                if theory is not None and np.any(np.isfinite(theory[index])):
                    ax.plot(generations, theory[index], color="k", ls="--", lw=0.8,
                            label="theory" if k == 0 else None)
            if row == 0:
                ax.set_title(_title(title, 40), fontsize=8)
            if col == 0:
                ax.set_ylabel(metric)
            if row == len(shown) - 1:
                ax.set_xlabel("generation")
        if _log_scale(np.concatenate([np.ravel(d) for d in drawn])):
            axes[row, 0].set_yscale("log")  # shared by the row
        if row == 0 or median_too:
            axes[row, 0].legend(fontsize=7, loc="best")
    note = f"; constant, not drawn: {', '.join(dropped)}" if dropped else ""
    fig.suptitle(_title(f"{result.study}: {result.seeds} seeds, mean ± 95% CI{note}", 110), fontsize=10)
    return fig


def matplotlib_colors(count: int) -> np.ndarray:
    from matplotlib import colormaps

    return colormaps["viridis"](np.linspace(0, 0.9, max(count, 1)))


def phase_figure(result: Result, metrics: list[str] | None = None, generation: int = -1) -> Figure:
    """Heatmap of each metric at ``generation`` over the first two grid axes (the others at
    their first value); constant metrics are left out."""
    requested = list(metrics or result.metrics)
    metrics = [m for m in requested if not _constant(result, m)] or requested[:1]
    row_dim, col_dim = result.dims[0], result.dims[1]
    fig = new_figure(figsize=(4.2 * len(metrics), 3.8), layout="constrained")
    axes = fig.subplots(1, len(metrics), squeeze=False)
    rest = (0,) * (len(result.dims) - 3)
    fixed = ", ".join(f"{d}={result.coords[d][0]}" for d in result.dims[2:-1])
    for ax, metric in zip(axes[0], metrics):
        values = result.mean(metric)[(slice(None), slice(None)) + rest + (generation,)]
        image = ax.imshow(values, origin="lower", aspect="auto", cmap="magma")
        ax.set_xticks(range(len(result.coords[col_dim])), [str(c) for c in result.coords[col_dim]], rotation=45, fontsize=7)
        ax.set_yticks(range(len(result.coords[row_dim])), [str(c) for c in result.coords[row_dim]], fontsize=7)
        ax.set_xlabel(col_dim)
        ax.set_ylabel(row_dim)
        where = f" ({fixed})" if fixed else ""
        ax.set_title(_title(f"{metric} at generation {result.coords['generation'][generation]}{where}", 45), fontsize=8)
        fig.colorbar(image, ax=ax)
    return fig


def grid_figure(result: Result, metric: str, rows: str, cols: str, lines: str, log_y: bool = False) -> Figure:
    """One panel per (rows, cols) coordinate pair, one line per ``lines`` value, theory dashed;
    with ``log_y`` the y-axes share one log scale where the means allow it."""
    order = [result.dims.index(d) for d in (rows, cols, lines)] + [len(result.dims) - 1]
    mean = np.transpose(result.mean(metric), order)
    theory = result.theory.get(metric)
    theory = None if theory is None else np.transpose(theory, order)
    n_rows, n_cols, n_lines = mean.shape[:3]
    generations = np.asarray(result.coords["generation"])
    colors = matplotlib_colors(n_lines)
    fig = new_figure(figsize=(3.4 * n_cols, 2.4 * n_rows + 0.5), layout="constrained")
    axes = fig.subplots(n_rows, n_cols, squeeze=False, sharex=True, sharey="row")
    for i, j in np.ndindex(n_rows, n_cols):
        ax = axes[i, j]
        for k in range(n_lines):
            ax.plot(generations, mean[i, j, k], color=colors[k], label=f"{lines}={result.coords[lines][k]}")
            if theory is not None and np.any(np.isfinite(theory[i, j, k])):
                ax.plot(generations, theory[i, j, k], color="k", ls="--", lw=0.7)
        ax.set_title(f"{rows}={result.coords[rows][i]}, {cols}={result.coords[cols][j]}", fontsize=8)
        if j == 0:
            ax.set_ylabel(metric)
        if i == n_rows - 1:
            ax.set_xlabel("generation")
    for i in range(n_rows):
        if log_y and _log_scale(mean[i]):
            axes[i, 0].set_yscale("log")
    axes[0, 0].legend(fontsize=6)
    fig.suptitle(f"{metric} ({result.seeds} seeds; dashed: theory)", fontsize=10)
    return fig


def plot_trajectories(result: Result, path: Path, metrics: list[str] | None = None) -> Path:
    """``trajectories_figure`` saved to ``path`` (kept for scripts written against 0.1)."""
    return save_figure(trajectories_figure(result, metrics), path)[0]


def plot_phase(result: Result, path: Path, metrics: list[str] | None = None, generation: int = -1) -> Path:
    """``phase_figure`` saved to ``path``."""
    return save_figure(phase_figure(result, metrics, generation), path)[0]


def save_grid_figure(result: Result, metric: str, rows: str, cols: str, lines: str,
                     path: str | Path, log_y: bool = False) -> Path:
    """``grid_figure`` saved to ``path``."""
    return save_figure(grid_figure(result, metric, rows, cols, lines, log_y), path)[0]


def plot_result(result: Result, out_dir: str | Path, metrics: list[str] | None = None,
                formats: tuple[str, ...] | None = None, dpi: int | None = None) -> list[Path]:
    """figure.<fmt> always; phase.<fmt> as well for grids of two or more axes (``metrics``:
    None = all)."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = save_figure(trajectories_figure(result, metrics), out / "figure.png", formats, dpi)
    if len(result.dims) >= 3:
        paths += save_figure(phase_figure(result, metrics), out / "phase.png", formats, dpi)
    return paths
