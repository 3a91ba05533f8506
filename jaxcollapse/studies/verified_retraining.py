"""``verified-retraining``: linear regression retrained on its own synthetic labels, kept only where
an external verifier accepts them (Yi, Liu, Cheng & Xu, ICLR 2026, *Escaping Model Collapse via
Synthetic Data Verification*).

The verifier believes in a "knowledge centre" theta_c = theta* + center_shift v and keeps a
synthetic pair (x, y) iff |y - x.theta_c| <= band_width ||x|| + sigma sqrt(2/pi) (the authors'
code; the paper's exact band is uncertain, the note's section 6). Generation 0 is OLS on n0 real
rows; each generation t >= 1 draws synthetic labels from theta_{t-1} and refits on the kept ones.
Two forms, as in the authors' code (``form``, static):

* ``regression``: fresh rows x ~ N(0, I_d) each generation, y = x.theta_{t-1} + N(0, sigma^2); the
  data loop's ``select=verify`` keeps them (n drawn, the kept count random) and the fit is OLS on
  the kept rows (masked normal equations). theta* = numpy RandomState(truth_seed).randn(d) and
  v = (1, ..., 1) (the code's beta_prime = theta* + a 1). No closed form (the note: Monte Carlo
  only); by symmetry the stationary law is centred on theta_c, so ``center_progress`` -> 1.
* ``directions``: the theory's per-direction model. X0 is a fixed n0 x d design (numpy
  default_rng(12345)) with SVD X0 = U diag(mu_j) V^T, theta* = (1, ..., 1), v a unit vector
  (default_rng(777)). theta_0 ~ N(theta*, sigma^2 (X0^T X0)^-1) (the OLS law); in each direction
  v_j the n kept labels are drawn from N(v_j.theta_{t-1}, sigma^2) truncated to the band
  v_j.theta_c +- (band_width + sigma sqrt(2/pi)) (the law of the code's draw-until-n-kept loop,
  by inverse CDF), and theta_t = sum_j v_j mean_j.

Closed form (``directions``; the note's section 4): with m_j ~ N(mean_j, V_j), the kept mean has
E = E T_j(m), T_j(m) = m + sigma C_j(m) (the truncated-normal mean) and variance
Var T_j(m) + sigma^2 E theta_j(m) / n (theta_j: the truncated variance). At t = 0 m_j is exactly
Gaussian (V_j = sigma^2 / mu_j^2), so R_1 = E ||theta_1 - theta*||^2 is exact (Gauss-Hermite in
m); later generations close the recursion on Gaussian m_j (a Gaussian-closure version of the
note's delta method, V_{t+1} ~ T'^2 V_t + sigma^2 theta / n). The map contracts towards
v_j.theta_c at rate tau = theta(-(h/sigma), h/sigma) < 1, so theta_t -> theta_c:
R_inf ~ ||theta_c - theta*||^2 + d sigma^2 tau / (n (1 - tau^2)); E center_progress_t follows
1 - tau^t near the centre (its theory is the recursion's mean, exact at t = 1).
"""

from __future__ import annotations

from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jax.scipy.special import ndtr, ndtri

from ..engine.data import DataLoop, LoopStudy, loop_numeric, loop_params
from ..engine.params import ConfigError, Param
from ..engine.study import Check, float_dtype
from .registry import Preset, register_preset, register_study

FORMS = ("regression", "directions")
MEAN_ABS_NOISE = np.sqrt(2 / np.pi)  # E|N(0, 1)|: the code's band offset, in units of sigma


def truncated_normal_moments(lower: np.ndarray, upper: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and variance of N(0, 1) truncated to [lower, upper] (elementwise, float64):
    E = (phi(a) - phi(b)) / Z, Var = 1 + (a phi(a) - b phi(b)) / Z - E^2, Z = Phi(b) - Phi(a),
    with Z and the ratios in log space and an interval above 0 mirrored below it, so they stay
    accurate far in the tails (scipy's ``truncnorm.stats`` gives the same to ~1e-10 relative over
    [-38, 38], a thousand times more slowly)."""
    from scipy.special import log_ndtr

    a, b = np.broadcast_arrays(np.asarray(lower, np.float64), np.asarray(upper, np.float64))
    flip = a > 0
    a, b = np.where(flip, -b, a), np.where(flip, -a, b)
    log_b = log_ndtr(b)
    log_mass = log_b + np.log(-np.expm1(log_ndtr(a) - log_b))
    at_a = np.exp(-0.5 * a**2 - 0.5 * np.log(2 * np.pi) - log_mass)  # phi(a) / Z
    at_b = np.exp(-0.5 * b**2 - 0.5 * np.log(2 * np.pi) - log_mass)
    mean = at_a - at_b
    var = 1 + np.where(np.isinf(a), 0.0, a) * at_a - np.where(np.isinf(b), 0.0, b) * at_b - mean**2
    return np.where(flip, -mean, mean), var


def setting(config: dict[str, Any]) -> dict[str, np.ndarray]:
    """theta*, theta_c, and (directions) the fixed design's singular values and right vectors."""
    d = config["dim"]
    if config["form"] == "regression":
        star = np.random.RandomState(config["truth_seed"]).randn(d)
        shift = np.ones(d)
        return {"star": star, "center": star + config["center_shift"] * shift}
    u = np.random.default_rng(777).normal(size=d)
    star = np.ones(d)
    _, singular, vt = np.linalg.svd(np.random.default_rng(12345).normal(size=(config["n0"], d)), full_matrices=False)
    return {"star": star, "center": star + config["center_shift"] * u / np.linalg.norm(u), "singular": singular,
            "directions": vt}


@register_study
class VerifiedRetrainingStudy(LoopStudy):
    name = "verified-retraining"
    description = "Linear regression retrained on verifier-filtered synthetic labels: contraction to the verifier's centre (Yi et al.)"
    params = (
        Param("form", "regression (rows through the data loop's verify policy) or directions (the theory's "
              "per-direction model)", "directions", kind="choice", static=True, choices=FORMS),
        Param("dim", "dimension d", 8, kind="int", static=True, low=1, high=512),
        Param("noise", "label noise sigma", 1.0, low=1e-6),
        Param("center_shift", "a: the verifier's centre theta_c = theta* + a v (v unit under directions, "
              "(1, ..., 1) under regression, as in the authors' code)", 0.1),
        Param("band_width", "gamma: a label is kept iff |y - x.theta_c| <= gamma ||x|| + sigma sqrt(2/pi)", 0.1,
              low=0.0),
        Param("truth_seed", "regression: numpy RandomState seed of theta* (the code's seed 0)", 0, kind="int", low=0),
        *loop_params(n=100, regimes=("replace", "mix", "accumulate"), policy="verify", policies=("none", "verify")),
    )
    metrics = ("loss", "center_loss", "center_progress", "kept_fraction")
    metric_docs = {
        "loss": "squared error of the fit, ||theta_t - theta*||^2",
        "center_loss": "squared distance to the verifier's centre, ||theta_t - theta_c||^2",
        "center_progress": "(theta_t - theta*).(theta_c - theta*) / ||theta_c - theta*||^2: 0 at the truth, 1 at the "
                           "verifier's centre (0 when center_shift = 0)",
        "kept_fraction": "share of the generation's synthetic labels the verifier keeps (directions: its acceptance "
                         "probability, averaged over directions; generation 0: 1)",
    }
    checks = (
        Check("first-round", {"form": "directions"}, grids={"center_shift": [0.0, 0.4], "band_width": [0.01, 0.5]},
              seeds=4000, generations=1, key=1, metrics=("loss",), quick_seeds=2000),
    )

    scored, verified = False, True  # the verifier keeps rows; nothing scores them
    form: str = eqx.field(static=True)
    dim: int = eqx.field(static=True)
    loop: DataLoop

    @classmethod
    def check(cls, config: dict[str, Any], generations: int) -> dict[str, Any]:
        config = super().check(config, generations)
        if config["n0"] < config["dim"]:
            raise ConfigError(f"n0={config['n0']}: generation 0's OLS needs n0 >= dim ({config['dim']})")
        if config["form"] == "directions":
            for name, allowed in (("regime", "replace"), ("select", "verify")):
                if config[name] != allowed:
                    raise ConfigError(f"{name}={config[name]}: form=directions runs {name}={allowed} only (its kept "
                                      f"labels are drawn from the band directly)")
        return config

    @classmethod
    def static_key(cls, config: dict[str, Any]) -> tuple:
        loop = DataLoop.static_key(config) if config["form"] == "regression" else None
        return (config["form"], config["dim"], config["n0"] if config["form"] == "directions" else None, loop)

    @classmethod
    def build(cls, configs: list[dict[str, Any]], generations: int) -> "VerifiedRetrainingStudy":
        return cls(form=configs[0]["form"], dim=configs[0]["dim"], loop=DataLoop.build(configs))

    def numeric(self, config: dict[str, Any]) -> dict[str, Any]:
        truth = setting(config)
        out = {"loop": loop_numeric(config), "star": truth["star"], "center": truth["center"],
               **{name: np.float64(config[name]) for name in ("noise", "center_shift", "band_width")}}
        if self.form == "directions":
            out.update(singular=truth["singular"], directions=truth["directions"])
        return out

    def bytes_per_seed(self) -> int:
        item = np.dtype(float_dtype()).itemsize
        return item * (self.dim + 2) * (self.loop.capacity + self.loop.batch) * 2 + 4096

    @classmethod
    def truth(cls, config: dict[str, Any]) -> dict[str, Any]:
        truth = setting(config)
        return {"center_distance_sq": float(np.sum((truth["center"] - truth["star"]) ** 2)),
                "theta_star": truth["star"].tolist()}

    # ---- traced side --------------------------------------------------------------------------
    def _measure(self, theta, params, kept):
        star, center = params["star"], params["center"]
        shift = center - star
        size = jnp.sum(shift**2)
        progress = jnp.where(size > 0, jnp.dot(theta - star, shift) / jnp.where(size > 0, size, 1.0), 0.0)
        return {"loss": jnp.sum((theta - star) ** 2), "center_loss": jnp.sum((theta - center) ** 2),
                "center_progress": progress, "kept_fraction": jnp.asarray(kept, theta.dtype)}

    def _rows(self, key, theta, params):
        k_x, k_noise = jax.random.split(key)
        x = jax.random.normal(k_x, (self.loop.batch, self.dim), theta.dtype)
        return x, x @ theta + params["noise"] * jax.random.normal(k_noise, (self.loop.batch,), theta.dtype)

    def _verify(self, rows, params):
        x, y = rows
        band = params["band_width"] * jnp.linalg.norm(x, axis=1) + params["noise"] * MEAN_ABS_NOISE
        return (jnp.abs(y - x @ params["center"]) <= band).astype(y.dtype)

    @staticmethod
    def _ols(rows, weights):
        x, y = rows
        gram = (x * weights[:, None]).T @ x
        factor = jax.scipy.linalg.cho_factor(gram + 1e-12 * jnp.trace(gram) * jnp.eye(x.shape[1], dtype=x.dtype),
                                             lower=True)
        return jax.scipy.linalg.cho_solve(factor, x.T @ (weights * y))

    def start(self, key, params):
        """Generation 0's model: the truth, drawing the real rows into an empty pool (directions:
        nothing to draw, the OLS law is sampled directly)."""
        star = params["star"].astype(float_dtype())
        if self.form == "directions":
            return star, None
        return star, self.loop.empty(jax.eval_shape(lambda k: self._rows(k, star, params), key))

    def step(self, state, key, t, params):
        theta, pool = state
        lp = params["loop"]
        if self.form == "directions":
            k_first, k_labels = jax.random.split(key)
            z = jax.random.normal(k_first, theta.shape, theta.dtype)
            first = params["star"] + params["noise"] * params["directions"].T @ (z / params["singular"])  # OLS law
            moved, kept = self._directions_step(theta, k_labels, t, params)
            new, kept = jnp.where(t == 0, first, moved), jnp.where(t == 0, 1.0, kept)
            return (new, None), self._measure(new, params, kept)
        k_rows, k_real, k_select, k_subsample = jax.random.split(key, 4)
        synthetic = self._rows(k_rows, theta, params)
        real = self._rows(k_real, params["star"].astype(theta.dtype), params) if self.loop.mixes else None
        pool = self.loop.add(pool, k_select, t, lp, synthetic, real, verify=lambda rows: self._verify(rows, params))
        training = self.loop.training_set(pool, k_subsample, t, lp)
        drawn = jnp.sum((pool.origin == t) & ~pool.real & (jnp.arange(self.loop.capacity) < pool.count))
        kept = jnp.where(t == 0, 1.0, jnp.sum(pool.valid & (pool.origin == t) & ~pool.real) / jnp.maximum(drawn, 1))
        fitted = self._ols(training.rows, training.weight)
        enough = (t == 0) | (jnp.sum(training.weight > 0) >= self.dim)
        new = jnp.where(enough, fitted, theta)  # too few kept rows after generation 0: keep the fit
        return (new, pool), self._measure(new, params, kept)

    def _directions_step(self, theta, key, t, params):
        """n labels per direction from N(v_j.theta, sigma^2) truncated to v_j.theta_c +- h: the
        refit and the share of labels the verifier keeps."""
        v, sigma = params["directions"], params["noise"]
        n = params["loop"]["n"][t]
        half = params["band_width"] + sigma * MEAN_ABS_NOISE
        m, c = v @ theta, v @ params["center"]
        alpha, beta = (c - half - m) / sigma, (c + half - m) / sigma
        flip = alpha > 0
        lo, hi = jnp.where(flip, -beta, alpha), jnp.where(flip, -alpha, beta)
        u = jax.random.uniform(key, (self.loop.batch, self.dim), theta.dtype)
        z = ndtri(ndtr(lo) + u * (ndtr(hi) - ndtr(lo)))
        z = jnp.clip(jnp.where(flip, -z, z), alpha, beta)
        used = (jnp.arange(self.loop.batch) < n)[:, None]
        means = m + sigma * jnp.sum(jnp.where(used, z, 0.0), axis=0) / n
        return v.T @ means, jnp.mean(ndtr(hi) - ndtr(lo))

    # ---- closed form -----------------------------------------------------------------------
    @classmethod
    def theory(cls, config: dict[str, Any], generations: int) -> dict[str, np.ndarray]:
        """directions: R_t by the Gaussian-closure recursion (exact at t = 0 and 1, module docstring)."""
        if config["form"] != "directions":
            return {}
        from scipy.special import ndtr as normal_cdf

        truth = setting(config)
        v, sigma = truth["directions"], config["noise"]
        star, center = v @ truth["star"], v @ truth["center"]
        half = config["band_width"] + sigma * MEAN_ABS_NOISE
        nodes, weights = np.polynomial.hermite_e.hermegauss(120)
        weights = weights / weights.sum()
        n = np.asarray(config["n"], np.float64)
        mean, var = star.copy(), sigma**2 / truth["singular"] ** 2
        loss = [np.sum((mean - star) ** 2 + var)]
        kept = [1.0]
        shift = center - star
        progress = [0.0]  # linear in E theta_t: exact wherever the mean is
        for t in range(1, generations + 1):
            m = mean[:, None] + np.sqrt(var)[:, None] * nodes[None, :]  # [d, nodes]
            alpha, beta = (center[:, None] - half - m) / sigma, (center[:, None] + half - m) / sigma
            z_mean, z_var = truncated_normal_moments(alpha, beta)
            moved = m + sigma * z_mean
            mean = moved @ weights
            var = (moved**2) @ weights - mean**2 + sigma**2 * (z_var @ weights) / n[t]
            loss.append(np.sum((mean - star) ** 2 + var))
            progress.append(float((mean - star) @ shift / (shift @ shift)) if shift @ shift > 0 else 0.0)
            kept.append(float(np.mean((normal_cdf(beta) - normal_cdf(alpha)) @ weights)))
        return {"loss": np.asarray(loss), "kept_fraction": np.asarray(kept), "center_progress": np.asarray(progress)}


def regimes_figure(result, out_dir):
    """Loss against generation for each (centre shift, band width): the plateau and the
    gain-then-reversal regimes, the real-data OLS risk R_0 as the starting point."""
    from ..plot import save_figure, trajectories_figure

    fig = trajectories_figure(result, ["loss", "center_progress", "kept_fraction"])
    save_figure(fig, f"{out_dir}/verified_retraining.png")
    return fig


register_preset(Preset(
    name="yi-regimes",
    study="verified-retraining",
    description="Yi et al.'s iteration (directions form, d = 8, n0 = n = 100): plateau (a = 0.1) vs gain then reversal (a = 0.3)",
    settings={"form": "directions", "select": "verify"},
    grids={"center_shift": [0.1, 0.3], "band_width": [0.1, 0.5]},
    seeds=1500,
    generations=12,
    quick={"seeds": 300, "generations": 6},
    figure=regimes_figure,
))

register_preset(Preset(
    name="yi-phase-map",
    study="verified-retraining",
    description="One verified round over (centre shift a, band width gamma) (directions form): where verification gains",
    settings={"form": "directions", "select": "verify"},
    grids={"center_shift": [0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.7], "band_width": [0.01, 0.1, 0.25, 0.5]},
    seeds=1000,
    generations=1,
    quick={"seeds": 200, "grids": {"center_shift": [0.0, 0.4], "band_width": [0.01, 0.5]}},
))

register_preset(Preset(
    name="yi-regression",
    study="verified-retraining",
    description="The authors' regression form (d = 5, n0 = n = 100, fresh x, the data loop's verify policy): contraction to theta_c",
    settings={"form": "regression", "dim": 5, "select": "verify"},
    grids={"center_shift": [0.0, 0.1, 0.25], "band_width": [0.01, 0.25, 0.5]},
    seeds=1000,
    generations=10,
    quick={"seeds": 200, "generations": 4, "grids": {"center_shift": [0.0, 0.25], "band_width": [0.25]}},
))
