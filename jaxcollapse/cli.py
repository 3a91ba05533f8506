"""Command line: ``jaxcollapse list | run | reproduce`` (a public contract: extend, never
rename or drop a flag)."""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

from .engine.params import ConfigError


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # one line, exit status 2
        sys.stderr.write(f"jaxcollapse: error: {message}\n")
        raise SystemExit(2)


def _key_value(text: str) -> tuple[str, str]:
    if "=" not in text:
        raise ConfigError(f"{text!r}: expected NAME=VALUE")
    name, value = text.split("=", 1)
    return name.strip(), value.strip()


def _add_run_options(parser: argparse.ArgumentParser, defaults: bool = True) -> None:
    none = argparse.SUPPRESS if not defaults else None
    parser.add_argument("--seeds", type=int, default=none, help="Monte Carlo seeds (default 100)")
    parser.add_argument("--generations", type=int, default=none, help="generations T (default 100)")
    parser.add_argument("--key", type=int, default=0, help="base PRNG key (default 0)")
    parser.add_argument("--prng", default="threefry", metavar="IMPL",
                        help="random-number generator: threefry (default), philox, rbg, unsafe_rbg")
    parser.add_argument("--chunk", type=int, default=None, help="seeds per chunk (default: by memory)")
    parser.add_argument("--x64", action="store_true", help="run in float64")
    parser.add_argument("--out", default=None, help="output directory (default runs/<name>-<time>/)")
    parser.add_argument("--force", action="store_true", help="replace a different run already in --out (its files are removed)")
    parser.add_argument("--no-plot", action="store_true", help="skip the figures")
    parser.add_argument("--keep", default=None, help="metrics whose per-seed arrays are saved: all, none, or a comma list (default: all, or the preset's choice)")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    parser.add_argument("--no-cache", action="store_true", help="do not keep compiled studies on disk")
    parser.add_argument("--quantiles", default=None, metavar="Q1,Q2", help="also report these quantiles of every metric (e.g. 0.05,0.5,0.95)")
    parser.add_argument("--quantile-seeds", type=int, default=10_000, help="quantiles are taken over the first this-many seeds (default 10000)")
    parser.add_argument("--coordinator", default=None, metavar="HOST:PORT", help="multi-process run: address of process 0 (or $JAXCOLLAPSE_COORDINATOR)")
    parser.add_argument("--num-processes", type=int, default=None, help="multi-process run: number of processes (or $JAXCOLLAPSE_NUM_PROCESSES)")
    parser.add_argument("--process-id", type=int, default=None, help="multi-process run: this process's index (or $JAXCOLLAPSE_PROCESS_ID)")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="jaxcollapse", description="Batched simulation of model collapse.")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    sub.add_parser("list", help="list studies and presets")
    run = sub.add_parser("run", help="run a study")
    run.add_argument("study")
    run.add_argument("--set", action="append", default=[], metavar="NAME=VALUE", help="a parameter: number, word or schedule in t")
    run.add_argument("--grid", action="append", default=[], metavar="NAME=V1,V2", help="sweep a parameter (several grids form their product)")
    _add_run_options(run)
    reproduce = sub.add_parser("reproduce", help="run a preset")
    reproduce.add_argument("preset")
    reproduce.add_argument("--quick", action="store_true", help="small variant (CI size)")
    _add_run_options(reproduce, defaults=False)
    validate = sub.add_parser("validate", help="hold every study's closed forms against simulation on this machine")
    validate.add_argument("--quick", action="store_true", help="the quick checks at small seed counts (minutes)")
    validate.add_argument("--x64", action="store_true", help="run the checks in float64")
    validate.add_argument("--study", action="append", default=[], metavar="NAME", help="only this study (repeatable)")
    bench = sub.add_parser("bench", help="run the benchmark suite: bench.json and bench.png")
    bench.add_argument("--out", default="runs/bench", help="output directory (default runs/bench)")
    bench.add_argument("--quick", action="store_true", help="small sizes (about a minute)")
    bench.add_argument("--loop-seeds", type=int, default=1, help="seeds per Kazdan cell timed in the numpy loop (default 1)")
    return parser


def _keep(text: str | None, metrics: tuple[str, ...], default: tuple[str, ...] | None = None) -> tuple[str, ...]:
    if text is None:
        return metrics if default is None else default
    if text == "all":
        return metrics
    if text == "none":
        return ()
    return tuple(m.strip() for m in text.split(",") if m.strip())


def _print_summary(result, out: Path, metrics: tuple[str, ...] | None = None) -> None:
    last = result.generations
    print(f"{result.study}: {result.seeds} seeds x {last} generations, "
          f"compile {result.timing['compile_s']:.2f}s, run {result.timing['run_s']:.2f}s")
    grid_dims = result.dims[:-1]
    shape = tuple(len(result.coords[d]) for d in grid_dims)
    for index in list(np.ndindex(*shape))[:12]:
        label = ", ".join(f"{d}={result.coords[d][i]}" for d, i in zip(grid_dims, index)) or "all"
        cells = []
        for metric in metrics or result.metrics:
            mean, err = result.mean(metric)[index][-1], result.stderr(metric)[index][-1]
            cells.append(f"{metric}={mean:.4g}±{err:.2g}")
        print(f"  [{label}] generation {last}: " + "  ".join(cells))
    print(f"wrote {out}")


def _execute(args, out: Path, study: str, settings: dict, grids: dict, seeds: int, generations: int,
             keep: tuple[str, ...] | None = None):
    from .api import init_distributed, run
    from .plot import plot_result
    from .results import record_new_files

    if args.coordinator or args.num_processes or os.environ.get("JAXCOLLAPSE_COORDINATOR"):
        init_distributed(args.coordinator, args.num_processes, args.process_id)
    from .studies import get_study

    study_cls = get_study(study)
    began = time.time()
    result = run(
        study, settings, grids, seeds=seeds, generations=generations, key=args.key, prng=args.prng,
        chunk=args.chunk, x64=args.x64, keep=_keep(args.keep, study_cls.metrics, keep),
        progress=not args.quiet, quantiles=args.quantiles, quantile_seeds=args.quantile_seeds,
        out=out, force=args.force, cache=not args.no_cache,
    )
    if result is None:  # a multi-process run: process 0 gathers and writes the results
        return None
    if not args.no_plot:
        plot_result(result, out, study_cls.summary_metrics)
    record_new_files(out, began)
    return result


def _interrupted(out: Path | None) -> int:
    """Ctrl-C: one line on what is kept and how to go on (exit status 130, as a shell would)."""
    chunks = len(list((out / "chunks").glob("*.npz"))) if out is not None and (out / "chunks").is_dir() else 0
    where = f" in {out / 'chunks'}" if chunks else ""
    sys.stderr.write(f"jaxcollapse: interrupted; {chunks} finished chunk(s) kept{where}: "
                     "run the same command again to resume from them\n")
    return 130


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    out = None
    try:
        from .studies import PRESETS, STUDIES, get_preset, get_study

        if args.command == "list":
            from .studies.registry import discover

            discover()
            for name, cls in sorted(STUDIES.items()):
                print(f"study   {name:24s} {cls.description}")
            for name, preset in sorted(PRESETS.items()):
                print(f"preset  {name:24s} {preset.description}")
            return 0
        if args.command == "validate":
            from .validate import validate

            studies = [get_study(n) for n in args.study] or [STUDIES[n] for n in sorted(STUDIES)]
            outcomes = validate(studies, quick=args.quick, x64=args.x64)
            missed = [o for o in outcomes if not o.passed]
            print(f"validate: {len(outcomes) - len(missed)} of {len(outcomes)} checks held" +
                  (f"; missed: {', '.join(f'{o.study}/{o.check}' for o in missed)}" if missed else ""))
            return 1 if missed else 0
        if args.command == "bench":
            from .bench import main as bench_main

            bench_main(args.out, args.quick, args.loop_seeds)
            return 0
        name = get_study(args.study).name if args.command == "run" else args.preset
        out = Path(args.out) if args.out else Path("runs") / f"{name}-{time.strftime('%Y%m%d-%H%M%S')}"
        if args.command == "run":
            settings = dict(_key_value(s) for s in args.set)
            grids = dict(_key_value(g) for g in args.grid)
            seeds = 100 if args.seeds is None else args.seeds
            generations = 100 if args.generations is None else args.generations
            result = _execute(args, out, args.study, settings, grids, seeds, generations)
        else:
            preset = get_preset(args.preset)
            spec = preset.resolved(args.quick)
            seeds = getattr(args, "seeds", spec["seeds"])
            generations = getattr(args, "generations", spec["generations"])
            result = _execute(args, out, spec["study"], spec["settings"], spec["grids"], seeds, generations,
                              spec["keep"])
            if preset.figure is not None and not args.no_plot and result is not None:
                began = time.time()
                preset.figure(result, out)
                from .results import record_new_files

                record_new_files(out, began)
        if result is None:
            print(f"this process's chunks are in {out / 'chunks'}; process 0 writes the results")
            return 0
        _print_summary(result, out, get_study(args.study if args.command == "run" else spec["study"]).summary_metrics)
        return 0
    except ConfigError as err:
        sys.stderr.write(f"jaxcollapse: error: {err}\n")
        return 2
    except KeyboardInterrupt:
        return _interrupted(out)


if __name__ == "__main__":
    raise SystemExit(main())
