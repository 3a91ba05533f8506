"""The data loop: how generation t's training set is formed, written once for every model.

A model family fits parameters theta to rows and draws rows from theta (``models.Family``); the
loop decides which rows each fit sees. Everything here is traced except the shapes, so a grid over
regimes, windows, weights and selection policies that share shapes runs under one compile.

Regimes (``regime``, a traced code; n_t rows per generation, r_t = round(alpha_t n_t) real):
  replace               the n_t rows drawn from model t-1
  mix                   r_t fresh real rows and n_t - r_t rows of model t-1 (alpha: the *real* share)
  accumulate            every row so far: generation 0's real rows and each generation's batch
  accumulate-subsample  a uniform n_t-subset of that pool, without replacement (Kazdan et al.)
  window                the rows of the last ``window`` generations (the newest included)
  mix-retained          as mix, but the r real rows are drawn once (at t = 1, independently of
                        generation 0's sample) and re-used every generation (Bertrand et al.'s
                        retained training set); r = round(alpha_t n_t) must be the same for t >= 1

Weights, at t >= 1 (generation 0 has only real rows):
  real_weight  a real row weighs ``real_weight_t`` relative to a synthetic one (1: pooled fitting)
  real_share   the real rows together weigh ``real_share_t`` of the fit and the synthetic rows
               1 - real_share_t, each part shared equally by its rows; weights are scaled so they
               still sum to the training set's size N (real row: s N / R, synthetic row:
               (1 - s) N / S). Unset: pooled fitting. With regime=mix this is He, Xu & Cheng's
               weighting (their mean estimator exactly; see the gaussian study for the covariance).
               A training set without real or without synthetic rows is fitted pooled.

Selection (``select``): a model's ``score(theta, rows, hp)`` rates each fresh synthetic row once,
with the model that drew it, and the policy keeps
  none       every row
  top        the best ``select_fraction`` of the generation's synthetic rows; under
             accumulate-subsample it instead picks the n_t best-scored rows of the whole pool
             (Cai et al.'s latent space filtering)
  threshold  the rows with score >= ``select_threshold``
  sample     each row with probability clip(score, 0, 1) (the model's own acceptance probability)
  choice     curation (Ferbach et al.): each synthetic row is the Luce / Bradley-Terry choice among
             ``choice_k`` candidates drawn from the model, the candidate k chosen with probability
             exp(score_k) / sum_j exp(score_j) (a Gumbel-max); choice_k -> infinity tends to the
             exponential tilt p exp(score) / E_p exp(score). Candidates: ``DataLoop.curate``.
  verify     each row with probability clip(verifier(row), 0, 1), a verifier that may see the truth
             (an oracle): Feng et al.'s (phi, psi) pruner, Yi et al.'s band around a knowledge centre
Real rows are never filtered. A generation that keeps no row refits on nothing; models see
all-zero weights and the loop keeps the previous fit (``guard_empty``).

Two representations of a training set:
* ``Pool``: rows (any pytree, leading axis ``capacity``) with, per row, a validity mask, a weight,
  the generation of origin, provenance (real or synthetic) and the selection score. Capacities
  are static; the rows written so far (``count``) and everything else are traced.
* sufficient statistics with a merge (``Statistics``): a Gaussian's (count, mean, scatter root),
  a categorical's counts. replace / mix / accumulate need no rows, so models that declare
  statistics keep their exact samplers and O(1) memory there; the real and synthetic parts are
  kept apart so that ``real_weight`` can change with t.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Bool, Float, Int

from .params import ConfigError, Param, fill_initial_size
from .study import Study

REGIMES = ("replace", "mix", "accumulate", "accumulate-subsample", "window", "mix-retained")
REPLACE, MIX, ACCUMULATE, SUBSAMPLE, WINDOW, RETAINED = range(len(REGIMES))
MIXING = ("mix", "mix-retained")  # regimes with real rows after generation 0
ROW_REGIMES = ("accumulate-subsample", "window")  # need the rows themselves, not statistics
POOLED = ("accumulate", "accumulate-subsample", "window")  # the training data outlive a generation
POLICIES = ("none", "top", "threshold", "sample", "choice", "verify")
NONE, TOP, THRESHOLD, SAMPLE, CHOICE, VERIFY = range(len(POLICIES))


def loop_params(n: int = 100, n_low: int = 1, regimes: tuple[str, ...] = REGIMES, select: bool = True,
                policy: str = "none", policies: tuple[str, ...] = POLICIES) -> tuple[Param, ...]:
    """The loop's parameters, declared by every study built on it (and by user models); with
    ``select``, the selection ``policies`` the study implements, ``policy`` the default."""
    params = [
        Param("n", "rows drawn per generation (schedule in t)", n, kind="int", schedule=True, low=n_low),
        Param("n0", "real rows fitted at generation 0 (default: n at t=0)", None, kind="int", low=n_low),
        Param("alpha", "fresh real share of each generation's rows under regime=mix (schedule)", 0.0, schedule=True,
              low=0.0, high=1.0),
        Param("regime", "training data of each generation: " + ", ".join(regimes), "replace", kind="choice",
              choices=regimes),
        Param("window", "generations of rows kept under regime=window (the newest included)", 1, kind="int",
              low=1),
        Param("real_weight", "weight of a real row relative to a synthetic one in the fit (schedule; 1: pooled)",
              1.0, schedule=True, low=0.0),
        Param("real_share", "total weight of the real rows in each fit, shared equally; synthetic rows share the "
              "rest (schedule; unset: pooled fitting)", None, schedule=True, low=0.0, high=1.0),
    ]
    if select:
        params += [
            Param("select", "selection of fresh synthetic rows (by the model's score, or a verifier): "
                  + ", ".join(policies), policy, kind="choice", choices=policies),
            Param("select_fraction", "select=top: share of each generation's synthetic rows kept (schedule)", 1.0,
                  schedule=True, low=0.0, high=1.0),
            Param("select_threshold", "select=threshold: rows with score >= this are kept (schedule)", 0.0,
                  schedule=True),
        ]
        if "choice" in policies:
            params.append(Param("choice_k", "select=choice: candidates drawn per kept row, the kept one chosen with "
                                "probability proportional to exp(score) (schedule)", 2, kind="int", schedule=True,
                                low=1, high=4096))
    return tuple(params)


def check_loop(config: dict[str, Any], scored: bool = True, verified: bool = False) -> None:
    """Cross-parameter rules of one grid point (ConfigError): a selection policy needs a score (or,
    for verify, a verifier); real_share and real_weight both weigh the real rows; retained real
    rows are one sample."""
    select = config.get("select", "none")
    if select == "verify" and not verified:
        raise ConfigError("select=verify: needs a verifier function (the model declares none)")
    if select not in ("none", "verify") and not scored:
        raise ConfigError(f"select={select}: needs a score function (the model declares none)")
    if config.get("real_share") is not None and np.any(np.asarray(config.get("real_weight", 1.0)) != 1.0):
        raise ConfigError("real_share: real_weight is also set; both weigh the real rows, set one of them")
    if config.get("regime") == "mix-retained":
        n = np.asarray(config["n"], np.float64)
        real = np.round(np.broadcast_to(np.asarray(config["alpha"], np.float64), n.shape) * n)[1:]
        if real.size and np.any(real != real[0]):
            raise ConfigError(f"alpha: regime=mix-retained re-uses one real sample, so round(alpha_t n_t) must be the "
                              f"same for every t >= 1 (got {int(real.min())} to {int(real.max())})")


def check_loop_grid(configs: list[dict[str, Any]]) -> None:
    """Rules of a whole grid: fresh real rows (alpha > 0) are drawn only under regime=mix, so an
    alpha that no grid point uses is a mistake (a grid over regimes may share one alpha)."""
    if any(np.any(np.asarray(c["alpha"]) > 0) for c in configs) and not any(c["regime"] in MIXING for c in configs):
        raise ConfigError(f"alpha: real data after generation 0 need regime=mix or mix-retained "
                          f"(got regime={configs[0]['regime']})")


class LoopStudy(Study):
    """A study whose training sets the data loop forms: each grid point obeys the loop's rules
    (``check_loop``; ``scored``: the study rates rows for selection, ``verified``: it has a
    verifier) and ``n`` is completed by ``n0``; the whole grid obeys ``check_loop_grid``.
    Studies extend ``check`` with their own."""

    scored = True
    verified = False

    @classmethod
    def check(cls, config: dict[str, Any], generations: int) -> dict[str, Any]:
        check_loop(config, scored=cls.scored, verified=cls.verified)
        return fill_initial_size(config)

    @classmethod
    def preflight(cls, configs: list[dict[str, Any]], generations: int) -> None:
        check_loop_grid(configs)


def pooled_fit(config: dict[str, Any]) -> bool:
    """Every row weighs the same in every fit (real_weight 1, real_share unset): the setting the
    studies' pooled closed forms assume."""
    return bool(np.all(np.asarray(config.get("real_weight", 1.0)) == 1.0)) and config.get("real_share") is None


def loop_numeric(config: dict[str, Any]) -> dict[str, np.ndarray]:
    """The loop's traced parameters of one grid point."""
    n = np.asarray(config["n"], np.int32)
    out = {
        "n": n,
        "alpha": np.broadcast_to(np.asarray(config["alpha"], np.float64), n.shape).copy(),
        "regime": np.int32(REGIMES.index(config["regime"])),
        "window": np.int32(config["window"]),
        "real_weight": np.broadcast_to(np.asarray(config["real_weight"], np.float64), n.shape).copy(),
        # NaN: unset (pooled fitting); a traced leaf either way, so a grid over it compiles once
        "real_share": np.broadcast_to(np.asarray(np.nan if config.get("real_share") is None else config["real_share"],
                                                 np.float64), n.shape).copy(),
    }
    if "select" in config:
        out.update(select=np.int32(POLICIES.index(config["select"])),
                   select_fraction=np.broadcast_to(np.asarray(config["select_fraction"], np.float64), n.shape).copy(),
                   select_threshold=np.broadcast_to(np.asarray(config["select_threshold"], np.float64),
                                                    n.shape).copy(),
                   choice_k=np.broadcast_to(np.asarray(config.get("choice_k", 1), np.int32), n.shape).copy())
    return out


def _where(condition, a, b):
    return jax.tree.map(lambda x, y: jnp.where(jnp.reshape(condition, condition.shape + (1,) * (x.ndim - condition.ndim)), x, y), a, b)


def _zeros(like):
    """Zeros shaped like a pytree of arrays or ``jax.ShapeDtypeStruct``s."""
    return jax.tree.map(lambda x: jnp.zeros(x.shape, x.dtype), like)


def real_count(regime: Int[Array, ""], alpha_t, n_t):
    """Real rows in generation t: round(alpha_t n_t) under ``mix`` and ``mix-retained``, else 0."""
    return jnp.where(_mixing(regime), jnp.round(alpha_t * n_t), 0).astype(n_t.dtype)


def _mixing(regime):
    return (regime == MIX) | (regime == RETAINED)


def share_factors(share, real_total, synthetic_total):
    """(real factor, synthetic factor, applies): each part's weights are multiplied so the real
    part totals share x N and the synthetic part (1 - share) x N, N = the sum of both; applies
    only where share is set (not NaN) and both parts are present."""
    total = real_total + synthetic_total
    applies = (real_total > 0) & (synthetic_total > 0) & ~jnp.isnan(share)
    real = jnp.where(applies, share * total / jnp.where(applies, real_total, 1.0), 1.0)
    synthetic = jnp.where(applies, (1 - share) * total / jnp.where(applies, synthetic_total, 1.0), 1.0)
    return real, synthetic, applies


class Pool(eqx.Module):
    """A fixed-capacity buffer of rows and their bookkeeping (leading axis: capacity)."""

    rows: Any
    valid: Bool[Array, " capacity"]
    weight: Float[Array, " capacity"]
    origin: Int[Array, " capacity"]
    real: Bool[Array, " capacity"]
    score: Float[Array, " capacity"]
    count: Int[Array, ""]  # rows written so far (the write position of pooled regimes)


class TrainingSet(eqx.Module):
    """What a fit sees: rows (leading axis m: the pool's capacity or the batch) and per row its
    weight (0: not a training row), provenance, generation of origin and selection score."""

    rows: Any
    weight: Float[Array, " m"]
    real: Bool[Array, " m"]
    origin: Int[Array, " m"]
    score: Float[Array, " m"]


@dataclass(frozen=True)
class Statistics:
    """A model's sufficient statistics: how a batch of rows is summarised and how summaries merge.

    summarize(rows, weights, hp) -> S   weighted summary of rows [m, ...] (weights [m], 0 = absent)
    merge(a, b) -> S                    the summary of both batches
    scale(S, w) -> S                    the summary with every row's weight multiplied by w
    fit(key, S, previous, hp) -> theta  the fit to a summary
    draw(key, theta, count, hp) -> S    optional: the summary of ``count`` (traced) rows of theta,
                                        drawn directly (an exact sampler; default: draw rows and
                                        summarise them)
    size(S) -> scalar                   optional: the total weight of the rows summarised
                                        (real_share needs it; default: ``S.count``)
    """

    summarize: Callable
    merge: Callable
    fit: Callable
    scale: Callable | None = None
    draw: Callable | None = None
    size: Callable | None = None

    def total(self, summary) -> Array:
        return self.size(summary) if self.size is not None else summary.count


class DataLoop(eqx.Module):
    """The static structure of the loop for a group of grid points compiled together."""

    capacity: int = eqx.field(static=True)  # rows a pool holds
    batch: int = eqx.field(static=True)  # rows drawn per generation (the largest n_t)
    pooled: bool = eqx.field(static=True)  # some point keeps rows beyond a generation
    mixes: bool = eqx.field(static=True)  # some point draws fresh real rows after generation 0
    accumulates: bool = eqx.field(static=True)  # some point accumulates (statistics: merges its pool)
    subsamples: bool = eqx.field(static=True)  # some point subsamples the pool
    whole_pool: bool = eqx.field(static=True)  # some point trains on the whole pool (accumulate, window)
    selects: bool = eqx.field(static=True)  # some point selects by score
    weighs: bool = eqx.field(static=True)  # some point weighs real rows unlike synthetic ones (real_weight)
    shares: bool = eqx.field(static=True)  # some point sets the real rows' total weight (real_share)
    retains: bool = eqx.field(static=True)  # some point re-uses one real sample (mix-retained)
    choices: int = eqx.field(static=True, default=1)  # candidates per synthetic row (select=choice: max choice_k)
    verifies: bool = eqx.field(static=True, default=False)  # some point keeps rows by a verifier

    @classmethod
    def build(cls, configs: list[dict[str, Any]]) -> "DataLoop":
        batch = max(int(np.max(c["n"])) for c in configs)
        pooled = any(c["regime"] in POOLED for c in configs)
        capacity = max(int(np.sum(c["n"])) for c in configs) + batch if pooled else batch
        return cls(
            capacity=capacity,
            batch=batch,
            pooled=pooled,
            mixes=any(c["regime"] in MIXING for c in configs),
            accumulates=any(c["regime"] == "accumulate" for c in configs),
            subsamples=any(c["regime"] == "accumulate-subsample" for c in configs),
            whole_pool=any(c["regime"] in ("accumulate", "window") for c in configs),
            selects=any(c.get("select", "none") != "none" for c in configs),
            weighs=any(np.any(np.asarray(c["real_weight"]) != 1.0) for c in configs),
            shares=any(c.get("real_share") is not None for c in configs),
            retains=any(c["regime"] == "mix-retained" for c in configs),
            choices=max([int(np.max(c.get("choice_k", 1))) for c in configs if c.get("select") == "choice"], default=1),
            verifies=any(c.get("select") == "verify" for c in configs),
        )

    @property
    def candidates(self) -> int:
        """Synthetic rows to draw per generation: ``choices`` candidates for each of ``batch`` rows."""
        return self.choices * self.batch

    @property
    def parts(self) -> bool:
        """Statistics keep the real and synthetic parts apart (to weigh or re-use the real one)."""
        return self.weighs or self.shares or self.retains

    @staticmethod
    def static_key(config: dict[str, Any], statistics: bool = False) -> tuple:
        """What must be equal for grid points to share a compile. Statistics (replace, mix,
        accumulate without selection) all share one; rows compile by the view a fit sees (a
        batch of rows, or the whole pool) and by the pool's size, so no point pays for another's
        padding: replace and mix share one, accumulate-subsample one, accumulate and window one."""
        regime = config["regime"]
        if statistics and regime not in ROW_REGIMES and config.get("select", "none") == "none":
            return ("statistics",)
        view = "pool" if regime in ("accumulate", "window") else "batch"
        return ("rows", view, int(np.sum(config["n"])) if regime in POOLED else None)

    # ---- rows ---------------------------------------------------------------------------------
    def start(self, rows, n0, scores=None) -> Pool:
        """Generation 0: the first n0 of ``batch`` real rows."""
        index = jnp.arange(self.capacity)
        padded = jax.tree.map(lambda x: jnp.zeros((self.capacity,) + x.shape[1:], x.dtype).at[: x.shape[0]].set(x), rows)
        dtype = jax.tree.leaves(rows)[0].dtype
        dtype = dtype if jnp.issubdtype(dtype, jnp.floating) else jnp.float32
        score = jnp.zeros(self.capacity, dtype) if scores is None else jnp.zeros(self.capacity, scores.dtype).at[: scores.shape[0]].set(scores)
        valid = index < n0
        return Pool(padded, valid, valid.astype(score.dtype), jnp.zeros(self.capacity, jnp.int32), valid, score,
                    jnp.asarray(n0, jnp.int32))

    def rescore(self, pool: Pool, scores: Float[Array, " capacity"]) -> Pool:
        return eqx.tree_at(lambda p: p.score, pool, scores.astype(pool.score.dtype))

    def curate(self, key, sample: Callable, score: Callable, t, lp):
        """The generation's ``batch`` synthetic rows: ``sample(key, size)`` draws ``size`` rows of
        the model; under select=choice each row is the choice among choice_k_t candidates rated by
        ``score(rows)`` (``choose``), else the rows as drawn."""
        if self.choices == 1:
            return sample(key, self.batch)
        k_draw, k_choose = jax.random.split(key)
        candidates = sample(k_draw, self.candidates)
        return self.choose(k_choose, candidates, score(candidates), t, lp)

    def choose(self, key, candidates, scores, t, lp):
        """select=choice: the ``batch`` synthetic rows, each the Luce choice among choice_k_t of the
        ``candidates`` rows [choices x batch, ...] (candidate k of row i is row k x batch + i): the
        argmax of score + Gumbel noise over k < choice_k_t, which picks k with probability
        exp(score_k) / sum_j exp(score_j). A grid point with another policy, and generation 0
        (real rows, drawn by the start model), take candidate 0."""
        if self.choices == 1:
            return candidates
        scores = jnp.reshape(scores, (self.choices, self.batch))
        perturbed = jnp.where(jnp.arange(self.choices)[:, None] < lp["choice_k"][t],
                              scores + jax.random.gumbel(key, scores.shape, scores.dtype), -jnp.inf)
        chosen = jnp.where((lp["select"] == CHOICE) & (t > 0), jnp.argmax(perturbed, axis=0), 0)
        index = chosen * self.batch + jnp.arange(self.batch)
        return jax.tree.map(lambda x: x[index], candidates)

    def empty(self, rows) -> Pool:
        """The pool before generation 0 (no row valid), for rows shaped like ``rows`` [batch, ...]
        (arrays or ``jax.ShapeDtypeStruct``)."""
        return self.start(_zeros(rows), 0)

    def add(self, pool: Pool, key, t, lp, synthetic, real=None, score: Callable | None = None,
            verify: Callable | None = None) -> Pool:
        """Generation t's rows enter the pool: r_t real rows first, then synthetic ones, each
        synthetic row filtered by the selection policy. ``synthetic`` and ``real`` are rows
        [batch, ...]; ``score(rows)`` [batch] rates the generation's rows (stored with them);
        ``verify(rows)`` [batch] is each row's acceptance probability under select=verify.
        At t = 0 the pool is ``empty`` and ``synthetic`` holds generation 0's rows, drawn by the
        start model (the truth): they are stored as real and never filtered."""
        n_t = lp["n"][t]
        regime = lp["regime"]
        index = jnp.arange(self.batch)
        n_real = real_count(regime, lp["alpha"][t], n_t) if self.mixes else jnp.zeros((), n_t.dtype)
        if self.retains:  # from t = 2 on, the retained rows are where the last generation wrote them
            kept_rows = jax.tree.map(lambda x: x[: self.batch], pool.rows)
            real = _where((regime == RETAINED) & (t > 1) & jnp.ones(self.batch, bool), kept_rows, real)
        rows = _where(index < n_real, real, synthetic) if self.mixes else synthetic
        # generation 0 (into an ``empty`` pool): every row is real, drawn by the start model
        is_real = (index < n_real) | (t == 0)
        drawn = index < n_t
        scores = jnp.zeros(self.batch, pool.score.dtype) if score is None else score(rows)
        kept = drawn
        if self.verifies and verify is None:
            raise ValueError("DataLoop.add: a grid point selects by select=verify, but no verifier was passed")
        if self.selects:
            accept = verify(rows) if self.verifies else None
            kept = drawn & (is_real | self._keep(key, scores, drawn & ~is_real, lp, t, accept))
        start = jnp.where((regime == REPLACE) | _mixing(regime), 0, pool.count) if self.pooled else 0
        write = lambda buffer, new: jax.lax.dynamic_update_slice_in_dim(buffer, new, start, 0)  # noqa: E731
        # rows past n_t are written too (a static slice) but stay invalid; later rows overwrite them
        return Pool(
            jax.tree.map(write, pool.rows, rows),
            write(pool.valid, kept),
            write(pool.weight, kept.astype(pool.weight.dtype)),
            write(pool.origin, jnp.full(self.batch, t, jnp.int32)),
            write(pool.real, is_real),
            write(pool.score, scores.astype(pool.score.dtype)),
            (start + n_t).astype(jnp.int32),
        )

    def _keep(self, key, scores, candidates, lp, t, accept=None):
        """The selection policy on the generation's synthetic candidates (boolean [batch]); choice
        keeps every row (``choose`` has already chosen them)."""
        policy = lp["select"]
        # top: the round(q m) best of the m candidates (ties broken by position)
        ranked = jnp.argsort(jnp.where(candidates, -scores, jnp.inf), stable=True)
        rank = jnp.zeros(self.batch, jnp.int32).at[ranked].set(jnp.arange(self.batch, dtype=jnp.int32))
        quota = jnp.round(lp["select_fraction"][t] * jnp.sum(candidates))
        top = rank < quota
        threshold = scores >= lp["select_threshold"][t]
        uniform = jax.random.uniform(key, scores.shape, scores.dtype)
        sample = uniform < jnp.clip(scores, 0.0, 1.0)
        verified = uniform < jnp.clip(accept, 0.0, 1.0) if accept is not None else jnp.ones_like(candidates)
        # under accumulate-subsample, top ranks the whole pool instead (``training_weights``)
        top = top | (lp["regime"] == SUBSAMPLE)
        return jnp.select([policy == TOP, policy == THRESHOLD, policy == SAMPLE, policy == VERIFY],
                          [top, threshold, sample, verified], jnp.ones_like(candidates))

    def training_set(self, pool: Pool, key, t, lp) -> "TrainingSet":
        """Generation t's training rows and their weights (0: not in the training set).

        The view is static: the whole pool where some grid point of the group accumulates or keeps
        a window (weights select the rows), else ``batch`` rows: the generation's own rows under
        replace and mix, the subsample's rows (gathered) under accumulate-subsample. At generation 0
        (``t`` the Python int 0) the pool holds only the n_0 real rows, the subsample of n_0 of them
        is all of them, and the gathered view is those rows in place (no ranking is compiled)."""
        regime = lp["regime"]
        eligible = pool.valid
        if self.pooled:
            current = pool.origin == t
            recent = pool.origin > t - lp["window"]
            eligible = eligible & jnp.select([(regime == REPLACE) | _mixing(regime), regime == WINDOW],
                                             [current, recent], jnp.ones_like(current))
        if self.whole_pool:
            take_rows = lambda x: x  # noqa: E731
            if self.subsamples:
                chosen, take = self._subsample(pool, key, eligible, t, lp)
                eligible = jnp.where(regime == SUBSAMPLE, jnp.zeros_like(eligible).at[chosen].set(take), eligible)
        elif self.subsamples and not (isinstance(t, int) and t == 0):
            chosen, take = self._subsample(pool, key, eligible, t, lp)
            subsample = regime == SUBSAMPLE
            index = jnp.where(subsample, chosen, jnp.arange(self.batch))
            take_rows = lambda x: x[index]  # noqa: E731
            eligible = jnp.where(subsample, take, eligible[: self.batch])
        else:
            take_rows = lambda x: x[: self.batch]  # noqa: E731
            eligible = eligible[: self.batch]
        real, weight = take_rows(pool.real), take_rows(pool.weight)
        weight = jnp.where(eligible, weight, 0.0)
        if self.weighs:  # relative weights: generation 0 has no synthetic rows to weigh against
            weight = weight * jnp.where(real & (t > 0), lp["real_weight"][t], 1.0).astype(weight.dtype)
        if self.shares:
            on_real, on_synthetic, _ = share_factors(lp["real_share"][t], jnp.sum(jnp.where(real, weight, 0.0)),
                                                      jnp.sum(jnp.where(real, 0.0, weight)))
            weight = weight * jnp.where(real, on_real, on_synthetic).astype(weight.dtype)
        return TrainingSet(jax.tree.map(take_rows, pool.rows), weight, real, take_rows(pool.origin),
                           take_rows(pool.score))

    def _subsample(self, pool: Pool, key, eligible, t, lp):
        """n_t of the eligible rows (indices [batch] and which of them count): uniformly (the n_t
        largest Gumbel keys), or the n_t best-scored under select=top."""
        ranking = jax.random.gumbel(key, (self.capacity,), pool.score.dtype)
        if self.selects:
            ranking = jnp.where(lp["select"] == TOP, pool.score, ranking)
        _, chosen = jax.lax.top_k(jnp.where(eligible, ranking, -jnp.inf), self.batch)
        return chosen, (jnp.arange(self.batch) < lp["n"][t]) & eligible[chosen]

    @staticmethod
    def composition(training: "TrainingSet") -> tuple[Array, Array]:
        """(rows in the training set, their real share)."""
        used = training.weight > 0
        size = jnp.sum(used)
        return size, jnp.sum(used & training.real) / jnp.maximum(size, 1)

    # ---- statistics ------------------------------------------------------------------------------
    def statistics_step(self, stats: Statistics, pool, key, t, lp, draw_synthetic, draw_real):
        """Generation t on summaries (regimes replace, mix, accumulate). Returns the new pool and
        the summary the model fits. At t = 0 ``draw_synthetic`` draws from the start model (the
        truth) and ``pool`` is a placeholder (``statistics_empty``): the n_0 rows are the real part.

        With pooled fitting (no point weighs or re-uses real rows) the pool is one summary, merged in
        the order rows would be pooled. Otherwise it is (real part, synthetic part): generation 0's
        real rows (mix: this generation's fresh ones; mix-retained: the sample drawn at t = 1) apart
        from the synthetic ones, so that the real part can be weighed at every fit (real_weight_t,
        or real_share_t with the synthetic part scaled too)."""
        n_t = lp["n"][t]
        regime = lp["regime"]
        first = jnp.asarray(t) == 0  # generation 0: all n_0 rows drawn by the start model (the truth), real
        k_synthetic, k_real = jax.random.split(key)
        n_real = real_count(regime, lp["alpha"][t], n_t) if self.mixes else jnp.zeros((), n_t.dtype)
        n_real = jnp.where(first, 0, n_real)
        batch = draw_synthetic(k_synthetic, n_t - n_real)
        accumulate = (regime == ACCUMULATE) & ~first
        if not self.parts:
            if self.mixes:
                batch = stats.merge(batch, draw_real(k_real, n_real))
            pool = _where(accumulate, stats.merge(pool, batch), batch) if self.accumulates else batch
            return pool, pool
        real, synthetic = pool
        synthetic = _where(accumulate, stats.merge(synthetic, batch), batch) if self.accumulates else batch
        if self.mixes:
            fresh = draw_real(k_real, n_real)
            if self.retains:
                fresh = _where((regime == RETAINED) & (t > 1), real, fresh)
            real = _where(_mixing(regime), fresh, real)
        fit_real, fit_synthetic = real, synthetic
        if self.weighs:
            fit_real = stats.scale(real, lp["real_weight"][t])
        if self.shares:
            on_real, on_synthetic, applies = share_factors(lp["real_share"][t], stats.total(real), stats.total(synthetic))
            fit_real = _where(applies, stats.scale(real, on_real), fit_real)
            fit_synthetic = _where(applies, stats.scale(synthetic, on_synthetic), synthetic)
        weighted = stats.merge(fit_synthetic, fit_real)
        fitted = _where(regime == REPLACE, synthetic, weighted)
        # generation 0: the batch is the real part (fitted alone), the synthetic part is empty
        real, synthetic = _where(first, batch, real), _where(first, stats.scale(batch, 0.0), synthetic)
        return (real, synthetic), _where(first, batch, fitted)

    @staticmethod
    def statistics_composition(t, lp) -> tuple[Array, Array]:
        """(rows in the training set, their real share) of the summary fitted at generation t."""
        n, regime = lp["n"], lp["regime"]
        pooled = jnp.cumsum(n)[t]
        size = jnp.where(regime == ACCUMULATE, pooled, n[t])
        real = jnp.where(regime == ACCUMULATE, n[0], real_count(regime, lp["alpha"][t], n[t]))
        real = jnp.where(t == 0, n[0], real)
        return size, real / size

    def statistics_empty(self, summary):
        """The pool before generation 0, for summaries shaped like ``summary`` (zeros: a
        placeholder that generation 0 replaces)."""
        blank = _zeros(summary)
        return (blank, blank) if self.parts else blank
