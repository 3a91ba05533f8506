"""Categorical family: counts, smoothed frequency fit, explicit and exact samplers.

A categorical over K outcomes is summarised by its count vector. ``exact`` draws the counts
of n tokens directly, ``Multinomial(n, p)`` (conditional binomials, cost flat in n);
``explicit`` draws ``n_max`` tokens and counts the first n (n traced).

One binomial sampler, exact, shaped for ``vmap`` (where every lane executes every branch): a
custom vmap rule (``lanes.lane_batched``) gives it the whole batch, lanes on the last axis. Each
binomial is one fixed-cost proposal for every element (a 32-term inversion table, in float64
finished to 44 terms for the rare uniform beyond it, and one BTRS proposal, Hoermann 1993, from
one Threefry hash); only the 5-15% that rejected are gathered (``_first_true``) and given
proposals until every one stands (``_redraw``). ``binomial`` draws one per element of its
arguments; ``multinomial`` K - 1 per lane. Per-lane loops that run to the slowest lane made the
multinomial 10x slower than numpy on a CPU; this runs at 1.5-1.8x numpy vectorised over seeds
(benchmarks/README, "Stop 38" to "Stop 40"), and ``binomial`` 5-6x faster than its per-lane
loops did in ``contaminated-mean`` ("Stop 41").

``multinomial`` chains the conditional binomials in two stages of ~sqrt(K) steps each: block
totals, then the categories inside every block at once (one compiled binomial per stage).
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Bool, Float, Int, PRNGKeyArray

from .lanes import lane_batched, threefry2x32, threefry_if_shared, typed_key, unit

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


INVERSION_MAX_MEAN = 10.0  # BTRS needs n q >= 10 (Hoermann 1993); PTRS rate >= 10


STIRLING_TABLE = (0.0810614667953272, 0.0413406959554092, 0.0276779256849983, 0.02079067210376509,
                  0.0166446911898211, 0.0138761288230707, 0.0118967099458917, 0.0104112652619720,
                  0.00925546218271273, 0.00833056343336287)


def _stirling_series(k: Float[Array, "..."]) -> Float[Array, "..."]:
    """log k! - [(k + 1/2) log(k + 1) - (k + 1) + log(2 pi) / 2] for k >= 10: the series
    1/(12(k+1)) - 1/(360(k+1)^3) + 1/(1260(k+1)^5) (Hoermann 1993, BTRS step 3.4)."""
    inv_sq = 1.0 / (k + 1) ** 2
    return (1.0 / 12 - (1.0 / 360 - inv_sq / 1260) * inv_sq) / (k + 1)


def _stirling_tail(k: Float[Array, "..."]) -> Float[Array, "..."]:
    """The same correction for every k >= 0: a table for k <= 9, else the series. The table is a
    chain of selects, not a gather, so that the whole sampler stays one vectorised loop on a CPU."""
    out = _stirling_series(k)
    for i, value in enumerate(STIRLING_TABLE):
        out = jnp.where(k == i, value, out)
    return out


def _btrs_constants(count, q):
    """BTRS's per-element constants (Hoermann 1993, step 0). Where BTRS runs, count q > 10 and
    q <= 1/2, so the mode m and count - m are both >= 10 and their Stirling corrections need only
    the series (the table's selects would never fire)."""
    stddev = jnp.sqrt(count * q * (1 - q))
    b = 1.15 + 2.53 * stddev
    mode = jnp.floor((count + 1) * q)
    return dict(a=-0.0873 + 0.0248 * b + 0.01 * q, b=b, c=count * q + 0.5, v_r=0.92 - 4.2 / b, r=q / (1 - q),
                alpha=(2.83 + 5.1 / b) * stddev, mode=mode,
                mode_tail=_stirling_series(mode) + _stirling_series(count - mode))


def _btrs_proposal(u, v, count, const):
    """One transformed-rejection proposal from uniforms (u, v): the candidate and whether it is
    accepted (Hoermann 1993, algorithm BTRS, steps 1-3.4)."""
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
    return x, squeeze | ((x >= 0) & (x <= count) & (log_v <= log_bound))


def _inverts(count, q):
    """Where a Binomial(count, q) draw (q after the fold, <= 1/2) takes the inversion side:
    mean <= INVERSION_MAX_MEAN; elsewhere BTRS."""
    return count * q <= INVERSION_MAX_MEAN


def _folded(prob):
    """(flip, q): the samplers draw Binomial(count, q), q = min(p, 1 - p), and flip the draw to
    count - x where p > 1/2; q sets which side (inversion or BTRS) an element takes."""
    flip = prob > 0.5
    return flip, jnp.where(flip, 1 - prob, prob)


def binomial(key: PRNGKeyArray, count: Float[Array, "*b"], prob: Float[Array, "*b"]) -> Float[Array, "*b"]:
    """Binomial(count, prob) draws (as floats) by the multinomial's sampler (``_binomials``):
    under vmap the whole batch is drawn at once, and an element's draw depends on its lane's key
    only. Exact up to the 1e-12 tail beyond mean + 10 sd of the inversion table. A non-finite
    count or prob, a negative count or a prob outside [0, 1] gives NaN; the draws carry no
    gradient; half-precision prob is drawn in float32."""
    dtype = jnp.promote_types(jnp.result_type(prob), jnp.float32)
    count, prob = jax.lax.stop_gradient(jnp.broadcast_arrays(jnp.asarray(count, dtype), jnp.asarray(prob, dtype)))
    prob = jnp.where((prob >= 0) & (prob <= 1), prob, jnp.nan)
    return _binomial_lanes(typed_key(key)[None], count[None], prob[None])[0]


# ---- multinomial on a batch of lanes ---------------------------------------------------------
# ``lanes.lane_batched`` folds every vmapped axis into one lane axis, laid out last. Element
# (category slot s, lane l) draws its i-th proposal's uniforms from threefry2x32(key words of
# lane l, counter (s, i)): its draw depends on its own lane's key only, never on the batch, the
# chunk size or which redraw buffer served it.

INVERSION_STEPS = 44  # x = 0..43 covers the bound floor(10 + 10 sqrt(10 + 1)) of every mean <= 10
FIRST_STEPS = 32  # the first pass's table: past it each term is < 3e-8 and the tail < 3e-8 at means <= 10
RETRY_SHARE = 12  # a redraw round gathers up to 1/12 of a column's elements (5-15% reject)
REDRAW_BATCH = 3  # proposals per redraw batch; BTRS rejects a whole batch with P < 0.27^3


def _inversion_table(u, count, q, steps=INVERSION_STEPS):
    """Binomial(count, q) by inversion with a fixed table: x = #{i < steps: F(i) < u},
    F(i) = sum_{j <= i} p(j), p(j + 1) = p(j) (count - j) / (j + 1) q / (1 - q). ``found`` is
    F(last) >= u; it fails only past mean + 10 sd (P < 1e-12) or by float rounding of F.

    The factor count - j is carried (``left``) rather than built from a constant per term: one
    constant per term keeps the terms in registers, 3.7x faster. For integer counts (below 2^24
    in float32) ``left`` is exact, and from j = count on the factor is 0 or negative and the
    mass exactly 0."""
    ratio = q / (1 - q)
    mass = jnp.exp(count * jnp.log1p(-q))
    cdf, left = mass, count
    x = (cdf < u).astype(jnp.int32)
    for j in range(1, steps):
        mass = mass * (left * ratio) * np.asarray(1.0 / j, u.dtype)
        left = left - 1
        cdf = cdf + mass
        x = x + (cdf < u)
    return x.astype(u.dtype), cdf >= u


def _binomial_proposal(u, v, count, prob, inversion=True, steps=INVERSION_STEPS):
    """One fixed-cost Binomial(count, prob) proposal per element from uniforms (u, v), or -1
    where it does not stand: the inversion table where the mean (after the flip p -> 1 - p
    above 1/2) is <= 10, else one BTRS proposal. A proposal that does not stand is redrawn
    (``_redraw``), so the draw is exact but for the mass beyond the table's last term, x = 43
    (under 1e-12 at means <= 10). ``inversion=False`` skips the table (for batches with no
    inversion element). With ``steps`` < INVERSION_STEPS an inversion element whose uniform
    lies beyond the shorter table is -2 (``_first_proposal`` finishes it). One output array, so
    that XLA computes the proposal in one fusion (two outputs made it compute it twice)."""
    flip, q = _folded(prob)
    small = _inverts(count, q)
    count_btrs = jnp.where(small, 1e4, count)  # a valid dummy where inversion is used
    x, stands = _btrs_proposal(u, v, count_btrs, _btrs_constants(count_btrs, jnp.where(small, 0.5, q)))
    if inversion:
        inverted, found = _inversion_table(u, jnp.where(small, count, 0.0), q, steps)
        x, stands = jnp.where(small, inverted, x), jnp.where(small, found, stands)
    rejected = jnp.where(small, -2.0, -1.0) if steps < INVERSION_STEPS else -1.0
    return jnp.where(stands, jnp.where(flip, count - x, x), rejected)


def _first_proposal(u, v, count, prob):
    """``_binomial_proposal`` with the full table, bitwise, at the cost of a FIRST_STEPS table.
    In float32 the terms past it (each < 3e-8 at means <= 10) are under half an ulp of a CDF
    that is within 1e-7 of 1, so they never change it: an element the short table does not
    reach (-2) is not reached by the full one either (-1). In float64 they do count: those
    elements are finished with the full table from the same uniforms, in a branch taken only
    when some element needs it."""
    x = _binomial_proposal(u, v, count, prob, steps=FIRST_STEPS)
    if u.dtype == jnp.float32:
        return jnp.maximum(x, -1.0)
    return jax.lax.cond(jnp.any(x == -2), lambda: jnp.where(x == -2, _binomial_proposal(u, v, count, prob), x),
                        lambda: x)


def _uniform_pair(stream, index, dtype):
    """Proposal ``index`` of each element: uniforms (u, v) from threefry2x32 of its lane's key
    words with the counter (slot, index) (one hash in float32, two in float64). stream = (key
    word 1, key word 2, slot), uint32 arrays of one shape."""
    k1, k2, slot = stream
    index = jnp.broadcast_to(index, slot.shape).astype(jnp.uint32)
    if dtype == jnp.float32:
        return tuple(map(unit, threefry2x32(k1, k2, slot, index)))
    return unit(*threefry2x32(k1, k2, slot, 2 * index)), unit(*threefry2x32(k1, k2, slot, 2 * index + 1))


def _proposals(stream, batch, count, prob, inversion):
    """Batch ``batch`` of each element (its proposals 1 + REDRAW_BATCH batch, ...): the first
    that stands, or -1. ``inversion=False`` skips the inversion table (no element needs it)."""
    shape = (REDRAW_BATCH,) + count.shape
    index = 1 + batch * REDRAW_BATCH + jax.lax.broadcasted_iota(jnp.int32, shape, 0)
    u, v = _uniform_pair(tuple(jnp.broadcast_to(a, shape) for a in stream), index, count.dtype)
    x = _binomial_proposal(u, v, count, prob, inversion)
    return jnp.take_along_axis(x, jnp.argmax(x >= 0, axis=0)[None], 0)[0]


def _first_true(mask: Bool[Array, " n"], size: int) -> Int[Array, " size"]:
    """``jnp.nonzero(mask, size=size, fill_value=n)[0]`` at about half its cost on a CPU: the
    mask packed into 32-bit words, the word holding the s-th true element found by a binary
    search over the words' running population counts, its bit by one over the word's popcounts."""
    total = mask.shape[0]
    words_n = -(-total // 32)
    bits = jnp.pad(mask, (0, words_n * 32 - total)).reshape(words_n, 32).astype(jnp.uint32)
    words = jnp.sum(bits << jnp.arange(32, dtype=jnp.uint32), axis=1, dtype=jnp.uint32)
    counts = jax.lax.population_count(words).astype(jnp.int32)
    ends = jnp.cumsum(counts)  # true elements in words 0..w
    slot = jnp.arange(size, dtype=jnp.int32)
    word = jnp.searchsorted(ends, slot, side="right", method="scan_unrolled").astype(jnp.int32)
    found = jnp.minimum(word, words_n - 1)
    rank = slot - (ends[found] - counts[found])  # the slot's rank among its word's true bits
    bit = jnp.zeros_like(slot)
    for step in (16, 8, 4, 2, 1):
        below = jax.lax.population_count(words[found] & ((np.uint32(1) << (bit + step).astype(jnp.uint32)) - 1))
        bit = jnp.where(below.astype(jnp.int32) <= rank, bit + step, bit)
    return jnp.where(word < words_n, found * 32 + bit, total)


def _redraw(x, count, prob, stream):
    """Replace every element whose first proposal did not stand, x < 0 (all arrays flat). Up to
    1/RETRY_SHARE of them are gathered (``_first_true``) and given batch after batch of
    proposals (``_proposals``) until each has one that stands; then the next gathering, while
    any is left. An element's proposals depend on its own stream only, never on which
    gathering served it, so the draw does not depend on the batch."""
    total = x.shape[0]
    if total == 0:
        return x

    def serve(x):
        index = _first_true(x < 0, max(1, total // RETRY_SHARE))  # padded with an index past the end
        at = jnp.minimum(index, total - 1)
        sub, c, p = tuple(a[at] for a in stream), count[at], prob[at]

        def until_all_stand(inversion):
            def batch(carry):
                drawn, b = carry
                return jnp.where(drawn < 0, _proposals(sub, b, c, p, inversion), drawn), b + 1

            start = (jnp.where(index < total, -1.0, 0.0).astype(x.dtype), 0)
            return jax.lax.while_loop(lambda carry: jnp.any(carry[0] < 0), batch, start)[0]

        inverts = jnp.any((index < total) & _inverts(c, _folded(p)[1]))
        drawn = jax.lax.cond(inverts, lambda: until_all_stand(True), lambda: until_all_stand(False))
        return x.at[index].set(drawn, mode="drop")

    return jax.lax.while_loop(lambda x: jnp.any(x < 0), serve, x)


def _key_words(keys: PRNGKeyArray) -> Array:
    """The lanes' key words [2, lanes] that their streams hash with (threefry words for rbg)."""
    return jax.random.key_data(threefry_if_shared(keys)).T


def _streams(words, rows: int):
    """Streams (key word 1, key word 2, slot) of a [rows, lanes] block, flat: element (r, l)
    hashes with lane l's key words and slot r."""
    lanes = words.shape[1]
    k1, k2 = (jnp.broadcast_to(w, (rows, lanes)).reshape(-1) for w in words)
    return k1, k2, jnp.broadcast_to(jnp.arange(rows, dtype=jnp.uint32)[:, None], (rows, lanes)).reshape(-1)


def _binomials(stream, count, prob):
    """Binomial(count, prob) of every element (flat arrays, element i drawing from stream[:, i]):
    one fixed-cost proposal each, then the redraw of those that did not stand. A NaN or inf
    count or prob, or a negative count, gives NaN (not a hang)."""
    u, v = _uniform_pair(stream, 0, count.dtype)
    unusable = ~jnp.isfinite(count * prob) | (count < 0)
    x = jnp.where(unusable, jnp.nan, _first_proposal(u, v, count, prob))  # NaN < 0 is False
    return jnp.minimum(_redraw(x, count, prob, stream), count)


@lane_batched
def _binomial_lanes(keys: PRNGKeyArray, count: Float[Array, "lanes *b"], prob: Float[Array, "lanes *b"]) -> Float[Array, "lanes *b"]:
    """Binomial draws of every lane's elements, lanes last: element e of lane l draws from the
    stream (key words of lane l, slot e)."""
    lanes, shape = count.shape[0], count.shape
    per_lane = math.prod(shape[1:])
    flat = (a.reshape(lanes, per_lane).T.reshape(-1) for a in (count, prob))
    return _binomials(_streams(_key_words(keys), per_lane), *flat).reshape(per_lane, lanes).T.reshape(shape)


def _chain(words, n, p, first_slot):
    """Multinomial(n, p) counts of every row, one category after another:
    c_j ~ Binomial(n - c_0 - ... - c_{j-1}, p_j / (p_j + ... + p_{k-1})), a scan over the k
    columns. p [k, rows, lanes], n [rows, lanes], words: the lanes' key words [2, lanes].
    Element (j, r, l) draws from the stream (words[:, l], slot first_slot + j rows + r)."""
    tail = jnp.cumsum(p[::-1], axis=0)[::-1]  # p_j + ... + p_{k-1}, without cancellation
    empty = jnp.where(jnp.isnan(tail), jnp.nan, 0.0)  # a NaN in p stays NaN (NaN counts)
    share = jnp.clip(jnp.where(tail > 0, p / jnp.where(tail > 0, tail, 1.0), empty), 0.0, 1.0)
    rows, lanes = n.shape
    k1, k2, row = _streams(words, rows)

    def column(left, j):
        stream = (k1, k2, (first_slot + j * rows).astype(jnp.uint32) + row)
        drawn = _binomials(stream, left.reshape(-1), share[j].reshape(-1)).reshape(rows, lanes)
        return left - drawn, drawn

    left, counts = jax.lax.scan(column, n, jnp.arange(p.shape[0] - 1))
    return jnp.concatenate([counts, left[None]], axis=0)


def block_shape(k: int) -> tuple[int, int]:
    """(blocks, width) with blocks x width >= k as small as possible (then blocks + width):
    the two stages of ``multinomial`` draw blocks x width - 1 binomials, blocks + width - 2 in
    sequence (K = 50: 5 x 10, 49 binomials)."""
    root = int(np.sqrt(k))
    shapes = [(-(-k // w), w) for w in range(max(1, root // 2), 2 * root + 2)]
    return min(shapes, key=lambda s: (s[0] * s[1], s[0] + s[1], s[0]))


@lane_batched
def _multinomial_lanes(keys: PRNGKeyArray, n: Float[Array, " lanes"], p: Float[Array, "lanes k"]) -> Float[Array, "lanes k"]:
    """Multinomial(n_l, p_l) counts of every lane l, in two stages: the totals of ``blocks``
    blocks of ``width`` categories, then the categories inside every block at once."""
    lanes, k = p.shape
    blocks, width = block_shape(k)
    table = jnp.pad(p, ((0, 0), (0, blocks * width - k))).reshape(lanes, blocks, width).transpose(2, 1, 0)
    words = _key_words(keys)
    totals = _chain(words, n[None], table.sum(0)[:, None], 0)[:, 0]
    inside = _chain(words, totals, table, blocks - 1)
    return inside.transpose(2, 1, 0).reshape(lanes, blocks * width)[:, :k]


def multinomial(key: PRNGKeyArray, n: Int[Array, ""], p: Float[Array, " k"]) -> Float[Array, " k"]:
    """Multinomial(n, p) counts by about K conditional binomials in two stages of ~sqrt(K) steps,
    cost independent of n. Under vmap all lanes are drawn together (see the section above);
    a lane's counts depend on its key, n and p only. A non-finite n or p, or a negative n, gives
    NaN counts (not a hang); the counts carry no gradient; half-precision p is drawn in float32."""
    key = typed_key(key)
    dtype = jnp.promote_types(p.dtype, jnp.float32)
    n, p = jax.lax.stop_gradient((jnp.reshape(n, (1,)).astype(dtype), p.astype(dtype)[None]))
    return _multinomial_lanes(key[None], n, p)[0]


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
