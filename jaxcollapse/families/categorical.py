"""Categorical family: counts, smoothed frequency fit, explicit and exact samplers.

A categorical over K outcomes is summarised by its count vector. ``exact`` draws the counts
of n tokens directly, ``Multinomial(n, p)`` (conditional binomials, cost flat in n);
``explicit`` draws ``n_max`` tokens and counts the first n (n traced).

``binomial`` is a sampler shaped for ``vmap``: under ``vmap`` every lane executes every branch
and a rejection loop runs until its slowest lane finishes, so instead of
``jax.random.binomial`` (a per-lane ``while`` for both inversion and BTRS) it draws all the
uniforms it usually needs in one call, inverts the CDF over a fixed 47-step table for means
<= 10, runs ``BTRS_ATTEMPTS`` rejection attempts of Hoermann's BTRS (1993) at once for larger
means, and keeps a ``while`` loop only for the rare lanes that rejected them all.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float, Int, PRNGKeyArray

SHAPES = ("dirichlet", "uniform", "zipf")


def reference_distribution(shape: str, outcomes: int, rows: int = 1, concentration: float = 1.0,
                           exponent: float = 1.0, seed: int = 0) -> np.ndarray:
    """A true distribution [rows, outcomes], drawn on the host: ``uniform``; ``dirichlet``
    (Dirichlet(concentration) rows from numpy default_rng(seed)); ``zipf`` (p_k ~ k^-exponent,
    rows after the first are random permutations of it)."""
    rng = np.random.default_rng(seed)
    if shape == "uniform":
        return np.full((rows, outcomes), 1.0 / outcomes)
    if shape == "dirichlet":
        return rng.dirichlet(np.full(outcomes, concentration), size=rows)
    if shape == "zipf":
        weights = np.arange(1, outcomes + 1, dtype=np.float64) ** -exponent
        table = np.stack([weights if r == 0 else rng.permutation(weights) for r in range(rows)])
        return table / table.sum(axis=1, keepdims=True)
    raise ValueError(f"unknown distribution shape {shape!r} (known: {', '.join(SHAPES)})")


def fit(counts: Float[Array, "... k"], smoothing: Float[Array, ""] | float = 0.0) -> Float[Array, "... k"]:
    """Additive smoothing: p = (c + lambda) / (sum c + K lambda); lambda = 0 is the MLE.

    A row with no counts and no smoothing is undefined; it is set to uniform."""
    k = counts.shape[-1]
    smoothed = counts + smoothing
    total = jnp.sum(smoothed, axis=-1, keepdims=True)
    return jnp.where(total > 0, smoothed / jnp.maximum(total, 1e-30), 1.0 / k)


INVERSION_MAX_MEAN = 10.0  # BTRS needs n q >= 10 (Hoermann 1993)
INVERSION_TABLE = 48  # P(X >= 48) < 1e-12 when E X <= 10: the table is truncated there
BTRS_ATTEMPTS = 4  # acceptance is 0.7-0.9 per attempt


def _stirling_tail(k: Float[Array, "..."]) -> Float[Array, "..."]:
    """log k! - [(k + 1/2) log(k + 1) - (k + 1) + log(2 pi) / 2]: a table for k <= 9, else the
    series 1/(12(k+1)) - 1/(360(k+1)^3) + 1/(1260(k+1)^5)."""
    table = jnp.array([0.0810614667953272, 0.0413406959554092, 0.0276779256849983, 0.02079067210376509,
                       0.0166446911898211, 0.0138761288230707, 0.0118967099458917, 0.0104112652619720,
                       0.00925546218271273, 0.00833056343336287], k.dtype)
    inv_sq = 1.0 / (k + 1) ** 2
    series = (1.0 / 12 - (1.0 / 360 - inv_sq / 1260) * inv_sq) / (k + 1)
    return jnp.where(k <= 9, table[jnp.clip(k, 0, 9).astype(jnp.int32)], series)


def inversion(u, first, next_pmf):
    """Smallest x with CDF(x) >= u over an ``INVERSION_TABLE``-entry table: ``first`` = p(0)
    and ``next_pmf(x, p(x)) = p(x+1)``. The CDF is normalised over the truncated table (so
    float rounding cannot push u past the last entry). Two ``fori_loop`` passes: an unrolled
    Python chain of this length makes XLA re-compute the shared prefix in every consumer."""

    def accumulate(x, carry):
        pmf, cdf = carry
        pmf = next_pmf(x, pmf)
        return pmf, cdf + pmf

    _, total = jax.lax.fori_loop(0, INVERSION_TABLE - 1, accumulate, (first, first), unroll=4)
    target = u * total

    def search(x, carry):
        pmf, cdf, below = carry
        pmf, cdf_next = accumulate(x, (pmf, cdf))
        return pmf, cdf_next, below + (cdf < target)

    return jax.lax.fori_loop(0, INVERSION_TABLE - 1, search, (first, first, jnp.zeros_like(u)), unroll=4)[2]


def _binomial_inversion(u, count, q):
    """Inversion with the ratio recursion p(x+1) = p(x) (n - x) q / ((x + 1)(1 - q))."""
    ratio = q / (1 - q)
    return inversion(u, jnp.exp(count * jnp.log1p(-q)),
                     lambda x, pmf: pmf * jnp.maximum(count - x, 0.0) / (x + 1) * ratio)


def _btrs_constants(count, q):
    stddev = jnp.sqrt(count * q * (1 - q))
    b = 1.15 + 2.53 * stddev
    mode = jnp.floor((count + 1) * q)
    return dict(a=-0.0873 + 0.0248 * b + 0.01 * q, b=b, c=count * q + 0.5, v_r=0.92 - 4.2 / b, r=q / (1 - q),
                alpha=(2.83 + 5.1 / b) * stddev, mode=mode,
                mode_tail=_stirling_tail(mode) + _stirling_tail(count - mode))


def _btrs_attempts(key, count, const):
    """``BTRS_ATTEMPTS`` transformed-rejection proposals at once: the first accepted one,
    and whether any was accepted (Hoermann 1993, algorithm BTRS)."""
    u, v = jax.random.uniform(key, (2, BTRS_ATTEMPTS) + count.shape, count.dtype)
    u = u - 0.5
    us = 0.5 - jnp.abs(u)
    x = jnp.floor((2 * const["a"] / us + const["b"]) * u + const["c"])
    squeeze = (us >= 0.07) & (v <= const["v_r"])
    log_v = jnp.log(v * const["alpha"] / (const["a"] / (us * us) + const["b"]))
    m, r = const["mode"], const["r"]
    log_bound = ((m + 0.5) * jnp.log((m + 1) / (r * (count - m + 1)))
                 + (count + 1) * jnp.log((count - m + 1) / (count - x + 1))
                 + (x + 0.5) * jnp.log(r * (count - x + 1) / (x + 1))
                 + const["mode_tail"] - _stirling_tail(x) - _stirling_tail(count - x))
    accept = squeeze | ((x >= 0) & (x <= count) & (log_v <= log_bound))
    return jnp.take_along_axis(x, jnp.argmax(accept, axis=0)[None], 0)[0], jnp.any(accept, axis=0)


def binomial(key: PRNGKeyArray, count: Float[Array, "*b"], prob: Float[Array, "*b"]) -> Float[Array, "*b"]:
    """Binomial(count, prob) draws (as floats), exact up to the 1e-12 truncation of the
    inversion table; see the module docstring for why it is not ``jax.random.binomial``."""
    count = jnp.asarray(count, prob.dtype)
    flip = prob > 0.5
    q = jnp.where(flip, 1 - prob, prob)
    small = count * q <= INVERSION_MAX_MEAN
    k_inversion, k_btrs, k_retry = jax.random.split(key, 3)
    inverted = _binomial_inversion(jax.random.uniform(k_inversion, count.shape, prob.dtype),
                                   jnp.where(small, count, 0.0), q)
    count_btrs = jnp.where(small, 1e4, count)  # a valid dummy where inversion is used
    const = _btrs_constants(count_btrs, jnp.where(small, 0.5, q))
    proposal, done = _btrs_attempts(k_btrs, count_btrs, const)

    def retry(carry):
        i, x, done = carry
        new, accepted = _btrs_attempts(jax.random.fold_in(k_retry, i), count_btrs, const)
        return i + 1, jnp.where(done, x, new), done | accepted

    _, proposal, _ = jax.lax.while_loop(lambda c: ~jnp.all(c[2]), retry, (0, proposal, done | small))
    x = jnp.where(small, inverted, proposal)
    return jnp.where(flip, count - x, x)


def multinomial(key: PRNGKeyArray, n: Int[Array, ""], p: Float[Array, " k"]) -> Float[Array, " k"]:
    """Multinomial(n, p) counts by conditional binomials down a binary tree over the
    categories: log2(K) vectorised ``binomial`` draws instead of K sequential ones; cost
    independent of n."""
    size = 1 << (p.shape[0] - 1).bit_length()
    levels = [jnp.pad(p, (0, size - p.shape[0]))]
    while levels[-1].shape[0] > 1:
        levels.append(levels[-1].reshape(-1, 2).sum(-1))
    levels = levels[::-1]
    counts = jnp.reshape(n, (1,)).astype(p.dtype)
    for depth in range(len(levels) - 1):
        parent, left = levels[depth], levels[depth + 1][0::2]
        share = jnp.clip(jnp.where(parent > 0, left / jnp.where(parent > 0, parent, 1.0), 0.0), 0.0, 1.0)
        left_counts = jnp.minimum(binomial(jax.random.fold_in(key, depth), counts, share), counts)
        counts = jnp.stack([left_counts, counts - left_counts], -1).reshape(-1)
    return counts[: p.shape[0]]


def sample_counts(
    key: PRNGKeyArray, n: Int[Array, ""], p: Float[Array, " k"], sampler: str, n_max: int
) -> Float[Array, " k"]:
    """Counts of n i.i.d. draws from p: ``exact`` draws the multinomial; ``explicit`` draws
    n_max tokens by inverting the CDF (a binary search per token, so the cost is
    n_max log K, not K) and counts the first n."""
    if sampler == "exact":
        return multinomial(key, n, p)
    if sampler == "explicit":
        # XLA's cumsum is a parallel prefix, so cdf[j] = cdf[j-1] + 0 need not hold exactly;
        # the running max over the entries with p > 0 makes a zero-probability step exactly flat.
        cdf = jax.lax.cummax(jnp.where(p > 0, jnp.cumsum(p), 0.0))
        tokens = jnp.searchsorted(cdf, cdf[-1] * jax.random.uniform(key, (n_max,), p.dtype), side="right")
        # Token j needs cdf[j-1] <= u < cdf[j], so p_j > 0; the clip only catches u * total
        # rounding up to total, and sends it to the last outcome with p > 0.
        last = p.shape[0] - 1 - jnp.argmax(p[::-1] > 0)
        weight = (jnp.arange(n_max) < n).astype(p.dtype)
        return jnp.zeros_like(p).at[jnp.minimum(tokens, last)].add(weight)
    raise ValueError(f"unknown sampler {sampler!r}")


def sample_chain_counts(
    key: PRNGKeyArray,
    sequences: Int[Array, ""],
    transition: Float[Array, "k k"],
    seq_len: int,
    max_sequences: int,
) -> Float[Array, "k k"]:
    """Transition counts of ``sequences`` Markov sequences of ``seq_len`` tokens (the first
    token uniform), drawn token by token; sequences beyond the traced count are masked."""
    k = transition.shape[0]
    k_start, k_steps = jax.random.split(key)
    start = jax.random.randint(k_start, (max_sequences,), 0, k)
    weight = (jnp.arange(max_sequences) < sequences).astype(transition.dtype)
    log_transition = jnp.log(transition)

    def advance(carry, step_key):
        state, counts = carry
        nxt = jax.random.categorical(step_key, log_transition[state])
        return (nxt, counts.at[state, nxt].add(weight)), None

    keys = jax.random.split(k_steps, seq_len - 1)
    (_, counts), _ = jax.lax.scan(advance, (start, jnp.zeros((k, k), transition.dtype)), keys)
    return counts
