"""kde (Kazdan et al.'s KDE experiments) against the linear closed form for the expected held-out
density, the accumulate lower bound, numpy references for the density, the kernels and the
bandwidth rules, and the toy sets' geometry. Tolerances: 4 Monte Carlo standard errors."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy.special import logsumexp

import jaxcollapse as jc
from jaxcollapse.engine.params import ConfigError
from jaxcollapse.models import kde

from .reference import z_score

CHECKED = [0, 1, 4, 10]


def test_expected_heldout_density_matches_the_convolution_recursion():
    """Every regime in one grid (alpha = 0.3 is mix's real share; replace, accumulate and
    accumulate-subsample ignore it)."""
    regimes = ["replace", "mix", "accumulate", "accumulate-subsample"]
    result = jc.run("kde", {"dataset": "blobs", "n": 30, "bandwidth": 0.4, "test_size": 100, "alpha": 0.3},
                    {"regime": regimes}, seeds=1000, generations=10, key=21, keep=())
    theory = result.theory["mean_density"][:, CHECKED]
    assert np.all(np.isfinite(theory))
    z = z_score(result.mean("mean_density")[:, CHECKED], result.stderr("mean_density")[:, CHECKED], theory)
    assert np.all(np.abs(z) < 4), np.round(z, 2)


def test_accumulate_stays_within_its_bound_and_replace_does_not():
    """The real points stay in the pool, so p_t >= (n0 / N_t) p_0 pointwise and
    nll_t <= nll_0 + log(N_t / n0) for every seed; replace leaves that bound."""
    common = {"dataset": "moons", "n": 40, "bandwidth": 0.1, "test_size": 200}
    runs = jc.run("kde", common, {"regime": ["accumulate", "replace"]}, seeds=200, generations=25, key=22, keep=("nll",))
    nll = runs.per_seed["nll"][0]
    bound = nll[:, :1] + np.log(np.arange(1, 27))
    assert np.all(nll <= bound + 1e-4)
    replace = runs.per_seed["nll"][1]
    assert np.mean(replace[:, -1] > bound[:, -1]) > 0.9


def test_log_density_against_numpy():
    jax.config.update("jax_enable_x64", True)
    rng = np.random.default_rng(1)
    x, queries, count, h = rng.normal(size=(2 * kde.TILE + 37, 2)), rng.normal(size=(30, 2)), 1030, 0.3
    sq = np.sum((queries[:, None] - x[None, :count]) ** 2, -1)
    gaussian = logsumexp(-0.5 * sq / h**2, axis=1) - np.log(2 * np.pi * h**2) - np.log(count)
    with np.errstate(divide="ignore"):
        tophat = np.log(np.mean(sq < h**2, axis=1) / (np.pi * h**2))
    for code, expected in ((0, gaussian), (1, tophat)):
        weight = jnp.asarray(np.arange(len(x)) < count, jnp.float64)  # the first ``count`` rows are data
        got = kde.log_density(jnp.asarray(queries), jnp.asarray(x), weight, h, code)
        np.testing.assert_allclose(got, expected, rtol=1e-10)


@pytest.mark.parametrize("code,variance", [(0, 1.0), (1, 0.25)])
def test_kernel_draws_have_the_kernel_variance(code, variance):
    """Sampling a one-point KDE is a kernel draw: per-coordinate variance h^2 (gaussian) or h^2/4
    (uniform disc), mean 0; and every tophat draw lies within h."""
    m, h = 200_000, 1.0
    draws = np.asarray(kde.sample(jax.random.key(3), jnp.zeros((1, 2)), jnp.ones(1), h, code, m))
    se = np.std(draws**2, axis=0) / np.sqrt(m)
    assert np.all(np.abs(z_score(np.mean(draws**2, axis=0), se, variance)) < 4)
    if code == 1:
        assert np.max(np.linalg.norm(draws, axis=1)) <= h + 1e-6


def test_bandwidth_rules_against_numpy():
    result = jc.run("kde", {"dataset": "swiss", "n": 80}, grids={"bandwidth": ["scott", "silverman"]},
                    seeds=8, generations=1, key=4, keep=("bandwidth", "spread"))
    key = jax.random.fold_in(jax.random.fold_in(jax.random.key(4), 0), 0)  # seed 0, generation 0
    train = np.asarray(kde.sample_toy(jax.random.split(key, 4)[1], 3, 80, 0.1, 0.5))  # its real rows
    sd = np.sqrt(np.mean(np.var(train, axis=0)))
    scott, silverman = result.per_seed["bandwidth"][:, 0, 0]
    assert scott == pytest.approx(80 ** (-1 / 6) * sd, rel=1e-4)
    assert silverman == pytest.approx((80 * 4 / 4) ** (-1 / 6) * sd, rel=1e-4)
    assert result.per_seed["spread"][0, 0, 0] == pytest.approx(sd**2 + scott**2, rel=1e-4)


def test_toy_sets_have_their_shapes():
    key = jax.random.key(5)
    circles = np.asarray(kde.sample_toy(key, 2, 4000, 0.0, 0.5))
    radius = np.linalg.norm(circles, axis=1)
    assert np.all(np.isclose(radius, 1.0, atol=1e-5) | np.isclose(radius, 0.5, atol=1e-5))
    assert abs(np.mean(radius > 0.75) - 0.5) < 4 * 0.5 / np.sqrt(4000)
    moons = np.asarray(kde.sample_toy(key, 1, 4000, 0.0, 0.5))
    upper = np.isclose(np.linalg.norm(moons, axis=1), 1.0, atol=1e-5) & (moons[:, 1] >= -1e-6)
    lower = np.isclose(np.linalg.norm(moons - [1.0, 0.5], axis=1), 1.0, atol=1e-5) & (moons[:, 1] <= 0.5 + 1e-6)
    assert np.all(upper | lower)
    blobs = np.asarray(kde.sample_toy(key, 0, 30000, 0.0, 0.5))
    np.testing.assert_allclose(blobs.mean(0), 0.0, atol=4 * np.sqrt((4 / 2 + 0.25) / 30000))


@pytest.mark.parametrize("settings,message", [
    ({"bandwidth": -1}, "bandwidth=-1"),
    ({"bandwidth": "auto"}, "bandwidth=auto"),
    ({"dataset": "spiral"}, "dataset=spiral"),
    ({"alpha": 0.5}, "regime=mix"),
    ({"n": 1}, "n=1"),
    ({"kernel": "epanechnikov"}, "kernel=epanechnikov"),
])
def test_validation(settings, message):
    with pytest.raises(ConfigError, match=message):
        jc.run("kde", settings, seeds=2, generations=2)


def test_weighted_kde_against_numpy():
    """Weights: p(y) = sum w_i K(y - x_i) / sum w_i, zero-weight rows absent; and sampling picks
    rows in proportion to their weights."""
    jax.config.update("jax_enable_x64", True)
    rng = np.random.default_rng(2)
    x, queries, h = rng.normal(size=(700, 2)), rng.normal(size=(20, 2)), 0.4
    weight = rng.choice([0.0, 0.5, 2.0], size=700)
    sq = np.sum((queries[:, None] - x[None]) ** 2, -1)
    expected = logsumexp(-0.5 * sq / h**2, b=weight[None], axis=1) - np.log(2 * np.pi * h**2) - np.log(weight.sum())
    got = kde.log_density(jnp.asarray(queries), jnp.asarray(x), jnp.asarray(weight), h, 0)
    np.testing.assert_allclose(got, expected, rtol=1e-10)
    rows = np.arange(3.0)[:, None] * np.ones((1, 2)) * 100  # far apart: each draw reveals its row
    draws = np.asarray(kde.sample(jax.random.key(4), jnp.asarray(rows), jnp.asarray([1.0, 0.0, 3.0]), 0.01, 0, 40000))
    picked = np.round(draws[:, 0] / 100).astype(int)
    assert not np.any(picked == 1)
    share = np.mean(picked == 2)
    assert abs(share - 0.75) < 4 * np.sqrt(0.75 * 0.25 / 40000)
