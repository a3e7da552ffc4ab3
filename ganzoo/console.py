"""The two rich consoles every command prints to: ``console`` (stdout) and ``err_console`` (stderr)."""
from __future__ import annotations

import os
import sys

from rich.console import Console

__all__ = ["console", "err_console"]

# Piped or logged output is not cut at rich's 80 columns: leaderboards and tables are wide.
_WIDTH = None if sys.stdout.isatty() or "COLUMNS" in os.environ else 160
console = Console(width=_WIDTH)
err_console = Console(stderr=True, width=_WIDTH)
