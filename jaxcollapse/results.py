"""Labelled results: summary.json (the public contract) and per-seed arrays (.npz).

Layout of ``summary.json`` (fields are only ever added, never renamed or dropped):
  study, config, seeds, generations, dims, coords,
  metrics: {name: {"mean": nested list, "stderr": nested list}}   (generation last),
  theory:  {name: nested list}  (closed forms, same shape as the means; null where none),
  timing:  {compile_s, run_s, total_s},
  environment: {jaxcollapse, jax, jaxlib, python, backend, device_count, devices,
                x64, dtype, prng_impl, process_count}
  quantiles:   (only when requested) {probabilities, seeds, metrics: {name: {"0.5": nested
               list, ...}}}: quantiles over the first ``seeds`` seeds, same shape as the means
  config.prng: the generator chosen with --prng (threefry unless set)
  invocation:  what made the run: {"command": the CLI line, "preset", "quick", "config_file":
               {"path", "contents"}} or {"python": the jc.run / jc.reproduce call}
  fingerprint: a hash of everything the numbers depend on (study, resolved grid points, seeds,
               generations, key, dtype, jax version, kept metrics, quantile seeds)
Non-finite numbers are written as null (JSON has no -inf); ``per_seed.npz`` keeps them.
``per_seed.npz`` holds one array per kept metric with dims ``dims[:-1] + ["seed",
"generation"]``, plus ``dims``, ``coord_<name>`` and ``seed`` (the seed indices held: every
seed, or the first ones when a very large run's default kept only those) arrays: numpy alone
can read it.
"""

from __future__ import annotations

import json
import platform
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jax
import numpy as np

from . import __version__
from .engine.params import ConfigError
from .engine.storage import jsonable, npz_bytes, write_atomic
from .engine.study import float_dtype
from .engine.sweep import PRNGS, Plan, Raw


def environment(prng_impl: str | None = None) -> dict[str, Any]:
    import jaxlib

    devices = jax.devices()
    return {
        "jaxcollapse": __version__,
        "jax": jax.__version__,
        "jaxlib": jaxlib.__version__,
        "python": platform.python_version(),
        "backend": jax.default_backend(),
        "device_count": len(devices),
        "devices": sorted({d.device_kind for d in devices}),
        "x64": bool(jax.config.jax_enable_x64),
        "dtype": str(np.dtype(float_dtype())),
        "prng_impl": prng_impl or str(jax.config.jax_default_prng_impl),  # the run's generator (--prng)
        "process_count": jax.process_count(),
    }


@dataclass
class Result:
    study: str
    config: dict[str, Any]
    seeds: int
    generations: int
    dims: list[str]
    coords: dict[str, list[Any]]
    metrics: dict[str, dict[str, np.ndarray]]
    theory: dict[str, np.ndarray] = field(default_factory=dict)
    per_seed: dict[str, np.ndarray] = field(default_factory=dict)
    timing: dict[str, float] = field(default_factory=dict)
    environment: dict[str, Any] = field(default_factory=dict)
    quantiles: dict[str, Any] = field(default_factory=dict)
    fingerprint: str = ""
    invocation: dict[str, Any] = field(default_factory=dict)

    def mean(self, metric: str, **labels: Any) -> np.ndarray:
        """The mean over seeds, dims as ``self.dims``; keyword labels select grid points,
        e.g. ``result.mean("var", regime="accumulate", n=100)`` (a dim given drops out)."""
        return self.select(self._metric(metric)["mean"], labels)

    def stderr(self, metric: str, **labels: Any) -> np.ndarray:
        """The standard error of the mean, selected like ``mean``."""
        return self.select(self._metric(metric)["stderr"], labels)

    def quantile(self, metric: str, q: float, **labels: Any) -> np.ndarray:
        """A requested quantile (``quantiles=``) over the first ``quantile_seeds`` seeds."""
        values = self.stored_quantile(metric, q)
        if values is not None:
            return self.select(values, labels)
        have = ", ".join(self.quantiles.get("metrics", {}).get(metric, {})) or "none"
        raise ConfigError(f"quantile q={q}: not computed for {metric} (computed: {have}; run with quantiles=...)")

    def stored_quantile(self, metric: str, q: float) -> np.ndarray | None:
        """The q-quantile of ``metric`` if it was requested (dims ``self.dims``), else None."""
        stored = self.quantiles.get("metrics", {}).get(metric, {}) if self.quantiles else {}
        for key, values in stored.items():
            if abs(float(key) - float(q)) < 1e-9:
                return np.asarray(values)
        return None

    def _metric(self, metric: str) -> dict[str, np.ndarray]:
        if metric not in self.metrics:
            raise ConfigError(f"metric={metric!r}: not a metric of {self.study} (metrics: {', '.join(self.metrics)})")
        return self.metrics[metric]

    def select(self, values: np.ndarray, labels: dict[str, Any]) -> np.ndarray:
        """``values`` (dims ``self.dims``, or with ``seed`` before ``generation``) at the
        given coordinate labels; a label matches its coordinate by value (100 == 100.0 ==
        "100")."""
        index: list[Any] = [slice(None)] * np.ndim(values)
        for dim, label in labels.items():
            if dim not in self.dims:
                raise ConfigError(f"{dim}={label!r}: not a dimension of this result (dims: {', '.join(self.dims)})")
            coords = self.coords[dim]
            matches = [i for i, c in enumerate(coords) if _same_label(c, label)]
            if not matches:
                raise ConfigError(f"{dim}={label!r}: not among its labels ({', '.join(map(str, coords))})")
            index[self.dims.index(dim)] = matches[0]
        return np.asarray(values)[tuple(index)]

    def to_xarray(self, per_seed: bool = False):
        """An ``xarray.Dataset`` labelled like summary.json: one data variable per metric with
        dims ``dims`` + ``statistic`` (mean, stderr, theory, and q<p> for each requested
        quantile); attrs hold study, seeds, config, environment and invocation (as JSON).
        ``per_seed=True``: the kept per-seed arrays instead, dims ``dims[:-1]`` + seed +
        generation. Select a metric with ``ds["var"]`` (``ds.var`` is Dataset's own method)."""
        from .labelled import to_xarray

        return to_xarray(self, per_seed)

    def to_dataframe(self):
        """A long-form pandas DataFrame: one row per grid point x generation x metric, columns
        for each grid dim, generation, metric, mean, stderr, theory and requested quantiles."""
        from .labelled import to_dataframe

        return to_dataframe(self)

    def summary(self) -> dict[str, Any]:
        return {
            "study": self.study,
            "config": jsonable(self.config),
            "seeds": self.seeds,
            "generations": self.generations,
            "dims": list(self.dims),
            "coords": jsonable(self.coords),
            "metrics": {
                m: {k: _finite_list(v) for k, v in stats.items()} for m, stats in self.metrics.items()
            },
            "theory": {m: _finite_list(v) for m, v in self.theory.items()},
            "timing": dict(self.timing),
            "environment": dict(self.environment),
            **({"quantiles": _quantile_json(self.quantiles)} if self.quantiles else {}),
            **({"fingerprint": self.fingerprint} if self.fingerprint else {}),
            **({"invocation": self.invocation} if self.invocation else {}),
        }

    def save(self, out_dir: str | Path) -> Path:
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        write_atomic(out / "summary.json", dumps_summary(self.summary()).encode())
        arrays = {m: v for m, v in self.per_seed.items()}
        arrays["dims"] = np.asarray(self.dims[:-1] + ["seed", "generation"])
        if self.per_seed:  # which seeds the arrays hold (the first ones; all unless bounded)
            arrays["seed"] = np.arange(next(iter(self.per_seed.values())).shape[-2])
        for name, labels in self.coords.items():
            arrays[f"coord_{name}"] = np.asarray([str(x) if isinstance(x, str) else x for x in labels])
        write_atomic(out / "per_seed.npz", npz_bytes(arrays))
        record_outputs(out, ["summary.json", "per_seed.npz"])
        return out


MANIFEST = ".jaxcollapse-files"  # the files a run wrote into its directory, one name a line


def record_outputs(out: Path, names: list[str]) -> None:
    """Add ``names`` (relative to ``out``) to the run's manifest, so that ``--force`` can remove
    exactly what the run wrote (stale figures included) and nothing of the user's."""
    manifest = out / MANIFEST
    known = manifest.read_text().split() if manifest.exists() else []
    names = [str(Path(n)) for n in names]
    write_atomic(manifest, "\n".join(dict.fromkeys(known + names)).encode() + b"\n")


def record_new_files(out: Path, since: float) -> None:
    """Record every file directly in ``out`` modified since ``since`` (a ``time.time()``)."""
    names = [p.name for p in out.iterdir() if p.is_file() and p.name != MANIFEST and p.stat().st_mtime >= since]
    record_outputs(out, sorted(names))


def guard_output(out: Path, identity: str, force: bool) -> None:
    """Refuse to write into ``out`` if it holds a different run, finished or not (ConfigError);
    with ``force``, remove that run's files first. The same run (same fingerprint) may write
    again: it resumes from its chunks, or rewrites identical numbers."""
    summary, stamp = out / "summary.json", out / "chunks" / "plan.txt"
    finished = summary.exists() and _stored_fingerprint(summary) != identity
    unfinished = stamp.exists() and stamp.read_text().strip() != identity
    if not (finished or unfinished):
        return
    if not force:
        what = "a different finished run" if finished else "unfinished chunks of a different run"
        raise ConfigError(f"out={out}: holds {what}; pass --force to replace it, or choose another directory")
    remove_run(out)


def _stored_fingerprint(summary: Path) -> str | None:
    try:
        return json.loads(summary.read_text()).get("fingerprint")
    except (OSError, ValueError):
        return None


def remove_run(out: Path) -> None:
    """Delete a run's files: those its manifest lists, summary.json, per_seed.npz, chunks/."""
    manifest = out / MANIFEST
    names = manifest.read_text().split() if manifest.exists() else []
    for name in [*names, "summary.json", "per_seed.npz", MANIFEST]:
        path = out / name
        if path.resolve().parent != out.resolve():
            continue
        if path.is_file():
            path.unlink()
        elif path.is_dir() and path.suffix == ".zarr":  # a Dataset written with --format zarr
            shutil.rmtree(path)
    shutil.rmtree(out / "chunks", ignore_errors=True)


def _same_label(coord: Any, label: Any) -> bool:
    if coord == label or str(coord) == str(label):
        return True
    try:
        return float(coord) == float(label)
    except (TypeError, ValueError):
        return False


def _quantile_json(quantiles: dict[str, Any]) -> dict[str, Any]:
    return {
        "probabilities": quantiles["probabilities"],
        "seeds": quantiles["seeds"],
        "metrics": {m: {q: _finite_list(v) for q, v in by_q.items()} for m, by_q in quantiles["metrics"].items()},
    }


def dumps_summary(summary: dict[str, Any]) -> str:
    """JSON with one line per top-level field (and per metric), compact arrays."""
    lines = []
    for key, value in summary.items():
        if isinstance(value, dict) and key in ("metrics", "theory", "config", "quantiles"):
            inner = ",\n".join(f"  {json.dumps(k)}: {json.dumps(v)}" for k, v in value.items())
            lines.append(f" {json.dumps(key)}: {{\n{inner}\n }}" if value else f" {json.dumps(key)}: {{}}")
        else:
            lines.append(f" {json.dumps(key)}: {json.dumps(value)}")
    return "{\n" + ",\n".join(lines) + "\n}\n"


def _finite_list(values: np.ndarray) -> Any:
    array = np.asarray(values, np.float64)
    return np.where(np.isfinite(array), array, None).tolist()


def assemble(the_plan: Plan, raw: Raw, timing: dict[str, float], probabilities: tuple[float, ...] = (),
             fingerprint: str = "") -> Result:
    """Reshape per-point moments into grid-shaped mean / standard-error (and quantile) arrays."""
    shape = the_plan.grid_shape + (the_plan.generations + 1,)
    seeds = the_plan.seeds
    metrics = {
        m: {"mean": moments.mean.reshape(shape), "stderr": moments.stderr().reshape(shape)}
        for m, moments in raw.moments.items()
    }
    quantiles = {}
    if probabilities and raw.sample:
        quantiles = {"probabilities": list(probabilities), "seeds": next(iter(raw.sample.values())).shape[1],
                     "metrics": {}}
        for m, sample in raw.sample.items():
            with np.errstate(invalid="ignore"):
                values = np.quantile(sample.astype(np.float64), probabilities, axis=1)
            quantiles["metrics"][m] = {repr(float(q)): v.reshape(shape) for q, v in zip(probabilities, values)}
    theory: dict[str, np.ndarray] = {}
    for index, config in enumerate(the_plan.points):
        curves = the_plan.study.theory(config, the_plan.generations)
        for m, curve in curves.items():
            theory.setdefault(m, np.full((len(the_plan.points), shape[-1]), np.nan))[index] = curve
    theory = {m: v.reshape(shape) for m, v in theory.items()}
    per_seed = {
        m: v.reshape(the_plan.grid_shape + (v.shape[1], shape[-1])) for m, v in raw.per_seed.items()
    }
    config = dict(the_plan.base)
    config["truth"] = the_plan.study.truth(the_plan.points[0])
    config["grid"] = {name: labels for name, labels in the_plan.axes}
    config["key"] = the_plan.key
    config["prng"] = the_plan.prng
    config["chunk"] = raw.chunks
    dims = [name for name, _ in the_plan.axes] + ["generation"]
    coords = {name: labels for name, labels in the_plan.axes}
    coords["generation"] = list(range(the_plan.generations + 1))
    return Result(
        study=the_plan.study.name,
        config=config,
        seeds=seeds,
        generations=the_plan.generations,
        dims=dims,
        coords=coords,
        metrics=metrics,
        theory=theory,
        per_seed=per_seed,
        timing=timing,
        environment=environment(PRNGS[the_plan.prng]),
        quantiles=quantiles,
        fingerprint=fingerprint,
    )


def load(out_dir: str | Path) -> Result:
    """Read a saved run back: a run directory (summary.json + per_seed.npz), or a Dataset file
    written with ``--format netcdf|zarr`` (results.nc, results.zarr)."""
    out = Path(out_dir)
    if out.suffix in (".nc", ".zarr"):
        from .labelled import from_dataset_file

        return from_dataset_file(out)
    if not (out / "summary.json").is_file():
        raise ConfigError(f"load {out}: no summary.json there (a run directory, or a .nc / .zarr file)")
    summary = json.loads((out / "summary.json").read_text())

    per_seed = {}
    if (out / "per_seed.npz").exists():
        with np.load(out / "per_seed.npz") as stored:
            per_seed = {k: stored[k] for k in stored.files if k not in ("dims", "seed") and not k.startswith("coord_")}
    return Result(
        study=summary["study"],
        config=summary["config"],
        seeds=summary["seeds"],
        generations=summary["generations"],
        dims=summary["dims"],
        coords=summary["coords"],
        metrics={m: {k: _nan_array(v) for k, v in s.items()} for m, s in summary["metrics"].items()},
        theory={m: _nan_array(v) for m, v in summary.get("theory", {}).items()},
        per_seed=per_seed,
        timing=summary["timing"],
        environment=summary["environment"],
        quantiles=_quantiles_from_json(summary.get("quantiles")),
        fingerprint=summary.get("fingerprint", ""),
        invocation=summary.get("invocation", {}),
    )


def _quantiles_from_json(stored: dict[str, Any] | None) -> dict[str, Any]:
    if not stored:
        return {}
    metrics = {m: {q: _nan_array(v) for q, v in by_q.items()} for m, by_q in stored["metrics"].items()}
    return {**stored, "metrics": metrics}


def _nan_array(values: Any) -> np.ndarray:
    return np.asarray(_replace_none(values), dtype=np.float64)


def _replace_none(values: Any) -> Any:
    if isinstance(values, list):
        return [_replace_none(v) for v in values]
    return np.nan if values is None else values
