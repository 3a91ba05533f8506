"""MkDocs hooks for the jaxcollapse site (``hooks:`` in mkdocs.yml).

- ``on_page_markdown``: each marker line ``<!-- params: STUDY -->``, ``<!-- metrics: STUDY -->``
  or ``<!-- presets: STUDY -->`` becomes the table that ``jaxcollapse.describe`` generates from
  the study's ``Param`` declarations, ``metrics`` / ``metric_docs`` and presets, so the docs
  cannot drift from the code. An unknown study name fails the build.
- ``on_files``: the notebooks in ``notebooks/`` (outside ``docs_dir``) become pages under
  ``notebooks/``, rendered by mkdocs-jupyter without executing them. Nothing is copied or linked
  into ``docs/``.
"""

from __future__ import annotations

import re
from pathlib import Path

from mkdocs.exceptions import PluginError
from mkdocs.plugins import event_priority
from mkdocs.structure.files import File, Files

MARKER = re.compile(r"^<!--\s*(params|metrics|presets):\s*([A-Za-z0-9_.:-]+)\s*-->\s*$", re.MULTILINE)


def _table(kind: str, study: str, where: str) -> str:
    from jaxcollapse import describe

    function = {"params": describe.params_markdown, "metrics": describe.metrics_markdown,
                "presets": describe.presets_markdown}[kind]
    try:
        table = function(study).rstrip("\n")
    except Exception as err:  # a renamed or unknown study: fail loudly, never render a stale page
        raise PluginError(f"{where}: <!-- {kind}: {study} -->: {type(err).__name__}: {err}") from err
    return _literal_asterisks(table)


def _literal_asterisks(text: str) -> str:
    """The tables are plain text (``mu*``, ``100*(t+1)``): a ``*`` outside a code span is a
    character, not emphasis."""
    parts = re.split(r"(`[^`]*`)", text)
    return "".join(part if i % 2 else part.replace("*", r"\*") for i, part in enumerate(parts))


def on_page_markdown(markdown: str, page, config, files) -> str:
    return MARKER.sub(lambda m: _table(m.group(1), m.group(2), page.file.src_uri), markdown)


@event_priority(100)  # before mkdocs-jupyter's on_files, which wraps .ipynb files as pages
def on_files(files: Files, config) -> Files:
    root = Path(config["config_file_path"]).parent
    for notebook in sorted((root / "notebooks").glob("*.ipynb")):
        uri = f"notebooks/{notebook.name}"
        if files.get_file_from_path(uri) is None:
            files.append(File(uri, src_dir=str(root), dest_dir=config["site_dir"],
                              use_directory_urls=config["use_directory_urls"]))
    return files
