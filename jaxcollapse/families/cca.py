"""Canonical correlation: the total correlation objective, linear CCA, and the read-outs used
to judge a representation (cross-validated ridge R^2, effective rank of a matrix).

Total correlation (He et al. 2024, Eq. 2; CCA-Zoo's objective):
  Corr(H1, H2) = || (S11 + rI)^(-1/2) S12 (S22 + rI)^(-1/2) ||_*
with S the sample covariances of the centred columns and ||.||_* the nuclear norm (the sum of the
canonical correlations). Any whitening W_k with W_k (S_kk + rI) W_k^T = I gives the same singular
values, so the Cholesky factors L_k of S_kk + rI are used (T = L1^-1 S12 L2^-T). The nuclear
norm has a custom JVP, d||T||_* = tr(U^T dT V), which is well defined whenever T has full rank,
whereas differentiating U, S and V separately divides by s_i^2 - s_j^2 and fails on ties.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jax.scipy.linalg import solve_triangular
from jaxtyping import Array, Float


@jax.custom_jvp
def nuclear_norm(t: Float[Array, "a b"]) -> Float[Array, ""]:
    return jnp.sum(jnp.linalg.svd(t, compute_uv=False))


@nuclear_norm.defjvp
def _nuclear_norm_jvp(primals, tangents):
    (t,), (dt,) = primals, tangents
    u, s, vt = jnp.linalg.svd(t, full_matrices=False)
    return jnp.sum(s), jnp.sum(u * (dt @ vt.T))


def _whitened_cross(h1, h2, ridge):
    n = h1.shape[0]
    h1 = h1 - h1.mean(0)
    h2 = h2 - h2.mean(0)
    l1 = jnp.linalg.cholesky(h1.T @ h1 / (n - 1) + ridge * jnp.eye(h1.shape[1], dtype=h1.dtype))
    l2 = jnp.linalg.cholesky(h2.T @ h2 / (n - 1) + ridge * jnp.eye(h2.shape[1], dtype=h2.dtype))
    cross = h1.T @ h2 / (n - 1)
    return solve_triangular(l2, solve_triangular(l1, cross, lower=True).T, lower=True).T, l1, l2


def total_correlation(h1: Float[Array, "n a"], h2: Float[Array, "n b"], ridge=1e-3) -> Float[Array, ""]:
    """Sum of the canonical correlations between the columns of h1 and h2 (differentiable)."""
    return nuclear_norm(_whitened_cross(h1, h2, ridge)[0])


def linear_cca(x1, x2, components: int, ridge=1e-3):
    """Closed-form CCA: projections P_k [D_k, components] onto the top canonical directions."""
    t, l1, l2 = _whitened_cross(x1, x2, ridge)
    u, _, vt = jnp.linalg.svd(t, full_matrices=False)
    p1 = solve_triangular(l1.T, u[:, :components], lower=False)
    p2 = solve_triangular(l2.T, vt.T[:, :components], lower=False)
    return p1, p2


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
        weights = jnp.linalg.solve(zc.T @ zc + ridge * jnp.eye(p, dtype=z.dtype), zc.T @ tc)
        test = 1.0 - train
        residual = ((z - z_mean) @ weights - (targets - t_mean)) * test
        centred = (targets - jnp.sum(test * targets, 0) / jnp.sum(test)) * test
        return jnp.mean(1.0 - jnp.sum(residual**2, 0) / jnp.sum(centred**2, 0))

    return jnp.mean(jax.vmap(one)(jnp.arange(folds)))


def normalized_singular_sum(w: Float[Array, "a b"]) -> Float[Array, ""]:
    """NESum, the effective-rank proxy of He et al.: sum_i s_i / s_max (1 for rank one, min(a, b)
    for a matrix with equal singular values); the paper note's reading of 'normalized eigenvalue sum'."""
    s = jnp.linalg.svd(w, compute_uv=False)
    return jnp.sum(s) / s[0]


def linear_reconstruction_error(h: Float[Array, "n p"], x: Float[Array, "n d"], ridge=1e-3) -> Float[Array, ""]:
    """||x - h W||^2 / ||x||^2 for the ridge-optimal linear map W (centred): how much of x a
    representation h still carries."""
    h = h - h.mean(0)
    x = x - x.mean(0)
    w = jnp.linalg.solve(h.T @ h + ridge * jnp.eye(h.shape[1], dtype=h.dtype), h.T @ x)
    return jnp.sum((x - h @ w) ** 2) / jnp.sum(x**2)
