"""A union of class-specific low-rank subspaces (Cai et al.'s theory model), the closed-form
per-class probabilistic PCA fitted to it, and the geometry read-outs of the LSF study.

Truth: class c has an orthonormal basis U_c [dim, rank]; x = U_c z + noise * eps with z either
N(0, I_rank) or, with ``modes`` > 0, a mixture of ``modes`` equal-weight N(m_j, mode_sd^2 I)
whose centres m_j lie on a circle of radius 1 in z's first two coordinates.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jaxtyping import Array, Float, Int

from . import linalg


def class_bases(key, classes: int, dim: int, rank: int, overlap) -> Float[Array, "classes dim rank"]:
    """U_c = orth((1 - overlap) R_c + overlap R) with R_c, R iid N(0, 1): overlap 0 gives independent
    random subspaces, overlap -> 1 one shared subspace (principal angles -> 0)."""
    k_own, k_shared = jax.random.split(key)
    own = jax.random.normal(k_own, (classes, dim, rank))
    shared = jax.random.normal(k_shared, (dim, rank))
    q, _ = linalg.qr((1.0 - overlap) * own + overlap * shared[None])
    return q


def mode_centres(modes: int, rank: int) -> Float[Array, "modes rank"]:
    angle = 2 * jnp.pi * jnp.arange(modes) / modes
    circle = jnp.stack([jnp.cos(angle), jnp.sin(angle)], axis=1)
    return jnp.pad(circle, ((0, 0), (0, rank - 2)))  # the study refuses modes at rank < 2


def sample_truth(key, bases, labels: Int[Array, " n"], noise, modes: int, mode_sd) -> Float[Array, "n dim"]:
    """x_i = U_{y_i} z_i + noise * eps_i."""
    k_z, k_mode, k_eps = jax.random.split(key, 3)
    _, dim, rank = bases.shape
    z = jax.random.normal(k_z, (labels.shape[0], rank), bases.dtype)
    if modes:
        centres = mode_centres(modes, rank).astype(bases.dtype)
        z = centres[jax.random.randint(k_mode, labels.shape, 0, modes)] + mode_sd * z
    eps = jax.random.normal(k_eps, (labels.shape[0], dim), bases.dtype)
    return jnp.einsum("ndr,nr->nd", bases[labels], z) + noise * eps


def fit_ppca(x: Float[Array, "n dim"], labels: Int[Array, " n"], weights: Float[Array, " n"], classes: int, rank: int):
    """Per-class maximum-likelihood PPCA (Tipping & Bishop 1999, Eqs. 7-8) of the weighted rows.

    S_c = weighted covariance of class c; with eigenpairs (l_i, u_i) in decreasing order,
    noise_var_c = mean(l_{rank+1..dim}), factor_c = U_rank (diag(l_1..rank) - noise_var_c)^{1/2}.
    Returns dict(mean [C, dim], basis [C, dim, rank] (orthonormal U_rank), factor, noise_var [C]).
    """
    member = (labels[None, :] == jnp.arange(classes)[:, None]) * weights[None, :]  # [C, n]
    total = jnp.maximum(member.sum(1), 1e-12)
    mean = member @ x / total[:, None]
    centred = x[None] - mean[:, None]  # [C, n, dim]
    cov = jnp.einsum("cn,cnd,cne->cde", member, centred, centred) / total[:, None, None]
    values, vectors = linalg.eigh(cov)  # ascending
    values, vectors = values[:, ::-1], vectors[:, :, ::-1]
    dim = x.shape[1]
    noise_var = jnp.maximum(values[:, rank:].mean(1), 0.0) if rank < dim else jnp.zeros(classes, x.dtype)
    basis = vectors[:, :, :rank]
    scale = jnp.sqrt(jnp.maximum(values[:, :rank] - noise_var[:, None], 0.0))
    return {"mean": mean, "basis": basis, "factor": basis * scale[:, None, :], "noise_var": noise_var}


def sample_ppca(key, fit, labels: Int[Array, " n"]) -> Float[Array, "n dim"]:
    """x = mean_y + factor_y z + sqrt(noise_var_y) eps."""
    k_z, k_eps = jax.random.split(key)
    _, dim, rank = fit["factor"].shape
    z = jax.random.normal(k_z, (labels.shape[0], rank), fit["mean"].dtype)
    eps = jax.random.normal(k_eps, (labels.shape[0], dim), fit["mean"].dtype)
    return (fit["mean"][labels] + jnp.einsum("ndr,nr->nd", fit["factor"][labels], z)
            + jnp.sqrt(fit["noise_var"][labels])[:, None] * eps)


def principal_cosines(a: Float[Array, "dim p"], b: Float[Array, "dim q"]) -> Float[Array, " k"]:
    """Cosines of the principal angles between span(a) and span(b) (orthonormal columns): the
    singular values of a^T b, in decreasing order."""
    return jnp.clip(linalg.svdvals(a.T @ b), 0.0, 1.0)


def orthogonal_low_rank_excess(features: Float[Array, "n h"], labels: Int[Array, " n"], classes: int) -> Array:
    """OLE = sum_c ||M_c||_* - ||M||_* (Lezama et al. 2018), with the rows of ``features`` the
    samples (M's columns) and M_c the rows of class c. >= 0 (the nuclear norm is sub-additive
    over column blocks), 0 iff the class spans are mutually orthogonal."""
    per_class = jax.vmap(lambda c: linalg.nuclear_norm(features * (labels == c)[:, None]))(jnp.arange(classes))
    return per_class.sum() - linalg.nuclear_norm(features)
