"""--prng: every generator keeps the engine's guarantees (chunk invariance, closed forms within
4 SE) and is recorded; a wrong name is refused in one line."""

import json

import numpy as np
import pytest

import jaxcollapse as jc
from jaxcollapse.cli import main

from .reference import z_score

SETTINGS = {"n": 10, "regime": "mix", "alpha": 0.3}


@pytest.mark.parametrize("prng", ["philox", "rbg", "unsafe_rbg"])
def test_each_generator_is_chunk_invariant_and_matches_theory(prng):
    """2,000 seeds as one chunk and as chunks of 256: bitwise equal; E||mu_t - mu||^2 and E var_t
    against the Gaussian closed forms within 4 SE; a different stream from threefry's."""
    runs = [jc.run("gaussian", SETTINGS, seeds=2000, generations=6, key=1, chunk=c, prng=prng, keep=("var",))
            for c in (None, 256)]
    for metric in ("var", "mean_sq_error"):
        assert np.array_equal(runs[0].mean(metric), runs[1].mean(metric)), metric
        z = z_score(runs[0].mean(metric), runs[0].stderr(metric), runs[0].theory[metric])
        assert np.all(np.abs(z) < 4), (metric, np.round(z, 2))
    assert np.array_equal(runs[0].per_seed["var"], runs[1].per_seed["var"])
    threefry = jc.run("gaussian", SETTINGS, seeds=8, generations=6, key=1, keep=("var",))
    assert not np.array_equal(threefry.per_seed["var"], runs[0].per_seed["var"][:8])
    assert runs[0].config["prng"] == prng


def test_the_generator_is_recorded_and_a_wrong_name_refused(tmp_path, capsys):
    out = tmp_path / "run"
    argv = ["run", "gaussian", "--set", "n=5", "--seeds", "8", "--generations", "2", "--prng", "philox",
            "--out", str(out), "--no-plot", "--quiet"]
    assert main(argv) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["config"]["prng"] == "philox" and summary["environment"]["prng_impl"] == "philox4x32"
    capsys.readouterr()
    assert main(["run", "gaussian", "--prng", "mt19937", "--out", str(tmp_path / "bad")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["jaxcollapse: error: prng=mt19937: must be one of threefry, philox, rbg, unsafe_rbg"]
    with pytest.raises(jc.ConfigError, match="prng=x"):
        jc.run("gaussian", prng="x")


@pytest.mark.parametrize("prng", ["rbg", "unsafe_rbg"])
def test_rejection_loops_finish_with_generators_that_share_bits(prng):
    """rbg and unsafe_rbg draw a vmapped batch's bits from its first key, and a finished lane's
    trip counter stands still, so the binomial's and the gamma's rejection loops once offered
    the other lanes the same proposals for ever (next-token hung). 1,000 seeds with lanes on both
    the inversion and the BTRS side (means 2.5 and 250 over 20 tokens): the run finishes, and
    E R_t matches the paper's recursion within 4 SE."""
    run = jc.run("next-token", {"vocab": 20, "sampler": "exact"}, {"n": [50, 5000]}, seeds=1000, generations=8,
                 key=3, prng=prng)
    for index in range(2):
        z = z_score(run.mean("sq_error")[index], run.stderr("sq_error")[index], run.theory["sq_error"][index])
        assert np.all(np.abs(z) < 4), (index, np.round(z, 2))
