"""Scalar exponential families parameterised by their mean: Poisson and Bernoulli.

A batch is summarised by ``MeanStats(count, mean)`` (its sufficient statistic, the total, is
``count * mean``); the MLE, which is also unbiased, is the (weighted) sample mean. Both
families have a quadratic variance function V(m) = m + curvature m^2 (Poisson: curvature 0;
Bernoulli: curvature -1), which is what makes their recursive-fit moments closed-form.

Samplers, with the mean ``m`` traced:
* ``sample``: ``n_max`` explicit draws;
* ``sample_stats``: the statistics of ``count`` draws (``count`` traced, possibly 0) drawn
  exactly, total ~ Poisson(count m) or Binomial(count, m), at a cost flat in ``count``.
"""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, Float, PRNGKeyArray

from .categorical import BTRS_ATTEMPTS, INVERSION_MAX_MEAN, binomial, inversion, inversion_bound, rejection

KINDS = ("poisson", "bernoulli")
CURVATURE = {"poisson": 0.0, "bernoulli": -1.0}


class MeanStats(eqx.Module):
    """Sufficient statistics of a batch: (sum of weights, weighted mean)."""

    count: Float[Array, ""]
    mean: Float[Array, ""]


def variance(kind: str, m: Float[Array, "..."]) -> Float[Array, "..."]:
    """The variance function V(m) = m + curvature m^2."""
    return m + CURVATURE[kind] * m**2


def _ptrs_constants(rate):
    b = 0.931 + 2.53 * jnp.sqrt(rate)
    return dict(a=-0.059 + 0.02483 * b, b=b, v_r=0.9277 - 3.6224 / (b - 2), inv_alpha=1.1239 + 1.1328 / (b - 3.4),
                log_rate=jnp.log(rate))


def _ptrs_attempts(key, rate, const):
    """``BTRS_ATTEMPTS`` transformed-rejection proposals for Poisson(rate >= 10) at once: the
    first accepted one, and whether any was (Hoermann 1993, algorithm PTRS, as numpy's)."""
    a, b = const["a"], const["b"]
    u, v = jax.random.uniform(key, (2, BTRS_ATTEMPTS) + rate.shape, rate.dtype)
    u = u - 0.5
    us = 0.5 - jnp.abs(u)
    k = jnp.floor((2 * a / us + b) * u + rate + 0.43)
    squeeze = (us >= 0.07) & (v <= const["v_r"])
    log_v = jnp.log(v * const["inv_alpha"] / (a / (us * us) + b))
    log_pmf = -rate + k * const["log_rate"] - jax.lax.lgamma(jnp.maximum(k, 0.0) + 1)
    accept = squeeze | ((k >= 0) & ~((us < 0.013) & (v > us)) & (log_v <= log_pmf))
    return jnp.take_along_axis(k, jnp.argmax(accept, axis=0)[None], 0)[0], jnp.any(accept, axis=0)


def poisson(key: PRNGKeyArray, rate: Float[Array, "..."], shape: int | tuple[int, ...] = ()) -> Float[Array, "..."]:
    """Poisson(rate) draws of ``shape`` (``rate`` broadcast to it), shaped for ``vmap``, exact up
    to the 1e-12 tail of the inversion: rates <= 10 invert the CDF, larger ones run Hoermann's
    PTRS. As for ``binomial``, each is a loop that runs only as long as its lanes need, whereas
    ``jax.random.poisson`` runs Knuth's loop and its rejection loop for every lane, splitting keys
    at every iteration: 3.8x faster at rates up to 10, alike across 10, 2-4 s more compile
    (benchmarks/bench_samplers.py). A rate that is negative or not finite gives NaN."""
    shape = (shape,) if isinstance(shape, int) else tuple(shape)
    rate = jnp.broadcast_to(rate, shape)
    valid = jnp.isfinite(rate) & (rate >= 0)
    small = (rate <= INVERSION_MAX_MEAN) | ~valid
    k_inversion, k_rejection = jax.random.split(key)
    tabled = jnp.where(small & valid, rate, 0.0)
    u = jax.random.uniform(k_inversion, (2,) + shape, rate.dtype)
    inverted = inversion(u, jnp.exp(-tabled), lambda x: tabled / (x + 1), inversion_bound(tabled, tabled), small)
    large = jnp.where(small, 1e4, rate)  # a valid dummy where inversion is used
    const = _ptrs_constants(large)
    rejected = rejection(k_rejection, lambda k: _ptrs_attempts(k, large, const), small)
    return jnp.where(valid, jnp.where(small, inverted, rejected), jnp.nan)


def sample(key: PRNGKeyArray, kind: str, m: Float[Array, ""], n_max: int) -> Float[Array, " n_max"]:
    if kind == "poisson":
        return poisson(key, m, n_max)
    return jax.random.bernoulli(key, m, (n_max,)).astype(m.dtype)


def sample_stats(key: PRNGKeyArray, kind: str, m: Float[Array, ""], count: Float[Array, ""]) -> MeanStats:
    count = jnp.asarray(count, m.dtype)
    if kind == "poisson":
        total = poisson(key, count * m)
    else:
        total = binomial(key, count, m)
    return MeanStats(count, total / jnp.maximum(count, 1.0))


def stats_from_samples(x: Float[Array, " m"], weight: Float[Array, " m"]) -> MeanStats:
    count = jnp.sum(weight)
    return MeanStats(count, jnp.sum(weight * x) / jnp.maximum(count, 1e-30))


def merge(a: MeanStats, b: MeanStats) -> MeanStats:
    count = a.count + b.count
    return MeanStats(count, a.mean + (b.mean - a.mean) * (b.count / jnp.maximum(count, 1e-30)))


def fit(stats: MeanStats) -> Float[Array, ""]:
    """The MLE of the mean: the pooled sample mean."""
    return stats.mean
