import jax
import pytest


@pytest.fixture(autouse=True)
def _float32_default():
    """Tests that switch on x64 must not leak it into the others."""
    yield
    jax.config.update("jax_enable_x64", False)
