"""The rich progress display shared by ``ganzoo train`` and ``ganzoo bench``: one row per task."""
from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

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
        return Text(str(task.fields.get(self.name, "")), style=self.style, no_wrap=True, overflow="ellipsis")


def make_progress(console: Console | None = None, disable: bool = False) -> Progress:
    """A progress display with description, bar, steps done/total, losses, images/s, elapsed time and ETA."""
    return Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                    FieldColumn("losses"), FieldColumn("speed", "cyan"), TimeElapsedColumn(), TextColumn("ETA"),
                    TimeRemainingColumn(), console=console or Console(stderr=True), disable=disable,
                    transient=False)


class RunBar:
    """One training run's row in a progress display (its own, or a caller's ``progress``), and its messages."""

    def __init__(self, progress: Progress | None, description: str, talk: bool) -> None:
        self.progress, self.description, self.talk = progress, description, talk
        self.task: Any = None

    @classmethod
    @contextlib.contextmanager
    def open(cls, progress: Progress | None, description: str, quiet: bool, main: bool = True) -> Iterator[RunBar]:
        """A bar in ``progress``, or in a display of its own unless ``quiet``; nothing at all off the main rank."""
        if not main or (quiet and progress is None):
            yield cls(None, description, talk=False)
            return
        own = progress is None
        progress = progress if progress is not None else make_progress()
        bar = cls(progress, description, talk=not quiet)
        if own:
            with progress:
                yield bar
        else:
            yield bar

    def start(self, total: int | None, done: int) -> None:
        """Add the run's task: ``done`` of ``total`` steps (None: a time budget)."""
        if self.progress is not None:
            self.task = self.progress.add_task(self.description, total=total, completed=done, losses="", speed="")

    def advance(self) -> None:
        """One step done."""
        if self.task is not None:
            self.progress.advance(self.task)

    def show(self, losses: dict[str, float], ips: float) -> None:
        """The latest mean losses and images/s."""
        if self.task is not None:
            text = " ".join(f"{k} {v:.4g}" for k, v in losses.items())
            self.progress.update(self.task, losses=text, speed=f"{ips:,.0f} img/s")

    def say(self, text: str) -> None:
        """A message above the bar (rich markup), unless quiet."""
        if self.talk:
            console = self.progress.console if self.progress is not None else Console(stderr=True)
            console.print(text, highlight=False, soft_wrap=True)
