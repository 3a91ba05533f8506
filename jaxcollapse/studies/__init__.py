"""One module per study; importing this package registers every study and preset."""

from . import contaminated, dcca, discrete, gaussian, gmm, kde, neural_filter, next_token, regression  # noqa: F401  (registration side effects)
from .registry import PRESETS, STUDIES, Preset, get_preset, get_study

__all__ = ["PRESETS", "STUDIES", "Preset", "get_preset", "get_study"]
