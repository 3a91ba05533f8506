"""The exact sampler (sufficient statistics) and the explicit one (every sample) give the
same distribution of fitted parameters; accumulate-subsample matches a numpy reference.

KS tests: 20,000 seeds per sampler, independent keys, 3 settings x 3 metrics x 3
generations = 27 two-sample tests at p > 1e-6 each, a family-wise false-alarm rate below
3e-5. At 1e-4 (0.3%) a fresh random stream failed once in three whole-suite runs (mix,
mean_sq_error, t = 4: p = 1.8e-5), where 200,000 seeds per sampler show no difference (p = 0.94).
A distribution shift the test is meant to catch moves the KS statistic by several hundredths
(a 5% scale error in a chi-square(9) variance: D ~ 0.04, p ~ 1e-14 at 20,000 seeds a side).
"""

import numpy as np
import pytest
from scipy.stats import ks_2samp

import jaxcollapse as jc

from .reference import kazdan_loop

SETTINGS = [
    {"dim": 1, "n": 10},
    {"dim": 3, "n": 3},  # n <= dim: singular covariances (masked Bartlett factor)
    {"dim": 2, "n": "8+4*t", "regime": "mix", "alpha": 0.5},
]


@pytest.mark.parametrize("settings", SETTINGS, ids=["d1", "singular", "mix"])
def test_exact_and_explicit_samplers_agree_in_distribution(settings):
    runs = {
        sampler: jc.run("gaussian", {**settings, "sampler": sampler}, seeds=20000, generations=12,
                        key=100 + i, keep=("mean_sq_error", "var", "log_det_ratio"))
        for i, sampler in enumerate(["exact", "explicit"])
    }
    for metric in ("mean_sq_error", "var", "log_det_ratio"):
        for t in (1, 4, 12):
            a = runs["exact"].per_seed[metric][:, t]
            b = runs["explicit"].per_seed[metric][:, t]
            if not np.all(np.isfinite(a)):
                assert np.array_equal(a, b)  # both -inf: singular covariance
                continue
            assert ks_2samp(a, b).pvalue > 1e-6, (metric, t)


@pytest.mark.parametrize("regime", ["replace", "accumulate", "accumulate-subsample"])
def test_matches_independent_numpy_loop(regime):
    """Kazdan et al.'s loop in numpy (tests/reference.py) vs jaxcollapse: two-sample z < 4
    on the means and KS p > 1e-4 at the last generation."""
    seeds, generations = 4000, 10
    reference = kazdan_loop(regime, dim=2, n=10, generations=generations, seeds=seeds,
                            rng=np.random.default_rng(7))
    result = jc.run("gaussian", {"dim": 2, "n": 10, "regime": regime}, seeds=seeds,
                    generations=generations, key=8, keep=("mean_sq_error", "var"))
    for metric in ("mean_sq_error", "var"):
        ours, theirs = result.per_seed[metric], reference[metric]
        for t in (1, 5, 10):
            se = np.sqrt(ours[:, t].var() / seeds + theirs[:, t].var() / seeds)
            assert abs(ours[:, t].mean() - theirs[:, t].mean()) < 4 * se, (metric, t)
        assert ks_2samp(ours[:, -1], theirs[:, -1]).pvalue > 1e-4


BINOMIAL_CASES = [(5, 0.3), (30, 0.3), (100, 0.05), (20, 0.5), (1000, 0.5), (10000, 0.01), (10000, 0.9), (37, 0.999)]
POISSON_RATES = [0.0, 0.5, 3.0, 9.9, 10.5, 30.0, 1000.0, 50000.0]  # both sides of the inversion / PTRS switch at 10
DRAWS = 200_000


def _chi_square_holds(x, pmf, mean, var):
    """Chi-square of the draws ``x`` against ``pmf`` over 0..max(x) (cells with expected count >= 5,
    the rest pooled, a pooled tail under 5 folded into the largest cell) at p > 1e-4, and the
    sample mean within 4 SE of ``mean``."""
    from scipy import stats

    support = np.arange(max(x.max(), 1) + 1)
    expected = pmf(support) * x.size
    observed = np.bincount(x, minlength=support.size)
    cells = expected >= 5
    obs = np.append(observed[cells], observed[~cells].sum())
    exp = np.append(expected[cells], x.size - expected[cells].sum())  # the pooled cells and the tail beyond max(x)
    if exp[-1] < 5:
        obs[np.argmax(exp[:-1])] += obs[-1]
        exp[np.argmax(exp[:-1])] += exp[-1]
        obs, exp = obs[:-1], exp[:-1]
    if obs.size > 1:
        assert stats.chisquare(obs, exp * obs.sum() / exp.sum()).pvalue > 1e-4
    assert abs(x.mean() - mean) <= 4 * np.sqrt(var / x.size)


def test_binomial_matches_scipy_pmf():
    """The vmap-shaped binomial (inversion table and BTRS, with the flip at p > 1/2) against
    scipy's pmf: a chi-square test on 200,000 draws per case; 8 tests at p > 1e-4, and the mean
    within 4 SE."""
    import jax
    import jax.numpy as jnp
    from scipy import stats

    from jaxcollapse.models.categorical import binomial

    draw = jax.jit(jax.vmap(binomial, in_axes=(0, None, None)))  # n and p traced: one compile for every case
    for i, (n, p) in enumerate(BINOMIAL_CASES):
        x = np.asarray(draw(jax.random.split(jax.random.key(300 + i), DRAWS), jnp.float32(n), jnp.float32(p))).astype(np.int64)
        assert x.min() >= 0 and x.max() <= n
        _chi_square_holds(x, lambda k: stats.binom.pmf(k, n, p), n * p, n * p * (1 - p))


def test_poisson_matches_scipy_pmf():
    """The vmap-shaped Poisson (inversion at rates <= 10, PTRS above) against scipy's pmf, as the
    binomial above; lanes of different rates in one batch (the inversion and PTRS loops side by
    side); a negative or non-finite rate gives NaN, not a hang."""
    import jax
    import jax.numpy as jnp
    from scipy import stats

    from jaxcollapse.models.scalar import poisson

    rates = jnp.asarray(POISSON_RATES, jnp.float32)
    x = np.asarray(jax.jit(lambda k: poisson(k, rates[:, None], (len(POISSON_RATES), DRAWS)))(jax.random.key(11)))
    for rate, row in zip(POISSON_RATES, x):
        assert np.all(row >= 0) and np.all(row == np.round(row))
        _chi_square_holds(row.astype(np.int64), lambda k: stats.poisson.pmf(k, rate), rate, max(rate, 1e-12))
    odd = np.asarray(jax.jit(lambda k, r: poisson(k, r, (4,)))(jax.random.key(0), jnp.array([-1.0, jnp.nan, jnp.inf, 2.0])))
    assert np.all(np.isnan(odd[:3])) and np.isfinite(odd[3])


def test_binomial_degenerate_cases():
    import jax
    import jax.numpy as jnp

    from jaxcollapse.models.categorical import binomial

    counts = jnp.array([0.0, 50.0, 50.0, 7.0])
    probs = jnp.array([0.3, 0.0, 1.0, 0.5])
    draw = jax.jit(binomial)  # one compile, not an eager dispatch of every op per seed
    for seed in range(20):
        x = np.asarray(draw(jax.random.key(seed), counts, probs))
        assert x[0] == 0 and x[1] == 0 and x[2] == 50 and 0 <= x[3] <= 7
    # several lanes of several elements (lanes folded last and back): each lane is its own call
    counts, probs = jnp.array([0.0, 50.0, 50.0, 7.0, 1000.0, 30.0]), jnp.array([0.3, 0.0, 1.0, 0.5, 0.02, 0.9])
    keys = jax.random.split(jax.random.key(1), 9)
    lanes = np.asarray(jax.jit(jax.vmap(binomial, (0, None, None)))(keys, counts, probs))
    for lane, key in zip(lanes, keys):
        np.testing.assert_array_equal(lane, np.asarray(draw(key, counts, probs)))
    assert np.all(lanes[:, :3] == [0, 0, 50]) and np.all((lanes[:, 3:] >= 0) & (lanes[:, 3:] <= [7, 1000, 30]))
    assert len(np.unique(lanes[:, 4])) > 1  # the lanes draw from their own keys
    odd = np.asarray(draw(jax.random.key(0), jnp.array([10.0, 10.0, -1.0, jnp.nan]), jnp.array([1.5, -0.2, 0.5, 0.5])))
    assert np.all(np.isnan(odd))


# (n, p): small means only (inversion table); a mix with the flip p_j / tail > 1/2; BTRS only
# with K = 50; every category sharing one Dirichlet draw.
MULTINOMIAL_CASES = [
    (20, [0.6, 0.25, 0.1, 0.04, 0.01]),
    (1000, [0.6, 0.25, 0.1, 0.04, 0.009, 0.001]),
    (100_000, list(np.random.default_rng(0).dirichlet(np.ones(50)))),
]


def _multinomial_draws(seeds: int, key: int):
    """Every case's counts, drawn in one vmapped batch (lanes of every case side by side)."""
    import jax
    import jax.numpy as jnp

    from jaxcollapse.models.categorical import multinomial

    k = max(len(p) for _, p in MULTINOMIAL_CASES)
    table = np.array([np.pad(p, (0, k - len(p))) for _, p in MULTINOMIAL_CASES], np.float32)
    n = np.repeat([c for c, _ in MULTINOMIAL_CASES], seeds).astype(np.float32)
    p = np.repeat(table, seeds, axis=0)
    keys = jax.random.split(jax.random.key(key), n.size)
    counts = jax.jit(jax.vmap(multinomial))(keys, jnp.asarray(n), jnp.asarray(p))
    return np.asarray(counts).reshape(len(MULTINOMIAL_CASES), seeds, k)


def test_multinomial_marginals_match_scipy():
    """The batched multinomial (fixed-cost proposals, redraws of the rejected ones) against
    scipy: 40,000 draws per case, the three cases side by side in one batch. Each category's
    count is Binomial(n, p_j), and a sum of categories from different blocks is Binomial(n,
    sum p): chi-square at p > 1e-4 and the mean within 4 SE, for the first four categories,
    the last one and two cross-block sums. Every row sums to n."""
    from scipy import stats

    draws = _multinomial_draws(40_000, key=21)
    for (n, p), counts in zip(MULTINOMIAL_CASES, draws):
        assert np.all(counts == np.round(counts)) and np.all(counts >= 0)
        assert np.all(counts.sum(axis=1) == n)
        k = len(p)
        groups = [[0], [1], [2], [3], [k - 1], [0, k - 1], list(range(1, k, 2))]
        for group in groups:
            share = float(np.sum(np.asarray(p, np.float64)[group]))
            x = counts[:, group].sum(axis=1).astype(np.int64)
            _chi_square_holds(x, lambda c: stats.binom.pmf(c, n, share), n * share, n * share * (1 - share))


def test_multinomial_is_batch_invariant(monkeypatch):
    """A lane's counts depend on its key, n and p only: the same lanes drawn one by one, in a
    reversed batch, under a nested vmap, and with a redraw buffer of one element (so that every
    rejected element waits for its own round) are bitwise the draws of one batch."""
    import jax
    import jax.numpy as jnp

    from jaxcollapse.models import categorical

    n = jnp.asarray(np.tile([20.0, 1000.0, 100_000.0], 8))
    p = jnp.asarray(np.random.default_rng(1).dirichlet(np.ones(12), size=24), jnp.float32)
    keys = jax.random.split(jax.random.key(5), 24)
    whole = np.asarray(jax.jit(jax.vmap(categorical.multinomial))(keys, n, p))
    one = jax.jit(categorical.multinomial)
    assert all(np.array_equal(whole[i], np.asarray(one(keys[i], n[i], p[i]))) for i in range(0, 24, 5))
    reverse = np.asarray(jax.jit(jax.vmap(categorical.multinomial))(keys[::-1], n[::-1], p[::-1]))
    assert np.array_equal(whole, reverse[::-1])
    nested = jax.jit(jax.vmap(jax.vmap(categorical.multinomial)))(keys.reshape(4, 6), n.reshape(4, 6), p.reshape(4, 6, 12))
    assert np.array_equal(whole, np.asarray(nested).reshape(24, 12))
    monkeypatch.setattr(categorical, "RETRY_SHARE", 10**9)
    single = jax.jit(jax.vmap(lambda k, c, q: categorical.multinomial(k, c, q)))(keys, n, p)
    assert np.array_equal(whole, np.asarray(single))


@pytest.mark.parametrize("p", [[0.7, 0.2, 0.1], [0.3, 0.25, 0.2, 0.1, 0.08, 0.05, 0.02]], ids=["K3", "K7"])
def test_multinomial_other_layouts_match_scipy(p):
    """K = 3 (one block: the verification study's layout) and K = 7 (prime: blocks of width 1),
    20,000 draws at n = 60: every category against scipy's binomial pmf as above."""
    import jax
    import jax.numpy as jnp
    from scipy import stats

    from jaxcollapse.models.categorical import multinomial

    counts = np.asarray(jax.jit(jax.vmap(multinomial, in_axes=(0, None, None)))(
        jax.random.split(jax.random.key(31), 20_000), 60, jnp.asarray(p, jnp.float32))).astype(np.int64)
    assert np.all(counts.sum(axis=1) == 60)
    for j, share in enumerate(p):
        _chi_square_holds(counts[:, j], lambda c: stats.binom.pmf(c, 60, share), 60 * share, 60 * share * (1 - share))


def test_inversion_table_is_exact():
    """Every float32 uniform (2^23 of them) through the full-table proposal at means <= 10,
    with and without the flip at p > 1/2: the share of uniforms giving x is the binomial pmf to
    1e-6 (float32 rounding of the CDF), and under 1e-5 of them are sent to a redraw."""
    import jax
    import jax.numpy as jnp
    from scipy import stats

    from jaxcollapse.models.categorical import _binomial_proposal

    u = jnp.arange(2**23, dtype=jnp.float32) / 2**23
    draw = jax.jit(lambda c, q: _binomial_proposal(u, u, jnp.full_like(u, c), jnp.full_like(u, q)))
    for count, prob in [(5, 0.3), (20, 0.5), (37, 0.9), (10_000, 0.001), (12, 0.0)]:
        x = np.asarray(draw(jnp.float32(count), jnp.float32(prob)))
        assert np.mean(x < 0) < 1e-5, (count, prob)
        share = np.bincount(x[x >= 0].astype(np.int64), minlength=count + 1) / x.size
        assert np.max(np.abs(share - stats.binom.pmf(np.arange(share.size), count, prob))) < 1e-6, (count, prob)


def test_threefry_matches_jax():
    """The unrolled Threefry-2x32 the multinomial hashes with is bitwise JAX's primitive, on
    random words and on the edge words 0 and 2^32 - 1."""
    import jax
    from jax.extend.random import threefry2x32_p

    from jaxcollapse.models.lanes import threefry2x32

    words = np.random.default_rng(7).integers(0, 2**32, size=(4, 4096), dtype=np.uint32)
    words[:, :4] = [[0, 0, 2**32 - 1, 2**32 - 1], [0, 2**32 - 1, 0, 2**32 - 1], [0, 1, 2, 3], [2**32 - 1] * 4]
    ours = jax.jit(threefry2x32)(*words)
    theirs = jax.jit(threefry2x32_p.bind)(*words)
    for a, b in zip(ours, theirs):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


def test_first_pass_equals_the_full_table():
    """The first pass (a FIRST_STEPS table) gives bitwise the full table's proposals. In float32
    over every uniform, where the short table runs out for some (CDF rounding) and where it does
    not; in float64 on uniforms between F(FIRST_STEPS - 1) and F(43), which only the finishing
    branch (the full table from the same uniforms) turns into draws of 32 ... 43."""
    import jax
    import jax.numpy as jnp
    from scipy import stats

    from jaxcollapse.models.categorical import FIRST_STEPS, _binomial_proposal, _first_proposal

    u = jnp.arange(2**23, dtype=jnp.float32) / 2**23
    short = jax.jit(lambda *a: _binomial_proposal(*a, steps=FIRST_STEPS))
    ran_out = 0
    for count, prob in [(37, 0.9), (10_000, 0.001), (20, 0.5), (1000, 0.3)]:
        args = (u, u[::-1], jnp.full_like(u, count), jnp.full_like(u, prob))
        np.testing.assert_array_equal(np.asarray(jax.jit(_first_proposal)(*args)),
                                      np.asarray(jax.jit(_binomial_proposal)(*args)))
        ran_out += int(np.sum(np.asarray(short(*args)) == -2))
    assert ran_out > 0

    jax.config.update("jax_enable_x64", True)
    count, prob = 10_000, 0.001
    low, high = stats.binom.cdf([FIRST_STEPS - 1, 43], count, prob)
    u = jnp.asarray(np.concatenate([np.linspace(low, high, 1000)[1:-1], np.linspace(0, 1, 1000, endpoint=False)]))
    args = (u, u, jnp.full_like(u, count), jnp.full_like(u, prob))
    first = np.asarray(jax.jit(_first_proposal)(*args))
    np.testing.assert_array_equal(first, np.asarray(jax.jit(_binomial_proposal)(*args)))
    assert np.all(np.asarray(short(*args))[:998] == -2) and np.all((first[:998] >= FIRST_STEPS) & (first[:998] <= 43))


def test_redraw_proposals_match_scipy():
    """The redraw's batches (``_proposals``) on 100,000 elements each: inversion with the table,
    BTRS with it and without it (the redraw skips the table when no element needs it). The
    first standing proposal of batch 0 against scipy's pmf, as above."""
    import jax
    import jax.numpy as jnp
    from scipy import stats

    from jaxcollapse.models.categorical import _proposals

    m = 100_000
    stream = tuple(jnp.arange(m, dtype=jnp.uint32) * w for w in (3, 5, 7))
    for count, prob, inversion in [(20, 0.35, True), (400, 0.3, True), (400, 0.3, False)]:
        count_, prob_ = jnp.full(m, count, jnp.float32), jnp.full(m, prob, jnp.float32)
        x = np.asarray(jax.jit(_proposals, static_argnums=4)(stream, 0, count_, prob_, inversion))
        x = x[x >= 0].astype(np.int64)
        assert x.size > 0.99 * m
        _chi_square_holds(x, lambda c: stats.binom.pmf(c, count, prob), count * prob, count * prob * (1 - prob))


@pytest.mark.parametrize("total,rate", [(4000, 0.05), (4000, 0.3), (800, 0.1), (37, 0.5), (64, 0.0), (64, 1.0), (1, 1.0)])
def test_first_true_is_nonzero(total, rate):
    """The redraw's compaction gives ``jnp.nonzero``'s padded indices, for buffers shorter and
    longer than the true count and sizes that are not a multiple of the 32-bit word."""
    import jax
    import jax.numpy as jnp

    from jaxcollapse.models.categorical import _first_true

    mask = jnp.asarray(np.random.default_rng(total).uniform(size=total) < rate)
    for size in (1, max(1, total // 12), total + 3):
        expected = np.asarray(jnp.nonzero(mask, size=size, fill_value=total)[0])
        np.testing.assert_array_equal(np.asarray(jax.jit(_first_true, static_argnums=1)(mask, size)), expected)


def test_multinomial_edge_inputs():
    """Raw uint32 keys draw what their typed keys draw; a non-finite n or p, or a negative n
    (which hung where p > 1/2), gives NaN counts instead of a hang or zeros; an empty batch has
    shape (0, K); a gradient through it is zero."""
    import jax
    import jax.numpy as jnp

    from jaxcollapse.models.categorical import multinomial

    keys = jax.random.split(jax.random.key(4), 4)
    p = jnp.array([0.2, 0.3, 0.5])
    batched = jax.jit(jax.vmap(multinomial, in_axes=(0, 0, None)))
    n = jnp.array([100.0, jnp.nan, 5.0, jnp.inf])
    typed, raw = np.asarray(batched(keys, n, p)), np.asarray(batched(jax.random.key_data(keys), n, p))
    assert np.array_equal(typed, raw, equal_nan=True)
    assert np.all(np.isnan(typed[1])) and np.all(np.isnan(typed[3])) and np.all(typed[[0, 2]].sum(1) == [100, 5])
    assert np.all(np.isnan(multinomial(keys[0], 10, jnp.array([jnp.inf, 1.0, 1.0]))))
    assert np.all(np.isnan(multinomial(keys[0], 5, jnp.array([jnp.nan, 0.7]))))
    assert np.all(np.isnan(multinomial(keys[0], -3, jnp.array([0.9, 0.1]))))
    assert batched(keys[:0], n[:0], p).shape == (0, 3)
    assert np.all(np.asarray(jax.grad(lambda q: jnp.sum(multinomial(keys[0], 100, q)))(p)) == 0)


def test_multinomial_in_float64():
    """Under x64 the uniforms take 52 bits from two hashes: the counts still sum to n and the
    mean of every category is within 4 SE of n p_j."""
    import jax
    import jax.numpy as jnp

    from jaxcollapse.models.categorical import multinomial

    jax.config.update("jax_enable_x64", True)
    p = np.array([0.5, 0.3, 0.15, 0.05])
    counts = np.asarray(jax.jit(jax.vmap(multinomial, in_axes=(0, None, None)))(
        jax.random.split(jax.random.key(2), 20_000), 500, jnp.asarray(p)))
    assert counts.dtype == np.float64 and np.all(counts.sum(axis=1) == 500)
    se = np.sqrt(500 * p * (1 - p) / counts.shape[0])
    assert np.all(np.abs(counts.mean(axis=0) - 500 * p) < 4 * se)


@pytest.mark.parametrize("x64", [False, True], ids=["float32", "float64"])
def test_standard_normal_lanes_are_jax_normals(x64):
    """The lanes-last normals (one unrolled Threefry hash fused with the transform) are bitwise
    ``jax.random.normal(key, (rows, 1))``, lane by lane, in float32 and float64."""
    import jax
    import jax.numpy as jnp

    from jaxcollapse.models.lanes import standard_normal_lanes

    jax.config.update("jax_enable_x64", x64)
    dtype = jnp.float64 if x64 else jnp.float32
    keys = jax.random.split(jax.random.key(11), 257)
    ours = jax.jit(lambda k: standard_normal_lanes(k, 100, dtype))(keys)
    theirs = jax.jit(jax.vmap(lambda k: jax.random.normal(k, (100, 1), dtype)[:, 0]))(keys)
    assert ours.dtype == dtype
    np.testing.assert_array_equal(np.asarray(ours).T, np.asarray(theirs))


def test_explicit_standard_batches_match_a_float64_reference():
    """The explicit sampler's 1-d batches (lanes-last sums) against numpy in float64 on the same
    normals: count, mean and scatter root of consecutive batches, for one batch, two, an empty
    one, a batch of one sample (root exactly 0, as the shifted form gives it) and batches that
    overrun the rows (truncated). Under two nested vmaps every lane equals its own call alone,
    bitwise; an rbg key takes the generic path and gives the same statistics."""
    import jax
    import jax.numpy as jnp

    from jaxcollapse.models.gaussian import standard_batches

    keys = jax.random.split(jax.random.key(3), 12)
    rows = 100
    normals = np.asarray(jax.vmap(lambda k: jax.random.normal(k, (rows, 1))[:, 0])(keys), np.float64)
    draw = jax.jit(jax.vmap(lambda k, c: standard_batches(k, tuple(c), 1, "explicit", rows)))
    for counts in [(100,), (30, 70), (0, 40), (1,), (1, 1), (60, 60), (7, 0)]:
        got = draw(keys, jnp.tile(jnp.asarray(counts), (12, 1)))
        start = 0
        for i, c in enumerate(counts):
            block = normals[:, start:min(start + c, rows)]
            start += c
            count = block.shape[1]
            mean = block.mean(axis=1) if count else np.zeros(12)
            root = np.sqrt(((block - mean[:, None]) ** 2).sum(axis=1)) if count else np.zeros(12)
            np.testing.assert_array_equal(np.asarray(got[i].count), count)
            np.testing.assert_allclose(np.asarray(got[i].mean[:, 0]), mean, rtol=1e-5, atol=1e-6)
            np.testing.assert_allclose(np.asarray(got[i].root[:, 0, 0]), root, rtol=1e-5, atol=1e-6)
            if count <= 1:
                assert np.all(np.asarray(got[i].root) == 0) and np.all(np.asarray(got[i].log_det) == -np.inf)

    grid = jnp.asarray([[[30, 50]] * 4, [[70, 10]] * 4, [[5, 95]] * 4])  # [3 points, 4 seeds, 2 batches]
    nested = jax.jit(jax.vmap(jax.vmap(lambda k, c: standard_batches(k, tuple(c), 1, "explicit", rows))))(
        keys.reshape(3, 4), grid)
    flat = draw(keys, grid.reshape(12, 2))  # the same 12 lanes: XLA may round another width differently
    for a, b in zip(jax.tree.leaves(flat), jax.tree.leaves(nested)):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b).reshape(a.shape))
    np.testing.assert_allclose(np.asarray(flat[0].mean[:, 0]), np.r_[normals[:4, :30].mean(1), normals[4:8, :70].mean(1),
                                                                     normals[8:, :5].mean(1)], rtol=1e-5, atol=1e-6)

    assert "custom_vmap" in str(jax.make_jaxpr(draw)(keys, jnp.tile(jnp.asarray((30, 70)), (12, 1))))  # lanes-last
    as64 = standard_batches(keys[0], (10,), 1, "explicit", 20, jnp.float64)[0]  # float32 without x64, as jax draws it
    as32 = standard_batches(keys[0], (10,), 1, "explicit", 20, jnp.float32)[0]
    assert as64.mean.dtype == np.float32 and float(as64.mean[0]) == float(as32.mean[0])
    half = standard_batches(keys[0], (10,), 1, "explicit", 20, jnp.float16)[0]  # the generic path
    reference = np.asarray(jax.random.normal(keys[0], (20, 1), jnp.float16), np.float64)[:10, 0].mean()
    assert half.mean.dtype == np.float16 and abs(float(half.mean[0]) - reference) < 2e-3

    rbg = jax.random.split(jax.random.key(3, impl="rbg"), 12)
    got = draw(rbg, jnp.tile(jnp.asarray((30, 70)), (12, 1)))
    z = np.asarray(jax.vmap(lambda k: jax.random.normal(k, (rows, 1))[:, 0])(rbg), np.float64)
    np.testing.assert_allclose(np.asarray(got[1].mean[:, 0]), z[:, 30:].mean(axis=1), rtol=1e-5, atol=1e-6)


GAMMA_SHAPES = [0.3, 1.0, 2.5, 49.5, 1e4]  # both sides of the boost at shape 1; Bartlett's dummy 1e4


def test_gamma_matches_scipy_cdf():
    """The vmap-shaped Marsaglia-Tsang gamma against scipy's cdf: a one-sample KS test on 200,000
    draws per shape at p > 1e-4 (shapes traced, one compile), the mean within 4 SE; chi-square with
    df <= 0 is 0 and with a NaN df NaN, not a hang."""
    import jax
    import jax.numpy as jnp
    from scipy import stats

    from jaxcollapse.models.gamma import chisquare, gamma

    draw = jax.jit(jax.vmap(gamma, in_axes=(0, None)))
    for i, shape in enumerate(GAMMA_SHAPES):
        x = np.asarray(draw(jax.random.split(jax.random.key(700 + i), DRAWS), jnp.float32(shape)), np.float64)
        assert np.all(np.isfinite(x)) and np.all(x > 0)
        assert stats.kstest(x, stats.gamma(shape).cdf).pvalue > 1e-4
        assert abs(x.mean() - shape) <= 4 * np.sqrt(shape / x.size)
    odd = np.asarray(jax.jit(chisquare)(jax.random.key(0), jnp.array([0.0, -1.0, -5.0, jnp.nan, 3.0])))
    assert np.all(odd[:3] == 0) and np.isnan(odd[3]) and odd[4] > 0


def test_one_dimensional_statistics_match_a_float64_reference():
    """The one-pass 1-d statistics (shifted sums in one variadic reduction) against numpy in
    float64: count, mean and scatter root to float32 rounding, for general weights, zero weights
    before the first counted row, data far from 0 (a 10^4 offset, unit spread), two nearly equal
    values, and an empty batch (count 0, mean 0, root 0)."""
    import jax
    import jax.numpy as jnp

    from jaxcollapse.models.gaussian import stats_from_samples

    rng = np.random.default_rng(5)
    cases = [
        (rng.normal(size=100), np.ones(100)),
        (rng.normal(size=50), rng.uniform(0.1, 3.0, size=50)),
        (rng.normal(size=40), np.r_[np.zeros(10), np.ones(30)]),
        (1e4 + rng.normal(size=100), np.ones(100)),
        (np.array([1.0, 1.0 + 3e-4, 7.0]), np.array([1.0, 1.0, 0.0])),
        (rng.normal(size=8), np.zeros(8)),
    ]
    stats = jax.jit(stats_from_samples)
    for x, w in cases:
        got = stats(jnp.asarray(x[:, None], jnp.float32), jnp.asarray(w, jnp.float32))
        x32 = x.astype(np.float32).astype(np.float64)  # the float32 inputs, exactly
        count = w.sum()
        mean = (w * x32).sum() / count if count > 0 else 0.0
        root = np.sqrt((w * (x32 - mean) ** 2).sum())
        assert float(got.count) == pytest.approx(count, rel=1e-6)
        assert float(got.mean[0]) == pytest.approx(mean, rel=1e-6, abs=1e-6)
        assert float(got.root[0, 0]) == pytest.approx(root, rel=2e-5, abs=1e-12)
