"""Streaming reductions over seeds that do not depend on chunking, devices or hosts.

Seeds are reduced in fixed blocks of consecutive global seed indices (the engine's seed block,
which is also its unit of compilation). Chunks are whole numbers of blocks, and every block is
reduced by the same compiled program whoever computes it.

On the device, each block is shifted by its first seed's value c and summed pairwise (a fixed
tree of additions, no reordering by the compiler) in the run's dtype:
  D1 = sum_i (x_i - c),   D2 = sum_i (x_i - c)^2   over the block's real seeds.
On the host, in float64, mean = c + D1/n and M2 = D2 - D1^2/n (exact algebra for any shift; the
shift keeps D2 free of cancellation). Only these per-block numbers leave the device; per-seed
arrays are copied only for the metrics a run keeps.

The blocks are then merged one after another in seed order with Chan et al.'s pairwise update:
  n = n_a + n_b,   d = mean_b - mean_a,
  mean = mean_a + d n_b / n,   M2 = M2_a + M2_b + d^2 n_a n_b / n.
Means and standard errors are therefore bitwise identical for any chunk size, device count or
host count. Cost and memory per chunk are linear in the chunk and flat in the seed count. In
float32 the pairwise sums carry a relative error of at most about log2(block) eps32 ~ 5e-7 of
sum |x - c| (a per-seed float32 value is itself rounded at 6e-8).
"""

from __future__ import annotations

from dataclasses import dataclass

import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Bool, Float


def pairwise_sum(x: Float[Array, "points block"]) -> Float[Array, " points"]:
    """Sum over axis 1 by a fixed binary tree of additions (deterministic on every backend)."""
    while x.shape[1] > 1:
        if x.shape[1] % 2:
            x = jnp.concatenate([x, jnp.zeros_like(x[:, :1])], axis=1)
        half = x.shape[1] // 2
        x = x[:, :half] + x[:, half:]
    return x[:, 0]


def device_block_moments(values: Float[Array, "points block"], valid: Bool[Array, " block"]) -> dict:
    """One generation of one block: shift c, D1 and D2 of the seeds where ``valid`` (module
    docstring), each [points]."""
    shift = values[:, 0]
    centred = jnp.where(valid[None, :], values - shift[:, None], 0)
    return {"shift": shift, "sum": pairwise_sum(centred), "sum_sq": pairwise_sum(centred * centred)}


def host_block_moments(count: np.ndarray, moments: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(count [blocks], mean [points, blocks, T], M2 [points, blocks, T]) in float64 from the
    device's blocks (count [blocks], shift/sum/sum_sq [points, blocks, T]); empty blocks (a run's
    padding) are dropped."""
    count = count.astype(np.float64)
    real = count > 0
    count = count[real]
    shift, first, second = (moments[k][:, real].astype(np.float64) for k in ("shift", "sum", "sum_sq"))
    n = count[None, :, None]
    with np.errstate(invalid="ignore"):
        return count, shift + first / n, np.maximum(second - first**2 / n, 0.0)


@dataclass
class Moments:
    """Running count, mean and M2 per (grid point, generation)."""

    count: np.ndarray
    mean: np.ndarray
    m2: np.ndarray

    @classmethod
    def zeros(cls, shape: tuple[int, ...]) -> Moments:
        return cls(np.zeros(shape), np.zeros(shape), np.zeros(shape))

    def merge(self, rows: list[int], count: np.ndarray, mean: np.ndarray, m2: np.ndarray) -> None:
        """Merge blocks (count [blocks], mean/M2 [len(rows), blocks, T]) into ``rows``, in order."""
        n_a, mean_a, m2_a = self.count[rows], self.mean[rows], self.m2[rows]
        with np.errstate(invalid="ignore", over="ignore"):
            for b in range(count.shape[0]):
                n_b = count[b]
                total = n_a + n_b
                delta = mean[:, b] - mean_a
                first = n_a == 0
                mean_a = np.where(first, mean[:, b], mean_a + delta * (n_b / total))
                m2_a = np.where(first, m2[:, b], m2_a + m2[:, b] + delta**2 * (n_a * n_b / total))
                n_a = total
        self.count[rows], self.mean[rows], self.m2[rows] = n_a, mean_a, m2_a

    def stderr(self) -> np.ndarray:
        with np.errstate(invalid="ignore", divide="ignore"):
            variance = self.m2 / np.maximum(self.count - 1, 1)
            return np.sqrt(np.maximum(variance, 0.0) / self.count)
