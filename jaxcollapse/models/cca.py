"""Canonical correlation: the total correlation objective, linear CCA, and the read-outs used
to judge a representation (cross-validated ridge R^2, effective rank of a matrix).

Total correlation (He et al. 2024, Eq. 2; CCA-Zoo's objective):
  Corr(H1, H2) = || (S11 + rI)^(-1/2) S12 (S22 + rI)^(-1/2) ||_*
with S the sample covariances of the centred columns and ||.||_* the nuclear norm (the sum of the
canonical correlations). Any whitening W_k with W_k (S_kk + rI) W_k^T = I gives the same singular
values, so the inverse Cholesky factors K_k = L_k^-1 of S_kk + rI are used (T = K1 S12 K2^T).
Both K_k and the nuclear norm come from ``jaxcollapse.models.linalg``: serial under vmap (a step holds
several independent factorisations, which batched LAPACK calls can deadlock on) and with their
own JVPs.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jaxtyping import Array, Float

from . import linalg


def _whitened_cross(h1, h2, ridge):
    n = h1.shape[0]
    h1 = h1 - h1.mean(0)
    h2 = h2 - h2.mean(0)
    k1 = linalg.inverse_cholesky(h1.T @ h1 / (n - 1) + ridge * jnp.eye(h1.shape[1], dtype=h1.dtype))
    k2 = linalg.inverse_cholesky(h2.T @ h2 / (n - 1) + ridge * jnp.eye(h2.shape[1], dtype=h2.dtype))
    return k1 @ (h1.T @ h2 / (n - 1)) @ k2.T, k1, k2


def total_correlation(h1: Float[Array, "n a"], h2: Float[Array, "n b"], ridge=1e-3) -> Float[Array, ""]:
    """Sum of the canonical correlations between the columns of h1 and h2 (differentiable)."""
    return linalg.nuclear_norm(_whitened_cross(h1, h2, ridge)[0])


def linear_cca(x1, x2, components: int, ridge=1e-3):
    """Closed-form CCA: projections P_k = K_k^T (top singular vectors) [D_k, components]."""
    t, k1, k2 = _whitened_cross(x1, x2, ridge)
    u, _, vt = linalg.svd(t)
    return k1.T @ u[:, :components], k2.T @ vt.T[:, :components]


def ridge_cv_r2(z: Float[Array, "n p"], targets: Float[Array, "n tasks"], ridge, folds: int) -> Float[Array, ""]:
    """Mean over tasks and ``folds`` contiguous folds of the held-out R^2 of ridge regression
    (features and targets centred on the training folds, penalty ``ridge``)."""
    n, p = z.shape
    fold = jnp.arange(n) * folds // n

    def one(k):
        train = (fold != k).astype(z.dtype)[:, None]
        count = jnp.sum(train)
        z_mean, t_mean = jnp.sum(train * z, 0) / count, jnp.sum(train * targets, 0) / count
        zc, tc = (z - z_mean) * train, (targets - t_mean) * train
        weights = linalg.solve(zc.T @ zc + ridge * jnp.eye(p, dtype=z.dtype), zc.T @ tc)
        test = 1.0 - train
        residual = ((z - z_mean) @ weights - (targets - t_mean)) * test
        centred = (targets - jnp.sum(test * targets, 0) / jnp.sum(test)) * test
        return jnp.mean(1.0 - jnp.sum(residual**2, 0) / jnp.sum(centred**2, 0))

    return jnp.mean(jax.vmap(one)(jnp.arange(folds)))


def normalized_singular_sum(w: Float[Array, "a b"]) -> Float[Array, ""]:
    """NESum, the effective-rank proxy of He et al.: sum_i s_i / s_max (1 for rank one, min(a, b)
    for a matrix with equal singular values); the paper note's reading of 'normalized eigenvalue sum'."""
    s = linalg.svdvals(w)
    return jnp.sum(s) / s[0]


def linear_reconstruction_error(h: Float[Array, "n p"], x: Float[Array, "n d"], ridge=1e-3) -> Float[Array, ""]:
    """||x - h W||^2 / ||x||^2 for the ridge-optimal linear map W (centred): how much of x a
    representation h still carries."""
    h = h - h.mean(0)
    x = x - x.mean(0)
    w = linalg.solve(h.T @ h + ridge * jnp.eye(h.shape[1], dtype=h.dtype), h.T @ x)
    return jnp.sum((x - h @ w) ** 2) / jnp.sum(x**2)
