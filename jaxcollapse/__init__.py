"""jaxcollapse: batched, jit-compiled simulation of model collapse and its remedies."""

__version__ = "0.1.0"

import os

# jaxlib's CPU LAPACK kernels split a batched call into tasks on the intra-op pool and block a
# pool thread until they finish, so two batched calls running at once on a 2-thread pool can
# deadlock (see ``jaxcollapse.models.linalg``, which removes the cause where a step has several
# independent factorisations). Turning XLA's concurrency-optimised scheduler off makes such
# overlaps rarer everywhere else. It only takes effect if set before jax initialises its CPU
# backend, which importing jaxcollapse first guarantees.
_SCHEDULER_FLAG = "--xla_cpu_enable_concurrency_optimized_scheduler=false"
if "xla_cpu_enable_concurrency_optimized_scheduler" not in os.environ.get("XLA_FLAGS", ""):
    os.environ["XLA_FLAGS"] = f"{os.environ.get('XLA_FLAGS', '')} {_SCHEDULER_FLAG}".strip()

from .api import reproduce, run  # noqa: E402
from .engine import ConfigError, Param  # noqa: E402
from .models import Model, Statistics  # noqa: E402
from .results import Result, load  # noqa: E402

__all__ = ["ConfigError", "Model", "Param", "Result", "Statistics", "__version__", "load", "reproduce", "run"]
