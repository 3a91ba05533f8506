"""jaxcollapse: batched, jit-compiled simulation of model collapse and its remedies."""

__version__ = "0.1.0"

from .api import reproduce, run  # noqa: E402
from .engine import ConfigError  # noqa: E402
from .results import Result, load  # noqa: E402

__all__ = ["ConfigError", "Result", "__version__", "load", "reproduce", "run"]
