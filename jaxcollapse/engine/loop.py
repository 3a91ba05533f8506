"""One trajectory: ``lax.scan`` of ``study.step`` over generations 1..T."""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jax.sharding import Mesh, PartitionSpec

from .reduce import device_block_moments
from .study import Metrics, Study, float_dtype


def trajectory(study: Study, params, key: jax.Array, generations: int) -> Metrics:
    """Metrics of one seed, each of shape [T+1]; index 0 is the fit on real data.

    Generation t draws its randomness from ``fold_in(key, t)``, so a trajectory depends
    only on (key, params), never on how seeds are batched.
    """
    state, first = study.init(jax.random.fold_in(key, 0), params)

    def body(carry, t):
        return study.step(carry, jax.random.fold_in(key, t), t, params)

    _, rest = jax.lax.scan(body, state, jnp.arange(1, generations + 1))
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
            values = jnp.stack([jnp.asarray(metrics[m], float_dtype()) for m in study.metrics], axis=-1)
            return kept, device_block_moments(values, valid)

        init = jax.vmap(jax.vmap(lambda p, k: study.init(jax.random.fold_in(k, 0), p), in_axes=(None, 0)),
                        in_axes=(0, None))
        state, first = init(params, keys)

        def body(state, t):
            step = lambda s, p, k: study.step(s, jax.random.fold_in(k, t), t, p)  # noqa: E731
            state, metrics = jax.vmap(jax.vmap(step, in_axes=(0, None, 0)), in_axes=(0, 0, None))(state, params, keys)
            return state, summary(metrics)

        _, rest = jax.lax.scan(body, state, jnp.arange(1, generations + 1))
        # generation axis last: per-seed [points, block, T+1], moments [points, metrics, T+1]
        kept, moments = jax.tree.map(lambda a, b: jnp.moveaxis(jnp.concatenate([a[None], b]), 0, -1),
                                     summary(first), rest)
        return jax.tree.map(lambda x: x[None], (kept, moments, jnp.sum(valid, dtype=jnp.int32)))

    seeds = PartitionSpec("seeds")
    # check_vma=False: a study's scan may start from a seed-independent carry (e.g. a constant
    # initial guess) that the body makes seed-dependent; that is fine here, every device runs
    # its own seeds and nothing is communicated.
    sharded = jax.shard_map(local, mesh=mesh, in_specs=(PartitionSpec(), seeds, PartitionSpec(), PartitionSpec()),
                            out_specs=seeds, check_vma=False)
    return jax.jit(sharded)
