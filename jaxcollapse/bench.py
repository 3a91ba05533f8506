"""``jaxcollapse bench``: the benchmark suite in one command, a JSON report and a figure.

Everything is timed in one process on whatever backend JAX picks (CPU, GPU or TPU, recorded
with the environment). jaxcollapse's compile time and run time are reported separately, and
every run is forced with ``block_until_ready``. Parts:

1. Throughput: the Gaussian study (n = 100, 100 generations), seed-generations per second as
   the seed count grows.
2. Compile time against the number of generations. It stays flat because generations are a
   ``lax.scan``, not an unrolled loop.
3. The Gaussian study at 10,000 seeds x 100 generations against numpy baselines in the same
   process. One is a per-seed loop, timed on a subset and extrapolated; the other is
   vectorised over seeds.
4. Kazdan et al.'s full Gaussian grid: n in {10, 32, 100, 316, 1000} x dim in {1, 3, 10, 31,
   100} x {replace, accumulate} x 100 seeds x 100 generations = 5,000 runs, end to end
   including compilation. The baseline is their per-run numpy loop (fit mean and covariance,
   ``rng.multivariate_normal``, accumulate by concatenation), timed on ``loop_seeds`` seeds
   of every cell and extrapolated to all seeds.
"""

from __future__ import annotations

import json
import math
import time
from pathlib import Path
from typing import Any

import numpy as np

def numpy_per_seed_loop(seeds: int, n: int, generations: int) -> dict[str, np.ndarray]:
    """One seed at a time, as a researcher writes it (float64). Fits at t = 0..T."""
    var_t = np.empty(seeds)
    msq_t = np.empty(seeds)
    for seed in range(seeds):
        rng = np.random.default_rng(seed)
        x = rng.normal(0.0, 1.0, n)
        mu, var = x.mean(), x.var()  # generation 0: fit on real data
        for _ in range(generations):
            x = rng.normal(mu, math.sqrt(var), n)
            mu, var = x.mean(), x.var()
        var_t[seed] = var
        msq_t[seed] = mu * mu
    return {"var": var_t, "mean_sq_error": msq_t}


def numpy_vectorized(seeds: int, n: int, generations: int) -> dict[str, np.ndarray]:
    """All seeds at once, float64, the obvious code: mean/var along axis 1, rng.normal."""
    rng = np.random.default_rng(12345)
    x = rng.normal(0.0, 1.0, (seeds, n))
    mu, var = x.mean(axis=1), x.var(axis=1)
    for _ in range(generations):
        x = rng.normal(mu[:, None], np.sqrt(var)[:, None], (seeds, n))
        mu, var = x.mean(axis=1), x.var(axis=1)
    return {"var": var, "mean_sq_error": mu**2}



def kazdan_run(n: int, dim: int, regime: str, generations: int, seed: int) -> None:
    """One run of Kazdan et al.'s fit-and-resample loop (ddof = 0), as their code does it."""
    rng = np.random.default_rng(seed)
    pool = rng.normal(size=(n, dim))
    for _ in range(generations + 1):
        mean = pool.mean(axis=0)
        cov = np.atleast_2d(np.cov(pool, rowvar=False, bias=True))
        fresh = rng.multivariate_normal(mean, cov, size=n)
        pool = fresh if regime == "replace" else np.concatenate([pool, fresh])


KAZDAN = {"n": [10, 32, 100, 316, 1000], "dim": [1, 3, 10, 31, 100], "regime": ["replace", "accumulate"]}
KAZDAN_QUICK = {"n": [10, 100], "dim": [1, 10], "regime": ["replace", "accumulate"]}


def jitted_trajectory(study: str, settings: dict[str, Any], grids: dict[str, list], generations: int):
    """The per-run baseline a researcher writes with the same JAX code: one run's trajectory
    jitted once (hyperparameters are traced arguments, so it never recompiles), and the traced
    params of every grid point. Returns (run(params, key), [params per point])."""
    import jax

    from .engine.loop import trajectory
    from .engine.sweep import plan, stack_params
    from .studies import get_study

    the_plan = plan(get_study(study), settings, grids, seeds=1, generations=generations)
    built = the_plan.study.build(the_plan.points, generations)
    run = jax.jit(lambda params, key: trajectory(built, params, key, generations))
    return run, [jax.tree.map(lambda x: x[0], stack_params([built.numeric(p)])) for p in the_plan.points]


def _timed(fn, *args) -> float:
    begin = time.perf_counter()
    fn(*args)
    return time.perf_counter() - begin


def run_suite(quick: bool = False, loop_seeds: int = 1) -> dict[str, Any]:
    from .api import run
    from .results import environment

    report: dict[str, Any] = {"environment": environment(), "quick": quick}
    seeds_axis = [1_000, 10_000] if quick else [1_000, 10_000, 100_000]
    report["throughput"] = []
    for seeds in seeds_axis:
        r = run("gaussian", {"n": 100}, seeds=seeds, generations=100, keep=())
        report["throughput"].append({"seeds": seeds, **r.timing, "seed_generations_per_s": seeds * 100 / r.timing["run_s"]})
        print(f"throughput: {seeds} seeds x 100: run {r.timing['run_s']:.2f} s, compile {r.timing['compile_s']:.2f} s")
    report["compile_vs_generations"] = []
    for generations in ([10, 100] if quick else [10, 100, 1000]):
        r = run("gaussian", {"n": 100}, seeds=1000, generations=generations, keep=())
        report["compile_vs_generations"].append({"generations": generations, **r.timing})
        print(f"compile: {generations} generations: {r.timing['compile_s']:.2f} s")

    seeds, subset = (2_000, 50) if quick else (10_000, 200)
    r = run("gaussian", {"n": 100}, seeds=seeds, generations=100, keep=())
    loop_s = _timed(numpy_per_seed_loop, subset, 100, 100) * seeds / subset
    vectorized_s = _timed(numpy_vectorized, seeds, 100, 100)
    report["gaussian_vs_numpy"] = {"seeds": seeds, "jax": r.timing, "numpy_loop_s": loop_s,
                                   "numpy_loop_timed_seeds": subset, "numpy_vectorized_s": vectorized_s,
                                   "ratio_loop": loop_s / r.timing["run_s"],
                                   "ratio_vectorized": vectorized_s / r.timing["run_s"]}
    print(f"gaussian {seeds} x 100: jax run {r.timing['run_s']:.2f} s; numpy loop {loop_s:.1f} s "
          f"({loop_s / r.timing['run_s']:.0f}x), vectorised {vectorized_s:.2f} s ({vectorized_s / r.timing['run_s']:.1f}x)")

    grid, kseeds = (KAZDAN_QUICK, 20) if quick else (KAZDAN, 100)
    begin = time.perf_counter()
    r = run("gaussian", {"ddof": 0}, grid, seeds=kseeds, generations=100, keep=())
    end_to_end = time.perf_counter() - begin
    cells, loop_total = [], 0.0
    for n in grid["n"]:
        for dim in grid["dim"]:
            for regime in grid["regime"]:
                spent = sum(_timed(kazdan_run, n, dim, regime, 100, s) for s in range(loop_seeds))
                cells.append({"n": n, "dim": dim, "regime": regime, "loop_s_per_run": spent / loop_seeds})
                loop_total += spent / loop_seeds * kseeds
    report["kazdan_grid"] = {"runs": len(cells) * kseeds, "generations": 100, "jax": r.timing,
                             "jax_end_to_end_s": end_to_end, "numpy_loop_s": loop_total,
                             "numpy_loop_timed_seeds_per_cell": loop_seeds, "cells": cells,
                             "ratio_end_to_end": loop_total / end_to_end}
    print(f"kazdan grid, {len(cells) * kseeds} runs x 100: jax {end_to_end:.1f} s end to end "
          f"(compile {r.timing['compile_s']:.1f} s); numpy per-run loop {loop_total:.0f} s = {loop_total / 3600:.2f} h "
          f"(extrapolated from {loop_seeds} seed(s) per cell), {loop_total / end_to_end:.1f}x")
    return report


def figure(report: dict[str, Any], path: Path) -> Path:
    from .plot import plt

    fig, axes = plt.subplots(1, 3, figsize=(13, 3.6))
    rows = report["throughput"]
    axes[0].loglog([r["seeds"] for r in rows], [r["seed_generations_per_s"] for r in rows], "o-")
    axes[0].set(xlabel="seeds", ylabel="seed-generations / s", title="Gaussian throughput (n = 100)")
    rows = report["compile_vs_generations"]
    axes[1].semilogx([r["generations"] for r in rows], [r["compile_s"] for r in rows], "o-")
    axes[1].set(xlabel="generations", ylabel="compile s", title="compile time vs generations", ylim=(0, None))
    ratios = {
        "gaussian vs\nnumpy loop": report["gaussian_vs_numpy"]["ratio_loop"],
        "gaussian vs\nvectorised": report["gaussian_vs_numpy"]["ratio_vectorized"],
        "Kazdan grid vs\nper-run loop": report["kazdan_grid"]["ratio_end_to_end"],
    }
    axes[2].bar(list(ratios), list(ratios.values()))
    axes[2].set_yscale("log")
    axes[2].axhline(1, color="k", lw=0.8)
    axes[2].set(ylabel="speed-up (x)", title="jaxcollapse vs numpy")
    env = report["environment"]
    fig.suptitle(f"jaxcollapse bench: {env['backend']} ({', '.join(env['devices'])}, {env['device_count']} device(s))", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def main(out: str | Path, quick: bool = False, loop_seeds: int = 1) -> Path:
    from .engine.storage import write_atomic

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    report = run_suite(quick, loop_seeds)
    write_atomic(out / "bench.json", json.dumps(report, indent=1).encode())
    figure(report, out / "bench.png")
    print(f"wrote {out / 'bench.json'} and {out / 'bench.png'}")
    return out
