"""``jc.Model``: a model a researcher brings, run by the same engine and data loop as the studies.

A model is pure functions, in the spirit of optax's (init, update) pairs:

    fit(key, data, weights, previous, hp) -> theta      data: rows [capacity, *event] (a pytree);
                                                         weights [capacity] (0: not a training row);
                                                         previous: the last fit (None at t = 0,
                                                         or ``init(key, hp)`` if given)
    sample(key, theta, size, hp) -> rows [size, ...]    size is a static int; the loop masks
                                                         the rows it does not need
    metrics(theta, truth, hp) -> {name: scalar}         one value per generation
    truth(hp) -> truth                                  the true parameters (any pytree)

Optional: ``real(key, size, hp)`` draws real rows (default: ``sample`` from ``truth``, so a
misspecified truth is a ``real`` sampler); ``theory(config, generations)`` closed forms
{metric: array over t = 0..T}; ``score(theta, rows, hp)`` rates rows for selection
(``select=top|threshold|sample``, and ``select=choice``: curation by a Luce choice among
``choice_k`` candidates, probability ∝ exp(score)); ``verifier(rows, truth, hp)`` gives each row's
probability of being kept under ``select=verify`` (it may use the truth: an oracle); ``init(key, hp)`` the ``previous`` of generation 0 (a network
to start training from); ``statistics`` (``engine.data.Statistics``) for models whose fit depends
on the rows only through summaries with a merge (exact samplers, O(1) memory).

``hp`` holds the model's ``params`` at generation t (schedules evaluated) and the loop's
settings: ``t``, ``n``, ``alpha``, ``real_weight``, ``real_share`` (NaN when unset). Numeric params are traced leaves, so they can
be set, scheduled and gridded like any study parameter, and a grid compiles once; string params
are static (each value compiles apart).

Everything a model returns is checked before anything compiles (``jax.eval_shape``): a missing
function, rows of the wrong leading size, a fit whose output changes shape between generations, a
metric that is not a scalar are each refused in one line naming the function.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from typing import Any, Callable, ClassVar, Mapping

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from ..engine.data import DataLoop, LoopStudy, Statistics, loop_numeric, loop_params, pooled_fit
from ..engine.params import ConfigError, Param
from ..engine.study import float_dtype
from ..engine.sweep import plan, traced

LOOP_METRICS = ("train_size", "real_share")


@dataclass(frozen=True, eq=False)
class Model:
    """A model family for ``jc.run``: see the module docstring for each function's contract."""

    name: str
    fit: Callable
    sample: Callable
    metrics: Callable
    truth: Callable | None = None
    params: Mapping[str, Any] = field(default_factory=dict)
    real: Callable | None = None
    theory: Callable | None = None
    score: Callable | None = None
    init: Callable | None = None
    verifier: Callable | None = None
    statistics: Statistics | None = None
    description: str = ""

    def __post_init__(self):
        if not isinstance(self.name, str) or not self.name.strip():
            raise ConfigError(f"Model(name={self.name!r}): needs a non-empty name")
        for role, signature in (("fit", "fit(key, data, weights, previous, hp)"), ("sample", "sample(key, theta, size, hp)"),
                                ("metrics", "metrics(theta, truth, hp)")):
            if not callable(getattr(self, role)):
                raise ConfigError(f"Model {self.name}: {role}={getattr(self, role)!r} must be a function {signature}")
        for role in ("truth", "real", "theory", "score", "init", "verifier"):
            value = getattr(self, role)
            if value is not None and not callable(value):
                raise ConfigError(f"Model {self.name}: {role}={value!r} must be a function or None")
        if self.truth is None and self.real is None:
            raise ConfigError(f"Model {self.name}: give truth(hp) (real rows are sampled from it) or real(key, size, hp)")
        if not isinstance(self.params, Mapping):
            raise ConfigError(f"Model {self.name}: params must be a dict of name -> default value or Param")
        for name in self.params:
            if name in {p.name for p in loop_params()}:
                raise ConfigError(f"Model {self.name}: parameter {name!r} is a data-loop setting; choose another name")

    def declared(self) -> tuple[Param, ...]:
        """The model's parameters as Params: numbers are traced and schedulable, strings static."""
        out = []
        for name, value in self.params.items():
            if isinstance(value, Param):
                out.append(value if value.name == name else Param(name, value.doc, value.default, value.kind,
                                                                   value.schedule, value.static, value.gridable,
                                                                   value.low, value.high, value.choices, value.words))
            elif isinstance(value, bool) or not isinstance(value, (int, float, str, np.number)):
                raise ConfigError(f"Model {self.name}: params[{name!r}]={value!r} must be a number, a string or a Param")
            elif isinstance(value, str):
                out.append(Param(name, f"{self.name} parameter (static)", value, kind="text", static=True))
            else:
                kind = "int" if isinstance(value, (int, np.integer)) else "float"
                out.append(Param(name, f"{self.name} parameter", value, kind=kind, schedule=True))
        return tuple(out)


def _shapes(tree) -> str:
    leaves = jax.tree.leaves(tree)
    return ", ".join(f"{jnp.dtype(x.dtype).name}{list(x.shape)}" for x in leaves) or "nothing"


def _call(model: Model, role: str, fn: Callable, *args):
    """Call a user function while tracing; an exception becomes one line naming the function."""
    try:
        return fn(*args)
    except ConfigError:
        raise
    except Exception as err:  # noqa: BLE001 (the user's code may raise anything)
        text = str(err).strip()
        message = text.splitlines()[0] if text else ""
        raise ConfigError(f"Model {model.name}: {role} raised {type(err).__name__}: {message}"[:400]) from None


def _rows(model: Model, role: str, rows, size: int):
    """Rows must be a pytree of arrays with leading size ``size``."""
    leaves = jax.tree.leaves(rows)
    if not leaves or any(jnp.ndim(x) < 1 or jnp.shape(x)[0] != size for x in leaves):
        raise ConfigError(f"Model {model.name}: {role} returned {_shapes(rows)} for size={size}; "
                          f"every array needs leading size {size}")
    return rows


def _agree(a, b) -> bool:
    """Two pytrees of arrays (or shapes) with the same structure, shapes and dtypes."""
    kinds = lambda tree: [(jnp.shape(x), jnp.result_type(x)) for x in jax.tree.leaves(tree)]  # noqa: E731
    return jax.tree.structure(a) == jax.tree.structure(b) and kinds(a) == kinds(b)


def _same_shape(model: Model, first, later) -> None:
    if not _agree(first, later):
        raise ConfigError(f"Model {model.name}: fit returns {_shapes(first)} at generation 0 but {_shapes(later)} "
                          "at generation 1; the fitted parameters must keep their structure, shapes and dtypes")


class ModelStudy(LoopStudy):
    """The study that runs a ``Model`` through the data loop (made by ``study_for``)."""

    model: ClassVar[Model]
    loop: DataLoop
    rows_path: bool = eqx.field(static=True)  # the loop keeps rows (else the model's statistics)
    statics: tuple = eqx.field(static=True)  # the model's string parameters: ((name, value), ...)

    @classmethod
    def check(cls, config: dict[str, Any], generations: int) -> dict[str, Any]:
        config = super().check(config, generations)
        weighs = not pooled_fit(config)
        if weighs and not cls._keeps_rows(config) and cls.model.statistics.scale is None:
            name = "real_weight" if config.get("real_share") is None else "real_share"
            raise ConfigError(f"{name}={config[name]}: model {cls.model.name}'s statistics have no scale")
        return config

    @classmethod
    def _keeps_rows(cls, config) -> bool:
        return cls.model.statistics is None or DataLoop.static_key(config, statistics=True)[0] == "rows"

    @classmethod
    def static_key(cls, config: dict[str, Any]) -> tuple:
        statics = tuple(config[p.name] for p in cls.params if p.static)
        return statics + DataLoop.static_key(config, statistics=cls.model.statistics is not None)

    @classmethod
    def build(cls, configs: list[dict[str, Any]], generations: int) -> "ModelStudy":
        statics = tuple((p.name, configs[0][p.name]) for p in cls.model.declared() if p.static)
        return cls(loop=DataLoop.build(configs), rows_path=cls._keeps_rows(configs[0]), statics=statics)

    @classmethod
    def preflight(cls, configs: list[dict[str, Any]], generations: int) -> None:
        """Trace one generation of every compiled group (``jax.eval_shape``: nothing compiles),
        so a model's mistakes are refused before the run starts."""
        super().preflight(configs, generations)
        groups: dict[tuple, dict[str, Any]] = {}
        for config in configs:
            groups.setdefault(cls.static_key(config), config)
        for config in groups.values():
            study = cls.build([config], generations)
            params = jax.tree.map(traced, study.numeric(config))
            key = jax.random.key(0)
            with _one_line_errors():
                jax.eval_shape(lambda p: study.step(study.start(key, p), key, jnp.int32(0), p), params)

    def numeric(self, config: dict[str, Any]) -> dict[str, Any]:
        model_params = {}
        for p in self.model.declared():
            if not p.static:
                model_params[p.name] = np.asarray(config[p.name], np.float64 if p.kind == "float" else np.int32)
        return {"loop": loop_numeric(config), "model": model_params}

    def bytes_per_seed(self) -> int:
        return 64 * (self.loop.capacity + self.loop.candidates) + 4096

    # ---- traced side ----------------------------------------------------------------------------
    def _hp(self, params, t) -> dict[str, Any]:
        lp = params["loop"]
        hp = {name: value[t] for name, value in params["model"].items()}
        hp.update(self.statics)
        hp.update(t=t, n=lp["n"][t], alpha=lp["alpha"][t], real_weight=lp["real_weight"][t],
                  real_share=lp["real_share"][t])
        return hp

    def _truth(self, hp):
        model = self.model
        return _call(model, "truth", model.truth, hp) if model.truth is not None else None

    def _real(self, key, hp, truth):
        model, size = self.model, self.loop.batch
        if model.real is not None:
            return _rows(model, "real", _call(model, "real", model.real, key, size, hp), size)
        return _rows(model, "sample", _call(model, "sample", model.sample, key, truth, size, hp), size)

    def _sample(self, key, theta, hp, size=None):
        model, size = self.model, size or self.loop.batch
        return _rows(model, "sample", _call(model, "sample", model.sample, key, theta, size, hp), size)

    def _per_row(self, role: str, what: str, rows, *args):
        """``model.<role>(*args)``: one number per row of ``rows``, else a one-line refusal."""
        model = self.model
        values = _call(model, role, getattr(model, role), *args)
        if jnp.shape(values) != (jax.tree.leaves(rows)[0].shape[0],):
            raise ConfigError(f"Model {model.name}: {role} returned shape {list(jnp.shape(values))}; "
                              f"one {what} per row is needed")
        return jnp.asarray(values, float_dtype())

    def _verify(self, rows, truth, hp):
        return self._per_row("verifier", "acceptance probability", rows, rows, truth, hp)

    def _measure(self, theta, truth, hp, size, real_share):
        model = self.model
        values = _call(model, "metrics", model.metrics, theta, truth, hp)
        if not isinstance(values, Mapping) or not values:
            raise ConfigError(f"Model {model.name}: metrics must return a dict of scalars, got {type(values).__name__}")
        out = {}
        for name, value in values.items():
            if jnp.ndim(value) != 0:
                raise ConfigError(f"Model {model.name}: metrics[{name!r}] has shape {list(jnp.shape(value))}; "
                                  "each metric is one scalar per generation")
            out[str(name)] = jnp.asarray(value, float_dtype())
        out.update(train_size=jnp.asarray(size, float_dtype()), real_share=jnp.asarray(real_share, float_dtype()))
        return out

    def _score(self, theta, rows, hp):
        return self._per_row("score", "score", rows, theta, rows, hp)

    def _fit(self, fit: Callable, role: str, theta, t):
        """``fit(previous)``: previous is the last fit, and at t = 0 ``init(key, hp)`` (the start
        state) or, for a model without ``init``, None."""
        model = self.model
        if model.init is not None:
            return _call(model, role, fit, theta)
        return _first_or_later(model, role, t, lambda: _call(model, role, fit, None),
                               lambda: _call(model, role, fit, theta), check=_same_shape)

    def start(self, key, params):
        """The state before generation 0: the model's ``init`` (else zeros shaped like a fit; never
        sampled: generation 0 draws real rows) and an empty pool."""
        model, loop = self.model, self.loop
        hp = self._hp(params, 0)
        truth = self._truth(hp)
        rows = jax.eval_shape(lambda k: self._real(k, hp, truth), key)
        if self.rows_path:
            pool = loop.empty(rows)
            fit = lambda r, previous: model.fit(key, r, jnp.ones(loop.batch, float_dtype()), previous, hp)  # noqa: E731
            role = "fit"
        else:
            stats = model.statistics
            mask = jnp.ones(loop.batch, float_dtype())
            summary = jax.eval_shape(lambda r: _call(model, "statistics.summarize", stats.summarize, r, mask, hp), rows)
            pool = loop.statistics_empty(summary)
            fit = lambda r, previous: stats.fit(key, stats.summarize(r, mask, hp), previous, hp)  # noqa: E731
            role = "statistics.fit"
        if model.init is not None:
            theta = _call(model, "init", model.init, key, hp)
            _same_shape(model, theta, jax.eval_shape(lambda r: _call(model, role, fit, r, theta), rows))
            return theta, pool
        return jax.tree.map(lambda x: jnp.zeros(x.shape, x.dtype),
                            jax.eval_shape(lambda r: _call(model, role, fit, r, None), rows)), pool

    def step(self, state, key, t, params):
        """Generation t: rows drawn from the last fit (at t = 0 real rows) through the loop, refit."""
        model, loop = self.model, self.loop
        theta, pool = state
        lp = params["loop"]
        hp = self._hp(params, t)
        truth = self._truth(hp)
        k_synthetic, k_real, k_select, k_subsample, k_fit = jax.random.split(key, 5)
        draw_real = lambda k: self._real(k, hp, truth)  # noqa: E731
        if self.rows_path:
            real = draw_real(k_real) if loop.mixes else None
            curated = lambda: loop.curate(k_synthetic, lambda k, size: self._sample(k, theta, hp, size),  # noqa: E731
                                          lambda rows: self._score(theta, rows, hp), t, lp)
            # t is not batched (the engine scans it): only one branch runs
            synthetic = _first_or_later(model, "real and sample", t,
                                        (lambda: real) if loop.mixes else (lambda: draw_real(k_real)), curated)
            scored = loop.selects and model.score is not None
            score = (lambda rows: self._score(theta, rows, hp)) if scored else None
            verify = (lambda rows: self._verify(rows, truth, hp)) if loop.verifies else None
            pool = loop.add(pool, k_select, t, lp, synthetic, real, score, verify)
            training = loop.training_set(pool, k_subsample, t, lp)
            fitted = self._fit(lambda previous: model.fit(k_fit, training.rows, training.weight, previous, hp),
                               "fit", theta, t)
            _same_shape(model, theta, fitted)
            new = keep_previous_if_empty(training.weight, fitted, theta)
            if scored:  # generation 0's real rows are rated by its own fit
                pool = jax.lax.cond(t == 0, lambda: loop.rescore(pool, self._score(new, pool.rows, hp)), lambda: pool)
            size, share = loop.composition(training)
            return (new, pool), self._measure(new, truth, hp, size, share)
        stats = model.statistics

        def summary(k, count, sampled: bool):
            if sampled and stats.draw is not None:
                return _call(model, "statistics.draw", stats.draw, k, theta, count, hp)
            rows = self._sample(k, theta, hp) if sampled else draw_real(k)
            mask = (jnp.arange(loop.batch) < count).astype(float_dtype())
            return _call(model, "statistics.summarize", stats.summarize, rows, mask, hp)

        pool, train = loop.statistics_step(
            stats, pool, k_synthetic, t, lp,
            lambda k, count: _first_or_later(model, "the summaries of real and sampled rows", t,
                                             lambda: summary(k, count, False), lambda: summary(k, count, True)),
            lambda k, count: summary(k, count, False))
        new = self._fit(lambda previous: stats.fit(k_fit, train, previous, hp), "statistics.fit", theta, t)
        _same_shape(model, theta, new)
        size, share = loop.statistics_composition(t, lp)
        return (new, pool), self._measure(new, truth, hp, size, share)

    @classmethod
    def theory(cls, config: dict[str, Any], generations: int) -> dict[str, np.ndarray]:
        if cls.model.theory is None:
            return {}
        curves = cls.model.theory(config, generations)
        return {k: np.broadcast_to(np.asarray(v, np.float64), (generations + 1,)) for k, v in curves.items()}


def _first_or_later(model: Model, what: str, t, first: Callable, later: Callable, check: Callable | None = None):
    """``first()`` at generation 0, ``later()`` after: a true branch (the engine scans t, so it is
    never batched), whose two sides must agree in structure, shapes and dtypes (else one line;
    ``check(model, a, b)`` words it instead)."""
    a, b = jax.eval_shape(first), jax.eval_shape(later)
    if check is not None:
        check(model, a, b)
    elif not _agree(a, b):
        raise ConfigError(f"Model {model.name}: {what} give {_shapes(a)} at generation 0 but {_shapes(b)} later; "
                          "they must keep their structure, shapes and dtypes")
    return jax.lax.cond(t == 0, first, later)


def keep_previous_if_empty(weights, fitted, previous):
    """Keep the previous fit where a generation kept no training row (a selection that rejected
    everything): a fit to nothing is undefined."""
    has_rows = jnp.sum(weights) > 0
    return jax.tree.map(lambda new, old: jnp.where(has_rows, new, old), fitted, previous)


def study_for(model: Model) -> type[ModelStudy]:
    """The Study class of a Model (one per Model object): its parameters are the loop's and the
    model's, its metrics the model's and the loop's (``train_size``, ``real_share``)."""
    if model in _STUDIES:
        return _STUDIES[model]
    params = loop_params() + model.declared()
    cls = type(f"ModelStudy_{model.name}", (ModelStudy,), {
        "name": model.name, "description": model.description or f"user model {model.name}", "params": params,
        "metrics": (), "model": model, "__module__": __name__, "scored": model.score is not None,
        "verified": model.verifier is not None,
    })
    cls.metrics = _metric_names(cls)
    _STUDIES[model] = cls
    return cls


_STUDIES: dict[Model, type[ModelStudy]] = {}


def _metric_names(cls: type[ModelStudy]) -> tuple[str, ...]:
    """Trace generation 0 with the defaults (no compile) to read the names of the metrics."""

    the_plan = plan(cls, {}, {}, seeds=1, generations=1)
    config = the_plan.points[0]
    study = cls.build([config], 1)
    params = jax.tree.map(traced, study.numeric(config))
    order: list[str] = []

    def first_generation(p):
        key = jax.random.key(0)
        _, metrics = study.step(study.start(key, p), key, jnp.int32(0), p)
        order.extend(metrics)  # the model's own order (a traced dict comes back sorted)
        return metrics

    with _one_line_errors():
        jax.eval_shape(first_generation, params)
    return tuple(order)


@contextlib.contextmanager
def _one_line_errors():
    """JAX appends a note on its filtered traceback to errors raised while tracing; keep our
    one-line message."""
    try:
        yield
    except ConfigError as err:
        raise ConfigError(str(err).strip().splitlines()[0]) from None
