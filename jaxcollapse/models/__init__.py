"""Models behind one protocol: fit(key, rows, weights, previous, hp) and sample(key, theta, size, hp),
with optional sufficient statistics. ``Model`` is the public way in; the studies' families use
the same data loop (``engine.data``)."""

from ..engine.data import Statistics
from .model import Model, ModelStudy, study_for

__all__ = ["Model", "ModelStudy", "Statistics", "study_for"]
