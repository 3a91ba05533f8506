"""``contaminated-mean``: mean estimation from data contaminated by the previous round's model
(Amin, Bie, Kong, Syed & Vassilvitskii, "Learning from Synthetic Data: Limitations of ERM",
2026; paper note sec. 1, 2 and 4).

The note marks this round-average model (and the PAC model below) as unconfirmed; it is the
reading that gives the paper's stated results (ERM converges, non-uniform weights beat it, a
variance transition above alpha = 1/2, repeated ERM failing to converge in PAC learning).

Round t = 1..T draws n samples, a share alpha of which come from D1 = the deployed estimate
Y_{t-1} plus the population noise and the rest from D0 = mu plus the same noise; round 1 is all
natural. The learner cannot tell them apart. Generation g of the engine is round t = g + 1
(generation 0 is the clean round). In error coordinates e = Y - mu (every estimator here is
translation-equivariant, so mu = 0 loses nothing), the round mean is
    X_t = a_t Y_{t-1} + U_t,   U_t ~ N(0, Sigma),  Sigma = sigma^2 I_dim / n,
with a_t = alpha (``provenance=fixed``: exactly alpha n synthetic samples, the note's exact
model) or a_t = m_t/n, m_t ~ Binomial(n, alpha) (``provenance=random``: each sample's source
drawn independently; the noise of a round mean is N(0, Sigma) whatever m_t is, so this is exact).

Estimators, all run side by side on the same rounds (metrics ``<estimator>_sq_error`` =
||estimate - mu||^2):
  erm       Y_t = (X_1 + ... + X_t)/t, ERM on all accumulated samples (uniform weights)
  weighted  the inverse-variance weighting (note sec. 2)
            [X_1 + (1 - alpha) sum_{s=2..t} (X_s - alpha Y_{s-1})] / [1 + (t-1)(1 - alpha)^2],
            the MVUE for Gaussian U; it needs alpha and the learner's own deployed Y_{s-1}
  debiased  the plain mean of Z_s = (X_s - alpha Y_{s-1})/(1 - alpha) (Z_1 = X_1); NaN at alpha = 1
  latest    X_t alone, the latest round only
``erm_scaled_error`` = t ||Y_t - mu||^2 / tr Sigma isolates ERM's rate (flat for a 1/t rate).
``deploy`` chooses which estimate generates the next round's synthetic data: ``erm`` (the
paper's setting) or ``weighted``. The paper's own non-uniform weights are not known to the note;
``weighted`` is the note's derived optimal benchmark, not a claim about the paper's algorithm.

Theory, in units of tr Sigma (``theory`` multiplies by tr Sigma = dim sigma^2 / n):
  erm (Thm 1, fixed provenance, deploy=erm)
      V_t = 1/t^2 + (Gamma(t+alpha)/Gamma(t+1))^2 sum_{k=1}^{t-1} (Gamma(k+1)/(k Gamma(k+alpha)))^2,
      from e_t = ((t - 1 + alpha)/t) e_{t-1} + U_t/t; random provenance adds Var(a) = alpha(1-alpha)/n:
      V_t = [((t - 1 + alpha)^2 + Var a)/t^2] V_{t-1} + 1/t^2.
  its regimes (``erm_asymptotic``): 1/((1 - 2 alpha) t) for alpha < 1/2; log t / t at 1/2;
      C(alpha) t^(-2(1 - alpha)) for 1/2 < alpha < 1, C(alpha) = sum_k (Gamma(k+1)/(k Gamma(k+alpha)))^2;
      pi^2/6 at alpha = 1 (V_t = sum_{k<=t} 1/k^2).
  weighted  [1 + (1-alpha)^2 sum_{s=2..t} (1 + Var a V_dep(s-1))] / [1 + (t-1)(1-alpha)^2]^2
            (= 1/(1 + (t-1)(1-alpha)^2) under fixed provenance, whichever estimate is deployed)
  debiased  [1 + sum_{s=2..t} (1 + Var a V_dep(s-1))/(1-alpha)^2] / t^2
  latest    1 + (alpha^2 + Var a) V_dep(t-1)
  erm under deploy=weighted: t^2 V_t = sum_s [1 + (alpha^2 + Var a) W_{s-1}]
            + 2 alpha sum_{s>=2} G_{s-1}/D_{s-1},  G_m = sum_{q<=m} [w_q + (alpha D_{q-1} + (1-alpha) Var a) W_{q-1}],
            with W the weighted estimator's variance, D_k = 1 + (k-1)(1-alpha)^2, w_1 = 1, w_q = 1-alpha
            (derived for jaxcollapse by conditioning on the rounds' shares; checked by Monte Carlo).
"""

from __future__ import annotations

from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from scipy.special import gammaln

from ..engine.params import ConfigError, Param
from ..engine.study import Check, Study, float_dtype
from ..models import halfspace, threshold
from ..models.categorical import binomial
from .registry import Preset, register_preset, register_study

ESTIMATORS = ("erm", "weighted", "debiased", "latest")


# ---- closed forms (host side, numpy) -----------------------------------------------------------


def erm_variance(alpha: float, rounds: np.ndarray) -> np.ndarray:
    """Thm 1: Var(Y_t)/Sigma of ERM under fixed provenance and deploy=erm, by log-Gamma sums."""
    t = np.atleast_1d(np.asarray(rounds, dtype=np.float64))
    k = np.arange(1, max(int(t.max()), 2), dtype=np.float64)
    partial = np.concatenate([[0.0], np.cumsum(np.exp(2 * (gammaln(k + 1) - np.log(k) - gammaln(k + alpha))))])
    tail = np.exp(2 * (gammaln(t + alpha) - gammaln(t + 1))) * partial[t.astype(np.int64) - 1]
    return 1 / t**2 + np.where(t > 1, tail, 0.0)


def erm_constant(alpha: float, terms: int = 1_000_000) -> float:
    """C(alpha) = sum_{k>=1} (Gamma(k+1)/(k Gamma(k+alpha)))^2 for 1/2 < alpha < 1, with the
    tail beyond ``terms`` by its integral (terms ~ k^-2alpha)."""
    k = np.arange(1, terms + 1, dtype=np.float64)
    head = np.sum(np.exp(2 * (gammaln(k + 1) - np.log(k) - gammaln(k + alpha))))
    return float(head + (terms + 0.5) ** (1 - 2 * alpha) / (2 * alpha - 1))


def erm_asymptotic(alpha: float, rounds: np.ndarray) -> np.ndarray:
    """The leading behaviour of Thm 1's variance on each side of the alpha = 1/2 transition."""
    t = np.asarray(rounds, dtype=np.float64)
    if alpha < 0.5:
        return 1 / ((1 - 2 * alpha) * t)
    if alpha == 0.5:
        return np.log(t) / t
    if alpha < 1:
        return erm_constant(alpha) * t ** (-2 * (1 - alpha))
    return np.full_like(t, np.pi**2 / 6)


def variances(alpha: float, rounds: int, deploy: str, share_var: float) -> dict[str, np.ndarray]:
    """Var/Sigma of every estimator at rounds 1..``rounds`` (formulas in the module docstring);
    ``share_var`` = Var(a_t): 0 for fixed provenance, alpha (1 - alpha)/n for random."""
    t = np.arange(1, rounds + 1, dtype=np.float64)
    keep = 1 - alpha
    denom = 1 + (t - 1) * keep**2  # D_t
    erm, weighted = np.zeros(rounds), np.zeros(rounds)
    weighted_num = 1.0
    erm[0] = weighted[0] = 1.0
    for r in range(1, rounds):  # round r + 1 from round r (host-side theory, T <= a few 1000)
        previous = erm[r - 1] if deploy == "erm" else weighted[r - 1]
        weighted_num += keep**2 * (1 + share_var * previous)
        weighted[r] = weighted_num / denom[r] ** 2
        erm[r] = (((r + alpha) ** 2 + share_var) * erm[r - 1] + 1) / (r + 1) ** 2  # valid for deploy=erm only
    deployed = erm if deploy == "erm" else weighted
    before = np.concatenate([[0.0], deployed[:-1]])  # V_dep(t - 1), zero before round 1
    if deploy == "weighted":  # ERM's variance when the weighted estimate generates the data
        w = np.where(t == 1, 1.0, keep)
        d_before = np.concatenate([[1.0], denom[:-1]])  # D_{q-1} (unused where W_{q-1} = 0)
        g = np.cumsum(w + (alpha * d_before + keep * share_var) * before)  # G_m, m = 1..T
        cross = np.concatenate([[0.0], np.cumsum(g[:-1] / denom[:-1])])  # sum_{s=2..t} G_{s-1}/D_{s-1}
        erm = (np.cumsum(1 + (alpha**2 + share_var) * before) + 2 * alpha * cross) / t**2
    with np.errstate(divide="ignore", invalid="ignore"):
        debiased = (1 + np.cumsum(np.where(t > 1, 1 + share_var * before, 0.0)) / keep**2) / t**2
    latest = 1 + (alpha**2 + share_var) * before
    if deploy == "erm" and share_var == 0:
        erm = erm_variance(alpha, t)
    return {"erm": erm, "weighted": weighted, "debiased": debiased, "latest": latest}


# ---- the study -------------------------------------------------------------------------------


@register_study
class ContaminatedMeanStudy(Study):
    name = "contaminated-mean"
    description = "Mean estimation from rounds contaminated by the previous estimate: ERM vs reweighting (Amin et al.)"
    params = (
        Param("dim", "dimension d", 1, kind="int", static=True, low=1, high=10**5),
        Param("n", "samples per round", 100, kind="int", low=1),
        Param("alpha", "contamination rate: share of each round drawn from the deployed model", 0.5, low=0.0, high=1.0),
        Param("sigma", "population standard deviation per coordinate", 1.0, low=0.0),
        Param("deploy", "estimate that generates the synthetic data: erm or weighted", "erm", kind="choice", choices=("erm", "weighted")),
        Param("provenance", "synthetic count per round: fixed (alpha n) or random (Binomial(n, alpha))", "fixed", kind="choice", choices=("fixed", "random")),
    )
    metrics = tuple(f"{e}_sq_error" for e in ESTIMATORS) + ("erm_scaled_error",)
    metric_docs = {
        **{f"{e}_sq_error": "||estimate - mu||^2 of " + {
            "erm": "ERM, the mean of every sample so far",
            "weighted": "the inverse-variance weighting of the alpha-corrected rounds",
            "debiased": "the plain mean of the alpha-corrected rounds (NaN at alpha = 1)",
            "latest": "the latest round's sample mean alone",
        }[e] for e in ESTIMATORS},
        "erm_scaled_error": "ERM's squared error over the clean 1/t rate, t ||Y_t - mu||^2 / tr Sigma",
    }
    checks = (
        Check("estimators", {"dim": 4, "n": 2},
              {"alpha": [0.0, 0.25, 0.5, 0.75, 1.0], "deploy": ["erm", "weighted"], "provenance": ["fixed", "random"]},
              seeds=4000, generations=40, key=5, quick_seeds=2000),
    )

    dim: int = eqx.field(static=True)
    any_random: bool = eqx.field(static=True)  # some grid point draws Binomial shares

    @classmethod
    def build(cls, configs: list[dict[str, Any]], generations: int) -> ContaminatedMeanStudy:
        return cls(dim=configs[0]["dim"], any_random=any(c["provenance"] == "random" for c in configs))

    def numeric(self, config: dict[str, Any]) -> dict[str, np.ndarray]:
        return {
            "n": np.float64(config["n"]),
            "alpha": np.float64(config["alpha"]),
            "noise_sd": np.float64(config["sigma"] / np.sqrt(config["n"])),
            "deploy_weighted": np.bool_(config["deploy"] == "weighted"),
            "random_share": np.bool_(config["provenance"] == "random"),
        }

    def bytes_per_seed(self) -> int:
        return np.dtype(float_dtype()).itemsize * (8 * self.dim + 64)

    @classmethod
    def truth(cls, config: dict[str, Any]) -> dict[str, Any]:
        return {"mu": [0.0] * config["dim"], "trace_sigma": config["dim"] * config["sigma"] ** 2 / config["n"]}

    # ---- traced side: the state holds errors (estimate - mu) --------------------------------
    def _measure(self, state, rounds, params):
        # divisors shared by a grid point's seeds are inverted once and multiplied per seed
        alpha, noise_sd, per_round = params["alpha"], params["noise_sd"], 1 / rounds
        weighted = state["weighted_sum"] * (1 / (1 + (rounds - 1) * (1 - alpha) ** 2))
        debiased = jnp.where(alpha < 1, state["debiased_sum"] * per_round, jnp.nan)
        erm = state["erm_sum"] * per_round
        errors = {"erm": erm, "weighted": weighted, "debiased": debiased, "latest": state["latest"]}
        metrics = {f"{e}_sq_error": jnp.sum(v**2) for e, v in errors.items()}
        metrics["erm_scaled_error"] = metrics["erm_sq_error"] * (rounds / (self.dim * noise_sd**2))
        deployed = jnp.where(params["deploy_weighted"], weighted, erm)
        return {**state, "deployed": deployed}, metrics

    def start(self, key, params):
        """Nothing deployed and nothing summed: round 1 (t = 0) is clean, X = U_1."""
        zero = jnp.zeros(self.dim, params["noise_sd"].dtype)
        return {"erm_sum": zero, "weighted_sum": zero, "debiased_sum": zero, "latest": zero, "deployed": zero}

    def step(self, state, key, t, params):
        alpha, dtype = params["alpha"], params["noise_sd"].dtype
        k_noise, share = key, alpha
        if self.any_random:
            k_noise, k_share = jax.random.split(key)
            share = jnp.where(params["random_share"], binomial(k_share, params["n"], alpha) / params["n"], alpha)
        x = share * state["deployed"] + params["noise_sd"] * jax.random.normal(k_noise, (self.dim,), dtype)
        corrected = x - alpha * state["deployed"]  # (a_t - alpha) Y_{t-1} + U_t
        clean = t == 0  # round 1 has no synthetic share: every estimator starts at X_1 = U_1
        state = {
            "erm_sum": state["erm_sum"] + x,
            "weighted_sum": state["weighted_sum"] + jnp.where(clean, 1.0, 1 - alpha) * corrected,
            "debiased_sum": state["debiased_sum"] + corrected * (1 / jnp.where(clean | (alpha >= 1), 1.0, 1 - alpha)),
            "latest": x,
            "deployed": state["deployed"],
        }
        return self._measure(state, (t + 1).astype(dtype), params)

    @classmethod
    def theory(cls, config: dict[str, Any], generations: int) -> dict[str, np.ndarray]:
        alpha, n = config["alpha"], config["n"]
        share_var = alpha * (1 - alpha) / n if config["provenance"] == "random" else 0.0
        v = variances(alpha, generations + 1, config["deploy"], share_var)
        trace = config["dim"] * config["sigma"] ** 2 / n
        out = {f"{e}_sq_error": trace * v[e] for e in ESTIMATORS}
        out["erm_scaled_error"] = np.arange(1, generations + 2) * v["erm"]
        return out


# ---- contaminated PAC learning ------------------------------------------------------------------

LEARNERS = ("erm", "corrected")
WINDOW = 16  # thresholds: only points within WINDOW/n of theta* are stored (see the class docstring)


@register_study
class ContaminatedPACStudy(Study):
    """``contaminated-pac``: realizable binary classification where each round labels n fresh
    points x ~ D by the previous classifier with probability alpha and by the truth otherwise
    (round 1 clean); the data accumulate (paper note sec. 1, PAC model).

    Concepts: ``threshold`` f(x) = 1[x >= theta*] with D = U[0, 1], error |theta - theta*|;
    ``halfspace`` f(x) = 1[w*.x >= 0] in ``dim`` dimensions with D = N(0, I), error
    angle(w, w*)/pi.

    Learners, each deploying its own classifier (both see the same x and the same synthetic
    coins, i.e. common random numbers):
      erm        repeated ERM on all data so far (thresholds: exact 0-1 ERM, midpoint of the
                 minimising gap; halfspaces: weighted logistic regression with ``ridge``, since
                 0-1 ERM is NP-hard there)
      corrected  ERM on the loss-corrected risk  sum_i ([h(x_i) != y_i] - alpha [h(x_i) != f_{s-1}(x_i)])
                 (round-1 points uncorrected). Since P(y != h | x) = (1-alpha)[h != f*] + alpha [h != f_{s-1}],
                 each round's term is (1-alpha) times an unbiased estimate of the risk under f*:
                 points the learner's own f_{s-1} got "wrong" (y != f_{s-1}(x), certainly labelled
                 by f*) weigh 1 + alpha, the others 1 - alpha. It needs alpha, like the mean
                 study's reweighting. This is the note's "disagreements are certain" mechanism
                 turned into a weighted ERM (derived for jaxcollapse); the paper's Thm 3
                 randomized algorithm and its PU-learning scheme are not specified in the note
                 and are not implemented.
    Why ERM stalls: where f_{t-1} != f*, a round's labels follow f_{t-1} with probability alpha,
    so for alpha > 1/2 the majority there is wrong and ERM keeps f_{t-1}'s mistake; the corrected
    weights give f* the edge (1 - alpha)(1 + alpha) > alpha (1 - alpha) for every alpha < 1.

    Exactness of the threshold buffer: ERM's minimiser lies in the hull of theta* and the
    deployed thresholds, so only points within WINDOW/n = 16/n of theta* are kept (capacity
    mean + 8 sd of their count). This is exact unless round 1's error exceeds 16/n
    (probability < 1e-7 at any n).
    Theory: round 1 (generation 0) thresholds, theta* at least 10/n from the ends:
    E|theta_1 - theta*| = 1/(2(n+1)) (the gap around theta* has Dirichlet(1, 1, n-1) sides).
    """

    name = "contaminated-pac"
    description = "PAC learning from labels contaminated by the previous classifier: repeated ERM vs corrected ERM (Amin et al.)"
    params = (
        Param("concept", "threshold on [0, 1] or halfspace in dim dimensions", "threshold", kind="choice", static=True, choices=("threshold", "halfspace")),
        Param("dim", "dimension of the halfspace concept (threshold: unused)", 5, kind="int", static=True, low=2),
        Param("n", "fresh points per round", 100, kind="int", low=1),
        Param("alpha", "probability that a label comes from the previous classifier", 0.5, low=0.0, high=1.0),
        Param("threshold", "true threshold theta*", 0.5, low=0.0, high=1.0),
        Param("ridge", "halfspace logistic penalty lambda/2 ||w||^2", 1.0, low=0.0),
        Param("newton_steps", "halfspace Newton iterations per round (warm-started)", 5, kind="int", static=True, low=1, high=1000),
    )
    metrics = tuple(f"{learner}_error" for learner in LEARNERS)
    metric_docs = {
        f"{learner}_error": {
            "erm": "repeated ERM",
            "corrected": "loss-corrected ERM",
        }[learner] + "'s error P(h(x) != f*(x)): |theta - theta*| or angle(w, w*)/pi"
        for learner in LEARNERS
    }
    checks = (
        Check("first-round", {"n": 40, "alpha": 0.5, "threshold": 0.4}, seeds=8000, generations=2, key=1,
              quick_seeds=4000),
    )

    concept: str = eqx.field(static=True)
    dim: int = eqx.field(static=True)
    n_max: int = eqx.field(static=True)
    capacity: int = eqx.field(static=True)
    newton_steps: int = eqx.field(static=True)

    @classmethod
    def check(cls, config: dict[str, Any], generations: int) -> dict[str, Any]:
        if config["concept"] == "threshold" and not 0 < config["threshold"] < 1:
            raise ConfigError(f"threshold={config['threshold']}: must lie strictly inside (0, 1)")
        if config["concept"] == "halfspace" and config["ridge"] == 0:
            raise ConfigError("ridge=0 with concept=halfspace: round 1 is separable and the logistic fit diverges; set ridge > 0")
        return config

    @classmethod
    def static_key(cls, config: dict[str, Any]) -> tuple:
        return (config["concept"], config["dim"] if config["concept"] == "halfspace" else 1, config["newton_steps"])

    @classmethod
    def build(cls, configs: list[dict[str, Any]], generations: int) -> ContaminatedPACStudy:
        concept, n_max, rounds = configs[0]["concept"], max(c["n"] for c in configs), generations + 1
        if concept == "threshold":
            per_round = min(n_max, 2 * WINDOW)
            mean = per_round * rounds
            capacity = min(n_max * rounds, int(np.ceil(mean + 8 * np.sqrt(mean) + 8)))
        else:
            capacity = n_max * rounds
        return cls(concept=concept, dim=configs[0]["dim"] if concept == "halfspace" else 1, n_max=n_max,
                   capacity=capacity, newton_steps=configs[0]["newton_steps"])

    def numeric(self, config: dict[str, Any]) -> dict[str, np.ndarray]:
        return {"n": np.int32(config["n"]), "alpha": np.float64(config["alpha"]),
                "threshold": np.float64(config["threshold"]), "ridge": np.float64(config["ridge"])}

    def bytes_per_seed(self) -> int:
        return np.dtype(float_dtype()).itemsize * self.capacity * (self.dim + 2 * len(LEARNERS)) * 3

    @classmethod
    def truth(cls, config: dict[str, Any]) -> dict[str, Any]:
        if config["concept"] == "threshold":
            return {"threshold": config["threshold"]}
        return {"w_star": [1.0] + [0.0] * (config["dim"] - 1)}

    @classmethod
    def theory(cls, config: dict[str, Any], generations: int) -> dict[str, np.ndarray]:
        n, theta = config["n"], config["threshold"]
        if config["concept"] != "threshold" or min(theta, 1 - theta) * n < 10:
            return {}
        first = np.full(generations + 1, np.nan)
        first[0] = 1 / (2 * (n + 1))
        return {m: first for m in cls.metrics}

    # ---- traced side ------------------------------------------------------------------------
    def _draw(self, key, state, t, params):
        """One round: x, which points are present, and each learner's labels u = 2y - 1 and
        correction signs v = 2 f_{t-1}(x) - 1 (zero in the clean round 1, t = 0)."""
        k_x, k_coin = jax.random.split(key)
        dtype = params["alpha"].dtype
        present = jnp.arange(self.n_max) < params["n"]
        if self.concept == "threshold":
            x = jax.random.uniform(k_x, (self.n_max,), dtype)
            truth = x >= params["threshold"]
            previous = x[None, :] >= state["theta"][:, None]
        else:
            x = jax.random.normal(k_x, (self.n_max, self.dim), dtype)
            truth = x[:, 0] >= 0  # w* = e_1
            previous = (x @ state["w"].T).T >= 0
        clean = t == 0
        synthetic = (jax.random.uniform(k_coin, (self.n_max,), dtype) < params["alpha"]) & ~clean
        labels = jnp.where(synthetic, previous, truth)
        u = (2.0 * labels - 1).astype(dtype)
        v = jnp.where(clean, 0.0, 2.0 * previous - 1).astype(dtype)
        return x, present, u, v

    def _correction(self, params):
        return jnp.stack([jnp.zeros_like(params["alpha"]), params["alpha"]])  # erm, corrected

    def _round(self, state, key, t, params):
        x, present, u, v = self._draw(key, state, t, params)
        correction = self._correction(params)
        if self.concept == "threshold":
            half = WINDOW / params["n"].astype(x.dtype)
            low, high = jnp.maximum(params["threshold"] - half, 0.0), jnp.minimum(params["threshold"] + half, 1.0)
            kept = present & (x >= low) & (x <= high)
            points, sums = threshold.insert(
                state["points"], state["sums"], jnp.where(kept, x, jnp.inf), jnp.concatenate([u, v]))
            count = jnp.minimum(state["count"] + jnp.sum(kept), self.capacity)
            theta = threshold.fit(points, count, sums[: len(LEARNERS)], sums[len(LEARNERS):], correction, low, high)
            state = {"points": points, "sums": sums, "count": count, "theta": theta}
            errors = jnp.abs(theta - params["threshold"])
        else:
            start = t * self.n_max
            weight = present * (1 - correction[:, None] * u * v)
            state = {
                "x": jax.lax.dynamic_update_slice(state["x"], x, (start, 0)),
                "u": jax.lax.dynamic_update_slice(state["u"], u, (0, start)),
                "weight": jax.lax.dynamic_update_slice(state["weight"], weight, (0, start)),
                "w": state["w"],
            }
            w = jax.vmap(halfspace.logistic_fit, in_axes=(0, None, 0, 0, None, None))(
                state["w"], state["x"], state["u"], state["weight"], params["ridge"], self.newton_steps)
            state["w"] = w
            truth = jnp.zeros(self.dim, w.dtype).at[0].set(1.0)
            errors = jax.vmap(halfspace.angle_error, in_axes=(0, None))(w, truth)
        return state, {f"{learner}_error": errors[i] for i, learner in enumerate(LEARNERS)}

    def start(self, key, params):
        """Empty buffers and zero fits; round 1 (t = 0) is clean."""
        dtype, learners = params["alpha"].dtype, len(LEARNERS)
        if self.concept == "threshold":
            state = {"points": jnp.full(self.capacity, jnp.inf, dtype),
                     "sums": jnp.zeros((2 * learners, self.capacity), dtype),
                     "count": jnp.zeros((), jnp.int32), "theta": jnp.zeros(learners, dtype)}
        else:
            state = {"x": jnp.zeros((self.capacity, self.dim), dtype), "u": jnp.zeros((learners, self.capacity), dtype),
                     "weight": jnp.zeros((learners, self.capacity), dtype), "w": jnp.zeros((learners, self.dim), dtype)}
        return state

    def step(self, state, key, t, params):
        return self._round(state, key, t, params)


# ---- presets and figures ------------------------------------------------------------------------


def phase_figure(result, out_dir) -> Figure:
    """ERM's scaled error t E||Y_t - mu||^2 / tr Sigma over (alpha, round t): the heatmap (log t
    axis) and one line per alpha with Thm 1 dashed; flat below alpha = 1/2, growing above.
    Saved as scaled_error.<fmt>; returns the Figure."""
    import matplotlib
    from matplotlib.figure import Figure

    from ..plot import save_figure

    scaled, theory = result.mean("erm_scaled_error"), result.theory.get("erm_scaled_error")
    alphas = np.asarray(result.coords["alpha"], np.float64)
    rounds = np.arange(1, result.generations + 2)
    fig = Figure(figsize=(12, 4.4), layout="constrained")
    left, right = fig.subplots(1, 2)
    image = left.pcolormesh(rounds, alphas, np.log10(scaled), shading="nearest", cmap="viridis")
    left.set(xscale="log", xlabel="round t", ylabel="alpha", title="log10 t E||Y_t - mu||^2 / tr Sigma (ERM)")
    left.axhline(0.5, color="w", ls="--", lw=0.8)
    fig.colorbar(image, ax=left)
    for i in range(0, len(alphas), max(1, len(alphas) // 8)):
        color = matplotlib.colormaps["coolwarm"](alphas[i])
        right.plot(rounds, scaled[i], color=color, label=f"alpha={alphas[i]:g}")
        if theory is not None:
            right.plot(rounds, theory[i], color="k", ls="--", lw=0.6)
    right.set(xscale="log", yscale="log", xlabel="round t", ylabel="t Var / tr Sigma",
              title="ERM's rate (dashed: Thm 1); flat = 1/t")
    right.legend(fontsize=7, ncol=2)
    save_figure(fig, f"{out_dir}/scaled_error.png")
    return fig


def estimators_figure(result, out_dir) -> Figure:
    """E||estimate - mu||^2 / tr Sigma of every estimator against t, one panel per alpha
    (the first value of any other grid axis), theory dashed. Saved as estimators.<fmt>;
    returns the Figure."""
    from matplotlib.figure import Figure

    from ..plot import save_figure

    alphas = result.coords["alpha"]
    rest = (0,) * (len(result.dims) - 2)
    trace = result.config["truth"]["trace_sigma"]
    rounds = np.arange(1, result.generations + 2)
    fig = Figure(figsize=(3.2 * len(alphas), 3.2), layout="constrained")
    axes = fig.subplots(1, len(alphas), squeeze=False, sharey=True)
    for ax, i in zip(axes[0], range(len(alphas))):
        for estimator in ESTIMATORS:
            metric = f"{estimator}_sq_error"
            line, = ax.plot(rounds, result.mean(metric)[(i,) + rest] / trace, label=estimator)
            theory = result.theory.get(metric)
            if theory is not None:
                ax.plot(rounds, theory[(i,) + rest] / trace, color=line.get_color(), ls="--", lw=0.7)
        ax.set(xscale="log", yscale="log", xlabel="round t", title=f"alpha={alphas[i]}")
    axes[0, 0].set_ylabel("E||est - mu||^2 / tr Sigma")
    axes[0, 0].legend(fontsize=7)
    save_figure(fig, f"{out_dir}/estimators.png")
    return fig


register_preset(Preset(
    name="amin-phase",
    study="contaminated-mean",
    description="ERM's scaled error t Var/Sigma over alpha (0..1) x round t (1..1000): the transition at alpha = 1/2",
    settings={"dim": 1, "n": 100},
    grids={"alpha": [round(0.05 * i, 2) for i in range(21)]},
    seeds=2000,
    generations=999,
    quick={"seeds": 200, "generations": 99, "grids": {"alpha": [0.0, 0.25, 0.5, 0.75, 1.0]}},
    figure=phase_figure,
    keep=(),
))

register_preset(Preset(
    name="amin-estimators",
    study="contaminated-mean",
    description="ERM vs inverse-variance, debiased and latest-round estimators for alpha in {0, .1, .25, .5, .75, .9, 1}, deploying ERM or the reweighted estimate",
    settings={"dim": 1, "n": 100},
    grids={"alpha": [0.0, 0.1, 0.25, 0.5, 0.75, 0.9, 1.0], "deploy": ["erm", "weighted"]},
    seeds=10000,
    generations=999,
    quick={"seeds": 200, "generations": 99, "grids": {"alpha": [0.25, 0.75, 1.0], "deploy": ["erm", "weighted"]}},
    figure=estimators_figure,
    keep=(),
))

register_preset(Preset(
    name="amin-pac",
    study="contaminated-pac",
    description="Thresholds on [0,1], n = 100, 200 rounds: repeated ERM stalls for alpha >= 0.8, the corrected learner keeps improving",
    settings={"concept": "threshold", "n": 100},
    grids={"alpha": [0.0, 0.3, 0.5, 0.6, 0.8, 0.95]},
    seeds=300,
    generations=199,
    quick={"seeds": 50, "generations": 29, "settings": {"concept": "threshold", "n": 50}},
))

register_preset(Preset(
    name="amin-pac-halfspace",
    study="contaminated-pac",
    description="Halfspaces in 5 dimensions (logistic ERM), n = 100, 30 rounds, alpha in {0, .5, .8, .95}",
    settings={"concept": "halfspace", "dim": 5, "n": 100},
    grids={"alpha": [0.0, 0.5, 0.8, 0.95]},
    seeds=300,
    generations=29,
    quick={"seeds": 30, "generations": 5, "settings": {"concept": "halfspace", "dim": 3, "n": 30}, "grids": {"alpha": [0.0, 0.9]}},
))
