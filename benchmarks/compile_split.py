"""Where a program's compile time goes: one generation (``study.step``) alone and the whole
trajectory, each as ``jit(vmap over grid points(vmap over seeds(...)))`` of one test-sized group,
traced, lowered and compiled from cold caches. Not a test.

    python benchmarks/compile_split.py [--repeat 2]

A study with ``start`` scans ``step`` over every generation, so the whole trajectory should cost
about one step; one with ``init`` (self-consuming-diffusion) compiles its generation 0 apart.
"""

from __future__ import annotations

import argparse
import time

import jax
import jax.numpy as jnp

from jaxcollapse.engine import sweep
from jaxcollapse.engine.loop import begin, trajectory
from jaxcollapse.studies import get_study

CASES = [
    ("gmm", {"n": 100, "em_iterations": 20}, {}, 256, 300),
    ("kde", {"dataset": "blobs", "n": 30, "bandwidth": 0.4, "test_size": 100, "alpha": 0.3},
     {"regime": ["replace", "mix"]}, 2000, 10),
    ("next-token", {}, {}, 1000, 20),
    ("self-consuming-diffusion", {"generator": "ppca", "n": 200, "hidden": 16, "latent_draws": 2},
     {"regime": ["syn", "acu"]}, 48, 4),
]


def _compile_s(fn, *args, repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        jax.clear_caches()
        begin = time.perf_counter()
        jax.jit(fn).lower(*args).compile()
        best = min(best, time.perf_counter() - begin)
    return best


def _batched(fn):
    """fn(params of a point, key of a seed, ...) over grid points (axis 0) and seeds."""
    return jax.vmap(lambda p, *rest: jax.vmap(lambda *per_seed: fn(p, *per_seed))(*rest))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=2)
    args = parser.parse_args(argv)
    print(f"{'study':26s} {'step':>7s} {'whole':>7s}")
    for name, settings, grids, seeds, generations in CASES:
        cls = get_study(name)
        the_plan = sweep.plan(cls, settings, grids, seeds=seeds, generations=generations)
        study = cls.build(the_plan.points, generations)
        block = sweep.seed_block(study, len(the_plan.points), seeds)
        params = sweep.stack_params([study.numeric(c) for c in the_plan.points])
        keys = jnp.broadcast_to(jax.random.split(jax.random.key(0), block), (len(the_plan.points), block))

        def whole(p, k):
            return trajectory(study, p, k, generations)

        state = jax.eval_shape(_batched(lambda p, k: begin(study, k, p)[0]), params, keys)
        state = jax.tree.map(lambda s: jnp.zeros(s.shape, s.dtype), state)

        def step(p, k, s):
            return study.step(s, k, jnp.int32(1), p)[1]

        times = (_compile_s(_batched(step), params, keys, state, repeat=args.repeat),
                 _compile_s(_batched(whole), params, keys, repeat=args.repeat))
        print(f"{name:26s} " + " ".join(f"{t:6.2f}s" for t in times), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
