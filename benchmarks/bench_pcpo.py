"""Benchmark: the ``pcpo`` study's RL epochs per second, 64 seeds x 3 algorithms (ddpo,
pcpo-base, pcpo) in one call, against a Python loop over (seed, algorithm) runs of the same
trajectory jitted once, in the same process. Not a test.

    python benchmarks/bench_pcpo.py [--seeds 64] [--epochs 4] [--loop-runs 6] [--json PATH]

The RL epoch is the paper's toy at CPU size: DDIM, 50 steps, one group of ``group_size``
trajectories, 4 minibatches, an MLP of width 64 and depth 3 (see SETTINGS). Pre-training is off
(``pretrain_steps=0``): an epoch costs the same whatever the weights are, and the pre-training
is a one-off per seed, so the rates below are RL epochs alone (plus the two rollouts of
``init``). The loop compiles ``jit(trajectory)`` once (hyperparameters are traced, so the three
algorithms share it), runs ``--loop-runs`` (seed, algorithm) pairs with ``block_until_ready``
after each, and is extrapolated to all pairs. Both sides use the same keys, so the script also
prints the largest difference of the reward trajectories on the looped pairs.
"""

from __future__ import annotations

import argparse
import json
import time

import jax
import numpy as np

import jaxcollapse as jc
from jaxcollapse.bench import jitted_trajectory
from jaxcollapse.results import environment

SETTINGS = {"sampler": "ddim", "sampling_steps": 50, "group_size": 128, "minibatches": 4, "hidden": 64, "depth": 3,
            "pretrain_steps": 0}
ALGORITHMS = ["ddpo", "pcpo-base", "pcpo"]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seeds", type=int, default=64)
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--loop-runs", type=int, default=6)
    parser.add_argument("--json", default=None)
    args = parser.parse_args()
    epochs, runs = args.epochs, args.seeds * len(ALGORITHMS)
    print(f"pcpo: {SETTINGS}, {args.seeds} seeds x {ALGORITHMS} x {epochs} epochs")
    out = {"environment": environment(), "settings": SETTINGS, "algorithms": ALGORITHMS, "seeds": args.seeds,
           "epochs": epochs}

    run, points = jitted_trajectory("pcpo", SETTINGS, {"algorithm": ALGORITHMS}, epochs)
    base = jax.random.key(0)
    begin = time.perf_counter()
    compiled = run.lower(points[0], jax.random.fold_in(base, 0)).compile()
    loop_compile = time.perf_counter() - begin
    pairs = [(seed, j) for seed in range(args.seeds) for j in range(len(ALGORITHMS))][: args.loop_runs]
    begin = time.perf_counter()
    looped = [jax.block_until_ready(compiled(points[j], jax.random.fold_in(base, seed))) for seed, j in pairs]
    loop_run = (time.perf_counter() - begin) * runs / len(pairs)
    out["loop"] = {"compile_s": loop_compile, "run_s": loop_run, "timed_runs": len(pairs),
                   "epochs_per_s": runs * epochs / loop_run}
    print(f"python loop over (seed, algorithm), jitted once: compile {loop_compile:.1f} s, run {loop_run:.1f} s "
          f"({out['loop']['epochs_per_s']:.1f} epochs/s; {len(pairs)} runs timed, extrapolated to {runs})")

    result = jc.run("pcpo", SETTINGS, {"algorithm": ALGORITHMS}, seeds=args.seeds, generations=epochs,
                    keep=("reward",))
    timing = result.timing
    out["jax"] = {**timing, "epochs_per_s": runs * epochs / timing["run_s"]}
    vmapped = np.stack([result.per_seed["reward"][j, seed] for seed, j in pairs])
    single = np.stack([np.asarray(m["reward"]) for m in looped])
    out["max_abs_diff_reward"] = float(np.max(np.abs(vmapped - single)))
    out["ratio_run"] = loop_run / timing["run_s"]
    out["ratio_total"] = (loop_compile + loop_run) / (timing["compile_s"] + timing["run_s"])
    print(f"jaxcollapse, one call: compile {timing['compile_s']:.1f} s, run {timing['run_s']:.1f} s "
          f"({out['jax']['epochs_per_s']:.1f} epochs/s)")
    print(f"ratio loop / one call: run {out['ratio_run']:.2f}x, compile + run {out['ratio_total']:.2f}x; "
          f"largest reward difference on the looped runs {out['max_abs_diff_reward']:.2g}")
    if args.json:
        with open(args.json, "w") as handle:
            json.dump(out, handle, indent=1)


if __name__ == "__main__":
    main()
