"""One trajectory: ``lax.scan`` of ``study.step`` over generations 1..T."""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jax.sharding import Mesh, PartitionSpec

from .reduce import device_block_moments
from .study import Metrics, Study


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


def batched_trajectories(study: Study, generations: int, mesh: Mesh):
    """jit of a ``shard_map`` over the seed axis of ``mesh``: one block of seeds per device.

    Called as ``(params, indices, base_key, seeds)``: indices arrive as [devices, block] (global
    seed indices), ``seeds`` is the run's seed count (traced; indices >= seeds are padding). Each
    device runs vmap over grid points (params axis 0) of vmap over its block's seeds and reduces
    its block on the device (``reduce.device_block_moments``). Returns (per-seed metrics
    [devices, points, block, T+1], block moments [devices, ...]); the engine fetches per-seed
    values only for what it keeps. The engine calls this one compiled program for every block of
    a run, so a program depends on the study's structure, the grid, T and the block, never on the
    seed count or the chunk size (a persistent compile cache serves every run of those shapes).

    The key of seed i is ``fold_in(base_key, i)``, with i the global seed index. Every block is
    the same compiled computation on every device, for any chunk size or device count. Results
    therefore depend only on (key, config): the random numbers, and also the floating-point
    rounding. XLA may round a vmap of another width differently, so the width is the fixed
    block, not the chunk.
    """

    def one_seed(params, index, base_key):
        return trajectory(study, params, jax.random.fold_in(base_key, index), generations)

    block = jax.vmap(jax.vmap(one_seed, in_axes=(None, 0, None)), in_axes=(0, None, None))

    def local(params, indices, base_key, seeds):
        per_seed = block(params, indices[0], base_key)
        moments = {m: device_block_moments(v, indices[0] < seeds) for m, v in per_seed.items()}
        return jax.tree.map(lambda x: x[None], (per_seed, moments))

    seeds = PartitionSpec("seeds")
    # check_vma=False: a study's scan may start from a seed-independent carry (e.g. a constant
    # initial guess) that the body makes seed-dependent; that is fine here, every device runs
    # its own seeds and nothing is communicated.
    sharded = jax.shard_map(local, mesh=mesh, in_specs=(PartitionSpec(), seeds, PartitionSpec(), PartitionSpec()),
                            out_specs=seeds, check_vma=False)
    return jax.jit(sharded)
