"""The docs site builds strictly, its study pages carry the tables generated from the code, and
the README stays a front page."""

import os
import re
import subprocess
import sys
from pathlib import Path

from jaxcollapse.studies import STUDIES

ROOT = Path(__file__).resolve().parents[1]


def test_readme_is_a_front_page_linking_every_study():
    readme = (ROOT / "README.md").read_text()
    assert len(readme) <= 15_000
    for name in STUDIES:
        page = ROOT / "docs" / "studies" / f"{name}.md"
        assert page.is_file(), f"no docs page for study {name}"
        assert f"docs/studies/{name}.md" in readme
        text = page.read_text()
        for kind in ("params", "metrics", "presets"):
            assert f"<!-- {kind}: {name} -->" in text
    # the two set-up commands, and .ci/run runs the second verbatim
    commands = re.findall(r"```bash\n(.*?)\n```", readme.split("## Quickstart")[1], re.S)[:2]
    assert commands[0].startswith("pip install . && jaxcollapse ")
    assert commands[1] == 'pip install ".[test]" && python -m pytest'
    assert commands[1] in (ROOT / ".ci" / "run").read_text().replace("pip install -q ", "pip install ")


def test_the_site_builds_strictly_with_generated_tables(tmp_path):
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    done = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "-q", "-d", str(tmp_path / "site")],
                          cwd=ROOT, capture_output=True, text=True, env=env)
    assert done.returncode == 0, done.stderr[-3000:]
    for name, study in STUDIES.items():
        html = (tmp_path / "site" / "studies" / name / "index.html").read_text()
        for p in study.params:
            assert f"<td>{p.name}</td>" in html, f"{name}: parameter {p.name} missing from its page"
        for m in study.metrics[:5]:
            assert f"<td>{m}</td>" in html, f"{name}: metric {m} missing from its page"
    assert (tmp_path / "site" / "api" / "index.html").read_text().count("jaxcollapse.api.run") >= 1
    assert (tmp_path / "site" / "notebooks" / "bring_your_own_model" / "index.html").is_file()
