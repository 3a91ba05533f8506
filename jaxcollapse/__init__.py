"""jaxcollapse: batched, jit-compiled simulation of model collapse and its remedies."""

__version__ = "0.1.0"

# jaxlib's CPU LAPACK kernels split a batched call into tasks on the intra-op pool and block a
# pool thread until they finish, so two batched calls running at once on a 2-thread pool can
# deadlock (see ``jaxcollapse.models.linalg``, which removes the cause where a step has several
# independent factorisations). Turning XLA's concurrency-optimised scheduler off makes such
# overlaps rarer everywhere else. It only takes effect if set before jax initialises its CPU
# backend, which importing jaxcollapse first guarantees. Seen accepted by jaxlib 0.10.2 and 0.11.2.
from .xla_flags import add as _add_xla_flag

_add_xla_flag("--xla_cpu_enable_concurrency_optimized_scheduler=false", accepted_through=(0, 11))

# The public names load on first use (PEP 562), so that ``jaxcollapse --help`` and the CLI's
# argument errors answer without importing jax.
_PUBLIC = {
    "reproduce": "api", "run": "api", "ConfigError": "engine.params", "Param": "engine.params",
    "Model": "models", "Statistics": "models", "Result": "results", "load": "results",
}
__all__ = ["ConfigError", "Model", "Param", "Result", "Statistics", "__version__", "load", "reproduce", "run"]


def __getattr__(name: str):
    import importlib

    if name in _PUBLIC:
        value = getattr(importlib.import_module(f".{_PUBLIC[name]}", __name__), name)
    else:
        try:
            value = importlib.import_module(f".{name}", __name__)  # a submodule: jc.api, jc.plot, ...
        except ModuleNotFoundError:
            raise AttributeError(f"module 'jaxcollapse' has no attribute {name!r}") from None
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_PUBLIC))
