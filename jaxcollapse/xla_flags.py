"""XLA flags that jaxcollapse sets, each only for the jaxlib releases known to accept it.

XLA ends the whole process when its backend starts with a flag it does not know ("Unknown flag
in XLA_FLAGS", a fatal log), and jaxlib releases rename and drop flags:
``--xla_cpu_use_fusion_emitters`` is accepted by 0.10.2 and kills 0.11.2 at the first
computation. So every flag names the newest jaxlib minor series it was seen working with, and
is added only up to that series: on a newer jaxlib the program runs without it rather than not
at all. A name the user already set in ``XLA_FLAGS`` is left alone. No jax import here, so the
flags are in place before jax reads them.
"""

from __future__ import annotations

import os
from importlib.metadata import PackageNotFoundError, version


def jaxlib_series() -> tuple[int, int] | None:
    """(major, minor) of the installed jaxlib, read from its metadata; None if unknown."""
    try:
        major, minor = version("jaxlib").split(".")[:2]
        return int(major), int(minor)
    except (PackageNotFoundError, ValueError):
        return None


def add(flag: str, accepted_through: tuple[int, int]) -> bool:
    """Append ``flag`` ("--name=value") to ``XLA_FLAGS`` unless its name is set there already or
    the installed jaxlib is newer than the ``accepted_through`` series. True if the name is set."""
    name = flag.split("=")[0]
    flags = os.environ.get("XLA_FLAGS", "")
    if any(f.split("=")[0] == name for f in flags.split()):
        return True
    series = jaxlib_series()
    if series is None or series > accepted_through:
        return False
    os.environ["XLA_FLAGS"] = f"{flags} {flag}".strip()
    return True
