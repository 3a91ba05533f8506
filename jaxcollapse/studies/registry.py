"""Studies and presets, registered by name."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

from ..engine.params import ConfigError
from ..engine.study import Study

STUDIES: dict[str, type[Study]] = {}
PRESETS: dict[str, "Preset"] = {}


@dataclass(frozen=True)
class Preset:
    """A named, reproducible run of a study: its settings, grids and sizes.

    ``quick`` overrides any of settings/grids/seeds/generations for a small run (CI,
    notebooks). ``figure(result, out_dir)`` optionally draws the paper's own figure in
    addition to the standard plots. ``keep`` names the metrics whose per-seed arrays are
    saved by default (None: all), for presets whose per-seed arrays would be too large.
    """

    name: str
    study: str
    description: str
    settings: dict[str, Any] = field(default_factory=dict)
    grids: dict[str, list[Any]] = field(default_factory=dict)
    seeds: int = 100
    generations: int = 100
    quick: dict[str, Any] = field(default_factory=dict)
    figure: Callable | None = None
    keep: tuple[str, ...] | None = None

    def resolved(self, quick: bool = False) -> dict[str, Any]:
        out = {
            "study": self.study,
            "settings": dict(self.settings),
            "grids": dict(self.grids),
            "seeds": self.seeds,
            "generations": self.generations,
            "keep": self.keep,
        }
        if quick:
            for name, value in self.quick.items():
                out[name] = dict(value) if isinstance(value, dict) else value
        return out


def closest(name: str, known: list[str]) -> str:
    """``; did you mean 'X'?`` for the nearest known name, or nothing."""
    import difflib

    match = difflib.get_close_matches(name, known, n=1, cutoff=0.5)
    return f"; did you mean {match[0]!r}?" if match else ""


def register_study(cls: type[Study]) -> type[Study]:
    STUDIES[cls.name] = cls
    return cls


def register_preset(preset: Preset) -> Preset:
    PRESETS[preset.name] = preset
    return preset


ENTRY_POINTS = "jaxcollapse.studies"  # other packages register studies or Models under this group
_discovered = False


def discover() -> None:
    """Register what installed packages publish under the ``jaxcollapse.studies`` entry-point
    group (a Study subclass or a ``jc.Model`` each); a broken plug-in is skipped with a warning."""
    global _discovered
    if _discovered:
        return
    _discovered = True
    import warnings
    from importlib.metadata import entry_points

    for point in entry_points(group=ENTRY_POINTS):
        try:
            study = as_study(point.load())
        except Exception as err:  # noqa: BLE001 (someone else's package)
            warnings.warn(f"jaxcollapse: skipped the study plug-in {point.name!r}: {type(err).__name__}: {err}")
            continue
        STUDIES.setdefault(study.name, study)


def as_study(obj: Any) -> type[Study]:
    """A Study subclass, or the Study of a ``jc.Model``."""
    from ..models import Model, study_for

    if isinstance(obj, Model):
        return study_for(obj)
    if isinstance(obj, type) and issubclass(obj, Study):
        return obj
    raise ConfigError(f"{obj!r}: expected a study name, a Study subclass or a jc.Model")


def _import(spec: str) -> type[Study]:
    """``package.module:attr`` -> the Study (or Model) it names."""
    import importlib

    module_name, _, attr = spec.partition(":")
    try:
        module = importlib.import_module(module_name)
    except Exception as err:  # noqa: BLE001 (the user's module may fail in any way)
        raise ConfigError(f"{spec}: cannot import {module_name!r} ({type(err).__name__}: {err})"[:400]) from None
    target = module
    for part in attr.split("."):
        if not hasattr(target, part):
            raise ConfigError(f"{spec}: module {module_name!r} has no attribute {attr!r}")
        target = getattr(target, part)
    return as_study(target)


def get_study(name: Any) -> type[Study]:
    """A registered study by name, ``package.module:attr``, a Study subclass or a ``jc.Model``."""
    if not isinstance(name, str):
        return as_study(name)
    if ":" in name:
        return _import(name)
    if name not in STUDIES:
        discover()
    if name not in STUDIES:
        raise ConfigError(f"unknown study {name!r}{closest(name, sorted(STUDIES) + sorted(PRESETS))} "
                          f"(known: {', '.join(sorted(STUDIES))})")
    return STUDIES[name]


def get_preset(name: str) -> Preset:
    if name not in PRESETS:
        raise ConfigError(f"unknown preset {name!r}{closest(name, sorted(PRESETS))} (known: {', '.join(sorted(PRESETS))})")
    return PRESETS[name]
