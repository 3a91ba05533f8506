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
