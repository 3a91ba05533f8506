"""Curation (select=choice) and verification (select=verify) on the shared data loop: the curation
studies against the exact one-step law (generation 1 from the population start is exact in
expectation), the law itself against the Ferbach note's independent tables and closed forms, and
the two policies on a user jc.Model against scipy's truncated normal and the curated law.
Tolerances: Bonferroni z limits over every compared grid point."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import stats

import jaxcollapse as jc
from jaxcollapse.engine.params import ConfigError
from jaxcollapse.studies.curation import CurationGaussianStudy, CurationStudy, curated_law
from jaxcollapse.validate import z_limit
from tests.reference import z_score

R = np.array([0.0, 0.5, 1.0, 1.5])
P0 = np.array([0.4, 0.3, 0.2, 0.1])
GAUSSIAN = {"data_mean": 0.0, "data_sd": 1.0, "reward": "linear", "reward_slope": 1.0, "reward_width": 0.5,
            "reward_center": 2.0, "ddof": 1, "start": "truth", "select": "choice", "regime": "replace", "alpha": 0.0,
            "real_weight": 1.0}


def _first_generation_holds(result, metrics):
    for metric in metrics:
        z = z_score(result.mean(metric)[..., 1], result.stderr(metric)[..., 1], result.theory[metric][..., 1])
        assert np.all(np.isfinite(z)), metric
        assert np.max(np.abs(z)) < z_limit(z.size), (metric, float(np.max(np.abs(z))))


def test_the_curated_law_reproduces_the_notes_exact_tables():
    """Ferbach note, section 4 (A): p_1 by exact multinomial enumeration, and the population E r_t."""
    np.testing.assert_allclose(curated_law(P0, R, 2), [0.3082, 0.3008, 0.2468, 0.1442], atol=6e-5)
    np.testing.assert_allclose(curated_law(P0, R, 4), [0.2584, 0.2875, 0.2717, 0.1824], atol=6e-5)
    np.testing.assert_allclose(curated_law(P0, R, np.inf), [0.2120, 0.2622, 0.2882, 0.2376], atol=6e-5)
    config = {"probabilities": "0.4,0.3,0.2,0.1", "rewards": "0,0.5,1,1.5", "n": np.full(11, 10**12),
              "alpha": 0.0, "regime": "replace", "select": "choice"}
    table = {2: [0.613, 0.736, 0.860, 1.083, 1.383], 4: [0.689, 0.889, 1.068, 1.303, 1.473],
             8: [0.732, 0.968, 1.158, 1.368, 1.487], np.inf: [0.776, 1.042, 1.232, 1.411, 1.493]}
    for k, expected in table.items():
        reward = CurationStudy.population({**config, "choice_k": k}, 10) @ R
        np.testing.assert_allclose(reward[[1, 2, 3, 5, 10]], expected, atol=6e-4)


def test_ties_end_on_the_argmax_set_and_real_data_hold_a_fixed_point():
    base = {"probabilities": "0.4,0.3,0.2,0.1", "select": "choice", "regime": "replace", "alpha": 0.0}
    ties = CurationStudy.population({**base, "rewards": "0,1,1,0.5", "n": np.full(201, 10**12), "choice_k": 2}, 200)
    np.testing.assert_allclose(ties[-1], [0, 0.6, 0.4, 0], atol=2e-3)
    # (D): lambda = 1 (alpha = 1/2), K = infinity; the note's root of sum_i p*(i) = 1
    mixed = CurationStudy.population({**base, "rewards": "0,0.5,1,1.5", "n": np.full(301, 10**12), "choice_k": np.inf,
                                      "regime": "mix", "alpha": 0.5}, 300)
    np.testing.assert_allclose(mixed[-1], [0.2467, 0.2180, 0.2060, 0.3293], atol=6e-5)


def test_the_gaussian_law_reproduces_m_k_v_k_and_the_closed_forms():
    """m_K(b), v_K(b) (exact for K = 2; the note's K = 4, 8 values are Monte Carlo, +-5e-4), the
    quadratic tilt's exact 1/t collapse, the linear tilt's fixed point with real data and its
    runaway (note sections 4 (B)-(D))."""
    for k, b, m, v, tol in [(2, 0.1, 0.0498, 0.9975, 6e-5), (2, 0.5, 0.2246, 0.9495, 6e-5), (2, 1, 0.3632, 0.8681, 6e-5),
                            (4, 0.5, 0.3532, 0.9546, 5e-4), (8, 1, 0.7675, 0.8717, 5e-4)]:
        mean, var = CurationGaussianStudy.curated_moments({**GAUSSIAN, "reward_slope": b}, 0.0, 1.0, k)
        assert abs(mean - m) < tol and abs(var - v) < tol, (k, b, mean, var)
    quadratic = {**GAUSSIAN, "reward": "quadratic", "choice_k": np.inf, "n": np.full(6, 10**12)}
    population = CurationGaussianStudy.population(quadratic, 5)
    t = np.arange(6)
    np.testing.assert_allclose(population[:, 0], 2 - 2 / (1 + t), atol=1e-6)  # c + tau_0 (mu_0 - c) / tau_t
    np.testing.assert_allclose(population[:, 1], 1 / (1 + t), atol=1e-6)
    for a, lam, mu, var in [(1.0, 0.1, 0.1144, 1.1439), (0.5, 0.5, 0.3333, 1.3333)]:
        mixed = {**GAUSSIAN, "reward_slope": a, "choice_k": np.inf, "n": np.full(401, 10**12), "regime": "mix",
                 "alpha": 1 / (1 + lam)}
        fixed = CurationGaussianStudy.population(mixed, 400)[-1]
        np.testing.assert_allclose(fixed, [mu, var], atol=2e-4)
    runaway = {**GAUSSIAN, "choice_k": np.inf, "n": np.full(10, 10**12), "regime": "mix", "alpha": 1 / 1.3}
    np.testing.assert_allclose(CurationGaussianStudy.population(runaway, 9)[[3, 9]], [[0.40, 1.6], [1.17, 6.3]],
                               rtol=0.03)


@pytest.mark.xdist_group("curation")
def test_one_curated_generation_matches_the_exact_law():
    result = jc.run("curation", settings={"n": 2000, "regime": "mix"},
                    grids={"choice_k": [2, 4, 8], "alpha": [0.0, 0.5]}, seeds=300, generations=1, key=1)
    _first_generation_holds(result, ("expected_reward", "top_mass"))
    gaussian = jc.run("curation-gaussian", settings={"n": 500, "regime": "mix"},
                      grids={"reward": ["linear", "quadratic"], "choice_k": [2, 16], "alpha": [0.0, 0.3],
                             "ddof": [0, 1]}, seeds=300, generations=1, key=2)
    _first_generation_holds(gaussian, ("mean", "var", "expected_reward"))


def _gaussian_model(**policies):
    """A user Model: N(mean, var) refitted with ddof 1; generation 0 is the truth N(0, 1)."""

    def fit(key, x, w, previous, hp):
        total = jnp.sum(w)
        mean = jnp.sum(w * x) / total
        fitted = jnp.stack([mean, jnp.sum(w * (x - mean) ** 2) / (total - 1)])
        return jnp.where(hp["t"] == 0, jnp.array([0.0, 1.0], x.dtype), fitted)

    return jc.Model("curated-normal", fit=fit,
                    sample=lambda key, th, size, hp: th[0] + jnp.sqrt(th[1]) * jax.random.normal(key, (size,), th.dtype),
                    metrics=lambda th, truth, hp: {"mean": th[0], "var": th[1]},
                    truth=lambda hp: jnp.array([0.0, 1.0]), params={"slope": 1.0, "half_width": 1.0}, **policies)


@pytest.mark.xdist_group("curation")
def test_choice_and_verify_on_a_user_model():
    model = _gaussian_model(score=lambda th, x, hp: hp["slope"] * x,
                            verifier=lambda x, truth, hp: (jnp.abs(x - truth[0]) <= hp["half_width"]).astype(x.dtype))
    result = jc.run(model, settings={"n": 400, "select": "choice", "slope": 0.5}, grids={"choice_k": [1, 4]},
                    seeds=800, generations=1, key=4)
    config = {**GAUSSIAN, "reward_slope": 0.5}
    for k in (1, 4):
        mean, var = CurationGaussianStudy.curated_moments(config, 0.0, 1.0, k)
        for metric, expected in (("mean", mean), ("var", var)):
            z = z_score(result.mean(metric, choice_k=k)[1], result.stderr(metric, choice_k=k)[1], expected)
            assert abs(z) < z_limit(4), (k, metric, z)
    verified = jc.run(model, settings={"n": 400, "select": "verify"}, grids={"half_width": [0.5, 1.5]}, seeds=800,
                      generations=1, key=5)
    for h in (0.5, 1.5):
        truncated = stats.truncnorm(-h, h)  # kept rows; given their count, the ddof-1 variance is unbiased
        z_mean = z_score(verified.mean("mean", half_width=h)[1], verified.stderr("mean", half_width=h)[1], 0.0)
        z_var = z_score(verified.mean("var", half_width=h)[1], verified.stderr("var", half_width=h)[1], truncated.var())
        kept = verified.mean("train_size", half_width=h)[1] / 400
        assert abs(z_mean) < z_limit(6) and abs(z_var) < z_limit(6), (h, z_mean, z_var)
        assert abs(kept - (2 * stats.norm.cdf(h) - 1)) < 4 * np.sqrt(0.25 / 400 / 800)


def test_bad_curation_settings_are_refused_in_one_line():
    cases = [("curation", {"choice_k": 0}, "choice_k=0"),
             ("curation", {"rewards": "0,1"}, "rewards=0,1: needs one reward per outcome"),
             ("curation", {"probabilities": "0.5,-1,0.5,0.5"}, "probabilities="),
             ("curation-gaussian", {"data_sd": 0}, "data_sd=0")]
    for study, settings, message in cases:
        with pytest.raises(ConfigError, match=message.replace("(", r"\(")) as err:
            jc.run(study, settings=settings, seeds=2, generations=1)
        assert "\n" not in str(err.value)
    with pytest.raises(ConfigError, match="select=verify: needs a verifier") as err:
        jc.run(_gaussian_model(), settings={"select": "verify"}, seeds=2, generations=1)


def test_fengs_rate_verifier_is_one_function_on_a_user_model():
    """Feng et al.'s (phi, psi) verifier as the loop's select=verify on explicit rows (x, y', label
    correct?) of a user Model, against the verification study's exact-in-law sampler: two
    independent implementations of the same one-shot experiment (n = 200, d = 5, p = 0.3)."""
    from jax.scipy.stats import norm

    d, m, p, phi, psi = 5, 1.0, 0.3, 0.9, 0.5

    def sample(key, theta, size, hp, flip=p):
        k_y, k_x, k_flip = jax.random.split(key, 3)
        y = jnp.where(jax.random.bernoulli(k_y, 0.5, (size,)), 1.0, -1.0)
        mu = jnp.zeros(d).at[0].set(m)
        x = y[:, None] * mu + jax.random.normal(k_x, (size, d))
        correct = ~jax.random.bernoulli(k_flip, flip, (size,))
        return {"x": x, "label": jnp.where(correct, y, -y), "correct": correct.astype(x.dtype)}

    def fit(key, rows, w, previous, hp):
        return jnp.sum((w * rows["label"])[:, None] * rows["x"], axis=0) / jnp.maximum(jnp.sum(w), 1.0)

    model = jc.Model("feng-rows", fit=fit, sample=sample, truth=lambda hp: jnp.zeros(d).at[0].set(m),
                     real=lambda key, size, hp: sample(key, None, size, hp, flip=0.0),
                     metrics=lambda w, truth, hp: {"accuracy": norm.cdf(truth @ w / jnp.linalg.norm(w))},
                     verifier=lambda rows, truth, hp: jnp.where(rows["correct"] > 0, phi, psi))
    rows = jc.run(model, settings={"n": 200, "select": "verify"}, seeds=3000, generations=1, key=11)
    exact = jc.run("verification", settings={"n": 200, "dim": d, "m": m, "p": p, "phi": phi, "psi": psi},
                   seeds=3000, generations=1, key=12)
    for t in (0, 1):
        gap = rows.mean("accuracy")[t] - exact.mean("accuracy")[t]
        assert abs(gap) < 4 * np.hypot(rows.stderr("accuracy")[t], exact.stderr("accuracy")[t]), (t, gap)


@pytest.mark.xdist_group("curation")
def test_policies_in_one_compiled_group_do_not_leak_into_each_other():
    """select = none, choice and verify share one compile (one pool, candidates for choice, a
    verifier for verify): each point follows its own law, and a choice_k schedule is read at the
    right generation (K = 4 at t = 1, K = 1 at t = 2: an unbiased refit keeps E mean and E var)."""
    model = _gaussian_model(score=lambda th, x, hp: hp["slope"] * x,
                            verifier=lambda x, truth, hp: (jnp.abs(x - truth[0]) <= hp["half_width"]).astype(x.dtype))
    result = jc.run(model, settings={"n": 400, "slope": 1.0, "choice_k": "where(t < 2, 4, 1)"},
                    grids={"select": ["none", "choice", "verify"]}, seeds=800, generations=2, key=6)
    curated = CurationGaussianStudy.curated_moments({**GAUSSIAN, "reward_slope": 1.0}, 0.0, 1.0, 4)
    expected = {("none", 1): (0.0, 1.0), ("none", 2): (0.0, 1.0), ("choice", 1): curated, ("choice", 2): curated,
                ("verify", 1): (0.0, stats.truncnorm(-1, 1).var())}
    for (select, t), moments in expected.items():
        for metric, value in zip(("mean", "var"), moments):
            z = z_score(result.mean(metric, select=select)[t], result.stderr(metric, select=select)[t], value)
            assert abs(z) < z_limit(10), (select, t, metric, z)
