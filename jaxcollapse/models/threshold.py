"""Thresholds f(x) = 1[x >= theta] on [0, 1]: exact weighted ERM over an accumulating sample,
kept as a sorted fixed-capacity buffer with running score sums, so that a round costs a few
O(capacity) gathers rather than a sort.

A point's contribution to the empirical risk of theta is ``score * (1[x < theta])`` up to a
constant, with ``score = u - c v`` (u = 2y - 1; v = 2 f_prev(x) - 1 for the loss correction,
0 where none applies): placing theta in the gap after the k-th smallest point costs the prefix
sum P_k, so ERM is an argmin over the prefix sums of the sorted buffer.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jaxtyping import Array, Float


def insert(
    points: Float[Array, " c"], prefix: Float[Array, "k c"], new: Float[Array, " m"], scores: Float[Array, "k m"]
) -> tuple[Float[Array, " c"], Float[Array, "k c"]]:
    """Insert ``new`` points (unsorted; +inf marks an absent point) with per-point ``scores``
    into the sorted ``points`` (+inf padded), whose running sums of scores are ``prefix``
    (prefix[:, i] = sum over the i + 1 smallest points). Only gathers and one integer cumsum
    over the capacity: no sort or scatter of the buffer. Points past the capacity are dropped."""
    order = jnp.argsort(new)
    new, scores = new[order], scores[:, order]
    capacity = points.shape[0]
    slot = jnp.arange(new.shape[0]) + jnp.searchsorted(points, new, side="right")  # slots of new points
    is_new = jnp.zeros(capacity, jnp.int32).at[slot].add(1, mode="drop")
    new_upto = jnp.cumsum(is_new)  # new points at slots <= p
    old_upto = jnp.arange(1, capacity + 1) - new_upto  # old points at slots <= p
    merged = jnp.where(is_new > 0, new[jnp.maximum(new_upto - 1, 0)], points[jnp.maximum(old_upto - 1, 0)])
    new_sums = jnp.cumsum(scores, axis=1)
    merged_prefix = (jnp.where(old_upto > 0, prefix[:, jnp.maximum(old_upto - 1, 0)], 0.0)
                     + jnp.where(new_upto > 0, new_sums[:, jnp.maximum(new_upto - 1, 0)], 0.0))
    return merged, merged_prefix


def erm(points: Float[Array, " c"], count, prefix: Float[Array, " c"], low, high) -> Float[Array, ""]:
    """The threshold minimising the prefix-sum risk over the first ``count`` sorted points in
    [low, high]. Within a minimising gap theta is its midpoint; when several gaps tie, the
    midpoint of the first and last (symmetric under reflection)."""
    capacity = points.shape[0]
    gaps = jnp.arange(capacity + 1)
    risk = jnp.where(gaps <= count, jnp.concatenate([jnp.zeros(1, prefix.dtype), prefix]), jnp.inf)
    best = jnp.min(risk)
    first = jnp.argmax(risk == best)
    last = capacity - jnp.argmax(risk[::-1] == best)
    left = jnp.concatenate([jnp.reshape(low, (1,)).astype(points.dtype), points])
    right = jnp.where(gaps >= count, high, jnp.concatenate([points, jnp.reshape(high, (1,)).astype(points.dtype)]))
    middle = (left + right) / 2
    return (middle[first] + middle[last]) / 2


def fit(points, count, label_sums, correction_sums, correction, low, high):
    """Weighted ERM for each learner (leading axis): risk prefix U - c V, from the running sums
    of u and v kept separately so that exact ties stay bitwise ties."""
    risk = label_sums - correction[:, None] * correction_sums
    return jax.vmap(erm, in_axes=(None, None, 0, None, None))(points, count, risk, low, high)
