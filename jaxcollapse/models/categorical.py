"""Categorical family: counts, smoothed frequency fit, explicit and exact samplers.

A categorical over K outcomes is summarised by its count vector. ``exact`` draws the counts
of n tokens directly, ``Multinomial(n, p)`` (conditional binomials, cost flat in n);
``explicit`` draws ``n_max`` tokens and counts the first n (n traced).

``binomial`` is a sampler shaped for ``vmap``, where every lane executes every branch and a loop
runs until its slowest lane is done. Means <= 10 invert the CDF by subtraction (numpy's BINV), in
a loop that runs as long as the largest such draw; larger means run Hoermann's BTRS (1993),
``BTRS_ATTEMPTS`` proposals at a time, in a loop that runs while any such lane rejected them all.
A branch that no lane takes costs one test of its loop condition. ``multinomial`` chains
conditional binomials in two stages of ~sqrt(K) steps each: one compiled binomial per stage,
whatever K (a binary tree of binomials compiled one copy per level, 6-10x slower to compile).
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
INVERSION_SDS = 10.0  # inversion stops at mean + 10 sd (P beyond < 1e-12) and starts afresh once
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


def inversion(uniforms, first, ratio, bound, active):
    """Inversion by subtraction (numpy's BINV): x = 0, u = uniforms[0]; while u > p(x): u -= p(x),
    p(x+1) = p(x) ratio(x). The loop runs while any active lane is still searching, so it costs the
    slowest lane's count, not a fixed table. A lane that float rounding walks past ``bound``
    (mean + 10 sd: P beyond < 1e-12) starts once more from uniforms[1]."""

    def searching(carry):
        x, px, u, restarted = carry
        return active & (u > px) & ~((x >= bound) & restarted)

    def step(carry):
        x, px, u, restarted = carry
        moving = searching(carry)
        over = moving & (x >= bound)
        x_next = jnp.where(over, 0.0, x + 1)
        u_next = jnp.where(over, uniforms[1], u - px)
        px_next = jnp.where(over, first, px * ratio(x))
        return (jnp.where(moving, x_next, x), jnp.where(moving, px_next, px), jnp.where(moving, u_next, u),
                restarted | over)

    start = (jnp.zeros_like(first), first, uniforms[0], jnp.zeros(first.shape, bool))
    return jax.lax.while_loop(lambda c: jnp.any(searching(c)), step, start)[0]


def inversion_bound(mean, variance, largest=jnp.inf):
    return jnp.minimum(largest, jnp.floor(mean + INVERSION_SDS * jnp.sqrt(variance + 1.0)))


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
    """Binomial(count, prob) draws (as floats), exact up to the 1e-12 tail beyond mean + 10 sd of
    the inversion. Means <= 10 invert the CDF, larger ones run Hoermann's BTRS; each is a loop
    that runs only as long as its lanes need (zero times when no lane takes that branch), so a
    vmapped batch pays for both branches only where its lanes really are mixed."""
    count = jnp.asarray(count, prob.dtype)
    flip = prob > 0.5
    q = jnp.where(flip, 1 - prob, prob)
    small = count * q <= INVERSION_MAX_MEAN
    k_inversion, k_btrs = jax.random.split(key)
    n_small = jnp.where(small, count, 0.0)
    ratio = q / (1 - q)
    inverted = inversion(jax.random.uniform(k_inversion, (2,) + count.shape, prob.dtype),
                         jnp.exp(n_small * jnp.log1p(-q)), lambda x: (n_small - x) / (x + 1) * ratio,
                         inversion_bound(n_small * q, n_small * q * (1 - q), n_small), small)
    count_btrs = jnp.where(small, 1e4, count)  # a valid dummy where inversion is used
    const = _btrs_constants(count_btrs, jnp.where(small, 0.5, q))
    proposal = rejection(k_btrs, lambda k: _btrs_attempts(k, count_btrs, const), small)
    x = jnp.where(small, inverted, proposal)
    return jnp.where(flip, count - x, x)


# Generators whose bits, under vmap, all come from the batch's first key (docs/scaling).
SHARED_BITS = ("rbg", "unsafe_rbg")


def rejection(key, attempts, done):
    """The first proposal that ``attempts(key_i)`` accepts, per lane: batches of proposals from
    ``fold_in(key, i)``, i = 0, 1, ..., while any lane has accepted none. A lane ``done`` from
    the start (its draw comes from elsewhere) keeps 0 and costs nothing beyond the batch.

    Under vmap a lane that has accepted keeps its carry, trip counter included. With an ``rbg``
    or ``unsafe_rbg`` key every lane's bits come from the first lane's key, so once that lane was
    done the others were offered the same proposals for ever (a hang). For those generators the
    proposals are drawn with threefry from the first two words of each lane's key data."""
    if str(jax.random.key_impl(key)) in SHARED_BITS:
        key = jax.random.wrap_key_data(jax.random.key_data(key)[..., :2], impl="threefry2x32")

    def attempt(carry):
        i, x, finished = carry
        new, accepted = attempts(jax.random.fold_in(key, i))
        return i + 1, jnp.where(finished, x, new), finished | accepted

    start = (0, jnp.zeros(done.shape, jax.eval_shape(attempts, key)[0].dtype), done)
    return jax.lax.while_loop(lambda c: ~jnp.all(c[2]), attempt, start)[1]


def _conditional_binomials(key, n: Float[Array, " rows"], p: Float[Array, "rows k"]) -> Float[Array, "rows k"]:
    """Multinomial(n_r, p_r) counts of every row r, one category after another:
    c_j ~ Binomial(n - c_0 - ... - c_{j-1}, p_j / (p_j + ... + p_{k-1})), a scan over the k
    columns vectorised over the rows (one compiled binomial, whatever k)."""
    tail = jnp.cumsum(p[:, ::-1], axis=1)[:, ::-1]  # p_j + ... + p_{k-1}, without cancellation
    share = jnp.clip(jnp.where(tail > 0, p / jnp.where(tail > 0, tail, 1.0), 0.0), 0.0, 1.0)

    def column(left, j):
        drawn = jnp.minimum(binomial(jax.random.fold_in(key, j), left, share[:, j]), left)
        return left - drawn, drawn

    left, counts = jax.lax.scan(column, n, jnp.arange(p.shape[1] - 1))
    return jnp.concatenate([counts.T, left[:, None]], axis=1)


def multinomial(key: PRNGKeyArray, n: Int[Array, ""], p: Float[Array, " k"]) -> Float[Array, " k"]:
    """Multinomial(n, p) counts by conditional binomials in two stages: the totals of
    ceil(sqrt(K))-category blocks, then the categories inside every block at once. 2 sqrt(K)
    sequential binomial draws, K - 1 in all, cost independent of n."""
    k = p.shape[0]
    width = max(1, int(np.ceil(np.sqrt(k))))
    blocks = -(-k // width)
    table = jnp.pad(p, (0, blocks * width - k)).reshape(blocks, width)
    k_blocks, k_inside = jax.random.split(key)
    totals = _conditional_binomials(k_blocks, jnp.reshape(n, (1,)).astype(p.dtype), table.sum(1)[None])[0]
    return _conditional_binomials(k_inside, totals, table).reshape(-1)[:k]


def sample_tokens(key: PRNGKeyArray, p: Float[Array, " k"], m: int) -> Int[Array, " m"]:
    """m tokens of p by inverting its CDF (a binary search per token, cost m log K)."""
    # XLA's cumsum is a parallel prefix, so cdf[j] = cdf[j-1] + 0 need not hold exactly;
    # the running max over the entries with p > 0 makes a zero-probability step exactly flat.
    cdf = jax.lax.cummax(jnp.where(p > 0, jnp.cumsum(p), 0.0))
    tokens = jnp.searchsorted(cdf, cdf[-1] * jax.random.uniform(key, (m,), p.dtype), side="right")
    # Token j needs cdf[j-1] <= u < cdf[j], so p_j > 0; the clip only catches u * total
    # rounding up to total, and sends it to the last outcome with p > 0.
    last = p.shape[0] - 1 - jnp.argmax(p[::-1] > 0)
    return jnp.minimum(tokens, last).astype(jnp.int32)


def counts(tokens: Int[Array, " m"], weights: Float[Array, " m"], outcomes: int) -> Float[Array, " k"]:
    """Weighted counts of tokens over ``outcomes`` outcomes."""
    return jnp.zeros(outcomes, weights.dtype).at[tokens].add(weights)


def sample_counts(
    key: PRNGKeyArray, n: Int[Array, ""], p: Float[Array, " k"], sampler: str, n_max: int
) -> Float[Array, " k"]:
    """Counts of n i.i.d. draws from p: ``exact`` draws the multinomial; ``explicit`` draws
    n_max tokens by inverting the CDF (a binary search per token, so the cost is
    n_max log K, not K) and counts the first n."""
    if sampler == "exact":
        return multinomial(key, n, p)
    if sampler == "explicit":
        return counts(sample_tokens(key, p, n_max), (jnp.arange(n_max) < n).astype(p.dtype), p.shape[0])
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
