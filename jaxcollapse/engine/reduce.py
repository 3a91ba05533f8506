"""Streaming reductions over seeds that do not depend on chunking, devices or hosts.

Seeds are reduced in fixed blocks of consecutive global seed indices (the engine's seed block,
which is also its unit of compilation). Chunks are whole numbers of blocks (only the last block
of a run may be short), so every block is reduced the same way whoever computes it.

Each block gets two sequential float64 passes over its seeds:
* the mean, from a left-to-right sum;
* M2 = sum (x - mean)^2.

The blocks are then merged one after another in seed order with Chan et al.'s pairwise update:
  n = n_a + n_b,   d = mean_b - mean_a,
  mean = mean_a + d n_b / n,   M2 = M2_a + M2_b + d^2 n_a n_b / n.
Means and standard errors are therefore bitwise identical for any chunk size, device count or
host count. Cost and memory per chunk are linear in the chunk and flat in the seed count.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

def block_moments(values: np.ndarray, valid: int, block: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-block (count [blocks], mean [points, blocks, T], M2 [points, blocks, T]) of the
    first ``valid`` seeds of ``values`` [points, seeds, T]; seeds are a whole number of blocks
    except at the very end of a run."""
    points, _, width = values.shape
    blocks = -(-valid // block)
    padded = np.zeros((points, blocks * block, width))
    padded[:, :valid] = values[:, :valid]
    grouped = padded.reshape(points, blocks, block, width)
    count = np.minimum(block, valid - block * np.arange(blocks)).astype(np.float64)
    total = np.zeros((points, blocks, width))
    for row in range(block):  # strictly sequential over the seeds of a block
        total += grouped[:, :, row]  # padding adds exact zeros
    mean = total / count[None, :, None]
    m2 = np.zeros_like(total)
    with np.errstate(invalid="ignore"):
        for row in range(block):
            inside = (row < count)[None, :, None]
            m2 += np.where(inside, (grouped[:, :, row] - mean) ** 2, 0.0)
    return count, mean, m2


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
