"""Declared parameters of a study and their validation (plain Python, before any tracing)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from .schedules import ScheduleError, evaluate_schedule


INT32_MAX = 2**31 - 1


class ConfigError(ValueError):
    """A one-line message naming the parameter, the value and what is allowed."""


def _number_text(value: float) -> str:
    return str(int(value)) if float(value).is_integer() and abs(value) >= 1e6 else f"{value:g}"


def _shown(value: Any) -> str:
    """A schedule given from Python, as an error message names it."""
    if callable(value):
        return getattr(value, "__name__", "<function>")
    return f"<sequence of {len(value)}>"


def _number(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


@dataclass(frozen=True)
class Param:
    """One hyperparameter of a study.

    kind: ``int`` | ``float`` | ``choice`` | ``vector`` (a word or a comma list of numbers) |
        ``text`` (any word; a user model's string parameter).
    schedule: the value is an expression in ``t`` evaluated at t = 0..T (an array).
    static: the value changes shapes or structure; grid points that differ in it compile
        separately. Every other parameter is a traced leaf, vmapped over a grid.
    gridable: whether ``--grid`` may sweep it.
    words: named values a numeric parameter also accepts (e.g. ``ridge=adaptive``); the
        study's ``numeric`` turns them into numbers, so they stay traced and gridable.
    """

    name: str
    doc: str
    default: Any
    kind: str = "float"
    schedule: bool = False
    static: bool = False
    gridable: bool = True
    low: float | None = None
    high: float | None = None
    choices: tuple[str, ...] = ()
    words: tuple[str, ...] = ()

    @property
    def upper(self) -> float | None:
        """``high``, or for integers the int32 range their traced values live in."""
        return INT32_MAX if self.high is None and self.kind == "int" else self.high

    def allowed(self) -> str:
        if self.kind == "choice":
            return "one of " + ", ".join(self.choices)
        if self.kind == "text":
            return "a non-empty word"
        what = "an integer" if self.kind == "int" else "a number"
        if self.schedule:
            what += " or a schedule in t"
        bounds = []
        if self.low is not None:
            bounds.append(f">= {_number_text(self.low)}")
        if self.upper is not None:
            bounds.append(f"<= {_number_text(self.upper)}")
        named = " or " + " or ".join(self.words) if self.words else ""
        return what + (" " + " and ".join(bounds) if bounds else "") + named

    def _fail(self, raw: Any, why: str = "") -> ConfigError:
        reason = f" ({why})" if why else ""
        return ConfigError(f"{self.name}={raw}: must be {self.allowed()}{reason}")

    def _check_range(self, values: np.ndarray, raw: Any) -> None:
        if self.low is not None and np.any(values < self.low):
            bad = float(values[np.argmax(values < self.low)])
            raise self._fail(raw, f"got {bad:g}")
        if self.upper is not None and np.any(values > self.upper):
            bad = float(values[np.argmax(values > self.upper)])
            raise self._fail(raw, f"got {bad:g}")

    def _resolve_schedule(self, expression: Any, raw: Any, generations: int) -> np.ndarray:
        shown = raw if raw is not None else _shown(expression)
        try:
            values = evaluate_schedule(expression, generations)
        except ScheduleError as err:
            raise self._fail(shown, str(err)) from None
        if self.kind == "int":
            values = np.rint(values)
        self._check_range(values, shown)
        return values.astype(np.int64) if self.kind == "int" else values

    def resolve(self, raw: Any, generations: int) -> Any:
        """Parse and check a raw value (CLI string or Python value)."""
        if self.kind == "choice":
            if not isinstance(raw, str) or raw not in self.choices:
                raise self._fail(raw)
            return raw
        if self.kind == "text":
            if not isinstance(raw, str) or not raw.strip():
                raise self._fail(raw)
            return raw.strip()
        if self.kind == "vector" or (isinstance(raw, str) and raw.strip() in self.words):
            return raw.strip() if isinstance(raw, str) else raw
        if self.schedule and (callable(raw) or isinstance(raw, (list, tuple, np.ndarray))):
            return self._resolve_schedule(raw, None, generations)  # from Python: a function of t, or T+1 values
        if isinstance(raw, bool) or not isinstance(raw, (int, float, str, np.number)):
            raise self._fail(raw, f"got {type(raw).__name__}")
        text = str(raw).strip()
        literal = _number(text)
        if self.schedule:
            if self.kind == "int" and literal is not None and not literal.is_integer():
                raise self._fail(raw, "not an integer")
            return self._resolve_schedule(text if literal is None else literal, raw, generations)
        if literal is None:
            raise self._fail(raw, "not a number")
        if self.kind == "int":
            if not literal.is_integer():
                raise self._fail(raw, "not an integer")
            value: Any = int(literal)
        else:
            value = float(literal)
        self._check_range(np.asarray([value], dtype=np.float64), raw)
        return value


def fill_initial_size(config: dict[str, Any]) -> dict[str, Any]:
    """Complete ``n0`` (default: ``n`` at t=0) and set ``n[0] = n0``, so that ``n`` is the
    sample-size schedule that actually runs over t = 0..T."""
    config = dict(config)
    n = np.array(config["n"], dtype=np.int64)
    if config["n0"] is None:
        config["n0"] = int(n[0])
    n[0] = config["n0"]
    config["n"] = n
    return config
