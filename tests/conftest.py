"""Test-session set-up.

* One persistent compilation cache per test session, in a fresh temporary directory shared by
  the xdist workers, the notebook kernels and the CLI subprocesses (they inherit
  JAXCOLLAPSE_CACHE): a program that several tests compile is compiled once, and nothing is read
  from a cache that an earlier session (another version of the code) left behind.
* XLA's LLVM backend at optimisation level 1 (``--xla_backend_optimization_level=1``, inherited
  by workers, kernels and subprocesses): the suite is compile-bound, and level 1 compiles 30-40%
  faster with the same IEEE arithmetic (no fast-math at any level); only the rounding of a few
  results moves, by an ulp. Statistical assertions do not notice; bitwise ones compare runs made
  under the same flags. ``jaxcollapse validate`` checks the default build on a user's machine.
* Process-wide JAX flags (x64) are reset after every test, so no test depends on what ran before
  it in the same worker.
"""

import os
import shutil
import tempfile

import jax
import pytest


def pytest_configure(config):
    if not hasattr(config, "workerinput"):  # the controller (or a run without xdist)
        os.environ["JAXCOLLAPSE_CACHE"] = tempfile.mkdtemp(prefix="jaxcollapse-test-cache-")
        if "xla_backend_optimization_level" not in os.environ.get("XLA_FLAGS", ""):
            os.environ["XLA_FLAGS"] = f"{os.environ.get('XLA_FLAGS', '')} --xla_backend_optimization_level=1".strip()
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
