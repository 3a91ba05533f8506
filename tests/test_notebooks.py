"""Every notebook runs end to end at its small size (JAXCOLLAPSE_QUICK=1), so none can rot, and
what it computes is checked: each notebook's last cell writes ``notebook_runs/checks.json``, one
entry per claim it makes ({"value", "below"} or {"value", "above"}: a z-score against a closed
form, a paired z-score between arms, a ratio), and every entry must hold here."""

import json
import math
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

NOTEBOOKS = sorted((Path(__file__).parent.parent / "notebooks").glob("*.ipynb"))


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_executes_and_its_checks_hold(path, tmp_path, monkeypatch):
    monkeypatch.setenv("JAXCOLLAPSE_QUICK", "1")
    notebook = nbformat.read(path, as_version=4)
    NotebookClient(notebook, timeout=900, kernel_name="python3",
                   resources={"metadata": {"path": str(tmp_path)}}).execute()
    checks = json.loads((tmp_path / "notebook_runs" / "checks.json").read_text())
    assert checks, "the notebook checks nothing"
    failed = []
    for name, check in checks.items():
        value = check["value"]
        held = math.isfinite(value) and (value < check["below"] if "below" in check else value > check["above"])
        if not held:
            failed.append(f"{name}: {check}")
    assert not failed, failed
