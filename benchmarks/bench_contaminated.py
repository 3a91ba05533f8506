"""Benchmark: Amin et al.'s contamination studies against numpy, in the same process. Not a test.

    python benchmarks/bench_contaminated.py [--seeds S] [--loop-seeds L] [--pac-seeds P] [--json PATH]

mean   the ``amin-estimators`` size: alpha in {0, .1, .25, .5, .75, .9, 1} x deploy in {erm,
       weighted}, 1000 rounds, 10,000 seeds, four estimators. Baselines: a per-seed, per-round
       Python loop (timed on ``--loop-seeds`` seeds, extrapolated) and the same vectorised over
       seeds (all seeds).
pac    the ``amin-pac`` size: thresholds, n = 100, 200 rounds, alpha in {0, .3, .5, .6, .8, .95},
       300 seeds, repeated ERM and the corrected learner. Baselines: a per-seed loop that keeps
       every point and re-sorts each round, and the same vectorised over seeds (padded arrays,
       ``np.sort`` along the seed rows); both timed on ``--pac-seeds`` seeds and extrapolated.
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np

import jaxcollapse as jc
from jaxcollapse.bench import numpy_contaminated_mean
from jaxcollapse.results import environment

ALPHAS = [0.0, 0.1, 0.25, 0.5, 0.75, 0.9, 1.0]
ROUNDS, N = 1000, 100
PAC_ALPHAS, PAC_ROUNDS, PAC_N = [0.0, 0.3, 0.5, 0.6, 0.8, 0.95], 200, 100


def mean_numpy(seeds, rng, vectorized):
    """The vectorised baseline (``jaxcollapse.bench``), or one seed at a time (a Python loop)."""
    for _ in range(1 if vectorized else seeds):
        numpy_contaminated_mean(ALPHAS, seeds if vectorized else 1, ROUNDS, N, rng)


def pac_numpy(seeds, rng, vectorized):
    """Thresholds, theta* = 0.5; learners erm (c = 0) and corrected (c = alpha); every point kept."""
    rows = seeds if vectorized else 1
    for alpha in PAC_ALPHAS:
        for _ in range(1 if vectorized else seeds):
            theta = np.full((2, rows), np.nan)
            xs, u, v = np.empty((rows, 0)), np.empty((2, rows, 0)), np.empty((2, rows, 0))
            for r in range(PAC_ROUNDS):
                x = rng.random((rows, PAC_N))
                truth = x >= 0.5
                if r == 0:
                    labels, prev = np.broadcast_to(truth, (2, rows, PAC_N)), np.zeros((2, rows, PAC_N))
                else:
                    before = x[None] >= theta[:, :, None]
                    labels = np.where(rng.random((rows, PAC_N)) < alpha, before, truth)
                    prev = 2.0 * before - 1
                xs = np.concatenate([xs, x], 1)
                u = np.concatenate([u, 2.0 * labels - 1], 2)
                v = np.concatenate([v, prev], 2)
                order = np.argsort(xs, 1)
                points = np.take_along_axis(xs, order, 1)
                mids = (np.concatenate([np.zeros((rows, 1)), points], 1) + np.concatenate([points, np.ones((rows, 1))], 1)) / 2
                for learner, c in enumerate((0.0, alpha)):
                    score = np.take_along_axis(u[learner] - c * v[learner], order, 1)
                    risk = np.concatenate([np.zeros((rows, 1)), np.cumsum(score, 1)], 1)
                    first = np.argmin(risk, 1)
                    last = risk.shape[1] - 1 - np.argmin(risk[:, ::-1], 1)
                    theta[learner] = (mids[np.arange(rows), first] + mids[np.arange(rows), last]) / 2


def timed(label, fn, *args, scale=1.0):
    begin = time.perf_counter()
    fn(*args)
    seconds = (time.perf_counter() - begin) * scale
    print(f"  {label}: {seconds:.1f} s" + (" (extrapolated)" if scale != 1 else ""))
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seeds", type=int, default=10000)
    parser.add_argument("--loop-seeds", type=int, default=5)
    parser.add_argument("--pac-seeds", type=int, default=300)
    parser.add_argument("--pac-loop-seeds", type=int, default=3)
    parser.add_argument("--json", default=None)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    out = {"environment": environment(), "mean": {"seeds": args.seeds, "rounds": ROUNDS, "alphas": ALPHAS},
           "pac": {"seeds": args.pac_seeds, "rounds": PAC_ROUNDS, "n": PAC_N, "alphas": PAC_ALPHAS}}

    print(f"contaminated-mean: {len(ALPHAS)} alphas x 2 deployments x {args.seeds} seeds x {ROUNDS} rounds")
    mean = out["mean"]
    mean["numpy_loop_s"] = timed("numpy per-seed loop", mean_numpy, args.loop_seeds, rng, False, scale=args.seeds / args.loop_seeds)
    mean["numpy_vectorized_s"] = timed("numpy vectorised over seeds", mean_numpy, args.seeds, rng, True)
    result = jc.run("contaminated-mean", {"n": N}, {"alpha": ALPHAS, "deploy": ["erm", "weighted"]},
                    seeds=args.seeds, generations=ROUNDS - 1, keep=())
    mean["jax"] = result.timing
    print(f"  jaxcollapse: compile {result.timing['compile_s']:.1f} s, run {result.timing['run_s']:.2f} s; ratio vs loop "
          f"{mean['numpy_loop_s'] / result.timing['run_s']:.0f}x, vs vectorised {mean['numpy_vectorized_s'] / result.timing['run_s']:.1f}x")

    print(f"contaminated-pac: thresholds, {len(PAC_ALPHAS)} alphas x {args.pac_seeds} seeds x {PAC_ROUNDS} rounds, n={PAC_N}")
    pac = out["pac"]
    pac["numpy_loop_s"] = timed("numpy per-seed loop", pac_numpy, args.pac_loop_seeds, rng, False, scale=args.pac_seeds / args.pac_loop_seeds)
    vec_seeds = min(args.pac_seeds, 30)
    pac["numpy_vectorized_s"] = timed("numpy vectorised over seeds", pac_numpy, vec_seeds, rng, True, scale=args.pac_seeds / vec_seeds)
    result = jc.run("contaminated-pac", {"n": PAC_N}, {"alpha": PAC_ALPHAS}, seeds=args.pac_seeds, generations=PAC_ROUNDS - 1, keep=())
    pac["jax"] = result.timing
    print(f"  jaxcollapse: compile {result.timing['compile_s']:.1f} s, run {result.timing['run_s']:.1f} s; ratio vs loop "
          f"{pac['numpy_loop_s'] / result.timing['run_s']:.1f}x, vs vectorised {pac['numpy_vectorized_s'] / result.timing['run_s']:.1f}x")
    if args.json:
        with open(args.json, "w") as handle:
            json.dump(out, handle, indent=1)


if __name__ == "__main__":
    main()
