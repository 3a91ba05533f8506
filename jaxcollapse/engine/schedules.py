"""Safe schedule expressions in the generation index ``t``.

A schedule is a number, an expression in ``t`` evaluated at t = 0..T (e.g. ``100*(t+1)**1.5``,
``max(t,1)**-0.5``, a step ``0.5*(t<10)``, ``where(t<10, 100, 1000)``, ``floor(t/5)``), or from
Python a function of t (called on the array t = 0..T, or on each t) or a sequence of T+1
numbers. Comparisons give 1 or 0. Expressions are parsed with :mod:`ast` and evaluated by
walking a whitelist of nodes: no ``eval``, no attribute access, no names but ``t``, ``pi``,
``e`` and the functions below.
"""

from __future__ import annotations

import ast
import math

import numpy as np

FUNCTIONS = {
    "min": np.minimum,
    "max": np.maximum,
    "log": np.log,
    "exp": np.exp,
    "sqrt": np.sqrt,
    "floor": np.floor,
    "ceil": np.ceil,
    "abs": np.abs,
    "where": lambda cond, a, b: np.where(cond != 0, a, b),
}
ARITY = {"where": 3}
CONSTANTS = {"pi": math.pi, "e": math.e}
_COMPARE = {
    ast.Lt: np.less,
    ast.LtE: np.less_equal,
    ast.Gt: np.greater,
    ast.GtE: np.greater_equal,
    ast.Eq: np.equal,
    ast.NotEq: np.not_equal,
}
_BINARY = {
    ast.Add: np.add,
    ast.Sub: np.subtract,
    ast.Mult: np.multiply,
    ast.Div: np.divide,
    ast.Pow: np.power,
}


class ScheduleError(ValueError):
    """A schedule expression that does not parse or does not evaluate to finite numbers."""


def _evaluate(node: ast.AST, t: np.ndarray) -> np.ndarray:
    if isinstance(node, ast.Expression):
        return _evaluate(node.body, t)
    if isinstance(node, ast.Constant) and isinstance(node.value, (int, float)) and not isinstance(
        node.value, bool
    ):
        return np.full_like(t, float(node.value))
    if isinstance(node, ast.Name):
        if node.id == "t":
            return t
        if node.id in CONSTANTS:
            return np.full_like(t, CONSTANTS[node.id])
        raise ScheduleError(f"unknown name {node.id!r} (allowed: t, {', '.join(CONSTANTS)})")
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
        value = _evaluate(node.operand, t)
        return -value if isinstance(node.op, ast.USub) else value
    if isinstance(node, ast.BinOp) and type(node.op) in _BINARY:
        return _BINARY[type(node.op)](_evaluate(node.left, t), _evaluate(node.right, t))
    if isinstance(node, ast.Compare) and all(type(op) in _COMPARE for op in node.ops):
        left, holds = _evaluate(node.left, t), np.ones_like(t, dtype=bool)
        for op, comparator in zip(node.ops, node.comparators):  # a < t <= b chains like Python
            right = _evaluate(comparator, t)
            holds &= _COMPARE[type(op)](left, right)
            left = right
        return holds.astype(np.float64)
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and not node.keywords:
        name = node.func.id
        if name not in FUNCTIONS:
            raise ScheduleError(f"unknown function {name!r} (allowed: {', '.join(FUNCTIONS)})")
        args = [_evaluate(a, t) for a in node.args]
        if name in ("min", "max"):
            if len(args) < 2:
                raise ScheduleError(f"{name}() takes at least two arguments")
            out = args[0]
            for a in args[1:]:
                out = FUNCTIONS[name](out, a)
            return out
        arity = ARITY.get(name, 1)
        if len(args) != arity:
            raise ScheduleError(f"{name}() takes {arity} argument{'s' if arity > 1 else ''}")
        return FUNCTIONS[name](*args)
    raise ScheduleError(f"unsupported syntax {ast.unparse(node)!r}")


def evaluate_schedule(expression, generations: int) -> np.ndarray:
    """Evaluate ``expression`` (number, text, function of t, or T+1 numbers) at
    t = 0..generations; returns a float64 array of length T+1."""
    t = np.arange(generations + 1, dtype=np.float64)
    if isinstance(expression, (int, float, np.number)) and not isinstance(expression, (bool, np.bool_)):
        return np.full_like(t, float(expression))
    if callable(expression):
        return _finite(_call(expression, t), getattr(expression, "__name__", "the function"))
    if isinstance(expression, (list, tuple, np.ndarray)):
        try:
            values = np.asarray(expression, dtype=np.float64)
        except (TypeError, ValueError):
            raise ScheduleError("a sequence schedule must hold numbers") from None
        if values.shape != t.shape:
            raise ScheduleError(f"a sequence schedule needs T+1 = {t.size} values (one per generation 0..T), "
                                f"got shape {values.shape}")
        return _finite(values, "the sequence")
    text = str(expression).strip()
    try:
        tree = ast.parse(text, mode="eval")
    except SyntaxError as err:
        raise ScheduleError(f"cannot parse {text!r}: {err.msg}") from None
    with np.errstate(all="ignore"):
        values = np.asarray(_evaluate(tree, t), dtype=np.float64)
    return _finite(values, repr(text))


def _call(function, t: np.ndarray) -> np.ndarray:
    """``function`` on the whole array t, or else on each t."""
    try:
        with np.errstate(all="ignore"):
            values = np.asarray(function(t), dtype=np.float64)
        if values.shape == t.shape:
            return values
        if values.shape == ():
            return np.full_like(t, float(values))
    except Exception:  # noqa: BLE001 (a scalar-only function): try it t by t
        pass
    try:
        with np.errstate(all="ignore"):
            return np.asarray([float(function(int(k))) for k in t], dtype=np.float64)
    except Exception as err:  # noqa: BLE001 (the user's function may fail in any way)
        raise ScheduleError(f"calling it on t = 0..T failed ({type(err).__name__}: {err})"[:200]) from None


def _finite(values: np.ndarray, what: str) -> np.ndarray:
    if not np.all(np.isfinite(values)):
        bad = int(np.argmax(~np.isfinite(values)))
        raise ScheduleError(f"{what} is not finite at t={bad}")
    return values


def split_list(text: str) -> list[str]:
    """Split ``a,b,max(t,1)`` on commas outside parentheses."""
    parts, depth, current = [], 0, []
    for char in text:
        if char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
        if char == "," and depth == 0:
            parts.append("".join(current).strip())
            current = []
        else:
            current.append(char)
    parts.append("".join(current).strip())
    return parts
