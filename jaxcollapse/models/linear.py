"""Linear-Gaussian regression family: least-squares generators and ridge fits, sampled
exactly through the design's Gram matrix so that sample sizes stay traced.

Covariates are x ~ N(0, Sigma) with Sigma = diag(eigenvalues) (the eigenbasis, without
loss of generality), labels y = x.w + noise. For m rows X (m x d) the fits depend on X only
through X^T X and X^T eps, and X^T X = L A A^T L (L = Sigma^1/2, A the Bartlett root of
Wishart(I, m), ``gaussian.bartlett_root``), X^T eps | X ~ N(0, s^2 X^T X) = s L A z. So a
fit costs O(d^3) whatever m is, and m can be a traced grid value.

Over-parameterised least squares (m < d rows, the min-norm interpolator) needs the rows
themselves: they are drawn into a d x d matrix whose rows m..d-1 are masked to zero
(``row_design``), so m stays traced there too.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jax.scipy.linalg import solve_triangular
from jaxtyping import Array, Float, PRNGKeyArray

from .gaussian import bartlett_root


def ols_refit(
    key: PRNGKeyArray,
    w: Float[Array, " d"],
    root: Float[Array, "d d"],
    scale: Float[Array, " d"],
    noise: Float[Array, ""],
) -> Float[Array, " d"]:
    """OLS on m >= d rows labelled by w plus N(0, noise^2): w + noise L^-T A^-T z, because
    the OLS error is N(0, noise^2 (X^T X)^-1) and (X^T X)^-1 = L^-T A^-T A^-1 L^-1.
    ``root`` is A (lower triangular, from ``bartlett_root(key, m, d)``), ``scale`` is diag L."""
    z = jax.random.normal(key, w.shape, w.dtype)
    return w + noise * solve_triangular(root.T, z, lower=False) / scale


def row_design(
    key: PRNGKeyArray, rows: Float[Array, ""], scale: Float[Array, " d"]
) -> tuple[Float[Array, "d d"], Float[Array, "d d"]]:
    """(X, C) for ``rows`` < d covariate rows: X is d x d with rows beyond ``rows`` zero, and
    C the Cholesky factor of X X^T with its empty block replaced by the identity."""
    d = scale.shape[0]
    live = jnp.arange(d) < rows
    x = jax.random.normal(key, (d, d), scale.dtype) * scale[None, :] * live[:, None]
    gram = jnp.where(live[:, None] & live[None, :], x @ x.T, jnp.eye(d, dtype=x.dtype))
    return x, jnp.linalg.cholesky(gram)


def min_norm_refit(
    key: PRNGKeyArray,
    w: Float[Array, " d"],
    x: Float[Array, "d d"],
    gram_factor: Float[Array, "d d"],
    rows: Float[Array, ""],
    noise: Float[Array, ""],
) -> Float[Array, " d"]:
    """Min-norm least squares X^+ y = X^T (X X^T)^-1 (X w + eps) on ``rows`` < d rows (the
    projection of w onto the row space plus noise); ``x``, ``gram_factor`` from ``row_design``.
    The masked rows keep ``rows`` traced; the identity block keeps the factor invertible."""
    live = jnp.arange(w.shape[0]) < rows
    labels = x @ w + noise * jnp.where(live, jax.random.normal(key, w.shape, w.dtype), 0.0)
    return x.T @ jax.scipy.linalg.cho_solve((gram_factor, True), labels)


def ridge_fit(
    key: PRNGKeyArray,
    w: Float[Array, " d"],
    rows: Float[Array, ""],
    scale: Float[Array, " d"],
    noise: Float[Array, ""],
    ridge: Float[Array, ""],
) -> Float[Array, " d"]:
    """Ridge (X^T X / m + lambda I)^-1 X^T y / m on m rows labelled by w plus N(0, noise^2),
    with X^T X = L A A^T L and X^T eps = noise L A z (exact for any m, singular when m < d)."""
    k_design, k_noise = jax.random.split(key)
    factor = scale[:, None] * bartlett_root(k_design, rows, w.shape[0], w.dtype)  # L A
    gram = factor @ factor.T / rows
    z = jax.random.normal(k_noise, w.shape, w.dtype)
    target = gram @ w + noise * (factor @ z) / rows
    system = gram + ridge * jnp.eye(w.shape[0], dtype=w.dtype)
    return jax.scipy.linalg.cho_solve(jax.scipy.linalg.cho_factor(system, lower=True), target)
