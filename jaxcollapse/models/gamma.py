"""Gamma and chi-square draws shaped for ``vmap`` (Marsaglia & Tsang 2000).

``jax.random.gamma`` runs a rejection loop per element that splits its key at every trip, with
a nested loop for proposals outside the support; under ``vmap`` inside a generation scan that is
1.7-2x slower than the loop here and dominated the exact Gaussian sampler (benchmarks/README,
stop 37). Here each trip makes one proposal per lane from a single key (two uniforms, one hash)
and ``scalar.rejection`` repeats trips only while some lane has not accepted. Exact: a
proposal is kept with the Marsaglia-Tsang acceptance probability, with no bound on the trips.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jaxtyping import Array, Float, PRNGKeyArray

from .scalar import rejection


def _proposal(key, a, dtype):
    """One Marsaglia-Tsang proposal per lane for Gamma(a >= 1): x ~ N(0, 1), v = (1 + c x)^3 with
    d = a - 1/3, c = 1/sqrt(9 d); d v is accepted if v > 0 and u < 1 - 0.0331 x^4 (the squeeze)
    or log u < x^2/2 + d (1 - v + log v)."""
    d = a - 1.0 / 3
    u = jax.random.uniform(key, (2,) + a.shape, dtype, minval=jnp.finfo(dtype).tiny)
    x = jnp.sqrt(jnp.asarray(2.0, dtype)) * jax.lax.erf_inv(2 * u[0] - 1)
    v = (1 + x * jax.lax.rsqrt(9 * d)) ** 3
    x2 = x * x
    safe = jnp.where(v > 0, v, 1.0)
    accept = (v > 0) & ((u[1] < 1 - 0.0331 * x2 * x2) | (jnp.log(u[1]) < 0.5 * x2 + d * (1 - safe + jnp.log(safe))))
    return d * safe, accept


def gamma(key: PRNGKeyArray, shape: Float[Array, "*b"]) -> Float[Array, "*b"]:
    """Gamma(shape, 1) draws. A shape below 1 is boosted: Gamma(a) = Gamma(a + 1) U^(1/a). A
    shape <= 0 gives 0 and a NaN shape NaN (their lanes propose from Gamma(1), so the loop ends)."""
    shape = jnp.asarray(shape)
    dtype = shape.dtype if jnp.issubdtype(shape.dtype, jnp.floating) else jnp.float32
    shape = shape.astype(dtype)
    positive = shape > 0
    boost = shape < 1
    a = jnp.where(positive, jnp.where(boost, shape + 1, shape), 1.0)
    k_proposals, k_boost = jax.random.split(key)
    draw = rejection(k_proposals, lambda k: _proposal(k, a, dtype), jnp.zeros(a.shape, bool))
    u = jax.random.uniform(k_boost, a.shape, dtype, minval=jnp.finfo(dtype).tiny)
    draw = jnp.where(boost, draw * u ** (1 / jnp.where(positive, shape, 1.0)), draw)
    return jnp.where(positive, draw, jnp.where(jnp.isnan(shape), jnp.nan, 0.0))


def chisquare(key: PRNGKeyArray, df: Float[Array, "*b"]) -> Float[Array, "*b"]:
    """chi-square(df) = 2 Gamma(df / 2); 0 for df <= 0."""
    return 2.0 * gamma(key, jnp.asarray(df) / 2)
