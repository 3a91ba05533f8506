"""Categorical family: counts, smoothed frequency fit, explicit and exact samplers.

A categorical over K outcomes is summarised by its count vector. ``exact`` draws the counts
of n tokens directly, ``Multinomial(n, p)`` (conditional binomials, cost flat in n);
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


def multinomial(key: PRNGKeyArray, n: Int[Array, ""], p: Float[Array, " k"]) -> Float[Array, " k"]:
    """Multinomial(n, p) counts by conditional binomials down a binary tree over the
    categories: log2(K) vectorised binomial draws instead of K sequential ones (about 2.6x
    faster than ``jax.random.multinomial`` at K = 50); cost independent of n."""
    size = 1 << (p.shape[0] - 1).bit_length()
    levels = [jnp.pad(p, (0, size - p.shape[0]))]
    while levels[-1].shape[0] > 1:
        levels.append(levels[-1].reshape(-1, 2).sum(-1))
    levels = levels[::-1]
    counts = jnp.reshape(n, (1,)).astype(p.dtype)
    for depth in range(len(levels) - 1):
        parent, left = levels[depth], levels[depth + 1][0::2]
        share = jnp.clip(jnp.where(parent > 0, left / jnp.where(parent > 0, parent, 1.0), 0.0), 0.0, 1.0)
        left_counts = jnp.minimum(jax.random.binomial(jax.random.fold_in(key, depth), counts, share), counts)
        counts = jnp.stack([left_counts, counts - left_counts], -1).reshape(-1)
    return counts[: p.shape[0]]


def sample_counts(
    key: PRNGKeyArray, n: Int[Array, ""], p: Float[Array, " k"], sampler: str, n_max: int
) -> Float[Array, " k"]:
    """Counts of n i.i.d. draws from p: ``exact`` draws the multinomial; ``explicit`` draws
    n_max tokens by inverting the CDF at sorted uniforms and counts the first n."""
    if sampler == "exact":
        return multinomial(key, n, p)
    if sampler == "explicit":
        uniforms = jnp.where(jnp.arange(n_max) < n, jax.random.uniform(key, (n_max,), p.dtype), 2.0)
        cdf = jnp.cumsum(p).at[-1].set(1.0)
        below = jnp.searchsorted(jnp.sort(uniforms), cdf, side="right")
        return jnp.diff(below, prepend=0).astype(p.dtype)
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
