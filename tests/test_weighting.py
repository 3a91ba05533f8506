"""real_share (He, Xu & Cheng's weighting) and mix-retained (Bertrand et al.'s retained real data)
on the shared data loop, against closed forms: the gaussian study's exact recursions (statistics
path), a mean-only user Model (rows path), and the papers' own formulas (stationary values, the
golden ratio). Tolerances: Bonferroni z limits over every compared generation and grid point."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxcollapse as jc
from jaxcollapse.engine.params import ConfigError
from jaxcollapse.studies.gaussian import mixed_theory
from jaxcollapse.validate import z_limit
from tests.reference import z_score

GOLDEN = (np.sqrt(5) - 1) / 2


def _holds(result, metrics, start=1):
    for metric in metrics:
        z = z_score(result.mean(metric), result.stderr(metric), result.theory[metric])[..., start:]
        assert np.all(np.isfinite(z)), metric
        assert np.max(np.abs(z)) < z_limit(z.size), (metric, float(np.max(np.abs(z))))


def test_fresh_and_retained_real_data_match_the_exact_recursion():
    result = jc.run("gaussian", settings={"dim": 1, "ddof": 0, "n": 20, "alpha": 0.25},
                    grids={"regime": ["mix", "mix-retained"]}, seeds=4000, generations=40, key=3)
    _holds(result, ("var", "mean_sq_error"))
    # the retained sample's error is never averaged away: worse mean, smaller variance
    assert result.mean("mean_sq_error", regime="mix-retained")[-1] > 2 * result.mean("mean_sq_error", regime="mix")[-1]


def test_the_recursion_reaches_bertrands_stationary_values():
    """The note's closed-form fixed points (independent formulas), d = 1, ddof = 0."""
    for n, alpha in [(20, 0.1), (20, 0.5), (100, 0.25), (100, 0.9)]:
        config = {"cov": [1.0], "ddof": 0, "n": np.full(2001, n), "alpha": alpha}
        fresh = mixed_theory({**config, "regime": "mix"}, 2000)
        kept = mixed_theory({**config, "regime": "mix-retained"}, 2000)
        q = 1.0 / (n * (2 - alpha))
        v_fresh = alpha * (1 - q) / (alpha + (1 - alpha) * q)
        v_kept = (alpha - 1 / n) / (alpha + (1 - alpha) * q)
        np.testing.assert_allclose(fresh["var"][-1], v_fresh, rtol=1e-9)
        np.testing.assert_allclose(fresh["mean_sq_error"][-1], (alpha + (1 - alpha) * v_fresh) * q / alpha, rtol=1e-9)
        np.testing.assert_allclose(kept["var"][-1], v_kept, rtol=1e-9)
        np.testing.assert_allclose(kept["mean_sq_error"][-1], 1 / round(alpha * n) + (1 - alpha) * v_kept * q / alpha,
                                   rtol=1e-9)


def test_a_single_retained_point_collapses_the_variance():
    result = jc.run("gaussian", settings={"dim": 1, "ddof": 0, "n": 100, "alpha": 0.01, "regime": "mix-retained"},
                    seeds=1000, generations=1000, key=5)
    # v* = 0 (the note): the theory decays geometrically, and so do the simulated variances (first
    # moments of a log-normal-like product, so compared in size, not in standard errors)
    assert result.theory["var"][-1] < 1e-4 and result.mean("var")[-1] < 1e-3
    assert result.mean("var")[-1] < result.mean("var")[100] / 100
    assert abs(result.mean("mean_sq_error")[-1] - 1.0) < 4 * result.stderr("mean_sq_error")[-1] + 0.02


def test_real_share_is_he_xu_chengs_weighting_with_its_golden_ratio():
    """n = m = 100 real and synthetic rows, d = 2, ddof = 1: simulation against the exact
    recursion; the recursion against the paper's a_inf(w) (whose covariance differs by a
    between-part term, < 0.5% here); its minimiser at 1/phi."""
    grid = [0.3, 0.5, GOLDEN, 0.8]
    result = jc.run("gaussian", settings={"dim": 2, "ddof": 1, "n": "where(t < 1, 100, 200)", "alpha": 0.5,
                                          "regime": "mix"}, grids={"real_share": grid}, seeds=4000, generations=30, key=7)
    _holds(result, ("var", "mean_sq_error"))
    config = {"cov": [1.0, 1.0], "ddof": 1, "n": np.r_[100, np.full(400, 200)], "alpha": 0.5, "regime": "mix"}
    ws = np.linspace(0.55, 0.7, 151)
    risk = [mixed_theory({**config, "real_share": w}, 400)["mean_sq_error"][-1] for w in ws]
    paper = 2 * ((1 - ws) ** 2 / 100 + ws**2 / 100) / (1 - (1 - ws) ** 2)
    np.testing.assert_allclose(risk, paper, rtol=5e-3)
    assert abs(ws[int(np.argmin(risk))] - GOLDEN) <= 0.002
    # the optimal risk is w* times the real-only risk tr/n (the note's identity, to 0.5%)
    assert min(risk) == pytest.approx(GOLDEN * 2 / 100, rel=5e-3)


def test_the_optimal_real_share_follows_w_star_of_k():
    """He et al.'s k sweep (k = real rows per synthetic row): the exact recursion's stationary mean
    error is minimised at w*(k) = (sqrt(k^2 + 4k) - k)/2 with the value w* tr/n_real (the note's
    closed forms, to the 0.5-2% between-part covariance term; finer where m >> n)."""
    from jaxcollapse.studies.gaussian import optimal_real_share

    for alpha in (0.05, 0.2, 0.5, 0.8):
        k, n = alpha / (1 - alpha), 1000
        config = {"cov": [1.0, 1.0], "ddof": 1, "n": np.full(301, n), "alpha": alpha, "regime": "mix"}
        ws = np.linspace(0.02, 0.98, 97)
        risk = np.array([mixed_theory({**config, "real_share": w}, 300)["mean_sq_error"][-1] for w in ws])
        w_star = optimal_real_share(k)
        assert abs(ws[int(np.argmin(risk))] - w_star) <= 0.02, (k, ws[int(np.argmin(risk))], w_star)
        assert min(risk) == pytest.approx(w_star * 2 / round(alpha * n), rel=2e-2)
    assert optimal_real_share(1.0) == pytest.approx(GOLDEN)


# ---- the rows path: a user Model fitting a mean (rows N(theta, 1)) ----------------------------

def _mean_fit(key, data, weights, previous, hp):
    return jnp.sum(weights * data) / jnp.sum(weights)


MEAN = jc.Model(name="weighted-mean", truth=lambda hp: 0.0, fit=_mean_fit,
                sample=lambda key, theta, size, hp: theta + jax.random.normal(key, (size,)),
                metrics=lambda theta, truth, hp: {"sq_error": (theta - truth) ** 2})


def _mean_theory(n, r, generations, share=None, retained=False):
    """e_t = w^2/r + (1-w)^2 (e_{t-1} + 1/s) + 2 w (1-w) c_{t-1}, c_t = w/r + (1-w) c_{t-1}
    (retained; fresh: c = 0), e_0 = 1/n: the model's variance is 1, not fitted."""
    s = n - r
    w = r / n if share is None else share
    e, c, out = 1 / n, 0.0, [1 / n]
    for _ in range(generations):
        e, c = w * w / r + (1 - w) ** 2 * (e + 1 / s) + 2 * w * (1 - w) * c, (w / r + (1 - w) * c) if retained else 0.0
        out.append(e)
    return np.asarray(out)


@pytest.mark.parametrize("regime", ["mix", "mix-retained"])
def test_a_user_model_takes_real_share_and_retained_rows(regime):
    result = jc.run(MEAN, settings={"n": 40, "alpha": 0.25, "regime": regime}, grids={"real_share": ["0.25", "0.7"]},
                    seeds=4000, generations=15, key=11)
    expected = np.stack([_mean_theory(40, 10, 15, share, regime == "mix-retained") for share in (0.25, 0.7)])
    z = z_score(result.mean("sq_error"), result.stderr("sq_error"), expected)[:, 1:]
    assert np.max(np.abs(z)) < z_limit(z.size)
    np.testing.assert_allclose(result.mean("real_share")[:, 1:], 10 / 40, rtol=1e-6)  # rows, not weights


@pytest.mark.parametrize("settings, message", [
    ({"real_share": 0.5, "real_weight": 2.0, "regime": "mix", "alpha": 0.5}, "real_share: real_weight is also set"),
    ({"real_share": 1.5}, "real_share=1.5: must be"),
    ({"regime": "mix-retained", "alpha": "0.1*(t<5)"}, "alpha: regime=mix-retained re-uses one real sample"),
])
def test_bad_weighting_is_refused_in_one_line(settings, message):
    with pytest.raises(jc.ConfigError, match=message) as refused:
        jc.run("gaussian", settings=settings, seeds=10, generations=8)
    assert "\n" not in str(refused.value)


@pytest.mark.parametrize("family, n, seeds", [("linear", 1000, 200), ("logistic", 1000, 200), ("poisson", 600, 150)])
def test_glms_follow_the_asymptotic_weighting_recursion(family, n, seeds):
    """He et al.'s GLMs (n/2 fresh real and n/2 synthetic rows a generation): the weighted MLE's
    error against the asymptotic recursion with v = tr I(beta*)^-1 (slack 3% for its O(d/n)
    terms), and the error's minimum near 1/phi (U-shaped in w, each side > 4 SE, paired). Poisson draws
    cost a loop each, so its run is smaller."""
    result = jc.run("glm", settings={"regime": "mix", "alpha": 0.5, "n": n, "family": family},
                    grids={"real_share": [0.2, GOLDEN, 0.95]}, seeds=seeds, generations=12, key=1)
    mean, se, theory = result.mean("coef_error"), result.stderr("coef_error"), result.theory["coef_error"]
    limit = z_limit(mean[..., 1:].size)
    assert np.all(np.abs(mean - theory)[..., 1:] <= limit * se[..., 1:] + 0.03 * theory[..., 1:])
    # averaged over the late generations, as the authors' code does; seed i has the same key at
    # every grid point, so each side is compared with the minimum seed by seed (a paired z, its SE
    # from the per-seed differences: an unpaired bound put the expected z near 4.2, a coin flip)
    late = result.per_seed["coef_error"][..., 6:].astype(np.float64).mean(axis=-1)  # [points, seeds]
    for side in (0, 2):
        gap = late[side] - late[1]
        assert gap.mean() > 4 * gap.std(ddof=1) / np.sqrt(gap.size), (family, late.mean(axis=-1))


def test_the_poisson_fit_converges_far_from_its_start():
    """||beta*|| = 2: rates up to e^8, where an undamped Newton step from 0 overshoots by
    exp(c^2/2); generation 0's error is the asymptotic v/n0 (within 4 SE and 15% for the finite-n
    terms at these rates)."""
    result = jc.run("glm", settings={"family": "poisson", "coef_norm": 2.0, "n": 600}, seeds=300, generations=1, key=3)
    mean, se, theory = result.mean("coef_error")[0], result.stderr("coef_error")[0], result.theory["coef_error"][0]
    assert abs(mean - theory) < 4 * se + 0.15 * theory, (mean, theory)


def test_he_xu_chengs_own_estimator_and_its_covariance_error():
    """weighting=estimates (w x the real part's fit + (1 - w) x the synthetic part's, He et al.'s
    code): the exact recursions (mean, tr Sigma, Frobenius error) against simulation, and against
    the note's independent table of the code's metric (the average over t = 150..199)."""
    from jaxcollapse.studies.gaussian import estimates_theory

    result = jc.run("gaussian", settings={"dim": 2, "ddof": 1, "n": "where(t < 1, 100, 200)", "alpha": 0.5,
                                          "regime": "mix", "weighting": "estimates"},
                    grids={"real_share": [0.3, GOLDEN, 0.9]}, seeds=3000, generations=30, key=9)
    _holds(result, ("mean_sq_error", "var", "cov_error"))
    config = {"cov": [1.0, 1.0], "ddof": 1, "n": np.r_[100, np.full(199, 200)], "alpha": 0.5, "regime": "mix",
              "weighting": "estimates"}
    for w, mean_error, cov_error in [(0.3, 0.02275, 0.07006), (0.5, 0.01333, 0.04063), (0.62, 0.01236, 0.03756),
                                     (0.7, 0.01275, 0.03869)]:
        theory = estimates_theory({**config, "real_share": w}, 199)
        assert theory["mean_sq_error"][150:].mean() == pytest.approx(mean_error, abs=6e-6)
        assert theory["cov_error"][150:].mean() == pytest.approx(cov_error, abs=6e-6)
    ws = np.linspace(0.5, 0.75, 251)
    cov = [estimates_theory({**config, "real_share": w}, 199)["cov_error"][-1] for w in ws]
    assert abs(ws[int(np.argmin(cov))] - 0.62) < 0.01  # the note: the covariance's minimiser is 0.62 too
    with pytest.raises(ConfigError, match="weighting=estimates: combines the fits"):
        jc.run("gaussian", settings={"weighting": "estimates"}, seeds=2, generations=1)
