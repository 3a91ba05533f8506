"""Same key + same config => identical results, whatever the chunk size or grid."""

import os
import time

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxcollapse as jc
from jaxcollapse.engine import loop, sweep
from jaxcollapse.models import linalg

SETTINGS = {"n": "5+t", "dim": 2, "alpha": 0.4}
GRIDS = {"regime": ["replace", "mix", "accumulate"]}


def _equal(a, b):
    for metric in a.metrics:
        assert np.array_equal(a.per_seed[metric], b.per_seed[metric]), metric
        assert np.array_equal(a.mean(metric), b.mean(metric), equal_nan=True), metric
        assert np.array_equal(a.stderr(metric), b.stderr(metric), equal_nan=True), metric


def test_chunk_size_does_not_change_results():
    """Chunks are whole seed blocks (256 seeds); 600 seeds run as 3, 2 or 1 chunks, the last
    block short. Per-seed values, means and standard errors are bitwise equal."""
    runs = [jc.run("gaussian", SETTINGS, GRIDS, seeds=600, generations=6, chunk=c) for c in (200, 512, 600)]
    assert len({str(r.config["chunk"]) for r in runs}) == 3
    _equal(runs[0], runs[1])
    _equal(runs[0], runs[2])


def test_explicit_sampler_chunk_invariance():
    settings = {**SETTINGS, "sampler": "explicit"}
    a = jc.run("gaussian", settings, GRIDS, seeds=300, generations=4, chunk=256)
    b = jc.run("gaussian", settings, GRIDS, seeds=300, generations=4, chunk=512)
    _equal(a, b)


@pytest.mark.parametrize("prng", ["threefry", "rbg"])
def test_generation_keys_drawn_ahead_or_in_the_scan_give_the_same_numbers(monkeypatch, prng):
    """A block's generation keys are hashed before its scan when they fit (``KEYS_AHEAD``), else
    inside it: the same keys either way, so per-seed values, means and standard errors are
    bitwise equal (the explicit sampler: its rows use every key). rbg derives its keys as
    threefry does; unsafe_rbg, whose derivation depends on the vmap, always derives them in the
    scan."""
    settings = {**SETTINGS, "sampler": "explicit"}
    ahead = jc.run("gaussian", settings, GRIDS, seeds=300, generations=4, cache=False, prng=prng)
    monkeypatch.setattr(loop, "KEYS_AHEAD", 0)
    inside = jc.run("gaussian", settings, GRIDS, seeds=300, generations=4, cache=False, prng=prng)
    _equal(ahead, inside)


def _first_block_late(monkeypatch, chunk):
    """Compiled programs whose call for the first block of every chunk sleeps first, so that
    with several threads the blocks after it finish before it."""
    real = sweep.batched_trajectories

    def wrapped(*args):
        fn = real(*args)

        class Compiled:
            def __init__(self, inner):
                self.inner, self.as_text = inner, inner.as_text

            def __call__(self, *call_args):
                if int(np.asarray(call_args[1]).reshape(-1)[0]) % chunk == 0:
                    time.sleep(0.3)
                return self.inner(*call_args)

        return type("F", (), {"lower": lambda self, *a: type("L", (), {"compile": lambda _: Compiled(fn.lower(*a).compile())})()})()

    monkeypatch.setattr(sweep, "batched_trajectories", wrapped)


@pytest.mark.parametrize("study, settings, grids", [("gaussian", {**SETTINGS, "sampler": "explicit"}, GRIDS),
                                                    ("next-token", {"vocab": 20}, {"n": [10, 1000]})])
def test_blocks_run_side_by_side_give_the_same_numbers(monkeypatch, study, settings, grids):
    """On a CPU the engine runs a chunk's blocks from several host threads at once
    (``block_workers``). Each block is the same program on the same inputs, and the host merges
    them in seed order, so three threads give bitwise the numbers of one: 1,300 seeds in two
    chunks of three 256-seed blocks, the first block of each finishing last (next-token's
    whole-batch multinomial included)."""
    _first_block_late(monkeypatch, 768)
    runs = []
    for workers in (1, 3):
        monkeypatch.setattr(sweep, "block_workers", lambda compiled, block_bytes, w=workers: w)
        runs.append(jc.run(study, settings, grids, seeds=1300, generations=4, chunk=768, cache=False))
    assert set(runs[0].config["chunk"].values()) == {768}
    assert [r.timing["block_threads"] for r in runs] == [1, 3]
    _equal(*runs)


@pytest.mark.skipif(jax.default_backend() != "cpu", reason="the threads are a CPU feature")
def test_blocks_run_from_one_thread_where_a_custom_call_might_block_or_memory_is_short():
    """Two batched LAPACK calls running at once can deadlock on a CPU (``models.linalg``), so a
    program with a batched LAPACK call, or any custom call but LAPACK, runs its blocks one after
    another; so does one whose blocks would not fit twice in half the memory. LAPACK on one
    matrix at a time (``models.linalg`` under vmap) and plain programs use the cores (at least 2
    here when the machine has 2 per device)."""
    batch = jnp.ones((4, 3, 3)) + 3 * jnp.eye(3)

    def compiled(fn):
        return jax.jit(fn).lower(batch).compile()

    batched = compiled(lambda a: jax.vmap(jnp.linalg.eigh)(a)[0])
    callback = compiled(lambda a: jax.pure_callback(np.negative, jax.ShapeDtypeStruct(a.shape, a.dtype), a))
    one_at_a_time = compiled(lambda a: jnp.sum(jax.vmap(linalg.eigh)(a)[0]) + jnp.sum(jax.vmap(linalg.inverse_cholesky)(a)))
    plain = compiled(lambda a: 2 * a)
    assert all("custom-call" in c.as_text() for c in (batched, callback, one_at_a_time))
    assert [sweep.overlap_safe(c.as_text()) for c in (batched, callback, one_at_a_time, plain)] == [False, False, True, True]
    assert sweep.block_workers(batched, 1 << 20) == 1 and sweep.block_workers(callback, 1 << 20) == 1
    assert sweep.block_workers(plain, 1 << 62) == 1
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    if cores // jax.local_device_count() >= 2:
        assert sweep.block_workers(plain, 1 << 20) >= 2 and sweep.block_workers(one_at_a_time, 1 << 20) >= 2


def test_streamed_moments_match_a_float64_reference():
    """The block-wise streamed mean and standard error against numpy in float64 on the kept
    per-seed arrays (the same numbers, reduced in one piece). Blocks of 256 seeds are summed on
    the device in float32 after shifting by a seed's value c, so each block's sum is within the
    bound of any summation order, 255 eps32 sum |x - c| <= 255 eps32 n (mean |x| + max |x|); the
    mean inherits it, and M2 the same relative bound (the standard error: half of it)."""
    result = jc.run("gaussian", SETTINGS, GRIDS, seeds=600, generations=6, chunk=256)
    eps = np.finfo(np.float32).eps
    for metric in ("mean_sq_error", "var"):
        values = result.per_seed[metric].astype(np.float64)
        bound = 255 * eps * (np.abs(values).mean(axis=-2) + np.abs(values).max(axis=-2))
        assert np.all(np.abs(result.mean(metric) - values.mean(axis=-2)) <= bound), metric
        reference = values.std(axis=-2, ddof=1) / np.sqrt(values.shape[-2])
        np.testing.assert_allclose(result.stderr(metric), reference, rtol=255 * eps)


def test_quantiles_over_the_first_seeds():
    result = jc.run("gaussian", SETTINGS, seeds=600, generations=4, chunk=256, quantiles=(0.1, 0.5), quantile_seeds=300)
    assert result.quantiles["seeds"] == 300
    median = result.quantiles["metrics"]["var"]["0.5"]
    np.testing.assert_array_equal(median, np.quantile(result.per_seed["var"][:300].astype(np.float64), 0.5, axis=0))
    with pytest.raises(jc.ConfigError, match="quantiles"):
        jc.run("gaussian", SETTINGS, seeds=4, generations=2, quantiles=(1.5,))


def test_grid_point_equals_single_run():
    """Same random numbers (keys do not depend on the grid); XLA may fuse a batch of grid points
    differently from one, so equality is up to float32 rounding. A two-axis grid, so that a cell
    holding another point's numbers (axes swapped, points in the wrong order) is caught."""
    settings = {k: v for k, v in SETTINGS.items() if k != "n"}
    grid = jc.run("gaussian", settings, {**GRIDS, "n": ["5+t", "12"]}, seeds=20, generations=5)
    assert grid.dims == ["regime", "n", "generation"]
    single = jc.run("gaussian", {**settings, "regime": "mix", "n": 12}, seeds=20, generations=5)
    for metric in grid.metrics:
        np.testing.assert_allclose(grid.per_seed[metric][1, 1], single.per_seed[metric], rtol=1e-5, atol=1e-6)


def test_different_keys_differ():
    a = jc.run("gaussian", SETTINGS, seeds=10, generations=3, key=1)
    b = jc.run("gaussian", SETTINGS, seeds=10, generations=3, key=2)
    assert not np.array_equal(a.per_seed["var"], b.per_seed["var"])


def test_interrupted_sweep_resumes_from_finished_chunks(tmp_path, monkeypatch):
    """600 seeds in three one-block chunks (blocks of 256: a wider one would pad more than 1/8);
    killed after two, the same call resumes from them to the uninterrupted numbers."""
    full = jc.run("gaussian", SETTINGS, GRIDS, seeds=600, generations=5, chunk=256)
    calls = {"n": 0}
    real = sweep.batched_trajectories

    def dying_after_two_chunks(*args):
        compiled_fn = real(*args)

        class Wrapper:
            def lower(self, *args):
                lowered = compiled_fn.lower(*args)

                class Compiled:
                    def __init__(self):
                        self.inner = lowered.compile()

                    def as_text(self):
                        return self.inner.as_text()

                    def __call__(self, *call_args):
                        calls["n"] += 1
                        if calls["n"] > 2:
                            raise KeyboardInterrupt
                        return self.inner(*call_args)

                return type("L", (), {"compile": lambda _self: Compiled()})()

        return Wrapper()

    monkeypatch.setattr(sweep, "batched_trajectories", dying_after_two_chunks)
    try:
        jc.run("gaussian", SETTINGS, GRIDS, seeds=600, generations=5, chunk=256, checkpoint=tmp_path)
    except KeyboardInterrupt:
        pass
    assert len(list(tmp_path.glob("group*.npz"))) == 2
    assert not list(tmp_path.glob("*.tmp"))
    monkeypatch.setattr(sweep, "batched_trajectories", real)
    calls["n"] = 0
    resumed = jc.run("gaussian", SETTINGS, GRIDS, seeds=600, generations=5, chunk=256, checkpoint=tmp_path)
    _equal(full, resumed)


def test_resume_refuses_a_different_run(tmp_path):
    jc.run("gaussian", SETTINGS, seeds=4, generations=2, checkpoint=tmp_path)
    try:
        jc.run("gaussian", SETTINGS, seeds=5, generations=2, checkpoint=tmp_path)
    except jc.ConfigError as err:
        assert "different run" in str(err)
    else:
        raise AssertionError("resumed into a directory of another run")
