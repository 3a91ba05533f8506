"""Multivariate Gaussian family: sufficient statistics, MLE fit, explicit and exact samplers.

Everything is carried in *square-root form*: a batch of samples is summarised by
``GaussianStats(count, mean, root)`` with ``root @ root.T`` the scatter matrix
``sum_i (x_i - mean)(x_i - mean)^T``, and a fitted model by its mean and a lower-triangular
``factor`` with ``factor @ factor.T = Sigma``. Square roots stay valid for singular
covariances (n <= d), and merging two batches is a QR of stacked roots (Chan et al.'s
parallel update of the scatter), so nothing ever calls a Cholesky on a matrix that may
be singular.

Two samplers produce the statistics of ``n`` i.i.d. standard normals in ``d`` dimensions:

* ``explicit``: draw ``n_max`` rows, mask all but the first ``n`` (``n`` is traced);
* ``exact``: draw the statistics themselves, ``zbar ~ N(0, I/n)`` and the scatter's
  Bartlett factor, ``W ~ Wishart(I, n-1)`` (masked for ``n - 1 < d``), at a cost
  independent of ``n``.

Samples of N(mu, Sigma) are the push-forward ``x = mu + F z`` of standard batches, so the
``log det`` of a purely synthetic refit can be updated exactly in the standard frame
(``log det Sigma' = log det Sigma + log det S_z - d log(n - ddof)``) even when the
covariance itself underflows.
"""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, Float, Int, PRNGKeyArray

from .gamma import gamma
from .lanes import lane_batched, lanes_draw_normals, standard_normal_lanes, typed_key


class GaussianStats(eqx.Module):
    """Sufficient statistics of a batch: count, mean [d], scatter square root [d, d], and
    log det(root root^T), tracked exactly through ``push_forward`` (so a purely synthetic refit
    keeps an exact log det even where the scatter itself underflows)."""

    count: Float[Array, ""]
    mean: Float[Array, " d"]
    root: Float[Array, "d d"]
    log_det: Float[Array, ""]


class GaussianModel(eqx.Module):
    """A fitted Gaussian: mean, lower-triangular covariance factor, and log det Sigma."""

    mean: Float[Array, " d"]
    factor: Float[Array, "d d"]
    log_det: Float[Array, ""]


def _triangular_root(rows: Float[Array, "m d"]) -> Float[Array, "d d"]:
    """Lower-triangular L with L L^T = rows^T rows (QR; valid when rows^T rows is singular)."""
    m, d = rows.shape
    if d == 1:
        return jnp.sqrt(jnp.sum(rows**2)).reshape(1, 1)
    if m < d:
        rows = jnp.concatenate([rows, jnp.zeros((d - m, d), rows.dtype)])
    return jnp.linalg.qr(rows, mode="r").T


def log_det_of_root(root: Float[Array, "d d"]) -> Float[Array, ""]:
    """log det(root root^T) for a triangular root; -inf when singular."""
    return 2.0 * jnp.sum(jnp.log(jnp.abs(jnp.diagonal(root))))


def stats_from_samples(
    x: Float[Array, "m d"], weight: Float[Array, " m"], full_rank: bool = False
) -> GaussianStats:
    """Weighted statistics: count = sum w, mean = sum w x / count, scatter = sum w (x-mean)^2.

    ``full_rank`` (static: the caller knows count > d) takes the root as the Cholesky factor
    of the Gram matrix, a GEMM, about 30% faster than a QR of the m x d samples. In one
    dimension the statistics are one pass (``_one_pass_scalar``)."""
    if x.shape[1] == 1:
        return _one_pass_scalar(x[:, 0], weight)
    count = jnp.sum(weight)
    mean = jnp.sum(weight[:, None] * x, axis=0) / jnp.maximum(count, 1e-30)
    centered = jnp.sqrt(weight)[:, None] * (x - mean)
    root = jnp.linalg.cholesky(centered.T @ centered) if full_rank else _triangular_root(centered)
    return GaussianStats(count, mean, root, log_det_of_root(root))


def _one_pass_scalar(x: Float[Array, " m"], weight: Float[Array, " m"]) -> GaussianStats:
    """One-dimensional statistics in a single pass, shifted by the first weighted value c:
    with y = x - c, S1 = sum w y, S2 = sum w y^2 (``_scalar_stats``). c is one of the samples, so
    the cancellation is that of data within a few standard deviations of its mean, a few ulps.
    The three sums are one variadic reduction, so XLA computes each sample once (the two-pass
    form computed them twice). The explicit sampler's own 1-d batches (threefry keys) take
    ``_standard_sums``."""
    shift = x[jnp.argmax(weight > 0)]
    y = x - shift
    terms = (weight, weight * y, weight * y * y)
    zero = jnp.zeros((), terms[2].dtype)  # the operands' common dtype (float16 data, float32 weights)
    count, s1, s2 = jax.lax.reduce(tuple(t.astype(zero.dtype) for t in terms), (zero,) * 3,
                                   lambda a, b: (a[0] + b[0], a[1] + b[1], a[2] + b[2]), (0,))
    return _scalar_stats(count, s1, s2, shift)


def _scalar_stats(count, s1, s2, shift=0.0) -> GaussianStats:
    """One-dimensional statistics from the sums of a batch shifted by c (count = sum w,
    S1 = sum w (x - c), S2 = sum w (x - c)^2): mean = c + S1 / count and scatter =
    S2 - S1^2 / count, the shifted-data formula. An empty batch has mean 0 and root 0."""
    safe = jnp.maximum(count, 1e-30)
    mean = jnp.where(count > 0, shift + s1 / safe, 0.0)
    root = jnp.sqrt(jnp.maximum(s2 - s1 * (s1 / safe), 0.0)).reshape(1, 1)
    return GaussianStats(count, mean.reshape(1), root, log_det_of_root(root))


@lane_batched
def _standard_sums(keys: PRNGKeyArray, ends: Int[Array, "lanes b"], *, rows: int, dtype) -> Float[Array, "lanes b 3"]:
    """(count, S1 = sum z, S2 = sum z^2) of every lane's batches: batch i is rows ends[i - 1]
    .. ends[i] - 1 (with ends[i - 1] = 0 for i = 0) of ``rows`` standard normals, bitwise those of
    ``jax.random.normal(key, (rows, 1))`` (``lanes.standard_normal_lanes``). Lanes last, so
    each row's sums update every lane at once, and the count is ends[i] - ends[i - 1] (clipped
    to the rows), not a third sum: 2-3x faster than the vmapped variadic reduction
    (benchmarks/README, "Stop 41"). The sums are not shifted: standard normals need no shift
    (S2 - S1^2 / count loses a few ulps of S2 ~ count, about the scatter's size), and a batch of
    one sample gets scatter exactly 0 in ``standard_batches``."""
    z = standard_normal_lanes(keys, rows, dtype)
    row = jax.lax.broadcasted_iota(jnp.int32, z.shape, 0)
    bounds = jnp.clip(jnp.concatenate([jnp.zeros_like(ends[:, :1]), ends], axis=1), 0, rows).T  # [b + 1, lanes]
    out = []
    for start, end in zip(bounds[:-1], bounds[1:]):
        inside = jnp.where((row >= start) & (row < end), z, 0.0)
        out.append(jnp.stack([jnp.maximum(end - start, 0).astype(dtype), inside.sum(0), (inside * inside).sum(0)], axis=-1))
    return jnp.stack(out, axis=1)


def merge(a: GaussianStats, b: GaussianStats) -> GaussianStats:
    """Pool two batches (Chan et al.): S = S_a + S_b + (n_a n_b / n) delta delta^T. Merging with
    an empty batch (count 0) returns the other one exactly."""
    count = a.count + b.count
    safe = jnp.maximum(count, 1e-30)
    delta = b.mean - a.mean
    mean = a.mean + delta * (b.count / safe)
    between = jnp.sqrt(a.count * b.count / safe) * delta
    rows = jnp.concatenate([a.root.T, b.root.T, between[None, :]], axis=0)
    root = _triangular_root(rows)
    a_empty, b_empty = a.count == 0, b.count == 0
    pick = lambda x_a, x_b, both: jnp.where(b_empty, x_a, jnp.where(a_empty, x_b, both))  # noqa: E731
    return GaussianStats(count, pick(a.mean, b.mean, mean), pick(a.root, b.root, root),
                         pick(a.log_det, b.log_det, log_det_of_root(root)))


def scale(stats: GaussianStats, weight) -> GaussianStats:
    """The statistics of the same rows, each weighing ``weight`` times as much."""
    dim = stats.mean.shape[0]
    return GaussianStats(stats.count * weight, stats.mean, stats.root * jnp.sqrt(weight),
                         stats.log_det + dim * jnp.log(weight))


def fit(stats: GaussianStats, ddof: Float[Array, ""] | float = 0.0) -> GaussianModel:
    """MLE (ddof=0) or unbiased (ddof=1) fit: Sigma = S / (count - ddof).

    A scatter of ``count`` points has rank <= count - 1, so log det is -inf exactly when
    count - 1 < d (rather than the log of a QR round-off residue).
    """
    dim = stats.mean.shape[0]
    denom = jnp.maximum(stats.count - ddof, 1e-30)
    factor = stats.root / jnp.sqrt(denom)
    log_det = jnp.where(stats.count - 1 < dim, -jnp.inf, stats.log_det - dim * jnp.log(denom))
    return GaussianModel(stats.mean, factor, log_det)


def combine(a: GaussianModel, b: GaussianModel, w: Float[Array, ""]) -> GaussianModel:
    """The convex combination of two fits: mean w mu_a + (1 - w) mu_b, covariance
    w Sigma_a + (1 - w) Sigma_b (He, Xu & Cheng's estimator; a root by QR of the stacked roots)."""
    root = _triangular_root(jnp.concatenate([jnp.sqrt(w) * a.factor.T, jnp.sqrt(1 - w) * b.factor.T], axis=0))
    return GaussianModel(w * a.mean + (1 - w) * b.mean, root, log_det_of_root(root))


def sample(
    key: PRNGKeyArray, model: GaussianModel, n_max: int
) -> Float[Array, "n_max d"]:
    """Draw ``n_max`` samples x = mu + F z."""
    z = jax.random.normal(key, (n_max, model.mean.shape[0]), model.mean.dtype)
    return model.mean + z @ model.factor.T


def push_forward(stats: GaussianStats, model: GaussianModel) -> GaussianStats:
    """Statistics of x = mu + F z given the statistics of the standard draws z."""
    return GaussianStats(
        stats.count, model.mean + model.factor @ stats.mean, model.factor @ stats.root, model.log_det + stats.log_det
    )


def bartlett_root(
    key: PRNGKeyArray, df: Float[Array, ""], dim: int, dtype=jnp.float32
) -> Float[Array, "d d"]:
    """Lower-triangular A with A A^T ~ Wishart(I_d, df), df a traced integer >= 0.

    Bartlett decomposition: A_ii = sqrt(chi2_{df-i}) (i = 0..d-1), A_ij ~ N(0,1) for j < i.
    For df < d (singular Wishart) rows i >= df have no diagonal and columns j >= df vanish,
    which is the Gram-Schmidt of d Gaussian vectors in R^df.
    """
    k_chi, k_normal = jax.random.split(key)
    row = jnp.arange(dim)
    shape = (df - row) / 2.0
    has_diag = shape > 0
    # Masked entries get a large dummy shape: the vmapped rejection loop runs until every
    # lane accepts, and acceptance is near-certain for large shapes.
    chi2 = 2.0 * gamma(k_chi, jnp.where(has_diag, shape, 1e4).astype(dtype))
    diag = jnp.where(has_diag, jnp.sqrt(chi2), 0.0)
    below = (row[None, :] < row[:, None]) & (row[None, :] < df)
    normals = jax.random.normal(k_normal, (dim, dim), dtype)
    return jnp.where(below, normals, 0.0) + jnp.diag(diag)


def standard_batches(
    key: PRNGKeyArray,
    counts: tuple[Int[Array, ""], ...],
    dim: int,
    sampler: str,
    n_max: int,
    dtype=jnp.float32,
) -> tuple[GaussianStats, ...]:
    """Statistics of independent batches of ``counts[i]`` standard normals in ``dim`` dims.

    ``explicit`` draws one ``(n_max, dim)`` block and gives each batch consecutive rows
    (so ``sum(counts) <= n_max``); ``exact`` draws each batch's statistics directly.
    """
    canonical = jax.dtypes.canonicalize_dtype(dtype)  # float64 is float32 without x64, as jax.random draws it
    lane_key = typed_key(key)
    if sampler == "explicit" and dim == 1 and counts and lanes_draw_normals(lane_key, canonical):
        ends = jnp.cumsum(jnp.stack([jnp.asarray(c, jnp.int32) for c in counts]))
        sums = _standard_sums(lane_key[None], ends[None], rows=n_max, dtype=canonical)[0]
        # a batch of one sample is its own shift (scatter exactly 0, as in the shifted form)
        one = sums[:, 0] <= 1
        return tuple(_scalar_stats(count, jnp.where(alone, 0.0, s1), jnp.where(alone, 0.0, s2), jnp.where(alone, s1, 0.0))
                     for (count, s1, s2), alone in zip(sums, one))
    if sampler == "explicit":
        z = jax.random.normal(key, (n_max, dim), dtype)
        rows = jnp.arange(n_max)
        out, start = [], jnp.zeros((), jnp.int32)
        for count in counts:
            weight = ((rows >= start) & (rows < start + count)).astype(dtype)
            out.append(stats_from_samples(z, weight))
            start = start + count
        return tuple(out)
    if sampler == "exact":
        out = []
        for i, count in enumerate(counts):
            k_mean, k_scatter = jax.random.split(jax.random.fold_in(key, i))
            count_f = jnp.asarray(count, dtype)
            scale = jnp.where(count_f > 0, jax.lax.rsqrt(jnp.maximum(count_f, 1.0)), 0.0)
            mean = scale * jax.random.normal(k_mean, (dim,), dtype)
            root = bartlett_root(k_scatter, jnp.maximum(count_f - 1.0, 0.0), dim, dtype)
            out.append(GaussianStats(count_f, mean, root, log_det_of_root(root)))
        return tuple(out)
    raise ValueError(f"unknown sampler {sampler!r}")
