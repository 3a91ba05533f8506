"""Figures: metric trajectories with 95% confidence bands and theory overlays, and
phase-diagram heatmaps of the last generation over two grid axes."""

from __future__ import annotations

import itertools
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from .results import Result  # noqa: E402

MAX_PANELS = 16


def _log_scale(values: np.ndarray) -> bool:
    finite = values[np.isfinite(values)]
    return finite.size > 0 and finite.min() > 0 and finite.max() / finite.min() > 100


def _panels(result: Result) -> list[tuple[tuple[int, ...], str]]:
    """Index tuples over grid axes 1.. with a title, capped at MAX_PANELS."""
    axes = [result.dims[i] for i in range(1, len(result.dims) - 1)]
    ranges = [range(len(result.coords[a])) for a in axes]
    out = []
    for combo in itertools.islice(itertools.product(*ranges), MAX_PANELS):
        title = ", ".join(f"{a}={result.coords[a][i]}" for a, i in zip(axes, combo))
        out.append((combo, title))
    return out


def plot_trajectories(result: Result, path: Path, metrics: list[str] | None = None) -> Path:
    metrics = metrics or list(result.metrics)
    grid_dims = result.dims[:-1]
    panels = _panels(result) if grid_dims else [((), "")]
    lines = result.coords[grid_dims[0]] if grid_dims else [None]
    generations = np.asarray(result.coords["generation"])
    fig, axes = plt.subplots(
        len(metrics), len(panels), figsize=(3.6 * len(panels) + 1, 2.6 * len(metrics)),
        squeeze=False, sharex=True,
    )
    colors = plt.cm.viridis(np.linspace(0, 0.9, max(len(lines), 1)))
    for row, metric in enumerate(metrics):
        mean, stderr = result.mean(metric), result.stderr(metric)
        theory = result.theory.get(metric)
        for col, (combo, title) in enumerate(panels):
            ax = axes[row, col]
            indices = [((k,) if grid_dims else ()) + combo for k in range(len(lines))]
            for k, (label, index) in enumerate(zip(lines, indices)):
                m, s = mean[index], stderr[index]
                name = f"{grid_dims[0]}={label}" if grid_dims else "simulation"
                ax.plot(generations, m, color=colors[k], lw=1.4, label=name)
                ax.fill_between(generations, m - 1.96 * s, m + 1.96 * s, color=colors[k], alpha=0.25, lw=0)
                if theory is not None and np.any(np.isfinite(theory[index])):
                    ax.plot(generations, theory[index], color="k", ls="--", lw=0.8,
                            label="theory" if k == 0 else None)
            if _log_scale(np.stack([mean[index] for index in indices])):
                ax.set_yscale("log")
            if row == 0:
                ax.set_title(title, fontsize=9)
            if col == 0:
                ax.set_ylabel(metric)
            if row == len(metrics) - 1:
                ax.set_xlabel("generation")
    axes[0, 0].legend(fontsize=7, loc="best")
    fig.suptitle(f"{result.study}: {result.seeds} seeds, mean ± 95% CI", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def plot_phase(result: Result, path: Path, metrics: list[str] | None = None, generation: int = -1) -> Path:
    """Heatmap of each metric at ``generation`` over the first two grid axes (the others at
    their first value)."""
    metrics = metrics or list(result.metrics)
    row_dim, col_dim = result.dims[0], result.dims[1]
    fig, axes = plt.subplots(1, len(metrics), figsize=(4.2 * len(metrics), 3.6), squeeze=False)
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
        ax.set_title(f"{metric} at generation {result.coords['generation'][generation]}{where}", fontsize=9)
        fig.colorbar(image, ax=ax)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def save_grid_figure(result: Result, metric: str, rows: str, cols: str, lines: str,
                     path: str | Path, log_y: bool = False) -> Path:
    """One panel per (rows, cols) coordinate pair, one line per ``lines`` value."""
    order = [result.dims.index(d) for d in (rows, cols, lines)] + [len(result.dims) - 1]
    mean = np.transpose(result.mean(metric), order)
    theory = result.theory.get(metric)
    theory = None if theory is None else np.transpose(theory, order)
    n_rows, n_cols, n_lines = mean.shape[:3]
    generations = np.asarray(result.coords["generation"])
    colors = plt.cm.viridis(np.linspace(0, 0.9, n_lines))
    fig, axes = plt.subplots(n_rows, n_cols, figsize=(3.4 * n_cols, 2.4 * n_rows), squeeze=False, sharex=True)
    for i, j in np.ndindex(n_rows, n_cols):
        ax = axes[i, j]
        for k in range(n_lines):
            ax.plot(generations, mean[i, j, k], color=colors[k], label=f"{lines}={result.coords[lines][k]}")
            if theory is not None and np.any(np.isfinite(theory[i, j, k])):
                ax.plot(generations, theory[i, j, k], color="k", ls="--", lw=0.7)
        if log_y and _log_scale(mean[i, j]):
            ax.set_yscale("log")
        ax.set_title(f"{rows}={result.coords[rows][i]}, {cols}={result.coords[cols][j]}", fontsize=8)
    axes[0, 0].legend(fontsize=6)
    fig.suptitle(f"{metric} ({result.seeds} seeds; dashed: theory)", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return Path(path)


def plot_result(result: Result, out_dir: str | Path, metrics: list[str] | None = None) -> list[Path]:
    """figure.png always; phase.png as well for grids of two or more axes (``metrics``: None = all)."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = [plot_trajectories(result, out / "figure.png", metrics)]
    if len(result.dims) >= 3:
        paths.append(plot_phase(result, out / "phase.png", metrics))
    return paths
