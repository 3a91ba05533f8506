"""``jaxcollapse validate``: every study's closed forms against simulation, on this machine.

A new GPU or TPU, ``--x64``, another jax or jaxlib version: each changes the compiled code and
its rounding, so the numbers a researcher publishes should be checked where they were made.
Each study declares its checks (``Study.checks``, ``engine.study.Check``); each check runs the
study once and compares every metric with a closed form, at every grid point and generation:
|mean - theory| <= z* SE + relative |theory|. The limit z* is Bonferroni's for the check's m
comparisons at a family-wise false-alarm rate of 0.1% under normality, and never below 4:
z* = max(4, Phi^-1(1 - 0.0005 / m)). A saturated cell, where every seed gave the same value (SE 0,
e.g. a support of 100 outcomes seen by every seed while its expectation is 99.996), has no error
bar: it holds if |mean - theory| <= 1e-3 (1 + |theory|). Keys are fixed, so a run is deterministic
on one machine.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Callable

import numpy as np
from scipy.special import ndtri  # scipy.stats costs a second at import

from .engine.study import Check, Study

FAMILY_WISE = 1e-3  # false-alarm probability of one check under normality
Z_FLOOR = 4.0
SATURATED = 1e-3  # relative tolerance of a cell with no spread over seeds (SE 0)


@dataclass
class Outcome:
    study: str
    check: str
    compared: int
    worst_z: float  # the largest |mean - theory| / SE (inf if SE = 0 and they differ)
    limit: float
    passed: bool
    seconds: float
    where: str = ""  # metric, grid point and generation of the worst comparison

    def line(self) -> str:
        status = "ok  " if self.passed else "MISS"
        return (f"{status} {self.study}/{self.check}: max |z| {self.worst_z:.2f} over {self.compared} values "
                f"(limit {self.limit:.2f}; worst {self.where}) [{self.seconds:.1f}s]")


def z_limit(comparisons: int) -> float:
    return max(Z_FLOOR, float(-ndtri(FAMILY_WISE / (2 * max(comparisons, 1)))))


def compare(result, check: Check) -> tuple[int, float, float, bool, str]:
    """(comparisons, worst |z|, limit, passed, where) of one finished run against its theory."""
    return agreement(result, check.metrics, check.relative)


def agreement(result, metrics: tuple[str, ...] = (), relative: float = 0.0) -> tuple[int, float, float, bool, str]:
    """How a finished run agrees with its closed forms: (comparisons, worst |z|, Bonferroni limit,
    passed, where the worst one is), over ``metrics`` (default: every metric with a theory)."""
    metrics = metrics or tuple(m for m in result.theory if m in result.metrics)
    rows = []
    for metric in metrics:
        theory = np.asarray(result.theory.get(metric, np.nan), np.float64)
        mean, se = result.mean(metric), result.stderr(metric)
        theory = np.broadcast_to(theory, mean.shape)
        for index in zip(*np.nonzero(np.isfinite(theory))):  # a non-finite mean there is a miss
            rows.append((metric, index, mean[index], se[index], theory[index]))
    if not rows:
        return 0, float("nan"), Z_FLOOR, False, "no closed form to compare"
    limit = z_limit(len(rows))
    worst, where, passed = 0.0, "", True
    for metric, index, mean, se, theory in rows:
        slack = relative * abs(theory) + (SATURATED if se == 0 else 1e-12) * (1 + abs(theory))
        excess = max(abs(mean - theory) - slack, 0.0) if np.isfinite(mean) else np.inf
        z = excess / se if se > 0 else (0.0 if excess == 0 else np.inf)
        if not z <= limit:
            passed = False
        if not z <= worst:
            worst, labels = z, ", ".join(f"{d}={result.coords[d][i]}" for d, i in zip(result.dims, index))
            where = f"{metric} at {labels}"
    return len(rows), float(worst), limit, passed, where


def run_check(study: type[Study], check: Check, quick: bool = False, x64: bool = False) -> Outcome:
    from .api import run

    begin = time.perf_counter()
    result = run(study.name, check.settings, check.grids, seeds=check.quick_seeds if quick else check.seeds,
                 generations=check.generations, key=check.key, keep=(), x64=x64)
    compared, worst, limit, passed, where = compare(result, check)
    return Outcome(study.name, check.name, compared, worst, limit, passed, time.perf_counter() - begin, where)


def validate(studies: list[type[Study]], quick: bool = False, x64: bool = False,
             report: Callable[[str], None] = print) -> list[Outcome]:
    """Run every check of ``studies`` (``quick``: only quick checks, at their quick seed counts)."""
    outcomes = []
    for study in studies:
        checks = [c for c in study.checks if c.quick or not quick]
        if not checks:
            report(f"--   {study.name}: no closed form to hold against simulation")
            continue
        for check in checks:
            outcome = run_check(study, check, quick, x64)
            report(outcome.line())
            outcomes.append(outcome)
    return outcomes
