"""Core engine: parameters, schedules, the generational loop and sweeps."""

from .loop import batched_trajectories, trajectory
from .params import ConfigError, Param
from .study import Check, Study, float_dtype
from .sweep import Plan, execute, plan

__all__ = [
    "Check",
    "ConfigError",
    "Param",
    "Plan",
    "Study",
    "batched_trajectories",
    "execute",
    "float_dtype",
    "plan",
    "trajectory",
]
