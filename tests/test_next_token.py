"""next-token (Bakshi & Chakraborty) against Theorem 3.1's recursion, the paper note's
reference values, an independent numpy reference for the Markov case, and across samplers.
Tolerances: 4 Monte Carlo standard errors (6e-5 false alarms per comparison under normality)."""

import numpy as np
import pytest
from scipy.stats import ks_2samp

import jaxcollapse as jc
from jaxcollapse.engine.sweep import plan
from jaxcollapse.studies.next_token import NextTokenStudy, stationary, true_distribution

from .reference import z_score


def _theory(generations, **settings):
    point = plan(NextTokenStudy, settings, seeds=1, generations=generations).points[0]
    return NextTokenStudy.theory(point, generations)["sq_error"]


def test_recursion_matches_simulation():
    """Constant, decaying and half fresh data (alpha = 0.5) x fixed and growing n: the risk
    recursion holds within 4 SE; with growing n and fresh data the model recovers the truth."""
    result = jc.run("next-token", {"vocab": 20, "n0": 50},
                    grids={"alpha": ["0", "0.1", "max(t,1)**-0.5", "0.5"], "n": ["50", "50*max(t,1)"]},
                    seeds=2000, generations=20, key=1, keep=())
    checked = [0, 1, 5, 20]
    z = z_score(result.mean("sq_error")[..., checked], result.stderr("sq_error")[..., checked],
                result.theory["sq_error"][..., checked])
    assert np.all(np.abs(z) < 4), np.round(z, 2)
    # alpha = 0.5, n_t = 50 t: R_20 / R_0 -> (1 / 20) / (1 - (1 - alpha)^2) = 0.067, and still falling
    risk = result.mean("sq_error")[3, 1]
    assert risk[-1] / risk[0] < 0.1 and result.theory["sq_error"][3, 1, -1] / result.theory["sq_error"][3, 1, 0] < 0.1
    assert np.all(np.diff(result.theory["sq_error"][3, 1, 1:]) < 0)


def test_reference_values_of_the_paper_note():
    """K=50, P* ~ Dirichlet(1) from numpy default_rng(0), n0=100, T=200 (note, sec. 4)."""
    truth = true_distribution({"context": 0, "vocab": 50, "truth": "dirichlet", "concentration": 1.0, "truth_seed": 0})
    assert np.sum(truth**2) == pytest.approx(0.0396, abs=1e-4)
    for alpha, n, r10, r200 in [
        ("0.1", "100", 0.04421, 0.04848),
        ("0", "100", 0.1005, 0.8330),
        ("0.1", "100*max(t,1)", 0.00951, 0.000258),
        ("max(t,1)**-0.5", "100*max(t,1)", 0.00191, 0.000358),
        ("max(t,1)**-0.5", "100", 0.01727, 0.0653),
    ]:
        risk = _theory(200, vocab=50, n0=100, alpha=alpha, n=n)
        assert risk[0] == pytest.approx(0.00960, rel=2e-3)
        assert risk[10] == pytest.approx(r10, rel=5e-3), (alpha, n)
        assert risk[200] == pytest.approx(r200, rel=5e-3), (alpha, n)


@pytest.mark.parametrize("alpha,n,plateau", [(0.01, 100, 33.67), (0.1, 1000, 5.241), (0.5, 100, 1.329)])
def test_constant_alpha_plateau(alpha, n, plateau):
    """R_inf / R_0 = 1 / (1 - (1 - 1/n)(1 - alpha)^2) at fixed n (note's table)."""
    risk = _theory(4000, vocab=10, alpha=alpha, n=n)
    assert risk[-1] / risk[0] == pytest.approx(plateau, rel=1e-3)


def test_pure_synthetic_collapses_to_a_point_mass_and_smoothing_keeps_the_support():
    """alpha = 0: the frequency fit collapses to one token (support 1, E sq_error = 1 - sum p^2);
    additive smoothing (a grid point of the same program) keeps every token and the KL finite."""
    result = jc.run("next-token", {"vocab": 8, "n": 20, "alpha": 0}, {"smoothing": [0.0, 0.5]}, seeds=1000,
                    generations=400, key=2, keep=("support", "sq_error", "kl"))
    assert np.all(result.per_seed["support"][0, :, -1] == 1)
    collapse_level = 1 - result.config["truth"]["sum_sq"]
    assert abs(z_score(result.mean("sq_error")[0, -1], result.stderr("sq_error")[0, -1], collapse_level)) < 4
    assert result.mean("entropy")[0, -1] == 0
    assert np.all(result.per_seed["support"][1] == 8)
    assert np.all(np.isfinite(result.per_seed["kl"][1]))


def test_exact_and_explicit_samplers_agree():
    """KS, 20,000 seeds each, 3 metrics x 3 generations at p > 1e-4 (family-wise < 0.1%)."""
    runs = [jc.run("next-token", {"vocab": 10, "n": 30, "alpha": 0.2, "sampler": s}, seeds=20000,
                   generations=20, key=10 + i) for i, s in enumerate(["exact", "explicit"])]
    for metric in ("sq_error", "support", "entropy"):
        for t in (1, 5, 20):
            assert ks_2samp(runs[0].per_seed[metric][:, t], runs[1].per_seed[metric][:, t]).pvalue > 1e-4


def _markov_reference(truth, alpha, n, seq_len, generations, seeds, rng):
    """The context-1 process in plain numpy (vectorised over seeds and sequences)."""
    k = truth.shape[0]
    weights = stationary(truth)
    model = np.broadcast_to(truth, (seeds, k, k)).copy()
    errors = []
    for t in range(generations + 1):
        source = np.broadcast_to(truth, model.shape) if t == 0 else alpha * truth + (1 - alpha) * model
        state = rng.integers(0, k, size=(seeds, n // seq_len))
        counts = np.zeros((seeds, k, k))
        for _ in range(seq_len - 1):
            cdf = np.cumsum(np.take_along_axis(source, state[:, :, None], axis=1), axis=-1)
            nxt = np.minimum((rng.random(state.shape)[..., None] > cdf).sum(-1), k - 1)
            np.add.at(counts, (np.arange(seeds)[:, None], state, nxt), 1)
            state = nxt
        visits = counts.sum(-1, keepdims=True)
        model = np.where(visits > 0, counts / np.maximum(visits, 1), 1 / k)
        errors.append(((model - truth) ** 2).sum(-1) @ weights)
    return np.stack(errors, 1)


def test_markov_context_matches_numpy_reference():
    settings = {"context": 1, "vocab": 4, "n": 64, "seq_len": 8, "alpha": 0.3}
    result = jc.run("next-token", settings, seeds=3000, generations=5, key=4, keep=("sq_error",))
    truth = np.asarray(result.config["truth"]["P"])
    reference = _markov_reference(truth, 0.3, 64, 8, 5, 3000, np.random.default_rng(0))
    ours = result.per_seed["sq_error"]
    for t in range(6):
        se = np.sqrt(ours[:, t].var() / 3000 + reference[:, t].var() / 3000)
        assert abs(ours[:, t].mean() - reference[:, t].mean()) < 4 * se, t
    assert "sq_error" not in result.theory  # no closed form for a Markov chain


@pytest.mark.parametrize("settings,needle", [
    ({"context": 1, "sampler": "exact"}, "needs context=0"),
    ({"context": 1, "n": 10, "seq_len": 32}, "seq_len"),
    ({"vocab": 1}, "vocab=1"),
    ({"context": 2}, "context=2"),
    ({"truth": "gaussian"}, "one of dirichlet"),
])
def test_bad_settings(settings, needle):
    with pytest.raises(jc.ConfigError, match=needle):
        jc.run("next-token", settings)
