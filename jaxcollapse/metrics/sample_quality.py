"""Sample-quality read-outs of a generative model against held-out real data."""

from __future__ import annotations

import jax.numpy as jnp
from jaxtyping import Array, Float

from ..models import linalg


def _sqrt_psd(cov):
    values, vectors = linalg.eigh(cov)
    return (vectors * jnp.sqrt(jnp.maximum(values, 0.0))) @ vectors.T


def frechet_distance(x: Float[Array, "n d"], y: Float[Array, "m d"]) -> Array:
    """||mu_x - mu_y||^2 + tr(S_x + S_y - 2 (S_x^1/2 S_y S_x^1/2)^1/2) between the Gaussians of
    the two samples (Heusel et al. 2017's FID formula, on the raw coordinates; ddof = 1)."""
    mx, my = x.mean(0), y.mean(0)
    sx = jnp.cov(x, rowvar=False).reshape(x.shape[1], x.shape[1])
    sy = jnp.cov(y, rowvar=False).reshape(x.shape[1], x.shape[1])
    root = _sqrt_psd(sx)
    cross = jnp.sum(jnp.sqrt(jnp.maximum(linalg.eigvalsh(root @ sy @ root), 0.0)))
    return jnp.sum((mx - my) ** 2) + jnp.trace(sx) + jnp.trace(sy) - 2.0 * cross


def _squared_distances(a, b):
    return jnp.maximum(jnp.sum(a**2, 1)[:, None] + jnp.sum(b**2, 1)[None, :] - 2.0 * a @ b.T, 0.0)


def _kth_neighbour_radius(x, k: int):
    """Squared distance of each row to its k-th nearest other row: k passes of a row minimum,
    each dropping the current nearest (exact for distinct distances; much faster than top_k on
    a CPU)."""
    d = _squared_distances(x, x) + jnp.diag(jnp.full(x.shape[0], jnp.inf, x.dtype))
    for _ in range(k - 1):
        d = jnp.where(d <= d.min(1, keepdims=True), jnp.inf, d)
    return d.min(1)


def knn_precision_recall(real: Float[Array, "n d"], fake: Float[Array, "m d"], k: int) -> tuple[Array, Array]:
    """Kynkaanniemi et al. (2019): precision = share of fake rows inside some real row's k-NN
    ball (radius: distance to its k-th nearest real neighbour); recall = share of real rows
    inside some fake row's k-NN ball."""
    cross = _squared_distances(fake, real)  # [m, n]
    precision = jnp.mean(jnp.any(cross <= _kth_neighbour_radius(real, k)[None, :], axis=1))
    recall = jnp.mean(jnp.any(cross.T <= _kth_neighbour_radius(fake, k)[None, :], axis=1))
    return precision, recall


def mmd2_unbiased(x: Float[Array, "n d"], y: Float[Array, "m d"], bandwidth) -> Array:
    """Unbiased squared MMD with the Gaussian kernel exp(-|a - b|^2 / (2 h^2)) (Gretton et al. 2012,
    Eq. 3): off-diagonal means within each sample minus twice the cross mean. Its expectation is
    exactly 0 when both samples come from one distribution."""
    def kernel(a, b):
        return jnp.exp(-_squared_distances(a, b) / (2.0 * bandwidth**2))

    n, m = x.shape[0], y.shape[0]
    kxx, kyy = kernel(x, x), kernel(y, y)
    within_x = (jnp.sum(kxx) - jnp.trace(kxx)) / (n * (n - 1))
    within_y = (jnp.sum(kyy) - jnp.trace(kyy)) / (m * (m - 1))
    return within_x + within_y - 2.0 * jnp.mean(kernel(x, y))


def nearest_centre(x: Float[Array, "n d"], centres: Float[Array, "k d"]) -> tuple[Array, Array]:
    """Index of, and Euclidean distance to, each row's nearest centre."""
    d = _squared_distances(x, centres)
    return jnp.argmin(d, 1), jnp.sqrt(jnp.min(d, 1))
