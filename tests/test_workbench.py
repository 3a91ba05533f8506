"""The researcher's workbench: describe, labelled results, sweep files, preset overrides,
figures, progress, schedules and the bounded default of --keep.

One small gaussian grid (regime x n, 64 seeds, T = 5, quantiles 0.1/0.5/0.9) is run once for the
module and read by most tests; the other runs reuse its shapes, so they load from the cache."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import jaxcollapse as jc
from jaxcollapse import api, cli
from jaxcollapse.describe import describe, metrics_markdown, params_markdown, presets_markdown
from jaxcollapse.engine.schedules import ScheduleError, evaluate_schedule
from jaxcollapse.studies import PRESETS, STUDIES

pytestmark = pytest.mark.xdist_group("workbench")  # its module fixture is computed once
SIZE = dict(seeds=64, generations=5)
GRIDS = {"regime": ["replace", "accumulate"], "n": [3, 100]}


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("workbench") / "run"
    code = cli.main(["run", "gaussian", "--seeds", "64", "--generations", "5", "--grid", "regime=replace,accumulate",
                     "--grid", "n=3,100", "--quantiles", "0.1,0.5,0.9", "--out", str(out), "--quiet",
                     "--format", "netcdf", "--figure-format", "png,svg", "--dpi", "60"])
    assert code == 0
    return out


# describe -------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", sorted(PRESETS))
def test_every_preset_describes_what_it_sets(name):
    preset = PRESETS[name]
    text = describe(name)
    spec = preset.resolved()
    assert text.startswith(f"preset {name}:")
    for setting in spec["settings"]:
        assert f"{setting}=" in text
    for grid in spec["grids"]:
        assert f"{grid} in {{" in text
    assert f"seeds={spec['seeds']}" in text and f"generations={spec['generations']}" in text


@pytest.mark.parametrize("name", sorted(STUDIES))
def test_every_study_lists_each_parameter_and_metric_with_its_meaning(name):
    study = STUDIES[name]
    text = describe(name)
    for p in study.params:
        assert f"  {p.name}: {p.doc}" in text
    table = metrics_markdown(name)
    for m in study.metrics:
        assert study.metric_docs.get(m), f"{name}.{m} has no meaning in metric_docs"
        assert f"| {m} | " in table
    rows = params_markdown(name).splitlines()
    assert len(rows) == 2 + len(study.params)
    if any(p.study == name for p in PRESETS.values()):
        assert "`" in presets_markdown(name)


def test_describe_from_the_command_line_and_its_suggestions(capsys):
    assert cli.main(["describe", "gaussian"]) == 0
    assert "regime" in capsys.readouterr().out
    assert cli.main(["list", "kazdan-grid"]) == 0  # list NAME describes too
    assert "preset kazdan-grid" in capsys.readouterr().out
    assert cli.main(["describe", "gausian"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "did you mean 'gaussian'" in err
    assert cli.main(["run", "kazdan-gird"]) == 2
    assert "did you mean 'kazdan-grid'" in capsys.readouterr().err


def test_help_answers_without_importing_jax():
    code = ("import sys\nfrom jaxcollapse.cli import main\n"
            "for argv in (['--help'], ['run', '--help']):\n"
            "    try: main(argv)\n    except SystemExit: pass\n"
            "print('JAX' if 'jax' in sys.modules else 'NOJAX')")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert "--figure-format" in out and out.strip().endswith("NOJAX")


# labelled results -----------------------------------------------------------------------------

def test_xarray_dataframe_and_label_selection_agree_with_the_arrays(run_dir):
    result = jc.load(run_dir)
    ds = result.to_xarray()
    assert list(ds["var"].dims) == ["regime", "n", "generation", "statistic"]
    assert list(ds["statistic"].values) == ["mean", "stderr", "theory", "q0.1", "q0.5", "q0.9"]
    np.testing.assert_array_equal(ds["var"].sel(statistic="mean").values, result.mean("var"))
    np.testing.assert_array_equal(ds["var"].sel(statistic="theory").values, result.theory["var"])
    picked = ds["var"].sel(statistic="stderr", regime="accumulate", n=100).values
    np.testing.assert_array_equal(picked, result.stderr("var", regime="accumulate", n=100))
    np.testing.assert_array_equal(result.mean("var", regime="accumulate", n="100"), result.mean("var")[1, 1])
    np.testing.assert_array_equal(result.quantile("var", 0.5, n=3), result.quantiles["metrics"]["var"]["0.5"][:, 0])
    with pytest.raises(jc.ConfigError, match="regime='mixx'"):
        result.mean("var", regime="mixx")
    frame = result.to_dataframe()
    assert len(frame) == 2 * 2 * 6 * len(result.metrics)
    row = frame[(frame.regime == "replace") & (frame.n == 3) & (frame.generation == 5) & (frame.metric == "var")]
    assert float(row["mean"].iloc[0]) == result.mean("var")[0, 0, 5]
    assert float(row["q0.9"].iloc[0]) == result.quantile("var", 0.9)[0, 0, 5]


def test_per_seed_dataset_reproduces_the_streamed_means(run_dir):
    """An independent reduction: float64 means of the per-seed Dataset vs the engine's
    streamed moments (blockwise float32 sums merged in float64)."""
    result = jc.load(run_dir)
    seeds = result.to_xarray(per_seed=True)
    assert list(seeds["var"].dims) == ["regime", "n", "seed", "generation"]
    direct = seeds["mean_sq_error"].astype(np.float64).mean("seed").values
    np.testing.assert_allclose(direct, result.mean("mean_sq_error"), rtol=2e-6)


def test_netcdf_file_reads_back_through_load(run_dir):
    original, back = jc.load(run_dir), jc.load(run_dir / "results.nc")
    assert back.dims == original.dims and back.coords == original.coords
    for metric in original.metrics:
        np.testing.assert_array_equal(back.mean(metric), original.mean(metric))
        np.testing.assert_array_equal(back.stderr(metric), original.stderr(metric))
    np.testing.assert_array_equal(back.quantile("var", 0.1), original.quantile("var", 0.1))
    assert back.invocation == original.invocation
    assert cli.main(["run", "gaussian", "--format", "hdf5"]) == 2


# invocation, sweep files, preset overrides ----------------------------------------------------

def test_invocation_records_the_command_line(run_dir):
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["invocation"]["command"].startswith("jaxcollapse run gaussian --seeds 64")
    assert "--format netcdf" in summary["invocation"]["command"]


def test_sweep_file_with_flags_overriding_it(tmp_path, run_dir):
    sweep = tmp_path / "sweep.toml"
    sweep.write_text('study = "gaussian"\nseeds = 64\ngenerations = 5\nkey = 7\n[settings]\nn = 10\n'
                     '[grids]\nregime = ["replace", "accumulate"]\nn = [5, 6]\n')
    out = tmp_path / "run"
    # the file's key 7 is overridden by --key 0; the file's n grid is replaced by the --grid flag
    code = cli.main(["run", "--config", str(sweep), "--key", "0", "--grid", "n=3,100", "--out", str(out),
                     "--quiet", "--no-plot", "--quantiles", "0.1,0.5,0.9", "--keep", "none"])
    assert code == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["dims"] == ["regime", "n", "generation"] and summary["config"]["key"] == 0
    assert summary["invocation"]["config_file"]["contents"] == sweep.read_text()
    reference = jc.load(run_dir)  # the same run made with flags alone
    np.testing.assert_array_equal(np.asarray(summary["metrics"]["var"]["mean"]), reference.mean("var"))


@pytest.mark.parametrize("text, message", [
    ('study = "gaussian"\nseedz = 3\n', "unknown key 'seedz'"),
    ('study = "gaussian"\nseeds = "many"\n', "seeds='many' must be an integer"),
    ("study = \n", "not valid TOML"),
    ("seeds = 3\n", "study: give a study name"),
])
def test_a_bad_sweep_file_gets_one_line(tmp_path, capsys, text, message):
    sweep = tmp_path / "bad.toml"
    sweep.write_text(text)
    assert cli.main(["run", "--config", str(sweep)]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1


def test_reproduce_takes_overrides_and_its_help_shows_the_preset(tmp_path, capsys, run_dir):
    out = tmp_path / "preset"
    code = cli.main(["reproduce", "shumailov-gaussian", "--quick", "--set", "dim=1", "--set", "ddof=1",
                     "--grid", "n=10,100", "--grid", "regime=replace,accumulate", "--seeds", "64",
                     "--generations", "5", "--out", str(out), "--quiet", "--no-plot"])
    assert code == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["coords"]["n"] == [10, 100] and summary["seeds"] == 64 and summary["config"]["ddof"] == 1
    assert summary["invocation"]["preset"] == "shumailov-gaussian"
    # the preset's grid order (n, regime) is kept; ddof differs from the flag-only run (ddof 0 default)
    assert summary["dims"] == ["n", "regime", "generation"]
    with pytest.raises(SystemExit):
        cli.main(["reproduce", "kazdan-grid", "--help"])
    printed = capsys.readouterr().out
    assert "preset kazdan-grid" in printed and "seeds=100" in printed


# figures --------------------------------------------------------------------------------------

def test_figures_in_every_requested_format(run_dir):
    for name in ("figure", "phase"):
        assert (run_dir / f"{name}.png").stat().st_size > 5_000
        assert (run_dir / f"{name}.svg").read_text().lstrip().startswith("<?xml")
    assert cli.main(["run", "gaussian", "--figure-format", "gif"]) == 2
    assert cli.main(["run", "gaussian", "--dpi", "5"]) == 2


def test_figure_rules_shared_scale_constant_metrics_and_the_median_band(run_dir):
    from matplotlib.figure import Figure

    from jaxcollapse.plot import SKEW_RULE, skewed, spread, trajectories_figure

    result = jc.load(run_dir)
    fig = trajectories_figure(result)
    assert isinstance(fig, Figure)
    labels = [ax.get_ylabel() for ax in fig.axes if ax.get_ylabel()]
    assert "degenerate" not in labels  # always 0 here: constant, left out
    assert "constant, not drawn: degenerate" in fig.get_suptitle()
    rows = {}
    for ax in fig.axes:
        rows.setdefault(round(ax.get_position().y0, 3), []).append(ax)
    for axes in rows.values():  # one y-scale per metric row
        assert len({ax.get_yscale() for ax in axes}) == 1
        assert len({tuple(np.round(ax.get_ylim(), 9)) for ax in axes}) == 1
    # the skew rule, by hand: replace at n = 3 has its variance's median far below its mean (the
    # population's |mean - median| / (q90 - q10) passes the rule's 0.25 from t = 2 on; with 64
    # seeds some t <= 5 shows it in all but 2.5e-4 of random streams, by a numpy simulation)
    low, median, high = spread(result, "var")
    mean = result.mean("var")
    by_hand = np.abs(mean - median) > SKEW_RULE * (high - low)
    assert skewed(mean, (low, median, high)) == bool(by_hand.any())
    assert by_hand[0, 0].any()  # replace, n = 3
    quantiles = {q: np.quantile(result.per_seed["var"].astype(np.float64), q, axis=-2) for q in (0.1, 0.5, 0.9)}
    np.testing.assert_allclose(median, result.quantile("var", 0.5), rtol=1e-6)
    np.testing.assert_allclose(quantiles[0.5], median, rtol=1e-6)


# schedules ------------------------------------------------------------------------------------

def test_schedule_expressions_functions_and_sequences():
    t = np.arange(13, dtype=float)
    np.testing.assert_array_equal(evaluate_schedule("0.5*(t<10)", 12), 0.5 * (t < 10))
    np.testing.assert_array_equal(evaluate_schedule("where(t >= 4, 100, 10*(t+1))", 12), np.where(t >= 4, 100, 10 * (t + 1)))
    np.testing.assert_array_equal(evaluate_schedule("floor(t/5) + ceil(t/4)", 12), np.floor(t / 5) + np.ceil(t / 4))
    np.testing.assert_array_equal(evaluate_schedule("2 <= t < 5", 12), ((2 <= t) & (t < 5)).astype(float))
    np.testing.assert_array_equal(evaluate_schedule(lambda s: 1.0 if s < 3 else 2.0, 12), np.where(t < 3, 1.0, 2.0))
    np.testing.assert_array_equal(evaluate_schedule(np.sqrt, 12), np.sqrt(t))
    np.testing.assert_array_equal(evaluate_schedule(list(range(13)), 12), t)
    for bad in ("where(t, 1)", [1.0, 2.0], lambda s: 1 / 0, "t == "):
        with pytest.raises(ScheduleError):
            evaluate_schedule(bad, 12)


def test_python_schedules_run_and_match_their_expression_twin():
    by_text = jc.run("gaussian", settings={"regime": "mix", "alpha": "0.5*(t<3)", "n": "10*(t+1)"}, **SIZE)
    by_python = jc.run("gaussian", settings={"regime": "mix", "alpha": np.where(np.arange(6) < 3, 0.5, 0.0),
                                             "n": lambda t: 10 * (t + 1)}, **SIZE)
    np.testing.assert_array_equal(by_python.mean("var"), by_text.mean("var"))
    assert by_python.config["alpha"] == [0.5, 0.5, 0.5, 0.0, 0.0, 0.0]
    assert "<function <lambda>>" in by_python.invocation["python"]
    with pytest.raises(jc.ConfigError, match="alpha=<sequence of 3>: .*T\\+1 = 6 values"):
        jc.run("gaussian", settings={"alpha": [0.1, 0.2, 0.3]}, **SIZE)


# bounded keep and progress --------------------------------------------------------------------

def test_the_default_keeps_the_first_seeds_when_all_would_be_too_large(monkeypatch, tmp_path, capsys, run_dir):
    full = jc.load(run_dir)
    one_seed = 2 * 2 * 6 * 4 * len(full.metrics)  # points x (T+1) x float32 x metrics
    monkeypatch.setattr(api, "KEEP_DEFAULT_BYTES", 10 * one_seed)
    bounded = jc.run("gaussian", grids=GRIDS, chunk=16, out=tmp_path / "bounded", progress=True, **SIZE)
    err = capsys.readouterr().err
    assert "keeping per-seed arrays for the first 10 of 64 seeds" in err
    assert bounded.per_seed["var"].shape == (2, 2, 10, 6)
    np.testing.assert_array_equal(bounded.per_seed["var"], full.per_seed["var"][:, :, :10])
    np.testing.assert_array_equal(bounded.mean("var"), full.mean("var"))  # moments use every seed
    with np.load(tmp_path / "bounded" / "per_seed.npz") as stored:
        np.testing.assert_array_equal(stored["seed"], np.arange(10))
    everything = jc.run("gaussian", grids=GRIDS, keep="all", **SIZE)
    assert everything.per_seed["var"].shape == (2, 2, 64, 6)
