"""Homogeneous halfspaces f(x) = 1[w.x >= 0] with x ~ N(0, I_d), fitted by weighted logistic
regression (a convex surrogate for 0-1 ERM, which is NP-hard on non-separable data).

Newton's method on  sum_i omega_i log(1 + exp(-s_i w.x_i)) + ridge/2 ||w||^2  (s = +-1),
warm-started from the previous round's weights.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jaxtyping import Array, Float


def logistic_fit(
    w: Float[Array, " d"], x: Float[Array, "c d"], sign: Float[Array, " c"], weight: Float[Array, " c"], ridge, steps: int
) -> Float[Array, " d"]:
    """``steps`` Newton iterations from ``w``; rows of zero weight are absent."""
    eye = jnp.eye(x.shape[1], dtype=x.dtype)

    def newton(w, _):
        margin = sign * (x @ w)
        p = jax.nn.sigmoid(-margin)  # derivative of log(1 + e^-m) is -p
        grad = -x.T @ (weight * sign * p) + ridge * w
        hess = (x * (weight * p * (1 - p))[:, None]).T @ x + ridge * eye
        return w - jnp.linalg.solve(hess, grad), None

    return jax.lax.scan(newton, w, None, steps)[0]


def angle_error(w: Float[Array, " d"], truth: Float[Array, " d"]) -> Float[Array, ""]:
    """P_x[sign(w.x) != sign(truth.x)] = angle(w, truth)/pi for isotropic x (truth unit norm)."""
    cosine = jnp.dot(w, truth) / jnp.maximum(jnp.linalg.norm(w), jnp.finfo(w.dtype).tiny)
    return jnp.arccos(jnp.clip(cosine, -1.0, 1.0)) / jnp.pi
