"""Benchmark: the next-token phase diagram (20 x 20 grid of constant alpha x n, K = 50,
T = 200) against numpy, in the same process. Not a test.

    python benchmarks/bench_next_token.py [--seeds S] [--loop-seeds L] [--samplers exact,explicit] [--json PATH]

Baselines: a numpy loop over grid points and seeds (what a researcher writes: one
``rng.multinomial`` per generation), timed on ``--loop-seeds`` seeds per grid point and
extrapolated linearly; and a numpy version vectorised over seeds (2-D ``pvals``), looping
over grid points and generations.
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np

import jaxcollapse as jc
from jaxcollapse.bench import numpy_next_token
from jaxcollapse.results import environment
from jaxcollapse.studies.next_token import ALPHAS, SIZES, true_distribution


def numpy_loop(truth, alphas, sizes, seeds, generations):
    for alpha in alphas:
        for n in sizes:
            for seed in range(seeds):
                rng = np.random.default_rng(seed)
                model = rng.multinomial(n, truth) / n
                for _ in range(generations):
                    model = rng.multinomial(n, alpha * truth + (1 - alpha) * model) / n
                    np.sum((model - truth) ** 2)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seeds", type=int, default=1000)
    parser.add_argument("--generations", type=int, default=200)
    parser.add_argument("--loop-seeds", type=int, default=2)
    parser.add_argument("--samplers", default="exact", help="comma list: exact, explicit (explicit draws n_max = 10^4 tokens per seed-generation: slow)")
    parser.add_argument("--json", default=None)
    args = parser.parse_args()
    truth = true_distribution({"context": 0, "vocab": 50, "truth": "dirichlet", "concentration": 1.0, "truth_seed": 0})[0]
    shape = f"{len(ALPHAS)} x {len(SIZES)} grid x {args.seeds} seeds x {args.generations} generations, K=50"
    print("next-token phase diagram:", shape)
    out = {"environment": environment(), "grid": [len(ALPHAS), len(SIZES)], "seeds": args.seeds,
           "generations": args.generations}
    begin = time.perf_counter()
    numpy_loop(truth, ALPHAS, SIZES, args.loop_seeds, args.generations)
    out["numpy_loop_s"] = (time.perf_counter() - begin) * args.seeds / args.loop_seeds
    print(f"numpy loop over grid x seeds: {out['numpy_loop_s']:.1f} s (timed on {args.loop_seeds} seeds, extrapolated)")
    begin = time.perf_counter()
    numpy_next_token(truth, ALPHAS, SIZES, args.seeds, args.generations)
    out["numpy_vectorized_s"] = time.perf_counter() - begin
    print(f"numpy vectorised over seeds: {out['numpy_vectorized_s']:.1f} s")
    for sampler in args.samplers.split(","):
        result = jc.run("next-token", {"vocab": 50, "sampler": sampler}, {"alpha": ALPHAS, "n": SIZES},
                        seeds=args.seeds, generations=args.generations, keep=())
        out[sampler] = result.timing
        print(f"jaxcollapse {sampler}: compile {result.timing['compile_s']:.1f} s, run {result.timing['run_s']:.1f} s; "
              f"ratio vs loop {out['numpy_loop_s'] / result.timing['run_s']:.2f}x, "
              f"vs vectorised {out['numpy_vectorized_s'] / result.timing['run_s']:.2f}x")
    if args.json:
        with open(args.json, "w") as handle:
            json.dump(out, handle, indent=1)


if __name__ == "__main__":
    main()
