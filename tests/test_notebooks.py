"""Notebooks.

Default tier: every notebook is well formed: its code parses, the studies and presets it names
exist (the presets' quick settings pass validation), and its last code cell writes ``notebook_runs/checks.json`` (seconds, so none can rot
silently between slow runs).

Slow tier (``pytest -m slow``; ``bring_your_own_model``, the model API's worked example, and
``beyond_the_seeds``, in the default tier too): every notebook runs end to end at its small size
(JAXCOLLAPSE_QUICK=1) and what it computes is checked: each entry of ``checks.json`` is one claim
({"value", "below"} or {"value", "above"}: a z-score against a closed form, a paired z-score
between arms, a ratio) and must hold. The closed forms and references these claims rest on are
also checked, on their own, in the default tier (each study's tests and ``jaxcollapse validate``)."""

import ast
import json
import math
import re
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from jaxcollapse.engine.sweep import plan
from jaxcollapse.studies import PRESETS, STUDIES, get_study

NOTEBOOKS = sorted((Path(__file__).parent.parent / "notebooks").glob("*.ipynb"))


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_is_well_formed(path):
    notebook = nbformat.read(path, as_version=4)
    nbformat.validate(notebook)
    code = [cell.source for cell in notebook.cells if cell.cell_type == "code"]
    for source in code:
        ast.parse(source)  # a SyntaxError names the cell's line
    text = "\n".join(code)
    for name in re.findall(r'jc\.reproduce\("([^"]+)"', text):
        assert name in PRESETS, f"{path.stem}: unknown preset {name}"
        spec = PRESETS[name].resolved(quick=True)  # its quick settings pass validation (nothing compiles)
        plan(get_study(spec["study"]), spec["settings"], spec["grids"], spec["seeds"], spec["generations"])
    for name in re.findall(r'jc\.run\("([^"]+)"', text):
        assert name in STUDIES, f"{path.stem}: unknown study {name}"
    assert "checks.json" in code[-1] and "checks[" in text, f"{path.stem}: its last cell must write its checks"


# Executed in the default tier too: the public model API's worked example, and the settings beyond
# the seed papers (issue 24 asks CI to run it at its quick size)
DEFAULT_TIER = {"bring_your_own_model", "beyond_the_seeds"}


@pytest.mark.parametrize("path", [p if p.stem in DEFAULT_TIER else pytest.param(p, marks=pytest.mark.slow)
                                  for p in NOTEBOOKS], ids=[p.stem for p in NOTEBOOKS])
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
