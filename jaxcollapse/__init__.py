"""jaxcollapse: batched, jit-compiled simulation of model collapse and its remedies."""

__version__ = "0.1.0"

import os

# XLA's CPU runtime (jaxlib 0.10.2) can deadlock when its concurrency-optimised scheduler runs
# two batched LAPACK calls (cholesky, triangular solve, QR) at once: each blocks a thread of
# the intra-op pool waiting on sub-tasks queued to that same pool (seen with 2 cores, batch
# >= 32). Turning that scheduler off removes the deadlock. It only takes effect if set before
# jax initialises its CPU backend, which importing jaxcollapse first guarantees.
_SCHEDULER_FLAG = "--xla_cpu_enable_concurrency_optimized_scheduler=false"
if "xla_cpu_enable_concurrency_optimized_scheduler" not in os.environ.get("XLA_FLAGS", ""):
    os.environ["XLA_FLAGS"] = f"{os.environ.get('XLA_FLAGS', '')} {_SCHEDULER_FLAG}".strip()

from .api import reproduce, run  # noqa: E402
from .engine import ConfigError  # noqa: E402
from .results import Result, load  # noqa: E402

__all__ = ["ConfigError", "Result", "__version__", "load", "reproduce", "run"]
