"""The engine is generic: a neural model (equinox MLP + optax Adam) retrained every
generation on its own labels runs through the same plan/execute path, its training steps a
``lax.scan`` inside the generation step, vmapped over seeds and a learning-rate grid under
one compile. The study below lives in the test only; the engine is not touched for it."""

from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax

from jaxcollapse.engine import Param, Study, execute, plan

WIDTH, STEPS, BATCH = 16, 40, 64


def _skeleton():
    return eqx.nn.MLP(1, 1, WIDTH, 2, activation=jnp.tanh, key=jax.random.key(0))


def _truth(x):
    return jnp.sin(3 * x)


class SelfLabelledRegression(Study):
    name = "toy-neural"
    description = "MLP refitted to its own noisy labels"
    params = (
        Param("lr", "Adam learning rate", 1e-2, low=0.0),
        Param("noise", "label noise", 0.1, low=0.0),
    )
    metrics = ("test_mse",)

    @classmethod
    def build(cls, configs, generations):
        return cls()

    def numeric(self, config: dict[str, Any]):
        return {"lr": np.float32(config["lr"]), "noise": np.float32(config["noise"])}

    def _train(self, weights, key, labeller, params):
        static = eqx.filter(_skeleton(), eqx.is_array, inverse=True)
        optimizer = optax.adam(params["lr"])
        k_x, k_noise = jax.random.split(key)
        x = jax.random.uniform(k_x, (BATCH, 1), minval=-1, maxval=1)
        y = labeller(x) + params["noise"] * jax.random.normal(k_noise, (BATCH, 1))

        def loss(w):
            model = eqx.combine(w, static)
            return jnp.mean((jax.vmap(model)(x) - y) ** 2)

        def update(carry, _):
            w, opt_state = carry
            grads = jax.grad(loss)(w)
            updates, opt_state = optimizer.update(grads, opt_state, w)
            return (optax.apply_updates(w, updates), opt_state), None

        (weights, _), _ = jax.lax.scan(update, (weights, optimizer.init(weights)), None, STEPS)
        return weights

    def _measure(self, weights):
        model = eqx.combine(weights, eqx.filter(_skeleton(), eqx.is_array, inverse=True))
        grid = jnp.linspace(-1, 1, 101)[:, None]
        return {"test_mse": jnp.mean((jax.vmap(model)(grid) - _truth(grid)) ** 2)}

    def init(self, key, params):
        k_init, k_train = jax.random.split(key)
        weights = eqx.filter(eqx.nn.MLP(1, 1, WIDTH, 2, activation=jnp.tanh, key=k_init), eqx.is_array)
        weights = self._train(weights, k_train, _truth, params)
        return weights, self._measure(weights)

    def step(self, weights, key, t, params):
        previous = eqx.combine(weights, eqx.filter(_skeleton(), eqx.is_array, inverse=True))
        weights = self._train(weights, key, jax.vmap(previous), params)
        return weights, self._measure(weights)


def test_neural_study_runs_through_the_engine():
    the_plan = plan(SelfLabelledRegression, {"noise": 0.1}, {"lr": [0.0, 1e-2]}, seeds=12, generations=4)
    raw = execute(the_plan)
    assert len(raw.chunks) == 1  # the learning-rate grid is one compiled computation
    errors = raw.per_seed["test_mse"]  # [lr, seed, generation]
    assert np.all(np.isfinite(errors))
    # lr = 0: the weights never move, so the error is the same at every generation.
    assert np.all(errors[0] == errors[0][:, :1])
    # lr = 1e-2: training on the truth at generation 0 beats the untrained network.
    assert np.mean(errors[1, :, 0]) < 0.5 * np.mean(errors[0, :, 0])


def test_neural_study_same_numbers_whatever_the_chunk():
    """Seed keys and the compiled seed block do not depend on the chunk, so a neural study is
    bitwise identical for any chunk size (as the Gaussian study: test_reproducibility.py)."""
    runs = [execute(plan(SelfLabelledRegression, {}, {}, seeds=300, generations=2, chunk=c)) for c in (256, 512)]
    assert runs[0].chunks != runs[1].chunks
    np.testing.assert_array_equal(runs[0].per_seed["test_mse"], runs[1].per_seed["test_mse"])
