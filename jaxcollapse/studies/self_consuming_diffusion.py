"""``self-consuming-diffusion``: class-conditional generators retrained on their own samples, and
latent space filtering (Cai, Wang, Liu & Zhang, "Stabilizing Self-Consuming Diffusion Models
with Latent Space Filtering", AAAI 2026, arXiv:2511.12742).

Data (the paper's theory model; the paper note's proposed toy): C classes, each an orthonormal
rank-``rank`` subspace U_c of R^dim (``models.subspaces.class_bases``; ``overlap`` shrinks the
principal angles), x = U_c z + noise * eps, z ~ N(0, I) or a ring of ``modes`` modes. Per seed:
the bases, a real training set D_0 and a held-out real set, both n rows, class-balanced.

Generators (``generator``, static):
  ddpm  a class-conditional DDPM (``models.diffusion``): MLP noise predictor, ``diffusion_steps``
        linear-schedule steps, ancestral sampling, ``train_steps`` Adam minibatch steps per
        generation, either fine-tuned from the previous generation or trained from scratch
        (``training``, traced). LSF latents: the generation-0 denoiser's last hidden layer, read
        with the null label.
  ppca  per-class probabilistic PCA fitted in closed form (weighted MLE), for 10^4 seeds. LSF
        latents: a fixed random ReLU feature map relu(x_t R / sqrt(dim) + b) of width ``hidden``.
        ``training`` has no effect (a closed-form fit has no starting point).

Regimes at a fixed budget N = n (``regime``, traced; the note's table):
  syn       train on model t-1's n samples (replace)
  syn-add   the same with round(real_share * n) of them swapped for fresh real draws (mix)
  acu       train on the whole pool: D_0 and every batch so far (accumulate; N grows)
  acur      a uniform n-subset of the pool (accumulate-subsample)
  acu-lsf   the n pool rows of highest probe confidence (top-N by ``lax.top_k``)
They are the shared data loop's regimes (``engine.data``), which this study also accepts by their
own names (replace, mix, accumulate, accumulate-subsample, window), with ``select``, ``window`` and
``real_weight`` (ppca); LSF is accumulate-subsample with select=top and the score xi.

Generation loop: generation 0 trains on D_0, the probe is fitted once on D_0's latents, and D_0
enters the pool with its confidences. Each generation t >= 1 adds S_t (model t-1's n samples;
under syn-add with fresh real rows) to the pool with their confidences (computed once: e0 and the
probe are frozen), selects the training rows, trains model t and draws S_{t+1}. The metrics of
generation t are read on S_{t+1} against the held-out real rows.

Readings of details the note marks uncertain (chosen to match the paper's setting): fine-tuning
is the default and Adam restarts every generation; every generation trains ``train_steps``
steps, so acu's growing budget is in data, not compute; latents are read at 20/40/60/80% of the
diffusion steps (the third-party choice 200/400/600/800 of 1000), averaged over
``latent_draws`` noise draws; xi is the mean confidence over these four timesteps
(``filter_timestep`` picks one instead); OLE has no per-class floor. OLE is reported per
sqrt(sample): on unit-normalised latents (centred at the real latents' mean; the data rows are
not centred), OLE / sqrt(n) converges to sum_c sqrt(pi_c) ||C_c^1/2||_* - ||C^1/2||_*, a
population quantity.

Metrics (arrays over generations t = 0..T, on model t's samples):
  fd                    Frechet distance to the held-out real rows (raw coordinates)
  precision, recall     k-NN manifold estimates (Kynkaanniemi et al., k = ``knn``)
  ole_t20 .. ole_t80    OLE / sqrt(n) of the latents at 20, 40, 60, 80% of the steps
  ole_data              OLE / sqrt(n) of the samples themselves
  class_angle           mean over class pairs of the smallest principal angle between the fitted
                        class subspaces (degrees; the truth's are near 90 at overlap 0)
  subspace_error        mean over classes of the largest principal angle between the fitted
                        and the true class subspace (degrees)
  confidence            mean probe confidence xi of model t's samples (by generation of origin)
  real_share, mean_origin, selected_confidence, train_size
                        of the training set of generation t: share of real rows (D_0 and fresh
                        real), mean generation of origin (real rows count as 0), mean xi, row count
"""

from __future__ import annotations

from functools import partial
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from ..engine import data
from ..engine.params import ConfigError, Param
from ..engine.study import Study, float_dtype
from ..metrics import sample_quality
from ..models import diffusion, subspaces
from ..filters import latent_space
from .registry import Preset, register_preset, register_study

REGIMES = ("syn", "syn-add", "acu", "acur", "acu-lsf")  # Cai et al.'s names, aliases of the data loop's:
ALIASES = {"syn": ("replace", "none"), "syn-add": ("mix", "none"), "acu": ("accumulate", "none"),
           "acur": ("accumulate-subsample", "none"), "acu-lsf": ("accumulate-subsample", "top")}
LATENT_FRACTIONS = (0.2, 0.4, 0.6, 0.8)
FILTER_TIMESTEPS = ("mean", "t20", "t40", "t60", "t80")


@register_study
class SelfConsumingDiffusionStudy(Study):
    name = "self-consuming-diffusion"
    description = "Class-conditional DDPM / PPCA retrained on its own samples; latent space filtering (Cai et al., LSF)"
    params = (
        Param("generator", "ddpm (MLP DDPM) or ppca (closed-form per-class PPCA, for many seeds)", "ppca",
              kind="choice", static=True, choices=("ddpm", "ppca")),
        Param("regime", "training set of each generation: " + ", ".join(data.REGIMES) + ", or Cai et al.'s "
              + ", ".join(REGIMES) + " (syn = replace, syn-add = mix, acu = accumulate, acur = accumulate-subsample, "
              "acu-lsf = accumulate-subsample with select=top)", "acu-lsf", kind="choice", choices=data.REGIMES + REGIMES),
        Param("real_share", "fresh real share of the budget under syn-add / mix (the loop's alpha)", 0.3, low=0.0,
              high=1.0),
        *[p for p in data.loop_params(policies=("none", "top", "threshold", "sample")) if p.name in ("window", "real_weight", "select", "select_fraction",
                                                       "select_threshold")],
        Param("training", "ddpm: fine-tune the previous generation or train from scratch", "fine-tune",
              kind="choice", choices=("fine-tune", "scratch")),
        Param("n", "training budget N per generation, also the evaluation sample size (static)", 1000, kind="int",
              static=True, low=2, high=10**6),
        Param("classes", "classes C (static)", 4, kind="int", static=True, low=2, high=1024),
        Param("dim", "ambient dimension D (static)", 16, kind="int", static=True, low=2, high=4096),
        Param("rank", "dimension of each class subspace (static)", 2, kind="int", static=True, low=1, high=4096),
        Param("noise", "isotropic noise sd around each subspace", 0.05, low=0.0),
        Param("overlap", "mixing weight of a shared random basis (0: independent subspaces)", 0.0, low=0.0, high=0.95),
        Param("modes", "modes on a ring inside each subspace (0: Gaussian coefficients; static)", 0, kind="int",
              static=True, low=0, high=4096),
        Param("mode_sd", "sd of each mode (modes > 0)", 0.2, low=0.0),
        Param("diffusion_steps", "diffusion steps T of the noise schedule (static)", 200, kind="int", static=True,
              low=50, high=10**4),
        Param("hidden", "ddpm: denoiser width; ppca: random feature width (static)", 128, kind="int", static=True, low=1, high=4096),
        Param("depth", "ddpm: hidden layers (static)", 2, kind="int", static=True, low=1, high=64),
        Param("embed", "ddpm: time and class embedding width (static, even)", 16, kind="int", static=True, low=2, high=4096),
        Param("train_steps", "ddpm: Adam steps per generation (static)", 1000, kind="int", static=True, low=1, high=10**7),
        Param("batch", "ddpm: minibatch size (static)", 128, kind="int", static=True, low=1, high=10**6),
        Param("learning_rate", "ddpm: Adam learning rate", 2e-3, low=0.0),
        Param("label_dropout", "ddpm: probability of training on the null label", 0.1, low=0.0, high=1.0),
        Param("latent_draws", "noise draws averaged per latent (static)", 4, kind="int", static=True, low=1, high=1024),
        Param("filter_timestep", "xi: mean over the four latent timesteps, or one of them", "mean", kind="choice",
              choices=FILTER_TIMESTEPS),
        Param("probe_steps", "Adam steps of the softmax probe (static)", 300, kind="int", static=True, low=1, high=10**6),
        Param("probe_learning_rate", "probe Adam learning rate", 0.05, low=0.0),
        Param("probe_l2", "probe L2 penalty", 1e-3, low=0.0),
        Param("knn", "k of the k-NN precision and recall (static)", 3, kind="int", static=True, low=1, high=10**5),
    )
    metrics = ("fd", "precision", "recall", "ole_t20", "ole_t40", "ole_t60", "ole_t80", "ole_data", "class_angle",
               "subspace_error", "confidence", "real_share", "mean_origin", "selected_confidence", "train_size")
    metric_docs = {
        "fd": "Frechet distance from model t's samples to the held-out real rows (raw coordinates)",
        "precision": "k-NN precision: share of samples inside some held-out real row's k-NN ball",
        "recall": "k-NN recall: share of held-out real rows inside some sample's k-NN ball",
        **{f"ole_t{round(100 * f)}": "class overlap OLE / sqrt(n) of the samples' frozen latents at "
           f"{round(100 * f)}% of diffusion steps" for f in LATENT_FRACTIONS},
        "ole_data": "class overlap OLE / sqrt(n) of the samples themselves (0: orthogonal classes)",
        "class_angle": "mean over class pairs of the smallest angle between fitted class subspaces (degrees)",
        "subspace_error": "mean over classes of the largest angle between fitted and true subspace (degrees)",
        "confidence": "mean probe confidence xi (probability of the intended class) of model t's samples",
        "real_share": "share of real rows (D_0 and fresh real) in generation t's training set",
        "mean_origin": "mean generation of origin of generation t's training rows (real rows: 0)",
        "selected_confidence": "mean probe confidence xi of generation t's training rows",
        "train_size": "number of rows in generation t's training set",
    }

    generator: str = eqx.field(static=True)
    n: int = eqx.field(static=True)
    classes: int = eqx.field(static=True)
    dim: int = eqx.field(static=True)
    rank: int = eqx.field(static=True)
    modes: int = eqx.field(static=True)
    steps: int = eqx.field(static=True)
    hidden: int = eqx.field(static=True)
    depth: int = eqx.field(static=True)
    embed: int = eqx.field(static=True)
    train_steps: int = eqx.field(static=True)
    batch: int = eqx.field(static=True)
    draws: int = eqx.field(static=True)
    probe_steps: int = eqx.field(static=True)
    knn: int = eqx.field(static=True)
    loop: data.DataLoop
    generations: int = eqx.field(static=True)

    # ---- host side --------------------------------------------------------------------------
    @classmethod
    def check(cls, config: dict[str, Any], generations: int) -> dict[str, Any]:
        if config["n"] % config["classes"]:
            raise ConfigError(f"n={config['n']}: must be a multiple of classes={config['classes']} (class-balanced sets)")
        if config["rank"] >= config["dim"]:
            raise ConfigError(f"rank={config['rank']}: must be below dim={config['dim']}")
        if config["modes"] and config["rank"] < 2:
            raise ConfigError(f"modes={config['modes']}: a ring of modes needs rank >= 2 (got {config['rank']})")
        if config["embed"] % 2:
            raise ConfigError(f"embed={config['embed']}: must be even (sine and cosine halves)")
        if config["knn"] >= config["n"]:
            raise ConfigError(f"knn={config['knn']}: must be below n={config['n']}")
        if config["n"] // config["classes"] <= config["rank"]:
            raise ConfigError(f"n={config['n']}: needs more than rank={config['rank']} rows per class")
        if config["generator"] == "ddpm" and np.any(np.asarray(config["real_weight"]) != 1):
            raise ConfigError(f"real_weight={config['real_weight']}: ddpm training draws its rows uniformly; "
                              "weights need generator=ppca")
        return config

    @staticmethod
    def loop_config(config: dict[str, Any], generations: int) -> dict[str, Any]:
        """The data loop's settings: Cai et al.'s regime names resolved (acu-lsf is
        accumulate-subsample keeping the best-scored rows), a fixed budget n every generation."""
        regime, select = ALIASES.get(config["regime"], (config["regime"], config["select"]))
        return {"n": np.full(generations + 1, config["n"]), "regime": regime, "select": select,
                "alpha": config["real_share"] if regime == "mix" else 0.0, "window": config["window"],
                "real_weight": config["real_weight"], "select_fraction": config["select_fraction"],
                "select_threshold": config["select_threshold"]}

    @classmethod
    def build(cls, configs: list[dict[str, Any]], generations: int) -> "SelfConsumingDiffusionStudy":
        c = configs[0]
        return cls(generator=c["generator"], n=c["n"], classes=c["classes"], dim=c["dim"], rank=c["rank"],
                   modes=c["modes"], steps=c["diffusion_steps"], hidden=c["hidden"], depth=c["depth"],
                   embed=c["embed"], train_steps=c["train_steps"], batch=c["batch"], draws=c["latent_draws"],
                   probe_steps=c["probe_steps"], knn=c["knn"],
                   loop=data.DataLoop.build([cls.loop_config(c, generations) for c in configs]),
                   generations=generations)

    def numeric(self, config: dict[str, Any]) -> dict[str, np.ndarray]:
        choice = FILTER_TIMESTEPS.index(config["filter_timestep"])
        weights = np.full(len(LATENT_FRACTIONS), 1.0 / len(LATENT_FRACTIONS)) if choice == 0 else \
            np.eye(len(LATENT_FRACTIONS))[choice - 1]
        return {
            "loop": data.loop_numeric(self.loop_config(config, self.generations)),
            "scratch": np.bool_(config["training"] == "scratch"),
            "noise": np.float64(config["noise"]),
            "overlap": np.float64(config["overlap"]),
            "mode_sd": np.float64(config["mode_sd"]),
            "learning_rate": np.float64(config["learning_rate"]),
            "label_dropout": np.float64(config["label_dropout"]),
            "filter_weights": weights,
            "probe_learning_rate": np.float64(config["probe_learning_rate"]),
            "probe_l2": np.float64(config["probe_l2"]),
        }

    def bytes_per_seed(self) -> int:
        item = np.dtype(float_dtype()).itemsize
        latent = len(LATENT_FRACTIONS) * self.draws * self.n * self.hidden
        training = self.batch * (self.hidden * (self.depth + 1) + self.dim) * 6 if self.generator == "ddpm" else 0
        return item * (self.loop.capacity * (self.dim + 4) + 4 * self.n**2 + 2 * latent + training
                       + self.n * (self.hidden + self.dim) * 4) + 4096

    # ---- generators -------------------------------------------------------------------------
    def _schedule(self) -> diffusion.Schedule:
        return diffusion.linear_schedule(self.steps, float_dtype())

    def _latent_steps(self):
        return jnp.asarray([round(f * self.steps) - 1 for f in LATENT_FRACTIONS])

    def _labels(self):
        return jnp.arange(self.n) % self.classes

    def _skeleton(self, key) -> diffusion.Denoiser:
        return diffusion.Denoiser(self.dim, self.classes, self.hidden, self.depth, self.embed, key=key)

    def _static_part(self):
        return eqx.filter(self._skeleton(jax.random.key(0)), eqx.is_array, inverse=True)

    def _fit(self, model, key, training: data.TrainingSet, params):
        """Model t from the training set: PPCA's weighted MLE, or DDPM training on minibatches drawn
        uniformly from its rows."""
        x, labels = training.rows["x"], training.rows["y"]
        if self.generator == "ppca":
            return subspaces.fit_ppca(x, labels, training.weight, self.classes, self.rank)
        used = training.weight > 0
        rows = jnp.nonzero(used, size=used.shape[0], fill_value=0)[0]
        k_init, k_train = jax.random.split(key)
        fresh = eqx.filter(self._skeleton(k_init), eqx.is_array)
        start = fresh if model is None else jax.tree.map(lambda f, m: jnp.where(params["scratch"], f, m), fresh, model)
        loss = partial(diffusion.denoising_loss, schedule=self._schedule(), label_dropout=params["label_dropout"],
                       null_label=self.classes)
        trained, _ = diffusion.train(start, self._static_part(), k_train, x, labels, rows, jnp.sum(used), loss,
                                     steps=self.train_steps, batch=self.batch, learning_rate=params["learning_rate"])
        return trained

    def _sample(self, model, key):
        if self.generator == "ppca":
            return subspaces.sample_ppca(key, model, self._labels())
        net = eqx.combine(model, self._static_part())
        return diffusion.sample(net, key, self._labels(), self.dim, self._schedule(), float_dtype())

    def _feature_fn(self, encoder):
        """e0(x_t, step): the frozen generation-0 latent map."""
        if self.generator == "ppca":
            return lambda x, step: jax.nn.relu(x @ encoder["R"] / np.sqrt(self.dim) + encoder["b"])
        net = eqx.combine(encoder, self._static_part())
        return lambda x, step: jax.vmap(net.features)(x, jnp.full((x.shape[0],), (step + 1) / self.steps, x.dtype),
                                                      jnp.full((x.shape[0],), self.classes))

    # ---- read-outs --------------------------------------------------------------------------
    def _latents(self, frozen, key, x):
        return latent_space.latents(self._feature_fn(frozen["encoder"]), key, x, self._latent_steps(), self._schedule(),
                                    self.draws)

    def _xi(self, frozen, features, params):
        return params["filter_weights"] @ latent_space.confidence(frozen["probe"], features, self._labels())

    def _ole(self, rows):
        unit = rows / jnp.maximum(jnp.linalg.norm(rows, axis=-1, keepdims=True), 1e-12)
        return subspaces.orthogonal_low_rank_excess(unit, self._labels(), self.classes) / np.sqrt(self.n)

    def _measure(self, samples, key, frozen, composition, params):
        features = self._latents(frozen, key, samples)
        fit = subspaces.fit_ppca(samples, self._labels(), jnp.ones(self.n, samples.dtype), self.classes, self.rank)
        pairs = [(a, b) for a in range(self.classes) for b in range(a + 1, self.classes)]
        smallest = [jnp.arccos(subspaces.principal_cosines(fit["basis"][a], fit["basis"][b])[0]) for a, b in pairs]
        largest = [jnp.arccos(subspaces.principal_cosines(fit["basis"][c], frozen["bases"][c])[-1])
                   for c in range(self.classes)]
        precision, recall = sample_quality.knn_precision_recall(frozen["test"], samples, self.knn)
        ole = jax.vmap(self._ole)(features - frozen["latent_centre"])
        return {
            "fd": sample_quality.frechet_distance(samples, frozen["test"]),
            "precision": precision,
            "recall": recall,
            **{f"ole_t{round(100 * f)}": ole[j] for j, f in enumerate(LATENT_FRACTIONS)},
            "ole_data": self._ole(samples),
            "class_angle": jnp.degrees(jnp.mean(jnp.stack(smallest))),
            "subspace_error": jnp.degrees(jnp.mean(jnp.stack(largest))),
            "confidence": jnp.mean(self._xi(frozen, features, params)),
            **composition,
        }

    # ---- protocol -----------------------------------------------------------------------------
    def _composition(self, training: data.TrainingSet):
        """Of the training set: share of real rows (D_0 and fresh real), mean generation of origin,
        mean confidence xi, row count."""
        dtype = float_dtype()
        inside = (training.weight > 0).astype(dtype)
        count = jnp.sum(inside)
        return {"real_share": jnp.sum(inside * training.real) / count,
                "mean_origin": jnp.sum(inside * jnp.where(training.real, 0, training.origin)) / count,
                "selected_confidence": jnp.sum(inside * training.score) / count,
                "train_size": count}

    def init(self, key, params):
        dtype = float_dtype()
        k_bases, k_real, k_test, k_fit, k_enc, k_lat, k_sample, k_measure = jax.random.split(key, 8)
        labels = self._labels()
        bases = subspaces.class_bases(k_bases, self.classes, self.dim, self.rank, params["overlap"]).astype(dtype)
        draw = lambda k: subspaces.sample_truth(k, bases, labels, params["noise"], self.modes, params["mode_sd"])  # noqa: E731
        real, test = draw(k_real), draw(k_test)
        pool = self.loop.start({"x": real, "y": labels}, self.n)
        training = self.loop.training_set(pool, k_fit, 0, params["loop"])
        model = self._fit(None, k_fit, training, params)
        if self.generator == "ppca":
            k_r, k_b = jax.random.split(k_enc)
            encoder = {"R": jax.random.normal(k_r, (self.dim, self.hidden), dtype),
                       "b": jax.random.normal(k_b, (self.hidden,), dtype)}
        else:
            encoder = model
        frozen = {"encoder": encoder, "bases": bases, "test": test}
        features = self._latents(frozen, k_lat, real)
        frozen["latent_centre"] = features.mean(1, keepdims=True)
        frozen["probe"] = latent_space.train_probe(features, labels, self.classes, steps=self.probe_steps,
                                                   learning_rate=params["probe_learning_rate"], l2=params["probe_l2"])
        xi = self._xi(frozen, features, params)
        pool = self.loop.rescore(pool, jnp.zeros(self.loop.capacity, dtype).at[: self.n].set(xi))
        pending = self._sample(model, k_sample)
        composition = {"real_share": jnp.ones((), dtype), "mean_origin": jnp.zeros((), dtype),
                       "selected_confidence": jnp.mean(xi), "train_size": jnp.asarray(self.n, dtype)}
        state = {"model": model, "frozen": frozen, "pool": pool, "pending": pending}
        return state, self._measure(pending, k_measure, frozen, composition, params)

    def step(self, state, key, t, params):
        k_fresh, k_lat, k_select, k_fit, k_sample, k_measure = jax.random.split(key, 6)
        k_keep, k_subsample = jax.random.split(k_select)
        frozen = state["frozen"]
        labels = self._labels()
        # S_t (with fresh real rows under syn-add / mix) enters the pool with its frozen confidences
        fresh = subspaces.sample_truth(k_fresh, frozen["bases"], labels, params["noise"], self.modes, params["mode_sd"])
        score = lambda rows: self._xi(frozen, self._latents(frozen, k_lat, rows["x"]), params)  # noqa: E731
        pool = self.loop.add(state["pool"], k_keep, t, params["loop"], {"x": state["pending"], "y": labels},
                             {"x": fresh, "y": labels} if self.loop.mixes else None, score)
        # the training rows: block t (syn, syn-add), top-n by xi (acu-lsf) or at random (acur), all (acu)
        training = self.loop.training_set(pool, k_subsample, t, params["loop"])
        model = self._fit(state["model"], k_fit, training, params)
        pending = self._sample(model, k_sample)
        state = {"model": model, "frozen": frozen, "pool": pool, "pending": pending}
        return state, self._measure(pending, k_measure, frozen, self._composition(training), params)


# ---- presets and figures -----------------------------------------------------------------------

FIGURE_METRICS = ("fd", "precision", "recall", "ole_t40", "subspace_error", "real_share", "mean_origin", "confidence")


def regime_figure(result, out_dir, name: str = "regimes") -> Figure:
    """One panel per metric against generation, one line (mean and 95% band over seeds) per regime;
    grid axes other than ``regime`` are shown at their first value. Saved as <name>.<fmt>;
    returns the Figure."""
    import textwrap

    from matplotlib.figure import Figure

    from ..plot import save_figure

    dims = list(result.dims[:-1])
    take = tuple(slice(None) if d == "regime" else 0 for d in dims)
    generations = np.asarray(result.coords["generation"])
    fig = Figure(figsize=(13, 5.4), layout="constrained")
    axes = fig.subplots(2, 4, squeeze=False)
    for ax, metric in zip(axes.flat, FIGURE_METRICS):
        mean, se = result.mean(metric)[take], result.stderr(metric)[take]
        for j, regime in enumerate(result.coords["regime"]):
            line = ax.plot(generations, mean[j], label=regime)[0]
            ax.fill_between(generations, mean[j] - 1.96 * se[j], mean[j] + 1.96 * se[j], color=line.get_color(),
                            alpha=0.2, lw=0)
        ax.set(title=metric, xlabel="generation")
    axes[0, 0].legend(fontsize=7)
    fig.suptitle(textwrap.fill(f"self-consuming {result.config['generator']} ({result.seeds} seeds, 95% bands)", 150),
                 fontsize=10)
    save_figure(fig, f"{out_dir}/{name}.png")
    return fig


register_preset(Preset(
    name="cai-ppca",
    study="self-consuming-diffusion",
    description="Cai et al.'s five regimes at a fixed budget with the closed-form PPCA generator, 100 seeds",
    settings={"generator": "ppca", "n": 400, "hidden": 64},
    grids={"regime": list(REGIMES)},
    seeds=100,
    generations=6,
    quick={"seeds": 8, "generations": 3},
    figure=regime_figure,
))

register_preset(Preset(
    name="cai-ddpm",
    study="self-consuming-diffusion",
    description="Cai et al.'s five regimes with a small class-conditional DDPM fine-tuned each generation",
    settings={"generator": "ddpm", "n": 400, "hidden": 64, "diffusion_steps": 100, "train_steps": 600, "batch": 128},
    grids={"regime": list(REGIMES)},
    seeds=4,
    generations=5,
    quick={"seeds": 2, "generations": 2,
           "settings": {"generator": "ddpm", "n": 200, "hidden": 32, "depth": 1, "diffusion_steps": 50, "train_steps": 100,
                        "batch": 64, "latent_draws": 1, "probe_steps": 50},
           "grids": {"regime": ["syn", "acu-lsf"], "training": ["fine-tune", "scratch"]}},
    figure=regime_figure,
))
