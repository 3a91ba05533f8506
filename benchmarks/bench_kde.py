"""Benchmark: Kazdan et al.'s KDE grid against their per-run loop in numpy, in the same process.
Not a test.

    python benchmarks/bench_kde.py [--seeds S] [--loop-seeds L] [--generations T] [--json PATH]

The grid is the ``kazdan-kde`` preset: moons, gaussian kernel, bandwidth in {0.05, 0.1, 0.2} x
n in {10, 20, 50, 100, 200} x {replace, accumulate} x S seeds x T generations, 200 held-out
points. The baseline is their loop (``fit_kdes.py``): per run, fit a KDE, score the held-out set,
sample n points, replace or concatenate. scikit-learn is not a dependency, so its
``KernelDensity`` (gaussian kernel) is written out in numpy: ``score_samples`` as a log-sum-exp
over all training points, ``sample`` as a uniform training point plus N(0, h^2 I). The loop is
timed on ``--loop-seeds`` seeds of every cell and extrapolated to S seeds; jaxcollapse runs the
whole grid (compile and run times reported apart, every result blocked on).
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
from scipy.special import logsumexp

import jaxcollapse as jc
from jaxcollapse.results import environment
from jaxcollapse.studies.kde import KAZDAN_KDE_GRID

TEST = 200


def moons(rng, m, noise=0.1):
    theta = np.pi * rng.random(m)
    upper = rng.random(m) < 0.5
    x = np.where(upper[:, None], np.stack([np.cos(theta), np.sin(theta)], -1),
                 np.stack([1 - np.cos(theta), 0.5 - np.sin(theta)], -1))
    return x + noise * rng.standard_normal((m, 2))


def score_samples(train, queries, h):
    sq = np.sum((queries[:, None, :] - train[None]) ** 2, -1)
    return logsumexp(-0.5 * sq / h**2, axis=1) - np.log(2 * np.pi * h**2) - np.log(len(train))


def kazdan_run(rng, n, h, regime, generations):
    data, test = moons(rng, n), moons(rng, TEST)
    nll = []
    for _ in range(generations + 1):
        nll.append(-np.mean(score_samples(data, test, h)))
        new = data[rng.integers(0, len(data), n)] + h * rng.standard_normal((n, 2))
        data = new if regime == "replace" else np.concatenate([data, new])
    return nll


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=100)
    parser.add_argument("--loop-seeds", type=int, default=2)
    parser.add_argument("--generations", type=int, default=50)
    parser.add_argument("--json", default=None)
    args = parser.parse_args()

    begin = time.perf_counter()
    result = jc.run("kde", {"dataset": "moons", "kernel": "gaussian", "test_size": TEST}, KAZDAN_KDE_GRID,
                    seeds=args.seeds, generations=args.generations, keep=())
    end_to_end = time.perf_counter() - begin

    rng = np.random.default_rng(0)
    loop_s, cells = 0.0, []
    for h in KAZDAN_KDE_GRID["bandwidth"]:
        for n in KAZDAN_KDE_GRID["n"]:
            for regime in KAZDAN_KDE_GRID["regime"]:
                start = time.perf_counter()
                for _ in range(args.loop_seeds):
                    kazdan_run(rng, n, h, regime, args.generations)
                per_run = (time.perf_counter() - start) / args.loop_seeds
                cells.append({"bandwidth": h, "n": n, "regime": regime, "loop_s_per_run": per_run})
                loop_s += per_run * args.seeds
    report = {
        "environment": environment(), "seeds": args.seeds, "generations": args.generations,
        "runs": len(cells) * args.seeds, "jax": result.timing, "jax_end_to_end_s": end_to_end,
        "numpy_loop_s": loop_s, "numpy_loop_timed_seeds_per_cell": args.loop_seeds,
        "ratio_end_to_end": loop_s / end_to_end, "ratio_run": loop_s / result.timing["run_s"], "cells": cells,
    }
    print(f"kazdan KDE grid, {report['runs']} runs x {args.generations}: jaxcollapse {end_to_end:.1f} s end to end "
          f"(compile {result.timing['compile_s']:.1f} s, run {result.timing['run_s']:.1f} s); numpy per-run loop "
          f"{loop_s:.0f} s (extrapolated from {args.loop_seeds} seeds per cell): {report['ratio_end_to_end']:.1f}x "
          f"end to end, {report['ratio_run']:.1f}x run")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(report, f, indent=1)


if __name__ == "__main__":
    main()
