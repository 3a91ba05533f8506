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
import os
import re
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from .loop import batched_trajectories
from .params import ConfigError
from .progress import RunProgress
from .reduce import Moments, host_block_moments
from .schedules import split_list
from .storage import jsonable, npz_bytes, write_atomic
from .study import Study, float_dtype

CHUNK_BYTES = 1 << 30  # working-set budget per chunk when --chunk is not given
# A seed block per backend: (most seeds, working-set bytes). On a CPU, cache-sized (Kazdan d = 100:
# 8 seeds, 2.4x faster than 128) and at most 1,024 seeds (explicit Gaussian, 10^4 seeds x 100: run
# 2.5-2.8 s at 256, 2.0 s at 1,024); a GPU or TPU needs wide vmaps to fill its cores.
SEED_BLOCKS = {"cpu": (1024, 2 << 20)}
ACCELERATOR_BLOCK = (16384, 256 << 20)
# On every backend, a block wider than this is halved while the run's last block would be more
# than 1/8 of its seeds in padding (600 seeds: 256, not 1,024).
PADDED_BLOCK = 256
MAX_AUTO_CHUNK = 10_000  # 2-core CPU: 10^4-seed vmaps beat 4,096 (benchmarks/) and 10^5
# --prng: name -> jax.random implementation. Every one keeps results independent of the chunk
# size and device count (the seed block is the unit of computation); see docs/scaling.md "Random numbers".
PRNGS = {"threefry": "threefry2x32", "philox": "philox4x32", "rbg": "rbg", "unsafe_rbg": "unsafe_rbg"}


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
    prng: str = "threefry"

    @property
    def grid_shape(self) -> tuple[int, ...]:
        return tuple(len(labels) for _, labels in self.axes)

    def fingerprint(self) -> str:
        """Hash of everything a result depends on (for resuming into the same directory)."""
        blob = json.dumps(
            {
                "study": self.study.name,
                "points": [jsonable(p) for p in self.points],
                "seeds": self.seeds,
                "generations": self.generations,
                "key": self.key,
                "dtype": str(np.dtype(float_dtype())),
                "jax": jax.__version__,
                **({"prng": self.prng} if self.prng != "threefry" else {}),  # older runs' fingerprints stay valid
            },
            sort_keys=True,
        )
        return hashlib.sha256(blob.encode()).hexdigest()[:16]


def _label(raw: Any, value: Any) -> Any:
    if isinstance(value, (int, float, str)) and not isinstance(value, bool):
        return value
    if isinstance(value, np.ndarray) and np.all(value == value[0]):
        return value[0].item()
    if callable(raw):  # a schedule given as a Python function
        return getattr(raw, "__name__", "function")
    if isinstance(raw, (list, tuple, np.ndarray)):  # a schedule given as T+1 values
        return ",".join(f"{v:g}" for v in np.asarray(raw, np.float64)[:4]) + ("..." if len(raw) > 4 else "")
    return str(raw)


MAX_SEEDS = 2**31  # seed indices are uint32 and fold into the key
MAX_GENERATIONS = 10**6  # schedules are evaluated on the host over t = 0..T


def _positive_int(name: str, value: Any, most: int = MAX_SEEDS) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or not 1 <= value <= most:
        raise ConfigError(f"{name}={value}: must be an integer >= 1 and <= {most}")
    return int(value)


def plan(
    study: type[Study],
    settings: dict[str, Any] | None = None,
    grids: dict[str, Any] | None = None,
    seeds: int = 100,
    generations: int = 100,
    key: int = 0,
    chunk: int | None = None,
    prng: str = "threefry",
) -> Plan:
    """Validate settings (name -> value) and grids (name -> list or "v1,v2,...")."""
    settings, grids = dict(settings or {}), dict(grids or {})
    seeds = _positive_int("seeds", seeds)
    generations = _positive_int("generations", generations, MAX_GENERATIONS)
    if chunk is not None:
        chunk = _positive_int("chunk", chunk)
    if isinstance(key, bool) or not isinstance(key, (int, np.integer)) or key < 0:
        raise ConfigError(f"key={key}: must be a non-negative integer")
    if prng not in PRNGS:
        raise ConfigError(f"prng={prng}: must be one of {', '.join(PRNGS)}")
    for name in list(settings) + list(grids):
        study.param(name)  # unknown parameter -> ConfigError
    both = set(settings) & set(grids)
    if both:
        raise ConfigError(f"{sorted(both)[0]}: set with --set and swept with --grid; choose one")
    base = {}
    for p in study.params:
        raw = settings.get(p.name, p.default)
        if raw is None and p.default is not None:  # None means "unset" only where the default is unset
            raise ConfigError(f"{p.name}=None: must be {p.allowed()}")
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
    study.preflight(points, generations)
    resolved = {}
    for name in base:
        if name in grids:
            continue
        values = [jsonable(p[name]) for p in points]
        resolved[name] = values[0] if all(v == values[0] for v in values) else "varies with grid"
    return Plan(study, resolved, axes, points, seeds, generations, key, chunk, prng)


@dataclass
class Raw:
    """What execute() hands to results.assemble: per-grid-point moments and kept arrays."""

    moments: dict[str, Moments]  # [points, T+1] running count / mean / M2 per metric
    per_seed: dict[str, np.ndarray]  # [points, seeds, T+1], only kept metrics
    sample: dict[str, np.ndarray] = field(default_factory=dict)  # [points, quantile seeds, T+1]
    compile_s: float = 0.0  # spent by this call
    run_s: float = 0.0  # spent by this call
    chunks: dict[str, int] = field(default_factory=dict)
    computed: int = 0  # chunks computed by this call
    resumed: int = 0  # chunks read back from the checkpoint (finished by an earlier call)
    resumed_run_s: float = 0.0  # what the resumed chunks cost when they were computed
    last_ready: float = 0.0  # when the last computed chunk was ready (run_s counts overlap once)
    block_threads: int = 1  # most host threads that ran one group's blocks at once (block_workers)


def traced(leaf: Any) -> jax.Array:
    """A host parameter as the engine traces it: floats in the run's dtype, integers as int32."""
    leaf = np.asarray(leaf)
    if np.issubdtype(leaf.dtype, np.floating):
        return jnp.asarray(leaf, float_dtype())
    if np.issubdtype(leaf.dtype, np.integer):
        return jnp.asarray(leaf, jnp.int32)
    return jnp.asarray(leaf)


def stack_params(trees: list[Any]) -> Any:
    """The grid points' numeric params stacked along a leading axis (what ``vmap`` runs over)."""
    return jax.tree.map(lambda *leaves: traced(np.stack([np.asarray(x) for x in leaves])), *trees)


def auto_chunk(study: Study, points: int, seeds: int) -> int:
    """Seeds per compiled call: within the memory budget and MAX_AUTO_CHUNK, balanced so
    the last chunk is not mostly padding (10,000 seeds -> one chunk, 12,000 -> 2 x 6,000). The
    budget is CHUNK_BYTES unless the study sets ``chunk_bytes``."""
    per_seed = max(1, study.bytes_per_seed() * points)
    cap = int(max(1, min(MAX_AUTO_CHUNK, (study.chunk_bytes or CHUNK_BYTES) // per_seed)))
    pieces = -(-seeds // cap)
    return -(-seeds // pieces)


def seed_block(study: Study, points: int, seeds: int) -> int:
    """Seeds per block, the unit that is compiled (vmapped) and reduced: a power of two, at most
    the backend's SEED_BLOCKS seeds, small enough that a block's working set stays near the
    study's ``block_bytes`` (the backend's budget unless the study sets it), for a small run
    no larger than the next power of two >= seeds (at least 8), and above PADDED_BLOCK only
    where the run's last block pads at most 1/8 of its seeds. It depends on the study's
    structure, the run's seed count and the backend, never on the chunk size or the device count."""
    most, budget = SEED_BLOCKS.get(jax.default_backend(), ACCELERATOR_BLOCK)
    fit = (study.block_bytes or budget) // max(1, study.bytes_per_seed() * points)
    cap = min(most, 1 << max(3, int(fit).bit_length() - 1), max(8, 1 << (seeds - 1).bit_length()))
    while cap > PADDED_BLOCK and (-(-seeds // cap) * cap - seeds) * 8 > seeds:
        cap //= 2
    return int(max(8, cap))


def chunk_size(requested: int | None, study: Study, points: int, seeds: int) -> int:
    """The requested (or automatic) chunk rounded up to whole blocks on every local device."""
    unit = seed_block(study, points, seeds) * jax.local_device_count()
    size = requested or auto_chunk(study, points, seeds)
    return max(unit, -(-size // unit) * unit)


def _half_memory() -> int | None:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") // 2
    except (AttributeError, ValueError, OSError):  # no sysconf (Windows): no check
        return None


def _working_set_check(study: Study, configs: list[dict[str, Any]]) -> None:
    """A smallest block of seeds (8) must fit in half this machine's memory; refuse before compiling."""
    need, budget = 8 * study.bytes_per_seed() * len(configs), _half_memory()
    if budget is not None and need > budget:
        sizes = ", ".join(f"{p.name}={configs[0][p.name]}" for p in study.params if p.static or p.schedule)[:200]
        raise ConfigError(
            f"{study.name} with {sizes}: a block of 8 seeds needs {need / 2**30:.1f} GiB of working memory "
            f"(half this machine's memory is {budget / 2**30:.1f} GiB); lower the sizes"
        )


def per_seed_bytes(the_plan: Plan, metrics: int, seeds: int) -> int:
    """Host memory of ``metrics`` per-seed arrays over ``seeds`` seeds."""
    return len(the_plan.points) * (the_plan.generations + 1) * np.dtype(float_dtype()).itemsize * metrics * seeds


def _memory_check(the_plan: Plan, keep: tuple[str, ...], quantile_seeds: int, kept_seeds: int) -> None:
    """Per-seed arrays grow with the seed count; refuse before compiling if they cannot fit."""
    needed = per_seed_bytes(the_plan, len(keep), kept_seeds) + per_seed_bytes(
        the_plan, len(the_plan.study.metrics), quantile_seeds)
    budget = _half_memory()
    if budget is not None and needed > budget:
        raise ConfigError(
            f"keeping per-seed arrays of {len(keep)} metric(s) for {kept_seeds} seeds needs "
            f"{needed / 2**30:.1f} GiB (half this machine's memory is {budget / 2**30:.1f} GiB); "
            "pass --keep none or fewer metrics (means, standard errors and quantiles are streamed)"
        )


def prepare_keep(the_plan: Plan, keep: tuple[str, ...] | None) -> tuple[str, ...]:
    """The metrics whose per-seed arrays are kept (None: all), checked against the study's."""
    metrics = the_plan.study.metrics
    keep = metrics if keep is None else tuple(keep)
    for name in keep:
        if name not in metrics:
            raise ConfigError(f"unknown metric {name!r} (known: {', '.join(metrics)})")
    return keep


def run_identity(the_plan: Plan, keep: tuple[str, ...], quantile_seeds: int, kept_seeds: int | None = None) -> str:
    """What a checkpoint's chunks and a finished run's files depend on: the plan's fingerprint,
    the kept metrics, the seeds they are kept for, and the quantile seeds (chunks store exactly
    those rows)."""
    blob = f"{the_plan.fingerprint()}|{','.join(keep)}|{min(quantile_seeds, the_plan.seeds)}"
    if kept_seeds is not None and kept_seeds < the_plan.seeds:
        blob += f"|first {kept_seeds} seeds"
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def execute(
    the_plan: Plan,
    keep: tuple[str, ...] | None = None,
    checkpoint: Path | None = None,
    progress: bool = False,
    quantile_seeds: int = 0,
    identity: str | None = None,
    kept_seeds: int | None = None,
) -> Raw | None:
    """Run every grid point x seed; ``keep`` names metrics whose per-seed arrays are kept
    (None: all), for the first ``kept_seeds`` seeds (None: all); the first ``quantile_seeds``
    seeds of every metric are kept for quantiles.

    Seeds are split across all local devices (a 1-D mesh over the seed axis). In a
    multi-process run (``jax.distributed``) chunk c is computed by process c mod P and written
    to ``checkpoint``, a directory every process can reach; process 0 then merges every chunk in
    order and the other processes return None. Results are identical for any chunk size,
    device count or process count."""
    study_cls, seeds, generations = the_plan.study, the_plan.seeds, the_plan.generations
    keep = prepare_keep(the_plan, keep)
    quantile_seeds = min(quantile_seeds, seeds)
    kept_seeds = seeds if kept_seeds is None else min(kept_seeds, seeds)
    _memory_check(the_plan, keep, quantile_seeds, kept_seeds)
    process, processes = jax.process_index(), jax.process_count()
    if processes > 1 and checkpoint is None:
        raise ConfigError("a multi-process run needs --out on a filesystem that every process can reach")
    groups: dict[tuple, list[int]] = {}
    for index, config in enumerate(the_plan.points):
        groups.setdefault(study_cls.static_key(config), []).append(index)
    n_points, width = len(the_plan.points), generations + 1
    raw = Raw(
        moments={m: Moments.zeros((n_points, width)) for m in study_cls.metrics},
        per_seed={m: np.zeros((n_points, kept_seeds, width), float_dtype()) for m in keep},
        sample={m: np.zeros((n_points, quantile_seeds, width), float_dtype()) for m in study_cls.metrics}
        if quantile_seeds else {},
    )
    if checkpoint is not None:
        _stamp(checkpoint, identity or run_identity(the_plan, keep, quantile_seeds, kept_seeds), process)
    later: list[tuple[Path, list[int], int]] = []  # chunks of other processes, for process 0
    built = []  # every group's static structure, checked before anything compiles
    for static, members in groups.items():
        configs = [the_plan.points[i] for i in members]
        study = study_cls.build(configs, generations)
        _working_set_check(study, configs)
        built.append((static, members, configs, study))
    sizes = [chunk_size(the_plan.chunk, study, len(members), seeds) for _, members, _, study in built]
    with RunProgress(progress, study_cls.name, sum(-(-seeds // c) for c in sizes)) as shown:
        _run_groups(the_plan, built, sizes, raw, keep, quantile_seeds, kept_seeds, checkpoint, later, shown)
    if processes == 1:
        return raw
    if process != 0:
        return None
    for path, members, start in later:
        summary = _load(_wait_for(path))
        summary.pop("run_s", None)
        _absorb(raw, members, start, summary)
    return raw


def _run_groups(the_plan: Plan, built: list, sizes: list[int], raw: Raw, keep: tuple[str, ...],
                quantile_seeds: int, kept_seeds: int, checkpoint: Path | None, later: list,
                shown: RunProgress) -> None:
    """Every group's chunks in seed order: compile once per group, resume the chunks the
    checkpoint holds, leave other processes' chunks to them."""
    study_cls, seeds, generations = the_plan.study, the_plan.seeds, the_plan.generations
    process, processes = jax.process_index(), jax.process_count()
    mesh = Mesh(np.asarray(jax.local_devices()), ("seeds",))
    devices = jax.local_device_count()
    base_key = jax.random.key(the_plan.key, impl=PRNGS[the_plan.prng])
    seed_count = jnp.asarray(seeds, jnp.uint32)
    finished = 0  # chunks merged, resumed or left to another process, over all groups
    for g, ((static, members, configs, study), chunk) in enumerate(zip(built, sizes)):
        block = seed_block(study, len(members), seeds)
        raw.chunks[repr(static)] = chunk
        params = jax.device_put(stack_params([study.numeric(c) for c in configs]), NamedSharding(mesh, PartitionSpec()))
        compiled = None
        starts = list(range(0, seeds, chunk))
        # The chunk computing on the devices while the host finishes the one before it (JAX's
        # dispatch is asynchronous); chunks are finished, written and merged in seed order.
        in_flight: _Chunk | None = None
        outputs: list = []  # the chunk dispatched last
        try:
            for c, start in enumerate(starts):
                shown.done(finished + c - (in_flight is not None))
                shown.phase(f"running shape {g + 1}/{len(built)}")
                path = None if checkpoint is None else checkpoint / f"group{g}-start{start}-chunk{chunk}.npz"
                if path is not None and path.exists():
                    in_flight = _finish(in_flight, raw, members, keep, quantile_seeds, later, processes, kept_seeds)
                    summary = _load(path) if processes == 1 else None
                    if summary is not None:
                        raw.resumed += 1
                        raw.resumed_run_s += float(summary.pop("run_s", 0.0))
                    _hand_over(raw, members, start, path, summary, later, processes)
                elif c % processes == process:
                    calls = np.arange(start, start + chunk, dtype=np.uint32).reshape(-1, devices, block)
                    if compiled is None:
                        shown.phase(f"compiling shape {g + 1}/{len(built)}")
                        begin = time.perf_counter()
                        # per-seed values leave the program only for kept metrics (and for every
                        # metric while quantile seeds are sampled)
                        copied = tuple(study_cls.metrics) if quantile_seeds else keep
                        compiled = batched_trajectories(study, generations, mesh, copied).lower(
                            params, _on_devices(calls[0], mesh), base_key, seed_count).compile()
                        workers = block_workers(compiled, block * len(members) * study.bytes_per_seed())
                        raw.block_threads = max(raw.block_threads, workers)
                        raw.compile_s += time.perf_counter() - begin
                    dispatched = time.perf_counter()
                    # every block is dispatched before any is waited for
                    outputs = dispatch_blocks(compiled, (params, base_key, seed_count), calls, mesh, workers)
                    in_flight = _finish(in_flight, raw, members, keep, quantile_seeds, later, processes, kept_seeds)
                    in_flight = _Chunk(start, min(chunk, seeds - start), path, outputs, dispatched)
                else:
                    in_flight = _finish(in_flight, raw, members, keep, quantile_seeds, later, processes, kept_seeds)
                    _hand_over(raw, members, start, path, None, later, processes)
        finally:  # also on Ctrl-C: the chunk already computing is finished and written
            if in_flight is None or in_flight.outputs is not outputs:  # dispatched, never to be finished
                for queued in outputs:
                    if isinstance(queued, Future):
                        queued.cancel()
            _finish(in_flight, raw, members, keep, quantile_seeds, later, processes, kept_seeds)
        finished += len(starts)
        shown.done(finished)


CHUNK_WAIT_S = 24 * 3600.0  # how long process 0 waits for another process's chunk


def _stamp(checkpoint: Path, fingerprint: str, process: int) -> None:
    checkpoint.mkdir(parents=True, exist_ok=True)
    stamp = checkpoint / "plan.txt"
    if stamp.exists() and stamp.read_text().strip() != fingerprint:
        raise ConfigError(f"{checkpoint} holds chunks of a different run; choose another --out")
    if process == 0:
        write_atomic(stamp, fingerprint.encode())


def _wait_for(path: Path) -> Path:
    begin = time.perf_counter()
    while not path.exists():
        if time.perf_counter() - begin > CHUNK_WAIT_S:
            raise TimeoutError(f"no other process wrote {path}")
        time.sleep(0.2)
    return path


def _on_devices(indices: np.ndarray, mesh: Mesh) -> jax.Array:
    return jax.device_put(indices, NamedSharding(mesh, PartitionSpec("seeds")))


def block_workers(compiled: Any, block_bytes: int) -> int:
    """Host threads that run a group's blocks side by side. XLA runs the calls dispatched from
    one host thread one after another, and calls from different threads at once. On a CPU the
    engine uses the cores divided by the local devices (each call spans every device), so that
    the cores work on different blocks: next-token 1.44x on 2 cores (benchmarks/README,
    "Stop 42"), and no more blocks at once than fit in half the memory (``block_bytes``: one
    block's working set). One thread elsewhere, and where ``overlap_safe`` finds a custom call
    that might block. A block's results do not depend on this: it is the same program on the
    same inputs."""
    if jax.default_backend() != "cpu":
        return 1
    try:
        text = compiled.as_text()
    except Exception:  # an executable that cannot print itself: assume the worst
        return 1
    if not text or not overlap_safe(text):
        return 1
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    memory = _half_memory()
    fit = cores if memory is None else memory // max(1, block_bytes)
    return int(max(1, min(cores // jax.local_device_count(), fit)))


def overlap_safe(hlo: str) -> bool:
    """Whether two calls of this CPU program (optimized HLO text) may run at once. jaxlib's LAPACK
    kernels may split a batch of matrices into tasks on XLA's thread pool and block until they
    finish, so two batched calls at once can deadlock (seen here: ``vmap(eigh)`` from two
    threads). A call on one matrix runs in the calling thread; that is every LAPACK call under
    ``models.linalg`` (its results have at most two dimensions). Any other custom call (a host
    callback, another library) is not known to be safe."""
    for line in hlo.splitlines():
        if " custom-call(" not in line:
            continue
        target = line.partition('custom_call_target="')[2].partition('"')[0]
        result = line.partition(" = ")[2].partition(" custom-call(")[0]
        if not target.startswith("lapack_") or any(dims.count(",") >= 2 for dims in re.findall(r"\[([^\]]*)\]", result)):
            return False
    return True


_POOLS: dict[int, ThreadPoolExecutor] = {}


def dispatch_blocks(compiled: Any, args: tuple, calls: np.ndarray, mesh: Mesh, workers: int) -> list:
    """Start every call of a chunk (``calls``: [calls, devices, block] seed indices): from this
    thread with one worker (XLA queues them), else from ``workers`` host threads that each run
    a call to the end before taking the next. Returns each call's outputs, or a future of them."""
    params, base_key, seed_count = args

    def call(indices):
        return compiled(params, _on_devices(indices, mesh), base_key, seed_count)

    if workers == 1:
        return [call(indices) for indices in calls]
    pool = _POOLS.get(workers) or _POOLS.setdefault(workers, ThreadPoolExecutor(workers, "jaxcollapse-block"))
    return [pool.submit(lambda i: jax.block_until_ready(call(i)), indices) for indices in calls]


@dataclass
class _Chunk:
    """A chunk dispatched to the devices: its per-call outputs (per-seed metrics, block moments)."""

    start: int
    valid: int  # its seeds below the run's seed count
    path: Path | None
    outputs: list  # per call (per-seed metrics, block moments, count), or a future of them
    dispatched: float


def _finish(chunk: _Chunk | None, raw: Raw, members: list[int], keep: tuple[str, ...], quantile_seeds: int,
            later: list, processes: int, kept_seeds: int) -> None:
    """Wait for a dispatched chunk, write it to the checkpoint and merge it; returns None (the
    new in-flight chunk)."""
    if chunk is None:
        return None
    chunk.outputs = [o.result() if isinstance(o, Future) else o for o in chunk.outputs]
    jax.block_until_ready(chunk.outputs)
    ready = time.perf_counter()
    elapsed = ready - max(chunk.dispatched, raw.last_ready)
    raw.last_ready = ready
    raw.run_s += elapsed
    raw.computed += 1
    summary = _summarise(chunk, tuple(raw.moments), keep, quantile_seeds, kept_seeds)  # study.metrics order
    if chunk.path is not None:
        write_atomic(chunk.path, npz_bytes({**summary, "run_s": np.float64(elapsed)}, compress=False))
    _hand_over(raw, members, chunk.start, chunk.path, summary, later, processes)
    return None


def _hand_over(raw: Raw, members, start, path, summary, later, processes) -> None:
    """A chunk's summary joins the running moments (one process) or waits for process 0."""
    if processes == 1:
        _absorb(raw, members, start, summary)
    else:
        later.append((path, members, start))


def _seed_major(outputs: list[dict[str, Any]], metrics) -> dict[str, np.ndarray]:
    """Per call [devices, points, block, T+1] -> [points, seeds of the chunk, T+1] (calls, then
    devices, then the block's seeds: the order of the global seed indices); copies only
    ``metrics`` from the devices."""
    out = {}
    for m in metrics:
        values = np.stack([np.asarray(r[m]) for r in outputs])
        calls, devices, points, block, width = values.shape
        out[m] = values.transpose(2, 0, 1, 3, 4).reshape(points, calls * devices * block, width)
    return out


def _blocks(outputs: list[Any]) -> np.ndarray:
    """Per call [devices, points, T+1] (or [devices]) -> [points, blocks, T+1] (or [blocks]),
    blocks in the order of the global seed indices (calls, then devices)."""
    values = np.stack([np.asarray(r) for r in outputs])
    values = values.reshape(-1, *values.shape[2:])
    return np.moveaxis(values, 0, 1) if values.ndim > 1 else values


def _summarise(chunk: _Chunk, metrics: tuple[str, ...], keep: tuple[str, ...], quantile_seeds: int,
               kept_seeds: int) -> dict[str, np.ndarray]:
    """What a finished chunk contributes: block moments per metric (reduced on the devices), its
    kept per-seed rows (those among the first ``kept_seeds`` seeds), and its rows among the
    first ``quantile_seeds`` seeds. Flat in the seed count."""
    per_seed = [o[0] for o in chunk.outputs]
    sampled = max(0, min(chunk.valid, quantile_seeds - chunk.start))
    kept = max(0, min(chunk.valid, kept_seeds - chunk.start))
    copied = _seed_major(per_seed, [m for m in metrics if (m in keep and kept) or sampled])
    count = _blocks([o[2] for o in chunk.outputs])
    blocks = {k: _blocks([o[1][k] for o in chunk.outputs]) for k in ("shift", "sum", "sum_sq")}
    out: dict[str, np.ndarray] = {}
    for j, m in enumerate(metrics):
        out["count"], out[f"{m}:mean"], out[f"{m}:m2"] = host_block_moments(
            count, {k: v[:, :, j] for k, v in blocks.items()})
        if m in keep and kept:
            out[f"{m}:seeds"] = copied[m][:, :kept]
        if sampled:
            out[f"{m}:sample"] = copied[m][:, :sampled]
    return out


def _load(path: Path) -> dict[str, np.ndarray]:
    with np.load(path) as stored:
        return {k: stored[k] for k in stored.files}


def _absorb(raw: Raw, members: list[int], start: int, summary: dict[str, np.ndarray]) -> None:
    """Merge one chunk's blocks into the running moments (in seed order) and copy its rows."""
    for m, moments in raw.moments.items():
        moments.merge(members, summary["count"], summary[f"{m}:mean"], summary[f"{m}:m2"])
        if m in raw.per_seed and f"{m}:seeds" in summary:
            values = summary[f"{m}:seeds"]
            raw.per_seed[m][members, start : start + values.shape[1]] = values
        if f"{m}:sample" in summary:
            values = summary[f"{m}:sample"]
            raw.sample[m][members, start : start + values.shape[1]] = values
