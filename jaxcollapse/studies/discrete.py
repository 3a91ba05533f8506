"""``discrete``: a categorical distribution over many outcomes refitted by frequencies
(Kazdan et al., *Collapse or Thrive?*, the discrete-distribution fitter; Shumailov et al.'s
"tails vanish" in its simplest form).

Generation 0 counts ``n0`` draws from the truth P* over ``outcomes`` outcomes (up to 10^5 and
beyond) and fits p_0 = counts / n0. Each generation t >= 1 forms its data by the regime and
refits by frequencies (no smoothing: an outcome that draws no sample gets probability 0):
  replace     n_t draws from p_{t-1};
  mix         round(alpha_t n_t) fresh draws from P* plus the rest from p_{t-1};
  accumulate  the pool of all counts so far plus n_t draws from p_{t-1};
  accumulate-subsample, window  (the shared data loop, ``engine.data``) keep the tokens
              themselves: a uniform n_t-subset of the pool, or the last ``window`` generations.
An outcome with p = 0 is never drawn again, so under replace the support only shrinks, and
under accumulate it is frozen at generation 0's (neither real nor synthetic data can add an
outcome the pool never saw). replace, mix and accumulate run on counts (sufficient statistics:
the exact sampler draws a batch's counts directly).

Metrics (arrays over t = 0..T):
  support    number of outcomes with p_t > 0
  lost_mass  sum_i P*_i 1{p_t(i) = 0}: the true probability of the outcomes the model lost
  tv         (1/2) ||p_t - P*||_1
  entropy    H(p_t) in nats

Closed forms (``theory``), exact (expectations are linear in the outcomes, so the joint
multinomial dependence does not enter):
  accumulate: E support_t = sum_i [1 - (1 - P*_i)^n0],  E lost_mass_t = sum_i P*_i (1 - P*_i)^n0
  replace: each outcome's count is a Wright-Fisher chain c_t ~ Bin(n_t, c_{t-1}/n_{t-1}),
    c_0 ~ Bin(n0, P*_i). Propagating the expected number of outcomes in each count state,
    N_0(c) = sum_i Bin(c; n0, P*_i), N_t = N_{t-1} M_t with M_t[c, c'] = Bin(c'; n_t, c/n_{t-1}),
    gives E support_t = sum_{c>0} N_t(c); the same with weights P*_i gives E lost_mass_t.
    Computed when the tables fit (distinct P* values x (n0+1) <= 5e7 and n <= 4000).

Samplers: ``exact`` draws the Multinomial(n, p) counts by conditional binomials (cost flat in
n, about K binomials); ``explicit`` draws every token by binary search of the CDF (cost
n log K), which is the cheaper one when K is much larger than n.
"""

from __future__ import annotations

from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from ..engine.data import DataLoop, LoopStudy, Statistics, loop_numeric, loop_params, pooled_fit
from ..engine.params import Param
from ..engine.study import Check, float_dtype
from ..models import categorical
from .registry import Preset, register_preset, register_study

THEORY_TABLE = 5e7  # largest (distinct P* values) x (n0 + 1) table theory() builds
THEORY_MAX_N = 4000  # largest n for the (n+1) x (n+1) Wright-Fisher transition matrix


def true_distribution(config: dict[str, Any]) -> np.ndarray:
    """P* [outcomes], drawn on the host from ``truth_seed``."""
    return categorical.reference_distribution(config["truth"], config["outcomes"], 1, config["concentration"],
                                              config["exponent"], config["truth_seed"])[0]


@register_study
class DiscreteStudy(LoopStudy):
    name = "discrete"
    description = "Categorical over many outcomes refitted by frequencies: support loss (Kazdan et al.)"
    params = (
        Param("outcomes", "number of outcomes K", 1000, kind="int", static=True, low=2, high=10**7),
        *loop_params(n=1000, select=False),
        Param("truth", "P*: uniform (Kazdan et al.), zipf or dirichlet", "uniform", kind="choice",
              choices=categorical.SHAPES),
        Param("concentration", "Dirichlet concentration of P*", 1.0, low=1e-6),
        Param("exponent", "Zipf exponent of P* (p_k ~ k^-exponent)", 1.0, low=0.0),
        Param("truth_seed", "numpy seed that draws P* (fixed across seeds)", 0, kind="int", low=0),
        Param("sampler", "exact (multinomial counts) or explicit (every token)", "explicit", kind="choice",
              static=True, choices=("exact", "explicit")),
    )
    metrics = ("support", "lost_mass", "tv", "entropy")
    metric_docs = {
        "support": "number of outcomes to which the fit p_t gives positive probability",
        "lost_mass": "true probability of the outcomes the fit has lost, sum of P*_i over p_t(i) = 0",
        "tv": "total variation distance between the fit and the truth, (1/2) ||p_t - P*||_1",
        "entropy": "entropy of the fitted distribution, H(p_t) in nats",
    }
    checks = (
        Check("wright-fisher", {"outcomes": 500, "n": 400, "truth": "uniform"}, seeds=3000, generations=40, key=3,
              quick_seeds=1000),
        Check("wright-fisher-zipf", {"outcomes": 300, "n": 250, "truth": "zipf"}, seeds=3000, generations=40, key=3,
              quick=False),
        Check("accumulate", {"outcomes": 400, "n": 300, "regime": "accumulate", "truth": "zipf"}, seeds=2000,
              generations=30, key=4, quick=False),
    )

    outcomes: int = eqx.field(static=True)
    sampler: str = eqx.field(static=True)
    loop: DataLoop
    rows: bool = eqx.field(static=True)  # the loop keeps tokens (accumulate-subsample, window), else counts

    @classmethod
    def static_key(cls, config: dict[str, Any]) -> tuple:
        loop = DataLoop.static_key(config, statistics=True)
        return (config["outcomes"], config["sampler"] if loop[0] == "statistics" else None, loop)

    @classmethod
    def build(cls, configs: list[dict[str, Any]], generations: int) -> "DiscreteStudy":
        first = configs[0]
        return cls(outcomes=first["outcomes"], sampler=first["sampler"], loop=DataLoop.build(configs),
                   rows=DataLoop.static_key(first, statistics=True)[0] == "rows")

    def numeric(self, config: dict[str, Any]) -> dict[str, np.ndarray]:
        return {"loop": loop_numeric(config), "truth": true_distribution(config)}

    def bytes_per_seed(self) -> int:
        item = np.dtype(float_dtype()).itemsize
        tokens = 4 * self.loop.batch if self.sampler == "explicit" or self.rows else 0
        return item * (tokens + 2 * self.loop.capacity * self.rows + 8 * self.outcomes + 64)

    @classmethod
    def truth(cls, config: dict[str, Any]) -> dict[str, Any]:
        p = true_distribution(config)
        return {"outcomes": int(p.size), "entropy": float(-np.sum(p * np.log(p))), "min_p": float(p.min())}

    # ---- traced side ------------------------------------------------------------------------
    @property
    def _statistics(self) -> Statistics:
        """Counts: summaries of tokens, merged by addition; the exact sampler draws a batch's
        counts directly."""
        return Statistics(
            summarize=lambda tokens, weights, hp: categorical.counts(tokens, weights, self.outcomes),
            merge=jnp.add,
            scale=jnp.multiply,
            fit=lambda key, counts, previous, hp: categorical.fit(counts),
            draw=lambda key, p, count, hp: categorical.sample_counts(key, count, p, self.sampler, self.loop.batch),
            size=jnp.sum,
        )

    def _measure(self, p, params):
        truth = params["truth"]
        lost = p <= 0
        return {
            "support": jnp.sum(~lost).astype(p.dtype),
            "lost_mass": jnp.sum(jnp.where(lost, truth, 0.0)),
            "tv": 0.5 * jnp.sum(jnp.abs(p - truth)),
            "entropy": -jnp.sum(jnp.where(lost, 0.0, p * jnp.log(jnp.where(lost, 1.0, p)))),
        }

    def _fit_tokens(self, training):
        return categorical.fit(categorical.counts(training.rows, training.weight, self.outcomes))

    def start(self, key, params):
        """Generation 0 draws from the true distribution into an empty pool."""
        truth = params["truth"].astype(float_dtype())
        if self.rows:
            return truth, self.loop.empty(jax.eval_shape(lambda k: categorical.sample_tokens(k, truth, self.loop.batch), key))
        stats = self._statistics
        return truth, self.loop.statistics_empty(jax.eval_shape(lambda k: stats.draw(k, truth, 1, None), key))

    def step(self, state, key, t, params):
        p, pool = state
        lp, truth = params["loop"], params["truth"]
        if self.rows:
            k_sample, k_real, k_select, k_subsample = jax.random.split(key, 4)
            real = categorical.sample_tokens(k_real, truth, self.loop.batch) if self.loop.mixes else None
            pool = self.loop.add(pool, k_select, t, lp, categorical.sample_tokens(k_sample, p, self.loop.batch), real)
            new = self._fit_tokens(self.loop.training_set(pool, k_subsample, t, lp))
            return (new, pool), self._measure(new, params)
        stats = self._statistics
        pool, train = self.loop.statistics_step(stats, pool, key, t, lp, lambda k, c: stats.draw(k, p, c, None),
                                                lambda k, c: stats.draw(k, truth, c, None))
        new = categorical.fit(train)
        return (new, pool), self._measure(new, params)

    # ---- closed forms -------------------------------------------------------------------------
    @classmethod
    def theory(cls, config: dict[str, Any], generations: int) -> dict[str, np.ndarray]:
        p = true_distribution(config)
        n = np.asarray(config["n"], np.int64)
        if not pooled_fit(config):
            return {}
        if config["regime"] == "accumulate":
            missing = (1.0 - p) ** n[0]
            return {"support": np.full(generations + 1, np.sum(1.0 - missing)),
                    "lost_mass": np.full(generations + 1, np.sum(p * missing))}
        if config["regime"] != "replace":
            return {}
        values, multiplicity = np.unique(p, return_counts=True)
        if values.size * (n[0] + 1) > THEORY_TABLE or np.max(n) > THEORY_MAX_N:
            return {}
        from scipy.stats import binom  # scipy.stats costs a second at import: only where a table is built

        first = binom.pmf(np.arange(n[0] + 1)[None, :], n[0], values[:, None])  # [values, n0+1]
        states = multiplicity @ first  # expected number of outcomes with each count
        weighted = (multiplicity * values) @ first  # the same, weighted by P*_i
        support, lost = np.empty(generations + 1), np.empty(generations + 1)
        support[0], lost[0] = states[1:].sum(), weighted[0]
        transitions: dict[tuple[int, int], np.ndarray] = {}
        for t in range(1, generations + 1):
            shape = (int(n[t - 1]), int(n[t]))
            if shape not in transitions:
                frequency = np.arange(shape[0] + 1) / shape[0]
                transitions[shape] = binom.pmf(np.arange(shape[1] + 1)[None, :], shape[1], frequency[:, None])
            states, weighted = states @ transitions[shape], weighted @ transitions[shape]
            support[t], lost[t] = states[1:].sum(), weighted[0]
        return {"support": support, "lost_mass": lost}


# ---- presets ---------------------------------------------------------------------------------


def support_figure(result, out_dir) -> list[Figure]:
    """Kazdan et al.'s layout: rows = outcomes, columns = regime, one line per n; support and
    lost mass (dashed: the closed forms). Saved as discrete_<metric>.<fmt>; returns the two
    Figures."""
    from ..plot import grid_figure, save_figure

    figures = []
    for metric in ("support", "lost_mass"):
        fig = grid_figure(result, metric, rows="outcomes", cols="regime", lines="n", log_y=metric == "support")
        save_figure(fig, f"{out_dir}/discrete_{metric}.png")
        figures.append(fig)
    return figures


register_preset(Preset(
    name="kazdan-discrete",
    study="discrete",
    description="Kazdan et al.'s discrete fitter: uniform truth, K x n x {replace, accumulate}, 100 seeds x 200 generations",
    settings={"truth": "uniform"},
    grids={"outcomes": [100, 1000, 10000, 100000], "n": [100, 1000, 10000], "regime": ["replace", "accumulate"]},
    seeds=100,
    generations=200,
    quick={"seeds": 50, "generations": 30,
           "grids": {"outcomes": [100, 1000], "n": [100, 1000], "regime": ["replace", "accumulate"]}},
    figure=support_figure,
))
