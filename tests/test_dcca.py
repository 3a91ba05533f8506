"""dcca (He et al.'s NR-DCCA): the correlation identities of the paper note, the differentiable
objective and the read-outs against numpy references, and the paper's shape over seeds (DCCA's
R^2 rises then falls; NR-DCCA ends above it), with standard-error-based tolerances."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxcollapse as jc
from jaxcollapse.engine.params import ConfigError
from jaxcollapse.models import cca

from .reference import ridge_cv_r2, total_cca

pytestmark = pytest.mark.xdist_group("dcca")  # its module fixture is computed once

SMALL = {"latent": 20, "view_dim": 20, "out_dim": 20, "hidden": 64, "n_train": 400, "n_test": 400, "tasks": 10,
         "epochs_per_step": 25, "common_rate": 0.4}


def test_correlation_invariance_and_rank():
    """Corr(XW, AW) = Corr(X, A) for an invertible W (ridge 0, x64); a rank-deficient W lowers it
    monotonically in the rank (the note's Correlation Invariant Property)."""
    jax.config.update("jax_enable_x64", True)
    rng = np.random.default_rng(0)
    x, a = rng.normal(size=(2000, 40)), rng.normal(size=(2000, 40))
    base = float(cca.total_correlation(jnp.asarray(x), jnp.asarray(a), 0.0))
    w = rng.normal(size=(40, 40))
    assert float(cca.total_correlation(jnp.asarray(x @ w), jnp.asarray(a @ w), 0.0)) == pytest.approx(base, abs=1e-10)
    assert base == pytest.approx(total_cca(x, a, 0.0), rel=1e-10)
    lowered = []
    for rank in (39, 30, 20, 10):
        low = rng.normal(size=(40, rank)) @ rng.normal(size=(rank, 40))
        lowered.append(float(cca.total_correlation(jnp.asarray(x @ low), jnp.asarray(a @ low), 1e-8)))
    assert base > lowered[0] > lowered[1] > lowered[2] > lowered[3] > 0


@pytest.mark.parametrize("dim,n,expected", [(10, 2000, 0.60), (40, 2000, 4.78)])
def test_independent_noise_baseline(dim, n, expected):
    """Corr of independent N(0,1) matrices is a finite-sample bias, not 0 (note's table, ridge 1e-3):
    the mean of 200 draws within 4 SE (plus the table's rounding)."""
    keys = jax.random.split(jax.random.key(dim), 200)
    draw = jax.jit(jax.vmap(lambda k: cca.total_correlation(*jax.random.normal(k, (2, n, dim)), 1e-3)))
    values = np.asarray(draw(keys))
    assert abs(values.mean() - expected) < 4 * values.std(ddof=1) / np.sqrt(len(values)) + 0.005


def test_objective_gradient_and_readouts_against_numpy():
    jax.config.update("jax_enable_x64", True)
    rng = np.random.default_rng(1)
    x, y = rng.normal(size=(300, 6)), rng.normal(size=(300, 5))
    y[:, :3] += x[:, :3]
    assert float(cca.total_correlation(jnp.asarray(x), jnp.asarray(y), 1e-3)) == pytest.approx(total_cca(x, y, 1e-3), rel=1e-10)
    direction = rng.normal(size=x.shape)
    f = lambda s: cca.total_correlation(jnp.asarray(x + s * direction), jnp.asarray(y), 1e-3)  # noqa: E731
    grad = jax.grad(lambda xx: cca.total_correlation(xx, jnp.asarray(y), 1e-3))(jnp.asarray(x))
    numeric = (f(1e-6) - f(-1e-6)) / 2e-6
    assert float(jnp.sum(grad * direction)) == pytest.approx(float(numeric), rel=1e-6)
    targets = x @ rng.normal(size=(6, 4)) + rng.normal(size=(300, 4))
    assert float(cca.ridge_cv_r2(jnp.asarray(x), jnp.asarray(targets), 1.0, 5)) == pytest.approx(
        ridge_cv_r2(x, targets, 1.0, 5), rel=1e-10)
    p1, p2 = cca.linear_cca(jnp.asarray(x), jnp.asarray(y), 2, 1e-3)
    assert p1.shape == (6, 2) and p2.shape == (5, 2)
    # the projected pair carries the two largest canonical correlations
    sv = np.sort(np.linalg.svd(np.linalg.inv(np.linalg.cholesky(np.cov(x.T) + 1e-3 * np.eye(6)))
                               @ np.cov(x.T, y.T)[:6, 6:]
                               @ np.linalg.inv(np.linalg.cholesky(np.cov(y.T) + 1e-3 * np.eye(5))).T, compute_uv=False))[::-1]
    projected = np.corrcoef(np.asarray(x @ p1).T, np.asarray(y @ p2).T)[:2, 2:]
    np.testing.assert_allclose(np.abs(np.diag(projected)), sv[:2], rtol=2e-3)


@pytest.fixture(scope="module")
def shape_run():
    """The paper's shape over 12 seeds x 16 generations: a finding, not a closed form (slow tier)."""
    return jc.run("dcca", SMALL, grids={"method": ["dcca", "nr-dcca"], "alpha": [10.0]}, seeds=12, generations=16,
                  key=3, keep=("r2",))


@pytest.mark.slow
def test_dcca_rises_then_falls(shape_run):
    """Paired per seed: R^2 at its best logged epoch minus R^2 at the last, above 0 by 4 SE."""
    r2 = shape_run.per_seed["r2"][0, 0]  # [seed, t]
    drop = r2.max(axis=1) - r2[:, -1]
    assert drop.mean() > 4 * drop.std(ddof=1) / np.sqrt(len(drop))
    assert np.all(np.argmax(r2, axis=1) < r2.shape[1] - 1)


@pytest.mark.slow
def test_nr_dcca_ends_above_dcca(shape_run):
    r2 = shape_run.per_seed["r2"][:, 0]  # [method, seed, t]
    gap = r2[1, :, -1] - r2[0, :, -1]
    assert gap.mean() > 4 * gap.std(ddof=1) / np.sqrt(len(gap))


def test_a_grid_is_one_compile():
    from jaxcollapse.engine.sweep import plan
    from jaxcollapse.studies import get_study

    settings = {k: v for k, v in SMALL.items() if k != "common_rate"}
    the_plan = plan(get_study("dcca"), settings,
                    {"method": ["dcca", "nr-dcca", "dccae"], "alpha": [1.0, 10.0], "common_rate": [0.0, 0.6, 1.0]},
                    seeds=2, generations=2)
    study = the_plan.study
    assert len({study.static_key(p) for p in the_plan.points}) == 1


@pytest.mark.parametrize("settings,message", [
    ({"method": "kcca"}, "method=kcca"),
    ({"common_rate": 1.5}, "common_rate=1.5"),
    ({"alpha": -1}, "alpha=-1"),
    ({"out_dim": 500, "n_train": 100}, "out_dim=500"),
    ({"cca_components": 50, "view_dim": 10}, "cca_components=50"),
    ({"n_test": 6, "folds": 5}, "n_test=6"),
])
def test_validation(settings, message):
    with pytest.raises(ConfigError, match=message):
        jc.run("dcca", settings, seeds=2, generations=2)
