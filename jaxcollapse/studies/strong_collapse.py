"""``strong-collapse``: one round of ridge regression on a mix of real and synthetic rows
(Dohmatob, Feng, Subramonian & Kempe, "Strong Model Collapse", ICLR 2025, arXiv:2410.04840).

Process (paper note sec. 1, the note's proposed simulable set-up): n rows in total, of which
n2 = round(p n) are synthetic (a fixed count) and n1 = n - n2 real.
  real:       x ~ N(0, Sigma1), y = x.w1 + N(0, sigma^2)
  synthetic:  x ~ N(0, Sigma2), y = x.w2 + N(0, sigma^2),  w2 = w1 + delta
  fit:        w_hat = argmin_w (1/n) sum_i (x_i.w - y_i)^2 + lambda ||w||^2  (lambda = 0: OLS, or
              the min-norm interpolator when the system is under-determined)
  metric:     ||w_hat - w1||^2_Sigma1  (the real test distribution; ||v||^2_S = v^T S v)
Random projections of width m (``width`` > 0): W in R^{m x d} with iid N(0, 1) entries, fixed by
``truth_seed``; the model fits v on z = W x by the same ridge (penalty lambda ||v||^2) and
predicts with w_hat = W^T v.

Readings taken where the note is uncertain (sec. 6): the quality is a free parameter
c2 = ||delta||^2_Sigma1 (the excess risk of the generator w2 itself on real data); w1 is a random
direction with ||w1||^2_Sigma1 = ``signal``; delta is a random direction made exactly orthogonal
to w1 (the note's "delta independent of w1", exact for any d); the random-projection model is
the one above (W fixed, min-norm or ridge in v); lambda is a free parameter, or ``tuned``.

Generations. The study is one round; the engine's generation axis (T >= 1) carries the paired
comparison, and ``generations`` must be 1:
  generation 0  the same n rows, covariates and noise, every label real (delta = 0): the
                real-only fit (for Sigma2 != Sigma1 the synthetic rows keep their Sigma2
                covariates: real-labelled, not real-distributed)
  generation 1  the mixed fit.
Metrics: ``test_error`` at both, and ``penalty`` = mixed - real-only on the same draws (0 at
generation 0), whose mean has a far smaller standard error than a difference of two means.

Sampling (``sampler``):
  exact     sufficient statistics: X1^T X1 = L1 A1 A1^T L1 with A1 the Bartlett root of
            Wishart(I, n1) (chi-square / gamma diagonals with traced df, ``gaussian.bartlett_root``,
            which also covers the singular n1 < d case), likewise X2^T X2, and X^T eps | X ~
            N(0, sigma^2 X^T X) = sigma (L1 A1 z1 + L2 A2 z2). Exact in law; O(d^3) per seed
            whatever n is, so n, p and c2 are traced (a grid over them is one compile) and n = 1e8
            costs as much as n = 100. It solves the primal normal equations, so lambda = 0 needs
            n > d (n > m with a projection, m <= d).
  explicit  every row drawn, into a capacity of the largest n of the grid (rows beyond n masked);
            primal (Z^T Z / n + lambda I) v = Z^T y / n when m <= n, dual v = Z^T (Z Z^T / n +
            lambda I)^-1 y / n when m > n (the min-norm interpolator at lambda = 0). Needed for
            the min-norm / double-descent regime (n < m, or n < d).

Closed forms (``theory``; paper note sec. 4; the finite-n forms only where the note has one):
  (F)  n -> infinity, exact for the realised vectors (key ``test_error_limit``, [real-only, mixed]):
         v_inf = (W S W^T + lambda)^-1 W (S w1 + p Sigma2 delta),  S = (1-p) Sigma1 + p Sigma2,
         E_inf = ||W^T v_inf - w1||^2_Sigma1   (W = I without a projection)
       OLS: zeta_inf = ||S^-1 p Sigma2 delta||^2_Sigma1; Sigma1 = Sigma2: p^2 c2.
       (the clean term sigma^2 tr(Sigma1 S^-1)/n and every other O(1/n) term vanish in the limit)
  (O)  ridge, Sigma = I: E_inf = ||p delta - lambda w1||^2 / (1 + lambda)^2, and with delta orthogonal
       to w1 the tuned lambda* = p^2 c2 / ||w1||^2 gives p^2 c2 ||w1||^2 / (||w1||^2 + p^2 c2)
       (``ridge=tuned`` minimises the realised E_inf numerically, which is this lambda* there).
  (R)  projection, Sigma = I, lambda -> 0: E_inf(m) = ||(I - P_W) w1||^2 + p^2 ||P_W delta||^2; its mean
       over W is (1 - m/d) ||w1||^2 + p^2 (m/d) c2 (key ``test_error_limit_over_W``).
  finite n, lambda = 0, Sigma1 = Sigma2 = Sigma, m < n - 1 (key ``test_error``, ``penalty``):
       generation 0, exact: r + (sigma^2 + r) m/(n - m - 1), r = ||(I - Pi) w1||^2_Sigma the
       projection's bias (Pi the Sigma-orthogonal projector onto W's row space; no projection:
       r = 0, m = d: sigma^2 d/(n - d - 1));
       generation 1 without a projection, APPROXIMATE (A), accurate to O(1/n):
       sigma^2 d/(n - d - 1) + c2 [p^2 + p(1 - p)((d - 1)/(n - d - 1) + 2/n)], p = n2/n realised;
       the penalty is its c2 term.
The paper's deterministic equivalent for the synthetic term at finite n, d, lambda (operator-valued
free probability) is not implemented: there is no finite-n theory for ridge, mismatched
covariances, or the mixed fit with a projection.
"""

from __future__ import annotations

import functools
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jax.scipy.linalg import cho_factor, cho_solve

from ..engine.params import ConfigError, Param
from ..engine.study import Check, Study, float_dtype
from ..models import linalg
from ..models.gaussian import bartlett_root
from .registry import Preset, register_preset, register_study

EXPLICIT_CELLS = 20_000_000  # rows x max(dim, width) the explicit sampler may hold per seed


# ---- the truth, on the host ----------------------------------------------------------------


def covariances(config: dict[str, Any]) -> tuple[np.ndarray, np.ndarray]:
    """The diagonals of Sigma1 (real) and Sigma2 (synthetic)."""
    d = config["dim"]
    if config["covariance"] == "identity":
        s1 = np.ones(d)
        return s1, s1
    if config["covariance"] == "power":
        s1 = np.arange(1, d + 1, dtype=np.float64) ** -config["beta"]
        return s1, s1
    s1 = np.linspace(0.5, 2.0, d)  # mismatch: the note's diag(0.5 ... 2) against its reverse
    return s1, s1[::-1].copy()


def truth_vectors(config: dict[str, Any]) -> tuple[np.ndarray, np.ndarray]:
    """(w1, delta) from ``truth_seed``: random directions, delta orthogonal to w1, scaled to
    ||w1||^2_Sigma1 = signal and ||delta||^2_Sigma1 = c2."""
    s1, _ = covariances(config)
    rng = np.random.default_rng([config["truth_seed"], 0])
    w1 = rng.standard_normal(config["dim"])
    delta = rng.standard_normal(config["dim"])
    if config["dim"] > 1:
        delta -= w1 * (delta @ w1) / (w1 @ w1)
    w1 *= np.sqrt(config["signal"] / np.sum(s1 * w1**2))
    delta *= np.sqrt(config["c2"] / np.sum(s1 * delta**2))
    return w1, delta


def projection(config: dict[str, Any]) -> np.ndarray:
    """W (width x dim, iid N(0, 1), from ``truth_seed``; a smaller width takes the first rows of
    a larger one), or the identity when width = 0."""
    if config["width"] == 0:
        return np.eye(config["dim"])
    rng = np.random.default_rng([config["truth_seed"], 1])
    return rng.standard_normal((config["width"], config["dim"]))


def features(config: dict[str, Any]) -> int:
    """m, the number of features the model fits: the width, or d without a projection."""
    return config["width"] or config["dim"]


def synthetic_rows(config: dict[str, Any]) -> int:
    return int(np.round(config["p"] * config["n"]))


def limit_error(config: dict[str, Any], penalty: float, shift: bool = True) -> float:
    """E_inf: ||W^T v_inf - w1||^2_Sigma1 with v_inf = (W S W^T + lambda)^-1 W (S w1 + p Sigma2 delta)
    (shift=False: delta = 0, the real-only fit of the same mix of covariates)."""
    s1, s2 = covariances(config)
    w1, delta = truth_vectors(config)
    w, p = projection(config), config["p"]
    mix = (1 - p) * s1 + p * s2
    target = mix * w1 + (p * s2 * delta if shift else 0.0)
    v = np.linalg.solve((w * mix) @ w.T + penalty * np.eye(len(w)), w @ target)
    return float(np.sum(s1 * (w.T @ v - w1) ** 2))


def tuned_penalty(config: dict[str, Any]) -> float:
    """The tuned lambda (cached: ``numeric``, ``truth`` and ``theory`` all ask for it)."""
    names = ("dim", "p", "c2", "signal", "covariance", "beta", "width", "truth_seed")
    return _tuned(tuple((name, config[name]) for name in names))


@functools.lru_cache(maxsize=256)
def _tuned(items: tuple) -> float:
    """argmin over lambda >= 0 of the realised n -> infinity error of the mixed fit (a log grid,
    then golden section); for Sigma = I without a projection it is p^2 c2/||w1||^2 (O)."""
    config = dict(items)
    if config["p"] == 0 or config["c2"] == 0:
        return 0.0
    grid = np.concatenate([[0.0], np.logspace(-10, 4, 141)])
    values = [limit_error(config, g) for g in grid]
    best = int(np.argmin(values))
    if best == 0:
        return 0.0
    low, high = np.log(grid[max(best - 1, 1)]), np.log(grid[min(best + 1, len(grid) - 1)])
    ratio = (np.sqrt(5) - 1) / 2
    for _ in range(80):
        a, b = high - ratio * (high - low), low + ratio * (high - low)
        if limit_error(config, np.exp(a)) < limit_error(config, np.exp(b)):
            high = b
        else:
            low = a
    return float(np.exp((low + high) / 2))


def ridge_penalty(config: dict[str, Any]) -> float:
    return tuned_penalty(config) if config["ridge"] == "tuned" else float(config["ridge"])


# ---- the study -----------------------------------------------------------------------------


@register_study
class StrongCollapseStudy(Study):
    name = "strong-collapse"
    description = "One ridge fit on real + a fraction p of shifted synthetic rows: the error floor (Dohmatob et al. 2025)"
    params = (
        Param("dim", "dimension d", 50, kind="int", static=True, low=1, high=2048),
        Param("n", "total training rows (real + synthetic)", 1000, kind="int", low=1),
        Param("p", "synthetic fraction: n2 = round(p n) synthetic rows, the rest real", 0.1, low=0.0, high=1.0),
        Param("c2", "synthetic quality c2 = ||delta||^2_Sigma1, delta = w2 - w1 (orthogonal to w1)", 1.0, low=0.0),
        Param("signal", "||w1||^2_Sigma1 of the true weights", 1.0, low=0.0),
        Param("sigma", "label noise of real and synthetic rows", 1.0, low=0.0),
        Param("ridge", "penalty lambda (0: OLS / min-norm), or tuned: the lambda minimising the n -> inf error", 0.0,
              low=0.0, words=("tuned",)),
        Param("covariance", "identity; mismatch: Sigma1 = diag(0.5..2), Sigma2 reversed; power: both j^-beta",
              "identity", kind="choice", choices=("identity", "mismatch", "power")),
        Param("beta", "power-law exponent for covariance=power", 1.0, low=0.0),
        Param("width", "random-projection width m (0: no projection, fit w directly)", 0, kind="int", low=0,
              high=8192),
        Param("sampler", "exact (Wishart statistics, any n, needs n > m at ridge 0) or explicit (rows; min-norm)",
              "exact", kind="choice", choices=("exact", "explicit"), static=True),
        Param("truth_seed", "seed of w1, delta and the projection W", 0, kind="int", low=0),
    )
    metrics = ("test_error", "penalty")
    metric_docs = {
        "test_error": "||w_hat - w1||^2_Sigma1; generation 0: the same rows with real labels only, "
                      "generation 1: the mix (theory: exact at generation 0, approximation (A) at 1)",
        "penalty": "synthetic penalty: mixed minus real-only error on the same rows and noise "
                   "(generation 1; 0 at generation 0; theory: approximation (A))",
    }
    checks = (
        Check("ols-mix", {"dim": 8, "sigma": 0.7},
              {"n": [300, 3000], "p": [0.1, 0.5], "covariance": ["identity", "power"]},
              seeds=6000, generations=1, key=11, relative=0.01, quick_seeds=2000),
        Check("projection-real-only", {"dim": 12, "n": 40, "p": 0.3},
              {"width": [3, 8], "sampler": ["exact", "explicit"]}, metrics=("test_error",),
              seeds=6000, generations=1, key=12, quick=False),
    )

    dim: int = eqx.field(static=True)
    sampler: str = eqx.field(static=True)
    width: int = eqx.field(static=True)  # feature capacity M (0: no projection in this group)
    rows: int = eqx.field(static=True)  # row capacity of the explicit sampler (0: exact)
    primal: bool = eqx.field(static=True)  # some point solves (Z^T Z/n + lambda) v = Z^T y/n
    dual: bool = eqx.field(static=True)  # some point solves by the dual form (explicit, m > n)

    @classmethod
    def check(cls, config: dict[str, Any], generations: int) -> dict[str, Any]:
        if generations != 1:
            raise ConfigError(f"generations={generations}: strong-collapse is one round "
                              "(generation 0 real-only, 1 the mix); use generations=1")
        d, n, m = config["dim"], config["n"], features(config)
        if config["sampler"] == "explicit" and n * max(d, m) > EXPLICIT_CELLS:
            raise ConfigError(f"n={n}: sampler=explicit holds every row, n * max(dim, width) must be <= "
                              f"{EXPLICIT_CELLS:.0e}; use sampler=exact")
        if ridge_penalty(config) == 0:  # tuned gives 0 when p = 0 or c2 = 0
            shown = config["ridge"] if isinstance(config["ridge"], str) else f"{config['ridge']:g}"
            if config["sampler"] == "exact" and (m > d or n <= m):
                raise ConfigError(f"ridge={shown} (lambda = 0) with sampler=exact needs width <= dim and n > {'width' if config['width'] else 'dim'}"
                                  f" (got n={n}, dim={d}, width={config['width']}): the normal equations are "
                                  "singular; use sampler=explicit (min-norm) or ridge > 0")
            if config["sampler"] == "explicit" and min(n, m) > d:
                raise ConfigError(f"ridge={shown} (lambda = 0) with n={n} and width={m} both > dim={d}: min-norm least squares "
                                  "would need an SVD; set ridge > 0")
        return dict(config)

    @classmethod
    def build(cls, configs: list[dict[str, Any]], generations: int) -> "StrongCollapseStudy":
        first = configs[0]
        projected = any(c["width"] > 0 for c in configs)
        width = max(features(c) for c in configs) if projected else 0
        explicit = first["sampler"] == "explicit"
        over = [explicit and features(c) > c["n"] for c in configs]
        return cls(dim=first["dim"], sampler=first["sampler"], width=width,
                   rows=max(c["n"] for c in configs) if explicit else 0,
                   primal=not all(over), dual=any(over))

    def numeric(self, config: dict[str, Any]) -> dict[str, np.ndarray]:
        s1, s2 = covariances(config)
        w1, delta = truth_vectors(config)
        n2 = synthetic_rows(config)
        out = {
            "n": np.float64(config["n"]),
            "n1": np.float64(config["n"] - n2),
            "n2": np.float64(n2),
            "sigma": np.float64(config["sigma"]),
            "ridge": np.float64(ridge_penalty(config)),
            "scale1": np.sqrt(s1),
            "scale2": np.sqrt(s2),
            "w1": w1,
            "delta": delta,
            "features": np.float64(features(config)),
        }
        if self.width:
            w = projection(config)
            out["projection"] = np.zeros((self.width, self.dim))
            out["projection"][: len(w)] = w
        return out

    def bytes_per_seed(self) -> int:
        d, m, n = self.dim, self.width or self.dim, self.rows
        cells = 8 * d * d + 3 * m * d + 3 * m * m
        if self.sampler == "explicit":
            cells += 3 * n * d + 2 * n * m + (3 * n * n if self.dual else 0)
        return np.dtype(float_dtype()).itemsize * cells

    @classmethod
    def truth(cls, config: dict[str, Any]) -> dict[str, Any]:
        s1, s2 = covariances(config)
        w1, delta = truth_vectors(config)
        return {"w1": w1.tolist(), "delta": delta.tolist(), "sigma1": s1.tolist(), "sigma2": s2.tolist(),
                "ridge_penalty": ridge_penalty(config), "synthetic_rows": synthetic_rows(config),
                "projection_seed": [config["truth_seed"], 1] if config["width"] else None}

    # ---- traced side ------------------------------------------------------------------------
    def _solve(self, system, rhs):
        """One SPD solve; ``linalg.serial`` keeps the CPU's LAPACK off batches when a step holds
        two independent factorisations (primal and dual)."""
        return _spd_solve(system, rhs) if self.primal and self.dual else cho_solve(cho_factor(system, lower=True), rhs)

    def _fits_exact(self, key, params):
        """(v_real_only, v_mixed) from the Wishart statistics of the two parts."""
        d, dtype = self.dim, params["w1"].dtype
        k1, k2, k3, k4 = jax.random.split(key, 4)
        root = jax.lax.rsqrt(params["n"])  # carry 1/sqrt(n) in the factors: G/n, X^T eps/n stay O(1)
        f1 = params["scale1"][:, None] * bartlett_root(k1, params["n1"], d, dtype) * root  # L1 A1/sqrt(n)
        f2 = params["scale2"][:, None] * bartlett_root(k2, params["n2"], d, dtype) * root
        g2 = f2 @ f2.T
        gram = f1 @ f1.T + g2  # X^T X / n
        noise = params["sigma"] * (f1 @ jax.random.normal(k3, (d,), dtype) + f2 @ jax.random.normal(k4, (d,), dtype)) * root
        clean = gram @ params["w1"] + noise  # X^T y / n, every label real
        rhs = jnp.stack([clean, clean + g2 @ params["delta"]], axis=1)
        if self.width:
            w = params["projection"]
            gram, rhs = w @ gram @ w.T, w @ rhs
        system = gram + (params["ridge"] + self._padding(params)) * jnp.eye(gram.shape[0], dtype=dtype)
        return cho_solve(cho_factor(system, lower=True), rhs)

    def _padding(self, params):
        """1 on the diagonal of the masked features (rows of W beyond the width), else 0."""
        if not self.width:
            return 0.0
        return jnp.diag((jnp.arange(self.width) >= params["features"]).astype(params["w1"].dtype))

    def _fits_explicit(self, key, params):
        d, capacity, dtype = self.dim, self.rows, params["w1"].dtype
        k_x, k_eps = jax.random.split(key)
        index = jnp.arange(capacity)
        live = index < params["n"]
        synthetic = live & (index >= params["n1"])
        scale = jnp.where(synthetic[:, None], params["scale2"][None, :], params["scale1"][None, :])
        x = jax.random.normal(k_x, (capacity, d), dtype) * scale * live[:, None]
        clean = x @ params["w1"] + params["sigma"] * jax.random.normal(k_eps, (capacity,), dtype) * live
        labels = jnp.stack([clean, clean + jnp.where(synthetic, x @ params["delta"], 0.0)], axis=1)
        z = x @ params["projection"].T if self.width else x
        count = params["n"]
        candidates = []
        if self.primal:
            system = z.T @ z / count + (params["ridge"] + self._padding(params)) * jnp.eye(z.shape[1], dtype=dtype)
            candidates.append(self._solve(system, z.T @ labels / count))
        if self.dual:
            dead = jnp.diag((~live).astype(dtype))
            system = z @ z.T / count + params["ridge"] * jnp.eye(capacity, dtype=dtype) + dead
            candidates.append(z.T @ self._solve(system, labels / count))
        if len(candidates) == 1:
            return candidates[0]
        return jnp.where(params["features"] > count, candidates[1], candidates[0])

    def init(self, key, params):
        v = self._fits_exact(key, params) if self.sampler == "exact" else self._fits_explicit(key, params)
        w = params["projection"].T @ v if self.width else v  # [d, 2]: real-only, mixed
        errors = jnp.sum(params["scale1"][:, None] ** 2 * (w - params["w1"][:, None]) ** 2, axis=0)
        real_only = {"test_error": errors[0], "penalty": jnp.zeros_like(errors[0])}
        mixed = {"test_error": errors[1], "penalty": errors[1] - errors[0]}
        return mixed, real_only

    def step(self, state, key, t, params):
        return state, state

    @classmethod
    def theory(cls, config: dict[str, Any], generations: int) -> dict[str, np.ndarray]:
        penalty = ridge_penalty(config)
        real_only, mixed = limit_error(config, penalty, shift=False), limit_error(config, penalty)
        out = {"test_error_limit": np.array([real_only, mixed]),
               "penalty_limit": np.array([0.0, mixed - real_only])}
        d, n, m = config["dim"], config["n"], features(config)
        s1, s2 = covariances(config)
        if config["width"] and config["covariance"] == "identity":
            rho, p = m / d, config["p"]
            fall = (1 - rho) * config["signal"]
            out["test_error_limit_over_W"] = np.array([fall, fall + p * p * rho * config["c2"]])
        out["test_error"] = np.full(2, np.nan)
        out["penalty"] = np.array([0.0, np.nan])
        if penalty == 0 and np.array_equal(s1, s2) and n >= m + 2 and m <= d:
            bias = real_only  # r = ||(I - Pi) w1||^2_Sigma, the projection's bias (0 without one)
            out["test_error"][0] = bias + (config["sigma"] ** 2 + bias) * m / (n - m - 1)
            if config["width"] == 0:
                share = synthetic_rows(config) / n
                synthetic = config["c2"] * (share**2 + share * (1 - share) * ((d - 1) / (n - d - 1) + 2 / n))
                out["test_error"][1] = out["test_error"][0] + synthetic
                out["penalty"][1] = synthetic
        return out


_spd_solve = linalg.serial(lambda a, b: cho_solve(cho_factor(a, lower=True), b))


# ---- figures -----------------------------------------------------------------------------------


def _labels(result, dims):
    """Every combination of the coordinates of ``dims`` present in the result, as label dicts."""
    import itertools

    present = [d for d in dims if d in result.dims]
    return [dict(zip(present, combo)) for combo in itertools.product(*(result.coords[d] for d in present))]


def _config_at(result, labels):
    config = {p.name: result.config.get(p.name, p.default) for p in StrongCollapseStudy.params}
    for name, value in labels.items():
        config[name] = StrongCollapseStudy.param(name).resolve(value, 1)
    return config


def scaling_figure(result, out_dir) -> Figure:
    """Test error of the mixed fit against n (log-log), one line per p, one panel per other grid
    point (c2, covariance, ridge); the n -> inf floor (F)/(O) dotted, approximation (A) dashed.
    Saved as scaling.<fmt>; returns the Figure."""
    import matplotlib
    from matplotlib.figure import Figure

    from ..plot import save_figure

    panels = _labels(result, [d for d in result.dims if d not in ("n", "p", "generation")]) or [{}]
    cols = min(len(panels), 3)
    rows = -(-len(panels) // cols)
    fig = Figure(figsize=(4.4 * cols, 3.6 * rows), layout="constrained")
    axes = np.atleast_1d(fig.subplots(rows, cols, squeeze=False)).ravel()
    n_values = np.asarray(result.coords["n"], np.float64)
    fractions = result.coords.get("p", [result.config.get("p")])
    for ax, panel in zip(axes, panels):
        for i, p in enumerate(fractions):
            color = matplotlib.colormaps["viridis"](i / max(len(fractions) - 1, 1))
            labels = {**panel, **({"p": p} if "p" in result.dims else {})}
            mean = result.mean("test_error", **labels)[:, 1]
            se = result.stderr("test_error", **labels)[:, 1]
            ax.errorbar(n_values, mean, 2 * se, color=color, marker="o", ms=3, label=f"p={p}")
            theory = result.select(result.theory["test_error"], labels)[:, 1] if "test_error" in result.theory else None
            if theory is not None and np.any(np.isfinite(theory)):
                ax.plot(n_values, theory, color=color, ls="--", lw=0.8)
            floor = result.select(result.theory["test_error_limit"], labels)[0, 1]
            if floor > 0:
                ax.axhline(floor, color=color, ls=":", lw=0.9)
        title = ", ".join(f"{k}={v}" for k, v in panel.items())
        ax.set(xscale="log", yscale="log", xlabel="n (total rows)", ylabel="test error", title=title or None)
    for ax in axes[len(panels):]:
        ax.set_visible(False)
    axes[0].legend(fontsize=7)
    fig.suptitle(f"mixed fit ({result.seeds} seeds; dashed: (A); dotted: n -> inf floor)", fontsize=10)
    save_figure(fig, f"{out_dir}/scaling.png")
    return fig


def width_figure(result, out_dir) -> Figure:
    """Real-only and mixed test error, and the paired synthetic penalty, against the model size m
    (one column per n or p); the n -> inf limits (R) dotted, their mean over W dash-dotted.
    Saved as model_size.<fmt>; returns the Figure."""
    from matplotlib.figure import Figure

    from ..plot import save_figure

    panels = _labels(result, [d for d in result.dims if d not in ("width", "generation")]) or [{}]
    widths = np.asarray(result.coords["width"], np.float64)
    fig = Figure(figsize=(4.6 * len(panels), 6.4), layout="constrained")
    axes = fig.subplots(2, len(panels), squeeze=False)
    for j, panel in enumerate(panels):
        top, bottom = axes[0, j], axes[1, j]
        error, se = result.mean("test_error", **panel), result.stderr("test_error", **panel)
        limit = result.select(result.theory["test_error_limit"], panel)
        shown = 1e-3 * np.min(error[error > 0], initial=1.0)  # a limit of 0 (W = I) would squash the log axis
        for t, name, color in ((0, "real only", "C0"), (1, "mixed", "C3")):
            top.errorbar(widths, error[:, t], 2 * se[:, t], color=color, marker="o", ms=3, label=name)
            top.plot(widths, np.where(limit[:, t] > shown, limit[:, t], np.nan), color=color, ls=":", lw=0.9)
        over_w = result.theory.get("test_error_limit_over_W")
        if over_w is not None:
            top.plot(widths, result.select(over_w, panel)[:, 1], color="k", ls="-.", lw=0.7, label="mean over W")
        bottom.errorbar(widths, result.mean("penalty", **panel)[:, 1], 2 * result.stderr("penalty", **panel)[:, 1],
                        color="C2", marker="o", ms=3, label="penalty (paired)")
        bottom.plot(widths, result.select(result.theory["penalty_limit"], panel)[:, 1], color="C2", ls=":", lw=0.9,
                    label="n -> inf")
        n = _config_at(result, panel)["n"]
        for ax in (top, bottom):
            if widths.min() <= n <= widths.max():
                ax.axvline(n, color="grey", lw=0.6, ls="--")
            ax.set(xlabel="width m", yscale="log")
        top.set(ylabel="test error", title=", ".join(f"{k}={v}" for k, v in panel.items()) or f"n={n}")
        bottom.set(ylabel="mixed - real only")
        top.legend(fontsize=7)
        bottom.legend(fontsize=7)
    fig.suptitle(f"model size ({result.seeds} seeds; dotted: n -> inf, grey: m = n)", fontsize=10)
    save_figure(fig, f"{out_dir}/model_size.png")
    return fig


SCALING_N = [int(round(x)) for x in np.logspace(2.3, 6, 12)]

register_preset(Preset(
    name="strong-collapse-scaling",
    study="strong-collapse",
    description="OLS scaling curves: error vs n for p in {0, 1e-3, 1e-2, 0.1, 0.5}, c2 in {0.01, 0.1, 1}, "
                "identity and power-law covariance; each p > 0 flattens at the floor p^2 c2",
    settings={"dim": 100, "sigma": 1.0},
    grids={"covariance": ["identity", "power"], "c2": [0.01, 0.1, 1.0], "p": [0.0, 0.001, 0.01, 0.1, 0.5],
           "n": SCALING_N},
    seeds=200,
    generations=1,
    quick={"seeds": 40, "settings": {"dim": 10}, "grids": {"c2": [1.0], "p": [0.0, 0.01, 0.1, 0.5],
                                                           "n": [30, 300, 3000, 30000, 300000]}},
    figure=scaling_figure,
))

register_preset(Preset(
    name="strong-collapse-mismatch",
    study="strong-collapse",
    description="Sigma1 = diag(0.5..2), Sigma2 reversed (d = 10): the floor is zeta_inf = ||S^-1 p Sigma2 delta||^2_Sigma1",
    settings={"dim": 10, "covariance": "mismatch"},
    grids={"p": [0.1, 0.3], "n": [int(round(x)) for x in np.logspace(1.5, 6, 10)]},
    seeds=500,
    generations=1,
    quick={"seeds": 50, "grids": {"p": [0.1, 0.3], "n": [50, 2000, 100000]}},
    figure=scaling_figure,
))

register_preset(Preset(
    name="strong-collapse-ridge",
    study="strong-collapse",
    description="Tuning lambda does not remove the floor: OLS vs lambda* = p^2 c2/||w1||^2 (d = 20), "
                "floors p^2 c2 and p^2 c2 ||w1||^2/(||w1||^2 + p^2 c2)",
    settings={"dim": 20},
    grids={"ridge": [0.0, "tuned"], "p": [0.1, 0.3, 0.5], "n": [int(round(x)) for x in np.logspace(1.5, 6, 10)]},
    seeds=300,
    generations=1,
    quick={"seeds": 40, "settings": {"dim": 6}, "grids": {"ridge": [0.0, "tuned"], "p": [0.1, 0.5],
                                                          "n": [20, 1000, 100000]}},
    figure=scaling_figure,
))

register_preset(Preset(
    name="strong-collapse-width",
    study="strong-collapse",
    description="Model size at finite n: random projections, d = 400 > n = 200, min-norm; the paired synthetic "
                "penalty grows up to the interpolation peak m = n, then shrinks but not to its small-m level",
    settings={"dim": 400, "n": 200, "p": 0.2, "sampler": "explicit"},
    grids={"width": [20, 60, 120, 160, 190, 210, 240, 300, 400]},
    seeds=100,
    generations=1,
    quick={"seeds": 30, "settings": {"dim": 40, "n": 20, "p": 0.2, "sampler": "explicit"},
           "grids": {"width": [2, 6, 12, 16, 24, 30, 40]}},
    figure=width_figure,
))

register_preset(Preset(
    name="strong-collapse-width-limit",
    study="strong-collapse",
    description="Model size as n grows: d = 50, p = 0.2; at n -> inf the error is ||(I - P_W) w1||^2 + p^2 ||P_W delta||^2, "
                "the synthetic part growing linearly in m",
    settings={"dim": 50, "p": 0.2},
    grids={"n": [5000, 1000000], "width": [5, 10, 15, 20, 25, 30, 35, 40, 45, 50]},
    seeds=300,
    generations=1,
    quick={"seeds": 40, "settings": {"dim": 12, "p": 0.2}, "grids": {"n": [200, 100000], "width": [2, 6, 10, 12]}},
    figure=width_figure,
))
