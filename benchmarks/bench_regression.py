"""Benchmark: the regression chain (d = 100, T = T0 = 300, ridge 0.1, 10 generations,
10,000 seeds) against numpy, in the same process. Not a test.

    python benchmarks/bench_regression.py [--seeds S] [--loop-seeds L] [--batch B] [--json PATH]

Baselines: a per-seed numpy loop (what a researcher writes: draw the generator's T0 rows,
``lstsq``, draw the downstream T rows, ridge by ``solve``), timed on ``--loop-seeds`` seeds and
extrapolated linearly; and the same vectorised over seeds (``--batch`` seeds at a time,
batched ``solve``), timed on all seeds. jaxcollapse samples the Gram matrices exactly
(Bartlett), so its cost does not grow with T or T0.
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np

import jaxcollapse as jc
from jaxcollapse.results import environment

D, T, T0, RIDGE, SIGMA, SIGMA0 = 100, 300, 300, 0.1, 1.0, 1.0


def numpy_loop(w0, seeds, generations, rng):
    for _ in range(seeds):
        w = w0.copy()
        for t in range(generations + 1):
            if t > 0:
                xg = rng.standard_normal((T0, D))
                w = np.linalg.lstsq(xg, xg @ w + SIGMA0 * rng.standard_normal(T0), rcond=None)[0]
            x = rng.standard_normal((T, D))
            y = x @ w + SIGMA * rng.standard_normal(T)
            pred = np.linalg.solve(x.T @ x / T + RIDGE * np.eye(D), x.T @ y / T)
            np.sum((pred - w0) ** 2)


def numpy_vectorized(w0, seeds, generations, rng, batch):
    for start in range(0, seeds, batch):
        b = min(batch, seeds - start)
        w = np.repeat(w0[None], b, 0)
        for t in range(generations + 1):
            if t > 0:
                xg = rng.standard_normal((b, T0, D))
                yg = np.einsum("bnd,bd->bn", xg, w) + SIGMA0 * rng.standard_normal((b, T0))
                w = np.linalg.solve(np.einsum("bni,bnj->bij", xg, xg), np.einsum("bni,bn->bi", xg, yg)[..., None])[..., 0]
            x = rng.standard_normal((b, T, D))
            y = np.einsum("bnd,bd->bn", x, w) + SIGMA * rng.standard_normal((b, T))
            gram = np.einsum("bni,bnj->bij", x, x) / T + RIDGE * np.eye(D)
            pred = np.linalg.solve(gram, (np.einsum("bni,bn->bi", x, y) / T)[..., None])[..., 0]
            np.sum((pred - w0) ** 2, axis=1)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seeds", type=int, default=10000)
    parser.add_argument("--generations", type=int, default=10)
    parser.add_argument("--loop-seeds", type=int, default=200)
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--json", default=None)
    args = parser.parse_args()
    settings = {"dim": D, "T": T, "T0": T0, "ridge": RIDGE, "sigma": SIGMA, "sigma0": SIGMA0}
    print(f"regression chain: d={D}, T=T0={T0}, ridge={RIDGE}, {args.generations} generations, {args.seeds} seeds")
    w0 = np.random.default_rng(0).standard_normal(D)
    w0 /= np.linalg.norm(w0)
    rng = np.random.default_rng(1)
    out = {"environment": environment(), "settings": settings, "seeds": args.seeds, "generations": args.generations}
    begin = time.perf_counter()
    numpy_loop(w0, args.loop_seeds, args.generations, rng)
    out["numpy_loop_s"] = (time.perf_counter() - begin) * args.seeds / args.loop_seeds
    print(f"numpy per-seed loop: {out['numpy_loop_s']:.1f} s (timed on {args.loop_seeds} seeds, extrapolated)")
    begin = time.perf_counter()
    numpy_vectorized(w0, args.seeds, args.generations, rng, args.batch)
    out["numpy_vectorized_s"] = time.perf_counter() - begin
    print(f"numpy vectorised over seeds: {out['numpy_vectorized_s']:.1f} s")
    result = jc.run("regression", settings, seeds=args.seeds, generations=args.generations, keep=(), progress=False)
    out["jax"] = result.timing
    print(f"jaxcollapse: compile {result.timing['compile_s']:.1f} s, run {result.timing['run_s']:.1f} s; "
          f"ratio vs loop {out['numpy_loop_s'] / result.timing['run_s']:.1f}x, "
          f"vs vectorised {out['numpy_vectorized_s'] / result.timing['run_s']:.1f}x")
    if args.json:
        with open(args.json, "w") as handle:
            json.dump(out, handle, indent=1)


if __name__ == "__main__":
    main()
