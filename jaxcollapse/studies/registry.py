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


def register_study(cls: type[Study]) -> type[Study]:
    STUDIES[cls.name] = cls
    return cls


def register_preset(preset: Preset) -> Preset:
    PRESETS[preset.name] = preset
    return preset


def get_study(name: str) -> type[Study]:
    if name not in STUDIES:
        raise ConfigError(f"unknown study {name!r} (known: {', '.join(sorted(STUDIES))})")
    return STUDIES[name]


def get_preset(name: str) -> Preset:
    if name not in PRESETS:
        raise ConfigError(f"unknown preset {name!r} (known: {', '.join(sorted(PRESETS))})")
    return PRESETS[name]
