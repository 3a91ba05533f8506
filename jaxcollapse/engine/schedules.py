"""Safe schedule expressions in the generation index ``t``.

A schedule is a number or an arithmetic expression in ``t`` (e.g. ``100*(t+1)**1.5``,
``max(t,1)**-0.5``) evaluated at t = 0..T. Expressions are parsed with :mod:`ast` and
evaluated by walking a whitelist of nodes: no ``eval``, no attribute access, no names but
``t`` and the functions below.
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
}
CONSTANTS = {"pi": math.pi, "e": math.e}
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
        if len(args) != 1:
            raise ScheduleError(f"{name}() takes one argument")
        return FUNCTIONS[name](args[0])
    raise ScheduleError(f"unsupported syntax {ast.unparse(node)!r}")


def evaluate_schedule(expression: str | float | int, generations: int) -> np.ndarray:
    """Evaluate ``expression`` at t = 0..generations; returns float64 array of length T+1."""
    t = np.arange(generations + 1, dtype=np.float64)
    if isinstance(expression, (int, float)) and not isinstance(expression, bool):
        return np.full_like(t, float(expression))
    text = str(expression).strip()
    try:
        tree = ast.parse(text, mode="eval")
    except SyntaxError as err:
        raise ScheduleError(f"cannot parse {text!r}: {err.msg}") from None
    with np.errstate(all="ignore"):
        values = np.asarray(_evaluate(tree, t), dtype=np.float64)
    if not np.all(np.isfinite(values)):
        bad = int(np.argmax(~np.isfinite(values)))
        raise ScheduleError(f"{text!r} is not finite at t={bad}")
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
