"""A small class-conditional DDPM (Ho, Jain & Abbeel 2020): an MLP noise predictor with
sinusoidal time and learned class embeddings, the simple denoising loss, and ancestral sampling;
the same MLP as a rectified-flow velocity field (flow matching, Lipman et al. 2023).

Noise schedules: ``linear_schedule``, linear betas from 1e-4 to 0.02 at 1000 steps, scaled by
1000 / steps for other step counts (as improved DDPM does), so the total noise is comparable;
``scaled_linear_schedule``, Stable Diffusion 1.x's betas (linspace of sqrt beta from
sqrt 0.00085 to sqrt 0.012, squared, 1000 steps). A null class (index
``classes``) is the unconditional input: training drops labels to it with probability
``label_dropout``, and the LSF latents read the denoiser with it, so that a probe on the latents
must find the class in the data rather than in the label.
"""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
import optax
from jaxtyping import Array, Float, Int


class Schedule(eqx.Module):
    betas: Float[Array, " steps"]
    alpha_bars: Float[Array, " steps"]

    @property
    def steps(self) -> int:
        return self.betas.shape[0]


def linear_schedule(steps: int, dtype=jnp.float32) -> Schedule:
    scale = 1000.0 / steps
    betas = jnp.linspace(scale * 1e-4, scale * 0.02, steps, dtype=dtype)
    return Schedule(betas, jnp.cumprod(1.0 - betas))


def scaled_linear_schedule(steps: int = 1000, start: float = 0.00085, end: float = 0.012, dtype=jnp.float32) -> Schedule:
    """Stable Diffusion's ``scaled_linear`` betas: beta_i = (linspace(sqrt start, sqrt end))_i^2."""
    betas = jnp.linspace(start**0.5, end**0.5, steps, dtype=dtype) ** 2
    return Schedule(betas, jnp.cumprod(1.0 - betas))


def noised(schedule: Schedule, x, step, eps):
    """x_t = sqrt(abar_t) x_0 + sqrt(1 - abar_t) eps (Ho et al. Eq. 4); ``step`` is 0-based."""
    abar = schedule.alpha_bars[step]
    return jnp.sqrt(abar) * x + jnp.sqrt(1.0 - abar) * eps


def _time_embedding(fraction, width: int):
    freqs = jnp.exp(jnp.linspace(0.0, jnp.log(1000.0), width // 2))
    angle = fraction * freqs
    return jnp.concatenate([jnp.sin(angle), jnp.cos(angle)])


class Denoiser(eqx.Module):
    """eps_theta(x_t, t, y): an MLP on [x_t, time embedding, class embedding] with SiLU layers."""

    class_embedding: eqx.nn.Embedding
    hidden_layers: tuple[eqx.nn.Linear, ...]
    output: eqx.nn.Linear
    embed: int = eqx.field(static=True)

    def __init__(self, dim: int, classes: int, hidden: int, depth: int, embed: int, *, key):
        keys = jax.random.split(key, depth + 2)
        self.embed = embed
        self.class_embedding = eqx.nn.Embedding(classes + 1, embed, key=keys[0])
        widths = [dim + 2 * embed] + [hidden] * depth
        self.hidden_layers = tuple(eqx.nn.Linear(a, b, key=k) for a, b, k in zip(widths[:-1], widths[1:], keys[1:-1]))
        self.output = eqx.nn.Linear(hidden, dim, key=keys[-1])

    def features(self, x: Float[Array, " dim"], fraction, label) -> Float[Array, " hidden"]:
        """The last hidden layer's activations: the latent representation read by LSF."""
        h = jnp.concatenate([x, _time_embedding(fraction, self.embed), self.class_embedding(label)])
        for layer in self.hidden_layers:
            h = jax.nn.silu(layer(h))
        return h

    def __call__(self, x, fraction, label):
        return self.output(self.features(x, fraction, label))


def denoising_loss(net: Denoiser, key, x: Float[Array, "b dim"], labels: Int[Array, " b"], schedule: Schedule,
                   label_dropout, null_label: int):
    """E ||eps - eps_theta(x_t, t, y)||^2 with t uniform (Ho et al. Eq. 14)."""
    k_t, k_eps, k_drop = jax.random.split(key, 3)
    step = jax.random.randint(k_t, labels.shape, 0, schedule.steps)
    eps = jax.random.normal(k_eps, x.shape, x.dtype)
    labels = jnp.where(jax.random.uniform(k_drop, labels.shape) < label_dropout, null_label, labels)
    x_t = noised(schedule, x, step[:, None], eps)
    pred = jax.vmap(net)(x_t, (step + 1) / schedule.steps, labels)
    return jnp.mean((pred - eps) ** 2)


def flow_matching_loss(net: Denoiser, key, x: Float[Array, "b dim"], labels: Int[Array, " b"]):
    """E ||v_theta(x_t, t, y) - (eps - x_0)||^2 with x_t = (1 - t) x_0 + t eps, t ~ U(0, 1): the
    rectified-flow velocity (t = 1 is noise, t = 0 data; Liu et al. 2023, Lipman et al. 2023)."""
    k_t, k_eps = jax.random.split(key)
    t = jax.random.uniform(k_t, labels.shape, x.dtype)
    eps = jax.random.normal(k_eps, x.shape, x.dtype)
    x_t = (1.0 - t[:, None]) * x + t[:, None] * eps
    pred = jax.vmap(net)(x_t, t, labels)
    return jnp.mean((pred - (eps - x)) ** 2)


def train(weights, skeleton, key, x, labels, rows, count, loss_fn, *, steps: int, batch: int, learning_rate):
    """``steps`` Adam steps on minibatches drawn uniformly from ``rows[:count]`` of (x, labels);
    ``loss_fn(net, key, x_batch, labels_batch)`` is e.g. ``denoising_loss`` with its schedule bound."""
    adam = optax.adam(learning_rate)

    def update(carry, k):
        w, state = carry
        k_rows, k_loss = jax.random.split(k)
        pick = rows[jnp.floor(jax.random.uniform(k_rows, (batch,)) * count).astype(jnp.int32)]
        loss, grads = jax.value_and_grad(lambda w: loss_fn(eqx.combine(w, skeleton), k_loss, x[pick], labels[pick]))(w)
        updates, state = adam.update(grads, state, w)
        return (optax.apply_updates(w, updates), state), loss

    (weights, _), losses = jax.lax.scan(update, (weights, adam.init(weights)), jax.random.split(key, steps))
    return weights, losses


def ancestral_sample(eps_fn, key, shape: tuple[int, int], schedule: Schedule, dtype=jnp.float32):
    """Ho et al. Algorithm 2 with sigma_t^2 = beta_t: x_T ~ N(0, I),
    x_{t-1} = (x_t - beta_t / sqrt(1 - abar_t) eps(x_t, t)) / sqrt(1 - beta_t) + sigma_t z (z = 0 at t = 1).
    ``eps_fn(x [n, dim], step)`` takes the 0-based step index."""
    k_init, k_steps = jax.random.split(key)

    def reverse(x, inputs):
        step, k = inputs
        beta, abar = schedule.betas[step], schedule.alpha_bars[step]
        mean = (x - beta / jnp.sqrt(1.0 - abar) * eps_fn(x, step)) / jnp.sqrt(1.0 - beta)
        z = jnp.where(step > 0, 1.0, 0.0) * jax.random.normal(k, x.shape, dtype)
        return mean + jnp.sqrt(beta) * z, None

    steps = jnp.arange(schedule.steps)[::-1]
    x, _ = jax.lax.scan(reverse, jax.random.normal(k_init, shape, dtype), (steps, jax.random.split(k_steps, schedule.steps)))
    return x


def sample(net: Denoiser, key, labels: Int[Array, " n"], dim: int, schedule: Schedule, dtype=jnp.float32):
    """Class-conditional samples of a trained denoiser."""
    def eps_fn(x, step):
        fraction = jnp.full(labels.shape, (step + 1) / schedule.steps, dtype)
        return jax.vmap(net)(x, fraction, labels)

    return ancestral_sample(eps_fn, key, (labels.shape[0], dim), schedule, dtype)
