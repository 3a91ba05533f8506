"""Benchmark: two anchor papers' own simulation loops, rewritten in numpy, against jaxcollapse in the
same process (issue 24). Not a test.

    python benchmarks/bench_anchors.py [--quick] [--json PATH] [--he-loop-reps R] [--he-vec-reps V]
        [--he-explicit-seeds E] [--yi-loop-cells C] [--yi-vec-cells V] [--yi-grid 300x150]

he  He, Xu & Cheng, S2 (golden ratio): 30 real weights w in 0.20..0.78 x 2,000 replicates x
    T = 200 generations; each generation n = 100 fresh real points of N(0, I_2) and m = 100
    synthetic points of N(mu_hat, Sigma_hat), mu_hat = (1-w) mean(S) + w mean(D),
    Sigma_hat = (1-w) cov(S) + w cov(D) (ddof 1); error averaged over t = 150..199.
    * loop: the authors' ``S2_w`` (its Gaussian part: the 200 fresh ``multivariate_normal``
      batches) and ``Fresh_Data.Gaussian_esti`` line for line (legacy ``np.random``, reseeded per
      replicate and per generation as they do), over (w, rep) pairs on a ``multiprocessing.Pool``
      of all cores, as their script does. Timed on ``--he-loop-reps`` replicates per w and
      extrapolated linearly to 2,000.
    * vectorised: all (w, rep) replicates in one array per generation (layout (p, R, n),
      batched Cholesky), float64. Timed on ``--he-vec-reps`` replicates per w, extrapolated.
    * vectorised, sufficient statistics: mean ~ N(mu, Sigma/m), (m-1) cov ~ Wishart by
      Bartlett, for reference (what jaxcollapse's default ``exact`` sampler draws). Full size.
    * jaxcollapse: the ``he-golden-ratio`` preset (exact sampler, full size) and the same with
      ``sampler=explicit`` (every sample drawn) on ``--he-explicit-seeds`` seeds, extrapolated.
yi  Yi, Liu, Cheng & Xu, regression form: a in linspace(0, 0.25, 300) x gamma in
    linspace(0.01, 0.5, 150), 100 replicates per cell, d = 5, n1 = n2 = 100: OLS on real data
    (unfiltered_x), then one verifier-filtered synthetic round from it (filter_y).
    * loop: the authors' ``compute_loss_entry`` / ``simulate_multivariate_filtering`` (pinv
      normal equations, a Python loop over the 100 replicates of a cell) reduced to the two
      estimators jaxcollapse computes, one task per cell on a ``multiprocessing.Pool`` of all
      cores (their script uses joblib ``Parallel(n_jobs=-1)``; joblib is not installed here).
      Timed on ``--yi-loop-cells`` random cells, extrapolated to 45,000. Their full function (all
      four estimators) is timed on the same cells for reference.
    * vectorised: replicates and cells batched (150 cells x 100 replicates per array op,
      batched ``solve`` of the 5 x 5 normal equations). Timed on ``--yi-vec-cells`` random cells,
      extrapolated.
    * jaxcollapse: ``verified-retraining``, form regression, select verify, generations = 1, on
      the ``--yi-grid`` grid (default the full 300 x 150; a smaller grid is extrapolated).

All numpy baselines run in this process (the pools fork before JAX starts). jaxcollapse's
compile_s and run_s come from ``Result.timing`` (cold compiles: ``cache=False``). Ratios are
baseline / run_s, baseline / (compile_s + run_s) and baseline / total_s (jc.run end to end, host work included).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import platform
import subprocess
import time

import numpy as np

import jaxcollapse as jc
import jaxcollapse.studies  # noqa: F401  (load every study now, when the git state is recorded)
from jaxcollapse.results import environment

HE_WS = [round(0.2 + 0.02 * i, 2) for i in range(30)]
HE_N, HE_P, HE_REPS, HE_T = 100, 2, 2000, 200
YI_A = np.linspace(0, 0.25, 300)
YI_G = np.linspace(0.01, 0.5, 150)
YI_D, YI_N1, YI_N2, YI_SIMS, YI_SIGMA = 5, 100, 100, 100, 1.0
YI_BETA_STAR = np.random.RandomState(0).randn(YI_D)  # the authors' np.random.seed(0); randn(5)


def loadavg():
    try:
        return os.getloadavg()[0]
    except OSError:
        return None


def git_state():
    """HEAD and the files under jaxcollapse/ with uncommitted changes (what this run measured)."""
    def git(*argv):
        try:
            return subprocess.run(["git", *argv], capture_output=True, text=True,
                                  cwd=os.path.dirname(os.path.abspath(__file__))).stdout.rstrip()
        except OSError:
            return ""
    top = git("rev-parse", "--show-toplevel").strip()
    modified = git("status", "--porcelain", "--", os.path.join(top, "jaxcollapse")) if top else ""
    return {"commit": git("rev-parse", "HEAD").strip() or None,
            "jaxcollapse_modified": [line[3:] for line in modified.splitlines()]}


# ---- He, Xu & Cheng ----------------------------------------------------------------------------

def he_task(w, rep, T=HE_T, start=150, n=HE_N, p=HE_P, k=1):
    """The authors' S2_w (Gaussian part) + Fresh_Data.Gaussian_esti, line for line."""
    np.random.seed(rep)
    M, S = np.zeros(p), np.eye(p)
    X_set = [np.random.multivariate_normal(M, S, n) for _ in range(T)]
    loss_mean = [0 for _ in range(T)]
    loss_var = [0 for _ in range(T)]
    mean_t = np.mean(X_set[0], axis=0)
    var_t = np.cov(X_set[0], rowvar=False).reshape(p, p)
    loss_mean[0] = np.sum((mean_t - M) ** 2)
    loss_var[0] = np.sum((var_t - S) ** 2)
    np.random.seed(rep)
    syn_size = max(1, int(n / k))
    for t in range(1, T):
        np.random.seed(T * rep + t)
        synthe = np.random.multivariate_normal(mean_t, var_t, syn_size)
        mean_real = np.mean(X_set[t], axis=0)
        var_real = np.cov(X_set[t], rowvar=False).reshape(p, p)
        mean_t = (1 - w) * np.mean(synthe, axis=0) + w * mean_real
        var_t = (1 - w) * np.cov(synthe, rowvar=False).reshape(p, p) + w * var_real
        if t >= start:
            loss_mean[t] = np.linalg.norm(mean_t - M) ** 2
            loss_var[t] = np.linalg.norm(var_t - S) ** 2
    return np.mean(loss_mean[start:]), np.mean(loss_var[start:]), w, rep


def he_vectorized(ws, reps, T, start, rng, n=HE_N, p=HE_P):
    """Every (w, rep) replicate at once: arrays (p, R, n), one op per generation; float64."""
    w = np.repeat(np.asarray(ws, np.float64), reps)
    R = w.size
    z = np.empty((p, R, n))

    def moments(x):  # (p, R, n) -> mean (p, R), cov (R, p, p) with ddof 1
        mean = x.mean(-1)
        c = x - mean[..., None]
        return mean, np.einsum("irn,jrn->rij", c, c) / (n - 1)

    mean_t, cov_t = moments(rng.standard_normal(out=z))
    err_mean, err_var = np.zeros(R), np.zeros(R)
    for t in range(1, T):
        chol = np.linalg.cholesky(cov_t)
        rng.standard_normal(out=z)
        ms, cs = moments(np.einsum("rij,jrn->irn", chol, z) + mean_t[..., None])
        mr, cr = moments(rng.standard_normal(out=z))
        mean_t = (1 - w) * ms + w * mr
        cov_t = (1 - w)[:, None, None] * cs + w[:, None, None] * cr
        if t >= start:
            err_mean += np.sum(mean_t**2, 0)
            err_var += np.sum((cov_t - np.eye(p)) ** 2, (1, 2))
    return (err_mean / (T - start)).reshape(len(ws), reps), (err_var / (T - start)).reshape(len(ws), reps)


def he_sufficient(ws, reps, T, start, rng, n=HE_N, p=HE_P):
    """The same process on sufficient statistics: mean(S) ~ N(mu, Sigma/m) and
    (m-1) cov(S) ~ Wishart(Sigma, m-1) by Bartlett (p = 2); the real batch likewise from N(0, I)."""
    assert p == 2
    w = np.repeat(np.asarray(ws, np.float64), reps)
    R = w.size
    df = n - 1

    def standard():  # mean and ddof-1 covariance of n rows of N(0, I_2)
        mean = rng.standard_normal((R, p)) / np.sqrt(n)
        a = np.zeros((R, p, p))
        a[:, 0, 0] = np.sqrt(rng.chisquare(df, R))
        a[:, 1, 1] = np.sqrt(rng.chisquare(df - 1, R))
        a[:, 1, 0] = rng.standard_normal(R)
        return mean, np.matmul(a, a.transpose(0, 2, 1)) / df

    mean_t, cov_t = standard()
    err_mean, err_var = np.zeros(R), np.zeros(R)
    for t in range(1, T):
        chol = np.linalg.cholesky(cov_t)
        zm, zc = standard()
        ms = mean_t + np.einsum("rij,rj->ri", chol, zm)
        cs = np.matmul(np.matmul(chol, zc), chol.transpose(0, 2, 1))
        mr, cr = standard()
        mean_t = (1 - w)[:, None] * ms + w[:, None] * mr
        cov_t = (1 - w)[:, None, None] * cs + w[:, None, None] * cr
        if t >= start:
            err_mean += np.sum(mean_t**2, 1)
            err_var += np.sum((cov_t - np.eye(p)) ** 2, (1, 2))
    return (err_mean / (T - start)).reshape(len(ws), reps), (err_var / (T - start)).reshape(len(ws), reps)


def he_theory(ws, n=HE_N, m=HE_N, trace=HE_P):
    """Stationary E||mu_t - mu||^2 (the note's a_inf); the transient is (1-w)^(2t), negligible at t >= 150."""
    w = np.asarray(ws, np.float64)
    return trace * ((1 - w) ** 2 / m + w**2 / n) / (1 - (1 - w) ** 2)


# ---- Yi, Liu, Cheng & Xu -----------------------------------------------------------------------

def yi_simulate(a, gamma, n1=YI_N1, n2=YI_N2, d=YI_D, sigma=YI_SIGMA):
    """The authors' simulate_multivariate_filtering, reduced to unfiltered_x and filter_y."""
    beta_star = YI_BETA_STAR
    beta_prime = beta_star + np.full(d, a)
    X0 = np.random.randn(n1, d)
    eps0 = np.random.randn(n1) * sigma
    y0 = X0 @ beta_star + eps0
    beta0 = np.linalg.pinv(X0.T @ X0) @ X0.T @ y0
    X1 = np.random.randn(n2, d)
    threshold_synth = gamma * np.linalg.norm(X1, axis=1) + np.sqrt(2 / np.pi) * sigma
    y1_from_beta0 = X1 @ beta0 + np.random.randn(n2) * sigma
    keep = np.abs(y1_from_beta0 - X1 @ beta_prime) <= threshold_synth
    X1_filt, y1_filt = X1[keep], y1_from_beta0[keep]
    if len(X1_filt) > 0:
        beta_filter_y = np.linalg.pinv(X1_filt.T @ X1_filt) @ X1_filt.T @ y1_filt
    else:
        beta_filter_y = beta0.copy()
    return {"unfiltered_x": np.linalg.norm(beta0 - beta_star) ** 2,
            "filter_y": np.linalg.norm(beta_filter_y - beta_star) ** 2}


def yi_simulate_full(a, gamma, n1=YI_N1, n2=YI_N2, d=YI_D, sigma=YI_SIGMA):
    """The authors' simulate_multivariate_filtering as published: all four estimators."""
    beta_star = YI_BETA_STAR
    beta_prime = beta_star + np.full(d, a)
    X0 = np.random.randn(n1, d)
    eps0 = np.random.randn(n1) * sigma
    y0 = X0 @ beta_star + eps0
    beta0 = np.linalg.pinv(X0.T @ X0) @ X0.T @ y0
    residuals_real = np.abs(y0 - X0 @ beta_prime)
    threshold_real = gamma * np.linalg.norm(X0, axis=1) + np.sqrt(2 / np.pi) * sigma
    keep_real = residuals_real <= threshold_real
    X0_filt, y0_filt = X0[keep_real], y0[keep_real]
    if len(X0_filt) > 0:
        beta1 = np.linalg.pinv(X0_filt.T @ X0_filt) @ X0_filt.T @ y0_filt
    else:
        beta1 = beta0.copy()
    X1 = np.random.randn(n2, d)
    y1_from_beta1 = X1 @ beta1 + np.random.randn(n2) * sigma
    threshold_synth = gamma * np.linalg.norm(X1, axis=1) + np.sqrt(2 / np.pi) * sigma
    keep1 = np.abs(y1_from_beta1 - X1 @ beta_prime) <= threshold_synth
    X1_f1, y1_f1 = X1[keep1], y1_from_beta1[keep1]
    beta2 = np.linalg.pinv(X1_f1.T @ X1_f1) @ X1_f1.T @ y1_f1 if len(X1_f1) > 0 else beta1.copy()
    y1_from_beta0 = X1 @ beta0 + np.random.randn(n2) * sigma
    keep2 = np.abs(y1_from_beta0 - X1 @ beta_prime) <= threshold_synth
    X1_f2, y1_f2 = X1[keep2], y1_from_beta0[keep2]
    beta3 = np.linalg.pinv(X1_f2.T @ X1_f2) @ X1_f2.T @ y1_f2 if len(X1_f2) > 0 else beta0.copy()
    return {"unfiltered_x": np.linalg.norm(beta0 - beta_star) ** 2,
            "filtered_x": np.linalg.norm(beta1 - beta_star) ** 2,
            "filtered_xy": np.linalg.norm(beta2 - beta_star) ** 2,
            "filter_y": np.linalg.norm(beta3 - beta_star) ** 2}


def yi_cell(i, j, a, gamma, sims, full=False):
    """The authors' compute_loss_entry: a Python loop over the cell's replicates, summed losses."""
    np.random.seed(i * len(YI_G) + j)
    simulate = yi_simulate_full if full else yi_simulate
    losses = None
    for _ in range(sims):
        out = simulate(a=a, gamma=gamma)
        losses = out if losses is None else {key: losses[key] + out[key] for key in losses}
    return i, j, losses["unfiltered_x"] / sims, losses["filter_y"] / sims


def yi_vectorized(a_cells, g_cells, sims, rng, chunk=150, n1=YI_N1, n2=YI_N2, d=YI_D, sigma=YI_SIGMA):
    """Replicates and ``chunk`` cells per array op; batched solve of the normal equations
    (filter_y falls back to the real-data fit when fewer than d labels are kept). Returns the
    per-cell mean losses (unfiltered_x, filter_y)."""
    beta_star = YI_BETA_STAR
    out0, out1 = np.empty(len(a_cells)), np.empty(len(a_cells))
    for lo in range(0, len(a_cells), chunk):
        a = np.repeat(a_cells[lo:lo + chunk], sims)
        g = np.repeat(g_cells[lo:lo + chunk], sims)
        R = a.size
        X0 = rng.standard_normal((R, n1, d))
        y0 = X0 @ beta_star + sigma * rng.standard_normal((R, n1))
        X0t = X0.transpose(0, 2, 1)
        beta0 = np.linalg.solve(X0t @ X0, (X0t @ y0[..., None]))[..., 0]
        X1 = rng.standard_normal((R, n2, d))
        y1 = (X1 @ beta0[..., None])[..., 0] + sigma * rng.standard_normal((R, n2))
        threshold = g[:, None] * np.linalg.norm(X1, axis=2) + np.sqrt(2 / np.pi) * sigma
        center = X1 @ beta_star + a[:, None] * X1.sum(2)  # x . (beta* + a 1)
        keep = (np.abs(y1 - center) <= threshold).astype(np.float64)
        Xk = (X1 * keep[..., None]).transpose(0, 2, 1)
        gram = Xk @ X1
        ok = keep.sum(1) >= d
        gram[~ok] = np.eye(d)
        beta1 = np.linalg.solve(gram, (Xk @ y1[..., None]))[..., 0]
        beta1 = np.where(ok[:, None], beta1, beta0)
        out0[lo:lo + chunk] = np.sum((beta0 - beta_star) ** 2, 1).reshape(-1, sims).mean(1)
        out1[lo:lo + chunk] = np.sum((beta1 - beta_star) ** 2, 1).reshape(-1, sims).mean(1)
    return out0, out1


# ---- driver ------------------------------------------------------------------------------------

def ratios(baseline_s, jax_timing):
    return {"vs_run": baseline_s / jax_timing["run_s"],
            "vs_compile_plus_run": baseline_s / (jax_timing["compile_s"] + jax_timing["run_s"]),
            "vs_total": baseline_s / jax_timing["total_s"]}


def extrapolate(timing, scale):
    """Scale run_s (and the run part of total_s) by ``scale``; compile and host overheads stay."""
    if scale != 1:
        timing["run_s_measured"], timing["total_s_measured"] = timing["run_s"], timing["total_s"]
        timing["run_s"] = timing["run_s"] * scale
        timing["total_s"] = timing["total_s_measured"] + timing["run_s"] - timing["run_s_measured"]


def timed(fn, *args):
    load0 = loadavg()
    begin = time.perf_counter()
    value = fn(*args)
    return value, time.perf_counter() - begin, [load0, loadavg()]


def he_part(args, pool, rng, out):
    T = args.he_generations
    start = T - T // 4  # 150 of 200, as the authors' Start
    ws = HE_WS if not args.quick else HE_WS[::6]
    reps = args.he_reps
    part = out["he"] = {"ws": ws, "replicates": reps, "generations": T, "start": start, "n": HE_N, "m": HE_N, "p": HE_P}
    print(f"He, Xu & Cheng S2: {len(ws)} w x {reps} replicates x {T} generations, n = m = {HE_N}, p = {HE_P}")

    tasks = [(w, rep, T, start) for w in ws for rep in range(args.he_loop_reps)]
    results, seconds, load = timed(pool.starmap, he_task, tasks)
    scale = reps / args.he_loop_reps
    part["numpy_loop_pool"] = {"measured_s": seconds, "replicates_measured": args.he_loop_reps, "scale": scale,
                               "s": seconds * scale, "processes": os.cpu_count(), "loadavg_1m": load}
    loop_mean = np.array([r[0] for r in results]).reshape(len(ws), -1)
    print(f"  numpy per-replicate loop, Pool({os.cpu_count()}): {seconds * scale:.1f} s "
          f"({args.he_loop_reps} reps per w in {seconds:.1f} s, x{scale:g})")

    (vec_mean, _), seconds, load = timed(he_vectorized, ws, args.he_vec_reps, T, start, rng)
    scale = reps / args.he_vec_reps
    part["numpy_vectorized"] = {"measured_s": seconds, "replicates_measured": args.he_vec_reps, "scale": scale,
                                "s": seconds * scale, "loadavg_1m": load}
    print(f"  numpy vectorised (samples): {seconds * scale:.1f} s ({args.he_vec_reps} reps per w in {seconds:.1f} s, x{scale:g})")

    (suf_mean, _), seconds, load = timed(he_sufficient, ws, reps, T, start, rng)
    part["numpy_sufficient"] = {"s": seconds, "loadavg_1m": load}
    print(f"  numpy vectorised (sufficient statistics): {seconds:.1f} s")

    settings = {"dim": HE_P, "ddof": 1, "regime": "mix", "alpha": 0.5, "n": f"where(t < 1, {HE_N}, {2 * HE_N})"}
    jax_means = {}
    for sampler, seeds in (("exact", reps), ("explicit", args.he_explicit_seeds)):
        if seeds <= 0:
            continue
        load0, begin = loadavg(), time.perf_counter()
        result = jc.run("gaussian", settings={**settings, "sampler": sampler}, grids={"real_share": ws},
                        seeds=seeds, generations=T - 1, keep=(), cache=False)
        wall = time.perf_counter() - begin
        timing = dict(result.timing)
        scale = reps / seeds
        timing.update(seeds_measured=seeds, scale=scale, wall_s=wall, loadavg_1m=[load0, loadavg()])
        extrapolate(timing, scale)
        part[f"jax_{sampler}"] = timing
        jax_means[sampler] = np.asarray(result.metrics["mean_sq_error"]["mean"])[:, start:T].mean(1)
        print(f"  jaxcollapse {sampler}: compile {timing['compile_s']:.1f} s, run {timing['run_s']:.1f} s"
              + (f" ({seeds} seeds in {timing['run_s_measured']:.1f} s, x{scale:g})" if scale != 1 else "")
              + f", total_s {timing['total_s']:.1f} s")

    part["ratios"] = {f"{base}/jax_{s}": ratios(part[base]["s"], part[f"jax_{s}"])
                      for base in ("numpy_loop_pool", "numpy_vectorized", "numpy_sufficient")
                      for s in ("exact", "explicit") if f"jax_{s}" in part}
    for key, r in part["ratios"].items():
        print(f"    ratio {key}: {r['vs_run']:.2f}x run, {r['vs_compile_plus_run']:.2f}x compile + run, "
              f"{r['vs_total']:.2f}x total_s")
    theory = he_theory(ws)
    check = {"theory": theory.mean(), "numpy_loop_pool": loop_mean.mean(), "numpy_vectorized": vec_mean.mean(),
             "numpy_sufficient": suf_mean.mean(), **{f"jax_{s}": m.mean() for s, m in jax_means.items()}}
    part["check_final_e_mean_avg_over_w"] = check
    print("  check, Final_E_Mean averaged over the w grid: " + ", ".join(f"{k} {v:.5f}" for k, v in check.items()))


def yi_part(args, pool, rng, out):
    na, ng = args.yi_grid
    grid_a, grid_g = np.linspace(0, 0.25, na), np.linspace(0.01, 0.5, ng)
    sims = args.yi_sims
    full_cells = len(YI_A) * len(YI_G) if not args.quick else na * ng
    part = out["yi"] = {"grid_run_by_jax": [na, ng], "cells_full": full_cells, "replicates": sims, "d": YI_D,
                        "n1": YI_N1, "n2": YI_N2}
    print(f"Yi et al. regression form: {full_cells} cells x {sims} replicates, d = {YI_D}, n1 = n2 = {YI_N1}")
    cells = np.array([(i, j) for i in range(na) for j in range(ng)])
    pick = np.sort(np.random.default_rng(1).choice(len(cells), min(args.yi_loop_cells, len(cells)), replace=False))
    loop_cells = cells[pick]

    for label, full in (("numpy_loop_pool", False), ("numpy_loop_pool_authors_full", True)):
        tasks = [(i, j, grid_a[i], grid_g[j], sims, full) for i, j in loop_cells]
        results, seconds, load = timed(pool.starmap, yi_cell, tasks)
        scale = full_cells / len(tasks)
        part[label] = {"measured_s": seconds, "cells_measured": len(tasks), "scale": scale, "s": seconds * scale,
                       "processes": os.cpu_count(), "loadavg_1m": load}
        if not full:
            loop_losses = np.array([r[2:] for r in results])
        print(f"  numpy per-cell loop{' (their 4 estimators)' if full else ''}, Pool({os.cpu_count()}): "
              f"{seconds * scale:.1f} s ({len(tasks)} cells in {seconds:.1f} s, x{scale:g})")

    pick = np.sort(np.random.default_rng(2).choice(len(cells), min(args.yi_vec_cells, len(cells)), replace=False))
    vec_cells = cells[pick]
    (v0, v1), seconds, load = timed(yi_vectorized, grid_a[vec_cells[:, 0]], grid_g[vec_cells[:, 1]], sims, rng)
    scale = full_cells / len(vec_cells)
    part["numpy_vectorized"] = {"measured_s": seconds, "cells_measured": len(vec_cells), "scale": scale,
                                "s": seconds * scale, "loadavg_1m": load}
    print(f"  numpy vectorised: {seconds * scale:.1f} s ({len(vec_cells)} cells in {seconds:.1f} s, x{scale:g})")

    load0, begin = loadavg(), time.perf_counter()
    result = jc.run("verified-retraining", settings={"form": "regression", "dim": YI_D, "select": "verify"},
                    grids={"center_shift": list(grid_a), "band_width": list(grid_g)},
                    seeds=sims, generations=1, keep=(), cache=False)
    wall = time.perf_counter() - begin
    timing = dict(result.timing)
    scale = full_cells / (na * ng)
    timing.update(cells_measured=na * ng, scale=scale, wall_s=wall, loadavg_1m=[load0, loadavg()])
    extrapolate(timing, scale)
    part["jax"] = timing
    print(f"  jaxcollapse: compile {timing['compile_s']:.1f} s, run {timing['run_s']:.1f} s"
          + (f" ({na * ng} cells in {timing['run_s_measured']:.1f} s, x{scale:g})" if scale != 1 else "")
          + f", total_s {timing['total_s']:.1f} s, wall {wall:.1f} s")
    part["ratios"] = {f"{base}/jax": ratios(part[base]["s"], timing)
                      for base in ("numpy_loop_pool", "numpy_loop_pool_authors_full", "numpy_vectorized")}
    for key, r in part["ratios"].items():
        print(f"    ratio {key}: {r['vs_run']:.2f}x run, {r['vs_compile_plus_run']:.2f}x compile + run, "
              f"{r['vs_total']:.2f}x total_s")
    loss = np.asarray(result.metrics["loss"]["mean"])  # (a, gamma, generation): 0 unfiltered_x, 1 filter_y
    check = {"loop_cells": {"numpy_loop": loop_losses.mean(0).tolist(),
                            "jax": loss[loop_cells[:, 0], loop_cells[:, 1]].mean(0).tolist()},
             "vectorized_cells": {"numpy_vectorized": [v0.mean(), v1.mean()],
                                  "jax": loss[vec_cells[:, 0], vec_cells[:, 1]].mean(0).tolist()}}
    part["check_mean_loss_unfiltered_x_filter_y"] = check
    print(f"  check, mean loss (unfiltered_x, filter_y) over the loop's cells: numpy "
          f"{check['loop_cells']['numpy_loop'][0]:.4f}, {check['loop_cells']['numpy_loop'][1]:.4f}; jax "
          f"{check['loop_cells']['jax'][0]:.4f}, {check['loop_cells']['jax'][1]:.4f}")
    print(f"  check, over the vectorised run's cells: numpy {v0.mean():.4f}, {v1.mean():.4f}; jax "
          f"{check['vectorized_cells']['jax'][0]:.4f}, {check['vectorized_cells']['jax'][1]:.4f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="everything tiny (< 1 minute; checks the script works)")
    parser.add_argument("--json", default=None)
    parser.add_argument("--he-loop-reps", type=int, default=None, help="replicates per w for the per-replicate loop (default 8)")
    parser.add_argument("--he-vec-reps", type=int, default=None, help="replicates per w for vectorised numpy (default 400)")
    parser.add_argument("--he-explicit-seeds", type=int, default=None, help="seeds for jaxcollapse's explicit sampler (default 100; 0 skips)")
    parser.add_argument("--yi-loop-cells", type=int, default=None, help="cells for the per-cell loop (default 300)")
    parser.add_argument("--yi-vec-cells", type=int, default=None, help="cells for vectorised numpy (default 4500)")
    parser.add_argument("--yi-grid", default=None, help="a x gamma points run by jaxcollapse (default 300x150)")
    parser.add_argument("--skip-he", action="store_true")
    parser.add_argument("--skip-yi", action="store_true")
    args = parser.parse_args()
    full = {"he_reps": HE_REPS, "he_generations": HE_T, "he_loop_reps": 8, "he_vec_reps": 400, "he_explicit_seeds": 100,
            "yi_sims": YI_SIMS, "yi_loop_cells": 300, "yi_vec_cells": 4500, "yi_grid": "300x150"}
    quick = {"he_reps": 40, "he_generations": 40, "he_loop_reps": 2, "he_vec_reps": 20, "he_explicit_seeds": 10,
             "yi_sims": 20, "yi_loop_cells": 6, "yi_vec_cells": 60, "yi_grid": "10x6"}
    for name, value in (quick if args.quick else full).items():
        if getattr(args, name, None) is None:
            setattr(args, name, value)
    args.yi_grid = tuple(int(v) for v in str(args.yi_grid).lower().split("x"))

    # Fork the workers before JAX starts its threads; they run numpy only and serve both parts.
    pool = multiprocessing.get_context("fork").Pool(os.cpu_count())
    pool.starmap(abs, [(0,)] * (2 * os.cpu_count()))  # workers up before any timing

    env = environment()
    env.update(numpy=np.__version__, platform=platform.platform(), processor=platform.processor(),
               cpu_count=os.cpu_count(), loadavg_1m_start=loadavg(), git=git_state())
    print(f"jax {env['jax']} ({env['backend']}), numpy {env['numpy']}, {env['cpu_count']} CPUs, "
          f"dtype {env['dtype']}, mode {'quick' if args.quick else 'full'}, 1-min load average {env['loadavg_1m_start']}")
    if env["git"]["jaxcollapse_modified"]:
        print(f"jaxcollapse at {str(env['git']['commit'])[:10]} with uncommitted changes to "
              + ", ".join(env["git"]["jaxcollapse_modified"]))
    if env["loadavg_1m_start"] is not None and env["loadavg_1m_start"] > 0.5:
        print(f"WARNING: 1-minute load average is {env['loadavg_1m_start']:.2f} at start; timings may be inflated "
              "(the numpy baselines run in the same process at the same time, so the ratios are the meaningful part).")
    out = {"mode": "quick" if args.quick else "full", "config": {k: v for k, v in vars(args).items() if k != "json"},
           "environment": env}
    rng = np.random.default_rng(0)
    begin = time.perf_counter()
    try:
        if not args.skip_he:
            he_part(args, pool, rng, out)
        if not args.skip_yi:
            yi_part(args, pool, rng, out)
    finally:
        pool.close()
        pool.join()
    env["loadavg_1m_end"] = loadavg()
    out["wall_s"] = time.perf_counter() - begin
    print(f"wall {out['wall_s']:.1f} s; 1-min load average start {env['loadavg_1m_start']}, end {env['loadavg_1m_end']}")
    if args.json:
        with open(args.json, "w") as handle:
            json.dump(out, handle, indent=1, default=float)


if __name__ == "__main__":
    main()
