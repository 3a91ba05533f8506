"""``verification``: training on verifier-selected synthesized labels (Feng, Dohmatob, Yang,
Charton & Kempe, "Beyond Model Collapse: Scaling Up with Synthesized Data Requires
Verification", ICLR 2025; arXiv:2406.07515; paper note ``feng-et-al-2025-verification.md``).

The paper's own equations could not be read; this is the note's **reconstructed** model (note
sec. 1, marked [proposed]), the simplest one with the stated ingredients (a Gaussian mixture, a
linear classifier, rate or linear verifiers, i.i.d. generator errors, a breakdown point set by
verifier quality). Whether the paper's proxy p* is exactly the quantity below is unconfirmed.

Model (note sec. 1):
    y ~ Unif{+-1},  x | y ~ N(y mu, I_d),  ||mu|| = m              (Bayes accuracy Phi(m))
    n synthesized examples; label y'_i = -y_i w.p. p (generator error), else y_i
    verifier=rate   (V1): keep w.p. phi if y'_i = y_i, w.p. psi if not
    verifier=linear (V2): keep iff y'_i (w_v . x_i) > 0, ||w_v|| = 1, angle theta to mu,
                          a = mu . w_v = m cos(theta), b = m sin(theta)
    w_hat = sum over kept of y'_i x_i   (the centroid classifier; its scale is irrelevant)
    accuracy = Phi(mu . w_hat / ||w_hat||)  (the exact clean test accuracy of sign(w_hat . x);
                                             1/2 when nothing is kept)

Generations. The experiment is one-shot. Generation 0 is the reference model trained on the
same number n of examples with their TRUE labels (no verifier: all kept, no noise); every
generation t >= 1 is an independent replicate of the one-shot experiment on verified
synthesized labels (same law at every t >= 1, so the presets use ``generations=1``). "Collapse"
is accuracy at t >= 1 below accuracy at t = 0.

Samplers (``sampler``, static; the z_i = y_i x_i are N(mu, I), and only y'_i y_i = s_i = +-1
and the keep decision enter w_hat = sum_kept s_i z_i):
  sums      (default, cost flat in n and d). Counts: (C kept correct, W kept wrong, dropped)
            ~ Multinomial(n, ((1 - p) phi_e, p psi_e, rest)) by conditional binomials, with
            (phi_e, psi_e) = (phi, psi) for V1 and (Phi(a), Phi(-a)) for V2 (a V2 keep depends on
            x only through xi_i = w_v . (z_i - mu) ~ N(0, 1), independent across rows, so the
            counts are multinomial too); N = C + W. Then
            V1 (exact in law): the keep is independent of x, so given the counts
              w_hat = (C - W) mu + sqrt(N) g, g ~ N(0, I_d): mu . w_hat = m u,
              u = (C - W) m + sqrt(N) g_1, ||w_hat||^2 = u^2 + N chi2_{d-1}.
            V2: in the orthonormal basis (w_v, o, rest) with mu = a w_v + b o, a kept row
              contributes s_i (w_v . z_i) = |a + xi_i| along w_v, s_i (b + eta_i) along o and
              s_i times a free N(0, I_{d-2}) elsewhere (eta and the rest are independent of the
              keep decision). So, exactly, U_o = (C - W) b + sqrt(N) g_2 and the rest has squared
              norm N chi2_{d-2}; along w_v, U_v = S_c + S_w with S_c a sum of C draws of
              a + xi | xi > -a and S_w a sum of W draws of zeta - a | zeta > a (zeta ~ N(0, 1)).
              A sum of K i.i.d. truncated normals has no closed law: it is drawn exactly
              (K explicit draws, inverse CDF) when K <= 32 and from the normal law with its exact
              mean K lambda and variance K (1 + c lambda - lambda^2) when K > 32 (the only
              approximation in this sampler; by Edgeworth its effect on a smooth metric of
              U_v / K is O(1/K^2), far below any Monte Carlo error; the tests hold it to the
              exact ``rows`` sampler). So V2 is exact in law in every count, in U_o and in the
              rest, and CLT-exact only in the sum along w_v.
  rows      exact in law for both verifiers (the 2-D reduction): n_max explicit rows of
            (s_i, xi_i, eta_i, keep_i) with a mask i < n (n_max = the largest n of the compile
            group; n <= 2^22), plus the same chi2 for the remaining d - 2 (V1: d - 1) coordinates.
  explicit  an independent cross-check: n_max explicit rows x_i in d_max dimensions (masked),
            the labels, flips, keep decisions and w_hat formed literally (n dim <= 2^22).
Generation 0 (true labels: V1 at p = 0, all kept) is drawn exactly in O(1) by every sampler.
Every parameter except ``sampler`` is traced (n and dim too: binomial and chi-square draws take
traced counts), so a phase diagram over (p, verifier quality) x n is one compile.

Metrics: ``accuracy`` (above); ``kept_fraction`` N/n; ``label_noise`` W/N among kept (0 when
N = 0); ``proxy_margin`` (C - W)/n = (1 - p^) phi^ - p^ psi^, the verifier's audit margin
measured on the synthesized sample (n_w wrong labels, p^ = n_w/n, phi^ = C/(n - n_w),
psi^ = W/n_w): it is > 0
in expectation iff p < phi_e/(phi_e + psi_e), the class-rate breakdown point p*.

Theory (note sec. 4; ``kept_fraction``, ``label_noise`` and ``proxy_margin`` exact):
  k = (1 - p) phi_e + p psi_e                       E[kept_fraction]
  p' = p psi_e / k                                  label noise among kept;
                                                    E[label_noise] = p' (1 - (1 - k)^n)
  E[proxy_margin] = (1 - p) phi_e - p psi_e
  accuracy (a deterministic equivalent, an approximation with error O(1/n)): per generated
  example the kept sum has mean alpha mu + beta w_v, V1: alpha = (1 - p) phi - p psi, beta = 0;
  V2: alpha = Phi(a) - p, beta = phi(a) (phi() the normal density), and noise of norm^2 ~ d/(k n)
  per kept example, so
    A = Phi( (alpha m^2 + beta a) / sqrt(alpha^2 m^2 + 2 alpha beta a + beta^2 + k d / n) )
  V1: = Phi( m (1 - 2p') / sqrt((1 - 2p')^2 + g/m^2) ), g = d/E[N]  (the note's A(g));
  n -> infinity (``accuracy_limit`` in the theory): V1 -> Phi(m) for p < p* = phi/(phi + psi),
  1 - Phi(m) for p > p*, 1/2 at p = p* (the sharp transition); V2 -> A_inf, the formula with
  k d / n = 0, which crosses 1/2 smoothly at p_lin = Phi(a) + a phi(a)/m^2 (the class-rate proxy
  Phi(a) underestimates it). Generation 0: A = Phi(m^2 / sqrt(m^2 + d/n)), limit Phi(m).
"""

from __future__ import annotations

from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jax.scipy.special import ndtr, ndtri
from scipy.special import ndtr as normal_cdf  # scipy.stats costs a second at import

from ..engine.params import ConfigError, Param
from ..engine.study import Check, Study, float_dtype
from ..models.categorical import multinomial
from ..models.gamma import chisquare
from .registry import Preset, register_preset, register_study

EXPLICIT_SUM = 32  # truncated-normal sums of at most this many terms are drawn term by term
ROWS_MAX = 2**22  # largest n (rows) or n x dim (explicit) of the row samplers, per seed
SAMPLERS = ("sums", "rows", "explicit")


# ---- closed forms (host, numpy) ------------------------------------------------------------------

def normal_pdf(a):
    """The standard normal density (scipy.stats.norm.pdf without importing scipy.stats)."""
    return np.exp(-0.5 * np.square(a)) / np.sqrt(2 * np.pi)


def effective_rates(config: dict[str, Any]) -> tuple[float, float]:
    """(phi_e, psi_e): the keep probabilities of a correct and of a wrong label."""
    if config["verifier"] == "linear":
        a = config["m"] * np.cos(config["theta"])
        return float(normal_cdf(a)), float(normal_cdf(-a))
    return float(config["phi"]), float(config["psi"])


def breakdown_point(phi: float, psi: float) -> float:
    """p* = phi/(phi + psi): the generator error above which the kept labels are mostly wrong."""
    return phi / (phi + psi)


def linear_breakdown(theta: float, m: float) -> float:
    """p_lin = Phi(a) + a phi(a)/m^2, a = m cos(theta): where the linear verifier's A_inf = 1/2."""
    a = m * np.cos(theta)
    return float(normal_cdf(a) + a * normal_pdf(a) / m**2)


def signal(config: dict[str, Any], p: float | None = None) -> tuple[float, float]:
    """(alpha, beta): the kept sum's mean per generated example is alpha mu + beta w_v."""
    p = config["p"] if p is None else p
    if config["verifier"] == "linear":
        a = config["m"] * np.cos(config["theta"])
        return float(normal_cdf(a) - p), float(normal_pdf(a))
    return (1 - p) * config["phi"] - p * config["psi"], 0.0


def accuracy_equivalent(config: dict[str, Any], n: float | None = None, p: float | None = None) -> float:
    """The deterministic equivalent A of the verified model's accuracy at n examples (n = inf:
    the limit); the formula of the module docstring."""
    n = config["n"] if n is None else n
    p = config["p"] if p is None else p
    m, d = config["m"], config["dim"]
    phi_e, psi_e = effective_rates(config)
    keep = (1 - p) * phi_e + p * psi_e
    alpha, beta = signal(config, p)
    a = m * np.cos(config["theta"]) if config["verifier"] == "linear" else 0.0
    top = alpha * m**2 + beta * a
    noise = 0.0 if not np.isfinite(n) else keep * d / n
    bottom = np.sqrt(max(alpha**2 * m**2 + 2 * alpha * beta * a + beta**2 + noise, 0.0))
    if bottom == 0:
        return 0.5
    return float(normal_cdf(top / bottom))


def clean_equivalent(m: float, d: float, n: float) -> float:
    """Generation 0 (true labels, all kept): Phi(m^2 / sqrt(m^2 + d/n))."""
    return float(normal_cdf(m**2 / np.sqrt(m**2 + (d / n if np.isfinite(n) else 0.0))))


# ---- the study --------------------------------------------------------------------------------


@register_study
class VerificationStudy(Study):
    name = "verification"
    description = "Verifier-selected synthesized labels, Gaussian mixture + centroid classifier (Feng et al.)"
    params = (
        Param("n", "synthesized examples (generation 0: the same number with true labels)", 4000, kind="int",
              low=1, high=10**7),
        Param("dim", "dimension d", 200, kind="int", low=1, high=10**6),
        Param("m", "class separation ||mu|| (Bayes accuracy Phi(m))", 1.0, low=0.0, high=4.0),
        Param("p", "generator error: each synthesized label flipped w.p. p", 0.3, low=0.0, high=1.0),
        Param("verifier", "rate (keep w.p. phi / psi) or linear (keep iff y' w_v.x > 0)", "rate", kind="choice",
              choices=("rate", "linear")),
        Param("phi", "rate verifier: P(keep | label correct)", 0.9, low=0.0, high=1.0),
        Param("psi", "rate verifier: P(keep | label wrong); phi = psi = 1 is no verifier", 0.5, low=0.0, high=1.0),
        Param("theta", "linear verifier: angle between w_v and mu, radians in [0, pi]", 0.785398, low=0.0,
              high=float(np.pi)),
        Param("sampler", "sums (cost flat in n, d), rows (exact 2-D reduction, n rows), explicit (n x d rows)",
              "sums", kind="choice", choices=SAMPLERS, static=True),
    )
    metrics = ("accuracy", "kept_fraction", "label_noise", "proxy_margin")
    metric_docs = {
        "accuracy": "clean test accuracy Phi(mu.w_hat/||w_hat||) of the centroid classifier on the kept examples",
        "kept_fraction": "share N/n of the synthesized examples the verifier keeps",
        "label_noise": "share W/N of wrong labels among the kept examples (p'; 0 when none kept)",
        "proxy_margin": "(kept correct - kept wrong)/n = (1-p^)phi^ - p^ psi^: > 0 in expectation iff p < p*",
    }
    summary_metrics = ("accuracy", "kept_fraction", "label_noise")
    checks = (
        Check("counts", {"n": 300, "dim": 20}, {"p": [0.2, 0.7], "verifier": ["rate", "linear"]},
              metrics=("kept_fraction", "label_noise", "proxy_margin"), seeds=20000, generations=2, key=1,
              quick_seeds=4000),
        Check("accuracy-large-n", {"n": 10**6, "dim": 200, "psi": 0.5, "phi": 0.9}, {"p": [0.3, 0.55, 0.75]},
              metrics=("accuracy",), seeds=4000, generations=1, key=2, relative=2e-5, quick_seeds=1000),
    )

    sampler: str = eqx.field(static=True)
    rows: int = eqx.field(static=True)  # n_max of the row samplers (1 for sums)
    width: int = eqx.field(static=True)  # d_max of the explicit sampler (1 otherwise)

    @classmethod
    def check(cls, config: dict[str, Any], generations: int) -> dict[str, Any]:
        config = dict(config)
        for param in cls.params:  # the engine passes a None setting through unchecked
            if config[param.name] is None:
                raise ConfigError(f"{param.name}=None: must be {param.allowed()}")
        if config["verifier"] == "rate" and config["phi"] == 0 and config["psi"] == 0:
            raise ConfigError("phi=0 and psi=0: the rate verifier keeps nothing; set phi > 0 or psi > 0")
        if config["verifier"] == "linear" and config["dim"] < 2:
            raise ConfigError(f"dim={config['dim']}: verifier=linear needs dim >= 2 (w_v is at an angle to mu)")
        if config["sampler"] == "rows" and config["n"] > ROWS_MAX:
            raise ConfigError(f"n={config['n']}: sampler=rows draws n rows per seed, at most {ROWS_MAX}; use sampler=sums")
        if config["sampler"] == "explicit" and config["n"] * max(config["dim"], 2) > ROWS_MAX:
            raise ConfigError(f"n={config['n']}, dim={config['dim']}: sampler=explicit draws n x dim values per seed, "
                              f"at most {ROWS_MAX}; use sampler=sums or rows")
        return config

    @classmethod
    def build(cls, configs: list[dict[str, Any]], generations: int) -> "VerificationStudy":
        sampler = configs[0]["sampler"]
        rows = max(c["n"] for c in configs) if sampler != "sums" else 1
        width = max(max(c["dim"] for c in configs), 2) if sampler == "explicit" else 1
        return cls(sampler=sampler, rows=rows, width=width)

    def numeric(self, config: dict[str, Any]) -> dict[str, np.ndarray]:
        m, theta = float(config["m"]), float(config["theta"])
        return {
            "n": np.float64(config["n"]),
            "dim": np.float64(config["dim"]),
            "m": np.float64(m),
            "p": np.float64(config["p"]),
            "phi": np.float64(config["phi"]),
            "psi": np.float64(config["psi"]),
            "cos": np.float64(np.cos(theta)),
            "sin": np.float64(np.sin(theta)),
            "linear": np.bool_(config["verifier"] == "linear"),
        }

    def bytes_per_seed(self) -> int:
        size = np.dtype(float_dtype()).itemsize
        if self.sampler == "explicit":
            return size * self.rows * self.width * 4 + 4096
        return size * self.rows * 8 + 4096

    @classmethod
    def truth(cls, config: dict[str, Any]) -> dict[str, Any]:
        phi_e, psi_e = effective_rates(config)
        out = {"bayes_accuracy": float(normal_cdf(config["m"])), "phi_effective": phi_e, "psi_effective": psi_e,
               "p_star": breakdown_point(phi_e, psi_e) if phi_e + psi_e > 0 else None}
        if config["verifier"] == "linear" and config["m"] > 0:
            out["p_lin"] = linear_breakdown(config["theta"], config["m"])
        return out

    # ---- traced side ------------------------------------------------------------------------
    def start(self, key, params):
        return jnp.zeros((), params["m"].dtype)  # no state: every generation is a fresh draw

    def step(self, state, key, t, params):
        return state, self._draw(key, params, t)

    def _draw(self, key, params, t):
        sampler = {"sums": self._sums, "rows": self._rows}.get(self.sampler, self._explicit)
        # generation 0 is V1 at p = 0: the exact O(1) draw (t is not batched: only one branch runs)
        kept_c, kept_w, dot, norm2 = jax.lax.cond(t == 0, lambda: self._sums(key, params, clean=True),
                                                  lambda: sampler(key, params))
        n = params["n"]
        kept = kept_c + kept_w
        accuracy = jnp.where(norm2 > 0, ndtr(dot / jnp.sqrt(jnp.where(norm2 > 0, norm2, 1.0))), 0.5)
        return {"accuracy": accuracy, "kept_fraction": kept / n, "label_noise": kept_w / jnp.maximum(kept, 1.0),
                "proxy_margin": (kept_c - kept_w) / n}

    @staticmethod
    def _rates(params):
        a = params["m"] * params["cos"]
        phi_e = jnp.where(params["linear"], ndtr(a), params["phi"])
        psi_e = jnp.where(params["linear"], ndtr(-a), params["psi"])
        return a, params["m"] * params["sin"], phi_e, psi_e


    def _sums(self, key, params, clean: bool = False):
        dtype = params["m"].dtype
        k_counts, k_normal, k_chi, k_terms = jax.random.split(key, 4)
        n, m, d = params["n"], params["m"], params["dim"]
        g = jax.random.normal(k_normal, (4,), dtype)  # g_1, g_2 and the two sums' normals
        if clean:  # generation 0: every label correct and kept, w_hat = n mu + sqrt(n) g
            u = n * m + jnp.sqrt(n) * g[0]
            return n, jnp.zeros_like(n), m * u, u**2 + n * chisquare(k_chi, d - 1)
        a, b, phi_e, psi_e = self._rates(params)
        # (kept correct, kept wrong, dropped) ~ Multinomial(n, ((1 - p) phi_e, p psi_e, rest)):
        # two conditional binomials
        shares = jnp.stack([(1 - params["p"]) * phi_e, params["p"] * psi_e])
        kept_c, kept_w, _ = multinomial(k_counts, n, jnp.append(shares, 1 - jnp.sum(shares)))
        kept, diff = kept_c + kept_w, kept_c - kept_w
        root = jnp.sqrt(kept)
        rest = kept * chisquare(k_chi, d - 2)  # the coordinates outside span(mu, w_v)
        # V1, exact: along mu, u = (C - W) m + sqrt(N) g_1; the other d - 1 coordinates
        u = diff * m + root * g[0]
        v1_norm2 = u**2 + rest + jnp.where(d >= 2, (root * g[1]) ** 2, 0.0)
        # V2: along w_v the kept |a + xi| (two truncated-normal sums), along o exact
        along_v = jnp.sum(_truncated_sums(k_terms, g[2:], jnp.stack([kept_c, kept_w]), jnp.stack([-a, a]),
                                          jnp.stack([a, -a])))
        along_o = diff * b + root * g[1]
        v2_dot = a * along_v + b * along_o
        v2_norm2 = along_v**2 + along_o**2 + rest
        dot = jnp.where(params["linear"], v2_dot, m * u)
        norm2 = jnp.where(params["linear"], v2_norm2, v1_norm2)
        return kept_c, kept_w, dot, norm2

    def _rows(self, key, params):
        dtype = params["m"].dtype
        k_uniform, k_normal, k_chi = jax.random.split(key, 3)
        n, m, d = params["n"], params["m"], params["dim"]
        a, b, _, _ = self._rates(params)
        valid = jnp.arange(self.rows) < n
        u = jax.random.uniform(k_uniform, (2, self.rows), dtype)
        wrong = valid & (u[0] < params["p"])
        sign = jnp.where(wrong, -1.0, 1.0).astype(dtype)
        # xi = w_v . (z - mu) (V1: e_1 . (z - mu)) and eta, the orthogonal in-plane coordinate
        xi, eta = jax.random.normal(k_normal, (2, self.rows), dtype)
        rate_keep = u[1] < jnp.where(wrong, params["psi"], params["phi"])
        keep = valid & jnp.where(params["linear"], sign * (a + xi) > 0, rate_keep)
        weight = jnp.where(keep, sign, 0.0)
        kept_c = jnp.sum(keep & ~wrong).astype(dtype)
        kept_w = jnp.sum(keep & wrong).astype(dtype)
        kept = kept_c + kept_w
        shift_v = jnp.where(params["linear"], a, m)  # mu's coordinate along the first axis
        shift_o = jnp.where(params["linear"], b, 0.0)
        along_v = jnp.sum(weight * (shift_v + xi))
        along_o = jnp.sum(weight * (shift_o + eta))
        rest = kept * chisquare(k_chi, d - 2)
        along_o = jnp.where(d >= 2, along_o, 0.0)
        return kept_c, kept_w, shift_v * along_v + shift_o * along_o, along_v**2 + along_o**2 + rest

    def _explicit(self, key, params):
        dtype = params["m"].dtype
        k_uniform, k_noise = jax.random.split(key)
        rows, width = self.rows, self.width
        n, m, d = params["n"], params["m"], params["dim"]
        valid = jnp.arange(rows) < n
        coords = (jnp.arange(width) < d).astype(dtype)
        mu = jnp.zeros(width, dtype).at[0].set(m)
        w_v = jnp.zeros(width, dtype).at[0].set(params["cos"]).at[1].set(params["sin"])
        u = jax.random.uniform(k_uniform, (3, rows), dtype)
        y = jnp.where(u[0] < 0.5, 1.0, -1.0).astype(dtype)
        x = (y[:, None] * mu + jax.random.normal(k_noise, (rows, width), dtype)) * coords
        wrong = valid & (u[1] < params["p"])
        label = jnp.where(wrong, -y, y)
        rate_keep = u[2] < jnp.where(wrong, params["psi"], params["phi"])
        keep = valid & jnp.where(params["linear"], label * (x @ w_v) > 0, rate_keep)
        w_hat = jnp.sum(jnp.where(keep, label, 0.0)[:, None] * x, axis=0)
        kept_c = jnp.sum(keep & ~wrong).astype(dtype)
        kept_w = jnp.sum(keep & wrong).astype(dtype)
        return kept_c, kept_w, w_hat @ mu, jnp.sum(w_hat**2)

    # ---- closed forms -----------------------------------------------------------------------
    @classmethod
    def theory(cls, config: dict[str, Any], generations: int) -> dict[str, np.ndarray]:
        n, p, m, d = config["n"], config["p"], config["m"], config["dim"]
        phi_e, psi_e = effective_rates(config)
        keep = (1 - p) * phi_e + p * psi_e
        noise = p * psi_e / keep if keep > 0 else 0.0
        none_kept = (1 - keep) ** n

        def curve(clean: float, verified: float) -> np.ndarray:
            return np.r_[clean, np.full(generations, verified)]

        return {
            "accuracy": curve(clean_equivalent(m, d, n), accuracy_equivalent(config)),
            "kept_fraction": curve(1.0, keep),
            "label_noise": curve(0.0, noise * (1 - none_kept)),
            "proxy_margin": curve(1.0, (1 - p) * phi_e - p * psi_e),
            "accuracy_limit": curve(float(normal_cdf(m)), accuracy_equivalent(config, n=np.inf)),
        }


def _truncated_sums(key, normal, count, c, shift):
    """For each entry, the sum of ``count`` i.i.d. draws of shift + Z | Z > c, Z ~ N(0, 1): term by
    term (inverse CDF, Z = -Phi^-1(U Phi(-c))) for count <= EXPLICIT_SUM, else from the normal law
    with the exact mean count (shift + lambda) and variance count (1 + c lambda - lambda^2),
    lambda = phi(c)/Phi(-c)."""
    dtype = c.dtype
    tail = ndtr(-c)
    u = jax.random.uniform(key, c.shape + (EXPLICIT_SUM,), dtype, minval=jnp.finfo(dtype).tiny, maxval=1.0)
    terms = -ndtri(u * tail[..., None]) + shift[..., None]
    exact = jnp.sum(jnp.where(jnp.arange(EXPLICIT_SUM) < count[..., None], terms, 0.0), axis=-1)
    lam = jnp.exp(-0.5 * c**2) / np.sqrt(2 * np.pi) / tail
    mean = shift + lam
    var = jnp.maximum(1 + c * lam - lam**2, 0.0)
    approx = count * mean + jnp.sqrt(count * var) * normal  # ``normal``: standard normals, c's shape
    return jnp.where(count <= EXPLICIT_SUM, exact, approx)


# ---- figures ------------------------------------------------------------------------------------


def _arranged(result, metric: str, order: list[str], generation: int = 1, theory: str | None = None):
    """``metric``'s mean, stderr and theory (``theory`` names the key, default the metric) at
    ``generation``, with the grid dims in ``order`` (dims not named: their first value)."""
    grid = result.dims[:-1]
    index = tuple(slice(None) if d in order else 0 for d in grid) + (generation,)
    kept = [d for d in grid if d in order]
    perm = [kept.index(d) for d in order]
    mean = np.transpose(result.mean(metric)[index], perm)
    se = np.transpose(result.stderr(metric)[index], perm)
    curve = result.theory.get(theory or metric)
    curve = None if curve is None else np.transpose(np.asarray(curve)[index], perm)
    return mean, se, curve


def _setting(result, name: str, default: Any = None) -> Any:
    value = result.config.get(name, default)
    return default if value == "varies with grid" else value


def scaling_figure(result, out_dir):
    """Scaling curves: verified accuracy against n (log x), one line per p, one panel per other
    grid point (the verifier); the deterministic equivalent dashed, Phi(m) and 1 - Phi(m)
    dotted, the true-label reference (generation 0) grey. Saved as scaling.<fmt>; returns the
    Figure. Needs grid dims ``n`` and ``p``."""
    import itertools

    from matplotlib.figure import Figure

    from ..plot import matplotlib_colors, save_figure

    others = [d for d in result.dims[:-1] if d not in ("n", "p")][:2]
    panels = list(itertools.product(*[range(len(result.coords[d])) for d in others])) or [()]
    ns = np.asarray(result.coords["n"], np.float64)
    ps = result.coords["p"]
    colors = matplotlib_colors(len(ps))
    cols = min(len(panels), 4)
    rows = -(-len(panels) // cols)
    fig = Figure(figsize=(3.6 * cols + 0.5, 3.0 * rows + 0.6), layout="constrained")
    axes = np.atleast_1d(fig.subplots(rows, cols, squeeze=False, sharex=True, sharey=True)).ravel()
    m = _setting(result, "m", 1.0)
    order = ["p", "n"] + others
    mean, se, curve = _arranged(result, "accuracy", order)
    clean, _, _ = _arranged(result, "accuracy", order, generation=0)
    for ax, combo in zip(axes, panels):
        for k in range(len(ps)):
            index = (k, slice(None)) + combo
            line = ax.errorbar(ns, mean[index], 1.96 * se[index], color=colors[k], marker="o", ms=3, lw=1.2,
                               label=f"p={ps[k]}")
            if curve is not None:
                ax.plot(ns, curve[index], color=line[0].get_color(), ls="--", lw=0.8)
        ax.plot(ns, clean[(0, slice(None)) + combo], color="0.5", lw=1.0, label="true labels")
        if isinstance(m, (int, float)):
            for level in (normal_cdf(m), normal_cdf(-m), 0.5):
                ax.axhline(level, color="k", ls=":", lw=0.6)
        title = ", ".join(f"{d}={result.coords[d][i]}" for d, i in zip(others, combo))
        ax.set(xscale="log", title=title or "verified accuracy")
        ax.title.set_fontsize(8)
    for ax in axes[len(panels):]:
        ax.set_visible(False)
    axes[0].set_ylabel("accuracy")
    axes[0].legend(fontsize=6)
    for ax in axes[-cols:]:
        ax.set_xlabel("synthesized examples n")
    fig.suptitle(f"verified accuracy vs n ({result.seeds} seeds, 95% CI; dashed: deterministic equivalent; "
                 "dotted: Phi(m), 1/2, 1 - Phi(m))", fontsize=9)
    save_figure(fig, f"{out_dir}/scaling.png")
    return fig


def breakdown_figure(result, out_dir):
    """The phase diagram: accuracy at the largest n over (p, psi) (phi fixed) with the breakdown
    line p* = phi/(phi + psi), and accuracy against p for each psi at each n (the step
    sharpening with n; n -> infinity limit dashed). Saved as phase_diagram.<fmt>; returns the
    Figure. Needs grid dims ``p``, ``psi`` and ``n``."""
    from matplotlib.figure import Figure

    from ..plot import matplotlib_colors, save_figure

    ps = np.asarray(result.coords["p"], np.float64)
    psis = np.asarray(result.coords["psi"], np.float64)
    ns = result.coords["n"]
    phi = _setting(result, "phi", 1.0)
    mean, _, limit = _arranged(result, "accuracy", ["psi", "p", "n"], theory="accuracy_limit")
    fig = Figure(figsize=(4.4 + 3.2 * min(len(ns), 3), 3.8), layout="constrained")
    axes = fig.subplots(1, 1 + min(len(ns), 3))
    image = axes[0].pcolormesh(ps, psis, mean[:, :, -1], shading="nearest", cmap="RdBu", vmin=0, vmax=1)
    if isinstance(phi, (int, float)):
        grid = np.linspace(0, 1, 201)
        star = phi / (phi + grid)
        axes[0].plot(star, grid, "k--", lw=1.2, label="p* = phi/(phi + psi)")
        axes[0].legend(fontsize=7, loc="lower left")
    axes[0].set(xlim=(ps[0], ps[-1]), ylim=(psis[0], psis[-1]), xlabel="generator error p", ylabel="psi",
                title=f"accuracy at n = {ns[-1]} (phi = {phi})")
    axes[0].title.set_fontsize(8)
    fig.colorbar(image, ax=axes[0])
    colors = matplotlib_colors(len(psis))
    shown = sorted({0, len(ns) // 2, len(ns) - 1})[: len(axes) - 1]
    for ax, j in zip(axes[1:], shown):
        for k in range(len(psis)):
            ax.plot(ps, mean[k, :, j], color=colors[k], marker=".", ms=3, label=f"psi={psis[k]:g}")
            if limit is not None:
                ax.plot(ps, limit[k, :, j], color=colors[k], ls="--", lw=0.7)
        ax.axhline(0.5, color="k", ls=":", lw=0.6)
        ax.set(xlabel="generator error p", title=f"n = {ns[j]} (dashed: n -> inf)")
        ax.title.set_fontsize(8)
    axes[1].set_ylabel("accuracy")
    axes[1].legend(fontsize=6)
    save_figure(fig, f"{out_dir}/phase_diagram.png")
    return fig


def linear_figure(result, out_dir):
    """The linear verifier: accuracy against p, one line per theta (A_inf dashed, p_lin and the
    class-rate proxy Phi(a) marked), and the proxy margin against accuracy over every (p, theta)
    (a monotone relation, the paper's proxy-vs-performance plot). Saved as linear_verifier.<fmt>;
    returns the Figure. Needs grid dims ``p`` and ``theta`` (``n`` optional: its largest value)."""
    from matplotlib.figure import Figure

    from ..plot import matplotlib_colors, save_figure

    ps = np.asarray(result.coords["p"], np.float64)
    thetas = np.asarray(result.coords["theta"], np.float64)
    m = _setting(result, "m", 1.0)
    order = ["theta", "p"] + (["n"] if "n" in result.dims else [])
    pick = (slice(None), slice(None)) + ((-1,) if "n" in result.dims else ())
    mean, se, limit = (None if a is None else a[pick] for a in _arranged(result, "accuracy", order, theory="accuracy_limit"))
    margin = _arranged(result, "proxy_margin", order)[0][pick]
    colors = matplotlib_colors(len(thetas))
    fig = Figure(figsize=(10, 4), layout="constrained")
    left, right = fig.subplots(1, 2)
    for k, theta in enumerate(thetas):
        left.errorbar(ps, mean[k], 1.96 * se[k], color=colors[k], marker="o", ms=3, label=f"theta={theta:.3g}")
        if limit is not None:
            left.plot(ps, limit[k], color=colors[k], ls="--", lw=0.8)
        if isinstance(m, (int, float)) and m > 0:
            p_lin = linear_breakdown(theta, m)
            if p_lin <= 1:
                left.axvline(p_lin, color=colors[k], ls=":", lw=0.8)
            left.plot([normal_cdf(m * np.cos(theta))], [0.5], marker="x", color=colors[k], ms=7)
        right.plot(margin[k], mean[k], color=colors[k], marker="o", ms=3, lw=0.8, label=f"theta={theta:.3g}")
    left.axhline(0.5, color="k", ls=":", lw=0.6)
    left.set(xlabel="generator error p", ylabel="accuracy",
             title="linear verifier (dashed: A_inf; dotted: p_lin; x: class-rate proxy Phi(a))")
    left.title.set_fontsize(8)
    left.legend(fontsize=7)
    right.axvline(0, color="k", ls=":", lw=0.6)
    right.axhline(0.5, color="k", ls=":", lw=0.6)
    right.set(xlabel="proxy margin (kept correct - kept wrong)/n", ylabel="accuracy", title="proxy vs performance")
    right.title.set_fontsize(8)
    save_figure(fig, f"{out_dir}/linear_verifier.png")
    return fig


def table_figure(result, out_dir):
    """The note's reference table: ``reference_table.md`` (one row per p: the deterministic
    equivalent / the Monte Carlo mean ± SE per n, and the n -> infinity limit) and the scaling
    figure. Returns the Figure."""
    from pathlib import Path

    mean, se, curve = _arranged(result, "accuracy", ["p", "n"])
    _, _, limit = _arranged(result, "accuracy", ["p", "n"], theory="accuracy_limit")
    ns, ps = result.coords["n"], result.coords["p"]
    lines = ["| p | " + " | ".join(f"n = {n}" for n in ns) + " | n -> inf |",
             "|---|" + "---|" * (len(ns) + 1)]
    for i, p in enumerate(ps):
        cells = [f"{curve[i, j]:.4f} / {mean[i, j]:.4f} ± {se[i, j]:.4f}" for j in range(len(ns))]
        lines.append(f"| {p} | " + " | ".join(cells) + f" | {limit[i, -1]:.4f} |")
    text = (f"Verified accuracy, {result.seeds} seeds: deterministic equivalent A(d/E[N]) / Monte Carlo mean ± SE\n\n"
            + "\n".join(lines) + "\n")
    Path(out_dir, "reference_table.md").write_text(text)
    return scaling_figure(result, out_dir)


# ---- presets ------------------------------------------------------------------------------------

P_GRID = [0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9]
N_GRID = [100, 316, 1000, 3162, 10000, 31623, 100000, 316228, 1000000]

register_preset(Preset(
    name="feng-scaling",
    study="verification",
    description="Scaling curves: verified accuracy vs n (10^2..10^6) for p in 0.2..0.9 and rate verifiers "
                "(phi, psi) in {0.9, 1} x {1, 0.5, 0.1, 0}: rising to Phi(m) below p* = phi/(phi+psi), falling to 1 - Phi(m) above",
    settings={"m": 1.0, "dim": 200, "verifier": "rate"},
    grids={"p": P_GRID, "n": N_GRID, "phi": [0.9, 1.0], "psi": [1.0, 0.5, 0.1, 0.0]},
    seeds=4000,
    generations=1,
    quick={"seeds": 200, "grids": {"p": [0.3, 0.6, 0.8], "n": [100, 10000, 1000000], "phi": [0.9], "psi": [1.0, 0.5, 0.0]}},
    figure=scaling_figure,
))

register_preset(Preset(
    name="feng-phase",
    study="verification",
    description="Phase diagram: accuracy over (p, psi/phi) with phi = 1 at n = 10^3..10^6, one compile; "
                "the step along p* = phi/(phi + psi) sharpens with n",
    settings={"m": 1.0, "dim": 200, "verifier": "rate", "phi": 1.0},
    grids={"p": [round(0.05 * i, 2) for i in range(1, 20)], "psi": [round(0.1 * i, 1) for i in range(11)],
           "n": [1000, 10000, 100000, 1000000]},
    seeds=2000,
    generations=1,
    quick={"seeds": 100, "grids": {"p": [0.2, 0.4, 0.6, 0.8], "psi": [0.0, 0.5, 1.0], "n": [1000, 1000000]}},
    figure=breakdown_figure,
))

register_preset(Preset(
    name="feng-linear",
    study="verification",
    description="Linear verifier at angle theta in {0, pi/4, 1.37} to mu, accuracy vs p (m = 1, d = 20): a smooth "
                "crossing of 1/2 at p_lin = Phi(a) + a phi(a)/m^2, beyond the class-rate proxy Phi(a); proxy vs accuracy",
    settings={"m": 1.0, "dim": 20, "verifier": "linear"},
    grids={"p": [round(0.05 * i, 2) for i in range(2, 19)], "theta": [0.0, 0.7854, 1.37], "n": [2000, 200000]},
    seeds=1000,
    generations=1,
    quick={"seeds": 100, "grids": {"p": [0.3, 0.6, 0.7, 0.8], "theta": [0.7854, 1.37], "n": [200000]}},
    figure=linear_figure,
))

register_preset(Preset(
    name="feng-table",
    study="verification",
    description="The note's reference table: m = 1, d = 200, phi = 0.9, psi = 0.5 (p* = 0.643), "
                "p in {0.3, 0.55, 0.6, 0.7, 0.75} x n in {400, ..., 400000}; writes reference_table.md",
    settings={"m": 1.0, "dim": 200, "verifier": "rate", "phi": 0.9, "psi": 0.5},
    grids={"p": [0.3, 0.55, 0.6, 0.7, 0.75], "n": [400, 4000, 40000, 400000]},
    seeds=20000,
    generations=1,
    quick={"seeds": 500},
    figure=table_figure,
))
