"""Kernel density estimates in 2-D and the toy data sets they are fitted to.

A KDE is its data: rows ``x [rows, d]`` with weights ``w [rows]`` (0: not a data point), and a
bandwidth h:
  p(y) = sum_i w_i K_h(y - x_i) / sum_i w_i,
  gaussian  K_h(u) = N(u; 0, h^2 I),   tophat  K_h(u) = 1{|u| < h} / (volume of the radius-h ball).
Sampling picks a row with probability w_i / sum w and adds a kernel draw (tophat: uniform in the
ball). ``log_density`` runs over the rows in tiles of ``TILE`` with a running log-sum-exp, up to
a traced ``extent`` (the rows written so far), so a growing pool costs what its written rows cost,
not its capacity; with a fixed bandwidth an appended batch only adds its own kernel sum
(``log_kernel_sum``), so the ``kde`` study scores an accumulating pool at the cost of the new batch.

Toy sets (scikit-learn's shapes, drawn in JAX with random rather than evenly spaced angles):
  blobs    3 isotropic Gaussians of sd ``blob_std`` centred on a circle of radius 2
  moons    two interleaved half circles (make_moons), plus N(0, noise^2 I)
  circles  two concentric circles of radii 1 and 0.5 (make_circles, factor 0.5), plus noise
  swiss    the 2-D swiss roll t (cos t, sin t) / 10, t = 1.5 pi (1 + 2u), plus noise
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from jax.scipy.special import gammaln
from jaxtyping import Array, Float, Int, PRNGKeyArray

DATASETS = ("blobs", "moons", "circles", "swiss")
KERNELS = ("gaussian", "tophat")
TILE = 512  # rows per tile of the log-sum-exp
BLOB_RADIUS = 2.0


def blob_centres() -> np.ndarray:
    angle = 2 * np.pi * np.arange(3) / 3 + np.pi / 2
    return BLOB_RADIUS * np.stack([np.cos(angle), np.sin(angle)], -1)


def sample_toy(key: PRNGKeyArray, dataset: Int[Array, ""], m: int, noise, blob_std, dtype=jnp.float32):
    """m points of toy set number ``dataset`` (index into DATASETS; traced: all four are drawn
    and one is selected, which costs nothing next to a generation)."""
    k_u, k_half, k_blob, k_noise = jax.random.split(key, 4)
    u = jax.random.uniform(k_u, (m,), dtype)
    half = jax.random.bernoulli(k_half, 0.5, (m,))
    gauss = jax.random.normal(k_noise, (m, 2), dtype)
    centres = jnp.asarray(blob_centres(), dtype)[jax.random.randint(k_blob, (m,), 0, 3)]
    blobs = centres + blob_std * gauss
    theta = jnp.pi * u
    moons = jnp.where(half[:, None], jnp.stack([jnp.cos(theta), jnp.sin(theta)], -1),
                      jnp.stack([1 - jnp.cos(theta), 0.5 - jnp.sin(theta)], -1)) + noise * gauss
    ring = jnp.stack([jnp.cos(2 * theta), jnp.sin(2 * theta)], -1)
    circles = jnp.where(half[:, None], ring, 0.5 * ring) + noise * gauss
    t = 1.5 * jnp.pi * (1 + 2 * u)
    swiss = jnp.stack([t * jnp.cos(t), t * jnp.sin(t)], -1) / 10 + noise * gauss
    return jnp.select([dataset == i for i in range(4)], [blobs, moons, circles, swiss])


def _log_kernel(sq_dist, h, kernel: Int[Array, ""], d: int):
    gaussian = -0.5 * sq_dist / h**2 - 0.5 * d * jnp.log(2 * jnp.pi * h**2)
    log_volume = 0.5 * d * jnp.log(jnp.pi) - gammaln(0.5 * d + 1) + d * jnp.log(h)
    tophat = jnp.where(sq_dist < h**2, -log_volume, -jnp.inf)
    return jnp.where(kernel == 0, gaussian, tophat)


def log_kernel_sum(
    queries: Float[Array, "q d"], x: Float[Array, "rows d"], weight: Float[Array, " rows"], h, kernel, extent=None
) -> Float[Array, " q"]:
    """log sum_i w_i K_h(y - x_i) for every query, over the first ``extent`` rows (default all)."""
    rows, d = x.shape
    tile = min(TILE, rows)
    pad = -rows % tile  # whole tiles (dynamic_slice would clamp a last partial one)
    x = jnp.pad(x, ((0, pad), (0, 0)))
    log_weight = jnp.pad(jnp.where(weight > 0, jnp.log(jnp.where(weight > 0, weight, 1.0)), -jnp.inf), (0, pad),
                         constant_values=-jnp.inf)

    def body(i, carry):
        top, total = carry
        block = jax.lax.dynamic_slice_in_dim(x, i * tile, tile)
        sq = jnp.sum((queries[:, None, :] - block[None]) ** 2, -1)
        logk = _log_kernel(sq, h, kernel, d) + jax.lax.dynamic_slice_in_dim(log_weight, i * tile, tile)[None]
        new_top = jnp.maximum(top, jnp.max(logk, axis=1))
        safe = jnp.where(jnp.isfinite(new_top), new_top, 0.0)
        total = total * jnp.exp(jnp.where(jnp.isfinite(top), top - safe, -jnp.inf)) + jnp.sum(
            jnp.exp(logk - safe[:, None]), axis=1)
        return new_top, total

    start = (jnp.full(queries.shape[0], -jnp.inf, x.dtype), jnp.zeros(queries.shape[0], x.dtype))
    extent = rows if extent is None else extent
    tiles = (extent + tile - 1) // tile
    top, total = jax.lax.fori_loop(0, tiles, body, start)
    return jnp.where(total > 0, top + jnp.log(jnp.where(total > 0, total, 1.0)), -jnp.inf)


def log_density(queries: Float[Array, "q d"], x: Float[Array, "rows d"], weight, h, kernel) -> Float[Array, " q"]:
    """log p(y) for every query: the KDE of the weighted rows."""
    return log_kernel_sum(queries, x, weight, h, kernel) - jnp.log(jnp.sum(weight))


def sample(key: PRNGKeyArray, x: Float[Array, "rows d"], weight, h, kernel, m: int) -> Float[Array, "m d"]:
    """m draws: a row with probability w_i / sum w (inverting the weights' running sum) plus a
    kernel draw."""
    k_row, k_dir, k_radius = jax.random.split(key, 3)
    d = x.shape[-1]
    cumulative = jnp.cumsum(weight)
    u = jax.random.uniform(k_row, (m,), x.dtype) * cumulative[-1]
    last = x.shape[0] - 1 - jnp.argmax(weight[::-1] > 0)  # where u * total rounds up to total
    row = jnp.minimum(jnp.searchsorted(cumulative, u, side="right"), last)
    direction = jax.random.normal(k_dir, (m, d), x.dtype)
    unit = direction / jnp.linalg.norm(direction, axis=-1, keepdims=True)
    radius = jax.random.uniform(k_radius, (m, 1), x.dtype) ** (1.0 / d)
    offset = jnp.where(kernel == 0, direction, unit * radius) * h
    return x[row] + offset


def moments(x: Float[Array, "rows d"], weight) -> tuple[Array, Array]:
    """(sum of weights, mean per-coordinate variance) of the weighted rows."""
    total = jnp.sum(weight)
    mean = jnp.sum(weight[:, None] * x, 0) / total
    return total, jnp.sum(weight[:, None] * (x - mean) ** 2) / (total * x.shape[-1])


def kernel_variance(h, kernel, d: int = 2):
    """Per-coordinate variance of a kernel draw: h^2 (gaussian), h^2 / (d + 2) (uniform ball)."""
    return jnp.where(kernel == 0, h**2, h**2 / (d + 2))


def blob_overlap(variance: float, blob_std: float) -> float:
    """Integral of p*(y) (p* convolved with N(0, variance I))(y) dy for the blobs truth:
    sum_ab (1/9) N(c_a - c_b; 0, (2 s^2 + variance) I) in 2-D (the test-set mean density oracle)."""
    centres = blob_centres()
    v = 2 * blob_std**2 + variance
    sq = np.sum((centres[:, None] - centres[None]) ** 2, -1)
    return float(np.mean(np.exp(-0.5 * sq / v) / (2 * np.pi * v)))
