"""A stochastic sampler seen as a Gaussian policy over its denoising steps, and the
policy-gradient objectives of RL fine-tuning (DDPO / GRPO ratio clipping, PCPO's log-hinge).

Every sampler step here is Gaussian and affine in the network output f (the noise prediction
eps of a DDPM, or the velocity v of a rectified flow):

    x_{k+1} = a_k x_k - c_k f_theta(x_k, tau_k, y) + s_k z_k,   z_k ~ N(0, I),   k = 0..S-1     (1)

so, given the noise z_k that took x_k to x_{k+1} under theta_old, the step's likelihood ratio is
exactly (Lee & Ye, Prop. 1; exact because both steps are Gaussian with the same s_k)

    log rho_k = -[ w_k (f_theta - f_old) . z_k + 1/2 || w_k (f_theta - f_old) ||^2 ],   w_k = c_k / s_k   (2)

The PPO loss is thus f-matching scaled by the *native weight* w_k, an artifact of the schedule.

Samplers (``StepTable``):
  ``ddim_table``  DDIM with stochasticity eta on a 1000-step schedule, diffusers' "leading"
                  timesteps t_k = 981, 961, ..., 1 for 50 steps (t = 1 steps to alpha-bar_0):
                  a = 1/sqrt(alpha_t), c = C(t) = sqrt(1 - abar_t)/sqrt(alpha_t) - sqrt(1 - abar_prev - s^2),
                  s = sigma_t = eta sqrt((1 - abar_prev)/(1 - abar_t)) sqrt(1 - alpha_t),
                  alpha_t = abar_t / abar_prev. Optionally s = eta * sigma~_t, the PCPO code's
                  re-solved variance (W = 4.5): sigma~ = (W c1 + sqrt((1 + W^2)(1 - abar_prev) - c1^2))/(1 + W^2),
                  c1 = sqrt((1 - abar_t)/alpha_t).
  ``flow_table``  Flow-GRPO's reverse SDE of a rectified flow (t = 1 noise, t = 0 data), times
                  t_i = shift u/(1 + (shift - 1) u) on u = 1 - i/S:
                  x_{t-dt} = x_t - [v + sigma_t^2/(2t) (x_t + (1 - t) v)] dt + sigma_t sqrt(dt) z,
                  sigma_t = eta sqrt(t/(1 - t)) (at t = 1, 1 - t_next in the denominator), so
                  a = 1 - sigma^2 dt/(2t), c = dt (1 + (1 - t) sigma^2/(2t)), s = sigma sqrt(dt) (Prop. 2).

Proportionate credit (``StepTable.credit``): DDIM, the constant weight w-bar = the mean native
weight (0.5169 for 50 steps, eta = 1: the code's 4.5/8.70575); flows, zeta dt_i with
zeta = sum_i w_i, so the total credit is unchanged.
"""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, Float

RESOLVE_WEIGHT = 4.5  # the PCPO code's constant in the sigma~ re-solve (PCPO_CONST_WEIGHT)
ADVANTAGE_EPS = 1e-8


class StepTable(eqx.Module):
    """The coefficients of Eq. (1) per step, in sampling order (k = 0 is pure noise)."""

    time: Float[Array, " S"]  # the network's time input tau_k
    scale: Float[Array, " S"]  # a_k
    coef: Float[Array, " S"]  # c_k
    noise: Float[Array, " S"]  # s_k
    credit: Float[Array, " S"]  # the proportionate weight of step k

    @property
    def native(self) -> Float[Array, " S"]:
        """w_k = c_k / s_k, the weight the schedule gives step k in Eq. (2)."""
        return self.coef / self.noise


def ddim_timesteps(train_steps: int, steps: int):
    """(t_k, t_k - ratio) for k = 0..S-1: diffusers' leading spacing with offset 1 (981, ..., 1)."""
    ratio = train_steps // steps
    t = (steps - 1 - jnp.arange(steps)) * ratio + 1
    return t, t - ratio


def ddim_table(alpha_bars: Float[Array, " T"], steps: int, eta, resolved=False) -> StepTable:
    """DDIM(eta) as Eq. (1); ``resolved`` (traced) swaps sigma_t for the re-solved eta * sigma~_t."""
    t, prev = ddim_timesteps(alpha_bars.shape[0], steps)
    abar = alpha_bars[t]
    abar_prev = jnp.where(prev >= 0, alpha_bars[jnp.maximum(prev, 0)], alpha_bars[0])
    alpha = abar / abar_prev
    c1 = jnp.sqrt((1.0 - abar) / alpha)
    sigma = eta * jnp.sqrt((1.0 - abar_prev) / (1.0 - abar)) * jnp.sqrt(1.0 - alpha)
    native_coef = c1 - jnp.sqrt(jnp.maximum(1.0 - abar_prev - sigma**2, 0.0))
    w = RESOLVE_WEIGHT
    tilde = eta * (w * c1 + jnp.sqrt(jnp.maximum((1 + w**2) * (1.0 - abar_prev) - c1**2, 0.0))) / (1 + w**2)
    noise = jnp.where(resolved, tilde, sigma)
    coef = c1 - jnp.sqrt(jnp.maximum(1.0 - abar_prev - noise**2, 0.0))
    mean_native = jnp.mean(native_coef / sigma)
    return StepTable(time=(t + 1.0) / alpha_bars.shape[0], scale=1.0 / jnp.sqrt(alpha), coef=coef, noise=noise,
                     credit=jnp.full(t.shape, mean_native))


def flow_table(steps: int, eta, shift) -> StepTable:
    """Flow-GRPO's SDE sampler as Eq. (1), with its time shift and proportionate credit zeta dt."""
    u = 1.0 - jnp.arange(steps + 1) / steps
    times = shift * u / (1.0 + (shift - 1.0) * u)
    t, t_next = times[:-1], times[1:]
    dt = t - t_next
    sigma = eta * jnp.sqrt(t / (1.0 - jnp.where(jnp.arange(steps) == 0, t_next, t)))
    coef = dt * (1.0 + (1.0 - t) * sigma**2 / (2.0 * t))
    noise = sigma * jnp.sqrt(dt)
    zeta = jnp.sum(coef / noise)
    return StepTable(time=t, scale=1.0 - sigma**2 * dt / (2.0 * t), coef=coef, noise=noise, credit=zeta * dt)


def rollout(output_fn, key, table: StepTable, x_init: Float[Array, "b d"]):
    """Run Eq. (1) from ``x_init``. ``output_fn(x [b, d], k)`` returns a dict whose "out" is the
    policy's f at step k, with anything else to keep.

    Returns (the samples x_S [b, d], {"x": x_k, "z": z_k, "out": f_k, ...}, each [S, b, d]):
    what a later update needs to evaluate Eq. (2) at every step."""

    def step(x, inputs):
        k, k_noise = inputs
        outputs = output_fn(x, k)
        z = jax.random.normal(k_noise, x.shape, x.dtype)
        return table.scale[k] * x - table.coef[k] * outputs["out"] + table.noise[k] * z, {"x": x, "z": z, **outputs}

    steps = table.time.shape[0]
    return jax.lax.scan(step, x_init, (jnp.arange(steps), jax.random.split(key, steps)))


def log_ratio(delta: Float[Array, "... d"], z: Float[Array, "... d"], weight) -> Float[Array, "..."]:
    """Eq. (2): log rho = -(w delta . z + |w delta|^2 / 2), delta = f_theta - f_old."""
    return -(weight * jnp.sum(delta * z, -1) + 0.5 * weight**2 * jnp.sum(delta**2, -1))


def clipped_objective(log_rho, advantage, clip_range):
    """PPO / DDPO, to minimise: max(-A rho, -A clip(rho, 1 - xi, 1 + xi))."""
    rho = jnp.exp(log_rho)
    return jnp.maximum(-advantage * rho, -advantage * jnp.clip(rho, 1.0 - clip_range, 1.0 + clip_range))


def log_hinge_objective(log_rho, advantage, clip_range):
    """PCPO's log-hinge, to minimise: max(0, xi |A| - A log rho). Its hinge form with rho - 1 in
    place of log rho has exactly the clipped objective's gradient; log rho keeps precision at rho ~ 1."""
    return jnp.maximum(0.0, clip_range * jnp.abs(advantage) - advantage * log_rho)


def group_advantages(rewards: Float[Array, "groups size"], clip) -> Float[Array, "groups size"]:
    """GRPO: (r - mean_group) / (std_group + 1e-8), clipped to [-clip, clip] (std with ddof 0)."""
    mean = rewards.mean(1, keepdims=True)
    std = rewards.std(1, keepdims=True)
    return jnp.clip((rewards - mean) / (std + ADVANTAGE_EPS), -clip, clip)
