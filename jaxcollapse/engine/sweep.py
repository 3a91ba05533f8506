"""Sweeps: resolve a study's settings and grid, then run every grid point x seed.

``plan`` validates everything in plain Python (no tracing). ``execute`` groups grid points
by the study's static key, compiles one ``jit(vmap(vmap(scan)))`` per group, streams seeds
through it in fixed-size chunks, and reduces per-generation metrics on the host in float64
with a strictly sequential sum, so means and standard errors are identical whatever the
chunk size. Finished chunks can be written to a checkpoint directory (atomically) and are
reloaded instead of recomputed when the same run is started again.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from .loop import batched_trajectories
from .params import ConfigError
from .schedules import split_list
from .storage import npz_bytes, write_atomic
from .study import Study, float_dtype

CHUNK_BYTES = 1 << 30  # working-set budget per chunk when --chunk is not given
MAX_AUTO_CHUNK = 10_000  # 2-core CPU: 10^4-seed vmaps beat 4,096 (benchmarks/) and 10^5


@dataclass
class Plan:
    """A validated sweep: the grid points (complete configs, row-major) and run sizes."""

    study: type[Study]
    base: dict[str, Any]
    axes: list[tuple[str, list[Any]]]  # (name, coordinate labels)
    points: list[dict[str, Any]]
    seeds: int
    generations: int
    key: int = 0
    chunk: int | None = None

    @property
    def grid_shape(self) -> tuple[int, ...]:
        return tuple(len(labels) for _, labels in self.axes)

    def fingerprint(self) -> str:
        """Hash of everything a result depends on (for resuming into the same directory)."""
        blob = json.dumps(
            {
                "study": self.study.name,
                "points": [_jsonable(p) for p in self.points],
                "seeds": self.seeds,
                "generations": self.generations,
                "key": self.key,
                "dtype": str(np.dtype(float_dtype())),
                "jax": jax.__version__,
            },
            sort_keys=True,
        )
        return hashlib.sha256(blob.encode()).hexdigest()[:16]


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    return value


def _label(raw: Any, value: Any) -> Any:
    if isinstance(value, (int, float, str)) and not isinstance(value, bool):
        return value
    if isinstance(value, np.ndarray) and np.all(value == value[0]):
        return value[0].item()
    return str(raw)


def _positive_int(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ConfigError(f"{name}={value}: must be an integer >= 1")
    return int(value)


def plan(
    study: type[Study],
    settings: dict[str, Any] | None = None,
    grids: dict[str, Any] | None = None,
    seeds: int = 100,
    generations: int = 100,
    key: int = 0,
    chunk: int | None = None,
) -> Plan:
    """Validate settings (name -> value) and grids (name -> list or "v1,v2,...")."""
    settings, grids = dict(settings or {}), dict(grids or {})
    seeds = _positive_int("seeds", seeds)
    generations = _positive_int("generations", generations)
    if chunk is not None:
        chunk = _positive_int("chunk", chunk)
    if isinstance(key, bool) or not isinstance(key, (int, np.integer)) or key < 0:
        raise ConfigError(f"key={key}: must be a non-negative integer")
    for name in list(settings) + list(grids):
        study.param(name)  # unknown parameter -> ConfigError
    both = set(settings) & set(grids)
    if both:
        raise ConfigError(f"{sorted(both)[0]}: set with --set and swept with --grid; choose one")
    base = {}
    for p in study.params:
        raw = settings.get(p.name, p.default)
        base[p.name] = raw if raw is None else p.resolve(raw, generations)
    axes, axis_values = [], []
    for name, raw_values in grids.items():
        p = study.param(name)
        if not p.gridable:
            raise ConfigError(f"--grid {name}: {name} cannot vary across a grid; use --set")
        items = split_list(raw_values) if isinstance(raw_values, str) else list(raw_values)
        if not items or any(str(v).strip() == "" for v in items):
            raise ConfigError(f"--grid {name}={raw_values}: needs a comma-separated list of values")
        values = [p.resolve(v, generations) for v in items]
        axes.append((name, [_label(r, v) for r, v in zip(items, values)]))
        axis_values.append((name, values))
    points = []
    for combo in itertools.product(*[values for _, values in axis_values]):
        config = dict(base)
        config.update({name: value for (name, _), value in zip(axis_values, combo)})
        points.append(study.check(config, generations))
    resolved = {}
    for name in base:
        if name in grids:
            continue
        values = [_jsonable(p[name]) for p in points]
        resolved[name] = values[0] if all(v == values[0] for v in values) else "varies with grid"
    return Plan(study, resolved, axes, points, seeds, generations, key, chunk)


@dataclass
class Raw:
    """Per-grid-point sums from execute(): float64 arrays [points, T+1] per metric."""

    shift: dict[str, np.ndarray]
    total: dict[str, np.ndarray]
    total_sq: dict[str, np.ndarray]
    per_seed: dict[str, np.ndarray]  # [points, seeds, T+1], only kept metrics
    compile_s: float = 0.0
    run_s: float = 0.0
    chunks: dict[str, int] = field(default_factory=dict)


def _cast(leaf: Any) -> jax.Array:
    leaf = np.asarray(leaf)
    if np.issubdtype(leaf.dtype, np.floating):
        return jnp.asarray(leaf, float_dtype())
    if np.issubdtype(leaf.dtype, np.integer):
        return jnp.asarray(leaf, jnp.int32)
    return jnp.asarray(leaf)


def _stack(trees: list[Any]) -> Any:
    return jax.tree.map(lambda *leaves: _cast(np.stack([np.asarray(x) for x in leaves])), *trees)


def _progress(message: str, enabled: bool) -> None:
    if enabled:
        sys.stderr.write("\r" + message.ljust(60))
        sys.stderr.flush()


def auto_chunk(study: Study, points: int, seeds: int) -> int:
    """Seeds per compiled call: within the memory budget and MAX_AUTO_CHUNK, balanced so
    the last chunk is not mostly padding (10,000 seeds -> one chunk, 12,000 -> 2 x 6,000)."""
    per_seed = max(1, study.bytes_per_seed() * points)
    cap = int(max(1, min(MAX_AUTO_CHUNK, CHUNK_BYTES // per_seed)))
    pieces = -(-seeds // cap)
    return -(-seeds // pieces)


def execute(
    the_plan: Plan,
    keep: tuple[str, ...] | None = None,
    checkpoint: Path | None = None,
    progress: bool = False,
) -> Raw:
    """Run every grid point x seed; ``keep`` names metrics whose per-seed arrays are kept
    (None: all)."""
    study_cls, seeds, generations = the_plan.study, the_plan.seeds, the_plan.generations
    keep = study_cls.metrics if keep is None else tuple(keep)
    for name in keep:
        if name not in study_cls.metrics:
            raise ConfigError(f"unknown metric {name!r} (known: {', '.join(study_cls.metrics)})")
    groups: dict[tuple, list[int]] = {}
    for index, config in enumerate(the_plan.points):
        groups.setdefault(study_cls.static_key(config), []).append(index)
    n_points, width = len(the_plan.points), generations + 1
    raw = Raw(
        shift={m: np.zeros((n_points, width)) for m in study_cls.metrics},
        total={m: np.zeros((n_points, width)) for m in study_cls.metrics},
        total_sq={m: np.zeros((n_points, width)) for m in study_cls.metrics},
        per_seed={m: np.zeros((n_points, seeds, width), float_dtype()) for m in keep},
    )
    if checkpoint is not None:
        checkpoint.mkdir(parents=True, exist_ok=True)
        stamp = checkpoint / "plan.txt"
        fingerprint = the_plan.fingerprint()
        if stamp.exists() and stamp.read_text().strip() != fingerprint:
            raise ConfigError(f"{checkpoint} holds chunks of a different run; choose another --out")
        stamp.write_text(fingerprint)
    base_key = jax.random.key(the_plan.key)
    for g, (static, members) in enumerate(groups.items()):
        configs = [the_plan.points[i] for i in members]
        study = study_cls.build(configs, generations)
        chunk = the_plan.chunk or auto_chunk(study, len(members), seeds)
        raw.chunks[repr(static)] = chunk
        params = _stack([study.numeric(c) for c in configs])
        compiled = None
        starts = list(range(0, seeds, chunk))
        for c, start in enumerate(starts):
            _progress(f"{study_cls.name}: shape {g + 1}/{len(groups)}, chunk {c + 1}/{len(starts)}", progress)
            path = None if checkpoint is None else checkpoint / f"group{g}-start{start}-chunk{chunk}.npz"
            if path is not None and path.exists():
                with np.load(path) as stored:
                    out = {m: stored[m] for m in study_cls.metrics}
            else:
                indices = jnp.arange(start, start + chunk, dtype=jnp.uint32)
                if compiled is None:
                    begin = time.perf_counter()
                    compiled = batched_trajectories(study, generations).lower(
                        params, indices, base_key
                    ).compile()
                    raw.compile_s += time.perf_counter() - begin
                begin = time.perf_counter()
                result = jax.block_until_ready(compiled(params, indices, base_key))
                raw.run_s += time.perf_counter() - begin
                valid = min(chunk, seeds - start)
                out = {m: np.asarray(result[m])[:, :valid] for m in study_cls.metrics}
                if path is not None:
                    write_atomic(path, npz_bytes(out, compress=False))
            _accumulate(raw, members, start, out)
    _progress("", progress)
    if progress:
        sys.stderr.write("\r")
    return raw


def _accumulate(raw: Raw, members: list[int], start: int, out: dict[str, np.ndarray]) -> None:
    """Sequential float64 sums over seeds (np.cumsum is a strict left-to-right scan)."""
    for metric, values in out.items():
        values = values.astype(np.float64)
        if start == 0:
            first = values[:, 0]
            raw.shift[metric][members] = np.where(np.isfinite(first), first, 0.0)
        centered = values - raw.shift[metric][members][:, None]
        for target, terms in ((raw.total, centered), (raw.total_sq, centered**2)):
            running = np.concatenate([target[metric][members][:, None], terms], axis=1)
            with np.errstate(invalid="ignore"):
                target[metric][members] = np.cumsum(running, axis=1)[:, -1]
        if metric in raw.per_seed:
            raw.per_seed[metric][members, start : start + values.shape[1]] = values
