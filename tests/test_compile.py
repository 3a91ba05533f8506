"""Compile time is flat in the number of generations and in the grid size: generations are a
``lax.scan`` and grid points a ``vmap``, so T = 10 and T = 1000, or 2 and 14 grid points, lower to
the same program up to its shapes, and compile in about the same time (issue: speed to the floor)."""

import re
import time

import jax
import numpy as np
from jax.sharding import Mesh

from jaxcollapse.engine import sweep
from jaxcollapse.engine.loop import batched_trajectories
from jaxcollapse.studies import get_study

SETTINGS = {"dim": 2}


def _lowered(generations: int, grids: dict):
    cls = get_study("contaminated-mean")
    the_plan = sweep.plan(cls, SETTINGS, grids, seeds=64, generations=generations)
    assert len({cls.static_key(c) for c in the_plan.points}) == 1  # one compiled group
    study = cls.build(the_plan.points, generations)
    params = sweep.stack_params([study.numeric(c) for c in the_plan.points])
    mesh = Mesh(np.asarray(jax.local_devices()[:1]), ("seeds",))
    indices = np.arange(64, dtype=np.uint32).reshape(1, 64)
    return batched_trajectories(study, generations, mesh).lower(params, indices, jax.random.key(0), np.uint32(64))


def _operations(lowered) -> list[str]:
    """The program's operations in order, shapes and constants left out."""
    return re.findall(r"= ([a-z_.]+)", lowered.as_text())


def _compile_s(generations: int, grids: dict) -> float:
    """Fastest of three cold compiles (a fresh lowering each, no compile cache)."""
    best = float("inf")
    for _ in range(3):
        jax.clear_caches()
        lowered = _lowered(generations, grids)
        begin = time.perf_counter()
        lowered.compile()
        best = min(best, time.perf_counter() - begin)
    return best


SMALL = {"alpha": [0.1, 0.5]}
LARGE = {"alpha": list(np.linspace(0, 0.9, 7)), "deploy": ["erm", "weighted"]}


def test_compile_is_flat_in_generations_and_grid_size():
    assert _operations(_lowered(10, {})) == _operations(_lowered(1000, {}))
    assert _operations(_lowered(10, SMALL)) == _operations(_lowered(10, LARGE))
    jax.config.update("jax_enable_compilation_cache", False)
    try:
        assert _compile_s(1000, {}) < 2 * _compile_s(10, {})
        assert _compile_s(10, LARGE) < 2 * _compile_s(10, SMALL)
    finally:
        jax.config.update("jax_enable_compilation_cache", True)
