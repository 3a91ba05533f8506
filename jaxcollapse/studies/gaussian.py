"""``gaussian``: recursive Gaussian MLE, the classic setting of model collapse.

Generation 0 fits N(mu, Sigma) to ``n0`` real samples of the truth N(0, diag(cov)); each
generation t >= 1 forms its training data by the shared data loop (``engine.data``: replace,
mix, accumulate, accumulate-subsample, window; ``real_weight``) from ``n_t`` samples of the
previous fit and refits. replace, mix and accumulate run on sufficient statistics (the exact
sampler draws them directly, cost flat in n); accumulate-subsample and window keep the rows. Covariance MLE divides by ``count - ddof``
(ddof=0 as in Shumailov et al.'s notebook and Kazdan et al.'s code; ddof=1 as in Xu et al.).

Metrics (arrays over t = 0..T):
  mean_sq_error  ||mu_t - mu*||^2
  var            tr(Sigma_t)/dim
  log_det_ratio  log det Sigma_t - log det Sigma*  (-inf when n <= dim: Sigma_t singular)
  degenerate     1 if Sigma_t is singular or non-finite (its mean is the fraction of seeds)

Closed forms (``theory``), exact for any schedules, at real_weight 1 (none for
accumulate-subsample and window); derivations in docs/studies/gaussian.md:
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

from ..engine.data import DataLoop, Statistics, loop_numeric, loop_params
from ..engine.params import ConfigError, Param, fill_initial_size
from ..engine.study import Check, Study, float_dtype
from ..models import gaussian as family
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


def statistics(sampler: str, dim: int, n_max: int) -> Statistics:
    """The Gaussian's sufficient statistics for the data loop: summaries of rows, Chan et al.'s
    merge, weights by scaling, and a direct draw of a batch's statistics (``exact``: Bartlett's
    Wishart factor, cost flat in n; ``explicit``: n_max standard rows, masked) pushed forward
    through the model."""

    def draw(key, model, count, hp):
        (z,) = family.standard_batches(key, (count,), dim, sampler, n_max, float_dtype())
        return family.push_forward(z, model)

    return Statistics(
        summarize=lambda rows, weights, hp: family.stats_from_samples(rows, weights),
        merge=family.merge,
        scale=family.scale,
        fit=lambda key, stats, previous, hp: family.fit(stats, hp["ddof"]),
        draw=draw,
    )


@register_study
class GaussianStudy(Study):
    name = "gaussian"
    description = "Recursive Gaussian MLE under replace / mix / accumulate / accumulate-subsample / window"
    params = (
        Param("dim", "dimension d", 1, kind="int", static=True, low=1, high=4096),
        *loop_params(n=100, select=False),
        Param("sampler", "exact (sufficient statistics) or explicit (every sample)", "exact", kind="choice", static=True, choices=("exact", "explicit")),
        Param("ddof", "covariance divisor count - ddof (0 = MLE)", 0, kind="int", low=0, high=1),
        Param("cov", "true covariance: identity, a variance, or dim variances", "identity", kind="vector", gridable=False),
    )
    metrics = ("mean_sq_error", "var", "log_det_ratio", "degenerate")
    metric_docs = {
        "mean_sq_error": "squared distance of the fitted mean from the true mean, ||mu_t - mu*||^2",
        "var": "fitted variance per coordinate, tr(Sigma_t)/dim (the truth's: the mean of cov)",
        "log_det_ratio": "log det Sigma_t - log det Sigma*; -inf when Sigma_t is singular (n <= dim)",
        "degenerate": "1 if the fitted covariance is singular or non-finite this generation, else 0",
    }
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
    loop: DataLoop
    rows: bool = eqx.field(static=True)  # the loop keeps rows (accumulate-subsample, window), else statistics
    full_rank: bool = eqx.field(static=True)  # every training set has more than dim rows (Cholesky of the Gram)

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
        loop = DataLoop.static_key(config, statistics=True)
        # In high dimension the accumulate merge (a QR of stacked d x d roots) dominates a
        # step: points that never accumulate compile without it (Kazdan d = 100: 8x faster).
        merges = config["regime"] == "accumulate" if config["dim"] >= MERGE_SPLIT_DIM else None
        sampler = config["sampler"] if loop[0] == "statistics" else None  # rows are always explicit
        return (config["dim"], sampler, loop, merges)

    @classmethod
    def build(cls, configs: list[dict[str, Any]], generations: int) -> "GaussianStudy":
        first = configs[0]
        loop = DataLoop.build(configs)
        rows = DataLoop.static_key(first, statistics=True)[0] == "rows"
        return cls(dim=first["dim"], sampler=first["sampler"], loop=loop, rows=rows,
                   full_rank=rows and min(int(np.min(c["n"])) for c in configs) > first["dim"])

    def numeric(self, config: dict[str, Any]) -> dict[str, np.ndarray]:
        return {
            "loop": loop_numeric(config),
            "ddof": np.float64(config["ddof"]),
            "spectrum": np.asarray(config["cov"], np.float64),
        }

    def bytes_per_seed(self) -> int:
        dim, item = self.dim, np.dtype(float_dtype()).itemsize
        explicit = self.rows or self.sampler == "explicit"
        rows = self.loop.batch if explicit else 1
        return item * (4 * rows * dim + (2 * self.loop.capacity * dim if self.rows else 0) + 16 * dim * dim + 64)

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

    @property
    def _statistics(self) -> Statistics:
        return statistics(self.sampler, self.dim, self.loop.batch)

    def _fit_rows(self, training, params) -> family.GaussianModel:
        return family.fit(family.stats_from_samples(training.rows, training.weight, self.full_rank), params["ddof"])

    def init(self, key, params):
        truth, lp = self._truth_model(params), params["loop"]
        n0 = lp["n"][0]
        if self.rows:
            k_real, k_subsample = jax.random.split(key)
            pool = self.loop.start(family.sample(k_real, truth, self.loop.batch), n0)
            model = self._fit_rows(self.loop.training_set(pool, k_subsample, 0, lp), params)
            return (model, pool), self._measure(model, params)
        stats = self._statistics
        pool, train = self.loop.statistics_start(stats, stats.draw(key, truth, n0, None))
        model = family.fit(train, params["ddof"])
        return (model, pool), self._measure(model, params)

    def step(self, state, key, t, params):
        model, pool = state
        lp = params["loop"]
        if self.rows:
            k_sample, k_real, k_select, k_subsample = jax.random.split(key, 4)
            real = family.sample(k_real, self._truth_model(params), self.loop.batch) if self.loop.mixes else None
            pool = self.loop.add(pool, k_select, t, lp, family.sample(k_sample, model, self.loop.batch), real)
            new = self._fit_rows(self.loop.training_set(pool, k_subsample, t, lp), params)
            return (new, pool), self._measure(new, params)
        stats = self._statistics
        truth = self._truth_model(params)
        pool, train = self.loop.statistics_step(
            stats, pool, key, t, lp,
            lambda k, count: stats.draw(k, model, count, None),
            lambda k, count: stats.draw(k, truth, count, None),
        )
        new = family.fit(train, params["ddof"])
        return (new, pool), self._measure(new, params)

    # ---- closed forms -------------------------------------------------------------------------
    @classmethod
    def theory(cls, config: dict[str, Any], generations: int) -> dict[str, np.ndarray]:
        regime = config["regime"]
        if regime in ("accumulate-subsample", "window") or np.any(np.asarray(config.get("real_weight", 1.0)) != 1):
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


def kazdan_figure(result, out_dir) -> list[Figure]:
    """Kazdan et al.'s layout: rows = dim, columns = regime, one line per n. Saved as
    kazdan_<metric>.<fmt>; returns the two Figures."""
    from ..plot import grid_figure, save_figure

    figures = []
    for metric in ("mean_sq_error", "var"):
        fig = grid_figure(result, metric, rows="dim", cols="regime", lines="n", log_y=True)
        save_figure(fig, f"{out_dir}/kazdan_{metric}.png")
        figures.append(fig)
    return figures


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
