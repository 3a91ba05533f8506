"""One trajectory: ``lax.scan`` of ``study.step`` over the generations.

A study with ``start`` scans ``step`` over t = 0..T, so its fit, sampler and metrics compile once;
one with only ``init`` runs ``init`` at t = 0 and scans ``step`` over t = 1..T (both compile).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jax.sharding import Mesh, PartitionSpec

from .reduce import device_block_moments
from .study import Metrics, Study, float_dtype

START = 2**32 - 1  # ``start`` draws from fold_in(seed key, START); never a generation (T <= 10^6)
# Generation keys of a block computed before its scan when (generations x block) is at most this
# (2^20 keys: 8-16 MiB); longer runs derive each generation's keys inside the scan.
KEYS_AHEAD = 1 << 20


def begin(study: Study, key: jax.Array, params):
    """(state before the first scanned generation, metrics at t = 0 or None, first scanned t)."""
    if study.starts:
        return study.start(jax.random.fold_in(key, START), params), None, 0
    state, first = study.init(jax.random.fold_in(key, 0), params)
    return state, first, 1


def trajectory(study: Study, params, key: jax.Array, generations: int) -> Metrics:
    """Metrics of one seed, each of shape [T+1]; index 0 is the fit on real data.

    Generation t draws its randomness from ``fold_in(key, t)``, so a trajectory depends
    only on (key, params), never on how seeds are batched.
    """
    state, first, t0 = begin(study, key, params)

    def body(carry, t):
        return study.step(carry, jax.random.fold_in(key, t), t, params)

    _, rest = jax.lax.scan(body, state, jnp.arange(t0, generations + 1))
    if first is None:
        return {k: rest[k] for k in study.metrics}
    return {k: jnp.concatenate([first[k][None], rest[k]]) for k in study.metrics}


def batched_trajectories(study: Study, generations: int, mesh: Mesh, per_seed: tuple[str, ...] | None = None):
    """jit of a ``shard_map`` over the seed axis of ``mesh``: one block of seeds per device.

    Called as ``(params, indices, base_key, seeds)``: indices arrive as [devices, block] (global
    seed indices), ``seeds`` is the run's seed count (traced; indices >= seeds are padding). Each
    device scans the generations of its block, every generation a vmap over grid points (params
    axis 0) of a vmap over seeds, the same computation as ``trajectory`` per seed, and reduces the
    block's metrics at each generation while they are in cache (``reduce.device_block_moments``).
    Returns (per-seed metrics [devices, points, block, T+1] of the metrics named in ``per_seed``
    (None: all), block moments of every metric [devices, points, metrics in ``study.metrics``
    order, T+1] and the block's count [devices]); what is not kept never leaves the program.
    The engine calls this one compiled program for every block of a run, so a program depends
    on the study's structure, the grid, T and the block, never on the seed count or the chunk
    size (a persistent compile cache serves every run of those shapes).

    The key of seed i is ``fold_in(base_key, i)``, with i the global seed index. Every block is
    the same compiled computation on every device, for any chunk size or device count. Results
    therefore depend only on (key, config): the random numbers, and also the floating-point
    rounding. XLA may round a vmap of another width differently, so the width is the fixed
    block, not the chunk.
    """

    def local(params, indices, base_key, seeds):
        keys = jax.vmap(jax.random.fold_in, in_axes=(None, 0))(base_key, indices[0])
        valid = indices[0] < seeds

        def summary(metrics):
            kept = {m: v for m, v in metrics.items() if per_seed is None or m in per_seed}
            values = jnp.stack([jnp.asarray(metrics[m], float_dtype()) for m in study.metrics], axis=1)
            return kept, device_block_moments(values, valid)

        init = jax.vmap(jax.vmap(lambda p, k: begin(study, k, p)[:2], in_axes=(None, 0)), in_axes=(0, None))
        state, first = init(params, keys)
        t0 = 0 if study.starts else 1

        times = jnp.arange(t0, generations + 1)
        generation_keys = jax.vmap(jax.random.fold_in, in_axes=(0, None))  # (block keys, t) -> block keys
        # Every generation's keys hashed before the scan in one batched call when they fit: the
        # same keys (so the same numbers), and the scan body runs no hash loop of its own
        # (contaminated-mean: run 1.45 s -> 1.2 s). Not for unsafe_rbg, whose fold_in under a
        # wider vmap derives other keys (some of them equal).
        ahead = times.size * keys.size <= KEYS_AHEAD and str(jax.random.key_impl(base_key)) != "unsafe_rbg"

        def body(state, x):
            t, keys_t = x if ahead else (x, generation_keys(keys, x))
            step = lambda s, p, k: study.step(s, k, t, p)  # noqa: E731
            state, metrics = jax.vmap(jax.vmap(step, in_axes=(0, None, 0)), in_axes=(0, 0, None))(state, params, keys_t)
            return state, summary(metrics)

        xs = (times, jax.vmap(generation_keys, in_axes=(None, 0))(keys, times)) if ahead else times
        _, rest = jax.lax.scan(body, state, xs)
        if first is not None:
            rest = jax.tree.map(lambda a, b: jnp.concatenate([a[None], b]), summary(first), rest)
        # generation axis last: per-seed [points, block, T+1], moments [points, metrics, T+1]
        kept, moments = jax.tree.map(lambda a: jnp.moveaxis(a, 0, -1), rest)
        return jax.tree.map(lambda x: x[None], (kept, moments, jnp.sum(valid, dtype=jnp.int32)))

    seeds = PartitionSpec("seeds")
    # check_vma=False: a study's scan may start from a seed-independent carry (e.g. a constant
    # initial guess) that the body makes seed-dependent; that is fine here, every device runs
    # its own seeds and nothing is communicated.
    sharded = jax.shard_map(local, mesh=mesh, in_specs=(PartitionSpec(), seeds, PartitionSpec(), PartitionSpec()),
                            out_specs=seeds, check_vma=False)
    return jax.jit(sharded)
