"""Labelled views of a Result: an xarray Dataset, a long pandas DataFrame, and the Dataset
files of ``--format netcdf|zarr`` (read back by ``jc.load``).

Dataset layout (``Result.to_xarray()``): dims ``result.dims`` (grid axes in summary.json's
order, then ``generation``) and ``statistic`` = mean, stderr, theory, then ``q<p>`` for each
requested quantile (NaN where a closed form or quantile does not exist); one data variable per
metric; ``attrs``: study, seeds, generations, fingerprint, and config / environment / timing /
invocation / quantile_seeds as JSON text (netCDF attributes are flat).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from .engine.params import ConfigError

FORMATS = ("netcdf", "zarr")
FILES = {"netcdf": "results.nc", "zarr": "results.zarr"}


def _statistics(result) -> list[str]:
    probabilities = result.quantiles.get("probabilities", []) if result.quantiles else []
    return ["mean", "stderr", "theory"] + [f"q{float(p):g}" for p in probabilities]


def _stacked(result, metric: str) -> np.ndarray:
    stats = result.metrics[metric]
    shape = np.shape(stats["mean"])
    theory = result.theory.get(metric)
    layers = [stats["mean"], stats["stderr"], np.full(shape, np.nan) if theory is None else theory]
    for p in result.quantiles.get("probabilities", []) if result.quantiles else []:
        values = result.stored_quantile(metric, p)
        layers.append(np.full(shape, np.nan) if values is None else values)
    return np.stack([np.asarray(v, np.float64) for v in layers], axis=-1)


def _coords(result, dims: list[str]) -> dict[str, Any]:
    coords = {}
    for dim in dims:
        labels = result.coords.get(dim)
        if labels is None:
            continue
        values = np.asarray(labels)
        coords[dim] = values.astype(str) if values.dtype == object else values
    return coords


def to_xarray(result, per_seed: bool = False):
    import xarray as xr

    attrs = {
        "study": result.study, "seeds": result.seeds, "generations": result.generations,
        "fingerprint": result.fingerprint,
        **{name: json.dumps(value, default=str) for name, value in (
            ("config", result.config), ("environment", result.environment), ("timing", result.timing),
            ("invocation", result.invocation), ("quantile_seeds", (result.quantiles or {}).get("seeds")))},
    }
    if per_seed:
        dims = list(result.dims[:-1]) + ["seed", "generation"]
        coords = _coords(result, dims)
        if result.per_seed:
            seeds = next(iter(result.per_seed.values())).shape[-2]
            coords["seed"] = np.arange(seeds)
        variables = {m: (dims, np.asarray(v)) for m, v in result.per_seed.items()}
        return xr.Dataset(variables, coords=coords, attrs=attrs)
    dims = list(result.dims) + ["statistic"]
    coords = _coords(result, result.dims)
    coords["statistic"] = _statistics(result)
    variables = {m: (dims, _stacked(result, m)) for m in result.metrics}
    return xr.Dataset(variables, coords=coords, attrs=attrs)


def to_dataframe(result):
    import pandas as pd

    statistics = _statistics(result)
    grid_dims = list(result.dims[:-1])
    frames = []
    for metric in result.metrics:
        stacked = _stacked(result, metric)  # dims + [statistic]
        index = np.indices(stacked.shape[:-1]).reshape(len(result.dims), -1)
        columns: dict[str, Any] = {}
        for axis, dim in enumerate(result.dims):
            labels = np.asarray(result.coords[dim], dtype=object)
            columns[dim] = labels[index[axis]]
        columns["metric"] = metric
        flat = stacked.reshape(-1, len(statistics))
        for k, stat in enumerate(statistics):
            columns[stat] = flat[:, k]
        frames.append(pd.DataFrame(columns))
    frame = pd.concat(frames, ignore_index=True)
    for dim in grid_dims + ["generation"]:
        frame[dim] = _numeric_or_text(frame[dim])
    return frame


def _numeric_or_text(column):
    import pandas as pd

    try:
        return pd.to_numeric(column)
    except (TypeError, ValueError):
        return column.astype(str)


def check_format(formats: str | None) -> tuple[str, ...]:
    """``--format``: a comma list of netcdf, zarr (ConfigError before anything runs)."""
    if not formats:
        return ()
    items = tuple(dict.fromkeys(f.strip().lower() for f in str(formats).split(",") if f.strip()))
    bad = [f for f in items if f not in FORMATS]
    if bad or not items:
        raise ConfigError(f"format={formats}: must be a comma list of {', '.join(FORMATS)}")
    missing = {"netcdf": "scipy", "zarr": "zarr"}
    for fmt in items:
        try:
            __import__(missing[fmt])
        except ImportError:
            raise ConfigError(f"format={fmt}: needs the {missing[fmt]} package (pip install {missing[fmt]})") from None
    return items


def write_dataset(result, out: Path, fmt: str) -> Path:
    """Write ``result.to_xarray()`` beside summary.json (netCDF via scipy, or zarr)."""
    path = Path(out) / FILES[fmt]
    dataset = to_xarray(result)
    if fmt == "netcdf":
        tmp = path.with_name(path.name + ".tmp")
        dataset.to_netcdf(tmp, engine="scipy")
        tmp.replace(path)
    else:
        dataset.to_zarr(path, mode="w")
    from .results import record_outputs

    record_outputs(Path(out), [path.name])
    return path


def from_dataset_file(path: Path):
    """The Result that ``write_dataset`` wrote (means, stderrs, theory and quantiles; the
    per-seed arrays stay in per_seed.npz)."""
    import xarray as xr

    from .results import Result

    if not path.exists():
        raise ConfigError(f"load {path}: no such file")
    dataset = xr.open_zarr(path) if path.suffix == ".zarr" else xr.open_dataset(path, engine="scipy")
    with dataset:
        attrs = dict(dataset.attrs)
        statistics = [str(s) for s in dataset["statistic"].values]
        dims = [d for d in next(iter(dataset.data_vars.values())).dims if d != "statistic"]
        coords = {d: _plain(dataset[d].values) for d in dims}
        metrics, theory, quantile_metrics = {}, {}, {}
        for name, variable in dataset.data_vars.items():
            values = np.asarray(variable.transpose(*dims, "statistic").values, np.float64)
            metrics[name] = {"mean": values[..., 0], "stderr": values[..., 1]}
            if np.any(np.isfinite(values[..., 2])):
                theory[name] = values[..., 2]
            quantile_metrics[name] = {repr(float(s[1:])): values[..., k] for k, s in enumerate(statistics) if s.startswith("q")}
    quantile_seeds = json.loads(attrs.get("quantile_seeds", "null"))
    quantiles = {}
    if any(quantile_metrics.values()):
        probabilities = [float(s[1:]) for s in statistics if s.startswith("q")]
        quantiles = {"probabilities": probabilities, "seeds": quantile_seeds, "metrics": quantile_metrics}
    return Result(
        study=attrs["study"], config=json.loads(attrs["config"]), seeds=int(attrs["seeds"]),
        generations=int(attrs["generations"]), dims=dims, coords=coords, metrics=metrics, theory=theory,
        timing=json.loads(attrs["timing"]), environment=json.loads(attrs["environment"]), quantiles=quantiles,
        fingerprint=str(attrs.get("fingerprint", "")), invocation=json.loads(attrs.get("invocation", "{}")),
    )


def _plain(values: np.ndarray) -> list[Any]:
    return [v.item() if isinstance(v, np.generic) else v for v in values.tolist()]
