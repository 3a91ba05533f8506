"""``kde``: kernel density estimates refitted to their own samples (Kazdan et al., *Collapse or
Thrive?*, the KDE experiments on 2-D toy sets).

Generation 0 draws ``n0`` training points and ``test_size`` held-out points from a toy set
(blobs, moons, circles, swiss roll; ``models.kde``) and fits a KDE to the training points.
Each generation t >= 1 draws ``n_t`` points from the previous KDE and forms the training data
by the shared data loop (``engine.data``): replace, mix (round(alpha_t n_t) fresh real points),
accumulate (every batch so far and the real points), accumulate-subsample (a uniform n_t-subset
of that pool), window (the last ``window`` generations); with ``real_weight`` != 1 the KDE
weighs its rows, p(y) = sum w_i K_h(y - x_i) / sum w_i. The KDE *is*
its training data plus a bandwidth: a fixed number, or ``scott`` / ``silverman``
(factor n^(-1/(d+4)) or (n(d+2)/4)^(-1/(d+4)) times the data's per-coordinate standard
deviation, sqrt of the mean coordinate variance, as scipy's gaussian_kde for isotropic data).

Kazdan et al. score the held-out half of their real data; here the held-out set is drawn
independently per seed and kept fixed over generations.

Metrics (arrays over t = 0..T):
  nll           -mean_y log p_t(y) over the held-out set, exact in log space (a log-sum-exp);
                a point where a tophat KDE is 0 counts as p = 1e-12 (adds 27.6; zero_density
                counts them), so the mean over seeds stays finite
  mean_density  mean_y p_t(y) over the held-out set
  zero_density  share of held-out points with p_t(y) = 0 (tophat kernel)
  spread        per-coordinate variance of p_t: data variance + kernel variance
  bandwidth     h used at generation t

Closed form (``theory``, blobs, gaussian kernel, fixed bandwidth): E p_t is linear in the data,
and a KDE fitted to draws of p convolves E p with N(0, h^2 I). So E p_t = sum_j c_tj (p* conv
N(0, j h^2 I)) with c_0 = delta_1 and
  replace    c_t = shift(c_{t-1});  mix: (r/n) delta_1 + (s/n) shift(c_{t-1})
  accumulate and accumulate-subsample (a uniform subset has the pool's expectation):
             c_t = (N_{t-1} c_{t-1} + n_t shift(c_{t-1})) / N_t,  N_t = N_{t-1} + n_t,
and E mean_density_t = sum_j c_tj sum_ab (1/9) N(c_a - c_b; 0, (2 s^2 + j h^2) I)
(``models.kde.blob_overlap``), with test points independent of the training data.
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
from ..models import kde
from .registry import Preset, register_preset, register_study

RULES = ("scott", "silverman")
DENSITY_FLOOR = 1e-12
FIXED, SCOTT, SILVERMAN = range(3)
DIM = 2


@register_study
class KDEStudy(LoopStudy):
    name = "kde"
    description = "Kernel density estimates on 2-D toy sets refitted to own samples (Kazdan et al.)"
    params = (
        Param("dataset", "toy set: blobs, moons, circles or swiss", "moons", kind="choice", choices=kde.DATASETS),
        Param("kernel", "gaussian or tophat", "gaussian", kind="choice", choices=kde.KERNELS),
        Param("bandwidth", "kernel bandwidth h, or scott / silverman (from the data each generation)", 0.1,
              low=1e-6, words=RULES),
        *loop_params(n=100, n_low=2, select=False),
        Param("noise", "noise sd of moons / circles / swiss", 0.1, low=0.0),
        Param("blob_std", "sd of each of the three blobs", 0.5, low=1e-6),
        Param("test_size", "held-out real points (fixed per seed)", 500, kind="int", static=True, low=1, high=10**6),
    )
    metrics = ("nll", "mean_density", "zero_density", "spread", "bandwidth")
    metric_docs = {
        "nll": "held-out NLL, -mean_y log p_t(y) over fixed real test points (p = 0 counts as 1e-12)",
        "mean_density": "mean density p_t(y) of the KDE over the fixed held-out real points",
        "zero_density": "share of held-out points where p_t(y) = 0 (possible with the tophat kernel)",
        "spread": "per-coordinate variance of p_t: training data variance plus kernel variance",
        "bandwidth": "bandwidth h of this generation's KDE (fixed, or Scott's / Silverman's rule)",
    }
    checks = (
        Check("convolution-recursion", {"dataset": "blobs", "n": 30, "bandwidth": 0.4, "test_size": 100},
              {"regime": ["replace", "accumulate"]}, seeds=2000, generations=10, key=21, quick_seeds=1000),
        Check("convolution-recursion-mix", {"dataset": "blobs", "n": 30, "bandwidth": 0.4, "test_size": 100,
                                            "regime": "mix", "alpha": 0.3}, seeds=2000, generations=10, key=21,
              quick=False),
        Check("convolution-recursion-subsample", {"dataset": "blobs", "n": 30, "bandwidth": 0.4, "test_size": 100,
                                                  "regime": "accumulate-subsample"}, seeds=2000, generations=10,
              key=21, quick=False),
    )

    test_size: int = eqx.field(static=True)
    loop: DataLoop
    incremental: bool = eqx.field(static=True)  # accumulate, fixed h, pooled weights: add each batch's kernel sum

    # ---- host side --------------------------------------------------------------------------
    @classmethod
    def static_key(cls, config: dict[str, Any]) -> tuple:
        loop = DataLoop.static_key(config)
        # Accumulate with a fixed bandwidth scores each new batch alone, so its pool's padding costs
        # nothing and every n shares one compile; otherwise pool buffers keep sizes apart.
        if cls._incremental(config):
            loop = loop[:2] + ("incremental",)
        return (config["test_size"], loop, config["bandwidth"] in RULES)

    @staticmethod
    def _incremental(config) -> bool:
        return (config["regime"] == "accumulate" and config["bandwidth"] not in RULES
                and np.all(np.asarray(config["real_weight"]) == 1))

    @classmethod
    def build(cls, configs: list[dict[str, Any]], generations: int) -> "KDEStudy":
        return cls(test_size=configs[0]["test_size"], loop=DataLoop.build(configs),
                   incremental=all(cls._incremental(c) for c in configs))

    def numeric(self, config: dict[str, Any]) -> dict[str, np.ndarray]:
        rule = config["bandwidth"]
        return {
            "loop": loop_numeric(config),
            "dataset": np.int32(kde.DATASETS.index(config["dataset"])),
            "kernel": np.int32(kde.KERNELS.index(config["kernel"])),
            "rule": np.int32(SCOTT if rule == "scott" else SILVERMAN if rule == "silverman" else FIXED),
            "bandwidth": np.float64(0.0 if rule in RULES else rule),
            "noise": np.float64(config["noise"]),
            "blob_std": np.float64(config["blob_std"]),
        }

    def bytes_per_seed(self) -> int:
        item = np.dtype(float_dtype()).itemsize
        rows = self.loop.capacity + (self.loop.capacity if self.loop.whole_pool else self.loop.batch)
        return item * (rows * (DIM + 2) + self.test_size * (DIM + 2 * min(kde.TILE, rows)) + 4 * self.loop.batch) + 4096

    @classmethod
    def truth(cls, config: dict[str, Any]) -> dict[str, Any]:
        out = {"dataset": config["dataset"], "noise": config["noise"]}
        if config["dataset"] == "blobs":
            out.update(centres=kde.blob_centres().tolist(), blob_std=config["blob_std"])
        return out

    # ---- traced side ------------------------------------------------------------------------
    def _real(self, key, m, params):
        return kde.sample_toy(key, params["dataset"], m, params["noise"], params["blob_std"], float_dtype())

    def _bandwidth(self, training, params):
        """h: fixed, or Scott's / Silverman's factor of the (weighted) count times the data's sd."""
        count, variance = kde.moments(training.rows, training.weight)
        factor = jnp.where(params["rule"] == SCOTT, count ** (-1.0 / (DIM + 4)),
                           (count * (DIM + 2) / 4.0) ** (-1.0 / (DIM + 4)))
        return jnp.where(params["rule"] == FIXED, params["bandwidth"], factor * jnp.sqrt(variance)), variance

    def _measure(self, log_sum, total, h, variance, params):
        logp = log_sum - jnp.log(total)
        return {
            "nll": -jnp.mean(jnp.where(jnp.isfinite(logp), logp, np.log(DENSITY_FLOOR))),
            "mean_density": jnp.mean(jnp.exp(logp)),
            "zero_density": jnp.mean(~jnp.isfinite(logp)).astype(h.dtype),
            "spread": variance + kde.kernel_variance(h, params["kernel"], DIM),
            "bandwidth": h,
        }

    def _extent(self, pool, lp):
        """Rows of the training view that can be non-zero: the pool's written rows, or the batch."""
        return pool.count if self.loop.whole_pool else self.loop.batch

    def start(self, key, params):
        """The held-out set (drawn once) and an empty pool; generation 0 trains on real rows."""
        lp = params["loop"]
        test = self._real(key, self.test_size, params)
        pool = self.loop.empty(jax.eval_shape(lambda k: self._real(k, self.loop.batch, params), key))
        training = self.loop.training_set(pool, key, 0, lp)  # no row: weights all 0
        h = jnp.zeros((), test.dtype)
        return training, h, test, pool, jnp.full(self.test_size, -jnp.inf, test.dtype)

    def step(self, state, key, t, params):
        """Generation t's rows: drawn from the last KDE, or at t = 0 from the real data."""
        training, h, test, pool, log_sum = state
        k_sample, k_real, k_select, k_subsample = jax.random.split(key, 4)
        lp = params["loop"]
        real = self._real(k_real, self.loop.batch, params)
        drawn = kde.sample(k_sample, training.rows, training.weight, h, params["kernel"], self.loop.batch)
        fresh = jnp.where(t == 0, real, drawn)
        pool = self.loop.add(pool, k_select, t, lp, fresh, real if self.loop.mixes else None)
        training = self.loop.training_set(pool, k_subsample, t, lp)
        h, variance = self._bandwidth(training, params)
        if self.incremental:  # the pool's kernel sum is the old one plus the new batch's (h fixed)
            new = (jnp.arange(self.loop.batch) < lp["n"][t]).astype(fresh.dtype)
            log_sum = jnp.logaddexp(log_sum, kde.log_kernel_sum(test, fresh, new, h, params["kernel"]))
        else:
            log_sum = kde.log_kernel_sum(test, training.rows, training.weight, h, params["kernel"],
                                         self._extent(pool, lp))
        state = (training, h, test, pool, log_sum)
        return state, self._measure(log_sum, jnp.sum(training.weight), h, variance, params)

    # ---- closed forms -------------------------------------------------------------------------
    @classmethod
    def theory(cls, config: dict[str, Any], generations: int) -> dict[str, np.ndarray]:
        if (config["dataset"] != "blobs" or config["kernel"] != "gaussian" or config["bandwidth"] in RULES
                or config["regime"] in ("window", "mix-retained") or not pooled_fit(config)):
            return {}
        n = np.asarray(config["n"], np.float64)
        alpha = np.asarray(config["alpha"], np.float64)
        h2 = float(config["bandwidth"]) ** 2
        overlaps = np.array([kde.blob_overlap(j * h2, config["blob_std"]) for j in range(generations + 2)])
        weights = np.zeros(generations + 2)
        weights[1] = 1.0
        density = np.empty(generations + 1)
        density[0], pool = overlaps @ weights, n[0]
        for t in range(1, generations + 1):
            shifted = np.roll(weights, 1)
            if config["regime"] in ("accumulate", "accumulate-subsample"):
                weights = (pool * weights + n[t] * shifted) / (pool + n[t])
                pool += n[t]
            else:
                real = np.round(alpha[t] * n[t]) if config["regime"] == "mix" else 0.0
                first = np.zeros_like(weights)
                first[1] = 1.0
                weights = (real * first + (n[t] - real) * shifted) / n[t]
            density[t] = overlaps @ weights
        return {"mean_density": density}


# ---- presets ---------------------------------------------------------------------------------

KAZDAN_KDE_GRID = {"bandwidth": [0.05, 0.1, 0.2], "n": [10, 20, 50, 100, 200], "regime": ["replace", "accumulate"]}


def nll_figure(result, out_dir) -> Figure:
    """Kazdan et al.'s layout: held-out NLL against generations, rows = bandwidth, columns =
    regime, one line per n. Saved as kde_nll.<fmt>; returns the Figure."""
    from ..plot import grid_figure, save_figure

    fig = grid_figure(result, "nll", rows="bandwidth", cols="regime", lines="n")
    save_figure(fig, f"{out_dir}/kde_nll.png")
    return fig


register_preset(Preset(
    name="kazdan-kde",
    study="kde",
    description="Kazdan et al.'s KDE sweep: moons, gaussian kernel, 3 bandwidths x 5 n x {replace, accumulate}, 100 seeds x 50 generations",
    settings={"dataset": "moons", "kernel": "gaussian", "test_size": 200},
    grids=KAZDAN_KDE_GRID,
    seeds=100,
    generations=50,
    quick={"seeds": 20, "generations": 10,
           "grids": {"bandwidth": [0.1, 0.2], "n": [10, 50], "regime": ["replace", "accumulate", "accumulate-subsample"]}},
    figure=nll_figure,
))
