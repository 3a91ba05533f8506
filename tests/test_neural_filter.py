"""neural-filter (Han et al. vs Xu et al.): the learned filter's contraction on held-out states,
its effect on the error, and every closed form of the rule-based arms against simulation.
Tolerances are 4 Monte Carlo standard errors and the keys are fixed."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy.special import digamma, polygamma

from jaxcollapse.engine import ConfigError, execute, plan
from jaxcollapse.engine.sweep import traced
from jaxcollapse.filters import contraction
from jaxcollapse.studies import get_study
from jaxcollapse.studies.neural_filter import log_var_ratio_variance, sample_sizes

from .reference import z_score

pytestmark = pytest.mark.xdist_group("neural_filter")  # its module fixture is computed once

STUDY = get_study("neural-filter")


# ---- the learned filter -------------------------------------------------------------------


def _held_out_contraction(settings, seeds=4, directions=6, radii=(1.5, 3.0), pools=300):
    """Train one filter per seed (its generation-0 warm-up). Then, on fresh states u at
    ``radii`` noise units (1/sqrt n) in random directions, estimate E[u' | u] by plain Monte
    Carlo over ``pools`` independent filtered refits. No control variate is used here, unlike
    in training.

    Returns:
      q: |E u'|^2 - (1-c)|u|^2
      se: its delta-method standard error, 2 sqrt(mean^T Cov mean / pools)
      ratio: |E u'|^2 / |u|^2
    """
    config = plan(STUDY, {**settings, "method": "neural-filter"}, {}, seeds=1, generations=1).points[0]
    study = STUDY.build([config], 1)
    params = jax.tree.map(traced, study.numeric(config))
    view, n = study.view, int(config["n"][0])

    def one_seed(key):
        k_init, k_dir, k_pool = jax.random.split(key, 3)
        (_, anchor, weights, _), _ = study.init(k_init, params)
        net = study.network(weights)
        unit = jax.random.normal(k_dir, (directions, view.n_params))
        unit = unit / jnp.linalg.norm(unit, axis=1, keepdims=True)
        states = (jnp.asarray(radii)[:, None, None] * unit[None] / np.sqrt(n)).reshape(-1, view.n_params)

        def per_state(u, k):
            start = view.perturb(anchor, u)
            u0 = view.standardize(start, anchor)
            after = jax.vmap(lambda kk: view.standardize(
                contraction.filtered_fit(net, view, kk, start, anchor, n, study.n_max), anchor))(jax.random.split(k, pools))
            return u0, after.mean(0), jnp.cov(after.T).reshape(view.n_params, view.n_params)

        return jax.vmap(per_state)(states, jax.random.split(k_pool, states.shape[0]))

    u0, mean, cov = jax.jit(jax.vmap(one_seed))(jax.random.split(jax.random.key(7), seeds))
    u0, mean, cov = (np.asarray(a, np.float64) for a in (u0, mean, cov))
    c = config["contraction"]
    q = np.sum(mean**2, -1) - (1 - c) * np.sum(u0**2, -1)
    se = 2 * np.sqrt(np.einsum("...i,...ij,...j->...", mean, cov, mean) / pools)
    return q, se, np.sum(mean**2, -1) / np.sum(u0**2, -1)


@pytest.mark.parametrize("family", ["gaussian", "bernoulli"])
def test_trained_filter_contracts_on_held_out_states(family):
    """Assumption 2.3 with c = 0.3, |A(u) u|^2 <= 0.7 |u|^2, on every held-out state."""
    q, se, ratio = _held_out_contraction({"family": family, "n": 100})
    assert np.all(q < 4 * se), (ratio.max(), q.max())


def test_untrained_filter_does_not_contract():
    """Power check for the test above: the same test fails for the filter before training,
    i.e. with zero training steps."""
    q, se, ratio = _held_out_contraction({"family": "gaussian", "n": 100, "warmup_steps": 0, "train_steps": 0})
    assert np.any(q > 4 * se), ratio.min()


@pytest.fixture(scope="module")
def filter_against_replace():
    """Every method, Gaussian n = 50, 160 seeds x 30 generations. The grid is one axis, so
    each method shares its seeds' generation-0 fit (the anchor) with every other method."""
    the_plan = plan(STUDY, {"family": "gaussian", "n": 50}, {"method": ["replace", "neural-filter", "superlinear"]},
                    seeds=160, generations=30)
    return the_plan, execute(the_plan)


def test_filter_lowers_the_error_at_the_last_generation(filter_against_replace):
    _, raw = filter_against_replace
    error = raw.per_seed["param_error"][:, :, -1]  # [method, seed]
    # same anchor (two compiled graphs: equal up to float32 rounding)
    np.testing.assert_allclose(raw.per_seed["param_error"][0, :, 0], raw.per_seed["param_error"][1, :, 0], rtol=1e-5)
    diff = error[0] - error[1]  # replace minus filter, paired by seed
    assert diff.mean() / (diff.std(ddof=1) / np.sqrt(diff.size)) > 4
    exceed = raw.per_seed["exceed"][:, :, -1]
    paired = exceed[0] - exceed[1]
    assert paired.mean() / (paired.std(ddof=1) / np.sqrt(paired.size)) > 4
    # the held-out hinge is reported for the network only
    assert np.all(np.isfinite(raw.per_seed["filter_loss"][1]))
    assert np.all(raw.per_seed["filter_loss"][0] == 0)


def test_filter_keeps_the_error_bounded(filter_against_replace):
    """At constant n the filtered error neither grows like the random walk nor vanishes: it
    stays at the scale of the generation-0 error (the honest reading of Han et al.)."""
    _, raw = filter_against_replace
    sq = raw.per_seed["param_sq_error"][1]
    early, late = sq[:, 10:15].mean(1), sq[:, 25:].mean(1)
    growth = late - early
    assert growth.mean() < 4 * growth.std(ddof=1) / np.sqrt(growth.size)  # no upward drift
    replace = raw.per_seed["anchor_distance"][0, :, -1] ** 2
    filtered = raw.per_seed["anchor_distance"][1, :, -1] ** 2
    # Replace drifts from the anchor like a random walk (E|u_T|^2 is about 2 T/n); the
    # filter stays within a few noise units.
    assert filtered.mean() + 4 * filtered.std() / np.sqrt(filtered.size) < 0.25 * replace.mean()


FILTER_GRID = ({"family": "poisson", "warmup_steps": 5, "method": "neural-filter"},
               {"contraction": [0.2, 0.5], "n": [20, 40], "learning_rate": [1e-2, 3e-2]})


def test_filter_hyperparameters_are_traced():
    """The grid below is one static group (one compiled program), checked without compiling."""
    the_plan = plan(STUDY, *FILTER_GRID, seeds=3, generations=2)
    assert len(the_plan.points) == 8 and len({STUDY.static_key(c) for c in the_plan.points}) == 1


# ---- Xu et al.'s closed forms and the rule-based arms -------------------------------------


def test_log_variance_oracle_matches_the_note_table():
    """Xu et al.'s E and Var of log(var_T/var_0), from the note's table."""
    for n, T, mean, var in ((100, 1000, -10.1350, 20.4075), (20, 100, -5.3554, 11.0997), (1000, 1000, -1.0013, 2.0040)):
        config = {"family": "gaussian", "truth": (0.0, 1.0), "method": "replace", "n": np.full(T + 1, n),
                  "alpha": np.zeros(T + 1), "contraction": 0.0, "growth": 0.0}
        theory = STUDY.theory(config, T)
        assert theory["log_var_ratio"][-1] == pytest.approx(mean, abs=1e-4)
        assert log_var_ratio_variance(config["n"])[-1] == pytest.approx(var, abs=1e-4)
        # the oracle's own expression, written out independently
        k = (n - 1) / 2
        assert theory["log_var_ratio"][-1] == pytest.approx(T * (digamma(k) - np.log(k)), rel=1e-9)
        assert log_var_ratio_variance(config["n"])[-1] == pytest.approx(T * polygamma(1, k), rel=1e-9)


@pytest.fixture(scope="module")
def gaussian_schedules():
    """Replace at constant n = 20 against superlinear n_t = 20 t^1.5, 4000 seeds x 100."""
    the_plan = plan(STUDY, {"family": "gaussian", "n": 20}, {"method": ["replace", "superlinear"]},
                    seeds=4000, generations=100)
    return the_plan, execute(the_plan)


def test_log_variance_oracle_holds_in_simulation(gaussian_schedules):
    the_plan, raw = gaussian_schedules
    for i, config in enumerate(the_plan.points):
        log_ratio = raw.per_seed["log_var_ratio"][i]  # [seed, generation]
        theory = STUDY.theory(config, the_plan.generations)["log_var_ratio"]
        mean, se = log_ratio.mean(0), log_ratio.std(0, ddof=1) / np.sqrt(log_ratio.shape[0])
        assert np.all(np.abs(z_score(mean[1:], se[1:], theory[1:])) < 4)
        # the variance of log ratio, its SE from the fourth central moment
        expected = log_var_ratio_variance(sample_sizes(config, the_plan.generations))
        centred = log_ratio - mean
        var = np.mean(centred**2, 0)
        var_se = np.sqrt((np.mean(centred**4, 0) - var**2) / log_ratio.shape[0])
        assert np.all(np.abs(z_score(var[1:], var_se[1:], expected[1:])) < 4)


def test_superlinear_growth_keeps_the_variance_away_from_zero(gaussian_schedules):
    """Constant n: most runs fall below 1% of the initial variance by T = 100 (the note: 0.59).
    Superlinear growth: almost none do, since Chebyshev bounds the probability by
    Var / (log 0.01 - E)^2 from the exact oracle (about 1% here, for all t)."""
    the_plan, raw = gaussian_schedules
    below = (raw.per_seed["log_var_ratio"][:, :, -1] < np.log(0.01)).mean(1)
    super_config = the_plan.points[1]
    mean = STUDY.theory(super_config, 100)["log_var_ratio"][-1]
    spread = log_var_ratio_variance(sample_sizes(super_config, 100))[-1]
    bound = spread / (np.log(0.01) - mean) ** 2
    assert below[1] <= bound + 4 * np.sqrt(bound / 4000)
    assert below[0] > 0.5 and below[1] < below[0] / 20
    # the mean drift E(mu_T - mu)^2 = sigma^2 (1/n0 + sum_k 1/n_k), finite under growth
    n = sample_sizes(super_config, 100)
    drift = raw.per_seed["mean_sq_error"][1, :, -1]
    assert abs(z_score(drift.mean(), drift.std(ddof=1) / np.sqrt(drift.size), 1 / n[0] + np.sum(1 / n[1:]))) < 4


@pytest.mark.parametrize("family", ["gaussian", "poisson", "bernoulli"])
def test_rule_based_arms_match_their_closed_forms(family):
    """linear-filter, superlinear, accumulate and mix, each at every generation, against
    theory: param_sq_error, mean_sq_error and var, where a closed form exists."""
    methods = ["linear-filter", "superlinear", "accumulate", "mix"]
    the_plan = plan(STUDY, {"family": family, "n": 40, "alpha": 0.2, "contraction": 0.25}, {"method": methods},
                    seeds=3000, generations=40)
    raw = execute(the_plan)
    assert len(raw.chunks) == 1  # four methods, one compile
    checked = 0
    for i, config in enumerate(the_plan.points):
        theory = STUDY.theory(config, the_plan.generations)
        for metric in ("param_sq_error", "mean_sq_error", "var"):
            if metric not in theory:
                continue
            values = raw.per_seed[metric][i]
            se = values.std(0, ddof=1) / np.sqrt(values.shape[0])
            z = z_score(values.mean(0), se, theory[metric])
            assert np.all(np.abs(z) < 4), (config["method"], metric, np.abs(z).max())
            checked += 1
    assert checked >= 9


def test_linear_filter_stationary_level_matches_the_note():
    """The ideal filter A = (1 - c) I makes u_t an AR(1) process. Its stationary level is
    E|u|^2 = 1 / (n c (2 - c)), exactly, for the Poisson rate in Fisher units. The note gives
    0.05263 for c = 0.1 and 0.01333 for c = 0.5 at n = 100."""
    the_plan = plan(STUDY, {"family": "poisson", "method": "linear-filter", "n": 100}, {"contraction": [0.1, 0.5]},
                    seeds=4000, generations=150)
    raw = execute(the_plan, keep=("anchor_distance",))
    for i, expected in enumerate((0.05263, 0.01333)):
        level = raw.per_seed["anchor_distance"][i, :, -1] ** 2
        assert abs(z_score(level.mean(), level.std(ddof=1) / np.sqrt(level.size), expected)) < 4


def test_scalar_theory_against_the_closed_form_of_replace():
    """Poisson replace: E(m_t - m)^2 = m (1/n0 + sum 1/n_k); Bernoulli's variance-function
    recursion at its fixation limit, E p(1-p) -> 0 geometrically at rate (1 - 1/n)."""
    base = {"truth": (3.0,), "method": "replace", "alpha": np.zeros(51), "contraction": 0.0, "growth": 0.0}
    n = np.array([10] + [25] * 50)
    poisson = STUDY.theory({**base, "family": "poisson", "n": n}, 50)
    np.testing.assert_allclose(poisson["param_sq_error"], 3.0 * (1 / 10 + np.concatenate([[0], np.cumsum(1 / n[1:])])))
    bern = STUDY.theory({**base, "family": "bernoulli", "truth": (0.3,), "n": n}, 50)
    heterozygosity = 0.21 * (1 - 1 / 10) * (1 - 1 / 25) ** np.arange(51)
    np.testing.assert_allclose(bern["var"], heterozygosity, rtol=1e-12)


# ---- validation ---------------------------------------------------------------------------


@pytest.mark.parametrize("settings, message", [
    ({"family": "bernoulli", "truth": "1.5"}, "truth=1.5"),
    ({"family": "gaussian", "truth": "0,-1"}, "truth=0,-1"),
    ({"family": "poisson", "truth": "1,2"}, "truth=1,2"),
    ({"family": "cauchy"}, "family=cauchy"),
    ({"n": -5}, "n=-5"),
    ({"method": "superlinear", "growth": 3.0}, "growth=3.0"),
    ({"contraction": 1.5}, "contraction=1.5"),
    ({"width": 0}, "width=0"),
])
def test_bad_settings_are_rejected_before_compiling(settings, message):
    with pytest.raises(ConfigError, match=message.replace("(", r"\(")):
        plan(STUDY, settings, {}, seeds=2, generations=100)


def test_same_key_same_results_whatever_the_chunk():
    """The filter grid (8 points, one compiled group): seeds keep their keys and their compiled
    block in any chunk, so 20 seeds as three chunks of one 8-seed block, or one chunk of three
    blocks, give the same numbers bitwise. Against a reference: points with the same n share
    their seeds' real data, so their generation-0 fit (the anchor) is the same whatever the
    filter's hyperparameters, while the trained filters differ."""
    runs = [execute(plan(STUDY, *FILTER_GRID, seeds=20, generations=2, chunk=c)) for c in (8, 24)]
    assert [r.computed for r in runs] == [3, 1] and [len(r.chunks) for r in runs] == [1, 1]  # one compiled group
    np.testing.assert_array_equal(runs[0].per_seed["param_error"], runs[1].per_seed["param_error"])
    raw = runs[1]
    assert np.all(np.isfinite(raw.per_seed["param_error"]))
    # points are row-major over contraction x n x learning rate
    error = raw.per_seed["param_error"].reshape(2, 2, 2, 20, 3)
    for n in range(2):
        np.testing.assert_array_equal(error[:, n, :, :, 0], np.broadcast_to(error[0, n, 0, :, 0], (2, 2, 20)))
    loss = raw.per_seed["filter_loss"].reshape(2, 2, 2, 20, 3)
    assert not np.array_equal(loss[:, :, 0], loss[:, :, 1])  # the learning rate matters
