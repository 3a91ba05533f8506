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
5. Ratios of the speed issue, each against a baseline in the same process: the explicit
   Gaussian loop against the floor (one jitted kernel that only draws and sums the same
   normals); the whole CLI run (import + compile + run, a subprocess) against the per-seed
   numpy loop; ``next-token``'s exact sampler on a 5 alpha x 5 n (10 ... 10^4) grid and
   ``contaminated-mean`` at the ``amin-estimators`` size against numpy vectorised over seeds.
6. Per-study throughput: every registered study's first preset at its quick size, seed-
   generations (x grid points) per second of run time, and its compile time.
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


def numpy_next_token(truth: np.ndarray, alphas, sizes, seeds: int, generations: int) -> None:
    """The next-token chain vectorised over seeds (2-D ``pvals``), looping over grid points and
    generations: Q_t = Multinomial(n, alpha p + (1 - alpha) Q_{t-1}) / n."""
    rng = np.random.default_rng(0)
    for alpha in alphas:
        for n in sizes:
            model = rng.multinomial(n, truth, size=seeds) / n
            for _ in range(generations):
                source = alpha * truth + (1 - alpha) * model
                model = rng.multinomial(n, source / source.sum(1, keepdims=True)) / n
                np.sum((model - truth) ** 2, axis=1)


def numpy_contaminated_mean(alphas, seeds: int, rounds: int, n: int, rng) -> None:
    """``contaminated-mean`` (dim 1) vectorised over seeds: every estimator, both deployments."""
    for alpha in alphas:
        for weighted in (False, True):
            x = rng.standard_normal(seeds) / np.sqrt(n)
            x_sum, w_sum, d_sum, deployed = x, x, x, x
            for t in range(2, rounds + 1):
                x = alpha * deployed + rng.standard_normal(seeds) / np.sqrt(n)
                corrected = x - alpha * deployed
                x_sum, w_sum = x_sum + x, w_sum + (1 - alpha) * corrected
                d_sum = d_sum + corrected / (1 - alpha) if alpha < 1 else d_sum
                estimate_w = w_sum / (1 + (t - 1) * (1 - alpha) ** 2)
                deployed = estimate_w if weighted else x_sum / t
                ((x_sum / t) ** 2, estimate_w**2, (d_sum / t) ** 2, x**2)


def gaussian_floor(seeds: int, n: int, generations: int, lanes: bool = False) -> float:
    """Run time of the floor: one jitted kernel that draws each seed-generation's n normals
    (the same threefry keys, fold_in per seed and generation) and sums them and their squares,
    its seeds split over every local device as the engine splits them. ``lanes``: the same
    normals, bitwise, drawn lanes-last (``models.lanes.standard_normal_lanes``, one fused hash,
    as the explicit sampler draws them) instead of by ``jax.random.normal`` under vmap."""
    import jax
    import jax.numpy as jnp
    from jax.sharding import Mesh, NamedSharding, PartitionSpec

    from .models.lanes import standard_normal_lanes

    base = jax.random.key(0)

    def one(index):
        key = jax.random.fold_in(base, index)

        def body(carry, t):
            x = jax.random.normal(jax.random.fold_in(key, t), (n,))
            return carry, jnp.stack([x.sum(), (x * x).sum()])

        return jax.lax.scan(body, 0.0, jnp.arange(generations + 1))[1]

    def every_lane(indices):
        keys = jax.vmap(jax.random.fold_in, (None, 0))(base, indices)
        dtype = jax.dtypes.canonicalize_dtype(jnp.float64)  # jax.random.normal's default

        def body(carry, t):
            x = standard_normal_lanes(jax.vmap(jax.random.fold_in, (0, None))(keys, t), n, dtype)
            return carry, jnp.stack([x.sum(0), (x * x).sum(0)])

        return jax.lax.scan(body, 0.0, jnp.arange(generations + 1))[1]

    kernel = jax.jit(every_lane if lanes else jax.vmap(one))
    devices = jax.local_device_count()
    mesh = Mesh(np.asarray(jax.local_devices()), ("seeds",))
    indices = jax.device_put(jnp.arange(-(-seeds // devices) * devices, dtype=jnp.uint32),
                             NamedSharding(mesh, PartitionSpec("seeds")))
    jax.block_until_ready(kernel(indices))
    return min(_timed(lambda: jax.block_until_ready(kernel(indices))) for _ in range(2))


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


def cli_wall_s(args: list[str]) -> float:
    """Wall time of ``python -m jaxcollapse ARGS`` (import + compile + run + writing), no cache."""
    import subprocess
    import sys

    begin = time.perf_counter()
    subprocess.run([sys.executable, "-m", "jaxcollapse", *args, "--no-cache", "--quiet", "--no-plot"], check=True,
                   capture_output=True)
    return time.perf_counter() - begin


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
        r = run("gaussian", {"n": 100}, seeds=seeds, generations=100, keep=(), cache=False)
        report["throughput"].append({"seeds": seeds, **r.timing, "seed_generations_per_s": seeds * 100 / r.timing["run_s"]})
        print(f"throughput: {seeds} seeds x 100: run {r.timing['run_s']:.2f} s, compile {r.timing['compile_s']:.2f} s")
    report["compile_vs_generations"] = []
    run("gaussian", {"n": 100}, seeds=1000, generations=5, keep=(), cache=False)  # one-time warm-up
    for generations in ([10, 1000] if quick else [10, 100, 1000]):
        r = run("gaussian", {"n": 100}, seeds=1000, generations=generations, keep=(), cache=False)
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
    report["ratios"] = speed_ratios(quick)
    report["studies"] = study_throughput()
    return report


def speed_ratios(quick: bool) -> dict[str, Any]:
    """Part 5 (module docstring): each ratio is baseline time / jaxcollapse time, so > 1 is faster."""
    import tempfile

    from .api import run
    from .studies.next_token import true_distribution

    out: dict[str, Any] = {}
    seeds = 2_000 if quick else 10_000
    r = run("gaussian", {"n": 100, "sampler": "explicit"}, seeds=seeds, generations=100, keep=(), cache=False)
    floor, lanes_floor = gaussian_floor(seeds, 100, 100), gaussian_floor(seeds, 100, 100, lanes=True)
    out["gaussian_explicit_vs_floor"] = {"seeds": seeds, "jax": r.timing, "floor_s": floor,
                                         "slowdown": r.timing["run_s"] / floor, "lanes_floor_s": lanes_floor,
                                         "slowdown_vs_lanes_floor": r.timing["run_s"] / lanes_floor}
    print(f"explicit Gaussian loop {seeds} x 100: run {r.timing['run_s']:.2f} s, floor {floor:.2f} s "
          f"({r.timing['run_s'] / floor:.2f}x the floor; {r.timing['run_s'] / lanes_floor:.2f}x the "
          f"lanes-last floor, {lanes_floor:.2f} s)")

    seeds = 10_000 if quick else 100_000
    with tempfile.TemporaryDirectory() as where:
        wall = cli_wall_s(["run", "gaussian", "--set", "n=100", "--seeds", str(seeds), "--generations", "100",
                           "--keep", "none", "--out", f"{where}/run"])
    subset = 100 if quick else 300
    loop_s = _timed(numpy_per_seed_loop, subset, 100, 100) * seeds / subset
    out["cli_vs_numpy_loop"] = {"seeds": seeds, "cli_wall_s": wall, "numpy_loop_s": loop_s,
                                "numpy_loop_timed_seeds": subset, "ratio": loop_s / wall}
    print(f"CLI run gaussian {seeds} x 100 (import + compile + run): {wall:.1f} s; numpy loop {loop_s:.0f} s "
          f"({loop_s / wall:.1f}x)")

    alphas, sizes = [0.0, 0.25, 0.5, 0.75, 1.0], [10, 56, 316, 1778, 10000]
    seeds, generations = (100, 20) if quick else (400, 100)
    truth = true_distribution({"context": 0, "vocab": 50, "truth": "dirichlet", "concentration": 1.0,
                               "truth_seed": 0})[0]
    vectorized = _timed(numpy_next_token, truth, alphas, sizes, seeds, generations)
    r = run("next-token", {"vocab": 50}, {"alpha": alphas, "n": sizes}, seeds=seeds, generations=generations,
            keep=(), cache=False)
    out["next_token_vs_numpy_vectorized"] = {"grid": [5, 5], "seeds": seeds, "generations": generations,
                                             "jax": r.timing, "numpy_vectorized_s": vectorized,
                                             "ratio": vectorized / r.timing["run_s"]}
    print(f"next-token 5 x 5 x {seeds} x {generations}: run {r.timing['run_s']:.2f} s; numpy vectorised "
          f"{vectorized:.2f} s ({vectorized / r.timing['run_s']:.2f}x)")

    alphas = [0.0, 0.1, 0.25, 0.5, 0.75, 0.9, 1.0]
    seeds, rounds = (2_000, 200) if quick else (10_000, 1000)
    vectorized = _timed(numpy_contaminated_mean, alphas, seeds, rounds, 100, np.random.default_rng(0))
    r = run("contaminated-mean", {"dim": 1, "n": 100}, {"alpha": alphas, "deploy": ["erm", "weighted"]},
            seeds=seeds, generations=rounds - 1, keep=(), cache=False)
    out["contaminated_mean_vs_numpy_vectorized"] = {"seeds": seeds, "rounds": rounds, "jax": r.timing,
                                                    "numpy_vectorized_s": vectorized,
                                                    "ratio": vectorized / r.timing["run_s"]}
    print(f"contaminated-mean 14 x {seeds} x {rounds}: run {r.timing['run_s']:.2f} s; numpy vectorised "
          f"{vectorized:.2f} s ({vectorized / r.timing['run_s']:.2f}x)")
    return out


def study_throughput() -> list[dict[str, Any]]:
    """Part 6: every registered study's first preset at its quick size."""
    from .api import reproduce
    from .studies.registry import PRESETS, STUDIES

    rows = []
    for name in sorted(STUDIES):
        preset = next((p for p in PRESETS.values() if p.study == name), None)
        if preset is None:
            continue
        r = reproduce(preset.name, quick=True, keep=(), cache=False)
        points = int(np.prod([len(v) for v in r.coords.values()])) // (r.generations + 1)
        work = r.seeds * points * (r.generations + 1)
        rows.append({"study": name, "preset": preset.name, "seeds": r.seeds, "points": points,
                     "generations": r.generations, "compile_s": r.timing["compile_s"], "run_s": r.timing["run_s"],
                     "seed_generations_per_s": work / r.timing["run_s"]})
        print(f"{name:26s} ({preset.name}, quick): {work / r.timing['run_s']:.3g} seed-generations/s, "
              f"compile {r.timing['compile_s']:.1f} s")
    return rows


def figure(report: dict[str, Any], path: Path) -> Figure:
    """The bench summary saved to ``path`` (its suffix replaced by each ``--figure-format``);
    returns the Figure."""
    import textwrap

    from matplotlib.figure import Figure

    from .plot import save_figure

    fig = Figure(figsize=(15, 4.4), layout="constrained")
    axes = fig.subplots(1, 3)
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
        "CLI run vs\nnumpy loop": report["ratios"]["cli_vs_numpy_loop"]["ratio"],
        "next-token vs\nvectorised": report["ratios"]["next_token_vs_numpy_vectorized"]["ratio"],
        "contaminated vs\nvectorised": report["ratios"]["contaminated_mean_vs_numpy_vectorized"]["ratio"],
    }
    axes[2].bar(list(ratios), list(ratios.values()))
    axes[2].tick_params(axis="x", labelrotation=60, labelsize=7)
    axes[2].set_yscale("log")
    axes[2].axhline(1, color="k", lw=0.8)
    axes[2].set(ylabel="speed-up (x)", title="jaxcollapse vs numpy")
    env = report["environment"]
    fig.suptitle(textwrap.fill(f"jaxcollapse bench: {env['backend']} ({', '.join(env['devices'])}, "
                               f"{env['device_count']} device(s))", 180), fontsize=10)
    save_figure(fig, path)
    return fig


def main(out: str | Path, quick: bool = False, loop_seeds: int = 1) -> Path:
    from .engine.storage import write_atomic

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    report = run_suite(quick, loop_seeds)
    write_atomic(out / "bench.json", json.dumps(report, indent=1).encode())
    figure(report, out / "bench.png")
    print(f"wrote {out / 'bench.json'} and {out / 'bench.png'}")
    return out
