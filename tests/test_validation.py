"""Bad input is refused with a one-line message, exit status 2, before anything compiles."""

import pytest

import jaxcollapse as jc
from jaxcollapse import cli
from jaxcollapse.engine import sweep


@pytest.fixture(autouse=True)
def _no_compilation(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("compiled before validation finished")

    monkeypatch.setattr(sweep, "batched_trajectories", refuse)


BAD = [
    (["run", "nosuch"], "unknown study"),
    (["run", "gaussian", "--set", "nosuch=1"], "unknown parameter"),
    (["run", "gaussian", "--set", "n=-5"], "n=-5"),
    (["run", "gaussian", "--set", "n=10.5"], "not an integer"),
    (["run", "gaussian", "--set", "n=ten"], "n=ten"),
    (["run", "gaussian", "--set", "n=10-t"], "got 0"),
    (["run", "gaussian", "--set", "n=10*(t+"], "cannot parse"),
    (["run", "gaussian", "--set", "alpha=1.5"], "alpha=1.5"),
    (["run", "gaussian", "--set", "alpha=-0.1"], "alpha=-0.1"),
    (["run", "gaussian", "--set", "alpha=1-t"], "alpha=1-t"),
    (["run", "gaussian", "--set", "regime=sideways"], "one of replace"),
    (["run", "gaussian", "--set", "dim=0"], "dim=0"),
    (["run", "gaussian", "--set", "ddof=2"], "ddof=2"),
    (["run", "gaussian", "--set", "dim=2", "--set", "cov=1,2,3"], "cov=1,2,3"),
    (["run", "gaussian", "--set", "cov=-1"], "cov=-1"),
    (["run", "gaussian", "--set", "ddof=1", "--set", "n=1"], "ddof=1"),
    (["run", "gaussian", "--grid", "cov=1,2"], "cannot vary"),
    (["run", "gaussian", "--grid", "n="], "comma-separated"),
    (["run", "gaussian", "--grid", "n=10,-1"], "n=-1"),
    (["run", "gaussian", "--set", "n=10", "--grid", "n=10,20"], "choose one"),
    (["run", "gaussian", "--seeds", "0"], "seeds=0"),
    (["run", "gaussian", "--generations", "-3"], "generations=-3"),
    (["run", "gaussian", "--chunk", "0"], "chunk=0"),
    (["run", "gaussian", "--keep", "nosuch"], "unknown metric"),
    (["run", "gaussian", "--set", "n"], "NAME=VALUE"),
    (["reproduce", "nosuch"], "unknown preset"),
    (["run", "gaussian", "--seeds", "many"], "invalid int value"),
]


@pytest.mark.parametrize("argv,needle", BAD)
def test_cli_refuses(argv, needle, capsys, tmp_path):
    with pytest.raises(SystemExit) as exit_info:
        code = cli.main(argv + ["--out", str(tmp_path / "out")] if argv[0] != "list" else argv)
        raise SystemExit(code)
    assert exit_info.value.code == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    assert needle in err


@pytest.mark.parametrize(
    "kwargs",
    [
        {"settings": {"n": [10, 20]}},
        {"settings": {"n": True}},
        {"settings": {"dim": 1.5}},
        {"settings": {"regime": 3}},
        {"seeds": 2.5},
        {"key": -1},
    ],
)
def test_api_refuses_wrong_types(kwargs):
    with pytest.raises(jc.ConfigError):
        jc.run("gaussian", **kwargs)


def test_none_is_refused_where_a_parameter_has_a_value():
    """None means "unset" only for parameters whose default is unset (n0, real_share); elsewhere
    it is refused in one line, for every study."""
    from jaxcollapse.engine.params import ConfigError
    from jaxcollapse.studies import STUDIES

    for name, study in STUDIES.items():
        param = next(p for p in study.params if p.default is not None)
        with pytest.raises(ConfigError, match=f"{param.name}=None: must be") as err:
            jc.run(name, settings={param.name: None}, seeds=2, generations=1)
        assert "\n" not in str(err.value)
