"""contaminated-pac (Amin et al.): the round-1 threshold error in closed form, both concepts
against independent brute-force numpy implementations, and the shapes the paper states
(repeated ERM stalls for large alpha; the corrected learner keeps improving)."""

import numpy as np
import pytest

from jaxcollapse.api import run
from jaxcollapse.engine import ConfigError

from .reference import contaminated_halfspace, contaminated_threshold, z_score


def _two_sample_z(ours, ours_se, reference):
    se = np.sqrt(ours_se**2 + reference.var(axis=0, ddof=1) / reference.shape[0])
    return (ours - reference.mean(axis=0)) / se


def test_round_one_threshold_error_is_one_over_two_n_plus_one():
    r = run("contaminated-pac", {"n": 50}, seeds=20000, generations=1, key=3, keep=())
    for metric in r.metrics:
        assert abs(z_score(r.mean(metric)[0], r.stderr(metric)[0], 1 / 102)) < 4


@pytest.mark.parametrize("alpha", [0.3, 0.8])
def test_threshold_learners_match_brute_force_reference(alpha):
    rounds, n = 12, 20
    r = run("contaminated-pac", {"n": n, "alpha": alpha, "threshold": 0.4}, seeds=3000, generations=rounds - 1, key=1, keep=())
    reference = contaminated_threshold(np.random.default_rng(7), n, alpha, 0.4, rounds, 1500)
    for i, metric in enumerate(r.metrics):
        z = _two_sample_z(r.mean(metric), r.stderr(metric), reference[i])
        assert np.all(np.abs(z) < 4), (metric, z)


def test_halfspace_learners_match_newton_to_convergence_reference():
    rounds, n, dim = 6, 30, 3
    r = run("contaminated-pac", {"concept": "halfspace", "dim": dim, "n": n, "alpha": 0.7, "ridge": 1.0},
            seeds=2000, generations=rounds - 1, key=2, keep=(), x64=True)
    reference = contaminated_halfspace(np.random.default_rng(8), dim, n, 0.7, 1.0, rounds, 800)
    for i, metric in enumerate(r.metrics):
        z = _two_sample_z(r.mean(metric), r.stderr(metric), reference[i])
        assert np.all(np.abs(z) < 4), (metric, z)


def test_repeated_erm_stalls_and_the_corrected_learner_does_not():
    """Thresholds, n = 50, 60 rounds: at alpha = 0.9 ERM keeps most of its round-1 error while
    the corrected learner and clean ERM (alpha = 0) keep improving."""
    r = run("contaminated-pac", {"n": 50}, {"alpha": [0.0, 0.5, 0.9]}, seeds=200, generations=59, key=4, keep=())
    erm, corrected = r.mean("erm_error"), r.mean("corrected_error")
    assert erm[2, -1] > 0.7 * erm[2, 0]
    assert corrected[2, -1] < 0.4 * corrected[2, 0]
    assert erm[0, -1] < 0.05 * erm[0, 0]
    assert erm[0, -1] < erm[1, -1] < erm[2, -1]
    assert np.all(corrected[1:, -1] < erm[1:, -1])


@pytest.mark.parametrize("settings", [
    {"threshold": 0.0}, {"threshold": 1.0}, {"concept": "halfspace", "ridge": 0.0}, {"alpha": 1.2},
    {"concept": "circle"}, {"dim": 1}, {"n": 0}, {"newton_steps": 0},
])
def test_bad_input_is_refused_before_compiling(settings):
    with pytest.raises(ConfigError):
        run("contaminated-pac", settings, seeds=2, generations=2)
