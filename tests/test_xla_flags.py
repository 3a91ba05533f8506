"""jaxcollapse.xla_flags: a flag reaches XLA_FLAGS only for the jaxlib series known to accept it
(XLA ends the process on an unknown flag), and never overrides the user's own setting."""

import pytest

from jaxcollapse import xla_flags

FLAG = "--xla_cpu_use_fusion_emitters=false"


@pytest.mark.parametrize("series, added", [((0, 10), True), ((0, 9), True), ((0, 11), False), ((1, 0), False), (None, False)])
def test_a_flag_is_added_only_up_to_the_series_that_accepts_it(monkeypatch, series, added):
    monkeypatch.setenv("XLA_FLAGS", "--xla_dump_to=/tmp/x")
    monkeypatch.setattr(xla_flags, "jaxlib_series", lambda: series)
    assert xla_flags.add(FLAG, accepted_through=(0, 10)) is added
    expected = f"--xla_dump_to=/tmp/x {FLAG}" if added else "--xla_dump_to=/tmp/x"
    assert xla_flags.os.environ["XLA_FLAGS"] == expected


def test_the_users_own_value_is_kept(monkeypatch):
    monkeypatch.setenv("XLA_FLAGS", "--xla_cpu_use_fusion_emitters=true")
    monkeypatch.setattr(xla_flags, "jaxlib_series", lambda: (0, 10))
    assert xla_flags.add(FLAG, accepted_through=(0, 10))
    assert xla_flags.os.environ["XLA_FLAGS"] == "--xla_cpu_use_fusion_emitters=true"


def test_the_installed_series_is_read_from_metadata():
    import jaxlib

    assert xla_flags.jaxlib_series() == tuple(int(part) for part in jaxlib.__version__.split(".")[:2])
