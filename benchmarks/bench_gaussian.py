#!/usr/bin/env python
"""Benchmark the Gaussian study against plain numpy, and the exact sampler against the
explicit one across n.

    python benchmarks/bench_gaussian.py            # full run (a few minutes on 2 CPU cores)
    python benchmarks/bench_gaussian.py --quick    # everything shrunk, < 1 minute (rot check)
    python benchmarks/bench_gaussian.py --json out.json

Part 1 (headline): 10,000 seeds x 100 generations, n = 100, d = 1, regime = replace,
ddof = 0, timed in one process for
  * a per-seed numpy loop (what a researcher writes), timed on a subset of seeds and
    extrapolated linearly to all seeds;
  * seed-vectorized numpy: all seeds at once, X of shape (seeds, n), per generation a
    mean / var along axis 1 and a redraw -- a plain float64 version and a tuned float32
    version (in-place standard_normal, the strongest numpy baseline we know of);
  * seed-vectorized numpy with sufficient statistics (mean ~ N, var ~ chi2): the numpy
    counterpart of the exact sampler (reference only);
  * jaxcollapse with sampler = explicit (the apples-to-apples comparison: it draws every
    sample) and sampler = exact (the default: draws sufficient statistics).
  jaxcollapse's compile time (AOT lower().compile()) and run time (chunks, measured with
  block_until_ready) are reported separately; ratios are baseline / run_s and baseline /
  (compile_s + run_s). Each jaxcollapse configuration is run --repeat times and the
  fastest run is kept (min is the least noisy estimate on a shared machine); several
  chunk sizes are tried and all are printed.
Part 2 (sampler scaling): run_s of the exact sampler for n = 10 .. 10^6 at the full seed
  count, and of the explicit sampler for n = 10 .. --explicit-max-n (default 10^5) with
  the seed count cut so that seeds * n <= 10^6 (at least 10 seeds), its run_s scaled
  linearly to the full seed count.
Part 3 (if jaxcollapse has ``api.enable_compilation_cache``): compile_s with JAX's
  persistent compilation cache, cold and warm. Parts 1-2 measure cold compiles.

All numpy loops here are elementwise / reductions: no BLAS is involved, so the
OPENBLAS_NUM_THREADS / MKL_NUM_THREADS / OMP_NUM_THREADS settings do not matter. numpy
runs single-threaded; XLA's CPU backend may use every core.

Statistical sanity: every method's E var_T is printed next to theory (1 - 1/n)^(T+1) (the
ddof = 0 MLE; fit 0 on real data plus T refits) with its standard error; nothing is
asserted.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import subprocess
import sys
import tempfile
import time
from typing import Any

import numpy as np

from jaxcollapse.bench import numpy_per_seed_loop, numpy_vectorized

import jaxcollapse as jc
from jaxcollapse.results import environment

# ---------------------------------------------------------------------------------------------
# configuration


FULL = {
    "seeds": 10_000,
    "generations": 100,
    "n": 100,
    "loop_seeds": 500,  # per-seed numpy loop: timed on this many seeds, then extrapolated
    "repeat": 3,
    "chunks": [None, 5000, 10_000],  # None = jaxcollapse's automatic chunk size
    "scaling_n": [10, 100, 1_000, 10_000, 100_000, 1_000_000],
    "scaling_seeds": 10_000,
    "scaling_repeat": 2,
    "explicit_max_n": 100_000,
    "explicit_budget": 1_000_000,  # explicit scaling: seeds * n kept <= this
    "explicit_min_seeds": 10,
}
QUICK = {
    "seeds": 1_000,
    "generations": 20,
    "n": 100,
    "loop_seeds": 50,
    "repeat": 1,
    "chunks": [None],
    "scaling_n": [10, 1_000, 1_000_000],
    "scaling_seeds": 1_000,
    "scaling_repeat": 1,
    "explicit_max_n": 1_000,
    "explicit_budget": 100_000,
    "explicit_min_seeds": 10,
}


def log(text: str = "") -> None:
    print(text, flush=True)


def loadavg() -> float | None:
    try:
        return os.getloadavg()[0]
    except OSError:
        return None


def mean_se(values: np.ndarray) -> tuple[float, float]:
    values = np.asarray(values, np.float64)
    return float(values.mean()), float(values.std(ddof=1) / math.sqrt(len(values)))


def theory_var(n: int, generations: int) -> float:
    """E var of the ddof=0 MLE after fit T, n samples every generation, replace.

    Fit 0 is on real data and each of the T refits multiplies E var by (1 - 1/n), so the
    fit at generation T has E var = (1 - 1/n)^(T+1) -- the issue's (1 - 1/n)^T counts the
    refits only (a loop that records fits 0..T-1)."""
    return (1.0 - 1.0 / n) ** (generations + 1)


# ---------------------------------------------------------------------------------------------
# numpy baselines


def numpy_vectorized_tuned(seeds: int, n: int, generations: int) -> dict[str, np.ndarray]:
    """All seeds at once, float32 (as jaxcollapse), redraw in place into one buffer."""
    rng = np.random.default_rng(12345)
    x = rng.standard_normal((seeds, n), dtype=np.float32)
    mu, var = x.mean(axis=1, keepdims=True), x.var(axis=1, keepdims=True)
    for _ in range(generations):
        rng.standard_normal(out=x, dtype=np.float32)
        x *= np.sqrt(var)
        x += mu
        mu, var = x.mean(axis=1, keepdims=True), x.var(axis=1, keepdims=True)
    return {"var": var[:, 0].astype(np.float64), "mean_sq_error": (mu[:, 0] ** 2).astype(np.float64)}


def numpy_vectorized_exact(seeds: int, n: int, generations: int) -> dict[str, np.ndarray]:
    """Sufficient statistics: mean' = mean + sd * N(0,1)/sqrt(n), var' = var chi2_{n-1}/n."""
    rng = np.random.default_rng(12345)
    mu = rng.standard_normal(seeds) / math.sqrt(n)
    var = rng.chisquare(n - 1, seeds) / n
    for _ in range(generations):
        mu = mu + np.sqrt(var / n) * rng.standard_normal(seeds)
        var = var * (rng.chisquare(n - 1, seeds) / n)
    return {"var": var, "mean_sq_error": mu**2}


def time_numpy(fn, seeds: int, n: int, generations: int, repeat: int) -> tuple[float, dict]:
    """Fastest of ``repeat`` runs after a small warm-up."""
    fn(min(seeds, 8), n, 2)
    best, out = math.inf, None
    for _ in range(repeat):
        begin = time.perf_counter()
        result = fn(seeds, n, generations)
        elapsed = time.perf_counter() - begin
        if elapsed < best:
            best, out = elapsed, result
    return best, out


# ---------------------------------------------------------------------------------------------
# jaxcollapse


def settings(n: int, sampler: str) -> dict[str, Any]:
    return {"n": n, "dim": 1, "regime": "replace", "sampler": sampler, "ddof": 0}


def run_jc(n: int, sampler: str, seeds: int, generations: int, chunk: int | None) -> dict[str, Any]:
    result = jc.run(
        "gaussian", settings(n, sampler), seeds=seeds, generations=generations, chunk=chunk, keep=()
    )
    var_mean = float(result.mean("var")[-1])
    var_se = float(result.stderr("var")[-1])
    return {
        "sampler": sampler,
        "n": n,
        "seeds": seeds,
        "generations": generations,
        "chunk_requested": chunk,
        "chunk_used": list(result.config["chunk"].values())[0],
        "compile_s": float(result.timing["compile_s"]),
        "run_s": float(result.timing["run_s"]),
        "total_s": float(result.timing["total_s"]),
        "var_T": var_mean,
        "var_T_se": var_se,
        "var_T_theory": float(result.theory["var"][-1]),
        "mean_sq_error_T": float(result.mean("mean_sq_error")[-1]),
    }


def best_of(n: int, sampler: str, seeds: int, generations: int, chunk: int | None, repeat: int) -> dict:
    runs = [run_jc(n, sampler, seeds, generations, chunk) for _ in range(repeat)]
    best = dict(min(runs, key=lambda r: r["run_s"]))
    best["run_s_all"] = [r["run_s"] for r in runs]
    best["compile_s_all"] = [r["compile_s"] for r in runs]
    best["compile_s_min"] = min(best["compile_s_all"])
    return best


def chunk_label(chunk: int | None, used: int) -> str:
    return f"auto({used})" if chunk is None else str(used)


# ---------------------------------------------------------------------------------------------


def headline(cfg: dict[str, Any], report: dict[str, Any]) -> None:
    seeds, generations, n = cfg["seeds"], cfg["generations"], cfg["n"]
    log(f"== Part 1: Gaussian study, {seeds} seeds x {generations} generations, n={n}, d=1, "
        "replace, ddof=0 ==")
    log("numpy: no BLAS in these loops, so OPENBLAS/MKL/OMP thread settings do not matter; "
        "numpy is single-threaded, XLA may use every core.")

    baselines: dict[str, dict[str, Any]] = {}
    loop_seeds = min(cfg["loop_seeds"], seeds)
    elapsed, out = time_numpy(numpy_per_seed_loop, loop_seeds, n, generations, cfg["repeat"])
    scaled = elapsed * seeds / loop_seeds
    log(f"numpy per-seed loop: {elapsed:.3f} s for {loop_seeds} seeds -> extrapolated linearly to "
        f"{seeds} seeds: {scaled:.2f} s")
    baselines["numpy_per_seed_loop"] = {
        "seconds": scaled, "measured_s": elapsed, "measured_seeds": loop_seeds,
        "extrapolated": loop_seeds != seeds, "out": out,
    }
    for name, fn in (
        ("numpy_vectorized_f64", numpy_vectorized),
        ("numpy_vectorized_f32_tuned", numpy_vectorized_tuned),
        ("numpy_vectorized_exact_stats", numpy_vectorized_exact),
    ):
        elapsed, out = time_numpy(fn, seeds, n, generations, cfg["repeat"])
        log(f"{name}: {elapsed:.3f} s")
        baselines[name] = {"seconds": elapsed, "measured_s": elapsed, "measured_seeds": seeds,
                           "extrapolated": False, "out": out}

    jax_runs: dict[str, list[dict[str, Any]]] = {}
    for sampler in ("explicit", "exact"):
        run_jc(n, sampler, 16, 2, None)  # warm-up: first-call overheads of jax itself
        jax_runs[sampler] = []
        for chunk in cfg["chunks"]:
            record = best_of(n, sampler, seeds, generations, chunk, cfg["repeat"])
            jax_runs[sampler].append(record)
            log(f"jaxcollapse {sampler:8s} chunk={chunk_label(chunk, record['chunk_used']):>11s}: "
                f"run_s={record['run_s']:.3f} (all: {', '.join(f'{t:.3f}' for t in record['run_s_all'])}) "
                f"compile_s={record['compile_s']:.3f} total_s={record['total_s']:.3f}")

    log()
    log("Timings (seconds; jaxcollapse = fastest chunk size, fastest of the repeats):")
    best = {s: min(records, key=lambda r: r["run_s"]) for s, records in jax_runs.items()}
    header = f"{'method':34s} {'time_s':>8s}"
    log(header)
    for name, b in baselines.items():
        note = f"  (measured on {b['measured_seeds']} seeds, extrapolated)" if b["extrapolated"] else ""
        log(f"{name:34s} {b['seconds']:8.3f}{note}")
    for sampler, r in best.items():
        log(f"{'jaxcollapse ' + sampler + ' run_s':34s} {r['run_s']:8.3f}  "
            f"(chunk {r['chunk_used']})")
        log(f"{'jaxcollapse ' + sampler + ' compile_s':34s} {r['compile_s']:8.3f}  "
            f"(min over all runs {min(min(x['compile_s_all']) for x in jax_runs[sampler]):.3f})")

    log()
    log("Speed-up = baseline time / jaxcollapse time (>1: jaxcollapse is faster)")
    log(f"{'baseline':30s} {'explicit run':>12s} {'explicit +cmp':>13s} {'exact run':>10s} {'exact +cmp':>10s}")
    ratios: dict[str, dict[str, float]] = {}
    for name, b in baselines.items():
        row = {}
        for sampler, r in best.items():
            row[f"{sampler}_run"] = b["seconds"] / r["run_s"]
            row[f"{sampler}_with_compile"] = b["seconds"] / (r["run_s"] + r["compile_s"])
        ratios[name] = row
        log(f"{name:30s} {row['explicit_run']:12.2f} {row['explicit_with_compile']:13.2f} "
            f"{row['exact_run']:10.2f} {row['exact_with_compile']:10.2f}")

    targets = {
        "exact_vs_per_seed_loop>=25": ratios["numpy_per_seed_loop"]["exact_run"] >= 25,
        "exact_vs_vectorized_f64>=3": ratios["numpy_vectorized_f64"]["exact_run"] >= 3,
        "explicit_vs_per_seed_loop>=25": ratios["numpy_per_seed_loop"]["explicit_run"] >= 25,
        "explicit_vs_vectorized_f64>=3": ratios["numpy_vectorized_f64"]["explicit_run"] >= 3,
    }
    log("Targets (run_s): " + ", ".join(f"{k}: {'met' if v else 'NOT met'}" for k, v in targets.items()))

    log()
    theory = theory_var(n, generations)
    log(f"Sanity: E var of the fit at generation t={generations} (fit 0 on real data), "
        f"theory (1-1/n)^(T+1) = {theory:.4f}; var_T is heavy-tailed (log var_T has sd ~ "
        f"{math.sqrt(2 * (generations + 1) / (n - 1)):.1f}), so small seed counts scatter widely")
    sanity = {"theory": theory}
    for name, b in baselines.items():
        m, se = mean_se(b["out"]["var"])
        sanity[name] = {"mean": m, "se": se, "seeds": len(b["out"]["var"])}
        log(f"  {name:32s} {m:.4f} +- {se:.4f}  ({len(b['out']['var'])} seeds)")
    for sampler, r in best.items():
        sanity[f"jaxcollapse_{sampler}"] = {"mean": r["var_T"], "se": r["var_T_se"], "seeds": seeds}
        log(f"  {'jaxcollapse ' + sampler:32s} {r['var_T']:.4f} +- {r['var_T_se']:.4f}  ({seeds} seeds)")

    for b in baselines.values():
        del b["out"]
    report["headline"] = {
        "config": {"seeds": seeds, "generations": generations, "n": n, "dim": 1,
                   "regime": "replace", "ddof": 0, "repeat": cfg["repeat"]},
        "baselines": baselines,
        "jaxcollapse": jax_runs,
        "best": best,
        "ratios": ratios,
        "targets": targets,
        "sanity_var_T": sanity,
    }


def scaling(cfg: dict[str, Any], report: dict[str, Any]) -> None:
    seeds, generations = cfg["scaling_seeds"], cfg["generations"]
    log()
    log(f"== Part 2: sampler scaling in n ({generations} generations) ==")
    rows = []
    for n in cfg["scaling_n"]:
        record = best_of(n, "exact", seeds, generations, None, cfg["scaling_repeat"])
        record["run_s_scaled"] = record["run_s"]
        rows.append(record)
        log(f"exact    n={n:>8d} seeds={seeds:>6d}: run_s={record['run_s']:.3f} "
            f"compile_s={record['compile_s']:.3f} E var_T={record['var_T']:.4f} "
            f"(theory {record['var_T_theory']:.4f})")
    for n in cfg["scaling_n"]:
        if n > cfg["explicit_max_n"]:
            log(f"explicit n={n:>8d}: skipped (> --explicit-max-n {cfg['explicit_max_n']})")
            continue
        used = int(min(seeds, max(cfg["explicit_min_seeds"], cfg["explicit_budget"] // n)))
        record = best_of(n, "explicit", used, generations, None, cfg["scaling_repeat"])
        record["run_s_scaled"] = record["run_s"] * seeds / used
        rows.append(record)
        log(f"explicit n={n:>8d} seeds={used:>6d}: run_s={record['run_s']:.3f} "
            f"(x{seeds / used:g} -> {record['run_s_scaled']:.3f} for {seeds} seeds) "
            f"compile_s={record['compile_s']:.3f} E var_T={record['var_T']:.4f} "
            f"(theory {record['var_T_theory']:.4f})")

    log()
    log(f"run_s for {seeds} seeds x {generations} generations (explicit: measured on fewer seeds and "
        "scaled linearly where marked *)")
    log(f"{'n':>9s} {'exact run_s':>12s} {'exact cmp_s':>12s} {'explicit run_s':>15s} {'explicit cmp_s':>15s} {'explicit/exact':>15s}")
    by = {(r["sampler"], r["n"]): r for r in rows}
    table = []
    for n in cfg["scaling_n"]:
        ex, xp = by.get(("exact", n)), by.get(("explicit", n))
        entry = {"n": n, "exact_run_s": ex["run_s"], "exact_compile_s": ex["compile_s"]}
        text = f"{n:>9d} {ex['run_s']:12.3f} {ex['compile_s']:12.3f}"
        if xp is not None:
            star = "*" if xp["seeds"] != seeds else " "
            entry.update(explicit_run_s=xp["run_s_scaled"], explicit_compile_s=xp["compile_s"],
                         explicit_seeds=xp["seeds"], explicit_over_exact=xp["run_s_scaled"] / ex["run_s"])
            text += (f" {xp['run_s_scaled']:14.3f}{star} {xp['compile_s']:15.3f} "
                     f"{xp['run_s_scaled'] / ex['run_s']:15.1f}")
        else:
            text += f" {'-':>15s} {'-':>15s} {'-':>15s}"
        table.append(entry)
        log(text)
    lo, hi = min(cfg["scaling_n"]), max(cfg["scaling_n"])
    flat = by[("exact", hi)]["run_s"] / by[("exact", lo)]["run_s"]
    log(f"exact sampler: run_s(n={hi:g}) / run_s(n={lo:g}) = {flat:.2f}  "
        f"(target <= 2: {'met' if flat <= 2 else 'NOT met'})")
    report["scaling"] = {"seeds": seeds, "generations": generations, "runs": rows, "table": table,
                         "exact_ratio_max_over_min_n": flat,
                         "explicit_note": f"explicit measured with seeds = clip({cfg['explicit_budget']} // n, "
                                          f"{cfg['explicit_min_seeds']}, {seeds}) and scaled linearly; "
                                          f"n > {cfg['explicit_max_n']} skipped"}


def compile_cache(cfg: dict[str, Any], report: dict[str, Any]) -> None:
    """compile_s with JAX's persistent compilation cache, cold (empty directory) then warm.

    Everything above measures a cold in-memory compile (jc.run does not enable the disk
    cache). Runs only where jaxcollapse offers ``api.enable_compilation_cache``; it switches
    a process-wide flag, so it runs last."""
    enable = getattr(jc.api, "enable_compilation_cache", None)
    log()
    if enable is None:
        log("== Part 3: persistent compilation cache: not available in this jaxcollapse ==")
        return
    seeds, generations, n = cfg["seeds"], cfg["generations"], cfg["n"]
    log(f"== Part 3: compile_s with the persistent compilation cache ({seeds} seeds, n={n}) ==")
    rows = {}
    with tempfile.TemporaryDirectory(prefix="jaxcollapse-bench-cache-") as directory:
        enable(directory)
        for sampler in ("explicit", "exact"):
            cold = run_jc(n, sampler, seeds, generations, None)
            warm = run_jc(n, sampler, seeds, generations, None)
            rows[sampler] = {"cold_compile_s": cold["compile_s"], "warm_compile_s": warm["compile_s"],
                             "warm_run_s": warm["run_s"], "warm_total_s": warm["total_s"]}
            log(f"{sampler:8s}: compile_s cold (writes cache) {cold['compile_s']:.3f}, warm (reads cache) "
                f"{warm['compile_s']:.3f}; warm total_s {warm['total_s']:.3f}")
    report["compile_cache"] = rows


def git_state() -> dict[str, Any]:
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True,
                                text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--", "jaxcollapse"], cwd=root,
                               capture_output=True, text=True, check=True).stdout.split("\n")
        return {"commit": commit, "jaxcollapse_modified": [line[3:] for line in dirty if line.strip()]}
    except (OSError, subprocess.CalledProcessError):
        return {"commit": None, "jaxcollapse_modified": None}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="shrink everything (< 1 minute)")
    parser.add_argument("--json", metavar="PATH", help="write every number to this JSON file")
    parser.add_argument("--repeat", type=int, help="runs per configuration (fastest kept)")
    parser.add_argument("--explicit-max-n", type=int, help="largest n for the explicit sampler scaling")
    parser.add_argument("--skip-scaling", action="store_true", help="skip part 2 (scaling in n)")
    parser.add_argument("--skip-cache", action="store_true", help="skip part 3 (compilation cache)")
    args = parser.parse_args(argv)
    cfg = dict(QUICK if args.quick else FULL)
    if args.repeat:
        cfg["repeat"] = cfg["scaling_repeat"] = args.repeat
    if args.explicit_max_n:
        cfg["explicit_max_n"] = args.explicit_max_n

    env = environment()
    env.update({
        "numpy": np.__version__,
        "platform": platform.platform(),
        "processor": platform.processor(),
        "cpu_count": os.cpu_count(),
        "loadavg_1m_start": loadavg(),
        "git": git_state(),
    })
    log(f"jax {env['jax']} ({env['backend']}, {env['devices']}), numpy {env['numpy']}, "
        f"{env['cpu_count']} CPUs, dtype {env['dtype']}, mode {'quick' if args.quick else 'full'}")
    commit = env["git"]["commit"]
    modified = env["git"]["jaxcollapse_modified"]
    log(f"jaxcollapse at commit {commit[:10] if commit else '?'}"
        + (f" with uncommitted changes to {', '.join(modified)}" if modified else ""))
    if env["loadavg_1m_start"] is not None and env["loadavg_1m_start"] > 0.5:
        log(f"WARNING: 1-minute load average is {env['loadavg_1m_start']:.2f} at start; "
            "timings may be inflated by other processes.")
    started = time.perf_counter()
    report: dict[str, Any] = {"mode": "quick" if args.quick else "full", "config": cfg, "environment": env}
    headline(cfg, report)
    if not args.skip_scaling:
        scaling(cfg, report)
    if not args.skip_cache:
        compile_cache(cfg, report)
    env["loadavg_1m_end"] = loadavg()
    report["wall_s"] = time.perf_counter() - started
    log()
    log(f"benchmark wall time {report['wall_s']:.1f} s; 1-min load average start "
        f"{env['loadavg_1m_start']}, end {env['loadavg_1m_end']}")
    if args.json:
        with open(args.json, "w") as handle:
            json.dump(report, handle, indent=1, default=float)
        log(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
