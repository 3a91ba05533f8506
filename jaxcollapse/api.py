"""Python API: ``run`` a study or ``reproduce`` a preset; the CLI is a thin layer over it."""

from __future__ import annotations

import os
import shutil
import sys
import time
from pathlib import Path
from typing import Any

import jax

from .engine.params import ConfigError
from .engine.sweep import execute, per_seed_bytes, plan, prepare_keep, run_identity
from .results import Result, assemble, guard_output
from .studies import get_preset, get_study


QUANTILE_SEEDS = 10_000  # quantiles are taken over the first this-many seeds


def enable_compilation_cache(directory: str | Path | None = None) -> Path:
    """Keep compiled studies on disk (JAX's persistent cache), so a repeated shape loads in
    well under a second instead of compiling again. Default directory: $JAXCOLLAPSE_CACHE or
    ~/.cache/jaxcollapse/xla. ``jc.run`` calls this itself unless told not to (``cache=False``,
    or JAXCOLLAPSE_NO_CACHE=1 in the environment); a cache directory the user has already given
    to JAX is kept."""
    path = Path(directory or os.environ.get("JAXCOLLAPSE_CACHE", Path.home() / ".cache" / "jaxcollapse" / "xla"))
    path.mkdir(parents=True, exist_ok=True)
    jax.config.update("jax_compilation_cache_dir", str(path))
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.2)
    return path


def _default_cache(cache: bool | None) -> None:
    wanted = cache if cache is not None else os.environ.get("JAXCOLLAPSE_NO_CACHE", "") in ("", "0")
    if wanted and jax.config.jax_compilation_cache_dir is None:
        enable_compilation_cache()


def set_x64(enabled: bool) -> None:
    """Switch float64 on or off for everything traced afterwards (a process-wide flag)."""
    jax.config.update("jax_enable_x64", bool(enabled))


def run(
    study: str | type | Any,
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
    quantiles: tuple[float, ...] | None = None,
    quantile_seeds: int = QUANTILE_SEEDS,
    out: str | Path | None = None,
    force: bool = False,
    cache: bool | None = None,
    prng: str = "threefry",
    invocation: dict[str, Any] | None = None,
) -> Result | None:
    """Run ``study`` for every grid point x seed as one compiled computation per shape.

    study: a registered name (``jaxcollapse list``), ``package.module:attr``, a Study subclass
    or a ``jc.Model``.

    settings: {name: value or schedule expression}; grids: {name: [values] or "v1,v2"};
    keep: metrics whose per-seed arrays are kept: None (default) keeps every metric for as
    many seeds as fit in 1 GiB (all of them, unless the run is very large; it says so),
    ``"all"`` every seed, ``"none"`` nothing, or a list of names; checkpoint: a directory
    where finished chunks are stored atomically, so that a rerun resumes; quantiles:
    probabilities whose quantiles (over the first ``quantile_seeds`` seeds) are reported.
    out: a directory the results are saved to (summary.json, per_seed.npz), with its finished
    chunks in ``out/chunks`` until then (the same call resumes from them); a directory holding
    a *different* finished run is refused unless ``force``, which removes that run's files first.
    cache: keep compiled programs on disk (``enable_compilation_cache``); default on unless
    JAXCOLLAPSE_NO_CACHE=1.
    prng: the random-number generator: ``threefry`` (default), ``philox``, ``rbg`` or
    ``unsafe_rbg`` (docs/scaling.md, "Random numbers": speed and what each guarantees).
    invocation: what summary.json records as the call that made the run (default: this call,
    written as Python; the CLI records its command line, preset and sweep file).
    In a multi-process run (``init_distributed``) only process 0 returns a Result.
    Raises ConfigError (before anything compiles) on any invalid input.
    """
    probabilities = _probabilities(quantiles)
    if invocation is None:
        invocation = {"python": _call_text(study, settings, grids, seeds, generations, key, x64, prng)}
    set_x64(x64)
    begin = time.perf_counter()
    the_plan = plan(get_study(study), settings, grids, seeds, generations, key, chunk, prng)
    keep, kept_seeds = _bounded_keep(the_plan, keep)
    identity = run_identity(the_plan, keep, quantile_seeds if probabilities else 0, kept_seeds)
    if out is not None:
        out = Path(out)
        guard_output(out, identity, force)
        checkpoint = out / "chunks" if checkpoint is None else checkpoint
    _default_cache(cache)
    raw = execute(
        the_plan,
        keep=keep,
        checkpoint=None if checkpoint is None else Path(checkpoint),
        progress=progress,
        quantile_seeds=quantile_seeds if probabilities else 0,
        identity=identity,
        kept_seeds=kept_seeds,
    )
    if raw is None:
        return None
    timing = {
        "compile_s": raw.compile_s,  # spent by this call (0 where every chunk was resumed)
        "run_s": raw.run_s,  # spent by this call on the chunks it computed
        "total_s": time.perf_counter() - begin,
        "chunks_computed": raw.computed,
        "chunks_resumed": raw.resumed,  # read back from the checkpoint, not recomputed
        "resumed_run_s": raw.resumed_run_s,  # what those chunks cost the earlier call
        "block_threads": raw.block_threads,  # host threads that ran seed blocks side by side (a CPU's cores)
    }
    result = assemble(the_plan, raw, timing, probabilities, identity)
    result.invocation = dict(invocation)
    if out is not None:
        result.save(out)
        shutil.rmtree(out / "chunks", ignore_errors=True)
    return result


KEEP_DEFAULT_BYTES = 2**30  # the default keeps per-seed arrays up to this size (then the first seeds)


def _bounded_keep(the_plan, keep: Any) -> tuple[tuple[str, ...], int | None]:
    """``keep``: None (every metric, for as many seeds as fit in KEEP_DEFAULT_BYTES, saying so
    in one line when that is fewer than all), ``"all"`` (every metric, every seed), ``"none"``,
    or metric names (every seed). Returns the metrics and the kept seed count (None: all)."""
    if isinstance(keep, str):
        keep = {"all": the_plan.study.metrics, "none": ()}.get(keep, tuple(k.strip() for k in keep.split(",") if k.strip()))
        return prepare_keep(the_plan, keep), None
    if keep is not None:
        return prepare_keep(the_plan, keep), None
    metrics = prepare_keep(the_plan, None)
    full = per_seed_bytes(the_plan, len(metrics), the_plan.seeds)
    if full <= KEEP_DEFAULT_BYTES or not metrics:
        return metrics, None
    kept = max(1, KEEP_DEFAULT_BYTES // per_seed_bytes(the_plan, len(metrics), 1))
    sys.stderr.write(f"jaxcollapse: keeping per-seed arrays for the first {kept} of {the_plan.seeds} seeds "
                     f"(all would take {full / 2**30:.1f} GiB; --keep all keeps every seed, --keep none none; "
                     "means, errors and quantiles use every seed)\n")
    return metrics, kept


def _call_text(study, settings, grids, seeds, generations, key, x64, prng) -> str:
    """The call as Python, for summary.json (a Model or class is named, not reproduced)."""
    name = study if isinstance(study, str) else getattr(study, "name", repr(study))
    parts = [repr(name)]
    parts += [f"{k}={_value_text(v)}" for k, v in (("settings", settings), ("grids", grids)) if v]
    parts += [f"seeds={seeds}", f"generations={generations}", f"key={key}"]
    parts += ["x64=True"] if x64 else []
    parts += [f"prng={prng!r}"] if prng != "threefry" else []
    return f"jc.run({', '.join(parts)})"


def _value_text(value: Any) -> str:
    """Python source-like text of a setting; a function is named, an array listed."""
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k!r}: {_value_text(v)}" for k, v in value.items()) + "}"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_value_text(v) for v in value) + "]"
    if callable(value):
        return f"<function {getattr(value, '__name__', '?')}>"
    if hasattr(value, "tolist"):
        return repr(value.tolist())
    return repr(value)


def _probabilities(quantiles: Any) -> tuple[float, ...]:
    if quantiles is None:
        return ()
    items = str(quantiles).split(",") if isinstance(quantiles, str) else list(quantiles)
    try:
        values = tuple(float(q) for q in items)
    except (TypeError, ValueError):
        values = ()
    if not values or not all(0.0 <= q <= 1.0 for q in values):
        raise ConfigError(f"quantiles={quantiles}: must be probabilities in [0, 1], e.g. 0.05,0.5,0.95")
    return values


def init_distributed(coordinator: str | None = None, processes: int | None = None, process_id: int | None = None) -> None:
    """Join a multi-process run (``jax.distributed.initialize``). Arguments not given come from
    JAXCOLLAPSE_COORDINATOR / JAXCOLLAPSE_NUM_PROCESSES / JAXCOLLAPSE_PROCESS_ID, and when
    none is set JAX auto-detects its cluster (SLURM, TPU pods, ...)."""
    env = os.environ
    coordinator = coordinator or env.get("JAXCOLLAPSE_COORDINATOR")
    processes = processes if processes is not None else _int_env("JAXCOLLAPSE_NUM_PROCESSES")
    process_id = process_id if process_id is not None else _int_env("JAXCOLLAPSE_PROCESS_ID")
    jax.distributed.initialize(coordinator_address=coordinator, num_processes=processes, process_id=process_id)


def _int_env(name: str) -> int | None:
    value = os.environ.get(name)
    return None if value is None else int(value)


def reproduce(name: str, quick: bool = False, **overrides: Any) -> Result:
    """Run a registered preset (``quick`` = its small CI-sized variant)."""
    spec = get_preset(name).resolved(quick)
    spec.update(overrides)
    spec.setdefault("invocation", {"python": f"jc.reproduce({name!r}, quick={quick})", "preset": name, "quick": quick})
    return run(**spec)
