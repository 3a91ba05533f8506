"""``dcca``: deep CCA degrading over *training epochs*, and its noise regularisation
(He, Du, Ma & Xu, "Preventing Model Collapse in Deep Canonical Correlation Analysis by Noise
Regularization", NeurIPS 2024, arXiv:2411.00383).

Here collapse is not recursive retraining on synthetic data: one pair of encoders is trained
for many epochs and its representation gets worse. A "generation" of the engine is a block of
``epochs_per_step`` full-batch Adam epochs; metrics are logged after every block (t = 0 is the
untrained network).

Synthetic data ("God embedding", the paper note's proposed construction, since the paper's
Phi, psi and noise are not stated): per seed, G ~ N(0, I_latent) for n_train + n_test rows;
view k sees the coordinates S_k of G, with |S_1| = |S_2| = m = round(latent / (2 - c)),
S_1 = the first m, S_2 the last m coordinates, so |S_1 cap S_2| = cm and S_1 cup S_2 is all
of G: the common rate c in [0, 1] is the overlapping share of each view's coordinates
(implemented as masks, so c is traced). X_k = standardise(Phi_k(G_Sk) + view_noise * eps)
with Phi_k a random two-layer tanh network of gain ``sharpness`` (sharper maps keep raw
features from winning outright). Tasks T_j = psi_j(G), j = 1..tasks, random one-hidden-layer
tanh networks of all of G, standardised.

Methods (traced, one compile for a grid over method x alpha x c):
  dcca     maximise Corr(f_1(X_1), f_2(X_2)) (total correlation, models.cca)
  nr-dcca  add alpha * sum_k |Corr(f_k(X_k), f_k(A_k)) - Corr(X_k, A_k)| (Eq. 6), with
           A_k ~ N(0, 1) shaped like X_k and redrawn every epoch, through the same encoder
  dccae    add recon_weight * sum_k mean ||g_k(f_k(X_k)) - X_k||^2 with decoders g_k
Linear CCA (closed form, ``cca_components`` directions per view; with as many directions as
features it spans what CONCAT spans, hence the default of half) and CONCAT (raw views) are
reported in every run as the constant metrics r2_cca and r2_concat.

Metrics per logged block (test rows, representations concat_k f_k(X_k)):
  r2              ridge R^2 (penalty eval_ridge) averaged over tasks, ``folds``-fold CV
  corr_train, corr_test   total correlation of the two views' representations
  noise_gap       sum_k |Corr(f_k(X_k), f_k(A_k)) - Corr(X_k, A_k)| on the test rows, A fixed per seed
  nesum_first, nesum_mean NESum (sum s_i / s_max) of view 1's first weight matrix, and the mean
                  over every encoder weight matrix
  nesum_input, nesum_hidden, nesum_output  NESum by layer, averaged over the two views: the input
                  matrix, the hidden-to-hidden matrices (NaN at depth 1: there are none), the output
  recon_error     relative error of the best linear reconstruction of X_k from f_k(X_k) (mean over views)
  denoise_error   the same for noise A_k from f_k(A_k): how much of an input the encoder keeps
  r2_cca, r2_concat  the linear baselines
The reconstruction and denoising read-outs are linear probes (the paper's exact definitions are
not in the note); they measure what the paper's diagnostics measure, information an encoder drops.

Readings of the details the paper note marks uncertain: Corr sums *all* canonical correlations
(equal to the top-out_dim sum, as out_dim is the number of components); the noise A_k is redrawn
every epoch (the prototype found a fixed draw works too); NESum is sum s_i / s_max; the
generator, common rate, alpha values, learning rate and sizes are the note's proposal, scaled to
a 2-core CPU. With these, DCCA's R^2 rises then falls and NR-DCCA stays flat above it (the
paper's stated result); docs/studies/dcca.md says which diagnostics do not reproduce.
"""

from __future__ import annotations

from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax

from ..engine.params import ConfigError, Param
from ..engine.study import Study, float_dtype
from ..models import cca
from .registry import Preset, register_preset, register_study

METHODS = ("dcca", "nr-dcca", "dccae")
DCCA, NR_DCCA, DCCAE = range(3)
TASK_WIDTH = 16


class Encoders(eqx.Module):
    """One MLP encoder per view (and, for DCCAE, one decoder per view)."""

    encoders: tuple[eqx.nn.MLP, ...]
    decoders: tuple[eqx.nn.MLP, ...]

    def __init__(self, view_dim: int, out_dim: int, hidden: int, depth: int, decoders: bool, *, key):
        keys = jax.random.split(key, 4)
        self.encoders = tuple(eqx.nn.MLP(view_dim, out_dim, hidden, depth, activation=jax.nn.relu, key=k)
                              for k in keys[:2])
        self.decoders = tuple(eqx.nn.MLP(out_dim, view_dim, hidden, depth, activation=jax.nn.relu, key=k)
                              for k in keys[2:]) if decoders else ()

    def encode(self, view: int, x):
        return jax.vmap(self.encoders[view])(x)

    def weight_matrices(self) -> list:
        return [layer.weight for encoder in self.encoders for layer in encoder.layers]


def _standardise(x):
    return (x - x.mean(0)) / jnp.maximum(x.std(0), 1e-6)


def _random_net(key, x, width: int, out: int, gain):
    """A random tanh network x -> tanh(gain x W1 / sqrt(fan_in) + b1) W2 / sqrt(width)."""
    k1, k2, k3 = jax.random.split(key, 3)
    w1 = jax.random.normal(k1, (x.shape[1], width), x.dtype)
    b1 = jax.random.normal(k2, (width,), x.dtype)
    w2 = jax.random.normal(k3, (width, out), x.dtype)
    return jnp.tanh(gain * x @ w1 / jnp.sqrt(x.shape[1]) + b1) @ w2 / jnp.sqrt(width)


@register_study
class DCCAStudy(Study):
    name = "dcca"
    description = "Deep CCA collapsing over training epochs, and noise regularisation (He et al., NR-DCCA)"
    params = (
        Param("method", "dcca, nr-dcca or dccae (traced)", "nr-dcca", kind="choice", choices=METHODS),
        Param("alpha", "NR weight alpha (nr-dcca)", 10.0, low=0.0),
        Param("recon_weight", "reconstruction weight (dccae)", 1.0, low=0.0),
        Param("common_rate", "share c of each view's latent coordinates that the views share", 0.4, low=0.0, high=1.0),
        Param("latent", "latent dimension d of G (static)", 30, kind="int", static=True, low=2, high=4096),
        Param("view_dim", "features per view (static)", 30, kind="int", static=True, low=1, high=4096),
        Param("out_dim", "representation size per view (static)", 30, kind="int", static=True, low=1, high=4096),
        Param("hidden", "encoder hidden width (static)", 128, kind="int", static=True, low=1, high=4096),
        Param("depth", "encoder hidden layers (static)", 2, kind="int", static=True, low=1, high=64),
        Param("n_train", "training rows (static)", 1000, kind="int", static=True, low=2, high=10**6),
        Param("n_test", "test rows, used by every read-out (static)", 1000, kind="int", static=True, low=2, high=10**6),
        Param("tasks", "downstream regression tasks (static)", 20, kind="int", static=True, low=1, high=4096),
        Param("epochs_per_step", "training epochs between two logged points (static)", 10, kind="int", static=True, low=1, high=10**5),
        Param("learning_rate", "Adam learning rate", 1e-3, low=0.0),
        Param("ridge", "ridge r of the correlation objective", 1e-3, low=0.0),
        Param("eval_ridge", "ridge penalty of the downstream read-out", 1.0, low=0.0),
        Param("folds", "cross-validation folds of the read-out (static)", 5, kind="int", static=True, low=2, high=100),
        Param("cca_components", "linear CCA directions per view (static; default min(out_dim, view_dim) // 2)", None, kind="int", static=True, low=1, high=4096),
        Param("view_noise", "noise sd added to each view before standardising", 0.2, low=0.0),
        Param("sharpness", "gain of the random view maps Phi_k", 2.0, low=0.0),
    )
    metrics = ("r2", "corr_train", "corr_test", "noise_gap", "nesum_first", "nesum_mean", "nesum_input",
               "nesum_hidden", "nesum_output", "recon_error",
               "denoise_error", "r2_cca", "r2_concat")
    metric_docs = {
        "r2": "ridge R^2 predicting the tasks from the test representations, folds-fold CV, task mean",
        "corr_train": "sum of canonical correlations of the two views' representations, training rows",
        "corr_test": "sum of canonical correlations of the two views' representations, test rows",
        "noise_gap": "sum_k |Corr(f_k(X_k), f_k(A_k)) - Corr(X_k, A_k)| on test rows, noise A fixed",
        "nesum_first": "NESum (sum_i s_i / s_max, an effective rank) of view 1's input weight matrix",
        "nesum_mean": "NESum averaged over every weight matrix of both encoders",
        "nesum_input": "NESum of the input weight matrix, mean over the two views",
        "nesum_hidden": "NESum of the hidden-to-hidden matrices, mean over both views; NaN at depth 1",
        "nesum_output": "NESum of the output weight matrix, mean over the two views",
        "recon_error": "relative error of the best linear map from f_k(X_k) back to X_k on test rows, mean over k",
        "denoise_error": "relative error of the best linear map from f_k(A_k) back to the noise A_k, mean over k",
        "r2_cca": "R^2 of linear CCA's projections of the raw views (constant baseline)",
        "r2_concat": "R^2 of the two raw views concatenated, CONCAT (constant baseline)",
    }
    # Each epoch is dozens of small SVDs / Cholesky factors (serial, ``jaxcollapse.models.linalg``), so
    # a wide block gains nothing on a CPU: the automatic chunk is one block of moderate width.
    block_bytes = 1 << 26
    chunk_bytes = 1 << 26

    latent: int = eqx.field(static=True)
    view_dim: int = eqx.field(static=True)
    out_dim: int = eqx.field(static=True)
    hidden: int = eqx.field(static=True)
    depth: int = eqx.field(static=True)
    n_train: int = eqx.field(static=True)
    n_test: int = eqx.field(static=True)
    tasks: int = eqx.field(static=True)
    epochs: int = eqx.field(static=True)
    folds: int = eqx.field(static=True)
    cca_components: int = eqx.field(static=True)
    regularises: bool = eqx.field(static=True)  # some point runs nr-dcca
    reconstructs: bool = eqx.field(static=True)  # some point runs dccae

    @classmethod
    def check(cls, config: dict[str, Any], generations: int) -> dict[str, Any]:
        config = dict(config)
        if config["cca_components"] is None:  # fewer directions than features, or CCA = CONCAT
            config["cca_components"] = max(1, min(config["out_dim"], config["view_dim"]) // 2)
        if config["cca_components"] > config["view_dim"]:
            raise ConfigError(f"cca_components={config['cca_components']}: at most view_dim={config['view_dim']}")
        if config["n_test"] < 2 * config["folds"]:
            raise ConfigError(f"n_test={config['n_test']}: needs at least 2 rows per fold (folds={config['folds']})")
        if config["out_dim"] >= config["n_train"]:
            raise ConfigError(f"out_dim={config['out_dim']}: must be below n_train={config['n_train']} (covariances)")
        return config

    @classmethod
    def build(cls, configs: list[dict[str, Any]], generations: int) -> "DCCAStudy":
        first = configs[0]
        return cls(latent=first["latent"], view_dim=first["view_dim"], out_dim=first["out_dim"], hidden=first["hidden"],
                   depth=first["depth"], n_train=first["n_train"], n_test=first["n_test"], tasks=first["tasks"],
                   epochs=first["epochs_per_step"], folds=first["folds"], cca_components=first["cca_components"],
                   regularises=any(c["method"] == "nr-dcca" for c in configs),
                   reconstructs=any(c["method"] == "dccae" for c in configs))

    def numeric(self, config: dict[str, Any]) -> dict[str, np.ndarray]:
        method = METHODS.index(config["method"])
        return {
            "alpha": np.float64(config["alpha"] if method == NR_DCCA else 0.0),
            "recon_weight": np.float64(config["recon_weight"] if method == DCCAE else 0.0),
            "common_rate": np.float64(config["common_rate"]),
            "learning_rate": np.float64(config["learning_rate"]),
            "ridge": np.float64(config["ridge"]),
            "eval_ridge": np.float64(config["eval_ridge"]),
            "view_noise": np.float64(config["view_noise"]),
            "sharpness": np.float64(config["sharpness"]),
        }

    def bytes_per_seed(self) -> int:
        item = np.dtype(float_dtype()).itemsize
        rows = self.n_train + self.n_test
        activations = rows * (self.hidden * self.depth + self.out_dim + self.view_dim) * 8
        weights = (self.view_dim * self.hidden + self.hidden**2 * (self.depth - 1) + self.hidden * self.out_dim) * 12
        return item * (activations + weights + rows * (self.latent + self.tasks))

    # ---- data ---------------------------------------------------------------------------------
    def _data(self, key, params):
        """(views [2, rows, view_dim], targets [rows, tasks]) of one seed's God embedding."""
        dtype = float_dtype()
        k_g, k_views, k_noise, k_tasks = jax.random.split(key, 4)
        rows = self.n_train + self.n_test
        g = jax.random.normal(k_g, (rows, self.latent), dtype)
        m = jnp.round(self.latent / (2.0 - params["common_rate"]))
        index = jnp.arange(self.latent)
        masks = jnp.stack([index < m, index >= self.latent - m]).astype(dtype)
        views = []
        for k in range(2):
            clean = _random_net(jax.random.fold_in(k_views, k), g * masks[k], 2 * self.view_dim, self.view_dim,
                                params["sharpness"])
            noisy = _standardise(clean) + params["view_noise"] * jax.random.normal(
                jax.random.fold_in(k_noise, k), clean.shape, dtype)
            views.append(_standardise(noisy))
        targets = jax.vmap(lambda k: _random_net(k, g, TASK_WIDTH, 1, params["sharpness"])[:, 0],
                           out_axes=1)(jax.random.split(k_tasks, self.tasks))
        return jnp.stack(views), _standardise(targets)

    # ---- training -------------------------------------------------------------------------------
    def _skeleton(self) -> Encoders:
        return Encoders(self.view_dim, self.out_dim, self.hidden, self.depth, self.reconstructs, key=jax.random.key(0))

    def _net(self, weights) -> Encoders:
        return eqx.combine(weights, eqx.filter(self._skeleton(), eqx.is_array, inverse=True))

    def _noise_term(self, net, views, noise, ridge):
        """sum_k |Corr(f_k(X_k), f_k(A_k)) - Corr(X_k, A_k)| (Eq. 6)."""
        return sum(jnp.abs(cca.total_correlation(net.encode(k, views[k]), net.encode(k, noise[k]), ridge)
                           - cca.total_correlation(views[k], noise[k], ridge)) for k in range(2))

    def _loss(self, weights, key, views, params):
        net = self._net(weights)
        h = [net.encode(k, views[k]) for k in range(2)]
        loss = -cca.total_correlation(h[0], h[1], params["ridge"])
        if self.regularises:
            noise = jax.random.normal(key, views.shape, views.dtype)
            loss = loss + params["alpha"] * self._noise_term(net, views, noise, params["ridge"])
        if self.reconstructs:
            recon = sum(jnp.mean((jax.vmap(net.decoders[k])(h[k]) - views[k]) ** 2) for k in range(2))
            loss = loss + params["recon_weight"] * recon
        return loss

    def _train(self, weights, opt_state, key, views, params):
        adam = optax.scale_by_adam()

        def epoch(carry, k):
            w, state = carry
            grads = jax.grad(self._loss)(w, k, views, params)
            updates, state = adam.update(grads, state, w)
            return (optax.apply_updates(w, jax.tree.map(lambda u: -params["learning_rate"] * u, updates)), state), None

        (weights, opt_state), _ = jax.lax.scan(epoch, (weights, opt_state), jax.random.split(key, self.epochs))
        return weights, opt_state

    # ---- read-outs --------------------------------------------------------------------------------
    def _r2(self, features, targets, params):
        return cca.ridge_cv_r2(features, targets, params["eval_ridge"], self.folds)

    def _nesum_by_layer(self, nesum: list) -> dict:
        """nesum lists view 1's matrices (input, hidden..., output), then view 2's."""
        layers = self.depth + 1
        views = [nesum[:layers], nesum[layers:]]
        hidden = [m for v in views for m in v[1:-1]]
        return {"nesum_input": 0.5 * (views[0][0] + views[1][0]),
                "nesum_hidden": jnp.mean(jnp.stack(hidden)) if hidden else jnp.asarray(jnp.nan, nesum[0].dtype),
                "nesum_output": 0.5 * (views[0][-1] + views[1][-1])}

    def _measure(self, weights, data, baselines, params):
        views, targets, noise = data
        net = self._net(weights)
        train, test = views[:, : self.n_train], views[:, self.n_train:]
        h_test = [net.encode(k, test[k]) for k in range(2)]
        h_train = [net.encode(k, train[k]) for k in range(2)]
        h_noise = [net.encode(k, noise[k]) for k in range(2)]
        nesum = [cca.normalized_singular_sum(w) for w in net.weight_matrices()]
        return {
            "r2": self._r2(jnp.concatenate(h_test, axis=1), targets[self.n_train:], params),
            "corr_train": cca.total_correlation(h_train[0], h_train[1], params["ridge"]),
            "corr_test": cca.total_correlation(h_test[0], h_test[1], params["ridge"]),
            "noise_gap": self._noise_term(net, test, noise, params["ridge"]),
            "nesum_first": nesum[0],
            "nesum_mean": jnp.mean(jnp.stack(nesum)),
            **self._nesum_by_layer(nesum),
            "recon_error": 0.5 * sum(cca.linear_reconstruction_error(h_test[k], test[k]) for k in range(2)),
            "denoise_error": 0.5 * sum(cca.linear_reconstruction_error(h_noise[k], noise[k]) for k in range(2)),
            **baselines,
        }

    def start(self, key, params):
        """The data (train, test, noise), the linear baselines and the untrained network."""
        k_data, k_net, k_noise = jax.random.split(key, 3)
        views, targets = self._data(k_data, params)
        noise = jax.random.normal(k_noise, (2, self.n_test, self.view_dim), views.dtype)
        train, test = views[:, : self.n_train], views[:, self.n_train:]
        p1, p2 = cca.linear_cca(train[0], train[1], self.cca_components, params["ridge"])
        baselines = {
            "r2_cca": self._r2(jnp.concatenate([test[0] @ p1, test[1] @ p2], axis=1), targets[self.n_train:], params),
            "r2_concat": self._r2(jnp.concatenate([test[0], test[1]], axis=1), targets[self.n_train:], params),
        }
        skeleton = Encoders(self.view_dim, self.out_dim, self.hidden, self.depth, self.reconstructs, key=k_net)
        weights = eqx.filter(skeleton, eqx.is_array)
        opt_state = optax.scale_by_adam().init(weights)
        return weights, opt_state, (views, targets, noise), baselines

    def step(self, state, key, t, params):
        """Generation t: ``epochs_per_step`` more epochs (none at t = 0: the untrained network is
        measured; t is not batched, so only one branch runs), then the metrics."""
        weights, opt_state, data, baselines = state
        weights, opt_state = jax.lax.cond(
            t == 0, lambda: (weights, opt_state),
            lambda: self._train(weights, opt_state, key, data[0][:, : self.n_train], params))
        return (weights, opt_state, data, baselines), self._measure(weights, data, baselines, params)


# ---- presets and figures -----------------------------------------------------------------------

PRESET_SIZE = {"latent": 20, "view_dim": 20, "out_dim": 20, "hidden": 64, "n_train": 500, "n_test": 500, "tasks": 10,
               "epochs_per_step": 20}


def r2_figure(result, out_dir, panels: str = "common_rate", lines: str = "method", name: str = "r2_epochs") -> Figure:
    """Test R^2 against training epochs: one panel per ``panels`` value, one line (mean and 95%
    band over seeds) per ``lines`` value, linear CCA and CONCAT dashed. Saved as <name>.<fmt>;
    returns the Figure."""
    from matplotlib.figure import Figure

    from ..plot import save_figure

    dims = result.dims[:-1]
    mean, se = result.mean("r2"), result.stderr("r2")
    order = [dims.index(panels), dims.index(lines)] + [i for i in range(len(dims)) if dims[i] not in (panels, lines)]
    mean = np.transpose(mean, order + [len(dims)]).reshape(len(result.coords[panels]), len(result.coords[lines]), -1,
                                                           mean.shape[-1])[:, :, 0]
    se = np.transpose(se, order + [len(dims)]).reshape(mean.shape[0], mean.shape[1], -1, se.shape[-1])[:, :, 0]
    baselines = {m: np.transpose(result.mean(m), order + [len(dims)]).reshape(mean.shape[0], -1, mean.shape[-1])[:, 0, 0]
                 for m in ("r2_cca", "r2_concat")}
    epochs = np.asarray(result.coords["generation"]) * result.config["epochs_per_step"]
    width = 3.0 * mean.shape[0]
    fig = Figure(figsize=(width, 2.8), layout="constrained")
    axes = fig.subplots(1, mean.shape[0], squeeze=False, sharey=True)
    for i, ax in enumerate(axes[0]):
        for j, label in enumerate(result.coords[lines]):
            line = ax.plot(epochs, mean[i, j], label=f"{lines}={label}")[0]
            ax.fill_between(epochs, mean[i, j] - 1.96 * se[i, j], mean[i, j] + 1.96 * se[i, j],
                            color=line.get_color(), alpha=0.2, lw=0)
        ax.axhline(baselines["r2_cca"][i], color="k", ls="--", lw=0.8, label="linear CCA")
        ax.axhline(baselines["r2_concat"][i], color="gray", ls=":", lw=0.8, label="CONCAT")
        ax.set(title=f"{panels}={result.coords[panels][i]}", xlabel="epoch")
    axes[0, 0].set_ylabel("test R^2 (mean over tasks)")
    axes[0, 0].legend(fontsize=6)
    head, tail = "DCCA over training epochs", f"({result.seeds} seeds, 95% bands)"
    fig.suptitle(f"{head} {tail}" if width > 4 else f"{head}\n{tail}", fontsize=9)  # one panel: two lines
    save_figure(fig, f"{out_dir}/{name}.png")
    return fig


register_preset(Preset(
    name="he-synthetic",
    study="dcca",
    description="He et al.'s synthetic study: R^2 over 400 epochs for common rates 0 / 0.4 / 0.8, DCCA / DCCAE / NR-DCCA (alpha 10)",
    settings={**PRESET_SIZE, "alpha": 10.0},
    grids={"common_rate": [0.0, 0.4, 0.8], "method": ["dcca", "dccae", "nr-dcca"]},
    seeds=4,
    generations=20,
    quick={"seeds": 2, "generations": 3, "grids": {"common_rate": [0.4], "method": ["dcca", "nr-dcca"]}},
    figure=r2_figure,
))

register_preset(Preset(
    name="he-alpha",
    study="dcca",
    description="NR-DCCA's alpha ablation at common rate 0.4: alpha in {0, 0.1, 1, 10, 100}",
    settings={**PRESET_SIZE, "method": "nr-dcca"},
    grids={"alpha": [0.0, 0.1, 1.0, 10.0, 100.0], "common_rate": [0.4]},
    seeds=4,
    generations=20,
    quick={"seeds": 2, "generations": 3, "grids": {"alpha": [0.0, 10.0], "common_rate": [0.4]}},
    figure=lambda result, out_dir: r2_figure(result, out_dir, panels="common_rate", lines="alpha", name="alpha_ablation"),
))

register_preset(Preset(
    name="he-depth",
    study="dcca",
    description="Depth ablation: 1-3 hidden layers, DCCA vs NR-DCCA (alpha 10), common rate 0.4",
    settings={**PRESET_SIZE, "alpha": 10.0, "common_rate": 0.4},
    grids={"depth": [1, 2, 3], "method": ["dcca", "nr-dcca"]},
    seeds=4,
    generations=20,
    quick={"seeds": 2, "generations": 3, "grids": {"depth": [1, 2], "method": ["dcca", "nr-dcca"]}},
    figure=lambda result, out_dir: r2_figure(result, out_dir, panels="depth", lines="method", name="depth_ablation"),
))
