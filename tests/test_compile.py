"""Compile time is flat in the number of generations and in the grid size: generations are a
``lax.scan`` and grid points a ``vmap``, so T = 10 and T = 1000, or 2 and 14 grid points, lower to
the same program up to its shapes, compiled once per run. (Timing the compile belongs to
``jaxcollapse bench``, part 2: a timed ratio in a test fails now and then on a loaded machine.)"""

import re

import jax
import numpy as np
from jax.sharding import Mesh

import jaxcollapse as jc
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


def _compiles(generations: int, grids: dict) -> int:
    """Programs compiled for one run (or read back from the test session's compile cache)."""
    count = [0]

    def listen(event, duration, **kwargs):
        count[0] += event in ("/jax/core/compile/backend_compile_duration",
                              "/jax/compilation_cache/compile_time_saved_sec")

    jax.monitoring.register_event_duration_secs_listener(listen)
    try:
        jc.run("contaminated-mean", SETTINGS, grids, seeds=64, generations=generations, keep=(), cache=False)
    finally:
        jax.monitoring.unregister_event_duration_listener(listen)
    return count[0]


SMALL = {"alpha": [0.1, 0.5]}
LARGE = {"alpha": list(np.linspace(0, 0.9, 7)), "deploy": ["erm", "weighted"]}


def test_compile_is_flat_in_generations_and_grid_size():
    assert _operations(_lowered(10, {})) == _operations(_lowered(1000, {}))
    assert _operations(_lowered(10, SMALL)) == _operations(_lowered(10, LARGE))
    # one program per run, whatever T and the grid size (after a warm-up run has compiled the
    # host-side helpers); the compile-time ratio is timed by ``jaxcollapse bench``
    _compiles(5, {})
    assert _compiles(10, SMALL) == _compiles(1000, LARGE) == 1
