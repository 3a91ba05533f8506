"""A contraction-conditioned sample filter (Han et al. 2025), trained with optax in the scan.

Between two fits, the filter reweights the synthetic sample drawn from the previous model so
that the weighted refit moves toward an *anchor* and the error contracts. Han et al.'s
Assumption 2.3 asks for a state-dependent operator A(e), with the error evolving as
e' = A(e) e + noise and A(e)^T P A(e) <= (1 - c) P. The filter learns that condition through
the hinge

    loss(phi) = E_u [ max(0, |A(u) u|^2 - (1 - c) |u|^2) / (|u|^2 + p/n) ]      (1)

* u is a state, in Fisher-standardised coordinates relative to the anchor, so P = I.
* The denominator puts states of every size on one scale; p/n is the noise floor of one
  refit.
* The training states are u ~ N(0, (radius^2 / n) I) around the anchor, so sampling noise
  is the unit.
* A(u) u = E[u' | u] is estimated with a control variate. The same draws are refitted twice,
  with the filter's weights (u'_w) and without them (u'_1), and then
  A(u) u ~ u + u'_w - u'_1. E[u'_1 | u] = u because the estimator is unbiased; in the
  log-variance this holds up to O(1/n).
* The sampling noise, common to both refits, cancels. The hinge therefore trains the
  deterministic contraction of Assumption 2.3 and is not swamped by the noise of
  Assumption 2.1. The realised |u'|^2 cannot fall below the noise floor, which leaves no
  gradient signal near the anchor.

What the filter sees, and what it may not see:
* it sees the synthetic sample (its standardised sufficient-statistic features),
* the previous fit,
* and the anchor, which is the generation-0 fit to the real data;
* it never sees the true parameters.

It can therefore contract toward the anchor, never toward the truth. The error it keeps is
the generation-0 error plus a stationary noise floor, not 0 (see the study's docstring).

Each sample i gets the log-weight MLP(f_i, d, f_i (x) d), where:
* f_i are the sample's features under the previous fit;
* d = -u is the anchor's displacement from the previous fit;
* f_i (x) d is their outer product.

The product features make the exponential tilt exp(beta(d) . f), which is the exact
importance weight between two members of an exponential family, easy to represent. The
weights are then rescaled so that sum w = sum w^2 = ESS (Kish). A weighted ddof=1 variance
is then the reliability-weighted unbiased one.

A *view* adapts a model family to the filter. It is any object with:
  ``n_params`` (p), ``n_features`` (q),
  ``draw(key, model, n_max) -> (samples, features [n_max, q])``,
  ``weighted_fit(model, samples, weights) -> model``,
  ``standardize(model, anchor) -> u [p]``,  ``perturb(anchor, u) -> model``.
"""

from __future__ import annotations

from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import optax
from jaxtyping import Array, Float, PRNGKeyArray

MAX_LOG_WEIGHT = 8.0  # |log w| is clipped here: a weight ratio of e^16 at most
CLIP_NORM = 1.0  # gradient clipping before Adam


class SampleFilter(eqx.Module):
    """Per-sample log-weights from the sample's features and the anchor's displacement."""

    mlp: eqx.nn.MLP

    def __init__(self, n_features: int, n_params: int, width: int, *, key: PRNGKeyArray):
        inputs = n_features + n_params + n_features * n_params
        self.mlp = eqx.nn.MLP(inputs, "scalar", width, 2, activation=jnp.tanh, key=key)

    def log_weights(
        self, features: Float[Array, "n q"], displacement: Float[Array, " p"]
    ) -> Float[Array, " n"]:
        outer = (features[:, :, None] * displacement[None, None, :]).reshape(features.shape[0], -1)
        tiled = jnp.broadcast_to(displacement, (features.shape[0], displacement.shape[0]))
        inputs = jnp.concatenate([features, tiled, outer], axis=1)
        return MAX_LOG_WEIGHT * jnp.tanh(jax.vmap(self.mlp)(inputs) / MAX_LOG_WEIGHT)


def effective_weights(log_weights: Float[Array, " n"], mask: Float[Array, " n"]) -> Float[Array, " n"]:
    """Self-normalised weights, scaled so that sum w = sum w^2 = Kish's effective size."""
    w = jnp.exp(log_weights - jnp.max(jnp.where(mask > 0, log_weights, -jnp.inf))) * mask
    return w * jnp.sum(w) / jnp.sum(w**2)


def _draw_and_weigh(net: SampleFilter, view: Any, key: PRNGKeyArray, model, anchor, n, n_max: int):
    """``n`` draws (of ``n_max`` slots) from ``model``, their mask and the filter's weights."""
    samples, features = view.draw(key, model, n_max)
    mask = (jnp.arange(n_max) < n).astype(features.dtype)
    log_w = net.log_weights(features, -view.standardize(model, anchor))
    return samples, mask, effective_weights(log_w, mask)


def filtered_fit(net: SampleFilter, view: Any, key: PRNGKeyArray, model, anchor, n, n_max: int):
    """Draw ``n`` samples (of ``n_max`` slots) from ``model``, weight them, refit."""
    samples, _, weights = _draw_and_weigh(net, view, key, model, anchor, n, n_max)
    return view.weighted_fit(model, samples, weights)


def contraction_loss(
    net: SampleFilter, key: PRNGKeyArray, view: Any, anchor, n, n_max: int, contraction, radius, states: int
) -> Float[Array, ""]:
    """The hinge (1) averaged over ``states`` fresh states."""
    n_f = jnp.asarray(n, jnp.result_type(float))

    def one(k):
        k_state, k_draw = jax.random.split(k)
        u = radius * jax.lax.rsqrt(n_f) * jax.random.normal(k_state, (view.n_params,), n_f.dtype)
        start = view.perturb(anchor, u)
        u_start = view.standardize(start, anchor)
        samples, mask, weights = _draw_and_weigh(net, view, k_draw, start, anchor, n, n_max)
        weighted = view.standardize(view.weighted_fit(start, samples, weights), anchor)
        plain = view.standardize(view.weighted_fit(start, samples, mask), anchor)
        drift = u_start + weighted - plain  # the control-variate estimate of A(u) u
        before = jnp.sum(u_start**2)
        return jax.nn.relu(jnp.sum(drift**2) - (1.0 - contraction) * before) / (before + view.n_params / n_f)

    return jnp.mean(jax.vmap(one)(jax.random.split(key, states)))


def optimizer(learning_rate) -> optax.GradientTransformation:
    return optax.chain(optax.clip_by_global_norm(CLIP_NORM), optax.adam(learning_rate))


def train(weights, opt_state, skeleton: SampleFilter, key: PRNGKeyArray, steps: int, learning_rate, loss_args: tuple):
    """``steps`` Adam steps on (1), each on fresh states; returns (weights, opt_state).

    ``weights`` are the array leaves of the filter and ``skeleton`` supplies the rest.
    ``loss_args`` are ``contraction_loss``'s arguments after ``key``."""
    static = eqx.filter(skeleton, eqx.is_array, inverse=True)
    transform = optimizer(learning_rate)

    def loss(w, k):
        return contraction_loss(eqx.combine(w, static), k, *loss_args)

    def update(carry, k):
        w, state = carry
        grads = jax.grad(loss)(w, k)
        updates, state = transform.update(grads, state, w)
        return (optax.apply_updates(w, updates), state), None

    (weights, opt_state), _ = jax.lax.scan(update, (weights, opt_state), jax.random.split(key, steps))
    return weights, opt_state
