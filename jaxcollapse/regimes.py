"""How each generation's training data are formed.

Regimes are traced integer codes, so a grid over regimes that share shapes vmaps under one
compile; a study turns the code into arithmetic masks (``jnp.where``), never Python ``if``.

* ``replace``: train only on ``n_t`` samples of the previous model.
* ``mix``: ``round(alpha_t * n_t)`` fresh real samples plus the rest synthetic, pooled and
  fitted without knowing which is which (contamination-agnostic).
* ``accumulate``: the real data plus every synthetic batch so far (Gerstgrasser et al.).
* ``accumulate-subsample``: accumulate, then train on a uniform ``n_t``-subset drawn without
  replacement (Kazdan et al.'s fixed-compute variant). It needs the pooled points themselves,
  so it is a distinct static structure (a fixed-capacity buffer with a count).
"""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np

from .engine.params import ConfigError

REGIMES = ("replace", "mix", "accumulate", "accumulate-subsample")
REPLACE, MIX, ACCUMULATE, ACCUMULATE_SUBSAMPLE = range(len(REGIMES))
NEEDS_POOL = ("accumulate-subsample",)
POOLED = ("accumulate", "accumulate-subsample")  # regimes whose training data grow with t


def code(regime: str) -> int:
    return REGIMES.index(regime)


def real_count(regime, alpha_t, n_t):
    """Fresh real samples in generation t: round(alpha_t n_t) under ``mix``, else 0."""
    return jnp.where(regime == MIX, jnp.round(alpha_t * n_t), 0).astype(n_t.dtype)


def check_alpha(config) -> None:
    """Fresh real data (alpha > 0) only exist under ``mix``: refuse them elsewhere (ConfigError)."""
    if config["regime"] != "mix" and np.any(np.asarray(config["alpha"]) > 0):
        raise ConfigError(f"alpha: fresh real data need regime=mix (got regime={config['regime']})")
