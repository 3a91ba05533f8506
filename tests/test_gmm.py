"""gmm (EM-refitted Gaussian mixtures) against an independent numpy EM, the Gaussian MLE closed
forms (one component), complete-data sampling error at generation 0, quadrature for the L2
distance, and Shumailov et al.'s vanishing tails. Tolerances: 4 Monte Carlo standard errors."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxcollapse as jc
from jaxcollapse.engine.params import ConfigError
from jaxcollapse.models import mixture

from .reference import gmm_em, z_score


def test_em_matches_a_numpy_reference():
    jax.config.update("jax_enable_x64", True)
    rng = np.random.default_rng(0)
    x = np.concatenate([rng.normal([-2, 0], 0.7, (60, 2)), rng.normal([2, 1], [1.0, 0.4], (90, 2)),
                        rng.normal([0, 3], 0.5, (50, 2))])
    weights, means = np.full(3, 1 / 3), x[[0, 70, 160]]
    covs = np.stack([np.eye(2)] * 3)
    start = mixture.GaussianMixture(jnp.asarray(weights), jnp.asarray(means), jnp.linalg.cholesky(jnp.asarray(covs)))
    fit, delta = mixture.em(jnp.asarray(x), jnp.ones(len(x)), start, 25, 1e-6)
    ref = gmm_em(x, weights, means, covs, 25, 1e-6)
    np.testing.assert_allclose(fit.weights, ref[0], rtol=1e-8)
    np.testing.assert_allclose(fit.means, ref[1], rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(fit.covariances, ref[2], rtol=1e-7, atol=1e-10)
    assert abs(float(delta)) < 1e-3
    # masked rows (weight 0) must not count: padding with junk rows gives the same fit
    padded = jnp.concatenate([jnp.asarray(x), jnp.full((40, 2), 50.0)])
    again, _ = mixture.em(padded, jnp.concatenate([jnp.ones(len(x)), jnp.zeros(40)]), start, 25, 1e-6)
    np.testing.assert_allclose(again.means, fit.means, rtol=1e-10)


@pytest.mark.parametrize("dim", [1, 2])
def test_l2_distance_matches_quadrature(dim):
    jax.config.update("jax_enable_x64", True)
    rng = np.random.default_rng(dim)

    def random_mixture(k):
        a = rng.normal(size=(k, dim, dim)) * 0.5 + np.eye(dim)
        chol = np.linalg.cholesky(a @ np.swapaxes(a, 1, 2))
        return mixture.GaussianMixture(jnp.asarray(rng.dirichlet(np.ones(k))), jnp.asarray(rng.normal(size=(k, dim))),
                                       jnp.asarray(chol))

    p, q = random_mixture(3), random_mixture(2)
    axis = np.linspace(-9, 9, 1201 if dim == 1 else 361)
    grid = np.stack(np.meshgrid(*[axis] * dim, indexing="ij"), -1).reshape(-1, dim)
    diff = np.exp(mixture.log_prob(p, jnp.asarray(grid))) - np.exp(mixture.log_prob(q, jnp.asarray(grid)))
    quadrature = np.sqrt(np.sum(diff**2) * (axis[1] - axis[0]) ** dim)
    assert float(mixture.l2_distance(p, q)) == pytest.approx(quadrature, rel=1e-4)


def test_one_component_is_the_gaussian_mle():
    """components=1: EM is the Gaussian MLE in one step, so the gaussian study's exact recursions
    (ddof=0) hold for spread and mean_error under replace, mix and accumulate."""
    run = jc.run("gmm", {"components": 1, "n": 40, "em_iterations": 2, "floor": 0.0, "eval_size": 10, "alpha": 0.25},
                 {"regime": ["replace", "mix", "accumulate"]}, seeds=3000, generations=15, key=11, keep=())
    checked = [0, 1, 5, 15]
    for metric in ("spread", "mean_error"):
        assert np.all(np.isfinite(run.theory[metric][:, checked]))
        z = z_score(run.mean(metric)[:, checked], run.stderr(metric)[:, checked], run.theory[metric][:, checked])
        assert np.all(np.abs(z) < 4), (metric, np.round(z, 2))


def test_em_recovers_a_well_separated_mixture():
    """Generation 0 with components 10 sd apart: EM is the complete-data MLE, so
    E sum_k ||mu_k - mu*_k||^2 = sum_k sd^2 / (n w_k) and E w_min = w*_min (to O(e^-n))."""
    n, w = 400, (0.3, 0.7)
    result = jc.run("gmm", {"components": 2, "n": n, "separation": 10.0, "truth_weights": "0.3,0.7", "em_iterations": 30},
                    seeds=3000, generations=1, key=12, keep=())
    expected = sum(1 / (n * wk) for wk in w)
    assert abs(z_score(result.mean("mean_error")[0], result.stderr("mean_error")[0], expected)) < 4
    assert abs(z_score(result.mean("weight_min")[0], result.stderr("weight_min")[0], 0.3)) < 4


def test_tails_vanish_under_replace():
    """Shumailov et al.: refitting on own samples loses the tails. After 150 generations at
    n = 100 the typical seed's mass beyond the truth's 1% / 99% quantiles is below a fifth of the
    truth's 2%: the share of seeds for which this holds is above 1/2 by more than 4 SE (it is
    about 0.9 there, and still rising)."""
    result = jc.run("gmm", {"n": 100, "em_iterations": 20}, seeds=128, generations=150, key=13,
                    keep=("tail_mass", "var_max"))
    tail = result.per_seed["tail_mass"]
    share = np.mean(tail[:, -1] < 0.2 * 0.02)
    assert share - 4 * np.sqrt(share * (1 - share) / len(tail)) > 0.5, share
    assert np.mean(tail[:, 0] < 0.2 * 0.02) < 0.05  # not so at generation 0
    assert np.median(result.per_seed["var_max"][:, -1]) < 0.1


@pytest.mark.parametrize("settings,message", [
    ({"truth_weights": "0.5,0.7"}, "sum to 1"),
    ({"truth_weights": "1.2,-0.2"}, r"\[0, 1\]"),
    ({"truth_weights": "1"}, "needs 2 weights"),
    ({"components": 0}, "components=0"),
    ({"n": 1, "components": 2}, "components=2"),
    ({"alpha": 0.2}, "regime=mix"),
    ({"init": "random"}, "init=random"),
    ({"floor": -1}, "floor=-1"),
])
def test_validation(settings, message):
    with pytest.raises(ConfigError, match=message):
        jc.run("gmm", settings, seeds=2, generations=2)
