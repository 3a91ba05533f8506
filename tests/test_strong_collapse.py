"""strong-collapse (Dohmatob, Feng, Subramonian & Kempe 2025) against an independent numpy
implementation that draws every row, and against the note's n -> infinity closed forms (F), (O),
(R), evaluated here in numpy from the realised w1, delta and W.

Tolerances: Monte Carlo standard errors, at the Bonferroni limit of each test's comparisons
(``z_limit``, never below 4). At n = 1e8 the O(1/n) terms the floors leave out (the clean term
sigma^2 tr(Sigma1 S^-1)/n and the synthetic variance, both <= 10 (sigma^2 + c2) d/n here) are
allowed for explicitly."""

import numpy as np
import pytest

import jaxcollapse as jc
from jaxcollapse.engine.params import ConfigError
from jaxcollapse.engine.sweep import plan
from jaxcollapse.studies.strong_collapse import StrongCollapseStudy, projection, truth_vectors
from jaxcollapse.validate import z_limit

HUGE = 100_000_000


def _point(**settings):
    return plan(StrongCollapseStudy, settings, seeds=1, generations=1).points[0]


def _sigmas(config):
    """Sigma1, Sigma2 diagonals, written out here (not the study's function)."""
    d = config["dim"]
    if config["covariance"] == "mismatch":
        s1 = np.linspace(0.5, 2.0, d)
        return s1, s1[::-1]
    return np.ones(d), np.ones(d)


def reference(config, seeds, rng):
    """One round drawn row by row: X (seeds x n x d), labels, ridge / OLS by the primal normal
    equations or min-norm through the pseudo-inverse; errors [seeds, 2] (real-only, mixed)."""
    d, n, p, lam = config["dim"], config["n"], config["p"], float(config["ridge"])
    n2 = int(round(p * n))
    s1, s2 = _sigmas(config)
    w1, delta = truth_vectors(config)
    w = projection(config)
    scale = np.where((np.arange(n) >= n - n2)[:, None], np.sqrt(s2), np.sqrt(s1))
    x = rng.standard_normal((seeds, n, d)) * scale
    y = x @ w1 + config["sigma"] * rng.standard_normal((seeds, n))
    shifted = y + np.where(np.arange(n) >= n - n2, x @ delta, 0.0)
    z = x @ w.T
    errors = np.empty((seeds, 2))
    for k, labels in enumerate((y, shifted)):
        if lam > 0:
            v = np.linalg.solve(np.einsum("sni,snj->sij", z, z) / n + lam * np.eye(len(w)),
                                np.einsum("sni,sn->si", z, labels)[..., None] / n)[..., 0]
        else:
            v = np.einsum("sij,sj->si", np.linalg.pinv(z), labels)
        errors[:, k] = np.sum(s1 * (v @ w - w1) ** 2, axis=1)
    return errors


def _compare(ours, theirs):
    """z-scores of ours (per-seed [seeds, 2] test errors and penalties) against the reference."""
    out = []
    for a, b in ((ours["test_error"], theirs), (ours["penalty"][:, 1:], theirs[:, 1:] - theirs[:, :1])):
        se = np.sqrt(a.var(0) / len(a) + b.var(0) / len(b))
        out.append((a.mean(0) - b.mean(0)) / np.where(se > 0, se, 1.0))
    return np.concatenate(out)


def test_exact_wishart_sampler_matches_rows_drawn_in_numpy():
    """Wishart statistics (singular n2 < d included), mismatched covariances, OLS and ridge, with and
    without a projection (m <= d < n), against rows drawn one by one: all under one compile."""
    settings = {"dim": 6, "n": 40, "covariance": "mismatch", "c2": 2.0, "sigma": 0.5}
    grids = {"p": [0.1, 0.3], "ridge": [0.0, 0.2], "width": [0, 4]}
    result = jc.run("strong-collapse", settings, grids, seeds=4000, generations=1, key=1,
                    keep=("test_error", "penalty"))
    assert len(result.config["chunk"]) == 1  # one compile for the whole grid
    rng = np.random.default_rng(5)
    zs = []
    for i, p in enumerate(grids["p"]):
        for j, ridge in enumerate(grids["ridge"]):
            for k, width in enumerate(grids["width"]):
                config = _point(**settings, p=p, ridge=ridge, width=width)
                ours = {m: result.per_seed[m][i, j, k] for m in ("test_error", "penalty")}
                zs.append(_compare(ours, reference(config, 3000, rng)))
    zs = np.concatenate(zs)
    assert np.max(np.abs(zs)) < z_limit(zs.size), np.round(zs, 2)


def test_explicit_sampler_min_norm_matches_numpy_pseudo_inverse():
    """n = 12 < d = 30: min-norm through the dual form (width 20 > n, and no projection) and the
    primal form (width 8 < n), traced widths under one compile, against numpy's pinv."""
    settings = {"dim": 30, "n": 12, "p": 0.25, "sampler": "explicit", "sigma": 0.3}
    widths = [0, 8, 20]
    result = jc.run("strong-collapse", settings, {"width": widths}, seeds=3000, generations=1, key=2,
                    keep=("test_error", "penalty"))
    rng = np.random.default_rng(6)
    zs = np.concatenate([_compare({m: result.per_seed[m][k] for m in ("test_error", "penalty")},
                                  reference(_point(**settings, width=width), 3000, rng))
                         for k, width in enumerate(widths)])
    assert np.max(np.abs(zs)) < z_limit(zs.size), np.round(zs, 2)


def _allowance(config):
    """The O(1/n) terms the n -> infinity forms leave out, bounded generously."""
    return 10 * (config["sigma"] ** 2 + config["c2"]) * config["dim"] / config["n"]


HUGE_SETTINGS = {"dim": 8, "n": HUGE, "c2": 1.0}
HUGE_GRIDS = {"covariance": ["identity", "mismatch"], "p": [0.1, 0.5], "ridge": [0.0, "tuned"], "width": [0, 3, 6]}


@pytest.fixture(scope="module")
def huge():
    """n = 1e8 (as cheap as n = 100 with Wishart statistics), every limit of the note's sec. 4 in one
    compile: covariances x p x (OLS, tuned ridge) x (no projection, widths 3 and 6)."""
    return jc.run("strong-collapse", HUGE_SETTINGS, HUGE_GRIDS, seeds=1000, generations=1, key=3, keep=())


def _at(result, metric, t, **labels):
    return float(result.mean(metric, **labels)[t]), float(result.stderr(metric, **labels)[t])


def test_floor_at_huge_n_isotropic_and_mismatched(huge):
    """(F): at n = 1e8 the OLS mixed error is p^2 c2 (Sigma = I) and ||S^-1 p Sigma2 delta||^2_Sigma1
    with S = (1-p) Sigma1 + p Sigma2 (mismatch); the real-only fit's error is ~0."""
    floors = {}
    for covariance in HUGE_GRIDS["covariance"]:
        for p in HUGE_GRIDS["p"]:
            labels = {"covariance": covariance, "p": p, "ridge": 0.0, "width": 0}
            config = _point(**HUGE_SETTINGS, **labels)
            s1, s2 = _sigmas(config)
            _, delta = truth_vectors(config)
            floor = p**2 if covariance == "identity" else np.sum(s1 * (p * s2 * delta / ((1 - p) * s1 + p * s2)) ** 2)
            mean, se = _at(huge, "test_error", 1, **labels)
            assert abs(mean - floor) <= 4 * se + _allowance(config), (labels, mean, floor)
            assert _at(huge, "test_error", 0, **labels)[0] <= _allowance(config)
            floors[covariance, p] = mean
    assert 20 < floors["identity", 0.5] / floors["identity", 0.1] < 30  # quadratic in p


def test_tuned_ridge_lowers_but_keeps_the_floor(huge):
    """(O): lambda* = p^2 c2/||w1||^2, and E = p^2 c2 ||w1||^2/(||w1||^2 + p^2 c2) at n = 1e8."""
    for p in HUGE_GRIDS["p"]:
        labels = {"covariance": "identity", "p": p, "ridge": "tuned", "width": 0}
        config = _point(**HUGE_SETTINGS, **labels)
        assert np.isclose(StrongCollapseStudy.truth(config)["ridge_penalty"], p**2, rtol=1e-5)
        floor = p**2 / (1 + p**2)
        mean, se = _at(huge, "test_error", 1, **labels)
        assert abs(mean - floor) <= 4 * se + _allowance(config), (p, mean, floor)
        assert mean < p**2 - 10 * se


def test_random_projection_limit_given_w(huge):
    """(R): ||(I - P_W) w1||^2 + p^2 ||P_W delta||^2 at n = 1e8 for the realised W (the real-only fit:
    ||(I - P_W) w1||^2): the synthetic part grows with m."""
    for p in HUGE_GRIDS["p"]:
        penalties = []
        for width in (3, 6):
            labels = {"covariance": "identity", "p": p, "ridge": 0.0, "width": width}
            config = _point(**HUGE_SETTINGS, **labels)
            w1, delta = truth_vectors(config)
            proj = np.linalg.pinv(projection(config)) @ projection(config)
            bias = np.sum((w1 - proj @ w1) ** 2)
            for t, expected in enumerate((bias, bias + p**2 * np.sum((proj @ delta) ** 2))):
                mean, se = _at(huge, "test_error", t, **labels)
                assert abs(mean - expected) <= 4 * se + _allowance(config), (labels, t, mean, expected)
            penalties.append(_at(huge, "penalty", 1, **labels)[0])
        assert penalties[0] < penalties[1]


def test_every_limit_in_theory_holds_at_huge_n(huge):
    """Every grid point (mismatch with tuned ridge and projections included) against the study's
    realised n -> infinity form (``test_error_limit``, numpy on the host)."""
    mean, se, limit = huge.mean("test_error"), huge.stderr("test_error"), huge.theory["test_error_limit"]
    slack = _allowance({**HUGE_SETTINGS, "sigma": 1.0})
    z = (np.abs(mean - limit) - slack).clip(0) / se
    assert np.max(z) < z_limit(z.size), np.round(z, 2)


@pytest.mark.parametrize("settings, generations, match", [
    ({"p": 1.5}, 1, r"^p=1\.5: must be a number >= 0 and <= 1"),
    ({"dim": 10, "n": 8}, 1, r"ridge=0 \(lambda = 0\) with sampler=exact"),
    ({"dim": 10, "n": 50, "width": 12}, 1, r"ridge=0 \(lambda = 0\) with sampler=exact"),
    ({"dim": 10, "n": 30, "width": 40, "sampler": "explicit"}, 1, "min-norm"),
    ({"n": 10**7, "sampler": "explicit"}, 1, "sampler=explicit holds every row"),
    ({}, 3, "generations=3: strong-collapse is one round"),
    ({"covariance": "diagonal"}, 1, "covariance"),
    ({"ridge": "optimal"}, 1, "ridge"),
])
def test_bad_input_is_refused_in_one_line_before_compiling(settings, generations, match):
    with pytest.raises(ConfigError, match=match) as info:
        plan(StrongCollapseStudy, settings, seeds=1, generations=generations)
    assert "\n" not in str(info.value)
