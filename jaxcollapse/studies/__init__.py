"""One module per study; importing this package registers every study and preset."""

from . import (  # noqa: F401  (registration side effects)
    contaminated, curation, dcca, discrete, gaussian, glm, gmm, kde, neural_filter, next_token, pcpo, regression,
    self_consuming_diffusion, verified_retraining, strong_collapse, verification,
)
from .registry import PRESETS, STUDIES, Preset, get_preset, get_study

__all__ = ["PRESETS", "STUDIES", "Preset", "get_preset", "get_study"]
