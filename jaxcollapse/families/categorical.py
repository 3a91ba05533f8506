"""Categorical family: counts, smoothed frequency fit, explicit and exact samplers.

A categorical over K outcomes is summarised by its count vector. ``exact`` draws the counts
of n tokens directly, ``Multinomial(n, p)`` (K conditional binomials, cost flat in n);
``explicit`` draws ``n_max`` tokens and counts the first n (n traced).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jaxtyping import Array, Float, Int, PRNGKeyArray


def fit(counts: Float[Array, "... k"], smoothing: Float[Array, ""] | float = 0.0) -> Float[Array, "... k"]:
    """Additive smoothing: p = (c + lambda) / (sum c + K lambda); lambda = 0 is the MLE.

    A row with no counts and no smoothing is undefined; it is set to uniform."""
    k = counts.shape[-1]
    smoothed = counts + smoothing
    total = jnp.sum(smoothed, axis=-1, keepdims=True)
    return jnp.where(total > 0, smoothed / jnp.maximum(total, 1e-30), 1.0 / k)


def sample_counts(
    key: PRNGKeyArray, n: Int[Array, ""], p: Float[Array, " k"], sampler: str, n_max: int
) -> Float[Array, " k"]:
    """Counts of n i.i.d. draws from p."""
    if sampler == "exact":
        return jax.random.multinomial(key, n.astype(p.dtype), p, dtype=p.dtype)
    if sampler == "explicit":
        tokens = jax.random.categorical(key, jnp.log(p), shape=(n_max,))
        weight = (jnp.arange(n_max) < n).astype(p.dtype)
        return jnp.zeros_like(p).at[tokens].add(weight)
    raise ValueError(f"unknown sampler {sampler!r}")


def sample_chain_counts(
    key: PRNGKeyArray,
    sequences: Int[Array, ""],
    transition: Float[Array, "k k"],
    seq_len: int,
    max_sequences: int,
) -> Float[Array, "k k"]:
    """Transition counts of ``sequences`` Markov sequences of ``seq_len`` tokens (the first
    token uniform), drawn token by token; sequences beyond the traced count are masked."""
    k = transition.shape[0]
    k_start, k_steps = jax.random.split(key)
    start = jax.random.randint(k_start, (max_sequences,), 0, k)
    weight = (jnp.arange(max_sequences) < sequences).astype(transition.dtype)
    log_transition = jnp.log(transition)

    def advance(carry, step_key):
        state, counts = carry
        nxt = jax.random.categorical(step_key, log_transition[state])
        return (nxt, counts.at[state, nxt].add(weight)), None

    keys = jax.random.split(k_steps, seq_len - 1)
    (_, counts), _ = jax.lax.scan(advance, (start, jnp.zeros((k, k), transition.dtype)), keys)
    return counts
