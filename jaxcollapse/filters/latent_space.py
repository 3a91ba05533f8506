"""Latent space filtering (Cai et al. 2025): score samples by how confidently a probe trained
once on real latents recognises their class, and keep the top N of a pool.

Latents: h_j(x) = mean over ``draws`` noise draws of e0(x_{t_j}, t_j), the frozen generation-0
feature map read at noise level t_j (x_t = sqrt(abar_t) x + sqrt(1 - abar_t) eps).
Probe: one softmax regression per timestep on standardised real latents (optax Adam, full
batch, an L2 penalty). Confidence: xi_j(x, y) = softmax(probe_j(h_j(x)))_y.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import optax
from jaxtyping import Array, Float, Int

from ..models.diffusion import Schedule, noised


def latents(feature_fn, key, x: Float[Array, "n dim"], steps: Int[Array, " L"], schedule: Schedule,
            draws: int) -> Float[Array, "L n h"]:
    """h_j(x) for each 0-based diffusion step in ``steps``; ``feature_fn(x_t [n, dim], step)``."""
    def at(step, k):
        def one(k):
            return feature_fn(noised(schedule, x, step, jax.random.normal(k, x.shape, x.dtype)), step)
        return jnp.mean(jax.vmap(one)(jax.random.split(k, draws)), axis=0)

    return jax.vmap(at)(steps, jax.random.split(key, steps.shape[0]))


def train_probe(features: Float[Array, "L n h"], labels: Int[Array, " n"], classes: int, *, steps: int,
                learning_rate, l2):
    """Per-timestep softmax regression on standardised features; returns the probe pytree."""
    centre = features.mean(1, keepdims=True)
    scale = features.std(1, keepdims=True) + 1e-6
    z = (features - centre) / scale
    onehot = jax.nn.one_hot(labels, classes, dtype=features.dtype)
    weights = {"w": jnp.zeros((features.shape[0], features.shape[2], classes), features.dtype),
               "b": jnp.zeros((features.shape[0], 1, classes), features.dtype)}

    def loss(p):
        logits = jnp.einsum("lnh,lhc->lnc", z, p["w"]) + p["b"]
        return -jnp.mean(jnp.sum(onehot * jax.nn.log_softmax(logits), -1)) + l2 * jnp.sum(p["w"] ** 2)

    adam = optax.adam(learning_rate)

    def update(carry, _):
        p, state = carry
        updates, state = adam.update(jax.grad(loss)(p), state, p)
        return (optax.apply_updates(p, updates), state), None

    (weights, _), _ = jax.lax.scan(update, (weights, adam.init(weights)), None, length=steps)
    return {**weights, "centre": centre, "scale": scale}


def confidence(probe, features: Float[Array, "L n h"], labels: Int[Array, " n"]) -> Float[Array, "L n"]:
    """xi_j = softmax(probe_j(h_j))_y."""
    logits = jnp.einsum("lnh,lhc->lnc", (features - probe["centre"]) / probe["scale"], probe["w"]) + probe["b"]
    return jnp.take_along_axis(jax.nn.softmax(logits), labels[None, :, None], axis=2)[..., 0]


def top_n(scores: Float[Array, " P"], valid, n: int) -> Int[Array, " n"]:
    """Indices of the n highest scores among valid rows (``lax.top_k``: static shapes)."""
    return jax.lax.top_k(jnp.where(valid, scores, -jnp.inf), n)[1]
