"""models.linalg: the CPU's one-matrix-at-a-time path and the batched path (other backends) agree,
and each platform's program holds its own path."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxcollapse.models import linalg

RNG = np.random.default_rng(0)
SQUARE = RNG.normal(size=(6, 5, 5)).astype(np.float32)
SPD = np.einsum("bij,bkj->bik", SQUARE, SQUARE) + 5 * np.eye(5, dtype=np.float32)
TALL = RNG.normal(size=(6, 7, 4)).astype(np.float32)

CASES = {
    "svdvals": (linalg.svdvals, lambda a: jnp.linalg.svd(a, compute_uv=False), (TALL,)),
    "eigvalsh": (linalg.eigvalsh, jnp.linalg.eigvalsh, (SPD,)),
    "solve": (linalg.solve, jnp.linalg.solve, (SPD, SQUARE[:, :, 0])),
    "inverse_cholesky": (linalg.inverse_cholesky,
                         lambda s: jnp.linalg.inv(jnp.linalg.cholesky(s)), (SPD,)),
    "nuclear_norm": (linalg.nuclear_norm, lambda t: jnp.sum(jnp.linalg.svd(t, compute_uv=False)), (TALL,)),
}


@pytest.mark.parametrize("name", CASES)
def test_serial_and_batched_paths_agree(name):
    """vmap of the wrapped function (on this CPU: one matrix at a time) against jnp's batched call,
    and against each matrix alone."""
    ours, reference, args = CASES[name]
    got = np.asarray(jax.jit(jax.vmap(ours))(*args))
    batched = np.asarray(jax.jit(jax.vmap(reference))(*args))
    alone = np.stack([np.asarray(reference(*(a[i] for a in args))) for i in range(args[0].shape[0])])
    np.testing.assert_allclose(got, batched, rtol=2e-4, atol=2e-5)
    np.testing.assert_allclose(got, alone, rtol=2e-4, atol=2e-5)


def _exported(platform):
    """The StableHLO of a vmapped eigvalsh over 6 matrices, lowered for ``platform`` (no device
    of that kind is needed to lower for it)."""
    return jax.export.export(jax.jit(jax.vmap(linalg.eigvalsh)), platforms=[platform])(SPD).mlir_module()


def _solver_calls(text):
    return [line for line in text.splitlines() if "custom_call" in line and "syevd" in line]


def test_the_cpu_runs_one_matrix_at_a_time_and_a_gpu_the_batch():
    """Lowered for the CPU, the factorisation is a loop over the batch around one unbatched LAPACK
    call; lowered for CUDA, it is one cuSOLVER call on the whole batch and no loop."""
    cpu, cuda = _exported("cpu"), _exported("cuda")
    assert "stablehlo.while" in cpu and "stablehlo.while" not in cuda
    (lapack,), (cusolver,) = _solver_calls(cpu), _solver_calls(cuda)
    assert "lapack" in lapack and "tensor<5x5xf32>" in lapack and "tensor<6x5x5xf32>" not in lapack
    assert "cusolver" in cusolver and "tensor<6x5x5xf32>" in cusolver


def test_one_at_a_time_is_a_map():
    x = jnp.arange(12.0).reshape(3, 4)
    np.testing.assert_array_equal(linalg.one_at_a_time(lambda row: row * 2 + 1, x), x * 2 + 1)
