"""Scaling without changing results: several (simulated) devices, two processes joined by
jax.distributed on loopback, and a run killed mid-sweep that resumes. Each check compares
against an ordinary single-device, single-process, uninterrupted run, bitwise."""

import json
import os
import signal
import socket
import subprocess
import sys
import time

import numpy as np
import pytest

from jaxcollapse import cli

pytestmark = pytest.mark.xdist_group("scale")  # the single-process reference run is computed once

RUN = ["gaussian", "--set", "n=5+t", "--set", "dim=2", "--set", "alpha=0.3", "--grid", "regime=replace,mix,accumulate",
       "--generations", "5", "--quiet", "--no-plot"]
# The subprocesses share the test session's compile cache (JAXCOLLAPSE_CACHE, see conftest.py):
# a process that loads a program another compiled runs the same executable, so the bitwise
# comparisons below are unchanged by it; the four-device program is its own. The ordinary
# single-process runs go through the same CLI entry point in this process (``cli.main``), under
# the same XLA flags, without a subprocess's imports.


def _cli(args, env=None, **kwargs):
    return subprocess.run([sys.executable, "-m", "jaxcollapse", *args], env={**os.environ, **(env or {})},
                          capture_output=True, text=True, timeout=600, **kwargs)


def _metrics(out):
    return json.loads((out / "summary.json").read_text())["metrics"]


def _per_seed(out):
    with np.load(out / "per_seed.npz") as stored:
        return {k: stored[k] for k in stored.files if not k.startswith("coord_") and k != "dims"}


def _same(a, b):
    assert _metrics(a) == _metrics(b)
    left, right = _per_seed(a), _per_seed(b)
    assert left.keys() == right.keys()
    for name in left:
        assert np.array_equal(left[name], right[name], equal_nan=True), name


@pytest.fixture(scope="module")
def single(tmp_path_factory):
    """The reference: one process, one device, 1,100 seeds in chunks of 256."""
    out = tmp_path_factory.mktemp("single") / "run"
    assert cli.main(["run", *RUN, "--seeds", "1100", "--chunk", "256", "--out", str(out)]) == 0
    return out


def test_four_devices_give_the_single_device_results(tmp_path, single):
    """Four devices, one chunk of all the seeds: the reference's numbers, bitwise."""
    four = _cli(["run", *RUN, "--seeds", "1100", "--out", str(tmp_path / "four")],
                env={"XLA_FLAGS": f"{os.environ.get('XLA_FLAGS', '')} --xla_force_host_platform_device_count=4"})
    assert four.returncode == 0, four.stderr
    devices = json.loads((tmp_path / "four" / "summary.json").read_text())["environment"]["device_count"]
    assert devices == 4
    _same(single, tmp_path / "four")


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_two_processes_give_the_single_process_results(tmp_path, single):
    """jax.distributed on loopback: chunk c goes to process c mod 2, process 0 merges."""
    args = ["run", *RUN, "--seeds", "1100", "--chunk", "256"]
    port = _free_port()
    procs = [subprocess.Popen([sys.executable, "-m", "jaxcollapse", *args, "--out", str(tmp_path / "multi"),
                               "--coordinator", f"127.0.0.1:{port}", "--num-processes", "2", "--process-id", str(i)],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for i in range(2)]
    outputs = [p.communicate(timeout=600) for p in procs]
    assert all(p.returncode == 0 for p in procs), outputs
    assert "process 0 writes the results" in outputs[1][0]
    summary = json.loads((tmp_path / "multi" / "summary.json").read_text())
    assert summary["environment"]["process_count"] == 2
    _same(single, tmp_path / "multi")


def test_a_killed_run_resumes_to_the_same_results(tmp_path):
    """SIGKILL a CLI run once two chunks are on disk, run the same command again: it skips the
    finished chunks and writes exactly what an uninterrupted run writes."""
    args = ["run", "gaussian", "--set", "n=500", "--set", "sampler=explicit", "--seeds", "1536", "--chunk", "256",
            "--generations", "50", "--quiet", "--no-plot", "--keep", "var"]
    out = tmp_path / "killed"
    proc = subprocess.Popen([sys.executable, "-m", "jaxcollapse", *args, "--out", str(out)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 300
    while len(list((out / "chunks").glob("*.npz"))) < 2 and proc.poll() is None and time.time() < deadline:
        time.sleep(0.05)
    assert proc.poll() is None, "the run finished before it could be killed"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    finished = len(list((out / "chunks").glob("*.npz")))
    assert 2 <= finished < 6 and not (out / "summary.json").exists()
    assert not list((out / "chunks").glob("*.tmp"))  # atomic writes: nothing half-written
    assert cli.main([*args, "--out", str(out)]) == 0  # the same command again
    assert cli.main([*args, "--out", str(tmp_path / "fresh")]) == 0
    _same(out, tmp_path / "fresh")
    # The finished chunks were read back, not recomputed: counted, not timed (a wall-clock
    # comparison depends on what else the machine is doing).
    timing = json.loads((out / "summary.json").read_text())["timing"]
    assert (timing["chunks_resumed"], timing["chunks_computed"]) == (finished, 6 - finished)
    assert timing["resumed_run_s"] > 0
    fresh_timing = json.loads((tmp_path / "fresh" / "summary.json").read_text())["timing"]
    assert (fresh_timing["chunks_resumed"], fresh_timing["chunks_computed"]) == (0, 6)
