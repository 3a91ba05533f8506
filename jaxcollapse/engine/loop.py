"""One trajectory: ``lax.scan`` of ``study.step`` over generations 1..T."""

from __future__ import annotations

import jax
import jax.numpy as jnp

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


def batched_trajectories(study: Study, generations: int):
    """jit(vmap over grid points (params axis 0) of vmap over seed indices).

    The key of seed i is ``fold_in(base_key, i)`` with i the global seed index, so
    results do not depend on chunk size or device count.
    """

    def one_seed(params, index, base_key):
        return trajectory(study, params, jax.random.fold_in(base_key, index), generations)

    over_seeds = jax.vmap(one_seed, in_axes=(None, 0, None))
    return jax.jit(jax.vmap(over_seeds, in_axes=(0, None, None)))
