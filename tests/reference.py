"""Independent numpy reference implementations and Monte Carlo helpers for the tests."""

from __future__ import annotations

import numpy as np


def z_score(mean, stderr, expected):
    return (np.asarray(mean) - np.asarray(expected)) / np.asarray(stderr)


def kazdan_loop(regime: str, dim: int, n: int, generations: int, seeds: int, rng) -> dict:
    """Kazdan et al.'s fit_gaussians loop written directly in numpy, vectorised over seeds.

    Returns per-seed ||mu_t||^2 and tr(Sigma_t)/dim for t = 0..generations (ddof=0).
    """
    pool = rng.normal(size=(seeds, n, dim))
    errors, traces = [], []
    for _ in range(generations + 1):
        if regime == "accumulate-subsample":
            order = np.argsort(rng.random(pool.shape[:2]), axis=1)[:, :n]
            data = np.take_along_axis(pool, order[:, :, None], axis=1)
        else:
            data = pool
        mean = data.mean(axis=1)
        centered = data - mean[:, None, :]
        cov = np.einsum("sni,snj->sij", centered, centered) / data.shape[1]
        errors.append(np.sum(mean**2, axis=1))
        traces.append(np.trace(cov, axis1=1, axis2=2) / dim)
        root = np.linalg.cholesky(cov + 1e-300 * np.eye(dim))
        fresh = mean[:, None, :] + np.einsum("sij,snj->sni", root, rng.normal(size=(seeds, n, dim)))
        pool = fresh if regime == "replace" else np.concatenate([pool, fresh], axis=1)
    return {"mean_sq_error": np.stack(errors, 1), "var": np.stack(traces, 1)}


def regression_chain(rng, w0, eigenvalues, T, T0, sigma, sigma0, ridge, generations, seeds) -> dict:
    """The Dohmatob et al. chain drawn row by row in numpy (explicit covariates, lstsq /
    ridge by normal equations), one seed at a time: per-seed test and generator errors."""
    d = len(w0)
    scale = np.sqrt(eigenvalues)
    test = np.empty((seeds, generations + 1))
    gen = np.empty((seeds, generations + 1))
    for s in range(seeds):
        w = w0.copy()
        for t in range(generations + 1):
            if t > 0:
                xg = rng.standard_normal((T0, d)) * scale
                w = np.linalg.lstsq(xg, xg @ w + sigma0 * rng.standard_normal(T0), rcond=None)[0]
            x = rng.standard_normal((T, d)) * scale
            y = x @ w + sigma * rng.standard_normal(T)
            pred = np.linalg.solve(x.T @ x / T + ridge * np.eye(d), x.T @ y / T)
            test[s, t] = np.sum(eigenvalues * (pred - w0) ** 2)
            gen[s, t] = np.sum(eigenvalues * (w - w0) ** 2)
    return {"test_error": test, "generator_error": gen}


def contaminated_threshold(rng, n, alpha, theta_star, rounds, seeds) -> np.ndarray:
    """Repeated ERM and loss-corrected ERM for thresholds, one seed at a time, by brute force:
    every accumulated point is kept and re-sorted each round, and the risk of every gap is
    counted from the per-point 0/1 losses (no window, no incremental buffer). Returns errors [learner, seed, round]."""
    errors = np.zeros((2, seeds, rounds))
    for seed in range(seeds):
        xs, labels, prev = [], [[], []], [[], []]
        theta = [None, None]
        for r in range(rounds):
            x = rng.random(n)
            truth = x >= theta_star
            synthetic = rng.random(n) < alpha
            xs.append(x)
            for learner in range(2):
                if r == 0:
                    labels[learner].append(truth)
                    prev[learner].append(None)
                else:
                    before = x >= theta[learner]
                    labels[learner].append(np.where(synthetic, before, truth))
                    prev[learner].append(before)
            points = np.concatenate(xs)
            order = np.argsort(points)
            points = points[order]
            gaps_left = np.concatenate([[0.0], points])
            gaps_right = np.concatenate([points, [1.0]])
            for learner in range(2):
                c = 0.0 if learner == 0 else alpha
                y = np.concatenate(labels[learner])[order]
                f = np.concatenate([np.full(n, -1.0) if p is None else p for p in prev[learner]])[order]
                # risk of theta in gap k: points left of it predicted 0, right of it predicted 1
                loss0 = (y == 1) - c * np.where(f < 0, 0, f == 1)   # cost of predicting 0
                loss1 = (y == 0) - c * np.where(f < 0, 0, f == 0)   # cost of predicting 1
                left = np.concatenate([[0.0], np.cumsum(loss0)])  # sum of loss0 over the k leftmost points
                right = loss1.sum() - np.concatenate([[0.0], np.cumsum(loss1)])
                risk = left + right
                best = np.flatnonzero(np.isclose(risk, risk.min(), rtol=0, atol=1e-9))
                mids = (gaps_left + gaps_right) / 2
                theta[learner] = (mids[best[0]] + mids[best[-1]]) / 2
                errors[learner, seed, r] = abs(theta[learner] - theta_star)
    return errors


def contaminated_halfspace(rng, dim, n, alpha, ridge, rounds, seeds) -> np.ndarray:
    """Repeated weighted logistic regression for halfspaces (w* = e_1), each round's fit run by
    Newton's method to convergence from zero. Returns errors [learner, seed, round]."""
    errors = np.zeros((2, seeds, rounds))
    for seed in range(seeds):
        xs, signs, weights = [], [[], []], [[], []]
        w = [None, None]
        for r in range(rounds):
            x = rng.standard_normal((n, dim))
            truth = x[:, 0] >= 0
            synthetic = rng.random(n) < alpha
            xs.append(x)
            for learner in range(2):
                c = 0.0 if learner == 0 else alpha
                if r == 0:
                    y, agree = truth, np.zeros(n)
                else:
                    before = x @ w[learner] >= 0
                    y = np.where(synthetic, before, truth)
                    agree = np.where(y == before, 1.0, -1.0)
                signs[learner].append(2.0 * y - 1)
                weights[learner].append(1 - c * agree)
            X = np.concatenate(xs)
            for learner in range(2):
                s, omega = np.concatenate(signs[learner]), np.concatenate(weights[learner])
                v = np.zeros(dim)
                for _ in range(100):
                    p = 1 / (1 + np.exp(s * (X @ v)))
                    grad = -X.T @ (omega * s * p) + ridge * v
                    hess = (X * (omega * p * (1 - p))[:, None]).T @ X + ridge * np.eye(dim)
                    step = np.linalg.solve(hess, grad)
                    v = v - step
                    if np.max(np.abs(step)) < 1e-10:
                        break
                w[learner] = v
                errors[learner, seed, r] = np.arccos(np.clip(v[0] / np.linalg.norm(v), -1, 1)) / np.pi
    return errors


def gmm_em(x, start_weights, start_means, start_covs, iterations, floor):
    """Textbook EM for a full-covariance Gaussian mixture in numpy/scipy (float64, unweighted)."""
    from scipy.stats import multivariate_normal

    weights, means, covs = (np.array(a, dtype=np.float64) for a in (start_weights, start_means, start_covs))
    for _ in range(iterations):
        dens = np.stack([w * multivariate_normal(m, c).pdf(x) for w, m, c in zip(weights, means, covs)], axis=1)
        resp = dens / dens.sum(axis=1, keepdims=True)
        counts = resp.sum(axis=0)
        weights = counts / len(x)
        means = (resp.T @ x) / counts[:, None]
        covs = np.stack([(resp[:, k, None] * (x - means[k])).T @ (x - means[k]) / counts[k] + floor * np.eye(x.shape[1])
                         for k in range(len(weights))])
    return weights, means, covs


def total_cca(x, y, ridge):
    """Sum of canonical correlations by symmetric inverse square roots (scipy), float64."""
    from scipy.linalg import sqrtm

    x, y = x - x.mean(0), y - y.mean(0)
    n = len(x)
    sxx = x.T @ x / (n - 1) + ridge * np.eye(x.shape[1])
    syy = y.T @ y / (n - 1) + ridge * np.eye(y.shape[1])
    t = np.linalg.inv(np.real(sqrtm(sxx))) @ (x.T @ y / (n - 1)) @ np.linalg.inv(np.real(sqrtm(syy)))
    return np.linalg.svd(t, compute_uv=False).sum()


def ridge_cv_r2(z, targets, ridge, folds):
    """k-fold ridge R^2 averaged over tasks and folds, contiguous folds, centred on the training part."""
    n = len(z)
    fold = np.arange(n) * folds // n
    scores = []
    for k in range(folds):
        tr, te = fold != k, fold == k
        zm, tm = z[tr].mean(0), targets[tr].mean(0)
        w = np.linalg.solve((z[tr] - zm).T @ (z[tr] - zm) + ridge * np.eye(z.shape[1]), (z[tr] - zm).T @ (targets[tr] - tm))
        pred = (z[te] - zm) @ w + tm
        scores.append(np.mean(1 - ((pred - targets[te]) ** 2).sum(0) / ((targets[te] - targets[te].mean(0)) ** 2).sum(0)))
    return np.mean(scores)
