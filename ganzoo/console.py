"""The two rich consoles every command prints to: ``console`` (stdout) and ``err_console`` (stderr)."""
from __future__ import annotations

import os
import sys

from rich.console import Console

__all__ = ["console", "err_console"]

# A terminal or pipe that cannot encode a character (PYTHONIOENCODING=ascii, an old locale) shows "?" for it instead of
# failing the command: tables use box-drawing characters, messages "×" and "—".
for _stream in (sys.stdout, sys.stderr):
    if hasattr(_stream, "reconfigure"):
        try:
            _stream.reconfigure(errors="replace")
        except (ValueError, OSError):  # a stream that cannot be reconfigured keeps its own error handling
            pass

# Piped or logged output is not cut at rich's 80 columns: leaderboards and tables are wide.
_WIDTH = None if sys.stdout.isatty() or "COLUMNS" in os.environ else 160
console = Console(width=_WIDTH)
err_console = Console(stderr=True, width=_WIDTH)
