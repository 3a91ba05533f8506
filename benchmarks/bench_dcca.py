"""Benchmark: the dcca study's grid in one call against a Python loop over the same runs.
Not a test.

    python benchmarks/bench_dcca.py [--seeds 64] [--loop-runs 18] [--json PATH]

The grid: --seeds seeds x common rate in {0, .2, .4, .6, .8, 1} x alpha in {1, 10, 100}
(NR-DCCA), a small network (latent = view = representation = 10, 2 hidden layers of 32,
256 train and 256 test rows, 5 tasks) trained for 100 full-batch epochs, logged every 10.
jaxcollapse runs everything as one vmapped computation. The baseline is what a researcher
writes with the same JAX code: one run's trajectory jitted once (hyperparameters as traced
arguments, so it never recompiles) and called in a Python loop over (seed, c, alpha); it is
timed on --loop-runs runs and extrapolated. Compile and run times are reported apart, every
result blocked on.
"""

from __future__ import annotations

import argparse
import itertools
import json
import time

import jax

import jaxcollapse as jc
from jaxcollapse.bench import jitted_trajectory
from jaxcollapse.results import environment

SIZE = {"latent": 10, "view_dim": 10, "out_dim": 10, "hidden": 32, "n_train": 256, "n_test": 256, "tasks": 5,
        "epochs_per_step": 10, "method": "nr-dcca"}
GRID = {"common_rate": [0.0, 0.2, 0.4, 0.6, 0.8, 1.0], "alpha": [1.0, 10.0, 100.0]}
GENERATIONS = 10


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=64)
    parser.add_argument("--loop-runs", type=int, default=18)
    parser.add_argument("--json", default=None)
    args = parser.parse_args()

    result = jc.run("dcca", SIZE, GRID, seeds=args.seeds, generations=GENERATIONS, keep=())
    runs = args.seeds * len(GRID["common_rate"]) * len(GRID["alpha"])

    one, params = jitted_trajectory("dcca", SIZE, GRID, GENERATIONS)
    start = time.perf_counter()
    jax.block_until_ready(one(params[0], jax.random.key(0)))
    loop_compile = time.perf_counter() - start
    combos = list(itertools.islice(itertools.cycle(range(len(params))), args.loop_runs))
    start = time.perf_counter()
    for i, point in enumerate(combos):
        jax.block_until_ready(one(params[point], jax.random.fold_in(jax.random.key(0), i)))
    loop_run = (time.perf_counter() - start) / args.loop_runs * runs

    report = {"environment": environment(), "runs": runs, "epochs": GENERATIONS * SIZE["epochs_per_step"],
              "jax": result.timing, "loop_compile_s": loop_compile, "loop_run_s": loop_run,
              "loop_timed_runs": args.loop_runs, "ratio_run": loop_run / result.timing["run_s"],
              "ratio_total": (loop_compile + loop_run) / result.timing["total_s"]}
    print(f"dcca grid, {runs} runs x {report['epochs']} epochs: jaxcollapse compile {result.timing['compile_s']:.1f} s, "
          f"run {result.timing['run_s']:.1f} s; per-run jitted loop compile {loop_compile:.1f} s, run {loop_run:.1f} s "
          f"(extrapolated from {args.loop_runs} runs): {report['ratio_run']:.2f}x run, {report['ratio_total']:.2f}x total")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(report, f, indent=1)


if __name__ == "__main__":
    main()
