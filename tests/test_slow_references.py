"""Heavy checks against the paper notes' reference values (run with ``pytest -m slow``)."""

import numpy as np
import pytest

import jaxcollapse as jc

pytestmark = pytest.mark.slow


def test_xu_log_variance_oracle_long_horizon():
    """n=100, T=1000, ddof=1: E log(s_T/s_0) = -10.1350, Var = 20.4075 (Xu et al. note)."""
    result = jc.run("gaussian", {"n": 100, "ddof": 1}, seeds=20000, generations=1000,
                    keep=("log_det_ratio",), key=21)
    drift = result.per_seed["log_det_ratio"][:, -1] - result.per_seed["log_det_ratio"][:, 0]
    seeds = drift.size
    assert abs(drift.mean() + 10.1350) < 4 * drift.std(ddof=1) / np.sqrt(seeds)
    assert abs(drift.var(ddof=1) - 20.4075) < 4 * 20.4075 * np.sqrt(2 / (seeds - 1))


def test_xu_improvement_free_schedules_keep_variance():
    """Superlinear n_t keeps var_T near 1 and E(mu_T)^2 near sigma^2 sum 1/n_k (note's table)."""
    result = jc.run("gaussian", {"ddof": 1, "n0": 100},
                    grids={"n": ["100*(t+1)", "100*(t+1)**1.5"]},
                    seeds=4000, generations=1000, keep=("var",), key=22)
    median = np.median(result.per_seed["var"][:, :, -1], axis=1)
    assert median[0] == pytest.approx(0.93, abs=0.03)
    assert median[1] == pytest.approx(0.99, abs=0.03)
    for i, expected in enumerate([0.075, 0.026]):
        z = (result.mean("mean_sq_error")[i, -1] - result.theory["mean_sq_error"][i, -1]) / result.stderr(
            "mean_sq_error")[i, -1]
        assert abs(z) < 4
        assert result.theory["mean_sq_error"][i, -1] == pytest.approx(expected, rel=0.05)


def test_kazdan_accumulate_subsample_plateau():
    """Accumulate-subsample at d=10, n=100, k=100: SE about 0.284 and tr about 0.976
    (the note's Monte Carlo with 1,000 seeds; compared at 5 combined standard errors)."""
    result = jc.run("gaussian", {"dim": 10, "n": 100, "regime": "accumulate-subsample"},
                    seeds=1000, generations=99, keep=(), key=23)
    error, se = result.mean("mean_sq_error")[-1], result.stderr("mean_sq_error")[-1]
    assert abs(error - 0.284) < 5 * np.sqrt(2) * se
    assert result.mean("var")[-1] == pytest.approx(0.976, abs=0.01)
