"""Batched linear algebra that never hands the CPU's LAPACK a batch.

jaxlib's CPU LAPACK kernels (seen in 0.9.2 and 0.10.2) split a batched call into tasks on the
intra-op thread pool and block the calling pool thread until those tasks finish. When as many
batched calls run at once as the pool has threads (two independent factorisations in one step,
on a 2-core machine), every thread waits and the program hangs in ``block_until_ready``. Under
``vmap`` each function here therefore runs its matrices one after another on the CPU
(``lax.map``), so LAPACK only ever sees one matrix and works in the calling thread. On every other
backend (cuSOLVER, TPU) the deadlock does not exist and the batch goes to the batched kernel in
one call (``lax.platform_dependent``: the choice is made when the program is lowered for its
platform, so the compiler never sees both). Use these wherever a traced step holds two or more
independent factorisations; a single chain of calls per step cannot hang. A program whose LAPACK
calls all come from here may also run two seed blocks at once, one per core (the engine's
``sweep.overlap_safe``); a program with a batched call runs one block at a time.

``inverse_cholesky`` and ``nuclear_norm`` carry their own JVPs (so the serial primal never
needs differentiating) and are safe under ``grad``.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jax.scipy.linalg import solve_triangular
from jaxtyping import Array, Float


def serial(fn):
    """``fn`` on unbatched arrays; under vmap, on the CPU a ``lax.map`` over the batch of ``fn``
    itself (so nested vmaps stay serial too), elsewhere ``vmap(fn)`` (the batched kernel)."""
    wrapped = jax.custom_batching.custom_vmap(fn)

    @wrapped.def_vmap
    def _rule(axis_size, in_batched, *args):
        args = tuple(a if batched else jnp.broadcast_to(a, (axis_size, *jnp.shape(a)))
                     for a, batched in zip(args, in_batched))
        out = jax.lax.platform_dependent(*args, cpu=lambda *xs: one_at_a_time(wrapped, *xs),
                                         default=lambda *xs: jax.vmap(fn)(*xs))
        return out, jax.tree.map(lambda _: True, out)

    return wrapped


def one_at_a_time(fn, *args):
    """``fn`` over the leading axis of ``args``, one element after another (the CPU path)."""
    return jax.lax.map(lambda xs: fn(*xs), args)


svdvals = serial(lambda a: jnp.linalg.svd(a, compute_uv=False))
svd = serial(lambda a: jnp.linalg.svd(a, full_matrices=False))
eigh = serial(lambda a: tuple(jnp.linalg.eigh(a)))
eigvalsh = serial(lambda a: jnp.linalg.eigvalsh(a))
qr = serial(lambda a: tuple(jnp.linalg.qr(a)))
solve = serial(lambda a, b: jnp.linalg.solve(a, b))
_inverse_cholesky = serial(lambda s: solve_triangular(jnp.linalg.cholesky(s), jnp.eye(s.shape[0], dtype=s.dtype),
                                                      lower=True))


@jax.custom_jvp
def inverse_cholesky(s: Float[Array, "p p"]) -> Float[Array, "p p"]:
    """K = L^-1 for the Cholesky factor L L^T = s: a whitening, K s K^T = I."""
    return _inverse_cholesky(s)


@inverse_cholesky.defjvp
def _inverse_cholesky_jvp(primals, tangents):
    """dL = L Phi(K dS K^T) (Murray 2016), so dK = -K dL K = -Phi(K dS K^T) K, with Phi the
    lower triangle with a halved diagonal; dS is symmetrised first, as jax's own cholesky does."""
    (s,), (ds,) = primals, tangents
    k = inverse_cholesky(s)
    x = k @ (0.5 * (ds + ds.T)) @ k.T
    phi = jnp.tril(x) - 0.5 * jnp.diag(jnp.diagonal(x))
    return k, -phi @ k


@jax.custom_jvp
def nuclear_norm(t: Float[Array, "a b"]) -> Float[Array, ""]:
    """||t||_* = sum of singular values, with d||t||_* = tr(U^T dt V): defined whenever t has full
    rank, whereas differentiating U, S, V separately divides by s_i^2 - s_j^2 and fails on ties."""
    return jnp.sum(svdvals(t))


@nuclear_norm.defjvp
def _nuclear_norm_jvp(primals, tangents):
    (t,), (dt,) = primals, tangents
    u, s, vt = svd(t)
    return jnp.sum(s), jnp.sum(u * (dt @ vt.T))
