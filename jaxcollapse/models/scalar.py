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

from .categorical import INVERSION_MAX_MEAN, binomial, inversion, inversion_bound

KINDS = ("poisson", "bernoulli")
CURVATURE = {"poisson": 0.0, "bernoulli": -1.0}


class MeanStats(eqx.Module):
    """Sufficient statistics of a batch: (sum of weights, weighted mean)."""

    count: Float[Array, ""]
    mean: Float[Array, ""]


def variance(kind: str, m: Float[Array, "..."]) -> Float[Array, "..."]:
    """The variance function V(m) = m + curvature m^2."""
    return m + CURVATURE[kind] * m**2


def poisson(key: PRNGKeyArray, rate: Float[Array, ""], n: int) -> Float[Array, " n"]:
    """``n`` Poisson(rate) draws shaped for ``vmap``: inversion for rate <= 10, where
    ``jax.random.poisson`` runs Knuth's loop (one uniform per draw per iteration, until the
    slowest lane is done); its transformed rejection above, the lanes that inverted getting a
    dummy rate at which rejection accepts at once."""
    small = rate <= INVERSION_MAX_MEAN
    k_inversion, k_rejection = jax.random.split(key)
    tabled = jnp.where(small, rate, 0.0)
    u = jax.random.uniform(k_inversion, (2, n), rate.dtype)
    first = jnp.full((n,), jnp.exp(-tabled))
    inverted = inversion(u, first, lambda x: tabled / (x + 1), inversion_bound(tabled, tabled),
                         jnp.broadcast_to(small, (n,)))
    rejected = jax.random.poisson(k_rejection, jnp.where(small, 1e5, rate), (n,)).astype(rate.dtype)
    return jnp.where(small, inverted, rejected)


def sample(key: PRNGKeyArray, kind: str, m: Float[Array, ""], n_max: int) -> Float[Array, " n_max"]:
    if kind == "poisson":
        return poisson(key, m, n_max)
    return jax.random.bernoulli(key, m, (n_max,)).astype(m.dtype)


def sample_stats(key: PRNGKeyArray, kind: str, m: Float[Array, ""], count: Float[Array, ""]) -> MeanStats:
    count = jnp.asarray(count, m.dtype)
    if kind == "poisson":
        total = jax.random.poisson(key, count * m).astype(m.dtype)
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
