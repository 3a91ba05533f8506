"""Core engine: parameters, schedules, the generational loop and sweeps.

The names below load on first use (PEP 562): ``engine.params`` and ``engine.schedules`` are
plain Python and numpy, so the CLI can check its arguments without importing jax."""

_PUBLIC = {
    "batched_trajectories": "loop", "trajectory": "loop", "ConfigError": "params", "Param": "params",
    "Check": "study", "Study": "study", "float_dtype": "study", "Plan": "sweep", "execute": "sweep", "plan": "sweep",
}
__all__ = sorted(_PUBLIC)


def __getattr__(name: str):
    import importlib

    if name not in _PUBLIC:
        raise AttributeError(f"module 'jaxcollapse.engine' has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{_PUBLIC[name]}", __name__), name)
    globals()[name] = value
    return value
