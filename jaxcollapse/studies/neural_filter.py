"""``neural-filter``: recursive unbiased estimation with a learned contraction filter (Han et
al. 2025) against the remedies it competes with (Xu, He & Cheng 2025).

Generation 0 fits the family to ``n0`` real samples of the truth; the fit is the *anchor*.
After that, every generation draws ``n_t`` samples of the previous fit and refits.
The estimator is unbiased: the sample mean, and for the Gaussian the ddof=1 variance.
Each ``method`` decides what happens between drawing and fitting:

  replace        fit the synthetic sample as it is: a random walk, collapse (Xu et al.)
  neural-filter  weight the sample with a filter network trained by optax to contract the
                 error (``jaxcollapse.filters.contraction``), then fit the weighted sample
  linear-filter  the ideal of Han et al.'s Assumption 2.3 with A = (1 - c) I:
                 theta_t = fit_t - c (theta_{t-1} - anchor), a rule rather than a network
  superlinear    no filter, n_t = round(n * t^(1+s)) (Xu et al.'s remedy)
  accumulate     no filter, fit every sample drawn so far (real ones included)
  mix            no filter, round(alpha n_t) of the n_t samples are fresh real ones

Families (``family``), with theta the reported parameters:
* ``gaussian``: theta = (mean, variance);
* ``poisson``: theta = rate;
* ``bernoulli``: theta = p.

Information (Han et al. do not say how theta* reaches their filter). This study takes the
reading under which the paper's stated result can hold without an oracle:
* the filter and the linear filter may use the anchor, which is the fit to the generation-0
  real sample;
* they may also use the previous fit and the synthetic sample;
* they never see the true parameters.

They contract toward the anchor. The error at generation t is then bounded by the
generation-0 error plus a stationary noise floor. An AR(1) error
e_t = (1 - c) e_{t-1} + xi with Var xi = s^2/n has a floor of s^2 / (n c (2 - c)).

That floor does not vanish at constant n. The paper's limsup P(||e_t|| > delta) = 0 needs
its Assumption 2.1, noise that decays to 0. A constant-n sampler does not supply that, so
the study reports the fraction above ``delta`` and does not claim it tends to 0.

Metrics (arrays over t = 0..T):
  param_error      ||theta_t - theta*||, and param_sq_error its square
  mean_sq_error    (mean_t - mean*)^2
  var              the fitted distribution's variance
  log_var_ratio    log(var_t / var_0), Xu et al.'s quantity (-inf once a fit degenerates)
  exceed           1{param_error > delta}; its mean is the fraction of seeds above delta
  anchor_distance  ||u_t||, the Fisher-standardised distance to the anchor (the Lyapunov root)
  filter_loss      the neural filter's contraction hinge on fresh held-out states (0 otherwise)

Closed forms (``theory``; exact, derivations in docs/studies/neural-filter.md) cover every method except the
network:
* Gaussian replace, superlinear, mix and accumulate reuse the ``gaussian`` study's recursions
  with ddof=1. Under replace and superlinear the log-variance oracle holds exactly:
  E log(var_t/var_0) = sum_k [psi((n_k-1)/2) - log((n_k-1)/2)], and the variance of the same
  ratio is sum_k psi'((n_k-1)/2).
* Poisson and Bernoulli have V(m) = m + kappa m^2, so E V(m_t) = V* + kappa e_t, with
  e_t = E(m_t - m*)^2. The recursions are:
    replace:      e_t = e_{t-1} + E V_{t-1}/n_t
    mix:          e_t = (s^2 e_{t-1} + r V* + s E V_{t-1}) / n^2, with r real and s synthetic
    accumulate:   e_t = e_{t-1} + n_t E V_{t-1} / N_t^2
* The linear filter, with D_t = E(theta_t - anchor)^2 per coordinate:
    D_t = (1-c)^2 D_{t-1} + E Var(refit | theta_{t-1})
    E||theta_t - theta*||^2 = E||anchor - theta*||^2 + D_t, because the cross term vanishes.
"""

from __future__ import annotations

from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from scipy.special import polygamma

from ..engine.data import DataLoop, Statistics, loop_numeric
from ..engine.params import ConfigError, Param, fill_initial_size
from ..engine.study import Check, Study, float_dtype
from ..models import gaussian, scalar
from ..filters import contraction
from .gaussian import GaussianStudy
from .registry import Preset, register_preset, register_study

METHODS = ("replace", "neural-filter", "linear-filter", "superlinear", "accumulate", "mix")
REPLACE, NEURAL, LINEAR, SUPERLINEAR, ACCUMULATE, MIX = range(len(METHODS))
FAMILIES = ("gaussian", "poisson", "bernoulli")
DEFAULT_TRUTH = {"gaussian": (0.0, 1.0), "poisson": (4.0,), "bernoulli": (0.3,)}
MAX_SAMPLE_SIZE = 1e9
TINY = 1e-12


def _where(condition, a, b):
    return jax.tree.map(lambda x, y: jnp.where(condition, x, y), a, b)


class GaussianView:
    """The 1-D Gaussian as the filter sees it.

    The model is a ``gaussian.GaussianModel``. Fisher coordinates are
    ((mu - mu_a)/sigma_a, log(var/var_a)/sqrt 2). The features are the standard draws z and
    (z^2 - 1)/sqrt 2."""

    n_params = 2
    n_features = 2

    @staticmethod
    def truth_model(theta):
        return gaussian.GaussianModel(theta[:1], jnp.sqrt(theta[1]).reshape(1, 1), jnp.log(theta[1]))

    @staticmethod
    def stats(key, model, count):
        (z,) = gaussian.standard_batches(key, (count,), 1, "exact", 1, model.mean.dtype)
        return gaussian.push_forward(z, model)

    merge = staticmethod(gaussian.merge)
    scale = staticmethod(gaussian.scale)

    @staticmethod
    def fit(stats):
        return gaussian.fit(stats, 1.0)

    @staticmethod
    def draw(key, model, n_max):
        z = jax.random.normal(key, (n_max,), model.mean.dtype)
        return z, jnp.stack([z, (z**2 - 1) / np.sqrt(2.0)], axis=1)

    @staticmethod
    def weighted_fit(model, z, weights):
        return gaussian.fit(gaussian.push_forward(gaussian.stats_from_samples(z[:, None], weights), model), 1.0)

    @staticmethod
    def vector(model):
        return jnp.stack([model.mean[0], jnp.exp(model.log_det)])

    @staticmethod
    def from_vector(theta):
        return GaussianView.truth_model(jnp.stack([theta[0], jnp.maximum(theta[1], TINY)]))

    @staticmethod
    def log_variance(model):
        return model.log_det

    @staticmethod
    def standardize(model, anchor):
        return jnp.stack([
            (model.mean[0] - anchor.mean[0]) * jnp.exp(-anchor.log_det / 2),
            (model.log_det - anchor.log_det) / np.sqrt(2.0),
        ])

    @staticmethod
    def perturb(anchor, u):
        log_var = anchor.log_det + np.sqrt(2.0) * u[1]
        mean = anchor.mean + jnp.exp(anchor.log_det / 2) * u[:1]
        return gaussian.GaussianModel(mean, jnp.exp(log_var / 2).reshape(1, 1), log_var)


class ScalarView:
    """Poisson or Bernoulli as the filter sees them.

    The model is the mean m, a scalar. The Fisher coordinate is (m - m_a)/sqrt V(m_a). The
    feature is the standardised draw (x - m)/sqrt V(m)."""

    n_params = 1
    n_features = 1

    def __init__(self, kind: str):
        self.kind = kind
        self.low, self.high = 1e-6, (1.0 - 1e-6 if kind == "bernoulli" else np.inf)

    def _sd(self, m):
        return jnp.sqrt(jnp.maximum(scalar.variance(self.kind, m), TINY))

    def truth_model(self, theta):
        return theta[0]

    def stats(self, key, m, count):
        return scalar.sample_stats(key, self.kind, m, count)

    def merge(self, a, b):
        return scalar.merge(a, b)

    def scale(self, stats, weight):
        return scalar.MeanStats(stats.count * weight, stats.mean)

    def fit(self, stats):
        return scalar.fit(stats)

    def draw(self, key, m, n_max):
        x = scalar.sample(key, self.kind, m, n_max)
        return x, ((x - m) / self._sd(m))[:, None]

    def weighted_fit(self, m, x, weights):
        return scalar.fit(scalar.stats_from_samples(x, weights))

    def vector(self, m):
        return m[None]

    def from_vector(self, theta):
        return jnp.clip(theta[0], 0.0, 1.0) if self.kind == "bernoulli" else jnp.maximum(theta[0], 0.0)

    def log_variance(self, m):
        return jnp.log(scalar.variance(self.kind, m))

    def standardize(self, m, anchor):
        return ((m - anchor) / self._sd(anchor))[None]

    def perturb(self, anchor, u):
        return jnp.clip(anchor + self._sd(anchor) * u[0], self.low, self.high)


def view_of(family: str):
    return GaussianView() if family == "gaussian" else ScalarView(family)


def parse_truth(raw: Any, family: str) -> tuple[float, ...]:
    """``default`` or comma-separated numbers: mean,variance | rate | p."""
    if isinstance(raw, str) and raw.strip() == "default":
        return DEFAULT_TRUTH[family]
    items = raw if isinstance(raw, (list, tuple, np.ndarray)) else str(raw).split(",")
    shapes = {"gaussian": "mean,variance (variance > 0)", "poisson": "a rate > 0", "bernoulli": "p in (0, 1)"}
    try:
        values = tuple(float(v) for v in items)
    except ValueError:
        values = ()
    ok = len(values) == len(DEFAULT_TRUTH[family]) and all(np.isfinite(values))
    if ok and family == "gaussian":
        ok = values[1] > 0
    elif ok:
        ok = values[0] > 0 and (family == "poisson" or values[0] < 1)
    if not ok:
        raise ConfigError(f"truth={raw}: for family={family} must be 'default' or {shapes[family]}")
    return values


def sample_sizes(config: dict[str, Any], generations: int) -> np.ndarray:
    """n_t over t = 0..T as the simulation draws them (superlinear growth applied)."""
    n = np.asarray(config["n"], np.float64).copy()
    if config["method"] == "superlinear":
        t = np.arange(1, generations + 1, dtype=np.float64)
        n[1:] = np.round(n[1:] * t ** (1.0 + config["growth"]))
    return n


LOOP_REGIME = {"accumulate": "accumulate", "mix": "mix"}  # every other method refits its own draws


def loop_config(config: dict[str, Any], generations: int) -> dict[str, Any]:
    """The data loop's settings of a method: its regime, and n_t as drawn (superlinear grown)."""
    return {"n": sample_sizes(config, generations).astype(np.int64), "n0": int(config["n"][0]),
            "regime": LOOP_REGIME.get(config["method"], "replace"),
            "alpha": np.asarray(config["alpha"]) if config["method"] == "mix" else 0.0, "window": 1,
            "real_weight": 1.0}


def log_var_ratio_variance(n: np.ndarray) -> np.ndarray:
    """Var log(var_t/var_0) = sum_{k=1..t} psi'((n_k - 1)/2) for purely synthetic Gaussian
    refits (Xu et al.'s oracle); ``n`` over t = 0..T."""
    return np.concatenate([[0.0], np.cumsum(polygamma(1, (np.asarray(n[1:], np.float64) - 1) / 2))])


@register_study
class NeuralFilterStudy(Study):
    name = "neural-filter"
    description = "Recursive unbiased estimation: learned contraction filter vs superlinear growth, accumulate, mix"
    params = (
        Param("family", "model family", "gaussian", kind="choice", static=True, choices=FAMILIES),
        Param("truth", "true parameters: default, or mean,variance | rate | p", "default", kind="vector", gridable=False),
        Param("method", "what happens between drawing and refitting", "neural-filter", kind="choice", choices=METHODS),
        Param("n", "samples per generation (schedule in t)", 100, kind="int", schedule=True, low=2),
        Param("n0", "real samples fitted at generation 0 (default: n at t=0)", None, kind="int", low=2),
        Param("growth", "s in the superlinear schedule n_t = n t^(1+s)", 0.5, low=0.0),
        Param("alpha", "fresh real fraction under method=mix (schedule)", 0.1, schedule=True, low=0.0, high=1.0),
        Param("contraction", "contraction rate c of the filters (Assumption 2.3)", 0.3, low=0.0, high=1.0),
        Param("delta", "threshold of the exceed metric", 0.5, low=0.0),
        Param("radius", "spread of the filter's training states, in units of 1/sqrt(n)", 2.0, low=0.0),
        Param("learning_rate", "Adam learning rate of the filter", 1e-2, low=0.0),
        Param("width", "hidden width of the filter MLP (2 hidden layers)", 16, kind="int", static=True, low=1, high=4096),
        Param("train_states", "states per filter training batch", 8, kind="int", static=True, low=1, high=10**4),
        Param("warmup_steps", "filter training steps at generation 0", 100, kind="int", static=True, low=0, high=10**6),
        Param("train_steps", "filter training steps in every later generation", 2, kind="int", static=True, low=0, high=10**5),
    )
    metrics = ("param_error", "param_sq_error", "mean_sq_error", "var", "log_var_ratio",
               "exceed", "anchor_distance", "filter_loss")
    metric_docs = {
        "param_error": "||theta_t - theta*||, theta = (mean, variance), the rate or p by family",
        "param_sq_error": "||theta_t - theta*||^2, the square of param_error",
        "mean_sq_error": "squared error of the fitted mean, (mean_t - mean*)^2",
        "var": "variance of the fitted distribution (Poisson: the rate; Bernoulli: p (1 - p))",
        "log_var_ratio": "log(var_t / var_0), var_0 the generation-0 fit's; -inf once a fit degenerates",
        "exceed": "1 if param_error > delta this generation, else 0 (its mean: share of seeds)",
        "anchor_distance": "Fisher-standardised distance ||u_t|| of the fit from the anchor, the generation-0 fit",
        "filter_loss": "the neural filter's contraction hinge on fresh held-out states (0 for other methods)",
    }
    checks = tuple(
        Check(f"rule-based-arms-{family}", {"family": family, "n": 40, "alpha": 0.2, "contraction": 0.25},
              {"method": ["linear-filter", "superlinear", "accumulate", "mix"]},
              metrics=("param_sq_error", "mean_sq_error", "var"), seeds=3000, generations=40, key=0,
              quick_seeds=1500, quick=family == "poisson")
        for family in FAMILIES
    )

    family: str = eqx.field(static=True)
    neural: bool = eqx.field(static=True)
    loop: DataLoop
    n_max: int = eqx.field(static=True)
    width: int = eqx.field(static=True)
    train_states: int = eqx.field(static=True)
    warmup_steps: int = eqx.field(static=True)
    train_steps: int = eqx.field(static=True)

    # ---- host side --------------------------------------------------------------------------
    @classmethod
    def check(cls, config: dict[str, Any], generations: int) -> dict[str, Any]:
        config = fill_initial_size(config)
        config["truth"] = parse_truth(config["truth"], config["family"])
        largest = float(np.max(sample_sizes(config, generations)))
        if largest > MAX_SAMPLE_SIZE:
            raise ConfigError(
                f"growth={config['growth']}: the superlinear n_t reaches {largest:.3g} by generation "
                f"{generations}; the limit is {MAX_SAMPLE_SIZE:.0e} (lower growth, n or generations)"
            )
        return config

    @classmethod
    def static_key(cls, config: dict[str, Any]) -> tuple:
        if config["method"] != "neural-filter":
            return (config["family"], False)
        return (config["family"], True, config["width"], config["train_states"],
                config["warmup_steps"], config["train_steps"])

    @classmethod
    def build(cls, configs: list[dict[str, Any]], generations: int) -> "NeuralFilterStudy":
        first = configs[0]
        neural = first["method"] == "neural-filter"
        return cls(
            family=first["family"],
            neural=neural,
            loop=DataLoop.build([loop_config(c, generations) for c in configs]),
            n_max=max(int(np.max(c["n"])) for c in configs) if neural else 1,
            width=first["width"],
            train_states=first["train_states"],
            warmup_steps=first["warmup_steps"],
            train_steps=first["train_steps"],
        )

    def numeric(self, config: dict[str, Any]) -> dict[str, np.ndarray]:
        return {
            "loop": loop_numeric(loop_config(config, len(config["n"]) - 1)),
            "n": np.asarray(config["n"], np.int32),
            "alpha": np.asarray(config["alpha"], np.float64),
            "method": np.int32(METHODS.index(config["method"])),
            "truth": np.asarray(config["truth"], np.float64),
            **{k: np.float64(config[k]) for k in ("growth", "contraction", "delta", "radius", "learning_rate")},
        }

    def bytes_per_seed(self) -> int:
        if not self.neural:
            return 2048
        item = np.dtype(float_dtype()).itemsize
        inputs = 8 + 2 * self.width  # features, displacement, products, two hidden layers
        return item * self.train_states * self.n_max * inputs * 4 + 65536

    @classmethod
    def truth(cls, config: dict[str, Any]) -> dict[str, Any]:
        names = {"gaussian": ("mean", "variance"), "poisson": ("rate",), "bernoulli": ("p",)}
        return dict(zip(names[config["family"]], config["truth"]))

    # ---- traced side ------------------------------------------------------------------------
    @property
    def view(self):
        return view_of(self.family)

    def _skeleton(self) -> contraction.SampleFilter:
        view = self.view
        return contraction.SampleFilter(view.n_features, view.n_params, self.width, key=jax.random.key(0))

    def _loss_args(self, anchor, n, params) -> tuple:
        return (self.view, anchor, n, self.n_max, params["contraction"], params["radius"], self.train_states)

    def _measure(self, model, anchor, params, filter_loss):
        view = self.view
        error = view.vector(model) - params["truth"]
        sq = jnp.sum(error**2)
        return {
            "param_error": jnp.sqrt(sq),
            "param_sq_error": sq,
            "mean_sq_error": error[0] ** 2,
            "var": jnp.exp(view.log_variance(model)),
            "log_var_ratio": view.log_variance(model) - view.log_variance(anchor),
            "exceed": (jnp.sqrt(sq) > params["delta"]).astype(sq.dtype),
            "anchor_distance": jnp.linalg.norm(view.standardize(model, anchor)),
            "filter_loss": jnp.asarray(filter_loss, sq.dtype),
        }

    def init(self, key, params):
        view = self.view
        k_real, k_net, k_warmup, k_eval = jax.random.split(key, 4)
        n0 = params["n"][0]
        real = view.stats(k_real, view.truth_model(params["truth"]), n0)
        anchor = view.fit(real)
        if not self.neural:
            return (anchor, anchor, real), self._measure(anchor, anchor, params, 0.0)
        skeleton = contraction.SampleFilter(view.n_features, view.n_params, self.width, key=k_net)
        weights = eqx.filter(skeleton, eqx.is_array)
        opt_state = contraction.optimizer(params["learning_rate"]).init(weights)
        loss_args = self._loss_args(anchor, n0, params)
        weights, opt_state = contraction.train(
            weights, opt_state, skeleton, k_warmup, self.warmup_steps, params["learning_rate"], loss_args
        )
        loss = self._held_out_loss(weights, k_eval, loss_args)
        return (anchor, anchor, weights, opt_state), self._measure(anchor, anchor, params, loss)

    def network(self, weights) -> contraction.SampleFilter:
        """The filter whose array leaves are ``weights`` (the part of the state that trains)."""
        return eqx.combine(weights, eqx.filter(self._skeleton(), eqx.is_array, inverse=True))

    def _held_out_loss(self, weights, key, loss_args):
        return contraction.contraction_loss(self.network(weights), key, *loss_args)

    def step(self, state, key, t, params):
        return self._step_neural(state, key, t, params) if self.neural else self._step_plain(state, key, t, params)

    def _step_plain(self, state, key, t, params):
        """The rule-based arms on the shared data loop (statistics): replace, superlinear (n_t grown
        on the host) and linear-filter refit the generation's draws, accumulate pools them, mix
        swaps round(alpha n_t) of them for real ones."""
        view = self.view
        model, anchor, pool = state
        stats = Statistics(summarize=None, merge=view.merge, fit=lambda key, s, previous, hp: view.fit(s),
                           scale=view.scale)
        truth = view.truth_model(params["truth"])
        pool, train = self.loop.statistics_step(stats, pool, key, t, params["loop"],
                                                lambda k, count: view.stats(k, model, count),
                                                lambda k, count: view.stats(k, truth, count))
        fitted = view.fit(train)
        shrunk = view.from_vector(
            view.vector(fitted) - params["contraction"] * (view.vector(model) - view.vector(anchor))
        )
        new = _where(params["method"] == LINEAR, shrunk, fitted)
        return (new, anchor, pool), self._measure(new, anchor, params, 0.0)

    def _step_neural(self, state, key, t, params):
        model, anchor, weights, opt_state = state
        k_train, k_draw, k_eval = jax.random.split(key, 3)
        loss_args = self._loss_args(anchor, params["n"][t], params)
        weights, opt_state = contraction.train(
            weights, opt_state, self._skeleton(), k_train, self.train_steps, params["learning_rate"], loss_args
        )
        new = contraction.filtered_fit(self.network(weights), self.view, k_draw, model, anchor, params["n"][t], self.n_max)
        loss = self._held_out_loss(weights, k_eval, loss_args)
        return (new, anchor, weights, opt_state), self._measure(new, anchor, params, loss)

    # ---- closed forms -------------------------------------------------------------------------
    @classmethod
    def theory(cls, config: dict[str, Any], generations: int) -> dict[str, np.ndarray]:
        method = config["method"]
        if method == "neural-filter":
            return {}
        n = sample_sizes(config, generations)
        alpha = np.asarray(config["alpha"], np.float64)
        if config["family"] == "gaussian":
            return _gaussian_theory(method, config["truth"][1], n, alpha, config["contraction"], generations)
        return _scalar_theory(config["family"], config["truth"][0], method, n, alpha, config["contraction"])


def _gaussian_theory(method, sigma2, n, alpha, c, generations) -> dict[str, np.ndarray]:
    """E over seeds for the 1-D Gaussian with ddof=1; see the module docstring."""
    if method == "linear-filter":
        mean_drift, var_drift = np.zeros_like(n), np.zeros_like(n)
        var_sq_anchor = sigma2**2 * (n[0] + 1) / (n[0] - 1)
        for t in range(1, len(n)):
            mean_drift[t] = (1 - c) ** 2 * mean_drift[t - 1] + sigma2 / n[t]
            var_drift[t] = (1 - c) ** 2 * var_drift[t - 1] + 2 * (var_sq_anchor + var_drift[t - 1]) / (n[t] - 1)
        mean_sq = sigma2 / n[0] + mean_drift
        return {
            "mean_sq_error": mean_sq,
            "param_sq_error": mean_sq + 2 * sigma2**2 / (n[0] - 1) + var_drift,
            "var": np.full_like(n, sigma2),
        }
    regime = {"replace": "replace", "superlinear": "replace"}.get(method, method)
    base = GaussianStudy.theory(
        {"cov": (sigma2,), "n": n, "alpha": alpha, "regime": regime, "ddof": 1}, generations
    )
    out = {"mean_sq_error": base["mean_sq_error"], "var": base["var"]}
    if regime == "replace":
        out["log_var_ratio"] = base["log_det_ratio"] - base["log_det_ratio"][0]
        # E var_t^2 = E var_{t-1}^2 (n_t + 1)/(n_t - 1): the chi-square second moment.
        var_sq = sigma2**2 * np.cumprod((n + 1) / (n - 1))
        out["param_sq_error"] = out["mean_sq_error"] + var_sq - sigma2**2
    return out


def _scalar_theory(kind, m, method, n, alpha, c) -> dict[str, np.ndarray]:
    """E (m_t - m*)^2 and E V(m_t) = V* + kappa e_t for Poisson / Bernoulli."""
    kappa = scalar.CURVATURE[kind]
    v_star = m + kappa * m**2
    err = np.empty_like(n)
    err[0] = v_star / n[0]
    pool = n[0]
    for t in range(1, len(n)):
        ev = v_star + kappa * err[t - 1]
        if method == "accumulate":
            pool += n[t]
            err[t] = err[t - 1] + n[t] * ev / pool**2
        elif method == "mix":
            real = np.round(alpha[t] * n[t])
            synth = n[t] - real
            err[t] = (synth**2 * err[t - 1] + real * v_star + synth * ev) / n[t] ** 2
        elif method == "linear-filter":
            drift = err[t - 1] - err[0]
            err[t] = err[0] + (1 - c) ** 2 * drift + ev / n[t]
        else:  # replace, superlinear
            err[t] = err[t - 1] + ev / n[t]
    return {"mean_sq_error": err, "param_sq_error": err, "var": v_star + kappa * err}


# ---- presets -----------------------------------------------------------------------------------


def comparison_figure(result, out_dir) -> Figure:
    """One figure: rows param_error / var / exceed, one line per method (panels per family).
    Saved as comparison.<fmt>; returns the Figure."""
    from pathlib import Path

    from ..plot import save_figure, trajectories_figure

    fig = trajectories_figure(result, metrics=["param_error", "var", "exceed"])
    save_figure(fig, Path(out_dir) / "comparison.png")
    return fig


register_preset(Preset(
    name="han-filter",
    study="neural-filter",
    description="Han et al. vs Xu et al.: 1-D Gaussian at n=100, neural filter vs replace / linear filter / superlinear / accumulate / mix",
    settings={"family": "gaussian", "n": 100},
    grids={"method": list(METHODS)},
    seeds=1000,
    generations=100,
    quick={"seeds": 64, "generations": 20, "settings": {"family": "gaussian", "n": 50, "warmup_steps": 60}},
    figure=comparison_figure,
))

register_preset(Preset(
    name="han-filter-families",
    study="neural-filter",
    description="The han-filter comparison for Gaussian, Poisson and Bernoulli families side by side",
    settings={"n": 100},
    grids={"method": list(METHODS), "family": list(FAMILIES)},
    seeds=1000,
    generations=100,
    quick={"seeds": 32, "generations": 10, "settings": {"n": 30, "warmup_steps": 40}},
    figure=comparison_figure,
))
