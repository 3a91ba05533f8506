"""Benchmark: the self-consuming-diffusion study (five regimes at a fixed budget, LSF included)
in one call, against per-seed Python loops in the same process. Not a test.

    python benchmarks/bench_lsf.py [--ppca-seeds 256] [--ddpm-seeds 4] [--loop-seeds 2] [--json PATH]

PPCA generator (n = 400, hidden 32, 2 latent draws, 5 generations): jaxcollapse runs
seeds x 5 regimes as one computation. Baselines: (a) the plain numpy loop a researcher would
write (per seed and regime: per-class PPCA by eigh, sampling, random-feature latents, a softmax
probe by gradient descent, top-N selection, and the same read-outs: FD by scipy sqrtm, k-NN
precision/recall, OLE by SVD); (b) the study's own single-run trajectory jitted once and called
in a loop. DDPM generator (n = 200, hidden 32, 50 steps, 100 Adam steps per generation,
3 generations): jaxcollapse against (b). Loops are timed on --loop-seeds seeds of every regime
and extrapolated; compile and run times are reported apart, every result blocked on.
"""

from __future__ import annotations

import argparse
import json
import time

import jax
import numpy as np
import scipy.linalg

import jaxcollapse as jc
from jaxcollapse.bench import jitted_trajectory
from jaxcollapse.results import environment
from jaxcollapse.studies.self_consuming_diffusion import LATENT_FRACTIONS, REGIMES

STUDY = "self-consuming-diffusion"
PPCA = {"generator": "ppca", "n": 400, "hidden": 32, "latent_draws": 2}
DDPM = {"generator": "ddpm", "n": 200, "hidden": 32, "depth": 1, "diffusion_steps": 50, "train_steps": 100,
        "batch": 64, "latent_draws": 1, "probe_steps": 50}
GRID = {"regime": list(REGIMES)}


# ---- the numpy loop ---------------------------------------------------------------------------

def np_ppca(x, y, w, classes=4, rank=2):
    fits = []
    for c in range(classes):
        rows, weights = x[y == c], w[y == c]
        mean = weights @ rows / weights.sum()
        cov = (weights[:, None] * (rows - mean)).T @ (rows - mean) / weights.sum()
        values, vectors = np.linalg.eigh(cov)
        values, vectors = values[::-1], vectors[:, ::-1]
        noise = values[rank:].mean()
        fits.append((mean, vectors[:, :rank] * np.sqrt(np.maximum(values[:rank] - noise, 0)), noise, vectors[:, :rank]))
    return fits


def np_sample(rng, fits, y):
    out = np.empty((len(y), fits[0][0].shape[0]))
    for c, (mean, factor, noise, _) in enumerate(fits):
        m = np.sum(y == c)
        out[y == c] = mean + rng.standard_normal((m, factor.shape[1])) @ factor.T + np.sqrt(noise) * rng.standard_normal((m, len(mean)))
    return out


def np_latents(rng, x, r, b, abars, draws=2):
    return np.stack([np.mean([np.maximum((np.sqrt(a) * x + np.sqrt(1 - a) * rng.standard_normal(x.shape)) @ r / 4 + b, 0)
                              for _ in range(draws)], 0) for a in abars])


def np_probe(h, y, classes=4, steps=300, lr=0.05, l2=1e-3):
    centre, scale = h.mean(1, keepdims=True), h.std(1, keepdims=True) + 1e-6
    z, onehot = (h - centre) / scale, np.eye(classes)[y]
    w, b = np.zeros((h.shape[0], h.shape[2], classes)), np.zeros((h.shape[0], 1, classes))
    m = [np.zeros_like(w), np.zeros_like(b)]
    v = [np.zeros_like(w), np.zeros_like(b)]
    for step in range(1, steps + 1):  # Adam, as the study's probe
        logits = np.einsum("lnh,lhc->lnc", z, w) + b
        p = np.exp(logits - logits.max(-1, keepdims=True))
        p /= p.sum(-1, keepdims=True)
        g = (p - onehot) / (h.shape[0] * h.shape[1])
        grads = [np.einsum("lnh,lnc->lhc", z, g) + 2 * l2 * w, g.sum(1, keepdims=True)]
        for i, (param, grad) in enumerate(zip((w, b), grads)):
            m[i] = 0.9 * m[i] + 0.1 * grad
            v[i] = 0.999 * v[i] + 0.001 * grad**2
            param -= lr * (m[i] / (1 - 0.9**step)) / (np.sqrt(v[i] / (1 - 0.999**step)) + 1e-8)
    return w, b, centre, scale


def np_confidence(probe, h, y):
    w, b, centre, scale = probe
    logits = np.einsum("lnh,lhc->lnc", (h - centre) / scale, w) + b
    p = np.exp(logits - logits.max(-1, keepdims=True))
    return (p / p.sum(-1, keepdims=True))[:, np.arange(len(y)), y].mean(0)


def np_readouts(x, test, y, h, centre):
    fd = np.sum((x.mean(0) - test.mean(0)) ** 2) + np.trace(np.cov(x.T) + np.cov(test.T)
                                                            - 2 * np.real(scipy.linalg.sqrtm(np.cov(x.T) @ np.cov(test.T))))
    d_rr = np.sort(np.sum((test[:, None] - test[None]) ** 2, -1), 1)[:, 3]
    d_ff = np.sort(np.sum((x[:, None] - x[None]) ** 2, -1), 1)[:, 3]
    cross = np.sum((x[:, None] - test[None]) ** 2, -1)
    precision, recall = np.mean(np.any(cross <= d_rr[None], 1)), np.mean(np.any(cross.T <= d_ff[None], 1))
    unit = (h - centre) / np.linalg.norm(h - centre, axis=-1, keepdims=True)
    ole = [sum(np.linalg.svd(u[y == c], compute_uv=False).sum() for c in range(4)) - np.linalg.svd(u, compute_uv=False).sum()
           for u in unit]
    return fd, precision, recall, ole


def numpy_run(seed, regime, generations, n=400, dim=16, classes=4, hidden=32):
    rng = np.random.default_rng(seed)
    y = np.arange(n) % classes
    bases = np.linalg.qr(rng.standard_normal((classes, dim, 2)))[0]
    truth = lambda: np.einsum("ndr,nr->nd", bases[y], rng.standard_normal((n, 2))) + 0.05 * rng.standard_normal((n, dim))  # noqa: E731
    real, test = truth(), truth()
    betas = np.linspace(5e-4, 0.1, 200)
    abars = np.cumprod(1 - betas)[[round(f * 200) - 1 for f in LATENT_FRACTIONS]]
    r, b = rng.standard_normal((dim, hidden)), rng.standard_normal(hidden)
    h_real = np_latents(rng, real, r, b, abars)
    probe, centre = np_probe(h_real, y), h_real.mean(1, keepdims=True)
    pool_x, pool_y, pool_score, pool_origin = real, y, np_confidence(probe, h_real, y), np.zeros(n)
    fits = np_ppca(real, y, np.ones(n))
    for t in range(1, generations + 1):
        block = np_sample(rng, fits, y)
        np_readouts(block, test, y, np_latents(rng, block, r, b, abars), centre)
        if regime == "syn-add":
            block[: round(0.3 * n)] = truth()[: round(0.3 * n)]
        pool_x, pool_y = np.concatenate([pool_x, block]), np.concatenate([pool_y, y])
        pool_score = np.concatenate([pool_score, np_confidence(probe, np_latents(rng, block, r, b, abars), y)])
        pool_origin = np.concatenate([pool_origin, np.full(n, t)])
        if regime in ("syn", "syn-add"):
            rows = np.arange(len(pool_x) - n, len(pool_x))
        elif regime == "acu":
            rows = np.arange(len(pool_x))
        else:
            rows = np.argsort(-(pool_score if regime == "acu-lsf" else rng.random(len(pool_x))))[:n]
        fits = np_ppca(pool_x[rows], pool_y[rows], np.ones(len(rows)))
    return pool_origin


# ---- timing -----------------------------------------------------------------------------------

def jitted_loop(settings, seeds, generations, loop_seeds):
    one, params = jitted_trajectory(STUDY, settings, GRID, generations)
    start = time.perf_counter()
    jax.block_until_ready(one(params[0], jax.random.key(0)))
    compile_s = time.perf_counter() - start
    start = time.perf_counter()
    for i in range(loop_seeds):
        for p in params:
            jax.block_until_ready(one(p, jax.random.key(i)))
    return compile_s, (time.perf_counter() - start) / loop_seeds * seeds


def measure(name, settings, seeds, generations, loop_seeds, numpy_baseline):
    result = jc.run(STUDY, settings, GRID, seeds=seeds, generations=generations, keep=())
    loop_compile, loop_run = jitted_loop(settings, seeds, generations, loop_seeds)
    report = {"seeds": seeds, "regimes": len(REGIMES), "generations": generations, "jax": result.timing,
              "seeds_per_s": seeds / result.timing["run_s"], "jitted_loop_compile_s": loop_compile,
              "jitted_loop_run_s": loop_run, "ratio_run_vs_jitted_loop": loop_run / result.timing["run_s"]}
    if numpy_baseline:
        start = time.perf_counter()
        for i in range(loop_seeds):
            for regime in REGIMES:
                numpy_run(i, regime, generations)
        numpy_s = (time.perf_counter() - start) / loop_seeds * seeds
        report |= {"numpy_loop_s": numpy_s, "ratio_run_vs_numpy_loop": numpy_s / result.timing["run_s"],
                   "ratio_total_vs_numpy_loop": numpy_s / result.timing["total_s"]}
    print(f"{name}: {seeds} seeds x {len(REGIMES)} regimes x {generations} generations: jaxcollapse compile "
          f"{result.timing['compile_s']:.1f} s, run {result.timing['run_s']:.1f} s ({report['seeds_per_s']:.1f} seeds/s "
          f"for all regimes); jitted per-run loop {loop_run:.1f} s ({report['ratio_run_vs_jitted_loop']:.1f}x)"
          + (f"; numpy loop {report['numpy_loop_s']:.1f} s ({report['ratio_run_vs_numpy_loop']:.1f}x run, "
             f"{report['ratio_total_vs_numpy_loop']:.1f}x total)" if numpy_baseline else ""), flush=True)
    return report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ppca-seeds", type=int, default=256)
    parser.add_argument("--ddpm-seeds", type=int, default=4)
    parser.add_argument("--loop-seeds", type=int, default=2)
    parser.add_argument("--json", default=None)
    args = parser.parse_args()
    report = {"environment": environment(),
              "ppca": measure("ppca", PPCA, args.ppca_seeds, 5, args.loop_seeds, numpy_baseline=True),
              "ddpm": measure("ddpm", DDPM, args.ddpm_seeds, 3, args.loop_seeds, numpy_baseline=False)}
    if args.json:
        with open(args.json, "w") as f:
            json.dump(report, f, indent=1)


if __name__ == "__main__":
    main()
