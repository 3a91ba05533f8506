"""``next-token``: a categorical next-token model retrained on a contaminated source
(Bakshi & Chakraborty, "From Collapse to Improvement", arXiv:2602.10531).

Generation 0 fits token frequencies to ``n0`` draws from the truth P*. Generation t draws
``n_t`` tokens from the source mixture ``Q_t = alpha_t P* + (1 - alpha_t) P_{t-1}`` (fresh
real data, token-level mixture, as in the paper's Theorem 3.1; alpha is the weight of the
*true* distribution, the reading that gives the paper's stated improvement result) and
refits by (optionally smoothed) frequencies, not knowing which tokens were real.

``context = 0``: one categorical over ``vocab`` tokens. ``context = 1``: a first-order
Markov chain, one categorical per context; each generation draws ``n_t // seq_len``
sequences of ``seq_len`` tokens (first token uniform) from the row-wise mixture chain, so
contexts are not i.i.d.; a context never visited (with no smoothing) gets a uniform row.

Metrics (arrays over t = 0..T; for context 1, rows are weighted by the true chain's
stationary distribution pi*):
  sq_error  sum_c pi*(c) ||P_t[c] - P*[c]||^2            (R_t of the paper for context 0)
  tv        sum_c pi*(c) (1/2) ||P_t[c] - P*[c]||_1
  kl        sum_c pi*(c) KL(P*[c] || max(P_t[c], 1e-10))  (the floor keeps lost tokens finite)
  support   number of tokens (context 1: transitions) with P_t > 0
  entropy   sum_c pi*(c) H(P_t[c])  (nats)

Theory (context 0, smoothing 0), Theorem 3.1 as re-derived in the paper note, exact for any
schedules: R_t = (1 - ||P*||^2)/n_t + ((n_t - 1)/n_t)(1 - alpha_t)^2 R_{t-1},
R_0 = (1 - ||P*||^2)/n0. (The note's "(n0/n_t) R_0" is the same first term.)

Samplers: ``exact`` draws Multinomial(n_t, Q_t) counts (cost flat in n); ``explicit`` draws
every token. A Markov chain's transition counts have no cheap exact distribution (visit
counts depend on the path), so context 1 is always explicit (``sampler=auto`` picks).
"""

from __future__ import annotations

from typing import Any

import equinox as eqx
import jax.numpy as jnp
import numpy as np

from ..engine.params import ConfigError, Param, fill_initial_size
from ..engine.study import Check, Study, float_dtype
from ..models import categorical
from .registry import Preset, register_preset, register_study

KL_FLOOR = 1e-10


def true_distribution(config: dict[str, Any]) -> np.ndarray:
    """P* as an array [rows, vocab] (rows = 1 for context 0), drawn on the host."""
    rows = 1 if config["context"] == 0 else config["vocab"]
    return categorical.reference_distribution(config["truth"], config["vocab"], rows, config.get("concentration", 1.0),
                                              config.get("exponent", 1.0), config["truth_seed"])


def stationary(transition: np.ndarray) -> np.ndarray:
    """Stationary distribution of a row-stochastic matrix (weights [1] for one row)."""
    if transition.shape[0] == 1:
        return np.ones(1)
    values, vectors = np.linalg.eig(transition.T)
    pi = np.real(vectors[:, np.argmin(np.abs(values - 1))])
    return pi / pi.sum()


@register_study
class NextTokenStudy(Study):
    name = "next-token"
    description = "Categorical / Markov next-token model on a contaminated source (Bakshi & Chakraborty)"
    params = (
        Param("vocab", "vocabulary size K", 50, kind="int", static=True, low=2, high=10**6),
        Param("context", "context length: 0 (categorical) or 1 (Markov chain)", 0, kind="int", static=True, low=0, high=1),
        Param("n", "tokens per generation (schedule)", 100, kind="int", schedule=True, low=1),
        Param("n0", "real tokens at generation 0 (default: n at t=0)", None, kind="int", low=1),
        Param("alpha", "weight of the true distribution in the source (schedule)", 0.1, schedule=True, low=0.0, high=1.0),
        Param("truth", "P*: dirichlet, uniform or zipf", "dirichlet", kind="choice", choices=categorical.SHAPES),
        Param("concentration", "Dirichlet concentration of P*", 1.0, low=1e-6),
        Param("exponent", "Zipf exponent of P* (p_k ~ k^-exponent)", 1.0, low=0.0),
        Param("truth_seed", "numpy seed that draws P* (fixed across seeds)", 0, kind="int", low=0),
        Param("smoothing", "additive smoothing of the frequency fit", 0.0, low=0.0),
        Param("seq_len", "tokens per sequence (context 1)", 32, kind="int", static=True, low=2, high=10**6),
        Param("sampler", "auto, exact (multinomial counts) or explicit (tokens)", "auto", kind="choice", static=True, choices=("auto", "exact", "explicit")),
    )
    metrics = ("sq_error", "tv", "kl", "support", "entropy")
    metric_docs = {
        "sq_error": "squared error ||P_t - P*||^2, the paper's R_t (context 1: pi*-weighted over rows)",
        "tv": "total variation (1/2) ||P_t - P*||_1 (context 1: pi*-weighted over rows)",
        "kl": "KL(P* || P_t), P_t floored at 1e-10 (context 1: pi*-weighted over rows)",
        "support": "number of tokens (context 1: transitions) with P_t > 0",
        "entropy": "entropy H(P_t) of the fit in nats (context 1: pi*-weighted over rows)",
    }
    checks = (
        Check("risk-recursion", {"vocab": 20, "n0": 50, "sampler": "explicit"},
              {"alpha": ["0", "0.1", "max(t,1)**-0.5"], "n": ["50", "50*max(t,1)"]}, seeds=10000, generations=20,
              key=1, quick_seeds=3000),
        Check("risk-recursion-exact-sampler", {"vocab": 20, "n0": 50, "sampler": "exact"},
              {"alpha": ["0", "0.1", "max(t,1)**-0.5"], "n": ["50", "50*max(t,1)"]}, seeds=10000, generations=20,
              key=1, quick=False),
    )

    vocab: int = eqx.field(static=True)
    context: int = eqx.field(static=True)
    sampler: str = eqx.field(static=True)
    seq_len: int = eqx.field(static=True)
    n_max: int = eqx.field(static=True)

    @classmethod
    def check(cls, config: dict[str, Any], generations: int) -> dict[str, Any]:
        config = fill_initial_size(config)
        if config["sampler"] == "auto":
            config["sampler"] = "exact" if config["context"] == 0 else "explicit"
        if config["context"] == 1:
            if config["sampler"] == "exact":
                raise ConfigError("sampler=exact: needs context=0 (a Markov chain's counts have no exact sampler); use explicit")
            if np.any(config["n"] < config["seq_len"]):
                raise ConfigError(f"n and n0 must be >= seq_len={config['seq_len']} with context=1")
        return config

    @classmethod
    def build(cls, configs: list[dict[str, Any]], generations: int) -> "NextTokenStudy":
        first = configs[0]
        n_max = max(int(np.max(c["n"])) for c in configs)
        return cls(vocab=first["vocab"], context=first["context"], sampler=first["sampler"],
                   seq_len=first["seq_len"], n_max=n_max)

    def numeric(self, config: dict[str, Any]) -> dict[str, np.ndarray]:
        truth = true_distribution(config)
        return {
            "n": np.asarray(config["n"], np.int32),
            "alpha": np.asarray(config["alpha"], np.float64),
            "truth": truth,
            "weights": stationary(truth),
            "smoothing": np.float64(config["smoothing"]),
        }

    def bytes_per_seed(self) -> int:
        item = np.dtype(float_dtype()).itemsize
        tokens = 3 * self.n_max if self.sampler == "explicit" else 0
        return item * (tokens + 8 * self.vocab * (self.vocab if self.context else 1) + 64)

    @classmethod
    def truth(cls, config: dict[str, Any]) -> dict[str, Any]:
        table = true_distribution(config)
        return {"P": table.tolist(), "stationary": stationary(table).tolist(),
                "sum_sq": float(np.sum(stationary(table) @ table**2))}

    # ---- traced side ------------------------------------------------------------------------
    def _counts(self, key, n, source):
        if self.context == 0:
            return categorical.sample_counts(key, n, source[0], self.sampler, self.n_max)[None]
        return categorical.sample_chain_counts(
            key, n // self.seq_len, source, self.seq_len, self.n_max // self.seq_len
        )

    def _measure(self, model, params):
        truth, weights = params["truth"], params["weights"]
        diff = model - truth
        kl_terms = jnp.where(truth > 0, truth * (jnp.log(truth) - jnp.log(jnp.maximum(model, KL_FLOOR))), 0.0)
        entropy = -jnp.sum(jnp.where(model > 0, model * jnp.log(jnp.where(model > 0, model, 1.0)), 0.0), axis=-1)
        return {
            "sq_error": weights @ jnp.sum(diff**2, axis=-1),
            "tv": weights @ (0.5 * jnp.sum(jnp.abs(diff), axis=-1)),
            "kl": weights @ jnp.sum(kl_terms, axis=-1),
            "support": jnp.sum(model > 0).astype(model.dtype),
            "entropy": weights @ entropy,
        }

    def start(self, key, params):
        """Generation 0 draws its tokens from the true distribution."""
        return params["truth"].astype(float_dtype())

    def step(self, model, key, t, params):
        alpha = params["alpha"][t]
        source = alpha * params["truth"] + (1 - alpha) * model
        model = categorical.fit(self._counts(key, params["n"][t], source), params["smoothing"])
        return model, self._measure(model, params)

    @classmethod
    def theory(cls, config: dict[str, Any], generations: int) -> dict[str, np.ndarray]:
        if config["context"] != 0 or config["smoothing"] != 0:
            return {}
        collapse = 1.0 - float(np.sum(true_distribution(config) ** 2))
        n = np.asarray(config["n"], np.float64)
        alpha = np.asarray(config["alpha"], np.float64)
        risk = np.empty(generations + 1)
        risk[0] = collapse / n[0]
        for t in range(1, generations + 1):
            risk[t] = collapse / n[t] + (n[t] - 1) / n[t] * (1 - alpha[t]) ** 2 * risk[t - 1]
        return {"sq_error": risk}


# ---- presets and figures -----------------------------------------------------------------------


def classify(ratio_path: np.ndarray, collapse_ratio: float) -> int:
    """0 recovery (R_T < R_0 and falling), 1 stable (bounded), 2 collapse (R_T past half the
    way to the point-mass level), from a mean error-ratio path R_t/R_0."""
    tail = ratio_path[int(0.8 * (len(ratio_path) - 1)):]
    if ratio_path[-1] >= 0.5 * collapse_ratio:
        return 2
    if ratio_path[-1] < 1 and tail[-1] <= tail[0]:
        return 0
    return 1


def phase_figure(result, out_dir) -> Figure:
    """log10(R_T / R_0) over the first two grid axes, with the regime of each cell. Saved as
    phase_ratio.<fmt>; returns the Figure."""
    from matplotlib.figure import Figure

    from ..plot import save_figure

    mean = result.mean("sq_error")
    ratio = mean / mean[..., :1]
    rows, cols = result.dims[0], result.dims[1]
    collapse = (1 - result.config["truth"]["sum_sq"]) / mean[..., 0]
    labels = np.vectorize(lambda i, j: classify(ratio[i, j], collapse[i, j]))(
        *np.meshgrid(range(ratio.shape[0]), range(ratio.shape[1]), indexing="ij"))
    # at least 3 x 2.4 inches (the colorbar and the two-line title), more for long tick labels
    x_label, y_label = (max(len(str(c)) for c in result.coords[d]) for d in (cols, rows))
    fig = Figure(figsize=(max(3.0, 1.6 + 0.45 * ratio.shape[1] + 0.06 * y_label),
                          max(2.4, 1.4 + 0.4 * ratio.shape[0] + 0.05 * x_label)), layout="constrained")
    ax = fig.subplots()
    image = ax.imshow(np.log10(ratio[..., -1]), origin="lower", aspect="auto", cmap="coolwarm", vmin=-2, vmax=2)
    for i, j in np.ndindex(labels.shape):
        ax.text(j, i, "RSC"[labels[i, j]], ha="center", va="center", fontsize=7)
    ax.set_xticks(range(ratio.shape[1]), [str(c) for c in result.coords[cols]], rotation=60, fontsize=7)
    ax.set_yticks(range(ratio.shape[0]), [str(c) for c in result.coords[rows]], fontsize=7)
    ax.set_xlabel(cols)
    ax.set_ylabel(rows)
    ax.set_title(f"log10 R_T/R_0 at T={result.generations}\n(R recovery, S stable, C collapse)", fontsize=8)
    fig.colorbar(image, ax=ax)
    save_figure(fig, f"{out_dir}/phase_ratio.png")
    return fig


register_preset(Preset(
    name="bakshi-simulation",
    study="next-token",
    description="Bakshi & Chakraborty sec. 5.1: K=50, T=200, alpha in {0, 0.1, t^-1/2} x n_t in {100, 100 t}",
    settings={"vocab": 50, "n0": 100},
    grids={"alpha": ["0", "0.1", "max(t,1)**-0.5"], "n": ["100", "100*max(t,1)"]},
    seeds=1000,
    generations=200,
    quick={"seeds": 200, "generations": 30},
))

ALPHAS = [0, 0.005, 0.01, 0.02, 0.03, 0.05, 0.07, 0.1, 0.15, 0.2, 0.25, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 1]
SIZES = [int(round(10 ** (1 + 3 * i / 19))) for i in range(20)]  # 10 ... 10^4, log-spaced

register_preset(Preset(
    name="bakshi-phase",
    study="next-token",
    description="Phase diagram of R_T/R_0: constant alpha (0..1) x constant n (10..10^4), 20 x 20, K=50",
    settings={"vocab": 50},
    grids={"alpha": ALPHAS, "n": SIZES},
    seeds=1000,
    generations=200,
    quick={"seeds": 50, "generations": 30, "grids": {"alpha": [0, 0.05, 0.3, 1], "n": [10, 100, 1000]}},
    figure=phase_figure,
))

register_preset(Preset(
    name="bakshi-decay",
    study="next-token",
    description="Decaying alpha_t = t^-a with n_t = 100 t^b over a grid of (a, b): where P* is recovered",
    settings={"vocab": 50, "n0": 100},
    grids={"alpha": [f"max(t,1)**-{a}" for a in (0, 0.25, 0.5, 0.75, 1, 1.5)],
           "n": [f"100*max(t,1)**{b}" for b in (0, 0.5, 1, 1.5, 2)]},
    seeds=1000,
    generations=200,
    quick={"seeds": 50, "generations": 30, "grids": {"alpha": ["max(t,1)**-0.5", "max(t,1)**-1.5"], "n": ["100", "100*max(t,1)"]}},
    figure=phase_figure,
))
