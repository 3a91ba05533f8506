"""Benchmark: the ``pcpo`` study's RL epochs per second, 64 seeds x 3 algorithms (ddpo,
pcpo-base, pcpo) in one call, against a Python loop over (seed, algorithm) runs of the same
trajectory jitted once, in the same process. Not a test.

    python benchmarks/bench_pcpo.py [--seeds 64] [--epochs 4] [--loop-runs 6] [--torch-runs 6] [--json PATH]

The RL epoch is the paper's toy at CPU size: DDIM, 50 steps, one group of ``group_size``
trajectories, 4 minibatches, an MLP of width 64 and depth 3 (see SETTINGS). Pre-training is off
(``pretrain_steps=0``): an epoch costs the same whatever the weights are, and the pre-training
is a one-off per seed, so the rates below are RL epochs alone (plus the two rollouts of
``init``). The loop compiles ``jit(trajectory)`` once (hyperparameters are traced, so the three
algorithms share it), runs ``--loop-runs`` (seed, algorithm) pairs with ``block_until_ready``
after each, and is extrapolated to all pairs. Both sides use the same keys, so the script also
prints the largest difference of the reward trajectories on the looped pairs.

If PyTorch is installed, a second baseline is the loop a researcher writes today (DDPO and
Flow-GRPO are PyTorch): the same MLP, DDIM table, GRPO advantages, masked steps, minibatches,
objectives and AdamW with gradient clipping, one (seed, algorithm) run at a time, each minibatch's
(trajectory, step) pairs in one batched forward and backward pass. It computes no per-step
gradient statistics (jaxcollapse does), so it does less work per epoch.
"""

from __future__ import annotations

import argparse
import json
import time

import jax
import numpy as np

import jaxcollapse as jc
from jaxcollapse.bench import jitted_trajectory
from jaxcollapse.models import diffusion, diffusion_policy
from jaxcollapse.results import environment

SETTINGS = {"sampler": "ddim", "sampling_steps": 50, "group_size": 128, "minibatches": 4, "hidden": 64, "depth": 3,
            "embed": 16, "pretrain_steps": 0}
ALGORITHMS = ["ddpo", "pcpo-base", "pcpo"]


def torch_runs(pairs, epochs: int) -> list[np.ndarray]:
    """The PyTorch per-run loop: returns each run's mean reward per epoch (from an untrained MLP,
    as ``pretrain_steps=0``)."""
    import torch

    torch.set_num_threads(2)
    s, g, m, width, depth, embed = (SETTINGS[k] for k in ("sampling_steps", "group_size", "minibatches", "hidden",
                                                            "depth", "embed"))
    table = diffusion_policy.ddim_table(diffusion.scaled_linear_schedule().alpha_bars, s, 1.0)
    scale, coef, noise, time_in = (torch.tensor(np.asarray(v), dtype=torch.float32)
                                   for v in (table.scale, table.coef, table.noise, table.time))
    native = coef / noise
    credit = torch.full_like(native, float(native.mean()))
    freqs = torch.exp(torch.linspace(0.0, float(np.log(1000.0)), embed // 2))

    class Net(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.label = torch.nn.Embedding(2, embed)
            widths = [2 + 2 * embed] + [width] * depth
            self.hidden = torch.nn.ModuleList(torch.nn.Linear(a, b) for a, b in zip(widths[:-1], widths[1:]))
            self.out = torch.nn.Linear(width, 2)

        def forward(self, x, t):
            angle = t[:, None] * freqs
            h = torch.cat([x, torch.sin(angle), torch.cos(angle), self.label(torch.zeros(len(x), dtype=torch.long))], 1)
            for layer in self.hidden:
                h = torch.nn.functional.silu(layer(h))
            return self.out(h)

    rewards_out = []
    for seed, algorithm in pairs:
        torch.manual_seed(seed)
        hinge, proportionate = ALGORITHMS[algorithm] != "ddpo", ALGORITHMS[algorithm] == "pcpo"
        weight = credit if proportionate else native
        net = Net()
        opt = torch.optim.AdamW(net.parameters(), lr=1e-3, weight_decay=1e-4)
        history = []
        for _ in range(epochs + 1):
            with torch.no_grad():  # the on-policy batch
                x = torch.randn(g, 2)
                xs, zs, fs = [], [], []
                for k in range(s):
                    f = net(x, time_in[k].expand(g))
                    z = torch.randn(g, 2)
                    xs.append(x), zs.append(z), fs.append(f)
                    x = scale[k] * x - coef[k] * f + noise[k] * z
                reward = x[:, 0]
                history.append(float(reward.mean()))
                xs, zs, fs = torch.stack(xs, 1), torch.stack(zs, 1), torch.stack(fs, 1)  # [g, s, 2]
                adv = torch.clamp((reward - reward.mean()) / (reward.std(unbiased=False) + 1e-8), -5, 5)
                mask = (torch.argsort(torch.argsort(torch.rand(g, s), 1), 1) < round(0.98 * s)).float()
            for rows in torch.randperm(g).reshape(m, -1):
                f = net(xs[rows].reshape(-1, 2), time_in.repeat(len(rows))).reshape(len(rows), s, 2)
                delta = f - fs[rows]
                log_rho = -(weight * (delta * zs[rows]).sum(-1) + 0.5 * weight**2 * (delta**2).sum(-1))
                a = adv[rows][:, None]
                if hinge:
                    objective = torch.clamp(1e-4 * a.abs() - a * log_rho, min=0.0)
                else:
                    rho = torch.exp(log_rho)
                    objective = torch.maximum(-a * rho, -a * torch.clamp(rho, 1 - 1e-4, 1 + 1e-4))
                loss = (mask[rows] * objective).sum() / mask[rows].sum()
                opt.zero_grad()
                loss.backward()
                torch.nn.utils.clip_grad_norm_(net.parameters(), 1.0)
                opt.step()
        rewards_out.append(np.asarray(history))
    return rewards_out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seeds", type=int, default=64)
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--loop-runs", type=int, default=6)
    parser.add_argument("--torch-runs", type=int, default=6)
    parser.add_argument("--json", default=None)
    args = parser.parse_args()
    epochs, runs = args.epochs, args.seeds * len(ALGORITHMS)
    print(f"pcpo: {SETTINGS}, {args.seeds} seeds x {ALGORITHMS} x {epochs} epochs")
    out = {"environment": environment(), "settings": SETTINGS, "algorithms": ALGORITHMS, "seeds": args.seeds,
           "epochs": epochs}

    run, points = jitted_trajectory("pcpo", SETTINGS, {"algorithm": ALGORITHMS}, epochs)
    base = jax.random.key(0)
    begin = time.perf_counter()
    compiled = run.lower(points[0], jax.random.fold_in(base, 0)).compile()
    loop_compile = time.perf_counter() - begin
    pairs = [(seed, j) for seed in range(args.seeds) for j in range(len(ALGORITHMS))][: args.loop_runs]
    begin = time.perf_counter()
    looped = [jax.block_until_ready(compiled(points[j], jax.random.fold_in(base, seed))) for seed, j in pairs]
    loop_run = (time.perf_counter() - begin) * runs / len(pairs)
    out["loop"] = {"compile_s": loop_compile, "run_s": loop_run, "timed_runs": len(pairs),
                   "epochs_per_s": runs * epochs / loop_run}
    print(f"python loop over (seed, algorithm), jitted once: compile {loop_compile:.1f} s, run {loop_run:.1f} s "
          f"({out['loop']['epochs_per_s']:.1f} epochs/s; {len(pairs)} runs timed, extrapolated to {runs})")

    result = jc.run("pcpo", SETTINGS, {"algorithm": ALGORITHMS}, seeds=args.seeds, generations=epochs,
                    keep=("reward",))
    timing = result.timing
    out["jax"] = {**timing, "epochs_per_s": runs * epochs / timing["run_s"]}
    vmapped = np.stack([result.per_seed["reward"][j, seed] for seed, j in pairs])
    single = np.stack([np.asarray(m["reward"]) for m in looped])
    out["max_abs_diff_reward"] = float(np.max(np.abs(vmapped - single)))
    out["ratio_run"] = loop_run / timing["run_s"]
    out["ratio_total"] = (loop_compile + loop_run) / (timing["compile_s"] + timing["run_s"])
    print(f"jaxcollapse, one call: compile {timing['compile_s']:.1f} s, run {timing['run_s']:.1f} s "
          f"({out['jax']['epochs_per_s']:.1f} epochs/s)")
    print(f"ratio loop / one call: run {out['ratio_run']:.2f}x, compile + run {out['ratio_total']:.2f}x; "
          f"largest reward difference on the looped runs {out['max_abs_diff_reward']:.2g}")
    try:
        import torch  # noqa: F401
    except ImportError:
        print("PyTorch is not installed: no PyTorch loop")
    else:
        pairs = [(seed, j) for seed in range(args.seeds) for j in range(len(ALGORITHMS))][: args.torch_runs]
        begin = time.perf_counter()
        torch_rewards = torch_runs(pairs, epochs)
        torch_run = (time.perf_counter() - begin) * runs / len(pairs)
        out["torch_loop"] = {"run_s": torch_run, "timed_runs": len(pairs), "epochs_per_s": runs * epochs / torch_run,
                             "ratio_run": torch_run / timing["run_s"],
                             "ratio_total": torch_run / (timing["compile_s"] + timing["run_s"]),
                             "mean_reward_last": float(np.mean([r[-1] for r in torch_rewards]))}
        print(f"pytorch loop over (seed, algorithm): run {torch_run:.1f} s ({out['torch_loop']['epochs_per_s']:.1f} "
              f"epochs/s; {len(pairs)} runs timed, extrapolated); one call is {out['torch_loop']['ratio_run']:.2f}x on "
              f"run time, {out['torch_loop']['ratio_total']:.2f}x with its compile")
    if args.json:
        with open(args.json, "w") as handle:
            json.dump(out, handle, indent=1)


if __name__ == "__main__":
    main()
