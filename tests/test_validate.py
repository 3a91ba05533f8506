"""``jaxcollapse validate``: the checks run, hold, and miss when a closed form is wrong."""

import numpy as np
import pytest

from jaxcollapse import cli
from jaxcollapse.studies import STUDIES
from jaxcollapse.studies.gaussian import GaussianStudy
from jaxcollapse.validate import compare, z_limit


def test_quick_validation_of_a_study_holds(capsys):
    assert cli.main(["validate", "--quick", "--study", "gaussian"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("ok   gaussian/regimes: max |z| ")
    assert out[-1] == "validate: 1 of 1 checks held"


def test_a_wrong_closed_form_is_a_miss(capsys, monkeypatch):
    """Mutation: the replace variance recursion off by 5% (as a wrong ddof would make it)."""
    real = GaussianStudy.theory.__func__

    def wrong(cls, config, generations):
        theory = real(cls, config, generations)
        return {**theory, "var": theory["var"] * 1.05}

    monkeypatch.setattr(GaussianStudy, "theory", classmethod(wrong))
    assert cli.main(["validate", "--quick", "--study", "gaussian"]) == 1
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("MISS gaussian/regimes:") and "worst var at" in out[0]
    assert out[-1] == "validate: 0 of 1 checks held; missed: gaussian/regimes"


def test_every_study_with_a_closed_form_declares_a_quick_check():
    with_theory = {"gaussian", "next-token", "regression", "discrete", "kde", "gmm", "contaminated-mean",
                   "contaminated-pac", "neural-filter"}
    for name in with_theory:
        assert any(c.quick for c in STUDIES[name].checks), name


def test_the_limit_is_bonferroni_and_never_below_four():
    assert z_limit(1) == 4.0
    assert z_limit(10_000) == pytest.approx(5.327, abs=1e-3)  # Phi^-1(1 - 0.0005 / 10^4)


def test_compare_counts_only_finite_theory():
    class Fake:
        dims = ["generation"]
        coords = {"generation": [0, 1, 2]}
        theory = {"m": np.array([1.0, np.nan, 3.0])}
        metrics = {"m": None}

        def mean(self, _):
            return np.array([1.1, 5.0, 3.0])

        def stderr(self, _):
            return np.array([0.1, 0.1, 0.0])

    check = STUDIES["gaussian"].checks[0]
    compared, worst, limit, passed, where = compare(Fake(), check)
    assert (compared, passed) == (2, True) and worst == pytest.approx(1.0)
    Fake.mean = lambda self, _: np.array([1.1, 5.0, 3.002])  # saturated (SE 0): within 1e-3 (1 + |theory|)
    assert compare(Fake(), check)[3] is True
    Fake.mean = lambda self, _: np.array([1.1, 5.0, 3.5])  # a difference with no error bar
    assert compare(Fake(), check)[3] is False
