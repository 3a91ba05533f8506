"""verification (Feng, Dohmatob, Yang, Charton & Kempe 2025, the note's reconstructed model)
against an independent numpy implementation that draws every row x_i, against the n -> infinity
limits (the sharp transition at p* = phi/(phi + psi); the linear verifier's A_inf), and against
the note's reference numbers (computed independently of this code). Tolerances: Monte Carlo
standard errors with the Bonferroni z limit (never below 4); fixed seeds."""

import numpy as np
import pytest
from scipy.stats import norm

import jaxcollapse as jc
from jaxcollapse.engine.params import ConfigError
from jaxcollapse.engine.sweep import plan
from jaxcollapse.studies.verification import VerificationStudy, accuracy_equivalent, linear_breakdown
from jaxcollapse.validate import z_limit

pytestmark = pytest.mark.xdist_group("verification")  # its module fixture is computed once
METRICS = ("accuracy", "kept_fraction", "label_noise", "proxy_margin")


def reference(rng, seeds, n, d, m, p, verifier, phi=1.0, psi=1.0, theta=0.0):
    """The model written out row by row (numpy, vectorised over seeds): per-seed metrics."""
    mu = np.zeros(d)
    mu[0] = m
    w_v = np.zeros(d)
    w_v[0], w_v[1] = np.cos(theta), np.sin(theta)
    y = rng.choice([-1.0, 1.0], (seeds, n))
    x = y[..., None] * mu + rng.standard_normal((seeds, n, d))
    wrong = rng.random((seeds, n)) < p
    label = np.where(wrong, -y, y)
    if verifier == "rate":
        keep = rng.random((seeds, n)) < np.where(wrong, psi, phi)
    else:
        keep = label * (x @ w_v) > 0
    w = np.einsum("sn,snd->sd", keep * label, x)
    length = np.linalg.norm(w, axis=1)
    accuracy = np.where(length > 0, norm.cdf(w @ mu / np.where(length > 0, length, 1.0)), 0.5)
    kept_c, kept_w = np.sum(keep & ~wrong, 1), np.sum(keep & wrong, 1)
    kept = kept_c + kept_w
    return {"accuracy": accuracy, "kept_fraction": kept / n, "label_noise": kept_w / np.maximum(kept, 1),
            "proxy_margin": (kept_c - kept_w) / n}


def test_every_sampler_matches_an_explicit_numpy_reference():
    """sums (V1 exact, V2 truncated sums term by term / normal law above 32 terms), rows (the
    exact 2-D reduction) and explicit (n x d rows) against the numpy model, both verifiers, true
    labels (generation 0) too; n = 10 (every sum term by term) and n = 100 (V2 sums past 32)."""
    settings = {"dim": 5, "m": 1.0, "phi": 0.8, "psi": 0.3, "theta": 0.9}
    grids = {"sampler": ["sums", "rows", "explicit"], "verifier": ["rate", "linear"], "p": [0.2, 0.7], "n": [10, 100]}
    result = jc.run("verification", settings, grids, seeds=3000, generations=1, key=11, keep=METRICS)
    rng = np.random.default_rng(5)
    rows = []
    for i, verifier in enumerate(grids["verifier"]):
        for j, p in enumerate(grids["p"]):
            for k, n in enumerate(grids["n"]):
                ref = reference(rng, 3000, n, 5, 1.0, p, verifier, 0.8, 0.3, 0.9)
                clean = reference(rng, 3000, n, 5, 1.0, 0.0, "rate") if i == j == 0 else None
                for s, _ in enumerate(grids["sampler"]):
                    for metric in METRICS:
                        ours = result.per_seed[metric][s, i, j, k]
                        for t, theirs in ((1, ref), (0, clean)):
                            if theirs is None:
                                continue
                            a, b = ours[:, t], theirs[metric]
                            se = np.sqrt(a.var() / a.size + b.var() / b.size)
                            rows.append((abs(a.mean() - b.mean()) / max(se, 1e-12), (s, verifier, p, n, metric, t)))
    worst = max(rows)
    assert worst[0] < z_limit(len(rows)), worst


P_LIMITS = [0.3, 0.45, 0.5, 0.55, 0.6, 0.65, 0.7, 0.8, 0.9]
THETAS = [0.0, 0.7854, 1.37]


@pytest.fixture(scope="module")
def limits():
    """One compiled program for both limit tests: verifier x dim x psi x theta x p x n (phi = 1,
    m = 1), 500 seeds; the rate verifier ignores theta and the linear one phi, psi."""
    grids = {"verifier": ["rate", "linear"], "dim": [20, 200], "psi": [1.0, 0.5], "theta": THETAS, "p": P_LIMITS,
             "n": [1000, 100000, 10**7]}
    result = jc.run("verification", {"m": 1.0, "phi": 1.0}, grids, seeds=500, generations=1, key=12, keep=())
    assert len(result.config["chunk"]) == 1  # verifier, dim, psi, theta, p and n all traced
    return result


def test_the_sharp_transition_at_p_star_and_more_data_hurting_above_it(limits):
    """Rate verifier, m = 1, d = 200, phi = 1: at n = 10^7 the accuracy is Phi(m) below
    p* = 1/(1 + psi) and 1 - Phi(m) above it (the limit; the O(d/(n (1 - 2p')^2)) distance is
    < 7e-4 at |p - p*| > 0.03), 1/2 at p = p* = 1/2 without a verifier (C - W symmetric), rising with n below
    p* and falling above. Below p* and above 1 - Phi(m) the model beats its own generator (1 - p)."""
    accuracy = limits.mean("accuracy", verifier="rate", dim=200, theta=0.0)[..., 1]
    se = limits.stderr("accuracy", verifier="rate", dim=200, theta=0.0)[..., 1]
    best, worst = norm.cdf(1.0), norm.cdf(-1.0)
    for i, psi in enumerate([1.0, 0.5]):
        p_star = 1 / (1 + psi)
        for j, p in enumerate(P_LIMITS):
            if p == p_star:
                assert abs(accuracy[i, j, -1] - 0.5) < 4 * se[i, j, -1], (psi, p)
                continue
            limit = best if p < p_star else worst
            if abs(p - p_star) > 0.03:  # nearer, 1 - 2p' -> 0 and n = 10^7 is not yet the limit
                assert abs(accuracy[i, j, -1] - limit) < 1e-3 + 4 * se[i, j, -1], (psi, p, accuracy[i, j, -1])
            steps = np.diff(accuracy[i, j])
            assert np.all(steps > 0) if p < p_star else np.all(steps < 0), (psi, p, accuracy[i, j])
            if worst < 1 - p and p < p_star:
                assert accuracy[i, j, -1] > 1 - p + 0.05  # surpassing the generator
    # generation 0 (true labels) reaches Phi(m) whatever the generator does
    assert np.all(np.abs(limits.mean("accuracy", dim=200, n=10**7)[..., 0] - best) < 1e-4)


def test_the_linear_verifier_reaches_its_limit_and_the_notes_formula(limits):
    """V2 (m = 1, d = 20): the n = 10^7 Monte Carlo mean against A_inf (4 SE + 2e-4 for the
    O(d/n) finite-n shift), and A_inf, p_lin against the note's independently computed values."""
    note = {0.7854: [0.8293, 0.8067, 0.7974, 0.7843, 0.7368], 1.37: [0.7523, 0.5585, 0.5073, 0.4557, 0.3634]}
    ps = [0.3, 0.6, 0.65, 0.7, 0.8]
    for theta, values in note.items():
        config = {"verifier": "linear", "m": 1.0, "dim": 20, "theta": theta, "phi": 1.0, "psi": 1.0}
        formula = [accuracy_equivalent(config, n=np.inf, p=p) for p in ps]
        np.testing.assert_allclose(formula, values, atol=1e-4)  # the note's 4 decimals (theta rounded)
    assert linear_breakdown(np.pi / 4, 1.0) == pytest.approx(0.980, abs=6e-4)
    assert linear_breakdown(1.37, 1.0) == pytest.approx(0.657, abs=6e-4)
    crossing = {"verifier": "linear", "m": 1.0, "dim": 20, "theta": 1.37}
    assert accuracy_equivalent(crossing, n=np.inf, p=linear_breakdown(1.37, 1.0)) == pytest.approx(0.5, abs=1e-12)
    where = {"verifier": "linear", "dim": 20, "psi": 1.0}
    mean, se = limits.mean("accuracy", **where), limits.stderr("accuracy", **where)
    limit = limits.select(limits.theory["accuracy_limit"], where)
    assert np.all(np.abs(mean - limit)[..., -1, 1] < 4 * se[..., -1, 1] + 2e-4), np.round(mean - limit, 5)[..., -1, 1]
    assert np.all(np.abs(mean[0, :, -1, 1] - norm.cdf(1.0)) < 2e-4)  # aligned verifier: Bayes-optimal for every p
    # a smooth crossing of 1/2 at p_lin (theta = 1.37: p_lin = 0.657), not at the class-rate proxy Phi(a) = 0.579
    assert np.all(mean[2, :6, -1, 1] > 0.5) and np.all(mean[2, 6:, -1, 1] < 0.5)
    # the exact count metrics, both verifiers
    for metric in ("kept_fraction", "label_noise", "proxy_margin"):
        mean, se, theory = limits.mean(metric)[..., 1], limits.stderr(metric)[..., 1], limits.theory[metric][..., 1]
        z = np.abs(mean - theory) / np.where(se > 0, se, 1.0)
        assert np.all(z < z_limit(z.size)), metric


def test_the_notes_reference_table():
    """m = 1, d = 200, phi = 0.9, psi = 0.5: each Monte Carlo mean against the note's
    own exact-in-law Monte Carlo (8,000 seeds here, 20,000 replicates there, written to 4 decimals: SEs combined, plus the
    rounding), and the deterministic equivalent against the note's A(g) column; all in one
    compile (n and p traced)."""
    ps, ns = [0.3, 0.55, 0.6, 0.7, 0.75], [400, 4000, 40000, 400000]
    note_de = [[0.7289, 0.8225, 0.8393, 0.8411], [0.5861, 0.7178, 0.8192, 0.8389], [0.5414, 0.6231, 0.7649, 0.8307],
               [0.4435, 0.3396, 0.2059, 0.1644], [0.3958, 0.2563, 0.1738, 0.1603]]
    note_mc = [[0.7282, 0.8225, 0.8393, 0.8411], [0.5852, 0.7167, 0.8192, 0.8389], [0.5409, 0.6218, 0.7645, 0.8308],
               [0.4439, 0.3410, 0.2060, 0.1644], [0.3969, 0.2569, 0.1737, 0.1603]]
    result = jc.run("verification", {"m": 1.0, "dim": 200, "phi": 0.9, "psi": 0.5}, {"p": ps, "n": ns},
                    seeds=8000, generations=1, key=14, keep=())
    assert len(result.config["chunk"]) == 1  # one compiled program for the whole grid
    mean, se, theory = (a[..., 1] for a in (result.mean("accuracy"), result.stderr("accuracy"),
                                            result.theory["accuracy"]))
    combined = se * np.sqrt(1 + 8000 / 20000)  # the note's 20,000 replicates: same law
    z = (np.abs(mean - np.asarray(note_mc)) - 5e-5) / combined
    assert np.all(z < z_limit(z.size)), np.round(z, 2)
    np.testing.assert_allclose(theory, note_de, atol=1e-4)
    assert np.all(result.theory["accuracy_limit"][..., 1][:3] == pytest.approx(norm.cdf(1.0)))
    assert np.all(result.theory["accuracy_limit"][..., 1][3:] == pytest.approx(norm.cdf(-1.0)))


@pytest.mark.parametrize("settings, word", [
    ({"p": 1.5}, "p=1.5"),
    ({"p": -0.1}, "p=-0.1"),
    ({"theta": 4.0}, "theta=4"),
    ({"phi": 1.2}, "phi=1.2"),
    ({"m": 5.0}, "m=5"),
    ({"n": 0}, "n=0"),
    ({"phi": 0.0, "psi": 0.0}, "keeps nothing"),
    ({"verifier": "linear", "dim": 1}, "dim=1"),
    ({"verifier": "best"}, "verifier=best"),
    ({"sampler": "explicit", "n": 100000, "dim": 200}, "sampler=explicit"),
    ({"sampler": "rows", "n": 10**7}, "sampler=rows"),
])
def test_bad_input_is_refused_in_one_line_before_compiling(settings, word):
    with pytest.raises(ConfigError) as info:
        plan(VerificationStudy, settings, seeds=1, generations=1)
    message = str(info.value)
    assert word in message and "\n" not in message


def test_an_adversarial_verifier_is_allowed():
    """phi < psi is a verifier that prefers wrong labels: accepted (p* < 1/2)."""
    point = plan(VerificationStudy, {"phi": 0.2, "psi": 0.8}, seeds=1, generations=1).points[0]
    assert VerificationStudy.truth(point)["p_star"] == pytest.approx(0.2)
