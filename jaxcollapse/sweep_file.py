"""Sweep files: a run written down as TOML, for ``jaxcollapse run --config FILE``.

    study = "gaussian"
    seeds = 2000
    generations = 50
    [settings]
    dim = 3
    n = "50*(t+1)"
    [grids]
    regime = ["replace", "accumulate"]

Top-level keys are the run options of the command line (``seeds``, ``generations``, ``key``,
``prng``, ``chunk``, ``x64``, ``out``, ``keep``, ``quantiles``, ...; dashes or underscores) and
``study``; ``[settings]`` and ``[grids]`` hold what ``--set`` and ``--grid`` would. Flags on the
command line override the file.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .engine.params import ConfigError

OPTIONS = {  # key -> the Python types it accepts
    "seeds": (int,), "generations": (int,), "key": (int,), "prng": (str,), "chunk": (int,), "x64": (bool,),
    "out": (str,), "force": (bool,), "no_plot": (bool,), "figure_format": (str, list), "dpi": (int,),
    "keep": (str, list), "quiet": (bool,), "no_cache": (bool,), "quantiles": (str, list),
    "quantile_seeds": (int,), "format": (str, list),
}


_WHAT = {int: "an integer", str: "a string", bool: "true or false", list: "a list"}


@dataclass
class SweepFile:
    study: str | None = None
    settings: dict[str, Any] = field(default_factory=dict)
    grids: dict[str, Any] = field(default_factory=dict)
    options: dict[str, Any] = field(default_factory=dict)
    text: str = ""


def read_sweep(path: str | Path) -> SweepFile:
    """Parse and check a sweep file (ConfigError, one line, on anything it cannot use)."""
    try:
        text = Path(path).read_text()
    except OSError as err:
        raise ConfigError(f"config={path}: cannot read it ({err.strerror})") from None
    try:
        table = tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        raise ConfigError(f"config={path}: not valid TOML ({err})") from None
    sweep = SweepFile(text=text)
    for key, value in table.items():
        name = key.replace("-", "_")
        if name == "study":
            if not isinstance(value, str):
                raise ConfigError(f"config={path}: study={value!r} must be a study name")
            sweep.study = value
        elif name in ("settings", "grids"):
            if not isinstance(value, dict):
                raise ConfigError(f"config={path}: [{name}] must be a table of NAME = VALUE")
            getattr(sweep, name).update(value)
        elif name in OPTIONS:
            if isinstance(value, bool) and bool not in OPTIONS[name] or not isinstance(value, OPTIONS[name]):
                allowed = " or ".join(_WHAT[t] for t in OPTIONS[name])
                raise ConfigError(f"config={path}: {key}={value!r} must be {allowed}")
            sweep.options[name] = ",".join(map(str, value)) if isinstance(value, list) else value
        else:
            known = ", ".join(["study", "[settings]", "[grids]", *OPTIONS])
            raise ConfigError(f"config={path}: unknown key {key!r} (known: {known})")
    for name, values in sweep.grids.items():
        if isinstance(values, list):
            sweep.grids[name] = [str(v) if isinstance(v, bool) else v for v in values]
    return sweep
