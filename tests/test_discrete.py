"""discrete (Kazdan et al.'s categorical fitter) against the Wright-Fisher closed form, the
accumulate invariant, an independent numpy loop and across samplers. Tolerances: 4 Monte Carlo
standard errors."""

import numpy as np
import pytest
from scipy.stats import ks_2samp

import jaxcollapse as jc
from jaxcollapse.engine.params import ConfigError
from jaxcollapse.engine.sweep import plan
from jaxcollapse.studies.discrete import DiscreteStudy, true_distribution

from .reference import z_score

CHECKED = [0, 1, 5, 20, 40]


@pytest.mark.parametrize("truth,outcomes,n", [("uniform", 500, 400), ("zipf", 300, 250)])
def test_replace_support_matches_the_wright_fisher_chain(truth, outcomes, n):
    result = jc.run("discrete", {"outcomes": outcomes, "n": n, "truth": truth}, seeds=3000, generations=40,
                    key=3, keep=("support",))
    for metric in ("support", "lost_mass"):
        z = z_score(result.mean(metric)[CHECKED], result.stderr(metric)[CHECKED], result.theory[metric][CHECKED])
        assert np.all(np.abs(z) < 4), (metric, np.round(z, 2))
    support = result.per_seed["support"]
    assert np.all(np.diff(support, axis=1) <= 0), "a lost outcome came back under replace"


def test_theory_against_an_independent_numpy_loop():
    """Kazdan et al.'s loop (np.random.choice + bincount) on 2,000 seeds, compared with the
    closed form by a two-sample-free z test (the closed form has no error)."""
    rng = np.random.default_rng(7)
    outcomes, n, generations, seeds = 200, 150, 10, 2000
    support = np.empty((seeds, generations + 1))
    for s in range(seeds):
        p = np.full(outcomes, 1.0 / outcomes)
        for t in range(generations + 1):
            p = np.bincount(rng.choice(outcomes, size=n, p=p), minlength=outcomes) / n
            support[s, t] = np.sum(p > 0)
    from jaxcollapse.engine.sweep import plan
    from jaxcollapse.studies.discrete import DiscreteStudy

    point = plan(DiscreteStudy, {"outcomes": outcomes, "n": n}, seeds=1, generations=generations).points[0]
    theory = DiscreteStudy.theory(point, generations)["support"]
    z = z_score(support.mean(0), support.std(0, ddof=1) / np.sqrt(seeds), theory)
    assert np.all(np.abs(z) < 4), np.round(z, 2)


def test_first_generation_support_is_the_occupancy_formula():
    """E support_0 = K (1 - (1 - 1/K)^n0) for a uniform truth: an independent formula."""
    from jaxcollapse.engine.sweep import plan
    from jaxcollapse.studies.discrete import DiscreteStudy

    point = plan(DiscreteStudy, {"outcomes": 1000, "n": 700}, seeds=1, generations=3).points[0]
    theory = DiscreteStudy.theory(point, 3)
    assert theory["support"][0] == pytest.approx(1000 * (1 - (1 - 1e-3) ** 700), rel=1e-10)
    assert theory["lost_mass"][0] == pytest.approx((1 - 1e-3) ** 700, rel=1e-10)


def test_accumulate_freezes_the_support():
    result = jc.run("discrete", {"outcomes": 400, "n": 300, "regime": "accumulate", "truth": "zipf"},
                    seeds=2000, generations=30, key=4, keep=("support", "lost_mass"))
    support = result.per_seed["support"]
    assert np.all(support == support[:, :1]), "accumulate must neither lose nor gain outcomes"
    z = z_score(result.mean("support")[0], result.stderr("support")[0], result.theory["support"][0])
    assert abs(z) < 4
    assert np.all(result.per_seed["lost_mass"] == result.per_seed["lost_mass"][:, :1])


def test_mix_with_fresh_real_data_recovers_outcomes():
    """Fresh real draws can bring lost outcomes back: the support under mix stays above replace."""
    result = jc.run("discrete", {"outcomes": 300, "n": 200, "regime": "mix"}, grids={"alpha": [0.0, 0.2]},
                    seeds=500, generations=30, key=5, keep=())
    replace, mixed = result.mean("support")[0, -1], result.mean("support")[1, -1]
    gap = mixed - replace
    assert gap > 4 * np.hypot(result.stderr("support")[0, -1], result.stderr("support")[1, -1])


def test_exact_and_explicit_samplers_agree():
    settings = {"outcomes": 40, "n": 60, "truth": "zipf"}
    runs = {s: jc.run("discrete", {**settings, "sampler": s}, seeds=3000, generations=15, key=6 + i, keep=("support", "tv"))
            for i, s in enumerate(("exact", "explicit"))}
    for metric in ("support", "tv"):
        a, b = runs["exact"], runs["explicit"]
        z = (a.mean(metric) - b.mean(metric)) / np.hypot(a.stderr(metric), b.stderr(metric))
        assert np.all(np.abs(z[[1, 5, 15]]) < 4), (metric, np.round(z, 2))
        assert ks_2samp(a.per_seed[metric][:, -1], b.per_seed[metric][:, -1]).pvalue > 1e-4


def test_a_hundred_thousand_outcomes():
    result = jc.run("discrete", {"outcomes": 100_000, "n": 20_000}, seeds=16, generations=5, key=8, keep=())
    support = result.mean("support")
    assert np.all(np.diff(support) < 0) and support[0] < 20_000
    # E support_0 = K (1 - (1 - 1/K)^n) = 18,127 for K = 10^5, n = 2 x 10^4 (occupancy).
    assert abs(z_score(support[0], result.stderr("support")[0], 1e5 * (1 - (1 - 1e-5) ** 20_000))) < 4


@pytest.mark.parametrize("settings,message", [
    ({"outcomes": 1}, "outcomes=1"),
    ({"alpha": 0.3}, "alpha"),
    ({"n": -5}, "n=-5"),
    ({"truth": "gaussian"}, "truth=gaussian"),
])
def test_validation(settings, message):
    with pytest.raises(ConfigError, match=message):
        jc.run("discrete", settings, seeds=2, generations=2)


def test_accumulate_subsample_matches_a_numpy_reference():
    """accumulate-subsample keeps the tokens (the shared data loop): fit the frequencies of a
    uniform n-subset of every token so far, against the same process in numpy (two-sample z on
    the support and the total variation at every generation)."""
    outcomes, n, generations = 60, 40, 6
    result = jc.run("discrete", {"outcomes": outcomes, "n": n, "regime": "accumulate-subsample", "truth": "zipf"},
                    seeds=3000, generations=generations, key=9, keep=("support", "tv"))
    truth = true_distribution(plan(DiscreteStudy, {"outcomes": outcomes, "truth": "zipf"}, seeds=1,
                                   generations=1).points[0])
    rng = np.random.default_rng(11)
    seeds = 1500
    support, tv = np.empty((seeds, generations + 1)), np.empty((seeds, generations + 1))
    for s in range(seeds):
        pool = list(rng.choice(outcomes, size=n, p=truth))
        train = pool
        for t in range(generations + 1):
            if t > 0:
                pool += list(rng.choice(outcomes, size=n, p=p))
                train = [pool[i] for i in rng.permutation(len(pool))[:n]]
            p = np.bincount(train, minlength=outcomes) / n
            support[s, t], tv[s, t] = np.sum(p > 0), 0.5 * np.abs(p - truth).sum()
    for metric, reference in (("support", support), ("tv", tv)):
        ours = result.per_seed[metric].astype(np.float64)
        se = np.sqrt(ours.var(0) / ours.shape[0] + reference.var(0) / seeds)
        assert np.all(np.abs(ours.mean(0) - reference.mean(0)) < 4 * se), metric
