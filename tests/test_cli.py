"""End-to-end CLI: the files and the summary.json contract."""

import json
import subprocess
import sys

import numpy as np

import jaxcollapse
from jaxcollapse import cli

CONTRACT = {"study", "config", "seeds", "generations", "dims", "coords", "metrics", "timing", "environment"}


def test_list(capsys):
    assert cli.main(["list"]) == 0
    out = capsys.readouterr().out
    assert "study   gaussian" in out
    for preset in ("shumailov-gaussian", "kazdan-grid", "xu-schedules"):
        assert f"preset  {preset}" in out


def test_run_two_dimensional_grid(tmp_path, capsys):
    out = tmp_path / "run"
    code = cli.main([
        "run", "gaussian", "--seeds", "64", "--generations", "5", "--set", "alpha=max(t,1)**-0.5",
        "--grid", "n=10,20*(t+1)", "--grid", "regime=replace,mix", "--chunk", "16",
        "--out", str(out), "--quiet",
    ])
    assert code == 0
    summary = json.loads((out / "summary.json").read_text())
    assert CONTRACT <= set(summary)
    assert summary["dims"] == ["n", "regime", "generation"]
    assert summary["coords"]["n"] == [10, "20*(t+1)"]
    assert summary["coords"]["generation"] == list(range(6))
    assert summary["config"]["truth"] == {"mean": [0.0], "cov_spectrum": [1.0]}
    assert summary["config"]["alpha"][:3] == [1.0, 1.0, 2**-0.5]
    for metric in ("mean_sq_error", "var", "log_det_ratio"):
        assert np.asarray(summary["metrics"][metric]["mean"]).shape == (2, 2, 6)
        assert np.asarray(summary["metrics"][metric]["stderr"]).shape == (2, 2, 6)
        assert np.asarray(summary["theory"][metric], dtype=float).shape == (2, 2, 6)
    assert set(summary["timing"]) >= {"compile_s", "run_s"}
    assert set(summary["environment"]) >= {"jax", "backend", "device_count", "x64", "prng_impl", "dtype"}
    with np.load(out / "per_seed.npz") as arrays:  # numpy alone reads it
        assert arrays["var"].shape == (2, 2, 64, 6)
        assert list(arrays["dims"]) == ["n", "regime", "seed", "generation"]
        assert list(arrays["coord_regime"]) == ["replace", "mix"]
        mean = arrays["mean_sq_error"].astype(np.float64).mean(axis=2)
    np.testing.assert_allclose(mean, summary["metrics"]["mean_sq_error"]["mean"], rtol=1e-6)
    assert (out / "figure.png").stat().st_size > 10_000
    assert (out / "phase.png").stat().st_size > 10_000
    assert not (out / "chunks").exists()
    loaded = jaxcollapse.load(out)
    assert loaded.dims == summary["dims"]
    np.testing.assert_array_equal(loaded.per_seed["var"].shape, (2, 2, 64, 6))
    np.testing.assert_allclose(loaded.mean("var"), summary["metrics"]["var"]["mean"])
    printed = capsys.readouterr().out
    assert "generation 5" in printed and str(out) in printed


def test_reproduce_quick_preset_as_a_subprocess(tmp_path):
    out = tmp_path / "preset"
    done = subprocess.run(
        # the preset's own quick size: one compiled program (the preset figures of kazdan-grid and
        # the others are drawn by the notebooks, pytest -m slow)
        [sys.executable, "-m", "jaxcollapse", "reproduce", "shumailov-gaussian", "--quick", "--out", str(out), "--quiet",
         "--keep", "none"],
        capture_output=True, text=True, timeout=600,
    )
    assert done.returncode == 0, done.stderr
    summary = json.loads((out / "summary.json").read_text())
    assert summary["dims"] == ["n", "regime", "generation"]
    assert summary["seeds"] == 200 and summary["generations"] == 50
    assert summary["config"]["ddof"] == 0 and summary["coords"]["n"] == [100, 1000]
    for name in ("figure.png", "phase.png"):
        assert (out / name).exists(), name
    with np.load(out / "per_seed.npz") as arrays:
        assert "var" not in arrays.files


def test_bad_input_exit_status_as_a_subprocess():
    done = subprocess.run(
        [sys.executable, "-m", "jaxcollapse", "run", "gaussian", "--set", "alpha=2"],
        capture_output=True, text=True, timeout=120,
    )
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        "jaxcollapse: error: alpha=2: must be a number or a schedule in t >= 0 and <= 1 (got 2)"
    ]
