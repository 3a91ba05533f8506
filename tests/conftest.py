"""Test-session set-up.

* One persistent compilation cache per test session, in a fresh temporary directory shared by
  the xdist workers, the notebook kernels and the CLI subprocesses (they inherit
  JAXCOLLAPSE_CACHE): a program that several tests compile is compiled once, and nothing is read
  from a cache that an earlier session (another version of the code) left behind.
* XLA's CPU compiler set for compile speed (``TEST_XLA_FLAGS``, inherited by workers, kernels and
  subprocesses): the suite is compile-bound. LLVM at optimisation level 1 compiles 30-40% faster
  than the default; XLA's older elemental emitters instead of its MLIR fusion emitters
  (``--xla_cpu_use_fusion_emitters=false``) take about a third off each compile (kde's programs:
  15.5 s -> 9.9 s) at a few percent more run time; 44 compile-heavy tests run 13-17% faster,
  timed side by side on 2 cores. Both keep IEEE arithmetic (no fast-math);
  only the rounding of a few results moves, by an ulp. Statistical assertions do not notice; bitwise ones compare runs made
  under the same flags. ``jaxcollapse validate`` checks the default build on a user's machine.
  Each flag is added only for the jaxlib series it was seen accepted by (``jaxcollapse.xla_flags``):
  jaxlib 0.11.2 no longer knows the fusion-emitter flag, and XLA ends a process on an unknown flag.
* Process-wide JAX flags (x64) are reset after every test, so no test depends on what ran before
  it in the same worker.
"""

import os
import shutil
import tempfile

import jax
import pytest

from jaxcollapse import xla_flags

TEST_XLA_FLAGS = {"--xla_backend_optimization_level=1": (0, 11), "--xla_cpu_use_fusion_emitters=false": (0, 10)}


def pytest_configure(config):
    if not hasattr(config, "workerinput"):  # the controller (or a run without xdist)
        os.environ["JAXCOLLAPSE_CACHE"] = tempfile.mkdtemp(prefix="jaxcollapse-test-cache-")
        for flag, accepted_through in TEST_XLA_FLAGS.items():
            xla_flags.add(flag, accepted_through)
    import jaxcollapse as jc

    jc.api.enable_compilation_cache(os.environ["JAXCOLLAPSE_CACHE"])


def pytest_unconfigure(config):
    if not hasattr(config, "workerinput"):
        shutil.rmtree(os.environ.pop("JAXCOLLAPSE_CACHE"), ignore_errors=True)


@pytest.fixture(autouse=True)
def _float32_default():
    """Tests that switch on x64 must not leak it into the others."""
    yield
    jax.config.update("jax_enable_x64", False)
