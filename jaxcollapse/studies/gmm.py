"""``gmm``: a Gaussian mixture refitted by EM every generation (Shumailov et al.'s GMM
experiment; the mixture member of Kazdan et al.'s toolkit).

Truth: ``components`` isotropic Gaussians N(mu*_k, truth_std^2 I) in ``dim`` dimensions, with
means spaced ``separation * truth_std`` apart along the first axis (centred at 0) and weights
``truth_weights``. Shumailov et al. draw their 1-D data with scikit-learn's ``make_blobs``, whose
centres are random; here they are fixed and swept by ``separation`` (a traced parameter).

Generation 0 fits K components by EM to ``n0`` real samples; each generation t >= 1 forms its
data by the shared data loop (``engine.data``) from ``n_t`` samples of the previous fit and refits:
  replace / mix (round(alpha_t n_t) fresh real samples) / accumulate (every batch so far, the
  real data included) / accumulate-subsample (a uniform n_t-subset of that pool) / window (the
  last ``window`` generations); real rows weigh ``real_weight`` in EM's weighted M-step.
EM runs ``em_iterations`` steps (static) from ``init``: ``kmeans++`` or ``data`` centres drawn
afresh every generation (as scikit-learn refits from scratch), or ``previous`` (warm start from
the last fit). ``floor`` is added to every covariance (scikit-learn's ``reg_covar``).

Metrics (arrays over t = 0..T); components are ordered by their mean's first coordinate:
  l2          ||p_t - p*||_2, closed form (models.mixture.l2_distance; the square root of the
              paper note's formula, whose use of a root in the notebook the note marks uncertain)
  kl          KL(p* || p_t) estimated on ``eval_size`` truth samples fixed per seed at generation 0
  mean_error  sum_k ||mu_(k) - mu*_(k)||^2 after ordering both by the first coordinate
  weight_min  smallest component weight
  var_min, var_max  smallest / largest component variance tr(Sigma_k)/d
  spread      tr Cov(p_t) / d, the mixture's total variance per dimension
  tail_mass   the fit's mass of the first coordinate below the truth's ``tail`` quantile plus above
              its 1 - ``tail`` quantile (the truth's own value is 2 * tail)
  em_delta    change of the mean log-likelihood over EM's last iteration (reported tolerance)

Closed forms: with ``components = 1`` EM is the Gaussian MLE, so the ``gaussian`` study's exact
recursions (ddof = 0) hold for ``spread`` and ``mean_error``; ``theory`` returns them then (for
replace, mix and accumulate; ``floor`` adds floor per generation and is ignored there).
"""

from __future__ import annotations

from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from ..engine.data import DataLoop, LoopStudy, loop_numeric, loop_params, pooled_fit
from ..engine.params import ConfigError, Param
from ..engine.study import Check, float_dtype
from ..models import mixture
from .registry import Preset, register_preset, register_study


def truth_weights(config: dict[str, Any]) -> np.ndarray:
    k, raw = config["components"], config["truth_weights"]
    if isinstance(raw, str) and raw.strip() == "uniform":
        return np.full(k, 1.0 / k)
    items = raw if isinstance(raw, (list, tuple, np.ndarray)) else str(raw).split(",")
    try:
        values = np.array([float(v) for v in items])
    except ValueError:
        raise ConfigError(f"truth_weights={raw}: must be 'uniform' or {k} comma-separated weights") from None
    if values.size != k:
        raise ConfigError(f"truth_weights={raw}: needs {k} weights (one per component), got {values.size}")
    if np.any(values < 0) or np.any(values > 1):
        raise ConfigError(f"truth_weights={raw}: every weight must be in [0, 1]")
    if abs(values.sum() - 1) > 1e-6:
        raise ConfigError(f"truth_weights={raw}: weights must sum to 1 (got {values.sum():g})")
    return values


def truth_means(components: int, dim: int, separation: float, std: float) -> np.ndarray:
    means = np.zeros((components, dim))
    means[:, 0] = (np.arange(components) - (components - 1) / 2) * separation * std
    return means


def tail_bounds(config: dict[str, Any]) -> tuple[float, float]:
    """The truth's first-coordinate ``tail`` and 1 - ``tail`` quantiles (bisection of its CDF)."""
    from scipy.optimize import brentq  # scipy.optimize and scipy.stats cost a second at import
    from scipy.stats import norm

    weights = truth_weights(config)
    centres = truth_means(config["components"], config["dim"], config["separation"], config["truth_std"])[:, 0]
    std, q = config["truth_std"], config["tail"]
    cdf = lambda x: float(np.sum(weights * norm.cdf((x - centres) / std)))  # noqa: E731
    span = np.abs(centres).max() + 40 * std
    return brentq(lambda x: cdf(x) - q, -span, span, xtol=1e-12), brentq(lambda x: cdf(x) - (1 - q), -span, span, xtol=1e-12)


@register_study
class MixtureStudy(LoopStudy):
    name = "gmm"
    description = "Gaussian mixture refitted by EM (Shumailov et al.'s GMM) under every regime"
    params = (
        Param("components", "mixture components K (fitted and true)", 2, kind="int", static=True, low=1, high=1024),
        Param("dim", "dimension d", 1, kind="int", static=True, low=1, high=1024),
        *loop_params(n=1000, select=False),
        Param("init", "EM start: kmeans++ or data centres each generation, or the previous fit", "kmeans++",
              kind="choice", static=True, choices=("kmeans++", "data", "previous")),
        Param("em_iterations", "EM iterations per fit (fixed; no tolerance stop)", 100, kind="int", static=True, low=1, high=10**5),
        Param("floor", "added to every covariance's diagonal (reg_covar)", 1e-6, low=0.0),
        Param("separation", "distance between consecutive true means, in truth_std units", 6.0, low=0.0),
        Param("truth_std", "standard deviation of every true component", 1.0, low=1e-6),
        Param("truth_weights", "true component weights: uniform or K values in [0, 1] summing to 1", "uniform",
              kind="vector", gridable=False),
        Param("tail", "tail probability of the truth that tail_mass tracks (each side)", 0.01, low=1e-9, high=0.5),
        Param("eval_size", "truth samples (fixed per seed) for the KL estimate", 1000, kind="int", static=True, low=1, high=10**7),
    )
    metrics = ("l2", "kl", "mean_error", "weight_min", "var_min", "var_max", "spread", "tail_mass", "em_delta")
    metric_docs = {
        "l2": "L2 distance between the fitted and the true mixture density, ||p_t - p*||_2 (exact)",
        "kl": "KL(p* || p_t), Monte Carlo over eval_size truth samples fixed per seed",
        "mean_error": "sum_k ||mu_k - mu*_k||^2, fitted and true components sorted by first coordinate",
        "weight_min": "smallest fitted component weight",
        "var_min": "smallest fitted component variance, tr(Sigma_k)/dim",
        "var_max": "largest fitted component variance, tr(Sigma_k)/dim",
        "spread": "total variance of the fitted mixture per dimension, tr Cov(p_t)/dim",
        "tail_mass": "fit's first-coordinate mass beyond the truth's tail quantiles (truth: 2 tail)",
        "em_delta": "change of the weighted mean training log-likelihood over EM's last iteration",
    }
    checks = tuple(
        Check(f"one-component-{regime}", {"components": 1, "n": 40, "em_iterations": 2, "floor": 0.0, "eval_size": 10,
                                          "regime": regime, "alpha": alpha},
              metrics=("spread", "mean_error"), seeds=3000, generations=15, key=11, quick_seeds=1000,
              quick=regime == "mix")
        for regime, alpha in (("replace", 0.0), ("mix", 0.25), ("accumulate", 0.0))
    )

    components: int = eqx.field(static=True)
    dim: int = eqx.field(static=True)
    init_method: str = eqx.field(static=True)
    em_iterations: int = eqx.field(static=True)
    eval_size: int = eqx.field(static=True)
    loop: DataLoop

    # ---- host side --------------------------------------------------------------------------
    @classmethod
    def check(cls, config: dict[str, Any], generations: int) -> dict[str, Any]:
        config = super().check(config, generations)
        truth_weights(config)
        if np.any(config["n"] < config["components"]):
            raise ConfigError(f"n and n0 must be >= components={config['components']} (EM needs a point per component)")
        return config

    @classmethod
    def static_key(cls, config: dict[str, Any]) -> tuple:
        return (config["components"], config["dim"], config["init"], config["em_iterations"], config["eval_size"],
                DataLoop.static_key(config))

    @classmethod
    def build(cls, configs: list[dict[str, Any]], generations: int) -> "MixtureStudy":
        first = configs[0]
        return cls(components=first["components"], dim=first["dim"], init_method=first["init"],
                   em_iterations=first["em_iterations"], eval_size=first["eval_size"], loop=DataLoop.build(configs))

    def numeric(self, config: dict[str, Any]) -> dict[str, np.ndarray]:
        low, high = tail_bounds(config)
        return {
            "loop": loop_numeric(config),
            "floor": np.float64(config["floor"]),
            "means": truth_means(config["components"], config["dim"], config["separation"], config["truth_std"]),
            "std": np.float64(config["truth_std"]),
            "weights": truth_weights(config),
            "tail": np.array([low, high]),
        }

    def bytes_per_seed(self) -> int:
        """EM's rows and their per-component terms, which every EM iteration touches, plus the
        evaluation sample, which only the metrics read (once per generation). Counting it like
        EM's rows made blocks of 32 seeds at n = 100, where 128 run 1.1-1.3x faster under the test
        suite's XLA flags (the same within noise under the default build)."""
        item = np.dtype(float_dtype()).itemsize
        em_rows = self.loop.capacity + self.loop.batch
        return item * self.dim * (em_rows * (4 + 3 * self.components) + self.eval_size) + 4096

    @classmethod
    def truth(cls, config: dict[str, Any]) -> dict[str, Any]:
        low, high = tail_bounds(config)
        means = truth_means(config["components"], config["dim"], config["separation"], config["truth_std"])
        return {"weights": truth_weights(config).tolist(), "means": means.tolist(), "std": config["truth_std"],
                "tail_bounds": [low, high]}

    # ---- traced side ------------------------------------------------------------------------
    def _truth_model(self, params) -> mixture.GaussianMixture:
        eye = jnp.eye(self.dim, dtype=params["means"].dtype)
        chols = jnp.broadcast_to(params["std"] * eye, (self.components, self.dim, self.dim))
        return mixture.GaussianMixture(params["weights"], params["means"], chols)

    def _fit(self, key, x, w, previous, t, params):
        """EM from ``init_method``'s start; init_method=previous warm-starts from the last fit
        after generation 0 (k-means++ at t = 0)."""
        method = "kmeans++" if self.init_method == "previous" else self.init_method
        initialise = lambda: mixture.initialise(key, x, w, self.components, method, params["floor"])  # noqa: E731
        # t is not batched (the engine scans it): a true branch, k-means++ runs only at t = 0
        start = jax.lax.cond(t == 0, initialise, lambda: previous) if self.init_method == "previous" else initialise()
        return mixture.em(x, w, start, self.em_iterations, params["floor"])

    def _measure(self, model, delta, evaluation, params):
        truth = self._truth_model(params)
        order = jnp.argsort(model.means[:, 0])
        variances = jnp.trace(model.covariances, axis1=-2, axis2=-1) / self.dim
        centre = model.weights @ model.means
        within = jnp.sum(model.weights * variances) * self.dim
        between = jnp.sum(model.weights * jnp.sum((model.means - centre) ** 2, axis=-1))
        return {
            "l2": mixture.l2_distance(model, truth),
            "kl": jnp.mean(mixture.log_prob(truth, evaluation) - mixture.log_prob(model, evaluation)),
            "mean_error": jnp.sum((model.means[order] - params["means"]) ** 2),
            "weight_min": jnp.min(model.weights),
            "var_min": jnp.min(variances),
            "var_max": jnp.max(variances),
            "spread": (within + between) / self.dim,
            "tail_mass": mixture.marginal_tail_mass(model, params["tail"][0], params["tail"][1]),
            "em_delta": delta,
        }

    def start(self, key, params):
        """The truth (generation 0 draws from it), the evaluation sample and an empty pool."""
        truth = self._truth_model(params)
        evaluation = mixture.sample(key, truth, self.eval_size)
        pool = self.loop.empty(jax.eval_shape(lambda k: mixture.sample(k, truth, self.loop.batch), key))
        return truth, evaluation, pool

    def step(self, state, key, t, params):
        model, evaluation, pool = state
        k_sample, k_real, k_select, k_subsample, k_fit = jax.random.split(key, 5)
        lp = params["loop"]
        real = mixture.sample(k_real, self._truth_model(params), self.loop.batch) if self.loop.mixes else None
        pool = self.loop.add(pool, k_select, t, lp, mixture.sample(k_sample, model, self.loop.batch), real)
        training = self.loop.training_set(pool, k_subsample, t, lp)
        new, delta = self._fit(k_fit, training.rows, training.weight, model, t, params)
        return (new, evaluation, pool), self._measure(new, delta, evaluation, params)

    # ---- closed forms -------------------------------------------------------------------------
    @classmethod
    def theory(cls, config: dict[str, Any], generations: int) -> dict[str, np.ndarray]:
        if (config["components"] != 1 or config["regime"] in ("accumulate-subsample", "window", "mix-retained")
                or not pooled_fit(config)):
            return {}
        from .gaussian import GaussianStudy

        gaussian = {"cov": (config["truth_std"] ** 2,) * config["dim"], "ddof": 0,
                    **{k: config[k] for k in ("n", "alpha", "regime", "real_weight")}}
        curves = GaussianStudy.theory(gaussian, generations)
        return {"spread": curves["var"], "mean_error": curves["mean_sq_error"]}


# ---- presets ---------------------------------------------------------------------------------


def drift_figure(result, out_dir) -> Figure | None:
    """Shumailov et al.'s GMM figure over many seeds: the median and the 10-90% band across seeds
    of the L2 distance, the component variances and weights and the tail mass (per-seed arrays).
    Saved as gmm_drift.<fmt>; returns the Figure (None when no per-seed arrays were kept)."""
    import textwrap

    from matplotlib.figure import Figure

    from ..plot import save_figure

    panels = [m for m in ("l2", "var_min", "var_max", "weight_min", "tail_mass") if m in result.per_seed]
    if not panels:
        return None
    generations = np.asarray(result.coords["generation"])
    width = 3.3 * len(panels)
    fig = Figure(figsize=(width, 3.0), layout="constrained")
    axes = fig.subplots(1, len(panels), squeeze=False)
    for ax, metric in zip(axes[0], panels):
        values = result.per_seed[metric].reshape(-1, result.per_seed[metric].shape[-2], generations.size)
        for point, series in enumerate(values):
            low, mid, high = np.quantile(series, [0.1, 0.5, 0.9], axis=0)
            line = ax.plot(generations, mid, lw=1.2)[0]
            ax.fill_between(generations, low, high, color=line.get_color(), alpha=0.2, lw=0)
        if metric == "tail_mass":
            ax.axhline(2 * result.config["tail"], color="k", ls="--", lw=0.7)  # the truth's own tail mass
        ax.set(xlabel="generation", title=metric)
        if metric in ("l2", "var_min", "var_max"):
            ax.set_yscale("log")
    fig.suptitle(textwrap.fill(f"GMM refitted by EM: median and 10-90% over {result.seeds} seeds", int(14 * width)),
                 fontsize=9)
    save_figure(fig, f"{out_dir}/gmm_drift.png")
    return fig


register_preset(Preset(
    name="shumailov-gmm",
    study="gmm",
    description="Shumailov et al.: 2-component 1-D GMM refitted by EM on N=1000 own samples for 2050 generations",
    settings={"components": 2, "dim": 1, "n": 1000, "separation": 6.0, "em_iterations": 20},
    seeds=200,
    generations=2050,
    quick={"seeds": 50, "generations": 100},
    figure=drift_figure,
    keep=("l2", "var_min", "var_max", "weight_min", "tail_mass"),
))

register_preset(Preset(
    name="gmm-regimes",
    study="gmm",
    description="2-component GMM under replace / accumulate / accumulate-subsample, n in {100, 300}",
    settings={"components": 2, "em_iterations": 20},
    grids={"regime": ["replace", "accumulate", "accumulate-subsample"], "n": [100, 300]},
    seeds=100,
    generations=100,
    quick={"seeds": 30, "generations": 20, "grids": {"regime": ["replace", "accumulate"], "n": [100]}},
))
