"""``pcpo``: recursive on-policy RL fine-tuning of a 2-D diffusion (or flow) policy, and
proportionate credit (Lee & Ye, "Proportionate Credit Policy Optimization for Aligning Image
Generation Models", ICLR 2026, arXiv:2509.25774).

"Collapse" here is neither retraining on synthetic data nor a long training run: each RL epoch
trains the policy on its own fresh samples, and diversity and fidelity are lost as the reward
rises. It is judged **at matched reward** (the first epoch whose mean reward reaches
``target_reward``), not at a matched epoch. The engine's generation t is RL epoch t; t = 0 is the
pre-trained base model.

Per seed (``start``): ``data_size`` points of the truth, ``modes`` isotropic Gaussians of sd
``mode_sd`` evenly on a ring of radius ``radius``; a base model pre-trained on them
(``models.diffusion``: the MLP noise predictor by the DDPM loss on Stable Diffusion 1.x's
1000-step scaled-linear schedule, or the same MLP as a rectified-flow velocity by flow
matching), with uniformly random condition labels that carry no information. Its samples under
the native sampler are the reference for ``fd_base`` and ``mmd_base``. Everything in ``start``
depends only on the seed and static settings, so under a grid over algorithms and traced
hyperparameters the pre-training runs once per seed, shared by every grid point.

One RL epoch (``step``, GRPO-style as in DanceGRPO / Flow-GRPO):
  1. The on-policy batch (drawn at the end of the previous epoch): ``conditions`` groups of
     ``group_size`` trajectories, with the states x_k, noises z_k and outputs f_old of every step.
     Condition c's reward is linear, r = <x_0, u_c> with u_c at angle 2 pi c / conditions: it
     rises without bound off the ring, so it can be over-optimised (reward hacking).
  2. Advantages A = clip((r - mean_group)/(std_group + 1e-8), +-``advantage_clip``).
  3. Each trajectory trains round(``train_fraction`` * S) of its S steps, chosen at random (the
     paper's 49 of 50, shuffled). The trajectories are shuffled into ``minibatches``; each
     minibatch is one optimiser step (clip the global gradient norm, AdamW) on the mean per-step
     objective over its trajectories and trained steps. log rho is analytic
     (``models.diffusion_policy``, Eq. 2).
  4. The updated policy draws the next batch; the metrics of epoch t are read on it.

Algorithms (``algorithm``, traced: the five compile once):
  ddpo         ratio clipping max(-A rho, -A clip(rho, 1 +- xi)) with the native weights
               w_k = c_k / s_k (the DDPO / GRPO baseline)
  pcpo-base    the log-hinge max(0, xi |A| - A log rho) with the native weights (code: ``vw``)
  pcpo         the log-hinge with proportionate credit: every step weighted by the mean native
               weight w-bar (DDIM; 0.5169 at 50 steps, eta = 1), or by zeta dt_k (flows);
               the sampler is unchanged (code: ``uw`` with the constant weight; for flows the
               ZETA reweighting)
  pcpo-sigma   DDIM only: sampling with the re-solved variance eta * sigma~_t and the constant
               weight w-bar in the loss (code: ``uw-sigma``)
  pcpo-lambda  the policy output reparameterised f = f_base + lambda_k (f_theta - f_base),
               lambda_k = w-bar / w_k (flows: zeta dt_k / w_k): every step's effective weight is the
               proportionate one, and the sampler is unchanged at initialisation (code: ``uw-lambda``)

Readings of what the paper note marks uncertain, chosen to match the paper's setting: the
advantage std has ddof 0 (as Flow-GRPO's numpy code); the clip fraction is the codebases'
mean(|rho - 1| > xi) over trained (trajectory, step) pairs and minibatches, with rho from each
algorithm's own weights; the optimiser is AdamW with gradient-norm clipping (the paper's
config), restarted never (its state is in the scan carry); all conditions are used every epoch.
The uniform-credit weight is the **constant in the matching loss**, as the note advises (the
sigma~ re-solve alone does not make C(t)/sigma~ constant; ``pcpo-sigma`` keeps it for
completeness).

Metrics per epoch, on the policy's on-policy batch:
  reward            mean reward
  mode_entropy      entropy (nats) of the occupancy of the ring's modes (nearest centre), per
                    condition, averaged over conditions (ln modes at most)
  off_manifold      mean distance to the nearest mode centre (sd * sqrt(pi/2) = 0.125 on the truth)
  fd_base, mmd_base Frechet distance and unbiased squared MMD (Gaussian kernel,
                    ``mmd_bandwidth``) to the base model's reference samples; E mmd_base = 0 at t = 0
  clip_fraction     of the update that produced the policy; NaN at t = 0
  grad_norm         global gradient norm before clipping, mean over minibatches; NaN at t = 0
  clip_fraction_stepNN, grad_share_stepNN  per sampling step NN = 01 (pure noise) .. 50: its
                    clip fraction, and its share ||g_k|| / sum_j ||g_j|| of the per-step
                    gradient norms (mean over minibatches); NaN beyond the sampler's steps
  reached           1 once the reward has reached ``target_reward``
  epochs_to_target  the first epoch whose reward reached the target (NaN until then)
  matched_<metric>  every metric above at that epoch (NaN until then): matched-reward values
"""

from __future__ import annotations

from functools import partial
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax

from ..engine.params import ConfigError, Param
from ..engine.study import Study, float_dtype
from ..metrics import sample_quality
from ..models import diffusion, diffusion_policy
from .registry import Preset, register_preset, register_study

ALGORITHMS = ("ddpo", "pcpo-base", "pcpo", "pcpo-sigma", "pcpo-lambda")
# per algorithm: (log-hinge objective, proportionate credit in the loss, re-solved variance, lambda output)
RECIPES = {
    "ddpo": (False, False, False, False),
    "pcpo-base": (True, False, False, False),
    "pcpo": (True, True, False, False),
    "pcpo-sigma": (True, True, True, False),
    "pcpo-lambda": (True, False, False, True),
}
SAMPLERS = ("ddim", "flow")
SAMPLER_DEFAULTS = {"ddim": {"sampling_steps": 50, "eta": 1.0}, "flow": {"sampling_steps": 10, "eta": 0.7}}
MAX_STEPS = 50  # per-step metrics are named for steps 01..50
TRAIN_STEPS = 1000  # the DDPM's training schedule (Stable Diffusion 1.x)
DIM = 2

CURVES = ("reward", "mode_entropy", "off_manifold", "fd_base", "mmd_base", "clip_fraction", "grad_norm")
PER_STEP = tuple(f"{kind}_step{k:02d}" for kind in ("clip_fraction", "grad_share") for k in range(1, MAX_STEPS + 1))
MATCHED = CURVES + PER_STEP
HEADLINE = ("reward", "mode_entropy", "off_manifold", "mmd_base", "clip_fraction", "reached", "epochs_to_target",
            "matched_mode_entropy", "matched_off_manifold", "matched_mmd_base")


@register_study
class PCPOStudy(Study):
    name = "pcpo"
    description = "On-policy RL fine-tuning of a 2-D diffusion / flow policy: DDPO clipping vs PCPO proportionate credit"
    params = (
        Param("algorithm", "policy objective: " + ", ".join(ALGORITHMS), "pcpo", kind="choice", choices=ALGORITHMS),
        Param("sampler", "ddim (DDIM eta on the 1000-step scaled-linear schedule) or flow (rectified-flow SDE; static)",
              "ddim", kind="choice", static=True, choices=SAMPLERS),
        Param("sampling_steps", "sampler steps S (static; default 50 for ddim, 10 for flow)", None, kind="int",
              static=True, low=2, high=MAX_STEPS),
        Param("eta", "sampler stochasticity (default 1 for ddim, 0.7 for flow)", None, low=0.0),
        Param("shift", "flow: timestep shift t' = s t / (1 + (s - 1) t)", 3.0, low=1e-6),
        Param("conditions", "conditions (prompts) per epoch, each with its own reward direction (static)", 1,
              kind="int", static=True, low=1),
        Param("group_size", "trajectories per condition, one GRPO group (static)", 256, kind="int", static=True, low=2, high=10**5),
        Param("minibatches", "optimiser steps per epoch; they split the trajectories (static)", 4, kind="int",
              static=True, low=1, high=10**4),
        Param("train_fraction", "share of each trajectory's steps trained (rounded; the paper's 49 of 50)", 0.98,
              low=0.0, high=1.0),
        Param("clip_range", "xi: the ratio clip range, and the hinge margin", 1e-4, low=0.0),
        Param("advantage_clip", "advantages are clipped to +- this", 5.0, low=0.0),
        Param("learning_rate", "AdamW learning rate of the fine-tuning", 1e-3, low=0.0),
        Param("weight_decay", "AdamW weight decay", 1e-4, low=0.0),
        Param("max_grad_norm", "the global gradient norm is clipped to this", 1.0, low=0.0),
        Param("target_reward", "the matched reward: metrics are also reported at the first epoch reaching it", 1.5),
        Param("mmd_bandwidth", "Gaussian kernel bandwidth of mmd_base", 0.5, low=1e-6),
        Param("modes", "modes on the ring (static)", 8, kind="int", static=True, low=1, high=4096),
        Param("radius", "ring radius (static: the pre-training is shared by the grid)", 2.0, static=True, low=0.0),
        Param("mode_sd", "sd of each mode (static)", 0.1, static=True, low=1e-6),
        Param("hidden", "width of the MLP (static)", 64, kind="int", static=True, low=1, high=4096),
        Param("depth", "hidden layers of the MLP (static)", 3, kind="int", static=True, low=1, high=64),
        Param("embed", "time and condition embedding width (static, even)", 16, kind="int", static=True, low=2, high=4096),
        Param("data_size", "points of the truth the base model is pre-trained on (static)", 8192, kind="int",
              static=True, low=1, high=10**7),
        Param("pretrain_steps", "Adam steps of the base model's pre-training (static)", 6000, kind="int", static=True,
              low=0, high=10**7),
        Param("pretrain_batch", "pre-training minibatch size (static)", 256, kind="int", static=True, low=1, high=10**6),
        Param("pretrain_learning_rate", "pre-training Adam learning rate (static)", 2e-3, static=True, low=0.0),
    )
    metrics = CURVES + PER_STEP + ("reached", "epochs_to_target") + tuple(f"matched_{m}" for m in MATCHED)
    summary_metrics = HEADLINE
    metric_docs = {
        "reward": "mean reward <x_0, u_c> of the batch: the sample along its condition's direction u_c",
        "mode_entropy": "entropy (nats) of the batch's occupancy of the ring's modes, mean over conditions",
        "off_manifold": "mean distance of the batch's samples to their nearest mode centre",
        "fd_base": "Frechet distance from the batch to the base model's reference samples",
        "mmd_base": "unbiased squared MMD (Gaussian kernel) from the batch to the base model's samples",
        "clip_fraction": "share of trained (trajectory, step) pairs with |rho - 1| > xi in the update; NaN at t=0",
        "grad_norm": "global gradient norm before clipping, mean over the update's minibatches; NaN at t=0",
        **{f"{kind}_step{step}": {
            "clip_fraction": f"clip fraction at sampling step {step} (01: pure noise); NaN at t=0, past S or untrained",
            "grad_share": f"step {step}'s share ||g_k|| / sum_j ||g_j|| of per-step gradient norms; NaN at t=0 or past S",
        }[kind] for kind, step in (m.rsplit("_step", 1) for m in PER_STEP)},
        "reached": "1 once some epoch's mean reward has reached target_reward, else 0",
        "epochs_to_target": "first epoch whose mean reward reached target_reward (NaN until then)",
        **{f"matched_{m}": f"{m} at the first epoch with reward >= target_reward (NaN until then)"
           for m in MATCHED},
    }

    sampler: str = eqx.field(static=True)
    steps: int = eqx.field(static=True)
    conditions: int = eqx.field(static=True)
    group_size: int = eqx.field(static=True)
    minibatches: int = eqx.field(static=True)
    modes: int = eqx.field(static=True)
    radius: float = eqx.field(static=True)
    mode_sd: float = eqx.field(static=True)
    hidden: int = eqx.field(static=True)
    depth: int = eqx.field(static=True)
    embed: int = eqx.field(static=True)
    data_size: int = eqx.field(static=True)
    pretrain_steps: int = eqx.field(static=True)
    pretrain_batch: int = eqx.field(static=True)
    pretrain_learning_rate: float = eqx.field(static=True)
    reference: bool = eqx.field(static=True)  # a grid point reparameterises around the base (pcpo-lambda)

    # ---- host side --------------------------------------------------------------------------
    @classmethod
    def check(cls, config: dict[str, Any], generations: int) -> dict[str, Any]:
        config = dict(config)
        for name, value in SAMPLER_DEFAULTS[config["sampler"]].items():
            if config[name] is None:
                config[name] = value
        if config["eta"] <= 0:
            raise ConfigError(f"eta={config['eta']}: must be > 0 (a deterministic sampler has no policy likelihood)")
        if config["sampler"] == "ddim" and TRAIN_STEPS % config["sampling_steps"]:
            raise ConfigError(f"sampling_steps={config['sampling_steps']}: must divide the {TRAIN_STEPS} training steps "
                              "of the DDIM schedule")
        if config["sampler"] == "flow" and config["algorithm"] == "pcpo-sigma":
            raise ConfigError("algorithm=pcpo-sigma: the re-solved DDIM variance needs sampler=ddim")
        batch = config["conditions"] * config["group_size"]
        if batch % config["minibatches"]:
            raise ConfigError(f"minibatches={config['minibatches']}: must divide the {batch} trajectories per epoch "
                              f"(conditions x group_size)")
        if round(config["train_fraction"] * config["sampling_steps"]) < 1:
            raise ConfigError(f"train_fraction={config['train_fraction']}: trains no step of "
                              f"{config['sampling_steps']}")
        if config["embed"] % 2:
            raise ConfigError(f"embed={config['embed']}: must be even (sine and cosine halves)")
        return config

    @classmethod
    def build(cls, configs: list[dict[str, Any]], generations: int) -> "PCPOStudy":
        c = configs[0]
        return cls(sampler=c["sampler"], steps=c["sampling_steps"], conditions=c["conditions"],
                   group_size=c["group_size"], minibatches=c["minibatches"], modes=c["modes"],
                   radius=float(c["radius"]), mode_sd=float(c["mode_sd"]), hidden=c["hidden"], depth=c["depth"],
                   embed=c["embed"], data_size=c["data_size"], pretrain_steps=c["pretrain_steps"],
                   pretrain_batch=c["pretrain_batch"], pretrain_learning_rate=float(c["pretrain_learning_rate"]),
                   reference=any(x["algorithm"] == "pcpo-lambda" for x in configs))

    def numeric(self, config: dict[str, Any]) -> dict[str, np.ndarray]:
        hinge, proportionate, resolved, reparam = RECIPES[config["algorithm"]]
        floats = ("eta", "shift", "train_fraction", "clip_range", "advantage_clip", "learning_rate", "weight_decay",
                  "max_grad_norm", "target_reward", "mmd_bandwidth")
        return {
            "hinge": np.bool_(hinge), "proportionate": np.bool_(proportionate), "resolved": np.bool_(resolved),
            "reparam": np.bool_(reparam), **{k: np.float64(config[k]) for k in floats},
        }

    @property
    def batch_size(self) -> int:
        return self.conditions * self.group_size

    def n_weights(self) -> int:
        inputs = DIM + 2 * self.embed
        return ((inputs + 1) * self.hidden + (self.depth - 1) * (self.hidden + 1) * self.hidden
                + (self.hidden + 1) * DIM + (self.conditions + 1) * self.embed)

    def bytes_per_seed(self) -> int:
        item = np.dtype(float_dtype()).itemsize
        rollout = self.steps * self.batch_size * DIM * (4 if self.reference else 3)
        per_step_grads = 3 * self.steps * self.n_weights()
        activations = 6 * self.depth * self.hidden * (self.steps * self.batch_size // self.minibatches
                                                       + self.pretrain_batch)
        return item * (rollout + per_step_grads + activations + self.data_size * DIM) + 65536

    # ---- the policy -------------------------------------------------------------------------
    def _skeleton(self, key) -> diffusion.Denoiser:
        return diffusion.Denoiser(DIM, self.conditions, self.hidden, self.depth, self.embed, key=key)

    def _static_part(self):
        return eqx.filter(self._skeleton(jax.random.key(0)), eqx.is_array, inverse=True)

    def _outputs(self, weights, x, time, labels):
        net = eqx.combine(weights, self._static_part())
        return jax.vmap(net)(x, jnp.full(labels.shape, time, x.dtype), labels)

    def _table(self, params, resolved=None) -> diffusion_policy.StepTable:
        if self.sampler == "flow":
            return diffusion_policy.flow_table(self.steps, params["eta"], params["shift"])
        alpha_bars = diffusion.scaled_linear_schedule(TRAIN_STEPS, dtype=float_dtype()).alpha_bars
        return diffusion_policy.ddim_table(alpha_bars, self.steps, params["eta"],
                                           params["resolved"] if resolved is None else resolved)

    def _labels(self):
        return jnp.arange(self.batch_size) // self.group_size  # condition-major groups

    def _centres(self, dtype):
        angle = 2 * jnp.pi * jnp.arange(self.modes) / self.modes
        return self.radius * jnp.stack([jnp.cos(angle), jnp.sin(angle)], 1).astype(dtype)

    def _rewards(self, x, labels):
        angle = 2 * jnp.pi * labels / self.conditions
        return x[:, 0] * jnp.cos(angle) + x[:, 1] * jnp.sin(angle)

    def _optimizer(self, params):
        return optax.chain(optax.clip_by_global_norm(params["max_grad_norm"]),
                           optax.adamw(params["learning_rate"], weight_decay=params["weight_decay"]))

    def _pretrain(self, key):
        """The base model, from the seed and static settings alone (shared across the grid)."""
        dtype = float_dtype()
        k_mode, k_noise, k_labels, k_init, k_train = jax.random.split(key, 5)
        centres = self._centres(dtype)
        data = centres[jax.random.randint(k_mode, (self.data_size,), 0, self.modes)] \
            + self.mode_sd * jax.random.normal(k_noise, (self.data_size, DIM), dtype)
        labels = jax.random.randint(k_labels, (self.data_size,), 0, self.conditions)
        if self.sampler == "ddim":
            schedule = diffusion.scaled_linear_schedule(TRAIN_STEPS, dtype=dtype)
            loss = partial(diffusion.denoising_loss, schedule=schedule, label_dropout=0.0, null_label=self.conditions)
        else:
            loss = diffusion.flow_matching_loss
        weights = eqx.filter(self._skeleton(k_init), eqx.is_array)
        weights, _ = diffusion.train(weights, self._static_part(), k_train, data, labels, jnp.arange(self.data_size),
                                     self.data_size, loss, steps=self.pretrain_steps, batch=self.pretrain_batch,
                                     learning_rate=self.pretrain_learning_rate)
        return weights

    @staticmethod
    def _output_scale(table, params):
        """lambda_k of f = f_base + lambda_k (f_theta - f_base) under pcpo-lambda: proportionate /
        native. Other algorithms use f_theta itself (selected, so their numbers do not depend on
        whether pcpo-lambda shares the grid)."""
        return table.credit / table.native

    def _rollout(self, weights, base, key, table, params):
        """An on-policy batch: every step's (x, z, f_old) and, with pcpo-lambda in the grid, the
        base model's output f_base; the samples and their rewards."""
        labels = self._labels()
        lam = self._output_scale(table, params)

        def output_fn(x, k):
            f = self._outputs(weights, x, table.time[k], labels)
            if not self.reference:
                return {"out": f}
            f_base = self._outputs(base, x, table.time[k], labels)
            return {"out": jnp.where(params["reparam"], f_base + lam[k] * (f - f_base), f), "base": f_base}

        k_init, k_steps = jax.random.split(key)
        x_init = jax.random.normal(k_init, (self.batch_size, DIM), float_dtype())
        sample, steps = diffusion_policy.rollout(output_fn, k_steps, table, x_init)
        return {**steps, "sample": sample, "reward": self._rewards(sample, labels)}

    # ---- one epoch's update -----------------------------------------------------------------
    def _update(self, weights, opt_state, key, batch, table, params):
        """One optimiser step per minibatch; per-step gradients g_k (a vmap over steps of the
        gradient of step k's objective) give the clip and gradient-share statistics."""
        dtype = float_dtype()
        k_mask, k_order = jax.random.split(key)
        labels = self._labels()
        advantage = diffusion_policy.group_advantages(
            batch["reward"].reshape(self.conditions, self.group_size), params["advantage_clip"]).reshape(-1)
        trained = jnp.round(params["train_fraction"] * self.steps)
        ranks = jnp.argsort(jnp.argsort(jax.random.uniform(k_mask, (self.batch_size, self.steps)), 1), 1)
        mask = (ranks < trained).astype(dtype)  # [B, S]
        order = jax.random.permutation(k_order, self.batch_size).reshape(self.minibatches, -1)
        weight = jnp.where(params["proportionate"], table.credit, table.native)
        lam = self._output_scale(table, params)
        per_pair = 1.0 / (trained * order.shape[1])  # the objective is a mean over (trajectory, trained step)
        xi = params["clip_range"]

        def step_objective(w, k, rows):
            f = self._outputs(w, batch["x"][k, rows], table.time[k], labels[rows])
            if self.reference:
                f_base = batch["base"][k, rows]
                f = jnp.where(params["reparam"], f_base + lam[k] * (f - f_base), f)
            log_rho = diffusion_policy.log_ratio(f - batch["out"][k, rows], batch["z"][k, rows], weight[k])
            a = advantage[rows]
            objective = jnp.where(params["hinge"], diffusion_policy.log_hinge_objective(log_rho, a, xi),
                                  diffusion_policy.clipped_objective(log_rho, a, xi))
            m = mask[rows, k]
            clipped = jnp.sum(m * (jnp.abs(jnp.expm1(log_rho)) > xi))
            return per_pair * jnp.sum(m * objective), (clipped, jnp.sum(m))

        per_step_grad = jax.vmap(jax.grad(step_objective, has_aux=True), in_axes=(None, 0, None))
        optimizer = self._optimizer(params)

        def minibatch(carry, rows):
            w, opt = carry
            grads, (clipped, counted) = per_step_grad(w, jnp.arange(self.steps), rows)
            total = jax.tree.map(lambda g: g.sum(0), grads)
            norms = jnp.sqrt(sum(jnp.sum(g.reshape(self.steps, -1) ** 2, 1) for g in jax.tree.leaves(grads)))
            updates, opt = optimizer.update(total, opt, w)
            stats = {"clipped": clipped, "counted": counted, "share": norms / jnp.maximum(norms.sum(), 1e-30),
                     "grad_norm": jnp.sqrt(sum(jnp.sum(g**2) for g in jax.tree.leaves(total)))}
            return (optax.apply_updates(w, updates), opt), stats

        (weights, opt_state), stats = jax.lax.scan(minibatch, (weights, opt_state), order)
        clipped, counted = stats["clipped"].sum(0), stats["counted"].sum(0)
        return weights, opt_state, {
            "clip_fraction": clipped.sum() / counted.sum(),
            "grad_norm": stats["grad_norm"].mean(),
            "clip_fraction_step": jnp.where(counted > 0, clipped / jnp.maximum(counted, 1), jnp.nan),
            "grad_share_step": stats["share"].mean(0),
        }

    # ---- read-outs --------------------------------------------------------------------------
    def _measure(self, batch, reference, update, params):
        sample = batch["sample"]
        dtype = sample.dtype
        nearest, distance = sample_quality.nearest_centre(sample, self._centres(dtype))
        counts = jnp.zeros((self.conditions, self.modes), dtype).at[self._labels(), nearest].add(1.0)
        p = counts / self.group_size
        entropy = -jnp.sum(jnp.where(p > 0, p * jnp.log(jnp.where(p > 0, p, 1.0)), 0.0), 1)
        pad = jnp.full(MAX_STEPS - self.steps, jnp.nan, dtype)
        per_step = {f"{kind}_step{k + 1:02d}": value
                    for kind in ("clip_fraction", "grad_share")
                    for k, value in enumerate(jnp.concatenate([update[f"{kind}_step"].astype(dtype), pad]))}
        return {
            "reward": jnp.mean(batch["reward"]),
            "mode_entropy": jnp.mean(entropy),
            "off_manifold": jnp.mean(distance),
            "fd_base": sample_quality.frechet_distance(sample, reference),
            "mmd_base": sample_quality.mmd2_unbiased(sample, reference, params["mmd_bandwidth"]),
            "clip_fraction": jnp.asarray(update["clip_fraction"], dtype),
            "grad_norm": jnp.asarray(update["grad_norm"], dtype),
            **per_step,
        }

    @staticmethod
    def _match(tracker, metrics, t, params):
        """Record every metric at the first epoch whose reward reaches the target."""
        hit = ~tracker["reached"] & (metrics["reward"] >= params["target_reward"])
        values = {m: jnp.where(hit, metrics[m], tracker["values"][m]) for m in MATCHED}
        reached = tracker["reached"] | hit
        epoch = jnp.where(hit, t, tracker["epoch"])
        nan = jnp.asarray(jnp.nan, metrics["reward"].dtype)
        out = {**metrics, "reached": reached.astype(nan.dtype), "epochs_to_target": jnp.where(reached, epoch, nan),
               **{f"matched_{m}": jnp.where(reached, values[m], nan) for m in MATCHED}}
        return {"reached": reached, "epoch": epoch, "values": values}, out

    # ---- protocol -----------------------------------------------------------------------------
    def start(self, key, params):
        """The pretrained base (the policy at epoch 0), its reference samples and the optimiser;
        the batch and the matched values are placeholders that epoch 0 fills."""
        dtype = float_dtype()
        k_pretrain, k_reference = jax.random.split(key)
        base = self._pretrain(k_pretrain)
        native = self._table(params, resolved=False)
        reference = self._rollout(base, base, k_reference, native, {**params, "reparam": False})["sample"]
        frozen = {"reference": reference, "base": base if self.reference else None}
        batch = jax.eval_shape(lambda k: self._rollout(base, base, k, self._table(params), params), key)
        tracker = {"reached": jnp.zeros((), bool), "epoch": jnp.zeros((), dtype),
                   "values": {m: jnp.zeros((), dtype) for m in MATCHED}}
        return {"weights": base, "opt": self._optimizer(params).init(base), "frozen": frozen,
                "batch": jax.tree.map(lambda x: jnp.zeros(x.shape, x.dtype), batch), "tracker": tracker}

    def _no_update(self):
        """Epoch 0's update statistics: no update yet."""
        nan, nan_steps = jnp.full((), jnp.nan, float_dtype()), jnp.full(self.steps, jnp.nan, float_dtype())
        return {"clip_fraction": nan, "grad_norm": nan, "clip_fraction_step": nan_steps, "grad_share_step": nan_steps}

    def step(self, state, key, t, params):
        """Epoch t: one update on the last batch (none at t = 0; t is not batched, so only one
        branch runs), then a fresh batch from the updated policy and its metrics."""
        k_update, k_batch = jax.random.split(key)
        table = self._table(params)
        frozen = state["frozen"]
        weights, opt_state, update = jax.lax.cond(
            t == 0, lambda: (state["weights"], state["opt"], self._no_update()),
            lambda: self._update(state["weights"], state["opt"], k_update, state["batch"], table, params))
        batch = self._rollout(weights, frozen["base"], k_batch, table, params)
        metrics = self._measure(batch, frozen["reference"], update, params)
        tracker, metrics = self._match(state["tracker"], metrics, t.astype(float_dtype()), params)
        return {"weights": weights, "opt": opt_state, "frozen": frozen, "batch": batch, "tracker": tracker}, metrics


# ---- matched-reward read-outs -------------------------------------------------------------------

def matched_summary(result, metrics=("epochs_to_target", "matched_mode_entropy", "matched_off_manifold",
                                     "matched_mmd_base", "matched_fd_base")) -> dict[str, dict[str, tuple]]:
    """Per algorithm, at the last generation: (mean, standard error, seeds) over the seeds that
    reached the target, of each metric kept per seed, and the share of seeds that reached it.
    Other grid axes are taken at their first value."""
    dims = list(result.dims[:-1])
    take = tuple(slice(None) if d == "algorithm" else 0 for d in dims)
    algorithms = result.coords.get("algorithm", [result.config.get("algorithm")])
    out: dict[str, dict[str, tuple]] = {}
    for j, algorithm in enumerate(algorithms):
        row = {}
        for metric in metrics:
            if metric not in result.per_seed:
                continue
            values = np.asarray(result.per_seed[metric][take], np.float64).reshape(len(algorithms), result.seeds, -1)
            last = values[j, :, -1]
            done = last[np.isfinite(last)]
            se = done.std(ddof=1) / np.sqrt(done.size) if done.size > 1 else np.nan
            row[metric] = (float(done.mean()) if done.size else np.nan, float(se), int(done.size))
        reached = np.isfinite(np.asarray(result.per_seed["epochs_to_target"][take], np.float64)
                              .reshape(len(algorithms), result.seeds, -1)[j, :, -1])
        row["reached"] = (float(reached.mean()), float(np.sqrt(reached.mean() * (1 - reached.mean()) / reached.size)),
                          int(reached.size))
        out[algorithm] = row
    return out


# ---- presets and figures -----------------------------------------------------------------------

def pcpo_figure(result, out_dir, name: str = "pcpo") -> Figure:
    """Reward against epoch; diversity and drift against the reward reached (the matched-reward
    view); each step's gradient share and clip fraction averaged over epochs. One line per
    algorithm (mean and 95% band over seeds); other grid axes at their first value. Saved as
    <name>.<fmt>; returns the Figure."""
    import textwrap

    from matplotlib.figure import Figure

    from ..plot import save_figure

    dims = list(result.dims[:-1])
    take = tuple(slice(None) if d == "algorithm" else 0 for d in dims)
    algorithms = result.coords.get("algorithm", [result.config.get("algorithm")])
    if "algorithm" not in dims:
        take = take + (None,)
    epochs = np.asarray(result.coords["generation"])
    # the sampler's steps: per-step metrics are NaN beyond them (sampling_steps may vary with the grid)
    steps = sum(bool(np.any(np.isfinite(result.mean(f"grad_share_step{k:02d}")))) for k in range(1, MAX_STEPS + 1))
    series = {m: (np.atleast_2d(result.mean(m)[take]), np.atleast_2d(result.stderr(m)[take]))
              for m in ("reward", "mode_entropy", "off_manifold", "mmd_base")}
    fig = Figure(figsize=(13, 7.2), layout="constrained")
    axes = fig.subplots(2, 3)
    target = result.config.get("target_reward")
    for j, algorithm in enumerate(algorithms):
        mean, se = series["reward"][0][j], series["reward"][1][j]
        line = axes[0, 0].plot(epochs, mean, label=algorithm)[0]
        axes[0, 0].fill_between(epochs, mean - 1.96 * se, mean + 1.96 * se, color=line.get_color(), alpha=0.2, lw=0)
        for ax, metric in zip((axes[0, 1], axes[0, 2], axes[1, 0]), ("mode_entropy", "off_manifold", "mmd_base")):
            ax.plot(mean, series[metric][0][j], color=line.get_color(), label=algorithm)
        for ax, kind in ((axes[1, 1], "grad_share"), (axes[1, 2], "clip_fraction")):
            per_step = np.stack([np.atleast_2d(result.mean(f"{kind}_step{k:02d}")[take])[j] for k in range(1, steps + 1)])
            ax.plot(np.arange(1, steps + 1), np.nanmean(per_step[:, 1:], 1), color=line.get_color(), marker=".",
                    label=algorithm)
    axes[0, 0].set(title="reward", xlabel="epoch")
    if isinstance(target, (int, float)):
        axes[0, 0].axhline(target, color="k", ls=":", lw=0.8)
    for ax, metric in zip((axes[0, 1], axes[0, 2], axes[1, 0]), ("mode_entropy", "off_manifold", "mmd_base")):
        ax.set(title=f"{metric} against reward", xlabel="mean reward")
        if isinstance(target, (int, float)):
            ax.axvline(target, color="k", ls=":", lw=0.8)
    axes[1, 1].set(title="gradient share per step\n(mean over epochs)", xlabel="sampling step (1 = noise)")
    axes[1, 2].set(title="clip fraction per step\n(mean over epochs)", xlabel="sampling step (1 = noise)")
    axes[0, 0].legend(fontsize=7)
    fig.suptitle(textwrap.fill(f"pcpo, {result.config.get('sampler')} sampler ({result.seeds} seeds, 95% bands; "
                               "dotted: target)", 150), fontsize=10)
    save_figure(fig, f"{out_dir}/{name}.png")
    return fig


# The paper note's 2-D toy, at width 64 with a learning rate of 2e-3 (the note's prototype: width
# 128 at 1e-3; here width 128 at 1e-3 needs about 170 epochs to reach the target reward).
TOY = {"sampler": "ddim", "conditions": 1, "group_size": 256, "minibatches": 4, "learning_rate": 2e-3,
       "clip_range": 1e-4, "train_fraction": 0.98, "target_reward": 1.5}
QUICK = {"hidden": 32, "depth": 2, "group_size": 64, "minibatches": 2, "data_size": 2048, "pretrain_steps": 600,
         "sampling_steps": 20, "target_reward": 0.5}

KEEP = ("reward", "mode_entropy", "off_manifold", "mmd_base", "epochs_to_target", "matched_mode_entropy",
        "matched_off_manifold", "matched_mmd_base", "matched_fd_base")


def _register_presets() -> None:
    """The paper toy with each sampler, and every objective side by side."""
    for name, description, settings, algorithms, quick in (
        ("lee-ye-ddim", "Lee & Ye's 2-D toy: DDIM (eta 1, 50 steps), reward x_0, DDPO clipping vs PCPO-base vs PCPO over "
         "200 epochs", TOY, ["ddpo", "pcpo-base", "pcpo"], {}),
        ("lee-ye-flow", "The same toy with a rectified flow and Flow-GRPO's SDE (10 steps, eta 0.7, shift 3): zeta dt credit",
         {**TOY, "sampler": "flow"}, ["ddpo", "pcpo-base", "pcpo"], {"sampler": "flow", "sampling_steps": 10}),
        ("lee-ye-variants", "All five objectives on the DDIM toy: ddpo, pcpo-base, pcpo, pcpo-sigma, pcpo-lambda", TOY,
         list(ALGORITHMS), {}),
    ):
        register_preset(Preset(name=name, study="pcpo", description=description, settings=settings,
                               grids={"algorithm": algorithms}, seeds=16, generations=200,
                               quick={"seeds": 2, "generations": 6, "settings": {**TOY, **QUICK, **quick}},
                               figure=pcpo_figure, keep=KEEP))


_register_presets()
