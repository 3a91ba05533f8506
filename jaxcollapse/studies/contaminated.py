"""``contaminated-mean``: mean estimation from data contaminated by the previous round's model
(Amin, Bie, Kong, Syed & Vassilvitskii, "Learning from Synthetic Data: Limitations of ERM",
2026; paper note sec. 1, 2 and 4).

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

from ..engine.params import Param
from ..engine.study import Study, float_dtype
from ..families.categorical import binomial
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
        erm[r] = (((r + alpha) ** 2 + share_var) * erm[r - 1] + 1) / (r + 1) ** 2
    deployed = erm if deploy == "erm" else weighted
    before = np.concatenate([[0.0], deployed[:-1]])  # V_dep(t - 1), zero before round 1
    if deploy == "weighted":
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
        Param("dim", "dimension d", 1, kind="int", static=True, low=1),
        Param("n", "samples per round", 100, kind="int", low=1),
        Param("alpha", "contamination rate: share of each round drawn from the deployed model", 0.5, low=0.0, high=1.0),
        Param("sigma", "population standard deviation per coordinate", 1.0, low=0.0),
        Param("deploy", "estimate that generates the synthetic data: erm or weighted", "erm", kind="choice", choices=("erm", "weighted")),
        Param("provenance", "synthetic count per round: fixed (alpha n) or random (Binomial(n, alpha))", "fixed", kind="choice", choices=("fixed", "random")),
    )
    metrics = tuple(f"{e}_sq_error" for e in ESTIMATORS) + ("erm_scaled_error",)

    dim: int = eqx.field(static=True)

    @classmethod
    def build(cls, configs: list[dict[str, Any]], generations: int) -> "ContaminatedMeanStudy":
        return cls(dim=configs[0]["dim"])

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
        alpha, noise_sd = params["alpha"], params["noise_sd"]
        weighted = state["weighted_sum"] / (1 + (rounds - 1) * (1 - alpha) ** 2)
        debiased = jnp.where(alpha < 1, state["debiased_sum"] / rounds, jnp.nan)
        erm = state["erm_sum"] / rounds
        errors = {"erm": erm, "weighted": weighted, "debiased": debiased, "latest": state["latest"]}
        metrics = {f"{e}_sq_error": jnp.sum(v**2) for e, v in errors.items()}
        metrics["erm_scaled_error"] = rounds * metrics["erm_sq_error"] / (self.dim * noise_sd**2)
        deployed = jnp.where(params["deploy_weighted"], weighted, erm)
        return {**state, "deployed": deployed}, metrics

    def init(self, key, params):
        x = params["noise_sd"] * jax.random.normal(key, (self.dim,), params["noise_sd"].dtype)
        state = {"erm_sum": x, "weighted_sum": x, "debiased_sum": x, "latest": x, "deployed": x}
        return self._measure(state, 1.0, params)

    def step(self, state, key, t, params):
        k_noise, k_share = jax.random.split(key)
        alpha, dtype = params["alpha"], params["noise_sd"].dtype
        share = jnp.where(params["random_share"], binomial(k_share, params["n"], alpha) / params["n"], alpha)
        x = share * state["deployed"] + params["noise_sd"] * jax.random.normal(k_noise, (self.dim,), dtype)
        corrected = x - alpha * state["deployed"]  # (a_t - alpha) Y_{t-1} + U_t
        state = {
            "erm_sum": state["erm_sum"] + x,
            "weighted_sum": state["weighted_sum"] + (1 - alpha) * corrected,
            "debiased_sum": state["debiased_sum"] + corrected / jnp.where(alpha < 1, 1 - alpha, 1.0),
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
