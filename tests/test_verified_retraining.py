"""verified-retraining (Yi et al.): the directions form against its exact first-round risk
(Gauss-Hermite over the OLS law) and the note's independent values, the two long-run regimes,
and the regression form (the data loop's verify policy) against a plain-numpy reference."""

import numpy as np
import pytest

import jaxcollapse as jc
from jaxcollapse.engine.params import ConfigError
from jaxcollapse.studies.verified_retraining import truncated_normal_moments
from jaxcollapse.validate import z_limit
from tests.reference import z_score


def test_truncated_normal_moments_match_scipy():
    """The closed form's truncated-normal mean and variance against scipy's ``truncnorm.stats``
    (an independent implementation), over intervals from -38 to 38, half-lines, narrow bands and
    both tails."""
    from scipy.stats import truncnorm

    edges = np.concatenate([[-np.inf], np.linspace(-38, 38, 77), [np.inf]])
    lower, upper = np.meshgrid(edges, edges, indexing="ij")
    lower, upper = lower[lower < upper], upper[lower < upper]
    lower, upper = np.concatenate([lower, [-0.01, 5.0, -30.0]]), np.concatenate([upper, [0.01, 5.01, -29.5]])
    mean, var = truncated_normal_moments(lower, upper)
    reference_mean, reference_var = truncnorm.stats(lower, upper, moments="mv")
    np.testing.assert_allclose(mean, reference_mean, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(var, reference_var, rtol=1e-8)


@pytest.fixture(scope="module")
def first_round():
    return jc.run("verified-retraining", grids={"center_shift": [0.0, 0.2, 0.4], "band_width": [0.01, 0.5]},
                  seeds=2500, generations=1, key=1)


@pytest.mark.xdist_group("verified")
def test_the_first_verified_round_has_its_exact_risk(first_round):
    for metric in ("loss", "kept_fraction", "center_progress"):
        shifted = slice(1, None) if metric == "center_progress" else slice(None)  # a = 0: progress is 0
        z = z_score(first_round.mean(metric)[shifted, :, 1], first_round.stderr(metric)[shifted, :, 1],
                    first_round.theory[metric][shifted, :, 1])
        assert np.max(np.abs(z)) < z_limit(z.size), (metric, z)
    # the note's independent numbers: R_real for the code's design, and its Monte Carlo R_1 (+- its SE)
    assert abs(first_round.theory["loss"][0, 0, 0] - 0.08374) < 1e-5
    for (a, gamma), (value, se) in {(0.0, 0.01): (0.01932, 0.0002), (0.0, 0.5): (0.05279, 0.0005),
                                    (0.2, 0.01): (0.04430, 0.0004), (0.2, 0.5): (0.06418, 0.0006),
                                    (0.4, 0.01): (0.12178, 0.0007), (0.4, 0.5): (0.10091, 0.0009)}.items():
        theory = first_round.theory["loss"][[0.0, 0.2, 0.4].index(a), [0.01, 0.5].index(gamma), 1]
        assert abs(theory - value) < 4 * se, (a, gamma, theory)


@pytest.mark.xdist_group("verified")
def test_plateau_and_gain_then_reversal():
    result = jc.run("verified-retraining", grids={"center_shift": [0.1, 0.3]}, settings={"band_width": 0.1},
                    seeds=1500, generations=12, key=2)
    loss, se = result.mean("loss"), result.stderr("loss")
    gap = lambda a, t, s: (loss[a, t] - loss[a, s]) / np.hypot(se[a, t], se[a, s])  # noqa: E731
    assert gap(0, 1, 0) < -4 and abs(loss[0, 12] - loss[0, 1]) < 4 * np.hypot(se[0, 12], se[0, 1]) + 0.002  # plateau
    assert gap(1, 1, 0) < -2 and gap(1, 12, 0) > 4  # a gain, then a reversal past the real-data risk
    # the limit is the verifier's centre (a symmetric stationary law), whatever the start
    progress = result.mean("center_progress")[:, -1]
    assert np.all(np.abs(progress - 1) < 4 * result.stderr("center_progress")[:, -1])
    # geometric contraction at rate tau = theta(-h/sigma, h/sigma) (h = gamma + sigma sqrt(2/pi)):
    # the recursion's progress gains 1 - tau of what is left each round, and so does the simulation
    from scipy.stats import truncnorm

    tau = truncnorm(-(0.1 + np.sqrt(2 / np.pi)), 0.1 + np.sqrt(2 / np.pi)).var()
    left = 1 - result.theory["center_progress"][1]
    np.testing.assert_allclose(left[2:6] / left[1:5], tau, rtol=0.05)
    z = z_score(result.mean("center_progress")[:, 1:6], result.stderr("center_progress")[:, 1:6],
                result.theory["center_progress"][:, 1:6])
    assert np.max(np.abs(z)) < z_limit(z.size)


def _numpy_round(seeds, d, n, a, gamma, rng):
    """The authors' filter_y: OLS on n real rows, then OLS on the kept rows of n fresh synthetic
    ones (plain numpy, vectorised over seeds)."""
    star = np.random.RandomState(0).randn(d)
    center = star + a
    x0 = rng.normal(size=(seeds, n, d))
    y0 = x0 @ star + rng.normal(size=(seeds, n))
    theta0 = np.linalg.solve(np.einsum("snd,sne->sde", x0, x0), np.einsum("snd,sn->sd", x0, y0)[..., None])[..., 0]
    x1 = rng.normal(size=(seeds, n, d))
    y1 = np.einsum("snd,sd->sn", x1, theta0) + rng.normal(size=(seeds, n))
    keep = np.abs(y1 - x1 @ center) <= gamma * np.linalg.norm(x1, axis=2) + np.sqrt(2 / np.pi)
    xk = x1 * keep[..., None]
    theta1 = np.linalg.solve(np.einsum("snd,sne->sde", xk, x1), np.einsum("snd,sn->sd", xk, y1)[..., None])[..., 0]
    return np.sum((theta1 - star) ** 2, axis=1), keep.mean(axis=1)


@pytest.mark.xdist_group("verified")
def test_the_regression_form_matches_a_numpy_reference():
    result = jc.run("verified-retraining", settings={"form": "regression", "dim": 5},
                    grids={"center_shift": [0.0, 0.25], "band_width": [0.25]}, seeds=1500, generations=1, key=3)
    rng = np.random.default_rng(0)
    for i, a in enumerate((0.0, 0.25)):
        loss, kept = _numpy_round(3000, 5, 100, a, 0.25, rng)
        for metric, reference in (("loss", loss), ("kept_fraction", kept)):
            mean, se = result.mean(metric)[i, 0, 1], result.stderr(metric)[i, 0, 1]
            z = (mean - reference.mean()) / np.hypot(se, reference.std(ddof=1) / np.sqrt(reference.size))
            assert abs(z) < z_limit(4), (a, metric, mean, reference.mean())


def test_bad_verified_settings_are_refused_in_one_line():
    for settings, message in [({"select": "none"}, "select=none: form=directions runs select=verify only"),
                              ({"n0": 4, "dim": 8}, "n0=4: generation 0's OLS needs n0 >= dim"),
                              ({"band_width": -1}, "band_width=-1")]:
        with pytest.raises(ConfigError, match=message) as err:
            jc.run("verified-retraining", settings=settings, seeds=2, generations=1)
        assert "\n" not in str(err.value)
