"""What a study or preset takes and returns: ``jaxcollapse describe`` and the docs' tables.

Everything here is read from the ``Param`` declarations, the study's ``metrics`` /
``metric_docs`` and the ``Preset`` records, so the terminal and the docs site cannot drift from
the code.
"""

from __future__ import annotations

from typing import Any

from .engine.params import ConfigError, Param
from .engine.study import Study


def _text(value: Any) -> str:
    if value is None:
        return "(derived)"
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e15:
        return f"{value:g}"
    if isinstance(value, (list, tuple)):
        return ",".join(_text(v) for v in value)
    return str(value)


def _param_row(p: Param) -> dict[str, str]:
    return {
        "name": p.name,
        "meaning": p.doc,
        "default": _text(p.default),
        "allowed": p.allowed(),
        "grid": "yes" if p.gridable else "no",
        "schedule": "yes" if p.schedule else "no",
        "compiles apart": "yes" if p.static else "no",
    }


def _metric_rows(study: type[Study]) -> list[dict[str, str]]:
    docs = getattr(study, "metric_docs", {}) or {}
    return [{"metric": m, "meaning": docs.get(m, "")} for m in study.metrics]


def _markdown_table(rows: list[dict[str, str]]) -> str:
    if not rows:
        return "(none)\n"
    header = list(rows[0])
    escape = lambda s: str(s).replace("|", "\\|")  # noqa: E731
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(escape(r[h]) for h in header) + " |" for r in rows]
    return "\n".join(lines) + "\n"


def params_markdown(study: type[Study] | str) -> str:
    """The study's parameter table (markdown), from its ``Param`` declarations."""
    return _markdown_table([_param_row(p) for p in _study(study).params])


def metrics_markdown(study: type[Study] | str) -> str:
    """The study's metric table (markdown), from ``metrics`` and ``metric_docs``."""
    return _markdown_table(_metric_rows(_study(study)))


def presets_markdown(study: type[Study] | str) -> str:
    """The presets of a study (markdown): name, description, what each sets."""
    from .studies import PRESETS

    name = _study(study).name
    rows = [{"preset": f"`{p.name}`", "what it runs": p.description, "sets": _preset_sets(p.resolved())}
            for p in sorted(PRESETS.values(), key=lambda p: p.name) if p.study == name]
    return _markdown_table(rows)


def _preset_sets(spec: dict[str, Any]) -> str:
    parts = [f"{k}={_text(v)}" for k, v in spec["settings"].items()]
    parts += [f"{k} in {{{_text(v)}}}" for k, v in spec["grids"].items()]
    parts += [f"seeds={spec['seeds']}", f"generations={spec['generations']}"]
    if spec.get("keep") is not None:
        parts.append(f"keep={','.join(spec['keep']) or 'none'}")
    return "; ".join(parts)


def _study(study: type[Study] | str) -> type[Study]:
    from .studies import get_study

    return get_study(study)


def _aligned(rows: list[dict[str, str]], columns: list[str], indent: str = "  ") -> list[str]:
    widths = {c: max(len(c), *(len(r[c]) for r in rows)) for c in columns[:-1]}
    head = indent + "  ".join(c.ljust(widths[c]) for c in columns[:-1]) + "  " + columns[-1]
    return [head] + [indent + "  ".join(r[c].ljust(widths[c]) for c in columns[:-1]) + "  " + r[columns[-1]]
                     for r in rows]


def describe_study(study: type[Study]) -> str:
    lines = [f"study {study.name}: {study.description}", "", "parameters (grid: --grid may sweep it; "
             "schedule: an expression in t; compiles apart: grid points differing in it compile separately):"]
    rows = [_param_row(p) for p in study.params]
    lines += _aligned(rows, ["name", "default", "grid", "schedule", "compiles apart", "allowed"])
    lines += ["", "meaning:"]
    lines += [f"  {p.name}: {p.doc}" for p in study.params]
    lines += ["", "metrics (per seed and generation; summary.json holds mean, stderr and any closed form):"]
    lines += _aligned(_metric_rows(study), ["metric", "meaning"])
    from .studies import PRESETS

    presets = sorted(p.name for p in PRESETS.values() if p.study == study.name)
    if presets:
        lines += ["", "presets: " + ", ".join(presets) + "  (jaxcollapse describe PRESET)"]
    return "\n".join(lines)


def describe_preset(name: str) -> str:
    from .studies import get_preset, get_study

    preset = get_preset(name)
    study = get_study(preset.study)
    full, quick = preset.resolved(False), preset.resolved(True)
    lines = [f"preset {preset.name}: {preset.description}", f"  study        {study.name} ({study.description})"]
    for label, spec in (("sets", full), ("--quick sets", quick)):
        lines.append(f"  {label:<12} {_preset_sets(spec)}")
    unset = [p.name for p in study.params if p.name not in full["settings"] and p.name not in full["grids"]]
    if unset:
        lines.append("  defaults     " + ", ".join(f"{n}={_text(study.param(n).default)}" for n in unset))
    if preset.figure is not None:
        lines.append("  figure       the paper's own figure, beside figure.png")
    lines.append(f"  overrides    jaxcollapse reproduce {preset.name} --set NAME=VALUE --grid NAME=V1,V2 "
                 "--seeds N --generations T")
    lines.append(f"  parameters   jaxcollapse describe {study.name}")
    return "\n".join(lines)


def describe(name: str) -> str:
    """A study's parameters and metrics, or exactly what a preset sets (ConfigError with the
    closest known name when ``name`` is neither)."""
    from .studies import PRESETS, STUDIES
    from .studies.registry import closest, discover

    if name in PRESETS:
        return describe_preset(name)
    if name not in STUDIES and ":" not in name:
        discover()
        if name not in STUDIES:
            known = sorted(STUDIES) + sorted(PRESETS)
            raise ConfigError(f"describe {name}: not a study or preset{closest(name, known)} "
                              "(jaxcollapse list shows them all)")
    return describe_study(_study(name))
