"""Same key + same config => identical results, whatever the chunk size or grid."""

import numpy as np

import jaxcollapse as jc
from jaxcollapse.engine import sweep

SETTINGS = {"n": "5+t", "dim": 2, "alpha": 0.4}
GRIDS = {"regime": ["replace", "mix", "accumulate"]}


def _equal(a, b):
    for metric in a.metrics:
        assert np.array_equal(a.per_seed[metric], b.per_seed[metric]), metric
        assert np.array_equal(a.mean(metric), b.mean(metric), equal_nan=True), metric
        assert np.array_equal(a.stderr(metric), b.stderr(metric), equal_nan=True), metric


def test_chunk_size_does_not_change_results():
    runs = [jc.run("gaussian", SETTINGS, GRIDS, seeds=50, generations=6, chunk=c) for c in (7, 16, 50)]
    _equal(runs[0], runs[1])
    _equal(runs[0], runs[2])


def test_explicit_sampler_chunk_invariance():
    settings = {**SETTINGS, "sampler": "explicit"}
    a = jc.run("gaussian", settings, GRIDS, seeds=30, generations=4, chunk=4)
    b = jc.run("gaussian", settings, GRIDS, seeds=30, generations=4, chunk=30)
    _equal(a, b)


def test_grid_point_equals_single_run():
    """Same random numbers (keys do not depend on the grid); XLA may fuse a batch of three
    grid points differently from one, so equality is up to float32 rounding."""
    grid = jc.run("gaussian", SETTINGS, GRIDS, seeds=20, generations=5)
    single = jc.run("gaussian", {**SETTINGS, "regime": "mix"}, seeds=20, generations=5)
    for metric in grid.metrics:
        np.testing.assert_allclose(grid.per_seed[metric][1], single.per_seed[metric], rtol=1e-5, atol=1e-6)


def test_different_keys_differ():
    a = jc.run("gaussian", SETTINGS, seeds=10, generations=3, key=1)
    b = jc.run("gaussian", SETTINGS, seeds=10, generations=3, key=2)
    assert not np.array_equal(a.per_seed["var"], b.per_seed["var"])


def test_interrupted_sweep_resumes_from_finished_chunks(tmp_path, monkeypatch):
    full = jc.run("gaussian", SETTINGS, GRIDS, seeds=40, generations=5, chunk=10)
    calls = {"n": 0}
    real = sweep.batched_trajectories

    def dying_after_two_chunks(study, generations):
        compiled_fn = real(study, generations)

        class Wrapper:
            def lower(self, *args):
                lowered = compiled_fn.lower(*args)

                class Compiled:
                    def __init__(self):
                        self.inner = lowered.compile()

                    def __call__(self, *call_args):
                        calls["n"] += 1
                        if calls["n"] > 2:
                            raise KeyboardInterrupt
                        return self.inner(*call_args)

                return type("L", (), {"compile": lambda _self: Compiled()})()

        return Wrapper()

    monkeypatch.setattr(sweep, "batched_trajectories", dying_after_two_chunks)
    try:
        jc.run("gaussian", SETTINGS, GRIDS, seeds=40, generations=5, chunk=10, checkpoint=tmp_path)
    except KeyboardInterrupt:
        pass
    assert len(list(tmp_path.glob("group*.npz"))) == 2
    assert not list(tmp_path.glob("*.tmp"))
    monkeypatch.setattr(sweep, "batched_trajectories", real)
    calls["n"] = 0
    resumed = jc.run("gaussian", SETTINGS, GRIDS, seeds=40, generations=5, chunk=10, checkpoint=tmp_path)
    _equal(full, resumed)


def test_resume_refuses_a_different_run(tmp_path):
    jc.run("gaussian", SETTINGS, seeds=4, generations=2, checkpoint=tmp_path)
    try:
        jc.run("gaussian", SETTINGS, seeds=5, generations=2, checkpoint=tmp_path)
    except jc.ConfigError as err:
        assert "different run" in str(err)
    else:
        raise AssertionError("resumed into a directory of another run")
