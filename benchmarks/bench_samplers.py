"""Benchmark: the package's vmap-shaped Poisson and binomial samplers against ``jax.random``'s,
and numpy's, in the same process. Not a test.

    python benchmarks/bench_samplers.py [--lanes L] [--draws D] [--repeats R] [--json PATH]

Each lane has its own key and its own rate (Poisson: 0.5 .. 8, inside the inversion branch, and
0.5 .. 40, across the switch to the rejection branch at 10; binomial: n = 100, p = 0.005 .. 0.4)
and draws D values, all under one ``jit(vmap(...))``: the shape of a sampler inside a study.
Compile and run times are reported apart (run: fastest of R, blocked on); numpy draws the same
counts from one Generator (vectorised over the rates).
"""

from __future__ import annotations

import argparse
import json
import time

import jax
import jax.numpy as jnp
import numpy as np

from jaxcollapse.models.categorical import binomial
from jaxcollapse.models.scalar import poisson
from jaxcollapse.results import environment


def _fastest(call, repeats):
    """The fastest of ``repeats`` calls, in seconds."""
    best = np.inf
    for _ in range(repeats):
        start = time.perf_counter()
        call()
        best = min(best, time.perf_counter() - start)
    return best


def _time(fn, *args, repeats):
    """(compile, fastest run blocked on its results) of ``jit(fn)(*args)``."""
    start = time.perf_counter()
    compiled = jax.jit(fn).lower(*args).compile()
    compile_s = time.perf_counter() - start
    jax.block_until_ready(compiled(*args))
    return compile_s, _fastest(lambda: jax.block_until_ready(compiled(*args)), repeats)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lanes", type=int, default=6000)
    parser.add_argument("--draws", type=int, default=40)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--json", default=None)
    args = parser.parse_args()
    lanes, draws = args.lanes, args.draws
    keys = jax.random.split(jax.random.key(0), lanes)
    rng = np.random.default_rng(0)
    rows = []
    for label, top in (("poisson, rates 0.5-8", 8.0), ("poisson, rates 0.5-40", 40.0)):
        rates = jnp.linspace(0.5, top, lanes, dtype=jnp.float32)
        ours = _time(jax.vmap(lambda k, r: poisson(k, r, (draws,))), keys, rates, repeats=args.repeats)
        theirs = _time(jax.vmap(lambda k, r: jax.random.poisson(k, r, (draws,)).astype(jnp.float32)), keys, rates,
                       repeats=args.repeats)
        host = np.asarray(rates, np.float64)[:, None]
        rows.append({"case": label, "jaxcollapse": ours, "jax.random": theirs,
                     "numpy_s": _fastest(lambda: rng.poisson(host, (lanes, draws)), args.repeats)})
    probs = jnp.linspace(0.005, 0.4, lanes, dtype=jnp.float32)
    count = jnp.full((draws,), 100.0, jnp.float32)
    ours = _time(jax.vmap(lambda k, p: binomial(k, count, jnp.broadcast_to(p, (draws,)))), keys, probs,
                 repeats=args.repeats)
    theirs = _time(jax.vmap(lambda k, p: jax.random.binomial(k, count, jnp.broadcast_to(p, (draws,)))), keys, probs,
                   repeats=args.repeats)
    host = np.asarray(probs, np.float64)[:, None]
    rows.append({"case": "binomial, n = 100, p 0.005-0.4", "jaxcollapse": ours, "jax.random": theirs,
                 "numpy_s": _fastest(lambda: rng.binomial(100, host, (lanes, draws)), args.repeats)})
    print(f"{lanes} lanes x {draws} draws (compile / run, seconds)")
    for row in rows:
        (oc, orun), (tc, trun) = row["jaxcollapse"], row["jax.random"]
        print(f"{row['case']:>32}: jaxcollapse {oc:.2f} / {orun:.4f}   jax.random {tc:.2f} / {trun:.4f}   "
              f"numpy {row['numpy_s']:.4f}   run ratio vs jax.random {trun / orun:.1f}x, vs numpy {row['numpy_s'] / orun:.2f}x")
    if args.json:
        with open(args.json, "w") as handle:
            json.dump({"lanes": lanes, "draws": draws, "rows": rows, "environment": environment("threefry2x32")}, handle,
                      indent=1)


if __name__ == "__main__":
    main()
