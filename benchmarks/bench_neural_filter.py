"""Benchmark: the ``neural-filter`` study (Gaussian, n = 100, the filter trained inside every
generation) for 1,000 seeds x 100 generations, against a Python loop over seeds that runs the
same equinox + optax code jitted once per seed, in the same process. Not a test.

    python benchmarks/bench_neural_filter.py [--seeds S] [--generations T] [--loop-seeds L] [--json PATH]

Both sides run the same trajectory function with the same per-seed keys:
``fold_in(base_key, i)`` for seed i.
* The loop compiles ``jit(trajectory)`` once, for one seed, and calls it for seeds 0..L-1
  (``block_until_ready`` after each call). Its time is extrapolated linearly to S seeds.
* jaxcollapse vmaps all the seeds into one compiled computation.
The two must agree on the metrics of the looped seeds; the script prints the largest
relative difference.
"""

from __future__ import annotations

import argparse
import json
import time

import jax
import numpy as np

import jaxcollapse as jc
from jaxcollapse.engine import plan, trajectory
from jaxcollapse.engine.sweep import _cast
from jaxcollapse.results import environment

SETTINGS = {"family": "gaussian", "n": 100, "method": "neural-filter"}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seeds", type=int, default=1000)
    parser.add_argument("--generations", type=int, default=100)
    parser.add_argument("--loop-seeds", type=int, default=200)
    parser.add_argument("--json", default=None)
    args = parser.parse_args()
    T = args.generations
    print(f"neural-filter: {SETTINGS}, {args.seeds} seeds x {T} generations")
    out = {"environment": environment(), "settings": SETTINGS, "seeds": args.seeds, "generations": T}

    the_plan = plan(jc.studies.get_study("neural-filter"), SETTINGS, {}, seeds=1, generations=T)
    config = the_plan.points[0]
    study = the_plan.study.build([config], T)
    params = jax.tree.map(_cast, study.numeric(config))
    base = jax.random.key(0)
    one_seed = jax.jit(lambda i: trajectory(study, params, jax.random.fold_in(base, i), T))
    begin = time.perf_counter()
    compiled = one_seed.lower(0).compile()
    loop_compile = time.perf_counter() - begin
    begin = time.perf_counter()
    looped = [jax.block_until_ready(compiled(i)) for i in range(args.loop_seeds)]
    loop_run = (time.perf_counter() - begin) * args.seeds / args.loop_seeds
    out["loop"] = {"compile_s": loop_compile, "run_s": loop_run, "timed_seeds": args.loop_seeds}
    print(f"python loop over seeds (jit per seed): compile {loop_compile:.1f} s, run {loop_run:.1f} s "
          f"(timed on {args.loop_seeds} seeds, extrapolated)")

    result = jc.run("neural-filter", SETTINGS, seeds=args.seeds, generations=T, keep=("param_error",), progress=False)
    out["jax"] = result.timing
    vmapped = result.per_seed["param_error"][: args.loop_seeds]
    single = np.stack([np.asarray(m["param_error"]) for m in looped])
    out["max_rel_diff"] = float(np.max(np.abs(vmapped - single) / np.maximum(np.abs(single), 1e-12)))
    out["ratio_run"] = loop_run / result.timing["run_s"]
    out["ratio_total"] = (loop_compile + loop_run) / (result.timing["compile_s"] + result.timing["run_s"])
    print(f"jaxcollapse (vmap over seeds): compile {result.timing['compile_s']:.1f} s, run {result.timing['run_s']:.1f} s")
    print(f"ratio loop / vmap: run {out['ratio_run']:.1f}x, compile + run {out['ratio_total']:.1f}x; "
          f"largest relative difference on the looped seeds {out['max_rel_diff']:.2g}")
    if args.json:
        with open(args.json, "w") as handle:
            json.dump(out, handle, indent=1)


if __name__ == "__main__":
    main()
