"""``regression``: a chain of synthetic-label linear generators and a downstream ridge model
(Dohmatob, Feng & Kempe, "Model Collapse Demystified: The Case of Regression", NeurIPS 2024).

Setting (paper note sec. 1; the note marks the exact set-up as unconfirmed, and this is the
reading that gives the paper's stated "linear in n" and "exponential collapse" results):
x ~ N(0, Sigma), Sigma = diag(eigenvalues) with ``spectrum`` isotropic (all 1) or power
(j^-beta, j = 1..dim). The true weights w0 (unit norm) are a random direction
(``source=random``) or follow the source condition lambda_j w0_j^2 ~ j^-(1 + 2 beta r) with
random signs (``source=r``). Generation 0 is w_0 = w0. Generation t refits the generator by
least squares on ``T0`` covariate rows labelled by w_{t-1} plus N(0, sigma0^2): OLS when
T0 >= dim, the min-norm interpolator when T0 < dim. The rows are fresh each generation
(``design=fresh``) or drawn once (``design=fixed``). A downstream ridge model is then trained
on ``T`` fresh rows labelled by w_t plus N(0, sigma^2), with penalty ``ridge`` = lambda, or
``ridge=adaptive``: lambda = T^-ell, ell = ``ridge_exponent``, by default beta/(1 + 2 beta r)
(the note's proposed reconstruction of the paper's T-dependent choice, Thm 5.1, which the
note marks as unconfirmed; ``source=random`` counts as r = 0).

Metrics over generations n = 0..T (``||v||_Sigma^2 = v^T Sigma v``):
  test_error       ||w_pred - w0||_Sigma^2 of the downstream ridge model on generation n
  generator_error  ||w_n - w0||_Sigma^2 of the generator chain itself

Theory (paper note sec. 4; all exact except (B)):
  (A)  ridge = 0, OLS generators: sigma^2 d/(T - d - 1) + n sigma0^2 d/(T0 - d - 1)
  (B)  ridge > 0, OLS generators: the deterministic equivalent, kappa - lambda = kappa df1/T,
       E(0) = [kappa^2 w0' Sigma (Sigma + kappa)^-2 w0 + sigma^2 df2/T] / (1 - u), u = df2/T,
       E(n) = E(0) + n sigma0^2 [df2 + u (d - 2 df1)] / [(T0 - d - 1)(1 - u)]
       (a proportional-limit approximation, accurate to O(1/d), not an exact mean: at d = 12,
       T = 30 it is up to 5% below the simulated mean at n = 0 and within 3% from n = 1)
  (C)  T0 < d, Sigma = I, fresh rows: ||w0||^2 (1 - rho^n) + s (1 - rho^n)/(1 - rho),
       rho = T0/d, s = sigma0^2 T0/(d - T0 - 1) (sigma0 = 0: the exponential collapse);
       fixed rows: ||w0||^2 (1 - rho) + n s for n >= 1 (one projection, then only noise).
  With ridge = 0 the downstream OLS adds sigma^2 d/(T - d - 1) to any generator error.

Sampling is exact through the Gram matrix (``models.linear``), so T and T0 are traced:
a grid over T, T0, lambda, noise levels, spectrum and design runs under one compile.
"""

from __future__ import annotations

from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from ..engine.params import ConfigError, Param
from ..engine.study import Check, Study, float_dtype
from ..models import linear
from ..models.gaussian import bartlett_root
from .registry import Preset, register_preset, register_study


def eigenvalues(config: dict[str, Any]) -> np.ndarray:
    j = np.arange(1, config["dim"] + 1, dtype=np.float64)
    return np.ones_like(j) if config["spectrum"] == "isotropic" else j ** -config["beta"]


def source_exponent(config: dict[str, Any]) -> float:
    return 0.0 if config["source"] == "random" else float(config["source"])


def true_weights(config: dict[str, Any]) -> np.ndarray:
    """w0 with ||w0|| = 1, drawn on the host from ``truth_seed``."""
    rng = np.random.default_rng(config["truth_seed"])
    if config["source"] == "random":
        w = rng.standard_normal(config["dim"])
    else:
        j = np.arange(1, config["dim"] + 1, dtype=np.float64)
        decay = j ** -(1 + 2 * config["beta"] * source_exponent(config))
        w = rng.choice([-1.0, 1.0], config["dim"]) * np.sqrt(decay / eigenvalues(config))
    return w / np.linalg.norm(w)


def ridge_penalty(config: dict[str, Any]) -> float:
    if config["ridge"] != "adaptive":
        return float(config["ridge"])
    exponent = config["ridge_exponent"]
    if exponent is None:
        beta = config["beta"]
        exponent = beta / (1 + 2 * beta * source_exponent(config))
    return float(config["T"]) ** -exponent


def deterministic_equivalent(spectrum: np.ndarray, w0: np.ndarray, rows: int, penalty: float):
    """kappa, df1, df2 and the clean bias term of the ridge deterministic equivalent (B);
    kappa solves kappa - lambda = kappa df1(kappa)/T by bisection on log kappa."""
    def excess(kappa):
        return kappa - penalty - kappa * np.sum(spectrum / (spectrum + kappa)) / rows

    low, high = penalty, penalty + np.sum(spectrum) / rows + 1.0
    for _ in range(200):
        mid = np.sqrt(low * high)
        low, high = (mid, high) if excess(mid) < 0 else (low, mid)
    kappa = np.sqrt(low * high)
    df1 = np.sum(spectrum / (spectrum + kappa))
    df2 = np.sum((spectrum / (spectrum + kappa)) ** 2)
    bias = kappa**2 * np.sum(spectrum * w0**2 / (spectrum + kappa) ** 2)
    return kappa, df1, df2, bias


@register_study
class RegressionStudy(Study):
    name = "regression"
    description = "Chain of least-squares generators + downstream ridge (Dohmatob, Feng & Kempe)"
    params = (
        Param("dim", "dimension d", 100, kind="int", static=True, low=1, high=4096),
        Param("T", "downstream training rows", 300, kind="int", low=1),
        Param("T0", "rows per generator refit (default: T); T0 < dim is over-parameterised", None, kind="int", low=1),
        Param("sigma", "downstream label noise", 1.0, low=0.0),
        Param("sigma0", "generator label noise", 1.0, low=0.0),
        Param("ridge", "downstream penalty lambda, or adaptive: lambda = T^-ridge_exponent", 0.0, low=0.0, words=("adaptive",)),
        Param("ridge_exponent", "ell in lambda = T^-ell for ridge=adaptive (default beta/(1 + 2 beta r))", None, low=0.0),
        Param("spectrum", "covariance eigenvalues: isotropic (1) or power (j^-beta)", "isotropic", kind="choice", choices=("isotropic", "power")),
        Param("beta", "power-law exponent of the spectrum", 2.0, low=0.0),
        Param("source", "true weights: random direction, or r in lambda_j w0_j^2 ~ j^-(1+2 beta r)", "random", low=0.0, words=("random",)),
        Param("design", "generator covariates: fresh each generation, or fixed once", "fresh", kind="choice", choices=("fresh", "fixed")),
        Param("truth_seed", "seed of w0's random signs / direction", 0, kind="int", low=0),
    )
    metrics = ("test_error", "generator_error")
    metric_docs = {
        "test_error": "excess risk of the ridge model trained on generation n, ||w_pred - w0||_Sigma^2",
        "generator_error": "excess risk of the generation-n generator itself, ||w_n - w0||_Sigma^2",
    }
    checks = (
        Check("ols-chain", {"dim": 10, "T": 80, "sigma": 0.5},
              {"T0": [20, 40], "spectrum": ["isotropic", "power"], "design": ["fresh", "fixed"]}, seeds=8000,
              generations=6, key=3, quick_seeds=2000),
        Check("min-norm-chain", {"dim": 20, "T": 60}, {"T0": [5, 12], "sigma0": [0.0, 0.5], "design": ["fresh", "fixed"]},
              seeds=8000, generations=6, key=4, quick=False),
        Check("ridge-deterministic-equivalent", {"dim": 12, "T": 30, "T0": 40, "sigma": 0.7, "sigma0": 0.8, "beta": 1.5,
                                                 "source": 0.5},
              {"ridge": [0.01, 0.3], "spectrum": ["power", "isotropic"]}, metrics=("test_error",), seeds=8000,
              generations=6, key=5, relative=0.07, quick=False),  # the DE's finite-d error is up to 5.3% here (tests/test_regression.py)
    )

    dim: int = eqx.field(static=True)
    under: bool = eqx.field(static=True)  # some grid point has T0 >= dim (OLS generators)
    over: bool = eqx.field(static=True)  # some grid point has T0 < dim (min-norm generators)

    @classmethod
    def check(cls, config: dict[str, Any], generations: int) -> dict[str, Any]:
        config = dict(config)
        if config["T0"] is None:
            config["T0"] = config["T"]
        if ridge_penalty(config) == 0 and config["T"] < config["dim"]:
            raise ConfigError(f"ridge=0 with T={config['T']} < dim={config['dim']}: the downstream OLS is singular; set ridge > 0")
        return config

    @classmethod
    def build(cls, configs: list[dict[str, Any]], generations: int) -> "RegressionStudy":
        dim = configs[0]["dim"]
        return cls(dim=dim, under=any(c["T0"] >= dim for c in configs), over=any(c["T0"] < dim for c in configs))

    def numeric(self, config: dict[str, Any]) -> dict[str, np.ndarray]:
        return {
            "T": np.float64(config["T"]),
            "T0": np.float64(config["T0"]),
            "sigma": np.float64(config["sigma"]),
            "sigma0": np.float64(config["sigma0"]),
            "ridge": np.float64(ridge_penalty(config)),
            "scale": np.sqrt(eigenvalues(config)),
            "w0": true_weights(config),
            "fixed": np.bool_(config["design"] == "fixed"),
        }

    def bytes_per_seed(self) -> int:
        return np.dtype(float_dtype()).itemsize * self.dim * self.dim * (4 + 3 * (self.under + 2 * self.over))

    @classmethod
    def truth(cls, config: dict[str, Any]) -> dict[str, Any]:
        return {"w0": true_weights(config).tolist(), "eigenvalues": eigenvalues(config).tolist(),
                "ridge_penalty": ridge_penalty(config)}

    # ---- traced side ------------------------------------------------------------------------
    def _designs(self, key, params):
        """The generator's design factors for T0 rows: the Bartlett root (T0 >= d) and/or the
        row space (T0 < d), as the static flags require."""
        k_root, k_space = jax.random.split(key)
        design = {}
        if self.under:
            design["root"] = bartlett_root(k_root, params["T0"], self.dim, params["scale"].dtype)
        if self.over:
            design["rows"], design["gram_factor"] = linear.row_design(k_space, params["T0"], params["scale"])
        return design

    def _measure(self, w, key, params):
        scale2 = params["scale"] ** 2
        prediction = linear.ridge_fit(key, w, params["T"], params["scale"], params["sigma"], params["ridge"])
        return {"test_error": jnp.sum(scale2 * (prediction - params["w0"]) ** 2),
                "generator_error": jnp.sum(scale2 * (w - params["w0"]) ** 2)}

    def start(self, key, params):
        """The true weights (generation 0's model: nothing is refitted) and the fixed design."""
        return params["w0"].astype(float_dtype()), self._designs(key, params)

    def step(self, state, key, t, params):
        w, fixed_design = state
        k_design, k_noise, k_measure = jax.random.split(key, 3)
        fresh = self._designs(k_design, params)
        design = jax.tree.map(lambda kept, new: jnp.where(params["fixed"], kept, new), fixed_design, fresh)
        candidates = []
        if self.under:
            candidates.append(linear.ols_refit(k_noise, w, design["root"], params["scale"], params["sigma0"]))
        if self.over:
            candidates.append(linear.min_norm_refit(k_noise, w, design["rows"], design["gram_factor"], params["T0"], params["sigma0"]))
        refit = candidates[0] if len(candidates) == 1 else jnp.where(params["T0"] < self.dim, candidates[1], candidates[0])
        w = jnp.where(t == 0, w, refit)  # generation 0 is the true model
        return (w, fixed_design), self._measure(w, k_measure, params)

    @classmethod
    def theory(cls, config: dict[str, Any], generations: int) -> dict[str, np.ndarray]:
        d, rows, rows0 = config["dim"], config["T"], config["T0"]
        sigma2, sigma02 = config["sigma"] ** 2, config["sigma0"] ** 2
        spectrum, w0 = eigenvalues(config), true_weights(config)
        n = np.arange(generations + 1, dtype=np.float64)
        penalty = ridge_penalty(config)
        out: dict[str, np.ndarray] = {}
        if rows0 >= d + 2:
            out["generator_error"] = n * sigma02 * d / (rows0 - d - 1)
        elif rows0 < d - 1 and config["spectrum"] == "isotropic":
            rho, s = rows0 / d, sigma02 * rows0 / (d - rows0 - 1)
            if config["design"] == "fresh":
                out["generator_error"] = (1 - rho**n) * (1 + s / (1 - rho))
            else:
                out["generator_error"] = np.where(n > 0, 1 - rho + n * s, 0.0)
        if penalty == 0 and rows >= d + 2 and "generator_error" in out:
            out["test_error"] = sigma2 * d / (rows - d - 1) + out["generator_error"]
        elif penalty > 0 and rows0 >= d + 2:
            _, df1, df2, bias = deterministic_equivalent(spectrum, w0, rows, penalty)
            u = df2 / rows
            clean = (bias + sigma2 * df2 / rows) / (1 - u)
            slope = sigma02 * (df2 + u * (d - 2 * df1)) / ((rows0 - d - 1) * (1 - u))
            out["test_error"] = clean + n * slope
        return out


# ---- figures -----------------------------------------------------------------------------------


def ridge_figure(result, out_dir) -> Figure:
    """U-curves of test error against lambda for several n (theory dashed), and the (n, lambda)
    heatmap with each generation's best lambda marked. Saved as ridge_curves.<fmt>; returns
    the Figure."""
    import matplotlib
    from matplotlib.figure import Figure

    from ..plot import save_figure

    penalties = np.asarray([ridge_penalty({**result.config, "ridge": r}) for r in result.coords["ridge"]])
    mean, theory = result.mean("test_error"), result.theory.get("test_error")
    generations = sorted({0, 1, 2, 5, 10, 20, result.generations} & set(range(result.generations + 1)))
    fig = Figure(figsize=(11, 4.2), layout="constrained")
    left, right = fig.subplots(1, 2)
    for i, n in enumerate(generations):
        color = matplotlib.colormaps["viridis"](i / max(len(generations) - 1, 1))
        left.errorbar(penalties, mean[:, n], 2 * result.stderr("test_error")[:, n], color=color, marker="o", ms=3, label=f"n={n}")
        if theory is not None:
            left.plot(penalties, theory[:, n], color=color, ls="--", lw=0.8)
    left.set(xscale="log", yscale="log", xlabel="lambda", ylabel="test error", title="test error vs lambda (dashed: theory)")
    left.legend(fontsize=7)
    image = right.imshow(np.log10(mean.T), origin="lower", aspect="auto", cmap="magma",
                         extent=(np.log10(penalties[0]), np.log10(penalties[-1]), -0.5, result.generations + 0.5))
    right.plot(np.log10(penalties[np.argmin(mean, axis=0)]), np.arange(result.generations + 1), "c.-", label="best lambda")
    right.set(xlabel="log10 lambda", ylabel="generation n", title="log10 test error")
    right.legend(fontsize=7)
    fig.colorbar(image, ax=right)
    save_figure(fig, f"{out_dir}/ridge_curves.png")
    return fig


def scaling_figure(result, out_dir) -> Figure:
    """Test error against T (log-log) for each ridge rule, at n = 0 and the last generation.
    Saved as scaling.<fmt>; returns the Figure."""
    from matplotlib.figure import Figure

    from ..plot import save_figure

    rows = np.asarray(result.coords["T"], np.float64)
    mean, theory = result.mean("test_error"), result.theory.get("test_error")
    fig = Figure(figsize=(10, 4), layout="constrained")
    axes = fig.subplots(1, 2, sharey=True)
    for ax, n in zip(axes, (0, result.generations)):
        for i, rule in enumerate(result.coords["ridge"]):
            line = ax.errorbar(rows, mean[i, :, n], 2 * result.stderr("test_error")[i, :, n], marker="o", ms=3,
                               label=f"ridge={rule}")
            if theory is not None:
                ax.plot(rows, theory[i, :, n], color=line[0].get_color(), ls="--", lw=0.8)
        ax.set(xscale="log", yscale="log", xlabel="T", title=f"n = {n}")
    axes[0].set_ylabel("test error")
    axes[0].legend(fontsize=7)
    save_figure(fig, f"{out_dir}/scaling.png")
    return fig


register_preset(Preset(
    name="dohmatob-ridge",
    study="regression",
    description="Test error vs lambda for n = 0..10 (U-curves, best lambda moving with n) and the (n, lambda) heatmap",
    settings={"dim": 100, "T": 200, "T0": 300, "spectrum": "power", "beta": 1.5, "source": 0.6667},
    grids={"ridge": [float(f"{x:.3g}") for x in np.logspace(-4, 2, 13)]},
    seeds=500,
    generations=10,
    quick={"seeds": 50, "generations": 3, "settings": {"dim": 20, "T": 40, "T0": 60, "spectrum": "power", "beta": 1.5, "source": 0.6667},
           "grids": {"ridge": [1e-3, 1e-1, 10.0]}},
    figure=ridge_figure,
))

register_preset(Preset(
    name="dohmatob-linear",
    study="regression",
    description="OLS downstream: test error grows linearly in n with slope sigma0^2 d/(T0 - d - 1)",
    settings={"dim": 100, "T": 300},
    grids={"T0": [150, 200, 400], "spectrum": ["isotropic", "power"]},
    seeds=500,
    generations=20,
    quick={"seeds": 50, "generations": 4, "settings": {"dim": 20, "T": 60}, "grids": {"T0": [40, 80]}},
))

register_preset(Preset(
    name="dohmatob-overparam",
    study="regression",
    description="Noise-free over-parameterised generators (T0 < d): exponential collapse ||w0||^2 (1 - (T0/d)^n); fixed design stalls",
    settings={"dim": 200, "T": 400, "sigma0": 0.0},
    grids={"T0": [50, 100, 150], "design": ["fresh", "fixed"]},
    seeds=300,
    generations=12,
    quick={"seeds": 50, "generations": 4, "settings": {"dim": 20, "T": 40, "sigma0": 0.0}, "grids": {"T0": [5, 10]}},
))

register_preset(Preset(
    name="dohmatob-scaling",
    study="regression",
    description="Power-law spectrum: test error vs T with the adaptive lambda = T^-ell against fixed lambdas, clean and after n generations",
    settings={"dim": 200, "spectrum": "power", "beta": 2.0, "source": 0.5, "T0": 1000},
    grids={"ridge": ["adaptive", 1e-4, 1e-2], "T": [250, 500, 1000, 2000, 4000, 8000]},
    seeds=300,
    generations=5,
    quick={"seeds": 30, "generations": 2, "settings": {"dim": 20, "spectrum": "power", "beta": 2.0, "source": 0.5, "T0": 100},
           "grids": {"ridge": ["adaptive", 1e-2], "T": [50, 200]}},
    figure=scaling_figure,
))
