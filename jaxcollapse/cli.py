"""Command line: ``jaxcollapse list | run | reproduce`` (a public contract: extend, never
rename or drop a flag)."""

from __future__ import annotations

import argparse
import os
import shlex
import sys
import time
from pathlib import Path

from .engine.params import ConfigError
from .sweep_file import SweepFile, read_sweep


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # one line, exit status 2
        sys.stderr.write(f"jaxcollapse: error: {message}\n")
        raise SystemExit(2)


def _key_value(text: str) -> tuple[str, str]:
    if "=" not in text:
        raise ConfigError(f"{text!r}: expected NAME=VALUE")
    name, value = text.split("=", 1)
    return name.strip(), value.strip()


# Every run option's default, applied after the preset's and the sweep file's values (the
# parsers leave an option out of the namespace unless it is given, so a flag overrides a file).
RUN_DEFAULTS = {
    "seeds": 100, "generations": 100, "key": 0, "prng": "threefry", "chunk": None, "x64": False, "out": None,
    "force": False, "no_plot": False, "keep": None, "quiet": False, "no_cache": False, "quantiles": None,
    "quantile_seeds": 10_000, "coordinator": None, "num_processes": None, "process_id": None,
    "figure_format": "png", "dpi": 150, "format": None,
}


def _add_run_options(parser: argparse.ArgumentParser) -> None:
    add = lambda *a, **k: parser.add_argument(*a, default=argparse.SUPPRESS, **k)  # noqa: E731
    add("--set", action="append", metavar="NAME=VALUE", help="a parameter: number, word or schedule in t (repeatable)")
    add("--grid", action="append", metavar="NAME=V1,V2", help="sweep a parameter (several grids form their product)")
    add("--seeds", type=int, help="Monte Carlo seeds (default 100)")
    add("--generations", type=int, help="generations T (default 100)")
    add("--key", type=int, help="base PRNG key (default 0)")
    add("--prng", metavar="IMPL", help="random-number generator: threefry (default), philox, rbg, unsafe_rbg")
    add("--chunk", type=int, help="seeds per chunk (default: by memory)")
    add("--x64", action="store_true", help="run in float64")
    add("--out", help="output directory (default runs/<name>-<time>/)")
    add("--force", action="store_true", help="replace a different run already in --out (its files are removed)")
    add("--no-plot", action="store_true", help="skip the figures")
    add("--figure-format", metavar="FMT[,FMT]", help="figure file formats: png, pdf, svg (default png)")
    add("--dpi", type=int, help="resolution of png figures (default 150)")
    add("--keep", help="metrics whose per-seed arrays are saved: all, none, or a comma list (default: all up to "
                       "1 GiB, or the preset's choice)")
    add("--format", metavar="FMT[,FMT]", help="also write the results as an xarray Dataset: netcdf (results.nc) "
                         "or zarr (results.zarr); jc.load reads either")
    add("--quiet", action="store_true", help="no progress display")
    add("--no-cache", action="store_true", help="do not keep compiled studies on disk")
    add("--quantiles", metavar="Q1,Q2", help="also report these quantiles of every metric (e.g. 0.05,0.5,0.95)")
    add("--quantile-seeds", type=int, help="quantiles are taken over the first this-many seeds (default 10000)")
    add("--coordinator", metavar="HOST:PORT", help="multi-process run: address of process 0 (or $JAXCOLLAPSE_COORDINATOR)")
    add("--num-processes", type=int, help="multi-process run: number of processes (or $JAXCOLLAPSE_NUM_PROCESSES)")
    add("--process-id", type=int, help="multi-process run: this process's index (or $JAXCOLLAPSE_PROCESS_ID)")


class _PresetHelp(argparse.Action):
    """``reproduce PRESET --help``: the usual help, then what that preset sets."""

    def __init__(self, option_strings, dest, **kwargs):
        super().__init__(option_strings, dest, nargs=0, default=argparse.SUPPRESS, help="show this help and, "
                         "after a PRESET, the preset's own settings and sizes")

    def __call__(self, parser, namespace, values, option_string=None):
        parser.print_help()
        preset = getattr(namespace, "preset", None)
        if preset:
            from .describe import describe

            try:
                print("\n" + describe(preset))
            except Exception as err:  # noqa: BLE001 (help must answer, whatever the name)
                print(f"\n{err}")
        parser.exit()


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="jaxcollapse", description="Batched simulation of model collapse.")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    listing = sub.add_parser("list", help="list studies and presets (with a NAME: describe it)")
    listing.add_argument("name", nargs="?", default=None)
    describe = sub.add_parser("describe", help="a study's parameters and metrics, or what a preset sets")
    describe.add_argument("name", metavar="STUDY_OR_PRESET")
    run = sub.add_parser("run", help="run a study", epilog="A sweep file (--config) holds study, seeds, "
                         "generations and any other option, with [settings] and [grids] tables; flags on the "
                         "command line override it. Parameters: jaxcollapse describe STUDY.")
    run.add_argument("study", nargs="?", default=None, help="a study name, package.module:attr, or none with --config")
    run.add_argument("--config", default=None, metavar="FILE.toml", help="a sweep file (TOML)")
    _add_run_options(run)
    reproduce = sub.add_parser("reproduce", help="run a preset", add_help=False,
                               epilog="--set/--grid/--seeds/--generations override the preset's own values "
                               "(jaxcollapse reproduce PRESET --help shows them).")
    reproduce.add_argument("-h", "--help", action=_PresetHelp)
    reproduce.add_argument("preset")
    reproduce.add_argument("--quick", action="store_true", help="small variant (CI size)")
    _add_run_options(reproduce)
    validate = sub.add_parser("validate", help="hold every study's closed forms against simulation on this machine")
    validate.add_argument("--quick", action="store_true", help="the quick checks at small seed counts (minutes)")
    validate.add_argument("--x64", action="store_true", help="run the checks in float64")
    validate.add_argument("--study", action="append", default=[], metavar="NAME", help="only this study (repeatable)")
    bench = sub.add_parser("bench", help="run the benchmark suite: bench.json and bench.png")
    bench.add_argument("--out", default="runs/bench", help="output directory (default runs/bench)")
    bench.add_argument("--quick", action="store_true", help="small sizes (about a minute)")
    bench.add_argument("--loop-seeds", type=int, default=1, help="seeds per Kazdan cell timed in the numpy loop (default 1)")
    return parser


def _print_summary(result, out: Path, metrics: tuple[str, ...] | None = None) -> None:
    last = result.generations
    print(f"{result.study}: {result.seeds} seeds x {last} generations, "
          f"compile {result.timing['compile_s']:.2f}s, run {result.timing['run_s']:.2f}s")
    grid_dims = result.dims[:-1]
    shape = tuple(len(result.coords[d]) for d in grid_dims)
    import numpy as np

    for index in list(np.ndindex(*shape))[:12]:
        label = ", ".join(f"{d}={result.coords[d][i]}" for d, i in zip(grid_dims, index)) or "all"
        cells = []
        for metric in metrics or result.metrics:
            mean, err = result.mean(metric)[index][-1], result.stderr(metric)[index][-1]
            cells.append(f"{metric}={mean:.4g}±{err:.2g}")
        print(f"  [{label}] generation {last}: " + "  ".join(cells))
    print(f"wrote {out}")


def _execute(options: dict, out: Path, study: str, settings: dict, grids: dict, invocation: dict,
             keep: tuple[str, ...] | None = None):
    from .api import init_distributed, run
    from .labelled import check_format, write_dataset
    from .plot import figure_options, figure_settings, plot_result
    from .results import record_new_files

    formats, dpi = figure_options(options["figure_format"], options["dpi"])
    datasets = check_format(options["format"])
    if options["coordinator"] or options["num_processes"] or os.environ.get("JAXCOLLAPSE_COORDINATOR"):
        init_distributed(options["coordinator"], options["num_processes"], options["process_id"])
    from .studies import get_study

    study_cls = get_study(study)
    began = time.time()
    result = run(
        study, settings, grids, seeds=options["seeds"], generations=options["generations"], key=options["key"],
        prng=options["prng"], chunk=options["chunk"], x64=options["x64"],
        keep=keep if options["keep"] is None else options["keep"], progress=not options["quiet"],
        quantiles=options["quantiles"], quantile_seeds=options["quantile_seeds"], out=out, force=options["force"],
        cache=False if options["no_cache"] else None, invocation=invocation,  # None: JAXCOLLAPSE_NO_CACHE decides
    )
    if result is None:  # a multi-process run: process 0 gathers and writes the results
        return None
    for fmt in datasets:
        write_dataset(result, out, fmt)
    if not options["no_plot"]:
        with figure_settings(formats, dpi):
            plot_result(result, out, study_cls.summary_metrics)
    record_new_files(out, began)
    return result


def _overridden(settings: dict, grids: dict, options: dict) -> tuple[dict, dict]:
    """``--set`` / ``--grid`` on top of a preset's or a sweep file's settings and grids: a flag
    replaces the file's value of that name, set or swept (a grid keeps its axis position).
    Setting and sweeping one name with flags alike is still refused (by ``plan``)."""
    set_flags = dict(_key_value(s) for s in options.get("set") or [])
    grid_flags = dict(_key_value(g) for g in options.get("grid") or [])
    settings = {k: v for k, v in settings.items() if k not in grid_flags}
    grids = {k: v for k, v in grids.items() if k not in set_flags}
    return {**settings, **set_flags}, {**grids, **grid_flags}


def _options(args: argparse.Namespace, *layers: dict) -> dict:
    """RUN_DEFAULTS, then each layer (a preset's sizes, a sweep file), then the flags given."""
    options = dict(RUN_DEFAULTS)
    for layer in layers:
        options.update(layer)
    options.update({k: v for k, v in vars(args).items() if k in RUN_DEFAULTS or k in ("set", "grid")})
    return options


def _interrupted(out: Path | None) -> int:
    """Ctrl-C: one line on what is kept and how to go on (exit status 130, as a shell would)."""
    chunks = len(list((out / "chunks").glob("*.npz"))) if out is not None and (out / "chunks").is_dir() else 0
    where = f" in {out / 'chunks'}" if chunks else ""
    sys.stderr.write(f"jaxcollapse: interrupted; {chunks} finished chunk(s) kept{where}: "
                     "run the same command again to resume from them\n")
    return 130


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        args = build_parser().parse_args(argv)
    except BrokenPipeError:  # help piped into head: stop quietly
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    out = None
    try:
        if args.command == "describe" or (args.command == "list" and args.name):
            from .describe import describe

            print(describe(args.name))
            return 0
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
        invocation = {"command": "jaxcollapse " + shlex.join(argv)}
        if args.command == "run":
            sweep = read_sweep(args.config) if args.config else SweepFile()
            study = args.study or sweep.study
            if study is None:
                raise ConfigError("study: give a study name (jaxcollapse list) or --config FILE.toml with study = NAME")
            options = _options(args, sweep.options)
            settings, grids = _overridden(sweep.settings, sweep.grids, options)
            keep = None
            if args.config:
                invocation["config_file"] = {"path": str(args.config), "contents": sweep.text}
        else:
            preset = get_preset(args.preset)
            spec = preset.resolved(args.quick)
            study, keep = spec["study"], spec["keep"]
            options = _options(args, {"seeds": spec["seeds"], "generations": spec["generations"]})
            settings, grids = _overridden(spec["settings"], spec["grids"], options)
            invocation["preset"] = preset.name
            invocation["quick"] = bool(args.quick)
        name = get_study(study).name if args.command == "run" else args.preset
        out = Path(options["out"]) if options["out"] else Path("runs") / f"{name}-{time.strftime('%Y%m%d-%H%M%S')}"
        result = _execute(options, out, study, settings, grids, invocation, keep)
        if args.command == "reproduce" and preset.figure is not None and not options["no_plot"] and result is not None:
            from .plot import figure_settings
            from .results import record_new_files

            began = time.time()
            with figure_settings(options["figure_format"], options["dpi"]):
                preset.figure(result, out)
            record_new_files(out, began)
        if result is None:
            print(f"this process's chunks are in {out / 'chunks'}; process 0 writes the results")
            return 0
        _print_summary(result, out, get_study(study).summary_metrics)
        return 0
    except ConfigError as err:
        sys.stderr.write(f"jaxcollapse: error: {err}\n")
        return 2
    except KeyboardInterrupt:
        return _interrupted(out)


if __name__ == "__main__":
    raise SystemExit(main())
