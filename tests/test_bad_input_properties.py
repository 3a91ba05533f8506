"""Bad input, systematically (hypothesis): random settings, grids, schedules and sizes for every
registered study, through the Python API and the CLI. Each is either accepted or refused with a
ConfigError / exit status 2 and one line: never another exception, a traceback or a hang. The
examples are derandomised (the same ones every run) and bounded (seconds in all)."""

from __future__ import annotations

import contextlib
import io

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import jaxcollapse as jc
from jaxcollapse import cli
from jaxcollapse.engine import sweep
from jaxcollapse.engine.sweep import plan
from jaxcollapse.studies import STUDIES

EXAMPLES = settings(max_examples=60, deadline=None, derandomize=True, database=None,
                    suppress_health_check=list(HealthCheck))

WORDS = ("", " ", "nosuch", "t", "-t", "1/0", "t**1000", "10**400", "max(t)", "min(t,1)", "10*(t+1)", "log(t)",
         "sqrt(-1)", "__import__('os')", "t.real", "1,2,3", "0.5,0.5", "(", "1e309", "nan", "inf", "-inf", "identity",
         "uniform", "default", "[1]", "3 4")


def _values(param):
    numbers = st.one_of(st.integers(-5, 10**6), st.floats(allow_nan=True, allow_infinity=True),
                        st.sampled_from([0, 1, 2, 0.5, -1, 1e-300, 1e300]))
    words = st.sampled_from(WORDS + tuple(param.choices) + tuple(param.words))
    return st.one_of(numbers, words, st.booleans(), st.none(), st.lists(st.integers(-2, 5), max_size=3))


@st.composite
def configurations(draw, study):
    names = [p.name for p in study.params] + ["nosuch"]
    chosen = draw(st.lists(st.sampled_from(names), max_size=4, unique=True))
    settings_, grids = {}, {}
    for name in chosen:
        param = study.param(name) if name != "nosuch" else study.params[0]
        if draw(st.booleans()):
            grids[name] = draw(st.one_of(st.lists(_values(param), max_size=3), st.sampled_from(WORDS)))
        else:
            settings_[name] = draw(_values(param))
    seeds = draw(st.one_of(st.integers(-2, 10**9), st.sampled_from([1, 2.5, "10", True])))
    generations = draw(st.one_of(st.integers(-2, 10**9), st.sampled_from([1, 3, 2.0, None])))
    return settings_, grids, seeds, generations


def _one_line(message: str) -> None:
    assert message and "\n" not in message.strip() and "Traceback" not in message, message


def _rate_model():
    import jax
    import jax.numpy as jnp

    return jc.Model(name="poisson-rate", params={"rate": 3.0, "label": "a"}, truth=lambda hp: hp["rate"],
                    fit=lambda key, data, weights, previous, hp: jnp.sum(weights * data) / jnp.sum(weights),
                    sample=lambda key, theta, size, hp: jax.random.poisson(key, theta, (size,)).astype(jnp.float32),
                    metrics=lambda theta, truth, hp: {"sq_error": (theta - truth) ** 2})


@pytest.mark.parametrize("name", sorted(STUDIES) + ["user-model"])
def test_the_api_accepts_or_refuses_in_one_line(name):
    from jaxcollapse.models import study_for

    study = study_for(_rate_model()) if name == "user-model" else STUDIES[name]

    @EXAMPLES
    @given(configurations(study))
    def check(config):
        settings_, grids, seeds, generations = config
        try:
            plan(study, settings_, grids, seeds=seeds, generations=generations)
        except jc.ConfigError as err:
            _one_line(str(err))

    check()


class _Accepted(Exception):
    """Raised where a valid run would start compiling."""


@EXAMPLES
@given(st.sampled_from(sorted(STUDIES)), st.lists(st.tuples(st.sampled_from(["--set", "--grid"]),
                                                           st.sampled_from(["n", "dim", "alpha", "regime", "nosuch",
                                                                            "vocab", "family", "T0", "sampler"]),
                                                           st.sampled_from(WORDS + ("10", "-3", "0.2", "a,b"))),
                                                 max_size=3),
       st.sampled_from([[], ["--seeds", "0"], ["--seeds", "x"], ["--generations", "-1"], ["--chunk", "0"],
                        ["--keep", "nosuch"], ["--quantiles", "2"], ["--key", "-4"], ["--seeds", "3"]]))
def test_the_cli_exits_2_in_one_line_or_starts(tmp_path_factory, study, options, extra):
    argv = ["run", study]
    for flag, name, value in options:
        argv += [flag, f"{name}={value}"]
    argv += ["--generations", "2", "--seeds", "2", *extra, "--quiet", "--no-plot",
             "--out", str(tmp_path_factory.mktemp("out"))]  # a drawn --seeds/--generations comes last and wins
    err = io.StringIO()
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(sweep, "batched_trajectories", _refuse)
        try:
            with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
                code = cli.main(argv)
        except _Accepted:
            return
        except SystemExit as exit_info:  # argparse's own refusals
            code = exit_info.code
    assert code == 2, (argv, err.getvalue())
    _one_line(err.getvalue())


def _refuse(*args, **kwargs):
    raise _Accepted


@settings(max_examples=4, deadline=None, derandomize=True, database=None, suppress_health_check=list(HealthCheck))
@given(st.sampled_from(["gaussian", "discrete", "contaminated-mean"]), st.data())
def test_accepted_runs_write_numbers_not_nan(tmp_path_factory, name, data):
    """Accepted settings drawn from each parameter's allowed range, at tiny sizes, run end to end:
    what is written is not NaN-filled (some metric is finite at generation 0, the real-data fit)."""
    study = STUDIES[name]
    settings_ = {}
    for param in study.params:
        if param.kind == "choice" and data.draw(st.booleans()):
            settings_[param.name] = data.draw(st.sampled_from(param.choices))
        elif param.kind in ("int", "float") and not param.static and data.draw(st.booleans()):
            low = param.low if param.low is not None else -10.0
            high = min(param.high if param.high is not None else low + 50, low + 50)
            value = data.draw(st.floats(low, high) if param.kind == "float" else st.integers(int(low), int(high)))
            settings_[param.name] = value
    out = tmp_path_factory.mktemp("run")
    argv = ["run", name, *[t for k, v in settings_.items() for t in ("--set", f"{k}={v}")], "--seeds", "3",
            "--generations", "2", "--quiet", "--no-plot", "--out", str(out)]
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        code = cli.main(argv)
    if code == 2:
        _one_line(err.getvalue())
        return
    assert code == 0, (argv, err.getvalue())
    summary = jc.load(out)
    assert any(np.all(np.isfinite(summary.mean(m)[..., 0])) for m in summary.metrics), argv
