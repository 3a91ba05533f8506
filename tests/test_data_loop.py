"""The shared data loop (``engine.data``) and user models (``jc.Model``): every regime, weight
and selection policy against closed forms or an independent numpy reference of the same process,
one compile per pool shape, and one-line errors for a model's mistakes."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxcollapse as jc
from jaxcollapse import cli
from jaxcollapse.models import scalar

from .reference import z_score


# ---- the Poisson rate of the issue, written as a user would ------------------------------------
def fit(key, data, weights, previous, hp):
    return jnp.sum(weights * data) / jnp.sum(weights)


def sample(key, theta, size, hp):
    return scalar.poisson(key, theta, size)  # the package's sampler (docs/byom.md: 5x faster here)


def metrics(theta, truth, hp):
    return {"sq_error": (theta - truth) ** 2}


POISSON = jc.Model(name="poisson-rate", params={"rate": 3.0}, truth=lambda hp: hp["rate"],
                   fit=fit, sample=sample, metrics=metrics)


def _two_sample_z(ours_mean, ours_se, reference):
    reference = np.asarray(reference, np.float64)
    se = np.sqrt(ours_se**2 + reference.var(0, ddof=1) / reference.shape[0])
    with np.errstate(invalid="ignore", divide="ignore"):  # generation 0 has no spread (callers skip it)
        return (ours_mean - reference.mean(0)) / se


class _Regime:
    """One regime of a grid run, with the Result's accessors."""

    def __init__(self, result, index):
        self.result, self.index = result, index

    def mean(self, metric):
        return self.result.mean(metric)[self.index]

    def stderr(self, metric):
        return self.result.stderr(metric)[self.index]


@pytest.fixture(scope="module")
def poisson():
    """replace, mix (alpha 0.25) and accumulate at n = 40, rate 3, 20 generations: one grid (the
    program of the bring_your_own_model notebook's quick run, which the session's cache shares)."""
    regimes = ["replace", "mix", "accumulate"]
    result = jc.run(POISSON, {"n": 40, "alpha": 0.25}, {"regime": regimes}, seeds=2000, generations=20, key=1, keep=())
    return {regime: _Regime(result, i) for i, regime in enumerate(regimes)}


def test_poisson_closed_forms(poisson):
    """replace Var = (t+1) r/n; accumulate r/n sum_{k<=t+1} 1/k^2; mix V_t = (1-a)^2 V_{t-1} + r/n."""
    r, n, a, t = 3.0, 40, 0.25, np.arange(21)
    mix = np.empty(21)
    mix[0] = r / n
    for k in range(1, 21):
        mix[k] = (1 - a) ** 2 * mix[k - 1] + r / n
    theory = {"replace": (t + 1) * r / n, "accumulate": r / n * np.cumsum(1 / np.arange(1, 22) ** 2), "mix": mix}
    for regime, result in poisson.items():
        z = z_score(result.mean("sq_error"), result.stderr("sq_error"), theory[regime])
        assert np.all(np.abs(z) < 4), (regime, np.round(z, 2))


def test_loop_metrics_count_the_training_rows(poisson):
    t = np.arange(21)
    np.testing.assert_array_equal(poisson["replace"].mean("train_size"), 40)
    np.testing.assert_array_equal(poisson["accumulate"].mean("train_size"), 40 * (t + 1))
    np.testing.assert_allclose(poisson["accumulate"].mean("real_share"), 1 / (t + 1), rtol=1e-6)
    np.testing.assert_allclose(poisson["mix"].mean("real_share")[1:], 10 / 40, rtol=1e-6)
    assert poisson["replace"].mean("real_share")[0] == 1 and np.all(poisson["replace"].mean("real_share")[1:] == 0)


# ---- a Gaussian-mean model and an independent numpy reference of each loop setting ----------
def gauss_fit(key, data, weights, previous, hp):
    return jnp.sum(weights * data) / jnp.sum(weights)


def gauss_sample(key, theta, size, hp):
    return theta + jax.random.normal(key, (size,))


GAUSS = jc.Model(name="gaussian-mean", params={"mu": 0.0}, truth=lambda hp: hp["mu"], fit=gauss_fit,
                 sample=gauss_sample, metrics=lambda theta, truth, hp: {"mean": theta, "sq_error": (theta - truth) ** 2},
                 score=lambda theta, rows, hp: rows)


def numpy_loop(regime, n, generations, seeds, rng, window=1, real_weight=1.0, alpha=0.0, select="none",
               fraction=1.0, threshold=0.0):
    """The same process in plain numpy, one seed at a time, with explicit Python lists of rows:
    returns theta and the training-set size over t = 0..T for every seed."""
    out, sizes = np.empty((seeds, generations + 1)), np.empty((seeds, generations + 1))
    for s in range(seeds):
        rows = [(x, 0, True) for x in rng.normal(size=n)]  # (value, origin, real)
        theta = np.mean([x for x, _, _ in rows])
        out[s, 0], sizes[s, 0] = theta, n
        for t in range(1, generations + 1):
            n_real = int(np.round(alpha * n)) if regime == "mix" else 0
            synthetic = theta + rng.normal(size=n - n_real)
            if select == "top":
                synthetic = np.sort(synthetic)[::-1][: int(np.round(fraction * synthetic.size))]
            elif select == "threshold":
                synthetic = synthetic[synthetic >= threshold]
            elif select == "sample":
                synthetic = synthetic[rng.random(synthetic.size) < np.clip(synthetic, 0, 1)]
            new = [(x, t, True) for x in rng.normal(size=n_real)] + [(x, t, False) for x in synthetic]
            if regime in ("replace", "mix"):
                train = new
            else:
                rows = rows + new
                if regime == "window":
                    train = [r for r in rows if r[1] > t - window]
                elif regime == "accumulate-subsample":
                    train = [rows[i] for i in rng.permutation(len(rows))[:n]]
                else:
                    train = rows
            if train:
                w = np.array([real_weight if real else 1.0 for _, _, real in train])
                theta = np.sum(w * np.array([x for x, _, _ in train])) / np.sum(w)
            out[s, t], sizes[s, t] = theta, len(train)
    return out, sizes


GROUPS = [  # (settings, grids, [(grid point, numpy reference)]): three compiles cover seven settings
    ({"n": 10, "alpha": 0.3, "select_fraction": 0.5, "select_threshold": -0.5},
     {"regime": ["replace", "mix"], "select": ["none", "top", "threshold"], "real_weight": [1.0, 0.5]},
     [({"regime": "mix", "select": "none", "real_weight": 0.5}, dict(regime="mix", alpha=0.3, real_weight=0.5)),
      ({"regime": "replace", "select": "top", "real_weight": 1.0}, dict(regime="replace", select="top", fraction=0.5)),
      ({"regime": "replace", "select": "threshold", "real_weight": 1.0},
       dict(regime="replace", select="threshold", threshold=-0.5))]),
    ({"n": 10, "window": 3}, {"regime": ["accumulate", "window"], "real_weight": [1.0, 4.0], "select": ["none", "sample"]},
     [({"regime": "window", "real_weight": 1.0, "select": "none"}, dict(regime="window", window=3)),
      ({"regime": "accumulate", "real_weight": 4.0, "select": "none"}, dict(regime="accumulate", real_weight=4.0)),
      ({"regime": "accumulate", "real_weight": 1.0, "select": "sample"}, dict(regime="accumulate", select="sample"))]),
    ({"n": 10, "regime": "accumulate-subsample"}, {}, [({}, dict(regime="accumulate-subsample"))]),
]


@pytest.mark.parametrize("settings,grids,cases", GROUPS, ids=["batch", "pool", "subsample"])
def test_each_loop_setting_matches_a_numpy_reference(settings, grids, cases):
    """Mean and mean square of theta_t, t = 1..6, within 4 SE of the numpy process (two-sample);
    the training-set size exactly where the reference's is the same for every seed (no random
    selection), else its mean within 4 SE."""
    generations = 6
    result = jc.run(GAUSS, settings, grids, seeds=4000, generations=generations, key=2, keep=("mean", "train_size"))
    assert len(result.config["chunk"]) == 1
    for point, reference in cases:
        index = tuple(result.coords[d].index(point[d]) for d in result.dims[:-1])
        ours = result.per_seed["mean"][index].astype(np.float64)
        ref, ref_sizes = numpy_loop(n=settings["n"], generations=generations, seeds=4000, rng=np.random.default_rng(5),
                                    **reference)
        sizes = result.per_seed["train_size"][index]
        if np.all(ref_sizes == ref_sizes[0]):
            assert np.all(sizes == ref_sizes[0]), (point, sizes[0], ref_sizes[0])
        else:
            z = _two_sample_z(sizes.mean(0), sizes.std(0, ddof=1) / np.sqrt(sizes.shape[0]), ref_sizes)
            assert np.all(np.abs(z[1:]) < 4), (point, "train_size", np.round(z, 2))
        for stat in (lambda x: x, lambda x: x**2):
            values = stat(ours)
            z = _two_sample_z(values.mean(0), values.std(0, ddof=1) / np.sqrt(values.shape[0]), stat(ref))
            assert np.all(np.abs(z[1:]) < 4), (point, np.round(z, 2))


def test_selection_has_power():
    """The comparison above detects a selection: top-half filtering drifts the mean upward by
    about E[mean of the top half of 10 normals] = 0.79 per generation, far from 0."""
    result = jc.run(GAUSS, {"n": 10, "select": "top", "select_fraction": 0.5}, seeds=2000, generations=3, keep=())
    assert result.mean("mean")[3] > 2.0


def test_a_regime_grid_compiles_once_per_pool_shape():
    """A fit sees either a batch of rows or the whole pool: replace and mix share one compile,
    accumulate-subsample (a batch gathered from a pool) one, accumulate and window (the pool) one;
    a grid over real weights and selection policies adds none."""
    result = jc.run(GAUSS, {"n": 8, "alpha": 0.0}, {"regime": ["replace", "accumulate", "accumulate-subsample", "window"],
                                                   "real_weight": [1.0, 2.0], "select": ["none", "top"]},
                    seeds=16, generations=3, keep=())
    assert len(result.config["chunk"]) == 3
    assert np.all(np.isfinite(result.mean("mean")))


def test_a_grid_point_equals_its_single_run():
    grid = jc.run(POISSON, {"n": 12}, {"regime": ["accumulate", "window"], "window": [2, 5]}, seeds=64,
                  generations=4, key=3)
    single = jc.run(POISSON, {"n": 12, "regime": "window", "window": 5}, seeds=64, generations=4, key=3)
    np.testing.assert_allclose(grid.per_seed["sq_error"][1, 1], single.per_seed["sq_error"], rtol=1e-5, atol=1e-7)


def test_model_params_are_traced_scheduled_and_gridded():
    result = jc.run(POISSON, {"n": 20, "rate": "2+t"}, {"regime": ["replace"]}, seeds=200, generations=3)
    assert result.config["rate"][:4] == [2.0, 3.0, 4.0, 5.0]
    gridded = jc.run(POISSON, {"n": 20}, {"rate": [1.0, 5.0]}, seeds=2000, generations=1)
    assert len(gridded.config["chunk"]) == 1
    z = z_score(gridded.mean("sq_error")[:, 0], gridded.stderr("sq_error")[:, 0], np.array([1.0, 5.0]) / 20)
    assert np.all(np.abs(z) < 4)


# ---- a model's mistakes: one line, naming the function, before anything compiles -----------------
def _refused(model, settings=None, match=""):
    with pytest.raises(jc.ConfigError, match=match) as info:
        jc.run(model, settings or {"n": 5}, seeds=2, generations=2)
    assert "\n" not in str(info.value)
    return str(info.value)


def test_a_model_with_a_missing_function_is_refused():
    with pytest.raises(jc.ConfigError, match="fit=None must be a function fit"):
        jc.Model(name="broken", fit=None, sample=sample, metrics=metrics, truth=lambda hp: 1.0)


def test_rows_of_the_wrong_leading_size_are_refused():
    bad = jc.Model(name="short", truth=lambda hp: 3.0, fit=fit, metrics=metrics,
                   sample=lambda key, theta, size, hp: jnp.zeros(size - 1))
    _refused(bad, match=r"sample returned float32\[(\d+)\] for size=(\d+); every array needs leading size")


def test_a_fit_that_changes_shape_is_refused():
    grows = jc.Model(name="grows", truth=lambda hp: 3.0, sample=sample, metrics=lambda th, tr, hp: {"m": jnp.sum(th)},
                     fit=lambda key, data, weights, previous, hp: jnp.zeros(1) if previous is None else jnp.zeros(2))
    _refused(grows, match="fit returns float32\\[1\\] at generation 0 but float32\\[2\\] at generation 1")


def test_a_metric_that_is_not_a_scalar_is_refused():
    vector = jc.Model(name="vector", truth=lambda hp: 3.0, sample=sample, fit=fit,
                      metrics=lambda theta, truth, hp: {"both": jnp.stack([theta, truth])})
    _refused(vector, match=r"metrics\['both'\] has shape \[2\]")


def test_an_exception_in_the_models_code_is_one_line():
    def broken_fit(key, data, weights, previous, hp):
        raise ValueError("no\nsuch luck")

    message = _refused(jc.Model(name="raises", truth=lambda hp: 3.0, sample=sample, metrics=metrics, fit=broken_fit),
                       match="fit raised ValueError: no")
    assert "luck" not in message


def test_the_cli_runs_a_model_by_import_path_and_refuses_a_broken_one(tmp_path, capsys, monkeypatch):
    module = tmp_path / "my_models.py"
    module.write_text(
        "import jax, jax.numpy as jnp\nimport jaxcollapse as jc\n"
        "rate = jc.Model(name='rate', params={'rate': 2.0}, truth=lambda hp: hp['rate'],\n"
        "    fit=lambda k, d, w, p, hp: jnp.sum(w * d) / jnp.sum(w),\n"
        "    sample=lambda k, th, size, hp: jax.random.poisson(k, th, (size,)).astype(jnp.float32),\n"
        "    metrics=lambda th, tr, hp: {'sq_error': (th - tr) ** 2})\n"
        "bad = jc.Model(name='bad', truth=lambda hp: 1.0, fit=lambda k, d, w, p, hp: jnp.sum(w * d),\n"
        "    sample=lambda k, th, size, hp: jnp.zeros(size), metrics=lambda th, tr, hp: {'m': jnp.stack([th, th])})\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    out = tmp_path / "run"
    code = cli.main(["run", "my_models:rate", "--set", "n=10", "--grid", "regime=replace,accumulate", "--seeds", "50",
                     "--generations", "3", "--out", str(out), "--quiet"])
    assert code == 0
    loaded = jc.load(out)
    assert loaded.study == "rate" and loaded.dims == ["regime", "generation"] and (out / "figure.png").exists()
    capsys.readouterr()
    assert cli.main(["run", "my_models:bad", "--seeds", "2", "--generations", "2", "--out", str(tmp_path / "b")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "metrics['m'] has shape [2]" in err[0]
    assert cli.main(["run", "my_models:nosuch"]) == 2
    assert "has no attribute 'nosuch'" in capsys.readouterr().err


def test_packages_register_models_under_the_entry_point_group(monkeypatch, capsys):
    from importlib import metadata

    from jaxcollapse.studies import STUDIES, registry

    class Point:
        name = "their-model"

        def load(self):
            return jc.Model(name="their-model", truth=lambda hp: 2.0, fit=fit, sample=sample, metrics=metrics)

    real = metadata.entry_points
    monkeypatch.setattr(metadata, "entry_points", lambda **kw: [Point()] if kw.get("group") == registry.ENTRY_POINTS
                        else real(**kw))
    monkeypatch.setattr(registry, "_discovered", False)
    monkeypatch.delitem(STUDIES, "their-model", raising=False)
    assert cli.main(["list"]) == 0
    assert "study   their-model" in capsys.readouterr().out
    assert registry.get_study("their-model").model.name == "their-model"
    STUDIES.pop("their-model")


def test_a_model_runs_on_four_devices_with_the_single_device_numbers(tmp_path, monkeypatch):
    """Sharding works for user models as for studies: the per-seed arrays are bitwise equal. The
    one-device run is the CLI in this process (the suite's XLA flags), the four-device run a
    subprocess with four host devices."""
    import json
    import os
    import subprocess
    import sys

    (tmp_path / "four_models.py").write_text(
        "import jax, jax.numpy as jnp\nimport jaxcollapse as jc\n"
        "rate = jc.Model(name='rate', params={'rate': 2.0}, truth=lambda hp: hp['rate'],\n"
        "    fit=lambda k, d, w, p, hp: jnp.sum(w * d) / jnp.sum(w),\n"
        "    sample=lambda k, th, size, hp: th + jax.random.normal(k, (size,)),\n"
        "    metrics=lambda th, tr, hp: {'sq_error': (th - tr) ** 2})\n")
    # one compiled program per process (a pool: the window regime, a grid over its length)
    args = ["run", "four_models:rate", "--set", "n=12", "--set", "regime=window", "--grid", "window=1,3", "--seeds", "70",
            "--generations", "3", "--quiet", "--no-plot"]
    env = {**os.environ, "PYTHONPATH": f"{tmp_path}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    monkeypatch.syspath_prepend(str(tmp_path))
    assert cli.main([*args, "--out", str(tmp_path / "one")]) == 0
    flags = f"{os.environ.get('XLA_FLAGS', '')} --xla_force_host_platform_device_count=4"  # the suite's build, 4 devices
    done = subprocess.run([sys.executable, "-m", "jaxcollapse", *args, "--out", str(tmp_path / "four")],
                          env={**env, "XLA_FLAGS": flags}, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    runs = {name: jc.load(tmp_path / name) for name in ("one", "four")}
    assert json.loads((tmp_path / "four" / "summary.json").read_text())["environment"]["device_count"] == 4
    np.testing.assert_array_equal(runs["one"].per_seed["sq_error"], runs["four"].per_seed["sq_error"])
