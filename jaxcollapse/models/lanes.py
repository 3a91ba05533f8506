"""Samplers that take the whole batch: a custom vmap rule and counter-based random numbers.

Under ``vmap`` a per-seed sampler's arrays put the seeds first, and XLA's CPU emitter
vectorises along the last axis: a reduction over each seed's n samples, with the samples'
transform fused into it, runs one element at a time. ``lane_batched`` gives a function every
vmapped axis (seeds, grid points) folded into one lane axis, so it can lay the lanes last.
Its random numbers come from ``threefry2x32`` of each lane's own key words with a counter, so
a lane's draws depend on its own key only, never on the batch, block, chunk or device count.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float, PRNGKeyArray

THREEFRY_ROTATIONS = ((13, 15, 26, 6), (17, 29, 16, 24))


def threefry2x32(k1, k2, x1, x2):
    """Threefry-2x32, 20 rounds (Salmon et al. 2011), bitwise ``jax.extend.random.threefry2x32_p``
    (tested), with the rounds unrolled: JAX lowers the primitive on a CPU as a loop over groups
    of rounds, one pass over memory each, 4.7x slower; unrolled it fuses with its consumer."""
    keys = (k1, k2, k1 ^ k2 ^ np.uint32(0x1BD11BDA))
    x1, x2 = x1 + keys[0], x2 + keys[1]
    for group in range(5):
        for r in THREEFRY_ROTATIONS[group % 2]:
            x1 = x1 + x2
            x2 = x1 ^ ((x2 << np.uint32(r)) | (x2 >> np.uint32(32 - r)))
        x1 = x1 + keys[(group + 1) % 3]
        x2 = x2 + keys[(group + 2) % 3] + np.uint32(group + 1)
    return x1, x2


def unit(*words):
    """Uniforms in [0, 1) from uint32 words: one word each in float32, two in float64 (the
    mantissa bits of ``jax.random.uniform``)."""
    if len(words) == 1:
        return jax.lax.bitcast_convert_type((words[0] >> 9) | np.uint32(0x3F800000), jnp.float32) - 1.0
    wide = (words[0].astype(jnp.uint64) << 32 | words[1].astype(jnp.uint64)) >> 12
    return jax.lax.bitcast_convert_type(wide | np.uint64(0x3FF0000000000000), jnp.float64) - 1.0


def typed_key(key: PRNGKeyArray) -> PRNGKeyArray:
    """``key`` as a typed key array: a raw uint32 key is of the default implementation."""
    if jax.dtypes.issubdtype(key.dtype, jax.dtypes.prng_key):
        return key
    return jax.random.wrap_key_data(key)


# Generators whose bits, under vmap, all come from the batch's first key (docs/scaling).
SHARED_BITS = ("rbg", "unsafe_rbg")


def threefry_if_shared(key: PRNGKeyArray) -> PRNGKeyArray:
    """``key`` itself, or for ``rbg``/``unsafe_rbg`` (whose bits, under vmap, all come from the
    batch's first key) a threefry key made of the first two words of its data, so that every
    lane draws from its own stream."""
    if str(jax.random.key_impl(key)) in SHARED_BITS:
        return jax.random.wrap_key_data(jax.random.key_data(key)[..., :2], impl="threefry2x32")
    return key


def lanes_draw_normals(keys: PRNGKeyArray, dtype) -> bool:
    """Whether ``standard_normal_lanes`` draws ``jax.random.normal``'s bits for these keys and
    (canonical) dtype: threefry keys, float32 or float64, ``jax_threefry_partitionable`` on."""
    return (str(jax.random.key_impl(keys)) == "threefry2x32" and jnp.dtype(dtype) in (jnp.dtype(jnp.float32), jnp.dtype(jnp.float64))
            and bool(jax.config.jax_threefry_partitionable))


def standard_normal_lanes(keys: PRNGKeyArray, rows: int, dtype) -> Float[Array, "rows lanes"]:
    """Column l is bitwise ``jax.random.normal(keys[l], (rows, 1), dtype)[:, 0]`` (threefry keys,
    ``jax_threefry_partitionable`` on, JAX's default): the bits of counter (0, i) are
    hi ^ lo (float32) or hi << 32 | lo (float64) of threefry2x32, the uniform on (-1, 1) is
    max(lo, f (1 - lo) + lo) and the normal sqrt(2) erfinv(u)."""
    if not lanes_draw_normals(keys, dtype):
        raise ValueError(f"standard_normal_lanes: keys {jax.random.key_impl(keys)} and dtype {jnp.dtype(dtype)}: "
                         "needs threefry keys, float32 or float64, and jax_threefry_partitionable")
    words = jax.random.key_data(keys).T  # [2, lanes]
    count = jax.lax.broadcasted_iota(jnp.uint32, (rows, keys.shape[0]), 0)
    hi, lo_bits = threefry2x32(words[0][None], words[1][None], jnp.zeros_like(count), count)
    floats = unit(hi ^ lo_bits) if dtype == jnp.float32 else unit(hi, lo_bits)
    low = np.nextafter(np.array(-1.0, dtype), np.array(0.0, dtype), dtype=dtype)
    u = jnp.maximum(low, floats * (np.array(1.0, dtype) - low) + low)
    return np.array(np.sqrt(2), dtype) * jax.lax.erf_inv(u)


def lane_batched(fn):
    """``fn(*arrays, **static)`` whose arrays share a leading lane axis and whose result is one
    array with that leading axis. Under ``vmap`` every vmapped axis becomes more lanes
    ([axis, lanes, ...] -> [axis x lanes, ...]), so ``fn`` always sees the whole batch. The
    keyword arguments are static (hashable)."""

    @functools.cache
    def kernel(static: tuple):
        @jax.custom_batching.custom_vmap
        def call(*arrays):
            return fn(*arrays, **dict(static))

        @call.def_vmap
        def batched(axis_size, in_batched, *arrays):
            arrays = [a if batched else jnp.broadcast_to(a, (axis_size,) + a.shape)
                      for a, batched in zip(arrays, in_batched)]
            lanes = arrays[0].shape[1]
            out = call(*(a.reshape((-1,) + a.shape[2:]) for a in arrays))
            return out.reshape((axis_size, lanes) + out.shape[1:]), True

        return call

    @functools.wraps(fn)
    def wrapper(*arrays, **static):
        return kernel(tuple(sorted(static.items())))(*arrays)

    return wrapper
