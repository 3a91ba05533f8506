"""``gaussian``: recursive Gaussian MLE, the classic setting of model collapse.

Generation 0 fits N(mu, Sigma) to ``n0`` real samples of the truth N(0, diag(cov)); each
generation t >= 1 forms its training data by the regime (see ``jaxcollapse.regimes``) from
``n_t`` samples of the previous fit and refits. Covariance MLE divides by ``count - ddof``
(ddof=0 as in Shumailov et al.'s notebook and Kazdan et al.'s code; ddof=1 as in Xu et al.).

Metrics (arrays over t = 0..T):
  mean_sq_error  ||mu_t - mu*||^2
  var            tr(Sigma_t)/dim
  log_det_ratio  log det Sigma_t - log det Sigma*  (-inf when n <= dim: Sigma_t singular)
  degenerate     1 if Sigma_t is singular or non-finite (its mean is the fraction of seeds)

Closed forms (``theory``), exact for any schedules; derivations in the README:
  replace / mix, with r = round(alpha n) real and s = n - r synthetic samples:
    e_t = (s/n)^2 e_{t-1} + r/n^2 tr* + s/n^2 v_{t-1}
    S_t = [r-1]+ tr* + [s-1]+ v_{t-1} + 1{r,s>0} (rs/n e_{t-1} + s/n tr* + r/n v_{t-1})
  accumulate, pool size N_t = N_{t-1} + n_t:
    e_t = e_{t-1} + n_t/N_t^2 v_{t-1},   S_t = S_{t-1} + (n_t - 1 + N_{t-1}/N_t) v_{t-1}
  with e = E mean_sq_error, v_t = E tr Sigma_t = S_t/(N_t - ddof), e_0 = tr*/n0,
  S_0 = (n0 - 1) tr*. Replace reduces to E var_t = var* prod_k (n_k-1)/(n_k-ddof) and
  e_t = e_{t-1} + v_{t-1}/n_t. While every fit is purely synthetic (and at t = 0):
    E log_det_ratio_t = sum_{k<=t} sum_{i=1..d} [psi((n_k - i)/2) + log 2 - log(n_k - ddof)]
  (Kazdan et al.'s E log det; Xu et al.'s digamma oracle for d = 1, ddof = 1).
"""

from __future__ import annotations

from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from scipy.special import digamma

from .. import regimes
from ..engine.params import ConfigError, Param, fill_initial_size
from ..engine.study import Check, Study, float_dtype
from ..families import gaussian as family
from .registry import Preset, register_preset, register_study


MERGE_SPLIT_DIM = 32  # from this dimension on, accumulate points compile apart from the rest


def parse_spectrum(raw: Any, dim: int) -> tuple[float, ...]:
    """``identity`` | a number (isotropic variance) | ``dim`` comma-separated variances."""
    if isinstance(raw, str) and raw.strip() == "identity":
        return (1.0,) * dim
    items = raw if isinstance(raw, (list, tuple, np.ndarray)) else str(raw).split(",")
    try:
        values = [float(v) for v in items]
    except ValueError:
        raise ConfigError(
            f"cov={raw}: must be 'identity', a variance, or {dim} comma-separated variances"
        ) from None
    if len(values) == 1:
        values = values * dim
    if len(values) != dim or not all(np.isfinite(v) and v > 0 for v in values):
        raise ConfigError(f"cov={raw}: must be 'identity', a variance, or {dim} positive variances")
    return tuple(values)


@register_study
class GaussianStudy(Study):
    name = "gaussian"
    description = "Recursive Gaussian MLE under replace / mix / accumulate / accumulate-subsample"
    params = (
        Param("dim", "dimension d", 1, kind="int", static=True, low=1, high=4096),
        Param("n", "samples per generation (schedule in t)", 100, kind="int", schedule=True, low=1),
        Param("n0", "real samples fitted at generation 0 (default: n at t=0)", None, kind="int", low=1),
        Param("alpha", "fresh real fraction under regime=mix (schedule)", 0.0, schedule=True, low=0.0, high=1.0),
        Param("regime", "training data of each generation", "replace", kind="choice", choices=regimes.REGIMES),
        Param("sampler", "exact (sufficient statistics) or explicit (every sample)", "exact", kind="choice", static=True, choices=("exact", "explicit")),
        Param("ddof", "covariance divisor count - ddof (0 = MLE)", 0, kind="int", low=0, high=1),
        Param("cov", "true covariance: identity, a variance, or dim variances", "identity", kind="vector", gridable=False),
    )
    metrics = ("mean_sq_error", "var", "log_det_ratio", "degenerate")
    checks = (
        Check("regimes", {"dim": 2, "n0": 20, "alpha": 0.3, "cov": "0.5,2"},
              {"regime": ["replace", "mix", "accumulate"], "n": ["20", "20*(t+1)"]}, seeds=20000, generations=8,
              key=13, quick_seeds=4000),
        Check("explicit-sampler", {"n0": 20, "alpha": 0.3, "sampler": "explicit"},
              {"regime": ["replace", "mix", "accumulate"], "n": ["20", "20*(t+1)"]}, seeds=20000, generations=8,
              key=12, quick=False),
        Check("xu-log-variance", {"n": 20, "ddof": 1}, metrics=("log_det_ratio",), seeds=20000, generations=100,
              key=3, quick=False),
    )

    dim: int = eqx.field(static=True)
    sampler: str = eqx.field(static=True)
    n_max: int = eqx.field(static=True)
    pool_capacity: int = eqx.field(static=True)
    mixes: bool = eqx.field(static=True)  # some grid point draws fresh real data (regime=mix)
    accumulates: bool = eqx.field(static=True)  # some grid point pools every batch (regime=accumulate)
    full_rank_pool: bool = eqx.field(static=True)  # every subsample has more than dim points

    # ---- host side: validation and structure -------------------------------------------
    @classmethod
    def check(cls, config: dict[str, Any], generations: int) -> dict[str, Any]:
        config = fill_initial_size(config)
        config["cov"] = parse_spectrum(config["cov"], config["dim"])
        low = 1 + config["ddof"]
        if np.any(config["n"] < low):
            raise ConfigError(f"n and n0 must be >= {low} with ddof={config['ddof']}")
        return config

    @classmethod
    def static_key(cls, config: dict[str, Any]) -> tuple:
        pooled = config["regime"] in regimes.NEEDS_POOL
        # A pool buffer's capacity grows with n: keep different n apart to avoid padding.
        size = int(np.sum(config["n"])) if pooled else None
        # In high dimension the accumulate merge (a QR of stacked d x d roots) dominates a
        # step: points that never accumulate compile without it (Kazdan d = 100: 8x faster).
        merges = config["regime"] == "accumulate" if config["dim"] >= MERGE_SPLIT_DIM else None
        return (config["dim"], config["sampler"], pooled, size, merges)

    @classmethod
    def build(cls, configs: list[dict[str, Any]], generations: int) -> "GaussianStudy":
        first = configs[0]
        n_max = max(int(np.max(c["n"])) for c in configs)
        pooled = first["regime"] in regimes.NEEDS_POOL
        capacity = max(int(np.sum(c["n"])) for c in configs) + n_max
        explicit = first["sampler"] == "explicit" or pooled
        return cls(
            dim=first["dim"],
            sampler=first["sampler"],
            n_max=n_max if explicit else 1,
            pool_capacity=capacity if pooled else 0,
            mixes=any(c["regime"] == "mix" for c in configs),
            accumulates=any(c["regime"] == "accumulate" for c in configs),
            full_rank_pool=pooled and min(int(np.min(c["n"])) for c in configs) > first["dim"],
        )

    def numeric(self, config: dict[str, Any]) -> dict[str, np.ndarray]:
        return {
            "n": np.asarray(config["n"], np.int32),
            "alpha": np.asarray(config["alpha"], np.float64),
            "regime": np.int32(regimes.code(config["regime"])),
            "ddof": np.float64(config["ddof"]),
            "spectrum": np.asarray(config["cov"], np.float64),
        }

    def bytes_per_seed(self) -> int:
        dim, item = self.dim, np.dtype(float_dtype()).itemsize
        return item * (4 * self.n_max * dim + 2 * self.pool_capacity * dim + 16 * dim * dim + 64)

    @classmethod
    def truth(cls, config: dict[str, Any]) -> dict[str, Any]:
        return {"mean": [0.0] * config["dim"], "cov_spectrum": list(config["cov"])}

    # ---- traced side ----------------------------------------------------------------------
    def _truth_model(self, params) -> family.GaussianModel:
        spectrum = params["spectrum"]
        return family.GaussianModel(
            jnp.zeros_like(spectrum), jnp.diag(jnp.sqrt(spectrum)), jnp.sum(jnp.log(spectrum))
        )

    def _measure(self, model: family.GaussianModel, params) -> dict[str, jax.Array]:
        log_det_ratio = model.log_det - jnp.sum(jnp.log(params["spectrum"]))
        finite = jnp.isfinite(log_det_ratio) & jnp.all(jnp.isfinite(model.factor))
        return {
            "mean_sq_error": jnp.sum(model.mean**2),
            "var": jnp.sum(model.factor**2) / self.dim,
            "log_det_ratio": log_det_ratio,
            "degenerate": 1.0 - finite.astype(model.mean.dtype),
        }

    def _batches(self, key, counts):
        return family.standard_batches(
            key, counts, self.dim, self.sampler, self.n_max, float_dtype()
        )

    def init(self, key, params):
        truth = self._truth_model(params)
        n0 = params["n"][0]
        if self.pool_capacity:
            points = family.sample(key, truth, self.pool_capacity)
            weight = (jnp.arange(self.pool_capacity) < n0).astype(points.dtype)
            model = family.fit(family.stats_from_samples(points, weight), params["ddof"])
            state = (model, points, n0)
        else:
            (real,) = self._batches(key, (n0,))
            pool = family.push_forward(real, truth)
            model = family.fit(pool, params["ddof"])
            state = (model, pool)
        return state, self._measure(model, params)

    def step(self, state, key, t, params):
        if self.pool_capacity:
            return self._step_subsample(state, key, t, params)
        model, pool = state
        n_t = params["n"][t]
        n_real = regimes.real_count(params["regime"], params["alpha"][t], n_t)
        if self.mixes:
            synthetic_z, real_z = self._batches(key, (n_t - n_real, n_real))
            batch = family.merge(
                family.push_forward(synthetic_z, model),
                family.push_forward(real_z, self._truth_model(params)),
            )
        else:  # no grid point mixes: skip drawing an always-empty real batch
            (synthetic_z,) = self._batches(key, (n_t,))
            batch = family.push_forward(synthetic_z, model)
        accumulate = params["regime"] == regimes.ACCUMULATE
        if self.accumulates:  # otherwise skip the merge (a QR of the stacked roots)
            pool = jax.tree.map(lambda old, new: jnp.where(accumulate, old, new), family.merge(pool, batch), batch)
        else:
            pool = batch
        new = family.fit(pool, params["ddof"])
        # Purely synthetic refit: update log det in the standard frame (exact, no underflow).
        exact_log_det = (
            model.log_det
            + family.log_det_of_root(synthetic_z.root)
            - self.dim * jnp.log(n_t - params["ddof"])
        )
        synthetic_only = (n_real == 0) & ~accumulate
        new = eqx.tree_at(
            lambda m: m.log_det, new, jnp.where(synthetic_only, exact_log_det, new.log_det)
        )
        return (new, pool), self._measure(new, params)

    def _step_subsample(self, state, key, t, params):
        model, points, count = state
        k_sample, k_select = jax.random.split(key)
        n_t = params["n"][t]
        fresh = family.sample(k_sample, model, self.n_max)
        points = jax.lax.dynamic_update_slice(points, fresh, (count, 0))
        count = count + n_t
        rows = jnp.arange(self.pool_capacity)
        gumbel = jax.random.gumbel(k_select, (self.pool_capacity,), points.dtype)
        _, chosen = jax.lax.top_k(jnp.where(rows < count, gumbel, -jnp.inf), self.n_max)
        weight = (jnp.arange(self.n_max) < n_t).astype(points.dtype)
        subset = family.stats_from_samples(points[chosen], weight, self.full_rank_pool)
        new = family.fit(subset, params["ddof"])
        return (new, points, count), self._measure(new, params)

    # ---- closed forms -------------------------------------------------------------------------
    @classmethod
    def theory(cls, config: dict[str, Any], generations: int) -> dict[str, np.ndarray]:
        regime = config["regime"]
        if regime in regimes.NEEDS_POOL:
            return {}
        spectrum = np.asarray(config["cov"], np.float64)
        dim, trace, ddof = len(spectrum), float(np.sum(spectrum)), config["ddof"]
        n = np.asarray(config["n"], np.float64)
        alpha = np.asarray(config["alpha"], np.float64)
        err = np.empty(generations + 1)
        tr_sigma = np.empty(generations + 1)
        log_det = np.full(generations + 1, np.nan)
        err[0], scatter, pool = trace / n[0], (n[0] - 1) * trace, n[0]
        tr_sigma[0] = scatter / (pool - ddof)
        i = np.arange(1, dim + 1)

        def log_det_increment(size):
            if size <= dim:
                return -np.inf
            return float(np.sum(digamma((size - i) / 2) + np.log(2) - np.log(size - ddof)))

        log_det[0] = log_det_increment(n[0])
        for t in range(1, generations + 1):
            v, size = tr_sigma[t - 1], n[t]
            if regime == "accumulate":
                new_pool = pool + size
                err[t] = err[t - 1] + size / new_pool**2 * v
                scatter = scatter + (size - 1 + pool / new_pool) * v
                pool = new_pool
            else:
                real = np.round(alpha[t] * size) if regime == "mix" else 0.0
                synth = size - real
                both = real > 0 and synth > 0
                err[t] = (synth / size) ** 2 * err[t - 1] + (real * trace + synth * v) / size**2
                scatter = max(real - 1, 0) * trace + max(synth - 1, 0) * v
                if both:
                    scatter += (real * synth * err[t - 1] + synth * trace + real * v) / size
                pool = size
                if real == 0:
                    log_det[t] = log_det[t - 1] + log_det_increment(size)
            tr_sigma[t] = scatter / (pool - ddof)
        return {"mean_sq_error": err, "var": tr_sigma / dim, "log_det_ratio": log_det}


# ---- presets ---------------------------------------------------------------------------------


def kazdan_figure(result, out_dir) -> None:
    """Kazdan et al.'s layout: rows = dim, columns = regime, one line per n."""
    import matplotlib.pyplot as plt

    from ..plot import save_grid_figure

    for metric in ("mean_sq_error", "var"):
        save_grid_figure(result, metric, rows="dim", cols="regime", lines="n",
                         path=f"{out_dir}/kazdan_{metric}.png", log_y=True)
    plt.close("all")


register_preset(Preset(
    name="shumailov-gaussian",
    study="gaussian",
    description="Shumailov et al.: 1-D Gaussian refitted (ddof=0) for 1000 generations, M in {100..10000}",
    settings={"dim": 1, "ddof": 0},
    grids={"n": [100, 500, 1000, 10000], "regime": ["replace", "accumulate"]},
    seeds=1000,
    generations=1000,
    quick={"seeds": 200, "generations": 50, "grids": {"n": [100, 1000], "regime": ["replace", "accumulate"]}},
))

register_preset(Preset(
    name="kazdan-grid",
    study="gaussian",
    description="Kazdan et al.'s full grid: dim x n x {replace, accumulate, accumulate-subsample}, 100 seeds x 100 iterations",
    settings={"ddof": 0},
    grids={
        "n": [10, 32, 100, 316, 1000],
        "dim": [1, 3, 10, 31, 100],
        "regime": ["replace", "accumulate", "accumulate-subsample"],
    },
    seeds=100,
    generations=100,
    quick={
        "seeds": 20,
        "generations": 20,
        "grids": {"n": [10, 32, 100], "dim": [1, 3], "regime": ["replace", "accumulate", "accumulate-subsample"]},
    },
    figure=kazdan_figure,
))

register_preset(Preset(
    name="xu-schedules",
    study="gaussian",
    description="Xu, He & Cheng: unbiased (ddof=1) refits, n0=100, constant / linear / superlinear n_t",
    settings={"dim": 1, "ddof": 1, "n0": 100},
    grids={"n": ["100", "100*(t+1)", "100*(t+1)**1.5", "100*(t+1)**2"]},
    seeds=10000,
    generations=1000,
    quick={"seeds": 1000, "generations": 100},
))
