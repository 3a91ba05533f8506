"""jaxcollapse: batched, jit-compiled simulation of model collapse and its remedies."""

__version__ = "0.1.0"

import re
import warnings

from jaxlib import version as _jaxlib_version

# jaxlib 0.10.0-0.11.1 split a batched LAPACK call (SVD, Cholesky, eigh, QR, triangular solve)
# into tasks on the CPU intra-op pool and block a pool thread until they finish: when as many
# such calls run at once as the pool has threads, every thread waits and the run hangs in
# block_until_ready (seen on 2 cores in the dcca study). pyproject excludes these versions.
if (0, 10, 0) <= tuple(int(p) for p in re.findall(r"\d+", _jaxlib_version.__version__)[:3]) < (0, 11, 2):
    warnings.warn(f"jaxlib {_jaxlib_version.__version__} can deadlock in batched CPU linear algebra; "
                  "install jaxlib<0.10 or >=0.11.2", RuntimeWarning, stacklevel=2)

from .api import reproduce, run
from .engine import ConfigError
from .results import Result, load

__all__ = ["ConfigError", "Result", "__version__", "load", "reproduce", "run"]
