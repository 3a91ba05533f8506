"""Gaussian mixtures: density, sampling, weighted EM with a fixed number of iterations,
k-means++ / data initialisation, and the closed-form L2 distance between two mixtures.

A mixture of K components in d dimensions is ``GaussianMixture(weights [K], means [K, d],
chols [K, d, d])`` with ``chols[k] @ chols[k].T = Sigma_k``. Data arrive as a fixed-capacity
buffer ``x [m, d]`` with per-row weights ``w [m]`` (0 masks a row), so a traced sample size or a
growing pool never changes a shape.

EM (Dempster, Laird & Rubin 1977), per iteration:
  E: r_ik = w_k N(x_i; mu_k, Sigma_k) / sum_j w_j N(x_i; mu_j, Sigma_j)
  M: N_k = sum_i w_i r_ik,  w_k = N_k / sum_i w_i,  mu_k = sum_i w_i r_ik x_i / N_k,
     Sigma_k = sum_i w_i r_ik (x_i - mu_k)(x_i - mu_k)^T / N_k + floor I
(``floor`` is scikit-learn's ``reg_covar``). A component left with N_k below 1e-8 of the data
keeps its previous mean and covariance. The iteration count is static; the change of the mean
log-likelihood over the last iteration is returned as a convergence report, never used for
control flow.
"""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
from jax.scipy.linalg import solve_triangular
from jax.scipy.special import logsumexp
from jax.scipy.stats import norm
from jaxtyping import Array, Float, PRNGKeyArray

EMPTY = 1e-8  # a component with less than this share of the data weight is left unchanged


class GaussianMixture(eqx.Module):
    weights: Float[Array, " k"]
    means: Float[Array, "k d"]
    chols: Float[Array, "k d d"]

    @property
    def covariances(self) -> Float[Array, "k d d"]:
        return self.chols @ jnp.swapaxes(self.chols, -1, -2)


def component_log_probs(model: GaussianMixture, x: Float[Array, "m d"]) -> Float[Array, "m k"]:
    """log w_k + log N(x_i; mu_k, Sigma_k), with z = L_k^{-1} (x - mu_k) as one batched matmul
    (K small triangular inverses, then GEMMs over the rows)."""
    k, d = model.means.shape
    eye = jnp.broadcast_to(jnp.eye(d, dtype=x.dtype), (k, d, d))
    inverse = solve_triangular(model.chols, eye, lower=True)  # [K, d, d]
    z = jnp.einsum("kij,mj->mki", inverse, x) - jnp.einsum("kij,kj->ki", inverse, model.means)
    log_norm = -jnp.sum(jnp.log(jnp.diagonal(model.chols, axis1=-2, axis2=-1)), -1) - 0.5 * d * jnp.log(2 * jnp.pi)
    return -0.5 * jnp.sum(z**2, axis=-1) + log_norm + jnp.log(model.weights)


def log_prob(model: GaussianMixture, x: Float[Array, "m d"]) -> Float[Array, " m"]:
    return logsumexp(component_log_probs(model, x), axis=-1)


def sample(key: PRNGKeyArray, model: GaussianMixture, m: int) -> Float[Array, "m d"]:
    """m draws: a component by its weight, then mu_k + L_k z."""
    k_component, k_normal = jax.random.split(key)
    component = jax.random.categorical(k_component, jnp.log(model.weights), shape=(m,))
    z = jax.random.normal(k_normal, (m, model.means.shape[-1]), model.means.dtype)
    return model.means[component] + jnp.einsum("mij,mj->mi", model.chols[component], z)


def _m_step(x, w, resp, floor, previous: GaussianMixture | None = None) -> GaussianMixture:
    """Weighted M-step from responsibilities ``resp [m, K]``."""
    d = x.shape[-1]
    mass = w[:, None] * resp  # [m, K]
    counts = jnp.sum(mass, axis=0)
    total = jnp.sum(w)
    safe = jnp.maximum(counts, 1e-30)
    means = (mass.T @ x) / safe[:, None]
    centered = x[None, :, :] - means[:, None, :]  # [K, m, d]
    covariances = jnp.einsum("mk,kmi,kmj->kij", mass, centered, centered) / safe[:, None, None]
    covariances = covariances + floor * jnp.eye(d, dtype=x.dtype)
    chols = jnp.linalg.cholesky(covariances)
    weights = counts / jnp.maximum(total, 1e-30)
    if previous is not None:
        empty = counts < EMPTY * total
        means = jnp.where(empty[:, None], previous.means, means)
        chols = jnp.where(empty[:, None, None], previous.chols, chols)
    return GaussianMixture(weights, means, chols)


def em(
    x: Float[Array, "m d"], w: Float[Array, " m"], start: GaussianMixture, iterations: int, floor
) -> tuple[GaussianMixture, Float[Array, ""]]:
    """``iterations`` EM steps from ``start``; returns the fit and the change of the weighted mean
    log-likelihood over the last step (the tolerance a stopping rule would test)."""
    total = jnp.maximum(jnp.sum(w), 1e-30)

    def iteration(carry, _):
        model, _ = carry
        logp = component_log_probs(model, x)
        norm_ = logsumexp(logp, axis=-1, keepdims=True)
        loglik = jnp.sum(w * norm_[:, 0]) / total
        return (_m_step(x, w, jnp.exp(logp - norm_), floor, model), loglik), loglik

    (model, _), trace = jax.lax.scan(iteration, (start, jnp.zeros((), x.dtype)), None, length=iterations)
    final = jnp.sum(w * log_prob(model, x)) / total
    return model, final - trace[-1]


def _centres(key, x, w, k: int, method: str) -> Float[Array, "k d"]:
    """``kmeans++``: D^2 sampling (Arthur & Vassilvitskii 2007); ``data``: k distinct valid rows
    chosen uniformly (Gumbel top-k)."""
    valid = w > 0
    if method == "data":
        gumbel = jax.random.gumbel(key, w.shape, x.dtype)
        return x[jax.lax.top_k(jnp.where(valid, gumbel, -jnp.inf), k)[1]]
    keys = jax.random.split(key, k)
    first = jax.random.categorical(keys[0], jnp.where(valid, 0.0, -jnp.inf))
    centres = jnp.zeros((k, x.shape[-1]), x.dtype).at[0].set(x[first])
    nearest = jnp.sum((x - x[first]) ** 2, axis=-1)

    def add(i, carry):
        centres, nearest = carry
        logits = jnp.where(valid & (nearest > 0), jnp.log(jnp.maximum(nearest, 1e-30)), -jnp.inf)
        # all remaining valid points coincide with a centre: fall back to any valid point
        logits = jnp.where(jnp.any(jnp.isfinite(logits)), logits, jnp.where(valid, 0.0, -jnp.inf))
        pick = jax.random.categorical(keys[i], logits)
        nearest = jnp.minimum(nearest, jnp.sum((x - x[pick]) ** 2, axis=-1))
        return centres.at[i].set(x[pick]), nearest

    return jax.lax.fori_loop(1, k, add, (centres, nearest))[0]


def initialise(key, x, w, k: int, method: str, floor) -> GaussianMixture:
    """Centres by ``method``, then one M-step from the hard nearest-centre labels (scikit-learn's
    recipe for responsibilities from a clustering)."""
    centres = _centres(key, x, w, k, method)
    labels = jnp.argmin(jnp.sum((x[:, None, :] - centres[None]) ** 2, axis=-1), axis=-1)
    model = _m_step(x, w, jax.nn.one_hot(labels, k, dtype=x.dtype), floor)
    # a centre that won no point keeps its own position and the data covariance
    counts = jnp.sum(w[:, None] * jax.nn.one_hot(labels, k, dtype=x.dtype), axis=0)
    spread = _m_step(x, w, jnp.ones((x.shape[0], 1), x.dtype), floor).chols[0]
    empty = counts <= 0
    return GaussianMixture(
        jnp.where(empty, 1.0 / k, model.weights) / jnp.sum(jnp.where(empty, 1.0 / k, model.weights)),
        jnp.where(empty[:, None], centres, model.means),
        jnp.where(empty[:, None, None], spread, model.chols),
    )


def overlap(a: GaussianMixture, b: GaussianMixture) -> Float[Array, ""]:
    """Closed form of the integral of p_a p_b: sum_ij a_i b_j N(mu_i - nu_j; 0, Sigma_i + T_j)."""
    d = a.means.shape[-1]
    cov = a.covariances[:, None] + b.covariances[None, :]  # [Ka, Kb, d, d]
    chol = jnp.linalg.cholesky(cov)
    diff = a.means[:, None, :] - b.means[None, :, :]
    z = solve_triangular(chol, diff[..., None], lower=True)[..., 0]
    log_density = (-0.5 * jnp.sum(z**2, -1) - jnp.sum(jnp.log(jnp.diagonal(chol, axis1=-2, axis2=-1)), -1)
                   - 0.5 * d * jnp.log(2 * jnp.pi))
    return jnp.sum(a.weights[:, None] * b.weights[None, :] * jnp.exp(log_density))


def l2_distance(a: GaussianMixture, b: GaussianMixture) -> Float[Array, ""]:
    """||p_a - p_b||_2 = sqrt(<a,a> + <b,b> - 2 <a,b>) (the square root of the note's formula)."""
    return jnp.sqrt(jnp.maximum(overlap(a, a) + overlap(b, b) - 2 * overlap(a, b), 0.0))


def marginal_tail_mass(model: GaussianMixture, low, high, axis: int = 0) -> Float[Array, ""]:
    """P(x_axis < low) + P(x_axis > high) under the mixture (each marginal is a 1-D Gaussian)."""
    mean = model.means[:, axis]
    sd = jnp.sqrt(model.covariances[:, axis, axis])
    return jnp.sum(model.weights * (norm.cdf((low - mean) / sd) + norm.sf((high - mean) / sd)))
