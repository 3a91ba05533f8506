"""The one progress display of a run: its phase (compiling or running, shape g of G), chunks
done of all, elapsed time and the time left (rich, on stderr; off with ``--quiet``)."""

from __future__ import annotations

import sys


class RunProgress:
    """``with RunProgress(enabled, name, total) as shown: shown.phase(...); shown.done(k)``."""

    def __init__(self, enabled: bool, name: str, total_chunks: int):
        self.enabled, self.name, self.total = enabled, name, total_chunks
        self._bar = None

    def __enter__(self) -> "RunProgress":
        if self.enabled:
            from rich.console import Console
            from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn,
                                       TimeRemainingColumn)

            self._bar = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                                 TextColumn("chunks"), TimeElapsedColumn(), TextColumn("left"),
                                 TimeRemainingColumn(), console=Console(file=sys.stderr), transient=True)
            self._bar.__enter__()
            self._task = self._bar.add_task(f"{self.name}: starting", total=self.total)
        return self

    def phase(self, text: str) -> None:
        if self._bar is not None:
            self._bar.update(self._task, description=f"{self.name}: {text}")

    def done(self, chunks: int) -> None:
        if self._bar is not None:
            self._bar.update(self._task, completed=chunks)

    def __exit__(self, *exc) -> None:
        if self._bar is not None:
            self._bar.__exit__(*exc)
            self._bar = None
