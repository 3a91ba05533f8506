"""The study protocol: what a study module implements to plug into the engine.

A ``Study`` instance holds only static structure (shapes, capacities, sampler) and is
closed over by ``jit``; numeric hyperparameters travel separately as a pytree (``params``)
whose leaves are vmapped over a grid; the scan carry is the study's ``state``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from .params import ConfigError, Param

Metrics = dict[str, jax.Array]


def float_dtype():
    """float64 under ``--x64`` (jax_enable_x64), float32 otherwise."""
    return jax.dtypes.canonicalize_dtype(jnp.float64)


@dataclass(frozen=True)
class Check:
    """A closed form held against simulation (``jaxcollapse validate``, ``study.checks``).

    The study runs with ``settings`` and ``grids`` for ``seeds`` x ``generations`` (``key``
    fixed); every metric in ``metrics`` (default: all with a closed form) must satisfy, at
    every grid point and generation where its theory is finite,
    |mean - theory| <= z* SE + ``relative`` |theory|, with z* the Bonferroni limit of the
    check's comparisons (``relative``: slack for approximate closed forms, e.g. a
    deterministic equivalent). ``quick_seeds`` is the seed count of ``validate --quick``.
    """

    name: str
    settings: dict[str, Any] = field(default_factory=dict)
    grids: dict[str, Any] = field(default_factory=dict)
    metrics: tuple[str, ...] = ()
    seeds: int = 8000
    generations: int = 10
    key: int = 0
    relative: float = 0.0
    quick_seeds: int = 2000
    quick: bool = True  # part of validate --quick


class Study(eqx.Module):
    """Base class. Subclasses declare ``name``, ``description``, ``params``, ``metrics``.

    Class-level (host, before tracing):
      ``check(config, generations)``   cross-parameter validation (ConfigError); returns
                                       the config with derived defaults filled in
      ``static_key(config)``           grid points with equal keys share one compile
      ``preflight(configs, generations)`` a last check of the whole grid (no compile)
      ``build(configs, generations)``  the static structure serving a group of grid points
    Instance-level:
      ``numeric(config)``              the traced params pytree of one grid point (numpy)
      ``start(key, params)``           -> the state before generation 0: the model generation 0
                                       draws its rows from (the truth) and an empty pool; the
                                       engine then runs ``step`` for t = 0..T, one compiled body
      ``init(key, params)``            -> (state, metrics at generation 0); for studies without
                                       ``start`` (generation 0 compiles apart from ``step``)
      ``step(state, key, t, params)``  -> (state, metrics at generation t; t is traced)
      ``theory(config, generations)``  closed-form expected metrics, arrays over t = 0..T
      ``truth(config)``                the true distribution's parameters, for summary.json
      ``bytes_per_seed()``             rough working-set size, to pick chunk and block sizes
    """

    name: ClassVar[str]
    description: ClassVar[str]
    params: ClassVar[tuple[Param, ...]]
    metrics: ClassVar[tuple[str, ...]]
    # Working-set budgets of one seed block and of one chunk (one compiled call); None: the
    # engine's defaults (a cache-sized block, a 1 GiB chunk).
    block_bytes: ClassVar[int | None] = None
    chunk_bytes: ClassVar[int | None] = None
    # The metrics that the CLI prints and figure.png plots; None: all of them. Every metric is
    # still in summary.json and per_seed.npz.
    summary_metrics: ClassVar[tuple[str, ...] | None] = None
    # What each metric measures, one short line each (``jaxcollapse describe``, the docs pages).
    metric_docs: ClassVar[dict[str, str]] = {}
    # Closed forms against simulation, run by ``jaxcollapse validate`` on the user's machine.
    checks: ClassVar[tuple[Check, ...]] = ()

    @classmethod
    def param(cls, name: str) -> Param:
        for p in cls.params:
            if p.name == name:
                return p
        known = ", ".join(p.name for p in cls.params)
        raise ConfigError(f"unknown parameter {name!r} for study {cls.name} (known: {known})")

    @classmethod
    def check(cls, config: dict[str, Any], generations: int) -> dict[str, Any]:
        return config

    @classmethod
    def preflight(cls, configs: list[dict[str, Any]], generations: int) -> None:
        """A last check of the whole grid before anything compiles (ConfigError); e.g. a user
        model's functions traced abstractly. Default: none."""

    @classmethod
    def static_key(cls, config: dict[str, Any]) -> tuple:
        return tuple(config[p.name] for p in cls.params if p.static)

    @classmethod
    def build(cls, configs: list[dict[str, Any]], generations: int) -> "Study":
        raise NotImplementedError

    def numeric(self, config: dict[str, Any]) -> Any:
        raise NotImplementedError

    @property
    def starts(self) -> bool:
        """The study defines ``start``: ``step`` also runs generation 0."""
        return type(self).start is not Study.start

    def start(self, key, params) -> Any:
        raise NotImplementedError

    def init(self, key, params) -> tuple[Any, Metrics]:
        raise NotImplementedError

    def step(self, state, key, t, params) -> tuple[Any, Metrics]:
        raise NotImplementedError

    @classmethod
    def theory(cls, config: dict[str, Any], generations: int) -> dict[str, np.ndarray]:
        return {}

    @classmethod
    def truth(cls, config: dict[str, Any]) -> dict[str, Any]:
        return {}

    def bytes_per_seed(self) -> int:
        return 4096
