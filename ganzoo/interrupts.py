"""Ctrl-C and SIGTERM during training: a request to stop at the next step boundary, never an exception mid-step.

The first signal (SIGINT or SIGTERM) asks the run to stop after the step in flight and write its checkpoint; a
second one changes nothing (the step and the checkpoint still complete, so a double Ctrl-C is safe); a third Ctrl-C
aborts at once with a ``KeyboardInterrupt`` (every file is written atomically, so even that loses only the steps
since the newest checkpoint). Handlers are installed only in the main thread and restored on exit.
"""
from __future__ import annotations

import signal
import threading
from typing import Any

__all__ = ["ABORT_AFTER", "StopRequests", "TrainingInterrupted", "exit_code"]

#: The Ctrl-C that aborts without finishing the step (the first two are requests to stop cleanly).
ABORT_AFTER = 3


class TrainingInterrupted(KeyboardInterrupt):
    """Training stopped on Ctrl-C or SIGTERM at ``step``; ``checkpoint`` is the newest one (``--resume`` continues
    it). ``aborted``: a third Ctrl-C cut the step in flight short, so the checkpoint is of an earlier step."""

    def __init__(self, step: int, checkpoint: Any, signum: int = signal.SIGINT, aborted: bool = False) -> None:
        super().__init__(f"interrupted at step {step}")
        self.step, self.checkpoint, self.signum, self.aborted = step, checkpoint, signum, aborted


class StopRequests:
    """Context manager that records SIGINT/SIGTERM; ``signum`` is the first signal received (None: none yet)."""

    def __init__(self) -> None:
        self.signum: int | None = None
        self.count = 0
        self._saved: dict[int, Any] = {}

    @property
    def requested(self) -> bool:
        """True once a stop was asked for."""
        return self.signum is not None

    def __enter__(self) -> StopRequests:
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                self._saved[sig] = signal.signal(sig, self._handle)
        return self

    def _handle(self, signum: int, frame: Any) -> None:
        self.count += 1
        if self.signum is None:
            self.signum = signum
        elif signum == signal.SIGINT and self.count >= ABORT_AFTER:
            raise KeyboardInterrupt

    def __exit__(self, *exc: Any) -> None:
        for sig, handler in self._saved.items():
            signal.signal(sig, handler)
        self._saved.clear()


def exit_code(signum: int) -> int:
    """The shell's exit status for a process ended by ``signum``: 130 after Ctrl-C, 143 after SIGTERM."""
    return 128 + int(signum)
