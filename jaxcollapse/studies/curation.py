"""``curation`` and ``curation-gaussian``: retraining on curated synthetic data (Ferbach, Bertrand,
Bose & Gidel, NeurIPS 2024, *Self-Consuming Generative Models with Curated Data Provably Optimize
Human Preferences*).

Each generation's synthetic rows are curated by the data loop's ``select=choice`` policy: every
kept row is the Luce / Bradley-Terry choice among ``choice_k`` = K candidates drawn from the current
model, candidate k kept with probability exp(r(x_k)) / sum_j exp(r(x_j)) for a reward r. The model
never sees r, only the chosen rows. ``regime=mix`` re-injects fresh real rows (a real share alpha =
1 / (1 + lambda) for Ferbach et al.'s synthetic-to-real ratio lambda; ``mix-retained`` re-uses one
real sample); ``select=none`` is the uncurated loop.

* ``curation``: a categorical over the outcomes of ``probabilities`` (the data distribution p_d),
  rewards ``rewards``, refitted by frequencies.
* ``curation-gaussian``: a 1-D Gaussian N(mu, sigma^2) refitted by its mean and variance (``ddof``),
  data N(``data_mean``, ``data_sd``^2), reward linear r = a x or quadratic r = -gamma (x - c)^2.

``start=truth`` sets generation 0's model to p_d itself (the note's population start), ``fit``
fits it to n0 real rows as the other studies do.

Closed form (``curated_law``; the note's Eq. (6) and the K -> infinity tilt): the kept row has law
p H^K_p with H^K_p(x) = K E[e^{r(x)} / (e^{r(x)} + sum_{j=2..K} e^{r(x_j)})], x_j ~ p. Writing
1/S = int_0^inf e^{-sS} ds turns the expectation over the K - 1 rivals into a power of one
Laplace transform, H^K_p(x) = K int_0^inf e^{r(x)} e^{-s e^{r(x)}} M(s)^{K-1} ds with
M(s) = E_p e^{-s e^{r}}: a 1-D integral for any K (trapezoid in log s), exact up to quadrature.
The Gaussian's law is taken on a fine grid of its quantiles' density (x = mu + sigma z), so the
same function gives the curated mean and variance (the note's m_K(a sigma), v_K(a sigma) for a
linear reward) for any reward.

``theory`` iterates the expected refit: under ``mix`` with r = round(alpha n) real rows and s =
n - r curated ones, E p_{t+1} = (r p_d + s G(p_t)) / n for the categorical; for the Gaussian the
pooled mean and the exact expectation of a two-group sample variance,
E S^2 = [(r-1) s_d^2 + (s-1) s_c^2 + (s/n) s_d^2 + (r/n) s_c^2 + (rs/n)(m_d - m_c)^2] / (n - 1)
(times (n-1)/n for ddof 0). With ``start=truth`` this is exact at t = 1; later generations plug
the expected fit into the map (the population recursion: a bias O(1/n), the note's "within 0.006
at n = 5000"). Theory is given under replace, mix and mix-retained (the same map in
expectation at the population level); none with ``start=fit`` (E G(p_hat_0) != G(p_d)).
"""

from __future__ import annotations

from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from ..engine.data import DataLoop, LoopStudy, loop_numeric, loop_params
from ..engine.params import ConfigError, Param
from ..engine.study import Check, float_dtype
from ..models import categorical
from .registry import Preset, register_preset, register_study

REGIMES = ("replace", "mix", "mix-retained", "accumulate")
STARTS = ("truth", "fit")
REWARDS = ("linear", "quadratic")
GRID = np.linspace(-12.0, 12.0, 961)  # standard-normal quadrature nodes for the Gaussian's law


def curated_law(probabilities: np.ndarray, rewards: np.ndarray, k: float) -> np.ndarray:
    """The law of a row chosen among K draws of ``probabilities`` with probability ∝ exp(reward):
    p H^K_p (the note's Eq. (6)) by H^K_p(i) = K int e^{r_i} e^{-s e^{r_i}} M(s)^{K-1} ds,
    M(s) = sum_j p_j e^{-s e^{r_j}}; K = inf gives the tilt p e^r / E_p e^r, K = 1 returns p."""
    p = np.asarray(probabilities, np.float64)
    p = p / p.sum()
    r = np.asarray(rewards, np.float64)
    r = r - np.max(r[p > 0])  # choice probabilities are shift-invariant; e^r <= 1 on the support
    if np.isinf(k):
        tilt = p * np.exp(r)
        return tilt / tilt.sum()
    if k == 1:
        return p
    live = p > 0
    e = np.where(live, np.exp(np.where(live, r, 0.0)), 0.0)
    smallest = np.min(e[live & (e > 0)])
    step = 0.05  # the integrand is smooth in u = log s: the trapezoid converges spectrally
    u = np.arange(-30.0, -np.log(smallest) + 8.0, step)  # it lives where s e^r ~ 1
    s = np.exp(u)
    law = np.zeros_like(p)
    for block in np.array_split(np.arange(u.size), max(1, u.size * p.size // 2_000_000)):
        scaled = np.outer(s[block], e)  # s e_i
        survival = np.exp(-scaled)
        laplace = survival @ p  # M(s) on this block
        law += (laplace ** (k - 1)) @ (scaled * survival) * step  # sum over s of e_i s e^{-s e_i} M^{K-1} (ds = s du)
    law = p * k * law
    return law / law.sum()  # E_p H = 1: renormalising removes the quadrature's rounding


def _vector(config: dict[str, Any], name: str) -> np.ndarray:
    raw = config[name]
    try:
        values = np.asarray([float(v) for v in raw.split(",")] if isinstance(raw, str) else raw, np.float64)
    except (TypeError, ValueError):
        raise ConfigError(f"{name}={raw}: must be a comma list of numbers") from None
    if values.ndim != 1 or values.size < 2 or not np.all(np.isfinite(values)):
        raise ConfigError(f"{name}={raw}: must be a comma list of at least two finite numbers")
    return values


class _Curation(LoopStudy):
    """What both curation studies share: the loop, the start, the choice, the expected-refit map."""

    loop: DataLoop

    @classmethod
    def static_key(cls, config: dict[str, Any]) -> tuple:
        return DataLoop.static_key(config)

    @classmethod
    def build(cls, configs: list[dict[str, Any]], generations: int) -> "_Curation":
        return cls(loop=DataLoop.build(configs), **cls._statics(configs[0]))

    @classmethod
    def _statics(cls, config) -> dict[str, Any]:
        return {}

    def bytes_per_seed(self) -> int:
        return 16 * (self.loop.capacity + self.loop.candidates) + 4096

    def _run(self, key, params, theta, pool, t):
        """One generation on the loop: curated synthetic rows (and real ones) in, the refit out."""
        lp = params["loop"]
        k_synthetic, k_real, k_select, k_subsample = jax.random.split(key, 4)
        synthetic = self.loop.curate(k_synthetic, lambda k, size: self._sample(k, theta, size),
                                     lambda rows: self._reward(rows, params), t, lp)
        real = self._sample(k_real, self._data(params), self.loop.batch) if self.loop.mixes else None
        pool = self.loop.add(pool, k_select, t, lp, synthetic, real, lambda rows: self._reward(rows, params))
        training = self.loop.training_set(pool, k_subsample, t, lp)
        return self._fit(training.rows, training.weight, params), pool

    def start(self, key, params):
        """Generation 0 draws real rows (the data distribution) into an empty pool."""
        data = self._data(params)
        return data, self.loop.empty(jax.eval_shape(lambda k: self._sample(k, data, self.loop.batch), key))

    def step(self, state, key, t, params):
        """Generation t's refit; at t = 0 the fit of the real rows, or the data distribution
        itself under start=truth."""
        theta, pool = state
        new, pool = self._run(key, params, theta, pool, t)
        new = jax.tree.map(lambda a, b: jnp.where((t == 0) & (params["start"] == 0), a, b), self._data(params), new)
        return (new, pool), self._measure(new, params)

    @staticmethod
    def _counts(config, generations):
        """(real rows r_t, curated rows s_t, all rows n_t) per generation t >= 1 of the expected map."""
        n = np.asarray(config["n"], np.float64)
        alpha = np.broadcast_to(np.asarray(config["alpha"], np.float64), n.shape)
        real = np.round(alpha * n) if config["regime"] in ("mix", "mix-retained") else np.zeros_like(n)
        return real, n - real, n

    @staticmethod
    def _k(config, t) -> float:
        if config["select"] == "none":
            return 1.0
        k = np.asarray(config["choice_k"], np.float64)
        return float(k if k.ndim == 0 else k[t])

    @classmethod
    def _theory_applies(cls, config) -> bool:
        return (config["start"] == "truth" and config["regime"] in ("replace", "mix", "mix-retained")
                and config["select"] in ("none", "choice") and config.get("real_share") is None
                and np.all(np.asarray(config["real_weight"]) == 1.0))


@register_study
class CurationStudy(_Curation):
    name = "curation"
    description = "Categorical retrained on curated samples (Luce choice among K): reward up, diversity down (Ferbach et al.)"
    params = (
        Param("probabilities", "data distribution p_d over the outcomes (a comma list, normalised)", "0.4,0.3,0.2,0.1",
              kind="vector", gridable=False),
        Param("rewards", "reward of each outcome (a comma list, one per outcome)", "0,0.5,1,1.5", kind="vector",
              gridable=False),
        Param("start", "generation 0's model: truth (p_0 = p_d, the population start) or fit (frequencies of n0 "
              "real rows)", "truth", kind="choice", choices=STARTS),
        *loop_params(n=2000, regimes=REGIMES, policy="choice", policies=("none", "choice")),
    )
    metrics = ("expected_reward", "top_mass", "entropy", "support", "tv")
    metric_docs = {
        "expected_reward": "expected reward of the fitted distribution, E_{p_t} r",
        "top_mass": "probability the fit gives the outcomes of highest reward (the argmax set)",
        "entropy": "entropy of the fitted distribution, H(p_t) in nats",
        "support": "number of outcomes with p_t > 0",
        "tv": "total variation distance to the data distribution, (1/2) ||p_t - p_d||_1",
    }
    checks = (
        Check("one-step-law", {"n": 2000}, grids={"choice_k": [2, 4]}, seeds=2000, generations=1, key=1,
              metrics=("expected_reward", "top_mass"), relative=1e-5, quick_seeds=1000),
        Check("with-real-data", {"n": 2000, "regime": "mix", "alpha": 0.5, "choice_k": 8}, seeds=2000,
              generations=1, key=2, metrics=("expected_reward", "top_mass"), relative=1e-5, quick=False),
    )

    outcomes: int = eqx.field(static=True)

    @classmethod
    def check(cls, config: dict[str, Any], generations: int) -> dict[str, Any]:
        p, r = _vector(config, "probabilities"), _vector(config, "rewards")
        if np.any(p < 0) or p.sum() <= 0:
            raise ConfigError(f"probabilities={config['probabilities']}: must be >= 0 with a positive sum")
        if r.size != p.size:
            raise ConfigError(f"rewards={config['rewards']}: needs one reward per outcome ({p.size}), got {r.size}")
        return super().check(config, generations)

    @classmethod
    def static_key(cls, config: dict[str, Any]) -> tuple:
        return (_vector(config, "probabilities").size,) + DataLoop.static_key(config)

    @classmethod
    def _statics(cls, config) -> dict[str, Any]:
        return {"outcomes": _vector(config, "probabilities").size}

    def numeric(self, config: dict[str, Any]) -> dict[str, Any]:
        p = _vector(config, "probabilities")
        return {"loop": loop_numeric(config), "data": p / p.sum(), "rewards": _vector(config, "rewards"),
                "start": np.int32(STARTS.index(config["start"]))}

    def _data(self, params):
        return params["data"]

    def _sample(self, key, p, size):
        return categorical.sample_tokens(key, p, size)

    def _reward(self, tokens, params):
        return params["rewards"][tokens]

    def _fit(self, tokens, weights, params):
        return categorical.fit(categorical.counts(tokens, weights, self.outcomes))

    def _measure(self, p, params):
        r, data = params["rewards"], params["data"]
        top = r >= jnp.max(jnp.where(data > 0, r, -jnp.inf))
        live = p > 0
        return {
            "expected_reward": jnp.sum(p * r),
            "top_mass": jnp.sum(jnp.where(top, p, 0.0)),
            "entropy": -jnp.sum(jnp.where(live, p * jnp.log(jnp.where(live, p, 1.0)), 0.0)),
            "support": jnp.sum(live).astype(p.dtype),
            "tv": 0.5 * jnp.sum(jnp.abs(p - data)),
        }

    @classmethod
    def truth(cls, config: dict[str, Any]) -> dict[str, Any]:
        p, r = _vector(config, "probabilities"), _vector(config, "rewards")
        p = p / p.sum()
        return {"max_reward": float(np.max(r[p > 0])), "data_expected_reward": float(p @ r)}

    @classmethod
    def population(cls, config: dict[str, Any], generations: int) -> np.ndarray:
        """E p_t over t = 0..T [T+1, outcomes] by the expected-refit map (module docstring)."""
        p_d = _vector(config, "probabilities")
        p_d = p_d / p_d.sum()
        r = _vector(config, "rewards")
        real, curated, n = cls._counts(config, generations)
        out = [p_d]
        for t in range(1, generations + 1):
            law = curated_law(out[-1], r, cls._k(config, t))
            out.append((real[t] * p_d + curated[t] * law) / n[t])
        return np.asarray(out)

    @classmethod
    def theory(cls, config: dict[str, Any], generations: int) -> dict[str, np.ndarray]:
        if not cls._theory_applies(config):
            return {}
        p = cls.population(config, generations)
        r = _vector(config, "rewards")
        p_d = _vector(config, "probabilities")
        top = r >= np.max(r[p_d > 0])
        return {"expected_reward": p @ r, "top_mass": p[:, top].sum(axis=1)}


@register_study
class CurationGaussianStudy(_Curation):
    name = "curation-gaussian"
    description = "1-D Gaussian retrained on curated samples: the mean drifts up the reward, the variance shrinks (Ferbach et al.)"
    params = (
        Param("data_mean", "mean of the data distribution p_d", 0.0),
        Param("data_sd", "standard deviation of the data distribution p_d", 1.0, low=1e-6),
        Param("reward", "linear: r = reward_slope x; quadratic: r = -reward_width (x - reward_center)^2",
              "linear", kind="choice", choices=REWARDS),
        Param("reward_slope", "a in the linear reward r = a x", 1.0),
        Param("reward_width", "gamma in the quadratic reward r = -gamma (x - c)^2", 0.5, low=0.0),
        Param("reward_center", "c in the quadratic reward r = -gamma (x - c)^2", 2.0),
        Param("ddof", "variance divisor n - ddof (1: unbiased, 0: MLE)", 1, kind="int", low=0, high=1),
        Param("start", "generation 0's model: truth (p_0 = p_d, the population start) or fit (n0 real rows)", "truth",
              kind="choice", choices=STARTS),
        *loop_params(n=2000, n_low=2, regimes=REGIMES, policy="choice", policies=("none", "choice")),
    )
    metrics = ("mean", "var", "expected_reward")
    metric_docs = {
        "mean": "mean mu_t of the fitted Gaussian",
        "var": "variance sigma_t^2 of the fitted Gaussian",
        "expected_reward": "expected reward of the fit: a mu_t (linear), -gamma ((mu_t - c)^2 + sigma_t^2) (quadratic)",
    }
    checks = (
        Check("one-step-linear", {"n": 2000}, grids={"choice_k": [2, 8]}, seeds=2000, generations=1, key=1,
              relative=1e-5, quick_seeds=1000),
        Check("one-step-quadratic-with-real-data", {"n": 1000, "reward": "quadratic", "regime": "mix", "alpha": 0.3,
                                                    "choice_k": 16}, seeds=2000, generations=1, key=2, relative=1e-5,
              quick=False),
    )

    def numeric(self, config: dict[str, Any]) -> dict[str, Any]:
        out = {name: np.float64(config[name]) for name in ("data_mean", "data_sd", "reward_slope", "reward_width",
                                                           "reward_center")}
        return {**out, "loop": loop_numeric(config), "reward": np.int32(REWARDS.index(config["reward"])),
                "ddof": np.int32(config["ddof"]), "start": np.int32(STARTS.index(config["start"]))}

    def _data(self, params):
        dtype = float_dtype()
        return jnp.stack([params["data_mean"], params["data_sd"] ** 2]).astype(dtype)

    def _sample(self, key, theta, size):
        return theta[0] + jnp.sqrt(theta[1]) * jax.random.normal(key, (size,), theta.dtype)

    def _reward(self, x, params):
        linear = params["reward_slope"] * x
        quadratic = -params["reward_width"] * (x - params["reward_center"]) ** 2
        return jnp.where(params["reward"] == 0, linear, quadratic).astype(x.dtype)

    def _fit(self, x, weights, params):
        """Weighted mean and variance, divisor (sum of weights) - ddof (the row count when pooled)."""
        total = jnp.sum(weights)
        mean = jnp.sum(weights * x) / total
        return jnp.stack([mean, jnp.sum(weights * (x - mean) ** 2) / (total - params["ddof"])])

    def _measure(self, theta, params):
        mean, var = theta[0], theta[1]
        linear = params["reward_slope"] * mean
        quadratic = -params["reward_width"] * ((mean - params["reward_center"]) ** 2 + var)
        return {"mean": mean, "var": var, "expected_reward": jnp.where(params["reward"] == 0, linear, quadratic)}

    @classmethod
    def truth(cls, config: dict[str, Any]) -> dict[str, Any]:
        return {"data_mean": config["data_mean"], "data_var": config["data_sd"] ** 2}

    @staticmethod
    def reward_function(config):
        if config["reward"] == "linear":
            return lambda x: config["reward_slope"] * x
        return lambda x: -config["reward_width"] * (x - config["reward_center"]) ** 2

    @classmethod
    def curated_moments(cls, config, mean: float, var: float, k: float) -> tuple[float, float]:
        """Mean and variance of the row chosen among K draws of N(mean, var) (``curated_law`` on
        standard-normal nodes)."""
        weights = np.exp(-0.5 * GRID**2)
        law = curated_law(weights, cls.reward_function(config)(mean + np.sqrt(var) * GRID), k)
        z_mean = law @ GRID
        return mean + np.sqrt(var) * z_mean, var * (law @ GRID**2 - z_mean**2)

    @classmethod
    def population(cls, config: dict[str, Any], generations: int) -> np.ndarray:
        """(E mu_t, E sigma_t^2) over t = 0..T [T+1, 2] by the expected-refit map."""
        m_d, v_d = config["data_mean"], config["data_sd"] ** 2
        real, curated, n = cls._counts(config, generations)
        out = [(m_d, v_d)]
        for t in range(1, generations + 1):
            m_c, v_c = cls.curated_moments(config, *out[-1], cls._k(config, t))
            r, s, size = real[t], curated[t], n[t]
            mean = (r * m_d + s * m_c) / size
            pooled = ((max(r - 1, 0) * v_d + (s - 1) * v_c + s / size * v_d * (r > 0) + r / size * v_c
                       + r * s / size * (m_d - m_c) ** 2) / (size - 1))
            out.append((mean, pooled * (size - 1) / (size - config["ddof"])))
            if not np.all(np.isfinite(out[-1])) or out[-1][1] > 1e12:  # a runaway: stop the map there
                out += [(np.nan, np.nan)] * (generations - t)
                break
        return np.asarray(out, np.float64)

    @classmethod
    def theory(cls, config: dict[str, Any], generations: int) -> dict[str, np.ndarray]:
        if not cls._theory_applies(config):
            return {}
        population = cls.population(config, generations)
        mean, var = population[:, 0], population[:, 1]
        if config["reward"] == "linear":
            reward = config["reward_slope"] * mean
        else:
            reward = -config["reward_width"] * ((mean - config["reward_center"]) ** 2 + var)
        return {"mean": mean, "var": var, "expected_reward": reward}


# ---- presets ---------------------------------------------------------------------------------
# The note's set-ups (section 5); alpha = 1 / (1 + lambda) for Ferbach et al.'s ratio lambda of
# curated to real rows (alpha = 0: curated rows only, lambda = infinity).

register_preset(Preset(
    name="ferbach-discrete",
    study="curation",
    description="Curated categorical (the note's r, p_d): E r rises to r* without real data, to a plateau with them; K x lambda",
    settings={"n": 2000, "regime": "mix"},
    grids={"choice_k": [2, 4, 8], "alpha": [0.0, 0.2, 0.5]},
    seeds=200,
    generations=30,
    quick={"seeds": 50, "generations": 8, "grids": {"choice_k": [2, 8], "alpha": [0.0, 0.5]}},
))

register_preset(Preset(
    name="ferbach-ties",
    study="curation",
    description="Tied maxima, r = (0, 1, 1, 0.5), K = 2: the loop ends on p_d restricted to the argmax set, (0, 0.6, 0.4, 0)",
    settings={"rewards": "0,1,1,0.5", "n": 5000, "choice_k": 2},
    seeds=100,
    generations=100,
    quick={"seeds": 30, "generations": 30},
))

register_preset(Preset(
    name="ferbach-gaussian",
    study="curation-gaussian",
    description="Curated Gaussian, linear reward: the mean drifts (log t), the variance shrinks (1/t) at finite K",
    settings={"n": 2000, "ddof": 1},
    grids={"choice_k": [2, 4, 8], "reward_slope": [0.5, 1.0]},
    seeds=200,
    generations=50,
    quick={"seeds": 50, "generations": 10, "grids": {"choice_k": [2, 8], "reward_slope": [1.0]}},
))

register_preset(Preset(
    name="ferbach-quadratic",
    study="curation-gaussian",
    description="Curated Gaussian, quadratic reward -0.5 (x - 2)^2: collapse onto the reward's argmax at rate 1/t",
    settings={"n": 2000, "ddof": 1, "reward": "quadratic", "reward_width": 0.5, "reward_center": 2.0},
    grids={"choice_k": [2, 8, 64]},
    seeds=200,
    generations=20,
    quick={"seeds": 30, "generations": 6, "grids": {"choice_k": [2, 16]}},
))

register_preset(Preset(
    name="ferbach-real-data",
    study="curation-gaussian",
    description="Curated Gaussian with fresh real data, K = 64: a stable fixed point for lambda <= ~0.2, a runaway beyond",
    settings={"n": 4000, "ddof": 1, "regime": "mix", "choice_k": 64},
    grids={"alpha": [1 / 1.1, 1 / 1.2, 1 / 1.3]},
    seeds=100,
    generations=40,
    quick={"seeds": 20, "generations": 12, "settings": {"n": 1000, "ddof": 1, "regime": "mix", "choice_k": 16}},
))
