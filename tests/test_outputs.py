"""Outputs are never lost or clobbered: a different run in --out is refused unless --force
(which removes that run's files, stale figures included); results are readable by the user's
group as any file they write; Ctrl-C keeps the finished chunks and says how to resume; a resumed
run reports what it computed and what it read back."""

import json
import os
import stat

import numpy as np
import pytest

import jaxcollapse as jc
from jaxcollapse import cli
from jaxcollapse.engine import sweep

RUN = ["run", "gaussian", "--set", "n=5+t", "--grid", "regime=replace,accumulate", "--generations", "3",
       "--seeds", "600", "--chunk", "256", "--quiet"]


def _main(argv, capsys):
    code = cli.main(argv)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_results_have_the_users_normal_permissions(tmp_path, capsys):
    old = os.umask(0o022)
    try:
        code, _, err = _main([*RUN, "--out", str(tmp_path / "run"), "--no-plot"], capsys)
    finally:
        os.umask(old)
    assert code == 0, err
    for name in ("summary.json", "per_seed.npz"):
        mode = stat.S_IMODE((tmp_path / "run" / name).stat().st_mode)
        assert mode == 0o644, (name, oct(mode))


def test_a_different_finished_run_is_refused_unless_forced(tmp_path, capsys):
    out = tmp_path / "run"
    assert _main([*RUN, "--out", str(out)], capsys)[0] == 0
    assert (out / "figure.png").exists()
    (out / "notes.txt").write_text("the user's own file")
    before = json.loads((out / "summary.json").read_text())
    # the same run again is not "different": it rewrites the same numbers
    assert _main([*RUN, "--out", str(out), "--no-plot"], capsys)[0] == 0
    assert json.loads((out / "summary.json").read_text())["metrics"] == before["metrics"]
    # another run is refused, in one line, before anything compiles
    other = ["run", "gaussian", "--set", "dim=2", "--generations", "2", "--seeds", "8", "--quiet", "--out", str(out)]
    code, _, err = _main(other + ["--no-plot"], capsys)
    assert code == 2 and len(err.strip().splitlines()) == 1 and "--force" in err and "different finished run" in err
    assert json.loads((out / "summary.json").read_text())["fingerprint"] == before["fingerprint"]
    # --force removes the old run's files (its figure too) and nothing of the user's
    code, _, err = _main(other + ["--force", "--no-plot"], capsys)
    assert code == 0, err
    assert not (out / "figure.png").exists()
    assert (out / "notes.txt").read_text() == "the user's own file"
    summary = json.loads((out / "summary.json").read_text())
    assert summary["seeds"] == 8 and summary["fingerprint"] != before["fingerprint"]


def _dying_after(count, monkeypatch):
    """Make the engine raise KeyboardInterrupt (as Ctrl-C does) on its ``count + 1``-th chunk."""
    calls = {"n": 0}
    real = sweep.batched_trajectories

    def wrapped(*args):
        fn = real(*args)

        class Lowered:
            def __init__(self, lowered):
                self.lowered = lowered

            def compile(self):
                inner = self.lowered.compile()

                class Compiled:
                    as_text = inner.as_text

                    def __call__(self, *args):
                        calls["n"] += 1
                        if calls["n"] > count:
                            raise KeyboardInterrupt
                        return inner(*args)

                return Compiled()

        return type("F", (), {"lower": lambda self, *a: Lowered(fn.lower(*a))})()

    monkeypatch.setattr(sweep, "batched_trajectories", wrapped)


def test_ctrl_c_keeps_the_finished_chunks_and_the_same_command_resumes(tmp_path, capsys, monkeypatch):
    out = tmp_path / "run"
    argv = [*RUN, "--out", str(out), "--no-plot"]
    _dying_after(2, monkeypatch)
    code, _, err = _main(argv, capsys)
    assert code == 130
    assert err.strip().splitlines() == [
        f"jaxcollapse: interrupted; 2 finished chunk(s) kept in {out / 'chunks'}: "
        "run the same command again to resume from them"
    ]
    assert not (out / "summary.json").exists() and len(list((out / "chunks").glob("*.npz"))) == 2
    monkeypatch.undo()
    assert _main(argv, capsys)[0] == 0
    timing = json.loads((out / "summary.json").read_text())["timing"]
    # 600 seeds in chunks of 256 -> 3 chunks per compiled group; replace and accumulate share one
    assert (timing["chunks_resumed"], timing["chunks_computed"]) == (2, 1)
    assert timing["resumed_run_s"] > 0 and timing["run_s"] > 0
    fresh = jc.run("gaussian", {"n": "5+t"}, {"regime": ["replace", "accumulate"]}, seeds=600, generations=3, chunk=256)
    with np.load(out / "per_seed.npz") as stored:
        np.testing.assert_array_equal(stored["var"], fresh.per_seed["var"])


def test_the_api_resumes_into_out_and_refuses_another_run(tmp_path):
    first = jc.run("gaussian", {"n": 6}, seeds=40, generations=2, out=tmp_path)
    again = jc.run("gaussian", {"n": 6}, seeds=40, generations=2, out=tmp_path)
    np.testing.assert_array_equal(first.mean("var"), again.mean("var"))
    with pytest.raises(jc.ConfigError, match="different finished run"):
        jc.run("gaussian", {"n": 7}, seeds=40, generations=2, out=tmp_path)
    assert jc.load(tmp_path).fingerprint == first.fingerprint
