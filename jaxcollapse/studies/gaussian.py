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

import dataclasses
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from scipy.special import digamma

from ..engine.data import DataLoop, Statistics, check_loop, loop_numeric, loop_params, pooled_fit
from ..engine.params import ConfigError, Param, fill_initial_size
from ..engine.study import Check, Study, float_dtype
from ..models import gaussian as family
from .registry import Preset, register_preset, register_study


MERGE_SPLIT_DIM = 32  # from this dimension on, accumulate points compile apart from the rest
WEIGHTINGS = ("rows", "estimates")


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
    description = "Recursive Gaussian MLE under replace / mix / mix-retained / accumulate / accumulate-subsample / window"
    params = (
        Param("dim", "dimension d", 1, kind="int", static=True, low=1, high=4096),
        *loop_params(n=100, select=False),
        Param("sampler", "exact (sufficient statistics) or explicit (every sample)", "exact", kind="choice", static=True, choices=("exact", "explicit")),
        Param("ddof", "covariance divisor count - ddof (0 = MLE)", 0, kind="int", low=0, high=1),
        Param("cov", "true covariance: identity, a variance, or dim variances", "identity", kind="vector", gridable=False),
        Param("weighting", "how real_share weighs the real part: rows (one weighted fit, the data loop's) or "
              "estimates (w x the real rows' fit + (1 - w) x the synthetic rows' fit, mean and covariance: He, Xu & "
              "Cheng's code)", "rows", kind="choice", choices=WEIGHTINGS),
    )
    metrics = ("mean_sq_error", "var", "log_det_ratio", "degenerate", "cov_error")
    metric_docs = {
        "mean_sq_error": "squared distance of the fitted mean from the true mean, ||mu_t - mu*||^2",
        "var": "fitted variance per coordinate, tr(Sigma_t)/dim (the truth's: the mean of cov)",
        "log_det_ratio": "log det Sigma_t - log det Sigma*; -inf when Sigma_t is singular (n <= dim)",
        "degenerate": "1 if the fitted covariance is singular or non-finite this generation, else 0",
        "cov_error": "squared Frobenius error of the fitted covariance, ||Sigma_t - Sigma*||_F^2",
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
    combines: bool = eqx.field(static=True, default=False)  # some point weighs the parts' fits (weighting=estimates)

    # ---- host side: validation and structure -------------------------------------------
    @classmethod
    def check(cls, config: dict[str, Any], generations: int) -> dict[str, Any]:
        check_loop(config)
        config = fill_initial_size(config)
        config["cov"] = parse_spectrum(config["cov"], config["dim"])
        low = 1 + config["ddof"]
        if np.any(config["n"] < low):
            raise ConfigError(f"n and n0 must be >= {low} with ddof={config['ddof']}")
        if config["weighting"] == "estimates" and (config.get("real_share") is None or config["regime"] != "mix"):
            raise ConfigError("weighting=estimates: combines the fits of fresh real and synthetic rows, so it needs "
                              f"real_share and regime=mix (got regime={config['regime']}, real_share="
                              f"{'unset' if config.get('real_share') is None else 'set'})")
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
                   full_rank=rows and min(int(np.min(c["n"])) for c in configs) > first["dim"],
                   combines=any(c["weighting"] == "estimates" for c in configs))

    def numeric(self, config: dict[str, Any]) -> dict[str, np.ndarray]:
        return {
            "loop": loop_numeric(config),
            "ddof": np.float64(config["ddof"]),
            "spectrum": np.asarray(config["cov"], np.float64),
            "weighting": np.int32(WEIGHTINGS.index(config["weighting"])),
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
            "cov_error": jnp.sum((model.factor @ model.factor.T - jnp.diag(params["spectrum"])) ** 2),
        }

    @property
    def _statistics(self) -> Statistics:
        return statistics(self.sampler, self.dim, self.loop.batch)

    def _fit_rows(self, training, params) -> family.GaussianModel:
        return family.fit(family.stats_from_samples(training.rows, training.weight, self.full_rank), params["ddof"])

    def start(self, key, params):
        """Generation 0 draws from the truth into an empty pool."""
        truth = self._truth_model(params)
        if self.rows:
            return truth, self.loop.empty(jax.ShapeDtypeStruct((self.loop.batch, self.dim), float_dtype()))
        one = jax.eval_shape(family.stats_from_samples, truth.mean[None], jnp.ones(1, truth.mean.dtype))
        return truth, self.loop.statistics_empty(one)

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
        if self.combines:  # He et al.: w x the real part's fit + (1 - w) x the synthetic part's
            real, synthetic = pool
            combined = family.combine(family.fit(real, params["ddof"]), family.fit(synthetic, params["ddof"]),
                                      lp["real_share"][t])
            use = (params["weighting"] == 1) & (real.count > 0) & (synthetic.count > 0)
            new = jax.tree.map(lambda a, b: jnp.where(use, a, b), combined, new)
        return (new, pool), self._measure(new, params)

    # ---- closed forms -------------------------------------------------------------------------
    @classmethod
    def theory(cls, config: dict[str, Any], generations: int) -> dict[str, np.ndarray]:
        regime = config["regime"]
        if config.get("weighting") == "estimates":  # other studies call this with configs of their own
            return estimates_theory(config, generations)
        if regime == "mix-retained" or (regime == "mix" and config.get("real_share") is not None):
            if np.any(np.asarray(config.get("real_weight", 1.0)) != 1):
                return {}
            return mixed_theory(config, generations)
        if regime in ("accumulate-subsample", "window") or not pooled_fit(config):
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
        out = {"mean_sq_error": err, "var": tr_sigma / dim, "log_det_ratio": log_det}
        if regime == "replace" and ddof == 1:  # unbiased refits: He et al.'s (F, G) recursion with w = 0
            out["cov_error"] = frobenius_theory(spectrum, n, np.zeros_like(n), np.zeros_like(n))
        return out


def mixed_theory(config: dict[str, Any], generations: int) -> dict[str, np.ndarray]:
    """Exact E mean_sq_error and E var under mix or mix-retained, pooled or with real_share.

    Generation t >= 1 fits r = round(alpha_t n_t) real rows and s = n_t - r rows of the last fit,
    the real part weighing w_t (real_share_t; r/n_t when unset or when r or s is 0). With
    b = xbar_R - mu (fresh: a new draw each t; retained: one draw, B = E||b||^2 = tr*/r),
    e = E||mu_t - mu||^2, V = E tr Sigma_t, c = E[b . (mu_t - mu)] (0 for fresh rows):
      e_t = w^2 B + (1-w)^2 (e_{t-1} + V_{t-1}/s) + 2 w (1-w) c_{t-1}
      c_t = w B + (1-w) c_{t-1}                              (retained; fresh: c_t = 0)
      V_t = [w n/r (r-1) tr* + (1-w) n/s (s-1) V_{t-1}
             + w (1-w) n (B + e_{t-1} - 2 c_{t-1} + V_{t-1}/s)] / (n - ddof)
    (the weighted scatter of the two parts, Chan's merge, with weights summing to n; each
    part's scatter has expectation (rows - 1) x its covariance's trace). Generation 0 fits n0
    real rows: e_0 = tr*/n0, V_0 = (n0 - 1) tr*/(n0 - ddof), c_0 = 0 (the retained rows are drawn
    at t = 1). Pooled (w = r/n) this is Bertrand et al.'s recursion (docs: bertrand-stability);
    with real_share it is He, Xu & Cheng's a_t for the mean, with the covariance of the
    row-weighted fit (their code combines the two parts' covariances instead: the same E
    tr Sigma at ddof 1 up to the between-part term w (1-w) n (...)/(n - 1))."""
    spectrum = np.asarray(config["cov"], np.float64)
    dim, trace, ddof = len(spectrum), float(np.sum(spectrum)), config["ddof"]
    n = np.asarray(config["n"], np.float64)
    alpha = np.broadcast_to(np.asarray(config["alpha"], np.float64), n.shape)
    share = config.get("real_share")
    share = None if share is None else np.broadcast_to(np.asarray(share, np.float64), n.shape)
    retained = config["regime"] == "mix-retained"
    err, var = np.empty(generations + 1), np.empty(generations + 1)
    err[0], var[0], cross = trace / n[0], (n[0] - 1) * trace / (n[0] - ddof), 0.0
    for t in range(1, generations + 1):
        size = n[t]
        r = np.round(alpha[t] * size)
        s = size - r
        w = r / size if share is None or r == 0 or s == 0 else share[t]
        b = trace / r if r > 0 else 0.0
        e, v, c = err[t - 1], var[t - 1], cross if retained else 0.0
        jitter = v / s if s > 0 else 0.0
        err[t] = w * w * b + (1 - w) ** 2 * (e + jitter) + 2 * w * (1 - w) * c
        scatter = (w * size / r * (r - 1) * trace if r > 0 else 0.0) + (
            (1 - w) * size / s * (s - 1) * v if s > 0 else 0.0) + w * (1 - w) * size * (b + e - 2 * c + jitter)
        var[t] = scatter / (size - ddof)
        cross = w * b + (1 - w) * c
    return {"mean_sq_error": err, "var": var / dim}


def frobenius_theory(spectrum, n, real, share) -> np.ndarray:
    """E ||Sigma_t - Sigma*||_F^2 of unbiased (ddof 1) fits Sigma_t = w R + (1 - w) S, R the
    covariance of ``real``_t fresh real rows and S of the other n_t - real_t rows drawn from the
    last fit (He, Xu & Cheng's note, section 4; the Wishart fact E||S - Sigma||_F^2 =
    (tr Sigma^2 + (tr Sigma)^2)/(m - 1)): with F = E||Sigma_t - Sigma*||_F^2,
    G = E (tr(Sigma_t - Sigma*))^2, Q = ||Sigma*||_F^2, P = (tr Sigma*)^2,
      F_t = (1-w)^2 [F + (Q + F + P + G)/(s-1)] + w^2 (Q + P)/(r-1)
      G_t = (1-w)^2 [G + 2 (Q + F)/(s-1)] + w^2 2 Q/(r-1),   F_0 = (Q + P)/(n_0-1), G_0 = 2Q/(n_0-1)."""
    q, p = float(np.sum(np.square(spectrum))), float(np.sum(spectrum)) ** 2
    f, g = [(q + p) / (n[0] - 1)], 2 * q / (n[0] - 1)
    for t in range(1, len(n)):
        r, s, w = real[t], n[t] - real[t], share[t]
        synthetic_f = (1 - w) ** 2 * (f[-1] + (q + f[-1] + p + g) / (s - 1)) if s > 0 else 0.0
        synthetic_g = (1 - w) ** 2 * (g + 2 * (q + f[-1]) / (s - 1)) if s > 0 else 0.0
        real_f, real_g = (w**2 * (q + p) / (r - 1), w**2 * 2 * q / (r - 1)) if r > 0 else (0.0, 0.0)
        f.append(synthetic_f + real_f)
        g = synthetic_g + real_g
    return np.asarray(f)


def estimates_theory(config: dict[str, Any], generations: int) -> dict[str, np.ndarray]:
    """weighting=estimates under fresh mixing (He, Xu & Cheng's estimator), exact: with r real and
    s synthetic rows and w = real_share (r/n where one part is empty),
      a_t = (1-w)^2 (a_{t-1} + V_{t-1}/s) + w^2 tr*/r,   V_t = (1-w) V_{t-1} (s-1)/(s-ddof) + w tr* (r-1)/(r-ddof)
    (a = E mean_sq_error, V = E tr Sigma_t; a_0 = tr*/n0, V_0 = (n0-1) tr*/(n0-ddof)), and at
    ddof 1 the Frobenius error by ``frobenius_theory``."""
    spectrum = np.asarray(config["cov"], np.float64)
    dim, trace, ddof = len(spectrum), float(np.sum(spectrum)), config["ddof"]
    n = np.asarray(config["n"], np.float64)
    real = np.round(np.broadcast_to(np.asarray(config["alpha"], np.float64), n.shape) * n)
    share = np.broadcast_to(np.asarray(config["real_share"], np.float64), n.shape)
    share = np.where(real == 0, 0.0, np.where(real == n, 1.0, share))
    err, var = [trace / n[0]], [(n[0] - 1) * trace / (n[0] - ddof)]
    for t in range(1, generations + 1):
        r, s, w = real[t], n[t] - real[t], share[t]
        err.append((1 - w) ** 2 * (err[-1] + (var[-1] / s if s > 0 else 0.0)) + (w**2 * trace / r if r > 0 else 0.0))
        var.append(((1 - w) * var[-1] * (s - 1) / (s - ddof) if s > 0 else 0.0)
                   + (w * trace * (r - 1) / (r - ddof) if r > 0 else 0.0))
    out = {"mean_sq_error": np.asarray(err), "var": np.asarray(var) / dim}
    if ddof == 1:
        out["cov_error"] = frobenius_theory(spectrum, n, real, share)
    return out


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


def optimal_real_share(k):
    """He, Xu & Cheng's w*(k) = (sqrt(k^2 + 4k) - k) / 2 for k = real rows / synthetic rows (1/phi
    at k = 1); the stationary mean error at w* is w* times the real-only error."""
    k = np.asarray(k, np.float64)
    return (np.sqrt(k**2 + 4 * k) - k) / 2


def golden_figure(result, out_dir):
    """He, Xu & Cheng's weighting: the last generation's mean error and variance against the real
    share w, one line per real fraction alpha (k = alpha / (1 - alpha) real rows per synthetic
    one) when alpha is gridded; simulation +- 1.96 SE, the exact recursion dashed, w*(k) marked
    (1/phi at k = 1). Saved as golden_ratio.<fmt>."""
    from matplotlib.figure import Figure

    from ..plot import matplotlib_colors, save_figure

    shares = np.asarray(result.coords["real_share"], np.float64)
    gridded = "alpha" in result.dims
    # a set alpha is a schedule over t = 0..T: its last value is the one the stationary error sees
    alphas = np.asarray(result.coords["alpha"] if gridded else np.ravel(result.config["alpha"])[-1:], np.float64)
    order = [result.dims.index(d) for d in (("alpha",) if gridded else ()) + ("real_share",)] + [len(result.dims) - 1]
    colors = matplotlib_colors(len(alphas))
    fig = Figure(figsize=(9, 3.6), layout="constrained")
    second = "cov_error" if "cov_error" in result.theory else "var"  # the covariance's error where it has a closed form
    for ax, metric in zip(fig.subplots(1, 2), ("mean_sq_error", second)):
        mean, err, theory = (np.transpose(a, order)[..., -1].reshape(len(alphas), -1)
                             for a in (result.mean(metric), result.stderr(metric), result.theory[metric]))
        for i, alpha in enumerate(alphas):
            k = alpha / (1 - alpha)
            ax.errorbar(shares, mean[i], 1.96 * err[i], fmt="o", ms=3, color=colors[i], label=f"k = {k:.3g}")
            ax.plot(shares, theory[i], "--", color=colors[i], lw=0.9)
            ax.axvline(optimal_real_share(k), color=colors[i], lw=0.7, ls=":")
        ax.set_yscale("log" if gridded and metric != "var" else "linear")
        ax.set_xlabel("real share w (dotted: w*(k))")
        ax.set_ylabel(f"{metric} at generation {result.generations}")
    fig.axes[0].legend(fontsize=7)
    fig.suptitle(f"real + synthetic each generation, real part weighing w; dashed: exact recursion ({result.seeds} seeds)",
                 fontsize=10)
    save_figure(fig, f"{out_dir}/golden_ratio.png")
    return fig


def stability_figure(result, out_dir):
    """Bertrand et al.'s stability: the last generation's variance and mean error against the
    real fraction alpha, fresh and retained real data, one line per n; the exact recursion
    dashed. Saved as stability.<fmt>."""
    from matplotlib.figure import Figure

    from ..plot import matplotlib_colors, save_figure

    order = [result.dims.index(d) for d in ("regime", "n", "alpha")]
    alphas = np.asarray(result.coords["alpha"], np.float64)
    fig = Figure(figsize=(10, 3.8), layout="constrained")
    axes = fig.subplots(1, 2)
    colors = matplotlib_colors(len(result.coords["n"]))
    for ax, metric in zip(axes, ("var", "mean_sq_error")):
        mean = np.transpose(result.mean(metric)[..., -1], order)
        theory = np.transpose(result.theory[metric][..., -1], order)
        for i, regime in enumerate(result.coords["regime"]):
            style = "-o" if regime == "mix" else ":s"
            for j, n in enumerate(result.coords["n"]):
                ax.plot(alphas, mean[i, j], style, ms=3, color=colors[j], label=f"{regime}, n={n}")
                ax.plot(alphas, theory[i, j], "k--", lw=0.6)
        ax.set_xscale("log")
        ax.set_xlabel("real fraction alpha")
        ax.set_ylabel(f"{metric} at generation {result.generations}")
    axes[0].legend(fontsize=7)
    fig.suptitle(f"fresh (solid) vs retained (dotted) real data; dashed: exact recursion ({result.seeds} seeds)",
                 fontsize=10)
    save_figure(fig, f"{out_dir}/stability.png")
    return fig


GOLDEN_GRID = [round(0.2 + 0.02 * i, 2) for i in range(30)]  # He et al.'s S2 grid, 0.20 ... 0.78

HE_GOLDEN_RATIO = register_preset(Preset(
    name="he-golden-ratio",
    study="gaussian",
    description="He, Xu & Cheng: n = m = 100 fresh real and synthetic rows (d = 2), real weight w: error "
                "U-shaped in w, minimum at w = 1/phi",
    settings={"dim": 2, "ddof": 1, "regime": "mix", "alpha": 0.5, "n": "where(t < 1, 100, 200)"},
    grids={"real_share": GOLDEN_GRID},
    seeds=2000,
    generations=199,
    quick={"seeds": 400, "generations": 60, "grids": {"real_share": [0.3, 0.5, 0.62, 0.7, 0.9]}},
    figure=golden_figure,
))

register_preset(dataclasses.replace(
    HE_GOLDEN_RATIO,
    name="he-golden-ratio-estimates",
    description="He, Xu & Cheng's own estimator (weighting=estimates: w x the real fit + (1 - w) x the synthetic "
                "fit, mean and covariance), n = m = 100, d = 2: both errors minimised at w = 1/phi",
    settings={**HE_GOLDEN_RATIO.settings, "weighting": "estimates"},
))

register_preset(Preset(
    name="he-k-sweep",
    study="gaussian",
    description="He, Xu & Cheng's k sweep: N = 1,000 rows a generation, real fraction alpha = k/(1+k), real weight w: "
                "the minimum moves to w*(k) = (sqrt(k^2+4k)-k)/2, the optimal risk w* x the real-only risk",
    settings={"dim": 2, "ddof": 1, "regime": "mix", "n": 1000},
    grids={"alpha": [0.05, 0.1, 0.2, 0.5, 0.8], "real_share": [round(0.05 * i, 2) for i in range(1, 20)]},
    seeds=500,
    generations=100,
    quick={"seeds": 100, "generations": 40, "grids": {"alpha": [0.1, 0.5], "real_share": [0.2, 0.3, 0.45, 0.62, 0.8]}},
    figure=golden_figure,
))

register_preset(Preset(
    name="bertrand-stability",
    study="gaussian",
    description="Bertrand et al.: real fraction alpha, fresh vs retained real data (d = 1, ddof = 0): a bounded "
                "plateau for every alpha > 0, collapse onto a single retained point",
    settings={"dim": 1, "ddof": 0},
    grids={"regime": ["mix", "mix-retained"], "alpha": [0.01, 0.05, 0.1, 0.25, 0.5, 0.9], "n": [20, 100]},
    seeds=10000,
    generations=300,
    quick={"seeds": 1000, "generations": 100,
           "grids": {"regime": ["mix", "mix-retained"], "alpha": [0.1, 0.5], "n": [20, 100]}},
    figure=stability_figure,
    keep=("var", "mean_sq_error"),
))
