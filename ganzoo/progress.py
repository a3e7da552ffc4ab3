"""The rich progress display shared by ``ganzoo train`` and ``ganzoo bench``: one row per task."""
from __future__ import annotations

from rich.console import Console
from rich.progress import (BarColumn, MofNCompleteColumn, Progress, ProgressColumn, Task, TextColumn,
                           TimeElapsedColumn, TimeRemainingColumn)
from rich.text import Text

__all__ = ["FieldColumn", "make_progress"]


class FieldColumn(ProgressColumn):
    """Shows one of a task's fields (empty for tasks that do not set it)."""

    def __init__(self, name: str, style: str = "") -> None:
        super().__init__()
        self.name, self.style = name, style

    def render(self, task: Task) -> Text:
        """The field's text."""
        return Text(str(task.fields.get(self.name, "")), style=self.style)


def make_progress(console: Console | None = None, disable: bool = False) -> Progress:
    """A progress display with description, bar, steps done/total, losses, images/s, elapsed time and ETA."""
    return Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                    FieldColumn("losses"), FieldColumn("speed", "cyan"), TimeElapsedColumn(), TextColumn("ETA"),
                    TimeRemainingColumn(), console=console or Console(stderr=True), disable=disable,
                    transient=False)
