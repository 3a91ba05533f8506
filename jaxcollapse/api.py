"""Python API: ``run`` a study or ``reproduce`` a preset; the CLI is a thin layer over it."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import jax

from .engine.sweep import execute, plan
from .results import Result, assemble
from .studies import get_preset, get_study


def enable_compilation_cache(directory: str | Path | None = None) -> Path:
    """Keep compiled studies on disk (JAX's persistent cache), so a repeated shape loads in
    well under a second instead of compiling again. Default directory: $JAXCOLLAPSE_CACHE or
    ~/.cache/jaxcollapse/xla."""
    path = Path(directory or os.environ.get("JAXCOLLAPSE_CACHE", Path.home() / ".cache" / "jaxcollapse" / "xla"))
    path.mkdir(parents=True, exist_ok=True)
    jax.config.update("jax_compilation_cache_dir", str(path))
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.2)
    return path


def set_x64(enabled: bool) -> None:
    """Switch float64 on or off for everything traced afterwards (a process-wide flag)."""
    jax.config.update("jax_enable_x64", bool(enabled))


def run(
    study: str,
    settings: dict[str, Any] | None = None,
    grids: dict[str, Any] | None = None,
    seeds: int = 100,
    generations: int = 100,
    key: int = 0,
    chunk: int | None = None,
    x64: bool = False,
    keep: tuple[str, ...] | None = None,
    checkpoint: str | Path | None = None,
    progress: bool = False,
) -> Result:
    """Run ``study`` for every grid point x seed as one compiled computation per shape.

    settings: {name: value or schedule expression}; grids: {name: [values] or "v1,v2"};
    keep: metrics whose per-seed arrays are kept (None = all); checkpoint: a directory
    where finished chunks are stored atomically, so that a rerun resumes.
    Raises ConfigError (before anything compiles) on any invalid input.
    """
    set_x64(x64)
    begin = time.perf_counter()
    the_plan = plan(get_study(study), settings, grids, seeds, generations, key, chunk)
    raw = execute(
        the_plan,
        keep=keep,
        checkpoint=None if checkpoint is None else Path(checkpoint),
        progress=progress,
    )
    timing = {
        "compile_s": raw.compile_s,
        "run_s": raw.run_s,
        "total_s": time.perf_counter() - begin,
    }
    return assemble(the_plan, raw, timing)


def reproduce(name: str, quick: bool = False, **overrides: Any) -> Result:
    """Run a registered preset (``quick`` = its small CI-sized variant)."""
    spec = get_preset(name).resolved(quick)
    spec.update(overrides)
    return run(**spec)
