"""``glm``: generalised linear models retrained on fresh real rows and their own synthetic rows, the
real part weighted (He, Xu & Cheng 2025, *Golden Ratio Weighting Prevents Model Collapse*, the GLM
section: linear, logistic and Poisson regression with per-row weights).

Rows are (x, y) with x ~ N(0, I_d) and y | x from the family at eta = x.beta: linear N(eta,
noise^2), logistic Bernoulli(sigmoid(eta)), Poisson(exp(eta)). Real rows use beta* = coef_norm
(1, ..., 1)/sqrt(d); generation t's synthetic rows use the last fit. The fit is the weighted MLE,
argmin sum_i w_i [b(eta_i) - y_i eta_i] (``newton_steps`` Newton steps from the last fit; one is
exact for the linear family), with the data loop's weights: under ``regime=mix`` and ``real_share``
= w the real rows weigh w/r each and the synthetic rows (1 - w)/s (sklearn's ``sample_weight`` in
the authors' code, up to a common factor), unset = pooled.

Closed form (asymptotic, the note's section 4): the fit's error behaves as He et al.'s mean
estimator with tr Sigma replaced by v = tr I(beta*)^{-1}, the inverse Fisher information per row,
e_t = (1 - w)(e_{t-1} + eta_t) + w eps_t, so

  a_t = E ||beta_t - beta*||^2 = (1 - w)^2 (a_{t-1} + v/s) + w^2 v/r,   a_0 = v/n_0,

minimised in the long run at w*(k) = (sqrt(k^2 + 4k) - k)/2, k = r/s. With x ~ N(0, I) and
beta* = c u, I = E[b''(cZ)] (I - u u^T) + E[Z^2 b''(cZ)] u u^T (Z ~ N(0, 1)), so
v = (d - 1)/E b''(cZ) + 1/E[Z^2 b''(cZ)]: 1/noise^2 (linear), exp(c^2/2) and (1 + c^2) exp(c^2/2)
(Poisson), Gauss-Hermite integrals (logistic). The recursion is asymptotic in n (the note: "holds
only asymptotically"; the paper's GLM claim is [unconfirmed] there); finite-n terms are O(d/n).
"""

from __future__ import annotations

from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from ..engine.data import DataLoop, LoopStudy, loop_numeric, loop_params, pooled_fit
from ..engine.params import Param
from ..engine.study import Check, float_dtype
from ..models import scalar
from .registry import Preset, register_preset, register_study

FAMILIES = ("linear", "logistic", "poisson")
REGIMES = ("replace", "mix", "accumulate", "mix-retained")


def inverse_information(config: dict[str, Any]) -> float:
    """v = tr I(beta*)^{-1}: the asymptotic error of the MLE times the row count."""
    d, c = config["dim"], config["coef_norm"]
    if config["family"] == "linear":
        return d * config["noise"] ** 2
    if config["family"] == "poisson":
        flat = np.exp(c**2 / 2)
        return (d - 1) / flat + 1 / ((1 + c**2) * flat)
    z, weights = np.polynomial.hermite_e.hermegauss(200)
    weights = weights / weights.sum()
    p = 1 / (1 + np.exp(-c * z))
    curvature = p * (1 - p)
    return (d - 1) / (weights @ curvature) + 1 / (weights @ (z**2 * curvature))


@register_study
class GLMStudy(LoopStudy):
    name = "glm"
    description = "Linear, logistic or Poisson regression refitted on real + its own synthetic rows, the real part weighted (He, Xu & Cheng)"
    params = (
        Param("family", "linear (Gaussian noise), logistic or poisson", "logistic", kind="choice", static=True,
              choices=FAMILIES),
        Param("dim", "number of covariates d", 2, kind="int", static=True, low=1, high=256),
        Param("coef_norm", "||beta*||; beta* = coef_norm (1, ..., 1) / sqrt(d)", 0.5, low=0.0, high=3.0),
        Param("noise", "linear family: the label noise sd", 1.0, low=1e-6),
        Param("newton_steps", "Newton steps per fit (with step halving), from the last fit (linear: 1 is exact)", 12,
              kind="int",
              static=True, low=1, high=100),
        *loop_params(n=1000, regimes=REGIMES, select=False),
    )
    metrics = ("coef_error",)
    metric_docs = {"coef_error": "squared error of the fitted coefficients, ||beta_t - beta*||^2"}
    checks = (
        Check("weighted-mix", {"family": "logistic", "regime": "mix", "alpha": 0.5, "n": 1000},
              grids={"real_share": [0.3, 0.62, 0.9]}, seeds=1000, generations=12, key=1, relative=0.03,
              quick_seeds=150),
    )

    family: str = eqx.field(static=True)
    dim: int = eqx.field(static=True)
    newton_steps: int = eqx.field(static=True)
    loop: DataLoop

    @classmethod
    def static_key(cls, config: dict[str, Any]) -> tuple:
        return (config["family"], config["dim"], config["newton_steps"], DataLoop.static_key(config))

    @classmethod
    def build(cls, configs: list[dict[str, Any]], generations: int) -> "GLMStudy":
        first = configs[0]
        return cls(family=first["family"], dim=first["dim"], newton_steps=first["newton_steps"],
                   loop=DataLoop.build(configs))

    def numeric(self, config: dict[str, Any]) -> dict[str, Any]:
        beta = np.full(self.dim, config["coef_norm"] / np.sqrt(self.dim))
        return {"loop": loop_numeric(config), "beta": beta, "noise": np.float64(config["noise"])}

    def bytes_per_seed(self) -> int:
        return np.dtype(float_dtype()).itemsize * (self.dim + 4) * (self.loop.capacity + self.loop.batch) + 4096

    @classmethod
    def truth(cls, config: dict[str, Any]) -> dict[str, Any]:
        return {"inverse_information": inverse_information(config)}

    # ---- traced side ----------------------------------------------------------------------------
    def _rows(self, key, beta, params):
        k_x, k_y = jax.random.split(key)
        x = jax.random.normal(k_x, (self.loop.batch, self.dim), beta.dtype)
        eta = x @ beta
        if self.family == "linear":
            y = eta + params["noise"] * jax.random.normal(k_y, eta.shape, eta.dtype)
        elif self.family == "logistic":
            y = jax.random.bernoulli(k_y, jax.nn.sigmoid(eta)).astype(eta.dtype)
        else:
            y = scalar.poisson(k_y, jnp.exp(eta), eta.shape)
        return x, y

    def _fit(self, rows, weights, start):
        """Weighted MLE, argmin sum_i w_i [b(eta_i) - y_i eta_i], by Newton's method (gradient
        X^T W (b'(eta) - y), Hessian X^T W diag(b''(eta)) X) with step halving: each step takes the
        best of the full Newton step and its halvings down to 1/128 (the Poisson family's
        exponential overshoots a full step far from the optimum). One plain step for linear."""
        x, y = rows
        eye = jnp.eye(self.dim, dtype=x.dtype)
        cumulant = {"linear": lambda eta: eta**2 / 2, "logistic": jax.nn.softplus, "poisson": jnp.exp}[self.family]

        def loss(beta):
            eta = x @ beta
            return jnp.sum(weights * (cumulant(eta) - y * eta))

        def newton(beta, _):
            eta = x @ beta
            mean = jax.grad(lambda e: jnp.sum(cumulant(e)))(eta)  # b'(eta)
            curvature = jax.grad(lambda e: jnp.sum(jax.grad(lambda u: jnp.sum(cumulant(u)))(e)))(eta)  # b''(eta)
            hessian = (x * (weights * curvature)[:, None]).T @ x
            gradient = x.T @ (weights * (mean - y))
            hessian = hessian + 1e-9 * jnp.trace(hessian) * eye
            step = jax.scipy.linalg.cho_solve(jax.scipy.linalg.cho_factor(hessian, lower=True), gradient)
            if self.family == "linear":
                return beta - step, None
            candidates = beta[None, :] - (0.5 ** jnp.arange(8, dtype=x.dtype))[:, None] * step[None, :]
            losses = jax.vmap(loss)(candidates)
            best = jnp.argmin(jnp.where(jnp.isfinite(losses), losses, jnp.inf))
            return jnp.where(losses[best] <= loss(beta), candidates[best], beta), None

        steps = 1 if self.family == "linear" else self.newton_steps
        beta, _ = jax.lax.scan(newton, start, None, length=steps)
        return beta

    def _first_start(self, rows, weights):
        """Generation 0 has no previous fit: Newton starts from 0, or for the Poisson family from
        the least-squares fit of log(y + 1/2) (Newton from 0 overshoots by exp(c^2/2) there)."""
        x, y = rows
        if self.family != "poisson":
            return jnp.zeros(self.dim, x.dtype)
        gram = (x * weights[:, None]).T @ x
        return jax.scipy.linalg.cho_solve(jax.scipy.linalg.cho_factor(gram, lower=True),
                                          x.T @ (weights * jnp.log(y + 0.5)))

    def _measure(self, beta, params):
        return {"coef_error": jnp.sum((beta - params["beta"]) ** 2)}

    def start(self, key, params):
        """Generation 0 draws its rows from the true coefficients into an empty pool."""
        truth = params["beta"].astype(float_dtype())
        return truth, self.loop.empty(jax.eval_shape(lambda k: self._rows(k, truth, params), key))

    def step(self, state, key, t, params):
        beta, pool = state
        lp = params["loop"]
        k_synthetic, k_real, k_select, k_subsample = jax.random.split(key, 4)
        real = self._rows(k_real, params["beta"].astype(beta.dtype), params) if self.loop.mixes else None
        pool = self.loop.add(pool, k_select, t, lp, self._rows(k_synthetic, beta, params), real)
        training = self.loop.training_set(pool, k_subsample, t, lp)
        start = jnp.where(t == 0, self._first_start(training.rows, training.weight), beta)
        new = self._fit(training.rows, training.weight, start)
        return (new, pool), self._measure(new, params)

    # ---- closed form ---------------------------------------------------------------------------
    @classmethod
    def theory(cls, config: dict[str, Any], generations: int) -> dict[str, np.ndarray]:
        """The asymptotic recursion (module docstring) under replace and mix, pooled or real_share."""
        if config["regime"] not in ("replace", "mix"):
            return {}
        v = inverse_information(config)
        n = np.asarray(config["n"], np.float64)
        alpha = np.broadcast_to(np.asarray(config["alpha"], np.float64), n.shape)
        real = np.round(alpha * n) if config["regime"] == "mix" else np.zeros_like(n)
        synthetic = n - real
        share = config.get("real_share")
        if share is None and not pooled_fit(config):  # real_weight: not the convex combination
            return {}
        shares = real / n if share is None else np.broadcast_to(np.asarray(share, np.float64), n.shape)
        shares = np.where((real > 0) & (synthetic > 0), shares, real / n)
        error = [v / n[0]]
        for t in range(1, generations + 1):
            w = shares[t]
            real_part = w**2 * v / real[t] if real[t] > 0 else 0.0
            synthetic_part = (1 - w) ** 2 * (error[-1] + v / synthetic[t]) if synthetic[t] > 0 else 0.0
            error.append(synthetic_part + real_part)
        return {"coef_error": np.asarray(error)}


register_preset(Preset(
    name="he-glm",
    study="glm",
    description="He, Xu & Cheng's GLMs: linear, logistic and Poisson regression, n = m = 1,000 real and synthetic rows "
                "(alpha = 1/2), real weight w: the minimum at 1/phi",
    settings={"regime": "mix", "alpha": 0.5, "n": 2000, "dim": 2},
    grids={"family": ["linear", "logistic", "poisson"], "real_share": [0.2, 0.3, 0.4, 0.5, 0.55, 0.6, 0.62, 0.65, 0.7,
                                                                      0.8, 0.9]},
    seeds=500,
    generations=60,
    quick={"seeds": 100, "generations": 20,
           "grids": {"family": ["linear", "logistic", "poisson"], "real_share": [0.3, 0.62, 0.9]}},
))
